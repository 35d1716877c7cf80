// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Tenants: creation, deletion and freeing, under one locking rule.
 *
 * The rule: a tenant is created, deleted and freed only with ctx->lock and
 * then ctx->engine_lock held, so that the control plane (which reads and
 * writes quota_sum, the dead list, the views' tenant counts and the slots
 * under ctx->lock) and the engine (which reads tenants[], tenant_mask and
 * the dead list under engine_lock) each see a tenant either whole or gone.
 *
 * The engine holds only engine_lock, and may not take ctx->lock (the order
 * is ctx->lock first), so it never frees a tenant: when a transmit
 * completion leaves a deleted tenant with nothing in flight, the engine
 * raises ctx->reap, and whoever ran the engine calls ctx_reap() after
 * letting go of engine_lock (the engine thread, an inline receiver, xsnapd's
 * loop, a send or a snapshot), which takes both locks in order and frees
 * every deleted tenant that nothing uses any more.  Closing a tenant's last
 * socket and tenant_del free directly: they hold both locks already.
 *
 * A deleted tenant keeps its slot until it is freed (slot_dead), so that
 * completions and counters are never credited to a newcomer in the slot;
 * and before xsnap_tenant_del() returns, every frame the XDP program had
 * tagged with the slot's bit has left the rx rings (engine_drain()), so a
 * newcomer never logs the deleted tenant's traffic.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xsnap_internal.h"

#define DEFAULT_QUOTA 1024

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

struct tenant *ctx_tenant_find(struct xsnap_ctx *ctx, const char *name)
{
	for (uint32_t i = 0; i < XSNAP_MAX_TENANTS; i++)
		if (ctx->tenants[i] && !strcmp(ctx->tenants[i]->name, name))
			return ctx->tenants[i];
	return NULL;
}

/* A deleted tenant still draining keeps its slot until it is freed, so
 * completions and counters are never credited to a newcomer. */
static bool slot_dead(struct xsnap_ctx *ctx, uint32_t slot)
{
	for (struct tenant *d = ctx->dead; d; d = d->next_dead)
		if (d->slot == slot)
			return true;
	return false;
}

/* The tenant's log region: a memfd holding the published head and the
 * entries, so a client of xsnapd can map it read-only. */
int tenant_shm_alloc(struct tenant *t)
{
	void *p;
	int err;

	t->shm_len = LOG_SHM_HDR + (size_t)t->quota * sizeof(struct log_ent);
	err = shm_create("xsnap-log", t->shm_len, &t->shm_fd, &p);
	if (err) {
		t->shm_fd = -1;
		return err;
	}
	t->shm = p;
	t->shm->quota = t->quota;
	t->log = t->shm->ent;
	return 0;
}

void tenant_shm_free(struct tenant *t)
{
	if (t->shm)
		munmap(t->shm, t->shm_len);
	if (t->shm_fd >= 0)
		close(t->shm_fd);
	if (t->pool_map)
		munmap(t->pool_map, t->pool_map_len);
	t->pool_map = NULL;
	if (t->pool_fd >= 0)
		close(t->pool_fd);
	t->pool_fd = -1;
	t->shm = NULL;
	t->log = NULL;
	t->shm_fd = -1;
}

int tenant_pool_fd(struct xsnap_ctx *ctx, struct tenant *t)
{
	size_t len = (size_t)ctx->umem.pool_frames * FRAME_SIZE;
	void *p;
	int fd;

	if (t->pool_fd >= 0)
		return t->pool_fd;
	fd = umem_memfd("xsnap-pool", len);
	if (fd < 0)
		return fd;
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	t->pool_fd = fd;
	t->pool_map = p;
	t->pool_map_len = len;
	return fd;
}

/* Free a deleted tenant once nothing uses it (both locks held). */
void tenant_free_locked(struct xsnap_ctx *ctx, struct tenant *t)
{
	if (!t->dead || t->nsocks || t->tx_inflight || t->snaps)
		return;
	engine_evict(ctx, t, t->head);
	engine_reclaim(ctx, t);
	for (struct tenant **pp = &ctx->dead; *pp; pp = &(*pp)->next_dead) {
		if (*pp == t) {
			*pp = t->next_dead;
			break;
		}
	}
	if (t->view) {
		t->view->quota_sum -= t->quota;
		view_unref(ctx, t->view);
	} else {
		ctx->quota_sum -= t->quota;
		if (t->qgroup)
			ctx->pinned_sum[t->qgroup - 1] -= t->quota;
	}
	tenant_shm_free(t);
	free(t->old);
	free(t);
}

