// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Contexts: open/close of the in-process engine, tenants, rules, stats.
 *
 * xsnap_open() acquires in this order and xsnap_close() (or a failed open)
 * releases in reverse: UMEM memfds and mappings → XDP program and pinned
 * maps → AF_XDP UMEM registration → one AF_XDP socket per queue, inserted in
 * our XSKMAP → fill rings stocked → program attached through a bpf_link.
 * The attach comes last, so no frame is steered before a socket can take it.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xsnap_internal.h"

#define DEFAULT_PIN_ROOT "/sys/fs/bpf/xsnap"
#define DEFAULT_FRAMES 8192
#define DEFAULT_RING 1024
#define DEFAULT_TENANTS 8
#define DEFAULT_POOL 64

/*
 * Defaults that scale with the number of queues: every queue's fill and rx
 * rings hold frames of the receive region, so 64 queues with 1024-entry
 * rings would pin 128 Ki frames (512 MiB) before any tenant has a quota.
 * Up to 4 queues a ring has DEFAULT_RING entries; beyond, the rings of all
 * queues hold about 4 Ki entries together (at least 128 each), and the
 * region holds the rings plus DEFAULT_FRAMES / 2 for quotas (at least
 * DEFAULT_FRAMES): 16 queues: rings of 256, 12 Ki frames; 64 queues: 128,
 * 20 Ki frames (80 MiB).
 */
static uint32_t default_ring(uint32_t nq)
{
	uint32_t r = DEFAULT_RING;

	while (nq > 4 && r > 128 && (uint64_t)r * nq > 4096)
		r /= 2;
	return r;
}

static uint32_t default_frames(uint32_t nq, uint32_t ring, uint32_t groups)
{
	/* each queue group gets its rings plus DEFAULT_FRAMES / 2 */
	uint64_t f = (uint64_t)nq * 2 * ring + (uint64_t)groups * DEFAULT_FRAMES / 2;

	if (f < DEFAULT_FRAMES)
		f = DEFAULT_FRAMES;
	return f > UMEM_MAX_FRAMES ? UMEM_MAX_FRAMES : (uint32_t)f;
}

/* Number of rx queues of @ifname (ethtool channels), or 0 if unknown. */
static uint32_t rx_queues(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = {};
	uint32_t n = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		n = ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count;
	close(fd);
	return n;
}

/* The name of @ifname's driver (ethtool), or "its driver". */
static const char *driver_name(const char *ifname, char *buf, size_t sz)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(buf, sz, "its driver");
	if (fd < 0)
		return buf;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&di;
	if (!ioctl(fd, SIOCETHTOOL, &ifr) && di.driver[0])
		snprintf(buf, sz, "%.*s", (int)sizeof(di.driver), di.driver);
	close(fd);
	return buf;
}

