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
 *    on the context's engine thread (default), on one thread per queue
 *    (XSNAP_ENGINE_PER_QUEUE: each takes its queue's batches off the rx ring
 *    under the queue's rx_lock alone and logs them under engine_lock),
 *    inside the consumers' xsnap_recv() calls (XSNAP_ENGINE_INLINE), or in
 *    xsnapd's loop; paced by one pacer policy (struct pacer).
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
#include "udp_recv.h"	/* sock_recv_udp(): the preload shim's receive */
#include "xsnap_serve.h"	/* FRAME_*, TENANT_NAME_MAX, tenant_name_ok() */

#define RX_BATCH	64
/* The pacer (engine.c, struct pacer): interrupt moderation for the engine. */
#define PACE_WINDOW_NS		1000000		/* load is measured over windows this long */
#define PACE_BUSY_FRAMES	200		/* frames per window that mean load (200k/s) */
#define PACE_MIN_NS		100000		/* paced runs: at least this far apart */
#define PACE_MAX_NS		1000000		/* and at most this far */
/*
 * Naps.  On a VM, a vCPU that idles past the host's halt polling (commonly
 * 200 us) may be descheduled and woken milliseconds late, and the fill
 * ring (2048 entries: 0.7 ms at 3 Mpps) runs dry meanwhile.  A paced
 * engine thread whose sleep ended more than PACE_LATE_NS late sleeps, for
 * the next PACE_NAPS_FOR_NS, at most PACE_NAP_NS at once, and each nap
 * stocks the fill rings; only while its CPU idles more than half of the
 * time (/proc/stat, read once per PACE_NAPS_FOR_NS).  A busy CPU (NAPI in
 * a thread beside the engine) does not halt, and there naps would only
 * take turns from the work.
 */
#define PACE_NAP_NS		150000
#define PACE_LATE_NS		200000
#define PACE_NAPS_FOR_NS	1000000000
#define MAX_SOCKS	64	/* sockets per tenant */

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
/*
 * Chunks are numbered over the whole range: 0..nframes-1 are the receive
 * region, then pool p holds nframes + p * pool_frames ... + pool_frames - 1.
 * ref[chunk] counts what holds a chunk: tenant logs (one each), the private
 * version or fresh frame a socket holds, and transmits in flight.  At zero a
 * receive chunk goes to the free stack (and from there to a fill ring), a
 * pool chunk back to its pool.  Only the engine (ctx->engine_lock) touches
 * these arrays.
 */
struct umem {
	uint32_t nframes;	/* receive-region chunks */
	uint32_t pool_frames;	/* chunks per tenant pool */
	uint32_t npools;	/* tenant pool slots */
	uint32_t nchunks;	/* nframes + npools * pool_frames */
	uint64_t size;		/* bytes of the whole registered range */
	uint32_t ngroups;	/* queue groups: the region is one memfd per group */
	uint32_t gframes;	/* chunks per group (nframes / ngroups) */
	int rx_fd[XSNAP_MAX_QUEUES];	/* memfd of each group's part of the region */
	int *pool_fds;		/* memfd per tenant pool */
	uint8_t *rw;		/* read-write mapping (registered with the kernel) */
	uint8_t *ro;		/* read-only mapping of the same memory (consumers) */
	uint32_t *gen;		/* bumped each time the chunk is freed */
	uint16_t *ref;
	uint32_t *free;		/* free stacks of receive chunks: group g's at
				 * free[g * gframes], gfree[g] deep */
	uint32_t gfree[XSNAP_MAX_QUEUES];
	uint32_t nfree;		/* sum of gfree[] */
	uint32_t nheld;		/* receive chunks with ref > 0 (kept as ref[] changes,
				 * so stats need not scan ref[]) */
	uint32_t *pool_free;	/* pool p's free stack: pool_free[p * pool_frames ...] */
	uint32_t *npool_free;	/* per pool */
	bool huge;		/* the region is on hugetlb pages */
};

#define UMEM_HUGE_SIZE	(2u << 20)	/* the hugetlb page size the region asks for */

/* @nframes: a multiple of @ngroups (1..XSNAP_MAX_QUEUES); @huge: enum
 * xsnap_huge_mode of the region (ON: -ENOMEM if the pool is short, or the
 * groups' parts are not whole pages).  0 or -errno. */
int umem_create(struct umem *u, uint32_t nframes, uint32_t ngroups, uint32_t npools,
		uint32_t pool_frames, uint32_t huge);
/* umem_reserve() - a PROT_NONE range of @size bytes, 2 MiB aligned, for
 * mapping the UMEM's pieces into (any of them may be a hugetlb file);
 * munmap(p, size) frees it.  NULL (errno set) on failure. */
void *umem_reserve(uint64_t size);
/* umem_huge_free() - pages of the hugetlb pool a new mapping can still get
 * (HugePages_Free less HugePages_Rsvd), -1 if unknown. */
long umem_huge_free(void);
void umem_destroy(struct umem *u);
/* umem_map_like() - a read-only range laid out like the UMEM, with
 * @region_fd (a region of nframes chunks) at offset 0 and the pools at
 * their offsets; munmap(*rop, u->size) to undo.  0 or -errno. */
int umem_map_like(struct umem *u, int region_fd, uint8_t **rop);

#define UMEM_HEADROOM	0	/* frame_headroom at XDP_UMEM_REG (see umem.c) */
#define UMEM_MAX_RING	16384
#define UMEM_MAX_FRAMES	(1u << 20)
#define UMEM_MAX_POOL	(1u << 16)

/* The sizes xsnap_open() is asked for (defaults already applied). */
struct umem_config {
	uint32_t frames, ring_size, nqueues, max_tenants, pool_frames, mode, zerocopy;
	uint32_t groups;	/* queue groups (1: all queues share one region) */
	uint32_t huge;		/* enum xsnap_huge_mode */
};

/*
 * umem_check_config() - refuse sizes the kernel (or the library) would
 * refuse, before any kernel call, with a message that names the field,
 * its value and what it must be.  Return: 0 or -EINVAL.
 */
int umem_check_config(const char *ifname, const struct umem_config *c);
/* umem_check_fit() - each queue group's part of the receive region must
 * exceed what the fill and rx rings of its queues hold (checked once the
 * queues are known to exist); 0 or -EINVAL with a message naming the
 * option. */
int umem_check_fit(const char *ifname, const struct umem_config *c);

/*
 * umem_reg_hint() - the remedy to append to an XDP_UMEM_REG error @err for
 * a UMEM of @size bytes: for ENOBUFS/ENOMEM, "memlock limit X KiB < needed
 * Y KiB ..." from RLIMIT_MEMLOCK; "" otherwise.
 */
void umem_reg_hint(int err, uint64_t size, char *buf, size_t len);

/*
 * tx_desc_check() - may tenant slot @slot put (@addr, @len) on the TX ring?
 * The kernel's rules for an aligned UMEM (xp_aligned_validate_desc: inside
 * the UMEM, not across a chunk's end, len at most a chunk), made stricter:
 * an Ethernet header at least, at most what a chunk holds after the
 * headroom, and never a chunk of another tenant's pool (frame.c).
 * Return: NULL when valid, else the reason, naming the field.
 */
const char *tx_desc_check(const struct umem *u, uint32_t slot, uint64_t addr, uint32_t len);

/* The queue group of receive chunk @chunk. */
static inline uint32_t umem_group(const struct umem *u, uint32_t chunk)
{
	return u->ngroups > 1 ? chunk / u->gframes : 0;
}

static inline void umem_free_push(struct umem *u, uint32_t chunk)
{
	u->gen[chunk]++;
	if (chunk < u->nframes) {
		uint32_t g = umem_group(u, chunk);

		u->free[g * u->gframes + u->gfree[g]++] = chunk;
		u->nfree++;
	} else {
		uint32_t p = (chunk - u->nframes) / u->pool_frames;

		u->pool_free[p * u->pool_frames + u->npool_free[p]++] = chunk;
	}
}

/* Drop one reference to the chunk holding UMEM address @addr. */
static inline void umem_put(struct umem *u, uint64_t addr)
{
	uint32_t chunk = (uint32_t)(addr >> FRAME_SHIFT);

	if (--u->ref[chunk] == 0) {
		if (chunk < u->nframes)
			u->nheld--;
		umem_free_push(u, chunk);
	}
}

/* A chunk of pool @p with one reference, or UINT32_MAX if the pool is empty. */
static inline uint32_t umem_pool_get(struct umem *u, uint32_t p)
{
	uint32_t c;

	if (!u->npool_free[p])
		return UINT32_MAX;
	c = u->pool_free[p * u->pool_frames + --u->npool_free[p]];
	u->ref[c] = 1;
	return c;
}

/* --- views (view.c) -------------------------------------------------------- */
/*
 * A private view: the region its tenants' consumers read, into which the
 * engine copies each of their frames once (see view.c).  The shared view
 * (the UMEM's receive region) is a NULL view pointer.  Engine state: ref,
 * free, nfree, nheld, the region (engine_lock); ntenants, quota_sum and the
 * list under ctx->lock (and engine_lock where the engine reads them).
 */
struct view {
	struct view *next;	/* ctx->views */
	char name[32];
	uint32_t nframes;	/* chunks, numbered 0..nframes-1 like the receive region's */
	int fd;			/* memfd of the region (fresh for each view) */
	uint8_t *rw;		/* the region, read-write (engine) */
	uint8_t *ro;		/* consumers' range: region + pools, read-only */
	size_t ro_len;
	uint16_t *ref;		/* per chunk: log entries of the view's tenants */
	uint32_t *free;		/* free stack */
	uint32_t nfree, nheld;
	uint32_t mask;		/* tenant slots reading it */
	uint32_t ntenants;	/* tenants not yet freed (dead ones too) */
	uint32_t quota_sum;
	uint64_t copies;	/* frames the engine copied in */
};

struct xsnap_ctx;
struct view *view_find(struct xsnap_ctx *ctx, const char *name);
/* A new view, not yet on ctx->views: view_link() it with both locks held. */
struct view *view_create(struct xsnap_ctx *ctx, const char *name);
void view_link(struct xsnap_ctx *ctx, struct view *v);
void view_destroy(struct view *v);
void view_unref(struct xsnap_ctx *ctx, struct view *v);
void view_put(struct view *v, uint32_t chunk);

/* Drop one reference to the chunk at @addr of @v's range (NULL: the UMEM's):
 * a private view's own chunk, or a pool chunk (commits put those in logs). */
static inline void chunk_put(struct umem *u, struct view *v, uint64_t addr)
{
	uint32_t chunk = (uint32_t)(addr >> FRAME_SHIFT);

	if (v && chunk < v->nframes)
		view_put(v, chunk);
	else
		umem_put(u, addr);
}

/* --- XDP program and maps (steer.c) ------------------------------------- */
struct xsnap_steer;
struct xsnap_spec;

struct xdp_program;

struct steer {
	struct xsnap_steer *skel;
	int link_fd;		/* bpf_link holding the attachment, -1 if none */
	struct xdp_program *xprog;	/* attached through libxdp (STEER_MULTIPROG) */
	bool dispatcher;	/* ... behind libxdp's multi-program dispatcher */
	bool meta_head;		/* metadata written as the packet's head (xsnap_meta_head):
				 * rx descriptors start at it, see steer_meta_in_head() */
	int ifindex;
	uint32_t mode;		/* XSNAP_MODE_NATIVE or XSNAP_MODE_SKB in effect */
	char pin_dir[256];	/* "" when nothing is pinned */
	int cfg_fd, groups_fd, rules_fd, cnt_fd, tcnt_fd, xsks_fd, qexcl_fd, jmp_fd;
	/* the live rule set's specialised program (bpf/xsnap_spec.bpf.c), in
	 * slot XSNAP_JMP_SPEC; NULL when the set has none */
	struct xsnap_spec *spec;
	uint32_t spec_keys;	/* its keys (0: none) */
	bool spec_on;		/* rule sets may get one (the general slot is set) */
	bool spec_probe;	/* STEER_SPEC_PROBE */
	struct xsnap_cfg cfg;	/* what the map holds */
	/*
	 * Bare frames (xsnap_spec_impl in bpf/xsnap_spec.bpf.c): called by
	 * steer_apply() after the wait for the old set's readers and before
	 * a specialised program with an implicit outcome goes live, with that
	 * outcome (@mask 0: none), to tell every queue's engine from which rx
	 * ring position bare frames have it (engine_impl_switch()).  0, or
	 * -ENOSPC: the program is then not installed (the general one serves
	 * the set).  NULL (the default): no rule set gets an implicit outcome.
	 */
	int (*impl_switch)(void *arg, uint32_t mask, uint32_t rule_id);
	void *impl_arg;
	uint32_t impl_mask, impl_rule;	/* the outcome last told (mask 0: none) */
	/* keys written into each bank, so a bank can be emptied before reuse */
	struct xsnap_rule_key *bank_keys[2];
	unsigned int bank_nkeys[2];
};

/* steer_open() flags */
enum {
	STEER_XDP_STAMP = 1 << 0,	/* the program stamps every frame (XSNAP_STAMP_XDP) */
	STEER_EMC_MISS = 1 << 1,	/* benchmarks only: every exact-match cache lookup
					 * misses (and refills), a new flow per frame */
	STEER_QGROUPS = 1 << 2,		/* queue groups: mask tenants by rx queue */
	STEER_NO_FAST = 1 << 6,		/* benchmarks only: every frame takes the general
					 * path (xsnap_no_fast) */
	STEER_FAST_PROBE = 1 << 7,	/* tests only: a frame the fast path did not take
					 * ends in XDP_ABORTED (xsnap_fast_probe); no
					 * specialised programs */
	STEER_NO_SPEC = 1 << 8,		/* benchmarks only: no specialised programs, every
					 * rule set is served by the general program */
	STEER_SPEC_PROBE = 1 << 9,	/* tests only: a frame the specialised program does
					 * not serve ends in XDP_ABORTED (xsnap_spec_probe) */
	/* attach through libxdp at open (xsnap_opts.multiprog), in native
	 * mode, generic mode, or native falling back to generic (neither) */
	STEER_MULTIPROG = 1 << 3,
	STEER_MP_NATIVE = 1 << 4,
	STEER_MP_SKB = 1 << 5,
};
int steer_open(struct steer *s, const char *ifname, int ifindex, const char *pin_root,
	       unsigned int flags);
/*
 * steer_meta_in_head() - whether this kernel refuses bpf_xdp_adjust_meta()
 * to XDP programs (some builds do), asked once per process with a probe
 * program.  Then xsnap_steer writes the metadata as the packet's first
 * bytes (bpf_xdp_adjust_head()), and the AF_XDP descriptors of delivered
 * frames start at it: the engine skips sizeof(struct xsnap_meta) of each
 * (the bytes in the chunk are where they are otherwise).  A probe that
 * cannot run (no privilege) answers false, and the load says why.
 */
bool steer_meta_in_head(void);
/* The longest frame a UMEM chunk can hold: with the metadata in the head,
 * sizeof(struct xsnap_meta) less. */
uint32_t steer_max_frame(bool meta_head);
int steer_attach(struct steer *s, const char *ifname, uint32_t mode);
void steer_close(struct steer *s);
int steer_set_xsk(struct steer *s, uint32_t queue, int xsk_fd);
/* The tenant slots the program must not tag frames of rx queue @queue for
 * (tenants pinned to another queue group); 0 or -errno. */
int steer_set_qexcl(struct steer *s, uint32_t queue, uint32_t excl);
/*
 * steer_apply() - make @rules, for the tenant slots @tenants, the live rule
 * set: compile them into the idle bank, flip to it, and give the program
 * the set's specialised program when it has one (one rule shape of
 * protocol, exact ports and maybe the family, few keys: spec_load()).
 * Returns after every frame classified with the old set has left the
 * program.  0 or -errno (the old set stays live).
 */
int steer_apply(struct steer *s, const struct rule *rules, unsigned int n, uint32_t tenants);
int steer_counters(struct steer *s, uint64_t cnt[XSNAP_R_MAX]);
/*
 * steer_observe() - what the kernel says about the attachment, asked now:
 * our bpf_link's id and whether it is an XDP link on our interface, our
 * program's id, and the program the interface runs (id, name, mode).
 * Fields it cannot learn are 0 / "".  Return: 0 or -errno.
 */
int steer_observe(struct steer *s, struct serve_attach *a);
/*
 * steer_vlan_offload() - the receive VLAN offload features of @ifname that
 * are on: STEER_RXVLAN_CTAG (rx-vlan-hw-parse, ethtool's rx-vlan-offload)
 * and STEER_RXVLAN_STAG (rx-vlan-stag-hw-parse); *@veth tells a veth (whose
 * peer's transmit offload strips tags as well).  Return the mask, or -errno
 * when the features cannot be read.  steer_vlan_offload_msg() says what
 * that means and the ethtool command that turns them off.
 */
enum { STEER_RXVLAN_CTAG = 1, STEER_RXVLAN_STAG = 2 };
int steer_vlan_offload(const char *ifname, bool *veth);
void steer_vlan_offload_msg(const char *ifname, int on, bool veth, char *buf, size_t len);
int steer_tenant_counters(struct steer *s, uint32_t slot, struct xsnap_tenant_cnt *out);

/* --- contexts, tenants, sockets ----------------------------------------- */
/*
 * A log entry.  Entries in [tail, head) are the tenant's log; the engine
 * appends at head and, when it needs room, evicts at tail, but never at or
 * past the tenant's horizon (the smallest `low` of its sockets and
 * snapshots).  A commit may change addr/version of an entry that readers are
 * copying at the same time: `sc` is a sequence count (odd while written).
 */
struct log_ent {
	uint64_t seq;
	uint64_t rx_ns;
	uint64_t addr;		/* UMEM address of the first byte of the frame */
	uint64_t stamp;		/* tenant commit stamp that installed this version (0: received);
				 * 64-bit: a 32-bit count wraps after 2^32 commits (72 minutes
				 * at 1 M/s) and then orders versions wrongly */
	uint32_t len;
	uint32_t version;
	uint32_t flow_hash;
	_Atomic uint32_t sc;
	uint32_t queue;		/* receive queue id (0 for a fresh frame) */
	uint32_t pad;
};

/* An old version replaced by a commit, kept until no reader can hold it:
 * sockets that received it, and snapshots taken while it was current
 * (stamp <= snapshot stamp < replaced). */
struct superseded {
	uint64_t seq;
	uint64_t addr;
	uint64_t stamp;		/* when it was installed */
	uint64_t replaced;	/* commit stamp that replaced it */
	uint32_t len;
	uint32_t version;
};

struct xsnap_snap;

/*
 * Shared memory.  Everything a consumer reads or writes concurrently with the
 * engine lives in memfd-backed pages, so a consumer in another process
 * (through xsnapd) maps the very same bytes as an in-process one:
 *
 *   tenant log region (one memfd per tenant; consumers map it read-only):
 *     [ struct log_shm: head_pub, state, quota ][ quota x struct log_ent ]
 *   socket control page (one memfd per socket; its consumer maps it
 *   read-write):  struct sock_ctl
 *
 * The engine writes the log region and `share`; the consumer writes `low`,
 * `waiting` and its counters.  A hostile consumer can only hurt its own
 * tenant: `low` is clipped to the head by the engine, and counters are only
 * reported.
 */
#define LOG_SHM_HDR	64

enum {
	LOG_TENANT_DEAD = 1 << 0,	/* tenant deleted: drain, then -ENOENT */
	LOG_IF_DEAD = 1 << 1,		/* interface gone: -ENETDOWN */
	LOG_REVOKED = 1 << 2,		/* xsnapd revoked the tenant's sockets:
					 * -ENOENT at once, nothing more drained */
};

struct log_shm {
	_Atomic uint64_t head_pub;	/* head as published to sockets (release) */
	_Atomic uint32_t state;		/* LOG_* */
	uint32_t quota;
	_Atomic uint32_t wake;		/* futex word: bumped at every publish and
					 * state change (tenant_wake) */
	uint8_t pad[LOG_SHM_HDR - 20];
	struct log_ent ent[];
};

/* sock_ctl.waiting: what the engine's next publish for the tenant owes the
 * socket; it takes the word with one exchange, so each announcement costs
 * the engine at most one wake-up. */
enum {
	WAIT_FUTEX = 1 << 0,	/* a thread sleeps on the log's wake word */
	WAIT_FD = 1 << 1,	/* xsnap_fd() is armed (or an inline-mode sleep in
				 * epoll): write the socket's notify pipe once */
};

struct sock_ctl {
	_Atomic uint64_t low;	/* every seq < low is released by this socket */
	_Atomic uint32_t share;	/* share mode: index << 16 | members (engine writes) */
	_Atomic uint32_t waiting;	/* WAIT_* (consumer sets, engine takes) */
	/* share mode, the layout before the group's last change: frames logged
	 * before share_from (the log head at the change) are split by
	 * share_old (0: this socket takes none of them), so every member
	 * splits each frame alike, whenever it reads it.  share_seq: even
	 * when share, share_old and share_from agree (engine writes, under
	 * the engine lock; readers retry). */
	_Atomic uint32_t share_seq;
	_Atomic uint32_t share_old;
	_Atomic uint64_t share_from;
	/* consumer-written, read by stats: atomic (one writer, relaxed);
	 * xsnap_recvfrom(): skipped frames, of which fragments and bad
	 * checksums */
	_Atomic uint64_t delivered, bad_releases, skipped;
	_Atomic uint64_t fragments, bad_csum;
};

#define SOCK_CTL_SIZE 4096

/* A memfd of @size bytes mapped read-write at *@mapp (umem.c). */
int shm_create(const char *name, size_t size, int *fdp, void **mapp);
/* Reopen @fd read-only through /proc/self/fd, as a client must get it. */
int fd_reopen_ro(int fd);

struct tenant {
	char name[TENANT_NAME_MAX];
	uint32_t slot;
	struct view *view;	/* NULL: the shared view (the receive region) */
	uint32_t qgroup;	/* queue group it is pinned to (1-based), 0: none */
	uint32_t quota;		/* log capacity, power of two */
	struct log_ent *log;	/* quota entries, indexed by seq & (quota - 1) */
	struct log_shm *shm;	/* the log region: header, then log[] */
	size_t shm_len;
	int shm_fd;		/* its memfd (-1 in a client) */
	int pool_fd;		/* this tenant instance's own pool memory for clients of
				 * xsnapd (tenant_pool_fd()), or -1 */
	uint8_t *pool_map;	/* ... mapped here (read-only: the daemon copies
				 * from it, never writes) */
	size_t pool_map_len;
	/* engine-owned */
	uint64_t head;		/* next sequence number to assign (from 1) */
	uint64_t tail;		/* oldest sequence number still in the log */
	uint64_t hz;		/* readers' low (engine.c) as found in engine pass hz_pass: */
	uint64_t hz_pass;	/* a full log looks once per pass (log_room()) */
	struct xsnap_sock *socks[MAX_SOCKS];
	unsigned int nsocks;
	struct xsnap_snap *snaps;	/* open snapshots (list) */
	struct superseded *old;	/* ring of pool_frames + 1 entries */
	uint32_t nold, old_head;
	uint32_t tx_inflight;	/* transmits not yet completed */
	uint64_t commit_stamp;	/* commits so far; orders versions against snapshots */
	bool dead;		/* deleted; freed when its last socket closes */
	struct tenant *next_dead;
	/* counters (engine-owned, read under the engine lock) */
	uint64_t rx_frames, rx_bytes, quota_drops, evicted;
	uint64_t cow, commits, tx_frames, tx_completed, snapshots;
	/* folded in from closed sockets */
	uint64_t closed_delivered, closed_bad_releases, closed_skipped;
	uint64_t closed_fragments, closed_bad_csum;
};

/* What the specialised program's bare frames stand for (mask 0: none). */
struct impl_outcome {
	uint32_t mask;		/* tenant slots */
	uint32_t rule_id;	/* the deliver rule */
};

/* Rule changes an engine may lag behind while bare frames are about. */
#define IMPL_SWITCHES 8

struct queue {
	uint32_t id;
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	int fd;
	uint32_t outstanding;	/* chunks handed to the kernel, not yet received */
	uint32_t group;		/* queue group (0-based): its chunks come from
				 * the group's part of the receive region */
	uint32_t excl;		/* tenant slots pinned to other groups: never
				 * logged from this queue (engine_lock) */
	bool zerocopy;
	uint8_t zc_reason;	/* enum zc_reason */
	uint8_t *tx_owner;	/* tenant slot of each transmit in flight, in order */
	uint32_t tx_prod, tx_cons;	/* FIFO indexes into tx_owner (tx_owner_cap()) */
	/* XSNAP_ENGINE_PER_QUEUE: held from taking a batch off the rx ring
	 * to logging it (engine.c, rx_trylock()); taken before engine_lock */
	pthread_mutex_t rx_lock;
	/* Bare frames: the implicit outcome in force where the engine reads
	 * the rx ring, and the switches to come, each in force from an rx
	 * ring position on (engine_impl_switch(); one writer, under
	 * ctx->lock, and one reader, whoever takes the queue's batches). */
	struct impl_outcome impl;
	struct impl_switch {
		uint32_t pos;
		struct impl_outcome o;
	} impl_next[IMPL_SWITCHES];
	_Atomic uint32_t impl_head, impl_tail;
};

/*
 * The pacer, one policy for every engine (thread, inline, xsnapd): frames
 * moved are summed over windows of PACE_WINDOW_NS; a window with at least
 * PACE_BUSY_FRAMES turns pacing on, the first window below turns it off.
 * Paced, the engine ignores rx wake-ups and runs every `interval`: the time
 * the measured rate takes to bring `batch` frames (half the smaller of the
 * rx ring and the smallest quota, so neither overflows between two runs),
 * within PACE_MIN_NS..PACE_MAX_NS.  Each run then wakes every sleeping
 * consumer once for a whole batch: at 2 Mpps and 512 frames, 4 000
 * wake-ups a second per consumer instead of one per burst of the kernel's
 * (tens of frames).  Light traffic is never delayed: pacing needs a whole
 * busy window, and the interval never exceeds PACE_MAX_NS.
 */
struct pacer {
	int64_t win_ns;		/* start of the current window */
	uint32_t win_frames;	/* frames moved in it */
	uint32_t batch;		/* frames a paced run should find (set by the owner) */
	bool paced;
	int64_t interval_ns;	/* paced: time between runs */
	int64_t next_ns;	/* paced: when the engine runs next */
};

/*
 * pacer_feed() - account an engine run that moved @frames at @now_ns.
 * Return: true when the paced state changed (the caller switches its rx
 * wake-ups off or on).
 */
bool pacer_feed(struct pacer *p, unsigned int frames, int64_t now_ns);

struct engine_thread;

struct xsnap_ctx {
	char ifname[IF_NAMESIZE];
	int ifindex;
	uint32_t ring_size;
	uint32_t max_tenants;
	uint32_t reserve;	/* frames the kernel side may hold (fill + rx rings) */
	uint32_t quota_sum;	/* quotas of every shared-view tenant not yet freed
				 * (dead ones too) */
	uint32_t pinned_sum[XSNAP_MAX_QUEUES];	/* ... of those pinned to each queue
						 * group (ctx->lock) */
	pthread_mutex_t lock;		/* control plane: tenants, rules */
	pthread_mutex_t engine_lock;	/* data plane: see the top of this file */
	uint32_t engine_mode;	/* enum xsnap_engine_mode */
	bool xdp_stamp;		/* xsnap_opts.timestamps == XSNAP_STAMP_XDP */
	int zc_support;		/* ZC_SUPPORT_*: the driver's XDP features (zc.c) */
	struct pacer pacer;	/* engine_lock */
	uint32_t help_unwoken;	/* engine_lock: tenants whose logs consumers'
				 * quiet runs filled (engine_help()); the
				 * engine thread's next run wakes them */
	bool help_quiet;	/* engine_lock: set by the context's engine
				 * thread before each sleep, true when that
				 * sleep is timed (paced) or skipped (busy):
				 * its next run comes within an interval, so
				 * consumers' runs may be quiet */
	uint64_t pass;		/* engine_poll() passes so far (engine_lock) */
	/* inline mode: the pacer's verdict for consumers that find nothing:
	 * under load they sleep on the wake word for at most pacer.interval_ns
	 * instead of on the rx rings (a burst then wakes nobody) */
	_Atomic bool paced;
	struct engine_thread *thread;	/* the engine threads (nthreads of them:
					 * one, or one per queue), NULL if inline */
	uint32_t nthreads;
	bool rx_locks;		/* XSNAP_ENGINE_PER_QUEUE: queue.rx_lock is used */
	_Atomic int64_t pace_ns;	/* pacer.interval_ns, for inline sleepers */
	struct umem umem;
	struct xsk_umem *xumem;
	struct steer steer;
	struct queue q[XSNAP_MAX_QUEUES];
	uint32_t nq;
	struct tenant *tenants[XSNAP_MAX_TENANTS];
	uint32_t tenant_mask;	/* slots in use (engine reads it under its lock) */
	uint32_t private_mask;	/* slots of tenants with a private view (engine lock) */
	uint32_t share_mask;	/* slots of tenants with share-mode sockets: the engine
				 * computes flow hashes for them (engine lock) */
	struct view *views;	/* private views */
	struct tenant *dead;	/* deleted tenants whose sockets are still open */
	_Atomic bool reap;	/* a dead tenant may be freeable: ctx_reap() (tenant.c) */
	struct rule *rules;
	unsigned int nrules, rules_cap;
	uint32_t next_rule_id;
	_Atomic bool dead_if;	/* interface gone */
	int ifwatch;		/* rtnetlink socket for RTM_DELLINK (ifwatch.c), or -1 */
	struct client *cl;	/* connected to xsnapd (client.c), NULL in-process */
	const struct backend *be;	/* backend_local or backend_client */
};

enum {
	VIEW_LOG = 1 << 0,	/* a log entry the socket holds (seq-indexed) */
	VIEW_PRIVATE = 1 << 1,	/* owns one reference to a pool chunk */
	VIEW_SNAP = 1 << 2,	/* belongs to a snapshot */
	VIEW_TX_MARK = 1 << 3,	/* in the xsnap_send() call being checked (duplicates) */
};

struct xsnap_frame {
	const uint8_t *data;	/* in the read-only mapping */
	uint64_t seq;
	uint64_t rx_ns;
	uint64_t addr;
	uint32_t len;
	uint32_t version;
	uint32_t flags;		/* VIEW_* */
	uint32_t queue;		/* receive queue id; a fresh frame: the first queue's */
	uint32_t gen;		/* bumped when the view is filled and when it is let go */
};


/*
 * Handles.  What the API hands out for a frame is not the bare address of
 * its view: the view's generation rides in the address's top 16 bits, which
 * no user-space address on Linux uses (x86-64 and arm64 hand out addresses
 * above 2^47 only to a mapping that asks for them with a hint, and the views
 * are heap memory).  A view's generation moves on when it is filled and when
 * the socket lets the frame go (release, send), so a handle kept after that
 * no longer matches its view: every call that takes a handle from the user
 * compares the two and refuses a stale one instead of acting on whatever
 * frame reuses the view (a view is reused every quota frames).  A handle
 * stays detectably stale until its view has been reused 32 768 times (16
 * bits, two steps per use).
 * 32-bit builds have no spare bits: there, handles are bare addresses and a
 * stale one is caught only while its view is empty.
 */
#if UINTPTR_MAX > 0xffffffffu
#define HANDLE_GEN_SHIFT 48
#define HANDLE_ADDR_MASK ((UINT64_C(1) << HANDLE_GEN_SHIFT) - 1)
#define HANDLE_GEN_MASK 0xffffu
#else
#define HANDLE_GEN_SHIFT 0
#define HANDLE_ADDR_MASK UINTPTR_MAX
#define HANDLE_GEN_MASK 0u
#endif

/* The handle the user gets for view @f (its current generation). */
static inline struct xsnap_frame *handle_of(struct xsnap_frame *f)
{
	return (struct xsnap_frame *)((uintptr_t)f |
				      ((uintptr_t)(f->gen & HANDLE_GEN_MASK) << HANDLE_GEN_SHIFT));
}

/* The view a handle names, whether or not the handle is current. */
static inline struct xsnap_frame *handle_view(const struct xsnap_frame *h)
{
	return (struct xsnap_frame *)((uintptr_t)h & HANDLE_ADDR_MASK);
}

/* Does handle @h still name what its view holds? */
static inline bool handle_current(const struct xsnap_frame *h)
{
	return ((uintptr_t)h >> HANDLE_GEN_SHIFT & HANDLE_GEN_MASK) ==
	       (handle_view(h)->gen & HANDLE_GEN_MASK);
}

/* Let view @f go: every handle given out for it becomes stale. */
static inline void view_retire(struct xsnap_frame *f)
{
	f->gen++;
}

struct xsnap_sock {
	struct xsnap_ctx *ctx;
	struct tenant *t;
	const uint8_t *ro;	/* where its frames are read: its tenant's view */
	size_t ro_len;		/* client: the length of its own mapping of it */
	uint32_t mode;
	uint32_t group;
	uint64_t cursor;	/* next sequence number to look at */
	struct sock_ctl *ctl;	/* shared control page: low, share, waiting */
	int ctl_fd;		/* its memfd */
	struct xsnap_frame *views;	/* quota entries, indexed like the log */
	uint8_t *held;
	struct xsnap_frame *fresh;	/* pool_frames views for xsnap_frame_alloc() */
	uint32_t nfresh;	/* their number (a client's: the daemon's pool_frames) */
	int efd;		/* notify pipe, read end (consumer side) */
	int nfd;		/* notify pipe, write end, non-blocking: only the
				 * engine holds it (-1 in a client) */
	bool armed;		/* we set WAIT_FD for xsnap_fd() users */
	int epfd;		/* xsnap_fd(): efd (+ every queue's xsk fd in inline
				 * mode; + the daemon connection in a client) */
	uint32_t handle[2];	/* client: the daemon's handle (index, generation) */
	/* client: the tenant instance's pool, mapped writable; its chunks
	 * have UMEM addresses pool_base.. (also mapped read-only in ro) */
	uint8_t *pool_rw;
	size_t pool_len;
	uint64_t pool_base;
	uint64_t *stash;	/* pool chunks (frame addresses) leased and unused */
	uint32_t nstash;
	/* served by xsnapd (serve.c): per chunk of its tenant's pool, the
	 * fresh frame (index + 1) that holds its lease to the client, 0: none */
	uint16_t *lease_of;
	char ifname[IF_NAMESIZE];	/* client: the interface the daemon opened it
					 * on ("": the context's) */
};


struct xsnap_snap {
	struct xsnap_sock *sock;
	struct xsnap_snap *next;	/* in the tenant's list */
	uint64_t first, end;	/* pinned range [first, end) */
	uint64_t pos;		/* next to return */
	uint64_t stamp;		/* tenant commit stamp when taken */
	uint32_t remote_id;	/* client: the daemon's id of the snapshot */
	struct xsnap_frame *views;	/* end - first entries, filled as read */
};

/* audit.c: recount every chunk's holders (both locks held); the number of
 * inconsistencies (the first described in @why), or -ENOMEM */
int ctx_audit(struct xsnap_ctx *ctx, char *why, size_t len);

/*
 * Entries of a queue's transmit-owner FIFO.  A transmit is in flight from
 * xsnap_send() until its completion is read; the kernel takes a descriptor
 * off the TX ring only with a completion-ring slot reserved for it, so a
 * queue has at most its TX ring plus its completion ring in flight: two
 * rings, e.g. when a tenant added while a ring's worth waits for
 * completions queues its share on the emptied TX ring.  The sender also
 * never queues more than the FIFO has free (tx_queue_frames()), so an
 * owner is never overwritten whatever a driver does.
 */
static inline uint32_t tx_owner_cap(const struct xsnap_ctx *ctx)
{
	return 2 * ctx->ring_size;
}

/* ctx.c */
/* tenant_engine_stats() - add the engine's counters of @t to @st (what the
 * consumers report is added by the callers, each its own way); engine_lock
 * held. */
void tenant_engine_stats(const struct xsnap_ctx *ctx, const struct tenant *t,
			 struct xsnap_stats *st);
/* @frames: a multiple of @groups; queue i belongs to group i / (nq / groups);
 * @huge: enum xsnap_huge_mode of the receive region */
struct xsnap_ctx *ctx_new(uint32_t frames, uint32_t nq, uint32_t ring, uint32_t tenants,
			  uint32_t pool, uint32_t groups, uint32_t huge);
void ctx_free(struct xsnap_ctx *ctx);

/* tenant.c: the tenant lifecycle (its one locking rule is at its top) */
int tenant_shm_alloc(struct tenant *t);
void tenant_shm_free(struct tenant *t);
/* Free deleted tenants nothing uses any more, if the engine asked for it
 * (ctx->reap).  Takes ctx->lock and engine_lock: call it holding neither. */
void ctx_reap(struct xsnap_ctx *ctx);

/*
 * Backends.  Every public call that is not the receive data path has two
 * implementations: in-process (backend_local: the local_* functions of
 * ctx.c, tenant.c, sock.c, snap.c, frame.c and audit.c) and through xsnapd
 * (backend_client, client.c).  A context's ctx->be is set once, when it is
 * made; the public function checks its arguments (handles included) and
 * dispatches.  The receive path (log reads, release, the accessors) is the
 * same code for both.
 */
struct backend {
	void (*close)(struct xsnap_ctx *ctx);
	int (*tenant_add)(struct xsnap_ctx *ctx, const char *name,
			  const struct xsnap_tenant_opts *opts);
	int (*tenant_del)(struct xsnap_ctx *ctx, const char *name);
	int (*rule_add)(struct xsnap_ctx *ctx, const char *tenant, const char *match, int prio);
	int (*rule_del)(struct xsnap_ctx *ctx, int id);
	int (*stats)(struct xsnap_ctx *ctx, const char *tenant, struct xsnap_stats *st);
	int (*audit)(struct xsnap_ctx *ctx);
	struct xsnap_sock *(*socket)(struct xsnap_ctx *ctx, const char *tenant,
				     const struct xsnap_sock_opts *opts);
	void (*sock_close)(struct xsnap_sock *s);
	struct xsnap_snap *(*snapshot)(struct xsnap_sock *s, uint32_t frames, uint32_t last_ms,
				       uint64_t seq_first, uint64_t seq_last);
	void (*snap_close)(struct xsnap_snap *sn);
	/* @f: the view of a handle the socket holds (checked) */
	void *(*cow)(struct xsnap_sock *s, struct xsnap_frame *f);
	/* @f: a private version of a received frame (checked) */
	int (*commit)(struct xsnap_sock *s, struct xsnap_frame *f);
	struct xsnap_frame *(*alloc)(struct xsnap_sock *s, uint32_t len);
	/* @v: no stale handle among them (checked) */
	int (*send)(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n, int queue);
	/* a private version or fresh frame at @addr was released */
	void (*chunk_put)(struct xsnap_sock *s, uint64_t addr);
};
extern const struct backend backend_local, backend_client;

void local_close(struct xsnap_ctx *ctx);
int local_tenant_add(struct xsnap_ctx *ctx, const char *name,
		     const struct xsnap_tenant_opts *opts);
int local_tenant_del(struct xsnap_ctx *ctx, const char *name);
int local_rule_add(struct xsnap_ctx *ctx, const char *tenant, const char *match, int prio);
int local_rule_del(struct xsnap_ctx *ctx, int id);
int local_stats(struct xsnap_ctx *ctx, const char *tenant, struct xsnap_stats *st);
int local_audit(struct xsnap_ctx *ctx);
struct xsnap_sock *local_socket(struct xsnap_ctx *ctx, const char *tenant,
				const struct xsnap_sock_opts *opts);
void local_sock_close(struct xsnap_sock *s);
struct xsnap_snap *local_snapshot(struct xsnap_sock *s, uint32_t frames, uint32_t last_ms,
				  uint64_t seq_first, uint64_t seq_last);
void local_snap_close(struct xsnap_snap *sn);
void *local_cow(struct xsnap_sock *s, struct xsnap_frame *f);
int local_commit(struct xsnap_sock *s, struct xsnap_frame *f);
struct xsnap_frame *local_alloc(struct xsnap_sock *s, uint32_t len);
int local_send(struct xsnap_sock *s, struct xsnap_frame **v, unsigned int n, int queue);
void local_chunk_put(struct xsnap_sock *s, uint64_t addr);

/*
 * tenant_commit_locked() - publish the pool chunk of frame address @addr
 * (@len bytes), whose one reference the caller hands over, as the next
 * version of @seq in @t's log (engine_lock held).  Return: the new version,
 * or -ENOENT (@seq not in the log), -ENOSPC (too many old versions held).
 */
int tenant_commit_locked(struct xsnap_ctx *ctx, struct tenant *t, uint64_t seq, uint64_t addr,
			 uint32_t len);
/*
 * tenant_has_version() - is (@seq, @addr, @len) a version of a frame in
 * @t's log: the entry's current one, or one a commit superseded that a
 * reader may still hold?  (engine_lock held)
 */
bool tenant_has_version(const struct xsnap_ctx *ctx, const struct tenant *t, uint64_t seq,
			uint64_t addr, uint32_t len);
/*
 * sock_lend() - a fresh handle of @s for the received frame (@seq, @addr,
 * @len) of its tenant's log, to transmit it without a copy (engine_lock
 * held).  The handle owns a reference to the receive chunk, as an allocated
 * frame owns its pool chunk: xsnap_send() hands it to the transmit,
 * xsnap_release() drops it.  xsnapd lends a client's received frames to
 * itself this way, since the client's own handles live in the client.
 * Return: the handle, or NULL with errno EXDEV (not in the receive region,
 * or the tenant reads a private view: its bytes are a copy outside the
 * UMEM), ENOENT (no such version in the log), ENOBUFS (every fresh handle
 * of @s in use).
 */
struct xsnap_frame *sock_lend(struct xsnap_sock *s, uint64_t seq, uint64_t addr, uint32_t len);
/*
 * tenant_pool_fd() - the memory of @t's pool chunks for clients of xsnapd:
 * a sealed memfd of pool_frames chunks, made on first use and freed with
 * the tenant, so every tenant instance has its own (a later tenant in the
 * slot never shares it).  Clients map it writable; the chunk numbers and
 * their accounting are the slot's pool's.  Return: the descriptor or -errno.
 */
int tenant_pool_fd(struct xsnap_ctx *ctx, struct tenant *t);
/* umem_memfd() - a sealed memfd of @size bytes, inode 0600: fd or -errno. */
int umem_memfd(const char *name, uint64_t size);
/* umem_memfd_huge() - the same, a hugetlb file if @huge (@size then a
 * multiple of UMEM_HUGE_SIZE). */
int umem_memfd_huge(const char *name, uint64_t size, bool huge);

/* client.c: the receive path asks these of a connected context */
static inline bool ctx_remote(const struct xsnap_ctx *ctx)
{
	return ctx->cl != NULL;
}
bool client_conn_dead(struct xsnap_ctx *ctx);

struct tenant *ctx_tenant_find(struct xsnap_ctx *ctx, const char *name);

/* ifwatch.c */
/* ifwatch_open() - an rtnetlink socket on link events: fd or -errno. */
int ifwatch_open(void);
/* ifwatch_gone() - drain @fd: 1 if it reported @ifindex deleted, 0, -errno. */
int ifwatch_gone(int fd, int ifindex);

/* --- zero-copy: the driver's ability, the request, the outcome (zc.c) --- */
#define ZC_XDP_ACT_XSK_ZEROCOPY 8	/* NETDEV_XDP_ACT_XSK_ZEROCOPY (Linux 6.3) */
enum { ZC_SUPPORT_UNKNOWN = -1, ZC_SUPPORT_NO = 0, ZC_SUPPORT_YES = 1 };
/* enum zc_reason: xsnap_serve.h */
/* zc_query_features() - the XDP features of @ifindex from the kernel's
 * "netdev" genetlink family into *@features: 0, or -errno (-ENOENT: no such
 * family, Linux before 6.3). */
int zc_query_features(int ifindex, uint64_t *features);
/* zc_parse_family(), zc_parse_dev() - the two answers of that query (a
 * CTRL_CMD_GETFAMILY reply: the family id; a NETDEV_CMD_DEV_GET reply:
 * NETDEV_A_DEV_XDP_FEATURES): 0, the kernel's -errno, -ENOMSG (no answer)
 * or -EBADMSG (malformed). */
int zc_parse_family(const void *buf, size_t len, uint16_t *id);
int zc_parse_dev(const void *buf, size_t len, uint16_t family, uint64_t *features);
/* zc_support_of() - ZC_SUPPORT_* from the query's result. */
int zc_support_of(int query_err, uint64_t features);
/* zc_plan() - the bind flag (XDP_COPY or XDP_ZEROCOPY) for request @req
 * (enum xsnap_zc_mode) on a driver of @support; -EOPNOTSUPP when zero-copy
 * is required and the driver is known not to have it. */
int zc_plan(uint32_t req, int support, uint32_t *bind_flags);
/* zc_reason() - why a bound socket runs as it does: @refused when the
 * kernel refused XDP_ZEROCOPY (EOPNOTSUPP), @xdp_options its XDP_OPTIONS. */
enum zc_reason zc_reason(uint32_t req, int support, bool refused, uint32_t xdp_options);
/* ctx_if_dead() - the interface is gone (engine_lock held): every log
 * LOG_IF_DEAD, every sleeper woken; recv and send give -ENETDOWN. */
void ctx_if_dead(struct xsnap_ctx *ctx);
/* ctx_watch_if() - read the context's watch (engine_lock not held): true if
 * the interface is gone (now or before). */
bool ctx_watch_if(struct xsnap_ctx *ctx);

/* sock.c */
void sock_destroy_locked(struct xsnap_sock *s);
/* sock_view_kind() results */
enum {
	VIEW_NOT_OURS = 0,	/* not one of the socket's views, or NULL */
	VIEW_IS_LOG = 1,	/* a received frame the socket holds */
	VIEW_IS_FRESH = 2,	/* a private frame from xsnap_frame_alloc() */
	VIEW_STALE = -1,	/* the socket's view, but the handle is stale */
};
/* Which view does handle @h name (enum VIEW_IS_*, VIEW_NOT_OURS, VIEW_STALE);
 * *@idx is its index in s->views or s->fresh.  A handle to one of the
 * socket's views that no longer holds that frame (released, sent, or the
 * view refilled since) is stale.  Inline: xsnap_release() asks it for
 * every frame. */
static inline int sock_view_kind(const struct xsnap_sock *s, const struct xsnap_frame *h, size_t *idx)
{
	const struct xsnap_frame *f = handle_view(h);
	uintptr_t p = (uintptr_t)f, base = (uintptr_t)s->views;
	uintptr_t fb = (uintptr_t)s->fresh;

	if (!h)
		return VIEW_NOT_OURS;
	if (p >= base && p < base + s->t->quota * sizeof(*f) && !((p - base) % sizeof(*f))) {
		*idx = (p - base) / sizeof(*f);
		return s->held[*idx] && handle_current(h) ? VIEW_IS_LOG : VIEW_STALE;
	}
	if (p >= fb && p < fb + s->nfresh * sizeof(*f) && !((p - fb) % sizeof(*f))) {
		*idx = (p - fb) / sizeof(*f);
		return (f->flags & VIEW_PRIVATE) && handle_current(h) ? VIEW_IS_FRESH : VIEW_STALE;
	}
	return VIEW_NOT_OURS;
}

/* A fresh-frame slot of @s that holds nothing, or NULL (errno ENOBUFS). */
static inline struct xsnap_frame *sock_fresh_slot(struct xsnap_sock *s)
{
	for (uint32_t i = 0; i < s->nfresh; i++)
		if (!(s->fresh[i].flags & VIEW_PRIVATE))
			return &s->fresh[i];
	errno = ENOBUFS;
	return NULL;
}
int sock_handle_err(const struct xsnap_sock *s, int kind, const char *call);
void advance_low(struct xsnap_sock *s);

/* engine.c (all with engine_lock held, except the thread functions) */
int engine_poll(struct xsnap_ctx *ctx);
/*
 * engine_poll_quiet() - engine_poll() that wakes nobody: the logs' heads
 * are published and the fill rings stocked, the tenants whose logs got
 * entries are added to *@quiet for a later engine_wake() (a paced engine
 * thread's naps).  Return: frames moved.
 */
int engine_poll_quiet(struct xsnap_ctx *ctx, uint32_t *quiet);
/* engine_wake() - tenant_wake() each live tenant in @tenants. */
void engine_wake(struct xsnap_ctx *ctx, uint32_t tenants);
/*
 * cpu_stat_read() - CPU @cpu's idle (idle + iowait) and total jiffies from
 * @fd, open on /proc/stat at its start, without allocating and whatever
 * the number of CPUs (the engine thread's naps: cpu_mostly_idle()).
 * Return: 0, -ENOENT (no such line), -EINVAL (a line it cannot parse).
 */
int cpu_stat_read(int fd, int cpu, uint64_t *idle, uint64_t *total);
/*
 * engine_run() - one engine run: engine_poll() until the rx rings are
 * drained (bounded by the ring size, so control operations get the lock),
 * fed to the context's pacer.  Return: frames moved; *@changed tells that
 * the paced state flipped.
 */
unsigned int engine_run(struct xsnap_ctx *ctx, bool *changed);
/*
 * engine_help() - a consumer's engine run in thread mode (engine_lock
 * held): xsnap_recv() caught up while the engine thread sleeps.  Under
 * load (ctx->help_quiet: the context's one engine thread is paced, so it
 * runs again within an interval) a quiet run: the rx rings into the logs,
 * published, nobody woken (that next run wakes the tenants it touched);
 * else engine_run().  Return: frames moved.
 */
unsigned int engine_help(struct xsnap_ctx *ctx);
/* tenant_wake() - the tenant's log or state changed: bump the wake word,
 * one FUTEX_WAKE if a socket sleeps on it, one notify byte per armed
 * xsnap_fd().  Never blocks. */
void tenant_wake(struct tenant *t);
/* tenant_wake_all() - the log's state changed (LOG_*): wake every sleeper
 * and write every socket's notify pipe, armed or not.  Never blocks. */
void tenant_wake_all(struct tenant *t);
/* The engine threads of a context (ctx->engine_lock NOT held): start them
 * (0 or -errno): one for every queue (XSNAP_ENGINE_THREAD), or with
 * @per_queue one per queue (XSNAP_ENGINE_PER_QUEUE: thread k pinned to the
 * k-th CPU of @cpus, round robin, if @cpus is not 0); and stop and join
 * them. */
int engine_thread_start(struct xsnap_ctx *ctx, uint64_t cpus, uint32_t prio, bool per_queue);
void engine_thread_stop(struct xsnap_ctx *ctx);
/* Nudge the engine threads (a control change they should see now). */
void engine_thread_kick(struct xsnap_ctx *ctx);
/* Take (in queue order) and give back every queue's rx lock, before
 * engine_lock: nothing is between a queue's rx ring and the logs meanwhile
 * (engine_drain()).  No-ops unless XSNAP_ENGINE_PER_QUEUE. */
void engine_rx_lock_all(struct xsnap_ctx *ctx);
void engine_rx_unlock_all(struct xsnap_ctx *ctx);
/*
 * engine_drain() - move every frame the rx rings hold now (engine_rx_lock_all()
 * and engine_lock held).  The slot barrier of xsnap_tenant_del(): after the rule flip
 * that retired a slot, steer_apply() waited for an RCU grace period, so
 * every program run that could still tag a frame with the slot's bit has
 * ended, and with it the NAPI poll that flushed its redirects to the ring
 * (the kernel flushes before it leaves the poll).  So every such frame is
 * before the producer index read here; once the engine has consumed past
 * it, none is left anywhere the engine looks, and the slot may go to a
 * new tenant.  Bounded by what the rings held at the start.
 */
void engine_drain(struct xsnap_ctx *ctx);
/*
 * engine_impl_switch() - bare frames from now on stand for @mask and
 * @rule_id (0, 0: there will be none): struct steer's impl_switch, @arg the
 * context, ctx->lock held.  Called after the wait for the old rule set's
 * readers: every frame it sent bare is before each rx ring's producer
 * index read here, so that index is where the new outcome begins.  0, or
 * -ENOSPC when a queue's engine is still IMPL_SWITCHES switches behind.
 */
int engine_impl_switch(void *arg, uint32_t mask, uint32_t rule_id);
void engine_refill(struct xsnap_ctx *ctx);
void engine_reclaim(struct xsnap_ctx *ctx, struct tenant *t);
void engine_evict(struct xsnap_ctx *ctx, struct tenant *t, uint64_t upto);
uint64_t engine_horizon(const struct tenant *t);
void engine_complete(struct xsnap_ctx *ctx);
/* Free a deleted tenant once nothing uses it: ctx->lock and engine_lock held. */
void tenant_free_locked(struct xsnap_ctx *ctx, struct tenant *t);

/* Read a log entry consistently against a concurrent commit. */
static inline void log_read(const struct log_ent *e, struct log_ent *out)
{
	uint32_t a, b;

	do {
		a = atomic_load_explicit(&((struct log_ent *)e)->sc, memory_order_acquire);
		out->seq = e->seq;
		out->rx_ns = e->rx_ns;
		out->addr = e->addr;
		out->len = e->len;
		out->version = e->version;
		out->flow_hash = e->flow_hash;
		out->stamp = e->stamp;
		out->queue = e->queue;
		atomic_thread_fence(memory_order_acquire);
		b = atomic_load_explicit(&((struct log_ent *)e)->sc, memory_order_relaxed);
	} while (a != b || (a & 1));
}

#endif /* XSNAP_INTERNAL_H */
