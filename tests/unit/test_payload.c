// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests for tools/common/payload.h: the xsnap test payload format,
 * payload_of_frame() and the per-stream sequence tracker.  No privileges.
 */
#include <stdint.h>
#include <string.h>

#include "testlib.h"
#include "payload.h"

/* --- payload ------------------------------------------------------------ */

TEST(fill_check_round_trip)
{
	static const size_t lens[] = { PAYLOAD_HDR_LEN, PAYLOAD_HDR_LEN + 1, 64, 1000, 8192 };
	uint8_t buf[8192];

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint32_t stream = 0;
		uint64_t seq = 0;

		REQUIRE(payload_fill(buf, lens[i], 7, 0x123456789abcULL) == PAYLOAD_OK);
		CHECK_EQ(payload_check(buf, lens[i], &stream, &seq), PAYLOAD_OK);
		CHECK_EQ(stream, 7);
		CHECK(seq == 0x123456789abcULL);
	}
}

TEST(wire_layout)
{
	uint8_t buf[40];

	REQUIRE(payload_fill(buf, sizeof(buf), 0x01020304, 0x1112131415161718ULL) == 0);
	CHECK(!memcmp(buf, "XSPL", 4));
	CHECK(!memcmp(buf + 4, "\x01\x02\x03\x04", 4));
	CHECK(!memcmp(buf + 8, "\x11\x12\x13\x14\x15\x16\x17\x18", 8));
	CHECK(!memcmp(buf + 16, "\x00\x00\x00\x28", 4));
	CHECK_EQ(payload_get32(buf + 20), payload_mix(0x01020304, 0x1112131415161718ULL, 40));
	CHECK_EQ(sizeof(struct payload_hdr), PAYLOAD_HDR_LEN);
}

TEST(fill_too_short)
{
	uint8_t buf[PAYLOAD_HDR_LEN];

	CHECK_EQ(payload_fill(buf, PAYLOAD_HDR_LEN - 1, 0, 0), PAYLOAD_E_SHORT);
	CHECK_EQ(payload_check(buf, PAYLOAD_HDR_LEN - 1, NULL, NULL), PAYLOAD_E_SHORT);
	CHECK_EQ(payload_check(buf, 0, NULL, NULL), PAYLOAD_E_SHORT);
}

