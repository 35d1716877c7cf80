// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The classifier against its reference, on bad input (TESTING.md A1-A15).
 *
 * The program is loaded the way libxsnap loads it (steer_open(), so with
 * the load-time knobs the library sets) and rules go in through
 * steer_apply(), the library's own bank flip with port class tables.  Each
 * frame is then run through the program with BPF_PROG_TEST_RUN and through
 * the model (classify.h), which is an oracle written apart from the parser
 * (bpf/xsnap_parse.h) plus the rule-by-rule reference classifier
 * (rule_ref_classify(), which shares no code with the keys the program
 * looks up).  Verdict, reason counter, tenant set and every metadata field
 * must agree, frame by frame.
 *
 * Inputs: the committed corpus, tests/bpf/corpus/NNN-*.bin (made by
 * gen_corpus.py; the file name carries what the parser must make of the
 * frame), and a seeded mutation fuzzer over that corpus with random rule
 * sets derived from the corpus frames, so that matches, near misses and
 * range edges all occur.  The fuzzer prints "fuzz: N frames, M mismatches,
 * seed S"; XSNAP_TEST_SEED=N and XSNAP_FUZZ_FRAMES=N change it.
 *
 * Test runs cannot be redirected for real, but the verdict is returned and
 * data_out starts at data_meta, so the metadata is checked there.  A
 * deliver verdict needs an AF_XDP socket in xsnap_xsks: the process moves
 * into a private network namespace and binds a copy-mode socket to lo.
 * Root is needed; without it every case skips.  Rule changes, reasons and
 * scale: test_rulesets.c.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "classify.h"
#include "summary.h"

/* ---- the corpus ------------------------------------------------------------------ */

struct cframe {
	char name[160];
	uint8_t *b;
	size_t len;
	int expect;		/* 0 (parsed) or an XSNAP_R_* parse reason */
	uint32_t extra;		/* parsed: the reason bits of how (pkt_extra()) */
	unsigned int ei;	/* index in expect_names[] */
};

static struct cframe corpus[MAX_CORPUS];
static unsigned int ncorpus;

/*
 * What a file name's EXPECT says: parsed (how: a non-first fragment, an
 * unreadable L4 header, a tiny first fragment, an unknown L4; each counted
 * in addition to the verdict's reason), or refused with a reason.
 */
static const struct {
	const char *name;
	int reason;
	uint32_t extra;
} expect_names[] = {
	{ "ok", 0, 0 },
	{ "frag", 0, 1u << XSNAP_R_FRAGMENT },
	{ "bad_l4", 0, 1u << XSNAP_R_BAD_L4 },
	{ "tiny_frag", 0, 1u << XSNAP_R_TINY_FRAG },
	{ "l4_unknown", 0, 1u << XSNAP_R_L4_UNKNOWN },
	{ "short_l2", XSNAP_R_SHORT_L2, 0 },
	{ "non_ip", XSNAP_R_NON_IP, 0 },
	{ "vlan_deep", XSNAP_R_VLAN_DEEP, 0 },
	{ "bad_l3", XSNAP_R_BAD_L3, 0 },
	{ "ipv6_ext", XSNAP_R_IPV6_EXT, 0 },
};

/* The reason bits of how a parsed frame was read. */
static uint32_t pkt_extra(const struct xsnap_pkt *p)
{
	return (uint32_t)p->frag << XSNAP_R_FRAGMENT | (uint32_t)p->l4_bad << XSNAP_R_BAD_L4 |
	       (uint32_t)p->tiny_frag << XSNAP_R_TINY_FRAG |
	       (uint32_t)p->l4_unknown << XSNAP_R_L4_UNKNOWN;
}

/* tests/bpf/corpus of the source tree: $XSNAP_ROOT (set by tests/run.sh),
 * else three levels above this program (build/tests/bpf/). */
static int corpus_dir(char *dir, size_t len)
{
	const char *root = getenv("XSNAP_ROOT");
	char exe[2048];
	ssize_t n;

	if (root) {
		snprintf(dir, len, "%s/tests/bpf/corpus", root);
		if (!access(dir, R_OK))
			return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return -1;
		*slash = '\0';
	}
	snprintf(dir, len, "%s/tests/bpf/corpus", exe);
	return access(dir, R_OK) ? -1 : 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cframe *)a)->name, ((const struct cframe *)b)->name);
}

/* Load every NNN-CLASS-WHAT.EXPECT.bin once per process. */
static int corpus_load(void)
{
	char dir[4096], path[4400];
	struct dirent *e;
	DIR *d;

	if (ncorpus)
		return 0;
	if (corpus_dir(dir, sizeof(dir))) {
		fprintf(stderr, "corpus directory tests/bpf/corpus not found (set XSNAP_ROOT)\n");
		return -1;
	}
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d)) && ncorpus < MAX_CORPUS) {
		struct cframe *c = &corpus[ncorpus];
		size_t nl = strlen(e->d_name);
		char *dot;
		FILE *f;

		if (nl < 5 || strcmp(e->d_name + nl - 4, ".bin"))
			continue;
		snprintf(c->name, sizeof(c->name), "%s", e->d_name);
		dot = strrchr(c->name, '.');
		*dot = '\0';
		dot = strrchr(c->name, '.');
		if (!dot) {
			fprintf(stderr, "corpus file %s: no .EXPECT in the name\n", e->d_name);
			closedir(d);
			return -1;
		}
		c->expect = -1;
		for (size_t i = 0; i < ARRAY_SIZE(expect_names); i++) {
			if (!strcmp(dot + 1, expect_names[i].name)) {
				c->expect = expect_names[i].reason;
				c->extra = expect_names[i].extra;
				c->ei = i;
			}
		}
		if (c->expect < 0) {
			fprintf(stderr, "corpus file %s: unknown expectation '%s'\n", e->d_name,
				dot + 1);
			closedir(d);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		c->b = malloc(MAX_LEN);
		f = fopen(path, "rb");
		if (!c->b || !f) {
			if (f)
				fclose(f);
			closedir(d);
			return -1;
		}
		c->len = fread(c->b, 1, MAX_LEN, f);
		fclose(f);
		ncorpus++;
	}
	closedir(d);
	qsort(corpus, ncorpus, sizeof(corpus[0]), name_cmp);
	return ncorpus ? 0 : -1;
}

/* The rule set the corpus runs under: every term, ranges, all three actions. */
static const struct rspec corpus_rules[] = {
	{ "udp dst port 9000", 10, 0 },
	{ "udp dst port 8990-9010", 20, 1 },
	{ "tcp dst port 1-1023", 10, 2 },
	{ "udp src port 40000-40010 and dst port 53", 5, 3 },
	{ "udp dst port 53 and ip dst 10.0.0.0/8 action drop", 8, 0 },
	{ "ip dst 10.2.0.0/16 and tcp", 30, 4 },
	{ "ip6 dst 2001:db8::/32", 30, 5 },
	{ "vlan 100", 15, 6 },
	{ "vlan 300 and udp action pass", 1, 0 },
	{ "icmp", 40, 7 },
	{ "icmp6", 40, 7 },
	{ "ip dst 192.168.0.0/16 action drop", 2, 0 },
	{ "tcp src port 50000-65535 and ip dst 10.2.0.1", 12, 8 },
	{ "udp dst port 20000-29999 and ip src 10.0.0.0/8", 25, 9 },
	{ "udp dst port 65535", 3, 10 },
	{ "ip6 src 2001:db8::/48 and tcp dst port 22 action pass", 4, 0 },
	{ "tcp dst port 22 and ip dst 10.2.0.0/16 action drop", 6, 0 },
	{ "udp dst port 9999 and ip6 dst 2001:db8:0:1::/64 action drop", 7, 0 },
};

