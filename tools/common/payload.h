/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * xsnap test payload: the format xsnap-gen writes into every UDP/TCP frame
 * and every receiver (tests, examples, benchmarks) verifies.
 *
 * A payload is a 24-byte header followed by filler:
 *
 *	offset	size	field
 *	0	4	magic	"XSPL" (0x5853504c)
 *	4	4	stream	sender-chosen stream id
 *	8	8	seq	sequence number within the stream
 *	16	4	len	payload length in bytes, header included
 *	20	4	check	payload_mix(stream, seq, len)
 *	24	len-24	filler	byte i (i counted from the payload start) is
 *				payload_filler(i, stream)
 *
 * Every field is big-endian (network order), so a hexdump shows "XSPL" and
 * the format does not depend on the host.  Fields are read and written
 * byte-wise: a payload sits at any offset in a frame (42 after Ethernet +
 * IPv4 + UDP), so the header is never accessed through a struct pointer.
 *
 * The filler depends on (i, stream) only, never on seq, and len never
 * changes: a frame is constant apart from seq and check, so an XDP program
 * (bpf/xsnap_gen.bpf.c) can stamp a new seq into a template frame with
 * payload_stamp()'s arithmetic and an incremental L4 checksum update.
 * payload_mix() and payload_filler() are therefore also compiled for BPF
 * (__bpf__): they use only shifts, xors and 64-bit multiplies.
 *
 * Header-only; userspace needs <stdint.h>/<string.h> and <linux/types.h>
 * for the __u32-style names shared with the BPF side.
 */
#ifndef XSNAP_PAYLOAD_H
#define XSNAP_PAYLOAD_H

#include <linux/types.h>
#ifndef __bpf__
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#endif

#define PAYLOAD_MAGIC		0x5853504cu	/* "XSPL" */
#define PAYLOAD_HDR_LEN		24u
#define PAYLOAD_OFF_MAGIC	0
#define PAYLOAD_OFF_STREAM	4
#define PAYLOAD_OFF_SEQ		8
#define PAYLOAD_OFF_LEN		16
#define PAYLOAD_OFF_CHECK	20
/*
 * xsnap-gen --timestamp: the first 8 filler bytes (payload offset 24..31)
 * carry the send time instead of filler: CLOCK_MONOTONIC nanoseconds,
 * big-endian (bpf_ktime_get_ns() in live mode, clock_gettime() in packet
 * mode).  payload_check() reports such a payload as PAYLOAD_E_FILLER; read
 * the time with payload_tstamp().
 */
#define PAYLOAD_OFF_TSTAMP	24
#define PAYLOAD_TSTAMP_LEN	8

/* The header as it sits on the wire (big-endian fields; documentation and
 * sizeof only: access it through the byte-wise helpers below).
 */
struct payload_hdr {
	__be32 magic;
	__be32 stream;
	__be64 seq;
	__be32 len;
	__be32 check;
};

/* Return codes of payload_check() and payload_of_frame(). */
enum {
	PAYLOAD_OK = 0,
	PAYLOAD_E_SHORT = -1,	/* buffer shorter than the payload header */
	PAYLOAD_E_MAGIC = -2,	/* magic is not "XSPL" */
	PAYLOAD_E_LEN = -3,	/* len field differs from the buffer length */
	PAYLOAD_E_CHECK = -4,	/* check differs from payload_mix(stream, seq, len) */
	PAYLOAD_E_FILLER = -5,	/* a filler byte differs */
	PAYLOAD_E_L2 = -6,	/* frame: truncated, or not (VLAN-tagged) IPv4/IPv6 */
	PAYLOAD_E_L3 = -7,	/* frame: bad IP header, fragment or IPv6 ext header */
	PAYLOAD_E_L4 = -8,	/* frame: not UDP/TCP, or bad/truncated L4 header */
};

/* check = payload_mix(stream, seq, len): murmur3's 64-bit finalizer over
 * all three fields, folded to 32 bits.  Any single-field change flips about
 * half of the bits.
 */
