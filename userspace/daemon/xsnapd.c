// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd: owns interfaces, runs the xsnap engine for each, and serves
 * consumer processes and xsnapctl over a Unix socket (proto.h).
 *
 * One thread, one epoll loop:
 *   - the listening socket and every client connection (SOCK_SEQPACKET),
 *   - every AF_XDP socket of every attached interface (readable -> engine_poll),
 *   - a signalfd (SIGTERM/SIGINT: detach everything and exit 0),
 *   - each attached context's rtnetlink watch (RTM_DELLINK of its device:
 *     the interface is marked gone, its clients see -ENETDOWN, its context
 *     is closed),
 *   - a 10 ms tick (transmit completions, reclaim, fill-ring restock).
 *
 * Under load an interface is paced instead of woken per frame burst (like a
 * NIC's interrupt moderation), by the library's one pacer (struct pacer,
 * the same policy as an in-process engine thread): while the engine moves
 * at least PACE_BUSY_FRAMES frames per PACE_WINDOW_NS, the interface's rx
 * wake-ups are off and the engine runs every pacer interval (0.1..1 ms), moving
 * everything that came meanwhile in one go and waking all sleeping
 * consumers of a tenant with one futex wake-up; the first window below
 * that rate turns the wake-ups back on.  Each wake-up of a consumer process
 * costs two context switches and an address-space switch, so waking per
 * burst of the kernel's (a NAPI poll: tens of frames) would make the daemon
 * path cost up to three times the in-process path per frame.  Below the
 * rate nothing is delayed (bursts included: the rate is taken over a whole
 * window).
 *
 * Tenants and rules are daemon-wide: each is instantiated on every attached
 * interface (and replayed on a later attach).  A client socket is an
 * in-process socket of the interface's context whose shared pages (log
 * region, control page) and UMEM descriptors are handed to the client with
 * SCM_RIGHTS; the daemon remembers which connection owns it and closes it
 * when the connection ends, whatever the client did.
 *
 * This file: main loop, setup, interfaces, tenants, rules and the op
 * table; sockets.c: client sockets (open, close, leases, commit, send,
 * snapshots); conn.c: client connections; info.c: STATUS and STATS
 * (xsnapd.h lists what they share).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "rule.h"
#include "xsnapd.h"

/* long options without a short one */
enum { OPT_CONNS_PER_UID = 256, OPT_SOCKS_PER_UID, OPT_MAX_TENANTS, OPT_METRICS };

int verbosity;
char errmsg[512];

void logmsg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > verbosity)
		return;
	va_start(ap, fmt);
	fputs("xsnapd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Library messages: remembered for the error reply, logged one level lower. */
static int lib_print(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	const char *p = buf;
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (!strncmp(p, "xsnap: ", 7))
		p += 7;
	if (level == XSNAP_WARN)
		snprintf(errmsg, sizeof(errmsg), "%s", p);
	if ((int)level + 1 <= verbosity)
		fprintf(stderr, "xsnapd: lib: %s\n", p);
	return 0;
}

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- sd_notify without libsystemd ---------------------------------------- */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_warn("sd_notify %s: %s", msg, strerror(errno));
	close(fd);
}

/* --- interfaces ----------------------------------------------------------- */
static uint32_t rx_queues(const char *ifname)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr = {};
	uint32_t n = 0;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ch;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		n = ch.rx_count > ch.combined_count ? ch.rx_count : ch.combined_count;
	close(fd);
	return n;
}

struct iface *iface_find(struct daemon *d, const char *name, bool live)
{
	for (int i = 0; i < MAX_IFACES; i++) {
		struct iface *f = &d->ifs[i];

		if (f->used && (!live || !f->gone) && (!name || !*name || !strcmp(f->name, name)))
			return f;
	}
	return NULL;
}

unsigned int iface_nsocks(struct daemon *d, int ifc)
{
	unsigned int n = 0;

	for (int i = 0; i < MAX_DSOCKS; i++)
		n += d->socks[i].s && d->socks[i].ifc == ifc;
	return n;
}

/*
 * Take an interface out of service: its clients' sockets see LOG_IF_DEAD
 * (recv returns -ENETDOWN) and are woken, their handles become stale, and
 * the context is closed: program detached, pins removed, frames reclaimed.
 */
static void iface_down(struct daemon *d, struct iface *f, const char *why)
{
	int ifc = (int)(f - d->ifs);
	struct xsnap_ctx *ctx = f->ctx;
	struct serve_if_info in;

	if (!ctx)
		return;
	log_warn("%s: %s: detaching, %u client socket(s) closed", f->name, why,
		 iface_nsocks(d, ifc));
	serve_if_dead(ctx);
	serve_if_info(ctx, &in);
	for (uint32_t q = 0; q < in.nq; q++)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, in.q[q].fd, NULL);
	f->paced = false;
	for (uint32_t i = 0; i < MAX_DSOCKS; i++) {
		if (d->socks[i].s && d->socks[i].ifc == ifc) {
			dsock_closing(d, i);
			dsock_forget(d, i);	/* freed by xsnap_close below */
		}
	}
	xsnap_close(ctx);
	f->ctx = NULL;
	f->gone = true;
}

/* Run @f's engine (until its rx rings are drained, bounded) and follow the
 * pacer: under load the rx rings do not wake us, the loop timeout runs the
 * engine at serve_next_ns(). */
static int iface_engine(struct daemon *d, struct iface *f)
{
	struct xsnap_ctx *ctx = f->ctx;
	bool changed;
	int n;

	if (!ctx)
		return 0;
	n = (int)serve_engine_run(ctx, &changed);
	if (changed || f->paced != serve_paced(ctx)) {
		struct epoll_event ev = { .events = serve_paced(ctx) ? 0 : EPOLLIN,
					  .data.u64 = ev_key(EV_XSK, (uint32_t)(f - d->ifs)) };
		struct serve_if_info in;

		serve_if_info(ctx, &in);
		for (uint32_t q = 0; q < in.nq; q++)
			if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, in.q[q].fd, &ev))
				log_warn("%s: queue %u: epoll: %s", f->name, q, strerror(errno));
		f->paced = serve_paced(ctx);
	}
	return n;
}

