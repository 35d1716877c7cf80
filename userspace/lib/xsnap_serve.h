/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xsnap_serve.h - what the library offers xsnapd beyond xsnap.h.
 *
 * xsnapd runs in-process contexts and serves their sockets to client
 * processes: it hands a client the memory of a socket, runs the engine
 * from its own event loop, leases pool chunks, commits and transmits on a
 * client's behalf, and reports figures.  Those are the calls here; the
 * library's state (contexts, tenants, sockets, the UMEM) stays opaque to
 * the daemon, which never includes xsnap_internal.h.  Every call takes the
 * library's locks it needs itself (none is held by the caller), so the
 * daemon keeps no locking rule of the library's.
 *
 * Frame addresses are the UMEM's (the receive region, then one pool per
 * tenant slot), as in log entries and in what clients see.
 */
#ifndef XSNAP_SERVE_H
#define XSNAP_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#define FRAME_SHIFT	12
#define FRAME_SIZE	(1u << FRAME_SHIFT)
#define FRAME_HEADROOM	256	/* XDP_PACKET_HEADROOM: where received data starts in a chunk */
#define FRAME_MAX_LEN	(FRAME_SIZE - FRAME_HEADROOM)	/* a frame's bytes at most */
#define TENANT_NAME_MAX	32

/* tenant_name_ok() - 1..TENANT_NAME_MAX-1 characters of A-Z a-z 0-9 _ . -
 * (names appear in logs, JSON, Prometheus labels and pin paths). */
bool tenant_name_ok(const char *name);

/* --- a context, run from the daemon's loop ---------------------------------- */

/* How a context is attached, as the kernel reports it when asked. */
struct serve_attach {
	uint32_t link_id;	/* our bpf_link, 0: none */
	uint32_t kind;		/* how our program is attached now: enum xp_attach_kind */
	uint32_t prog_id;	/* our program */
	uint32_t if_prog_id;	/* the program the interface runs (0: none) ... */
	char if_prog_name[16];	/* ... its name */
	uint32_t if_mode;	/* ... and how: enum xsnap_xdp_mode, or 0 */
};

/* serve_attach_info() - ask the kernel how @ctx is attached. 0 or -errno. */
int serve_attach_info(struct xsnap_ctx *ctx, struct serve_attach *a);

/* Why a queue runs zero-copy or copy mode (zc.c). */
enum zc_reason {
	ZC_ZEROCOPY,		/* it runs zero-copy */
	ZC_NOT_REQUESTED,	/* zerocopy off */
	ZC_NO_DRIVER,		/* the driver's XDP features lack it, or the bind was refused */
	ZC_UNKNOWN,		/* copy mode for no reason the kernel gave */
};

/* What the daemon shows and polls of a context (serve_if_info()). */
struct serve_if_info {
	int ifindex;
	int watch_fd;		/* rtnetlink watch of the device (serve_if_gone()) */
	uint32_t xdp_mode;	/* enum xsnap_xdp_mode in effect */
	uint32_t nframes;	/* receive-region chunks */
	uint32_t nchunks;	/* all chunks: region and pools */
	uint32_t ngroups;	/* queue groups */
	bool xdp_stamp;		/* the XDP program stamps receive times */
	bool huge;		/* the receive region is on hugetlb pages */
	/* the classifier of the live rule set: its specialised program's keys
	 * (0: the general classifier serves it), and whether rule sets can
	 * get such a program at all (false: the kernel refused one, or the
	 * attachment cannot have them) */
	uint32_t spec_keys;
	bool spec_on;
	const char *pin_dir;	/* "" when nothing is pinned */
	uint32_t nq;
	struct {
		int fd;		/* AF_XDP socket: readable when frames wait */
		uint32_t id;	/* queue id */
		uint32_t group;	/* queue group, 0-based */
		bool zerocopy;
		uint8_t zc_reason;	/* why zero-copy or not: enum zc_reason */
	} q[XSNAP_MAX_QUEUES];
};

