// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Rule sets in the XDP program, loaded the way libxsnap loads them:
 *
 *   every_reason_counted         every XSNAP_R_* reason has a name, a frame
 *                                that produces it, a counter that moves by one
 *   fail_closed_edges            tiny first fragments, unreadable L4 headers,
 *                                IPv6 chains not followed to their end are
 *                                classified: a port drop rule is not bypassed
 *   bank_flip_with_port_classes  steer_apply() writes the idle bank (keys,
 *                                groups, port classes), flips, and rewrites the
 *                                old bank only at the next change
 *   no_frame_sees_half_a_change  frames classified while sets with different
 *                                port classes flip underneath get one set's
 *                                verdict or the other's, never a mix
 *   ten_thousand_rules           10 000 rules (+ ranges) in one change, frames
 *                                classified as the reference says (A14, A15)
 *   bench_quick                  tools/bench/bench_classify --quick: loads up to
 *                                10 000 rules, checks and times (not asserted)
 *
 * Root is needed; without it every case skips.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "classify.h"
#include "frames.h"
#include "summary.h"

/* ---- every reason counted --------------------------------------------------------- */

/* A skeleton loaded with xsnap_max_frame = @max_frame, rules written
 * straight into bank 0 from rule_compile() (no port ranges). */
struct raw {
	struct xsnap_steer *skel;
	int prog, cnt;
};

static int raw_open(struct raw *x, uint32_t max_frame, const struct rspec *sp, unsigned int n)
{
	static struct rule_entry ents[64];
	unsigned int nents = ARRAY_SIZE(ents);
	struct xsnap_cfg cfg = { .tenants = ~0u, .abi_version = XSNAP_ABI_VERSION };
	struct rule rules[16];
	struct xsnap_bank b;
	uint32_t zero = 0;
	char err[256];
	int fd;

	need_root();
	memset(x, 0, sizeof(*x));
	fd = env_socket();
	if (fd < 0 || n > ARRAY_SIZE(rules))
		return -1;
	x->skel = xsnap_steer__open();
	if (!x->skel)
		return -1;
	x->skel->rodata->xsnap_max_frame = max_frame;
	x->skel->rodata->xsnap_meta_head = steer_meta_in_head();	/* as steer_open() */
	if (xsnap_steer__load(x->skel))
		return -1;
	x->prog = bpf_program__fd(x->skel->progs.xsnap_steer);
	x->cnt = bpf_map__fd(x->skel->maps.xsnap_cnt);
	for (unsigned int i = 0; i < n; i++) {
		rules[i] = (struct rule){ .id = i + 1, .prio = sp[i].prio, .tenant = sp[i].tenant };
		if (rule_parse(sp[i].match, &rules[i], err, sizeof(err)))
			return -1;
	}
	if (rule_compile(rules, n, 0, &b, ents, &nents, NULL, err, sizeof(err)))
		return -1;
	if (bpf_map_update_elem(bpf_map__fd(x->skel->maps.xsnap_groups_v3), &zero, &b, 0))
		return -1;
	for (unsigned int i = 0; i < nents; i++)
		if (bpf_map_update_elem(bpf_map__fd(x->skel->maps.xsnap_rules), &ents[i].key,
					&ents[i].val, 0))
			return -1;
	if (bpf_map_update_elem(bpf_map__fd(x->skel->maps.xsnap_cfg), &zero, &cfg, 0))
		return -1;
	return bpf_map_update_elem(bpf_map__fd(x->skel->maps.xsnap_xsks), &zero, &fd, 0);
}