#define NCORPUS_RULES ARRAY_SIZE(corpus_rules)

/*
 * Every corpus frame: the parser's result matches the file name, and the
 * program matches the model, including the exact reason counter.
 */
TEST(corpus)
{
	struct rule rules[NCORPUS_RULES];
	unsigned int seen[XSNAP_R_MAX] = { 0 }, seen_extra[XSNAP_R_MAX] = { 0 };
	unsigned int nexpect[ARRAY_SIZE(expect_names)] = { 0 };
	unsigned int nframes = 0, nrange = 0, nmis = 0;
	struct world w = { rules, NCORPUS_RULES, 0, 0 };
	struct fx fx;

	if (fx_open(&fx))
		return;
	w.max_frame = fx.s.skel->rodata->xsnap_max_frame;
	REQUIRE(corpus_load() == 0);
	w.lin_max = probe_lin_max(&fx);
	REQUIRE(w.lin_max > 1000);
	REQUIRE(apply_specs(&fx, corpus_rules, NCORPUS_RULES, rules) == 0);
	for (unsigned int i = 0; i < ncorpus; i++) {
		const struct cframe *c = &corpus[i];
		uint64_t before[XSNAP_R_MAX], after[XSNAP_R_MAX];
		struct xsnap_pkt p;
		struct result r;
		struct model m;
		char why[512] = "";
		int perr;

		/* the file name's expectation, on the whole frame */
		perr = xsnap_parse(c->b, c->b + c->len, &p);
		if (-perr != c->expect || (!perr && pkt_extra(&p) != c->extra)) {
			fprintf(stderr, "%s: parser says %d, read as 0x%x\n", c->name, perr,
				perr ? 0 : pkt_extra(&p));
			test_failed = 1;
		}
		nexpect[c->ei]++;

		model_frame(&w, c->b, c->len, &m);
		counters(&fx, before);
		run(fx.prog, c->b, c->len, &r);
		counters(&fx, after);
		nframes++;
		if (!agrees(&m, c->b, c->len, &r, why, sizeof(why))) {
			fprintf(stderr, "%s (%zu bytes): %s\n", c->name, c->len, why);
			hexdump(c->b, c->len);
			test_failed = 1;
			nmis++;
			continue;
		}
		if (m.einval)
			continue;
		for (uint32_t k = 0; k < XSNAP_R_MAX; k++) {
			uint64_t want = model_count(&m, k);

			seen_extra[k] += !!(m.extra & (1u << k));
			if (after[k] - before[k] != want) {
				fprintf(stderr, "%s: counter %s moved by %llu, expected %llu\n",
					c->name, xsnap_reason_str(k),
					(unsigned long long)(after[k] - before[k]),
					(unsigned long long)want);
				test_failed = 1;
			}
		}
		seen[m.reason]++;
		if (m.action == XDP_REDIRECT && (m.meta.rule_id == 2 || m.meta.rule_id == 3 ||
						 m.meta.rule_id == 13 || m.meta.rule_id == 14))
			nrange++;
	}
	printf("corpus: %u frames (linear up to %u bytes in a test run), %u mismatches; "
	       "reasons:",
	       nframes, w.lin_max, nmis);
	for (uint32_t k = 0; k < XSNAP_R_MAX; k++)
		if (seen[k])
			printf(" %s %u", xsnap_reason_str(k), seen[k]);
	printf("\n");
	summary_put("corpus", "%u frames, %u mismatches", nframes, nmis);
	/* the corpus covers what TESTING.md group A asks for */
	CHECK(nframes >= 80);
	for (size_t k = 0; k < ARRAY_SIZE(expect_names); k++) {
		if (!nexpect[k])
			fprintf(stderr, "no corpus frame expects '%s'\n", expect_names[k].name);
		CHECK(nexpect[k] > 0);
	}
	static const uint32_t must[] = { XSNAP_R_DELIVER,  XSNAP_R_NOMATCH,  XSNAP_R_RULE_PASS,
					 XSNAP_R_RULE_DROP, XSNAP_R_SHORT_L2, XSNAP_R_NON_IP,
					 XSNAP_R_VLAN_DEEP, XSNAP_R_BAD_L3,   XSNAP_R_IPV6_EXT,
					 XSNAP_R_TOO_BIG };
	static const uint32_t must_extra[] = { XSNAP_R_FRAGMENT, XSNAP_R_BAD_L4,
					       XSNAP_R_TINY_FRAG, XSNAP_R_L4_UNKNOWN };
	for (size_t k = 0; k < ARRAY_SIZE(must); k++) {
		if (!seen[must[k]])
			fprintf(stderr, "no corpus frame ended as '%s'\n",
				xsnap_reason_str(must[k]));
		CHECK(seen[must[k]] > 0);
	}
	for (size_t k = 0; k < ARRAY_SIZE(must_extra); k++) {
		if (!seen_extra[must_extra[k]])
			fprintf(stderr, "no corpus frame counted '%s'\n",
				xsnap_reason_str(must_extra[k]));
		CHECK(seen_extra[must_extra[k]] > 0);
	}
	CHECK(nrange >= 3);
	fx_close(&fx);
}

/* ---- the fuzzer ------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);	/* splitmix64 */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

/* Parsed well-formed corpus frames: where rules and mutations start from. */
struct seed {
	const struct cframe *c;
	struct xsnap_pkt p;
};

static struct seed seeds[MAX_CORPUS];
static unsigned int nseeds;

static void seeds_init(void)
{
	nseeds = 0;
	for (unsigned int i = 0; i < ncorpus; i++) {
		struct seed *s = &seeds[nseeds];

		if (corpus[i].len < ETH_MIN || corpus[i].len > 1600)
			continue;
		if (xsnap_parse(corpus[i].b, corpus[i].b + corpus[i].len, &s->p))
			continue;
		s->c = &corpus[i];
		nseeds++;
	}
}

/* A rule shape: which terms, prefix lengths, and whether ports are ranges. */
struct tmpl {
	bool proto, sport, dport, src, dst, vlan, srange, drange;
	uint8_t fam, splen, dplen;
};

static void rnd_tmpl(struct tmpl *t)
{
	memset(t, 0, sizeof(*t));
	t->fam = rn(3) ? 0 : (rn(3) ? 4 : 6);
	if (t->fam) {
		t->src = rn(2);
		t->dst = !t->src || rn(2);
		t->splen = rn(t->fam == 4 ? 33 : 129);
		t->dplen = rn(t->fam == 4 ? 33 : 129);
		if (rn(2))
			t->splen = (uint8_t[]){ 8, 16, 24, 32 }[rn(4)] * (t->fam == 4 ? 1 : 2);
	}
	t->sport = rn(3) == 0;
	t->dport = rn(3) != 0;
	t->proto = t->sport || t->dport || rn(2);
	t->srange = t->sport && rn(2);
	t->drange = t->dport && rn(2);
	t->vlan = rn(5) == 0;
}

