/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libxsnap: several consumers sharing one NIC queue through an AF_XDP UMEM
 * managed as a snapshot store.
 *
 * Conventions (stated once, true for every function below):
 *  - Functions returning int return >= 0 on success (0 or a count) and a
 *    negative errno on failure; errno is set as well.
 *  - Constructors return NULL and set errno on failure.
 *  - Burst calls (xsnap_recv) return how many frames they handled; 0 means
 *    "none within the timeout", not an error.
 *  - A failed call leaves its object as it was: nothing leaked, no frame or
 *    reference held.
 *  - The library never exits or aborts, and prints only through the print
 *    callback (xsnap_set_print); by default warnings go to stderr.
 *  - Option structs start with `size_t sz`; declare them with XSNAP_OPTS().
 *    Unknown non-zero trailing bytes (options from a newer header) are
 *    refused with EINVAL.
 *  - Thread safety: a context may be used from several threads.  A socket
 *    (struct xsnap_sock) and the frames it received belong to one thread at a
 *    time; different sockets may be used concurrently.
 */
#ifndef XSNAP_XSNAP_H
#define XSNAP_XSNAP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef XSNAP_API
#define XSNAP_API __attribute__((visibility("default")))
#endif

#define XSNAP_VERSION_MAJOR 0
#define XSNAP_VERSION_MINOR 2

struct xsnap_ctx;
struct xsnap_sock;
struct xsnap_frame;

/**
 * XSNAP_OPTS() - declare an option struct of @TYPE named @NAME, zero-filled,
 * with its sz member set, and any members given as designated initialisers.
 */
#define XSNAP_OPTS(TYPE, NAME, ...) struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }

enum xsnap_print_level {
	XSNAP_WARN,
	XSNAP_INFO,
	XSNAP_DEBUG,
};

typedef int (*xsnap_print_fn_t)(enum xsnap_print_level level, const char *fmt, va_list ap);

/**
 * xsnap_set_print() - route the library's messages.
 * @fn: new callback, or NULL to silence the library.
 *
 * Return: the previous callback.  The default prints WARN and INFO to stderr
 * (DEBUG when XSNAP_DEBUG is set in the environment).  Not thread-safe
 * against concurrent calls of itself.
 */
XSNAP_API xsnap_print_fn_t xsnap_set_print(xsnap_print_fn_t fn);

enum xsnap_xdp_mode {
	XSNAP_MODE_AUTO = 0,	/* native, falling back to generic (reported) */
	XSNAP_MODE_NATIVE,	/* driver mode or fail */
	XSNAP_MODE_SKB,		/* generic mode */
};

enum xsnap_zc_mode {
	XSNAP_ZC_AUTO = 0,	/* zero-copy when the driver has it, else copy (reported) */
	XSNAP_ZC_ON,		/* zero-copy or fail with EOPNOTSUPP */
	XSNAP_ZC_OFF,		/* copy mode */
};

/* What memory backs the receive region (xsnap_opts.hugepages). */
enum xsnap_huge_mode {
	XSNAP_HUGE_AUTO = 0,	/* 2 MiB hugetlb pages when the system has enough
				 * free (vm.nr_hugepages) and each queue group's
				 * part of the region is a multiple of 2 MiB (512
				 * frames), else normal pages (reported) */
	XSNAP_HUGE_ON,		/* hugetlb pages or fail with ENOMEM */
	XSNAP_HUGE_OFF,		/* normal pages */
};

enum xsnap_engine_mode {
	XSNAP_ENGINE_THREAD = 0,	/* the context's own engine thread (default) */
	XSNAP_ENGINE_INLINE,		/* no thread: the engine runs inside the
					 * callers of xsnap_recv() */
	XSNAP_ENGINE_PER_QUEUE,		/* one engine thread per queue ("xsnap-eng-qN"),
					 * thread k on the k-th CPU of engine_cpus
					 * (round robin): each takes its queue's frames
					 * off the rx ring without waiting for the other
					 * queues, and holds the shared lock only to log
					 * them (for many queues on many CPUs) */
};

/* Who stamps a received frame with its receive time (xsnap_frame_time_ns()). */
enum xsnap_stamp_mode {
	XSNAP_STAMP_ENGINE = 0,	/* the engine, once per batch it takes from a queue's
				 * rx ring (default): the time the frame became
				 * visible to consumers, within a batch's span */
	XSNAP_STAMP_XDP,	/* the XDP program, per frame, when it classifies the
				 * frame (bpf_ktime_get_ns()): exact, at the cost of a
				 * clock read per frame on the CPU that runs the NIC's
				 * receive processing (20-30 ns on a VM's kvm-clock) */
};

