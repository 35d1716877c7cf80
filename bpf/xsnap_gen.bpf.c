// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_gen: the XDP half of `xsnap-gen --mode live`.
 *
 * Userspace runs this program with BPF_PROG_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES over one template frame, repeat = N: every run
 * turns the frame into frame k (k from a global counter) and returns
 * XDP_TX, which the kernel turns into a redirect out of the interface named
 * by ctx_in's ingress_ifindex.  The arithmetic is frame_stamp()'s in
 * tools/xsnap-gen/frame.c: ports, the payload's seq and check
 * (tools/common/payload.h) and an L4 checksum from a precomputed partial
 * sum, so no per-frame checksum loop.
 *
 * Live frames do not start from data_in every time.  Each BPF_PROG_RUN
 * call creates a page pool; data_in is copied into a page only when the
 * pool first hands that page out (xdp_test_run_init_page()).  A page that
 * comes back after transmission is reused as it was left, and only the
 * xdp_buff pointers are reset.  Measured on kernel 6.18 / veth with the
 * gen_fresh / gen_recycled counters: in a 200k-frame call only ~400 frames
 * ran on fresh copies, the rest on pages still holding an earlier frame;
 * with 100-frame calls nearly all are fresh.  A peer XDP program that
 * rewrites the Ethernet header (test: MAC scribbler) hands its changes
 * back to us (gen_dirty counted 37k of 300k).  VLAN-tagged frames that the
 * peer's stack receives never come back at all (every frame fresh).
 * So the program never patches "the template": it first rewrites the
 * frame's first 128 bytes (all headers and the payload header) from
 * gen_tmpl, then stamps absolute values; receivers saw every seq exactly
 * once.  Nobody writes the filler behind those 128 bytes.  With
 * --timestamp (gen_ts_off) the program also writes bpf_ktime_get_ns() into
 * the payload (tools/common/payload.h, PAYLOAD_OFF_TSTAMP) and adds it to
 * the checksum.
 *
 * The same program is also attached to the sending interface (each
 * BPF_PROG_RUN call is then much cheaper, see send_live.c), so it also sees
 * frames that really arrive there.  Those must pass untouched: userspace
 * puts an 8-byte random cookie at the start of a 40-byte XDP metadata area
 * of data_in, and only a frame carrying it is stamped.  Received frames have
 * no metadata.  Before XDP_TX the program strips the metadata area: on veth
 * it would otherwise travel to the peer in front of the frame, where the
 * peer's own XDP metadata (up to 32 bytes, written right before the data)
 * lands inside it; the cookie, 40 bytes out, is left intact for the page's
 * next use.  A kernel that refuses bpf_xdp_adjust_meta() to XDP programs
 * (some builds do; xsnap-gen probes it, gen_strip_meta) still takes the
 * metadata area in data_in: the area then travels with the frame, which
 * is harmless (the peer's program and AF_XDP socket only see it in front
 * of their own; xsnap_steer then writes its metadata as the packet's head).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../tools/common/payload.h"

#define GEN_TMPL_WORDS	16	/* 128 bytes, GEN_TMPL_BYTES in tools/xsnap-gen/gen.h */

/* Load-time knobs, set by xsnap-gen through the skeleton before load. */
const volatile __u64 gen_cookie;		/* metadata marking test-run frames */
const volatile __u64 gen_tmpl[GEN_TMPL_WORDS];	/* first 128 bytes of frame 0 */
const volatile __u32 gen_tmpl_words;		/* 8-byte words of gen_tmpl to copy */
const volatile __u32 gen_l4_off;		/* L4 header (ports) offset */
const volatile __u32 gen_pl_off;		/* payload offset */
const volatile __u32 gen_csum_off;		/* L4 checksum field offset */
const volatile __u32 gen_csum_base;		/* struct gen_frame's csum_base */
const volatile __u32 gen_udp;			/* 1: checksum 0 goes out as 0xffff */
const volatile __u32 gen_stream;
const volatile __u32 gen_pl_len;
const volatile __u64 gen_seq_start;
const volatile __u32 gen_flows;			/* source ports: gen_sport + k % gen_flows */
const volatile __u32 gen_sport;
const volatile __u32 gen_ndports;		/* dest ports: gen_dport + k / flows % ndports */
const volatile __u32 gen_dport;
const volatile __u32 gen_ts_off;		/* --timestamp: send time's offset, else 0 */
const volatile __u32 gen_strip_meta;		/* strip the metadata area before XDP_TX;
						 * 0 (the object's default, which loads on a
						 * kernel without bpf_xdp_adjust_meta()): it
						 * travels (see the top) */

/* Counters, read by xsnap-gen after each BPF_PROG_RUN call (.bss, mmapped). */
__u64 gen_next;		/* frames stamped: k of the next frame */
__u64 gen_fresh;	/* page still held frame 0's seq: fresh copy of data_in */
__u64 gen_recycled;	/* page held an earlier frame */
__u64 gen_dirty;	/* ... whose first 16 bytes had been changed */
__u64 gen_foreign;	/* real received frames passed through */

static __always_inline __u64 fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (sum & 0xffff) + (sum >> 16);
}