/* Append a port term matching (usually) @port to @m. */
static void port_term(char *m, size_t len, const char *dir, uint16_t port, bool range)
{
	size_t o = strlen(m);

	if (!port || rn(5) == 0)
		port = 1 + rn(65535);
	if (!range) {
		snprintf(m + o, len - o, " and %s port %u", dir, port);
		return;
	}
	uint32_t w = (uint32_t[]){ 1, 2, 10, 100, 1000, 30000 }[rn(6)];
	uint32_t lo = port > w / 2 ? port - rn(w / 2 + 1) : 1;
	uint32_t hi = lo + w > 65535 ? 65535 : lo + w;

	if (hi == lo)
		lo--;
	snprintf(m + o, len - o, " and %s port %u-%u", dir, lo, hi);
}

static void addr_term(char *m, size_t len, const char *dir, uint8_t fam, const uint8_t *a,
		      uint8_t plen)
{
	char text[INET6_ADDRSTRLEN];
	uint8_t b[16];
	size_t o = strlen(m);

	memcpy(b, a, 16);
	if (rn(4) == 0)
		b[rn(fam == 4 ? 4 : 16)] ^= (uint8_t)(1 << rn(8));	/* a near miss */
	inet_ntop(fam == 4 ? AF_INET : AF_INET6, b, text, sizeof(text));
	snprintf(m + o, len - o, " and %s %s %s/%u", fam == 4 ? "ip" : "ip6", dir, text, plen);
}

/* One rule of shape @t, usually matching seed @s; written in the match
 * language and parsed, so the parser is exercised too. */
static int rnd_rule(const struct tmpl *t, const struct seed *s, struct rule *r, uint32_t id)
{
	const struct xsnap_pkt *p = &s->p;
	char m[256] = "", err[256];
	uint32_t a = rn(20);

	if (t->proto) {
		const char *proto = "udp";

		if (t->sport || t->dport)
			proto = p->proto == IPPROTO_TCP ? "tcp" : "udp";
		else if (p->proto == IPPROTO_TCP)
			proto = "tcp";
		else if (p->proto == IPPROTO_ICMP && t->fam != 6)
			proto = "icmp";
		else if (p->proto == IPPROTO_ICMPV6 && t->fam != 4)
			proto = "icmp6";
		snprintf(m, sizeof(m), "%s", proto);
	}
	if (t->sport)
		port_term(m, sizeof(m), "src", p->ports ? ntohs(p->sport) : 0, t->srange);
	if (t->dport)
		port_term(m, sizeof(m), "dst", p->ports ? ntohs(p->dport) : 0, t->drange);
	if (t->fam) {
		uint8_t any[16] = { 10, 0, 0, 1 };
		bool same = p->l3_proto == t->fam;

		if (t->fam == 6)
			memcpy(any, (uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }, 4);
		if (t->src)
			addr_term(m, sizeof(m), "src", t->fam, same ? p->src : any, t->splen);
		if (t->dst)
			addr_term(m, sizeof(m), "dst", t->fam, same ? p->dst : any, t->dplen);
	}
	if (t->vlan) {
		size_t o = strlen(m);

		snprintf(m + o, sizeof(m) - o, " and vlan %u",
			 p->nvlan && rn(4) ? p->vlan : rn(4096));
	}
	if (!m[0])
		snprintf(m, sizeof(m), "udp");
	if (a >= 17)
		strcat(m, a == 19 ? " action pass" : " action drop");
	*r = (struct rule){ .id = id, .prio = rn(8) * 10, .tenant = rn(8) };
	if (rule_parse(m[0] == ' ' ? m + 5 : m, r, err, sizeof(err))) {
		fprintf(stderr, "generated rule '%s': %s\n", m, err);
		test_failed = 1;
		return -1;
	}
	return 0;
}

/* Offset of the L3 header after up to 4 VLAN tags, and its ethertype. */
static size_t l3_of(const uint8_t *b, size_t len, uint16_t *type)
{
	size_t off = 12;

	for (int i = 0; i < 5 && off + 2 <= len; i++) {
		*type = (uint16_t)(b[off] << 8 | b[off + 1]);
		if (*type != 0x8100 && *type != 0x88a8)
			return off + 2;
		off += 4;
	}
	*type = 0;
	return len;
}

static void put16(uint8_t *b, size_t len, size_t off, uint16_t v)
{
	if (off + 2 <= len) {
		b[off] = (uint8_t)(v >> 8);
		b[off + 1] = (uint8_t)v;
	}
}

static uint16_t get16(const uint8_t *b, size_t len, size_t off)
{
	return off + 2 <= len ? (uint16_t)(b[off] << 8 | b[off + 1]) : 0;
}

static size_t insert(uint8_t *b, size_t len, size_t off, const uint8_t *what, size_t n)
{
	if (off > len || len + n > MAX_LEN)
		return len;
	memmove(b + off + n, b + off, len - off);
	memcpy(b + off, what, n);
	return len + n;
}

/* A value near @v, or one of the edges of the field. */
static uint16_t fuzz16(uint16_t v)
{
	switch (rn(5)) {
	case 0:
		return (uint16_t)rnd();
	case 1:
		return 0;
	case 2:
		return 0xffff;
	default:
		return (uint16_t)(v + (int)rn(17) - 8);
	}
}

/* L4 header offset of an IPv4/IPv6 frame at @l3, and its protocol. */
static size_t l4_of(const uint8_t *b, size_t len, size_t l3, uint16_t type, uint8_t *proto)
{
	if (type == 0x0800 && l3 + 20 <= len) {
		*proto = b[l3 + 9];
		return l3 + (b[l3] & 0x0f) * 4;
	}
	if (type == 0x86dd && l3 + 40 <= len) {
		*proto = b[l3 + 6];
		return l3 + 40;
	}
	*proto = 0;
	return len;
}