/* epoll timeout: the next tick or the next paced engine run. */
static struct timespec loop_timeout(struct daemon *d, int64_t last_tick_ms)
{
	int64_t now = now_ns();
	int64_t next = (last_tick_ms + TICK_MS) * 1000000;

	for (int i = 0; i < MAX_IFACES; i++)
		if (d->ifs[i].ctx && d->ifs[i].paced && serve_next_ns(d->ifs[i].ctx) < next)
			next = serve_next_ns(d->ifs[i].ctx);
	next = next > now ? next - now : 0;
	return (struct timespec){ .tv_sec = next / 1000000000, .tv_nsec = next % 1000000000 };
}

/* The last library message, or the errno text. */
const char *why(int err)
{
	return *errmsg ? errmsg : strerror(-err);
}

/* --- tenants and rules ---------------------------------------------------- */
struct dtenant *tenant_find(struct daemon *d, const char *name)
{
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		if (d->tenants[i].used && !strcmp(d->tenants[i].name, name))
			return &d->tenants[i];
	return NULL;
}

/* Free rule slot @i and pull d->rules_end back over the free slots at
 * its end. */
static void rule_free(struct daemon *d, uint32_t i)
{
	d->rules[i].used = false;
	while (d->rules_end && !d->rules[d->rules_end - 1].used)
		d->rules_end--;
}

static void rule_text(const struct drule *r, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s%s", r->match,
		 r->action == XP_DROP ? " action drop" :
		 r->action == XP_PASS ? " action pass" :
					"");
}

/* Instantiate every tenant and rule on a new interface. */
static int iface_replay(struct daemon *d, struct iface *f)
{
	int ifc = (int)(f - d->ifs);
	char text[XP_STR_MAX + 32];

	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		struct dtenant *t = &d->tenants[i];
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = t->quota, .view = t->view,
			   .queue_group = t->qgroup);
		int r;

		if (!t->used)
			continue;
		r = xsnap_tenant_add(f->ctx, t->name, &to);
		if (r < 0)
			return r;
	}
	for (uint32_t i = 0; i < d->rules_end; i++) {
		struct drule *r = &d->rules[i];
		int id;

		if (!r->used)
			continue;
		rule_text(r, text, sizeof(text));
		id = xsnap_rule_add(f->ctx, r->tenant, text, (int)r->prio);
		if (id < 0)
			return id;
		r->ifrule[ifc] = id;
	}
	return 0;
}

bool peer_in_group(const struct conn *c, gid_t g)
{
	if (c->gid == g)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return true;
	return false;
}

bool may_consume(const struct conn *c, const struct dtenant *t)
{
	return c->admin || (t->uid >= 0 && (int64_t)c->uid == t->uid) ||
	       (t->gid >= 0 && peer_in_group(c, (gid_t)t->gid));
}

/* --- operations ----------------------------------------------------------- */
static int op_hello(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	struct xp_msg m;
	uint32_t ver = xp_get_u32(in);

	if (xp_done(in))
		return reply_err(d, c, XP_HELLO, -EBADMSG, "malformed HELLO");
	if (ver != XP_VERSION)
		return reply_err(d, c, XP_HELLO, -EPROTONOSUPPORT,
				 "protocol version %u not supported (xsnapd speaks %u)", ver,
				 XP_VERSION);
	c->hello = true;
	xp_begin(&m, d->out, sizeof(d->out), XP_HELLO, 0);
	xp_put_u32(&m, XP_VERSION);
	xp_put_u32(&m, c->uid);
	xp_put_u8(&m, c->admin);
	return reply(c, &m, NULL, 0);
}

