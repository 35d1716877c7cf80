// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd's metrics endpoint (--metrics ADDR:PORT): a small HTTP/1.x server
 * on the daemon's one epoll loop that answers GET /metrics with the
 * Prometheus text format 0.0.4 (tools/common/prom.h, the formatter of
 * `xsnapctl stats --prometheus` too).
 *
 * A scraper is not trusted to behave.  Every socket is non-blocking and
 * the loop never waits on one: a request is read as it comes, into a
 * fixed buffer of METRICS_REQ_MAX bytes (a longer head gets 431), and the
 * response is written as the peer takes it.  A connection lives at most
 * METRICS_TIMEOUT_MS from its accept, whatever it does (silent, one byte a
 * second, never reading its response), and at most METRICS_CONNS are
 * served at once (one more gets 503 and is closed).  So a hostile client
 * costs the daemon a slot for a few seconds, never the loop's time.  One
 * response per connection (Connection: close); after it the connection
 * reads and discards what the peer still sends until it closes (so our
 * close does not reset a response in flight), within its time.
 *
 * The figures are gathered as STATS gathers them (iface_figures()): the
 * library's engine lock is held only while it copies counters.  They are
 * every tenant's: there are no credentials on a TCP connection, so the
 * endpoint is meant for a loopback or otherwise protected address.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prom.h"
#include "xsnapd.h"

#define METRICS_REQ_MAX 4096	/* bytes of a request head at most */
#define METRICS_TIMEOUT_MS 5000	/* a connection's whole life at most */
#define METRICS_BACKLOG 16
#define METRICS_LOG_MS 10000	/* refusals are logged at most this often */

enum mstate { M_FREE, M_READ, M_WRITE, M_DRAIN };

struct mconn {
	enum mstate state;
	int fd;
	int64_t deadline_ms;
	size_t rlen;
	char req[METRICS_REQ_MAX];
	char head[256];		/* the status line and headers */
	size_t hlen;
	char *body;		/* the metrics (open_memstream()) or a static text */
	size_t blen;
	bool body_owned;
	bool head_only;		/* HEAD: no body sent */
	size_t off;		/* bytes of head + body sent */
};

struct metrics {
	int lfd[METRICS_LISTEN_MAX];
	unsigned int nl;
	bool paused;		/* accept() ran out of descriptors: resumed at the tick */
	unsigned int refused;	/* connections refused with 503 (all slots busy) ... */
	int64_t refused_log_ms;	/* ... since this log line */
	struct mconn c[METRICS_CONNS];
	/* a scrape's figures, kept here to stay off the loop's stack */
	struct xsnap_stats ist[MAX_IFACES];
	struct xsnap_stats tst[MAX_IFACES][XSNAP_MAX_TENANTS];
	struct prom_tenant pt[MAX_IFACES][XSNAP_MAX_TENANTS];
	struct prom_iface pi[MAX_IFACES];
};

static int64_t now_ms(void)
{
	return now_ns() / 1000000;
}

/* --- listening ------------------------------------------------------------------ */

/*
 * Split "ADDR:PORT", "[IPV6]:PORT" or ":PORT" into @host (empty: every
 * address) and @port.  false if it is none of those.
 */
static bool split_addr(const char *arg, char *host, size_t hsz, char *port, size_t psz)
{
	const char *colon, *h = arg, *hend;
	size_t hl;
	char *end;
	long v;

	if (*arg == '[') {
		h = arg + 1;
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return false;
		colon = hend + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return false;
		hend = colon;
		if (memchr(arg, ':', (size_t)(colon - arg)))
			return false;	/* IPv6 without brackets */
	}
	hl = (size_t)(hend - h);
	if (hl >= hsz || strlen(colon + 1) >= psz || colon[1] < '0' || colon[1] > '9')
		return false;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (*end || errno || v < 1 || v > 65535)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, psz, "%ld", v);
	return true;
}