static int queue_open(struct xsnap_ctx *ctx, struct queue *q, uint32_t zc)
{
	struct xsk_socket_config cfg = {
		.rx_size = ctx->ring_size,
		.tx_size = ctx->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct xdp_options xo = {};
	socklen_t optlen = sizeof(xo);
	uint32_t mode_flag;
	bool refused = false;
	int err;

	/* xsnap_open() refused zerocopy on where the driver is known not to
	 * have it; auto on such a driver binds in copy mode at once (zc.c) */
	err = zc_plan(zc, ctx->zc_support, &mode_flag);
	if (err)
		return err;
	cfg.bind_flags |= mode_flag;
	/* A socket closed just before (ours, a moment ago) releases its queue
	 * asynchronously: bind says EBUSY for a while.  Retry, bounded (D16). */
	for (int tries = 0;; tries++) {
		err = xsk_socket__create_shared(&q->xsk, ctx->ifname, q->id, ctx->xumem, &q->rx,
						&q->tx, &q->fill, &q->comp, &cfg);
		if (err != -EBUSY || tries == 100)
			break;
		usleep(10000);
	}
	/* a kernel that reports no XDP features (before 6.3) answers here */
	if (err == -EOPNOTSUPP && (cfg.bind_flags & XDP_ZEROCOPY))
		refused = true;
	if (refused && zc == XSNAP_ZC_AUTO) {
		pr_info("%s: queue %u: zero-copy unsupported by the driver, using copy mode\n",
			ctx->ifname, q->id);
		cfg.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
		err = xsk_socket__create_shared(&q->xsk, ctx->ifname, q->id, ctx->xumem, &q->rx,
						&q->tx, &q->fill, &q->comp, &cfg);
	}
	if (err) {
		q->xsk = NULL;
		if (refused && zc == XSNAP_ZC_ON)
			pr_warn("%s: queue %u: zero-copy requested but the driver does not support "
				"it (use zerocopy auto or off): the kernel refused XDP_ZEROCOPY\n",
				ctx->ifname, q->id);
		else
			pr_warn("%s: queue %u: AF_XDP socket: %s%s\n", ctx->ifname, q->id,
				strerror(-err),
				err == -ENOBUFS ? " (RLIMIT_MEMLOCK too low for the UMEM: raise "
						  "it or grant CAP_IPC_LOCK)" :
				err == -EPERM	? " (needs CAP_NET_RAW)" :
						  "");
		return err;
	}
	q->fd = xsk_socket__fd(q->xsk);
	if (!getsockopt(q->fd, SOL_XDP, XDP_OPTIONS, &xo, &optlen))
		q->zerocopy = xo.flags & XDP_OPTIONS_ZEROCOPY;
	q->zc_reason = (uint8_t)zc_reason(zc, ctx->zc_support, refused,
					  q->zerocopy ? XDP_OPTIONS_ZEROCOPY : 0);
	return 0;
}

void ctx_free(struct xsnap_ctx *ctx)
{
	/* reverse order of xsnap_open() */
	engine_thread_stop(ctx);
	if (ctx->ifwatch >= 0)
		close(ctx->ifwatch);
	steer_close(&ctx->steer);
	for (uint32_t i = 0; i < ctx->nq; i++)
		if (ctx->q[i].xsk)
			xsk_socket__delete(ctx->q[i].xsk);
	if (ctx->xumem)
		xsk_umem__delete(ctx->xumem);
	umem_destroy(&ctx->umem);
	for (uint32_t i = 0; i < XSNAP_MAX_QUEUES; i++)
		free(ctx->q[i].tx_owner);
	for (uint32_t i = 0; i < XSNAP_MAX_TENANTS; i++) {
		if (!ctx->tenants[i])
			continue;
		tenant_shm_free(ctx->tenants[i]);
		free(ctx->tenants[i]->old);
		free(ctx->tenants[i]);
	}
	while (ctx->dead) {
		struct tenant *t = ctx->dead;

		ctx->dead = t->next_dead;
		tenant_shm_free(t);
		free(t->old);
		free(t);
	}
	while (ctx->views) {
		struct view *v = ctx->views;

		ctx->views = v->next;
		view_destroy(v);
	}
	free(ctx->rules);
	pthread_mutex_destroy(&ctx->lock);
	pthread_mutex_destroy(&ctx->engine_lock);
	for (uint32_t i = 0; i < XSNAP_MAX_QUEUES; i++)
		pthread_mutex_destroy(&ctx->q[i].rx_lock);
	free(ctx);
}

/*
 * ctx_new() - a context with its UMEM and bookkeeping, and no kernel object.
 * xsnap_open() builds on it; the unit tests wire simulated rings to it.
 */
struct xsnap_ctx *ctx_new(uint32_t frames, uint32_t nq, uint32_t ring, uint32_t tenants,
			  uint32_t pool, uint32_t groups, uint32_t huge)
{
	struct xsnap_ctx *ctx = calloc(1, sizeof(*ctx));
	int err;

	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	ctx->nq = nq;
	ctx->ring_size = ring;
	ctx->max_tenants = tenants;
	ctx->reserve = nq * 2 * ring;
	ctx->next_rule_id = 1;
	ctx->steer.link_fd = -1;
	ctx->ifwatch = -1;
	ctx->be = &backend_local;
	ctx->engine_mode = XSNAP_ENGINE_INLINE;	/* xsnap_open() starts a thread */
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_mutex_init(&ctx->engine_lock, NULL);
	for (uint32_t i = 0; i < XSNAP_MAX_QUEUES; i++)
		pthread_mutex_init(&ctx->q[i].rx_lock, NULL);
	err = groups && !(nq % groups) ? umem_create(&ctx->umem, frames, groups, tenants, pool, huge) :
					 -EINVAL;
	for (uint32_t i = 0; !err && i < nq; i++) {
		ctx->q[i].group = i / (nq / groups);
		ctx->q[i].tx_owner = calloc(tx_owner_cap(ctx), 1);
		if (!ctx->q[i].tx_owner)
			err = -ENOMEM;
	}
	if (err) {
		for (uint32_t i = 0; i < nq; i++)
			free(ctx->q[i].tx_owner);
		umem_destroy(&ctx->umem);
		pthread_mutex_destroy(&ctx->lock);
		pthread_mutex_destroy(&ctx->engine_lock);
		for (uint32_t i = 0; i < XSNAP_MAX_QUEUES; i++)
			pthread_mutex_destroy(&ctx->q[i].rx_lock);
		free(ctx);
		errno = -err;
		return NULL;
	}
	return ctx;
}

struct xsnap_ctx *xsnap_open(const char *ifname, const struct xsnap_opts *opts)
{
	struct xsk_umem_config ucfg = {};
	struct xsnap_ctx *ctx;
	uint32_t first, nq, frames, ring, tenants, pool, mode, zc, avail, engine, groups, sflags, huge;
	const char *pin_root;
	uint64_t xdp_features = 0;
	int ifindex, err, zc_err, zc_support;

	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE || !OPTS_VALID(opts, xsnap_opts)) {
		pr_warn("open: bad interface name or options\n");
		errno = EINVAL;
		return NULL;
	}
	first = OPTS_GET(opts, queue, 0);
	nq = OPTS_GET(opts, nqueues, 1);
	ring = OPTS_GET(opts, ring_size, default_ring(nq));
	groups = OPTS_GET(opts, queue_groups, 1);
	frames = OPTS_GET(opts, frames, default_frames(nq, ring, groups));
	tenants = OPTS_GET(opts, max_tenants, DEFAULT_TENANTS);
	pool = OPTS_GET(opts, pool_frames, DEFAULT_POOL);
	mode = OPTS_GET(opts, mode, XSNAP_MODE_AUTO);
	zc = OPTS_GET(opts, zerocopy, XSNAP_ZC_AUTO);
	huge = OPTS_GET(opts, hugepages, XSNAP_HUGE_AUTO);
	pin_root = OPTS_GET(opts, pin_root, DEFAULT_PIN_ROOT);
	engine = OPTS_GET(opts, engine, XSNAP_ENGINE_THREAD);
	if (OPTS_GET(opts, engine_prio, 0) > 99) {
		pr_warn("%s: engine_prio %u: a SCHED_FIFO priority is 1..99 (0: normal "
			"scheduling)\n", ifname, opts->engine_prio);
		errno = EINVAL;
		return NULL;
	}
	if (OPTS_GET(opts, timestamps, XSNAP_STAMP_ENGINE) > XSNAP_STAMP_XDP) {
		pr_warn("%s: timestamps %u: must be XSNAP_STAMP_ENGINE (0) or XSNAP_STAMP_XDP "
			"(1)\n", ifname, opts->timestamps);
		errno = EINVAL;
		return NULL;
	}
	if (engine > XSNAP_ENGINE_PER_QUEUE) {
		pr_warn("%s: engine %u: must be XSNAP_ENGINE_THREAD (0), XSNAP_ENGINE_INLINE (1) "
			"or XSNAP_ENGINE_PER_QUEUE (2)\n", ifname, engine);
		errno = EINVAL;
		return NULL;
	}

	/* sizes first: a bad option is refused before anything is looked up */
	struct umem_config uc = { .frames = frames, .ring_size = ring, .nqueues = nq,
				  .max_tenants = tenants, .pool_frames = pool, .mode = mode,
				  .zerocopy = zc, .groups = groups, .huge = huge };

	if (umem_check_config(ifname, &uc)) {
		errno = EINVAL;
		return NULL;
	}
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		pr_warn("%s: no such interface\n", ifname);
		errno = ENODEV;
		return NULL;
	}
	avail = rx_queues(ifname);
	if (nq > XSNAP_MAX_QUEUES || (avail && first + nq > avail)) {
		if (avail)
			pr_warn("%s: queues %u..%u out of range: the interface has %u rx queue%s "
				"(0..%u)\n",
				ifname, first, first + nq - 1, avail, avail == 1 ? "" : "s",
				avail - 1);
		else
			pr_warn("%s: at most %d queues\n", ifname, XSNAP_MAX_QUEUES);
		errno = EINVAL;
		return NULL;
	}
	if (umem_check_fit(ifname, &uc)) {
		errno = EINVAL;
		return NULL;
	}
	/* what the kernel says the driver can do (Linux 6.3 on; unknown before):
	 * zero-copy required where it cannot be had fails here, before
	 * anything is attached or bound */
	zc_err = zc_query_features(ifindex, &xdp_features);
	zc_support = zc_support_of(zc_err, xdp_features);
	if (zc_err)
		pr_debug("%s: XDP features: %s (the bind decides on zero-copy)\n", ifname,
			 zc_err == -ENOENT ? "no netdev netlink family (Linux before 6.3)" :
					     strerror(-zc_err));
	if (zc == XSNAP_ZC_ON && zc_support == ZC_SUPPORT_NO) {
		char drv[sizeof(((struct ethtool_drvinfo *)0)->driver) + 1];

		pr_warn("%s: zero-copy requested but the driver does not support it (use "
			"zerocopy auto or off): %s has no XSK zero-copy (the XDP features the "
			"kernel reports for %s lack xsk-zerocopy)\n",
			ifname, driver_name(ifname, drv, sizeof(drv)), ifname);
		errno = EOPNOTSUPP;
		return NULL;
	}

	/* 1. memory (each queue group's part of the region equally large) */
	frames -= frames % groups;
	ctx = ctx_new(frames, nq, ring, tenants, pool, groups, huge);
	if (!ctx && huge == XSNAP_HUGE_ON && errno == ENOMEM) {
		uint64_t need = (uint64_t)frames * FRAME_SIZE / UMEM_HUGE_SIZE;
		long avail_pages = umem_huge_free();
		char have[32] = "an unknown number";

		if (avail_pages >= 0)
			snprintf(have, sizeof(have), "%ld", avail_pages);
		pr_warn("%s: hugepages on: the receive region of %u frames needs %llu huge pages "
			"of 2 MiB, %s free (raise vm.nr_hugepages, or use hugepages auto or "
			"off)\n", ifname, frames, (unsigned long long)need, have);
		return NULL;
	}
	if (!ctx) {
		pr_warn("%s: UMEM of %u frames: %s\n", ifname, frames, strerror(errno));
		return NULL;
	}
	ctx->nq = 0;	/* counts queues actually opened, for the unwind */
	ctx->engine_mode = engine;
	ctx->zc_support = zc_support;
	snprintf(ctx->ifname, sizeof(ctx->ifname), "%s", ifname);
	ctx->ifindex = ifindex;
	/* listening for the device's removal before it is used: a removal
	 * from here on is seen (the bind below fails on one before) */
	ctx->ifwatch = ifwatch_open();
	if (ctx->ifwatch < 0) {
		err = ctx->ifwatch;
		pr_warn("%s: rtnetlink socket: %s\n", ifname, strerror(-err));
		goto fail;
	}
	/* 2. program and maps (refuses if another program is attached) */
	ctx->xdp_stamp = OPTS_GET(opts, timestamps, XSNAP_STAMP_ENGINE) == XSNAP_STAMP_XDP;
	sflags = (ctx->xdp_stamp ? STEER_XDP_STAMP : 0) | (groups > 1 ? STEER_QGROUPS : 0);
	if (OPTS_GET(opts, multiprog, 0))
		sflags |= STEER_MULTIPROG | (mode == XSNAP_MODE_NATIVE ? STEER_MP_NATIVE :
					     mode == XSNAP_MODE_SKB	 ? STEER_MP_SKB :
									   0);
	err = steer_open(&ctx->steer, ifname, ifindex, pin_root, sflags);
	if (err)
		goto fail;
	/* 3. UMEM registration; queue 0's fill/completion rings come with it */
	ucfg.fill_size = ring;
	ucfg.comp_size = ring;
	ucfg.frame_size = FRAME_SIZE;
	ucfg.frame_headroom = 0;	/* XDP_PACKET_HEADROOM already holds our metadata */
	err = xsk_umem__create(&ctx->xumem, ctx->umem.rw, ctx->umem.size, &ctx->q[0].fill,
			       &ctx->q[0].comp, &ucfg);
	if (err) {
		char hint[192];

		ctx->xumem = NULL;
		umem_reg_hint(err, ctx->umem.size, hint, sizeof(hint));
		pr_warn("%s: registering the UMEM (%llu bytes): %s%s\n", ifname,
			(unsigned long long)ctx->umem.size, strerror(-err), hint);
		goto fail;
	}
	/* 4. sockets */
	for (uint32_t i = 0; i < nq; i++) {
		struct queue *q = &ctx->q[i];

		q->id = first + i;
		err = queue_open(ctx, q, zc);
		if (err)
			goto fail;
		ctx->nq++;
		err = steer_set_xsk(&ctx->steer, q->id, q->fd);
		if (err) {
			pr_warn("%s: queue %u: XSKMAP update: %s\n", ifname, q->id, strerror(-err));
			goto fail;
		}
	}
	/* every queue has its rx ring: rule sets may now have frames sent
	 * bare (struct steer's impl_switch) */
	ctx->steer.impl_switch = engine_impl_switch;
	ctx->steer.impl_arg = ctx;
	/* 5. fill rings */
	engine_refill(ctx);
	/* 6. attach */
	err = steer_attach(&ctx->steer, ifname, mode);
	if (err)
		goto fail;
	/* 7. the engine thread(s) */
	if (engine != XSNAP_ENGINE_INLINE) {
		err = engine_thread_start(ctx, OPTS_GET(opts, engine_cpus, 0),
					  OPTS_GET(opts, engine_prio, 0),
					  engine == XSNAP_ENGINE_PER_QUEUE);
		if (err) {
			pr_warn("%s: engine thread: %s\n", ifname, strerror(-err));
			goto fail;
		}
	}
	{
		char gtext[96] = "";

		if (groups > 1)
			snprintf(gtext, sizeof(gtext), ", %u queue groups of %u queue%s, %u frames each",
				 groups, nq / groups, nq / groups == 1 ? "" : "s", ctx->umem.gframes);
		pr_info("%s: queues %u..%u open, %s mode, %s, %s pages%s\n", ifname, first,
			first + nq - 1, ctx->steer.mode == XSNAP_MODE_SKB ? "generic" : "native",
			ctx->q[0].zerocopy ? "zero-copy" : "copy", ctx->umem.huge ? "2 MiB" : "4 KiB",
			gtext);
	}
	/* 8. receive VLAN offload: said now, enforced at every vlan rule */
	{
		bool veth;
		int on = steer_vlan_offload(ifname, &veth);
		char msg[512];

		if (on > 0) {
			steer_vlan_offload_msg(ifname, on, veth, msg, sizeof(msg));
			pr_info("%s\n", msg);
		} else if (on < 0) {
			pr_debug("%s: receive VLAN offload unknown: %s\n", ifname, strerror(-on));
		}
	}
	return ctx;
