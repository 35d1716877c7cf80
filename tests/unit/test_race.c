// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The tenant lifecycle against the engine, from concurrent threads, on
 * simulated rings (sim.h).  Built twice: as an ordinary unit test, and with
 * ThreadSanitizer into $OUTPUT/tsan/ (tests/run.sh's tsan tier), where a
 * data race fails the case (TSan exits 66).
 *
 * Before tenant.c, a transmit completion freed a deleted tenant from the
 * engine with only engine_lock held (tenant_free_locked, documented "both
 * locks held"), while xsnap_tenant_add() changed the same fields (quota_sum,
 * the dead list, now the views) under ctx->lock: a race TSan reports here.
 *
 * Threads: the "kernel" receives frames for every slot, runs the engine and
 * transmits/completes what is queued; a consumer adds a tenant (alternately
 * on the shared view and on a private view), receives, sends a copy, and
 * deletes the tenant while the transmit is in flight (so the completion
 * frees it); an administrator adds and deletes other tenants and their
 * views.  At the end every frame is where it belongs and nothing is left.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "sim.h"
#include "testlib.h"

/* valgrind runs one thread at a time, some fifty times slower: fewer rounds
 * there (tests/run.sh sets XSNAP_UNDER_VALGRIND); TSan runs the full count */
static int rounds = 300;
static _Atomic int done;

static void *kernel(void *arg)
{
	struct sim *sim = arg;
	uint32_t tag = 0;

	while (!atomic_load(&done)) {
		pthread_mutex_lock(&sim->ctx->engine_lock);
		for (int i = 0; i < 4; i++)
			sim_rx(sim, 0xff, tag, tag), tag++;
		engine_poll(sim->ctx);
		sim_tx(sim, NULL, NULL, 0);
		pthread_mutex_unlock(&sim->ctx->engine_lock);
		ctx_reap(sim->ctx);
		sched_yield();	/* let the consumer and admin threads run */
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct sim *sim = arg;

	for (int r = 0; r < rounds; r++) {
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 64,
			   .view = r % 2 ? "cview" : XSNAP_VIEW_SHARED);
		struct xsnap_frame *v[16];
		struct xsnap_sock *s;
		int n = 0;

		if (xsnap_tenant_add(sim->ctx, "c", &to) < 0) {
			test_failed = 1;
			break;
		}
		s = xsnap_socket(sim->ctx, "c", NULL);
		if (!s) {
			test_failed = 1;
			break;
		}
		for (int tries = 0; tries < 1000 && n <= 0; tries++)
			n = xsnap_recv(s, v, 16, 1);
		if (n > 0) {
			struct xsnap_frame *f = v[0];

			/* a copy from the pool goes out; the rest are released */
			if (xsnap_frame_cow(s, &f) && xsnap_send(s, &f, 1) != 1)
				xsnap_release(s, &f, 1);
			xsnap_release(s, v + 1, (unsigned int)n - 1);
		}
		/* deleted with the transmit (likely) still in flight: the
		 * completion, in the engine, leaves the freeing to ctx_reap() */
		xsnap_sock_close(s);
		if (xsnap_tenant_del(sim->ctx, "c")) {
			test_failed = 1;
			break;
		}
	}
	return NULL;
}

static void *admin(void *arg)
{
	struct sim *sim = arg;
	char name[16];

	for (int r = 0; r < rounds; r++) {
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 32,
			   .view = r % 3 ? XSNAP_VIEW_PRIVATE : NULL);
		struct xsnap_stats st = { .sz = sizeof(st) };

		snprintf(name, sizeof(name), "a%d", r % 4);
		xsnap_tenant_add(sim->ctx, name, &to);
		xsnap_stats(sim->ctx, NULL, &st);
		snprintf(name, sizeof(name), "a%d", (r + 2) % 4);
		xsnap_tenant_del(sim->ctx, name);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		xsnap_tenant_del(sim->ctx, name);
	}
	return NULL;
}

TEST(tenant_lifecycle_against_the_engine)
{
	struct sim *sim = sim_new(4096);
	pthread_t k, c, a;

	REQUIRE(sim);
	if (getenv("XSNAP_UNDER_VALGRIND"))
		rounds = 20;
	atomic_store(&done, 0);
	REQUIRE(!pthread_create(&k, NULL, kernel, sim));
	REQUIRE(!pthread_create(&c, NULL, consumer, sim));
	REQUIRE(!pthread_create(&a, NULL, admin, sim));
	pthread_join(c, NULL);
	pthread_join(a, NULL);
	atomic_store(&done, 1);
	pthread_join(k, NULL);
	/* the last completions, then the last reap */
	pthread_mutex_lock(&sim->ctx->engine_lock);
	sim_tx(sim, NULL, NULL, 0);
	engine_poll(sim->ctx);
	pthread_mutex_unlock(&sim->ctx->engine_lock);
	ctx_reap(sim->ctx);
	CHECK(!sim->ctx->dead);
	CHECK(!sim->ctx->views);
	CHECK_EQ(sim->ctx->tenant_mask, 0);
	CHECK_EQ(sim->ctx->quota_sum, 0);
	CHECK_EQ(sim->ctx->umem.nheld, 0);
	for (uint32_t p = 0; p < sim->ctx->umem.npools; p++)
		CHECK_EQ(sim->ctx->umem.npool_free[p], sim->ctx->umem.pool_frames);
	CHECK_EQ(sim->ctx->umem.nfree + sim->ctx->q[0].outstanding, sim->ctx->umem.nframes);
	CHECK_EQ(xsnap_audit(sim->ctx), 0);
	sim_free(sim);
}

TEST_MAIN()