static int listen_one(const struct addrinfo *ai)
{
	int one = 1, fd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::]:PORT and 0.0.0.0:PORT side by side, as :PORT asks */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, METRICS_BACKLOG)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void addr_text(const struct addrinfo *ai, char *buf, size_t sz)
{
	char h[NI_MAXHOST] = "?", p[NI_MAXSERV] = "?";

	getnameinfo(ai->ai_addr, ai->ai_addrlen, h, sizeof(h), p, sizeof(p),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, sz, ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

bool metrics_addr_ok(const char *arg)
{
	char host[256], port[8];

	if (split_addr(arg, host, sizeof(host), port, sizeof(port)))
		return true;
	fprintf(stderr, "xsnapd: --metrics '%s': give ADDR:PORT (127.0.0.1:9476, [::1]:9476, "
			"localhost:9476, or :9476 for every address; PORT 1..65535)\n", arg);
	return false;
}

int metrics_open(struct daemon *d)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	char host[256], port[8], where[NI_MAXHOST + 16];
	struct addrinfo *res, *ai;
	struct metrics *m;
	int r;

	if (!split_addr(d->cfg.metrics, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;	/* metrics_addr_ok() said why */
	/* a host name is resolved once, here */
	r = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (r) {
		log_warn("--metrics %s: %s", d->cfg.metrics, gai_strerror(r));
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		freeaddrinfo(res);
		return -ENOMEM;
	}
	for (int i = 0; i < METRICS_CONNS; i++)
		m->c[i].fd = -1;
	d->metrics = m;
	for (ai = res; ai && m->nl < METRICS_LISTEN_MAX; ai = ai->ai_next) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = ev_key(EV_METRICS, m->nl) };
		int fd = listen_one(ai);

		addr_text(ai, where, sizeof(where));
		if (fd < 0) {
			log_warn("--metrics %s: %s: %s", d->cfg.metrics, where, strerror(-fd));
			continue;
		}
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			log_warn("--metrics %s: epoll: %s", where, strerror(errno));
			close(fd);
			continue;
		}
		m->lfd[m->nl++] = fd;
		log_info("metrics at http://%s/metrics", where);
	}
	freeaddrinfo(res);
	if (!m->nl) {
		log_warn("--metrics %s: could not listen on any of its addresses", d->cfg.metrics);
		metrics_close(d);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

/* --- connections ---------------------------------------------------------------- */

static void mconn_close(struct mconn *c)
{
	if (c->state == M_FREE)
		return;
	close(c->fd);
	if (c->body_owned)
		free(c->body);
	c->body = NULL;
	c->body_owned = false;
	c->fd = -1;
	c->state = M_FREE;
}

static void mconn_watch(struct daemon *d, struct mconn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events,
				  .data.u64 = ev_key(EV_MCONN, (uint32_t)(c - d->metrics->c)) };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
		log_debug("metrics: epoll: %s", strerror(errno));
		mconn_close(c);
	}
}

/* The metrics of every attached interface into a new buffer; false if
 * memory ran out. */
static bool scrape(struct daemon *d, struct mconn *c)
{
	struct metrics *m = d->metrics;
	unsigned int n = 0;
	uint32_t all = 0;
	FILE *f;
	int r;

	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		if (d->tenants[i].used)
			all |= 1u << i;
	for (int i = 0; i < MAX_IFACES; i++) {
		struct iface *ifc = &d->ifs[i];
		struct prom_iface *pi = &m->pi[n];

		if (!ifc->used || !ifc->ctx)
			continue;
		memset(&m->ist[n], 0, sizeof(m->ist[n]));
		memset(m->tst[n], 0, sizeof(m->tst[n]));
		iface_figures(d, ifc, all, m->tst[n], &m->ist[n]);
		*pi = (struct prom_iface){ .name = ifc->name, .st = &m->ist[n], .t = m->pt[n] };
		for (int t = 0; t < XSNAP_MAX_TENANTS; t++)
			if (all & 1u << t)
				m->pt[n][pi->nt++] = (struct prom_tenant){ d->tenants[t].name,
									   &m->tst[n][t] };
		n++;
	}
	f = open_memstream(&c->body, &c->blen);
	if (!f)
		return false;
	r = prom_write(f, m->pi, n);
	if (fclose(f) || r) {
		free(c->body);
		c->body = NULL;
		return false;
	}
	c->body_owned = true;
	return true;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	default: return "Internal Server Error";
	}
}

