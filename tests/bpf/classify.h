/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the classifier tests of tests/bpf/ share (test_classify.c,
 * test_rulesets.c): a private network namespace with an AF_XDP socket on
 * lo, the program loaded and fed the way libxsnap does it (steer_open(),
 * steer_apply()), the model of what the program must do with a frame (how
 * tests/lib/oracle.h, a parser written apart from bpf/xsnap_parse.h, reads
 * it, plus rule_ref_classify()), and a comparison of a test run against it.  Header-only: each test program is
 * built on its own.
 */
#ifndef XSNAP_TEST_CLASSIFY_H
#define XSNAP_TEST_CLASSIFY_H

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include "lo_xsk.h"
#include "oracle.h"
#include "testlib.h"
#include "rule.h"
#include "xsnap_internal.h"
#include "xsnap_parse.h"
#include "xsnap_steer.skel.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define META_LEN ((int)sizeof(struct xsnap_meta))
#define MAX_LEN 9600		/* longest frame handled (corpus: 9000) */
#define MAX_CORPUS 256
#define XSK_NFRAMES 64
#define ETH_MIN 14		/* test runs refuse shorter frames (TESTING.md E16) */

/* ---- environment: private netns, a socket on lo --------------------------- */

static struct lo_xsk proc_xsk __attribute__((unused));

static inline void need_root(void)
{
	if (geteuid() != 0)
		SKIP("needs root (BPF_PROG_TEST_RUN, AF_XDP, network namespace)");
}

static inline void xsk_close(void)
{
	lo_xsk_close(&proc_xsk);
}

/* Private netns with lo up and a copy-mode socket on lo queue 0; the
 * socket's fd, or -errno. */
static inline int env_socket(void)
{
	int err;

	if (proc_xsk.sock)
		return xsk_socket__fd(proc_xsk.sock);
	err = lo_netns_enter();
	if (!err)
		err = lo_xsk_open(&proc_xsk, XSK_NFRAMES);
	if (err)
		return err;
	atexit(xsk_close);
	return xsk_socket__fd(proc_xsk.sock);
}

/* ---- the program as libxsnap loads it -------------------------------------- */

struct fx {
	struct steer s;
	int prog;
	uint32_t lin_max;	/* longest frame a test run hands over in one buffer */
};

static inline void fx_close(struct fx *fx)
{
	steer_close(&fx->s);
}

/* Load with steer_open() @flags, bind the socket into xsnap_xsks[0].  0, or
 * -1 (failure recorded). */
static inline int fx_open_flags(struct fx *fx, unsigned int flags)
{
	int fd, err;

	need_root();
	memset(fx, 0, sizeof(*fx));
	fd = env_socket();
	if (fd == -EAFNOSUPPORT)
		SKIP("kernel without AF_XDP");
	if (fd < 0) {
		fprintf(stderr, "private netns / AF_XDP socket on lo: %s\n", strerror(-fd));
		test_failed = 1;
		return -1;
	}
	err = steer_open(&fx->s, "lo", (int)if_nametoindex("lo"), NULL, flags);
	if (err) {
		fprintf(stderr, "steer_open: %s\n", strerror(-err));
		test_failed = 1;
		return -1;
	}
	fx->prog = bpf_program__fd(fx->s.skel->progs.xsnap_steer);
	err = steer_set_xsk(&fx->s, 0, fd);
	if (err) {
		fprintf(stderr, "xsnap_xsks[0]: %s\n", strerror(-err));
		test_failed = 1;
		fx_close(fx);
		return -1;
	}
	return 0;
}

static inline int fx_open(struct fx *fx)
{
	return fx_open_flags(fx, 0);
}

/* Compile and apply @n match strings (prio, tenant per entry) through the
 * library's steer_apply().  Returns its result. */
struct rspec {
	const char *match;
	uint32_t prio, tenant;
};

static inline int apply_specs(struct fx *fx, const struct rspec *sp, unsigned int n,
			      struct rule *rules)
{
	char err[256];

	for (unsigned int i = 0; i < n; i++) {
		rules[i] = (struct rule){ .id = i + 1, .prio = sp[i].prio, .tenant = sp[i].tenant };
		if (rule_parse(sp[i].match, &rules[i], err, sizeof(err))) {
			fprintf(stderr, "rule '%s': %s\n", sp[i].match, err);
			test_failed = 1;
			return -EINVAL;
		}
	}
	return steer_apply(&fx->s, rules, n, ~0u);
}

/* ---- the model --------------------------------------------------------------- */