/* One random change to the frame; returns the new length. */
static size_t mutate_once(uint8_t *b, size_t len, const struct rule *rules, unsigned int n)
{
	uint16_t type;
	size_t l3 = l3_of(b, len, &type), l4;
	uint8_t proto, tag[8];

	l4 = l4_of(b, len, l3, type, &proto);
	switch (rn(13)) {
	case 0:	/* bit flips in the headers */
		for (uint32_t k = 1 + rn(4); k; k--)
			b[rn(len < 96 ? len : 96)] ^= (uint8_t)(1 << rn(8));
		break;
	case 1:	/* a bit flip anywhere */
		b[rn(len)] ^= (uint8_t)(1 << rn(8));
		break;
	case 2:	/* truncation, mostly inside the headers */
		len = ETH_MIN + rn((len - ETH_MIN < 90 ? len - ETH_MIN : 90) + 1);
		break;
	case 3:	/* IPv4 total length / IHL, IPv6 payload length */
		if (type == 0x0800) {
			if (rn(3))
				put16(b, len, l3 + 2, fuzz16(get16(b, len, l3 + 2)));
			else if (l3 < len)
				b[l3] = (uint8_t)((b[l3] & 0xf0) | rn(16));
		} else if (type == 0x86dd) {
			put16(b, len, l3 + 4, fuzz16(get16(b, len, l3 + 4)));
		}
		break;
	case 4:	/* UDP length, TCP data offset */
		if (proto == IPPROTO_UDP)
			put16(b, len, l4 + 4, fuzz16(get16(b, len, l4 + 4)));
		else if (proto == IPPROTO_TCP && l4 + 12 < len)
			b[l4 + 12] = (uint8_t)(rn(16) << 4);
		break;
	case 5:	/* one more VLAN tag */
		put16(tag, 4, 0, rn(4) ? (rn(2) ? 0x8100 : 0x88a8) : (uint16_t)rnd());
		put16(tag, 4, 2, (uint16_t)rn(4096));
		len = insert(b, len, 12, tag, 4);
		break;
	case 6:	/* one more IPv6 extension header, payload length kept or fixed */
		if (type == 0x86dd && l3 + 40 <= len) {
			static const uint8_t kinds[] = { 0, 43, 60, 44, 44 };
			uint8_t k = kinds[rn(ARRAY_SIZE(kinds))];

			memset(tag, 0, sizeof(tag));
			tag[0] = b[l3 + 6];
			if (k == 44)
				put16(tag, 8, 2, rn(3) ? 0 : (uint16_t)rnd());
			else
				tag[1] = rn(8) ? 0 : (uint8_t)rn(4);
			len = insert(b, len, l3 + 40, tag, 8);
			b[l3 + 6] = k;
			if (rn(4))
				put16(b, len, l3 + 4, get16(b, len, l3 + 4) + 8);
		}
		break;
	case 7:	/* ports: random, or at/around a rule's range edges */
		if (l4 + 4 <= len) {
			const struct rule *r = n ? &rules[rn(n)] : NULL;
			uint16_t v = (uint16_t)rnd();

			if (r && (r->fields & (XSNAP_F_SPORT | XSNAP_F_DPORT)) && rn(4)) {
				uint16_t lo = (r->fields & XSNAP_F_DPORT) ? r->dport : r->sport;
				uint16_t hi = (r->fields & XSNAP_F_DPORT) ? r->dport_hi :
									    r->sport_hi;

				v = (uint16_t[]){ lo, (uint16_t)(lo - 1), hi ? hi : lo,
						  (uint16_t)((hi ? hi : lo) + 1) }[rn(4)];
			}
			put16(b, len, l4 + (rn(2) ? 2 : 0), v);
		}
		break;
	case 8:	/* trailing bytes beyond the IP length */
		for (uint32_t k = 1 + rn(32); k && len < MAX_LEN; k--)
			b[len++] = (uint8_t)rnd();
		break;
	case 9:	/* the ethertype */
		put16(b, len, l3 - 2,
		      (uint16_t[]){ 0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x05dc,
				    (uint16_t)rnd() }[rn(7)]);
		break;
	case 10: /* fragment fields */
		if (type == 0x0800)
			put16(b, len, l3 + 6,
			      rn(2) ? (uint16_t)rnd() : (uint16_t)(0x2000 * rn(2) | rn(4)));
		break;
	case 12: /* cut inside the L4 header (IPv6: inside the chain), the IP
		  * lengths kept consistent, often a first fragment: tiny
		  * fragments, and chains a first fragment cuts */
		if (l4 < len && (type == 0x0800 || type == 0x86dd)) {
			size_t nl = l4 + rn(24);

			len = nl < len ? nl : len;
			if (type == 0x0800) {
				put16(b, len, l3 + 2, (uint16_t)(len - l3));
				if (rn(4))
					put16(b, len, l3 + 6, 0x2000);
			} else {
				put16(b, len, l3 + 4, (uint16_t)(len - l3 - 40));
			}
		}
		break;
	default: /* the protocol / next header */
		if (type == 0x0800 && l3 + 10 <= len)
			b[l3 + 9] = (uint8_t[]){ 6, 17, 1, 58, 47, (uint8_t)rnd() }[rn(6)];
		else if (type == 0x86dd && l3 + 7 <= len)
			b[l3 + 6] = (uint8_t[]){
				6, 17, 58, 0, 43, 44, 60, 59, 50, (uint8_t)rnd()
			}[rn(10)];
		break;
	}
	return len < ETH_MIN ? ETH_MIN : len;
}

struct fuzz_stats {
	uint64_t frames, mismatches, refused_sets;
	uint64_t fast_sets;	/* rule sets of the fast path's shape */
	uint64_t fast_frames;	/* frames run again in such a set, which the fast path
				 * may take (fast_eligible()) */
	uint64_t spec_sets;	/* rule sets served by a specialised program */
	uint64_t spec_frames;	/* frames it may take (fast_eligible()) */
	uint64_t reason[XSNAP_R_MAX];	/* final reasons */
	uint64_t extra[XSNAP_R_MAX];	/* counted in addition (how frames were read) */
	uint64_t extra_dropped[XSNAP_R_MAX];	/* of those, dropped by a rule */
};

/* Keep a mismatching frame for the corpus: $OUTPUT/test-logs/fuzz-mismatch-N.bin. */
static void keep_frame(const uint8_t *b, size_t len, uint64_t n)
{
	const char *out = getenv("OUTPUT");
	char path[4200];
	FILE *f;

	if (!out)
		return;
	snprintf(path, sizeof(path), "%s/test-logs", out);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/test-logs/fuzz-mismatch-%llu.bin", out,
		 (unsigned long long)n);
	f = fopen(path, "wb");
	if (f) {
		fwrite(b, 1, len, f);
		fclose(f);
		fprintf(stderr, "  saved as %s\n", path);
	}
}

#define CNT_BLOCK 256	/* frames between two checks of the reason counters */

/* Frames the program's fast path may take (fast_classify() in
 * bpf/xsnap_steer.bpf.c): untagged IPv4 without options, not a fragment,
 * or untagged IPv6 with UDP or TCP as its next header; UDP or TCP with a
 * header the parser reads in full. */
static bool fast_eligible(const uint8_t *b, size_t len)
{
	struct xsnap_pkt p;
	uint16_t type = get16(b, len, 12);

	if (type == 0x0800) {
		if (len < 15 || b[14] != 0x45 || (get16(b, len, 20) & 0x3fff))
			return false;
	} else if (type == 0x86dd) {
		if (len < 21 || (b[20] != IPPROTO_UDP && b[20] != IPPROTO_TCP))
			return false;
	} else {
		return false;
	}
	if (xsnap_parse(b, b + len, &p))
		return false;
	return (p.proto == IPPROTO_UDP || p.proto == IPPROTO_TCP) && p.ports && !p.l4_bad &&
	       !p.tiny_frag;
}

/* The live bank is of the fast path's shape: one rule shape, matching on
 * nothing but the protocol, exact ports and maybe the address family. */
static bool fast_shape(struct fx *fx)
{
	const uint32_t ok = XSNAP_F_L3 | XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT;
	uint32_t bank = fx->s.cfg.bank;
	struct xsnap_bank b;

	if (bpf_map_lookup_elem(fx->s.groups_fd, &bank, &b))
		return false;
	return b.ngroups == 1 && !(b.flags & XSNAP_BANK_PORT_CLASSES) &&
	       !(b.groups[0].fields & ~ok);
}

/* The live rule set's specialised program (slot XSNAP_JMP_SPEC), by id;
 * 0 if it has none. */