/* Options of xsnap_open(). */
struct xsnap_opts {
	size_t sz;
	uint32_t queue;		/* first queue id to open (default 0) */
	uint32_t nqueues;	/* number of queues from @queue (default 1) */
	uint32_t frames;	/* receive-region frames: more than the fill and rx
				 * rings of every queue hold (default: those rings
				 * plus 4096, at least 8192) */
	uint32_t ring_size;	/* fill/rx/tx/completion ring entries (default 1024;
				 * beyond 4 queues about 4096 over all queues, at
				 * least 128 each: 256 for 16 queues, 128 for 64) */
	uint32_t mode;		/* enum xsnap_xdp_mode */
	uint32_t zerocopy;	/* enum xsnap_zc_mode */
	uint32_t max_tenants;	/* tenant slots (default 8, at most 32) */
	uint32_t pool_frames;	/* private pool frames per tenant slot (default 64) */
	const char *pin_root;	/* bpffs directory for pins (default /sys/fs/bpf/xsnap);
				 * maps are pinned under PIN_ROOT/IFNAME */
	uint32_t engine;	/* enum xsnap_engine_mode */
	uint32_t engine_prio;	/* 1..99: run the engine thread SCHED_FIFO at this
				 * priority (needs CAP_SYS_NICE; refused: a warning,
				 * normal scheduling); 0: normal scheduling */
	uint64_t engine_cpus;	/* CPUs the engine thread may run on (bit N: CPU N);
				 * 0: wherever the scheduler puts it */
	uint32_t timestamps;	/* enum xsnap_stamp_mode (default XSNAP_STAMP_ENGINE) */
	uint32_t queue_groups;	/* split the queues into this many groups of equal
				 * size (a divisor of nqueues; default 1), each with
				 * a receive region of its own (frames / groups,
				 * rounded down): a tenant pinned to a group
				 * (xsnap_tenant_opts.queue_group) holds only
				 * frames of its group's queues, and a process
				 * given only that part of the region (xsnapd)
				 * can read nothing else */
	uint32_t multiprog;	/* 1: attach through libxdp: in its multi-program
				 * dispatcher where the kernel has freplace, so other
				 * programs attached through libxdp keep running (ours
				 * at libxdp's default priority, 50, passing on what
				 * it returns XDP_PASS for); else alone, as libxdp
				 * falls back to.  Either way the attachment is not a
				 * bpf_link of the process: it outlives a process that
				 * dies (the program then passes every frame: no
				 * socket is left) until the next attach of the
				 * interface removes it (a live owner's is not
				 * removed: EBUSY).  0 (default): a bpf_link,
				 * refused next to any other XDP program. */
	uint32_t hugepages;	/* enum xsnap_huge_mode (default XSNAP_HUGE_AUTO).
				 * One TLB entry then covers 512 frames: every
				 * process that reads frames (the engine and each
				 * consumer process, with its own page tables)
				 * otherwise takes a TLB miss per frame.  The pages
				 * come from the reserved pool (vm.nr_hugepages),
				 * are never swapped and are returned at close. */
};

/**
 * xsnap_open() - attach xsnap to @ifname and run the engine in this process.
 * @ifname: interface name.
 * @opts: options, or NULL for defaults.
 *
 * Loads the embedded XDP program, creates the UMEM (memfds mapped read-write
 * for the kernel and read-only for consumers), one AF_XDP socket per queue,
 * pins the maps under the pin root, and attaches the program through a
 * bpf_link owned by the context (if the process dies, the kernel detaches it).
 *
 * The engine (which moves received frames into the tenants' logs, wakes
 * consumers and restocks the fill rings) runs on a thread of the context
 * (named "xsnap-engine"; pin it with @opts->engine_cpus), so frames flow
 * whatever the consumers do.  Under load (200 000 frames/s or more) it no
 * longer wakes per burst of the kernel's but runs every 0.1..1 ms, as long
 * as half the rx ring or half the smallest quota takes to fill, and wakes
 * all sleeping consumers of a tenant with one futex wake-up per run.  When
 * the NIC's receive processing shares a CPU with the engine (threaded NAPI,
 * or softirqs on that CPU), a real-time engine (@opts->engine_prio) keeps
 * the fill ring stocked while that processing runs.  With
 * @opts->engine XSNAP_ENGINE_INLINE no thread is created and the engine
 * runs inside the callers of xsnap_recv(): for single-threaded programs
 * that receive all the time (frames wait in the rx ring while nobody
 * receives).
 *
 * Return: a context, or NULL with errno: ENODEV (no such interface), EINVAL
 * (bad option, queue out of range; the message names the valid range),
 * EBUSY (another XDP program is attached; the message names it), ENOENT
 * (bpffs not mounted at the pin root), EOPNOTSUPP (native mode or zero-copy
 * demanded but unavailable), EPERM (missing privileges), ENOBUFS (memlock
 * limit too low), ENOMEM.
 */