struct world {
	const struct rule *rules;
	unsigned int n;
	uint32_t lin_max;
	uint32_t max_frame;	/* rodata xsnap_max_frame */
};

struct model {
	int einval;		/* the test run refuses the frame */
	uint32_t action;	/* XDP_* */
	uint32_t reason;	/* final XSNAP_R_* */
	int frag;		/* XSNAP_R_FRAGMENT counted too */
	uint32_t extra;		/* bit k: XSNAP_R_k counted too (fragment, bad_l4,
				 * tiny_frag, l4_unknown: how the frame was read) */
	struct xsnap_meta meta;	/* XDP_REDIRECT: what must be in front (no rx_ns) */
};

/* How much reason counter @k must move for a frame of model @m. */
static inline uint64_t model_count(const struct model *m, uint32_t k)
{
	return (k == m->reason) + !!(m->extra & (1u << k));
}

/* The oracle's reading of a frame as the parser's structure (what the
 * reference classifier takes). */
static inline void model_pkt(const struct oracle_pkt *o, struct xsnap_pkt *p)
{
	memset(p, 0, sizeof(*p));
	p->l3_proto = (__u8)o->l3_proto;
	p->proto = (__u8)o->proto;
	p->vlan = (__u16)o->vlan;
	p->nvlan = (__u8)o->nvlan;
	p->l3_off = (__u16)o->l3_off;
	p->l4_off = (__u16)o->l4_off;
	memcpy(p->src, o->src, 16);
	memcpy(p->dst, o->dst, 16);
	p->frag = (__u8)o->frag;
	p->ports = (__u8)o->ports;
	p->sport = htons((uint16_t)o->sport);
	p->dport = htons((uint16_t)o->dport);
	p->l4_bad = (__u8)o->l4_bad;
	p->tiny_frag = (__u8)o->tiny_frag;
	p->l4_unknown = (__u8)o->l4_unknown;
}

/* What the program must do with @b: the documented semantics, spelled out
 * (the frame read by the oracle, not by the parser under test). */
static inline void model_frame(const struct world *w, const uint8_t *b, size_t len, struct model *m)
{
	static const uint32_t act[] = { XDP_REDIRECT, XDP_DROP, XDP_PASS };
	static const uint32_t why[] = { XSNAP_R_DELIVER, XSNAP_R_RULE_DROP, XSNAP_R_RULE_PASS };
	struct rule_frame rf;
	struct oracle_pkt o;
	struct xsnap_pkt p;
	uint32_t mask, id;
	int err, ref;

	memset(m, 0, sizeof(*m));
	m->action = XDP_PASS;
	if (len < ETH_MIN) {
		m->einval = 1;
		return;
	}
	if (len > w->lin_max) {
		m->reason = XSNAP_R_TOO_BIG;	/* several buffers: not classified */
		return;
	}
	err = oracle_parse(b, len, &o);
	if (err) {
		m->reason = (uint32_t)-err;
		return;
	}
	model_pkt(&o, &p);
	m->frag = p.frag;
	m->extra = (uint32_t)p.frag << XSNAP_R_FRAGMENT | (uint32_t)p.l4_bad << XSNAP_R_BAD_L4 |
		   (uint32_t)p.tiny_frag << XSNAP_R_TINY_FRAG |
		   (uint32_t)p.l4_unknown << XSNAP_R_L4_UNKNOWN;
	rule_frame_of_pkt(&p, &rf);
	ref = rule_ref_classify(w->rules, w->n, &rf, &mask, &id);
	if (ref < 0) {
		m->reason = XSNAP_R_NOMATCH;
		return;
	}
	m->action = act[ref];
	m->reason = why[ref];
	if (ref != XSNAP_ACT_DELIVER)
		return;
	if (w->max_frame && len > w->max_frame) {
		m->action = XDP_PASS;
		m->reason = XSNAP_R_TOO_BIG;
		return;
	}
	m->meta.tenant_mask = mask;
	m->meta.rule_id = id;
	m->meta.flow_hash = 0;	/* the engine's (see xsnap_parse()) */
	m->meta.l3_off = p.l3_off;
	m->meta.l4_off = p.l4_off;
	m->meta.vlan = p.vlan;
	m->meta.l4_proto = p.l4_off ? p.proto : 0;	/* no header to read: 0 */
	m->meta.l3_proto = p.l3_proto;
	m->meta.magic = XSNAP_META_MAGIC;
}

/* ---- running and comparing -------------------------------------------------- */

static uint8_t out_buf[MAX_LEN + 256] __attribute__((unused));

