// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapd's client sockets: SOCKET and SOCK_CLOSE, the pool leases, commit
 * and transmit of a client (POOL, COMMIT, SEND), and its snapshots
 * (SNAPSHOT, SNAP_CLOSE).
 *
 * A client socket is an in-process socket of the interface's context
 * (xsnap_socket()), whose memory the library exports (serve_sock_export())
 * and the daemon hands over with SCM_RIGHTS.  d->socks[] says which
 * connection owns it, under a handle (index, generation) that a closed and
 * reused slot never matches; the daemon closes it when the connection
 * ends, whatever the client did.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xsnapd.h"

/*
 * May @c open one more socket?  Each costs the daemon FDS_PER_SOCK
 * descriptors, so the limits keep them within RLIMIT_NOFILE (d->max_socks,
 * set at startup): at most MAX_CONN_SOCKS per connection, and for a uid
 * other than root and the admin group cfg.max_socks_per_uid in all and none
 * of the last d->max_socks / 16, which stay for root and the admin group.
 * True if refused: then *@r is what sending the error reply returned.
 */
static bool sock_refused(struct daemon *d, struct conn *c, int *r)
{
	unsigned int uid_socks = 0, reserved = d->max_socks / 16;
	char why[160];

	if (c->nsocks >= MAX_CONN_SOCKS) {
		snprintf(why, sizeof(why), "%d sockets on this connection already", MAX_CONN_SOCKS);
		goto refuse;
	}
	if (d->nsocks >= d->max_socks) {
		snprintf(why, sizeof(why),
			 "%u client sockets already, as many as xsnapd's descriptor limit allows "
			 "(RLIMIT_NOFILE)",
			 d->max_socks);
		goto refuse;
	}
	if (c->admin)
		return false;
	for (int i = 0; i < MAX_CONNS; i++)
		if (d->conns[i] && d->conns[i]->uid == c->uid)
			uid_socks += d->conns[i]->nsocks;
	if (uid_socks >= d->cfg.max_socks_per_uid) {
		snprintf(why, sizeof(why),
			 "uid %u has %u sockets open in xsnapd, its limit (xsnapd --max-socks-per-uid)",
			 (unsigned int)c->uid, uid_socks);
		goto refuse;
	}
	if (d->nsocks + reserved >= d->max_socks) {
		snprintf(why, sizeof(why),
			 "%u client sockets open: the last %u are kept for root and the admin group",
			 d->nsocks, reserved);
		goto refuse;
	}
	return false;
refuse:
	*r = reply_err(d, c, XP_SOCKET, -EMFILE, "%s", why);
	return true;
}

