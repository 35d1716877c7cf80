// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_classify: per-frame cost of the XDP classifier against the number
 * of rules (issue 4: 10 000 rules should cost at most 1.5x one rule).
 *
 *   build/bench/bench_classify [--quick] [--ipv6] [--repeat N] [--runs N] [-o FILE.json]
 *
 * The frames are IPv4/UDP, or with --ipv6 IPv6/UDP to the same rule sets
 * (the JSON's "frames" says which).
 *
 * Root.  The program is loaded as libxsnap loads it (steer_open()) and rules
 * go in through steer_apply(), the library's bank flip.  For 1, 5, 100,
 * 1 000 and 10 000 rules it times BPF_PROG_TEST_RUN with `repeat` (the kernel's
 * own ns-per-run over the repeat loop, so the syscall is not counted):
 *
 *   nomatch  a UDP frame no rule matches: every group is looked up and
 *            misses, XDP_PASS;
 *   drop     a frame that matches one rule of the set, a drop rule: the same
 *            lookups, one hit, a cheap verdict;
 *   deliver  a frame that matches a deliver rule, run as live frames
 *            (BPF_F_TEST_XDP_LIVE_FRAMES): a fresh frame per run, metadata,
 *            tenant counters and the redirect into an AF_XDP socket on lo.
 *            (A plain repeat cannot time delivery: the kernel does not reset
 *            the frame between runs, so metadata piles up until it no longer
 *            fits.)  Where the kernel refuses live frames to every program,
 *            deliver is the mean of single runs ("deliver_timing" in the
 *            JSON), which leave the redirect and the socket's copy out.
 *
 * Two rule sets per size: "mixed" (the realistic one: distinct UDP ports,
 * /24 destinations, TCP/443 from /32 sources, ranged UDP ports per /24, and
 * one UDP port range; five groups once there are five rules or more) and
 * "uniform" (N distinct UDP ports: one group whatever N).  Each (set, size,
 * frame) is measured --runs times (rounds, so slow drifts of the machine hit
 * all alike); the table shows min/median/max ns per frame and the median's
 * ratio to one rule; "ratio_to_same_groups" in the JSON divides by the
 * smallest set with the same groups (mixed: 5 rules, one per shape), which
 * separates the cost of rules (none) from the cost of shapes (one hash
 * lookup each).  Before timing, every set is checked: the frames get
 * the verdict and tenant set the reference classifier (rule_ref_classify())
 * gives, and the rule map holds the keys the compiler made; a mismatch
 * fails the run (exit 1).
 *
 * The program keeps a per-CPU exact-match cache of its lookups (xsnap_emc):
 * a repeated frame would always hit it, so the table is measured with a
 * program whose every lookup misses and refills its entry (STEER_EMC_MISS:
 * the cost of a new flow in every frame, the worst case and what the
 * rule-count ratios describe); the cached case (the same frame again) is
 * measured for 1 uniform rule and 5 mixed ones and printed below the table
 * ("cached" in the JSON), next to a trivial redirect-all program on the
 * same deliver frame and socket (the floor).  The uniform 1-rule set is of
 * the shape the program's fast path takes (bpf/xsnap_steer.bpf.c,
 * fast_classify()); it is measured again with the fast path off
 * (STEER_NO_FAST, "general_path" in the JSON), which is its gain.
 *
 * The process moves into a private network namespace of its own (lo up, a
 * copy-mode AF_XDP socket on lo queue 0), so it touches nothing outside.
 * --quick: few repeats and one round, for `make test` (tests/bpf/
 * test_classify runs it); its times are not meant to be compared.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "lo_xsk.h"
#include "rule.h"
#include "xsnap_internal.h"
#include "xsnap_parse.h"
#include "xsnap_steer.skel.h"
#include "bench_xdp.h"

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES (1U << 1)
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_RUNS 20
#define XSK_NFRAMES 256