static int op_attach(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char name[IF_NAMESIZE];
	uint32_t first, nq, mode, zc, frames, ring, stamp, groups, avail, multiprog, huge;
	struct iface *f = NULL;
	struct serve_if_info info;
	struct xp_msg m;
	int r;

	xp_get_str(in, name, sizeof(name), false);
	first = xp_get_u32(in);
	nq = xp_get_u32(in);
	mode = xp_get_u32(in);
	zc = xp_get_u32(in);
	frames = xp_get_u32(in);
	ring = xp_get_u32(in);
	stamp = xp_get_u32(in);
	groups = xp_get_u32(in);
	multiprog = !!(mode & XP_ATTACH_MULTIPROG);
	huge = (mode & XP_ATTACH_HUGE_MASK) >> XP_ATTACH_HUGE_SHIFT;
	mode &= ~(XP_ATTACH_MULTIPROG | XP_ATTACH_HUGE_MASK);
	if (xp_done(in) || mode > XSNAP_MODE_SKB || zc > XSNAP_ZC_OFF || stamp > XSNAP_STAMP_XDP ||
	    huge > XSNAP_HUGE_OFF)
		return reply_err(d, c, XP_ATTACH, -EBADMSG, "malformed ATTACH");
	if (iface_find(d, name, true))
		return reply_err(d, c, XP_ATTACH, -EEXIST, "%s is already attached", name);
	if (!nq) {
		avail = rx_queues(name);
		nq = avail > first ? avail - first : 1;
		if (nq > XSNAP_MAX_QUEUES)
			nq = XSNAP_MAX_QUEUES;
	}
	f = iface_find(d, name, false);	/* a gone one of the same name */
	for (int i = 0; !f && i < MAX_IFACES; i++)
		if (!d->ifs[i].used)
			f = &d->ifs[i];
	if (!f)
		return reply_err(d, c, XP_ATTACH, -ENOSPC, "%d interfaces attached already",
				 MAX_IFACES);
	/* the engine runs in our loop (iface_engine), not on a thread; each
	 * tenant's pool holds its versions (TENANT_POOL, --pool) and as many
	 * again for the copies of its transmits in flight (op_send) */
	XSNAP_OPTS(xsnap_opts, o, .queue = first, .nqueues = nq, .frames = frames, .mode = mode,
		   .zerocopy = zc, .ring_size = ring, .engine = XSNAP_ENGINE_INLINE,
		   .timestamps = stamp, .queue_groups = groups, .pool_frames = 2 * TENANT_POOL,
		   .max_tenants = d->cfg.max_tenants, .multiprog = multiprog, .hugepages = huge);
	f->ctx = xsnap_open(name, &o);
	if (!f->ctx) {
		r = -errno;
		return reply_err(d, c, XP_ATTACH, r, "%s", why(r));
	}
	memset(f->name, 0, sizeof(f->name));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->used = true;
	f->gone = false;
	f->paced = false;
	/* the daemon's counters of each tenant here start with the context's */
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		memset(&d->tenants[i].fig[f - d->ifs], 0, sizeof(d->tenants[i].fig[0]));
	serve_if_info(f->ctx, &info);
	f->ifindex = info.ifindex;
	r = iface_replay(d, f);
	{
		/* the context's rtnetlink watch: its device's removal */
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = ev_key(EV_NETLINK, (uint32_t)(f - d->ifs)) };

		if (!r && epoll_ctl(d->epfd, EPOLL_CTL_ADD, info.watch_fd, &ev))
			r = -errno;
	}
	for (uint32_t q = 0; !r && q < info.nq; q++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = ev_key(EV_XSK, (uint32_t)(f - d->ifs)) };

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, info.q[q].fd, &ev))
			r = -errno;
	}
	if (r) {
		char msg[sizeof(errmsg)];

		snprintf(msg, sizeof(msg), "%s", why(r));
		xsnap_close(f->ctx);
		f->ctx = NULL;
		f->used = false;
		return reply_err(d, c, XP_ATTACH, r, "%s", msg);
	}
	log_info("%s: attached queues %u..%u (%s, %s, %s, %s pages, %u queue group%s)", name, first,
		 first + nq - 1, multiprog ? "libxdp" : "bpf_link",
		 info.xdp_mode == XSNAP_MODE_SKB ? "generic" : "native",
		 info.q[0].zerocopy ? "zero-copy" : "copy", info.huge ? "2 MiB" : "4 KiB", info.ngroups,
		 info.ngroups == 1 ? "" : "s");
	iface_engine(d, f);
	xp_begin(&m, d->out, sizeof(d->out), XP_ATTACH, 0);
	return reply(c, &m, NULL, 0);
}

static int op_detach(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char name[IF_NAMESIZE];
	struct iface *f;
	struct xp_msg m;

	xp_get_str(in, name, sizeof(name), false);
	if (xp_done(in))
		return reply_err(d, c, XP_DETACH, -EBADMSG, "malformed DETACH");
	f = iface_find(d, name, false);
	if (!f)
		return reply_err(d, c, XP_DETACH, -ENOENT, "%s is not attached", name);
	iface_down(d, f, "detach requested");
	f->used = false;
	log_info("%s: detached", name);
	xp_begin(&m, d->out, sizeof(d->out), XP_DETACH, 0);
	return reply(c, &m, NULL, 0);
}

static int op_tenant_add(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	struct dtenant nt = { .used = true }, *slot = NULL;
	unsigned int ntenants = 0;
	struct xp_msg m;
	int r = 0, done = 0, first_slot = 0;

	xp_get_str(in, nt.name, sizeof(nt.name), false);
	nt.quota = xp_get_u32(in);
	nt.pool = xp_get_u32(in);
	nt.uid = xp_get_i64(in);
	nt.gid = xp_get_i64(in);
	xp_get_str(in, nt.view, sizeof(nt.view), true);
	nt.qgroup = xp_get_u32(in);
	nt.ntx = xp_get_u32(in);
	if (nt.ntx > MAX_TX_RULES)
		return reply_err(d, c, XP_TENANT_ADD, -EINVAL, "%u transmit rules: at most %d",
				 nt.ntx, MAX_TX_RULES);
	for (uint32_t i = 0; i < nt.ntx; i++) {
		char match[XP_STR_MAX], err[160];

		xp_get_str(in, match, sizeof(match), false);
		if (xp_done(in))
			break;
		if (rule_parse(match, &nt.tx[i], err, sizeof(err)) ||
		    nt.tx[i].action != XSNAP_ACT_DELIVER)
			return reply_err(d, c, XP_TENANT_ADD, -EINVAL, "transmit rule '%s': %s",
					 match, nt.tx[i].action != XSNAP_ACT_DELIVER ?
						 "no action: it says what may be sent" : err);
		nt.tx[i].id = i + 1;
	}
	if (xp_done(in) || nt.qgroup > XSNAP_MAX_QUEUES || nt.uid < -1 || nt.uid > UINT32_MAX - 1 || nt.gid < -1 ||
	    nt.gid > UINT32_MAX - 1 || nt.pool > (1u << 16))
		return reply_err(d, c, XP_TENANT_ADD, -EBADMSG, "malformed TENANT_ADD");
	/* the safe default: a view of its own, which nothing else can read;
	 * the shared receive region only when the operator says so */
	if (!*nt.view)
		snprintf(nt.view, sizeof(nt.view), "%s", XSNAP_VIEW_PRIVATE);
	if (!tenant_name_ok(nt.view))
		return reply_err(d, c, XP_TENANT_ADD, -EINVAL,
				 "bad view '%s': shared, private or a group name of 1..%d "
				 "characters of A-Z a-z 0-9 _ . -",
				 nt.view, TENANT_NAME_MAX - 1);
	/* checked here too: with no interface attached yet nothing else
	 * would, and the name would fail only at the next attach's replay */
	if (!tenant_name_ok(nt.name))
		return reply_err(d, c, XP_TENANT_ADD, -EINVAL,
				 "bad name '%s': 1..%d characters of A-Z a-z 0-9 _ . -", nt.name,
				 TENANT_NAME_MAX - 1);
	if (tenant_find(d, nt.name))
		return reply_err(d, c, XP_TENANT_ADD, -EEXIST, "tenant %s exists", nt.name);
	/* every interface's context has max_tenants slots: the daemon holds
	 * no more, so that a tenant it accepts with no interface attached
	 * fits every later attach too */
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		ntenants += d->tenants[i].used;
		if (!d->tenants[i].used && !slot)
			slot = &d->tenants[i];
	}
	if (!slot || ntenants >= d->cfg.max_tenants)
		return reply_err(d, c, XP_TENANT_ADD, -ENOSPC,
				 "%u tenants already (xsnapd --max-tenants, at most %d)",
				 d->cfg.max_tenants, XSNAP_MAX_TENANTS);
	if (!nt.quota)
		nt.quota = 1024;
	for (int i = 0; i < MAX_IFACES && !r; i++) {
		struct iface *f = &d->ifs[i];
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = nt.quota, .view = nt.view,
			   .queue_group = nt.qgroup);

		if (!f->used || f->gone)
			continue;
		r = xsnap_tenant_add(f->ctx, nt.name, &to);
		if (r >= 0) {
			if (!done++)
				first_slot = r;
			r = 0;
		}
	}
	if (r) {
		char msg[sizeof(errmsg)];

		snprintf(msg, sizeof(msg), "%s", why(r));
		for (int i = 0; i < MAX_IFACES; i++)
			if (d->ifs[i].used && !d->ifs[i].gone)
				xsnap_tenant_del(d->ifs[i].ctx, nt.name);
		return reply_err(d, c, XP_TENANT_ADD, r, "%s", msg);
	}
	if (!done && (nt.quota & (nt.quota - 1)))
		return reply_err(d, c, XP_TENANT_ADD, -EINVAL,
				 "tenant add %s: quota %u must be a power of two", nt.name,
				 nt.quota);
	*slot = nt;
	log_info("tenant %s: added (slot %d, quota %u, view %s, queue group %u, uid %lld, gid "
		 "%lld, %u transmit rule%s)",
		 nt.name, first_slot, nt.quota, nt.view, nt.qgroup, (long long)nt.uid,
		 (long long)nt.gid, nt.ntx, nt.ntx == 1 ? "" : "s");
	xp_begin(&m, d->out, sizeof(d->out), XP_TENANT_ADD, 0);
	xp_put_u32(&m, (uint32_t)first_slot);
	return reply(c, &m, NULL, 0);
}