fail:
	ctx_free(ctx);
	errno = -err;
	return NULL;
}

void xsnap_close(struct xsnap_ctx *ctx)
{
	if (ctx)
		ctx->be->close(ctx);
}

void local_close(struct xsnap_ctx *ctx)
{
	engine_thread_stop(ctx);
	pthread_mutex_lock(&ctx->lock);
	pthread_mutex_lock(&ctx->engine_lock);
	for (uint32_t i = 0; i < XSNAP_MAX_TENANTS; i++) {
		struct tenant *t = ctx->tenants[i];

		while (t && t->nsocks)
			sock_destroy_locked(t->socks[0]);
	}
	/* a dead tenant is freed with its last socket */
	while (ctx->dead && ctx->dead->nsocks)
		sock_destroy_locked(ctx->dead->socks[0]);
	pthread_mutex_unlock(&ctx->engine_lock);
	pthread_mutex_unlock(&ctx->lock);
	ctx_free(ctx);
}

const struct backend backend_local = {
	.close = local_close,
	.tenant_add = local_tenant_add,
	.tenant_del = local_tenant_del,
	.rule_add = local_rule_add,
	.rule_del = local_rule_del,
	.stats = local_stats,
	.audit = local_audit,
	.socket = local_socket,
	.sock_close = local_sock_close,
	.snapshot = local_snapshot,
	.snap_close = local_snap_close,
	.cow = local_cow,
	.commit = local_commit,
	.alloc = local_alloc,
	.send = local_send,
	.chunk_put = local_chunk_put,
};

