// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The snapshot store without a kernel: tenant logs, fan-out and share
 * sockets, release and reclamation, quotas, frame conservation and the
 * read-only mapping, on simulated rings (sim.h).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "frames.h"
#include "testlib.h"
#include "xsnap_internal.h"
#include "xsnap_parse.h"

#include "sim.h"

static int64_t mono_ns_test(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t logged_chunks(struct sim *sim)
{
	uint32_t n = 0;

	for (uint32_t c = 0; c < sim->ctx->umem.nframes; c++)
		n += sim->ctx->umem.ref[c] != 0;
	return n;
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
	/* the counter xsnap_stats reports as frames_logged */
	CHECK_EQ(u->nheld, in_logs);
	/* and every reference has a holder */
	CHECK_EQ(xsnap_audit(ctx), 0);
	free(where);
}

static uint32_t tag_of(const struct xsnap_frame *f)
{
	uint32_t t;

	memcpy(&t, xsnap_frame_data(f), sizeof(t));
	return t;
}

/* Receive and release all that @s can receive now; how many frames. */
static uint64_t drain(struct xsnap_sock *s)
{
	struct xsnap_frame *v[64];
	uint64_t got = 0;
	int n;

	while ((n = xsnap_recv(s, v, 64, 0)) > 0) {
		got += (uint64_t)n;
		xsnap_release(s, v, (unsigned int)n);
	}
	return got;
}

/*
 * The fixture most tests share: a simulation of @frames chunks (sim.h) with
 * tenants added in order, each in the next slot (the first in 0, as the
 * frames' tenant masks assume), and sockets on them; at the end the sockets
 * closed and the simulation freed.
 *
 *	REQUIRE((sim = sim_tenant(FRAMES, "t", &q16, &s)));	one tenant, a socket
 *	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "other", &q })));
 *	...
 *	SIM_DONE(sim, s, o);
 *
 * Setting up returns NULL, having said what failed, if any step does.
 */
struct tenant_def {
	const char *name;
	const struct xsnap_tenant_opts *opts;	/* NULL: the defaults */
};

static struct sim *sim_tenants(uint32_t frames, const struct tenant_def *t, size_t n)
{
	struct sim *sim = sim_new(frames);

	if (!sim) {
		fprintf(stderr, "fixture: sim_new(%u) failed\n", frames);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int slot = xsnap_tenant_add(sim->ctx, t[i].name, t[i].opts);

		if (slot != (int)i) {
			fprintf(stderr, "fixture: tenant %s: %d, expected slot %zu\n", t[i].name,
				slot, i);
			sim_free(sim);
			return NULL;
		}
	}
	return sim;
}

#define SIM_TENANTS(frames, ...)                                                        \
	sim_tenants((frames), (const struct tenant_def[]){ __VA_ARGS__ },               \
		    sizeof((const struct tenant_def[]){ __VA_ARGS__ }) /                \
			    sizeof(struct tenant_def))

/* One tenant @name (@opts, NULL: the defaults) and a socket on it in @s. */
static struct sim *sim_tenant(uint32_t frames, const char *name,
			      const struct xsnap_tenant_opts *opts, struct xsnap_sock **s)
{
	struct sim *sim = SIM_TENANTS(frames, { name, opts });

	if (!sim)
		return NULL;
	*s = xsnap_socket(sim->ctx, name, NULL);
	if (!*s) {
		fprintf(stderr, "fixture: socket on %s: %s\n", name, strerror(errno));
		sim_free(sim);
		return NULL;
	}
	return sim;
}

static void sim_done(struct sim *sim, struct xsnap_sock *const *socks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		xsnap_sock_close(socks[i]);
	sim_free(sim);
}

#define SIM_DONE(sim, ...)                                                               \
	sim_done((sim), (struct xsnap_sock *const[]){ __VA_ARGS__ },                    \
		 sizeof((struct xsnap_sock *const[]){ __VA_ARGS__ }) / sizeof(struct xsnap_sock *))

TEST(fanout_two_tenants)
{
	struct sim *sim;
	struct xsnap_sock *a1, *a2, *b;
	struct xsnap_frame *v[64];
	uint64_t ida[40] = {}, idb[40] = {};
	int n, na1 = 0, nb = 0;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "alpha", NULL }, { "beta", NULL })));
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
	/* released frames stay retained in the logs (30 chunks), nothing else */
	CHECK_EQ(logged_chunks(sim), 30);
	CHECK_EQ(sim->ctx->umem.nfree + sim->ctx->q[0].outstanding + 30, FRAMES);
	sim_free(sim);
}

TEST(release_out_of_order_reclaims_behind_slowest)
{
	struct sim *sim;
	struct xsnap_sock *s1, *s2;
	struct xsnap_frame *v[16], *w[16];
	uint32_t free0;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s1)));
	REQUIRE((s2 = xsnap_socket(sim->ctx, "t", NULL)));
	for (int i = 0; i < 8; i++)
		sim_rx(sim, 1, 0, (uint32_t)i);
	CHECK_EQ(xsnap_recv(s1, v, 16, 0), 8);
	CHECK_EQ(xsnap_recv(s2, w, 16, 0), 8);
	engine_poll(sim->ctx);
	free0 = sim->ctx->umem.nfree;
	/* s1 releases 4..7 first, then 0..3; s2 holds all: nothing reclaimed */
	xsnap_release(s1, v + 4, 4);
	CHECK_EQ(engine_horizon(sim->ctx->tenants[0]), 1);	/* s1 still holds 1..4 */
	xsnap_release(s1, v, 4);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->umem.nfree, free0);
	/* s2 holds all: nothing may be evicted */
	CHECK_EQ(engine_horizon(sim->ctx->tenants[0]), 1);
	/* s2 releases seq 1..2: the horizon moves past them */
	xsnap_release(s2, w, 2);
	CHECK_EQ(engine_horizon(sim->ctx->tenants[0]), 3);
	/* releasing the same frames again is refused and counted */
	xsnap_release(s2, w, 2);
	xsnap_release(s2, (struct xsnap_frame **)&sim, 1);	/* not a frame of ours */
	CHECK_EQ(s2->ctl->bad_releases, 3);
	xsnap_release(s2, w + 2, 6);
	engine_poll(sim->ctx);
	CHECK_EQ(engine_horizon(sim->ctx->tenants[0]), 9);
	/* retained until room is needed: evict explicitly, all go back */
	engine_evict(sim->ctx, sim->ctx->tenants[0], 9);
	CHECK_EQ(sim->ctx->tenants[0]->head - sim->ctx->tenants[0]->tail, 0);
	CHECK_EQ(logged_chunks(sim), 0);
	check_conservation(sim);
	SIM_DONE(sim, s1, s2);
}

TEST(quota_drops_only_the_stuck_tenant)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, small, .quota = 16);
	struct xsnap_frame *v[64];
	struct xsnap_sock *fast, *stuck;
	uint64_t got_fast = 0, got_stuck = 0;
	int n;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "fast", NULL }, { "stuck", &small })));
	fast = xsnap_socket(sim->ctx, "fast", NULL);
	stuck = xsnap_socket(sim->ctx, "stuck", NULL);
	REQUIRE(fast && stuck);
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 20; i++)
			CHECK_EQ(sim_rx(sim, 3, 0, (uint32_t)(round * 20 + i)), 0);
		got_fast += drain(fast);
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
	/* closing the stuck socket makes its frames evictable: new frames
	 * replace them instead of being dropped */
	xsnap_sock_close(stuck);
	for (int i = 0; i < 20; i++)
		CHECK_EQ(sim_rx(sim, 2, 0, (uint32_t)(5000 + i)), 0);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_stats(sim->ctx, "stuck", &ss), 0);
	CHECK_EQ(ss.held, 16);
	CHECK_EQ(ss.rx_frames, 36);
	CHECK_EQ(ss.evicted, 20);
	CHECK_EQ(ss.quota_drops, 984);
	CHECK_EQ(ss.delivered, 16);
	check_conservation(sim);
	SIM_DONE(sim, fast);
}

TEST(share_mode_splits_by_flow)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_sock_opts, so, .mode = XSNAP_SHARE, .group = 7);
	struct xsnap_sock *s[3];
	struct xsnap_frame *v[64];
	int seen[60] = {}, n, total = 0;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL })));
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
	CHECK_EQ(engine_horizon(sim->ctx->tenants[0]), sim->ctx->tenants[0]->head);
	SIM_DONE(sim, s[0], s[1], s[2]);
}

/* Drain @s, counting each frame's tag in @seen[0..@n). */
static void drain_tags(struct xsnap_sock *s, int *seen, uint32_t n)
{
	struct xsnap_frame *v[64];
	int got;

	while ((got = xsnap_recv(s, v, 64, 0)) > 0) {
		for (int i = 0; i < got; i++) {
			uint32_t tag = tag_of(v[i]);

			CHECK(tag < n);
			if (tag < n)
				seen[tag]++;
		}
		xsnap_release(s, v, (unsigned int)got);
	}
}

/* A share group whose members change while one member lags: every frame
 * still goes to exactly one member.  Frames logged before a change are split
 * by the layout they were logged under, whoever reads them when (a member
 * reading them after the change with the new layout took frames another
 * member had already taken, and left others to nobody). */
TEST(share_membership_change_keeps_the_split)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_sock_opts, so, .mode = XSNAP_SHARE, .group = 7);
	struct xsnap_sock *a, *b, *c;
	int seen[240] = {};

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL })));
	REQUIRE((a = xsnap_socket(sim->ctx, "t", &so)));
	REQUIRE((b = xsnap_socket(sim->ctx, "t", &so)));
	/* two members; b reads, a lags; c joins */
	for (uint32_t i = 0; i < 60; i++)
		sim_rx(sim, 1, i * 2654435761u, i);
	drain_tags(b, seen, 240);
	REQUIRE((c = xsnap_socket(sim->ctx, "t", &so)));
	for (uint32_t i = 60; i < 120; i++)
		sim_rx(sim, 1, i * 2654435761u, i);
	drain_tags(a, seen, 240);
	drain_tags(b, seen, 240);
	drain_tags(c, seen, 240);
	/* three members; b and c read, a lags; b leaves */
	for (uint32_t i = 120; i < 180; i++)
		sim_rx(sim, 1, i * 2654435761u, i);
	drain_tags(b, seen, 240);
	drain_tags(c, seen, 240);
	xsnap_sock_close(b);
	for (uint32_t i = 180; i < 240; i++)
		sim_rx(sim, 1, i * 2654435761u, i);
	drain_tags(a, seen, 240);
	drain_tags(c, seen, 240);
	for (int i = 0; i < 240; i++)
		CHECK_EQ(seen[i], 1);
	SIM_DONE(sim, a, c);
}

/* Frames as the XDP program leaves them by default (no flow hash, no
 * timestamp): the engine computes the flow hash with the shared parser for a
 * tenant with share-mode sockets, and stamps each batch with its own clock
 * read. */
static uint32_t udp_flow(struct frame *fr, uint16_t sport)
{
	struct xsnap_pkt p;

	frame_eth(fr);
	frame_ipv4(fr, "10.9.0.1", "10.9.0.2", 0);
	frame_udp(fr, sport, 9000);
	frame_finish(fr);
	return xsnap_parse(fr->b, fr->b + fr->len, &p) ? 0 : p.flow_hash;
}

TEST(engine_hashes_and_stamps_what_the_program_leaves)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_sock_opts, so, .mode = XSNAP_SHARE, .group = 1);
	struct xsnap_sock *s[2], *plain;
	struct xsnap_frame *v[64];
	uint32_t want[40];
	int seen[40] = {}, n, total = 0;
	struct frame fr;
	uint64_t t0, t1;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "u", NULL })));
	for (int i = 0; i < 2; i++)
		REQUIRE((s[i] = xsnap_socket(sim->ctx, "t", &so)));
	REQUIRE((plain = xsnap_socket(sim->ctx, "u", NULL)));
	CHECK_EQ(sim->ctx->share_mask, 1u);
	t0 = (uint64_t)mono_ns_test();
	for (uint16_t i = 0; i < 40; i++) {
		want[i] = udp_flow(&fr, (uint16_t)(1000 + i));
		REQUIRE(want[i] != 0);
		fr.b[fr.len - 1] = (uint8_t)i;	/* payload's last byte: the index */
		REQUIRE(sim_rx_bytes(sim, 3, fr.b, (uint32_t)fr.len) == 0);
	}
	for (int k = 0; k < 2; k++) {
		n = xsnap_recv(s[k], v, 64, 0);
		CHECK(n > 0 && n < 40);
		for (int i = 0; i < n; i++) {
			const uint8_t *d = xsnap_frame_data(v[i]);
			uint32_t idx = d[xsnap_frame_len(v[i]) - 1];

			REQUIRE(idx < 40);
			CHECK_EQ(want[idx] % 2, (uint32_t)k);
			seen[idx]++;
		}
		total += n;
		xsnap_release(s[k], v, (unsigned int)n);
	}
	t1 = (uint64_t)mono_ns_test();
	CHECK_EQ(total, 40);
	for (int i = 0; i < 40; i++)
		CHECK_EQ(seen[i], 1);
	/* a tenant without share sockets gets no hash; every frame a stamp */
	CHECK_EQ(sim->ctx->tenants[1]->log[0].flow_hash, 0);
	n = xsnap_recv(plain, v, 64, 0);
	CHECK_EQ(n, 40);
	for (int i = 0; i < n; i++) {
		CHECK(xsnap_frame_time_ns(v[i]) >= t0 && xsnap_frame_time_ns(v[i]) <= t1);
		CHECK(i == 0 || xsnap_frame_time_ns(v[i]) >= xsnap_frame_time_ns(v[i - 1]));
	}
	xsnap_release(plain, v, (unsigned int)n);
	/* the last share socket closed: no more hashing for t */
	xsnap_sock_close(s[0]);
	CHECK_EQ(sim->ctx->share_mask, 1u);
	xsnap_sock_close(s[1]);
	CHECK_EQ(sim->ctx->share_mask, 0u);
	SIM_DONE(sim, plain);
}