int xsnap_tenant_del(struct xsnap_ctx *ctx, const char *name)
{
	if (!ctx || !name)
		return err_ret(EINVAL);
	return ctx->be->tenant_del(ctx, name);
}

int local_tenant_del(struct xsnap_ctx *ctx, const char *name)
{
	struct tenant *t;
	unsigned int n = 0;
	int err;

	pthread_mutex_lock(&ctx->lock);
	t = ctx_tenant_find(ctx, name);
	if (!t) {
		pthread_mutex_unlock(&ctx->lock);
		return err_ret(ENOENT);
	}
	/* 1. the program stops tagging frames for it: its rules go and its
	 *    bit leaves cfg.tenants, in one bank flip */
	struct rule *keep = malloc((ctx->nrules ? ctx->nrules : 1) * sizeof(*keep));

	if (!keep) {
		pthread_mutex_unlock(&ctx->lock);
		return err_ret(ENOMEM);
	}
	for (unsigned int i = 0; i < ctx->nrules; i++)
		if (ctx->rules[i].tenant != t->slot)
			keep[n++] = ctx->rules[i];
	err = -steer_apply(&ctx->steer, keep, n, ctx->tenant_mask & ~(1u << t->slot));
	if (err) {
		free(keep);
		pthread_mutex_unlock(&ctx->lock);
		return err_ret(err);
	}
	if (n)	/* ctx->rules is NULL while no rule was ever added */
		memcpy(ctx->rules, keep, n * sizeof(*keep));
	ctx->nrules = n;
	free(keep);
	/* 2. the engine stops logging for it, even frames the program tagged
	 *    before the flip; open sockets drain what was logged.  With an
	 *    engine per queue, no batch is between a ring and the logs
	 *    meanwhile (one taken before the flip would log after it). */
	engine_rx_lock_all(ctx);
	pthread_mutex_lock(&ctx->engine_lock);
	ctx->tenants[t->slot] = NULL;
	ctx->tenant_mask &= ~(1u << t->slot);
	ctx->private_mask &= ~(1u << t->slot);
	ctx->share_mask &= ~(1u << t->slot);
	if (t->view)
		t->view->mask &= ~(1u << t->slot);
	t->dead = true;
	atomic_fetch_or(&t->shm->state, LOG_TENANT_DEAD);
	t->next_dead = ctx->dead;
	ctx->dead = t;
	/* its sleepers wake and see the state (never blocks: tenant_wake) */
	tenant_wake_all(t);
	/* 3. the slot barrier: move every frame the program tagged with the
	 *    slot's bit before the flip (all are in the rx rings by now, see
	 *    engine_drain()), so a newcomer in the slot never logs one */
	engine_drain(ctx);
	tenant_free_locked(ctx, t);
	engine_refill(ctx);
	pthread_mutex_unlock(&ctx->engine_lock);
	engine_rx_unlock_all(ctx);
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

bool tenant_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n >= TENANT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

/*
 * Does a shared-view tenant of @quota chunks pinned to queue group @qgroup
 * (1-based; 0: every group) fit?  It holds chunks of its group only, or of
 * any group when unpinned, so each group it may hold chunks of must keep
 * room for its queues' rings, the tenants pinned to it and every unpinned
 * tenant.  ctx->lock held.  Return: 0, or the first group that is short
 * (1-based) with what it has in *@have.
 */
static uint32_t group_short(const struct xsnap_ctx *ctx, uint32_t qgroup, uint32_t quota,
			    uint64_t *have)
{
	uint32_t ng = ctx->umem.ngroups, g0 = qgroup ? qgroup - 1 : 0;
	uint32_t g1 = qgroup ? qgroup : ng;
	uint64_t unpinned = ctx->quota_sum;

	for (uint32_t g = 0; g < ng; g++)
		unpinned -= ctx->pinned_sum[g];
	for (uint32_t g = g0; g < g1; g++) {
		uint64_t used = ctx->pinned_sum[g] + unpinned + ctx->reserve / ng;

		if (used + quota > ctx->umem.gframes) {
			*have = used;
			return g + 1;
		}
	}
	return 0;
}

/*
 * Give tenant slot @slot's pin (queue group @qgroup, 0: none) to every
 * queue's exclusion mask and the program's (xsnap_qexcl), before the slot
 * goes live: a tenant pinned to group G is never tagged (XDP) nor logged
 * (engine) for a frame of another group's queue.  Bits of freed slots stay
 * until the slot's next tenant sets them.  ctx->lock held.  0 or -errno.
 */
static int pins_apply(struct xsnap_ctx *ctx, uint32_t slot, uint32_t qgroup)
{
	uint32_t bit = 1u << slot;
	int err;

	if (ctx->umem.ngroups < 2)
		return 0;
	for (uint32_t qi = 0; qi < ctx->nq; qi++) {
		struct queue *q = &ctx->q[qi];
		uint32_t excl = q->excl & ~bit;

		if (qgroup && qgroup - 1 != q->group)
			excl |= bit;
		err = steer_set_qexcl(&ctx->steer, q->id, excl);
		if (err) {
			pr_warn("queue %u: XDP queue-group map: %s\n", q->id, strerror(-err));
			return err;
		}
		pthread_mutex_lock(&ctx->engine_lock);
		q->excl = excl;
		pthread_mutex_unlock(&ctx->engine_lock);
	}
	return 0;
}

int xsnap_tenant_add(struct xsnap_ctx *ctx, const char *name, const struct xsnap_tenant_opts *opts)
{
	if (!ctx || !OPTS_VALID(opts, xsnap_tenant_opts))
		return err_ret(EINVAL);
	if (!tenant_name_ok(name)) {
		pr_warn("tenant add: bad name '%s': 1..%d characters of A-Z a-z 0-9 _ . -\n",
			name ? name : "(null)", TENANT_NAME_MAX - 1);
		return err_ret(EINVAL);
	}
	return ctx->be->tenant_add(ctx, name, opts);
}

int local_tenant_add(struct xsnap_ctx *ctx, const char *name,
		     const struct xsnap_tenant_opts *opts)
{
	uint32_t quota, slot, qgroup;
	const char *vname;
	struct view *v = NULL, *fresh = NULL;
	struct tenant *t;
	int err;

	quota = OPTS_GET(opts, quota, DEFAULT_QUOTA);
	if (!is_pow2(quota)) {
		pr_warn("tenant add %s: quota %u must be a power of two\n", name, quota);
		return err_ret(EINVAL);
	}
	qgroup = OPTS_GET(opts, queue_group, 0);
	if (qgroup > ctx->umem.ngroups) {
		pr_warn("tenant add %s: queue group %u: %s has %u (1..%u; 0: every queue)\n",
			name, qgroup, ctx->ifname, ctx->umem.ngroups, ctx->umem.ngroups);
		return err_ret(EINVAL);
	}
	vname = OPTS_GET(opts, view, NULL);
	if (vname && !strcmp(vname, XSNAP_VIEW_SHARED))
		vname = NULL;
	if (vname && !tenant_name_ok(vname)) {
		pr_warn("tenant add %s: bad view name '%s': 1..%d characters of A-Z a-z 0-9 _ . -\n",
			name, vname, TENANT_NAME_MAX - 1);
		return err_ret(EINVAL);
	}
	pthread_mutex_lock(&ctx->lock);
	if (ctx_tenant_find(ctx, name)) {
		pr_warn("tenant add %s: a tenant of that name exists\n", name);
		err = EEXIST;
		goto unlock;
	}
	if (vname) {
		/* a private view's tenants hold chunks of the view, not of the
		 * receive region: their quotas count there.  "private": a new
		 * view that no name can join (its name is empty) */
		if (!strcmp(vname, XSNAP_VIEW_PRIVATE))
			vname = "";
		v = *vname ? view_find(ctx, vname) : NULL;
		if (v && (uint64_t)v->quota_sum + quota > v->nframes) {
			pr_warn("tenant add %s: quota %u does not fit in view %s: %u frames, %u in "
				"its other tenants' quotas\n",
				name, quota, vname, v->nframes, v->quota_sum);
			err = ENOSPC;
			goto unlock;
		}
		if (!v && quota > ctx->umem.nframes) {
			pr_warn("tenant add %s: quota %u exceeds the %u frames of a view\n", name,
				quota, ctx->umem.nframes);
			err = ENOSPC;
			goto unlock;
		}
	} else if (ctx->umem.ngroups == 1 &&
		   (uint64_t)ctx->quota_sum + quota + ctx->reserve > ctx->umem.nframes) {
		pr_warn("tenant add %s: quota %u does not fit: %u frames, %u reserved for the "
			"rings, %u in other quotas\n",
			name, quota, ctx->umem.nframes, ctx->reserve, ctx->quota_sum);
		err = ENOSPC;
		goto unlock;
	} else if (ctx->umem.ngroups > 1) {
		uint64_t have;
		uint32_t g = group_short(ctx, qgroup, quota, &have);

		if (g) {
			pr_warn("tenant add %s: quota %u does not fit in queue group %u: %u "
				"frames, %llu in its rings' reserve and the quotas of the "
				"tenants that may use it\n",
				name, quota, g, ctx->umem.gframes, (unsigned long long)have);
			err = ENOSPC;
			goto unlock;
		}
	}
	for (slot = 0; slot < ctx->max_tenants; slot++)
		if (!ctx->tenants[slot] && !slot_dead(ctx, slot))
			break;
	if (slot == ctx->max_tenants) {
		pr_warn("tenant add %s: all %u tenant slots in use\n", name, ctx->max_tenants);
		err = ENOSPC;
		goto unlock;
	}
	t = calloc(1, sizeof(*t));
	if (t) {
		t->shm_fd = -1;
		t->pool_fd = -1;
		t->quota = quota;
		t->old = calloc(ctx->umem.pool_frames + 1, sizeof(*t->old));
	}
	if (!t || !t->old || tenant_shm_alloc(t)) {
		if (t) {
			tenant_shm_free(t);
			free(t->old);
			free(t);
		}
		err = ENOMEM;
		goto unlock;
	}
	if (vname && !v) {
		fresh = v = view_create(ctx, vname);
		if (!v) {
			pr_warn("tenant add %s: view %s: %s\n", name, vname, strerror(errno));
			tenant_shm_free(t);
			free(t->old);
			free(t);
			err = ENOMEM;
			goto unlock;
		}
	}
	if (v) {
		v->ntenants++;
		v->quota_sum += quota;
	}
	t->view = v;
	t->qgroup = qgroup;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->slot = slot;
	t->head = t->tail = 1;
	atomic_store(&t->shm->head_pub, 1);

	/* zero the slot's XDP counters (a previous tenant may have used it) */
	{
		int ncpu = libbpf_num_possible_cpus();
		struct xsnap_tenant_cnt *z = ncpu > 0 ? calloc(ncpu, sizeof(*z)) : NULL;

		if (z && ctx->steer.skel)
			bpf_map_update_elem(ctx->steer.tcnt_fd, &slot, z, BPF_ANY);
		free(z);
	}
	err = -pins_apply(ctx, slot, qgroup);
	if (!err) {
		pthread_mutex_lock(&ctx->engine_lock);
		if (fresh)
			view_link(ctx, fresh);
	} else if (fresh) {
		view_destroy(fresh);
	}
	if (err) {
		if (v && !fresh) {
			v->ntenants--;
			v->quota_sum -= quota;
		}
		tenant_shm_free(t);
		free(t->old);
		free(t);
		goto unlock;
	}
	ctx->tenants[slot] = t;
	ctx->tenant_mask |= 1u << slot;
	if (v) {
		v->mask |= 1u << slot;
		ctx->private_mask |= 1u << slot;
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	err = -steer_apply(&ctx->steer, ctx->rules, ctx->nrules, ctx->tenant_mask);
	if (err) {
		pthread_mutex_lock(&ctx->engine_lock);
		ctx->tenants[slot] = NULL;
		ctx->tenant_mask &= ~(1u << slot);
		ctx->private_mask &= ~(1u << slot);
		if (v) {
			v->mask &= ~(1u << slot);
			v->quota_sum -= quota;
			view_unref(ctx, v);
		}
		pthread_mutex_unlock(&ctx->engine_lock);
		tenant_shm_free(t);
		free(t->old);
		free(t);
		goto unlock;
	}
	if (!v) {
		ctx->quota_sum += quota;
		if (qgroup)
			ctx->pinned_sum[qgroup - 1] += quota;
	}
	pthread_mutex_unlock(&ctx->lock);
	return (int)slot;
unlock:
	pthread_mutex_unlock(&ctx->lock);
	return err_ret(err);
}

void ctx_reap(struct xsnap_ctx *ctx)
{
	if (!atomic_load_explicit(&ctx->reap, memory_order_relaxed) ||
	    !atomic_exchange(&ctx->reap, false))
		return;
	pthread_mutex_lock(&ctx->lock);
	pthread_mutex_lock(&ctx->engine_lock);
	for (struct tenant *t = ctx->dead, *next; t; t = next) {
		next = t->next_dead;
		tenant_free_locked(ctx, t);
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	pthread_mutex_unlock(&ctx->lock);
}