int xsnap_rule_add(struct xsnap_ctx *ctx, const char *tenant, const char *match, int prio)
{
	if (!ctx || !tenant || !match)
		return err_ret(EINVAL);
	return ctx->be->rule_add(ctx, tenant, match, prio);
}

int local_rule_add(struct xsnap_ctx *ctx, const char *tenant, const char *match, int prio)
{
	char msg[256] = "";
	struct tenant *t;
	struct rule r;
	int err;

	if (prio < 0 || prio > 65535) {
		pr_warn("rule '%s': prio %d out of range 0..65535\n", match, prio);
		return err_ret(EINVAL);
	}
	pthread_mutex_lock(&ctx->lock);
	t = ctx_tenant_find(ctx, tenant);
	if (!t) {
		pr_warn("rule '%s': no tenant '%s'\n", match, tenant);
		err = ENOENT;
		goto unlock;
	}
	memset(&r, 0, sizeof(r));
	err = -rule_parse(match, &r, msg, sizeof(msg));
	if (err) {
		pr_warn("rule '%s': %s\n", match, msg);
		goto unlock;
	}
	/* a vlan rule needs the tag in the frame: read the offload now (the
	 * operator may have turned it off since the attach) */
	if ((r.fields & XSNAP_F_VLAN) && ctx->ifindex) {
		char why[512];
		bool veth;
		int on = steer_vlan_offload(ctx->ifname, &veth);

		if (on > 0) {
			steer_vlan_offload_msg(ctx->ifname, on, veth, why, sizeof(why));
			pr_warn("rule '%s': %s\n", match, why);
			err = EOPNOTSUPP;
			goto unlock;
		}
	}
	if (ctx->nrules >= XSNAP_MAX_RULES) {
		pr_warn("rule '%s': %d rules already\n", match, XSNAP_MAX_RULES);
		err = ENOSPC;
		goto unlock;
	}
	if (ctx->nrules == ctx->rules_cap) {
		unsigned int cap = ctx->rules_cap ? ctx->rules_cap * 2 : 16;
		struct rule *nr = realloc(ctx->rules, cap * sizeof(*nr));

		if (!nr) {
			err = ENOMEM;
			goto unlock;
		}
		ctx->rules = nr;
		ctx->rules_cap = cap;
	}
	r.id = ctx->next_rule_id;
	r.prio = (uint32_t)prio;
	r.tenant = t->slot;
	ctx->rules[ctx->nrules++] = r;
	err = -steer_apply(&ctx->steer, ctx->rules, ctx->nrules, ctx->tenant_mask);
	if (err) {
		ctx->nrules--;
		pr_warn("rule '%s': cannot apply: %s%s\n", match, strerror(err),
			err == ENOSPC ? " (too many rule shapes or keys: see the message above)" : "");
		goto unlock;
	}
	ctx->next_rule_id++;
	pthread_mutex_unlock(&ctx->lock);
	return (int)r.id;
unlock:
	pthread_mutex_unlock(&ctx->lock);
	return err_ret(err);
}

