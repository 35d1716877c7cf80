/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The xsnapd wire protocol, shared by the daemon, the library's connected
 * contexts and xsnapctl.
 *
 * Transport: a Unix SOCK_SEQPACKET socket, so one message is one packet.
 * Every message starts with struct xp_hdr (little-endian host order: the
 * peers are on one host) whose `len` must equal the packet's size and whose
 * `nfds` must equal the number of descriptors that came with it
 * (SCM_RIGHTS).  The body is a sequence of fields, each read with the
 * xp_get_* functions, which fail (never read past the end) on a short body;
 * strings are a u16 length and that many bytes, no NUL, printable ASCII
 * only.  A body with bytes left over after its last field is malformed.
 *
 * A request carries status 0; its reply has the same op and a status that is
 * 0 or a negative errno, followed (on error) by a message string, or (on
 * success) by the op's reply fields.  A client first sends HELLO with its
 * version; a peer speaking another version gets -EPROTONOSUPPORT.
 *
 * What the daemon does with a malformed message: a message it cannot frame
 * (shorter than a header, len not equal to the packet, oversized, truncated
 * control data) disconnects that client; a well-framed message with a bad
 * version, unknown op, wrong descriptor count or bad field gets an error
 * reply.
 */
#ifndef XSNAP_PROTO_H
#define XSNAP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: ATTACH has the ring size, log pages have a wake word; 3: SOCKET hands
 * over no pool, a log can be revoked, log entries carry 64-bit commit stamps,
 * STATS the recvfrom fragment and checksum counters; 4: TENANT_ADD and
 * STATUS carry the view; 5: ATTACH has the timestamp mode; 6: queue groups
 * (ATTACH's u32 queue_groups, TENANT_ADD's u32 queue_group, the SOCKET
 * reply's region_first and region_frames, STATUS's groups and its pages of rules), AUDIT;
 * 7: POOL, COMMIT, SEND and the SOCKET reply's pool; 8: STATS' tx_copied, SEND's
 * want and leases; 9: STATUS says how each interface is attached; 10: STATUS says
 * which classifier serves the rules (the keys, XP_IF_SPEC_OFF, XP_IF_SPEC_HIDDEN) */
#define XP_VERSION	10
/* XP_ATTACH's mode: attach through libxdp (xsnap_opts.multiprog). */
#define XP_ATTACH_MULTIPROG	0x100u
/* XP_ATTACH's mode, bits 9-10: xsnap_opts.hugepages (enum xsnap_huge_mode;
 * 0, auto, is what a client that does not know them sends). */
#define XP_ATTACH_HUGE_SHIFT	9
#define XP_ATTACH_HUGE_MASK	(3u << XP_ATTACH_HUGE_SHIFT)

/* How an interface's program is attached, as asked of the kernel (STATUS). */
enum xp_attach_kind {
	XP_AT_NONE = 0,		/* not attached (a link detached behind our back) */
	XP_AT_LINK,		/* our bpf_link, an XDP link on the interface */
	XP_AT_LIBXDP,		/* through libxdp, alone (no dispatcher) */
	XP_AT_DISPATCHER,	/* through libxdp, in its multi-program dispatcher */
};
#define XP_MAX_MSG	65536	/* bytes, header included */
#define XP_DEFAULT_SOCKET "/run/xsnap/xsnapd.sock"	/* xsnapd -S, $XSNAP_SOCKET */
#define XP_MAX_FDS	8
#define XP_STR_MAX	1024
#define XP_POOL_BATCH	64	/* chunks one XP_POOL request leases or returns at most */
#define XP_SEND_BATCH	64	/* frames one XP_SEND request transmits at most */