static uint32_t spec_id(struct fx *fx)
{
	uint32_t slot = XSNAP_JMP_SPEC, id = 0;

	/* a program array answers a lookup with the program's id */
	if (bpf_map_lookup_elem(fx->s.jmp_fd, &slot, &id))
		return 0;
	return id;
}

/*
 * Frames of one rule set.  Each is compared at once; the reason counters
 * every CNT_BLOCK frames against the model's sum (reading 14 per-CPU
 * counters per frame would cost more than the test run itself).  @twice:
 * every frame runs twice in a row, so that the second run finds the first
 * one's exact-match cache entry (the fast path's input).
 */
static void fuzz_round(struct fx *fx, const struct world *w, unsigned int nframes, bool twice,
		       struct fuzz_stats *st)
{
	static uint8_t b[MAX_LEN];
	uint64_t c0[XSNAP_R_MAX], c1[XSNAP_R_MAX], want[XSNAP_R_MAX] = { 0 };

	counters(fx, c0);
	for (unsigned int i = 0; i < nframes; i++) {
		const struct cframe *c = rn(4) ? seeds[rn(nseeds)].c : &corpus[rn(ncorpus)];
		struct result r;
		struct model m;
		char why[512];
		size_t len;

		len = c->len < ETH_MIN ? ETH_MIN : c->len;
		memset(b, 0, len);
		memcpy(b, c->b, c->len);
		for (uint32_t k = rn(4); k; k--)	/* 0..3 changes; 0: the corpus frame */
			len = mutate_once(b, len, w->rules, w->n);
		model_frame(w, b, len, &m);
		run(fx->prog, b, len, &r);
		if (fx->s.spec)
			st->spec_frames += fast_eligible(b, len);
		if (twice && agrees(&m, b, len, &r, why, sizeof(why))) {
			st->fast_frames += fast_eligible(b, len);
			for (uint32_t k = 0; k < XSNAP_R_MAX; k++)
				want[k] += model_count(&m, k);
			run(fx->prog, b, len, &r);	/* a cache hit */
		}
		st->frames++;
		if (!agrees(&m, b, len, &r, why, sizeof(why))) {
			if (st->mismatches < 10) {
				fprintf(stderr, "fuzz frame %llu (%zu bytes, from %s): %s\n",
					(unsigned long long)st->frames, len, c->name, why);
				hexdump(b, len);
				keep_frame(b, len, st->mismatches);
			}
			st->mismatches++;
			test_failed = 1;
		}
		st->reason[m.reason]++;
		for (uint32_t k = 0; k < XSNAP_R_MAX; k++) {
			bool x = m.extra & (1u << k);

			want[k] += model_count(&m, k);
			st->extra[k] += x;
			st->extra_dropped[k] += x && m.reason == XSNAP_R_RULE_DROP;
		}
		if ((i + 1) % CNT_BLOCK && i + 1 < nframes)
			continue;
		counters(fx, c1);
		for (uint32_t k = 0; k < XSNAP_R_MAX; k++) {
			if (c1[k] - c0[k] != want[k]) {
				fprintf(stderr,
					"fuzz: counter %s moved by %llu over frames %llu..%llu, "
					"model %llu\n",
					xsnap_reason_str(k), (unsigned long long)(c1[k] - c0[k]),
					(unsigned long long)(st->frames - i % CNT_BLOCK - 1),
					(unsigned long long)st->frames,
					(unsigned long long)want[k]);
				st->mismatches++;
				test_failed = 1;
			}
			want[k] = 0;
		}
		memcpy(c0, c1, sizeof(c0));
	}
}

/*
 * A13: mutations of the corpus under random rule sets.  Each round draws
 * 1..5 shapes and up to 60 rules derived from corpus frames, applies them
 * through steer_apply() (so the bank flips every round, port class tables
 * included), and runs FRAMES_PER_ROUND mutated frames.  Every fourth set
 * has the one shape the program's fast path serves (protocol and exact
 * ports); its frames run twice in a row on one CPU, so that the second run
 * of a frame the fast path may take finds its cache entry and takes it.
 * Half of those have at most 16 rules, so that most of them get a
 * specialised program (bpf/xsnap_spec.bpf.c), whose answers are checked
 * the same way.
 */
#define FRAMES_PER_ROUND 4000
#define MAX_FUZZ_RULES 60