int xsnap_rule_del(struct xsnap_ctx *ctx, int rule_id)
{
	if (!ctx)
		return err_ret(EINVAL);
	return ctx->be->rule_del(ctx, rule_id);
}

int local_rule_del(struct xsnap_ctx *ctx, int rule_id)
{
	int err = ENOENT;

	pthread_mutex_lock(&ctx->lock);
	for (unsigned int i = 0; i < ctx->nrules; i++) {
		struct rule saved = ctx->rules[i];

		if ((int)saved.id != rule_id)
			continue;
		memmove(&ctx->rules[i], &ctx->rules[i + 1],
			(ctx->nrules - i - 1) * sizeof(*ctx->rules));
		ctx->nrules--;
		err = -steer_apply(&ctx->steer, ctx->rules, ctx->nrules, ctx->tenant_mask);
		if (err) {
			memmove(&ctx->rules[i + 1], &ctx->rules[i],
				(ctx->nrules - i) * sizeof(*ctx->rules));
			ctx->rules[i] = saved;
			ctx->nrules++;
		}
		break;
	}
	pthread_mutex_unlock(&ctx->lock);
	return err ? err_ret(err) : 0;
}

void tenant_engine_stats(const struct xsnap_ctx *ctx, const struct tenant *t,
			 struct xsnap_stats *st)
{
	st->rx_frames += t->rx_frames;
	st->rx_bytes += t->rx_bytes;
	st->quota_drops += t->quota_drops;
	st->sockets += t->nsocks;
	st->held += (uint32_t)(t->head - t->tail);
	st->evicted += t->evicted;
	st->cow += t->cow;
	st->commits += t->commits;
	st->tx_frames += t->tx_frames;
	st->tx_completed += t->tx_completed;
	st->snapshots += t->snapshots;
	st->pool_free += ctx->umem.npool_free[t->slot];
	if (t->view) {
		st->view_private++;
		st->view_copies += t->view->copies;
		st->view_held += t->view->nheld;
	}
}