enum xp_op {
	XP_HELLO = 1,		/* u32 version -> u32 version, u32 uid, u8 admin */
	XP_ATTACH,		/* str iface, u32 first, u32 nqueues, u32 mode (| XP_ATTACH_MULTIPROG),
			 * u32 zc, u32 frames,
			 * u32 ring, u32 timestamps (enum xsnap_stamp_mode),
			 * u32 queue_groups (0: one) */
	XP_DETACH,		/* str iface */
	XP_STATUS,		/* str iface ("" all), u32 from (rule slot) -> see
				 * xsnapctl; the rules from slot @from that fit,
				 * then u32 next (slot to ask from, 0: done) */
	XP_TENANT_ADD,		/* str name, u32 quota, u32 pool, i64 uid, i64 gid, str view
				 * ("" the daemon's default: private), u32 queue_group
				 * (0: none), u32 ntx, ntx x str transmit rule -> u32
				 * slot */
	XP_TENANT_DEL,		/* str name */
	XP_RULE_ADD,		/* str tenant, str match, u32 prio, u32 action -> u32 id */
	XP_RULE_DEL,		/* u32 id */
	XP_STATS,		/* str tenant ("" all) -> u32 n, n x (str name, XP_NSTATS x u64) */
	XP_SOCKET,		/* str tenant, str iface, u32 mode, u32 group -> see below, 4 fds */
	XP_SOCK_CLOSE,		/* u32 index, u32 gen */
	XP_SNAPSHOT,		/* u32 index, u32 gen, u32 frames, u32 last_ms, u64 seq_first,
				 * u64 seq_last -> u32 snap id, u64 first, u64 end */
	XP_SNAP_CLOSE,		/* u32 index, u32 gen, u32 snap id */
	XP_AUDIT,		/* str iface ("" all; admin) -> u32 n, n x (str iface,
				 * u32 chunks, i32 problems, str first problem) */
	XP_POOL,		/* u32 index, u32 gen, u32 want (<= XP_POOL_BATCH), u32 nret,
				 * nret x u64 addr -> u32 n, n x u64 addr: lease pool
				 * chunks to the socket (frame addresses, in the UMEM's
				 * numbering) and give leased ones back */
	XP_COMMIT,		/* u32 index, u32 gen, u64 seq, u64 addr, u32 len -> u32
				 * version: publish the leased chunk at addr as the next
				 * version of seq (the lease ends) */
	XP_SEND,		/* u32 index, u32 gen, i32 queue (-1: each frame's own),
				 * u32 want (<= XP_POOL_BATCH), u32 n (<=
				 * XP_SEND_BATCH), n x (u64 seq, u64 addr, u32 len)
				 * -> u32 queued, u32 nl, nl x u64 addr: transmit
				 * frames of the tenant's log or leased chunks (see
				 * op_send), and lease up to want chunks as XP_POOL */
	XP_STATS_IF,		/* str tenant ("" all), u32 from (interface slot) -> u32 n
				 * (0: no attached interface from slot @from on), then if
				 * 1: u32 slot, str iface, XP_NSTATS x u64 (the
				 * interface-wide figures), u32 nt, nt x (str tenant,
				 * XP_NSTATS x u64: its figures on that interface); the
				 * client asks again from slot + 1.  Added in version 9
				 * (an older xsnapd answers -EOPNOTSUPP) */
	XP_OP_MAX,
};

/*
 * XP_SOCKET reply: u32 index, u32 gen (the handle), u32 slot, u32 quota,
 * u32 nframes, u32 pool_frames, u32 npools, u32 region_first,
 * u32 region_frames, u64 cursor, u64 log_len, str iface; descriptors in
 * order: the tenant's view (read-only: its private region, or for the
 * shared view the part of the receive region its queue group owns, which
 * the client maps at chunk region_first of a range of nframes chunks; only
 * that part, region_frames chunks, exists in the descriptor), the tenant's
 * log region (read-only), the socket's control page (read-write), the read
 * end of the socket's notify pipe, and the tenant instance's pool
 * (pool_frames chunks, read-write: tenant_pool_fd(), never another
 * tenant's, never reused by a later tenant in the slot), whose chunk i has
 * the UMEM address of chunk nframes + slot * pool_frames + i.  (slot,
 * pool_frames and npools give the UMEM's layout.)
 */