static inline __u32 payload_mix(__u32 stream, __u64 seq, __u32 len)
{
	__u64 x = seq ^ ((((__u64)stream << 32) | len) * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (__u32)x ^ (__u32)(x >> 32);
}

/* Filler byte at payload offset i (i >= PAYLOAD_HDR_LEN) of stream. */
static inline __u8 payload_filler(__u32 i, __u32 stream)
{
	__u32 h = (i + 1) * 0x9e3779b1u ^ stream * 0x85ebca6bu;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	return (__u8)(h >> 24);
}

#ifndef __bpf__

static inline void payload_put32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
}

static inline void payload_put64(void *p, uint64_t v)
{
	payload_put32(p, (uint32_t)(v >> 32));
	payload_put32((uint8_t *)p + 4, (uint32_t)v);
}

static inline uint32_t payload_get32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t payload_get64(const void *p)
{
	return (uint64_t)payload_get32(p) << 32 | payload_get32((const uint8_t *)p + 4);
}

/* payload_tstamp() - the send time of a --timestamp payload of @len bytes, or 0. */
static inline uint64_t payload_tstamp(const void *buf, size_t len)
{
	if (len < PAYLOAD_OFF_TSTAMP + PAYLOAD_TSTAMP_LEN)
		return 0;
	return payload_get64((const uint8_t *)buf + PAYLOAD_OFF_TSTAMP);
}

/*
 * payload_fill() - write a complete payload of @len bytes into @buf.
 * Returns 0, or PAYLOAD_E_SHORT if @len < PAYLOAD_HDR_LEN, PAYLOAD_E_LEN if
 * @len does not fit the 32-bit len field.
 */
static inline int payload_fill(void *buf, size_t len, uint32_t stream, uint64_t seq)
{
	uint8_t *b = buf;

	if (len < PAYLOAD_HDR_LEN)
		return PAYLOAD_E_SHORT;
	if (len > UINT32_MAX)
		return PAYLOAD_E_LEN;
	payload_put32(b + PAYLOAD_OFF_MAGIC, PAYLOAD_MAGIC);
	payload_put32(b + PAYLOAD_OFF_STREAM, stream);
	payload_put64(b + PAYLOAD_OFF_SEQ, seq);
	payload_put32(b + PAYLOAD_OFF_LEN, (uint32_t)len);
	payload_put32(b + PAYLOAD_OFF_CHECK, payload_mix(stream, seq, (uint32_t)len));
	for (size_t i = PAYLOAD_HDR_LEN; i < len; i++)
		b[i] = payload_filler((uint32_t)i, stream);
	return PAYLOAD_OK;
}

/*
 * payload_stamp() - give a valid payload a new sequence number: rewrites seq
 * and check only (stream and len are read from @buf).
 */
static inline void payload_stamp(void *buf, uint64_t seq)
{
	uint8_t *b = buf;
	uint32_t stream = payload_get32(b + PAYLOAD_OFF_STREAM);
	uint32_t len = payload_get32(b + PAYLOAD_OFF_LEN);

	payload_put64(b + PAYLOAD_OFF_SEQ, seq);
	payload_put32(b + PAYLOAD_OFF_CHECK, payload_mix(stream, seq, len));
}

/*
 * payload_check() - verify the @len-byte payload at @buf.
 * @stream, @seq: if not NULL, receive the header's stream and seq as soon as
 * the magic is right (so a caller can report which frame was damaged).
 * Returns PAYLOAD_OK or a negative PAYLOAD_E_* code.
 */
static inline int payload_check(const void *buf, size_t len, uint32_t *stream, uint64_t *seq)
{
	const uint8_t *b = buf;
	uint32_t st, plen;
	uint64_t sq;

	if (len < PAYLOAD_HDR_LEN)
		return PAYLOAD_E_SHORT;
	if (payload_get32(b + PAYLOAD_OFF_MAGIC) != PAYLOAD_MAGIC)
		return PAYLOAD_E_MAGIC;
	st = payload_get32(b + PAYLOAD_OFF_STREAM);
	sq = payload_get64(b + PAYLOAD_OFF_SEQ);
	plen = payload_get32(b + PAYLOAD_OFF_LEN);
	if (stream)
		*stream = st;
	if (seq)
		*seq = sq;
	if (plen != len)
		return PAYLOAD_E_LEN;
	if (payload_get32(b + PAYLOAD_OFF_CHECK) != payload_mix(st, sq, plen))
		return PAYLOAD_E_CHECK;
	for (size_t i = PAYLOAD_HDR_LEN; i < len; i++)
		if (b[i] != payload_filler((uint32_t)i, st))
			return PAYLOAD_E_FILLER;
	return PAYLOAD_OK;
}

