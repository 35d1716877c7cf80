/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lo_xsk.h - an AF_XDP socket on lo in a private network namespace, for
 * the programs that run xsnap_steer with BPF_PROG_TEST_RUN and need a
 * socket in its XSKMAP to redirect to (tests/bpf, tools/bench/bench_classify).
 * Copy mode, queue 0, libxdp's default program inhibited (the caller owns
 * the XSKMAP, as xsnapd does), every frame on the fill ring.  Header-only.
 */
#ifndef XSNAP_LO_XSK_H
#define XSNAP_LO_XSK_H

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#define LO_XSK_FRAME XSK_UMEM__DEFAULT_FRAME_SIZE

struct lo_xsk {
	unsigned int nframes;
	void *area;
	struct xsk_umem *umem;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	struct xsk_ring_cons rx;
	struct xsk_socket *sock;
};

/* lo_netns_enter() - move this process into a new network namespace and
 * bring its lo up.  0 or -errno. */
static inline int lo_netns_enter(void)
{
	struct ifreq ifr = { 0 };
	int fd, err;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	err = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (!err)
		err = ioctl(fd, SIOCSIFFLAGS, &ifr);
	err = err ? -errno : 0;
	close(fd);
	return err;
}

/* lo_xsk_close() - undo lo_xsk_open() (also a half-open one). */
static inline void lo_xsk_close(struct lo_xsk *x)
{
	if (x->sock)
		xsk_socket__delete(x->sock);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area)
		munmap(x->area, (size_t)x->nframes * LO_XSK_FRAME);
	memset(x, 0, sizeof(*x));
}

/* lo_xsk_open() - the socket, on the lo of the current namespace, with a
 * UMEM of @nframes frames, all on its fill ring.  0 or -errno (nothing
 * left). */
static inline int lo_xsk_open(struct lo_xsk *x, unsigned int nframes)
{
	struct xsk_socket_config cfg = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	__u32 idx;
	int err;

	memset(x, 0, sizeof(*x));
	x->nframes = nframes;
	x->area = mmap(NULL, (size_t)nframes * LO_XSK_FRAME, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		return -errno;
	}
	err = xsk_umem__create(&x->umem, x->area, (__u64)nframes * LO_XSK_FRAME, &x->fq, &x->cq,
			       NULL);
	if (!err)
		err = xsk_socket__create(&x->sock, "lo", 0, x->umem, &x->rx, NULL, &cfg);
	if (!err && xsk_ring_prod__reserve(&x->fq, nframes, &idx) != nframes)
		err = -ENOSPC;
	if (err) {
		lo_xsk_close(x);
		return err;
	}
	for (__u32 i = 0; i < nframes; i++)
		*xsk_ring_prod__fill_addr(&x->fq, idx + i) = (__u64)i * LO_XSK_FRAME;
	xsk_ring_prod__submit(&x->fq, nframes);
	return 0;
}

#endif