XSNAP_API struct xsnap_ctx *xsnap_open(const char *ifname, const struct xsnap_opts *opts);

/**
 * xsnap_connect() - a context served by the xsnap daemon (xsnapd).
 * @path: the daemon's Unix socket; NULL means $XSNAP_SOCKET, else
 *        /run/xsnap/xsnapd.sock.
 *
 * The daemon owns the interface and runs the engine; the process needs no
 * capabilities, only access to the socket and a uid/gid the tenant allows.
 * Sockets of a connected context behave like in-process ones for
 * xsnap_socket, xsnap_recv, xsnap_recvfrom, xsnap_release, xsnap_fd,
 * xsnap_sock_close and the frame accessors: frames are zero-copy views of the
 * tenant's view (its private region, or the receive region for a tenant the
 * operator put on the shared view), which the process can only map
 * read-only.  Sockets open on the interface the daemon attached first, or
 * on $XSNAP_IFACE (read when the socket is opened: one context may hold
 * sockets of several interfaces).  xsnap_tenant_add, xsnap_tenant_del,
 * xsnap_rule_add, xsnap_rule_del and xsnap_stats are sent to the daemon
 * (control operations need root or the daemon's admin group).
 * xsnap_snapshot works too (the daemon pins the range; xsnap_snap_next
 * reads the shared log).  So do xsnap_frame_cow, xsnap_frame_alloc and
 * xsnap_frame_commit: private versions live in the tenant instance's own
 * pool, which only the tenant's processes map, writable; chunks are leased
 * from the daemon in batches of 32 and reused by the socket (no request per
 * copy),
 * a commit is one request, and the tenant's --pool caps what it holds.
 * xsnap_send is one request per batch of up to 64 frames: the daemon
 * copies each frame once into memory no client can write, checks it
 * against the tenant's transmit rules (xsnapctl tenant add --tx-allow;
 * -EPERM, nothing sent, counted in xsnap_stats.tx_refused) and queues it
 * with the tenant's fair share of the TX ring.
 * When the daemon goes away, xsnap_recv fails with -ECONNRESET; when the
 * interface goes away, with -ENETDOWN.
 *
 * Return: a context (close it with xsnap_close), or NULL with errno ENOENT or
 * ECONNREFUSED (daemon not running), EACCES (no access to the socket),
 * EPROTONOSUPPORT (daemon speaks another protocol version), ENOMEM.
 */
XSNAP_API struct xsnap_ctx *xsnap_connect(const char *path);

/**
 * xsnap_close() - detach and free everything the context owns.
 * @ctx: context, or NULL.
 *
 * Sockets still open are closed first (their frames are released).  After
 * it returns, no XDP program, map, pin, link or socket of the context is left.
 */
XSNAP_API void xsnap_close(struct xsnap_ctx *ctx);

/* Options of xsnap_tenant_add(). */
struct xsnap_tenant_opts {
	size_t sz;
	uint32_t quota;		/* log capacity in frames: a power of two; 0 means the
				 * default, 1024 */
	uint32_t queue_group;	/* 1..xsnap_opts.queue_groups: receive only frames
				 * of that group's queues; 0: of every queue */
	const char *view;	/* where its consumers read frames: NULL or
				 * XSNAP_VIEW_SHARED, the receive region (zero-copy:
				 * every tenant of the shared view can read every
				 * frame of the queue); XSNAP_VIEW_PRIVATE, a
				 * private view of its own; any other name, the
				 * private view of that name, created with its first
				 * tenant (a group of tenants that may read each
				 * other's frames).  A private view gets a copy of
				 * each of its tenants' frames, once for all of
				 * them, and its consumers can read nothing else. */
};

#define XSNAP_VIEW_SHARED "shared"
#define XSNAP_VIEW_PRIVATE "private"

/**
 * xsnap_tenant_add() - create a tenant.
 * @ctx: context.
 * @name: 1..31 characters of [A-Za-z0-9_.-].
 * @opts: options, or NULL for defaults.
 *
 * A tenant pinned to a queue group (@opts->queue_group) is tagged and logged
 * only for frames of that group's queues, and its frames sit in that group's
 * part of the receive region.
 *
 * Return: the tenant's slot (>= 0), or -EEXIST (name taken), -EINVAL (bad
 * name or quota: zero, not a power of two; a queue group the context does
 * not have), -ENOSPC (no free slot, or the quota does not fit beside the
 * other tenants' quotas and the fill reserve: with queue groups, in each
 * group it may use, beside the quotas of the tenants pinned to that group
 * and of every unpinned tenant).
 */
