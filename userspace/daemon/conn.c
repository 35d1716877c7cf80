// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd's client connections: accepting them, reading and framing their
 * messages (proto.h), replies, and closing them with everything they held.
 *
 * Nothing a client does may make the loop sleep.  Descriptors are the
 * dangerous part: one passed with SCM_RIGHTS can make its last close()
 * sleep for as long as its sender likes (TESTING.md E20), and the kernel
 * makes that close in whichever thread drops the last reference, also
 * when it discards descriptors still in flight in a socket being closed.
 * So the listening socket refuses them (SO_PASSRIGHTS 0, inherited by
 * every connection at connect(): the sender's sendmsg() fails with EPERM).
 * On a kernel without SO_PASSRIGHTS (before 6.16) every message is peeked
 * at first: one that carries descriptors disconnects its client, whose
 * connection (with the descriptors in flight in it, never received by the
 * loop) goes to the closer thread (closer.h); every other client
 * connection is closed there too, since one can queue descriptors up to
 * the moment it is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "closer.h"
#include "xsnapd.h"

#ifndef SO_PASSRIGHTS
/* Linux 6.16; the value of asm-generic/socket.h (x86, arm64 and most
 * others; alpha, mips, parisc and sparc have their own) */
#define SO_PASSRIGHTS 83
#endif
#ifndef SCM_MAX_FD
#define SCM_MAX_FD 253	/* descriptors one message can carry (include/net/scm.h) */
#endif

int conn_setup(struct daemon *d)
{
	const char *off = getenv("XSNAPD_NO_PASSRIGHTS");
	int zero = 0;

	d->closer = closer_start(CLOSER_QUEUE);
	if (!d->closer) {
		log_warn("closer thread: %s", strerror(errno));
		return -errno;
	}
	if (off && *off && strcmp(off, "0")) {
		log_warn("XSNAPD_NO_PASSRIGHTS is set: descriptors from clients are not refused "
			 "by the kernel (their connections are closed off the loop)");
	} else if (setsockopt(d->lfd, SOL_SOCKET, SO_PASSRIGHTS, &zero, sizeof(zero))) {
		log_warn("SO_PASSRIGHTS: %s: this kernel cannot refuse descriptors from clients "
			 "(Linux 6.16+); a client that sends some is disconnected and its "
			 "connection closed off the loop",
			 strerror(errno));
	} else {
		d->passrights = true;
	}
	/* kept free for accept() when the descriptors run out */
	d->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_info("descriptors from clients: %s",
		 d->passrights ? "refused by the kernel (SO_PASSRIGHTS 0)" :
				 "disconnect, closed by the closer thread");
	return 0;
}

void conn_teardown(struct daemon *d)
{
	/* what is queued gets a moment; a close that sleeps is left to the
	 * process exit, which does not linger */
	closer_stop(d->closer, 200);
	d->closer = NULL;
	if (d->spare >= 0)
		close(d->spare);
	d->spare = -1;
}

static void spare_restore(struct daemon *d)
{
	if (d->spare < 0)
		d->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* The listening socket out of (or back into) the epoll set. */
static void listen_pause(struct daemon *d, bool pause)
{
	struct epoll_event ev = { .events = pause ? 0 : EPOLLIN,
				  .data.u64 = ev_key(EV_LISTEN, 0) };

	if (d->listen_paused == pause)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->lfd, &ev))
		log_warn("listening socket: epoll: %s", strerror(errno));
	d->listen_paused = pause;
}

/*
 * Close a client connection.  With SO_PASSRIGHTS nothing can be in flight in
 * it.  Without, shut it down (nothing more can be queued) and give it to the
 * closer; while the closer's queue is full it waits in parked[], and no new
 * connection is accepted (conn_tick).
 */
static void client_fd_close(struct daemon *d, int fd)
{
	if (d->passrights) {
		close(fd);
		return;
	}
	shutdown(fd, SHUT_RDWR);
	if (closer_push(d->closer, fd))
		return;
	if (d->nparked < MAX_PARKED) {
		d->parked[d->nparked++] = fd;
		listen_pause(d, true);
		return;
	}
	/* cannot happen: accepting stops while anything is parked, and no
	 * more connections than MAX_CONNS exist */
	log_warn("closer queue full and %d connections parked: descriptor %d left open",
		 MAX_PARKED, fd);
}

/*
 * Descriptors that arrived with a message although the kernel should have
 * refused them, or the peek should have seen them: never closed here.
 */
static void client_fds_drop(struct daemon *d, const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (!closer_push(d->closer, fds[i]))
			log_warn("closer queue full: a client's descriptor %d left open", fds[i]);
}

