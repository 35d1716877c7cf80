/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel's side of the AF_XDP rings, simulated, for unit tests of the
 * engine: a context from ctx_new() (UMEM on memfds, no XDP program, no
 * AF_XDP socket) wired to rings in memory.  sim_rx() takes a chunk from the
 * fill ring, writes metadata and a frame into it as the copy-mode path does
 * (data at XDP_PACKET_HEADROOM, metadata right before it) and posts an rx
 * descriptor; sim_tx() transmits and completes what the TX ring holds.
 * The producer/consumer indices are read and written with acquire/release,
 * as the kernel does, so the simulation may run on another thread than the
 * engine.
 */
#ifndef XSNAP_TEST_SIM_H
#define XSNAP_TEST_SIM_H

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xsnap_internal.h"
#include "xsnap_parse.h"

#define RING 64
#define FRAMES 4096
#define HEADROOM 256
#define POOL 64

struct sim_ring {
	uint32_t prod, cons, flags;
	uint64_t addrs[RING];
	struct xdp_desc descs[RING];
};

struct sim {
	struct xsnap_ctx *ctx;
	struct sim_ring fill, rx, tx, comp;
	uint64_t sent;
	/* sim_tx_take(): descriptors the kernel took off the TX ring whose
	 * completions it has not posted yet (each holds a completion slot) */
	uint64_t pend[RING];
	uint32_t pend_prod, pend_cons;
	/* the program writes the metadata as the packet's head (a kernel
	 * without bpf_xdp_adjust_meta): descriptors start at it; set it with
	 * ctx->steer.meta_head */
	bool meta_head;
};

/* The rx descriptor the kernel posts for a frame at @addr of @len bytes. */
static inline struct xdp_desc sim_desc(const struct sim *sim, uint64_t addr, uint32_t len)
{
	uint32_t head = sim->meta_head ? (uint32_t)sizeof(struct xsnap_meta) : 0;

	return (struct xdp_desc){ .addr = addr - head, .len = len + head };
}

/* Point libxdp's ring @r (a struct xsk_ring_prod or xsk_ring_cons: the same
 * members) at the simulated ring @s, its entries at @ring. */
#define SIM_WIRE(r, s, ring_, cached_cons_)					\
	do {									\
		(r)->producer = &(s)->prod;					\
		(r)->consumer = &(s)->cons;					\
		(r)->flags = &(s)->flags;					\
		(r)->ring = (ring_);						\
		(r)->size = RING;						\
		(r)->mask = RING - 1;						\
		(r)->cached_prod = 0;						\
		(r)->cached_cons = (cached_cons_);				\
	} while (0)

static inline void wire_prod(struct xsk_ring_prod *r, struct sim_ring *s, void *ring)
{
	SIM_WIRE(r, s, ring, RING);	/* as libxdp: free = cached_cons - cached_prod */
}

static inline void wire_cons(struct xsk_ring_cons *r, struct sim_ring *s, void *ring)
{
	SIM_WIRE(r, s, ring, 0);
}

/* Wire queue @qi of @ctx to @sim's rings (a context of several queues has
 * one struct sim per queue, all with the same ctx). */
static inline void sim_wire(struct sim *sim, struct xsnap_ctx *ctx, uint32_t qi)
{
	sim->ctx = ctx;
	wire_prod(&ctx->q[qi].fill, &sim->fill, sim->fill.addrs);
	wire_cons(&ctx->q[qi].rx, &sim->rx, sim->rx.descs);
	wire_prod(&ctx->q[qi].tx, &sim->tx, sim->tx.descs);
	wire_cons(&ctx->q[qi].comp, &sim->comp, sim->comp.addrs);
	ctx->q[qi].id = qi;
	ctx->q[qi].fd = eventfd(0, EFD_CLOEXEC);	/* stands in for the xsk fd */
}

static inline struct sim *sim_new(uint32_t frames)
{
	struct sim *sim = calloc(1, sizeof(*sim));
	struct xsnap_ctx *ctx;

	if (!sim)
		return NULL;
	ctx = ctx_new(frames, 1, RING, 8, POOL, 1, XSNAP_HUGE_OFF);
	if (!ctx) {
		free(sim);
		return NULL;
	}
	sim_wire(sim, ctx, 0);
	engine_refill(sim->ctx);
	return sim;
}

static inline void sim_free(struct sim *sim)
{
	int fd = sim->ctx->q[0].fd;

	xsnap_close(sim->ctx);
	close(fd);
	free(sim);
}

static inline int sim_rx_bytes(struct sim *sim, uint32_t mask, const void *bytes, uint32_t len);

/* The kernel side: receive one frame for @mask, as the XDP program would
 * have tagged it.  Returns 0, or -1 if the fill ring was empty (a drop). */
static inline int sim_rx(struct sim *sim, uint32_t mask, uint32_t flow_hash, uint32_t tag)
{
	struct umem *u = &sim->ctx->umem;
	uint64_t chunk_addr, addr;
	struct xsnap_meta *m;

	if (sim->fill.cons == __atomic_load_n(&sim->fill.prod, __ATOMIC_ACQUIRE))
		return -1;
	if (sim->rx.prod - __atomic_load_n(&sim->rx.cons, __ATOMIC_ACQUIRE) == RING)
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
	sim->rx.descs[sim->rx.prod & (RING - 1)] = sim_desc(sim, addr, 64);
	__atomic_store_n(&sim->rx.prod, sim->rx.prod + 1, __ATOMIC_RELEASE);
	sim->sent++;
	return 0;
}