TEST(unknown_metadata_and_masks_are_not_logged)
{
	struct sim *sim;
	struct xsnap_sock *s;
	struct xsnap_frame *v[8];

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	sim_rx(sim, 1u << 5, 0, 1);	/* a slot with no tenant */
	sim_rx(sim, 0, 0, 2);		/* no tenant at all */
	CHECK_EQ(xsnap_recv(s, v, 8, 0), 0);
	CHECK_EQ(sim->ctx->tenants[0]->rx_frames, 0);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/* A kernel that refuses bpf_xdp_adjust_meta(): the program writes the
 * metadata as the packet's head, the descriptor starts at it, and the
 * engine hands consumers the frame behind it with its metadata in front,
 * as everywhere else.  A descriptor too short to hold the head is not ours:
 * not logged, its chunk back on the free stack. */
TEST(metadata_as_the_packet_head)
{
	struct sim *sim;
	struct xsnap_sock *s;
	struct xsnap_frame *v[16];
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	sim->meta_head = sim->ctx->steer.meta_head = true;
	for (uint32_t i = 0; i < 10; i++)
		CHECK_EQ(sim_rx(sim, 1, 0, 100 + i), 0);
	n = xsnap_recv(s, v, 16, 0);
	CHECK_EQ(n, 10);
	for (int i = 0; i < n; i++) {
		const struct xsnap_meta *m = xsnap_frame_meta(v[i]);

		CHECK_EQ(tag_of(v[i]), 100 + (uint32_t)i);
		CHECK_EQ(xsnap_frame_len(v[i]), 64);
		CHECK_EQ(m->magic, XSNAP_META_MAGIC);
		CHECK_EQ(m->rx_ns, 1000 + (uint64_t)i);	/* the program's stamp, kept */
	}
	xsnap_release(s, v, (unsigned int)n);
	/* shorter than the head */
	{
		uint64_t addr = sim->fill.addrs[sim->fill.cons & (RING - 1)] + HEADROOM;

		sim->fill.cons++;
		sim->rx.descs[sim->rx.prod & (RING - 1)] = (struct xdp_desc){ .addr = addr, .len = 16 };
		sim->rx.prod++;
		sim->sent++;
	}
	CHECK_EQ(xsnap_recv(s, v, 16, 0), 0);
	CHECK_EQ(sim->ctx->tenants[0]->rx_frames, 10);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

TEST(frames_are_read_only)
{
	struct sim *sim;
	struct xsnap_sock *s;
	struct xsnap_frame *v[1];
	int status = 0;
	pid_t pid;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
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
	SIM_DONE(sim, s);
}

TEST(recv_timeout_and_bad_arguments)
{
	struct sim *sim;
	struct xsnap_sock *s;
	struct xsnap_frame *v[1];

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	CHECK_EQ(xsnap_recv(s, v, 1, 50), 0);	/* times out, not an error */
	CHECK_EQ(xsnap_recv(s, NULL, 1, 0), -EINVAL);
	CHECK_EQ(xsnap_recv(s, v, 0, 0), -EINVAL);
	CHECK(xsnap_fd(s) >= 0);
	SIM_DONE(sim, s);
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


TEST(retention_evicts_oldest_released)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, q16, .quota = 16);
	XSNAP_OPTS(xsnap_stats, st);
	struct xsnap_sock *s;

	REQUIRE((sim = sim_tenant(FRAMES, "t", &q16, &s)));
	for (uint32_t i = 0; i < 40; i++) {
		CHECK_EQ(sim_rx(sim, 1, 0, i), 0);
		drain(s);
	}
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.rx_frames, 40);
	CHECK_EQ(st.quota_drops, 0);
	CHECK_EQ(st.evicted, 24);
	CHECK_EQ(st.held, 16);		/* the last 16 are retained */
	CHECK_EQ(sim->ctx->tenants[0]->tail, 25);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

TEST(snapshot_is_consistent_and_pins)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, q16, .quota = 16);
	XSNAP_OPTS(xsnap_snap_opts, last5, .frames = 5);
	XSNAP_OPTS(xsnap_snap_opts, range, .seq_first = 3, .seq_last = 4);
	XSNAP_OPTS(xsnap_snap_opts, bad, .frames = 5, .last_ms = 3);
	XSNAP_OPTS(xsnap_stats, st);
	struct xsnap_frame *v[64];
	struct xsnap_snap *sn, *sr;
	struct xsnap_sock *s;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", &q16, &s)));
	for (uint32_t i = 1; i <= 10; i++)
		sim_rx(sim, 1, 0, i);
	n = xsnap_recv(s, v, 64, 0);
	CHECK_EQ(n, 10);
	xsnap_release(s, v, (unsigned int)n);
	CHECK(xsnap_snapshot(s, &bad) == NULL && errno == EINVAL);
	REQUIRE((sn = xsnap_snapshot(s, &last5)));
	REQUIRE((sr = xsnap_snapshot(s, &range)));
	CHECK_EQ(xsnap_snap_len(sn), 5);
	CHECK_EQ(xsnap_snap_len(sr), 2);
	/* heavy traffic after the snapshot: 30 more frames, quota 16 */
	for (uint32_t i = 11; i <= 40; i++) {
		sim_rx(sim, 1, 0, i);
		drain(s);
	}
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	/* seq 3.. is pinned by the range snapshot: the log holds 3..18 and
	 * then drops (the snapshot counts against the quota) */
	CHECK_EQ(sim->ctx->tenants[0]->tail, 3);
	CHECK(st.quota_drops > 0);
	/* the snapshot shows exactly seq 6..10, with their bytes */
	n = xsnap_snap_next(sn, v, 64);
	CHECK_EQ(n, 5);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(xsnap_frame_seq(v[i]), 6 + i);
		CHECK_EQ(tag_of(v[i]), 6 + i);
	}
	CHECK_EQ(xsnap_snap_next(sn, v, 64), 0);
	/* its frames can't be released, sent or copied through the socket */
	xsnap_release(s, v, 1);
	CHECK_EQ(s->ctl->bad_releases, 1);
	CHECK(xsnap_frame_cow(s, &v[0]) == NULL && errno == EINVAL);
	n = xsnap_snap_next(sr, v, 64);
	CHECK_EQ(n, 2);
	CHECK_EQ(tag_of(v[0]), 3);
	check_conservation(sim);
	xsnap_snap_close(sr);
	xsnap_snap_close(sn);
	/* unpinned: new frames evict instead of dropping */
	uint64_t drops = st.quota_drops;
	for (uint32_t i = 41; i <= 45; i++) {
		sim_rx(sim, 1, 0, i);
		drain(s);
	}
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.quota_drops, drops);
	CHECK_EQ(st.snapshots, 2);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/*
 * A full log evicts one entry per new frame, bounded by the horizon, which
 * the engine reads once per pass (log_room()).  A snapshot taken between
 * two passes, over a full log whose frames are all released, must pin its
 * frames from the next pass on: new frames are dropped, not evicted.  (A
 * horizon kept from the pass before the snapshot evicted them.)
 */
TEST(snapshot_of_a_full_released_log_pins_it)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, q16, .quota = 16);
	XSNAP_OPTS(xsnap_snap_opts, all, .frames = 16);
	XSNAP_OPTS(xsnap_stats, st);
	struct xsnap_frame *v[64];
	struct xsnap_snap *sn;
	struct xsnap_sock *s;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", &q16, &s)));
	/* 40 frames through a quota of 16, each pass evicting: 25..40 stay */
	for (uint32_t i = 1; i <= 40; i++) {
		sim_rx(sim, 1, 0, i);
		drain(s);
	}
	CHECK_EQ(sim->ctx->tenants[0]->tail, 25);
	REQUIRE((sn = xsnap_snapshot(s, &all)));
	CHECK_EQ(xsnap_snap_len(sn), 16);
	/* 8 more in one pass: the snapshot holds all 16 entries */
	for (uint32_t i = 41; i <= 48; i++)
		sim_rx(sim, 1, 0, i);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.quota_drops, 8);
	CHECK_EQ(sim->ctx->tenants[0]->tail, 25);
	n = xsnap_snap_next(sn, v, 64);
	CHECK_EQ(n, 16);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(xsnap_frame_seq(v[i]), 25 + i);
		CHECK_EQ(tag_of(v[i]), 25 + i);
	}
	check_conservation(sim);
	xsnap_snap_close(sn);
	/* unpinned: the next pass evicts again */
	sim_rx(sim, 1, 0, 49);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.quota_drops, 8);
	CHECK_EQ(st.evicted, 25);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/*
 * A snapshot of the last 10 000 frames of a log that retains them holds
 * exactly those frames, in order, and reads through in one pass.  What it
 * costs is measured by `make bench` (the snapshot row, against the same
 * figure in the README); here the time is only printed: a bound tight
 * enough to mean anything would fail on a loaded 2-core machine.
 */
TEST(snapshot_of_10000_frames)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, big, .quota = 16384);
	XSNAP_OPTS(xsnap_snap_opts, all, .frames = 10000);
	struct xsnap_frame *v[64];
	struct xsnap_sock *s;
	struct xsnap_snap *sn;
	struct timespec a, b;
	uint64_t want, read = 0;
	bool in_order = true;
	int n;

	REQUIRE((sim = sim_tenant(32768, "t", &big, &s)));
	/* 12 000 frames through a log that keeps 16 384: the snapshot takes
	 * the last 10 000 of them */
	for (uint32_t i = 0; i < 12000; i++) {
		if (sim_rx(sim, 1, 0, i)) {
			drain(s);
			REQUIRE(sim_rx(sim, 1, 0, i) == 0);
		}
	}
	drain(s);
	clock_gettime(CLOCK_MONOTONIC, &a);
	sn = xsnap_snapshot(s, &all);
	clock_gettime(CLOCK_MONOTONIC, &b);
	REQUIRE(sn);
	printf("snapshot of 10000 frames: %ld us (timed by make bench, not here)\n",
	       (long)((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000));
	CHECK_EQ(xsnap_snap_len(sn), 10000);
	want = 0;
	while ((n = xsnap_snap_next(sn, v, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			uint64_t seq = xsnap_frame_seq(v[i]);

			if (read == 0)
				want = seq;
			in_order &= seq == want++;
		}
		read += (uint64_t)n;
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(read, 10000);
	CHECK(in_order);
	/* the last 10 000 of 12 000 (sequence numbers from 1): 2 001..12 000 */
	CHECK_EQ(want, 12001);
	xsnap_snap_close(sn);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

TEST(cow_isolates_and_commit_publishes_later)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_snap_opts, all, .frames = 16);
	struct xsnap_frame *v1[8], *v2[8], *vb[8], *sv[8];
	struct xsnap_sock *s1, *s2, *late, *b;
	struct xsnap_snap *sn;
	uint32_t pool0;
	uint8_t *w;
	int ver;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "other", NULL })));
	REQUIRE((s1 = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((s2 = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((late = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((b = xsnap_socket(sim->ctx, "other", NULL)));
	pool0 = sim->ctx->umem.npool_free[0];
	for (uint32_t i = 1; i <= 3; i++)
		sim_rx(sim, 3, 0, i);
	CHECK_EQ(xsnap_recv(s1, v1, 8, 0), 3);
	CHECK_EQ(xsnap_recv(s2, v2, 8, 0), 3);
	CHECK_EQ(xsnap_recv(b, vb, 8, 0), 3);
	CHECK_EQ(xsnap_recv(late, v2 + 3, 1, 0), 1);	/* late holds only seq 1 */
	REQUIRE((sn = xsnap_snapshot(s1, &all)));

	/* s1 makes a private version of seq 2 and writes it */
	struct xsnap_frame *orig = v1[1];
	w = xsnap_frame_cow(s1, &v1[1]);
	REQUIRE(w);
	CHECK(v1[1] == orig);	/* same handle, now the private version */
	CHECK_EQ(xsnap_frame_version(v1[1]), 1);
	CHECK(xsnap_frame_id(v1[1]) != xsnap_frame_id(v2[1]));
	memcpy(w, "\x99\x00\x00\x00", 4);
	CHECK_EQ(tag_of(v1[1]), 0x99);
	CHECK_EQ(tag_of(v2[1]), 2);	/* every other reader: the original */
	CHECK_EQ(tag_of(vb[1]), 2);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0 - 1);
	CHECK(xsnap_frame_cow(s1, &v1[1]) == w);	/* already private: no copy */
	CHECK(xsnap_frame_cow(s1, &v2[0]) == NULL && errno == EINVAL);	/* not s1's */

	/* commit: late has not received seq 2 yet, so it sees the new version */
	ver = xsnap_frame_commit(s1, v1[1]);
	CHECK_EQ(ver, 1);
	CHECK_EQ(xsnap_frame_commit(s1, v1[1]), -EINVAL);	/* no longer private */
	CHECK_EQ(xsnap_recv(late, vb + 3, 2, 0), 2);
	CHECK_EQ(xsnap_frame_seq(vb[3]), 2);
	CHECK_EQ(xsnap_frame_version(vb[3]), 1);
	CHECK_EQ(tag_of(vb[3]), 0x99);
	CHECK_EQ(tag_of(vb[4]), 3);
	/* holders of the old version and the earlier snapshot keep old bytes */
	CHECK_EQ(tag_of(v2[1]), 2);
	CHECK_EQ(xsnap_snap_next(sn, sv, 8), 3);
	CHECK_EQ(tag_of(sv[1]), 2);
	CHECK_EQ(xsnap_frame_version(sv[1]), 0);
	/* the other tenant's log is untouched */
	CHECK_EQ(tag_of(vb[1]), 2);

	/* a second version of the same frame gets version 2 */
	w = xsnap_frame_cow(late, &vb[3]);
	REQUIRE(w);
	CHECK_EQ(xsnap_frame_version(vb[3]), 2);
	CHECK_EQ(tag_of(vb[3]), 0x99);		/* copied from version 1 */
	CHECK_EQ(xsnap_frame_commit(late, vb[3]), 2);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0 - 2);

	/* old versions go once nobody can hold them */
	xsnap_release(s1, v1, 3);
	xsnap_release(s2, v2, 3);
	xsnap_release(late, v2 + 3, 1);
	xsnap_release(late, vb + 3, 2);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->tenants[0]->nold, 2);	/* the snapshot pins seq 1.. */
	xsnap_snap_close(sn);
	CHECK_EQ(sim->ctx->tenants[0]->nold, 0);
	/* version 1's pool chunk is free again; version 2 lives in the log */
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0 - 1);
	engine_evict(sim->ctx, sim->ctx->tenants[0], sim->ctx->tenants[0]->head);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0);
	xsnap_release(b, vb, 3);
	check_conservation(sim);
	SIM_DONE(sim, s1, s2, late, b);
}

TEST(cow_pool_exhaustion_and_private_release)
{
	struct sim *sim;
	struct xsnap_frame *v[POOL + 8];
	struct xsnap_sock *s;
	uint32_t pool0;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	pool0 = sim->ctx->umem.npool_free[0];
	for (uint32_t i = 0; i < POOL + 8; i++) {
		if (i == RING - 8)
			engine_poll(sim->ctx);	/* the rx ring holds RING entries */
		sim_rx(sim, 1, 0, i);
	}
	n = xsnap_recv(s, v, POOL + 8, 0);
	CHECK_EQ(n, POOL + 8);
	for (int i = 0; i < POOL; i++)
		CHECK(xsnap_frame_cow(s, &v[i]) != NULL);
	CHECK(xsnap_frame_cow(s, &v[POOL]) == NULL && errno == ENOBUFS);
	CHECK(xsnap_frame_alloc(s, 100) == NULL && errno == ENOBUFS);
	CHECK_EQ(sim->ctx->umem.npool_free[0], 0);
	/* releasing private versions returns their chunks */
	xsnap_release(s, v, (unsigned int)n);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0);
	CHECK_EQ(s->ctl->bad_releases, 0);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/*
 * A handle kept after its frame was let go (released, sent) is refused by
 * every call that takes one, also once its view holds a later frame: the
 * quota is 8, so seq 9 is received into the view seq 1 had.
 */