/*
 * Revoke the client sockets of tenant @name on @f before it is deleted: its
 * log says LOG_REVOKED, so every client's next xsnap_recv() fails with
 * ENOENT whatever the log still holds; sleepers and xsnap_fd() pollers
 * are woken; then the daemon closes its side of each socket (its handle
 * turns stale, what it held and pinned is released).  With no socket left,
 * xsnap_tenant_del() frees the tenant at once: its quota and slot are free
 * for the next tenant, and its log region (a memfd of its own, mapped by
 * clients read-only) is never written again.  Return: sockets revoked.
 */
static unsigned int tenant_revoke(struct daemon *d, struct iface *f, const char *name)
{
	int ifc = (int)(f - d->ifs);
	unsigned int n = 0;

	if (!serve_tenant_revoke(f->ctx, name))
		return 0;
	for (uint32_t i = 0; i < MAX_DSOCKS; i++) {
		if (d->socks[i].s && d->socks[i].ifc == ifc &&
		    !strcmp(serve_sock_tenant(d->socks[i].s), name)) {
			dsock_close(d, i);
			n++;
		}
	}
	return n;
}

static int op_tenant_del(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char name[TENANT_NAME_MAX];
	struct dtenant *t;
	struct xp_msg m;
	unsigned int n = 0;

	xp_get_str(in, name, sizeof(name), false);
	if (xp_done(in))
		return reply_err(d, c, XP_TENANT_DEL, -EBADMSG, "malformed TENANT_DEL");
	t = tenant_find(d, name);
	if (!t)
		return reply_err(d, c, XP_TENANT_DEL, -ENOENT, "no tenant %s", name);
	for (int i = 0; i < MAX_IFACES; i++) {
		if (d->ifs[i].used && !d->ifs[i].gone) {
			n += tenant_revoke(d, &d->ifs[i], name);
			xsnap_tenant_del(d->ifs[i].ctx, name);
		}
	}
	for (uint32_t i = d->rules_end; i-- > 0;)
		if (d->rules[i].used && !strcmp(d->rules[i].tenant, name))
			rule_free(d, i);
	t->used = false;
	log_info("tenant %s: deleted, %u client socket(s) revoked", name, n);
	xp_begin(&m, d->out, sizeof(d->out), XP_TENANT_DEL, 0);
	return reply(c, &m, NULL, 0);
}

/*
 * If @match ends in its action clause ("... action drop"), cut it off and
 * return true.  @match parsed, so "action" can only be its last but one
 * word.
 */
_Static_assert((int)XP_DELIVER == (int)XSNAP_ACT_DELIVER && (int)XP_DROP == (int)XSNAP_ACT_DROP &&
		       (int)XP_PASS == (int)XSNAP_ACT_PASS,
	       "a parsed action is recorded as the wire's");

static bool cut_action(char *match)
{
	size_t n = strlen(match);
	size_t end;

	while (n && isspace((unsigned char)match[n - 1]))
		n--;
	while (n && !isspace((unsigned char)match[n - 1]))
		n--;	/* the action's value */
	end = n;
	while (n && isspace((unsigned char)match[n - 1]))
		n--;
	if (n < 6 || strncmp(match + n - 6, "action", 6) ||
	    (n > 6 && !isspace((unsigned char)match[n - 7])) || end == n)
		return false;
	n -= 6;
	while (n && isspace((unsigned char)match[n - 1]))
		n--;
	match[n] = '\0';
	return true;
}