static inline const char *payload_strerror(int err)
{
	switch (err) {
	case PAYLOAD_OK: return "ok";
	case PAYLOAD_E_SHORT: return "payload shorter than its header";
	case PAYLOAD_E_MAGIC: return "bad payload magic";
	case PAYLOAD_E_LEN: return "payload length field mismatch";
	case PAYLOAD_E_CHECK: return "bad payload check value";
	case PAYLOAD_E_FILLER: return "corrupted payload filler";
	case PAYLOAD_E_L2: return "not an Ethernet IPv4/IPv6 frame";
	case PAYLOAD_E_L3: return "bad or fragmented IP header";
	case PAYLOAD_E_L4: return "not a valid UDP/TCP header";
	default: return "unknown payload error";
	}
}

static inline uint16_t payload_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/*
 * payload_of_frame() - locate the UDP or TCP payload of an Ethernet frame.
 * Accepts up to two VLAN tags (0x8100/0x88a8), IPv4 with options (not
 * fragmented) and IPv6 whose next header is UDP or TCP (no extension
 * headers).  The payload length comes from the IP and UDP length fields, so
 * Ethernet padding after a short packet is excluded.  On success sets
 * @pl and @pllen and returns PAYLOAD_OK; otherwise returns PAYLOAD_E_L2/L3/L4.
 */
static inline int payload_of_frame(const void *frame, size_t len, const void **pl, size_t *pllen)
{
	const uint8_t *b = frame;
	size_t off = 12, l3_end, l4;
	uint16_t proto;
	uint8_t l4proto;

	if (len < 14)
		return PAYLOAD_E_L2;
	proto = payload_get16(b + off);
	for (int tags = 0; (proto == 0x8100 || proto == 0x88a8) && tags < 2; tags++) {
		off += 4;
		if (len < off + 2)
			return PAYLOAD_E_L2;
		proto = payload_get16(b + off);
	}
	off += 2;	/* now the L3 header */
	if (proto == 0x0800) {
		size_t ihl, tot;

		if (len < off + 20 || (b[off] >> 4) != 4)
			return PAYLOAD_E_L3;
		ihl = (size_t)(b[off] & 0xf) * 4;
		tot = payload_get16(b + off + 2);
		if (ihl < 20 || tot < ihl || len < off + tot)
			return PAYLOAD_E_L3;
		if (payload_get16(b + off + 6) & 0x3fff)	/* MF or fragment offset */
			return PAYLOAD_E_L3;
		l4proto = b[off + 9];
		l3_end = off + tot;
		l4 = off + ihl;
	} else if (proto == 0x86dd) {
		if (len < off + 40 || (b[off] >> 4) != 6)
			return PAYLOAD_E_L3;
		l3_end = off + 40 + payload_get16(b + off + 4);
		if (len < l3_end)
			return PAYLOAD_E_L3;
		l4proto = b[off + 6];
		l4 = off + 40;
	} else {
		return PAYLOAD_E_L2;
	}

	if (l4proto == 17) {		/* UDP */
		size_t ulen;

		if (l3_end < l4 + 8)
			return PAYLOAD_E_L4;
		ulen = payload_get16(b + l4 + 4);
		if (ulen < 8 || l4 + ulen > l3_end)
			return PAYLOAD_E_L4;
		*pl = b + l4 + 8;
		*pllen = ulen - 8;
	} else if (l4proto == 6) {	/* TCP */
		size_t doff;

		if (l3_end < l4 + 20)
			return PAYLOAD_E_L4;
		doff = (size_t)(b[l4 + 12] >> 4) * 4;
		if (doff < 20 || l4 + doff > l3_end)
			return PAYLOAD_E_L4;
		*pl = b + l4 + doff;
		*pllen = l3_end - l4 - doff;
	} else {
		return PAYLOAD_E_L4;
	}
	return PAYLOAD_OK;
}