TEST(stale_handles_are_refused_not_aliased)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 8);
	struct xsnap_frame *v[8], *w[8], *old, *fresh, *fold;
	struct xsnap_sock *s;
	uint64_t bad0, id9;
	uint32_t pool0;

	REQUIRE((sim = sim_tenant(FRAMES, "t", &to, &s)));
	for (uint32_t i = 1; i <= 8; i++)
		sim_rx(sim, 1, 0, i);
	CHECK_EQ(xsnap_recv(s, v, 8, 0), 8);
	old = v[0];
	CHECK_EQ(xsnap_frame_seq(old), 1);
	xsnap_release(s, v, 8);

	/* released, view not reused yet: stale already */
	bad0 = s->ctl->bad_releases;
	CHECK(xsnap_frame_data(old) == NULL);
	CHECK_EQ(xsnap_frame_len(old), 0);
	CHECK_EQ(xsnap_frame_seq(old), 0);
	CHECK(xsnap_frame_meta(old) == NULL);
	CHECK(xsnap_frame_cow(s, &old) == NULL && errno == ESTALE);
	CHECK_EQ(xsnap_frame_commit(s, old), -ESTALE);
	CHECK_EQ(xsnap_send(s, &old, 1), -ESTALE);
	xsnap_release(s, &old, 1);
	CHECK_EQ(s->ctl->bad_releases, bad0 + 2);	/* the refused send and release */

	/* seq 9 lands in the same view: the old handle still names nothing */
	sim_rx(sim, 1, 0, 9);
	CHECK_EQ(xsnap_recv(s, w, 8, 0), 1);
	REQUIRE(handle_view(w[0]) == handle_view(old));	/* the same view... */
	CHECK(w[0] != old);				/* ...another handle */
	CHECK_EQ(xsnap_frame_seq(w[0]), 9);
	id9 = xsnap_frame_id(w[0]);
	CHECK_EQ(xsnap_frame_seq(old), 0);
	CHECK(xsnap_frame_data(old) == NULL);
	CHECK(xsnap_frame_cow(s, &old) == NULL && errno == ESTALE);
	CHECK_EQ(xsnap_frame_commit(s, old), -ESTALE);
	CHECK_EQ(xsnap_send(s, &old, 1), -ESTALE);
	CHECK_EQ(sim->tx.prod, 0);
	xsnap_release(s, &old, 1);
	CHECK_EQ(s->ctl->bad_releases, bad0 + 4);
	/* the current holder is untouched by any of that */
	CHECK_EQ(xsnap_frame_seq(w[0]), 9);
	CHECK_EQ(xsnap_frame_id(w[0]), id9);
	CHECK(xsnap_frame_cow(s, &w[0]) != NULL);
	CHECK_EQ(xsnap_frame_commit(s, w[0]), 1);

	/* sent: the handle goes stale with the send */
	CHECK_EQ(xsnap_send(s, w, 1), 1);
	CHECK_EQ(xsnap_send(s, w, 1), -ESTALE);
	CHECK_EQ(sim->tx.prod, 1);
	CHECK_EQ(sim_tx(sim, NULL, NULL, 0), 1);
	engine_poll(sim->ctx);

	/* fresh frames: a released one, and the same slot allocated again
	 * (the committed version of seq 9 keeps one pool chunk) */
	pool0 = sim->ctx->umem.npool_free[0];
	REQUIRE((fresh = xsnap_frame_alloc(s, 64)));
	fold = fresh;
	xsnap_release(s, &fresh, 1);
	CHECK(xsnap_frame_cow(s, &fold) == NULL && errno == ESTALE);
	REQUIRE((fresh = xsnap_frame_alloc(s, 64)));
	REQUIRE(handle_view(fresh) == handle_view(fold));
	CHECK_EQ(xsnap_send(s, &fold, 1), -ESTALE);
	CHECK_EQ(xsnap_frame_len(fold), 0);
	CHECK_EQ(xsnap_frame_len(fresh), 64);
	xsnap_release(s, &fold, 1);	/* ignored: the pool chunk stays allocated */
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0 - 1);
	xsnap_release(s, &fresh, 1);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

TEST(send_received_cow_and_fresh_frames)
{
	struct sim *sim;
	struct xsnap_frame *v[8], *f, *vo[8];
	struct xsnap_sock *s, *o;
	uint8_t out[8][128];
	uint32_t lens[8], pool0;
	uint64_t rx_addr;
	uint8_t *w;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "other", NULL })));
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((o = xsnap_socket(sim->ctx, "other", NULL)));
	pool0 = sim->ctx->umem.npool_free[0];
	sim_rx(sim, 3, 0, 7);
	sim_rx(sim, 3, 0, 8);
	REQUIRE(xsnap_recv(s, v, 8, 0) == 2);
	REQUIRE(xsnap_recv(o, vo, 8, 0) == 2);
	rx_addr = handle_view(v[0])->addr;

	/* a tenant cannot send a frame it does not hold */
	CHECK_EQ(xsnap_send(s, vo, 1), -EINVAL);
	CHECK_EQ(sim->tx.prod, 0);

	/* received frame: zero-copy, its chunk gains a transmit reference */
	w = xsnap_frame_cow(s, &v[1]);
	REQUIRE(w);
	w[0] = 0x42;
	f = xsnap_frame_alloc(s, 60);
	REQUIRE(f);
	w = xsnap_frame_cow(s, &f);	/* fresh frames are written this way */
	REQUIRE(w);
	memset(w, 0x5a, 60);
	struct xsnap_frame *batch[3] = { v[0], v[1], f };
	CHECK_EQ(xsnap_send(s, batch, 3), 3);
	CHECK_EQ(sim->ctx->umem.ref[rx_addr >> FRAME_SHIFT], 3);	/* 2 logs + tx */
	CHECK_EQ(sim->tx.descs[0].addr, rx_addr);			/* zero-copy */
	/* sent frames left the socket's hands */
	xsnap_release(s, batch, 1);
	CHECK_EQ(s->ctl->bad_releases, 2);	/* 1 from the -EINVAL send, 1 here */
	CHECK_EQ(sim_tx(sim, out, lens, 8), 3);
	CHECK_EQ(out[0][0], 7);
	CHECK_EQ(out[1][0], 0x42);
	CHECK_EQ(out[2][0], 0x5a);
	CHECK_EQ(lens[2], 60);
	engine_poll(sim->ctx);	/* completions */
	CHECK_EQ(sim->ctx->umem.ref[rx_addr >> FRAME_SHIFT], 2);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0);
	XSNAP_OPTS(xsnap_stats, st);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.tx_frames, 3);
	CHECK_EQ(st.tx_completed, 3);
	CHECK_EQ(st.pool_free, pool0);

	/* fair share: 2 tenants, ring 64: at most 32 in flight each */
	struct xsnap_frame *many[40];
	int k = 0;
	for (; k < 40; k++)
		REQUIRE((many[k] = xsnap_frame_alloc(s, 64)));
	CHECK_EQ(xsnap_send(s, many, 40), 32);
	CHECK_EQ(xsnap_send(s, many + 32, 8), 0);	/* nothing completed yet */
	sim_tx(sim, NULL, NULL, 0);
	CHECK_EQ(xsnap_send(s, many + 32, 8), 8);
	sim_tx(sim, NULL, NULL, 0);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->umem.npool_free[0], pool0);
	xsnap_release(o, vo, 2);
	check_conservation(sim);
	SIM_DONE(sim, s, o);
}

static void udp_frame(struct frame *fr, int v6, const char *text)
{
	memset(fr, 0, sizeof(*fr));
	frame_eth(fr);
	if (v6)
		frame_ipv6(fr, "fd00::1", "fd00::2");
	else
		frame_ipv4(fr, "10.1.2.3", "10.1.2.4", 0);
	frame_udp(fr, 4242, 9000);
	frame_payload(fr, strlen(text));
	memcpy(fr->b + fr->l4_off + 8, text, strlen(text));
	frame_finish(fr);	/* after the payload: the checksum covers it */
}

TEST(recvfrom_udp_ipv4_ipv6)
{
	struct sim *sim;
	struct sockaddr_storage ss;
	struct xsnap_sock *s;
	struct frame fr;
	socklen_t sl = sizeof(ss);
	char buf[64], small[4];
	ssize_t n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	sim_rx(sim, 1, 0, 1);		/* not UDP: skipped */
	udp_frame(&fr, 0, "hello v4");
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame(&fr, 1, "hello v6");
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame(&fr, 0, "truncated");
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);

	n = xsnap_recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
	CHECK_EQ(n, 8);
	CHECK(!memcmp(buf, "hello v4", 8));
	CHECK_EQ(sl, sizeof(struct sockaddr_in));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	CHECK_EQ(in->sin_family, AF_INET);
	CHECK_EQ(ntohs(in->sin_port), 4242);
	CHECK_EQ(ntohl(in->sin_addr.s_addr), 0x0a010203);

	sl = sizeof(ss);
	n = xsnap_recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
	CHECK_EQ(n, 8);
	CHECK(!memcmp(buf, "hello v6", 8));
	CHECK_EQ(sl, sizeof(struct sockaddr_in6));
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct in6_addr want;
	inet_pton(AF_INET6, "fd00::1", &want);
	CHECK_EQ(in6->sin6_family, AF_INET6);
	CHECK_EQ(ntohs(in6->sin6_port), 4242);
	CHECK(!memcmp(&in6->sin6_addr, &want, 16));

	n = xsnap_recvfrom(s, small, sizeof(small), MSG_DONTWAIT | MSG_TRUNC, NULL, NULL);
	CHECK_EQ(n, 9);		/* full length with MSG_TRUNC */
	CHECK(!memcmp(small, "trun", 4));
	CHECK_EQ(xsnap_recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL), -EAGAIN);
	CHECK_EQ(xsnap_recvfrom(s, buf, sizeof(buf), MSG_PEEK, NULL, NULL), -EINVAL);
	XSNAP_OPTS(xsnap_stats, st);
	xsnap_stats(sim->ctx, "t", &st);
	CHECK_EQ(st.recvfrom_skipped, 1);
	CHECK_EQ(engine_horizon(sim->ctx->tenants[0]), sim->ctx->tenants[0]->head);
	SIM_DONE(sim, s);
}

/*
 * Frames the specialised program sent bare (its implicit outcome, with the
 * metadata as the packet's head): the engine gives each the outcome in
 * force at its rx ring position and writes in front of it the metadata the
 * program left out, the same as the program writes for such a frame; a
 * bare frame where no outcome is in force is not ours.  Switches queue up
 * to IMPL_SWITCHES ahead of the engine and drain as it reads past them,
 * with frames or without.
 */
TEST(bare_frames_take_the_outcome_of_their_ring_position)
{
	struct xsnap_meta want[2], got;
	struct xsnap_frame *v[16];
	struct xsnap_sock *s;
	struct frame fr[2];
	struct sim *sim;
	char buf[64];
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	sim->meta_head = sim->ctx->steer.meta_head = true;
	udp_frame(&fr[0], 0, "bare v4");
	udp_frame(&fr[1], 1, "bare v6");
	/* the metadata the program writes for them (sim_rx_bytes(): the
	 * parser's offsets), rule 7 */
	for (int i = 0; i < 2; i++)
		REQUIRE(sim_rx_bytes(sim, 1, fr[i].b, (uint32_t)fr[i].len) == 0);
	REQUIRE(xsnap_recv(s, v, 16, 0) == 2);
	for (int i = 0; i < 2; i++) {
		memcpy(&want[i], xsnap_frame_meta(v[i]), sizeof(want[i]));
		want[i].rule_id = 7;
	}
	xsnap_release(s, v, 2);
	CHECK_EQ(want[0].l4_off, 34);
	CHECK_EQ(want[1].l4_off, 54);

	/* no outcome yet: not ours, whatever lies in front of it */
	CHECK_EQ(sim_rx_bare(sim, fr[0].b, (uint32_t)fr[0].len), 0);
	CHECK_EQ(xsnap_recv(s, v, 16, 0), 0);
	CHECK_EQ(sim->ctx->tenants[0]->rx_frames, 2);

	/* three frames of rule 7, one of none, one of rule 9: the engine
	 * reads them all after the three switches are queued */
	CHECK_EQ(engine_impl_switch(sim->ctx, 1, 7), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(sim_rx_bare(sim, fr[i & 1].b, (uint32_t)fr[i & 1].len), 0);
	CHECK_EQ(engine_impl_switch(sim->ctx, 0, 0), 0);
	CHECK_EQ(sim_rx_bare(sim, fr[1].b, (uint32_t)fr[1].len), 0);
	CHECK_EQ(engine_impl_switch(sim->ctx, 1, 9), 0);
	CHECK_EQ(sim_rx_bare(sim, fr[1].b, (uint32_t)fr[1].len), 0);
	n = xsnap_recv(s, v, 16, 0);
	CHECK_EQ(n, 4);
	for (int i = 0; i < n && i < 4; i++) {
		const struct frame *f = &fr[i == 3 ? 1 : i & 1];

		memcpy(&got, xsnap_frame_meta(v[i]), sizeof(got));
		want[i == 3 ? 1 : i & 1].rule_id = i == 3 ? 9 : 7;
		CHECK(!memcmp(&got, &want[i == 3 ? 1 : i & 1], sizeof(got)));
		CHECK_EQ(xsnap_frame_len(v[i]), f->len);
		CHECK(!memcmp(xsnap_frame_data(v[i]), f->b, f->len));
	}
	xsnap_release(s, v, (unsigned int)n);
	CHECK_EQ(sim->ctx->tenants[0]->rx_frames, 6);

	/* the socket API reads what the engine wrote */
	CHECK_EQ(sim_rx_bare(sim, fr[0].b, (uint32_t)fr[0].len), 0);
	CHECK_EQ(xsnap_recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL), 7);
	CHECK(!memcmp(buf, "bare v4", 7));

	/* an engine that does not read: switches queue up to the limit, and
	 * drain when it reads past them, no frame needed */
	for (int i = 0; i < IMPL_SWITCHES; i++)
		CHECK_EQ(engine_impl_switch(sim->ctx, 1, 20 + (uint32_t)i), 0);
	CHECK_EQ(engine_impl_switch(sim->ctx, 1, 30), -ENOSPC);
	engine_poll(sim->ctx);
	CHECK_EQ(engine_impl_switch(sim->ctx, 1, 30), 0);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/* A UDP datagram of tenant frames (@v6), payload @text; @frag: IPv4 frag
 * field (IP_MF | offset / 8) or, for IPv6, 1 for a Fragment header with
 * M set, 2 for an atomic fragment (offset 0, M clear). */
static void udp_frame_frag(struct frame *fr, int v6, const char *text, uint16_t frag)
{
	memset(fr, 0, sizeof(*fr));
	frame_eth(fr);
	if (v6) {
		frame_ipv6(fr, "fd00::1", "fd00::2");
		if (frag)
			frame_ipv6_ext(fr, 44, 0);
	} else {
		frame_ipv4(fr, "10.1.2.3", "10.1.2.4", 0);
		frame_ipv4_frag(fr, frag);
	}
	frame_udp(fr, 4242, 9000);
	frame_payload(fr, strlen(text));
	memcpy(fr->b + fr->l4_off + 8, text, strlen(text));
	if (v6 && frag == 2)
		frame_put16(fr, fr->frag_off + 2, 0);
	frame_finish(fr);
}

/* The folded sum of @fr's UDP pseudo-header: what a sender that offloads
 * the checksum leaves in the field for the device to complete. */
static uint16_t pseudo_sum(const struct frame *fr)
{
	const uint8_t *a = fr->b + fr->l3_off + (fr->l3 == 4 ? 12 : 8);
	uint32_t sum = 17 + (uint32_t)(fr->len - fr->l4_off);

	for (int i = 0; i < (fr->l3 == 4 ? 8 : 32); i += 2)
		sum += (uint32_t)(a[i] << 8 | a[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Item 10: xsnap_recvfrom() returns whole datagrams with a valid checksum
 * only, as recvfrom(2) does: a bad checksum (or IPv6's forbidden zero) is
 * dropped, IP fragments (first, later, IPv4 and IPv6) are skipped, never
 * returned as a datagram; IPv4 without a checksum (0), an IPv6 atomic
 * fragment (offset 0, M clear: a whole datagram) and a checksum left to an
 * offload that never completed it are fine.
 */
TEST(recvfrom_skips_fragments_and_bad_checksums)
{
	static const char *want[] = { "good v4", "nocsum v4", "good v6", "atomic v6",
				      "partial v4", "partial v6" };
	struct sim *sim;
	struct xsnap_sock *s;
	struct frame fr;
	char buf[64];
	ssize_t n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	udp_frame_frag(&fr, 0, "good v4", 0);
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 0, "bad csum v4", 0);
	fr.b[fr.l4_off + 8] ^= 0x20;				/* payload changed */
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 0, "nocsum v4", 0);
	frame_put16(&fr, fr.l4_off + 6, 0);			/* IPv4: no checksum */
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 1, "nocsum v6", 0);
	frame_put16(&fr, fr.l4_off + 6, 0);			/* IPv6: forbidden */
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 1, "good v6", 0);
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 0, "first fragment v4", 0x2000);	/* MF, offset 0 */
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 0, "later fragment v4", 185);	/* offset 1480 */
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 1, "first fragment v6", 1);
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	udp_frame_frag(&fr, 1, "atomic v6", 2);
	sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	/* checksum offload never completed (a local sender over veth): the
	 * field holds the pseudo-header's sum, taken for "not computed" */
	for (int v6 = 0; v6 < 2; v6++) {
		udp_frame_frag(&fr, v6, v6 ? "partial v6" : "partial v4", 0);
		frame_put16(&fr, fr.l4_off + 6, pseudo_sum(&fr));
		sim_rx_bytes(sim, 1, fr.b, (uint32_t)fr.len);
	}

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		memset(buf, 0, sizeof(buf));
		n = xsnap_recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL);
		CHECK_EQ(n, (ssize_t)strlen(want[i]));
		if (strcmp(buf, want[i]))
			fprintf(stderr, "datagram %zu: '%s', expected '%s'\n", i, buf, want[i]);
		CHECK(!strcmp(buf, want[i]));
	}
	CHECK_EQ(xsnap_recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL), -EAGAIN);
	XSNAP_OPTS(xsnap_stats, st);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.recvfrom_skipped, 5);
	CHECK_EQ(st.recvfrom_bad_csum, 2);
	CHECK_EQ(st.recvfrom_fragments, 3);
	/* the counters outlive the socket */
	xsnap_sock_close(s);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.recvfrom_skipped, 5);
	CHECK_EQ(st.recvfrom_bad_csum, 2);
	CHECK_EQ(st.recvfrom_fragments, 3);
	sim_free(sim);
}