enum { XP_FD_RX, XP_FD_LOG, XP_FD_CTL, XP_FD_EVENT, XP_FD_POOL, XP_SOCKET_NFDS };

enum xp_action { XP_DELIVER, XP_DROP, XP_PASS };

/* Status flags of an interface in the XP_STATUS reply.  Each interface
 * ends with how the kernel says it is attached, asked at the request: u32
 * link id, u32 link is XDP on it, u32 our program's id, u32 the program it
 * runs, str that program's name, u32 its mode (struct serve_attach); then
 * u32 the keys of the live rule set's specialised program (0: the general
 * classifier serves the set). */
enum {
	XP_IF_GONE = 1 << 0,
	XP_IF_ZEROCOPY = 1 << 1,
	XP_IF_XDP_STAMP = 1 << 2,
	/* copy mode because zero-copy was not requested (zerocopy off) */
	XP_IF_ZC_NOT_REQUESTED = 1 << 3,
	/* copy mode because the driver has no XSK zero-copy (its XDP features
	 * lack it, or the kernel refused XDP_ZEROCOPY); neither bit nor
	 * XP_IF_ZEROCOPY: copy mode for a reason the kernel did not give */
	XP_IF_ZC_NO_DRIVER = 1 << 4,
	/* the receive region is on 2 MiB hugetlb pages (xsnap_opts.hugepages) */
	XP_IF_HUGEPAGES = 1 << 5,
	/* no rule set gets a specialised program on this interface (the
	 * kernel refused one, or its jump table) */
	XP_IF_SPEC_OFF = 1 << 6,
	/* which classifier serves is not shown to this client: it follows from
	 * every tenant's rules, so only root and the admin group see it (the
	 * keys are then 0) */
	XP_IF_SPEC_HIDDEN = 1 << 7,
};

struct xp_hdr {
	uint32_t len;		/* whole message */
	uint16_t version;
	uint16_t op;
	int32_t status;		/* requests: 0; replies: 0 or -errno */
	uint32_t nfds;		/* descriptors attached */
};

/* A message being built or parsed. */
struct xp_msg {
	uint8_t *buf;
	size_t cap;		/* building: capacity */
	size_t len;		/* building: bytes so far; parsing: message size */
	size_t off;		/* parsing: next byte */
	bool err;		/* overflow (building) or short/bad field (parsing) */
	struct xp_hdr hdr;	/* parsing: the validated header */
};

void xp_begin(struct xp_msg *m, uint8_t *buf, size_t cap, uint16_t op, int32_t status);
void xp_put_u8(struct xp_msg *m, uint8_t v);
void xp_put_u32(struct xp_msg *m, uint32_t v);
void xp_put_u64(struct xp_msg *m, uint64_t v);
void xp_put_i64(struct xp_msg *m, int64_t v);
void xp_put_str(struct xp_msg *m, const char *s);
/* Finish: write the header (len, nfds).  Return the length, or -EMSGSIZE. */
int xp_end(struct xp_msg *m, uint32_t nfds);

/*
 * xp_parse() - validate the header of a received message of @len bytes that
 * came with @nfds descriptors.  Return 0, -EPROTO (cannot be framed: shorter
 * than a header, len field not equal to @len, oversized: disconnect),
 * -EPROTONOSUPPORT (other version), -EBADMSG (nfds field wrong), -EOPNOTSUPP
 * (unknown op).  m->hdr is filled whenever the header could be read.
 */
int xp_parse(struct xp_msg *m, uint8_t *buf, size_t len, unsigned int nfds);
uint8_t xp_get_u8(struct xp_msg *m);
uint32_t xp_get_u32(struct xp_msg *m);
uint64_t xp_get_u64(struct xp_msg *m);
int64_t xp_get_i64(struct xp_msg *m);
/* Copy a string field into @out (@outsz bytes, NUL-terminated); a longer
 * string, an empty one when !@empty_ok, or a non-printable byte is an error. */
