// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Interface removal, seen in-process.
 *
 * When the device under a context goes away (deleted, its namespace
 * destroyed), the kernel unbinds the AF_XDP sockets, but nothing that
 * xsnap sleeps on reports it: poll() on an unbound socket returns no event.
 * A context therefore listens on rtnetlink (RTMGRP_LINK) for RTM_DELLINK of
 * its own ifindex; the engine thread polls it, inline consumers read it
 * when they find nothing to receive.  On removal ctx_if_dead() marks every
 * tenant's log LOG_IF_DEAD and wakes every sleeper: xsnap_recv() returns
 * what was already logged, then -ENETDOWN; xsnap_send() -ENETDOWN.
 * (xsnapd watches rtnetlink itself and calls ctx_if_dead() too.)
 */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xsnap_internal.h"

int ifwatch_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Is @buf[0..@len) a batch of rtnetlink messages that deletes @ifindex? */
static bool deletes(const void *buf, size_t len, int ifindex)
{
	for (const struct nlmsghdr *h = buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		const struct ifinfomsg *ifi = NLMSG_DATA(h);

		/* a bridge port leaving its bridge is an AF_BRIDGE DELLINK
		 * of a device that stays */
		if (h->nlmsg_type == RTM_DELLINK && h->nlmsg_len >= NLMSG_LENGTH(sizeof(*ifi)) &&
		    ifi->ifi_family != AF_BRIDGE && ifi->ifi_index == ifindex)
			return true;
	}
	return false;
}

int ifwatch_gone(int fd, int ifindex)
{
	/* aligned for struct nlmsghdr; one read takes many messages */
	union {
		struct nlmsghdr h;
		char b[8192];
	} buf;

	for (;;) {
		ssize_t n = recv(fd, &buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			/* messages were lost: ask whether the device is there */
			char name[IF_NAMESIZE];

			if (!if_indextoname((unsigned int)ifindex, name) && errno == ENXIO)
				return 1;
			continue;
		}
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (deletes(&buf, (size_t)n, ifindex))
			return 1;
	}
}

void ctx_if_dead(struct xsnap_ctx *ctx)
{
	if (ctx->dead_if)
		return;
	ctx->dead_if = true;
	/* every socket wakes and sees the state (never blocks: the futex
	 * word is memory, the notify pipes are non-blocking) */
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++) {
		if (ctx->tenants[i]) {
			atomic_fetch_or(&ctx->tenants[i]->shm->state, LOG_IF_DEAD);
			tenant_wake_all(ctx->tenants[i]);
		}
	}
	for (struct tenant *t = ctx->dead; t; t = t->next_dead) {
		atomic_fetch_or(&t->shm->state, LOG_IF_DEAD);
		tenant_wake_all(t);
	}
}

bool ctx_watch_if(struct xsnap_ctx *ctx)
{
	if (ctx->dead_if)
		return true;
	if (ctx->ifwatch < 0 || ifwatch_gone(ctx->ifwatch, ctx->ifindex) != 1)
		return false;
	pr_warn("%s: interface removed: sockets get ENETDOWN\n", ctx->ifname);
	pthread_mutex_lock(&ctx->engine_lock);
	ctx_if_dead(ctx);
	pthread_mutex_unlock(&ctx->engine_lock);
	return true;
}
