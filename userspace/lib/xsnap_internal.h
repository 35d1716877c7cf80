/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libxsnap internals: the objects behind the opaque handles of xsnap.h and
 * the cross-file functions (module prefixes umem_, steer_, engine_, log_).
 *
 * Ownership of the data path, in one paragraph:
 *  - the UMEM receive region holds `nframes` chunks.  A chunk is in exactly
 *    one place: the free stack, the kernel (fill ring, device, rx ring), or
 *    one or more tenant logs (ref[chunk] = number of logs that hold it).
 *  - the engine (engine.c, under ctx->engine_lock) is the only writer of the
 *    free stack, the fill rings, ref[], gen[] and the tenant logs.  It runs
 *    inside whichever consumer calls xsnap_recv(); there is no thread.
 *  - a socket is the only writer of its cursor, its views and `low`, its
 *    release watermark.  The engine reads `low` (acquire) to find how far
 *    each log may be reclaimed; the socket reads `head_pub` (acquire) to find
 *    new entries.  Nothing is reference-counted per consumer per frame.
 */
#ifndef XSNAP_INTERNAL_H
#define XSNAP_INTERNAL_H

#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "rule.h"

#define FRAME_SHIFT	12
#define FRAME_SIZE	(1u << FRAME_SHIFT)
#define RX_BATCH	64
#define MAX_SOCKS	64	/* sockets per tenant */
#define TENANT_NAME_MAX	32

/* --- logging (log.c) ------------------------------------------------------ */
__attribute__((format(printf, 2, 3))) void xsnap_pr(enum xsnap_print_level level,
						     const char *fmt, ...);
#define pr_warn(fmt, ...) xsnap_pr(XSNAP_WARN, "xsnap: " fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) xsnap_pr(XSNAP_INFO, "xsnap: " fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) xsnap_pr(XSNAP_DEBUG, "xsnap: " fmt, ##__VA_ARGS__)

/* Return -err with errno set, the library's error convention. */
static inline int err_ret(int err)
{
	errno = err;
	return -err;
}

/* Check an option struct: sz at least up to and including sz, and any bytes
 * the caller has beyond what we know must be zero. */
int opts_valid(const void *opts, size_t known_sz);
#define OPTS_VALID(o, type) (!(o) || opts_valid((o), sizeof(struct type)))
#define OPTS_GET(o, field, dflt)                                                       \
	((o) && (o)->sz >= offsetof(__typeof__(*(o)), field) + sizeof((o)->field) &&   \
			 (o)->field ?                                                  \
		 (o)->field :                                                          \
		 (dflt))

/* --- UMEM (umem.c) -------------------------------------------------------- */
struct umem {
	uint32_t nframes;	/* receive-region chunks */
	uint32_t pool_frames;	/* chunks per tenant pool */
	uint32_t npools;	/* tenant pool slots */
	uint64_t size;		/* bytes of the whole registered range */
	int rx_fd;		/* memfd of the receive region */
	int *pool_fds;		/* memfd per tenant pool */
	uint8_t *rw;		/* read-write mapping (registered with the kernel) */
	uint8_t *ro;		/* read-only mapping of the same memory (consumers) */
	/* chunk bookkeeping, receive region only; engine-owned */
	uint32_t *gen;		/* bumped each time the chunk returns to the free stack */
	uint16_t *ref;		/* logs referencing the chunk */
	uint32_t *free;		/* free stack */
	uint32_t nfree;
};

int umem_create(struct umem *u, uint32_t nframes, uint32_t npools, uint32_t pool_frames);
void umem_destroy(struct umem *u);

static inline void umem_free_push(struct umem *u, uint32_t chunk)
{
	u->gen[chunk]++;
	u->free[u->nfree++] = chunk;
}

/* --- XDP program and maps (steer.c) ------------------------------------- */
struct xsnap_steer;

struct steer {
	struct xsnap_steer *skel;
	int link_fd;		/* bpf_link holding the attachment, -1 if none */
	int ifindex;
	uint32_t mode;		/* XSNAP_MODE_NATIVE or XSNAP_MODE_SKB in effect */
	char pin_dir[256];	/* "" when nothing is pinned */
	int cfg_fd, groups_fd, rules_fd, cnt_fd, tcnt_fd, xsks_fd;
	struct xsnap_cfg cfg;	/* what the map holds */
	/* keys written into each bank, so a bank can be emptied before reuse */
	struct xsnap_rule_key *bank_keys[2];
	unsigned int bank_nkeys[2];
};

