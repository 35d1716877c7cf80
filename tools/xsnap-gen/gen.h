/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xsnap-gen internals shared by main.c, frame.c and the sending paths
 * (send_packet.c: AF_PACKET; send_live.c: BPF_PROG_RUN live frames).
 *
 * Frame k (0-based, k < count) of one invocation carries
 *	seq   = seq_start + k				(one stream id per run)
 *	sport = sport + k % flows			(flows vary fastest)
 *	dport = dport_lo + (k / flows) % ndports	(then destination ports)
 * Everything else in the frame is constant, so both paths build frame k by
 * copying one template and patching these fields plus the payload check and
 * the L4 checksum (from a precomputed partial sum, see struct gen_frame).
 * With --timestamp, frame k also carries its send time (CLOCK_MONOTONIC ns)
 * in payload bytes 24..31 (PAYLOAD_OFF_TSTAMP), stamped as late as each path
 * can: just before sendmmsg() in packet mode, by the XDP program right
 * before XDP_TX in live mode.
 */
#ifndef XSNAP_GEN_H
#define XSNAP_GEN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>
#include <netinet/in.h>

enum gen_mode {
	GEN_MODE_PACKET = 0,	/* AF_PACKET + sendmmsg, portable */
	GEN_MODE_LIVE = 1,	/* XDP program + BPF_PROG_RUN live frames */
	GEN_MODE_PUMP = 2,	/* frames circling a veth pair, cloned by a devmap
				 * broadcast (kernels that refuse live frames) */
};

#define GEN_MAX_FRAME	9216u	/* largest -s accepted; the MTU is checked too */
#define GEN_TMPL_BYTES	128u	/* frame prefix the live program rewrites (gen_tmpl) */

struct gen_cfg {
	const char *ifname;
	int ifindex;
	uint64_t count;		/* 0: until SIGINT/SIGTERM */
	uint64_t rate;		/* frames per second, 0: unpaced */
	uint32_t size;		/* frame size without FCS; 0 = default */
	uint32_t flows;
	int proto;		/* IPPROTO_UDP or IPPROTO_TCP */
	int family;		/* AF_INET or AF_INET6; 0 until decided */
	struct in6_addr src6, dst6;
	struct in_addr src4, dst4;
	bool src_set, dst_set;
	uint16_t sport;
	uint16_t dport_lo, dport_hi;
	uint8_t smac[6], dmac[6];
	bool smac_set;
	int vlan;		/* -1: untagged */
	int svlan;		/* -1: none; else an 802.1ad tag outside the --vlan one */
	uint32_t stream;
	uint64_t seq_start;
	enum gen_mode mode;
	uint32_t batch;
	bool tstamp;		/* --timestamp */
	const char *loop;	/* --loop: pump mode's veth (its peer seeds it) */
	bool json, quiet;
};

/*
 * The template frame and what is needed to patch it.  csum_base is the
 * ones' complement sum (16-bit big-endian words, folded) of everything the
 * L4 checksum covers, pseudo header included, with sport, dport, seq,
 * check, the send time (--timestamp) and the checksum field itself counted
 * as zero: a frame's checksum is ~fold(csum_base + sport + dport + seq's
 * four words + check's two + the time's four).
 * All patched fields sit at even offsets from the L4 header, so word
 * boundaries line up.
 */
struct gen_frame {
	uint8_t buf[GEN_MAX_FRAME];	/* frame 0 */
	uint32_t len;
	uint16_t l3_off, l4_off, pl_off, csum_off;
	uint16_t ts_off;		/* send time's offset (--timestamp), else 0 */
	uint32_t pl_len;
	uint32_t csum_base;
	bool udp;
};

struct gen_result {
	uint64_t sent;
	uint64_t retries;
	double seconds;
	/* live mode only */
	bool attached;
	bool dropped_known;	/* the driver has XDP transmit counters */
	uint64_t dropped;	/* frames stamped that the driver did not transmit */
	uint64_t fresh, recycled, dirty, foreign;
	/* pump mode only: times the loop ran dry and was seeded again */
	uint64_t reseeds;
};

/* Set from the SIGINT/SIGTERM handler: stop after the current batch. */
extern volatile sig_atomic_t gen_stop;

/* frame.c */
uint32_t frame_hdr_len(const struct gen_cfg *cfg);
uint32_t frame_min_size(const struct gen_cfg *cfg);
void frame_build(const struct gen_cfg *cfg, struct gen_frame *fr);
void frame_vars(const struct gen_cfg *cfg, uint64_t k, uint16_t *sport, uint16_t *dport,
		uint64_t *seq);
void frame_stamp(const struct gen_frame *fr, uint8_t *buf, uint16_t sport, uint16_t dport,
		 uint64_t seq, uint64_t ts);
uint16_t csum_finish(uint64_t sum, bool udp);

/* main.c */
void gen_pace(const struct gen_cfg *cfg, const struct timespec *t0, uint64_t sent);
double gen_elapsed(const struct timespec *t0);

/* send_packet.c, send_live.c: 0, or 1 after printing an operational error. */
int send_packet(const struct gen_cfg *cfg, const struct gen_frame *fr, struct gen_result *res);
int send_live(const struct gen_cfg *cfg, const struct gen_frame *fr, struct gen_result *res);
int send_pump(const struct gen_cfg *cfg, const struct gen_frame *fr, struct gen_result *res);

#endif
