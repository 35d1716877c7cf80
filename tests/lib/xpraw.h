/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xsnapd's protocol without the library, for the test clients that play an
 * attacker (tests/netns/xsnap_attack.c, xsnap_dclient.c's hostile modes):
 * a connection of their own, requests built by hand with xp_begin() and
 * xp_put_*() (userspace/lib/proto.h) and sent as they are, replies framed
 * but not trusted.
 *
 *	int fd = xpraw_connect(path);
 *	xpraw_hello(fd);
 *	r = xpraw_reply(fd, 5000, rbuf, sizeof(rbuf), &m);	// 0: m.hdr.status
 */
#ifndef XSNAP_TEST_XPRAW_H
#define XSNAP_TEST_XPRAW_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* xpraw_reply(): the daemon closed the connection / sent what xp_parse()
 * refuses */
#define XPRAW_HUNG_UP	1
#define XPRAW_BAD	2

/* A SOCK_SEQPACKET connection to the daemon's socket @path (close-on-exec),
 * no HELLO: its descriptor, or -errno. */
int xpraw_connect(const char *path);

/* The same, or exit(1) after saying why ("connect: ..."). */
int xpraw_connect_or_exit(const char *path);

/* Finish the request @m (xp_end() with @nfds in its header, none sent) and
 * send it on @fd: 0 or -errno. */
int xpraw_send(int fd, struct xp_msg *m, uint32_t nfds);

/* Send HELLO of this protocol version on @fd: 0 or -errno. */
int xpraw_hello(int fd);

/*
 * xpraw_reply() - the next message on @fd within @ms milliseconds, framed
 * into @m (in @buf, @cap bytes: XP_MAX_MSG); descriptors that came with it
 * are closed.  A reply that names an op this build does not know is framed
 * (the reply to an unknown op carries that op).
 *
 * Return: 0 (m->hdr.status is the reply's status), XPRAW_HUNG_UP,
 * XPRAW_BAD, -ETIMEDOUT, or another -errno of the receive.
 */
int xpraw_reply(int fd, int ms, uint8_t *buf, size_t cap, struct xp_msg *m);

#endif /* XSNAP_TEST_XPRAW_H */