static void raw_counters(struct raw *x, uint64_t c[XSNAP_R_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[ncpu];

	for (uint32_t r = 0; r < XSNAP_R_MAX; r++) {
		c[r] = 0;
		CHECK_EQ(bpf_map_lookup_elem(x->cnt, &r, v), 0);
		for (int i = 0; i < ncpu; i++)
			c[r] += v[i];
	}
}

static void udp4(struct frame *f, uint16_t dport, size_t payload)
{
	frame_eth(f);
	frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(f, 40000, dport);
	frame_payload(f, payload);
	frame_finish(f);
}

#define EXTRA(r) (1u << XSNAP_R_##r)

/*
 * Run @b (with @meta_len bytes of metadata already in front, via ctx_in)
 * and check the verdict and that exactly @reason and the reasons of @extra
 * (a mask of EXTRA(): how the frame was read) moved by one.
 */
static __u32 out_len;	/* expect_reason()'s data_size_out */

static void expect_reason(struct raw *x, const uint8_t *b, size_t len, uint32_t meta_len,
			  uint32_t action, uint32_t reason, uint32_t extra, unsigned int *covered)
{
	static uint8_t in[MAX_LEN + 32];
	struct xdp_md ctx = { .data = meta_len, .data_end = (uint32_t)(len + meta_len) };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)(len + meta_len),
		    .data_out = out_buf, .data_size_out = sizeof(out_buf), .repeat = 1);
	uint64_t c0[XSNAP_R_MAX], c1[XSNAP_R_MAX];
	int err;

	memset(in, 0, meta_len);
	memcpy(in + meta_len, b, len);
	if (meta_len) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	raw_counters(x, c0);
	err = bpf_prog_test_run_opts(x->prog, &opts);
	raw_counters(x, c1);
	out_len = opts.data_size_out;
	CHECK_EQ(err, 0);
	if (opts.retval != action || c1[reason] - c0[reason] != 1)
		fprintf(stderr, "expected %s (verdict %u), got verdict %u\n",
			xsnap_reason_str(reason), action, opts.retval);
	CHECK_EQ(opts.retval, action);
	for (uint32_t k = 0; k < XSNAP_R_MAX; k++) {
		CHECK_EQ(c1[k] - c0[k], (k == reason) + !!(extra & (1u << k)));
		covered[k] += !!(extra & (1u << k));
	}
	covered[reason]++;
}

/* The most metadata (a multiple of 4) a test run accepts in front of @f. */
static uint32_t meta_room(struct raw *x, const struct frame *f)
{
	static uint8_t in[FRAME_MAX + 256];

	for (uint32_t m = 252; m >= 32; m -= 4) {
		struct xdp_md ctx = { .data = m, .data_end = (uint32_t)(f->len + m) };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in,
			    .data_size_in = (__u32)(f->len + m), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);

		memset(in, 0, m);
		memcpy(in + m, f->b, f->len);
		if (!bpf_prog_test_run_opts(x->prog, &opts))
			return m;
	}
	return 32;
}

/* Every reason code has a name, a frame that produces it, and a counter
 * that moves by exactly one for it. */