XSNAP_API int xsnap_tenant_add(struct xsnap_ctx *ctx, const char *name,
			       const struct xsnap_tenant_opts *opts);

/**
 * xsnap_tenant_del() - delete a tenant.
 * @ctx: context.
 * @name: tenant name.
 *
 * When it returns, the tenant's rules are gone and no new frame is logged for
 * it, and every frame the XDP program had tagged for it has left the rx
 * rings: a tenant added afterwards, which may take the same slot, never
 * receives one of them.  Its open sockets first receive what was already logged, then
 * xsnap_recv() fails with -ENOENT; close them.  Its frames, snapshots and
 * pool are reclaimed when its last socket closes.
 *
 * Return: 0, or -ENOENT (no such tenant).
 */
XSNAP_API int xsnap_tenant_del(struct xsnap_ctx *ctx, const char *name);

/**
 * xsnap_rule_add() - add a steering rule.
 * @ctx: context.
 * @tenant: tenant that receives matching frames (deliver rules); for drop
 *          and pass rules the tenant that owns the rule.
 * @match: filter, e.g. "udp dst port 9000 and ip dst 10.0.0.0/8".  Terms:
 *         udp|tcp|icmp|icmp6, src|dst port N[-M], ip src|dst A.B.C.D[/LEN],
 *         ip6 src|dst X::Y[/LEN], vlan N, joined by "and".  A trailing
 *         "action drop" or "action pass" makes a drop or pass rule.
 * @prio: priority, lower first (0..65535).
 *
 * The new rule set is applied atomically: a frame sees either the old or the
 * new set, never a mix.  A frame matching several deliver rules goes to the
 * union of their tenants; drop/pass rules win over deliver rules of worse
 * (higher) prio and ties.  A first fragment is matched by its ports (also
 * one too short for its whole UDP/TCP header); later fragments and frames
 * whose UDP/TCP header cannot be read match only rules without port terms;
 * an IPv6 frame whose extension chain is not followed to its end (more
 * than 6 headers, or cut by a first fragment) matches rules without
 * protocol or port terms, and drop rules whose other terms match (so a
 * drop rule cannot be bypassed).  Malformed frames and non-IP frames match
 * no rule.
 *
 * "vlan N" matches the outermost tag of the frame as XDP sees it (802.1Q or
 * 802.1ad; an untagged frame matches no vlan term, "vlan 0" a priority
 * tag); rules without a vlan term match tagged and untagged frames alike.
 * A device with receive VLAN offload on takes the outer tag out of the
 * frame before XDP sees it, so vlan rules are refused while it is on
 * (EOPNOTSUPP, the message names the ethtool command that turns it off;
 * xsnap_open() says so at attach and changes nothing on the device).
 *
 * Return: the rule id (> 0), or -ENOENT (unknown tenant), -EINVAL (malformed
 * match; the message names the offending word), -ENOSPC (too many rules,
 * distinct rule shapes, or map keys: a port range takes one key per port
 * class it covers), -EOPNOTSUPP (a vlan rule while the interface's receive
 * VLAN offload is on).
 */
XSNAP_API int xsnap_rule_add(struct xsnap_ctx *ctx, const char *tenant, const char *match,
			     int prio);

/**
 * xsnap_rule_del() - remove a rule by id.
 *
 * Return: 0, or -ENOENT.  When it returns, no frame is classified with the
 * rule any more.
 */
XSNAP_API int xsnap_rule_del(struct xsnap_ctx *ctx, int rule_id);

enum xsnap_sock_mode {
	XSNAP_FANOUT = 0,	/* every socket of the tenant sees every frame */
	XSNAP_SHARE,		/* sockets of one group split frames by flow hash */
};

/* Options of xsnap_socket(). */
struct xsnap_sock_opts {
	size_t sz;
	uint32_t mode;		/* enum xsnap_sock_mode */
	uint32_t group;		/* share-mode group id (sockets with the same id split) */
};

/**
 * xsnap_socket() - open a consumer socket on a tenant.
 * @ctx: context.
 * @tenant: tenant name.
 * @opts: options, or NULL for a fan-out socket.
 *
 * The socket receives the tenant's frames that arrive after it was opened.
 *
 * Return: a socket, or NULL with errno ENOENT (unknown tenant), EINVAL (bad
 * option), EMFILE (too many sockets on the tenant), ENOMEM.
 */
XSNAP_API struct xsnap_sock *xsnap_socket(struct xsnap_ctx *ctx, const char *tenant,
					  const struct xsnap_sock_opts *opts);