TEST(every_corrupted_byte_detected)
{
	uint8_t buf[100];

	REQUIRE(payload_fill(buf, sizeof(buf), 3, 99) == 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (payload_check(buf, sizeof(buf), NULL, NULL) == PAYLOAD_OK) {
				fprintf(stderr, "flip of byte %zu bit %d not detected\n", i, bit);
				test_failed = 1;
			}
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	CHECK_EQ(payload_check(buf, sizeof(buf), NULL, NULL), PAYLOAD_OK);
}

TEST(error_kinds)
{
	uint8_t buf[64];

	REQUIRE(payload_fill(buf, sizeof(buf), 1, 2) == 0);
	buf[0] = 'Y';
	CHECK_EQ(payload_check(buf, sizeof(buf), NULL, NULL), PAYLOAD_E_MAGIC);
	buf[0] = 'X';
	buf[PAYLOAD_OFF_SEQ + 7] ^= 1;
	CHECK_EQ(payload_check(buf, sizeof(buf), NULL, NULL), PAYLOAD_E_CHECK);
	buf[PAYLOAD_OFF_SEQ + 7] ^= 1;
	buf[PAYLOAD_OFF_STREAM] ^= 0x80;
	CHECK_EQ(payload_check(buf, sizeof(buf), NULL, NULL), PAYLOAD_E_CHECK);
	buf[PAYLOAD_OFF_STREAM] ^= 0x80;
	buf[63] ^= 0x10;
	CHECK_EQ(payload_check(buf, sizeof(buf), NULL, NULL), PAYLOAD_E_FILLER);
	buf[63] ^= 0x10;
	CHECK_EQ(payload_check(buf, sizeof(buf), NULL, NULL), PAYLOAD_OK);
	CHECK(strcmp(payload_strerror(PAYLOAD_E_FILLER), payload_strerror(PAYLOAD_E_CHECK)));
}

TEST(wrong_length_detected)
{
	uint8_t buf[128];
	uint64_t seq = 0;

	REQUIRE(payload_fill(buf, 100, 5, 42) == 0);
	memset(buf + 100, 0, sizeof(buf) - 100);
	CHECK_EQ(payload_check(buf, 99, NULL, NULL), PAYLOAD_E_LEN);	/* truncated */
	CHECK_EQ(payload_check(buf, 104, NULL, &seq), PAYLOAD_E_LEN);	/* padded */
	CHECK_EQ(seq, 42);	/* seq is reported even for a damaged payload */
	/* A consistent len field with a wrong check is still caught. */
	payload_put32(buf + PAYLOAD_OFF_LEN, 99);
	CHECK_EQ(payload_check(buf, 99, NULL, NULL), PAYLOAD_E_CHECK);
}

TEST(stamp_keeps_validity)
{
	uint8_t a[300], b[300];
	uint64_t seq = 0;
	int diff = 0;

	REQUIRE(payload_fill(a, sizeof(a), 9, 1) == 0);
	payload_stamp(a, 0xfedcba9876543210ULL);
	CHECK_EQ(payload_check(a, sizeof(a), NULL, &seq), PAYLOAD_OK);
	CHECK(seq == 0xfedcba9876543210ULL);
	/* Identical to a payload filled with that seq in the first place ... */
	REQUIRE(payload_fill(b, sizeof(b), 9, 0xfedcba9876543210ULL) == 0);
	CHECK(!memcmp(a, b, sizeof(a)));
	/* ... and the filler does not depend on seq at all. */
	REQUIRE(payload_fill(b, sizeof(b), 9, 2) == 0);
	for (size_t i = 0; i < sizeof(a); i++)
		if (a[i] != b[i] && (i < PAYLOAD_OFF_SEQ || i >= PAYLOAD_HDR_LEN ||
				     (i >= PAYLOAD_OFF_LEN && i < PAYLOAD_OFF_CHECK)))
			diff++;
	CHECK_EQ(diff, 0);
}

TEST(filler_depends_on_stream_and_position)
{
	uint8_t a[256], b[256];
	int same = 0, repeats = 0;

	REQUIRE(payload_fill(a, sizeof(a), 1, 0) == 0);
	REQUIRE(payload_fill(b, sizeof(b), 2, 0) == 0);
	for (size_t i = PAYLOAD_HDR_LEN; i < sizeof(a); i++) {
		same += a[i] == b[i];
		repeats += a[i] == a[i - 1];
	}
	CHECK(same < 20);	/* ~1/256 expected */
	CHECK(repeats < 20);	/* a shifted copy would not pass */
	/* A payload of another stream fails the check with a rewritten header. */
	memcpy(b, a, PAYLOAD_HDR_LEN);
	CHECK_EQ(payload_check(b, sizeof(b), NULL, NULL), PAYLOAD_E_FILLER);
}

TEST(mix_sensitivity)
{
	uint32_t base = payload_mix(1, 1000, 64);

	CHECK(payload_mix(2, 1000, 64) != base);
	CHECK(payload_mix(1, 1001, 64) != base);
	CHECK(payload_mix(1, 1000, 65) != base);
	CHECK(payload_mix(1, 1000 + (1ULL << 32), 64) != base);
	CHECK(payload_mix(0, 0, 0) != payload_mix(0, 1, 0));
}

/* --- payload_of_frame ---------------------------------------------------- */

struct fb {
	uint8_t b[2048];
	size_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

/*
 * Build Ethernet [+ tags] + IPv4 (ihl words) or IPv6 + UDP/TCP + payload of
 * pllen bytes, followed by pad zero bytes (Ethernet padding).
 */
static void build(struct fb *f, int ntags, int v6, int ihl, int tcp, size_t pllen, size_t pad)
{
	size_t off = 12, l4len = (tcp ? 20 : 8) + pllen;
	uint8_t *l4;

	memset(f, 0, sizeof(*f));
	memset(f->b, 0xaa, 12);
	for (int t = 0; t < ntags; t++, off += 4) {
		put16(f->b + off, t == 0 && ntags > 1 ? 0x88a8 : 0x8100);
		put16(f->b + off + 2, (uint16_t)(100 + t));
	}
	put16(f->b + off, v6 ? 0x86dd : 0x0800);
	off += 2;
	if (v6) {
		f->b[off] = 0x60;
		put16(f->b + off + 4, (uint16_t)l4len);
		f->b[off + 6] = tcp ? 6 : 17;
		f->b[off + 7] = 64;
		off += 40;
	} else {
		f->b[off] = (uint8_t)(0x40 | ihl);
		put16(f->b + off + 2, (uint16_t)(ihl * 4 + l4len));
		put16(f->b + off + 6, 0x4000);	/* DF */
		f->b[off + 8] = 64;
		f->b[off + 9] = tcp ? 6 : 17;
		for (int i = 20; i < ihl * 4; i++)
			f->b[off + i] = 1;	/* NOP options */
		off += (size_t)ihl * 4;
	}
	l4 = f->b + off;
	put16(l4, 40000);
	put16(l4 + 2, 9000);
	if (tcp) {
		l4[12] = 5 << 4;
		l4[13] = 0x18;
		off += 20;
	} else {
		put16(l4 + 4, (uint16_t)l4len);
		off += 8;
	}
	payload_fill(f->b + off, pllen, 11, 77);
	f->len = off + pllen + pad;
}

static int locate_and_check(const struct fb *f, size_t *pllen)
{
	const void *pl;
	uint64_t seq = 0;
	int r;

	r = payload_of_frame(f->b, f->len, &pl, pllen);
	if (r)
		return r;
	r = payload_check(pl, *pllen, NULL, &seq);
	return r ? r : (seq == 77 ? 0 : -100);
}

/* The payload of the frame build() makes of the same arguments is found
 * and checks: @pllen bytes of the generator's stream. */
static void check_found(int ntags, int v6, int ihl, int tcp, size_t pllen, size_t pad)
{
	struct fb f;
	size_t n = 0;
	int r;

	build(&f, ntags, v6, ihl, tcp, pllen, pad);
	r = locate_and_check(&f, &n);
	if (r || n != pllen)
		fprintf(stderr, "%d tags, IPv%d (ihl %d), %s, %zu bytes, %zu padding: %d, %zu\n",
			ntags, v6 ? 6 : 4, ihl, tcp ? "TCP" : "UDP", pllen, pad, r, n);
	CHECK_EQ(r, 0);
	CHECK_EQ(n, pllen);
}

TEST(frame_ipv4_udp_tcp)
{
	check_found(0, 0, 5, 0, 100, 0);
	check_found(0, 0, 5, 1, 24, 0);
}

TEST(frame_ipv4_options)
{
	check_found(0, 0, 15, 0, 50, 0);	/* 40 bytes of options */
	check_found(1, 0, 7, 1, 50, 0);
}

TEST(frame_ipv6)
{
	check_found(0, 1, 0, 0, 1000, 0);
	check_found(0, 1, 0, 1, 33, 0);
}

TEST(frame_vlan)
{
	struct fb f;
	size_t n = 0;

	check_found(1, 0, 5, 0, 64, 0);
	check_found(2, 1, 0, 0, 64, 0);	/* 802.1ad + 802.1Q */
	build(&f, 3, 0, 5, 0, 64, 0);	/* three tags: more than we parse */
	CHECK_EQ(locate_and_check(&f, &n), PAYLOAD_E_L2);
}

/* A short frame padded to 60 bytes by a NIC: lengths come from IP/UDP. */
TEST(frame_padding_excluded)
{
	check_found(0, 0, 5, 0, 24, 8);
	check_found(0, 1, 0, 1, 24, 20);
}

TEST(frame_rejects)
{
	const void *pl;
	struct fb f;
	size_t n;

	build(&f, 0, 0, 5, 0, 40, 0);
	CHECK_EQ(payload_of_frame(f.b, 13, &pl, &n), PAYLOAD_E_L2);
	CHECK_EQ(payload_of_frame(f.b, 30, &pl, &n), PAYLOAD_E_L3);	/* truncated IP */
	CHECK_EQ(payload_of_frame(f.b, f.len - 1, &pl, &n), PAYLOAD_E_L3);
	f.b[12] = 0x08, f.b[13] = 0x06;					/* ARP */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L2);

	build(&f, 0, 0, 5, 0, 40, 0);
	f.b[14 + 6] |= 0x20;						/* MF */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L3);
	build(&f, 0, 0, 5, 0, 40, 0);
	f.b[14 + 7] = 1;						/* frag offset */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L3);
	build(&f, 0, 0, 5, 0, 40, 0);
	f.b[14] = 0x44;							/* ihl 4 */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L3);
	build(&f, 0, 0, 5, 0, 40, 0);
	f.b[14 + 9] = 1;						/* ICMP */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L4);
	build(&f, 0, 0, 5, 0, 40, 0);
	put16(f.b + 34 + 4, 7);						/* UDP len < 8 */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L4);
	put16(f.b + 34 + 4, 49);					/* beyond IP */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L4);
	build(&f, 0, 0, 5, 1, 30, 0);
	f.b[34 + 12] = 15 << 4;					/* TCP doff > segment */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L4);

	build(&f, 0, 1, 0, 0, 40, 0);
	f.b[14 + 6] = 0;						/* hop-by-hop ext hdr */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L4);
	build(&f, 0, 1, 0, 0, 40, 0);
	f.b[14] = 0x40;							/* version 4 in v6 */
	CHECK_EQ(payload_of_frame(f.b, f.len, &pl, &n), PAYLOAD_E_L3);
	build(&f, 0, 1, 0, 0, 40, 0);
	CHECK_EQ(payload_of_frame(f.b, f.len - 1, &pl, &n), PAYLOAD_E_L3);
}

