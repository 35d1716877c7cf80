/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xsnapd internals shared by its files:
 *   xsnapd.c  main loop, setup, interfaces, tenants, rules, the op table
 *   sockets.c client sockets: open, close, leases, commit, send, snapshots
 *   conn.c    client connections: accept, framing, replies
 *   info.c    STATUS and STATS, and the figures behind them
 *   metrics.c the HTTP metrics endpoint (--metrics)
 *   closer.c  the thread that closes client connections
 * Everything runs on the one thread of the epoll loop and nothing here is
 * locked: the library's calls (xsnap.h, xsnap_serve.h) take its own locks.
 */
#ifndef XSNAPD_H
#define XSNAPD_H

#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "proto.h"
#include "rule.h"
#include "xsnap_serve.h"	/* the library beyond xsnap.h; never xsnap_internal.h */

#define MAX_IFACES 8
#define MAX_CONNS 256
#define RESERVED_CONNS 16	/* the last connection slots: root and the admin group only */
#define CONNS_PER_UID 16	/* default --max-conns-per-uid */
#define MAX_DSOCKS 1024
#define MAX_DRULES XSNAP_MAX_RULES
#define MAX_GROUPS 64
#define MAX_CONN_SOCKS 64	/* sockets per client connection */
#define SOCKS_PER_UID 256	/* default --max-socks-per-uid */
/*
 * Descriptors: each client socket costs the daemon FDS_PER_SOCK (control
 * page memfd, notify pipe, epoll set), each connection one; FD_RESERVE
 * covers the rest (stdio, epoll, signalfd, rtnetlink, listening socket,
 * spare, and per interface its AF_XDP sockets, memfds and BPF objects),
 * and the metrics endpoint's sockets.
 * What RLIMIT_NOFILE leaves after those and MAX_CONNS sets d->max_socks.
 */
#define FDS_PER_SOCK 4
#define FDS_PER_IFACE (XSNAP_MAX_QUEUES + 2 * XSNAP_MAX_TENANTS + 32)
#define METRICS_LISTEN_MAX 4	/* listening sockets of --metrics (a name's addresses) */
#define METRICS_CONNS 8		/* scrapes served at once; more are refused */
#define FD_RESERVE (64 + MAX_IFACES * FDS_PER_IFACE + METRICS_LISTEN_MAX + METRICS_CONNS)
#define MAX_SOCK_SNAPS 16	/* open snapshots per client socket */
#define TICK_MS 10
#define HELLO_MS 5000		/* a client must say HELLO within this */
#define MAX_TX_RULES 8		/* --tx-allow rules of a tenant */
#define TENANT_POOL 64		/* pool chunks a tenant's versions may hold (--pool at most) */
#define DEFAULT_TENANTS 8	/* default --max-tenants (at most XSNAP_MAX_TENANTS): tenant
				 * slots of every interface's context, and so of the daemon */
#define REQ_RATE 50		/* requests a second of a connection that is not admin ... */
#define REQ_BURST 50		/* ... and at most this many at once */
#define CLOSER_QUEUE 1024	/* client connections waiting for the closer thread */
#define MAX_PARKED (MAX_CONNS + 16)	/* ... and waiting for room in its queue */

enum { EV_LISTEN = 1, EV_SIGNAL, EV_NETLINK, EV_CONN, EV_XSK, EV_METRICS, EV_MCONN };

struct iface {
	bool used, gone;
	bool paced;		/* rx wake-ups off: the engine runs at serve_next_ns() */
	char name[IF_NAMESIZE];
	int ifindex;
	struct xsnap_ctx *ctx;
};

struct dtenant {
	bool used;
	char name[TENANT_NAME_MAX];
	uint32_t quota, pool;
	int64_t uid, gid;	/* -1: not set */
	char view[TENANT_NAME_MAX];	/* "private" (default), "shared" or a group */
	uint32_t qgroup;	/* queue group it is pinned to (1-based), 0: none */
	/* the daemon's own counters of the tenant on each interface slot,
	 * from the interface's attach on (the library's restart with its
	 * context too) */
	struct {
		uint64_t delivered_closed;	/* "delivered" of its sockets that
						 * closed (info.c) */
		uint64_t tx_refused;	/* frames its transmit rules refused */
		uint64_t tx_copied;	/* frames sent from a copy (op_send) */
	} fig[MAX_IFACES];
	struct rule tx[MAX_TX_RULES];	/* what its clients may send (--tx-allow);
					 * none: anything */
	uint32_t ntx;
};