int op_socket(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	char tname[TENANT_NAME_MAX], ifname[IF_NAMESIZE];
	uint32_t mode, group, idx;
	int fds[XP_SOCKET_NFDS];
	struct serve_if_info info;
	struct serve_export e;
	struct xsnap_sock *s;
	struct dtenant *dt;
	struct iface *f;
	struct xp_msg m;
	int r;

	xp_get_str(in, tname, sizeof(tname), false);
	xp_get_str(in, ifname, sizeof(ifname), true);
	mode = xp_get_u32(in);
	group = xp_get_u32(in);
	if (xp_done(in) || mode > XSNAP_SHARE)
		return reply_err(d, c, XP_SOCKET, -EBADMSG, "malformed SOCKET");
	dt = tenant_find(d, tname);
	if (!dt)
		return reply_err(d, c, XP_SOCKET, -ENOENT, "no tenant %s", tname);
	if (!may_consume(c, dt)) {
		log_warn("tenant %s: refused uid %u gid %u (pid %d)", tname, (unsigned int)c->uid,
			 (unsigned int)c->gid, (int)c->pid);
		return reply_err(d, c, XP_SOCKET, -EACCES,
				 "uid %u is not allowed to consume tenant %s (xsnapctl tenant "
				 "add --uid/--gid)",
				 (unsigned int)c->uid, tname);
	}
	f = iface_find(d, ifname, true);
	if (!f)
		return reply_err(d, c, XP_SOCKET, -ENODEV, "%s: no attached interface%s",
				 *ifname ? ifname : "xsnapd",
				 *ifname ? "" : " (xsnapctl attach IFACE)");
	/* a shared-view tenant reads the receive region; split into queue
	 * groups, a tenant sees only its group's part, so it must have one */
	serve_if_info(f->ctx, &info);
	if (!strcmp(dt->view, XSNAP_VIEW_SHARED) && !dt->qgroup && info.ngroups > 1)
		return reply_err(d, c, XP_SOCKET, -EACCES,
				 "tenant %s reads the shared view of %s, whose queues are split "
				 "into %u groups: pin it to one (xsnapctl tenant add --queue-group) "
				 "or give it a private view",
				 tname, f->name, info.ngroups);
	if (sock_refused(d, c, &r))
		return r;
	for (idx = 0; idx < MAX_DSOCKS && d->socks[idx].s; idx++)
		;
	if (idx == MAX_DSOCKS)	/* sock_admit() keeps d->nsocks below */
		return reply_err(d, c, XP_SOCKET, -EMFILE, "%d client sockets already",
				 MAX_DSOCKS);
	XSNAP_OPTS(xsnap_sock_opts, so, .mode = mode, .group = group);
	s = xsnap_socket(f->ctx, tname, &so);
	if (!s) {
		r = -errno;
		return reply_err(d, c, XP_SOCKET, r, "%s", why(r));
	}
	/* the tenant's view: its private region, or for a tenant the operator
	 * put on the shared view the receive region, only its queue group's
	 * part of it when the queues are split; never both */
	r = serve_sock_export(s, &e);
	if (r) {
		/* out of descriptors, say: the client is told, not dropped */
		r = reply_err(d, c, XP_SOCKET, r, "socket of tenant %s: %s", tname, strerror(-r));
		xsnap_sock_close(s);
		return r;
	}
	fds[XP_FD_RX] = e.rx_fd;
	fds[XP_FD_LOG] = e.log_fd;
	fds[XP_FD_CTL] = e.ctl_fd;
	fds[XP_FD_EVENT] = e.event_fd;
	fds[XP_FD_POOL] = e.pool_fd;
	xp_begin(&m, d->out, sizeof(d->out), XP_SOCKET, 0);
	xp_put_u32(&m, idx);
	xp_put_u32(&m, d->socks[idx].gen);
	xp_put_u32(&m, e.slot);
	xp_put_u32(&m, e.quota);
	xp_put_u32(&m, e.nframes);
	xp_put_u32(&m, e.pool_frames);
	xp_put_u32(&m, e.npools);
	xp_put_u32(&m, e.region_first);
	xp_put_u32(&m, e.region_frames);
	xp_put_u64(&m, e.cursor);
	xp_put_u64(&m, e.log_len);
	xp_put_str(&m, f->name);
	r = reply(c, &m, fds, XP_SOCKET_NFDS);
	close(e.rx_fd);
	close(e.log_fd);
	if (r) {
		xsnap_sock_close(s);
		return r;
	}
	d->socks[idx].s = s;
	d->socks[idx].c = c;
	d->socks[idx].ifc = (int)(f - d->ifs);
	d->socks[idx].dt = (int)(dt - d->tenants);
	dsock_opened(d, idx);
	c->nsocks++;
	d->nsocks++;
	log_info("%s: tenant %s: socket %u opened for pid %d uid %u", f->name, tname, idx,
		 (int)c->pid, (unsigned int)c->uid);
	return 0;
}

/* Bookkeeping of a socket the library has freed (or will free). */
void dsock_forget(struct daemon *d, uint32_t idx)
{
	struct dsock *ds = &d->socks[idx];

	if (ds->c)
		ds->c->nsocks--;
	d->nsocks--;
	ds->s = NULL;
	ds->c = NULL;
	ds->gen++;
	memset(ds->snaps, 0, sizeof(ds->snaps));
}

