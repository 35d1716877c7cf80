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
 * Which datagrams a UDP socket takes, as the kernel's socket lookup decides
 * (the preload shim's bound and connected sockets): the destination port,
 * the families, the destination address unless bound to a wildcard, and
 * the source of a connected socket.  Addresses are IPv6 or v4-mapped.
 */
enum { UDP_MATCH_V4 = 1, UDP_MATCH_V6 = 2 };

struct udp_match {
	uint16_t port;		/* destination port, network order */
	uint16_t rport;		/* connected: the peer's port, network order */
	uint8_t fams;		/* UDP_MATCH_*: the families received */
	uint8_t has_laddr;	/* bound to an address, not a wildcard */
	uint8_t connected;	/* only datagrams from raddr:rport */
	uint8_t pad;
	uint8_t laddr[16];
	uint8_t raddr[16];
};

/*
 * sock_recv_udp() - xsnap_recvfrom() with a time limit and the datagram's
 * destination and receive time.
 * @flags: 0 or MSG_TRUNC.
 * @timeout_ms: 0 returns at once, < 0 waits without limit.
 * @match: if not NULL, datagrams it does not take are skipped (released,
 *         counted in recvfrom_skipped) before anything is copied.
 * @um: filled in for the datagram returned, or NULL.
 * Return: as xsnap_recvfrom(); -EAGAIN when nothing came within the limit.
 */
ssize_t sock_recv_udp(struct xsnap_sock *s, void *buf, size_t len, int flags, int timeout_ms,
		      const struct udp_match *match, struct sockaddr *src, socklen_t *srclen,
		      struct udp_meta *um);

/*
 * sock_rx_mark() - arm xsnap_fd() for the next frame the engine publishes,
 * even with frames waiting (an edge-triggered epoll record of the shim),
 * and return the log's published head: a later sock_rx_head() above it
 * means frames came since.
 */
uint64_t sock_rx_mark(struct xsnap_sock *s);

/* sock_rx_head() - the log's published head (one atomic load). */
uint64_t sock_rx_head(const struct xsnap_sock *s);

/* sock_ifname() - the name of the interface @s receives from. */
const char *sock_ifname(const struct xsnap_sock *s);

#endif /* XSNAP_UDP_RECV_H */
