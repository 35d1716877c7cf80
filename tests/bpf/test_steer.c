// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap_steer under BPF_PROG_TEST_RUN.
 *
 * Every case loads a fresh skeleton (empty maps, zero counters), writes the
 * maps the way libxsnap would (rule keys built independently of the
 * program's xsnap_make_key(), see frame_rule_key()), runs hand-made frames
 * through the program and checks the verdict, the exact counter deltas, the
 * per-tenant counters and, for delivered frames, the metadata in front of
 * the frame.  Every verdict is also checked against the userspace reference
 * (the same parser run by gcc).
 *
 * Delivery needs an AF_XDP socket in xsnap_xsks, or the program passes the
 * frame (XSNAP_R_NO_SOCKET).  The process therefore moves into a private
 * network namespace once, brings its `lo` up and binds one copy-mode socket
 * to lo queue 0 (where test-run frames arrive), which every case's skeleton
 * puts into its own xsnap_xsks.  Plain test-run does
 * not perform the redirect, but its data_out starts at data_meta, so the
 * metadata can be checked there; the live_delivery case additionally runs
 * the frame with BPF_F_TEST_XDP_LIVE_FRAMES and reads it (and its metadata)
 * from the socket's RX ring.
 *
 * Root is needed; without it every case skips (exit 77).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "lo_xsk.h"
#include "oracle.h"
#include "testlib.h"
#include "frames.h"
#include "rule.h"
#include "summary.h"
#include "xsnap_internal.h"	/* steer_meta_in_head() */
#include "xsnap_parse.h"
#include "xsnap_steer.skel.h"

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES (1U << 1)
#endif

#define META_LEN ((int)sizeof(struct xsnap_meta))
#define XSK_NFRAMES 64

struct fx {
	struct xsnap_steer *skel;
	int prog, cfg, groups, rules, cnt, tcnt, xsks;
	struct lo_xsk *xsk;	/* the process-wide socket, or NULL */
};

/* Counter snapshot: per reason, per tenant (summed over CPUs). */
struct counters {
	__u64 reason[XSNAP_R_MAX];
	__u64 frames[XSNAP_MAX_TENANTS];
	__u64 bytes[XSNAP_MAX_TENANTS];
};

/* --- environment --------------------------------------------------------- */

static void need_root(void)
{
	if (geteuid() != 0)
		SKIP("needs root (BPF_PROG_TEST_RUN, AF_XDP, network namespace)");
}

/* Once per process: a private netns whose lo we own and can bind to. */
static int enter_netns(void)
{
	static int state;	/* 0 not yet, 1 done, -errno failed */

	if (state)
		return state < 0 ? state : 0;
	state = lo_netns_enter();
	if (state)
		fprintf(stderr, "a network namespace with lo up: %s\n", strerror(-state));
	else
		state = 1;
	return state < 0 ? state : 0;
}

/*
 * One socket per process, shared by the cases run in it.  Closing and
 * re-binding the same queue at once fails with EBUSY while the kernel
 * still tears the old socket down (TESTING.md D16); every skeleton just
 * puts this socket into its own XSKMAP.
 */
static struct lo_xsk proc_xsk;
static int proc_xsk_err = 1;	/* 1: not tried yet */

static void proc_xsk_close(void)
{
	lo_xsk_close(&proc_xsk);
}

static int proc_xsk_get(struct lo_xsk **x)
{
	if (proc_xsk_err == 1) {
		proc_xsk_err = lo_xsk_open(&proc_xsk, XSK_NFRAMES);
		if (!proc_xsk_err)
			atexit(proc_xsk_close);
	}
	*x = proc_xsk_err ? NULL : &proc_xsk;
	return proc_xsk_err;
}

static void fx_close(struct fx *fx)
{
	xsnap_steer__destroy(fx->skel);
	memset(fx, 0, sizeof(*fx));
}

/*
 * Load the program; with @with_xsk, also bind a socket and put it in
 * xsnap_xsks[0].  Returns 0, or -1 with the failure recorded.  Skips the
 * case when not root or when AF_XDP is missing from the kernel.
 */
/* Load the program with xsnap_xdp_stamp set (per-frame timestamps, the
 * XSNAP_STAMP_XDP mode): fx_open() and check_meta() follow it. */
static int fx_xdp_stamp;

static int fx_open(struct fx *fx, int with_xsk)
{
	__u32 zero = 0;
	int err, fd;

	need_root();
	memset(fx, 0, sizeof(*fx));
	if (enter_netns()) {
		fprintf(stderr, "no private network namespace\n");
		test_failed = 1;
		return -1;
	}
	fx->skel = xsnap_steer__open();
	if (fx->skel) {
		fx->skel->rodata->xsnap_xdp_stamp = (__u32)fx_xdp_stamp;
		/* as libxsnap loads it on this kernel (steer_open()) */
		fx->skel->rodata->xsnap_meta_head = steer_meta_in_head();
		if (xsnap_steer__load(fx->skel)) {
			xsnap_steer__destroy(fx->skel);
			fx->skel = NULL;
		}
	}
	if (!fx->skel) {
		fprintf(stderr, "xsnap_steer open and load: %s\n", strerror(errno));
		test_failed = 1;
		return -1;
	}
	fx->prog = bpf_program__fd(fx->skel->progs.xsnap_steer);
	fx->cfg = bpf_map__fd(fx->skel->maps.xsnap_cfg);
	fx->groups = bpf_map__fd(fx->skel->maps.xsnap_groups_v3);
	fx->rules = bpf_map__fd(fx->skel->maps.xsnap_rules);
	fx->cnt = bpf_map__fd(fx->skel->maps.xsnap_cnt);
	fx->tcnt = bpf_map__fd(fx->skel->maps.xsnap_tcnt);
	fx->xsks = bpf_map__fd(fx->skel->maps.xsnap_xsks);
	if (!with_xsk)
		return 0;

	err = proc_xsk_get(&fx->xsk);
	if (err == -EAFNOSUPPORT) {
		fx_close(fx);
		SKIP("kernel without AF_XDP");
	}
	if (err) {
		fprintf(stderr, "AF_XDP socket on lo: %s\n", strerror(-err));
		test_failed = 1;
		fx_close(fx);
		return -1;
	}
	fd = xsk_socket__fd(fx->xsk->sock);
	if (bpf_map_update_elem(fx->xsks, &zero, &fd, BPF_ANY)) {
		fprintf(stderr, "xsnap_xsks[0] = socket: %s\n", strerror(errno));
		test_failed = 1;
		fx_close(fx);
		return -1;
	}
	return 0;
}

/* --- maps ---------------------------------------------------------------- */

static void set_cfg(struct fx *fx, __u32 bank, __u32 tenants)
{
	struct xsnap_cfg c = { .bank = bank, .tenants = tenants, .abi_version = XSNAP_ABI_VERSION };
	__u32 zero = 0;

	CHECK_EQ(bpf_map_update_elem(fx->cfg, &zero, &c, BPF_ANY), 0);
}

static void set_groups(struct fx *fx, __u32 bank, const struct xsnap_group *g, __u32 n,
		       __u32 ngroups)
{
	struct xsnap_bank b = { .ngroups = ngroups };

	if (n)
		memcpy(b.groups, g, n * sizeof(*g));
	CHECK_EQ(bpf_map_update_elem(fx->groups, &bank, &b, BPF_ANY), 0);
}

struct rule_spec {
	__u8 group;		/* index into the bank's groups */
	__u8 proto;
	__u16 dport;
	__u16 vlan;
	const char *src, *dst;
	__u32 action;		/* XSNAP_ACT_* */
	__u32 prio;
	__u32 id;
	__u32 tenant;
};

/* Insert one rule, merging with a rule already under the same key the way
 * the compiler does (struct xsnap_rule_val). */
static void add_rule(struct fx *fx, __u8 bank, const struct xsnap_group *groups,
		     const struct rule_spec *r)
{
	struct xsnap_rule_val v = {
		.deliver_prio = XSNAP_PRIO_NONE,
		.stop_prio = XSNAP_PRIO_NONE,
	};
	struct xsnap_rule_key k;

	frame_rule_key(&k, bank, r->group, &groups[r->group], r->proto, 0, r->dport, r->vlan,
		       r->src, r->dst);
	bpf_map_lookup_elem(fx->rules, &k, &v);
	/* (ids grow with prio in the tables below, so prio alone orders them) */
	if (r->action == XSNAP_ACT_DELIVER) {
		v.tenant_mask |= 1u << r->tenant;
		if (r->prio < v.deliver_prio) {
			v.deliver_prio = r->prio;
			v.deliver_id = r->id;
		}
	} else if (r->prio < v.stop_prio) {
		v.stop_prio = r->prio;
		v.stop_id = r->id;
		v.stop_action = r->action;
	}
	CHECK_EQ(bpf_map_update_elem(fx->rules, &k, &v, BPF_ANY), 0);
}

/* The standard rule set of the table cases. */
enum { G_PORT, G_DST4, G_DST6, G_VLAN, G_PROTO, G_SRC6, G_NUM };

static const struct xsnap_group std_groups[G_NUM] = {
	[G_PORT] = { .fields = XSNAP_F_PROTO | XSNAP_F_DPORT },
	[G_DST4] = { .fields = XSNAP_F_DST, .l3_proto = 4, .dst_plen = 16 },
	[G_DST6] = { .fields = XSNAP_F_DST, .l3_proto = 6, .dst_plen = 32 },
	[G_VLAN] = { .fields = XSNAP_F_VLAN },
	[G_PROTO] = { .fields = XSNAP_F_PROTO },
	[G_SRC6] = { .fields = XSNAP_F_SRC, .l3_proto = 6, .src_plen = 36 },
};

#define DELIVER XSNAP_ACT_DELIVER
#define DROP XSNAP_ACT_DROP
#define PASS XSNAP_ACT_PASS

static const struct rule_spec std_rules[] = {
	/* group   proto dport vlan src dst                  action  prio id tenant */
	{ G_PORT, 17, 9000, 0, NULL, NULL, DELIVER, 10, 1, 0 },	/* udp dport 9000 */
	{ G_PORT, 6, 80, 0, NULL, NULL, DELIVER, 10, 2, 1 },	/* tcp dport 80 */
	{ G_PORT, 17, 53, 0, NULL, NULL, DROP, 10, 3, 0 },
	{ G_PORT, 17, 7, 0, NULL, NULL, PASS, 10, 4, 0 },
	{ G_DST4, 0, 0, 0, NULL, "10.1.0.0", DELIVER, 20, 5, 2 },
	{ G_DST6, 0, 0, 0, NULL, "2001:db8::", DELIVER, 20, 6, 3 },
	{ G_VLAN, 0, 0, 300, NULL, NULL, DELIVER, 30, 7, 4 },
	{ G_PROTO, 1, 0, 0, NULL, NULL, DELIVER, 40, 8, 5 },	/* icmp */
	{ G_PROTO, 58, 0, 0, NULL, NULL, DELIVER, 40, 9, 5 },	/* icmp6 */
	/* precedence: 10.9.0.0/16 is dropped at prio 5 */
	{ G_DST4, 0, 0, 0, NULL, "10.9.0.0", DROP, 5, 13, 0 },
	{ G_PORT, 17, 9001, 0, NULL, NULL, DELIVER, 10, 10, 0 },	/* loses to the drop */
	{ G_PORT, 17, 9002, 0, NULL, NULL, DELIVER, 1, 11, 0 },	/* beats the drop */
	{ G_PORT, 17, 9003, 0, NULL, NULL, DELIVER, 5, 12, 0 },	/* ties: drop wins */
	/* a prefix that does not end on a byte: 2001:db8:a000::/36, written unmasked */
	{ G_SRC6, 0, 0, 0, "2001:db8:aaaa:b000::", NULL, DELIVER, 50, 14, 6 },
	/* two rules merged under one key: union of tenants, best prio's id */
	{ G_PORT, 17, 4789, 0, NULL, NULL, DELIVER, 60, 15, 7 },
	{ G_PORT, 17, 4789, 0, NULL, NULL, DELIVER, 50, 16, 8 },
};

static void install_std(struct fx *fx, __u8 bank)
{
	set_groups(fx, bank, std_groups, G_NUM, G_NUM);
	for (size_t i = 0; i < sizeof(std_rules) / sizeof(std_rules[0]); i++)
		add_rule(fx, bank, std_groups, &std_rules[i]);
}

static void read_counters(struct fx *fx, struct counters *c)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xsnap_tenant_cnt tv[ncpu];
	__u64 v[ncpu];

	memset(c, 0, sizeof(*c));
	for (__u32 r = 0; r < XSNAP_R_MAX; r++) {
		CHECK_EQ(bpf_map_lookup_elem(fx->cnt, &r, v), 0);
		for (int i = 0; i < ncpu; i++)
			c->reason[r] += v[i];
	}
	for (__u32 t = 0; t < XSNAP_MAX_TENANTS; t++) {
		CHECK_EQ(bpf_map_lookup_elem(fx->tcnt, &t, tv), 0);
		for (int i = 0; i < ncpu; i++) {
			c->frames[t] += tv[i].frames;
			c->bytes[t] += tv[i].bytes;
		}
	}
}