struct drule {
	bool used;
	uint32_t id, prio, action;
	char tenant[TENANT_NAME_MAX];
	int dt;			/* the tenant's index in d->tenants */
	char match[XP_STR_MAX + 1];
	int ifrule[MAX_IFACES];	/* the rule's id in each interface's context */
};

struct conn {
	int fd;
	bool hello, admin;
	int64_t hello_by_ms;	/* disconnected if no HELLO came by then */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[MAX_GROUPS];
	int ngroups;
	unsigned int nsocks;	/* its client sockets */
	/* requests of a client that is not root or in the admin group: a
	 * token bucket (REQ_RATE a second, REQ_BURST at most), in thousandths;
	 * throttled: out of the epoll set until the tick gives tokens back */
	int64_t tokens;
	bool throttled;
};

struct dsock {
	struct xsnap_sock *s;	/* NULL: free */
	struct conn *c;
	int ifc;
	int dt;			/* its tenant's index in d->tenants */
	uint32_t gen;
	struct xsnap_snap *snaps[MAX_SOCK_SNAPS];	/* freed with the socket */
	/* its release watermark as the daemon keeps it (info.c): the log's
	 * head when it opened, the highest `low` seen (clipped to the head),
	 * and for a share-group member the group's start */
	uint64_t start, low_seen, group_base;
};

struct config {
	const char *sock_path;
	const char *group;	/* socket group */
	const char *admin_group;	/* may use control verbs */
	int rt_prio;		/* SCHED_FIFO priority of the loop, 0: normal */
	int verbose;
	/* connections and client sockets of one uid (not root's or the
	 * admin group's) */
	unsigned int max_conns_per_uid, max_socks_per_uid;
	/* tenants of the daemon, and slots of every interface's context:
	 * the same limit whether or not an interface is attached */
	unsigned int max_tenants;
	const char *metrics;	/* --metrics ADDR:PORT, NULL: no endpoint */
};

struct daemon {
	struct config cfg;
	int epfd, lfd, sfd;
	gid_t sock_gid, admin_gid;
	bool have_admin_gid, created_dir, inherited;
	struct iface ifs[MAX_IFACES];
	struct dtenant tenants[XSNAP_MAX_TENANTS];
	struct drule rules[MAX_DRULES];
	/* one past the highest slot in use: what every walk of rules[] stops
	 * at (the table is 18 MiB; a walk of all of it took 3 ms, the first
	 * 40-65 ms of page faults, with the engine waiting) */
	uint32_t rules_end;
	uint32_t next_rule;
	struct conn *conns[MAX_CONNS];
	struct dsock socks[MAX_DSOCKS];
	unsigned int nsocks;	/* client sockets open */
	unsigned int max_socks;	/* ... at most: MAX_DSOCKS, fewer if RLIMIT_NOFILE is low */
	int spare;		/* a descriptor kept free for accept() at EMFILE (conn.c) */
	bool nofile;		/* accept() is failing for lack of descriptors */
	unsigned int nofile_refused;	/* connections refused meanwhile */
	/* descriptors from clients (conn.c): with passrights the kernel
	 * refuses them (SO_PASSRIGHTS 0); without, client connections are
	 * closed by the closer thread, never by the loop, and wait in
	 * parked[] while its queue is full (no accept meanwhile) */
	bool passrights;
	struct closer *closer;
	int parked[MAX_PARKED];
	unsigned int nparked;
	bool listen_paused;	/* the listening socket is out of the epoll set until the tick */
	int64_t refill_ms;	/* tokens given back up to then */
	int64_t refused_log_ms;	/* last refusal logged; refusals left out since */
	unsigned int refused_quiet;
	struct metrics *metrics;	/* the endpoint (metrics.c), NULL: none */
	uint8_t in[XP_MAX_MSG], out[XP_MAX_MSG];
};

extern int verbosity;
extern char errmsg[512];	/* last library warning, for the error reply */