/* serve_if_info() - fill @in from @ctx (a context of xsnap_open()). */
void serve_if_info(struct xsnap_ctx *ctx, struct serve_if_info *in);

/*
 * serve_engine_run() - one engine run on @ctx (XSNAP_ENGINE_INLINE): move
 * what the rx rings hold, bounded, and free what is no longer used.
 * *@changed tells that the pacer's state flipped (serve_paced()).
 * Return: frames moved.
 */
unsigned int serve_engine_run(struct xsnap_ctx *ctx, bool *changed);

/* serve_paced() - under load the engine is paced: the rx rings should not
 * wake the loop, which runs the engine at serve_next_ns() instead. */
bool serve_paced(struct xsnap_ctx *ctx);
/* serve_next_ns() - when a paced engine runs next (CLOCK_MONOTONIC ns). */
int64_t serve_next_ns(struct xsnap_ctx *ctx);

/* serve_if_gone() - read the context's device watch: true if its device
 * is gone (now or before).  Then serve_if_dead() it. */
bool serve_if_gone(struct xsnap_ctx *ctx);
/* serve_if_dead() - the device is gone: every log says so, every sleeper
 * is woken, receive and send return -ENETDOWN.  Never blocks. */
void serve_if_dead(struct xsnap_ctx *ctx);

/*
 * serve_audit() - recount every chunk's holders.  Return: the number of
 * inconsistencies (the first described in @why), or -ENOMEM.
 */
int serve_audit(struct xsnap_ctx *ctx, char *why, size_t len);

/* --- tenants --------------------------------------------------------------- */

/*
 * serve_tenant_revoke() - mark tenant @name's log revoked and wake its
 * sleepers: its consumers' next call fails with -ENOENT.  Never blocks.
 * Return: true if @ctx has the tenant.
 */
bool serve_tenant_revoke(struct xsnap_ctx *ctx, const char *name);

/*
 * serve_tenant_figures() - add tenant @name's counters to @st: the
 * engine's (rx, drops, versions, transmits, pool, view), what its
 * consumers report in their control pages (saturating: a client writes
 * them), and the XDP program's count of its frames.  delivered is left to
 * the daemon.  Return: 0, or -ENOENT.
 */
int serve_tenant_figures(struct xsnap_ctx *ctx, const char *name, struct xsnap_stats *st);

/* serve_if_figures() - add @ctx's context-wide counters to @st: where the
 * receive frames are, zero-copy and XDP mode, the kernel's XDP_STATISTICS
 * and the XDP program's reason counters. */
void serve_if_figures(struct xsnap_ctx *ctx, struct xsnap_stats *st);

/* --- served sockets ---------------------------------------------------------- */

/* What a client maps of a socket, and where (serve_sock_export()). */
struct serve_export {
	uint32_t slot, quota;	/* its tenant's slot and log length */
	uint32_t nframes, pool_frames, npools;	/* the UMEM's layout */
	uint32_t region_first, region_frames;	/* the chunks of its view it sees */
	uint64_t cursor;	/* where the socket starts reading */
	uint64_t log_len;	/* bytes of the log's memfd */
	int rx_fd;		/* its view, read-only (new: the caller closes it) */
	int log_fd;		/* its tenant's log, read-only (new: the caller closes it) */
	int ctl_fd;		/* its control page (the socket's) */
	int event_fd;		/* its notify pipe's read end (the socket's) */
	int pool_fd;		/* its tenant instance's pool (the tenant's) */
};

/*
 * serve_sock_export() - what a client needs to use socket @s: its view
 * (the tenant's private region, or the receive region, only its queue
 * group's part of it when the queues are split), its tenant's log, its
 * control page and notify pipe, its tenant instance's pool.
 * Return: 0, or -errno (nothing left open).
 */
int serve_sock_export(struct xsnap_sock *s, struct serve_export *e);

