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
#include <string.h>

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

/*
 * XSNAP_ENGINE_PER_QUEUE: one engine thread per queue takes its batches off
 * its rx ring without engine_lock (engine.c, queue_run()), while a consumer
 * helps (its xsnap_recv() runs the engine for every queue it can take) and
 * an administrator adds and deletes a tenant (engine_rx_lock_all(), the
 * slot barrier).  Every frame of every queue reaches the consumer once, in
 * its queue's order, and nothing is left at the end.
 */
#define PQ_QUEUES 4

struct pq {
	struct xsnap_ctx *ctx;
	struct sim sim[PQ_QUEUES];
	uint32_t per_queue;		/* frames to send on each queue */
	_Atomic uint32_t received;	/* by the consumer, so far */
	struct xsnap_sock *s;
	uint32_t next[PQ_QUEUES];	/* the next tag expected from each queue */
	uint32_t bad;			/* frames out of order or unknown */
};

static void *pq_kernel(void *arg)
{
	struct pq *pq = arg;
	uint32_t sent[PQ_QUEUES] = { 0 }, total = 0;

	while (total < PQ_QUEUES * pq->per_queue) {
		bool moved = false;

		for (uint32_t qi = 0; qi < PQ_QUEUES; qi++) {
			/* stay within the consumer's quota: nothing is dropped */
			while (sent[qi] < pq->per_queue && total - atomic_load(&pq->received) < 96 &&
			       !sim_rx(&pq->sim[qi], 0xff, 0, qi << 24 | sent[qi])) {
				sent[qi]++;
				total++;
				moved = true;
			}
		}
		if (moved)
			engine_thread_kick(pq->ctx);
		else
			sched_yield();
	}
	return NULL;
}

static void *pq_consumer(void *arg)
{
	struct pq *pq = arg;
	uint32_t got = 0;

	while (got < PQ_QUEUES * pq->per_queue) {
		struct xsnap_frame *v[32];
		int n = xsnap_recv(pq->s, v, 32, 100);

		if (n < 0) {
			test_failed = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag, q;

			memcpy(&tag, xsnap_frame_data(v[i]), sizeof(tag));
			q = tag >> 24;
			if (q >= PQ_QUEUES || (tag & 0xffffff) != pq->next[q] ||
			    xsnap_frame_queue(v[i]) != q)
				pq->bad++;
			else
				pq->next[q]++;
		}
		xsnap_release(pq->s, v, (unsigned int)(n > 0 ? n : 0));
		got += (uint32_t)(n > 0 ? n : 0);
		atomic_store(&pq->received, got);
	}
	return NULL;
}

static void *pq_admin(void *arg)
{
	struct pq *pq = arg;

	while (atomic_load(&pq->received) < PQ_QUEUES * pq->per_queue) {
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 32);

		if (xsnap_tenant_add(pq->ctx, "churn", &to) < 0 ||
		    xsnap_tenant_del(pq->ctx, "churn")) {
			test_failed = 1;
			break;
		}
	}
	return NULL;
}

TEST(per_queue_engines_against_consumers_and_tenant_changes)
{
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 128);
	struct pq *pq = calloc(1, sizeof(*pq));
	struct xsnap_ctx *ctx;
	pthread_t k, c, a;
	uint32_t outstanding = 0;
	int fds[PQ_QUEUES];

	REQUIRE(pq);
	pq->per_queue = getenv("XSNAP_UNDER_VALGRIND") ? 300 : 5000;
	ctx = ctx_new(4096, PQ_QUEUES, RING, 8, POOL, 1, XSNAP_HUGE_OFF);
	REQUIRE(ctx);
	pq->ctx = ctx;
	for (uint32_t qi = 0; qi < PQ_QUEUES; qi++) {
		sim_wire(&pq->sim[qi], ctx, qi);
		fds[qi] = ctx->q[qi].fd;
	}
	engine_refill(ctx);
	REQUIRE(xsnap_tenant_add(ctx, "keep", &to) == 0);
	pq->s = xsnap_socket(ctx, "keep", NULL);
	REQUIRE(pq->s);
	ctx->engine_mode = XSNAP_ENGINE_PER_QUEUE;
	REQUIRE(engine_thread_start(ctx, 0, 0, true) == 0);
	CHECK_EQ(ctx->nthreads, PQ_QUEUES);
	REQUIRE(!pthread_create(&k, NULL, pq_kernel, pq));
	REQUIRE(!pthread_create(&c, NULL, pq_consumer, pq));
	REQUIRE(!pthread_create(&a, NULL, pq_admin, pq));
	pthread_join(k, NULL);
	pthread_join(c, NULL);
	pthread_join(a, NULL);
	engine_thread_stop(ctx);
	CHECK_EQ(pq->bad, 0);
	for (uint32_t qi = 0; qi < PQ_QUEUES; qi++)
		CHECK_EQ(pq->next[qi], pq->per_queue);
	xsnap_sock_close(pq->s);
	CHECK_EQ(xsnap_tenant_del(ctx, "keep"), 0);
	pthread_mutex_lock(&ctx->engine_lock);
	engine_poll(ctx);
	pthread_mutex_unlock(&ctx->engine_lock);
	ctx_reap(ctx);
	CHECK_EQ(ctx->tenant_mask, 0);
	CHECK_EQ(ctx->umem.nheld, 0);
	for (uint32_t qi = 0; qi < PQ_QUEUES; qi++)
		outstanding += ctx->q[qi].outstanding;
	CHECK_EQ(ctx->umem.nfree + outstanding, ctx->umem.nframes);
	CHECK_EQ(xsnap_audit(ctx), 0);
	xsnap_close(ctx);
	for (uint32_t qi = 0; qi < PQ_QUEUES; qi++)
		close(fds[qi]);
	free(pq);
}

TEST_MAIN()