TEST(every_reason_counted)
{
	static const struct rspec rs[] = {
		{ "udp dst port 9000", 10, 0 },
		{ "udp dst port 53 action drop", 10, 0 },
		{ "udp dst port 7 action pass", 10, 0 },
		{ "ip dst 10.9.0.0/16", 10, 1 },
	};
	unsigned int covered[XSNAP_R_MAX] = { 0 };
	static uint8_t big[5000];
	uint32_t zero = 0;
	struct frame f;
	struct raw x;

	if (raw_open(&x, 200, rs, ARRAY_SIZE(rs))) {
		fprintf(stderr, "loading the program with max_frame 200: %s\n", strerror(errno));
		test_failed = 1;
		goto out;
	}
	for (uint32_t k = 0; k < XSNAP_R_MAX; k++)
		CHECK(strcmp(xsnap_reason_str(k), "unknown") != 0);
	CHECK(!strcmp(xsnap_reason_str(XSNAP_R_MAX), "unknown"));

	udp4(&f, 9000, 32);
	expect_reason(&x, f.b, f.len, 0, XDP_REDIRECT, XSNAP_R_DELIVER, 0, covered);
	udp4(&f, 9001, 32);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_NOMATCH, 0, covered);
	udp4(&f, 7, 32);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_RULE_PASS, 0, covered);
	/* rules apply to frames too long for a UMEM frame; only delivery is refused */
	udp4(&f, 53, 400);
	expect_reason(&x, f.b, f.len, 0, XDP_DROP, XSNAP_R_RULE_DROP, 0, covered);
	udp4(&f, 9000, 400);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_TOO_BIG, 0, covered);
	/* several buffers (5000 bytes in a test run): not classified */
	udp4(&f, 53, 32);
	memcpy(big, f.b, f.len);
	expect_reason(&x, big, sizeof(big), 0, XDP_PASS, XSNAP_R_TOO_BIG, 0, covered);

	frame_eth(&f);
	frame_vlan(&f, 0x8100, 300);
	frame_ethertype(&f, 0x0800, 0);
	f.len = 16;
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_SHORT_L2, 0, covered);
	frame_eth(&f);
	frame_ethertype(&f, 0x0806, 28);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_NON_IP, 0, covered);
	frame_eth(&f);
	frame_vlan(&f, 0x88a8, 1);
	frame_vlan(&f, 0x8100, 2);
	frame_vlan(&f, 0x8100, 3);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(&f, 1, 9000);
	frame_finish(&f);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_VLAN_DEEP, 0, covered);
	udp4(&f, 9000, 32);
	frame_put8(&f, 14, 0x44);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_BAD_L3, 0, covered);
	/* an unreadable UDP header: classified without ports (no rule here) */
	udp4(&f, 9000, 32);
	frame_put16(&f, f.l4_off + 4, 7);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_NOMATCH, EXTRA(BAD_L4), covered);
	/* a truncated extension header of a whole datagram */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 60, 4);
	frame_finish(&f);
	frame_put16(&f, 18, 8);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_IPV6_EXT, 0, covered);
	/* a chain longer than we follow: the drop rule's stand-in drops it */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	for (int i = 0; i <= XSNAP_MAX_IPV6_EXT; i++)
		frame_ipv6_ext(&f, 60, 0);
	frame_udp(&f, 1, 53);
	frame_finish(&f);
	expect_reason(&x, f.b, f.len, 0, XDP_DROP, XSNAP_R_RULE_DROP, EXTRA(L4_UNKNOWN), covered);
	/* a first fragment with 4 bytes of UDP: its ports decide */
	udp4(&f, 9000, 0);
	f.len = f.l4_off + 4;
	frame_finish(&f);
	frame_ipv4_frag(&f, 0x2000);
	expect_reason(&x, f.b, f.len, 0, XDP_REDIRECT, XSNAP_R_DELIVER, EXTRA(TINY_FRAG), covered);
	/* a later fragment: counted as such, and matched on L3 */
	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.9.1.1", 0);
	frame_payload(&f, 40);
	frame_finish(&f);
	frame_ipv4_frag(&f, 185);
	expect_reason(&x, f.b, f.len, 0, XDP_REDIRECT, XSNAP_R_DELIVER, EXTRA(FRAGMENT), covered);
	/* metadata already there (as much as the test run accepts): ours
	 * replaces it and ends right at the data, so the frame is delivered.
	 * XSNAP_R_META, a refused adjust, is not reachable this way.  With
	 * the metadata as the packet's head (a kernel without adjust_meta),
	 * the earlier metadata stays in front of ours: as much as a test run
	 * accepts leaves no room for the head, which is refused (the frame
	 * passes whole), and 40 bytes (xsnap-gen's) leave room. */
	udp4(&f, 9000, 32);
	if (x.skel->rodata->xsnap_meta_head) {
		uint32_t room = meta_room(&x, &f);

		expect_reason(&x, f.b, f.len, room, XDP_PASS, XSNAP_R_META, 0, covered);
		CHECK_EQ(out_len, room + f.len);	/* data_out starts at data_meta */
		CHECK(!memcmp(out_buf + out_len - f.len, f.b, f.len));
		expect_reason(&x, f.b, f.len, 40, XDP_REDIRECT, XSNAP_R_DELIVER, 0, covered);
	} else {
		expect_reason(&x, f.b, f.len, meta_room(&x, &f), XDP_REDIRECT, XSNAP_R_DELIVER, 0,
			      covered);
	}
	/* no socket on the queue */
	CHECK_EQ(bpf_map_delete_elem(bpf_map__fd(x.skel->maps.xsnap_xsks), &zero), 0);
	expect_reason(&x, f.b, f.len, 0, XDP_PASS, XSNAP_R_NO_SOCKET, 0, covered);

	for (uint32_t k = 0; k < XSNAP_R_MAX; k++) {
		if (k == XSNAP_R_META)
			continue;	/* defensive only: see above */
		if (!covered[k])
			fprintf(stderr, "reason %u (%s) never produced\n", k, xsnap_reason_str(k));
		CHECK(covered[k] > 0);
	}
	printf("every_reason_counted: %u reasons, each produced and counted\n", XSNAP_R_MAX);
out:
	xsnap_steer__destroy(x.skel);
}

/* ---- fail closed where a rule could match ------------------------------------ */

/* Run @f and return the verdict; the metadata's tenant mask and rule id
 * into *@mask / *@id for a redirect. */
static uint32_t run_raw(struct raw *x, const struct frame *f, uint32_t *mask, uint32_t *id)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b, .data_size_in = (__u32)f->len,
		    .data_out = out_buf, .data_size_out = sizeof(out_buf), .repeat = 1);
	struct xsnap_meta m;

	CHECK_EQ(bpf_prog_test_run_opts(x->prog, &opts), 0);
	*mask = *id = 0;
	if (opts.retval == XDP_REDIRECT && opts.data_size_out >= sizeof(m)) {
		memcpy(&m, out_buf, sizeof(m));
		*mask = m.tenant_mask;
		*id = m.rule_id;
	}
	return opts.retval;
}