TEST(tenant_del_drains_then_enoent)
{
	struct sim *sim;
	struct xsnap_frame *v[8];
	struct xsnap_sock *s, *o;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "o", NULL })));
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((o = xsnap_socket(sim->ctx, "o", NULL)));
	sim_rx(sim, 3, 0, 1);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_tenant_del(sim->ctx, "t"), 0);
	CHECK_EQ(xsnap_tenant_del(sim->ctx, "t"), -ENOENT);
	sim_rx(sim, 3, 0, 2);	/* tagged before the delete reached the program */
	CHECK_EQ(xsnap_recv(s, v, 8, 0), 1);	/* what was logged before */
	CHECK_EQ(tag_of(v[0]), 1);
	CHECK_EQ(xsnap_recv(s, v + 1, 7, 0), -ENOENT);
	CHECK_EQ(xsnap_recv(o, v + 1, 7, 0), 2);	/* the other tenant: both */
	/* the slot stays reserved until the dead tenant is freed */
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "n", NULL), 2);
	xsnap_release(s, v, 1);
	xsnap_sock_close(s);	/* frees the dead tenant */
	CHECK(sim->ctx->dead == NULL);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "t", NULL), 0);
	xsnap_release(o, v + 1, 2);
	check_conservation(sim);
	SIM_DONE(sim, o);
}

/*
 * Item 3: a tenant slot is reused only once no frame tagged for its
 * previous owner can reach the engine.  Frames the program tagged for
 * "old" (slot 0) wait in the rx ring (nobody ran the engine) when old is
 * deleted and "new" takes slot 0: they must not enter new's log (a
 * snapshot of new once returned old's traffic), while another tenant
 * tagged on the same frames keeps them.
 */
TEST(a14_slot_reused_only_after_old_tags_drained)
{
	XSNAP_OPTS(xsnap_snap_opts, all, .frames = 64);
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *s, *o;
	struct xsnap_snap *sn;
	int n, other = 0;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "old", NULL }, { "other", NULL })));
	REQUIRE((o = xsnap_socket(sim->ctx, "other", NULL)));
	/* tagged for old (and every other one for other too), not yet moved */
	for (uint32_t i = 0; i < 16; i++)
		CHECK_EQ(sim_rx(sim, i & 1 ? 3 : 1, 0, 100 + i), 0);
	CHECK_EQ(xsnap_tenant_del(sim->ctx, "old"), 0);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "new", NULL), 0);	/* the same slot */
	REQUIRE((s = xsnap_socket(sim->ctx, "new", NULL)));
	/* new's own frames: tagged for slot 0 after it was added */
	for (uint32_t i = 0; i < 4; i++)
		CHECK_EQ(sim_rx(sim, 1, 0, 200 + i), 0);
	REQUIRE((sn = xsnap_snapshot(s, &all)));
	n = xsnap_snap_next(sn, v, 64);
	CHECK_EQ(n, 4);
	for (int i = 0; i < n; i++) {
		if (tag_of(v[i]) < 200)
			fprintf(stderr, "new's snapshot holds old's frame %u\n", tag_of(v[i]));
		CHECK(tag_of(v[i]) >= 200);
	}
	xsnap_snap_close(sn);
	n = xsnap_recv(s, v, 64, 0);
	CHECK_EQ(n, 4);
	for (int i = 0; i < n; i++)
		CHECK(tag_of(v[i]) >= 200);
	if (n > 0)
		xsnap_release(s, v, (unsigned int)n);
	/* the other tenant got its 8, in order */
	while ((n = xsnap_recv(o, v, 64, 0)) > 0) {
		for (int i = 0; i < n; i++)
			CHECK_EQ(tag_of(v[i]), 100 + 2 * (other + i) + 1);
		other += n;
		xsnap_release(o, v, (unsigned int)n);
	}
	CHECK_EQ(other, 8);
	check_conservation(sim);
	SIM_DONE(sim, s, o);
}

/* xsnap_fd() of a socket whose frames another socket's engine run moved
 * becomes readable once the socket caught up (recv with timeout 0 returned
 * 0), and is quiet again after the frames were received. */
TEST(fd_readable_for_frames_moved_by_another_socket)
{
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *a, *b;
	struct pollfd p = { .events = POLLIN };
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "alpha", NULL, &a)));
	REQUIRE((b = xsnap_socket(sim->ctx, "alpha", NULL)));
	p.fd = xsnap_fd(a);
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);	/* caught up: arms a's fd */
	CHECK_EQ(poll(&p, 1, 0), 0);
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < 5; i++)
			CHECK_EQ(sim_rx(sim, 1, i, i), 0);
		n = xsnap_recv(b, v, 64, 0);	/* b's call moves them */
		CHECK_EQ(n, 5);
		xsnap_release(b, v, (unsigned int)n);
		CHECK_EQ(poll(&p, 1, 0), 1);
		n = xsnap_recv(a, v, 64, 0);
		CHECK_EQ(n, 5);
		xsnap_release(a, v, (unsigned int)n);
		CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);
		CHECK_EQ(poll(&p, 1, 0), 0);	/* drained, armed again */
	}
	check_conservation(sim);
	SIM_DONE(sim, a, b);
}

/* A paced engine thread's nap: a quiet pass moves the frames and publishes
 * the log's head but wakes nobody (the wake word stays, an armed
 * xsnap_fd() stays unreadable) and names the tenant; the interval's run
 * wakes it with engine_wake(). */
TEST(quiet_pass_publishes_and_leaves_the_wake_to_the_run)
{
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *a;
	struct pollfd p = { .events = POLLIN };
	struct tenant *t;
	uint32_t quiet = 0, w0;
	uint64_t h0;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "alpha", NULL, &a)));
	t = sim->ctx->tenants[0];
	p.fd = xsnap_fd(a);
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);	/* caught up: arms a's fd */
	w0 = atomic_load(&t->shm->wake);
	h0 = atomic_load(&t->shm->head_pub);
	for (uint32_t i = 0; i < 5; i++)
		CHECK_EQ(sim_rx(sim, 1, i, i), 0);
	CHECK_EQ(engine_poll_quiet(sim->ctx, &quiet), 5);
	CHECK_EQ(quiet, 1u << t->slot);
	CHECK_EQ(atomic_load(&t->shm->head_pub), h0 + 5);	/* published */
	CHECK_EQ(atomic_load(&t->shm->wake), w0);		/* nobody woken */
	CHECK_EQ(poll(&p, 1, 0), 0);
	/* a second quiet pass with nothing new adds nothing */
	CHECK_EQ(engine_poll_quiet(sim->ctx, &quiet), 0);
	CHECK_EQ(quiet, 1u << t->slot);
	engine_wake(sim->ctx, quiet);
	CHECK(atomic_load(&t->shm->wake) != w0);
	CHECK_EQ(poll(&p, 1, 0), 1);
	n = xsnap_recv(a, v, 64, 0);
	CHECK_EQ(n, 5);
	xsnap_release(a, v, (unsigned int)n);
	check_conservation(sim);
	SIM_DONE(sim, a);
}

/* A /proc/stat of @ncpu CPUs into a memfd (CPU c: user c, idle 1000 + c,
 * iowait 7, the rest 1), then an "intr" line longer than any buffer. */
static int fake_proc_stat(int ncpu)
{
	int fd = memfd_create("stat", 0);
	char line[256];

	if (fd < 0)
		return -1;
	dprintf(fd, "cpu  1 2 3 4 5 6 7 8 0 0\n");
	for (int c = 0; c < ncpu; c++) {
		snprintf(line, sizeof(line), "cpu%d %d 1 1 %d 7 1 1 1 0 0\n", c, c, 1000 + c);
		if (write(fd, line, strlen(line)) < 0)
			return -1;
	}
	dprintf(fd, "intr 123");
	for (int i = 0; i < 20000; i++)
		dprintf(fd, " %d", i);
	dprintf(fd, "\nctxt 1\n");
	return fd;
}

/* The naps' idle check reads its CPU's line of /proc/stat wherever it is
 * (here 600 CPUs: CPU 577's line lies 20 KiB in), in a 4 KiB buffer. */
/* A consumer's run in thread mode (engine_help()): under load a quiet one
 * (published, nobody woken, the tenant left to the engine thread's run),
 * at light load, when the thread's next run waits for new frames, a full
 * one that wakes. */
TEST(consumer_help_under_load_wakes_nobody)
{
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *a;
	struct tenant *t;
	uint32_t w0, win0;
	uint64_t h0;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "alpha", NULL, &a)));
	t = sim->ctx->tenants[0];
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);
	/* as the paced engine thread leaves it before a timed sleep */
	sim->ctx->help_quiet = true;
	win0 = sim->ctx->pacer.win_frames;
	w0 = atomic_load(&t->shm->wake);
	h0 = atomic_load(&t->shm->head_pub);
	for (uint32_t i = 0; i < 5; i++)
		CHECK_EQ(sim_rx(sim, 1, i, i), 0);
	CHECK_EQ(engine_help(sim->ctx), 5);
	CHECK_EQ(atomic_load(&t->shm->head_pub), h0 + 5);	/* published */
	CHECK_EQ(atomic_load(&t->shm->wake), w0);		/* nobody woken */
	CHECK_EQ(sim->ctx->help_unwoken, 1u << t->slot);	/* left to the run */
	CHECK_EQ(sim->ctx->pacer.win_frames, win0 + 5);	/* counted in the window */
	n = xsnap_recv(a, v, 64, 0);
	CHECK_EQ(n, 5);
	xsnap_release(a, v, (unsigned int)n);
	/* light load (the thread sleeps until frames come): a full run,
	 * which wakes */
	sim->ctx->help_quiet = false;
	sim->ctx->help_unwoken = 0;
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);	/* caught up: arms a's fd */
	w0 = atomic_load(&t->shm->wake);
	for (uint32_t i = 0; i < 3; i++)
		CHECK_EQ(sim_rx(sim, 1, i, 10 + i), 0);
	CHECK_EQ(engine_help(sim->ctx), 3);
	CHECK_EQ(sim->ctx->help_unwoken, 0);
	CHECK(atomic_load(&t->shm->wake) != w0);
	n = xsnap_recv(a, v, 64, 0);
	CHECK_EQ(n, 3);
	xsnap_release(a, v, (unsigned int)n);
	check_conservation(sim);
	SIM_DONE(sim, a);
}

TEST(cpu_stat_read_finds_any_cpu)
{
	static const int cpus[] = { 0, 1, 9, 10, 99, 100, 577, 599 };
	uint64_t idle, total;
	int fd;

	for (unsigned int k = 0; k < sizeof(cpus) / sizeof(cpus[0]); k++) {
		int c = cpus[k];

		REQUIRE((fd = fake_proc_stat(600)) >= 0);
		CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
		idle = total = 0;
		CHECK_EQ(cpu_stat_read(fd, c, &idle, &total), 0);
		CHECK_EQ(idle, (uint64_t)(1000 + c + 7));
		CHECK_EQ(total, (uint64_t)(c + 1 + 1 + 1000 + c + 7 + 1 + 1 + 1));
		close(fd);
	}
	/* no such CPU: the search ends at the first other line */
	REQUIRE((fd = fake_proc_stat(600)) >= 0);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(cpu_stat_read(fd, 600, &idle, &total), -ENOENT);
	close(fd);
	/* a line it cannot parse */
	REQUIRE((fd = memfd_create("stat", 0)) >= 0);
	dprintf(fd, "cpu  1 2 3\ncpu0 1 2 3\n");
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(cpu_stat_read(fd, 0, &idle, &total), -EINVAL);
	close(fd);
	/* the real one has this CPU's line */
	REQUIRE((fd = open("/proc/stat", O_RDONLY)) >= 0);
	CHECK_EQ(cpu_stat_read(fd, 0, &idle, &total), 0);
	CHECK(total >= idle);
	close(fd);
}