/* Set the response: @status with @text as its body, or the metrics. */
static void respond(struct daemon *d, struct mconn *c, int status, const char *text)
{
	const char *type = "text/plain; charset=utf-8";

	if (status == 200) {
		if (scrape(d, c)) {
			type = "text/plain; version=0.0.4; charset=utf-8";
		} else {
			status = 500;
			text = "out of memory\n";
		}
	}
	if (status != 200) {
		c->body = (char *)text;
		c->blen = strlen(text);
	}
	c->hlen = (size_t)snprintf(c->head, sizeof(c->head),
				   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
				   "%sConnection: close\r\n\r\n",
				   status, reason(status), type, c->blen,
				   status == 405 ? "Allow: GET, HEAD\r\n" : "");
	c->off = 0;
	c->state = M_WRITE;
}

/* The request head is in: what does it ask? */
static void request(struct daemon *d, struct mconn *c)
{
	char *sp1, *sp2, *eol, *q;

	eol = strpbrk(c->req, "\r\n");
	if (eol)
		*eol = '\0';
	sp1 = strchr(c->req, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) || sp1 == c->req) {
		respond(d, c, 400, "bad request: want GET /metrics HTTP/1.1\n");
		return;
	}
	*sp1 = *sp2 = '\0';
	q = strchr(sp1 + 1, '?');	/* a query string changes nothing */
	if (q)
		*q = '\0';
	if (strcmp(c->req, "GET") && strcmp(c->req, "HEAD")) {
		respond(d, c, 405, "method not allowed: GET or HEAD\n");
		return;
	}
	c->head_only = !strcmp(c->req, "HEAD");
	if (strcmp(sp1 + 1, "/metrics")) {
		respond(d, c, 404, "not found: the metrics are at /metrics\n");
		return;
	}
	respond(d, c, 200, NULL);
}

/* Send what the peer takes; then half-close and drain. */
static void mconn_write(struct daemon *d, struct mconn *c)
{
	size_t body = c->head_only ? 0 : c->blen;

	while (c->off < c->hlen + body) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t w;

		if (c->off < c->hlen) {
			iov[0] = (struct iovec){ c->head + c->off, c->hlen - c->off };
			iov[1] = (struct iovec){ c->body, body };
			mh.msg_iovlen = 2;
		} else {
			iov[0] = (struct iovec){ c->body + (c->off - c->hlen), c->hlen + body - c->off };
			mh.msg_iovlen = 1;
		}
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			mconn_watch(d, c, EPOLLOUT);
			return;
		}
		if (w < 0) {
			log_debug("metrics: send: %s", strerror(errno));
			mconn_close(c);
			return;
		}
		c->off += (size_t)w;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = M_DRAIN;
	mconn_watch(d, c, EPOLLIN);
}

/* Read what the peer sends: the request head, or after the response what
 * is left, discarded (a few reads at a time: epoll calls again). */