/* TCP from 10.0.0.1 (or 2001:db8::1) to port 22, cut to @l4 bytes of its
 * header, a first fragment (IPv4 MF, or an IPv6 Fragment header with M). */
static void tcp22_first_fragment(struct frame *f, int v6, size_t l4)
{
	frame_eth(f);
	if (v6) {
		frame_ipv6(f, "2001:db8::1", "2001:db8::2");
		frame_ipv6_ext(f, 44, 0);
	} else {
		frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0);
	}
	frame_tcp(f, 40000, 22, 0);
	f->len = f->l4_off + l4;
	frame_finish(f);
	if (!v6)
		frame_ipv4_frag(f, 0x2000);
}

/*
 * Frames the kernel accepts but the parser once refused (XDP_PASS before
 * any rule) are classified on what they carry: "tcp dst port 22 action
 * drop" drops an RFC 1858 tiny first fragment to port 22 (IPv4 and IPv6),
 * an IPv6 chain too long to follow, and a first fragment whose Destination
 * Options header goes on in the next fragment; a frame with an unreadable
 * UDP header reaches an L3 rule, not a port rule; a long chain reaches an
 * L3 rule when no drop rule could apply.
 */
TEST(fail_closed_edges)
{
	static const struct rspec rs[] = {
		{ "tcp dst port 22 action drop", 10, 0 },
		{ "udp dst port 9000", 10, 1 },
		{ "ip dst 10.2.0.0/16", 30, 3 },
		{ "ip6 dst 2001:db8::/32", 30, 2 },
	};
	static const struct rspec deliver_only[] = {
		{ "udp dst port 9000", 10, 1 },
		{ "ip6 dst 2001:db8::/32", 30, 2 },
	};
	uint32_t mask, id;
	struct frame f;
	struct raw x;

	if (raw_open(&x, 0, rs, ARRAY_SIZE(rs))) {
		fprintf(stderr, "loading the program: %s\n", strerror(errno));
		test_failed = 1;
		goto out;
	}
	/* tiny first fragments to port 22: 8 bytes of TCP (ports and
	 * sequence number), IPv4 and IPv6 */
	tcp22_first_fragment(&f, 0, 8);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_DROP);
	tcp22_first_fragment(&f, 1, 8);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_DROP);
	/* the IPv6 one with its chain cut after the Fragment header: a
	 * Destination Options header that goes on in the next fragment */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	frame_ipv6_ext(&f, 44, 0);
	frame_ipv6_ext(&f, 60, 4);
	frame_finish(&f);
	f.len -= 16;
	frame_finish(&f);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_DROP);
	/* a chain longer than we follow, to port 22 */
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	for (int i = 0; i <= XSNAP_MAX_IPV6_EXT; i++)
		frame_ipv6_ext(&f, 60, 0);
	frame_tcp(&f, 40000, 22, 0);
	frame_finish(&f);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_DROP);
	/* an unreadable UDP header (length 7) to 9000: the L3 rule, not the port rule */
	udp4(&f, 9000, 16);
	frame_put16(&f, f.l4_off + 4, 7);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_REDIRECT);
	CHECK_EQ(mask, 1u << 3);
	CHECK_EQ(id, 3);
	/* a tiny UDP first fragment to 9000: the port rule and the L3 rule */
	udp4(&f, 9000, 0);
	f.len = f.l4_off + 4;
	frame_finish(&f);
	frame_ipv4_frag(&f, 0x2000);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_REDIRECT);
	CHECK_EQ(mask, (1u << 1) | (1u << 3));
	CHECK_EQ(id, 2);
	/* whole TCP to another port: delivered by the L3 rule as before */
	tcp22_first_fragment(&f, 0, 20);
	frame_put16(&f, f.l4_off + 2, 23);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_REDIRECT);
	CHECK_EQ(mask, 1u << 3);
	xsnap_steer__destroy(x.skel);

	/* no drop rule: a long chain reaches the L3 rule only */
	if (raw_open(&x, 0, deliver_only, ARRAY_SIZE(deliver_only))) {
		test_failed = 1;
		goto out;
	}
	frame_eth(&f);
	frame_ipv6(&f, "2001:db8::1", "2001:db8::2");
	for (int i = 0; i <= XSNAP_MAX_IPV6_EXT; i++)
		frame_ipv6_ext(&f, 60, 0);
	frame_udp(&f, 40000, 9000);
	frame_finish(&f);
	CHECK_EQ(run_raw(&x, &f, &mask, &id), XDP_REDIRECT);
	CHECK_EQ(mask, 1u << 2);
	CHECK_EQ(id, 2);
