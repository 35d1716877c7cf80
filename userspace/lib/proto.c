// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The xsnapd wire protocol codec (see proto.h).  Building never writes past
 * the buffer (an overflow sets err); parsing never reads past the message
 * (a short field sets err and yields zero).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stddef.h>
#include <xsnap/xsnap.h>

#include "proto.h"

void xp_begin(struct xp_msg *m, uint8_t *buf, size_t cap, uint16_t op, int32_t status)
{
	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->cap = cap < XP_MAX_MSG ? cap : XP_MAX_MSG;
	m->len = sizeof(struct xp_hdr);
	m->hdr.version = XP_VERSION;
	m->hdr.op = op;
	m->hdr.status = status;
	if (m->cap < m->len)
		m->err = true;
}

static void put(struct xp_msg *m, const void *p, size_t n)
{
	if (m->err || m->cap - m->len < n) {
		m->err = true;
		return;
	}
	if (n)	/* p may be NULL for an empty field */
		memcpy(m->buf + m->len, p, n);
	m->len += n;
}

void xp_put_u8(struct xp_msg *m, uint8_t v)
{
	put(m, &v, sizeof(v));
}

void xp_put_u32(struct xp_msg *m, uint32_t v)
{
	put(m, &v, sizeof(v));
}

void xp_put_u64(struct xp_msg *m, uint64_t v)
{
	put(m, &v, sizeof(v));
}

void xp_put_i64(struct xp_msg *m, int64_t v)
{
	put(m, &v, sizeof(v));
}

void xp_put_str(struct xp_msg *m, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint16_t l = (uint16_t)n;

	if (n > XP_STR_MAX) {
		m->err = true;
		return;
	}
	put(m, &l, sizeof(l));
	put(m, s, n);
}

int xp_end(struct xp_msg *m, uint32_t nfds)
{
	if (m->err || nfds > XP_MAX_FDS)
		return -EMSGSIZE;
	m->hdr.len = (uint32_t)m->len;
	m->hdr.nfds = nfds;
	memcpy(m->buf, &m->hdr, sizeof(m->hdr));
	return (int)m->len;
}

int xp_parse(struct xp_msg *m, uint8_t *buf, size_t len, unsigned int nfds)
{
	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->len = len;
	m->off = sizeof(struct xp_hdr);
	if (len < sizeof(struct xp_hdr) || len > XP_MAX_MSG) {
		m->err = true;
		return -EPROTO;
	}
	memcpy(&m->hdr, buf, sizeof(m->hdr));
	if (m->hdr.len != len) {
		m->err = true;
		return -EPROTO;
	}
	if (m->hdr.version != XP_VERSION)
		return -EPROTONOSUPPORT;
	if (m->hdr.op == 0 || m->hdr.op >= XP_OP_MAX)
		return -EOPNOTSUPP;
	if (m->hdr.nfds != nfds)
		return -EBADMSG;
	return 0;
}

static void get(struct xp_msg *m, void *p, size_t n)
{
	if (m->err || m->len - m->off < n) {
		m->err = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, m->buf + m->off, n);
	m->off += n;
}

uint8_t xp_get_u8(struct xp_msg *m)
{
	uint8_t v;

	get(m, &v, sizeof(v));
	return v;
}

uint32_t xp_get_u32(struct xp_msg *m)
{
	uint32_t v;

	get(m, &v, sizeof(v));
	return v;
}

uint64_t xp_get_u64(struct xp_msg *m)
{
	uint64_t v;

	get(m, &v, sizeof(v));
	return v;
}

int64_t xp_get_i64(struct xp_msg *m)
{
	int64_t v;

	get(m, &v, sizeof(v));
	return v;
}

void xp_get_str(struct xp_msg *m, char *out, size_t outsz, bool empty_ok)
{
	uint16_t l;

	if (outsz)
		out[0] = '\0';
	get(m, &l, sizeof(l));
	if (m->err || l > XP_STR_MAX || (size_t)l >= outsz || m->len - m->off < l ||
	    (!l && !empty_ok)) {
		m->err = true;
		return;
	}
	for (uint16_t i = 0; i < l; i++) {
		uint8_t c = m->buf[m->off + i];

		if (c < 0x20 || c > 0x7e) {
			m->err = true;
			return;
		}
	}
	memcpy(out, m->buf + m->off, l);
	out[l] = '\0';
	m->off += l;
}

int xp_done(const struct xp_msg *m)
{
	return m->err || m->off != m->len ? -EBADMSG : 0;
}