/* A socket that caught up (recv with timeout 0 returned 0, arming its
 * xsnap_fd()) and then calls recv again is looking already: the engine run
 * inside that call must not write its notify pipe (a write and a read per
 * batch for a consumer that polls), and frames moved by another socket's
 * run still make the descriptor readable. */
TEST(recv_after_arming_costs_no_notify_write)
{
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *a, *b;
	struct pollfd p = { .events = POLLIN };
	int spy[2], nfd, n;
	char c;

	REQUIRE((sim = sim_tenant(FRAMES, "alpha", NULL, &a)));
	REQUIRE((b = xsnap_socket(sim->ctx, "alpha", NULL)));
	REQUIRE(pipe2(spy, O_NONBLOCK | O_CLOEXEC) == 0);
	nfd = a->nfd;
	a->nfd = spy[1];	/* every engine write for a lands in spy[0] */
	for (int round = 0; round < 3; round++) {
		CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);	/* caught up: armed */
		for (uint32_t i = 0; i < 5; i++)
			CHECK_EQ(sim_rx(sim, 1, i, i), 0);
		n = xsnap_recv(a, v, 64, 0);	/* a's own call moves them */
		CHECK_EQ(n, 5);
		xsnap_release(a, v, (unsigned int)n);
		CHECK_EQ(read(spy[0], &c, 1), -1);
		CHECK_EQ(errno, EAGAIN);
		n = xsnap_recv(b, v, 64, 0);
		CHECK_EQ(n, 5);
		xsnap_release(b, v, (unsigned int)n);
	}
	/* armed, and another socket's run moves the frames: one write */
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);
	CHECK_EQ(sim_rx(sim, 1, 0, 0), 0);
	CHECK_EQ(xsnap_recv(b, v, 64, 0), 1);
	xsnap_release(b, v, 1);
	CHECK_EQ(read(spy[0], &c, 1), 1);
	a->nfd = nfd;
	close(spy[0]);
	close(spy[1]);
	/* the socket's own descriptor still works as before */
	p.fd = xsnap_fd(a);
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 1);
	xsnap_release(a, v, 1);
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 0);
	CHECK_EQ(poll(&p, 1, 0), 0);
	CHECK_EQ(sim_rx(sim, 1, 0, 0), 0);
	CHECK_EQ(xsnap_recv(b, v, 64, 0), 1);
	xsnap_release(b, v, 1);
	CHECK_EQ(poll(&p, 1, 0), 1);
	CHECK_EQ(xsnap_recv(a, v, 64, 0), 1);
	xsnap_release(a, v, 1);
	check_conservation(sim);
	SIM_DONE(sim, a, b);
}

/* Every chunk of a private view is free or referenced by its logs, and the
 * counters agree. */
static void check_view(struct view *v)
{
	uint32_t held = 0;
	uint8_t *isfree = calloc(v->nframes, 1);

	for (uint32_t i = 0; i < v->nfree; i++) {
		CHECK(!isfree[v->free[i]]);
		CHECK_EQ(v->ref[v->free[i]], 0);
		isfree[v->free[i]] = 1;
	}
	for (uint32_t c = 0; c < v->nframes; c++) {
		CHECK(isfree[c] || v->ref[c]);
		held += v->ref[c] != 0;
	}
	CHECK_EQ(held, v->nheld);
	CHECK_EQ(held + v->nfree, v->nframes);
	free(isfree);
}

/* Private views: a frame is copied once per view, whatever the number of
 * its tenants and sockets; inside a view fan-out is zero-copy (one chunk);
 * the shared view still references the receive chunk; a frame for private
 * views only gives its receive chunk straight back; the copies hold the
 * frame's bytes and metadata; views are freed with their last tenant. */
TEST(private_views_copy_once_per_view)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, grp, .quota = 64, .view = "grp");
	XSNAP_OPTS(xsnap_tenant_opts, own, .quota = 64, .view = "own");
	XSNAP_OPTS(xsnap_tenant_opts, shr, .quota = 64, .view = XSNAP_VIEW_SHARED);
	struct xsnap_sock *a, *a2, *b, *c, *d;
	struct xsnap_frame *va[64], *va2[64], *vb[64], *vc[64], *vd[64];
	struct view *vg, *vo;
	uint32_t free0;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "a", &grp }, { "b", &grp }, { "c", &own },
				   { "d", &shr })));
	vg = view_find(sim->ctx, "grp");
	vo = view_find(sim->ctx, "own");
	REQUIRE(vg && vo && vg != vo);
	CHECK(!sim->ctx->tenants[3]->view);
	CHECK_EQ(vg->ntenants, 2);
	a = xsnap_socket(sim->ctx, "a", NULL);
	a2 = xsnap_socket(sim->ctx, "a", NULL);
	b = xsnap_socket(sim->ctx, "b", NULL);
	c = xsnap_socket(sim->ctx, "c", NULL);
	d = xsnap_socket(sim->ctx, "d", NULL);
	REQUIRE(a && a2 && b && c && d);
	/* 8 frames for everyone, then 8 for the private views only */
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ(sim_rx(sim, 0xf, i, i), 0);
	engine_poll(sim->ctx);
	free0 = sim->ctx->umem.nfree;
	for (uint32_t i = 8; i < 16; i++)
		CHECK_EQ(sim_rx(sim, 0x7, i, i), 0);
	engine_poll(sim->ctx);
	/* the receive chunks of the last 8 went back at once (and a refill
	 * took the same number from the free stack) */
	CHECK_EQ(sim->ctx->umem.nfree, free0);
	CHECK_EQ(sim->ctx->umem.nheld, 8);
	CHECK_EQ(vg->copies, 16);	/* one copy per frame for a and b together */
	CHECK_EQ(vo->copies, 16);
	CHECK_EQ(vg->nheld, 16);
	CHECK_EQ(xsnap_recv(a, va, 64, 0), 16);
	CHECK_EQ(xsnap_recv(a2, va2, 64, 0), 16);
	CHECK_EQ(xsnap_recv(b, vb, 64, 0), 16);
	CHECK_EQ(xsnap_recv(c, vc, 64, 0), 16);
	CHECK_EQ(xsnap_recv(d, vd, 64, 0), 8);
	for (int i = 0; i < 16; i++) {
		const uint8_t *p = xsnap_frame_data(va[i]);
		const struct xsnap_meta *m = xsnap_frame_meta(va[i]);

		CHECK_EQ(tag_of(va[i]), (uint32_t)i);
		CHECK_EQ(tag_of(vc[i]), (uint32_t)i);
		CHECK(p[4] == 0xab && p[63] == 0xab);
		CHECK_EQ(m->magic, XSNAP_META_MAGIC);
		CHECK_EQ(m->flow_hash, (uint32_t)i);
		/* zero-copy inside the view, a copy of its own per view */
		CHECK_EQ(xsnap_frame_id(va[i]), xsnap_frame_id(va2[i]));
		CHECK_EQ(xsnap_frame_id(va[i]), xsnap_frame_id(vb[i]));
		CHECK(xsnap_frame_data(va[i]) == xsnap_frame_data(vb[i]));
		CHECK(xsnap_frame_data(va[i]) != xsnap_frame_data(vc[i]));
		CHECK((const uint8_t *)xsnap_frame_data(va[i]) >= vg->ro &&
		      (const uint8_t *)xsnap_frame_data(va[i]) < vg->ro + vg->ro_len);
		CHECK((const uint8_t *)xsnap_frame_data(vc[i]) >= vo->ro &&
		      (const uint8_t *)xsnap_frame_data(vc[i]) < vo->ro + vo->ro_len);
		if (i < 8)
			CHECK((const uint8_t *)xsnap_frame_data(vd[i]) >= sim->ctx->umem.ro &&
			      (const uint8_t *)xsnap_frame_data(vd[i]) <
				      sim->ctx->umem.ro + sim->ctx->umem.size);
	}
	/* a private view's received frame is not in the UMEM: not sent as is,
	 * a copy from the pool is */
	CHECK_EQ(xsnap_send(c, vc, 1), -EINVAL);
	{
		struct xsnap_frame *f = vc[0];
		uint8_t *w = xsnap_frame_cow(c, &f);

		REQUIRE(w);
		CHECK_EQ(xsnap_send(c, &f, 1), 1);
		CHECK_EQ(sim_tx(sim, NULL, NULL, 0), 1);
		vc[0] = NULL;
	}
	xsnap_release(a, va, 16);
	xsnap_release(a2, va2, 16);
	xsnap_release(b, vb, 16);
	xsnap_release(c, vc + 1, 15);
	xsnap_release(d, vd, 8);
	engine_poll(sim->ctx);
	check_view(vg);
	check_view(vo);
	check_conservation(sim);
	/* retention, then eviction in a view: 64 more frames evict 16 */
	for (uint32_t i = 16; i < 80; i++) {
		CHECK_EQ(sim_rx(sim, 0x1, i, i), 0);
		if (i % 16 == 15)
			engine_poll(sim->ctx);
	}
	drain(a);
	drain(a2);
	check_view(vg);
	CHECK_EQ(sim->ctx->tenants[0]->evicted, 16);
	xsnap_sock_close(a);
	xsnap_sock_close(a2);
	xsnap_sock_close(b);
	xsnap_sock_close(c);
	xsnap_sock_close(d);
	CHECK_EQ(xsnap_tenant_del(sim->ctx, "a"), 0);
	CHECK(view_find(sim->ctx, "grp") == vg);	/* b still reads it */
	CHECK_EQ(xsnap_tenant_del(sim->ctx, "b"), 0);
	CHECK_EQ(xsnap_tenant_del(sim->ctx, "c"), 0);
	CHECK(!sim->ctx->views);	/* freed with their last tenant */
	engine_poll(sim->ctx);
	check_conservation(sim);
	sim_free(sim);
}

/* A private view's quotas count in the view, not in the receive region; a
 * bad view name is refused. */
TEST(private_view_admission)
{
	struct sim *sim = sim_new(FRAMES);
	XSNAP_OPTS(xsnap_tenant_opts, big, .quota = FRAMES, .view = "big");
	XSNAP_OPTS(xsnap_tenant_opts, more, .quota = 1, .view = "big");
	XSNAP_OPTS(xsnap_tenant_opts, bad, .quota = 64, .view = "no space");

	REQUIRE(sim);
	/* the whole region's worth: fits in a view, never in the shared one */
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "p", &big), 0);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "q", &more), -ENOSPC);
	CHECK_EQ(xsnap_tenant_add(sim->ctx, "r", &bad), -EINVAL);
	CHECK_EQ(sim->ctx->quota_sum, 0);
	/* "private": a view of its own each, never joined by name */
	{
		XSNAP_OPTS(xsnap_tenant_opts, pv, .quota = 64, .view = XSNAP_VIEW_PRIVATE);

		CHECK_EQ(xsnap_tenant_add(sim->ctx, "s", &pv), 1);
		CHECK_EQ(xsnap_tenant_add(sim->ctx, "t", &pv), 2);
		REQUIRE(sim->ctx->tenants[1]->view && sim->ctx->tenants[2]->view);
		CHECK(sim->ctx->tenants[1]->view != sim->ctx->tenants[2]->view);
		CHECK(!view_find(sim->ctx, ""));
	}
	sim_free(sim);
}

/* The library's messages, kept for the checks on their wording. */
static char msgbuf[8192];

static int capture_print(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	size_t n = strlen(msgbuf);

	(void)level;
	if (n < sizeof(msgbuf) - 1)
		vsnprintf(msgbuf + n, sizeof(msgbuf) - n, fmt, ap);
	return 0;
}

/* Queue groups: two queues in two groups, each stocked only from its own
 * part of the receive region.  A tenant pinned to a group never logs a
 * frame of the other group's queue, even one the program tagged for it; an
 * unpinned tenant logs both; freed chunks go back to their own group's
 * stack (the audit checks each stack); quotas are admitted per group. */
TEST(queue_groups_keep_frames_in_their_group)
{
	struct xsnap_ctx *ctx = ctx_new(1024, 2, RING, 8, POOL, 2, XSNAP_HUGE_OFF);
	XSNAP_OPTS(xsnap_tenant_opts, g1, .quota = 64, .queue_group = 1);
	XSNAP_OPTS(xsnap_tenant_opts, g2, .quota = 64, .queue_group = 2);
	XSNAP_OPTS(xsnap_tenant_opts, g3, .quota = 64, .queue_group = 3);
	XSNAP_OPTS(xsnap_tenant_opts, any, .quota = 256);
	XSNAP_OPTS(xsnap_tenant_opts, big, .quota = 128, .queue_group = 1);
	xsnap_print_fn_t old = xsnap_set_print(capture_print);
	struct xsnap_sock *a, *b, *c;
	struct xsnap_frame *v[64];
	struct sim q[2] = {};
	uint32_t half, tags = 0;
	int n;

	REQUIRE(ctx);
	half = ctx->umem.gframes;
	CHECK_EQ(half, 512);
	CHECK_EQ(ctx->q[0].group, 0);
	CHECK_EQ(ctx->q[1].group, 1);
	sim_wire(&q[0], ctx, 0);
	sim_wire(&q[1], ctx, 1);
	engine_refill(ctx);
	/* each queue's fill ring holds chunks of its group only */
	for (uint32_t qi = 0; qi < 2; qi++) {
		CHECK_EQ(q[qi].fill.prod, RING);
		for (uint32_t i = 0; i < q[qi].fill.prod; i++)
			CHECK_EQ((q[qi].fill.addrs[i] >> FRAME_SHIFT) / half, qi);
	}
	CHECK_EQ(xsnap_tenant_add(ctx, "alpha", &g1), 0);
	CHECK_EQ(xsnap_tenant_add(ctx, "beta", &g2), 1);
	CHECK_EQ(xsnap_tenant_add(ctx, "gamma", &any), 2);
	/* group 1: 64 (alpha) + 256 (gamma, unpinned) + 128 (its rings) + 128 */
	msgbuf[0] = '\0';
	CHECK_EQ(xsnap_tenant_add(ctx, "delta", &big), -ENOSPC);
	CHECK(strstr(msgbuf, "does not fit in queue group 1") != NULL);
	CHECK_EQ(xsnap_tenant_add(ctx, "delta", &g3), -EINVAL);
	CHECK(strstr(msgbuf, "queue group 3") != NULL);
	xsnap_set_print(old);
	a = xsnap_socket(ctx, "alpha", NULL);
	b = xsnap_socket(ctx, "beta", NULL);
	c = xsnap_socket(ctx, "gamma", NULL);
	REQUIRE(a && b && c);
	/* every frame tagged for all three, as a program that did not mask */
	for (uint32_t i = 0; i < 10; i++) {
		CHECK_EQ(sim_rx(&q[0], 7, 0, i), 0);
		CHECK_EQ(sim_rx(&q[1], 7, 0, 100 + i), 0);
	}
	n = xsnap_recv(a, v, 64, 0);
	CHECK_EQ(n, 10);
	for (int i = 0; i < n; i++) {
		CHECK(tag_of(v[i]) < 100);
		CHECK_EQ(xsnap_frame_queue(v[i]), 0);
		CHECK(xsnap_frame_id(v[i]) < half);
	}
	xsnap_release(a, v, (unsigned int)n);
	n = xsnap_recv(b, v, 64, 0);
	CHECK_EQ(n, 10);
	for (int i = 0; i < n; i++) {
		CHECK(tag_of(v[i]) >= 100);
		CHECK_EQ(xsnap_frame_queue(v[i]), 1);
		CHECK(xsnap_frame_id(v[i]) >= half && xsnap_frame_id(v[i]) < 2 * half);
	}
	xsnap_release(b, v, (unsigned int)n);
	n = xsnap_recv(c, v, 64, 0);
	CHECK_EQ(n, 20);
	for (int i = 0; i < n; i++)
		tags |= tag_of(v[i]) < 100 ? 1 : 2;
	CHECK_EQ(tags, 3);
	xsnap_release(c, v, (unsigned int)n);
	CHECK_EQ(xsnap_audit(ctx), 0);
	xsnap_sock_close(a);
	xsnap_sock_close(b);
	xsnap_sock_close(c);
	CHECK_EQ(xsnap_tenant_del(ctx, "alpha"), 0);
	CHECK_EQ(xsnap_tenant_del(ctx, "beta"), 0);
	CHECK_EQ(xsnap_tenant_del(ctx, "gamma"), 0);
	/* every chunk back in its own group: free or in its queue's rings */
	CHECK_EQ(xsnap_audit(ctx), 0);
	CHECK_EQ(ctx->umem.nheld, 0);
	CHECK_EQ(ctx->umem.gfree[0] + ctx->q[0].outstanding, half);
	CHECK_EQ(ctx->umem.gfree[1] + ctx->q[1].outstanding, half);
	/* a slot's pin goes with its tenant: an unpinned newcomer logs both */
	CHECK_EQ(xsnap_tenant_add(ctx, "epsilon", &any), 0);
	c = xsnap_socket(ctx, "epsilon", NULL);
	REQUIRE(c);
	CHECK_EQ(sim_rx(&q[0], 1, 0, 1), 0);
	CHECK_EQ(sim_rx(&q[1], 1, 0, 101), 0);
	n = xsnap_recv(c, v, 64, 0);
	CHECK_EQ(n, 2);
	xsnap_release(c, v, (unsigned int)n);
	xsnap_sock_close(c);
	{
		int fd0 = ctx->q[0].fd, fd1 = ctx->q[1].fd;

		xsnap_close(ctx);
		close(fd0);
		close(fd1);
	}
}