void logmsg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_warn(...) logmsg(0, __VA_ARGS__)
#define log_info(...) logmsg(1, __VA_ARGS__)
#define log_debug(...) logmsg(2, __VA_ARGS__)

static inline uint64_t ev_key(uint32_t type, uint32_t idx)
{
	return (uint64_t)type << 32 | idx;
}

int64_t now_ns(void);

/* xsnapd.c */
struct iface *iface_find(struct daemon *d, const char *name, bool live);
unsigned int iface_nsocks(struct daemon *d, int ifc);
struct dtenant *tenant_find(struct daemon *d, const char *name);
bool peer_in_group(const struct conn *c, gid_t g);
/* May @c open sockets of @t (and see it in STATUS and STATS)?  Root and the
 * admin group may; anyone else if its uid is the tenant's --uid or one of
 * its groups the tenant's --gid. */
bool may_consume(const struct conn *c, const struct dtenant *t);
/* The last library message, or the errno text. */
const char *why(int err);
/* Handle one well-framed request of a connection that said HELLO (or the
 * HELLO): 0, or an error that disconnects it. */
int dispatch(struct daemon *d, struct conn *c, struct xp_msg *in);

/* conn.c */
int reply(struct conn *c, struct xp_msg *m, const int *fds, unsigned int nfds);
int reply_err(struct daemon *d, struct conn *c, uint16_t op, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Before the loop: refuse descriptors on the listening socket, start the
 * closer.  0 or -errno. */
int conn_setup(struct daemon *d);
/* After the loop: stop the closer (waits at most a few hundred ms). */
void conn_teardown(struct daemon *d);
/* Every tick: connections without HELLO, parked descriptors, the listener. */
void conn_tick(struct daemon *d, int64_t now_ms);
void conn_accept(struct daemon *d);
void conn_close(struct daemon *d, int ci);
/* One message from a client.  Return false to disconnect it. */
bool conn_input(struct daemon *d, int ci);

/* sockets.c: the client-socket requests (see each handler), and closing */
int op_socket(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_sock_close(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_pool(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_commit(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_send(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_snapshot(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_snap_close(struct daemon *d, struct conn *c, struct xp_msg *in);
/* Close client socket d->socks[idx] (its snapshots and leases go with it). */
void dsock_close(struct daemon *d, uint32_t idx);
/* Forget d->socks[idx], whose library socket is freed (or will be, with
 * its context): the bookkeeping of dsock_close() without the close. */
void dsock_forget(struct daemon *d, uint32_t idx);

/* info.c */
int op_status(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_stats(struct daemon *d, struct conn *c, struct xp_msg *in);
int op_stats_if(struct daemon *d, struct conn *c, struct xp_msg *in);
/*
 * The figures of attached interface @f: those of each tenant in @want (a
 * mask over d->tenants) into tst[] (indexed like d->tenants, added to what
 * is there), the interface-wide ones into *@ist (added too).  As STATS:
 * the library's engine lock is held only while it copies counters.
 */
void iface_figures(struct daemon *d, struct iface *f, uint32_t want, struct xsnap_stats *tst,
		   struct xsnap_stats *ist);
/* Socket d->socks[idx] was opened / is about to be closed (the library's
 * socket still exists): its watermark starts / is folded into its tenant's
 * delivered_closed. */
void dsock_opened(struct daemon *d, uint32_t idx);
void dsock_closing(struct daemon *d, uint32_t idx);

/* metrics.c: the HTTP endpoint of --metrics, served from the loop */
/* Is @arg an ADDR:PORT --metrics takes?  If not, say why on stderr. */
bool metrics_addr_ok(const char *arg);
/* Listen on d->cfg.metrics (before the loop).  0 or -errno, said why. */
int metrics_open(struct daemon *d);
/* An epoll event of one of its sockets (EV_METRICS, EV_MCONN). */
void metrics_event(struct daemon *d, uint32_t type, uint32_t idx, uint32_t events);
/* Every tick: scrapes past their time are closed, accepting resumes. */
void metrics_tick(struct daemon *d, int64_t now_ms);
/* Close every socket of the endpoint. */
void metrics_close(struct daemon *d);

#endif /* XSNAPD_H */