/*
 * Turn the frame at @data into frame k (k from gen_next) in place: headers
 * and payload header from gen_tmpl, then ports, seq, check, send time and
 * the L4 checksum.  0, or -1 if the frame is shorter than the template says
 * (never with xsnap-gen's own frames).
 */
static __always_inline int stamp(void *data, void *end)
{
	__u8 *pl = data + gen_pl_off;
	__u16 sport, dport, csum;
	__u64 k, seq, sum, old;
	__u32 check;
	int i;

	if ((void *)(pl + PAYLOAD_HDR_LEN) > end)
		return -1;

	/* What did this page hold before?  (Statistics only.) */
	old = *(__u64 *)(pl + PAYLOAD_OFF_SEQ);
	if (old == bpf_cpu_to_be64(gen_seq_start)) {
		gen_fresh++;
	} else {
		gen_recycled++;
		if (data + 16 <= end && (((__u64 *)data)[0] != gen_tmpl[0] ||
					 ((__u64 *)data)[1] != gen_tmpl[1]))
			gen_dirty++;
	}

	/* Restore headers and payload header from the template. */
#pragma unroll
	for (i = 0; i < GEN_TMPL_WORDS; i++) {
		__u64 *w = data + i * 8;

		if (i >= gen_tmpl_words || (void *)(w + 1) > end)
			break;
		*w = gen_tmpl[i];
	}

	k = __sync_fetch_and_add(&gen_next, 1);
	seq = gen_seq_start + k;
	sport = gen_sport + (gen_flows > 1 ? k % gen_flows : 0);
	dport = gen_dport + (gen_ndports > 1 ? k / gen_flows % gen_ndports : 0);
	check = payload_mix(gen_stream, seq, gen_pl_len);

	if (data + gen_l4_off + 4 > end || data + gen_csum_off + 2 > end)
		return -1;
	*(__u16 *)(data + gen_l4_off) = bpf_htons(sport);
	*(__u16 *)(data + gen_l4_off + 2) = bpf_htons(dport);
	*(__u64 *)(pl + PAYLOAD_OFF_SEQ) = bpf_cpu_to_be64(seq);
	*(__u32 *)(pl + PAYLOAD_OFF_CHECK) = bpf_htonl(check);

	sum = gen_csum_base + sport + dport;
	sum += (seq >> 48) + (seq >> 32 & 0xffff) + (seq >> 16 & 0xffff) + (seq & 0xffff);
	sum += (check >> 16) + (check & 0xffff);
	if (gen_ts_off) {
		/* send time, as late as we can: the frame leaves with XDP_TX */
		__u64 ts = bpf_ktime_get_ns();

		if (data + gen_ts_off + 8 > end)
			return -1;
		*(__u64 *)(data + gen_ts_off) = bpf_cpu_to_be64(ts);
		sum += (ts >> 48) + (ts >> 32 & 0xffff) + (ts >> 16 & 0xffff) + (ts & 0xffff);
	}
	csum = (__u16)~fold(sum);
	if (gen_udp && !csum)
		csum = 0xffff;
	*(__u16 *)(data + gen_csum_off) = bpf_htons(csum);
	return 0;
}

SEC("xdp.frags")
int xsnap_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *meta = (void *)(long)ctx->data_meta;

	if (meta + sizeof(__u64) > data || *(__u64 *)meta != gen_cookie) {
		__sync_fetch_and_add(&gen_foreign, 1);
		return XDP_PASS;
	}
	if (stamp(data, end))
		return XDP_ABORTED;
	/* no metadata on the wire (see the top); invalidates packet pointers */
	if (gen_strip_meta && bpf_xdp_adjust_meta(ctx, (int)(data - meta)))
		return XDP_ABORTED;
	return XDP_TX;
}

/*
 * --mode pump, for kernels that refuse live frames: frames circulate
 * through a veth pair (xsnap-gen seeds them on the peer); on every lap the
 * pump program on the receiving end broadcasts each one to gen_pump: the
 * kernel clones it for every slot but the last, which is the loop's own
 * peer and gets the original back (the next lap).  The other slots name
 * the sending interface with xsnap_gen_stamp as their devmap program,
 * which turns its clone into frame k before transmission.  Frames past
 * gen_count (0: no limit) are dropped there.
 */
#define GEN_PUMP_SLOTS	257	/* up to 256 clones per lap and the loop */

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, GEN_PUMP_SLOTS);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} gen_pump SEC(".maps");

const volatile __u64 gen_count;		/* --count in pump mode, 0: no limit */

SEC("xdp")
int xsnap_gen_pump(struct xdp_md *ctx)
{
	return bpf_redirect_map(&gen_pump, 0, BPF_F_BROADCAST);
}

SEC("xdp/devmap")
int xsnap_gen_stamp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (gen_count && gen_next >= gen_count)
		return XDP_DROP;
	if (stamp(data, end))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