struct result {
	int err;
	uint32_t retval;
	uint32_t out_len;
};

static inline void run(int prog, const uint8_t *b, size_t len, struct result *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = b, .data_size_in = (__u32)len,
		    .data_out = out_buf, .data_size_out = sizeof(out_buf), .repeat = 1);

	r->err = bpf_prog_test_run_opts(prog, &opts);
	r->retval = opts.retval;
	r->out_len = opts.data_size_out;
}

/* Does the run agree with the model?  Says how not into @why. */
static inline bool agrees(const struct model *m, const uint8_t *b, size_t len,
			  const struct result *r, char *why, size_t wlen)
{
	struct xsnap_meta got;

	if (m->einval) {
		if (r->err != -EINVAL)
			snprintf(why, wlen, "test run gave %d, expected -EINVAL", r->err);
		return r->err == -EINVAL;
	}
	if (r->err) {
		snprintf(why, wlen, "test run failed: %s", strerror(-r->err));
		return false;
	}
	if (r->retval != m->action) {
		snprintf(why, wlen, "verdict %u, model %u (reason %u)", r->retval, m->action,
			 m->reason);
		return false;
	}
	if (m->action != XDP_REDIRECT) {
		if (r->out_len != len || memcmp(out_buf, b, len)) {
			snprintf(why, wlen, "frame changed (out %u bytes)", r->out_len);
			return false;
		}
		return true;
	}
	if (r->out_len != len + META_LEN || memcmp(out_buf + META_LEN, b, len)) {
		snprintf(why, wlen, "redirected frame: %u bytes out, or changed", r->out_len);
		return false;
	}
	memcpy(&got, out_buf, sizeof(got));
	got.rx_ns = 0;
	if (memcmp(&got, &m->meta, sizeof(got))) {
		snprintf(why, wlen,
			 "metadata: mask 0x%x/0x%x id %u/%u hash 0x%x/0x%x l3 %u/%u l4 %u/%u vlan "
			 "%u/%u proto %u/%u fam %u/%u magic 0x%x (got/model)",
			 got.tenant_mask, m->meta.tenant_mask, got.rule_id, m->meta.rule_id,
			 got.flow_hash, m->meta.flow_hash, got.l3_off, m->meta.l3_off, got.l4_off,
			 m->meta.l4_off, got.vlan, m->meta.vlan, got.l4_proto, m->meta.l4_proto,
			 got.l3_proto, m->meta.l3_proto, got.magic);
		return false;
	}
	return true;
}

static inline void counters(struct fx *fx, uint64_t c[XSNAP_R_MAX])
{
	CHECK_EQ(steer_counters(&fx->s, c), 0);
}

static inline void hexdump(const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len && i < 128; i++)
		fprintf(stderr, "%02x%s", b[i], (i % 32 == 31) ? "\n" : " ");
	fprintf(stderr, "%s", len % 32 ? "\n" : "");
}

/*
 * The longest frame the kernel's test run hands to the program in one
 * buffer (one page minus headroom and skb_shared_info; longer frames get
 * fragments).  Found by bisection on a frame the rule "udp action drop"
 * drops: linear frames are dropped, the others passed (XSNAP_R_TOO_BIG).
 * Leaves that rule applied.
 */
static inline uint32_t probe_lin_max(struct fx *fx)
{
	static const struct rspec udp = { "udp action drop", 1, 0 };
	uint32_t lo = 1000, hi = 8192;	/* lo dropped, hi not */
	static uint8_t f[8192];
	struct result res;
	struct rule r;

	if (apply_specs(fx, &udp, 1, &r)) {
		test_failed = 1;
		return 0;
	}
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;

		memset(f, 0, mid);
		f[12] = 0x08;
		f[14] = 0x45;
		f[16] = (uint8_t)((mid - 14) >> 8);
		f[17] = (uint8_t)(mid - 14);
		f[23] = 17;
		f[14 + 20 + 4] = (uint8_t)((mid - 34) >> 8);
		f[14 + 20 + 5] = (uint8_t)(mid - 34);
		run(fx->prog, f, mid, &res);
		if (res.err || (res.retval != XDP_DROP && res.retval != XDP_PASS)) {
			test_failed = 1;
			return 0;
		}
		if (res.retval == XDP_DROP)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keys per bank in the rule map. */
static inline void keys_per_bank(int fd, unsigned int nk[2])
{
	struct xsnap_rule_key k, next;
	void *prev = NULL;

	nk[0] = nk[1] = 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		nk[next.bank & 1]++;
		k = next;
		prev = &k;
	}
}

#endif