/* 5: one rule per shape of the mixed set, its smallest size with all groups */
static const unsigned int sizes[] = { 1, 5, 100, 1000, 10000 };
enum { SET_MIXED, SET_UNIFORM, NSETS };
static const char *const set_names[] = { "mixed", "uniform" };
enum { F_NOMATCH, F_DROP, F_DELIVER, NFRAMES };
static const char *const frame_names[] = { "nomatch", "drop", "deliver" };

struct cell {
	unsigned int nrules, nkeys, ngroups;
	double ns[MAX_RUNS];
	double min, median, max;
};

static struct {
	bool quick;
	bool ipv6;	/* --ipv6: the frames are IPv6 (the rules name no family) */
	unsigned int repeat, runs;
	const char *json;
} opt = { .repeat = 1000000, .runs = 5 };

/* [0]: every lookup a new flow (the exact-match cache misses, STEER_EMC_MISS):
 * the table and the targets; [1]: the cache as it runs, a repeated frame
 * (one flow) hitting it: sizes[0] and sizes[1] only; [2]: as [1] with the
 * fast path off (STEER_NO_FAST), uniform 1 rule only, the fast path's gain */
static struct cell modes[3][NSETS][ARRAY_SIZE(sizes)][NFRAMES];
#define cells (modes[0])
#define cached (modes[1])
#define general (modes[2])
static unsigned int cur_mode;	/* measure() fills modes[cur_mode] */
/* the deliver frame through a trivial redirect-all program (bench_xdp.h), live:
 * what a raw AF_XDP socket's program costs, the floor of "deliver (live)" */
static struct cell trivial;

/* ---- environment -------------------------------------------------------------- */

/* Private netns with lo up and a copy-mode socket on lo queue 0, every
 * frame on its fill ring; the socket's fd, or -errno. */
static int env_setup(struct lo_xsk *x)
{
	int err = lo_netns_enter();

	if (!err)
		err = lo_xsk_open(x, XSK_NFRAMES);
	return err ? err : xsk_socket__fd(x->sock);
}

/* Give the frames the deliver runs filled back to the kernel, so the
 * socket keeps receiving rather than dropping for lack of fill entries. */
static void xsk_recycle(struct lo_xsk *x)
{
	__u32 idx, n, fidx;

	n = xsk_ring_cons__peek(&x->rx, XSK_NFRAMES, &idx);
	if (!n)
		return;
	if (xsk_ring_prod__reserve(&x->fq, n, &fidx) == n) {
		for (__u32 i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&x->fq, fidx + i) =
				xsk_umem__extract_addr(
					xsk_ring_cons__rx_desc(&x->rx, idx + i)->addr) &
				~(__u64)(XSK_UMEM__DEFAULT_FRAME_SIZE - 1);
		xsk_ring_prod__submit(&x->fq, n);
	}
	xsk_ring_cons__release(&x->rx, n);
}

/* ---- rule sets and frames ------------------------------------------------------ */

/*
 * Rule i of the "mixed" set of @n rules (@n >= 5 uses all five shapes):
 *   0, 5, 10...: udp dst port 10000+k          (distinct ports)
 *   1, 6, ...:   ip dst 10.X.Y.0/24            (distinct /24s)
 *   2, 7, ...:   tcp dst port 443 and ip src 172.16.X.Y  (/32 sources)
 *   3, 8, ...:   udp dst port 5000-5999 and ip dst 10.200.X.0/24
 *   4:           udp dst port 20000-29999     (the one wide range)
 *   9, 14, ...:  more udp dst ports
 * Rule 0 (port 10000) is the one the drop and deliver frames match: a drop
 * rule when @drop0, else a deliver rule.  Tenants cycle over 8 slots.
 */
static void mixed_rule(unsigned int i, char *m, size_t len)
{
	unsigned int k = i / 5;

	switch (i % 5) {
	case 0:
		snprintf(m, len, "udp dst port %u", 10000 + k);
		break;
	case 1:
		snprintf(m, len, "ip dst 10.%u.%u.0/24", k / 256, k % 256);
		break;
	case 2:
		snprintf(m, len, "tcp dst port 443 and ip src 172.16.%u.%u", k / 256, k % 256);
		break;
	case 3:
		snprintf(m, len, "udp dst port 5000-5999 and ip dst 10.200.%u.0/24", k % 256);
		break;
	default:
		if (k == 0)
			snprintf(m, len, "udp dst port 20000-29999");
		else
			snprintf(m, len, "udp dst port %u", 10000 + 2000 + k);
		break;
	}
}