void dsock_close(struct daemon *d, uint32_t idx)
{
	struct dsock *ds = &d->socks[idx];

	log_info("%s: tenant %s: socket %u closed (pid %d)", d->ifs[ds->ifc].name,
		 serve_sock_tenant(ds->s), idx, ds->c ? (int)ds->c->pid : 0);
	dsock_closing(d, idx);
	xsnap_sock_close(ds->s);	/* closes its snapshots too */
	dsock_forget(d, idx);
}

/* The client's socket named by (index, gen), or a negative errno. */
static int dsock_lookup(struct daemon *d, struct conn *c, uint32_t idx, uint32_t gen)
{
	if (idx >= MAX_DSOCKS || (d->socks[idx].s && d->socks[idx].c != c))
		return -EBADF;
	if (!d->socks[idx].s || d->socks[idx].gen != gen)
		return -ESTALE;
	return (int)idx;
}

/* The --pool share of tenant @dt: chunks its versions and leases may hold. */
static uint32_t pool_cap(const struct dtenant *dt)
{
	return dt->pool && dt->pool <= TENANT_POOL ? dt->pool : TENANT_POOL;
}

/*
 * XP_POOL: chunks of the tenant's pool leased to a client socket, and
 * leased ones given back (serve_lease()).  The chunk's bytes are in the
 * tenant instance's own pool memfd, which the client maps writable; the
 * daemon reads them only to copy what it is asked to send.  What the
 * tenant's sockets hold of the pool (leases, committed versions, transmits
 * in flight) is capped by its --pool.
 */
int op_pool(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t idx = xp_get_u32(in), gen = xp_get_u32(in), want = xp_get_u32(in);
	uint32_t nret = xp_get_u32(in), n, bad = 0;
	uint64_t ret[XP_POOL_BATCH], out[XP_POOL_BATCH];
	struct dsock *ds;
	struct xp_msg m;
	int r;

	if (want > XP_POOL_BATCH || nret > XP_POOL_BATCH)
		return reply_err(d, c, XP_POOL, -EBADMSG, "malformed POOL");
	for (uint32_t i = 0; i < nret; i++)
		ret[i] = xp_get_u64(in);
	if (xp_done(in))
		return reply_err(d, c, XP_POOL, -EBADMSG, "malformed POOL");
	r = dsock_lookup(d, c, idx, gen);
	if (r < 0)
		return reply_err(d, c, XP_POOL, r, "socket %u.%u is not this client's", idx, gen);
	ds = &d->socks[r];
	for (uint32_t i = 0; i < nret; i++)
		bad += serve_unlease(ds->s, ret[i]) != 0;
	if (bad)
		serve_sock_bad(ds->s, bad);
	n = serve_lease(ds->s, pool_cap(&d->tenants[ds->dt]), want, out);
	xp_begin(&m, d->out, sizeof(d->out), XP_POOL, 0);
	xp_put_u32(&m, n);
	for (uint32_t i = 0; i < n; i++)
		xp_put_u64(&m, out[i]);
	return reply(c, &m, NULL, 0);
}

/* XP_COMMIT: a leased chunk becomes the next version of a frame of the
 * socket's tenant; the lease ends (the log holds the chunk now). */
int op_commit(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t idx = xp_get_u32(in), gen = xp_get_u32(in);
	uint64_t seq = xp_get_u64(in), addr = xp_get_u64(in);
	uint32_t len = xp_get_u32(in);
	struct xp_msg m;
	int r, v;

	if (xp_done(in))
		return reply_err(d, c, XP_COMMIT, -EBADMSG, "malformed COMMIT");
	r = dsock_lookup(d, c, idx, gen);
	if (r < 0)
		return reply_err(d, c, XP_COMMIT, r, "socket %u.%u is not this client's", idx,
				 gen);
	if (len < 14 || len > FRAME_MAX_LEN)
		return reply_err(d, c, XP_COMMIT, -EINVAL, "length %u (14..%u)", len,
				 FRAME_MAX_LEN);
	v = serve_commit(d->socks[r].s, seq, addr, len);
	if (v == -EINVAL)
		return reply_err(d, c, XP_COMMIT, -EINVAL,
				 "0x%llx is not a pool chunk leased to this socket",
				 (unsigned long long)addr);
	if (v < 0)
		return reply_err(d, c, XP_COMMIT, v, "commit of seq %llu: %s",
				 (unsigned long long)seq,
				 v == -ENOENT ? "not in the tenant's log" : why(v));
	xp_begin(&m, d->out, sizeof(d->out), XP_COMMIT, 0);
	xp_put_u32(&m, (uint32_t)v);
	return reply(c, &m, NULL, 0);
}