/**
 * xsnap_sock_close() - close a socket and release every frame it held.
 * @sock: socket, or NULL.  Frames it received must not be used afterwards.
 */
XSNAP_API void xsnap_sock_close(struct xsnap_sock *sock);

/**
 * xsnap_fd() - a descriptor for poll/epoll.
 *
 * Readable when frames may be waiting for the socket (a hint: xsnap_recv
 * with timeout 0 then tells), and, on a connected context, when the daemon
 * went away (xsnap_recv then fails).  Owned by the socket; do not close it.
 *
 * Use it the usual non-blocking way: call xsnap_recv() with timeout 0 until
 * it returns 0, then poll.  That call arms the descriptor, so frames that
 * arrive afterwards make it readable even when another socket's receive
 * call (or xsnapd) moved them; the next xsnap_recv() resets it.
 *
 * Return: the descriptor (>= 0).
 */
XSNAP_API int xsnap_fd(struct xsnap_sock *sock);

/**
 * xsnap_recv() - receive frames, zero-copy.
 * @sock: socket.
 * @v: array that receives up to @n frame pointers.
 * @n: capacity of @v.
 * @timeout_ms: 0 returns at once, < 0 waits without limit.
 *
 * Each frame is a read-only view of the UMEM: its bytes stay valid and
 * unchanged until the socket releases it (xsnap_release or
 * xsnap_sock_close).  Frames come in sequence order.  While the socket holds
 * frames, its tenant's log cannot reclaim them: a consumer that never
 * releases makes its tenant (only) drop new frames once the quota is full.
 *
 * Return: number of frames (0 on timeout), or -EINVAL, -EINTR (a signal
 * interrupted the wait), -ENETDOWN (the interface was removed: what its
 * log held was returned first; in-process the context's rtnetlink watch
 * sees the removal, through xsnapd the daemon's),
 * -ENOENT (tenant deleted, its log drained), -ECONNRESET (connected
 * context: the daemon went away).
 */
XSNAP_API int xsnap_recv(struct xsnap_sock *sock, struct xsnap_frame **v, unsigned int n,
			 int timeout_ms);

/**
 * xsnap_release() - give frames back.
 *
 * Frames not currently held by @sock (already released, never received,
 * another socket's) are ignored and counted in xsnap_stats.bad_releases.
 * A handle is good until the frame is released or sent: after that it is
 * stale, and stays refused (here: ignored and counted; xsnap_frame_cow,
 * xsnap_frame_commit and xsnap_send: ESTALE; the accessors: NULL or 0)
 * also once the socket's view holds a later frame, until that view has
 * been reused 32 768 times (a 16-bit generation that moves twice per use;
 * 32-bit builds: only while the view is empty).
 */
XSNAP_API void xsnap_release(struct xsnap_sock *sock, struct xsnap_frame **v, unsigned int n);

/**
 * xsnap_recvfrom() - receive one UDP datagram's payload, copied, like recvfrom(2).
 * @sock: socket.
 * @buf: destination of the payload.
 * @len: size of @buf; a longer payload is truncated (with MSG_TRUNC in
 *       @flags the full length is returned, as recvfrom(2) does).
 * @flags: MSG_DONTWAIT (return -EAGAIN instead of waiting), MSG_TRUNC.
 * @src: if not NULL, receives the source address (struct sockaddr_in or
 *       struct sockaddr_in6, as the frame was IPv4 or IPv6).
 * @srclen: in: size of @src; out: size of the address.
 *
 * Only whole datagrams whose UDP checksum verifies are returned, as
 * recvfrom(2) returns them: frames of the tenant that are not UDP, IP
 * fragments (first or later, IPv4 or IPv6: fragmented datagrams are not
 * reassembled, so a datagram of a covered port that was fragmented on its
 * way is never returned) and datagrams with a bad checksum (or, over IPv6,
 * none) are skipped: released and counted in xsnap_stats.recvfrom_skipped
 * (and recvfrom_fragments, recvfrom_bad_csum).  An IPv4 datagram without a
 * checksum (0) is returned, and so is one whose checksum field holds only
 * the pseudo-header's sum: a local sender's checksum offload that nothing
 * completed (over veth the kernel trusts such frames; AF_XDP sees the bytes
 * alone).  The frame itself is released before the call returns.
 *
 * Return: payload bytes copied (or the full length with MSG_TRUNC), or
 * -EAGAIN (MSG_DONTWAIT and nothing waiting), -EINVAL, -EINTR, -ENOENT
 * (tenant deleted).
 */
XSNAP_API ssize_t xsnap_recvfrom(struct xsnap_sock *sock, void *buf, size_t len, int flags,
				 struct sockaddr *src, socklen_t *srclen);