/* "uniform": N distinct UDP ports, one group. */
static void uniform_rule(unsigned int i, char *m, size_t len)
{
	snprintf(m, len, "udp dst port %u", 10000 + i);
}

static int build_rules(int set, unsigned int n, bool drop0, struct rule *rules)
{
	char m[128], err[256];

	for (unsigned int i = 0; i < n; i++) {
		if (set == SET_MIXED)
			mixed_rule(i, m, sizeof(m));
		else
			uniform_rule(i, m, sizeof(m));
		if (i == 0 && drop0)
			strcat(m, " action drop");
		rules[i] = (struct rule){ .id = i + 1, .prio = 10 + i % 7, .tenant = i % 8 };
		if (rule_parse(m, &rules[i], err, sizeof(err))) {
			fprintf(stderr, "rule '%s': %s\n", m, err);
			return -1;
		}
	}
	return 0;
}

static void put16(uint8_t *b, size_t off, uint16_t v)
{
	b[off] = (uint8_t)(v >> 8);
	b[off + 1] = (uint8_t)v;
}

/* A 64-byte IPv4/UDP frame 10.9.9.9:40000 -> 10.250.0.1:@dport, or with
 * --ipv6 2001:db8::9 -> 2001:db8:250::1 (no extension header): port 10000
 * matches rule 0 of every set, port 9 no rule. */