static void mconn_read(struct daemon *d, struct mconn *c)
{
	for (int k = 0; k < 16; k++) {
		char junk[512];
		size_t from;
		char *to = c->state == M_READ ? c->req + c->rlen : junk;
		size_t room = c->state == M_READ ? sizeof(c->req) - 1 - c->rlen : sizeof(junk);
		ssize_t r;

		if (!room) {
			respond(d, c, 431, "request head too large\n");
			mconn_write(d, c);
			return;
		}
		r = recv(c->fd, to, room, MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {	/* the peer is done, or gone */
			mconn_close(c);
			return;
		}
		if (c->state != M_READ)
			continue;
		/* the head ends with an empty line (bare LFs accepted) */
		from = c->rlen > 3 ? c->rlen - 3 : 0;
		c->rlen += (size_t)r;
		c->req[c->rlen] = '\0';
		if (strstr(c->req + from, "\r\n\r\n") || strstr(c->req + from, "\n\n")) {
			request(d, c);
			mconn_write(d, c);
			return;
		}
	}
}

static void listen_pause(struct daemon *d, bool pause)
{
	struct metrics *m = d->metrics;

	for (unsigned int i = 0; i < m->nl; i++) {
		struct epoll_event ev = { .events = pause ? 0 : EPOLLIN,
					  .data.u64 = ev_key(EV_METRICS, i) };

		epoll_ctl(d->epfd, EPOLL_CTL_MOD, m->lfd[i], &ev);
	}
	m->paused = pause;
}

static void accept_all(struct daemon *d, int lfd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n";
	struct metrics *m = d->metrics;

	/* a bounded batch: the listener stays readable if more wait */
	for (int k = 0; k < 2 * METRICS_CONNS; k++) {
		struct mconn *c = NULL;
		struct epoll_event ev = { .events = EPOLLIN };
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				log_warn("metrics: accept: %s: paused for a tick", strerror(errno));
				listen_pause(d, true);
			}
			return;
		}
		for (int i = 0; !c && i < METRICS_CONNS; i++)
			if (m->c[i].state == M_FREE)
				c = &m->c[i];
		if (!c) {
			/* a fresh socket's buffer takes this whole; best effort */
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("metrics: 503: %s", strerror(errno));
			close(fd);
			m->refused++;
			continue;
		}
		*c = (struct mconn){ .state = M_READ, .fd = fd,
				     .deadline_ms = now_ms() + METRICS_TIMEOUT_MS };
		ev.data.u64 = ev_key(EV_MCONN, (uint32_t)(c - m->c));
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			log_debug("metrics: epoll: %s", strerror(errno));
			mconn_close(c);
		}
	}
}

void metrics_event(struct daemon *d, uint32_t type, uint32_t idx, uint32_t events)
{
	struct metrics *m = d->metrics;
	struct mconn *c;

	if (!m)
		return;
	if (type == EV_METRICS) {
		if (idx < m->nl)
			accept_all(d, m->lfd[idx]);
		return;
	}
	if (idx >= METRICS_CONNS || m->c[idx].state == M_FREE)
		return;
	c = &m->c[idx];
	if (c->state == M_WRITE && events & EPOLLOUT)
		mconn_write(d, c);
	else if (c->state != M_WRITE && events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		mconn_read(d, c);
	else if (events & (EPOLLHUP | EPOLLERR))
		mconn_close(c);
}

void metrics_tick(struct daemon *d, int64_t now)
{
	struct metrics *m = d->metrics;

	if (!m)
		return;
	if (m->paused)
		listen_pause(d, false);
	for (int i = 0; i < METRICS_CONNS; i++) {
		struct mconn *c = &m->c[i];

		if (c->state == M_FREE || now < c->deadline_ms)
			continue;
		log_debug("metrics: connection %d: not done within %d ms (%s): closed", i,
			  METRICS_TIMEOUT_MS,
			  c->state == M_READ ? "request incomplete" :
			  c->state == M_WRITE ? "response not taken" : "peer did not close");
		mconn_close(c);
	}
	if (m->refused && now - m->refused_log_ms >= METRICS_LOG_MS) {
		log_warn("metrics: %u connection(s) refused (503): all %d slots were busy (each "
			 "lives at most %d ms)",
			 m->refused, METRICS_CONNS, METRICS_TIMEOUT_MS);
		m->refused = 0;
		m->refused_log_ms = now;
	}
}

void metrics_close(struct daemon *d)
{
	struct metrics *m = d->metrics;

	if (!m)
		return;
	for (int i = 0; i < METRICS_CONNS; i++)
		mconn_close(&m->c[i]);
	for (unsigned int i = 0; i < m->nl; i++)
		close(m->lfd[i]);
	free(m);
	d->metrics = NULL;
}