/* --- seq_tracker ----------------------------------------------------------- */

TEST(seq_in_order)
{
	struct seq_tracker tr;

	seq_track_init(&tr);
	CHECK_EQ(seq_track(&tr, 100), SEQ_FIRST);
	for (uint64_t s = 101; s < 200; s++)
		CHECK_EQ(seq_track(&tr, s), SEQ_IN_ORDER);
	CHECK_EQ(tr.received, 100);
	CHECK_EQ(tr.next, 200);
	CHECK_EQ(tr.gaps + tr.dups + tr.reorder + tr.late, 0);
}

TEST(seq_gaps_dups_reorder)
{
	struct seq_tracker tr;

	seq_track_init(&tr);
	seq_track(&tr, 0);
	seq_track(&tr, 1);
	CHECK_EQ(seq_track(&tr, 5), SEQ_GAP);		/* 2, 3, 4 missing */
	CHECK_EQ(tr.gaps, 3);
	CHECK_EQ(seq_track(&tr, 3), SEQ_REORDER);	/* fills one */
	CHECK_EQ(tr.gaps, 2);
	CHECK_EQ(tr.reorder, 1);
	CHECK_EQ(seq_track(&tr, 3), SEQ_DUP);
	CHECK_EQ(seq_track(&tr, 5), SEQ_DUP);
	CHECK_EQ(seq_track(&tr, 1), SEQ_DUP);
	CHECK_EQ(tr.dups, 3);
	CHECK_EQ(tr.gaps, 2);
	CHECK_EQ(seq_track(&tr, 6), SEQ_IN_ORDER);
	CHECK_EQ(seq_track(&tr, 2), SEQ_REORDER);
	CHECK_EQ(seq_track(&tr, 4), SEQ_REORDER);
	CHECK_EQ(tr.gaps, 0);
	CHECK_EQ(tr.reorder, 3);
	CHECK_EQ(tr.received, 10);
	CHECK_EQ(tr.next, 7);
}