static size_t make_frame(int which, uint8_t *b)
{
	static const uint8_t mac[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	const size_t len = 64;

	memset(b, 0, len);
	memcpy(b, mac, sizeof(mac));
	if (opt.ipv6) {
		put16(b, 12, 0x86dd);
		b[14] = 0x60;
		put16(b, 18, (uint16_t)(len - 54));	/* payload length */
		b[20] = 17;
		b[21] = 64;
		inet_pton(AF_INET6, "2001:db8::9", b + 22);
		inet_pton(AF_INET6, "2001:db8:250::1", b + 38);
		put16(b, 54, 40000);
		put16(b, 56, which == F_NOMATCH ? 9 : 10000);
		put16(b, 58, (uint16_t)(len - 54));
		return len;
	}
	put16(b, 12, 0x0800);
	b[14] = 0x45;
	put16(b, 16, (uint16_t)(len - 14));
	b[22] = 64;
	b[23] = 17;
	inet_pton(AF_INET, "10.9.9.9", b + 26);
	inet_pton(AF_INET, "10.250.0.1", b + 30);
	put16(b, 34, 40000);
	put16(b, 36, which == F_NOMATCH ? 9 : 10000);
	put16(b, 38, (uint16_t)(len - 34));
	return len;
}

/* ---- checking and timing -------------------------------------------------------- */

/* The frame @w gets the verdict and tenant set rule_ref_classify() gives. */
static int check_frame(int prog, const struct rule *rules, unsigned int n, int set, int w)
{
	static const uint32_t want_ret[] = { XDP_PASS, XDP_DROP, XDP_REDIRECT };
	static const uint32_t act[] = { XDP_REDIRECT, XDP_DROP, XDP_PASS };
	uint8_t b[128], out[256];
	size_t len = make_frame(w, b);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = b, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	struct rule_frame rf = { 0 };
	uint32_t mask = 0, id = 0, got = 0;
	struct xsnap_pkt p;
	int ref;

	if (xsnap_parse(b, b + len, &p))
		return -1;
	rf.l3_proto = p.l3_proto;
	rf.proto = p.proto;
	rf.has_ports = p.ports;
	rf.sport = ntohs(p.sport);
	rf.dport = ntohs(p.dport);
	memcpy(rf.src, p.src, 16);
	memcpy(rf.dst, p.dst, 16);
	ref = rule_ref_classify(rules, n, &rf, &mask, &id);
	if (bpf_prog_test_run_opts(prog, &o))
		return -1;
	if (o.retval == XDP_REDIRECT)
		memcpy(&got, out + offsetof(struct xsnap_meta, tenant_mask), sizeof(got));
	if (o.retval != want_ret[w] || (ref < 0 ? XDP_PASS : act[ref]) != o.retval ||
	    got != mask) {
		fprintf(stderr,
			"%s, %u rules, %s frame: verdict %u mask 0x%x, reference %d mask 0x%x\n",
			set_names[set], n, frame_names[w], o.retval, got, ref, mask);
		return -1;
	}
	return 0;
}

/* The kernel refuses live-frames test runs to every program (some builds
 * do): delivery is then timed one run per call (see time_frame()). */
static bool live_refused;

/* Single runs per delivery timing without live frames: enough for a stable
 * mean, few enough that a full run stays short. */
#define SINGLE_RUNS 20000u

/* ns per run of @prog on frame @b, as the kernel measures it.  @live
 * (delivery) without live frames: the mean of single-run test runs, each on
 * a fresh copy of the frame (a repeat would run on the frame as the last run
 * left it).  Such a run does not perform the redirect, and each counts the
 * kernel's clock read once: the socket's copy is left out, and the trivial
 * program's figure carries the same clock read. */
static double time_frame(int prog, const uint8_t *b, size_t len, bool live, struct lo_xsk *x)
{
	struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = if_nametoindex("lo") };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = b, .data_size_in = (__u32)len,
		    .repeat = opt.repeat);

	if (live && live_refused) {
		unsigned int n = opt.repeat < SINGLE_RUNS ? opt.repeat : SINGLE_RUNS;
		double sum = 0;

		o.repeat = 1;
		for (unsigned int i = 0; i < n; i++) {
			if (bpf_prog_test_run_opts(prog, &o)) {
				fprintf(stderr, "test run: %s\n", strerror(errno));
				return NAN;
			}
			sum += (double)o.duration;
		}
		return sum / n;
	}
	if (live) {
		o.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(prog, &o)) {
		fprintf(stderr, "test run: %s\n", strerror(errno));
		return NAN;
	}
	if (live)
		xsk_recycle(x);
	return (double)o.duration;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void summarise(struct cell *c)
{
	double v[MAX_RUNS];

	memcpy(v, c->ns, sizeof(double) * opt.runs);
	qsort(v, opt.runs, sizeof(double), dbl_cmp);
	c->min = v[0];
	c->max = v[opt.runs - 1];
	c->median = opt.runs % 2 ? v[opt.runs / 2] : (v[opt.runs / 2 - 1] + v[opt.runs / 2]) / 2;
}

/* ---- output ----------------------------------------------------------------------- */

/* Median of @set, @frame at sizes[@a] over sizes[@b]. */
static double ratio(int set, int frame, size_t a, size_t b)
{
	return cells[set][a][frame].median / cells[set][b][frame].median;
}

