// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd's client connections: accepting them, reading and framing their
 * messages (proto.h), replies, and closing them with everything they held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xsnapd.h"

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
	close(c->fd);
	free(c);
	d->conns[ci] = NULL;
}

void conn_accept(struct daemon *d)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c;
	int fd, ci;

	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (ci = 0; ci < MAX_CONNS && d->conns[ci]; ci++)
		;
	if (ci == MAX_CONNS) {
		/* the answer to the HELLO a client sends first: it reads why */
		char why[80];
		struct xp_msg m;
		int len;

		snprintf(why, sizeof(why), "too many clients: xsnapd serves at most %d connections",
			 MAX_CONNS);
		xp_begin(&m, d->out, sizeof(d->out), XP_HELLO, -EUSERS);
		xp_put_str(&m, why);
		len = xp_end(&m, 0);
		if (len > 0)
			xp_send(fd, m.buf, (size_t)len, NULL, 0);
	}
	c = ci < MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		log_warn("client refused: %s", c ? strerror(errno) : "too many clients");
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->hello_by_ms = now_ns() / 1000000 + HELLO_MS;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	len = sizeof(c->groups);
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len))
		c->ngroups = (int)(len / sizeof(gid_t));
	c->admin = c->uid == 0 || (d->have_admin_gid && peer_in_group(c, d->admin_gid));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ev_key(EV_CONN, (uint32_t)ci) };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		free(c);
		close(fd);
		return;
	}
	d->conns[ci] = c;
	log_debug("client pid %d uid %u gid %u: connected%s", (int)c->pid, (unsigned int)c->uid,
		  (unsigned int)c->gid, c->admin ? " (admin)" : "");
}

bool conn_input(struct daemon *d, int ci)
{
	struct conn *c = d->conns[ci];
	int fds[XP_MAX_FDS];
	unsigned int nfds = 0;
	struct xp_msg in;
	int len, r;

	len = xp_recv(c->fd, d->in, sizeof(d->in), fds, &nfds);
	if (len == -EAGAIN)
		return true;
	if (len <= 0) {
		if (len < 0)
			log_warn("client pid %d: %s: disconnecting", (int)c->pid,
				 len == -EPROTO ? "oversized or truncated message" :
						  strerror(-len));
		return false;
	}
	/* we never accept descriptors from clients */
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	r = xp_parse(&in, d->in, (size_t)len, nfds);
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
				  "descriptor count %u does not match (%u came)", in.hdr.nfds,
				  nfds);
	if (nfds)
		return !reply_err(d, c, in.hdr.op, -EBADMSG, "no request carries descriptors");
	if (in.hdr.status)
		return !reply_err(d, c, in.hdr.op, -EBADMSG, "request with a status");
	if (in.hdr.op != XP_HELLO && !c->hello)
		return !reply_err(d, c, in.hdr.op, -EPROTO, "HELLO first");
	return dispatch(d, c, &in) == 0;
}