/* serve_sock_tenant() - the name of @s's tenant. */
const char *serve_sock_tenant(const struct xsnap_sock *s);
/* serve_sock_share() - true if @s is in share mode; *@group its group. */
bool serve_sock_share(const struct xsnap_sock *s, uint32_t *group);
/* serve_sock_cursor() - the next sequence number @s looks at. */
uint64_t serve_sock_cursor(const struct xsnap_sock *s);
/* serve_sock_low() - @s's release watermark as its consumer published it,
 * clipped to its tenant's log head. */
uint64_t serve_sock_low(struct xsnap_sock *s);
/* serve_sock_bad() - count @n bad releases or requests against @s. */
void serve_sock_bad(struct xsnap_sock *s, uint32_t n);
/* serve_snap_range() - the range [*@first, *@end) of its tenant's log that
 * snapshot @sn pins (a client reads those entries itself). */
void serve_snap_range(const struct xsnap_snap *sn, uint64_t *first, uint64_t *end);

/*
 * serve_lease() - lease up to @want chunks of its tenant's pool to @s's
 * client, as long as the tenant's chunks in use (leased, in versions, in
 * flight) stay below @cap; their frame addresses into @out.  A lease is a
 * fresh frame of @s, so closing @s releases it.  Completed transmits are
 * reaped first (their chunks are free again).  Return: how many.
 */
uint32_t serve_lease(struct xsnap_sock *s, uint32_t cap, uint32_t want, uint64_t *out);

/* serve_unlease() - the client gives back the chunk at @addr.
 * Return: 0, or -EINVAL (not leased to @s). */
int serve_unlease(struct xsnap_sock *s, uint64_t addr);

/*
 * serve_commit() - the chunk leased at @addr (@len bytes, 14..FRAME_MAX_LEN)
 * becomes the next version of frame @seq of the tenant's log; the lease
 * ends.  Return: the version, or -EINVAL (not leased to @s), -ENOENT (@seq
 * not in the log), -ENOSPC (too many old versions held).
 */
int serve_commit(struct xsnap_sock *s, uint64_t seq, uint64_t addr, uint32_t len);

/* A frame a client asks to send: a version of a frame of its tenant's log
 * (@seq), or a chunk leased to it (@seq 0). */
struct serve_desc {
	uint64_t seq, addr;
	uint32_t len;
};

/* serve_send()'s account of a batch. */
struct serve_send_res {
	uint32_t bad;		/* -EINVAL: the index of the bad descriptor;
				 * -EPERM: the first refused one */
	const char *why;	/* -EINVAL: what is wrong with it */
	uint32_t refused;	/* -EPERM: frames @allow refused */
	uint32_t copies;	/* queued frames that were copied first */
};

/* A transmit policy: may @frame (@len bytes) go out? */
typedef bool serve_allow_fn(const void *arg, const uint8_t *frame, uint32_t len);

/*
 * serve_send() - transmit @n (<= 64) frames for @s's client on queue
 * @queue (-1: each frame's own).  Each descriptor must name a version of a
 * frame of the tenant's log (received or committed, current or still
 * held) or a chunk leased to @s; no duplicates; 14..FRAME_MAX_LEN bytes
 * within one chunk.  What goes out are bytes no client can write, judged by
 * @allow (NULL: anything): a received frame of the shared view as it is (a
 * handle lent to @s holds its chunk); a leased chunk's bytes, from the
 * client's pool memory, copied into the UMEM chunk behind the lease; a
 * committed version or a private view's frame copied into a fresh chunk.
 * All or nothing on bad input or a refusal; what the rings do not take
 * stays the client's; a leased chunk that was queued is leased no more.
 * Return: frames queued, or -EINVAL / -EPERM (see @res), or the -errno of
 * xsnap_send().
 */
int serve_send(struct xsnap_sock *s, const struct serve_desc *d, uint32_t n, int queue,
	       serve_allow_fn *allow, const void *arg, struct serve_send_res *res);

#endif
