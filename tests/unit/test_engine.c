// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The snapshot store without a kernel: tenant logs, fan-out and share
 * sockets, release and reclamation, quotas, frame conservation and the
 * read-only mapping.
 *
 * A context is built with ctx_new() (UMEM on memfds, no XDP program, no
 * AF_XDP socket); this file plays the kernel's part of the rings: it takes
 * chunk addresses from the fill ring, writes metadata and a frame into the
 * chunk as the copy-mode path does (data at XDP_PACKET_HEADROOM, metadata
 * right before it) and posts an rx descriptor.
 */
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "xsnap_internal.h"

#define RING 64
#define FRAMES 4096
#define HEADROOM 256

struct sim_ring {
	uint32_t prod, cons, flags;
	uint64_t addrs[RING];
	struct xdp_desc descs[RING];
};

struct sim {
	struct xsnap_ctx *ctx;
	struct sim_ring fill, rx;
	uint64_t sent;
};

static void wire_prod(struct xsk_ring_prod *r, struct sim_ring *s, void *ring)
{
	r->producer = &s->prod;
	r->consumer = &s->cons;
	r->flags = &s->flags;
	r->ring = ring;
	r->size = RING;
	r->mask = RING - 1;
	r->cached_prod = 0;
	r->cached_cons = RING;	/* as libxdp: free = cached_cons - cached_prod */
}

static void wire_cons(struct xsk_ring_cons *r, struct sim_ring *s, void *ring)
{
	r->producer = &s->prod;
	r->consumer = &s->cons;
	r->flags = &s->flags;
	r->ring = ring;
	r->size = RING;
	r->mask = RING - 1;
	r->cached_prod = 0;
	r->cached_cons = 0;
}

static struct sim *sim_new(uint32_t frames)
{
	struct sim *sim = calloc(1, sizeof(*sim));

	if (!sim)
		return NULL;
	sim->ctx = ctx_new(frames, 1, RING, 8, 4);
	if (!sim->ctx) {
		free(sim);
		return NULL;
	}
	wire_prod(&sim->ctx->q[0].fill, &sim->fill, sim->fill.addrs);
	wire_cons(&sim->ctx->q[0].rx, &sim->rx, sim->rx.descs);
	sim->ctx->q[0].fd = eventfd(0, EFD_CLOEXEC);	/* stands in for the xsk fd */
	engine_refill(sim->ctx);
	return sim;
}

static void sim_free(struct sim *sim)
{
	int fd = sim->ctx->q[0].fd;

	xsnap_close(sim->ctx);
	close(fd);
	free(sim);
}

/* The kernel side: receive one frame for @mask, as the XDP program would
 * have tagged it.  Returns 0, or -1 if the fill ring was empty (a drop). */
static int sim_rx(struct sim *sim, uint32_t mask, uint32_t flow_hash, uint32_t tag)
{
	struct umem *u = &sim->ctx->umem;
	uint64_t chunk_addr, addr;
	struct xsnap_meta *m;

	if (sim->fill.cons == __atomic_load_n(&sim->fill.prod, __ATOMIC_ACQUIRE))
		return -1;
	if (sim->rx.prod - sim->rx.cons == RING)
		return -1;
	chunk_addr = sim->fill.addrs[sim->fill.cons & (RING - 1)];
	__atomic_store_n(&sim->fill.cons, sim->fill.cons + 1, __ATOMIC_RELEASE);
	addr = chunk_addr + HEADROOM;
	m = (struct xsnap_meta *)(u->rw + addr - sizeof(*m));
	memset(m, 0, sizeof(*m));
	m->magic = XSNAP_META_MAGIC;
	m->tenant_mask = mask;
	m->flow_hash = flow_hash;
	m->rx_ns = 1000 + sim->sent;
	memcpy(u->rw + addr, &tag, sizeof(tag));
	memset(u->rw + addr + 4, 0xab, 60);
	sim->rx.descs[sim->rx.prod & (RING - 1)] = (struct xdp_desc){ .addr = addr, .len = 64 };
	__atomic_store_n(&sim->rx.prod, sim->rx.prod + 1, __ATOMIC_RELEASE);
	sim->sent++;
	return 0;
}