/* --- running frames ------------------------------------------------------ */

struct run {
	int err;		/* bpf_prog_test_run_opts() */
	__u32 retval;
	__u8 out[FRAME_MAX + 64];
	__u32 out_len;
	struct counters before, after;
	__u64 t0, t1;		/* CLOCK_MONOTONIC around the run */
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void run_frame(struct fx *fx, const struct frame *f, struct run *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f->b, .data_size_in = (__u32)f->len,
		    .data_out = r->out, .data_size_out = sizeof(r->out), .repeat = 1);

	read_counters(fx, &r->before);
	r->t0 = mono_ns();
	r->err = bpf_prog_test_run_opts(fx->prog, &opts);
	r->t1 = mono_ns();
	r->retval = opts.retval;
	r->out_len = opts.data_size_out;
	read_counters(fx, &r->after);
}

/* Counted in addition to the final reason: how the frame was read. */
#define X_FRAG (1u << XSNAP_R_FRAGMENT)
#define X_BAD_L4 (1u << XSNAP_R_BAD_L4)
#define X_TINY (1u << XSNAP_R_TINY_FRAG)
#define X_L4_UNKNOWN (1u << XSNAP_R_L4_UNKNOWN)

/* Exactly @reason and the reasons of @extra (X_*) moved, by one. */
static void check_reasons(const struct run *r, __u32 reason, __u32 extra)
{
	for (__u32 i = 0; i < XSNAP_R_MAX; i++) {
		__u64 want = (i == reason) + !!(extra & (1u << i));

		if (r->after.reason[i] - r->before.reason[i] != want)
			fprintf(stderr, "  counter %u moved by %llu, expected %llu\n", i,
				(unsigned long long)(r->after.reason[i] - r->before.reason[i]),
				(unsigned long long)want);
		CHECK_EQ(r->after.reason[i] - r->before.reason[i], want);
	}
}