/*
 * Sequence tracking for one stream.  seq_track() classifies each received
 * seq against the highest seen so far:
 *	in order  seq == next
 *	gap	  seq >  next: the seqs in between count as missing (gaps)
 *	reorder   seq <  next, missing so far: fills a gap (gaps - 1); a seq
 *		  below the first one received moves the start back, and
 *		  the seqs in between become gaps
 *	dup	  seq <  next, already received
 *	late	  seq <  next - SEQ_TRACK_WINDOW: too old to tell dup from
 *		  reorder; gaps is left alone
 * So after the stream ends, gaps is the number of frames lost (exact as
 * long as no frame arrives more than SEQ_TRACK_WINDOW behind).  The struct
 * has a fixed size (no allocation); zero it or call seq_track_init().
 */
#define SEQ_TRACK_WINDOW	4096u	/* seqs remembered behind next (bits) */

enum seq_class {
	SEQ_FIRST = 0,
	SEQ_IN_ORDER,
	SEQ_GAP,
	SEQ_REORDER,
	SEQ_DUP,
	SEQ_LATE,
};

struct seq_tracker {
	uint64_t next;		/* next expected seq: highest received + 1 */
	uint64_t received;	/* every seq_track() call */
	uint64_t dups;		/* received again */
	uint64_t gaps;		/* skipped and not (yet) received: lost so far */
	uint64_t reorder;	/* arrived after a higher seq, filling a gap */
	uint64_t late;		/* older than the window */
	uint64_t first;		/* lowest seq received (the stream's start as seen) */
	uint64_t started;	/* 0 until the first seq */
	/* bit (seq % WINDOW) set: seq received; valid for [next - WINDOW, next) */
	uint64_t seen[SEQ_TRACK_WINDOW / 64];
};

static inline void seq_track_init(struct seq_tracker *tr)
{
	memset(tr, 0, sizeof(*tr));
}

static inline void seq_track_bit(struct seq_tracker *tr, uint64_t seq, int set)
{
	uint64_t bit = seq % SEQ_TRACK_WINDOW;

	if (set)
		tr->seen[bit / 64] |= 1ULL << (bit % 64);
	else
		tr->seen[bit / 64] &= ~(1ULL << (bit % 64));
}

static inline int seq_track_test(const struct seq_tracker *tr, uint64_t seq)
{
	uint64_t bit = seq % SEQ_TRACK_WINDOW;

	return (tr->seen[bit / 64] >> (bit % 64)) & 1;
}

/* seq_track() - account one received @seq; returns its enum seq_class. */
static inline int seq_track(struct seq_tracker *tr, uint64_t seq)
{
	tr->received++;
	if (!tr->started) {
		tr->started = 1;
		tr->first = seq;
		tr->next = seq + 1;
		seq_track_bit(tr, seq, 1);
		return SEQ_FIRST;
	}
	if (seq >= tr->next) {
		uint64_t skip = seq - tr->next;

		/* Forget the bits that now fall out of the window. */
		if (skip >= SEQ_TRACK_WINDOW)
			memset(tr->seen, 0, sizeof(tr->seen));
		else
			for (uint64_t s = tr->next; s < seq; s++)
				seq_track_bit(tr, s, 0);
		seq_track_bit(tr, seq, 1);
		tr->gaps += skip;
		tr->next = seq + 1;
		return skip ? SEQ_GAP : SEQ_IN_ORDER;
	}
	if (tr->next - seq > SEQ_TRACK_WINDOW) {
		tr->late++;
		return SEQ_LATE;
	}
	if (seq_track_test(tr, seq)) {
		tr->dups++;
		return SEQ_DUP;
	}
	seq_track_bit(tr, seq, 1);
	tr->reorder++;
	if (seq < tr->first) {
		/* Nothing below first was counted missing: count what lies between. */
		tr->gaps += tr->first - seq - 1;
		tr->first = seq;
	} else {
		tr->gaps--;
	}
	return SEQ_REORDER;
}

#endif /* !__bpf__ */
#endif /* XSNAP_PAYLOAD_H */