int xp_send(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * XP_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (nfds > XP_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

int xp_recv(int sock, void *buf, size_t cap, int *fds, unsigned int *nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * XP_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof(u.b) };
	unsigned int n = 0;
	ssize_t r;

	*nfds = 0;
	do {
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned int k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		for (unsigned int i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < XP_MAX_FDS)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)r > XP_MAX_MSG) {
		while (n)
			close(fds[--n]);
		return -EPROTO;
	}
	*nfds = n;
	return (int)r;
}

void (*xp_sent_hook)(uint16_t op);

int xp_call(int sock, struct xp_msg *req, uint8_t *buf, size_t cap, struct xp_msg *rep,
	    int *fds, unsigned int *nfds, char *errmsg, size_t errsz)
{
	int fdv[XP_MAX_FDS];
	unsigned int n = 0;
	int len, r;
	uint16_t op = req->hdr.op;

	len = xp_end(req, 0);
	if (len < 0)
		return len;
	r = xp_send(sock, req->buf, (size_t)len, NULL, 0);
	if (!r && xp_sent_hook)
		xp_sent_hook(op);
	/* a peer that hung up may have said why first (xsnapd refusing a
	 * client past its limit): its message is still queued, read it */
	if (r && r != -EPIPE && r != -ECONNRESET)
		return r;
	len = xp_recv(sock, buf, cap, fdv, &n);
	/* a peer that closed with our request unread: the error comes first,
	 * its last message (if any) after it */
	if (len == -ECONNRESET)
		len = xp_recv(sock, buf, cap, fdv, &n);
	if (len <= 0)
		return r ? r : len == 0 ? -ECONNRESET : len;
	r = xp_parse(rep, buf, (size_t)len, n);
	if (!r && rep->hdr.op != op)
		r = -EPROTO;
	if (!r && rep->hdr.status) {
		r = rep->hdr.status < 0 ? rep->hdr.status : -EPROTO;
		if (errmsg)
			xp_get_str(rep, errmsg, errsz, true);
	}
	if (r || !fds) {
		while (n)
			close(fdv[--n]);
	} else {
		memcpy(fds, fdv, n * sizeof(int));
		*nfds = n;
	}
	return r;
}

const char *xp_socket_path(const char *path)
{
	if (!path || !*path)
		path = getenv("XSNAP_SOCKET");
	return path && *path ? path : XP_DEFAULT_SOCKET;
}

int xp_connect(const char *path, struct xp_hello *hello, uint8_t *buf, size_t cap, char *errmsg,
	       size_t errsz)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t req[64];
	struct xp_msg m, rep;
	struct xp_hello h;
	char msg[256] = "";
	int fd, r;

	path = xp_socket_path(path);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(errmsg, errsz, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		r = -errno;
		snprintf(errmsg, errsz, "cannot connect to %s: %s%s", path, strerror(-r),
			 r == -ENOENT || r == -ECONNREFUSED ? "; is xsnapd running?" :
			 r == -EACCES ? "; are you in xsnapd's group (xsnapd -G)?" : "");
		if (fd >= 0)
			close(fd);
		return r;
	}
	xp_begin(&m, req, sizeof(req), XP_HELLO, 0);
	xp_put_u32(&m, XP_VERSION);
	r = xp_call(fd, &m, buf, cap, &rep, NULL, NULL, msg, sizeof(msg));
	if (!r) {
		h.version = xp_get_u32(&rep);
		h.uid = xp_get_u32(&rep);
		h.admin = xp_get_u8(&rep);
		if (xp_done(&rep))
			r = -EPROTO;
	}
	if (r) {
		snprintf(errmsg, errsz, "hello to %s: %s", path, *msg ? msg : strerror(-r));
		close(fd);
		return r;
	}
	if (hello)
		*hello = h;
	return fd;
}

void xp_put_stats(struct xp_msg *m, const struct xsnap_stats *st)
{
#define X(f) xp_put_u64(m, (uint64_t)st->f);
	XP_STATS_FIELDS(X)
#undef X
	for (int i = 0; i < XP_STATS_XDP; i++)
		xp_put_u64(m, st->xdp[i]);
}

void xp_get_stats(struct xp_msg *m, struct xsnap_stats *st)
{
	size_t sz = st->sz;
	uint64_t v;

#define X(f)                                                                    \
	v = xp_get_u64(m);                                                      \
	if (offsetof(struct xsnap_stats, f) + sizeof(st->f) <= sz)             \
		st->f = (__typeof__(st->f))v;
	XP_STATS_FIELDS(X)
#undef X
	for (int i = 0; i < XP_STATS_XDP; i++) {
		v = xp_get_u64(m);
		if (offsetof(struct xsnap_stats, xdp) + (i + 1) * sizeof(uint64_t) <= sz)
			st->xdp[i] = v;
	}
}