static int op_rule_add(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	struct drule nr = { .used = true }, *slot = NULL;
	char text[XP_STR_MAX + 32], msg[256] = "";
	struct rule parsed;
	struct xp_msg m;
	int r = 0;

	xp_get_str(in, nr.tenant, sizeof(nr.tenant), false);
	xp_get_str(in, nr.match, sizeof(nr.match), false);
	nr.prio = xp_get_u32(in);
	nr.action = xp_get_u32(in);
	if (xp_done(in) || nr.prio > 65535 || nr.action > XP_PASS)
		return reply_err(d, c, XP_RULE_ADD, -EBADMSG, "malformed RULE_ADD");
	if (!tenant_find(d, nr.tenant))
		return reply_err(d, c, XP_RULE_ADD, -ENOENT, "no tenant %s", nr.tenant);
	/* an action written in the match ("... action drop") is the rule's
	 * action, recorded as such (rule list shows it), never beside a
	 * different --action */
	memset(&parsed, 0, sizeof(parsed));
	r = rule_parse(nr.match, &parsed, msg, sizeof(msg));
	if (r)
		return reply_err(d, c, XP_RULE_ADD, r < 0 ? r : -EINVAL, "rule '%s': %s",
				 nr.match, msg);
	snprintf(text, sizeof(text), "%s", nr.match);
	if (cut_action(text)) {
		if (nr.action != XP_DELIVER && nr.action != parsed.action)
			return reply_err(d, c, XP_RULE_ADD, -EINVAL,
					 "rule '%s': two actions, one in the match and "
					 "--action %s: give one",
					 nr.match, nr.action == XP_DROP ? "drop" : "pass");
		nr.action = parsed.action;
		snprintf(nr.match, sizeof(nr.match), "%s", text);
	}
	rule_text(&nr, text, sizeof(text));
	memset(&parsed, 0, sizeof(parsed));
	r = rule_parse(text, &parsed, msg, sizeof(msg));
	if (r)
		return reply_err(d, c, XP_RULE_ADD, r < 0 ? r : -EINVAL, "rule '%s': %s",
				 nr.match, msg);
	/* the lowest free slot: a hole below rules_end, else rules_end itself */
	for (uint32_t i = 0; i < d->rules_end && !slot; i++)
		if (!d->rules[i].used)
			slot = &d->rules[i];
	if (!slot && d->rules_end < MAX_DRULES)
		slot = &d->rules[d->rules_end];
	if (!slot)
		return reply_err(d, c, XP_RULE_ADD, -ENOSPC, "%d rules already", MAX_DRULES);
	for (int i = 0; i < MAX_IFACES && !r; i++) {
		struct iface *f = &d->ifs[i];
		int id;

		if (!f->used || f->gone)
			continue;
		id = xsnap_rule_add(f->ctx, nr.tenant, text, (int)nr.prio);
		if (id < 0)
			r = id;
		else
			nr.ifrule[i] = id;
	}
	if (r) {
		char msg[sizeof(errmsg)];

		snprintf(msg, sizeof(msg), "%s", why(r));
		for (int i = 0; i < MAX_IFACES; i++)
			if (nr.ifrule[i] && d->ifs[i].ctx)
				xsnap_rule_del(d->ifs[i].ctx, nr.ifrule[i]);
		return reply_err(d, c, XP_RULE_ADD, r, "%s", msg);
	}
	nr.id = ++d->next_rule;
	nr.dt = (int)(tenant_find(d, nr.tenant) - d->tenants);
	*slot = nr;
	if ((uint32_t)(slot - d->rules) >= d->rules_end)
		d->rules_end = (uint32_t)(slot - d->rules) + 1;
	log_info("tenant %s: rule %u '%s' prio %u added", nr.tenant, nr.id, text, nr.prio);
	xp_begin(&m, d->out, sizeof(d->out), XP_RULE_ADD, 0);
	xp_put_u32(&m, nr.id);
	return reply(c, &m, NULL, 0);
}

static int op_rule_del(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t id = xp_get_u32(in);
	struct xp_msg m;

	if (xp_done(in))
		return reply_err(d, c, XP_RULE_DEL, -EBADMSG, "malformed RULE_DEL");
	for (uint32_t i = 0; i < d->rules_end; i++) {
		struct drule *r = &d->rules[i];

		if (!r->used || r->id != id)
			continue;
		for (int k = 0; k < MAX_IFACES; k++)
			if (r->ifrule[k] && d->ifs[k].used && d->ifs[k].ctx)
				xsnap_rule_del(d->ifs[k].ctx, r->ifrule[k]);
		log_info("tenant %s: rule %u deleted", r->tenant, id);
		rule_free(d, i);
		xp_begin(&m, d->out, sizeof(d->out), XP_RULE_DEL, 0);
		return reply(c, &m, NULL, 0);
	}
	return reply_err(d, c, XP_RULE_DEL, -ENOENT, "no rule %u", id);
}

/*
 * AUDIT (admin): recount the holders of every chunk of each interface's
 * UMEM and views against its reference count (serve_audit(): the exact
 * conservation check that free + kernel + logged cannot make, since a
 * leaked reference looks "logged").  Takes both locks of each interface
 * for a time in proportion to its region (a few ms for 64 Ki frames):
 * an operator's and the tests' tool, refused to other clients.
 */
static int op_audit(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char name[IF_NAMESIZE], why[256];
	struct xp_msg m;
	uint32_t n = 0;

	xp_get_str(in, name, sizeof(name), true);
	if (xp_done(in))
		return reply_err(d, c, XP_AUDIT, -EBADMSG, "malformed AUDIT");
	if (*name && !iface_find(d, name, true))
		return reply_err(d, c, XP_AUDIT, -ENOENT, "%s is not attached", name);
	for (int i = 0; i < MAX_IFACES; i++)
		n += d->ifs[i].used && !d->ifs[i].gone && (!*name || !strcmp(d->ifs[i].name, name));
	xp_begin(&m, d->out, sizeof(d->out), XP_AUDIT, 0);
	xp_put_u32(&m, n);
	for (int i = 0; i < MAX_IFACES; i++) {
		struct iface *f = &d->ifs[i];
		struct xsnap_ctx *ctx = f->ctx;
		struct serve_if_info info;
		int r;

		if (!f->used || f->gone || (*name && strcmp(f->name, name)))
			continue;
		r = serve_audit(ctx, why, sizeof(why));
		serve_if_info(ctx, &info);
		if (r > 0)
			log_warn("%s: audit: %d inconsistencies; the first: %s", f->name, r, why);
		xp_put_str(&m, f->name);
		xp_put_u32(&m, info.nchunks);
		xp_put_u32(&m, (uint32_t)r);
		xp_put_str(&m, r > 0 ? why : r < 0 ? strerror(-r) : "");
	}
	return reply(c, &m, NULL, 0);
}