/* The audit finds what conservation cannot: a reference nothing holds (a
 * lost put), a holder without its reference, a free chunk still referenced;
 * transmits in flight are references without a visible holder and pass. */
TEST(audit_finds_reference_leaks)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, pv, .quota = 64, .view = XSNAP_VIEW_PRIVATE);
	struct xsnap_frame *v[8];
	struct xsnap_sock *s, *p;
	uint32_t c;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "a", NULL }, { "p", &pv })));
	s = xsnap_socket(sim->ctx, "a", NULL);
	p = xsnap_socket(sim->ctx, "p", NULL);
	REQUIRE(s && p);
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ(sim_rx(sim, 3, i, i), 0);
	CHECK_EQ(xsnap_recv(s, v, 8, 0), 8);
	CHECK_EQ(xsnap_audit(sim->ctx), 0);
	/* a transmit in flight: a reference with no holder but the FIFO */
	CHECK_EQ(xsnap_send(s, v, 1), 1);
	CHECK_EQ(xsnap_audit(sim->ctx), 0);
	sim_tx(sim, NULL, NULL, 0);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_audit(sim->ctx), 0);
	/* a lost put: conservation still balances (the chunk is "logged") */
	c = (uint32_t)(handle_view(v[1])->addr >> FRAME_SHIFT);
	sim->ctx->umem.ref[c]++;
	CHECK(xsnap_audit(sim->ctx) > 0);
	sim->ctx->umem.ref[c]--;
	/* a missed reference in a private view */
	{
		struct view *pvw = sim->ctx->tenants[1]->view;
		struct xsnap_frame *w[8];

		CHECK_EQ(xsnap_recv(p, w, 8, 0), 8);
		c = (uint32_t)(handle_view(w[0])->addr >> FRAME_SHIFT);
		pvw->ref[c]--;
		CHECK(xsnap_audit(sim->ctx) > 0);
		pvw->ref[c]++;
		xsnap_release(p, w, 8);
	}
	/* a chunk on the free stack that is still referenced */
	c = sim->ctx->umem.free[0];
	sim->ctx->umem.ref[c] = 1;
	sim->ctx->umem.nheld++;
	CHECK(xsnap_audit(sim->ctx) > 0);
	sim->ctx->umem.ref[c] = 0;
	sim->ctx->umem.nheld--;
	CHECK_EQ(xsnap_audit(sim->ctx), 0);
	xsnap_release(s, v + 1, 7);
	SIM_DONE(sim, s, p);
}

/* The pacer: a window of PACE_BUSY_FRAMES or more turns pacing on, the
 * first window below turns it off; a window shorter than PACE_WINDOW_NS
 * decides nothing, so a single burst never paces light traffic.  Paced, the
 * interval is the time the measured rate takes to bring `batch` frames,
 * clamped to PACE_MIN_NS..PACE_MAX_NS. */
TEST(pacer_follows_load)
{
	struct pacer p = { .batch = 512 };
	const int64_t W = PACE_WINDOW_NS;

	CHECK(!pacer_feed(&p, PACE_BUSY_FRAMES - 1, 0));
	CHECK(!pacer_feed(&p, 0, W));	/* window: one frame short */
	CHECK(!p.paced);
	/* a whole burst in one run, but the window is not over yet */
	CHECK(!pacer_feed(&p, 2000, W + W / 2));
	CHECK(!p.paced);
	CHECK(pacer_feed(&p, 0, 2 * W));	/* window over: 2000 frames/ms */
	CHECK(p.paced);
	/* 512 frames at 2 frames/us: 256 us */
	CHECK_EQ(p.interval_ns, 256000);
	CHECK_EQ(p.next_ns, 2 * W + 256000);
	/* 20 000 frames/ms would give 25.6 us: clamped to the minimum */
	CHECK(!pacer_feed(&p, 20000, 3 * W));
	CHECK_EQ(p.interval_ns, PACE_MIN_NS);
	CHECK_EQ(p.next_ns, 3 * W + PACE_MIN_NS);
	/* 300 frames/ms: 1.7 ms, clamped to the maximum */
	CHECK(!pacer_feed(&p, 300, 4 * W));
	CHECK(p.paced);
	CHECK_EQ(p.interval_ns, PACE_MAX_NS);
	/* the rate is per time, not per run: 400 frames over 2 ms is light */
	CHECK(pacer_feed(&p, 399, 6 * W));
	CHECK(!p.paced);
}

/* Inline mode under load: consumers that find nothing sleep on the wake
 * word for at most the pacing interval, then run the engine themselves; the sleep
 * still honours the caller's timeout, and frames that arrive meanwhile are
 * moved by the next turn without any rx wake-up. */
TEST(inline_paced_sleep)
{
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *s;
	struct timespec t0, t1;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "alpha", NULL, &s)));
	sim->ctx->pacer.paced = true;	/* as after a busy window */
	sim->ctx->pacer.interval_ns = PACE_MIN_NS;
	atomic_store(&sim->ctx->pace_ns, PACE_MIN_NS);
	atomic_store(&sim->ctx->paced, true);
	sim->ctx->pacer.win_ns = INT64_MAX / 2;	/* the window never ends */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(xsnap_recv(s, v, 64, 30), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(atomic_load(&sim->ctx->paced));
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 29);
	for (uint32_t i = 0; i < 7; i++)
		CHECK_EQ(sim_rx(sim, 1, i, i), 0);
	n = xsnap_recv(s, v, 64, 30);
	CHECK_EQ(n, 7);
	if (n > 0)
		xsnap_release(s, v, (unsigned int)n);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/* --- fault matrix rows B and C (tests/matrix.txt) --------------------------- */


/* A victim tenant's stream: every frame in order, tags and sequence numbers
 * contiguous, bytes intact.  Returns the frames received (and released). */
struct victim {
	struct xsnap_sock *s;
	uint32_t next_tag;
	uint64_t next_seq, frames, bad;
};

static void victim_drain(struct victim *vt)
{
	struct xsnap_frame *v[64];
	int n;

	while ((n = xsnap_recv(vt->s, v, 64, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			const uint8_t *d = xsnap_frame_data(v[i]);
			uint32_t tag;

			memcpy(&tag, d, sizeof(tag));
			if (tag != vt->next_tag || xsnap_frame_seq(v[i]) != vt->next_seq ||
			    xsnap_frame_len(v[i]) != 64 || d[4] != 0xab || d[63] != 0xab)
				vt->bad++;
			vt->next_tag = tag + 1;
			vt->next_seq = xsnap_frame_seq(v[i]) + 1;
			vt->frames++;
		}
		xsnap_release(vt->s, v, (unsigned int)n);
	}
}

/* Copy of the chunk reference counts, to prove a refused call changed none. */
static uint16_t *refs_copy(struct sim *sim)
{
	uint16_t *r = malloc(sim->ctx->umem.nchunks * sizeof(*r));

	if (r)
		memcpy(r, sim->ctx->umem.ref, sim->ctx->umem.nchunks * sizeof(*r));
	return r;
}

static bool refs_same(struct sim *sim, const uint16_t *r)
{
	return !memcmp(r, sim->ctx->umem.ref, sim->ctx->umem.nchunks * sizeof(*r));
}

/* B1, B4: invalid transmit descriptors never reach the TX ring; the call
 * fails whole with a message naming the reason, is counted, leaves every
 * frame where it was; the next valid send passes; a victim tenant sees
 * nothing of it. */
/* Thread mode: a consumer that finds nothing moves what has arrived itself
 * when the engine lock is free (the engine thread asleep), once per wait,
 * and never waits for the lock when the engine is busy.  The context here
 * has no engine thread: only the consumer's help can move the frames. */
TEST(thread_mode_consumer_helps_when_the_engine_sleeps)
{
	struct sim *sim;
	struct xsnap_frame *v[64];
	struct xsnap_sock *s;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "alpha", NULL, &s)));
	sim->ctx->engine_mode = XSNAP_ENGINE_THREAD;
	for (uint32_t i = 0; i < 10; i++)
		CHECK_EQ(sim_rx(sim, 1, i, i), 0);
	/* the engine "runs" (lock held): nothing moves, no wait for the lock */
	pthread_mutex_lock(&sim->ctx->engine_lock);
	CHECK_EQ(xsnap_recv(s, v, 64, 0), 0);
	CHECK_EQ(*sim->ctx->q[0].rx.consumer, 0);
	pthread_mutex_unlock(&sim->ctx->engine_lock);
	/* the engine sleeps: the consumer moves the ten frames and gets them */
	n = xsnap_recv(s, v, 64, 0);
	CHECK_EQ(n, 10);
	for (int i = 0; i < n; i++)
		CHECK_EQ(tag_of(v[i]), (uint32_t)i);
	xsnap_release(s, v, n > 0 ? (unsigned int)n : 0);
	CHECK_EQ(*sim->ctx->q[0].rx.consumer, 10);
	/* frames of another tenant only: moved, nothing for us, no spin */
	CHECK_EQ(sim_rx(sim, 2, 10, 10), 0);
	CHECK_EQ(xsnap_recv(s, v, 64, 0), 0);
	CHECK_EQ(*sim->ctx->q[0].rx.consumer, 11);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

TEST(b1_send_rejects_invalid_descriptors)
{
	struct sim *sim;
	struct xsnap_frame *v[8], *w[8], *o[8];
	struct xsnap_sock *s, *s2, *os;
	struct victim vt = { .next_tag = 0, .next_seq = 1 };
	xsnap_print_fn_t old;
	uint64_t bad0;
	uint16_t *refs;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "other", NULL },
				   { "victim", NULL })));
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((s2 = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((os = xsnap_socket(sim->ctx, "other", NULL)));
	REQUIRE((vt.s = xsnap_socket(sim->ctx, "victim", NULL)));
	for (uint32_t i = 0; i < 4; i++)
		CHECK_EQ(sim_rx(sim, 7, 0, i), 0);
	REQUIRE(xsnap_recv(s, v, 8, 0) == 4);
	REQUIRE(xsnap_recv(s2, w, 8, 0) == 4);
	REQUIRE(xsnap_recv(os, o, 8, 0) == 4);
	/* a private version of the other tenant: a chunk of its pool */
	REQUIRE(xsnap_frame_cow(os, &o[3]));

	struct xsnap_frame *f = handle_view(v[0]);
	const struct xsnap_frame good = *f;
	uint64_t umem_end = (uint64_t)sim->ctx->umem.nchunks << FRAME_SHIFT;
	uint64_t base = good.addr & ~(uint64_t)(FRAME_SIZE - 1);
	struct {
		const char *name, *why;
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ "zero len", "len below an Ethernet header", good.addr, 0 },
		{ "13-byte len", "len below an Ethernet header", good.addr, 13 },
		{ "len beyond a frame", "len beyond a frame", good.addr, 3841 },
		{ "len of a whole chunk", "len beyond a frame", base, FRAME_SIZE },
		{ "addr after the UMEM", "addr outside the UMEM", umem_end, 64 },
		{ "addr far outside", "addr outside the UMEM", ~0ull - 4095, 64 },
		{ "straddling a chunk's end", "across the end of a chunk", base + FRAME_SIZE - 32, 64 },
		{ "another tenant's pool", "another tenant's pool", handle_view(o[3])->addr, 64 },
	};

	old = xsnap_set_print(capture_print);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msgbuf[0] = '\0';
		bad0 = s->ctl->bad_releases;
		refs = refs_copy(sim);
		REQUIRE(refs);
		f->addr = bad[i].addr;
		f->len = bad[i].len;
		CHECK_EQ(xsnap_send(s, v, 2), -EINVAL);
		if (!strstr(msgbuf, bad[i].why))
			fprintf(stderr, "  %s: message '%s' lacks '%s'\n", bad[i].name, msgbuf,
				bad[i].why);
		CHECK(strstr(msgbuf, bad[i].why) != NULL);
		CHECK(strstr(msgbuf, "frame 1 of 2") != NULL);
		CHECK_EQ(sim->tx.prod, 0);			/* nothing queued */
		CHECK_EQ(s->ctl->bad_releases, bad0 + 1);	/* counted */
		CHECK(refs_same(sim, refs));			/* no reference moved */
		CHECK_EQ(sim->ctx->tenants[0]->tx_inflight, 0);
		free(refs);
		*f = good;
	}
	/* frames not held: another socket's, released, the same twice, the
	 * second of a batch (the first stays held: all or nothing) */
	struct xsnap_frame *dup[2] = { v[1], v[1] };
	struct xsnap_frame *mixed[2] = { v[1], w[0] };
	struct xsnap_frame *skew = (struct xsnap_frame *)((uint8_t *)v[2] + 8);
	msgbuf[0] = '\0';
	CHECK_EQ(xsnap_send(s, dup, 2), -EINVAL);
	CHECK(strstr(msgbuf, "frame 2 of 2: the same frame twice") != NULL);
	CHECK_EQ(xsnap_send(s, mixed, 2), -EINVAL);
	CHECK(strstr(msgbuf, "frame 2 of 2: a frame this socket does not hold") != NULL);
	CHECK_EQ(xsnap_send(s, &skew, 1), -EINVAL);
	CHECK_EQ(xsnap_send(s, &o[0], 1), -EINVAL);
	xsnap_release(s, &v[3], 1);
	bad0 = s->ctl->bad_releases;
	msgbuf[0] = '\0';
	CHECK_EQ(xsnap_send(s, &v[3], 1), -ESTALE);	/* released: its handle is stale */
	CHECK(strstr(msgbuf, "frame 1 of 1: a stale handle") != NULL);
	CHECK_EQ(s->ctl->bad_releases, bad0 + 1);
	CHECK_EQ(sim->tx.prod, 0);
	xsnap_set_print(old);
	/* no check left a mark behind: the views are as received */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(handle_view(v[i])->flags, VIEW_LOG);

	/* the next valid send passes; descriptors carry no options (B4) */
	CHECK_EQ(xsnap_send(s, v, 3), 3);
	CHECK_EQ(sim->tx.prod, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(sim->tx.descs[i].options, 0);
		CHECK_EQ(sim->tx.descs[i].len, 64);
		CHECK_EQ(sim->tx.descs[i].addr, handle_view(w[i])->addr);	/* zero-copy */
	}
	CHECK_EQ(sim_tx(sim, NULL, NULL, 0), 3);
	engine_poll(sim->ctx);
	XSNAP_OPTS(xsnap_stats, st);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.tx_frames, 3);
	CHECK_EQ(st.tx_completed, 3);
	CHECK_EQ(st.bad_releases, 13);

	/* the victim tenant saw its four frames, in order, intact */
	victim_drain(&vt);
	CHECK_EQ(vt.frames, 4);
	CHECK_EQ(vt.bad, 0);
	xsnap_release(s2, w, 4);
	xsnap_release(os, o, 4);
	check_conservation(sim);
	xsnap_sock_close(s);
	xsnap_sock_close(s2);
	xsnap_sock_close(os);
	xsnap_sock_close(vt.s);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->umem.npool_free[1], POOL);	/* other's private chunk back */
	check_conservation(sim);
	sim_free(sim);
}