static void print_table(void)
{
	printf("\nclassification cost of %s frames, ns per frame (min/median/max of %u runs of "
	       "%u; ratio: median / median with 1 rule)\n",
	       opt.ipv6 ? "IPv6" : "IPv4", opt.runs, opt.repeat);
	for (int set = 0; set < NSETS; set++) {
		printf("\n%-8s %6s %6s %6s | %-24s | %-24s | %-24s\n", set_names[set], "rules",
		       "keys", "groups", "nomatch", "drop",
		       live_refused ? "deliver (single runs)" : "deliver (live)");
		for (size_t si = 0; si < ARRAY_SIZE(sizes); si++) {
			const struct cell *c = cells[set][si];

			printf("%-8s %6u %6u %6u", "", c[0].nrules, c[0].nkeys, c[0].ngroups);
			for (int w = 0; w < NFRAMES; w++) {
				const struct cell *one = &cells[set][0][w];

				printf(" | %5.0f/%5.0f/%5.0f x%-5.2f", c[w].min, c[w].median,
				       c[w].max, c[w].median / one->median);
			}
			printf("\n");
		}
	}
	printf("\nper rule (same groups): mixed 10000 rules / 5 rules: nomatch x%.2f, drop x%.2f, "
	       "deliver x%.2f; uniform 10000 / 1: nomatch x%.2f, drop x%.2f, deliver x%.2f\n",
	       ratio(SET_MIXED, F_NOMATCH, 4, 1), ratio(SET_MIXED, F_DROP, 4, 1),
	       ratio(SET_MIXED, F_DELIVER, 4, 1), ratio(SET_UNIFORM, F_NOMATCH, 4, 0),
	       ratio(SET_UNIFORM, F_DROP, 4, 0), ratio(SET_UNIFORM, F_DELIVER, 4, 0));
	printf("per group: mixed 5 rules (5 groups) / 1 rule (1 group): nomatch x%.2f, drop x%.2f, "
	       "deliver x%.2f\n",
	       ratio(SET_MIXED, F_NOMATCH, 1, 0), ratio(SET_MIXED, F_DROP, 1, 0),
	       ratio(SET_MIXED, F_DELIVER, 1, 0));
	printf("exact-match cache hit (the same flow again), median ns: uniform 1 rule nomatch %.0f, "
	       "drop %.0f, deliver %.0f; mixed 5 rules (5 groups) nomatch %.0f, drop %.0f, "
	       "deliver %.0f\n",
	       cached[SET_UNIFORM][0][F_NOMATCH].median, cached[SET_UNIFORM][0][F_DROP].median,
	       cached[SET_UNIFORM][0][F_DELIVER].median, cached[SET_MIXED][1][F_NOMATCH].median,
	       cached[SET_MIXED][1][F_DROP].median, cached[SET_MIXED][1][F_DELIVER].median);
	printf("the same hit with the fast path off (uniform 1 rule, median ns): nomatch %.0f, "
	       "drop %.0f, deliver %.0f; the fast path saves %.0f, %.0f, %.0f\n",
	       general[SET_UNIFORM][0][F_NOMATCH].median, general[SET_UNIFORM][0][F_DROP].median,
	       general[SET_UNIFORM][0][F_DELIVER].median,
	       general[SET_UNIFORM][0][F_NOMATCH].median - cached[SET_UNIFORM][0][F_NOMATCH].median,
	       general[SET_UNIFORM][0][F_DROP].median - cached[SET_UNIFORM][0][F_DROP].median,
	       general[SET_UNIFORM][0][F_DELIVER].median - cached[SET_UNIFORM][0][F_DELIVER].median);
	printf("trivial redirect-all program, deliver frame (%s): %.0f/%.0f/%.0f ns; xsnap with "
	       "1 rule: +%.0f ns (x%.2f) on a cache hit, +%.0f ns (x%.2f) on a miss\n",
	       live_refused ? "single runs" : "live", trivial.min, trivial.median, trivial.max,
	       cached[SET_UNIFORM][0][F_DELIVER].median - trivial.median,
	       cached[SET_UNIFORM][0][F_DELIVER].median / trivial.median,
	       cells[SET_UNIFORM][0][F_DELIVER].median - trivial.median,
	       cells[SET_UNIFORM][0][F_DELIVER].median / trivial.median);
}