/* Every chunk is in exactly one place: free stack, kernel, or logs. */
static void check_conservation(struct sim *sim)
{
	struct xsnap_ctx *ctx = sim->ctx;
	struct umem *u = &ctx->umem;
	uint32_t in_logs = 0;
	uint8_t *where = calloc(u->nframes, 1);

	for (uint32_t i = 0; i < u->nfree; i++) {
		CHECK(where[u->free[i]] == 0);
		where[u->free[i]] = 1;
	}
	/* kernel: fill ring entries not consumed + rx descriptors not consumed */
	for (uint32_t i = sim->fill.cons; i != sim->fill.prod; i++) {
		uint32_t c = (uint32_t)(sim->fill.addrs[i & (RING - 1)] >> FRAME_SHIFT);

		CHECK(where[c] == 0);
		where[c] = 2;
	}
	for (uint32_t i = *ctx->q[0].rx.consumer; i != sim->rx.prod; i++) {
		uint32_t c = (uint32_t)(sim->rx.descs[i & (RING - 1)].addr >> FRAME_SHIFT);

		CHECK(where[c] == 0);
		where[c] = 2;
	}
	for (uint32_t c = 0; c < u->nframes; c++) {
		if (u->ref[c]) {
			CHECK(where[c] == 0);
			in_logs++;
			where[c] = 3;
		}
		CHECK(where[c] != 0);
	}
	CHECK_EQ(u->nfree + ctx->q[0].outstanding + in_logs, u->nframes);
	free(where);
}

static uint32_t tag_of(const struct xsnap_frame *f)
{
	uint32_t t;

	memcpy(&t, xsnap_frame_data(f), sizeof(t));
	return t;
}

TEST(fanout_two_tenants)
{
	struct sim *sim = sim_new(FRAMES);
	struct xsnap_sock *a1, *a2, *b;
	struct xsnap_frame *v[64];
	uint64_t ida[40] = {}, idb[40] = {};
	int n, na1 = 0, nb = 0;

	REQUIRE(sim);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "alpha", NULL), 0);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "beta", NULL), 1);
	a1 = xsnap_socket(sim->ctx, "alpha", NULL);
	a2 = xsnap_socket(sim->ctx, "alpha", NULL);
	b = xsnap_socket(sim->ctx, "beta", NULL);
	REQUIRE(a1 && a2 && b);
	/* tags 0..29: alpha only for i%3==0, beta only for i%3==1, both for 2 */
	for (uint32_t i = 0; i < 30; i++)
		CHECK_EQ(sim_rx(sim, i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 3, i, i), 0);

	n = xsnap_recv(a1, v, 64, 0);
	CHECK_EQ(n, 20);
	for (int i = 0; i < n; i++) {
		uint32_t tag = tag_of(v[i]);

		CHECK(tag % 3 != 1);	/* never a beta-only frame */
		CHECK_EQ(xsnap_frame_seq(v[i]), i + 1);	/* in sequence, from 1 */
		CHECK_EQ(xsnap_frame_len(v[i]), 64);
		CHECK_EQ(xsnap_frame_version(v[i]), 0);
		ida[tag] = xsnap_frame_id(v[i]) + 1;
		na1++;
	}
	xsnap_release(a1, v, (unsigned int)n);
	n = xsnap_recv(a2, v, 64, 0);
	CHECK_EQ(n, 20);
	xsnap_release(a2, v, (unsigned int)n);
	n = xsnap_recv(b, v, 64, 0);
	CHECK_EQ(n, 20);
	for (int i = 0; i < n; i++) {
		uint32_t tag = tag_of(v[i]);

		CHECK(tag % 3 != 0);
		idb[tag] = xsnap_frame_id(v[i]) + 1;
		nb++;
	}
	/* frames of both tenants: one chunk, seen by both (no copy) */
	for (int i = 2; i < 30; i += 3)
		CHECK(ida[i] && ida[i] == idb[i]);
	/* nothing more */
	CHECK_EQ(xsnap_recv(a1, v, 64, 0), 0);
	CHECK_EQ(na1 + nb, 40);
	check_conservation(sim);
	xsnap_release(b, v, (unsigned int)n);
	xsnap_sock_close(a1);
	xsnap_sock_close(a2);
	xsnap_sock_close(b);
	engine_poll(sim->ctx);
	check_conservation(sim);
	CHECK_EQ(sim->ctx->umem.nfree + sim->ctx->q[0].outstanding, FRAMES);
	sim_free(sim);
}