/* The copy of a real frame @bytes, @len bytes, into the next chunk of the
 * fill ring, at the place the kernel copies to; its metadata is for the
 * caller to write.  The frame's address, or 0 if the fill ring was empty. */
static inline uint64_t sim_copy_in(struct sim *sim, const void *bytes, uint32_t len)
{
	uint64_t addr;

	if (sim->fill.cons == sim->fill.prod)
		return 0;
	addr = sim->fill.addrs[sim->fill.cons & (RING - 1)] + HEADROOM;
	sim->fill.cons++;
	memcpy(sim->ctx->umem.rw + addr, bytes, len);
	return addr;
}

/* Post rx descriptor @d. */
static inline void sim_post(struct sim *sim, struct xdp_desc d)
{
	sim->rx.descs[sim->rx.prod & (RING - 1)] = d;
	sim->rx.prod++;
	sim->sent++;
}

/* Receive a real frame: metadata from the shared parser, as the program
 * writes it by default (no flow hash, no timestamp: the engine's). */
static inline int sim_rx_bytes(struct sim *sim, uint32_t mask, const void *bytes, uint32_t len)
{
	struct umem *u = &sim->ctx->umem;
	uint64_t addr = sim_copy_in(sim, bytes, len);
	struct xsnap_pkt pkt;
	struct xsnap_meta *m;

	if (!addr)
		return -1;
	m = (struct xsnap_meta *)(u->rw + addr - sizeof(*m));
	memset(m, 0, sizeof(*m));
	memset(&pkt, 0, sizeof(pkt));
	if (!xsnap_parse(u->rw + addr, u->rw + addr + len, &pkt)) {
		m->l3_off = pkt.l3_off;
		m->l4_off = pkt.l4_off;
		m->l4_proto = pkt.proto;
		m->l3_proto = pkt.l3_proto;
	}
	m->magic = XSNAP_META_MAGIC;
	m->tenant_mask = mask;
	sim_post(sim, sim_desc(sim, addr, len));
	return 0;
}

/* Receive a real frame sent bare by the specialised program (the metadata
 * as the packet's head, xsnap_spec_impl): the descriptor is the frame, and
 * what lies before it in the chunk is stale, here a forged metadata of
 * ours for slot 31 that the engine must write over.  0, or -1 if the fill
 * ring was empty. */
static inline int sim_rx_bare(struct sim *sim, const void *bytes, uint32_t len)
{
	uint64_t addr = sim_copy_in(sim, bytes, len);
	struct xsnap_meta *m;

	if (!addr)
		return -1;
	m = (struct xsnap_meta *)(sim->ctx->umem.rw + addr - sizeof(*m));
	memset(m, 0x5a, sizeof(*m));
	m->tenant_mask = 1u << 31;
	m->magic = XSNAP_META_MAGIC;
	sim_post(sim, (struct xdp_desc){ .addr = addr, .len = len });
	return 0;
}

/* The kernel's transmit: take every descriptor of the TX ring, keep copies
 * of the bytes in @out (if not NULL), and complete them. */
static inline unsigned int sim_tx(struct sim *sim, uint8_t (*out)[128], uint32_t *lens, unsigned int max)
{
	struct umem *u = &sim->ctx->umem;
	unsigned int n = 0;

	/* acquire/release on the indices, as the kernel: a sender on another
	 * thread publishes descriptors with the producer index */
	while (sim->tx.cons != __atomic_load_n(&sim->tx.prod, __ATOMIC_ACQUIRE)) {
		struct xdp_desc d = sim->tx.descs[sim->tx.cons & (RING - 1)];

		if (out && n < max) {
			memcpy(out[n], u->rw + d.addr, d.len < 128 ? d.len : 128);
			lens[n] = d.len;
		}
		__atomic_store_n(&sim->tx.cons, sim->tx.cons + 1, __ATOMIC_RELEASE);
		sim->comp.addrs[sim->comp.prod & (RING - 1)] = d.addr;
		__atomic_store_n(&sim->comp.prod, sim->comp.prod + 1, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

/*
 * The kernel's transmit in two steps, as a driver does it: take up to @max
 * descriptors off the TX ring (each reserves a completion ring slot, so
 * taken-but-not-completed plus completed-but-not-read never exceed the
 * completion ring), then, later, complete up to @max of them in order.
 * Between the two the frames are in flight with the TX ring empty: a
 * sender may queue a whole ring more.  Both return how many they moved.
 */
static inline unsigned int sim_tx_take(struct sim *sim, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && sim->tx.cons != __atomic_load_n(&sim->tx.prod, __ATOMIC_ACQUIRE) &&
	       sim->comp.prod - __atomic_load_n(&sim->comp.cons, __ATOMIC_ACQUIRE) +
			       (sim->pend_prod - sim->pend_cons) <
		       RING) {
		sim->pend[sim->pend_prod++ & (RING - 1)] =
			sim->tx.descs[sim->tx.cons & (RING - 1)].addr;
		__atomic_store_n(&sim->tx.cons, sim->tx.cons + 1, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

static inline unsigned int sim_tx_complete(struct sim *sim, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && sim->pend_cons != sim->pend_prod) {
		sim->comp.addrs[sim->comp.prod & (RING - 1)] = sim->pend[sim->pend_cons++ & (RING - 1)];
		__atomic_store_n(&sim->comp.prod, sim->comp.prod + 1, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

#endif /* XSNAP_TEST_SIM_H */