int steer_open(struct steer *s, const char *ifname, int ifindex, const char *pin_root);
int steer_attach(struct steer *s, const char *ifname, uint32_t mode);
void steer_close(struct steer *s);
int steer_set_xsk(struct steer *s, uint32_t queue, int xsk_fd);
int steer_apply(struct steer *s, const struct rule *rules, unsigned int n, uint32_t tenants);
int steer_counters(struct steer *s, uint64_t cnt[XSNAP_R_MAX]);
int steer_tenant_counters(struct steer *s, uint32_t slot, struct xsnap_tenant_cnt *out);

/* --- contexts, tenants, sockets ----------------------------------------- */
struct log_ent {
	uint64_t seq;
	uint64_t rx_ns;
	uint64_t addr;		/* UMEM address of the first byte of the frame */
	uint32_t len;
	uint32_t version;
	uint32_t flow_hash;
	uint32_t pad;
};

struct tenant {
	char name[TENANT_NAME_MAX];
	uint32_t slot;
	uint32_t quota;		/* log capacity, power of two */
	struct log_ent *log;	/* quota entries, indexed by seq & (quota - 1) */
	/* engine-owned */
	uint64_t head;		/* next sequence number to assign (from 1) */
	uint64_t tail;		/* oldest sequence number still in the log */
	_Atomic uint64_t head_pub;	/* head as published to sockets (release) */
	struct xsnap_sock *socks[MAX_SOCKS];
	unsigned int nsocks;
	/* counters (engine-owned, read under the engine lock) */
	uint64_t rx_frames, rx_bytes, quota_drops;
	/* folded in from closed sockets */
	uint64_t closed_delivered, closed_bad_releases;
};

struct queue {
	uint32_t id;
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	int fd;
	uint32_t outstanding;	/* chunks handed to the kernel, not yet received */
	bool zerocopy;
};

struct xsnap_ctx {
	char ifname[IF_NAMESIZE];
	int ifindex;
	uint32_t ring_size;
	uint32_t max_tenants;
	uint32_t reserve;	/* frames the kernel side may hold (fill + rx rings) */
	uint32_t quota_sum;
	pthread_mutex_t lock;		/* control plane: tenants, rules */
	pthread_mutex_t engine_lock;	/* data plane: see the top of this file */
	struct umem umem;
	struct xsk_umem *xumem;
	struct steer steer;
	struct queue q[XSNAP_MAX_QUEUES];
	uint32_t nq;
	struct tenant *tenants[XSNAP_MAX_TENANTS];
	uint32_t tenant_mask;	/* slots in use (engine reads it under its lock) */
	struct rule *rules;
	unsigned int nrules, rules_cap;
	uint32_t next_rule_id;
	bool dead;		/* interface gone */
};

struct xsnap_frame {
	const uint8_t *data;	/* in the read-only mapping */
	uint64_t seq;
	uint64_t rx_ns;
	uint64_t addr;
	uint32_t len;
	uint32_t version;
};

struct xsnap_sock {
	struct xsnap_ctx *ctx;
	struct tenant *t;
	uint32_t mode;
	uint32_t group;
	_Atomic uint32_t share;	/* share mode: index << 16 | members (engine writes) */
	uint64_t cursor;	/* next sequence number to look at */
	_Atomic uint64_t low;	/* every seq < low is released by this socket */
	struct xsnap_frame *views;	/* quota entries, indexed like the log */
	uint8_t *held;
	int efd;		/* eventfd: the engine signals new entries */
	int epfd;		/* xsnap_fd(): efd + every queue's xsk fd */
	_Atomic int waiting;	/* the socket sleeps (or is about to) */
	uint64_t delivered, bad_releases;
};

/* ctx.c */
struct xsnap_ctx *ctx_new(uint32_t frames, uint32_t nq, uint32_t ring, uint32_t tenants,
			  uint32_t pool);
void ctx_free(struct xsnap_ctx *ctx);

/* sock.c */
struct tenant *ctx_tenant_find(struct xsnap_ctx *ctx, const char *name);
void sock_destroy_locked(struct xsnap_sock *s);

/* engine.c */
int engine_poll(struct xsnap_ctx *ctx);	/* called with engine_lock held */
void engine_refill(struct xsnap_ctx *ctx);
void engine_reclaim(struct xsnap_ctx *ctx, struct tenant *t);
uint64_t engine_horizon(const struct tenant *t);

#endif /* XSNAP_INTERNAL_H */