/** xsnap_frame_data() - the frame's bytes (read-only mapping: writes fault). */
XSNAP_API const void *xsnap_frame_data(const struct xsnap_frame *f);
/** xsnap_frame_len() - the frame's length in bytes. */
XSNAP_API uint32_t xsnap_frame_len(const struct xsnap_frame *f);
/** xsnap_frame_seq() - the frame's sequence number in its tenant's log (from 1). */
XSNAP_API uint64_t xsnap_frame_seq(const struct xsnap_frame *f);
/** xsnap_frame_time_ns() - receive time, CLOCK_MONOTONIC nanoseconds: when the
 * XDP program classified the frame (xsnap_opts.timestamps XSNAP_STAMP_XDP) or
 * when the engine took its batch from the rx ring (the default). */
XSNAP_API uint64_t xsnap_frame_time_ns(const struct xsnap_frame *f);
/** xsnap_frame_version() - version of the frame's bytes (0: as received). */
XSNAP_API uint32_t xsnap_frame_version(const struct xsnap_frame *f);
/**
 * xsnap_frame_queue() - the interface queue id the frame was received on (a
 * frame from xsnap_frame_alloc: the context's first queue).
 */
XSNAP_API uint32_t xsnap_frame_queue(const struct xsnap_frame *f);
/**
 * xsnap_frame_id() - the UMEM chunk that holds the frame.  Two views with the
 * same id share the same bytes (fan-out costs a reference, not a copy).
 */
XSNAP_API uint64_t xsnap_frame_id(const struct xsnap_frame *f);
/**
 * xsnap_frame_meta() - the metadata the XDP program wrote in front of the
 * frame (struct xsnap_meta of <xsnap/abi.h>; for a frame the program sent
 * without it, the engine wrote the same bytes), read-only.  Its rx_ns is 0
 * unless the context stamps in XDP (xsnap_opts.timestamps); its flow_hash is
 * 0: use xsnap_frame_time_ns(), which has the engine's stamp.
 */
XSNAP_API const void *xsnap_frame_meta(const struct xsnap_frame *f);

/**
 * xsnap_frame_cow() - a private, writable version of a frame.
 * @sock: the socket that holds *@f.
 * @f: in: a frame the socket holds (received, or from xsnap_frame_alloc);
 *     out: the private version, which replaces it in the socket's hands.
 *
 * The bytes (and metadata) are copied into a chunk of the tenant's private
 * pool, so every other reader keeps seeing the original.  The version number
 * of the copy is the log's current version of that frame plus one.  Calling
 * it on a frame that is already private copies nothing and returns the same
 * pointer (this is how a frame from xsnap_frame_alloc is written).  Release,
 * send or commit the version like any frame.
 *
 * Return: the writable bytes (xsnap_frame_len() of them, up to 3840), or
 * NULL with errno EINVAL (not a frame this socket holds), ESTALE (a handle
 * kept after its frame was released or sent), ENOBUFS (the tenant's pool
 * is empty).
 */
XSNAP_API void *xsnap_frame_cow(struct xsnap_sock *sock, struct xsnap_frame **f);

/**
 * xsnap_frame_commit() - publish a private version to later readers.
 * @sock: the socket holding @f.
 * @f: a private version made by xsnap_frame_cow() of a received frame.
 *
 * Sockets of the tenant that have not yet received the frame's sequence
 * number will receive this version; sockets that already hold the frame and
 * snapshots taken before the commit keep the bytes they had (snapshot
 * isolation).  The old version is reclaimed when no reader holds it.  @f
 * stays held by the socket (no longer private): release it as usual.
 *
 * Return: the new version number (> 0), or -EINVAL (not a private version
 * of a received frame held by @sock), -ESTALE (a handle kept after its frame
 * was released or sent), -ENOSPC (too many old versions still
 * held by readers: release frames first).
 */
XSNAP_API int xsnap_frame_commit(struct xsnap_sock *sock, struct xsnap_frame *f);

/**
 * xsnap_frame_alloc() - a fresh frame from the tenant's private pool.
 * @sock: socket.
 * @len: frame length, 14..3840 bytes.
 *
 * Write it through xsnap_frame_cow(sock, &f) (which copies nothing here),
 * then send or release it.  Its sequence number is 0.
 *
 * Return: the frame, or NULL with errno EINVAL (bad length), ENOBUFS (pool
 * empty).
 */
XSNAP_API struct xsnap_frame *xsnap_frame_alloc(struct xsnap_sock *sock, uint32_t len);