TEST(release_out_of_order_reclaims_behind_slowest)
{
	struct sim *sim = sim_new(FRAMES);
	struct xsnap_sock *s1, *s2;
	struct xsnap_frame *v[16], *w[16];
	uint32_t free0;

	REQUIRE(sim);
	xsnap_tenant_add(sim->ctx, "t", NULL);
	s1 = xsnap_socket(sim->ctx, "t", NULL);
	s2 = xsnap_socket(sim->ctx, "t", NULL);
	REQUIRE(s1 && s2);
	for (int i = 0; i < 8; i++)
		sim_rx(sim, 1, 0, (uint32_t)i);
	CHECK_EQ(xsnap_recv(s1, v, 16, 0), 8);
	CHECK_EQ(xsnap_recv(s2, w, 16, 0), 8);
	engine_poll(sim->ctx);
	free0 = sim->ctx->umem.nfree;
	/* s1 releases 4..7 first, then 0..3; s2 holds all: nothing reclaimed */
	xsnap_release(s1, v + 4, 4);
	xsnap_release(s1, v, 4);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->umem.nfree, free0);
	CHECK_EQ(sim->ctx->tenants[0]->head - sim->ctx->tenants[0]->tail, 8);
	/* s2 releases 0..1: two chunks come back (the fill ring is full, so
	 * they stay on the free stack) */
	xsnap_release(s2, w, 2);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->tenants[0]->head - sim->ctx->tenants[0]->tail, 6);
	/* releasing the same frames again is refused and counted */
	xsnap_release(s2, w, 2);
	xsnap_release(s2, (struct xsnap_frame **)&sim, 1);	/* not a frame of ours */
	CHECK_EQ(s2->bad_releases, 3);
	xsnap_release(s2, w + 2, 6);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->tenants[0]->head - sim->ctx->tenants[0]->tail, 0);
	check_conservation(sim);
	xsnap_sock_close(s1);
	xsnap_sock_close(s2);
	sim_free(sim);
}

TEST(quota_drops_only_the_stuck_tenant)
{
	struct sim *sim = sim_new(FRAMES);
	XSNAP_OPTS(xsnap_tenant_opts, small, .quota = 16);
	struct xsnap_frame *v[64];
	struct xsnap_sock *fast, *stuck;
	uint64_t got_fast = 0, got_stuck = 0;
	int n;

	REQUIRE(sim);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "fast", NULL), 0);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "stuck", &small), 1);
	fast = xsnap_socket(sim->ctx, "fast", NULL);
	stuck = xsnap_socket(sim->ctx, "stuck", NULL);
	REQUIRE(fast && stuck);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 20; i++)
			CHECK_EQ(sim_rx(sim, 3, 0, (uint32_t)(round * 20 + i)), 0);
		while ((n = xsnap_recv(fast, v, 64, 0)) > 0) {
			got_fast += (uint64_t)n;
			xsnap_release(fast, v, (unsigned int)n);
		}
		/* the stuck consumer reads but never releases */
		while ((n = xsnap_recv(stuck, v, 64, 0)) > 0)
			got_stuck += (uint64_t)n;
	}
	XSNAP_OPTS(xsnap_stats, sf);
	XSNAP_OPTS(xsnap_stats, ss);
	CHECK_EQ(xsnap_stats(sim->ctx, "fast", &sf), 0);
	CHECK_EQ(xsnap_stats(sim->ctx, "stuck", &ss), 0);
	CHECK_EQ(got_fast, 1000);
	CHECK_EQ(sf.rx_frames, 1000);
	CHECK_EQ(sf.quota_drops, 0);
	CHECK_EQ(got_stuck, 16);
	CHECK_EQ(ss.rx_frames, 16);
	CHECK_EQ(ss.quota_drops, 984);
	CHECK_EQ(ss.held, 16);
	check_conservation(sim);
	/* closing the stuck socket gives its frames back */
	xsnap_sock_close(stuck);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_stats(sim->ctx, "stuck", &ss), 0);
	CHECK_EQ(ss.held, 0);
	CHECK_EQ(ss.delivered, 16);
	check_conservation(sim);
	xsnap_sock_close(fast);
	sim_free(sim);
}

TEST(share_mode_splits_by_flow)
{
	struct sim *sim = sim_new(FRAMES);
	XSNAP_OPTS(xsnap_sock_opts, so, .mode = XSNAP_SHARE, .group = 7);
	struct xsnap_sock *s[3];
	struct xsnap_frame *v[64];
	int seen[60] = {}, n, total = 0;

	REQUIRE(sim);
	xsnap_tenant_add(sim->ctx, "t", NULL);
	for (int i = 0; i < 3; i++)
		REQUIRE((s[i] = xsnap_socket(sim->ctx, "t", &so)));
	for (uint32_t i = 0; i < 60; i++)
		sim_rx(sim, 1, i * 2654435761u, i);
	for (int k = 0; k < 3; k++) {
		n = xsnap_recv(s[k], v, 64, 0);
		CHECK(n > 0 && n < 60);
		for (int i = 0; i < n; i++) {
			uint32_t tag = tag_of(v[i]);

			CHECK_EQ((tag * 2654435761u) % 3, (uint32_t)k);
			seen[tag]++;
		}
		total += n;
		xsnap_release(s[k], v, (unsigned int)n);
	}
	CHECK_EQ(total, 60);
	for (int i = 0; i < 60; i++)
		CHECK_EQ(seen[i], 1);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->tenants[0]->head - sim->ctx->tenants[0]->tail, 0);
	for (int i = 0; i < 3; i++)
		xsnap_sock_close(s[i]);
	sim_free(sim);
}

