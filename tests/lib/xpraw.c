// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* xsnapd's protocol without the library (see xpraw.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xpraw.h"

int xpraw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int xpraw_connect_or_exit(const char *path)
{
	int fd = xpraw_connect(path);

	if (fd < 0) {
		errno = -fd;
		perror("connect");
		exit(1);
	}
	return fd;
}

int xpraw_send(int fd, struct xp_msg *m, uint32_t nfds)
{
	int len = xp_end(m, nfds);

	if (len < 0)
		return len;
	return xp_send(fd, m->buf, (size_t)len, NULL, 0);
}

int xpraw_hello(int fd)
{
	uint8_t buf[64];
	struct xp_msg m;

	xp_begin(&m, buf, sizeof(buf), XP_HELLO, 0);
	xp_put_u32(&m, XP_VERSION);
	return xpraw_send(fd, &m, 0);
}

int xpraw_reply(int fd, int ms, uint8_t *buf, size_t cap, struct xp_msg *m)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int fds[XP_MAX_FDS];
	unsigned int nfds = 0;
	int n;

	if (poll(&p, 1, ms) <= 0)
		return -ETIMEDOUT;
	n = xp_recv(fd, buf, cap, fds, &nfds);
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (n == 0 || n == -ECONNRESET)
		return XPRAW_HUNG_UP;
	if (n < 0)
		return n;
	n = xp_parse(m, buf, (size_t)n, nfds);
	return n && n != -EOPNOTSUPP ? XPRAW_BAD : 0;
}