void xp_get_str(struct xp_msg *m, char *out, size_t outsz, bool empty_ok);
/* 0 when every field parsed and nothing is left over, else -EBADMSG. */
int xp_done(const struct xp_msg *m);

/* The counters of struct xsnap_stats, in wire order (each a u64), then xdp[16]. */
#define XP_STATS_FIELDS(X)                                                              \
	X(rx_frames) X(rx_bytes) X(quota_drops) X(delivered) X(bad_releases) X(sockets) \
	X(held) X(xdp_tenant_frames) X(kernel_rx_dropped) X(kernel_rx_ring_full)          \
	X(kernel_fill_empty) X(frames_total) X(frames_free) X(frames_kernel) X(zerocopy)  \
	X(xdp_mode) X(frames_logged) X(evicted) X(cow) X(commits) X(tx_frames)            \
	X(tx_completed) X(snapshots) X(recvfrom_skipped) X(pool_free) X(view_private)       \
	X(view_copies) X(view_held) X(recvfrom_fragments) X(recvfrom_bad_csum) X(tx_refused)     \
	X(tx_copied)
#define XP_STATS_XDP 16

struct xsnap_stats;
void xp_put_stats(struct xp_msg *m, const struct xsnap_stats *st);
/* Fill @st (whose sz is set) from the message; fields past st->sz are skipped. */
void xp_get_stats(struct xp_msg *m, struct xsnap_stats *st);

/* Send @len bytes and @nfds descriptors.  Return 0 or -errno. */
int xp_send(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds);
/*
 * Receive one message into @buf (XP_MAX_MSG bytes).  Return its length, 0 at
 * end of file, -EPROTO (oversized or truncated control data: descriptors
 * that came are closed), or -errno.  *@nfds receives the descriptor count.
 */
int xp_recv(int sock, void *buf, size_t cap, int *fds, unsigned int *nfds);

/* Request/reply on a connected socket: send, then receive the reply into
 * @buf and parse it.  Return the reply's status (0 or -errno) or a transport
 * error; on an error reply, @errmsg (if not NULL) receives its message. */
/*
 * xp_sent_hook - called by xp_call() with the op of each request once it is
 * sent, before its reply is read (NULL: nothing).  A test hook: xsnapctl
 * points it at a stop, so that a test can kill a CLI at a known step of a
 * request (XSNAPCTL_TEST_STOP).
 */
extern void (*xp_sent_hook)(uint16_t op);
int xp_call(int sock, struct xp_msg *req, uint8_t *buf, size_t cap, struct xp_msg *rep,
	    int *fds, unsigned int *nfds, char *errmsg, size_t errsz);

/* What xsnapd answered to HELLO. */
struct xp_hello {
	uint32_t version;
	uint32_t uid;		/* the peer credentials it saw */
	uint8_t admin;		/* root or the admin group: control verbs allowed */
};

/* xp_socket_path() - @path, else $XSNAP_SOCKET, else XP_DEFAULT_SOCKET. */
const char *xp_socket_path(const char *path);

/*
 * xp_connect() - connect to xsnapd and say HELLO (the one handshake of the
 * library and xsnapctl).
 * @path: as xp_socket_path().
 * @hello: filled in on success (may be NULL).
 * @buf, @cap: room for the reply (XP_MAX_MSG).
 * @errmsg, @errsz: on failure, why, with the remedy when there is one.
 *
 * Return: the connection (SOCK_SEQPACKET, close-on-exec), or -errno.
 */
int xp_connect(const char *path, struct xp_hello *hello, uint8_t *buf, size_t cap, char *errmsg,
	       size_t errsz);

#endif /* XSNAP_PROTO_H */
