// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Views: the memory a tenant's consumers read frames from.
 *
 * One UMEM and one fill ring per queue mean the kernel writes every frame
 * into the UMEM's receive region before anyone classifies it, and a process
 * cannot be made to forget a page it has mapped.  So a consumer that maps
 * the receive region can read every tenant's frames.  A tenant's view is
 * therefore either:
 *
 *   - the shared view (t->view == NULL): the receive region itself.  Fan-out
 *     across all its tenants costs a reference, never a copy; for tenants
 *     that may read each other's traffic, and for in-process contexts (one
 *     trust domain);
 *   - a private view: a memfd of its own into which the engine copies each
 *     frame once, for all the tenants of that view together (a group of
 *     tenants that trust each other shares one), and from which its
 *     consumers read.  Inside the view fan-out stays zero-copy: every
 *     tenant and socket of the view references the same chunk.
 *
 * A private view's region has as many chunks as the receive region, so its
 * chunk numbers never reach the pools' (which follow the receive region in
 * the UMEM's numbering); its memfd is sparse, and chunks are reused most
 * recently freed first, so it costs memory in proportion to what its logs
 * hold, never more than the sum of its tenants' quotas.  Each view is a
 * fresh memfd, never reused for another view: a process that keeps a
 * mapping after its tenant was deleted sees only what its view held.
 *
 * Consumers read through `ro`, a range laid out like the UMEM: the region
 * at offset 0 and the tenant pools at their UMEM offsets (read-only), so a
 * log entry's address means the same thing whether it names a received
 * frame or a version committed from a pool.  Only the engine writes the
 * region (through `rw`), under ctx->engine_lock.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xsnap_internal.h"

struct view *view_find(struct xsnap_ctx *ctx, const char *name)
{
	if (!*name)
		return NULL;	/* a tenant's own view ("private") has no name */
	for (struct view *v = ctx->views; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

void view_destroy(struct view *v)
{
	if (!v)
		return;
	if (v->ro)
		munmap(v->ro, v->ro_len);
	if (v->rw)
		munmap(v->rw, (size_t)v->nframes * FRAME_SIZE);
	if (v->fd >= 0)
		close(v->fd);
	free(v->ref);
	free(v->free);
	free(v);
}

struct view *view_create(struct xsnap_ctx *ctx, const char *name)
{
	struct umem *u = &ctx->umem;
	struct view *v = calloc(1, sizeof(*v));
	size_t len = (size_t)u->nframes * FRAME_SIZE;
	int err;

	if (!v)
		return NULL;
	v->fd = -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->nframes = u->nframes;
	v->ref = calloc(v->nframes, sizeof(*v->ref));
	v->free = calloc(v->nframes, sizeof(*v->free));
	if (!v->ref || !v->free)
		goto fail;
	err = shm_create("xsnap-view", len, &v->fd, (void **)&v->rw);
	if (err) {
		v->fd = -1;
		v->rw = NULL;
		errno = -err;
		goto fail;
	}
	/* consumers' range: like the UMEM, read-only */
	err = umem_map_like(u, v->fd, &v->ro);
	if (err) {
		v->ro = NULL;
		errno = -err;
		goto fail;
	}
	v->ro_len = u->size;
	for (uint32_t i = 0; i < v->nframes; i++)
		v->free[i] = v->nframes - 1 - i;
	v->nfree = v->nframes;
	return v;
fail:
	view_destroy(v);
	return NULL;
}

/* The engine walks ctx->views: link and unlink with both locks held. */
void view_link(struct xsnap_ctx *ctx, struct view *v)
{
	v->next = ctx->views;
	ctx->views = v;
}

/* Unlink and free @v once no tenant reads it (both locks held). */
void view_unref(struct xsnap_ctx *ctx, struct view *v)
{
	if (!v || --v->ntenants)
		return;
	for (struct view **pp = &ctx->views; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	view_destroy(v);
}

void view_put(struct view *v, uint32_t chunk)
{
	if (--v->ref[chunk] == 0) {
		v->nheld--;
		v->free[v->nfree++] = chunk;
	}
}