out:
	xsnap_steer__destroy(x.skel);
}

/* ---- rule changes: bank flips with port classes ----------------------------- */

/* Class of @port in bank @bank of xsnap_ports, as the program reads it. */
static struct xsnap_port_class port_class(struct fx *fx, uint32_t bank, uint16_t port)
{
	struct xsnap_port_class c = { 0 };
	uint32_t key = bank * XSNAP_PORTS + port;

	CHECK_EQ(bpf_map_lookup_elem(bpf_map__fd(fx->s.skel->maps.xsnap_ports), &key, &c), 0);
	return c;
}

/* The tenant mask the program reports for a UDP frame to @dport (0: not delivered). */
static uint32_t mask_for(struct fx *fx, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct xsnap_meta m;
	struct result r;
	struct frame f;

	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.2.0.1", 0);
	if (proto == IPPROTO_TCP)
		frame_tcp(&f, sport, dport, 0);
	else
		frame_udp(&f, sport, dport);
	frame_payload(&f, 16);
	frame_finish(&f);
	run(fx->prog, f.b, f.len, &r);
	if (r.err || r.retval != XDP_REDIRECT)
		return 0;
	memcpy(&m, out_buf, sizeof(m));
	return m.tenant_mask;
}

/*
 * steer_apply() writes the idle bank (keys, groups, port classes) and flips;
 * the bank it leaves keeps its keys and classes until the next change
 * rewrites it, so a frame that read the old bank number still finds a
 * complete old set.
 */