static int write_json(const char *path)
{
	struct utsname u;
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	uname(&u);
	fprintf(f, "{\n  \"bench\": \"classify\",\n  \"kernel\": \"%s\",\n  \"cpus\": %ld,\n",
		u.release, sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(f,
		"  \"repeat\": %u,\n  \"runs\": %u,\n  \"quick\": %s,\n  \"unit\": \"ns/frame\",\n",
		opt.repeat, opt.runs, opt.quick ? "true" : "false");
	/* live: the deliver frame as live frames (redirect and socket copy
	 * included); single_runs: see time_frame() */
	fprintf(f, "  \"deliver_timing\": \"%s\",\n", live_refused ? "single_runs" : "live");
	fprintf(f, "  \"frames\": \"%s\",\n", opt.ipv6 ? "ipv6_udp" : "ipv4_udp");
	fprintf(f,
		"  \"trivial_redirect\": {\"frame\": \"deliver\", \"min\": %.1f, "
		"\"median\": %.1f, \"max\": %.1f},\n",
		trivial.min, trivial.median, trivial.max);
	fprintf(f, "  \"emc\": \"results: every lookup misses the exact-match cache (a new flow "
		   "per frame); cached: the same frame again, a hit\",\n  \"cached\": [\n");
	for (int set = 0; set < NSETS; set++)
		for (int w = 0; w < NFRAMES; w++) {
			const struct cell *c = &cached[set][set == SET_MIXED][w];

			fprintf(f,
				"    {\"set\": \"%s\", \"rules\": %u, \"groups\": %u, "
				"\"frame\": \"%s\", \"min\": %.1f, \"median\": %.1f, "
				"\"max\": %.1f, \"correct\": true}%s\n",
				set_names[set], c->nrules, c->ngroups, frame_names[w], c->min,
				c->median, c->max, set == NSETS - 1 && w == NFRAMES - 1 ? "" : ",");
		}
	fprintf(f, "  ],\n  \"general_path\": [\n");
	for (int w = 0; w < NFRAMES; w++) {
		const struct cell *c = &general[SET_UNIFORM][0][w];

		fprintf(f,
			"    {\"set\": \"%s\", \"rules\": %u, \"groups\": %u, \"frame\": \"%s\", "
			"\"min\": %.1f, \"median\": %.1f, \"max\": %.1f, \"correct\": true}%s\n",
			set_names[SET_UNIFORM], c->nrules, c->ngroups, frame_names[w], c->min,
			c->median, c->max, w == NFRAMES - 1 ? "" : ",");
	}
	fprintf(f, "  ],\n");
	fprintf(f, "  \"results\": [\n");
	for (int set = 0; set < NSETS; set++) {
		for (size_t si = 0; si < ARRAY_SIZE(sizes); si++) {
			for (int w = 0; w < NFRAMES; w++) {
				const struct cell *c = &cells[set][si][w], *one = &cells[set][0][w];
				bool last = set == NSETS - 1 && si == ARRAY_SIZE(sizes) - 1 &&
					    w == NFRAMES - 1;

				fprintf(f,
					"    {\"set\": \"%s\", \"rules\": %u, \"keys\": %u, "
					"\"groups\": %u, \"frame\": \"%s\", \"min\": %.1f, "
					"\"median\": %.1f, "
					"\"max\": %.1f, \"ratio_to_1_rule\": %.3f, "
					"\"ratio_to_same_groups\": %.3f, \"correct\": true}%s\n",
					set_names[set], c->nrules, c->nkeys, c->ngroups,
					frame_names[w], c->min, c->median, c->max,
					c->median / one->median,
					ratio(set, w, si, set == SET_MIXED && si ? 1 : 0),
					last ? "" : ",");
			}
		}
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f) ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench_classify [--quick] [--ipv6] [--repeat N] [--runs N] [-o FILE.json]\n"
		"  -q, --quick       a few seconds: repeat 20000, 3 runs (smoke test)\n"
		"  -6, --ipv6        IPv6/UDP frames instead of IPv4/UDP (the same rules)\n"
		"  -r, --repeat N    test runs per measurement (default 1000000)\n"
		"  -n, --runs N      measurements per cell, 3..%d (default 5)\n"
		"  -o, --output FILE write the results as JSON\n"
		"Root.  Prints ns per frame for 1, 5, 100, 1000 and 10000 rules.\n",
		MAX_RUNS);
}

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = { { "quick", no_argument, NULL, 'q' },
					    { "ipv6", no_argument, NULL, '6' },
					    { "repeat", required_argument, NULL, 'r' },
					    { "runs", required_argument, NULL, 'n' },
					    { "output", required_argument, NULL, 'o' },
					    { "help", no_argument, NULL, 'h' },
					    {} };
	bool repeat_set = false, runs_set = false;
	char *end;
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "q6r:n:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.quick = true;
			break;
		case '6':
			opt.ipv6 = true;
			break;
		case 'r':
		case 'n':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < (c == 'r' ? 1 : 3) ||
			    v > (c == 'r' ? 100000000 : MAX_RUNS)) {
				fprintf(stderr, "bench_classify: bad %s '%s'\n",
					c == 'r' ? "--repeat" : "--runs", optarg);
				return 2;
			}
			if (c == 'r') {
				opt.repeat = (unsigned int)v;
				repeat_set = true;
			} else {
				opt.runs = (unsigned int)v;
				runs_set = true;
			}
			break;
		case 'o':
			opt.json = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (opt.quick) {
		if (!repeat_set)
			opt.repeat = 20000;
		if (!runs_set)
			opt.runs = 3;
	}
	return 0;
}