/* The requests: who may make them, and their handlers.  Ops past the
 * table's end never get here (xp_parse() refuses them). */
static const struct {
	int (*fn)(struct daemon *d, struct conn *c, struct xp_msg *in);
	bool admin;	/* root and the admin group only */
} ops[XP_OP_MAX] = {
	[XP_HELLO] = { op_hello, false },
	[XP_ATTACH] = { op_attach, true },
	[XP_DETACH] = { op_detach, true },
	[XP_TENANT_ADD] = { op_tenant_add, true },
	[XP_TENANT_DEL] = { op_tenant_del, true },
	[XP_RULE_ADD] = { op_rule_add, true },
	[XP_RULE_DEL] = { op_rule_del, true },
	[XP_STATUS] = { op_status, false },
	[XP_STATS] = { op_stats, false },
	[XP_SOCKET] = { op_socket, false },
	[XP_SOCK_CLOSE] = { op_sock_close, false },
	[XP_SNAPSHOT] = { op_snapshot, false },
	[XP_SNAP_CLOSE] = { op_snap_close, false },
	[XP_AUDIT] = { op_audit, true },
	[XP_POOL] = { op_pool, false },
	[XP_COMMIT] = { op_commit, false },
	[XP_SEND] = { op_send, false },
	[XP_STATS_IF] = { op_stats_if, false },
};

int dispatch(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint16_t op = in->hdr.op;

	if (op >= XP_OP_MAX || !ops[op].fn)
		return reply_err(d, c, op, -EOPNOTSUPP, "unknown operation");
	if (ops[op].admin && !c->admin)
		return reply_err(d, c, op, -EPERM, "operation %u needs root or the admin group",
				 op);
	return ops[op].fn(d, c, in);
}

/* --- setup ---------------------------------------------------------------- */
static int group_id(const char *name, gid_t *out)
{
	struct group *g;
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(name, &end, 10);
	if (*name && !*end && !errno && v < UINT32_MAX) {
		*out = (gid_t)v;
		return 0;
	}
	g = getgrnam(name);
	if (!g)
		return -ENOENT;
	*out = g->gr_gid;
	return 0;
}

/*
 * The socket's directory, opened without following a symbolic link, if it
 * can be trusted with the socket: owned by root (or by us) and writable by
 * nobody else, so that nobody else can swap the socket for a link between
 * our bind() and the fchownat() below, or put a fake daemon's socket
 * there.  -errno with the reason logged otherwise.
 */