/*
 * Requests of a connection that is not root's or the admin group's cost a
 * token each (REQ_RATE a second, REQ_BURST at most; copy-on-write and
 * transmit requests a thousandth of one): out of tokens, the
 * connection leaves the epoll set until the tick has given one back, so a
 * flood slows down its own sender only; the kernel holds what it sends
 * meanwhile, and its buffer full, blocks it.
 */
static void conn_throttle(struct daemon *d, int ci, bool on)
{
	struct conn *c = d->conns[ci];
	struct epoll_event ev = { .events = on ? 0 : EPOLLIN,
				  .data.u64 = ev_key(EV_CONN, (uint32_t)ci) };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		log_warn("client pid %d: epoll: %s", (int)c->pid, strerror(errno));
	c->throttled = on;
	if (on)
		log_debug("client pid %d uid %u: more than %d requests a second: throttled",
			  (int)c->pid, (unsigned int)c->uid, REQ_RATE);
}

static void conn_refill(struct daemon *d, int64_t now)
{
	int64_t add = (now - d->refill_ms) * REQ_RATE;	/* thousandths of a token */

	if (add <= 0)
		return;
	d->refill_ms = now;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = d->conns[i];

		if (!c || c->admin)
			continue;
		c->tokens = c->tokens + add > REQ_BURST * 1000 ? REQ_BURST * 1000 : c->tokens + add;
		if (c->throttled && c->tokens >= 1000)
			conn_throttle(d, i, false);
	}
}

void conn_tick(struct daemon *d, int64_t now)
{
	spare_restore(d);
	conn_refill(d, now);
	while (d->nparked && closer_push(d->closer, d->parked[d->nparked - 1]))
		d->nparked--;
	if (d->listen_paused && !d->nparked)
		listen_pause(d, false);
	/* a connection that never says HELLO holds a slot of MAX_CONNS:
	 * give it HELLO_MS, then drop it */
	for (int i = 0; i < MAX_CONNS; i++) {
		if (!d->conns[i] || d->conns[i]->hello || now < d->conns[i]->hello_by_ms)
			continue;
		log_warn("client pid %d uid %u: no HELLO within %d ms, disconnected",
			 (int)d->conns[i]->pid, (unsigned int)d->conns[i]->uid, HELLO_MS);
		conn_close(d, i);
	}
}

/* --- replies -------------------------------------------------------------- */
int reply(struct conn *c, struct xp_msg *m, const int *fds, unsigned int nfds)
{
	int len = xp_end(m, nfds);

	if (len < 0)
		return len;
	return xp_send(c->fd, m->buf, (size_t)len, fds, nfds);
}