static void tenant_stats(struct xsnap_ctx *ctx, struct tenant *t, struct xsnap_stats *st)
{
	tenant_engine_stats(ctx, t, st);
	st->delivered += t->closed_delivered;
	st->bad_releases += t->closed_bad_releases;
	st->recvfrom_skipped += t->closed_skipped;
	st->recvfrom_fragments += t->closed_fragments;
	st->recvfrom_bad_csum += t->closed_bad_csum;
	for (unsigned int i = 0; i < t->nsocks; i++) {
		const struct sock_ctl *c = t->socks[i]->ctl;

		/* socket counters are written by their owner (thread or client
		 * process), atomically: one writer, relaxed */
		st->recvfrom_skipped += atomic_load_explicit(&c->skipped, memory_order_relaxed);
		st->recvfrom_fragments += atomic_load_explicit(&c->fragments, memory_order_relaxed);
		st->recvfrom_bad_csum += atomic_load_explicit(&c->bad_csum, memory_order_relaxed);
		st->delivered += atomic_load_explicit(&c->delivered, memory_order_relaxed);
		st->bad_releases += atomic_load_explicit(&c->bad_releases, memory_order_relaxed);
	}
}

int xsnap_stats(struct xsnap_ctx *ctx, const char *tenant, struct xsnap_stats *st)
{
	if (!ctx || !st || st->sz < sizeof(size_t))
		return err_ret(EINVAL);
	return ctx->be->stats(ctx, tenant, st);
}