static int sock_dir_open(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (dfd < 0) {
		int err = -errno;

		log_warn("%s: %s%s", dir, strerror(errno),
			 errno == ELOOP || errno == ENOTDIR ? " (the socket's directory must be a "
							       "directory, not a symbolic link)" : "");
		return err;
	}
	if (fstat(dfd, &st) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		log_warn("%s: refusing a socket directory owned by uid %u with mode %04o: it must "
			 "belong to root and be writable by nobody else (or let xsnapd create it)",
			 dir, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
		close(dfd);
		return -EPERM;
	}
	return dfd;
}

static int listen_open(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.sock_path, *base = path;
	char dir[sizeof(sa.sun_path)] = ".";
	char *slash;
	int fd, probe, dfd;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warn("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (strrchr(path, '/')) {
		snprintf(dir, sizeof(dir), "%s", path);
		base = strrchr(path, '/') + 1;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';	/* "/name": the root directory */
	else if (slash)
		*slash = '\0';
	if (slash && slash != dir) {
		if (!mkdir(dir, 0750)) {
			d->created_dir = true;
			if (d->cfg.group && chown(dir, 0, d->sock_gid))
				log_warn("chown %s: %s", dir, strerror(errno));
			if (!d->cfg.group && chmod(dir, 0755))
				log_warn("chmod %s: %s", dir, strerror(errno));
		} else if (errno != EEXIST) {
			log_warn("cannot create %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	dfd = sock_dir_open(dir);
	if (dfd < 0)
		return dfd;
	/* a live daemon answers; a stale socket file is replaced */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa))) {
		close(probe);
		log_warn("%s: another xsnapd is running", path);
		close(dfd);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlinkat(dfd, base, 0);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		close(dfd);
		return -errno;
	}
	/* the socket is born with its mode (no chmod by path afterwards); the
	 * group is set on the name in the trusted directory, not following a
	 * link */
	old = umask(d->cfg.group ? 0117 : 0111);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		int err = -errno;

		umask(old);
		log_warn("%s: %s", path, strerror(errno));
		close(fd);
		close(dfd);
		return err;
	}
	umask(old);
	if (d->cfg.group && fchownat(dfd, base, 0, d->sock_gid, AT_SYMLINK_NOFOLLOW))
		log_warn("%s: group: %s", path, strerror(errno));
	close(dfd);
	return fd;
}

/* systemd socket activation: the listening socket is fd 3 (LISTEN_FDS). */
static int listen_inherited(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int fl;

	if (!pid || !n || strtol(pid, NULL, 10) != getpid() || strtol(n, NULL, 10) != 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fl = fcntl(3, F_GETFL);
	if (fl < 0 || fcntl(3, F_SETFL, fl | O_NONBLOCK) || fcntl(3, F_SETFD, FD_CLOEXEC))
		return -1;
	return 3;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: xsnapd [-S PATH] [-G GROUP] [-A GROUP] [-P PRIO] [--max-conns-per-uid N]\n"
		"              [--max-socks-per-uid N] [--max-tenants N] [--metrics ADDR:PORT]\n"
		"              [-v[v]] [-h]\n"
		"  -S, --socket PATH        Unix socket (default $XSNAP_SOCKET or %s)\n"
		"  -G, --group GROUP        socket group: its members may connect (mode 0660;\n"
		"                           without -G the socket is 0666 and tenants' uid/gid\n"
		"                           checks alone decide)\n"
		"  -A, --admin-group GROUP  members may use control verbs (root always may)\n"
		"  -P, --rt-prio PRIO       run SCHED_FIFO at PRIO (1..99): the engine keeps the\n"
		"                           fill rings stocked while NAPI runs on its CPU\n"
		"      --max-conns-per-uid N\n"
		"                           connections of one uid at once (default %d, 1..%d;\n"
		"                           root and the admin group have no limit)\n"
		"      --max-socks-per-uid N\n"
		"                           client sockets of one uid at once (default %d,\n"
		"                           1..%d; root and the admin group have no limit)\n"
		"      --max-tenants N      tenants (default %d, 1..%d): each attached interface\n"
		"                           has as many slots, each with its pool in the UMEM\n"
		"      --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"                           (127.0.0.1:PORT, [::1]:PORT, a host name, or :PORT\n"
		"                           for every address; off by default)\n"
		"  -v, --verbose            more log (-vv: debug)\n"
		"  -V, --version            versions of xsnapd, its protocol and libbpf\n"
		"  -h, --help               this help\n",
		XP_DEFAULT_SOCKET, CONNS_PER_UID, MAX_CONNS - RESERVED_CONNS, SOCKS_PER_UID,
		MAX_DSOCKS, DEFAULT_TENANTS, XSNAP_MAX_TENANTS);
}

/*
 * Descriptors: raise RLIMIT_NOFILE to its hard limit, and open no more
 * client sockets than what remains after FD_RESERVE and MAX_CONNS allows
 * (each costs FDS_PER_SOCK), so that clients cannot exhaust them.
 */
static void fd_budget(struct daemon *d)
{
	struct rlimit rl;
	long room;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max = 1024;
	} else if (rl.rlim_cur < rl.rlim_max) {
		rlim_t soft = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			log_warn("cannot raise RLIMIT_NOFILE to %llu: %s",
				 (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = soft;
		}
	}
	room = rl.rlim_cur > (rlim_t)1 << 30 ? 1l << 30 : (long)rl.rlim_cur;
	room = (room - FD_RESERVE - MAX_CONNS) / FDS_PER_SOCK;
	d->max_socks = room < 0 ? 0 : room > MAX_DSOCKS ? MAX_DSOCKS : (unsigned int)room;
	if (d->max_socks < MAX_DSOCKS)
		log_warn("RLIMIT_NOFILE %llu allows %u client sockets, not %d (each costs %d "
			 "descriptors, and %d are kept for interfaces and connections): raise "
			 "it (LimitNOFILE=)",
			 (unsigned long long)rl.rlim_cur, d->max_socks, MAX_DSOCKS, FDS_PER_SOCK,
			 FD_RESERVE + MAX_CONNS);
	else
		log_info("descriptors: RLIMIT_NOFILE %llu, up to %u client sockets",
			 (unsigned long long)rl.rlim_cur, d->max_socks);
}

/* A number in @min..@max, strictly parsed; -1 if it is not. */
static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	return *end || errno || v < min || v > max ? -1 : v;
}

/* A limit option: 1..@max into *@out, or false (said why). */
static bool limit_opt(const char *opt, const char *arg, long max, unsigned int *out)
{
	long v = parse_num(arg, 1, max);

	if (v < 0) {
		fprintf(stderr, "xsnapd: %s '%s': a number, 1..%ld\n", opt, arg, max);
		return false;
	}
	*out = (unsigned int)v;
	return true;
}

static void shutdown_all(struct daemon *d)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (d->conns[i])
			conn_close(d, i);
	for (int i = 0; i < MAX_IFACES; i++)
		if (d->ifs[i].used && d->ifs[i].ctx)
			iface_down(d, &d->ifs[i], "shutting down");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "group", required_argument, NULL, 'G' },
		{ "admin-group", required_argument, NULL, 'A' },
		{ "rt-prio", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "max-conns-per-uid", required_argument, NULL, OPT_CONNS_PER_UID },
		{ "max-socks-per-uid", required_argument, NULL, OPT_SOCKS_PER_UID },
		{ "max-tenants", required_argument, NULL, OPT_MAX_TENANTS },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{}
	};
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct daemon *d;
	sigset_t mask;
	int opt, rc = EXIT_FAILURE;
	int64_t last_tick = 0;

	d = calloc(1, sizeof(*d));
	if (!d)
		return EXIT_FAILURE;
	d->epfd = d->lfd = d->sfd = d->spare = -1;
	d->cfg.sock_path = getenv("XSNAP_SOCKET");
	d->cfg.max_conns_per_uid = CONNS_PER_UID;
	d->cfg.max_socks_per_uid = SOCKS_PER_UID;
	d->cfg.max_tenants = DEFAULT_TENANTS;
	while ((opt = getopt_long(argc, argv, "S:G:A:P:vhV", lopts, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'S':
			d->cfg.sock_path = optarg;
			break;
		case 'G':
			d->cfg.group = optarg;
			break;
		case 'A':
			d->cfg.admin_group = optarg;
			break;
		case 'P': {
			long v = parse_num(optarg, 1, 99);

			if (v < 0) {
				fprintf(stderr, "xsnapd: --rt-prio '%s': a SCHED_FIFO priority, 1..99\n",
					optarg);
				free(d);
				return 2;
			}
			d->cfg.rt_prio = (int)v;
			break;
		}
		case OPT_CONNS_PER_UID:
			ok = limit_opt("--max-conns-per-uid", optarg, MAX_CONNS - RESERVED_CONNS,
				       &d->cfg.max_conns_per_uid);
			break;
		case OPT_SOCKS_PER_UID:
			ok = limit_opt("--max-socks-per-uid", optarg, MAX_DSOCKS,
				       &d->cfg.max_socks_per_uid);
			break;
		case OPT_MAX_TENANTS:
			ok = limit_opt("--max-tenants", optarg, XSNAP_MAX_TENANTS, &d->cfg.max_tenants);
			break;
		case OPT_METRICS:
			d->cfg.metrics = optarg;
			ok = metrics_addr_ok(optarg);
			break;
		case 'v':
			d->cfg.verbose++;
			break;
		case 'h':
			usage(stdout);
			free(d);
			return EXIT_SUCCESS;
		case 'V':
			printf("xsnapd %d.%d (protocol %d, libbpf %u.%u)\n", XSNAP_VERSION_MAJOR,
			       XSNAP_VERSION_MINOR, XP_VERSION, libbpf_major_version(),
			       libbpf_minor_version());
			free(d);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			free(d);
			return 2;
		}
		if (!ok) {
			free(d);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		free(d);
		return 2;
	}
	if (!d->cfg.sock_path || !*d->cfg.sock_path)
		d->cfg.sock_path = XP_DEFAULT_SOCKET;
	verbosity = d->cfg.verbose;
	xsnap_set_print(lib_print);
	if (d->cfg.group && group_id(d->cfg.group, &d->sock_gid)) {
		log_warn("no group %s", d->cfg.group);
		free(d);
		return 2;
	}
	if (d->cfg.admin_group) {
		if (group_id(d->cfg.admin_group, &d->admin_gid)) {
			log_warn("no group %s", d->cfg.admin_group);
			free(d);
			return 2;
		}
		d->have_admin_gid = true;
	}
	if (d->cfg.rt_prio) {
		struct sched_param sp = { .sched_priority = d->cfg.rt_prio };

		/* the loop is the engine: with the NIC's receive processing on
		 * the same CPU it must not wait a scheduler slice to restock the
		 * fill rings (see xsnap_opts.engine_prio) */
		if (sched_setscheduler(0, SCHED_FIFO, &sp))
			log_warn("--rt-prio %d: %s (running with normal scheduling)", d->cfg.rt_prio,
				 strerror(errno));
	}
	/* the UMEM is charged to memlock on older kernels (TESTING.md E3) */
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		log_info("cannot raise RLIMIT_MEMLOCK: %s", strerror(errno));
	fd_budget(d);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->lfd = listen_inherited();
	d->inherited = d->lfd >= 0;
	if (!d->inherited)
		d->lfd = listen_open(d);
	if (d->sfd < 0 || d->epfd < 0 || d->lfd < 0 || conn_setup(d))
		goto out;
	if (d->cfg.metrics && metrics_open(d))
		goto out;
	{
		struct epoll_event ev = { .events = EPOLLIN };

		ev.data.u64 = ev_key(EV_LISTEN, 0);
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev);
		ev.data.u64 = ev_key(EV_SIGNAL, 0);
		epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sfd, &ev);
	}
	log_info("listening on %s", d->cfg.sock_path);
	sd_notify_msg("READY=1");
	for (;;) {
		struct epoll_event evs[64];
		struct timespec ts = loop_timeout(d, last_tick);
		int64_t now;
		int n = epoll_pwait2(d->epfd, evs, 64, &ts, NULL);
		bool stop = false;

		if (n < 0 && errno != EINTR) {
			log_warn("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			uint32_t type = (uint32_t)(evs[i].data.u64 >> 32);
			uint32_t idx = (uint32_t)evs[i].data.u64;

			switch (type) {
			case EV_LISTEN:
				conn_accept(d);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo == SIGHUP)
						continue;
					log_info("signal %u: shutting down", si.ssi_signo);
					stop = true;
				}
				break;
			}
			case EV_NETLINK:
				if (idx < MAX_IFACES && d->ifs[idx].ctx &&
				    serve_if_gone(d->ifs[idx].ctx))
					iface_down(d, &d->ifs[idx], "interface removed");
				break;
			case EV_CONN:
				if (idx < MAX_CONNS && d->conns[idx] &&
				    ((evs[i].events & (EPOLLHUP | EPOLLERR)) ?
					     !(evs[i].events & EPOLLIN) || !conn_input(d, idx) :
					     !conn_input(d, idx)))
					conn_close(d, (int)idx);
				break;
			case EV_METRICS:
			case EV_MCONN:
				metrics_event(d, type, idx, evs[i].events);
				break;
			case EV_XSK:
				if (idx >= MAX_IFACES || !d->ifs[idx].ctx)
					break;
				if (evs[i].events & (EPOLLERR | EPOLLHUP) &&
				    !if_nametoindex(d->ifs[idx].name)) {
					iface_down(d, &d->ifs[idx],
						   "interface gone (socket error)");
					break;
				}
				iface_engine(d, &d->ifs[idx]);
				break;
			}
		}
		if (stop)
			break;
		now = now_ns();
		for (int i = 0; i < MAX_IFACES; i++)
			if (d->ifs[i].ctx && d->ifs[i].paced && now >= serve_next_ns(d->ifs[i].ctx))
				iface_engine(d, &d->ifs[i]);
		now /= 1000000;
		if (now - last_tick >= TICK_MS) {
			last_tick = now;
			for (int i = 0; i < MAX_IFACES; i++)
				iface_engine(d, &d->ifs[i]);
			conn_tick(d, now);
			metrics_tick(d, now);
		}
	}
	rc = EXIT_SUCCESS;
out:
	sd_notify_msg("STOPPING=1");
	shutdown_all(d);
	metrics_close(d);
	if (d->closer)
		conn_teardown(d);
	if (d->lfd >= 0 && d->inherited) {
		close(d->lfd);
	} else if (d->lfd >= 0) {
		close(d->lfd);
		unlink(d->cfg.sock_path);
		if (d->created_dir) {
			char dir[108];
			char *slash;

			snprintf(dir, sizeof(dir), "%s", d->cfg.sock_path);
			slash = strrchr(dir, '/');
			if (slash && slash != dir) {
				*slash = '\0';
				rmdir(dir);
			}
		}
	}
	if (d->sfd >= 0)
		close(d->sfd);
	if (d->epfd >= 0)
		close(d->epfd);
	free(d);
	return rc;
}