/* Tenants in @mask counted one frame of @len bytes, the others nothing. */
static void check_tenants(const struct run *r, __u32 mask, __u64 len)
{
	for (__u32 t = 0; t < XSNAP_MAX_TENANTS; t++) {
		int in = !!(mask & (1u << t));

		CHECK_EQ(r->after.frames[t] - r->before.frames[t], in);
		CHECK_EQ(r->after.bytes[t] - r->before.bytes[t], in ? len : 0);
	}
}

/* The metadata in front of delivered frame @f, checked against the
 * userspace parse of the same bytes. */
static void check_meta(const struct xsnap_meta *m, const struct frame *f, __u32 mask, __u32 id,
		       __u64 t0, __u64 t1)
{
	struct xsnap_pkt p;

	REQUIRE(xsnap_parse(f->b, f->b + f->len, &p) == 0);
	CHECK_EQ(m->magic, XSNAP_META_MAGIC);
	CHECK_EQ(m->tenant_mask, mask);
	CHECK_EQ(m->rule_id, id);
	/* the flow hash is the engine's (computed when a tenant splits by
	 * flow); the userspace parse of the same bytes has one */
	CHECK_EQ(m->flow_hash, 0);
	CHECK(p.flow_hash != 0);
	CHECK_EQ(m->l3_off, p.l3_off);
	CHECK_EQ(m->l4_off, p.l4_off);
	CHECK_EQ(m->vlan, p.vlan);
	CHECK_EQ(m->l4_proto, p.l4_off ? p.proto : 0);
	CHECK_EQ(m->l3_proto, p.l3_proto);
	/* Stamped by the program only when asked (else the engine stamps the
	 * batch).  bpf_ktime_get_ns() is CLOCK_MONOTONIC; 1 ms of slack for
	 * the kernel's NMI-safe fast clock read. */
	if (fx_xdp_stamp)
		CHECK(m->rx_ns + 1000000 >= t0 && m->rx_ns <= t1 + 1000000);
	else
		CHECK_EQ(m->rx_ns, 0);
}

struct steer_case {
	const char *name;
	void (*build)(struct frame *f);
	__u32 action;		/* XDP_* */
	__u32 reason;		/* final XSNAP_R_* */
	__u32 extra;		/* X_*: counted too */
	__u32 mask;		/* delivered: tenant mask */
	__u32 id;		/* delivered: rule id */
};

/* Check one run of @c's frame against its expectations. */
static void check_case(const struct steer_case *c, const struct frame *f, const struct run *r)
{
	struct oracle_pkt o;
	int perr;

	REQUIRE(r->err == 0);
	CHECK_EQ(r->retval, c->action);
	check_reasons(r, c->reason, c->extra);

	/* An oracle written apart from the parser (tests/lib/oracle.h) reads
	 * malformed frames the same way... */
	perr = oracle_parse(f->b, f->len, &o);
	if (perr)
		CHECK_EQ(-perr, c->reason);
	else
		CHECK_EQ((__u32)o.frag << XSNAP_R_FRAGMENT | (__u32)o.l4_bad << XSNAP_R_BAD_L4 |
				 (__u32)o.tiny_frag << XSNAP_R_TINY_FRAG |
				 (__u32)o.l4_unknown << XSNAP_R_L4_UNKNOWN,
			 c->extra);

	if (c->action == XDP_REDIRECT) {
		/* test-run's data_out starts at data_meta. */
		REQUIRE(r->out_len == f->len + META_LEN);
		CHECK(!memcmp(r->out + META_LEN, f->b, f->len));
		check_meta((const void *)r->out, f, c->mask, c->id, r->t0, r->t1);
		check_tenants(r, c->mask, f->len);
	} else {
		/* ...and frames not delivered leave untouched, without metadata. */
		CHECK_EQ(r->out_len, f->len);
		CHECK(!memcmp(r->out, f->b, f->len));
		check_tenants(r, 0, 0);
	}
}

static void run_table_case(const struct steer_case *c)
{
	struct run r;
	struct frame f;
	struct fx fx;

	if (fx_open(&fx, 1))
		return;
	install_std(&fx, 0);
	set_cfg(&fx, 0, ~0u);
	c->build(&f);
	run_frame(&fx, &f, &r);
	check_case(c, &f, &r);
	if (test_failed)
		fprintf(stderr, "  in case %s (%zu-byte frame)\n", c->name, f.len);
	fx_close(&fx);
}

#define STEER_CASE(NAME, BUILD, ACTION, REASON, EXTRA, MASK, ID)                             \
	TEST(NAME)                                                                         \
	{                                                                                  \
		static const struct steer_case c = { #NAME, BUILD, ACTION, REASON, EXTRA,  \
						     MASK, ID };                             \
		run_table_case(&c);                                                        \
	}

/* --- frames -------------------------------------------------------------- */

static void udp4(struct frame *f, const char *dst, uint16_t dport, size_t opt)
{
	frame_eth(f);
	frame_ipv4(f, "10.0.0.1", dst, opt);
	frame_udp(f, 40000, dport);
	frame_payload(f, 32);
	frame_finish(f);
}

static void udp6(struct frame *f, const char *src, const char *dst, uint16_t dport)
{
	frame_eth(f);
	frame_ipv6(f, src, dst);
	frame_udp(f, 40000, dport);
	frame_payload(f, 32);
	frame_finish(f);
}

static void vlan_udp4(struct frame *f, uint16_t tpid0, uint16_t vid0, uint16_t tpid1,
		      uint16_t vid1, uint16_t dport)
{
	frame_eth(f);
	frame_vlan(f, tpid0, vid0);
	if (tpid1)
		frame_vlan(f, tpid1, vid1);
	frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0);
	frame_udp(f, 40000, dport);
	frame_payload(f, 32);
	frame_finish(f);
}

static void ext6(struct frame *f, int n, uint16_t frag8)
{
	frame_eth(f);
	frame_ipv6(f, "2001:db9::1", "2001:db9::2");
	for (int i = 0; i < n; i++)
		frame_ipv6_ext(f, (uint8_t[]){ 0, 43, 60 }[i % 3], (unsigned int)i % 3);
	if (frag8 != 0xffff)
		frame_ipv6_ext(f, 44, frag8);
	frame_udp(f, 40000, 9000);
	frame_payload(f, 32);
	frame_finish(f);
}

#define B(NAME, BODY)                                                                      \
	static void NAME(struct frame *f)                                                  \
	{                                                                                  \
		BODY;                                                                      \
	}

/* shapes */
B(b_udp4, udp4(f, "10.2.0.1", 9000, 0))
B(b_tcp4, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0); frame_tcp(f, 40000, 80, 12);
  frame_payload(f, 20); frame_finish(f))
B(b_icmp4, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0); frame_icmp(f);
  frame_payload(f, 56); frame_finish(f))
B(b_ihl6, udp4(f, "10.2.0.1", 9000, 4))
B(b_ihl10, udp4(f, "10.2.0.1", 9000, 20))
B(b_ihl15, udp4(f, "10.2.0.1", 9000, 40))
B(b_udp6, udp6(f, "2001:db9::1", "2001:db9::2", 9000))
B(b_tcp6, frame_eth(f); frame_ipv6(f, "2001:db9::1", "2001:db9::2"); frame_tcp(f, 1, 80, 0);
  frame_finish(f))
B(b_icmp6, frame_eth(f); frame_ipv6(f, "2001:db9::1", "2001:db9::2"); frame_icmp(f);
  frame_finish(f))