static int silent(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	if (level == XSNAP_WARN)
		vfprintf(stderr, fmt, ap);
	return 0;
}

/* Install set @set with @n rules (rule 0 a drop rule when @drop0), check
 * it, time frames @w0..@w1 into round @run. */
static int measure(struct steer *s, int prog, struct lo_xsk *x, struct rule *rules, int set,
		   size_t si, bool drop0, int w0, int w1, unsigned int run)
{
	unsigned int n = sizes[si];
	struct xsnap_bank b;
	uint8_t f[128];
	uint32_t bank;
	int err;

	if (build_rules(set, n, drop0, rules))
		return -1;
	err = steer_apply(s, rules, n, ~0u);
	if (err) {
		fprintf(stderr, "bench_classify: %s, %u rules: %s\n", set_names[set], n,
			strerror(-err));
		return -1;
	}
	bank = s->cfg.bank;
	if (bpf_map_lookup_elem(s->groups_fd, &bank, &b))
		return -1;
	for (int w = w0; w <= w1; w++) {
		struct cell *c = &modes[cur_mode][set][si][w];
		size_t len = make_frame(w, f);

		if (check_frame(prog, rules, n, set, w))
			return -1;
		c->nrules = n;
		c->nkeys = s->bank_nkeys[bank];
		c->ngroups = b.ngroups;
		c->ns[run] = time_frame(prog, f, len, w == F_DELIVER, x);
		if (isnan(c->ns[run]))
			return -1;
	}
	return 0;
}

/* Every frame of one (set, size): rule 0 a drop rule (nomatch and drop
 * frames), then a deliver rule (deliver frame). */
static int measure_all(struct steer *s, int prog, struct lo_xsk *x, struct rule *rules, int set,
		       size_t si, unsigned int run)
{
	if (measure(s, prog, x, rules, set, si, true, F_NOMATCH, F_DROP, run))
		return -1;
	return measure(s, prog, x, rules, set, si, false, F_DELIVER, F_DELIVER, run);
}