/* serve_send()'s transmit policy: the tenant's --tx-allow rules. */
static bool tx_allowed(const void *arg, const uint8_t *frame, uint32_t len)
{
	const struct dtenant *dt = arg;

	return tx_policy_allows(dt->tx, dt->ntx, frame, len);
}

/*
 * XP_SEND: transmit for a client socket (serve_send(): what it accepts, and
 * which frames go out without a copy).  The tenant's --tx-allow rules judge
 * the bytes that go out.  The reply leases up to `want` chunks for the
 * sender's next batch, so that a steady sender needs no XP_POOL request.
 * A refused request costs the connection a whole request token, so that
 * refused batches (each copied and checked) cannot be repeated at the data
 * path's rate.
 */
int op_send(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t idx = xp_get_u32(in), gen = xp_get_u32(in);
	int32_t queue = (int32_t)xp_get_u32(in);
	uint32_t want = xp_get_u32(in), n = xp_get_u32(in), nl;
	struct serve_desc desc[XP_SEND_BATCH];
	uint64_t lease[XP_POOL_BATCH];
	struct serve_send_res res;
	struct dtenant *dt;
	struct dsock *ds;
	struct xp_msg m;
	int r, q;

	if (n > XP_SEND_BATCH || want > XP_POOL_BATCH)
		return reply_err(d, c, XP_SEND, -EBADMSG, "malformed SEND");
	for (uint32_t i = 0; i < n; i++) {
		desc[i].seq = xp_get_u64(in);
		desc[i].addr = xp_get_u64(in);
		desc[i].len = xp_get_u32(in);
	}
	if (xp_done(in))
		return reply_err(d, c, XP_SEND, -EBADMSG, "malformed SEND");
	r = dsock_lookup(d, c, idx, gen);
	if (r < 0)
		return reply_err(d, c, XP_SEND, r, "socket %u.%u is not this client's", idx, gen);
	ds = &d->socks[r];
	dt = &d->tenants[ds->dt];
	q = serve_send(ds->s, desc, n, queue, dt->ntx ? tx_allowed : NULL, dt, &res);
	if (q == -EINVAL) {
		c->tokens -= 999;
		log_debug("tenant %s: send: frame %u of %u: %s", dt->name, res.bad + 1, n,
			  res.why);
		return reply_err(d, c, XP_SEND, -EINVAL, "frame %u of %u: %s; nothing sent",
				 res.bad + 1, n, res.why);
	}
	if (q == -EPERM) {
		dt->fig[ds->ifc].tx_refused += res.refused;
		c->tokens -= 999;
		log_debug("tenant %s: send: %u of %u frames match none of its transmit rules",
			  dt->name, res.refused, n);
		return reply_err(d, c, XP_SEND, -EPERM,
				 "frame %u of %u matches none of tenant %s's transmit rules "
				 "(xsnapctl tenant add --tx-allow); nothing sent",
				 res.bad + 1, n, dt->name);
	}
	if (q < 0)
		return reply_err(d, c, XP_SEND, q, "%s", why(q));
	dt->fig[ds->ifc].tx_copied += res.copies;
	/* chunks for the sender's next batch, with the reply */
	nl = want ? serve_lease(ds->s, pool_cap(dt), want, lease) : 0;
	xp_begin(&m, d->out, sizeof(d->out), XP_SEND, 0);
	xp_put_u32(&m, (uint32_t)q);
	xp_put_u32(&m, nl);
	for (uint32_t i = 0; i < nl; i++)
		xp_put_u64(&m, lease[i]);
	return reply(c, &m, NULL, 0);
}