B(b_ext3_frag0, ext6(f, 3, 0))
B(b_ext6, ext6(f, 6, 0xffff))
B(b_vlan1, vlan_udp4(f, 0x8100, 300, 0, 0, 5000))
B(b_vlan1_port, vlan_udp4(f, 0x8100, 100, 0, 0, 9000))
B(b_qinq_outer, vlan_udp4(f, 0x88a8, 300, 0x8100, 100, 5000))
B(b_qinq_inner, vlan_udp4(f, 0x88a8, 100, 0x8100, 300, 5000))
/* rules */
B(b_union, udp4(f, "10.1.2.3", 9000, 0))
B(b_dst4, udp4(f, "10.1.2.3", 5000, 0))
B(b_dst4_edge, udp4(f, "10.0.255.255", 5000, 0))
B(b_dst6, udp6(f, "2001:db9::1", "2001:db8:ffff::5", 5000))
B(b_union6, udp6(f, "2001:db9::1", "2001:db8::5", 9000))
B(b_src6_in, udp6(f, "2001:db8:afff:1::1", "2001:db9::2", 5000))
B(b_src6_out, udp6(f, "2001:db8:b000::1", "2001:db9::2", 5000))
B(b_drop, udp4(f, "10.2.0.1", 53, 0))
B(b_pass, udp4(f, "10.2.0.1", 7, 0))
B(b_nomatch, udp4(f, "10.2.0.1", 5000, 0))
B(b_nomatch_tcp, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0);
  frame_tcp(f, 40000, 9000, 0); frame_finish(f))
B(b_prio_drop, udp4(f, "10.9.1.1", 9001, 0))
B(b_prio_deliver, udp4(f, "10.9.1.1", 9002, 0))
B(b_prio_tie, udp4(f, "10.9.1.1", 9003, 0))
B(b_merged, udp4(f, "10.2.0.1", 4789, 0))
/* fragments */
B(b_frag4_first, udp4(f, "10.2.0.1", 9000, 0); frame_ipv4_frag(f, 0x2000))
B(b_frag4_first_big, udp4(f, "10.2.0.1", 9000, 0); frame_ipv4_frag(f, 0x2000);
  frame_put16(f, f->l4_off + 4, 2000))
B(b_frag4_later, udp4(f, "10.2.0.1", 9000, 0); frame_ipv4_frag(f, 0x2000 | 185))
B(b_frag4_later_dst, udp4(f, "10.1.2.3", 9000, 0); frame_ipv4_frag(f, 370))
B(b_frag4_later_drop, udp4(f, "10.2.0.1", 53, 0); frame_ipv4_frag(f, 370))
B(b_frag4_later_icmp, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0); frame_icmp(f);
  frame_payload(f, 8); frame_finish(f); frame_ipv4_frag(f, 100))
B(b_frag6_first, ext6(f, 1, 0))
B(b_frag6_later, frame_eth(f); frame_ipv6(f, "2001:db9::1", "2001:db8::7");
  frame_ipv6_ext(f, 44, 100); frame_udp(f, 1, 9000); frame_payload(f, 16); frame_finish(f))
/* malformed */
B(b_a1_zero14, frame_eth(f))
B(b_a2_arp, frame_eth(f); frame_ethertype(f, 0x0806, 28))
B(b_a2_8023, frame_eth(f); frame_ethertype(f, 0x05dc, 46))
B(b_a2_vlan_arp, frame_eth(f); frame_vlan(f, 0x8100, 300); frame_ethertype(f, 0x0806, 28))
B(b_a2_vlan_short, frame_eth(f); frame_vlan(f, 0x8100, 300); frame_ethertype(f, 0x0800, 0);
  f->len = 16)
B(b_a3_deep, frame_eth(f); frame_vlan(f, 0x88a8, 300); frame_vlan(f, 0x8100, 300);
  frame_vlan(f, 0x8100, 300); frame_ipv4(f, "10.0.0.1", "10.1.0.1", 0); frame_udp(f, 1, 9000);
  frame_finish(f))
B(b_a4_ihl0, udp4(f, "10.1.2.3", 9000, 0); frame_put8(f, 14, 0x40))
B(b_a4_ihl4, udp4(f, "10.1.2.3", 9000, 0); frame_put8(f, 14, 0x44))
B(b_a4_version, udp4(f, "10.1.2.3", 9000, 0); frame_put8(f, 14, 0x55))
B(b_a5_opts_cut, udp4(f, "10.1.2.3", 9000, 0); frame_put8(f, 14, 0x4f); f->len = 14 + 40;
  frame_put16(f, 16, 40))
B(b_a6_tot0, udp4(f, "10.1.2.3", 9000, 0); frame_put16(f, 16, 0))
B(b_a6_tot_short, udp4(f, "10.1.2.3", 9000, 8); frame_put16(f, 16, 27))
B(b_a6_tot_long, udp4(f, "10.1.2.3", 9000, 0); frame_put16(f, 16, (uint16_t)(f->len - 14 + 1)))
B(b_a8_doff0, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.1.2.3", 0); frame_tcp(f, 1, 80, 0);
  frame_finish(f); frame_put8(f, f->l4_off + 12, 0x00))
B(b_a8_doff4, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.1.2.3", 0); frame_tcp(f, 1, 80, 0);
  frame_finish(f); frame_put8(f, f->l4_off + 12, 0x40))
B(b_a8_doff_long, frame_eth(f); frame_ipv6(f, "2001:db9::1", "2001:db8::1");
  frame_tcp(f, 1, 80, 0); frame_finish(f); frame_put8(f, f->l4_off + 12, 0x60))
B(b_a9_ulen7, udp4(f, "10.1.2.3", 9000, 0); frame_put16(f, f->l4_off + 4, 7))
B(b_a9_ulen_long, udp6(f, "2001:db9::1", "2001:db8::1", 9000);
  frame_put16(f, f->l4_off + 4, (uint16_t)(f->len - f->l4_off + 1)))
B(b_a9_ulen7_other, udp4(f, "10.2.0.1", 9000, 0); frame_put16(f, f->l4_off + 4, 7))
B(b_frag4_tiny_tcp, frame_eth(f); frame_ipv4(f, "10.0.0.1", "10.2.0.1", 0); frame_tcp(f, 1, 80, 0);
  f->len = f->l4_off + 8; frame_finish(f); frame_ipv4_frag(f, 0x2000))
B(b_frag4_tiny_drop, udp4(f, "10.2.0.1", 53, 0); f->len = f->l4_off + 4; frame_finish(f);
  frame_ipv4_frag(f, 0x2000))
