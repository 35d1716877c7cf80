// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * --mode packet: AF_PACKET SOCK_RAW bound to the interface.
 *
 * PACKET_QDISC_BYPASS hands frames straight to the driver (no qdisc, no
 * taps on the sending side), sendmmsg() sends a batch per syscall, and
 * pacing sleeps once per batch against CLOCK_MONOTONIC.  With a rate the
 * batch shrinks to about a millisecond's worth of frames so bursts stay
 * small (veth's receive ring holds 256 frames).
 *
 * Nothing is lost on the sending side: when the driver refuses a frame
 * (ENOBUFS: a full veth peer ring or backlog; EAGAIN) the same frame is sent
 * again after a short sleep and the retry is counted.  Note sendmmsg()'s
 * error reporting: if frame j of a batch fails after others were sent, the
 * call returns j and leaves the error in sk_err, which the next call
 * returns without sending anything; both cases just resume at frame j.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/socket.h>

#include "gen.h"

#define RETRY_WAIT_NS	20000	/* 20 us: a veth NAPI poll drains a ring in less */

static int open_socket(const struct gen_cfg *cfg)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = 0,	/* send only: receive nothing */
		.sll_ifindex = cfg->ifindex,
	};
	int fd, one = 1;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "xsnap-gen: %s: AF_PACKET socket: %s\n", cfg->ifname,
			strerror(errno));
		return -1;
	}
	/* XSNAP_GEN_TAPS=1 keeps the qdisc path, so packet taps on the sending
	 * interface (tcpdump) see what was sent: tests compare against it */
	if (!getenv("XSNAP_GEN_TAPS") &&
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		fprintf(stderr, "xsnap-gen: %s: PACKET_QDISC_BYPASS: %s (sending through the "
			"qdisc)\n", cfg->ifname, strerror(errno));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "xsnap-gen: %s: bind: %s\n", cfg->ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Frames per sendmmsg(): --batch, but no more than ~1 ms of frames when paced. */
static uint32_t batch_size(const struct gen_cfg *cfg)
{
	uint64_t per_ms;

	if (!cfg->rate)
		return cfg->batch;
	per_ms = cfg->rate / 1000 ? cfg->rate / 1000 : 1;
	return per_ms < cfg->batch ? (uint32_t)per_ms : cfg->batch;
}

/* Send msgs[0..n); returns how many were sent (n unless stopped) or -1. */
static int send_batch(const struct gen_cfg *cfg, int fd, struct mmsghdr *msgs, uint32_t n,
		      struct gen_result *res)
{
	const struct timespec wait = { 0, RETRY_WAIT_NS };
	uint32_t done = 0;
	int r;

	while (done < n) {
		r = sendmmsg(fd, msgs + done, n - done, 0);
		if (r > 0) {
			done += (uint32_t)r;
			continue;
		}
		if (r == 0 || errno == ENOBUFS || errno == EAGAIN) {
			res->retries++;
			nanosleep(&wait, NULL);
		} else if (errno != EINTR) {
			fprintf(stderr, "xsnap-gen: %s: sendmmsg: %s (after %llu frames)\n",
				cfg->ifname, strerror(errno),
				(unsigned long long)(res->sent + done));
			return -1;
		}
		if (gen_stop)
			break;
	}
	return (int)done;
}

int send_packet(const struct gen_cfg *cfg, const struct gen_frame *fr, struct gen_result *res)
{
	uint32_t batch = batch_size(cfg);
	struct mmsghdr *msgs = NULL;
	struct iovec *iov = NULL;
	uint8_t *bufs = NULL;
	struct timespec t0;
	int fd, err = 1;

	fd = open_socket(cfg);
	if (fd < 0)
		return 1;
	bufs = malloc((size_t)batch * fr->len);
	iov = calloc(batch, sizeof(*iov));
	msgs = calloc(batch, sizeof(*msgs));
	if (!bufs || !iov || !msgs) {
		fprintf(stderr, "xsnap-gen: %s: out of memory\n", cfg->ifname);
		goto out;
	}
	for (uint32_t j = 0; j < batch; j++) {
		memcpy(bufs + (size_t)j * fr->len, fr->buf, fr->len);
		iov[j].iov_base = bufs + (size_t)j * fr->len;
		iov[j].iov_len = fr->len;
		msgs[j].msg_hdr.msg_iov = &iov[j];
		msgs[j].msg_hdr.msg_iovlen = 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!gen_stop && (!cfg->count || res->sent < cfg->count)) {
		uint64_t left = cfg->count ? cfg->count - res->sent : batch;
		uint32_t n = left < batch ? (uint32_t)left : batch;
		int done;

		uint64_t ts = 0;

		gen_pace(cfg, &t0, res->sent);
		if (fr->ts_off) {
			struct timespec now;

			/* one send time per batch: the frames leave in one sendmmsg() */
			clock_gettime(CLOCK_MONOTONIC, &now);
			ts = (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
		}
		/* Patch ports, seq, check, time and L4 checksum of each frame in place. */
		for (uint32_t j = 0; j < n; j++) {
			uint16_t sport, dport;
			uint64_t seq;

			frame_vars(cfg, res->sent + j, &sport, &dport, &seq);
			frame_stamp(fr, iov[j].iov_base, sport, dport, seq, ts);
		}
		done = send_batch(cfg, fd, msgs, n, res);
		if (done < 0)
			goto out;
		res->sent += (uint64_t)done;
	}
	res->seconds = gen_elapsed(&t0);
	err = 0;
out:
	free(msgs);
	free(iov);
	free(bufs);
	close(fd);
	return err;
}