TEST(seq_window)
{
	struct seq_tracker tr;

	seq_track_init(&tr);
	seq_track(&tr, 0);
	/* A jump larger than the window forgets everything behind it. */
	CHECK_EQ(seq_track(&tr, 3 * SEQ_TRACK_WINDOW), SEQ_GAP);
	CHECK_EQ(tr.gaps, 3 * SEQ_TRACK_WINDOW - 1);
	CHECK_EQ(seq_track(&tr, 5), SEQ_LATE);
	CHECK_EQ(tr.late, 1);
	CHECK_EQ(tr.gaps, 3 * SEQ_TRACK_WINDOW - 1);	/* unknown: left alone */
	/* The oldest seq still inside the window is told apart correctly. */
	CHECK_EQ(seq_track(&tr, 2 * SEQ_TRACK_WINDOW + 1), SEQ_REORDER);
	CHECK_EQ(seq_track(&tr, 2 * SEQ_TRACK_WINDOW + 1), SEQ_DUP);
	CHECK_EQ(seq_track(&tr, 2 * SEQ_TRACK_WINDOW), SEQ_LATE);
	/* Stale bits from an earlier lap of the window do not look like dups. */
	seq_track_init(&tr);
	for (uint64_t s = 0; s < SEQ_TRACK_WINDOW + 10; s++)
		seq_track(&tr, s);
	CHECK_EQ(seq_track(&tr, SEQ_TRACK_WINDOW + 20), SEQ_GAP);
	CHECK_EQ(seq_track(&tr, SEQ_TRACK_WINDOW + 15), SEQ_REORDER);
	CHECK_EQ(tr.dups, 0);
}

TEST(seq_start_anywhere)
{
	struct seq_tracker tr;

	memset(&tr, 0, sizeof(tr));	/* zeroing is as good as seq_track_init() */
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 5), SEQ_FIRST);
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 4), SEQ_IN_ORDER);
	/* Older than the first seq: reordered, and what lies between is a gap. */
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 8), SEQ_REORDER);
	CHECK_EQ(tr.gaps, 2);
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 7), SEQ_REORDER);
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 6), SEQ_REORDER);
	CHECK_EQ(tr.gaps, 0);
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 8), SEQ_DUP);
	CHECK_EQ(seq_track(&tr, UINT64_MAX - 5), SEQ_DUP);
	CHECK_EQ(tr.reorder, 3);
	CHECK_EQ(tr.dups, 2);
}

TEST_MAIN()