TEST(fuzz)
{
	const char *env_seed = getenv("XSNAP_TEST_SEED"), *env_n = getenv("XSNAP_FUZZ_FRAMES");
	uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0) : 0x78736e6170667a31ull;
	uint64_t target = env_n ? strtoull(env_n, NULL, 0) : 1000000;
	struct rule rules[MAX_FUZZ_RULES];
	struct fuzz_stats st = { 0 };
	struct world w = { rules, 0, 0, 0 };
	unsigned int rounds = 0;
	cpu_set_t one, was;
	double t0, t;
	struct fx fx;
	int cpu;

	if (fx_open(&fx))
		return;
	REQUIRE(corpus_load() == 0);
	seeds_init();
	REQUIRE(nseeds >= 20);
	w.lin_max = probe_lin_max(&fx);
	w.max_frame = fx.s.skel->rodata->xsnap_max_frame;
	REQUIRE(w.lin_max > 1000);
	/* one CPU: a frame's second run finds the per-CPU cache entry of its first */
	cpu = sched_getcpu();
	REQUIRE(cpu >= 0 && sched_getaffinity(0, sizeof(was), &was) == 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	rng_state = seed;
	t0 = now_s();
	while (st.frames < target && st.mismatches < 100) {
		struct tmpl tmpls[5];
		unsigned int nt = 1 + rn(5), n = 1 + rn(MAX_FUZZ_RULES);
		int err;

		/* every fourth set of the fast path's shape: one shape of
		 * protocol and exact ports */
		bool fast = rounds % 4 == 3;

		if (fast) {
			nt = 1;
			if (rn(2))
				n = 1 + rn(16);
		}
		for (unsigned int k = 0; k < nt; k++)
			rnd_tmpl(&tmpls[k]);
		if (fast) {
			/* sometimes with a family term: "ip src 0.0.0.0/0" or
			 * "ip6 src ::/0" (any frame of the family) */
			uint8_t fam = rn(3) ? 0 : rn(2) ? 4 : 6;

			tmpls[0] = (struct tmpl){ .proto = true, .sport = rn(3) == 0,
						  .dport = true, .fam = fam, .src = fam != 0 };
		}
		for (unsigned int k = 0; k < n; k++)
			REQUIRE(rnd_rule(&tmpls[rn(nt)], &seeds[rn(nseeds)], &rules[k], k + 1) ==
				0);
		w.n = n;
		err = steer_apply(&fx.s, rules, n, ~0u);
		if (err == -ENOSPC) {
			st.refused_sets++;	/* too many range keys: legal, counted */
			continue;
		}
		REQUIRE(err == 0);
		fast = fast_shape(&fx);
		st.fast_sets += fast;
		/* a specialised program, and only for sets of that shape */
		CHECK_EQ(!!fx.s.spec, !!spec_id(&fx));
		if (fx.s.spec && !fast) {
			fprintf(stderr, "fuzz: a specialised program for a set of another shape\n");
			CHECK(fast);
		}
		st.spec_sets += !!fx.s.spec;
		fuzz_round(&fx, &w, FRAMES_PER_ROUND, fast, &st);
		rounds++;
	}
	t = now_s() - t0;
	sched_setaffinity(0, sizeof(was), &was);
	printf("fuzz: %llu frames, %llu mismatches, seed 0x%llx (%u rule sets, %llu refused, "
	       "%llu of the fast path's shape with %llu frames run again that it may take; "
	       "%llu specialised with %llu frames it may take; %.1f s, %.0f frames/s)\n",
	       (unsigned long long)st.frames, (unsigned long long)st.mismatches,
	       (unsigned long long)seed, rounds, (unsigned long long)st.refused_sets,
	       (unsigned long long)st.fast_sets, (unsigned long long)st.fast_frames,
	       (unsigned long long)st.spec_sets, (unsigned long long)st.spec_frames, t,
	       (double)st.frames / t);
	printf("fuzz reasons:");
	for (uint32_t k = 0; k < XSNAP_R_MAX; k++)
		if (st.reason[k])
			printf(" %s %llu", xsnap_reason_str(k), (unsigned long long)st.reason[k]);
	printf("; counted in addition:");
	for (uint32_t k = 0; k < XSNAP_R_MAX; k++)
		if (st.extra[k])
			printf(" %s %llu (%llu dropped)", xsnap_reason_str(k),
			       (unsigned long long)st.extra[k],
			       (unsigned long long)st.extra_dropped[k]);
	printf("\n");
	summary_put("fuzz", "%llu frames, %llu mismatches, seed 0x%llx",
		    (unsigned long long)st.frames, (unsigned long long)st.mismatches,
		    (unsigned long long)seed);
	CHECK(st.frames >= target);
	CHECK_EQ(st.mismatches, 0);
	/* the fast path was there to be taken, many times */
	CHECK(st.fast_sets >= rounds / 5);
	CHECK(st.fast_frames >= st.frames / 100);
	/* and so were specialised programs */
	CHECK(st.spec_sets >= rounds / 20);
	CHECK(st.spec_frames >= st.frames / 200);
	/* not vacuous: every outcome the program has occurred many times */
	static const uint32_t must[] = { XSNAP_R_DELIVER,  XSNAP_R_NOMATCH,  XSNAP_R_RULE_PASS,
					 XSNAP_R_RULE_DROP, XSNAP_R_NON_IP,   XSNAP_R_VLAN_DEEP,
					 XSNAP_R_BAD_L3,    XSNAP_R_IPV6_EXT, XSNAP_R_SHORT_L2 };
	static const uint32_t must_extra[] = { XSNAP_R_FRAGMENT, XSNAP_R_BAD_L4,
					       XSNAP_R_TINY_FRAG, XSNAP_R_L4_UNKNOWN };
	for (size_t k = 0; k < ARRAY_SIZE(must); k++) {
		if (st.reason[must[k]] < st.frames / 1000)
			fprintf(stderr, "fuzz: only %llu frames ended as %s\n",
				(unsigned long long)st.reason[must[k]], xsnap_reason_str(must[k]));
		CHECK(st.reason[must[k]] >= st.frames / 1000);
	}
	CHECK(st.reason[XSNAP_R_DELIVER] >= st.frames / 10);
	/* and every way of reading a frame, some of them dropped by a rule:
	 * the fail-closed paths are exercised, not just reached */
	for (size_t k = 0; k < ARRAY_SIZE(must_extra); k++) {
		uint32_t r = must_extra[k];

		if (st.extra[r] < st.frames / 2000 || !st.extra_dropped[r])
			fprintf(stderr, "fuzz: only %llu frames counted %s (%llu dropped)\n",
				(unsigned long long)st.extra[r], xsnap_reason_str(r),
				(unsigned long long)st.extra_dropped[r]);
		CHECK(st.extra[r] >= st.frames / 2000);
		CHECK(st.extra_dropped[r] > 0);
	}
	fx_close(&fx);
}

/*
 * Which frames the fast path takes, seen directly: the program built with
 * xsnap_fast_probe ends every frame the fast path did not take in
 * XDP_ABORTED.  Each frame runs twice in a row on one CPU; the second run
 * finds the first's exact-match cache entry.  (Whether the fast path's
 * answers are right is the fuzz's job: it compares every run with the
 * model.)
 */