int main(int argc, char **argv)
{
	struct rule *rules = calloc(sizes[ARRAY_SIZE(sizes) - 1], sizeof(*rules));
	struct bench_xdp triv = BENCH_XDP_INIT;
	struct lo_xsk x = { 0 };
	struct steer s, s2, s3;
	char why[256] = "";
	uint8_t f[128];
	size_t f_len;
	int err, fd, prog, prog2, prog3, ret = EXIT_FAILURE;

	err = parse_args(argc, argv);
	if (err)
		return err;
	if (!rules)
		return EXIT_FAILURE;
	if (geteuid() != 0) {
		fprintf(stderr, "bench_classify: needs root (BPF_PROG_TEST_RUN, AF_XDP, netns)\n");
		free(rules);
		return EXIT_FAILURE;
	}
	xsnap_set_print(silent);
	/* 1. a private netns and a socket to deliver into */
	fd = env_setup(&x);
	if (fd < 0) {
		fprintf(stderr, "bench_classify: private netns / AF_XDP socket on lo: %s\n",
			strerror(-fd));
		goto out;
	}
	/* 2. the program, as the library loads it */
	/*    three times: every lookup missing the exact-match cache (the
	 *    table), the cache as it runs, and that without the fast path */
	err = steer_open(&s, "lo", (int)if_nametoindex("lo"), NULL, STEER_EMC_MISS);
	if (!err) {
		err = steer_open(&s2, "lo", (int)if_nametoindex("lo"), NULL, 0);
		if (err)
			steer_close(&s);
	}
	if (!err) {
		err = steer_open(&s3, "lo", (int)if_nametoindex("lo"), NULL, STEER_NO_FAST);
		if (err) {
			steer_close(&s2);
			steer_close(&s);
		}
	}
	if (err) {
		fprintf(stderr, "bench_classify: loading the program: %s\n", strerror(-err));
		goto out;
	}
	prog = bpf_program__fd(s.skel->progs.xsnap_steer);
	prog2 = bpf_program__fd(s2.skel->progs.xsnap_steer);
	prog3 = bpf_program__fd(s3.skel->progs.xsnap_steer);
	err = steer_set_xsk(&s, 0, fd);
	if (!err)
		err = steer_set_xsk(&s2, 0, fd);
	if (!err)
		err = steer_set_xsk(&s3, 0, fd);
	if (err) {
		fprintf(stderr, "bench_classify: xsnap_xsks[0]: %s\n", strerror(-err));
		goto close;
	}
	/* 3. the floor: the same socket behind a trivial redirect-all program */
	err = bench_xdp_load_prog(&triv, true, why, sizeof(why));
	if (!err && bpf_map_update_elem(triv.map_fd, &(__u32){ 0 }, &fd, BPF_ANY))
		err = -errno;
	if (err) {
		fprintf(stderr, "bench_classify: trivial redirect program: %s\n",
			why[0] ? why : strerror(-err));
		goto close;
	}
	/* 4. can delivery be timed with live frames here? */
	{
		uint8_t d[128];
		size_t d_len = make_frame(F_DELIVER, d);
		struct xdp_md ctx = { .data_end = (__u32)d_len,
				      .ingress_ifindex = if_nametoindex("lo") };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = d, .data_size_in = (__u32)d_len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		live_refused = bpf_prog_test_run_opts(triv.prog_fd, &o) != 0;
		if (live_refused)
			fprintf(stderr, "bench_classify: this kernel refuses live-frames test runs (%s): "
					"deliver is timed in single runs, without the socket's copy\n",
				strerror(errno));
		else
			xsk_recycle(&x);
	}
	/* 5. rounds: every (set, size) installed, checked and timed once per round */
	for (unsigned int run = 0; run < opt.runs; run++) {
		for (int set = 0; set < NSETS; set++) {
			for (size_t si = 0; si < ARRAY_SIZE(sizes); si++) {
				cur_mode = 0;
				if (measure_all(&s, prog, &x, rules, set, si, run))
					goto close;
				if (si > 1)
					continue;
				cur_mode = 1;
				if (measure_all(&s2, prog2, &x, rules, set, si, run))
					goto close;
				if (set != SET_UNIFORM || si != 0)
					continue;
				cur_mode = 2;
				if (measure_all(&s3, prog3, &x, rules, set, si, run))
					goto close;
			}
		}
		f_len = make_frame(F_DELIVER, f);
		trivial.ns[run] = time_frame(triv.prog_fd, f, f_len, true, &x);
		if (isnan(trivial.ns[run]))
			goto close;
		if (!opt.quick)
			fprintf(stderr, "bench_classify: round %u/%u done\n", run + 1, opt.runs);
	}
	for (int set = 0; set < NSETS; set++)
		for (size_t si = 0; si < ARRAY_SIZE(sizes); si++)
			for (int w = 0; w < NFRAMES; w++)
				for (int mode = 0; mode < 3; mode++)
					if (mode == 0 || (mode == 1 && si <= 1) ||
					    (mode == 2 && set == SET_UNIFORM && si == 0))
						summarise(&modes[mode][set][si][w]);
	summarise(&trivial);
	print_table();
	if (opt.json && write_json(opt.json))
		goto close;
	ret = EXIT_SUCCESS;
close:
	bench_xdp_close(&triv);
	steer_close(&s3);
	steer_close(&s2);
	steer_close(&s);
out:
	lo_xsk_close(&x);
	free(rules);
	return ret;
}