B(b_frag6_tiny, ext6(f, 0, 0); f->len = f->l4_off + 6; frame_finish(f))
B(b_a10_long, ext6(f, XSNAP_MAX_IPV6_EXT + 1, 0xffff))
B(b_a10_long_db8, ext6(f, XSNAP_MAX_IPV6_EXT + 1, 0xffff);
  memcpy(f->b + f->l3_off + 24, (const uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4))
B(b_a10_cut, ext6(f, 1, 0xffff); frame_put8(f, 54 + 1, 20))
B(b_a10_unknown, frame_eth(f); frame_ipv6(f, "2001:db9::1", "2001:db8::9");
  frame_ipv6_ext(f, 0, 0); frame_l4raw(f, 50, 24); frame_finish(f))
B(b_a10_unknown_port, frame_eth(f); frame_ipv6(f, "2001:db9::1", "2001:db9::9");
  frame_l4raw(f, 132, 24); frame_finish(f))
B(b_bad6_plen, udp6(f, "2001:db9::1", "2001:db8::1", 9000); frame_put16(f, 18, 1000))

/* name                     frame              verdict       reason            frag mask   id */
STEER_CASE(ipv4_udp, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(ipv4_tcp, b_tcp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x2, 2)
STEER_CASE(ipv4_icmp, b_icmp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x20, 8)
STEER_CASE(ipv4_ihl6, b_ihl6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(ipv4_ihl10, b_ihl10, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(ipv4_ihl15, b_ihl15, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(ipv6_udp, b_udp6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(ipv6_tcp, b_tcp6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x2, 2)
STEER_CASE(ipv6_icmpv6, b_icmp6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x20, 9)
STEER_CASE(ipv6_ext_hop_rt_dst_frag, b_ext3_frag0, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(ipv6_ext_six, b_ext6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(vlan_8100_id, b_vlan1, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x10, 7)
STEER_CASE(vlan_8100_port, b_vlan1_port, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(vlan_qinq_outer, b_qinq_outer, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x10, 7)
STEER_CASE(vlan_qinq_inner_ignored, b_qinq_inner, XDP_PASS, XSNAP_R_NOMATCH, 0, 0, 0)
STEER_CASE(rule_union_two_tenants, b_union, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x5, 1)
STEER_CASE(rule_dst4_prefix, b_dst4, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x4, 5)
STEER_CASE(rule_dst4_outside, b_dst4_edge, XDP_PASS, XSNAP_R_NOMATCH, 0, 0, 0)
STEER_CASE(rule_dst6_prefix, b_dst6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x8, 6)
STEER_CASE(rule_union6, b_union6, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x9, 1)
STEER_CASE(rule_src6_prefix36, b_src6_in, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x40, 14)
STEER_CASE(rule_src6_outside36, b_src6_out, XDP_PASS, XSNAP_R_NOMATCH, 0, 0, 0)
STEER_CASE(rule_drop, b_drop, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0, 0)
STEER_CASE(rule_pass, b_pass, XDP_PASS, XSNAP_R_RULE_PASS, 0, 0, 0)
STEER_CASE(rule_nomatch, b_nomatch, XDP_PASS, XSNAP_R_NOMATCH, 0, 0, 0)
STEER_CASE(rule_proto_matters, b_nomatch_tcp, XDP_PASS, XSNAP_R_NOMATCH, 0, 0, 0)
STEER_CASE(prio_drop5_beats_deliver10, b_prio_drop, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0, 0)
STEER_CASE(prio_deliver1_beats_drop5, b_prio_deliver, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 11)
STEER_CASE(prio_tie_stop_wins, b_prio_tie, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0, 0)
STEER_CASE(rule_merged_key, b_merged, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x180, 16)
STEER_CASE(frag4_first, b_frag4_first, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(frag4_first_udp_len_whole, b_frag4_first_big, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(frag4_later_no_ports, b_frag4_later, XDP_PASS, XSNAP_R_NOMATCH, X_FRAG, 0, 0)
STEER_CASE(frag4_later_l3_match, b_frag4_later_dst, XDP_REDIRECT, XSNAP_R_DELIVER, X_FRAG, 0x4, 5)
STEER_CASE(frag4_later_port_drop_ignored, b_frag4_later_drop, XDP_PASS, XSNAP_R_NOMATCH, X_FRAG, 0, 0)
STEER_CASE(frag4_later_proto_match, b_frag4_later_icmp, XDP_REDIRECT, XSNAP_R_DELIVER, X_FRAG, 0x20, 8)
STEER_CASE(frag6_first, b_frag6_first, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x1, 1)
STEER_CASE(frag6_later_l3_match, b_frag6_later, XDP_REDIRECT, XSNAP_R_DELIVER, X_FRAG, 0x8, 6)
STEER_CASE(a1_fourteen_zero_bytes, b_a1_zero14, XDP_PASS, XSNAP_R_NON_IP, 0, 0, 0)
STEER_CASE(a2_arp, b_a2_arp, XDP_PASS, XSNAP_R_NON_IP, 0, 0, 0)
STEER_CASE(a2_8023_length, b_a2_8023, XDP_PASS, XSNAP_R_NON_IP, 0, 0, 0)
STEER_CASE(a2_vlan_arp, b_a2_vlan_arp, XDP_PASS, XSNAP_R_NON_IP, 0, 0, 0)
STEER_CASE(a2_vlan_truncated, b_a2_vlan_short, XDP_PASS, XSNAP_R_SHORT_L2, 0, 0, 0)
STEER_CASE(a3_vlan_depth3, b_a3_deep, XDP_PASS, XSNAP_R_VLAN_DEEP, 0, 0, 0)
STEER_CASE(a4_ihl0, b_a4_ihl0, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
STEER_CASE(a4_ihl4, b_a4_ihl4, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
STEER_CASE(a4_version5, b_a4_version, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
STEER_CASE(a5_options_cut, b_a5_opts_cut, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
STEER_CASE(a6_tot_len_zero, b_a6_tot0, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
STEER_CASE(a6_tot_len_below_ihl, b_a6_tot_short, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
STEER_CASE(a6_tot_len_beyond_frame, b_a6_tot_long, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)
/* an unreadable L4 header: no port rule (tcp 80, udp 9000) matches, the L3
 * rule of the destination does */
STEER_CASE(a8_tcp_doff0, b_a8_doff0, XDP_REDIRECT, XSNAP_R_DELIVER, X_BAD_L4, 0x4, 5)
STEER_CASE(a8_tcp_doff4, b_a8_doff4, XDP_REDIRECT, XSNAP_R_DELIVER, X_BAD_L4, 0x4, 5)
STEER_CASE(a8_tcp_doff_beyond, b_a8_doff_long, XDP_REDIRECT, XSNAP_R_DELIVER, X_BAD_L4, 0x8, 6)
STEER_CASE(a9_udp_len7, b_a9_ulen7, XDP_REDIRECT, XSNAP_R_DELIVER, X_BAD_L4, 0x4, 5)
STEER_CASE(a9_udp_len_beyond, b_a9_ulen_long, XDP_REDIRECT, XSNAP_R_DELIVER, X_BAD_L4, 0x8, 6)
STEER_CASE(a9_udp_len7_no_l3_rule, b_a9_ulen7_other, XDP_PASS, XSNAP_R_NOMATCH, X_BAD_L4, 0, 0)
/* a tiny first fragment: its ports decide */
STEER_CASE(frag4_first_tiny_tcp, b_frag4_tiny_tcp, XDP_REDIRECT, XSNAP_R_DELIVER, X_TINY, 0x2, 2)
STEER_CASE(frag4_first_tiny_udp_drop, b_frag4_tiny_drop, XDP_DROP, XSNAP_R_RULE_DROP, X_TINY, 0, 0)
STEER_CASE(frag6_first_tiny_udp, b_frag6_tiny, XDP_REDIRECT, XSNAP_R_DELIVER, X_TINY, 0x1, 1)
/* a chain longer than we follow: protocol and ports unknown; L3 rules match
 * (no L4_ANY group in this hand-made bank: bpf/test_rulesets has them) */
STEER_CASE(a10_ext_chain_too_long, b_a10_long, XDP_PASS, XSNAP_R_NOMATCH, X_L4_UNKNOWN, 0, 0)
STEER_CASE(a10_ext_chain_too_long_l3_match, b_a10_long_db8, XDP_REDIRECT, XSNAP_R_DELIVER,
	   X_L4_UNKNOWN, 0x8, 6)
STEER_CASE(a10_ext_truncated, b_a10_cut, XDP_PASS, XSNAP_R_IPV6_EXT, 0, 0, 0)
STEER_CASE(a10_unknown_nh_l3_match, b_a10_unknown, XDP_REDIRECT, XSNAP_R_DELIVER, 0, 0x8, 6)
STEER_CASE(a10_unknown_nh_no_ports, b_a10_unknown_port, XDP_PASS, XSNAP_R_NOMATCH, 0, 0, 0)
STEER_CASE(ipv6_payload_len_beyond, b_bad6_plen, XDP_PASS, XSNAP_R_BAD_L3, 0, 0, 0)

/* --- cases with their own setup ------------------------------------------ */

/* A1: this kernel's test-run refuses frames shorter than Ethernet with
 * EINVAL (TESTING.md E16), so the program's SHORT_L2 path is only
 * reachable from a real device (covered by tests/unit/test_parse). */
TEST(a1_short_frames_refused)
{
	__u8 buf[64] = { 0 };
	struct fx fx;

	if (fx_open(&fx, 0))
		return;
	for (__u32 len = 0; len < 14; len++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = len,
			    .repeat = 1);
		int err = bpf_prog_test_run_opts(fx.prog, &opts);

		if (err != -EINVAL)
			fprintf(stderr, "  %u-byte frame: %d\n", len, err);
		CHECK_EQ(err, -EINVAL);
	}
	fx_close(&fx);
}

/*
 * A12: a frame in several buffers.  xsnap_steer is SEC("xdp"), not
 * frags-aware, so no driver hands it one; only a test run of a frame longer
 * than one page's linear room (PAGE_SIZE - headroom - tailroom, 3520 bytes
 * here) makes one.  Its verdict is explicit: XDP_PASS with the reason
 * too_big, unclassified (no tenant counted, no redirect, no drop even when
 * a drop rule would match), whatever the length.  The same headers in a
 * linear frame are delivered: the control.
 */
TEST(a12_multibuffer_explicit_verdict)
{
	static const __u32 sizes[] = { 3521, 4096, 5000, 9000, 16000 };
	static __u8 big[16000];
	struct frame f;
	struct run r;
	struct fx fx;

	if (fx_open(&fx, 1))
		return;
	install_std(&fx, 0);
	set_cfg(&fx, 0, ~0u);
	/* control: udp dport 9000 in one buffer goes to tenant 0 */
	frame_eth(&f);
	frame_ipv4(&f, "10.0.0.1", "10.0.0.2", 0);
	frame_udp(&f, 1234, 9000);
	frame_payload(&f, 64);
	frame_finish(&f);
	run_frame(&fx, &f, &r);
	REQUIRE(r.err == 0);
	CHECK_EQ(r.retval, XDP_REDIRECT);
	check_reasons(&r, XSNAP_R_DELIVER, 0);
	check_tenants(&r, 1, f.len);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int drop = 0; drop < 2; drop++) {
			/* the deliver rule's headers, then the drop rule's (dport 53) */
			frame_put16(&f, f.l4_off + 2, drop ? 53 : 9000);
			memset(big, 0xa5, sizeof(big));
			memcpy(big, f.b, f.len);
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = big,
				    .data_size_in = sizes[i], .repeat = 1);

			read_counters(&fx, &r.before);
			r.err = bpf_prog_test_run_opts(fx.prog, &opts);
			read_counters(&fx, &r.after);
			if (r.err || opts.retval != XDP_PASS)
				fprintf(stderr, "  %u bytes (dport %u): err %d verdict %u\n", sizes[i],
					drop ? 53 : 9000, r.err, opts.retval);
			CHECK_EQ(r.err, 0);
			CHECK_EQ(opts.retval, XDP_PASS);
			check_reasons(&r, XSNAP_R_TOO_BIG, 0);
			check_tenants(&r, 0, 0);
		}
	}
	fx_close(&fx);
}

/* A deliver match with no socket on the queue goes to the stack, with no
 * metadata and no tenant counted. */
TEST(no_socket_passes)
{
	struct frame f;
	struct run r;
	struct fx fx;

	if (fx_open(&fx, 0))
		return;
	install_std(&fx, 0);
	set_cfg(&fx, 0, ~0u);
	b_union(&f);
	run_frame(&fx, &f, &r);
	REQUIRE(r.err == 0);
	CHECK_EQ(r.retval, XDP_PASS);
	check_reasons(&r, XSNAP_R_NO_SOCKET, 0);
	CHECK_EQ(r.out_len, f.len);
	check_tenants(&r, 0, 0);
	fx_close(&fx);
}

static void expect(struct fx *fx, void (*build)(struct frame *), __u32 action, __u32 reason,
		   __u32 mask, __u32 id)
{
	struct steer_case c = { "", build, action, reason, 0, mask, id };
	struct frame f;
	struct run r;

	build(&f);
	run_frame(fx, &f, &r);
	check_case(&c, &f, &r);
}

/* Rules written into the idle bank are invisible until cfg.bank names it. */
static void bank_flip(struct fx *fx)
{
	static const struct xsnap_group g = { .fields = XSNAP_F_PROTO | XSNAP_F_DPORT };
	static const struct rule_spec drop9000 = { 0, 17, 9000, 0, NULL, NULL, DROP, 1, 99, 0 };

	install_std(fx, 1);
	set_groups(fx, 0, NULL, 0, 0);
	set_cfg(fx, 0, ~0u);
	expect(fx, b_udp4, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);

	set_cfg(fx, 1, ~0u);
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x1, 1);

	/* Rewrite bank 0 while 1 is live: no effect until the flip. */
	set_groups(fx, 0, &g, 1, 1);
	add_rule(fx, 0, &g, &drop9000);
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x1, 1);
	set_cfg(fx, 0, ~0u);
	expect(fx, b_udp4, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0);
	/* Bank 0 has no tcp rule; bank 1's keys never leak into it. */
	expect(fx, b_tcp4, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);
	/* Only the low bit of cfg.bank counts. */
	set_cfg(fx, 3, ~0u);
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x1, 1);
}

/* The running kernel is @major.@minor or newer. */
static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

/* xsnap_cfg with an explicit rule-set generation (set_cfg() leaves it 0). */
static void set_cfg_gen(struct fx *fx, __u32 bank, __u32 gen)
{
	struct xsnap_cfg c = { .bank = bank, .tenants = ~0u, .abi_version = XSNAP_ABI_VERSION,
			       .gen = gen };
	__u32 zero = 0;

	CHECK_EQ(bpf_map_update_elem(fx->cfg, &zero, &c, BPF_ANY), 0);
}

/*
 * The exact-match cache (xsnap_emc) answers a repeated key without the hash
 * map, but only within the generation that filled it.  Seen from outside:
 * a key deleted behind the program's back (against the contract: banks
 * change only while idle, flips bump the generation) is still answered from
 * the cache, and a new generation drops the entry, also for the same bank,
 * also for an absent key that became present.  The thread stays on one CPU:
 * the cache is per CPU.
 */
static void emc_generations(struct fx *fx)
{
	static const struct xsnap_group g = { .fields = XSNAP_F_PROTO | XSNAP_F_DPORT };
	static const struct rule_spec to0 = { 0, 17, 9000, 0, NULL, NULL, DELIVER, 1, 7, 0 };
	static const struct rule_spec to2 = { 0, 17, 9000, 0, NULL, NULL, DELIVER, 1, 8, 2 };
	static const struct rule_spec drop = { 0, 17, 9000, 0, NULL, NULL, DROP, 1, 9, 0 };
	struct xsnap_rule_key k;

	frame_rule_key(&k, 0, 0, &g, 17, 0, 9000, 0, NULL, NULL);
	set_groups(fx, 0, &g, 1, 1);
	set_groups(fx, 1, &g, 1, 1);
	add_rule(fx, 0, &g, &to0);
	set_cfg_gen(fx, 0, 1);
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x1, 7);	/* fills the entry */
	CHECK_EQ(bpf_map_delete_elem(fx->rules, &k), 0);
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x1, 7);	/* a hit: the map has no key */
	set_cfg_gen(fx, 0, 2);
	expect(fx, b_udp4, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);		/* new generation: a miss */
	add_rule(fx, 0, &g, &to2);					/* absent, then present */
	set_cfg_gen(fx, 0, 3);
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x4, 8);
	add_rule(fx, 1, &g, &drop);					/* the other bank */
	set_cfg_gen(fx, 1, 4);
	expect(fx, b_udp4, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0);
	set_cfg_gen(fx, 0, 5);						/* back: bank 0's entry */
	expect(fx, b_udp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x4, 8);
}

TEST(emc_generations)
{
	cpu_set_t one, was;
	struct fx fx;
	int cpu = sched_getcpu();

	REQUIRE(cpu >= 0 && sched_getaffinity(0, sizeof(was), &was) == 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	if (!fx_open(&fx, 1)) {
		emc_generations(&fx);
		fx_close(&fx);
	}
	sched_setaffinity(0, sizeof(was), &was);
}

TEST(bank_flip)
{
	struct fx fx;

	if (fx_open(&fx, 1))
		return;
	bank_flip(&fx);
	fx_close(&fx);
}

/* Tenant slots outside cfg.tenants never receive frames, and their rules
 * take no part in precedence. */
static void tenants_mask(struct fx *fx)
{
	install_std(fx, 0);
	set_cfg(fx, 0, ~0u & ~1u);		/* tenant 0 being removed */
	expect(fx, b_udp4, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);
	/* The union loses tenant 0, and the rule id is the surviving rule's. */
	expect(fx, b_union, XDP_REDIRECT, XSNAP_R_DELIVER, 0x4, 5);
	/* Tenant 0's prio-1 rule no longer beats the prio-5 drop. */
	expect(fx, b_prio_deliver, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0);
	expect(fx, b_tcp4, XDP_REDIRECT, XSNAP_R_DELIVER, 0x2, 2);

	set_cfg(fx, 0, 0);			/* no tenant at all */
	expect(fx, b_union, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);
	expect(fx, b_drop, XDP_DROP, XSNAP_R_RULE_DROP, 0, 0);
	expect(fx, b_pass, XDP_PASS, XSNAP_R_RULE_PASS, 0, 0);
}

TEST(tenants_mask)
{
	struct fx fx;

	if (fx_open(&fx, 1))
		return;
	tenants_mask(&fx);
	fx_close(&fx);
}

/* A corrupt ngroups cannot push the loop past the array. */
TEST(ngroups_bounded)
{
	struct fx fx;

	if (fx_open(&fx, 1))
		return;
	install_std(&fx, 0);
	set_groups(&fx, 0, std_groups, G_NUM, 0xffffffffu);
	set_cfg(&fx, 0, ~0u);
	expect(&fx, b_union, XDP_REDIRECT, XSNAP_R_DELIVER, 0x5, 1);
	expect(&fx, b_nomatch, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);
	/* ngroups 1: only the port group is live. */
	set_groups(&fx, 0, std_groups, G_NUM, 1);
	expect(&fx, b_union, XDP_REDIRECT, XSNAP_R_DELIVER, 0x1, 1);
	expect(&fx, b_dst4, XDP_PASS, XSNAP_R_NOMATCH, 0, 0);
	fx_close(&fx);
}

/*
 * Real delivery: run the frame as a live frame on lo queue 0, so the kernel
 * performs the redirect, and read it from the socket's RX ring with the
 * metadata in front of it (copy mode copies the metadata area too).
 */
/* XSNAP_STAMP_XDP: the program stamps every delivered frame (check_meta
 * asserts the stamp lies within the test run; without the knob it asserts
 * 0, in every other delivering case). */
TEST(xdp_timestamps)
{
	static const struct steer_case c = { "xdp_timestamps", b_union, XDP_REDIRECT,
					     XSNAP_R_DELIVER, 0, 0x5, 1 };

	fx_xdp_stamp = 1;
	run_table_case(&c);
	fx_xdp_stamp = 0;
}

/* Whether the kernel refuses live-frames test runs to every program (some
 * builds do, with EPERM): a two-instruction XDP_PASS program asks. */
static int live_frames_refused(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static __u8 b[64];
	struct xdp_md ctx = { .data_end = sizeof(b), .ingress_ifindex = if_nametoindex("lo") };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = b, .data_size_in = sizeof(b),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	int fd, err;

	b[12] = 0x08;	/* IPv4 ethertype, zero addresses: passed by the stack */
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "live_probe", "GPL", insns, sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd < 0)
		return 0;
	err = bpf_prog_test_run_opts(fd, &opts);
	close(fd);
	return err != 0;
}

/* Deliver @f for real another way: the program attached to lo in generic
 * mode, the frame sent on lo through AF_PACKET (lo hands it to its own
 * receive path, which runs generic XDP), then wait for the socket.  0 or
 * -errno. */
static int inject_on_lo(struct fx *fx, const struct frame *f)
{
	int ifindex = (int)if_nametoindex("lo"), fd, err = 0;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	struct pollfd pfd = { .fd = xsk_socket__fd(fx->xsk->sock), .events = POLLIN };

	if (bpf_xdp_attach(ifindex, fx->prog, XDP_FLAGS_SKB_MODE, NULL))
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);	/* protocol 0: sends only */
	if (fd < 0)
		err = -errno;
	else if (sendto(fd, f->b, f->len, 0, (struct sockaddr *)&sll, sizeof(sll)) != (ssize_t)f->len)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (!err && poll(&pfd, 1, 2000) != 1)
		err = -ETIMEDOUT;
	bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL);
	return err;
}

TEST(live_delivery)
{
	struct xsnap_meta meta;
	const char *how = "live-frames test run";
	const __u8 *data;
	__u64 t0, t1;
	struct frame f;
	struct fx fx;
	__u32 idx = 0;
	int err, n;

	if (fx_open(&fx, 1))
		return;
	install_std(&fx, 0);
	set_cfg(&fx, 0, ~0u);
	b_union(&f);
	{
		struct xdp_md ctx = { .data_end = (__u32)f.len,
				      .ingress_ifindex = if_nametoindex("lo"),
				      .rx_queue_index = 0 };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.b, .data_size_in = (__u32)f.len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		t0 = mono_ns();
		err = bpf_prog_test_run_opts(fx.prog, &opts);
		t1 = mono_ns();
	}
	/* BPF_F_TEST_XDP_LIVE_FRAMES came with Linux 5.18: only an older
	 * kernel may refuse it (EINVAL), and a kernel that refuses it to
	 * every program; a refusal of ours alone is a regression (a bad
	 * context, a program the kernel rejects).  Without live frames the
	 * frame takes lo's receive path instead. */
	if ((err == -EINVAL || err == -EOPNOTSUPP) && !kernel_at_least(5, 18)) {
		fx_close(&fx);
		SKIP("live-frames test-run refused (kernel before 5.18): %s", strerror(-err));
	}
	if (err && live_frames_refused()) {
		how = "AF_PACKET on lo, generic XDP (this kernel refuses live frames)";
		t0 = mono_ns();
		err = inject_on_lo(&fx, &f);
		t1 = mono_ns();
		if (err)
			fprintf(stderr, "%s: %s\n", how, strerror(-err));
	} else if (err) {
		fprintf(stderr, "live-frames test-run: %s\n", strerror(-err));
	}
	REQUIRE(err == 0);

	n = (int)xsk_ring_cons__peek(&fx.xsk->rx, 4, &idx);
	CHECK_EQ(n, 1);
	if (n == 1) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&fx.xsk->rx, idx);
		/* the metadata as the packet's head: the descriptor starts at it */
		__u32 head = fx.skel->rodata->xsnap_meta_head ? META_LEN : 0;

		CHECK_EQ(d->len, f.len + head);
		data = (const __u8 *)xsk_umem__get_data(fx.xsk->area, d->addr) + head;
		CHECK(!memcmp(data, f.b, f.len));
		/* Either way the metadata sits right in front of the frame. */
		memcpy(&meta, data - META_LEN, sizeof(meta));
		check_meta(&meta, &f, 0x5, 1, t0, t1);
		xsk_ring_cons__release(&fx.xsk->rx, (__u32)n);
		printf("live delivery (%s): %zu bytes at umem offset %llu, metadata %s, magic "
		       "0x%08x mask 0x%x\n",
		       how, f.len, (unsigned long long)d->addr, head ? "as the head" : "in front",
		       meta.magic, meta.tenant_mask);
	}
	fx_close(&fx);
}

/*
 * End to end against the rule compiler (userspace/lib/rule.c): rules in the
 * match language, compiled into bank 0 by rule_compile(), written to the
 * maps as xsnapd would; every well-formed frame of this file is then
 * classified by the program and by rule_ref_classify(), which evaluates the
 * rules one by one and shares no code with the keys.  Any difference
 * between the compiler's keys and xsnap_make_key() shows up as a mismatch.
 */
static const struct {
	const char *match;
	__u32 prio, tenant;
} ref_rules[] = {
	{ "udp dst port 9000", 10, 0 },
	{ "tcp dst port 80", 10, 1 },
	{ "udp dst port 53 action drop", 10, 0 },
	{ "ip dst 10.1.0.0/16", 20, 2 },
	{ "ip6 dst 2001:db8::/32", 20, 3 },
	{ "vlan 300", 30, 4 },
	{ "vlan 300 and udp dst port 5000 action drop", 30, 0 },	/* tie: stop wins */
	{ "icmp", 40, 5 },
	{ "icmp6", 40, 5 },
	{ "ip dst 10.9.0.0/16 action drop", 5, 0 },
	{ "udp dst port 9002", 1, 0 },
	{ "ip6 src 2001:db8:a000::/36", 50, 6 },
	{ "udp src port 40000 and ip dst 10.2.0.0/24", 10, 9 },	/* tie across groups */
	{ "tcp and ip6 src 2001:db9::/48", 25, 10 },
	{ "udp dst port 7 action pass", 10, 0 },
	{ "ip6 dst 2001:db9::/64 action pass", 60, 0 },
	{ "ip src 0.0.0.0/0 and udp", 70, 11 },
	{ "udp dst port 4789", 60, 7 },
	{ "udp dst port 4789", 50, 8 },
};

static void (*const all_frames[])(struct frame *) = {
	b_udp4, b_tcp4, b_icmp4, b_ihl6, b_ihl10, b_ihl15, b_udp6, b_tcp6, b_icmp6,
	b_ext3_frag0, b_ext6, b_vlan1, b_vlan1_port, b_qinq_outer, b_qinq_inner, b_union,
	b_dst4, b_dst4_edge, b_dst6, b_union6, b_src6_in, b_src6_out, b_drop, b_pass,
	b_nomatch, b_nomatch_tcp, b_prio_drop, b_prio_deliver, b_prio_tie, b_merged,
	b_frag4_first, b_frag4_first_big, b_frag4_later, b_frag4_later_dst,
	b_frag4_later_drop, b_frag4_later_icmp, b_frag6_first, b_frag6_later, b_a1_zero14,
	b_a2_arp, b_a2_8023, b_a2_vlan_arp, b_a2_vlan_short, b_a3_deep, b_a4_ihl0, b_a4_ihl4,
	b_a4_version, b_a5_opts_cut, b_a6_tot0, b_a6_tot_short, b_a6_tot_long, b_a8_doff0,
	b_a8_doff4, b_a8_doff_long, b_a9_ulen7, b_a9_ulen_long, b_a10_long, b_a10_cut,
	b_a10_unknown, b_a10_unknown_port, b_bad6_plen,
};

#define NREF (sizeof(ref_rules) / sizeof(ref_rules[0]))

static void compiled_rules(struct fx *fx)
{
	static struct rule_entry ents[64];
	unsigned int nents = 64, seen[4] = { 0 };
	struct rule rules[NREF];
	struct xsnap_bank b;
	char err[128];
	__u32 bank = 0;

	for (size_t i = 0; i < NREF; i++) {
		rules[i] = (struct rule){ .id = (__u32)i + 1, .prio = ref_rules[i].prio,
					  .tenant = ref_rules[i].tenant };
		if (rule_parse(ref_rules[i].match, &rules[i], err, sizeof(err)))
			fprintf(stderr, "rule '%s': %s\n", ref_rules[i].match, err);
		REQUIRE(err[0] == '\0');
	}
	REQUIRE(rule_compile(rules, NREF, 0, &b, ents, &nents, NULL, NULL, 0) == 0);
	CHECK_EQ(bpf_map_update_elem(fx->groups, &bank, &b, BPF_ANY), 0);
	for (unsigned int i = 0; i < nents; i++)
		CHECK_EQ(bpf_map_update_elem(fx->rules, &ents[i].key, &ents[i].val, BPF_ANY), 0);
	set_cfg(fx, 0, ~0u);

	for (size_t i = 0; i < sizeof(all_frames) / sizeof(all_frames[0]); i++) {
		/* indexed by XSNAP_ACT_* */
		static const __u32 act[] = { XDP_REDIRECT, XDP_DROP, XDP_PASS };
		static const __u32 why[] = { XSNAP_R_DELIVER, XSNAP_R_RULE_DROP,
					     XSNAP_R_RULE_PASS };
		struct steer_case c = { "compiled" };
		struct rule_frame rf;
		struct xsnap_pkt p;
		struct frame f;
		struct run r;
		int ref, was = test_failed;

		all_frames[i](&f);
		if (xsnap_parse(f.b, f.b + f.len, &p))
			continue;	/* malformed: covered by the table */
		rule_frame_of_pkt(&p, &rf);
		ref = rule_ref_classify(rules, NREF, &rf, &c.mask, &c.id);
		seen[ref < 0 ? 3 : ref]++;
		c.action = ref < 0 ? XDP_PASS : act[ref];
		c.reason = ref < 0 ? XSNAP_R_NOMATCH : why[ref];
		c.extra = (__u32)p.frag << XSNAP_R_FRAGMENT | (__u32)p.l4_bad << XSNAP_R_BAD_L4 |
			  (__u32)p.tiny_frag << XSNAP_R_TINY_FRAG |
			  (__u32)p.l4_unknown << XSNAP_R_L4_UNKNOWN;
		run_frame(fx, &f, &r);
		check_case(&c, &f, &r);
		if (test_failed && !was)
			fprintf(stderr, "  frame #%zu: reference says %d mask 0x%x id %u\n", i, ref,
				c.mask, c.id);
	}
	/* The check is not vacuous: every outcome occurred. */
	for (int i = 0; i < 4; i++)
		CHECK(seen[i] > 0);
}

TEST(compiled_rules_agree_with_reference)
{
	struct fx fx;

	if (fx_open(&fx, 1))
		return;
	compiled_rules(&fx);
	fx_close(&fx);
}

/* A15: the program's verifier cost, printed so it can be tracked. */
TEST(verified_insns)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	struct fx fx;

	if (fx_open(&fx, 0))
		return;
	CHECK_EQ(bpf_obj_get_info_by_fd(fx.prog, &info, &len), 0);
	printf("xsnap_steer: verified_insns=%u xlated=%u bytes jited=%u bytes\n",
	       info.verified_insns, info.xlated_prog_len, info.jited_prog_len);
	summary_put("verified_insns",
		    "xsnap_steer verified_insns=%u xlated=%u bytes jited=%u bytes",
		    info.verified_insns, info.xlated_prog_len, info.jited_prog_len);
	CHECK(info.verified_insns > 0);
	CHECK(info.verified_insns < 1000000);
	fx_close(&fx);
}

TEST_MAIN()