int op_snapshot(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t idx = xp_get_u32(in), gen = xp_get_u32(in);
	XSNAP_OPTS(xsnap_snap_opts, o);
	struct xsnap_snap *sn;
	uint64_t first, end;
	struct dsock *ds;
	struct xp_msg m;
	int r, id;

	o.frames = xp_get_u32(in);
	o.last_ms = xp_get_u32(in);
	o.seq_first = xp_get_u64(in);
	o.seq_last = xp_get_u64(in);
	if (xp_done(in))
		return reply_err(d, c, XP_SNAPSHOT, -EBADMSG, "malformed SNAPSHOT");
	r = dsock_lookup(d, c, idx, gen);
	if (r < 0)
		return reply_err(d, c, XP_SNAPSHOT, r, "socket %u.%u is not this client's", idx,
				 gen);
	ds = &d->socks[r];
	for (id = 0; id < MAX_SOCK_SNAPS && ds->snaps[id]; id++)
		;
	if (id == MAX_SOCK_SNAPS)
		return reply_err(d, c, XP_SNAPSHOT, -EMFILE, "%d snapshots open on socket %u",
				 MAX_SOCK_SNAPS, idx);
	sn = xsnap_snapshot(ds->s, &o);
	if (!sn) {
		r = -errno;
		return reply_err(d, c, XP_SNAPSHOT, r, "%s", why(r));
	}
	ds->snaps[id] = sn;
	serve_snap_range(sn, &first, &end);
	log_debug("%s: tenant %s: socket %u: snapshot %d of %llu frames", d->ifs[ds->ifc].name,
		  serve_sock_tenant(ds->s), idx, id, (unsigned long long)(end - first));
	xp_begin(&m, d->out, sizeof(d->out), XP_SNAPSHOT, 0);
	xp_put_u32(&m, (uint32_t)id);
	xp_put_u64(&m, first);
	xp_put_u64(&m, end);
	return reply(c, &m, NULL, 0);
}

int op_snap_close(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t idx = xp_get_u32(in), gen = xp_get_u32(in), id = xp_get_u32(in);
	struct xp_msg m;
	int r;

	if (xp_done(in))
		return reply_err(d, c, XP_SNAP_CLOSE, -EBADMSG, "malformed SNAP_CLOSE");
	r = dsock_lookup(d, c, idx, gen);
	if (r < 0)
		return reply_err(d, c, XP_SNAP_CLOSE, r, "socket %u.%u is not this client's", idx,
				 gen);
	if (id >= MAX_SOCK_SNAPS || !d->socks[r].snaps[id])
		return reply_err(d, c, XP_SNAP_CLOSE, -EBADF, "no snapshot %u on socket %u", id,
				 idx);
	xsnap_snap_close(d->socks[r].snaps[id]);
	d->socks[r].snaps[id] = NULL;
	xp_begin(&m, d->out, sizeof(d->out), XP_SNAP_CLOSE, 0);
	return reply(c, &m, NULL, 0);
}

int op_sock_close(struct daemon *d, struct conn *c, struct xp_msg *in)
{
	uint32_t idx = xp_get_u32(in), gen = xp_get_u32(in);
	struct xp_msg m;
	int r;

	if (xp_done(in))
		return reply_err(d, c, XP_SOCK_CLOSE, -EBADMSG, "malformed SOCK_CLOSE");
	r = dsock_lookup(d, c, idx, gen);
	if (r == -EBADF)
		return reply_err(d, c, XP_SOCK_CLOSE, r, "no socket %u of this client", idx);
	if (r < 0)
		return reply_err(d, c, XP_SOCK_CLOSE, r, "socket %u.%u is stale", idx, gen);
	dsock_close(d, idx);
	xp_begin(&m, d->out, sizeof(d->out), XP_SOCK_CLOSE, 0);
	return reply(c, &m, NULL, 0);
}