/**
 * xsnap_send() - transmit frames, each on the queue it was received on.
 * @sock: socket holding the frames.
 * @v: frames: received ones (sent zero-copy from the receive region), private
 *     versions and fresh frames (sent from the tenant's pool).
 * @n: number of frames.
 *
 * Sent frames leave the socket's hands (as if released); their chunks return
 * to their owner when the transmit completes.  A tenant may have at most its
 * fair share of the transmit ring in flight (ring size / tenants); past it,
 * and when the ring is full, fewer than @n are sent: the rest stay held.
 *
 * Every frame is checked before anything is queued, so the kernel never sees
 * a descriptor it would refuse: a frame the socket does not hold (never
 * received, released, sent, another socket's, a snapshot's), the same frame
 * twice in @v, or a view whose address or length is not a valid transmit
 * descriptor (length below 14 or above 3840 bytes, outside the UMEM, across
 * a chunk's end, in another tenant's pool) fails the whole call, counted in
 * xsnap_stats.bad_releases, with a message naming the frame and the reason.
 *
 * Each frame goes out on the TX ring of its receive queue
 * (xsnap_frame_queue; a fresh frame: the context's first queue); use
 * xsnap_send_queue() to choose.  Frames are queued in order: when a ring or
 * the tenant's share is full, the frames from there on are not sent.
 *
 * Return: frames queued (0..n), or -EINVAL (a bad frame as above: nothing is
 * sent), -ESTALE (a handle kept after its frame was released or sent:
 * nothing is sent), -ENETDOWN.
 */
XSNAP_API int xsnap_send(struct xsnap_sock *sock, struct xsnap_frame **v, unsigned int n);

/**
 * xsnap_send_queue() - xsnap_send() on the TX ring of one queue.
 * @queue: an interface queue id the context opened (xsnap_opts.queue ..
 *         queue + nqueues - 1), or -1 for each frame's receive queue.
 *
 * Return: as xsnap_send(); -EINVAL also for a queue the context did not open.
 */
XSNAP_API int xsnap_send_queue(struct xsnap_sock *sock, struct xsnap_frame **v, unsigned int n,
			       int queue);

struct xsnap_snap;

/* Options of xsnap_snapshot(): set one of frames, last_ms, or seq_first. */
struct xsnap_snap_opts {
	size_t sz;
	uint32_t frames;	/* the last N frames of the log */
	uint32_t last_ms;	/* frames received in the last T milliseconds */
	uint64_t seq_first;	/* a sequence range [seq_first, seq_last] */
	uint64_t seq_last;	/* 0 (or any number at or past the newest, UINT64_MAX
				 * included): up to the newest */
};

/**
 * xsnap_snapshot() - an immutable view of the tenant's log as of now.
 * @sock: socket (the snapshot belongs to it and closes with it).
 * @opts: which frames (exactly one of frames, last_ms, seq_first).
 *
 * Frames that arrive later never appear in it; its frames are not reclaimed
 * until it is closed (they count against the tenant's quota, so a snapshot
 * held long makes the tenant drop new frames once its log is full).  Ranges
 * are clipped to what the log still retains; a snapshot that is empty
 * (a range the log no longer or not yet holds) pins nothing.  Taking it
 * copies only the entries' descriptors, never frame bytes.
 *
 * Return: a snapshot, or NULL with errno EINVAL (no or several selectors),
 * ENOMEM.
 */
XSNAP_API struct xsnap_snap *xsnap_snapshot(struct xsnap_sock *sock,
					    const struct xsnap_snap_opts *opts);

/**
 * xsnap_snap_next() - the snapshot's next frames, oldest first.
 *
 * Frames stay valid until xsnap_snap_close(); they cannot be released,
 * committed or sent, but xsnap_frame_cow() on them is not allowed either.
 *
 * Return: number of frames (0 at the end), or -EINVAL.
 */
XSNAP_API int xsnap_snap_next(struct xsnap_snap *snap, struct xsnap_frame **v, unsigned int n);

/** xsnap_snap_len() - number of frames in the snapshot. */
XSNAP_API uint64_t xsnap_snap_len(const struct xsnap_snap *snap);

/** xsnap_snap_close() - close a snapshot; its frames become reclaimable. */
XSNAP_API void xsnap_snap_close(struct xsnap_snap *snap);