/* B2: releasing a frame the socket does not hold (another socket's,
 * another tenant's, a misaligned or foreign pointer, a snapshot's frame,
 * twice) is refused and counted; no reference, horizon or log moves; a
 * victim tenant is unaffected. */
TEST(b2_bad_releases_change_nothing)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_snap_opts, last2, .frames = 2);
	struct xsnap_frame *v[8], *w[8], *o[8], *sv[4];
	struct xsnap_sock *s, *s2, *os;
	struct victim vt = { .next_tag = 0, .next_seq = 1 };
	struct xsnap_snap *sn;
	uint8_t junk[sizeof(struct xsnap_frame) * 2] = { 0 };

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "t", NULL }, { "other", NULL },
				   { "victim", NULL })));
	REQUIRE((s = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((s2 = xsnap_socket(sim->ctx, "t", NULL)));
	REQUIRE((os = xsnap_socket(sim->ctx, "other", NULL)));
	REQUIRE((vt.s = xsnap_socket(sim->ctx, "victim", NULL)));
	for (uint32_t i = 0; i < 6; i++)
		CHECK_EQ(sim_rx(sim, 7, 0, i), 0);
	REQUIRE(xsnap_recv(s, v, 8, 0) == 6);
	REQUIRE(xsnap_recv(s2, w, 2, 0) == 2);	/* s2 holds seq 1..2 only */
	REQUIRE(xsnap_recv(os, o, 8, 0) == 6);
	REQUIRE((sn = xsnap_snapshot(s, &last2)));
	REQUIRE(xsnap_snap_next(sn, sv, 4) == 2);
	xsnap_release(s, &v[5], 1);	/* released once: fine */
	engine_poll(sim->ctx);

	struct tenant *t = sim->ctx->tenants[0];
	uint64_t horizon = engine_horizon(t), tail = t->tail, head = t->head;
	uint64_t low = atomic_load(&s->ctl->low);
	uint16_t *refs = refs_copy(sim);
	struct xsnap_frame *bad[] = {
		w[0],					/* another socket's (same tenant) */
		o[0],					/* another tenant's */
		(struct xsnap_frame *)((uint8_t *)v[0] + 1),	/* misaligned into our views */
		(struct xsnap_frame *)((uint8_t *)v[0] - sizeof(struct xsnap_frame)),	/* slot never received */
		(struct xsnap_frame *)junk,		/* not a view at all */
		sv[0],					/* a snapshot's frame */
		v[5],					/* released already: twice */
		NULL,
	};
	unsigned int nbad = sizeof(bad) / sizeof(bad[0]);

	REQUIRE(refs);
	for (unsigned int i = 0; i < nbad; i++)
		xsnap_release(s, &bad[i], 1);
	xsnap_release(s, bad, nbad);	/* and all at once */
	CHECK_EQ(s->ctl->bad_releases, 2 * nbad);
	CHECK_EQ(s2->ctl->bad_releases, 0);
	CHECK_EQ(os->ctl->bad_releases, 0);
	engine_poll(sim->ctx);
	CHECK(refs_same(sim, refs));
	CHECK_EQ(engine_horizon(t), horizon);
	CHECK_EQ(t->tail, tail);
	CHECK_EQ(t->head, head);
	CHECK_EQ(atomic_load(&s->ctl->low), low);
	/* the frames the others hold still read what was received */
	CHECK_EQ(tag_of(w[0]), 0);
	CHECK_EQ(tag_of(o[0]), 0);
	CHECK_EQ(tag_of(sv[0]), 4);
	XSNAP_OPTS(xsnap_stats, st);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.bad_releases, 2 * nbad);
	CHECK_EQ(xsnap_stats(sim->ctx, "other", &st), 0);
	CHECK_EQ(st.bad_releases, 0);
	victim_drain(&vt);
	CHECK_EQ(vt.frames, 6);
	CHECK_EQ(vt.bad, 0);
	free(refs);
	xsnap_snap_close(sn);
	xsnap_release(s, v, 5);
	xsnap_release(s2, w, 2);
	REQUIRE(xsnap_recv(s2, w, 8, 0) == 4);
	xsnap_release(s2, w, 4);
	xsnap_release(os, o, 6);
	CHECK_EQ(s->ctl->bad_releases, 2 * nbad);
	CHECK_EQ(s2->ctl->bad_releases, 0);
	engine_poll(sim->ctx);
	CHECK_EQ(engine_horizon(t), t->head);
	check_conservation(sim);
	SIM_DONE(sim, s, s2, os, vt.s);
}

/* B6: sizes the kernel would refuse are refused by xsnap_open() before
 * anything else (the interface does not even exist here), with a message
 * naming the field and its value; 0 means the default.  A region too small
 * for the rings is refused once the queues are known to exist (on lo, the
 * one interface a unit test may count on), before any kernel object. */
TEST(b6_open_refuses_bad_sizes_naming_the_field)
{
	static const char *ifname = "xsnap-nosuch0";
	struct {
		struct xsnap_opts o;
		const char *msg;
		const char *ifn;
	} bad[] = {
		{ { .ring_size = 1000 }, "bad option ring_size 1000: must be a power of two" },
		{ { .ring_size = 32768 }, "bad option ring_size 32768: must be a power of two, 1..16384" },
		{ { .frames = 1u << 21 }, "bad option frames 2097152: must be 1..1048576" },
		{ { .frames = 2048 }, "bad option frames 2048: too small, the fill and rx rings of 1 queue hold 2048", "lo" },
		{ { .frames = 4096, .ring_size = 2048 }, "bad option frames 4096: too small, the fill and rx rings of 1 queue hold 4096", "lo" },
		{ { .nqueues = 65 }, "bad option nqueues 65: must be 1..64" },
		{ { .max_tenants = 33 }, "bad option max_tenants 33: must be 1..32" },
		{ { .pool_frames = 65537 }, "bad option pool_frames 65537" },
		{ { .mode = 7 }, "bad option mode 7" },
		{ { .zerocopy = 3 }, "bad option zerocopy 3" },
		{ { .queue_groups = 2 }, "bad option queue_groups 2: must be a divisor of nqueues" },
		{ { .nqueues = 4, .queue_groups = 3 }, "bad option queue_groups 3" },
		{ { .hugepages = 3 }, "bad option hugepages 3: must be XSNAP_HUGE_AUTO, _ON or _OFF" },
		{ { .hugepages = XSNAP_HUGE_ON, .frames = 6000, .ring_size = 64 },
		  "bad option frames 6000: must be a multiple of 512 frames (2 MiB) per queue group with hugepages on" },
		{ { .hugepages = XSNAP_HUGE_ON, .frames = 4096, .nqueues = 16, .queue_groups = 16 },
		  "bad option frames 4096: must be a multiple of 512 frames (2 MiB) per queue group with hugepages on" },
	};
	xsnap_print_fn_t old = xsnap_set_print(capture_print);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad[i].o.sz = sizeof(bad[i].o);
		msgbuf[0] = '\0';
		errno = 0;
		const char *ifn = bad[i].ifn ? bad[i].ifn : ifname;

		CHECK(xsnap_open(ifn, &bad[i].o) == NULL);
		CHECK_EQ(errno, EINVAL);
		if (!strstr(msgbuf, bad[i].msg))
			fprintf(stderr, "  case %zu: got '%s', want '%s'\n", i, msgbuf, bad[i].msg);
		CHECK(strstr(msgbuf, bad[i].msg) != NULL);
		CHECK(strstr(msgbuf, ifn) == msgbuf + strlen("xsnap: "));
	}
	/* valid sizes (0: the defaults) get as far as the interface lookup */
	XSNAP_OPTS(xsnap_opts, zero, .ring_size = 0, .frames = 0);
	XSNAP_OPTS(xsnap_opts, ok, .ring_size = 64, .frames = 6144, .nqueues = 1, .pool_frames = 1);
	msgbuf[0] = '\0';
	CHECK(xsnap_open(ifname, &zero) == NULL && errno == ENODEV);
	CHECK(xsnap_open(ifname, &ok) == NULL && errno == ENODEV);
	CHECK(strstr(msgbuf, "bad option") == NULL);
	CHECK(strstr(msgbuf, "no such interface") != NULL);
	xsnap_set_print(old);

	/* the UMEM's ranges are page-aligned (XDP_UMEM_REG wants it) */
	struct xsnap_ctx *ctx = ctx_new(256, 1, 64, 2, 4, 1, XSNAP_HUGE_OFF);

	REQUIRE(ctx);
	CHECK_EQ((uintptr_t)ctx->umem.rw & 4095, 0);
	CHECK_EQ((uintptr_t)ctx->umem.ro & 4095, 0);
	CHECK_EQ(ctx->umem.size % 4096, 0);
	ctx_free(ctx);
}

/* The receive region on hugetlb pages (xsnap_opts.hugepages), whatever the
 * machine's pool holds: "on" gets them or fails with ENOMEM, "auto" gets
 * them exactly when "on" does and else runs on 4 KiB pages, "off" never
 * asks, and a region that is no whole number of 2 MiB pages never gets
 * them.  Both mappings start 2 MiB aligned either way, and the memory
 * reads back through the read-only mapping. */
TEST(umem_hugepages_when_the_pool_has_them)
{
	long free_pages = umem_huge_free();
	uint32_t frames = 1024;	/* 4 MiB: 2 pages */
	bool have = free_pages >= 2;
	struct umem u;
	int err;

	fprintf(stderr, "  hugetlb pages available: %ld\n", free_pages);
	err = umem_create(&u, frames, 1, 2, 4, XSNAP_HUGE_ON);
	CHECK_EQ(err, have ? 0 : -ENOMEM);
	if (!err) {
		CHECK(u.huge);
		CHECK_EQ(umem_huge_free(), free_pages - 2);
		umem_destroy(&u);
	}
	REQUIRE(umem_create(&u, frames, 1, 2, 4, XSNAP_HUGE_AUTO) == 0);
	CHECK_EQ(u.huge, have);
	CHECK_EQ((uintptr_t)u.rw & (UMEM_HUGE_SIZE - 1), 0);
	CHECK_EQ((uintptr_t)u.ro & (UMEM_HUGE_SIZE - 1), 0);
	u.rw[(frames - 1) * FRAME_SIZE + 7] = 0x5a;
	CHECK_EQ(u.ro[(frames - 1) * FRAME_SIZE + 7], 0x5a);
	umem_destroy(&u);
	REQUIRE(umem_create(&u, frames, 1, 2, 4, XSNAP_HUGE_OFF) == 0);
	CHECK(!u.huge);
	umem_destroy(&u);
	/* 1000 frames are not whole 2 MiB pages */
	REQUIRE(umem_create(&u, 1000, 1, 2, 4, XSNAP_HUGE_AUTO) == 0);
	CHECK(!u.huge);
	umem_destroy(&u);
	CHECK_EQ(umem_create(&u, 1000, 1, 2, 4, XSNAP_HUGE_ON), -ENOMEM);
	CHECK_EQ(umem_huge_free(), free_pages);
}

/* C1 without a kernel: nobody calls xsnap_recv, so the engine does not run
 * and the fill ring empties: the (simulated) kernel drops, counted there.
 * The next receive refills it and traffic resumes, in order. */
TEST(c1_fill_ring_empty_then_recovers)
{
	struct sim *sim;
	struct victim vt = { .next_tag = 0, .next_seq = 1 };
	unsigned int ok = 0, dropped = 0;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &vt.s)));
	/* the fill ring holds RING chunks; the rx ring RING entries */
	for (uint32_t i = 0; i < RING + 10; i++) {
		if (sim_rx(sim, 1, 0, i) == 0)
			ok++;
		else
			dropped++;
	}
	CHECK_EQ(ok, RING);
	CHECK_EQ(dropped, 10);
	CHECK_EQ(sim->fill.cons, sim->fill.prod);	/* empty */
	check_conservation(sim);
	victim_drain(&vt);	/* the engine runs, refills */
	CHECK_EQ(vt.frames, RING);
	CHECK(sim->fill.prod - sim->fill.cons == RING);
	vt.next_tag = 1000;
	for (uint32_t i = 0; i < 10; i++)
		CHECK_EQ(sim_rx(sim, 1, 0, 1000 + i), 0);
	victim_drain(&vt);
	CHECK_EQ(vt.frames, RING + 10);
	CHECK_EQ(vt.bad, 0);
	check_conservation(sim);
	SIM_DONE(sim, vt.s);
}

/* C4: snapshots taken in a loop pin frames but never more than the
 * tenant's quota: its log tail-drops (its own drops only), no frame leaks,
 * and a victim tenant on the same queue receives everything. */