int reply_err(struct daemon *d, struct conn *c, uint16_t op, int err, const char *fmt, ...)
{
	struct xp_msg m;
	char msg[XP_STR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = ' ';
	log_debug("client pid %d uid %u: op %u: %s (%s)", (int)c->pid, (unsigned int)c->uid, op,
		  msg, strerror(-err));
	xp_begin(&m, d->out, sizeof(d->out), op, err);
	xp_put_str(&m, msg);
	return reply(c, &m, NULL, 0);
}

/* --- connections ---------------------------------------------------------- */
void conn_close(struct daemon *d, int ci)
{
	struct conn *c = d->conns[ci];
	unsigned int n = 0;

	for (uint32_t i = 0; i < MAX_DSOCKS; i++) {
		if (d->socks[i].s && d->socks[i].c == c) {
			dsock_close(d, i);
			n++;
		}
	}
	logmsg(n ? 1 : 2, "client pid %d uid %u: disconnected, %u socket(s) reclaimed",
	       (int)c->pid, (unsigned int)c->uid, n);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	client_fd_close(d, c->fd);
	free(c);
	d->conns[ci] = NULL;
	spare_restore(d);	/* before any accept() takes the descriptor */
}

/*
 * Refuse a connection: the reply to the HELLO a client sends first (it reads
 * why), then close.  Refusals are logged, at most one line a second (a
 * client can connect in a loop); the next line counts those left out.
 */
static void conn_refuse(struct daemon *d, int fd, const struct ucred *cr, int err,
			const char *why)
{
	int64_t now = now_ns() / 1000000;
	struct xp_msg m;
	int len;

	xp_begin(&m, d->out, sizeof(d->out), XP_HELLO, -err);
	xp_put_str(&m, why);
	len = xp_end(&m, 0);
	if (len > 0)
		xp_send(fd, m.buf, (size_t)len, NULL, 0);
	client_fd_close(d, fd);
	if (now - d->refused_log_ms < 1000) {
		d->refused_quiet++;
		return;
	}
	if (d->refused_quiet)
		log_warn("client pid %d uid %u refused: %s (and %u more refused in the last "
			 "second)",
			 (int)cr->pid, (unsigned int)cr->uid, why, d->refused_quiet);
	else
		log_warn("client pid %d uid %u refused: %s", (int)cr->pid, (unsigned int)cr->uid,
			 why);
	d->refused_log_ms = now;
	d->refused_quiet = 0;
}

/*
 * Admission: MAX_CONNS slots, of which the last RESERVED_CONNS take only
 * root and the admin group, and at most cfg.max_conns_per_uid connections
 * of any other uid, so that one uid cannot take the slots (root and the
 * admin group are trusted: no per-uid limit).
 */
static void conn_admit(struct daemon *d, int fd, bool nofile)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned int used = 0, mine = 0;
	char why[160];
	struct conn *c;
	int ci = -1;

	c = calloc(1, sizeof(*c));
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		log_warn("client refused: %s", strerror(c ? errno : ENOMEM));
		free(c);
		client_fd_close(d, fd);
		return;
	}
	c->fd = fd;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	len = sizeof(c->groups);
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len))
		c->ngroups = (int)(len / sizeof(gid_t));
	c->admin = c->uid == 0 || (d->have_admin_gid && peer_in_group(c, d->admin_gid));
	for (int i = 0; i < MAX_CONNS; i++) {
		if (!d->conns[i]) {
			if (ci < 0)
				ci = i;
			continue;
		}
		used++;
		mine += d->conns[i]->uid == c->uid;
	}
	if (nofile && !c->admin) {
		snprintf(why, sizeof(why), "xsnapd is out of file descriptors: try again later");
		d->nofile_refused++;
		free(c);
		conn_refuse(d, fd, &cred, EMFILE, why);
		return;
	}
	if (ci < 0) {
		snprintf(why, sizeof(why), "too many clients: xsnapd serves at most %d connections",
			 MAX_CONNS);
	} else if (!c->admin && MAX_CONNS - used <= RESERVED_CONNS) {
		snprintf(why, sizeof(why),
			 "too many clients: the last %d of xsnapd's %d connection slots are kept "
			 "for root and the admin group",
			 RESERVED_CONNS, MAX_CONNS);
		ci = -1;
	} else if (!c->admin && mine >= d->cfg.max_conns_per_uid) {
		snprintf(why, sizeof(why),
			 "too many clients: uid %u has %u connections to xsnapd, its limit "
			 "(xsnapd --max-conns-per-uid)",
			 (unsigned int)c->uid, mine);
		ci = -1;
	}
	if (ci < 0) {
		free(c);
		conn_refuse(d, fd, &cred, EUSERS, why);
		return;
	}
	c->hello_by_ms = now_ns() / 1000000 + HELLO_MS;
	c->tokens = REQ_BURST * 1000;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ev_key(EV_CONN, (uint32_t)ci) };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		client_fd_close(d, fd);
		return;
	}
	d->conns[ci] = c;
	log_debug("client pid %d uid %u gid %u: connected%s", (int)c->pid, (unsigned int)c->uid,
		  (unsigned int)c->gid, c->admin ? " (admin)" : "");
}

/*
 * accept() found no descriptor (EMFILE, ENFILE).  The connection stays
 * pending and the listening socket readable: the loop would spin on it.
 * So take it with the spare descriptor: root and the admin group are
 * served (the spare comes back when a descriptor frees), anyone else is
 * told and closed, and the spare reopened.  Without a spare, stop watching
 * the listening socket until the next tick.  Logged once per episode.
 */
static void accept_nofile(struct daemon *d, int err)
{
	int fd;

	if (!d->nofile) {
		d->nofile = true;
		d->nofile_refused = 0;
		log_warn("accept: %s: refusing connections but root's and the admin group's "
			 "until descriptors free up",
			 strerror(err));
	}
	if (d->spare < 0) {
		listen_pause(d, true);
		return;
	}
	close(d->spare);
	d->spare = -1;
	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		listen_pause(d, true);
	else
		conn_admit(d, fd, true);
	spare_restore(d);	/* fails while a connection it let in holds it */
}