TEST(bank_flip_with_port_classes)
{
	static const struct rspec s1[] = {
		{ "udp dst port 1000-2000", 10, 0 },
		{ "udp dst port 1500", 10, 1 },
	};
	static const struct rspec s2[] = {
		{ "udp dst port 1500-3000", 10, 2 },
		{ "tcp src port 1-1023 and dst port 80", 10, 3 },
		{ "tcp src port 1024-65535 and dst port 80-81", 10, 4 },
	};
	static const struct rspec s3[] = { { "udp dst port 9000", 10, 5 } };
	struct rule rules[8];
	unsigned int nk[2];
	struct fx fx;

	if (fx_open(&fx))
		return;
	/* change 1: bank 1 (the program starts on bank 0, empty) */
	REQUIRE(apply_specs(&fx, s1, ARRAY_SIZE(s1), rules) == 0);
	CHECK_EQ(fx.s.cfg.bank, 1);
	CHECK_EQ(mask_for(&fx, 17, 1, 999), 0);
	CHECK_EQ(mask_for(&fx, 17, 1, 1000), 0x1);
	CHECK_EQ(mask_for(&fx, 17, 1, 1500), 0x3);
	CHECK_EQ(mask_for(&fx, 17, 1, 2000), 0x1);
	CHECK_EQ(mask_for(&fx, 17, 1, 2001), 0);
	keys_per_bank(fx.s.rules_fd, nk);
	CHECK_EQ(nk[0], 0);
	CHECK_EQ(nk[1], 2);	/* one range class + the exact port */
	CHECK_EQ(port_class(&fx, 1, 1000).dport, 1);
	CHECK_EQ(port_class(&fx, 1, 2001).dport, 2);

	/* change 2: bank 0; bank 1 keeps set 1, keys and classes */
	REQUIRE(apply_specs(&fx, s2, ARRAY_SIZE(s2), rules) == 0);
	CHECK_EQ(fx.s.cfg.bank, 0);
	CHECK_EQ(mask_for(&fx, 17, 1, 1200), 0);
	CHECK_EQ(mask_for(&fx, 17, 1, 1500), 0x4);
	CHECK_EQ(mask_for(&fx, 17, 1, 3000), 0x4);
	CHECK_EQ(mask_for(&fx, 6, 1023, 80), 0x8);
	CHECK_EQ(mask_for(&fx, 6, 1024, 80), 0x10);
	CHECK_EQ(mask_for(&fx, 6, 1024, 81), 0x10);
	CHECK_EQ(mask_for(&fx, 6, 1023, 81), 0);
	CHECK_EQ(mask_for(&fx, 6, 1024, 82), 0);
	keys_per_bank(fx.s.rules_fd, nk);
	CHECK_EQ(nk[1], 2);
	/* udp 1500-3000: 1 class; tcp 1-1023 x 80: 1; tcp 1024-65535 x 80-81: 1 */
	CHECK_EQ(nk[0], 3);
	CHECK_EQ(port_class(&fx, 1, 1000).dport, 1);	/* set 1's table, intact */
	CHECK_EQ(port_class(&fx, 1, 2001).dport, 2);
	/* set 2 cuts destination ports at 80, 82, 1500 and 3001 */
	CHECK_EQ(port_class(&fx, 0, 79).dport, 0);
	CHECK_EQ(port_class(&fx, 0, 80).dport, 1);
	CHECK_EQ(port_class(&fx, 0, 81).dport, 1);
	CHECK_EQ(port_class(&fx, 0, 82).dport, 2);
	CHECK_EQ(port_class(&fx, 0, 1500).dport, 3);
	CHECK_EQ(port_class(&fx, 0, 3001).dport, 4);
	CHECK_EQ(port_class(&fx, 0, 1023).sport, 1);
	CHECK_EQ(port_class(&fx, 0, 1024).sport, 2);

	/* change 3 rewrites bank 1: set 1 goes, set 2 stays in bank 0 */
	REQUIRE(apply_specs(&fx, s3, ARRAY_SIZE(s3), rules) == 0);
	CHECK_EQ(fx.s.cfg.bank, 1);
	CHECK_EQ(mask_for(&fx, 17, 1, 1500), 0);
	CHECK_EQ(mask_for(&fx, 17, 1, 9000), 0x20);
	keys_per_bank(fx.s.rules_fd, nk);
	CHECK_EQ(nk[1], 1);
	CHECK_EQ(nk[0], 3);

	/* change 4: back to set 1 in bank 0, whose old keys go */
	REQUIRE(apply_specs(&fx, s1, ARRAY_SIZE(s1), rules) == 0);
	CHECK_EQ(fx.s.cfg.bank, 0);
	CHECK_EQ(mask_for(&fx, 17, 1, 1500), 0x3);
	CHECK_EQ(mask_for(&fx, 6, 1024, 80), 0);
	keys_per_bank(fx.s.rules_fd, nk);
	CHECK_EQ(nk[0], 2);
	CHECK_EQ(nk[1], 1);

	/* a refused change (too many shapes) leaves the live set as it was */
	{
		struct rspec many[XSNAP_MAX_GROUPS + 1];
		char m[XSNAP_MAX_GROUPS + 1][48];

		for (unsigned int i = 0; i < ARRAY_SIZE(many); i++) {
			snprintf(m[i], sizeof(m[i]), "ip src 10.0.0.0/%u", i + 1);
			many[i] = (struct rspec){ m[i], 1, 0 };
		}
		struct rule big[ARRAY_SIZE(many)];

		CHECK_EQ(apply_specs(&fx, many, ARRAY_SIZE(many), big), -ENOSPC);
		CHECK_EQ(fx.s.cfg.bank, 0);
		CHECK_EQ(mask_for(&fx, 17, 1, 1500), 0x3);
	}
	fx_close(&fx);
}

/*
 * No frame ever sees half a rule set: while one thread flips between two
 * sets whose ranges cut the port space differently (a frame classified
 * with one set's keys and the other's classes would get a tenant neither
 * set gives it, or none), other threads classify frames and accept only
 * what one of the two sets says.
 */
struct flip_run {
	struct fx *fx;
	atomic_int stop;
	atomic_ullong frames, torn;
};

static const uint16_t flip_ports[] = { 999, 1000, 1500, 1999, 2000, 2500, 2999, 3000 };
/* masks under set A and set B, per flip_ports[] */
static const uint32_t flip_a[] = { 0, 0x1, 0x1, 0x1, 0x2, 0x2, 0x2, 0 };
static const uint32_t flip_b[] = { 0, 0x4, 0x4, 0x4, 0x4, 0x4, 0x4, 0x8 };

static void *flip_classify(void *arg)
{
	struct flip_run *fr = arg;
	static _Thread_local uint8_t out[512];
	struct frame f[ARRAY_SIZE(flip_ports)];

	for (size_t i = 0; i < ARRAY_SIZE(flip_ports); i++) {
		frame_eth(&f[i]);
		frame_ipv4(&f[i], "10.0.0.1", "10.2.0.1", 0);
		frame_udp(&f[i], 40000, flip_ports[i]);
		frame_payload(&f[i], 16);
		frame_finish(&f[i]);
	}
	for (uint64_t n = 0; !atomic_load(&fr->stop); n++) {
		size_t i = n % ARRAY_SIZE(flip_ports);
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f[i].b,
			    .data_size_in = (__u32)f[i].len, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);
		struct xsnap_meta m = { 0 };

		if (bpf_prog_test_run_opts(fr->fx->prog, &opts))
			break;
		if (opts.retval == XDP_REDIRECT)
			memcpy(&m, out, sizeof(m));
		if (m.tenant_mask != flip_a[i] && m.tenant_mask != flip_b[i])
			atomic_fetch_add(&fr->torn, 1);
		atomic_fetch_add(&fr->frames, 1);
	}
	return NULL;
}