TEST(fast_path_takes_ipv4_and_ipv6)
{
	static const struct {
		const char *match;	/* the one rule */
		const char *frame;	/* a corpus file name's start */
		bool fast;
	} cases[] = {
		{ "udp dst port 9000", "000-base-udp4-9000", true },
		{ "udp dst port 9000", "007-base-udp6-9000", true },
		{ "udp dst port 9000", "066-a10-chain0", true },	/* IPv6, no extension */
		{ "udp dst port 9000", "001-base-udp4-53", true },	/* a cached miss */
		{ "tcp dst port 22", "008-base-tcp6-22", true },
		{ "tcp dst port 22", "005-base-tcp4-443-opts", true },	/* TCP options */
		{ "udp dst port 9000", "067-a10-chain1", false },	/* an extension header */
		{ "udp dst port 9000", "037-a5-ihl6-nop", false },	/* IPv4 options */
		{ "udp dst port 9000", "006-base-icmp4-echo", false },
		{ "udp dst port 9000", "046-a7-first-fragment", false },
		{ "ip6 src ::/0 and udp dst port 9000", "007-base-udp6-9000", true },
		{ "ip6 src ::/0 and udp dst port 9000", "000-base-udp4-9000", false },
		{ "ip src 0.0.0.0/0 and udp dst port 9000", "000-base-udp4-9000", true },
		{ "ip src 0.0.0.0/0 and udp dst port 9000", "007-base-udp6-9000", false },
		/* two shapes: never the fast path */
		{ "udp dst port 9000\nip6 src 2001:db8::/32", "007-base-udp6-9000", false },
	};
	cpu_set_t one, was;
	unsigned int nfast = 0;
	struct fx fx;
	int cpu;

	if (fx_open_flags(&fx, STEER_FAST_PROBE))
		return;
	REQUIRE(corpus_load() == 0);
	cpu = sched_getcpu();
	REQUIRE(cpu >= 0 && sched_getaffinity(0, sizeof(was), &was) == 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	REQUIRE(sched_setaffinity(0, sizeof(one), &one) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct cframe *c = NULL;
		struct rspec sp[2] = { { cases[i].match, 10, 0 }, { NULL, 20, 1 } };
		struct rule rules[2];
		char first[128];
		const char *nl = strchr(cases[i].match, '\n');
		unsigned int n = 1;
		struct result r;

		if (nl) {	/* "A\nB": two rules */
			snprintf(first, sizeof(first), "%.*s", (int)(nl - cases[i].match),
				 cases[i].match);
			sp[0].match = first;
			sp[1].match = nl + 1;
			n = 2;
		}
		for (unsigned int k = 0; k < ncorpus && !c; k++)
			if (!strncmp(corpus[k].name, cases[i].frame, strlen(cases[i].frame)))
				c = &corpus[k];
		REQUIRE(c);
		REQUIRE(apply_specs(&fx, sp, n, rules) == 0);
		run(fx.prog, c->b, c->len, &r);
		run(fx.prog, c->b, c->len, &r);
		REQUIRE(r.err == 0);
		if ((r.retval != XDP_ABORTED) != cases[i].fast)
			fprintf(stderr, "'%s', %s: the %s path, not the %s\n", cases[i].match,
				c->name, r.retval == XDP_ABORTED ? "general" : "fast",
				cases[i].fast ? "fast" : "general");
		CHECK_EQ(r.retval != XDP_ABORTED, cases[i].fast);
		nfast += r.retval != XDP_ABORTED;
	}
	sched_setaffinity(0, sizeof(was), &was);
	printf("fast path: %u of %zu frames (IPv4 and IPv6)\n", nfast, ARRAY_SIZE(cases));
	fx_close(&fx);
}

/*
 * Which rule sets get a specialised program, and which frames it serves,
 * seen directly: built with xsnap_spec_probe, it ends every frame it does
 * not serve in XDP_ABORTED instead of handing it to the general program.
 * Each case runs its frame once: the specialised program needs no cache.
 * (Whether its answers are right is the fuzz's job.)
 */
TEST(spec_takes_its_sets_and_frames)
{
	static const struct {
		const char *match;	/* rules, one per line */
		const char *frame;	/* a corpus file name's start */
		int spec;		/* 1: the set has a specialised program */
		int takes;		/* 1: it serves the frame */
	} cases[] = {
		{ "udp dst port 9000", "000-base-udp4-9000", 1, 1 },
		{ "udp dst port 9000", "007-base-udp6-9000", 1, 1 },
		{ "udp dst port 9000", "066-a10-chain0", 1, 1 },
		{ "udp dst port 9000", "001-base-udp4-53", 1, 1 },	/* no rule: nomatch */
		{ "tcp dst port 22", "008-base-tcp6-22", 1, 1 },
		{ "tcp dst port 22", "005-base-tcp4-443-opts", 1, 1 },
		{ "udp dst port 9000\nudp dst port 53\ntcp dst port 22", "001-base-udp4-53", 1, 1 },
		{ "udp src port 53 and dst port 9000", "000-base-udp4-9000", 1, 1 },
		{ "udp dst port 9000", "067-a10-chain1", 1, 0 },	/* an extension header */
		{ "udp dst port 9000", "037-a5-ihl6-nop", 1, 0 },	/* IPv4 options */
		{ "udp dst port 9000", "006-base-icmp4-echo", 1, 0 },
		{ "udp dst port 9000", "046-a7-first-fragment", 1, 0 },
		{ "ip6 src ::/0 and udp dst port 9000", "007-base-udp6-9000", 1, 1 },
		{ "ip6 src ::/0 and udp dst port 9000", "000-base-udp4-9000", 1, 0 },
		{ "ip src 0.0.0.0/0 and udp dst port 9000", "000-base-udp4-9000", 1, 1 },
		{ "ip src 0.0.0.0/0 and udp dst port 9000", "007-base-udp6-9000", 1, 0 },
		/* sets it does not serve: two shapes, an address, a range */
		{ "udp dst port 9000\nip6 src 2001:db8::/32", "007-base-udp6-9000", 0, 0 },
		{ "ip src 10.0.0.0/8 and udp dst port 9000", "000-base-udp4-9000", 0, 0 },
		{ "udp dst port 9000-9010", "000-base-udp4-9000", 0, 0 },
		{ "vlan 7 and udp dst port 9000", "000-base-udp4-9000", 0, 0 },
	};
	unsigned int ntakes = 0;
	struct fx fx;

	if (fx_open_flags(&fx, STEER_SPEC_PROBE))
		return;
	REQUIRE(corpus_load() == 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct cframe *c = NULL;
		struct rspec sp[4];
		struct rule rules[4];
		char buf[256], *save = NULL, *tok;
		unsigned int n = 0;
		struct result r;

		snprintf(buf, sizeof(buf), "%s", cases[i].match);
		for (tok = strtok_r(buf, "\n", &save); tok && n < 4; tok = strtok_r(NULL, "\n", &save))
			sp[n] = (struct rspec){ tok, 10 + n, n }, n++;
		for (unsigned int k = 0; k < ncorpus && !c; k++)
			if (!strncmp(corpus[k].name, cases[i].frame, strlen(cases[i].frame)))
				c = &corpus[k];
		REQUIRE(c);
		REQUIRE(apply_specs(&fx, sp, n, rules) == 0);
		if (!!spec_id(&fx) != cases[i].spec)
			fprintf(stderr, "'%s': %s specialised program\n", cases[i].match,
				cases[i].spec ? "no" : "a");
		CHECK_EQ(!!spec_id(&fx), cases[i].spec);
		run(fx.prog, c->b, c->len, &r);
		REQUIRE(r.err == 0);
		if (cases[i].spec) {
			if ((r.retval != XDP_ABORTED) != cases[i].takes)
				fprintf(stderr, "'%s', %s: %s by the specialised program\n",
					cases[i].match, c->name,
					cases[i].takes ? "not served" : "served");
			CHECK_EQ(r.retval != XDP_ABORTED, cases[i].takes);
		} else {
			CHECK(r.retval != XDP_ABORTED);	/* the general program's verdict */
		}
		ntakes += cases[i].spec && r.retval != XDP_ABORTED;
	}
	printf("specialised program: served %u of %zu frames\n", ntakes, ARRAY_SIZE(cases));
	fx_close(&fx);
}

/*
 * A rule change replaces the specialised program before it returns: the
 * old set's answer is never given after the change, including the tenant
 * slots in use (compiled into the program too), and a set of up to 16 keys
 * is served while one of 17 is not.
 */
TEST(spec_follows_rule_changes)
{
	struct rule rules[17];
	struct rspec sp[17];
	char names[17][48];
	const struct cframe *c = NULL;
	struct result r;
	struct fx fx;
	uint32_t id;

	if (fx_open(&fx))
		return;
	REQUIRE(corpus_load() == 0);
	for (unsigned int k = 0; k < ncorpus && !c; k++)
		if (!strncmp(corpus[k].name, "000-base-udp4-9000", 18))
			c = &corpus[k];
	REQUIRE(c);

	/* delivered to tenant slot 0 */
	sp[0] = (struct rspec){ "udp dst port 9000", 10, 0 };
	REQUIRE(apply_specs(&fx, sp, 1, rules) == 0);
	id = spec_id(&fx);
	CHECK(id != 0);
	run(fx.prog, c->b, c->len, &r);
	CHECK_EQ(r.retval, XDP_REDIRECT);
	/* the same rule with slot 0 no longer in use: not delivered */
	CHECK_EQ(steer_apply(&fx.s, rules, 1, ~1u), 0);
	CHECK(spec_id(&fx) != 0 && spec_id(&fx) != id);
	run(fx.prog, c->b, c->len, &r);
	CHECK_EQ(r.retval, XDP_PASS);
	/* another port: the frame no longer matches */
	sp[0] = (struct rspec){ "udp dst port 9001", 10, 0 };
	REQUIRE(apply_specs(&fx, sp, 1, rules) == 0);
	run(fx.prog, c->b, c->len, &r);
	CHECK_EQ(r.retval, XDP_PASS);
	/* a drop rule for it */
	sp[0] = (struct rspec){ "udp dst port 9000 action drop", 10, 0 };
	REQUIRE(apply_specs(&fx, sp, 1, rules) == 0);
	CHECK(spec_id(&fx) != 0);
	run(fx.prog, c->b, c->len, &r);
	CHECK_EQ(r.retval, XDP_DROP);
	/* 16 keys: specialised, the last one matches; 17: general, same answer */
	for (unsigned int n = 16; n <= 17; n++) {
		for (unsigned int k = 0; k < n; k++) {
			snprintf(names[k], sizeof(names[k]), "udp dst port %u", 9000 + n - 1 - k);
			sp[k] = (struct rspec){ names[k], 10 + k, k };
		}
		REQUIRE(apply_specs(&fx, sp, n, rules) == 0);
		CHECK_EQ(!!spec_id(&fx), n <= 16);
		run(fx.prog, c->b, c->len, &r);
		CHECK_EQ(r.retval, XDP_REDIRECT);
	}
	fx_close(&fx);
}

/* struct steer's impl_switch for spec_sends_its_implicit_outcome_bare:
 * records the outcome told, or fails with impl_fail. */
static int impl_fail, impl_calls;
static uint32_t impl_mask = ~0u, impl_rule = ~0u;

static int impl_record(void *arg, uint32_t mask, uint32_t rule_id)
{
	(void)arg;
	impl_calls++;
	if (impl_fail)
		return impl_fail;
	impl_mask = mask;
	impl_rule = rule_id;
	return 0;
}

/* Did the last run redirect @c bare (1), with the metadata for @mask and
 * @rule in front (0), or neither (-1)? */
static int redirected_bare(const struct cframe *c, const struct result *r, uint32_t mask,
			   uint32_t rule)
{
	struct xsnap_meta m;

	if (r->err || r->retval != XDP_REDIRECT)
		return -1;
	if (r->out_len == c->len && !memcmp(out_buf, c->b, c->len))
		return 1;
	if (r->out_len != c->len + META_LEN || memcmp(out_buf + META_LEN, c->b, c->len))
		return -1;
	memcpy(&m, out_buf, sizeof(m));
	return m.magic == XSNAP_META_MAGIC && m.tenant_mask == mask && m.rule_id == rule ? 0 : -1;
}

/*
 * The specialised program's implicit outcome (xsnap_spec_impl): with the
 * metadata as the packet's head and an engine to tell, a set's first
 * delivering key's frames go out bare, every other delivery with its
 * metadata, and so does a frame whose bytes 28..31 are the metadata's
 * magic (the engine would take them for metadata).  The engine is told
 * before the program goes live, only when the outcome changes; if it
 * cannot take the switch, the set is left to the general program.
 */
TEST(spec_sends_its_implicit_outcome_bare)
{
	struct rule rules[2];
	struct rspec sp[2];
	const struct cframe *c4 = NULL, *c6 = NULL, *c53 = NULL;
	static uint8_t fbuf[MAX_LEN];
	struct cframe forged;
	struct result r;
	struct fx fx;

	if (fx_open(&fx))
		return;
	if (!fx.s.meta_head) {
		fx_close(&fx);
		SKIP("this kernel takes bpf_xdp_adjust_meta(): frames are never sent bare");
	}
	fx.s.impl_switch = impl_record;
	REQUIRE(corpus_load() == 0);
	for (unsigned int k = 0; k < ncorpus; k++) {
		if (!strncmp(corpus[k].name, "000-base-udp4-9000", 18))
			c4 = &corpus[k];
		if (!strncmp(corpus[k].name, "007-base-udp6-9000", 18))
			c6 = &corpus[k];
		if (!strncmp(corpus[k].name, "001-base-udp4-53", 16))
			c53 = &corpus[k];
	}
	REQUIRE(c4 && c6 && c53 && c4->len >= 34);

	/* rule 1: port 9000 to slot 0; rule 2: port 53 to slot 1 */
	sp[0] = (struct rspec){ "udp dst port 9000", 10, 0 };
	sp[1] = (struct rspec){ "udp dst port 53", 11, 1 };
	REQUIRE(apply_specs(&fx, sp, 2, rules) == 0);
	CHECK(spec_id(&fx) != 0);
	CHECK_EQ(impl_calls, 1);
	CHECK((impl_mask == 1 && impl_rule == 1) || (impl_mask == 2 && impl_rule == 2));
	{
		const bool first = impl_mask == 1;

		run(fx.prog, c4->b, c4->len, &r);
		CHECK_EQ(redirected_bare(c4, &r, 1, 1), first ? 1 : 0);
		run(fx.prog, c6->b, c6->len, &r);
		CHECK_EQ(redirected_bare(c6, &r, 1, 1), first ? 1 : 0);
		run(fx.prog, c53->b, c53->len, &r);
		CHECK_EQ(redirected_bare(c53, &r, 2, 2), first ? 0 : 1);
	}

	/* the magic where the engine looks: metadata, whatever the outcome */
	sp[1] = (struct rspec){ "udp dst port 53 action drop", 11, 1 };
	REQUIRE(apply_specs(&fx, sp, 2, rules) == 0);
	CHECK_EQ(impl_mask, 1u);
	CHECK_EQ(impl_rule, 1u);
	run(fx.prog, c4->b, c4->len, &r);
	CHECK_EQ(redirected_bare(c4, &r, 1, 1), 1);
	forged = *c4;
	forged.b = fbuf;
	memcpy(fbuf, c4->b, c4->len);
	{
		const uint32_t magic = XSNAP_META_MAGIC;

		memcpy(fbuf + offsetof(struct xsnap_meta, magic), &magic, sizeof(magic));
	}
	run(fx.prog, forged.b, forged.len, &r);
	CHECK_EQ(redirected_bare(&forged, &r, 1, 1), 0);

	/* the same outcome again: nothing to tell */
	sp[0] = (struct rspec){ "udp dst port 9000", 12, 0 };
	REQUIRE(apply_specs(&fx, sp, 2, rules) == 0);
	CHECK_EQ(impl_calls, 2);
	CHECK(spec_id(&fx) != 0);

	/* an engine that cannot take the switch: the general program, with
	 * metadata; once it can, the specialised one again */
	impl_fail = -ENOSPC;
	sp[0] = (struct rspec){ "udp dst port 9000", 10, 1 };
	REQUIRE(apply_specs(&fx, sp, 1, rules) == 0);
	CHECK_EQ(impl_calls, 3);
	CHECK_EQ(spec_id(&fx), 0u);
	run(fx.prog, c4->b, c4->len, &r);
	CHECK_EQ(redirected_bare(c4, &r, 2, 1), 0);
	impl_fail = 0;
	REQUIRE(apply_specs(&fx, sp, 1, rules) == 0);
	CHECK_EQ(impl_calls, 4);
	CHECK_EQ(impl_mask, 2u);
	CHECK(spec_id(&fx) != 0);
	run(fx.prog, c4->b, c4->len, &r);
	CHECK_EQ(redirected_bare(c4, &r, 2, 1), 1);

	/* a set that delivers nothing: bare frames end */
	sp[0] = (struct rspec){ "udp dst port 9000 action drop", 10, 0 };
	REQUIRE(apply_specs(&fx, sp, 1, rules) == 0);
	CHECK_EQ(impl_calls, 5);
	CHECK_EQ(impl_mask, 0u);
	CHECK_EQ(impl_rule, 0u);
	fx_close(&fx);
}

TEST_MAIN()
