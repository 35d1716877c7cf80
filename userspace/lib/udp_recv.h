/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The receive call libxsnap-preload.so (userspace/preload/) builds on: what
 * xsnap_recvfrom() does, with a time limit and the destination and receive
 * time of the datagram (for SO_RCVTIMEO and the control messages of
 * recvmsg(2)).  Internal: hidden in libxsnap, linked into the shim.
 */
#ifndef XSNAP_UDP_RECV_H
#define XSNAP_UDP_RECV_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct xsnap_sock;

/*
 * What sock_recv_udp() tells of a datagram besides its payload and source:
 * the preload shim's control messages (userspace/preload/preload.c).
 */
struct udp_meta {
	struct sockaddr_storage dst;	/* destination address and port */
	socklen_t dstlen;
	uint64_t rx_ns;			/* xsnap_frame_time_ns(): CLOCK_MONOTONIC */
};

/*
 * sock_recv_udp() - xsnap_recvfrom() with a time limit and the datagram's
 * destination and receive time.
 * @flags: 0 or MSG_TRUNC.
 * @timeout_ms: 0 returns at once, < 0 waits without limit.
 * @um: filled in for the datagram returned, or NULL.
 * Return: as xsnap_recvfrom(); -EAGAIN when nothing came within the limit.
 */
ssize_t sock_recv_udp(struct xsnap_sock *s, void *buf, size_t len, int flags, int timeout_ms,
		      struct sockaddr *src, socklen_t *srclen, struct udp_meta *um);

/* sock_ifname() - the name of the interface @s receives from. */
const char *sock_ifname(const struct xsnap_sock *s);

#endif /* XSNAP_UDP_RECV_H */