TEST(no_frame_sees_half_a_change)
{
	static const struct rspec a[] = {
		{ "udp dst port 1000-1999", 10, 0 },
		{ "udp dst port 2000-2999", 10, 1 },
	};
	static const struct rspec b[] = {
		{ "udp dst port 1000-2999", 10, 2 },
		{ "udp dst port 3000-3999", 10, 3 },
	};
	struct flip_run fr = { 0 };
	struct rule rules[4];
	pthread_t thr[2];
	unsigned int flips = 0;
	double t0;
	struct fx fx;

	if (fx_open(&fx))
		return;
	fr.fx = &fx;
	REQUIRE(apply_specs(&fx, a, ARRAY_SIZE(a), rules) == 0);
	for (int i = 0; i < 2; i++)
		REQUIRE(pthread_create(&thr[i], NULL, flip_classify, &fr) == 0);
	t0 = now_s();
	while (flips < 300 && now_s() - t0 < 10.0 && !test_failed) {
		CHECK_EQ(apply_specs(&fx, flips % 2 ? a : b, 2, rules), 0);
		flips++;
	}
	atomic_store(&fr.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(thr[i], NULL);
	printf("no_frame_sees_half_a_change: %u rule changes, %llu frames, %llu torn\n", flips,
	       (unsigned long long)fr.frames, (unsigned long long)fr.torn);
	CHECK(flips >= 100);
	CHECK(fr.frames >= 10000);
	CHECK_EQ(fr.torn, 0);
	fx_close(&fx);
}

/* ---- scale -------------------------------------------------------------------------- */

/*
 * 10 000 rules of several shapes and a range go in through one
 * steer_apply(), and frames aimed at a sample of them are classified as the
 * reference says.  The program's verifier cost is recorded too (A15).
 */
TEST(ten_thousand_rules)
{
	const unsigned int n = 10000;
	struct rule *rules = calloc(n, sizeof(*rules));
	struct bpf_prog_info info = { 0 };
	__u32 ilen = sizeof(info);
	unsigned int nk[2], checked = 0, delivered = 0;
	char m[128], err[256];
	double t;
	struct fx fx;

	REQUIRE(rules);
	if (fx_open(&fx)) {
		free(rules);
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = i / 4;

		switch (i % 4) {
		case 0:
			snprintf(m, sizeof(m), "udp dst port %u", 10000 + k);
			break;
		case 1:
			snprintf(m, sizeof(m), "ip dst 10.%u.%u.0/24", k / 256, k % 256);
			break;
		case 2:
			snprintf(m, sizeof(m), "tcp dst port 443 and ip src 172.16.%u.%u", k / 256,
				 k % 256);
			break;
		default:
			snprintf(m, sizeof(m), "udp dst port %u-%u%s", 20000 + 4 * (k % 1000),
				 20003 + 4 * (k % 1000), k % 3 ? "" : " action drop");
			break;
		}
		rules[i] = (struct rule){ .id = i + 1, .prio = i % 50, .tenant = i % 8 };
		REQUIRE(rule_parse(m, &rules[i], err, sizeof(err)) == 0);
	}
	t = now_s();
	CHECK_EQ(steer_apply(&fx.s, rules, n, ~0u), 0);
	t = now_s() - t;
	keys_per_bank(fx.s.rules_fd, nk);
	CHECK_EQ(nk[fx.s.cfg.bank], fx.s.bank_nkeys[fx.s.cfg.bank]);
	CHECK(nk[fx.s.cfg.bank] >= 8000);

	struct world w = { rules, n, 8192, 0 };

	for (unsigned int i = 0; i < n; i += 37) {
		const struct rule *r = &rules[i];
		struct frame f;
		struct result res;
		struct model mo;
		char why[512];
		char dst[INET_ADDRSTRLEN] = "10.250.0.1", src[INET_ADDRSTRLEN] = "10.9.9.9";

		if (r->fields & XSNAP_F_DST)
			snprintf(dst, sizeof(dst), "%u.%u.%u.9", r->dst[0], r->dst[1], r->dst[2]);
		if (r->fields & XSNAP_F_SRC)
			inet_ntop(AF_INET, r->src, src, sizeof(src));
		frame_eth(&f);
		frame_ipv4(&f, src, dst, 0);
		if (r->proto == IPPROTO_TCP)
			frame_tcp(&f, 40000, r->dport, 0);
		else
			frame_udp(&f, 40000,
				  (r->fields & XSNAP_F_DPORT) ? r->dport + (r->dport_hi ? 2 : 0) :
								9);
		frame_payload(&f, 16);
		frame_finish(&f);
		model_frame(&w, f.b, f.len, &mo);
		run(fx.prog, f.b, f.len, &res);
		if (!agrees(&mo, f.b, f.len, &res, why, sizeof(why))) {
			fprintf(stderr, "rule %u: %s\n", r->id, why);
			test_failed = 1;
		}
		checked++;
		delivered += mo.action == XDP_REDIRECT;
	}
	CHECK_EQ(bpf_obj_get_info_by_fd(fx.prog, &info, &ilen), 0);
	printf("ten_thousand_rules: %u rules -> %u keys, applied in %.1f ms; %u frames checked "
	       "(%u delivered); xsnap_steer verified_insns=%u\n",
	       n, nk[fx.s.cfg.bank], t * 1e3, checked, delivered, info.verified_insns);
	summary_put("ten_thousand_rules", "%u rules, %u keys, applied in %.1f ms, %u frames agree",
		    n, nk[fx.s.cfg.bank], t * 1e3, checked);
	CHECK(checked > 200);
	CHECK(delivered > 100);
	free(rules);
	fx_close(&fx);
}

/*
 * The benchmark (tools/bench/bench_classify.c, `make bench`) in its quick
 * mode: it loads up to 10 000 rules per set, checks that frames are
 * classified as the reference says, and times them.  Times are printed,
 * not asserted.
 */
TEST(bench_quick)
{
	const char *out = getenv("OUTPUT");
	char exe[4096], bin[4200], json[4200], cmd[8600], line[512];
	FILE *f;
	int rc;

	need_root();
	if (!out) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		REQUIRE(n > 0);
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';	/* OUTPUT/tests/bpf */
		*strrchr(exe, '/') = '\0';
		*strrchr(exe, '/') = '\0';
		out = exe;
	}
	snprintf(json, sizeof(json), "/tmp/xsnap-bench-classify.%d.json", (int)getpid());
	snprintf(bin, sizeof(bin), "%s/bench/bench_classify", out);
	if (access(bin, X_OK))
		SKIP("%s not built", bin);
	/* IPv4 frames, then IPv6 ones (--ipv6: the same rules, no family) */
	for (int v6 = 0; v6 < 2; v6++) {
		unsigned int rows = 0, correct = 0, cached = 0, general = 0, fam = 0;
		bool in_general = false;

		snprintf(cmd, sizeof(cmd), "%s --quick%s -o %s", bin, v6 ? " --ipv6" : "", json);
		rc = system(cmd);
		CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
		f = fopen(json, "r");
		REQUIRE(f);
		while (fgets(line, sizeof(line), f)) {
			fam += strstr(line, v6 ? "\"frames\": \"ipv6_udp\"" :
						 "\"frames\": \"ipv4_udp\"") != NULL;
			if (strstr(line, "\"general_path\"") || strstr(line, "\"results\"") ||
			    strstr(line, "\"cached\""))
				in_general = strstr(line, "\"general_path\"") != NULL;
			if (!strstr(line, "\"rules\""))
				continue;
			rows++;
			general += in_general;
			/* the "cached" rows (no key count) */
			cached += !in_general && strstr(line, "\"keys\"") == NULL;
			correct += strstr(line, "\"correct\": true") != NULL;
			if (strstr(line, "\"rules\": 10000"))
				CHECK(strstr(line, "\"keys\": ") != NULL);
		}
		fclose(f);
		unlink(json);
		printf("bench_quick (%s): %u results (%u with the exact-match cache hit, %u more "
		       "with the fast path off), %u correct\n",
		       v6 ? "IPv6" : "IPv4", rows, cached, general, correct);
		CHECK_EQ(fam, 1);
		/* sets x sizes x frames missing the cache, sets x frames hitting it,
		 * frames hitting it in the uniform set with the fast path off */
		CHECK_EQ(rows, 2 * 5 * 3 + 2 * 3 + 3);
		CHECK_EQ(cached, 2 * 3);
		CHECK_EQ(general, 3);
		CHECK_EQ(correct, rows);
	}
}

TEST_MAIN()