TEST(unknown_metadata_and_masks_are_not_logged)
{
	struct sim *sim = sim_new(FRAMES);
	struct xsnap_sock *s;
	struct xsnap_frame *v[8];

	REQUIRE(sim);
	xsnap_tenant_add(sim->ctx, "t", NULL);
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	sim_rx(sim, 1u << 5, 0, 1);	/* a slot with no tenant */
	sim_rx(sim, 0, 0, 2);		/* no tenant at all */
	CHECK_EQ(xsnap_recv(s, v, 8, 0), 0);
	CHECK_EQ(sim->ctx->tenants[0]->rx_frames, 0);
	check_conservation(sim);
	xsnap_sock_close(s);
	sim_free(sim);
}

TEST(frames_are_read_only)
{
	struct sim *sim = sim_new(FRAMES);
	struct xsnap_sock *s;
	struct xsnap_frame *v[1];
	int status = 0;
	pid_t pid;

	REQUIRE(sim);
	xsnap_tenant_add(sim->ctx, "t", NULL);
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	sim_rx(sim, 1, 0, 42);
	REQUIRE(xsnap_recv(s, v, 1, 0) == 1);
	CHECK_EQ(tag_of(v[0]), 42);
	pid = fork();
	if (pid == 0) {
		/* a stray write through the consumer's view must fault (the
		 * default action, not a sanitizer's handler, so we see it) */
		signal(SIGSEGV, SIG_DFL);
		*(volatile uint8_t *)xsnap_frame_data(v[0]) = 0;
		_exit(0);
	}
	REQUIRE(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	CHECK_EQ(tag_of(v[0]), 42);
	xsnap_release(s, v, 1);
	xsnap_sock_close(s);
	sim_free(sim);
}

TEST(recv_timeout_and_bad_arguments)
{
	struct sim *sim = sim_new(FRAMES);
	struct xsnap_sock *s;
	struct xsnap_frame *v[1];

	REQUIRE(sim);
	xsnap_tenant_add(sim->ctx, "t", NULL);
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	CHECK_EQ(xsnap_recv(s, v, 1, 50), 0);	/* times out, not an error */
	CHECK_EQ(xsnap_recv(s, NULL, 1, 0), -EINVAL);
	CHECK_EQ(xsnap_recv(s, v, 0, 0), -EINVAL);
	CHECK(xsnap_fd(s) >= 0);
	xsnap_sock_close(s);
	sim_free(sim);
}

TEST(tenant_and_rule_errors)
{
	struct sim *sim = sim_new(FRAMES);
	XSNAP_OPTS(xsnap_tenant_opts, odd, .quota = 100);
	XSNAP_OPTS(xsnap_tenant_opts, huge, .quota = 4096);
	XSNAP_OPTS(xsnap_tenant_opts, small, .quota = 64);

	REQUIRE(sim);
	/* FRAMES 4096, reserve 2 * 64: 3968 frames for quotas */
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "a", &small), 0);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "a", &small), -EEXIST);
	CHECK_EQ(errno, EEXIST);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "bad name", &small), -EINVAL);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "", &small), -EINVAL);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "b", &odd), -EINVAL);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "b", &huge), -ENOSPC);
	CHECK_EQ(xsnap_rule_add(sim->ctx, "nobody", "udp dst port 1", 1), -ENOENT);
	CHECK_EQ(xsnap_rule_add(sim->ctx, "a", "udp dst prot 1", 1), -EINVAL);
	CHECK_EQ(xsnap_rule_add(sim->ctx, "a", "udp dst port 1", -1), -EINVAL);
	int id = xsnap_rule_add(sim->ctx, "a", "udp dst port 1", 1);
	CHECK(id > 0);
	CHECK_EQ(xsnap_rule_del(sim->ctx, id), 0);
	CHECK_EQ(xsnap_rule_del(sim->ctx, id), -ENOENT);
	CHECK(xsnap_socket(sim->ctx, "nobody", NULL) == NULL && errno == ENOENT);
	/* slots run out at max_tenants (8) */
	for (int i = 1; i < 8; i++) {
		char n[8];

		snprintf(n, sizeof(n), "t%d", i);
		CHECK_EQ(xsnap_tenant_add(sim->ctx, n, &small), i);
	}
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "last", &small), -ENOSPC);
	sim_free(sim);
}

TEST_MAIN()