/* Counters; all are monotonic since the context or tenant was created. */
struct xsnap_stats {
	size_t sz;
	/* tenant (or, with tenant NULL, summed over tenants) */
	uint64_t rx_frames;	/* frames appended to the log(s) */
	uint64_t rx_bytes;
	uint64_t quota_drops;	/* frames tail-dropped because the log was full */
	uint64_t delivered;	/* frames handed to sockets by xsnap_recv */
	uint64_t bad_releases;	/* releases of frames not held */
	uint32_t sockets;	/* open sockets */
	uint32_t held;		/* frames held by the tenant's log now */
	/* context-wide (same for every tenant) */
	uint64_t xdp[16];	/* XDP program counters, indexed by enum xsnap_reason */
	uint64_t xdp_tenant_frames; /* XDP program's count for the tenant (0 if NULL) */
	uint64_t kernel_rx_dropped;	/* XDP_STATISTICS, summed over queues */
	uint64_t kernel_rx_ring_full;
	uint64_t kernel_fill_empty;
	uint32_t frames_total;	/* receive-region frames */
	uint32_t frames_free;	/* in the library's free stack */
	uint32_t frames_kernel;	/* in the fill ring, the kernel or the rx ring */
	uint32_t zerocopy;	/* 1 when every queue runs zero-copy (through xsnapd:
				 * every queue of every attached interface) */
	uint32_t xdp_mode;	/* enum xsnap_xdp_mode actually in effect (NATIVE or SKB;
				 * through xsnapd: the mode every interface runs, 0
				 * when they differ; per interface: xsnapctl status) */
	uint32_t frames_logged;	/* receive chunks referenced by logs or transmits */
	/* tenant (or summed) */
	uint64_t evicted;	/* released frames evicted from the log for new ones */
	uint64_t cow;		/* private versions made */
	uint64_t commits;
	uint64_t tx_frames;	/* frames queued by xsnap_send */
	uint64_t tx_completed;
	uint64_t snapshots;	/* snapshots taken */
	uint64_t recvfrom_skipped;	/* frames xsnap_recvfrom skipped: not UDP, IP
					 * fragments, bad checksums; and the preload
					 * shim's datagrams not addressed to the
					 * socket (per socket that skipped one) */
	uint32_t pool_free;	/* free chunks in the tenant's pool (summed) */
	uint32_t view_private;	/* tenants that read a private view (1 or 0 for a tenant) */
	uint64_t view_copies;	/* frames the engine copied into their private view(s),
				 * once per view for all its tenants (a view shared by
				 * several tenants counts under each) */
	uint32_t view_held;	/* chunks of their private view(s) that logs hold now */
	uint32_t pad2;
	/* tenant (or summed), part of recvfrom_skipped */
	uint64_t recvfrom_fragments;	/* IP fragments (never returned as datagrams) */
	uint64_t recvfrom_bad_csum;	/* UDP datagrams whose checksum does not verify
					 * (or, IPv6, is 0) */
	uint64_t tx_refused;	/* frames xsnapd refused to send for the tenant: they
				 * matched none of its transmit rules (xsnapctl tenant
				 * add --tx-allow); 0 in-process */
	uint64_t tx_copied;	/* frames xsnapd sent for the tenant from a copy: a
				 * client's pool chunks (private versions, fresh
				 * frames) and frames of a private view; received
				 * frames of the shared view go out without one.
				 * 0 in-process (always zero-copy) */
	uint32_t hugepages;	/* 1 when the receive region is on 2 MiB hugetlb pages
				 * (xsnap_opts.hugepages); 0 through xsnapd, whose
				 * `xsnapctl status` says it per interface */
	uint32_t pad3;
};

/**
 * xsnap_stats() - read counters.
 * @ctx: context.
 * @tenant: tenant name, or NULL for the whole context.
 * @st: filled in; set st->sz first (XSNAP_OPTS).
 *
 * Return: 0, or -ENOENT (unknown tenant), -EINVAL.
 */
XSNAP_API int xsnap_stats(struct xsnap_ctx *ctx, const char *tenant, struct xsnap_stats *st);

/**
 * xsnap_audit() - check the context's frame bookkeeping.
 * @ctx: an in-process context.
 *
 * Recounts, for every chunk of the receive region, of the pools and of the
 * private views, what holds it (log entries of every tenant, old versions
 * kept for readers, private versions and fresh frames of sockets) and
 * compares it with its reference count: a reference that nothing holds (a
 * leak that frame conservation cannot see) is found, as is a chunk on a
 * free list that is still referenced.  References beyond the holders must
 * equal the transmits in flight.  Takes time in proportion to the region:
 * for tests and operators, not for a data path.
 *
 * Return: 0 when the bookkeeping is consistent, the number of
 * inconsistencies (the first is printed as a warning), -EOPNOTSUPP (a
 * connected context), -ENOMEM.
 */
XSNAP_API int xsnap_audit(struct xsnap_ctx *ctx);

/**
 * xsnap_reason_str() - name of an enum xsnap_reason value ("deliver",
 * "nomatch", ...), or "unknown".
 */
XSNAP_API const char *xsnap_reason_str(unsigned int reason);

#ifdef __cplusplus
}
#endif

#endif /* XSNAP_XSNAP_H */