void conn_accept(struct daemon *d)
{
	int fd;

	/* without SO_PASSRIGHTS every connection ends at the closer: none
	 * while it has no room (conn_tick resumes) */
	if (!d->passrights && (d->nparked || !closer_room(d->closer))) {
		listen_pause(d, true);
		return;
	}
	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE) {
			accept_nofile(d, errno);
		} else if (errno == ENOBUFS || errno == ENOMEM) {
			/* the connection stays pending too: try at the tick */
			log_warn("accept: %s", strerror(errno));
			listen_pause(d, true);
		}
		return;
	}
	if (d->nofile) {
		log_warn("accepting connections again (%u refused for lack of descriptors)",
			 d->nofile_refused);
		d->nofile = false;
	}
	conn_admit(d, fd, false);
}

/*
 * Without SO_PASSRIGHTS: does the next message carry descriptors?  A peek
 * without room for control data sets MSG_CTRUNC if it does, and installs
 * none (the references it takes are dropped at once, and the message keeps
 * its own, so nothing is closed for good here).  1 yes, 0 no, -EAGAIN.
 */
static int peek_fds(int fd)
{
	char b;
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	do {
		r = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? -EAGAIN : 0;	/* an error: the read says it */
	return !!(mh.msg_flags & MSG_CTRUNC);
}

/*
 * Receive one message into d->in.  Room for as many descriptors as one
 * message can carry, so that the kernel never discards any here (MSG_CTRUNC
 * would drop the rest in this thread); any that came are in @fds.  Return
 * the length, 0 at end of file, -EPROTO (oversized or truncated), -errno.
 */
static int conn_recv(struct daemon *d, int fd, int *fds, unsigned int *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * SCM_MAX_FD)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = d->in, .iov_len = sizeof(d->in) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof(u.b) };
	ssize_t r;

	*nfds = 0;
	do {
		r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && *nfds < SCM_MAX_FD; i++)
			memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EPROTO;
	return (int)r;
}

bool conn_input(struct daemon *d, int ci)
{
	struct conn *c = d->conns[ci];
	int fds[SCM_MAX_FD];
	unsigned int nfds = 0;
	struct xp_msg in;
	int len, r;

	if (!d->passrights) {
		r = peek_fds(c->fd);
		if (r == -EAGAIN)
			return true;
		if (r > 0) {
			log_warn("client pid %d uid %u: a message carries descriptors: disconnecting",
				 (int)c->pid, (unsigned int)c->uid);
			return false;
		}
	}
	len = conn_recv(d, c->fd, fds, &nfds);
	if (nfds) {
		/* refused by the kernel, or seen by the peek: not reached */
		log_warn("client pid %d uid %u: %u descriptors came with a message: disconnecting",
			 (int)c->pid, (unsigned int)c->uid, nfds);
		client_fds_drop(d, fds, nfds);
		return false;
	}
	if (len == -EAGAIN)
		return true;
	if (len <= 0) {
		if (len < 0)
			log_warn("client pid %d: %s: disconnecting", (int)c->pid,
				 len == -EPROTO ? "oversized or truncated message" :
						  strerror(-len));
		return false;
	}
	if (!c->admin) {
		struct xp_hdr h = { 0 };

		/* copy-on-write and transmit requests are the data path of a
		 * client that modifies or sends frames: a thousandth of a
		 * token (REQ_RATE * 1000 a second), still bounded; everything
		 * else a whole one */
		if ((size_t)len >= sizeof(h))
			memcpy(&h, d->in, sizeof(h));
		c->tokens -= h.op == XP_POOL || h.op == XP_COMMIT || h.op == XP_SEND ? 1 : 1000;
		if (c->tokens < 1000)
			conn_throttle(d, ci, true);
	}
	r = xp_parse(&in, d->in, (size_t)len, 0);
	errmsg[0] = '\0';
	if (r == -EPROTO) {
		log_warn("client pid %d: malformed message (%d bytes): disconnecting", (int)c->pid,
			 len);
		return false;
	}
	if (r == -EPROTONOSUPPORT)
		return !reply_err(d, c, in.hdr.op, r,
				  "protocol version %u not supported (xsnapd speaks %u)",
				  in.hdr.version, XP_VERSION);
	if (r == -EOPNOTSUPP)
		return !reply_err(d, c, in.hdr.op, r, "unknown operation %u", in.hdr.op);
	if (r == -EBADMSG)
		return !reply_err(d, c, in.hdr.op, r,
				  "descriptor count %u does not match (none came: requests carry "
				  "none)",
				  in.hdr.nfds);
	if (in.hdr.status)
		return !reply_err(d, c, in.hdr.op, -EBADMSG, "request with a status");
	if (in.hdr.op != XP_HELLO && !c->hello)
		return !reply_err(d, c, in.hdr.op, -EPROTO, "HELLO first");
	return dispatch(d, c, &in) == 0;
}