int local_stats(struct xsnap_ctx *ctx, const char *tenant, struct xsnap_stats *st)
{
	uint64_t cnt[XSNAP_R_MAX];
	struct xdp_statistics xs;
	struct tenant *t = NULL;
	size_t sz;

	sz = st->sz < sizeof(*st) ? st->sz : sizeof(*st);
	struct xsnap_stats out = { .sz = sz };

	pthread_mutex_lock(&ctx->lock);
	if (tenant) {
		t = ctx_tenant_find(ctx, tenant);
		if (!t) {
			pthread_mutex_unlock(&ctx->lock);
			return err_ret(ENOENT);
		}
	}
	pthread_mutex_lock(&ctx->engine_lock);
	if (t) {
		tenant_stats(ctx, t, &out);
	} else {
		for (uint32_t i = 0; i < XSNAP_MAX_TENANTS; i++)
			if (ctx->tenants[i])
				tenant_stats(ctx, ctx->tenants[i], &out);
	}
	out.frames_total = ctx->umem.nframes;
	out.frames_free = ctx->umem.nfree;
	out.frames_logged = ctx->umem.nheld;
	out.zerocopy = 1;
	out.hugepages = ctx->umem.huge;
	for (uint32_t i = 0; i < ctx->nq; i++) {
		socklen_t len = sizeof(xs);

		out.frames_kernel += ctx->q[i].outstanding;
		out.zerocopy &= ctx->q[i].zerocopy;
		memset(&xs, 0, sizeof(xs));
		if (getsockopt(ctx->q[i].fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
			continue;
		out.kernel_rx_dropped += xs.rx_dropped;
		out.kernel_rx_ring_full += xs.rx_ring_full;
		out.kernel_fill_empty += xs.rx_fill_ring_empty_descs;
	}
	pthread_mutex_unlock(&ctx->engine_lock);
	out.xdp_mode = ctx->steer.mode;
	if (!steer_counters(&ctx->steer, cnt))
		for (int r = 0; r < XSNAP_R_MAX && r < 16; r++)
			out.xdp[r] = cnt[r];
	if (t) {
		struct xsnap_tenant_cnt tc;

		if (!steer_tenant_counters(&ctx->steer, t->slot, &tc))
			out.xdp_tenant_frames = tc.frames;
	}
	pthread_mutex_unlock(&ctx->lock);
	memcpy(st, &out, sz);
	return 0;
}