TEST(c4_snapshots_in_a_loop_are_bounded)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, q32, .quota = 32);
	XSNAP_OPTS(xsnap_snap_opts, last8, .frames = 8);
	struct victim vt = { .next_tag = 0, .next_seq = 1 };
	static struct xsnap_snap *snaps[1000];
	struct xsnap_sock *s;
	uint32_t tag = 0, max_held = 0, pinned_rx = 0;

	REQUIRE((sim = SIM_TENANTS(FRAMES, { "snappy", &q32 }, { "victim", NULL })));
	REQUIRE((s = xsnap_socket(sim->ctx, "snappy", NULL)));
	REQUIRE((vt.s = xsnap_socket(sim->ctx, "victim", NULL)));
	for (int k = 0; k < 1000; k++) {
		for (int i = 0; i < 4; i++)
			CHECK_EQ(sim_rx(sim, 3, 0, tag++), 0);
		drain(s);
		REQUIRE((snaps[k] = xsnap_snapshot(s, &last8)));
		victim_drain(&vt);
		struct tenant *t = sim->ctx->tenants[0];

		if (t->head - t->tail > max_held)
			max_held = (uint32_t)(t->head - t->tail);
	}
	XSNAP_OPTS(xsnap_stats, st);
	XSNAP_OPTS(xsnap_stats, sv);
	CHECK_EQ(xsnap_stats(sim->ctx, "snappy", &st), 0);
	CHECK_EQ(xsnap_stats(sim->ctx, "victim", &sv), 0);
	CHECK(max_held <= 32);		/* never past the quota */
	CHECK_EQ(st.held, 32);
	CHECK_EQ(st.rx_frames + st.quota_drops, 4000);
	CHECK(st.quota_drops > 0);	/* the first snapshot pins: it drops */
	CHECK_EQ(st.snapshots, 1000);
	CHECK_EQ(sv.quota_drops, 0);
	CHECK_EQ(vt.frames, 4000);
	CHECK_EQ(vt.bad, 0);
	for (uint32_t c = 0; c < sim->ctx->umem.nframes; c++)
		pinned_rx += sim->ctx->umem.ref[c] != 0;
	CHECK(pinned_rx <= 32 + 1024);	/* snappy's quota + the victim's */
	check_conservation(sim);
	for (int k = 0; k < 1000; k++)
		xsnap_snap_close(snaps[k]);
	/* unpinned: new frames evict, nothing dropped, nothing leaked */
	uint64_t drops = st.quota_drops;
	for (int i = 0; i < 40; i++) {
		CHECK_EQ(sim_rx(sim, 3, 0, tag++), 0);
		drain(s);
	}
	victim_drain(&vt);
	CHECK_EQ(xsnap_stats(sim->ctx, "snappy", &st), 0);
	CHECK_EQ(st.quota_drops, drops);
	CHECK_EQ(st.held, 32);
	CHECK_EQ(vt.bad, 0);
	check_conservation(sim);
	SIM_DONE(sim, s, vt.s);
}

/* C5: the kernel neither transmits nor completes for a while: xsnap_send
 * queues up to the tenant's share and then 0, the rest stay held (nothing
 * lost); completions trickling back a few at a time let it resume; every
 * frame completes exactly once and the pool comes back whole. */
TEST(c5_tx_stalls_without_loss_until_completions)
{
	struct sim *sim;
	struct xsnap_frame *f[64], *rv[8];
	struct xsnap_sock *s;
	unsigned int done = 0;
	uint8_t out[64][128];
	uint32_t lens[64];
	int rounds = 0;

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	for (int i = 0; i < 60; i++) {
		REQUIRE((f[i] = xsnap_frame_alloc(s, 64)));
		uint8_t *w = xsnap_frame_cow(s, &f[i]);

		REQUIRE(w);
		memset(w, 0, 64);
		w[0] = (uint8_t)i;
	}
	CHECK_EQ(xsnap_send(s, f, 60), 60);	/* one tenant: the whole ring (64) */
	CHECK_EQ(sim->ctx->umem.npool_free[0], POOL - 60);
	/* the kernel takes nothing: the ring fills, sends stall */
	for (uint32_t i = 0; i < 8; i++)
		CHECK_EQ(sim_rx(sim, 1, 0, 200 + i), 0);
	REQUIRE(xsnap_recv(s, rv, 8, 0) == 8);
	CHECK_EQ(xsnap_send(s, rv, 8), 4);		/* 4 places left */
	CHECK_EQ(xsnap_send(s, rv + 4, 4), 0);	/* stalled, not dropped */
	CHECK_EQ(s->ctl->bad_releases, 0);
	/* the kernel transmits everything, completes 5 at a time */
	while (done < 64 && rounds++ < 100) {
		unsigned int got = 0;

		while (sim->tx.cons != sim->tx.prod && got < 5) {
			struct xdp_desc d = sim->tx.descs[sim->tx.cons & (RING - 1)];

			memcpy(out[done + got], sim->ctx->umem.rw + d.addr, 64);
			lens[done + got] = d.len;
			sim->tx.cons++;
			sim->comp.addrs[sim->comp.prod & (RING - 1)] = d.addr;
			sim->comp.prod++;
			got++;
		}
		done += got;
		engine_poll(sim->ctx);
		CHECK(sim->ctx->tenants[0]->tx_inflight == 64 - done);
	}
	CHECK_EQ(done, 64);
	for (unsigned int i = 0; i < 64; i++) {
		uint32_t tag;

		memcpy(&tag, out[i], sizeof(tag));
		CHECK_EQ(i < 60 ? out[i][0] : tag, i < 60 ? i : 200 + i - 60);
		CHECK_EQ(lens[i], 64);
	}
	/* the four that stalled were held all along: send them now */
	CHECK_EQ(xsnap_send(s, rv + 4, 4), 4);
	CHECK_EQ(sim_tx(sim, NULL, NULL, 0), 4);
	engine_poll(sim->ctx);
	XSNAP_OPTS(xsnap_stats, st);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.tx_frames, 68);
	CHECK_EQ(st.tx_completed, 68);	/* each exactly once */
	CHECK_EQ(st.pool_free, POOL);
	CHECK_EQ(sim->ctx->tenants[0]->tx_inflight, 0);
	/* and it resumes */
	REQUIRE((f[0] = xsnap_frame_alloc(s, 64)));
	CHECK_EQ(xsnap_send(s, f, 1), 1);
	CHECK_EQ(sim_tx(sim, NULL, NULL, 0), 1);
	engine_poll(sim->ctx);
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.tx_completed, 69);
	CHECK_EQ(st.pool_free, POOL);
	CHECK_EQ(s->ctl->bad_releases, 0);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/* Item 8: 64-bit commit stamps.  The stamp is forced to just below 2^32,
 * then three commits cross it: every snapshot keeps seeing the versions
 * current when it was taken (a 32-bit stamp wraps to 0 at the second
 * commit, and the snapshots taken before it see the new version). */
TEST(c4_commit_stamps_cross_2_32)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_snap_opts, all, .frames = 16);
	struct xsnap_snap *sn[4];
	struct xsnap_frame *v[8], *sv[8], *lv[8];
	struct xsnap_sock *s, *late;
	/* tags each snapshot must see for seq 1..3 */
	static const uint32_t want[4][3] = {
		{ 1, 2, 3 }, { 0x91, 2, 3 }, { 0x91, 0x92, 3 }, { 0x91, 0x92, 0x93 },
	};

	REQUIRE((sim = sim_tenant(FRAMES, "t", NULL, &s)));
	REQUIRE((late = xsnap_socket(sim->ctx, "t", NULL)));
	for (uint32_t i = 1; i <= 3; i++)
		sim_rx(sim, 1, 0, i);
	REQUIRE(xsnap_recv(s, v, 8, 0) == 3);
	/* 2^32 - 2 commits so far (setting the counter stands in for them) */
	sim->ctx->tenants[0]->commit_stamp = UINT32_MAX - 1;
	for (int k = 0; k < 3; k++) {
		uint8_t *w;

		REQUIRE((sn[k] = xsnap_snapshot(s, &all)));
		REQUIRE((w = xsnap_frame_cow(s, &v[k])));
		w[0] = (uint8_t)(0x91 + k);
		CHECK_EQ(xsnap_frame_commit(s, v[k]), 1);
	}
	REQUIRE((sn[3] = xsnap_snapshot(s, &all)));
	CHECK(sim->ctx->tenants[0]->commit_stamp == (uint64_t)UINT32_MAX + 2);
	for (int k = 0; k < 4; k++) {
		CHECK_EQ(xsnap_snap_next(sn[k], sv, 8), 3);
		for (int i = 0; i < 3; i++) {
			CHECK_EQ(tag_of(sv[i]) & 0xff, want[k][i]);
			CHECK_EQ(xsnap_frame_version(sv[i]), want[k][i] > 3);
		}
	}
	/* a reader that had not received them gets the new versions */
	CHECK_EQ(xsnap_recv(late, lv, 8, 0), 3);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(tag_of(lv[i]) & 0xff, want[3][i]);
	xsnap_release(late, lv, 3);
	xsnap_release(s, v, 3);
	for (int k = 0; k < 4; k++)
		xsnap_snap_close(sn[k]);
	engine_poll(sim->ctx);
	CHECK_EQ(sim->ctx->tenants[0]->nold, 0);
	check_conservation(sim);
	SIM_DONE(sim, s, late);
}

/* Item 8: a range ending at UINT64_MAX is "up to the newest", not an empty
 * range (seq_last + 1 wrapped to 0); and a snapshot that holds nothing (a
 * range beyond the log) pins nothing: new frames still evict old ones. */
TEST(c4_snapshot_range_to_uint64_max)
{
	struct sim *sim;
	XSNAP_OPTS(xsnap_tenant_opts, q16, .quota = 16);
	XSNAP_OPTS(xsnap_snap_opts, upto_max, .seq_first = 1, .seq_last = UINT64_MAX);
	XSNAP_OPTS(xsnap_snap_opts, beyond, .seq_first = 1000, .seq_last = UINT64_MAX);
	XSNAP_OPTS(xsnap_stats, st);
	struct xsnap_frame *v[64];
	struct xsnap_snap *sn, *empty;
	struct xsnap_sock *s;
	int n;

	REQUIRE((sim = sim_tenant(FRAMES, "t", &q16, &s)));
	for (uint32_t i = 1; i <= 10; i++)
		sim_rx(sim, 1, 0, i);
	n = xsnap_recv(s, v, 64, 0);
	CHECK_EQ(n, 10);
	xsnap_release(s, v, (unsigned int)n);
	REQUIRE((sn = xsnap_snapshot(s, &upto_max)));
	CHECK_EQ(xsnap_snap_len(sn), 10);
	n = xsnap_snap_next(sn, v, 64);
	CHECK_EQ(n, 10);
	for (int i = 0; i < n; i++)
		CHECK_EQ(xsnap_frame_seq(v[i]), 1 + i);
	xsnap_snap_close(sn);
	REQUIRE((empty = xsnap_snapshot(s, &beyond)));
	CHECK_EQ(xsnap_snap_len(empty), 0);
	CHECK_EQ(xsnap_snap_next(empty, v, 64), 0);
	/* 40 more frames through a quota of 16: evicted, never dropped */
	for (uint32_t i = 11; i <= 50; i++) {
		sim_rx(sim, 1, 0, i);
		drain(s);
	}
	CHECK_EQ(xsnap_stats(sim->ctx, "t", &st), 0);
	CHECK_EQ(st.quota_drops, 0);
	CHECK_EQ(st.rx_frames, 50);
	xsnap_snap_close(empty);
	check_conservation(sim);
	SIM_DONE(sim, s);
}

/* Frames of @s's fresh pool, each written with tag @tag0 + i. */
static void fresh_frames(struct xsnap_sock *s, struct xsnap_frame **f, unsigned int n,
			 uint32_t tag0)
{
	for (unsigned int i = 0; i < n; i++) {
		uint32_t tag = tag0 + i;
		uint8_t *w;

		REQUIRE((f[i] = xsnap_frame_alloc(s, 64)));
		REQUIRE((w = xsnap_frame_cow(s, &f[i])));
		memset(w, 0, 64);
		memcpy(w, &tag, sizeof(tag));
	}
}

/*
 * Item 9: the transmit-owner FIFO.  Tenant a sends a whole ring (its fair
 * share alone) and the kernel takes it off the TX ring without completing
 * it; tenant b is added (shares halve) and queues its share on the now
 * empty ring: one and a half rings in flight.  The completions must be
 * credited to their senders: a FIFO of one ring's entries lets b's
 * entries overwrite a's, so a never gets 32 of its frames back (it can
 * never send again) and b's count underflows.
 */
TEST(c5_tx_owners_with_a_tenant_added_in_flight)
{
	struct sim *sim;
	struct xsnap_frame *fa[RING], *fb[RING / 2];
	struct xsnap_sock *a, *b;
	struct tenant *ta, *tb;
	XSNAP_OPTS(xsnap_stats, st);

	REQUIRE((sim = sim_tenant(FRAMES, "a", NULL, &a)));
	ta = sim->ctx->tenants[0];
	fresh_frames(a, fa, RING, 0);
	CHECK_EQ(xsnap_send(a, fa, RING), RING);	/* the whole ring: one tenant */
	CHECK_EQ(sim_tx_take(sim, RING), RING);		/* in flight, not completed */
	REQUIRE(xsnap_tenant_add(sim->ctx, "b", NULL) == 1);
	REQUIRE((b = xsnap_socket(sim->ctx, "b", NULL)));
	tb = sim->ctx->tenants[1];
	fresh_frames(b, fb, RING / 2, 1000);
	CHECK_EQ(xsnap_send(b, fb, RING / 2), RING / 2);	/* b's share, ring empty */
	CHECK_EQ(ta->tx_inflight, RING);
	CHECK_EQ(tb->tx_inflight, RING / 2);
	/* in order: a's frames complete first */
	CHECK_EQ(sim_tx_complete(sim, RING), RING);
	engine_poll(sim->ctx);
	CHECK_EQ(ta->tx_inflight, 0);
	CHECK_EQ(tb->tx_inflight, RING / 2);
	CHECK_EQ(sim_tx_take(sim, RING), RING / 2);
	CHECK_EQ(sim_tx_complete(sim, RING), RING / 2);
	engine_poll(sim->ctx);
	CHECK_EQ(ta->tx_inflight, 0);
	CHECK_EQ(tb->tx_inflight, 0);
	CHECK_EQ(xsnap_stats(sim->ctx, "a", &st), 0);
	CHECK_EQ(st.tx_completed, RING);
	CHECK_EQ(st.pool_free, POOL);
	CHECK_EQ(xsnap_stats(sim->ctx, "b", &st), 0);
	CHECK_EQ(st.tx_completed, RING / 2);
	CHECK_EQ(st.pool_free, POOL);
	/* both send again */
	fresh_frames(a, fa, 1, 0);
	fresh_frames(b, fb, 1, 0);
	CHECK_EQ(xsnap_send(a, fa, 1), 1);
	CHECK_EQ(xsnap_send(b, fb, 1), 1);
	CHECK_EQ(sim_tx(sim, NULL, NULL, 0), 2);
	engine_poll(sim->ctx);
	CHECK_EQ(ta->tx_inflight + tb->tx_inflight, 0);
	check_conservation(sim);
	SIM_DONE(sim, a, b);
}

TEST_MAIN()
