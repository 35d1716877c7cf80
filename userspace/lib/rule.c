// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Rule language, rule compiler and the two test oracles.
 *
 * The XDP program does tuple-space search: every distinct rule shape (which
 * fields, which prefix lengths) is a mask group; per group it masks the
 * frame's fields, builds a struct xsnap_rule_key and does one hash lookup.
 * rule_compile() produces exactly those groups and keys.  Rules that end up
 * with the same key are merged into one struct xsnap_rule_val; the program
 * then combines the values of all groups.  Merging and combining use the
 * same rule (best prio, then lower id), so the result does not depend on
 * how rules fall into groups: rule_compiled_classify() replays the program's
 * side and rule_ref_classify() evaluates the rules one by one, and the unit
 * tests check that both agree.
 *
 * Port ranges: exact ports are key fields as they are; a range is matched
 * through port classes (see <xsnap/abi.h>): the compiler cuts the port
 * space at every range endpoint of the bank, writes one key per class a
 * range covers, and hands the class table to the caller for the bank's half
 * of xsnap_ports.  The frame pays two array lookups, whatever the number of
 * rules; the rule map pays one key per covered class, counted against
 * XSNAP_MAX_RULES before anything is allocated.
 *
 * Compiling sorts the keys and merges runs of equal ones: O(k log k) for k
 * keys, well under a millisecond per thousand rules.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule.h"

#define F_ALL                                                                          \
	(XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT | XSNAP_F_SRC | XSNAP_F_DST |  \
	 XSNAP_F_VLAN | XSNAP_F_L3)
#define F_FAMILY (XSNAP_F_L3 | XSNAP_F_SRC | XSNAP_F_DST)
#define VLAN_MAX 4095
#define WORD_QUOTE_MAX 64	/* longer words are cut in messages */
/* Keys generated before equal ones merge: a bound on the compiler's memory
 * (48 bytes each) when ranges expand far beyond what the map holds. */
#define KEYS_BEFORE_MERGE_MAX (16u * XSNAP_MAX_RULES)

static int fail(int err)
{
	errno = err;
	return -err;
}

/* A port term [lo, hi] with hi = 0 (or lo) for one port: is it a range? */
static bool is_range(uint16_t lo, uint16_t hi)
{
	return hi > lo;
}

/* Last port of the term. */
static uint16_t port_last(uint16_t lo, uint16_t hi)
{
	return is_range(lo, hi) ? hi : lo;
}

/* Port 0 would collide with the zero a portless frame puts in its key; a
 * last port below the first is no range. */
static bool ports_ok(uint16_t lo, uint16_t hi)
{
	return lo && (!hi || hi >= lo);
}

static unsigned int addr_bits(uint8_t fam)
{
	return fam == 6 ? 128 : 32;
}

static unsigned int addr_bytes(uint8_t fam)
{
	return fam == 6 ? 16 : 4;
}

void rule_mask_addr(uint8_t *dst, const uint8_t *src, unsigned int plen, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++) {
		unsigned int bits = plen > i * 8 ? plen - i * 8 : 0;

		dst[i] = bits >= 8 ? src[i] : src[i] & (uint8_t)(0xff00 >> bits);
	}
}

/* ---- parser -------------------------------------------------------------- */

struct lex {
	const char *p;		/* rest of the input */
	const char *w;		/* current word, not NUL-terminated; NULL at the end */
	int wlen;
	unsigned int pos;	/* 1-based index of the current (or last) word */
};

struct parser {
	struct lex lx;
	struct rule r;
	char *err;
	size_t errlen;
	unsigned int nterms;
	uint8_t fam;		/* address family fixed so far, 0 if none */
	const char *fam_word;	/* the keyword that fixed it */
	unsigned int fam_pos;
	const char *port_term;	/* first port term, for the protocol check */
	unsigned int port_pos;
	bool qualifier;		/* last term was udp/tcp: a port term may follow directly */
};

/* Quote the current word: "'%.*s'" takes these two arguments. */
#define WQ(p) ((p)->lx.wlen > WORD_QUOTE_MAX ? WORD_QUOTE_MAX : (p)->lx.wlen), (p)->lx.w

static bool lex_next(struct lex *lx)
{
	while (isspace((unsigned char)*lx->p))
		lx->p++;
	if (!*lx->p) {
		lx->w = NULL;
		lx->wlen = 0;
		return false;
	}
	lx->w = lx->p;
	while (*lx->p && !isspace((unsigned char)*lx->p))
		lx->p++;
	lx->wlen = lx->p - lx->w;
	lx->pos++;
	return true;
}

static bool lex_is(const struct lex *lx, const char *kw)
{
	return lx->w && (size_t)lx->wlen == strlen(kw) && !memcmp(lx->w, kw, lx->wlen);
}

__attribute__((format(printf, 2, 3))) static int perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return fail(EINVAL);
}

/* Strict unsigned decimal: digits only, no sign, no blanks, at most @max. */
static bool parse_num(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!len || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* Fix the address family of the rule; @word at @pos asks for @fam. */
static int set_family(struct parser *p, uint8_t fam, const char *word, unsigned int pos)
{
	if (p->fam && p->fam != fam)
		return perr(p, "'%s' (word %u) conflicts with '%s' (word %u)", word, pos,
			    p->fam_word, p->fam_pos);
	if (!p->fam) {
		p->fam = fam;
		p->fam_word = word;
		p->fam_pos = pos;
	}
	p->r.fields |= XSNAP_F_L3;
	p->r.l3_proto = fam;
	return 0;
}

static const struct {
	const char *name;
	uint8_t proto;
	uint8_t fam;
} protos[] = {
	{ "udp", IPPROTO_UDP, 0 },
	{ "tcp", IPPROTO_TCP, 0 },
	{ "icmp", IPPROTO_ICMP, 4 },
	{ "icmp6", IPPROTO_ICMPV6, 6 },
};

static int parse_proto(struct parser *p, unsigned int i)
{
	int err;

	if (p->r.fields & XSNAP_F_PROTO)
		return perr(p, "duplicate protocol '%.*s' (word %u)", WQ(p), p->lx.pos);
	if (protos[i].fam) {
		err = set_family(p, protos[i].fam, protos[i].name, p->lx.pos);
		if (err)
			return err;
	}
	p->r.fields |= XSNAP_F_PROTO;
	p->r.proto = protos[i].proto;
	p->qualifier = !protos[i].fam;
	return 0;
}

/* "N" or "N-M" with 1 <= N <= M <= 65535 from the current word; *@hi = 0 for one port. */
static bool parse_port_range(const struct parser *p, uint16_t *lo, uint16_t *hi)
{
	const char *w = p->lx.w, *dash = memchr(w, '-', p->lx.wlen);
	size_t llen = dash ? (size_t)(dash - w) : (size_t)p->lx.wlen;
	uint64_t a, b;

	if (!parse_num(w, llen, 65535, &a) || !a)
		return false;
	b = a;
	if (dash && (!parse_num(dash + 1, p->lx.wlen - llen - 1, 65535, &b) || b < a))
		return false;
	*lo = a;
	*hi = b > a ? b : 0;
	return true;
}

/* "src port N[-M]" / "dst port N[-M]"; the current word is "src" or "dst". */
static int parse_port(struct parser *p)
{
	bool src = lex_is(&p->lx, "src");
	const char *dir = src ? "src" : "dst", *term = src ? "src port" : "dst port";
	uint32_t bit = src ? XSNAP_F_SPORT : XSNAP_F_DPORT;
	unsigned int tpos = p->lx.pos;
	uint16_t lo, hi;

	if (!lex_next(&p->lx))
		return perr(p, "expected 'port' after '%s' (word %u)", dir, tpos);
	if (!lex_is(&p->lx, "port"))
		return perr(p, "expected 'port' after '%s', got '%.*s' (word %u)", dir, WQ(p),
			    p->lx.pos);
	if (p->r.fields & bit)
		return perr(p, "duplicate '%s' (word %u)", term, tpos);
	if (!lex_next(&p->lx))
		return perr(p, "expected a port number after 'port' (word %u)", p->lx.pos);
	if (!parse_port_range(p, &lo, &hi)) {
		if (memchr(p->lx.w, '-', p->lx.wlen))
			return perr(p,
				    "bad port range '%.*s' (word %u): expected N-M with "
				    "1 <= N <= M <= 65535",
				    WQ(p), p->lx.pos);
		return perr(p, "bad port '%.*s' (word %u): expected 1..65535 or a range N-M",
			    WQ(p), p->lx.pos);
	}
	p->r.fields |= bit;
	if (src) {
		p->r.sport = lo;
		p->r.sport_hi = hi;
	} else {
		p->r.dport = lo;
		p->r.dport_hi = hi;
	}
	if (!p->port_term) {
		p->port_term = term;
		p->port_pos = tpos;
	}
	return 0;
}

/* Address with optional /LEN of family @fam from the current word. */
static bool parse_prefix(const struct parser *p, uint8_t fam, uint8_t *addr, uint8_t *plen)
{
	const char *w = p->lx.w, *slash = memchr(w, '/', p->lx.wlen);
	size_t alen = slash ? (size_t)(slash - w) : (size_t)p->lx.wlen;
	uint64_t len = addr_bits(fam);
	char buf[INET6_ADDRSTRLEN];
	uint8_t a[16] = { 0 };

	if (alen >= sizeof(buf))
		return false;
	if (slash && !parse_num(slash + 1, p->lx.wlen - alen - 1, addr_bits(fam), &len))
		return false;
	memcpy(buf, w, alen);
	buf[alen] = '\0';
	if (inet_pton(fam == 4 ? AF_INET : AF_INET6, buf, a) != 1)
		return false;
	/*
	 * Host bits beyond the prefix (10.1.2.3/8) are accepted and cleared,
	 * like ip-route does: the rule means the network, and storing it
	 * masked makes equal rules compare equal and format alike.
	 */
	rule_mask_addr(addr, a, len, sizeof(a));
	*plen = len;
	return true;
}

/* "ip src|dst A.B.C.D[/LEN]", "ip6 src|dst X[/LEN]"; the current word is ip or ip6. */
static int parse_addr(struct parser *p)
{
	uint8_t fam = lex_is(&p->lx, "ip") ? 4 : 6;
	const char *kw = fam == 4 ? "ip" : "ip6", *fname = fam == 4 ? "IPv4" : "IPv6";
	unsigned int tpos = p->lx.pos;
	const char *dir;
	uint32_t bit;
	int err;

	if (!lex_next(&p->lx))
		return perr(p, "expected 'src' or 'dst' after '%s' (word %u)", kw, tpos);
	if (lex_is(&p->lx, "src"))
		dir = "src", bit = XSNAP_F_SRC;
	else if (lex_is(&p->lx, "dst"))
		dir = "dst", bit = XSNAP_F_DST;
	else
		return perr(p, "expected 'src' or 'dst' after '%s', got '%.*s' (word %u)", kw,
			    WQ(p), p->lx.pos);
	err = set_family(p, fam, kw, tpos);
	if (err)
		return err;
	if (p->r.fields & bit)
		return perr(p, "duplicate '%s %s' (word %u)", kw, dir, tpos);
	if (!lex_next(&p->lx))
		return perr(p, "expected an %s prefix after '%s' (word %u)", fname, dir, p->lx.pos);
	if (!parse_prefix(p, fam, bit == XSNAP_F_SRC ? p->r.src : p->r.dst,
			  bit == XSNAP_F_SRC ? &p->r.src_plen : &p->r.dst_plen))
		return perr(p, "bad %s prefix '%.*s' (word %u): expected %s", fname, WQ(p),
			    p->lx.pos,
			    fam == 4 ? "A.B.C.D[/0..32]" : "an IPv6 address[/0..128]");
	p->r.fields |= bit;
	return 0;
}

static int parse_vlan(struct parser *p)
{
	unsigned int tpos = p->lx.pos;
	uint64_t v;

	if (p->r.fields & XSNAP_F_VLAN)
		return perr(p, "duplicate 'vlan' (word %u)", tpos);
	if (!lex_next(&p->lx))
		return perr(p, "expected a VLAN id after 'vlan' (word %u)", tpos);
	if (!parse_num(p->lx.w, p->lx.wlen, VLAN_MAX, &v))
		return perr(p, "bad vlan '%.*s' (word %u): expected 0..4095", WQ(p), p->lx.pos);
	p->r.fields |= XSNAP_F_VLAN;
	p->r.vlan = v;
	return 0;
}

/* One term starting at the current word. */
static int parse_term(struct parser *p)
{
	struct lex *lx = &p->lx;

	p->qualifier = false;
	for (unsigned int i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (lex_is(lx, protos[i].name))
			return parse_proto(p, i);
	if (lex_is(lx, "src") || lex_is(lx, "dst"))
		return parse_port(p);
	if (lex_is(lx, "ip") || lex_is(lx, "ip6"))
		return parse_addr(p);
	if (lex_is(lx, "vlan"))
		return parse_vlan(p);
	if (lex_is(lx, "and"))
		return perr(p, "expected a term, got 'and' (word %u)", lx->pos);
	if (lex_is(lx, "port"))
		return perr(p, "'port' (word %u) needs 'src' or 'dst' before it", lx->pos);
	return perr(p, "unknown word '%.*s' (word %u)", WQ(p), lx->pos);
}

/* "action deliver|drop|pass", the end of the match; the current word is "action". */
static int parse_action(struct parser *p)
{
	unsigned int apos = p->lx.pos;

	if (!p->nterms)
		return perr(p, "expected a match term before 'action' (word %u)", apos);
	if (!lex_next(&p->lx))
		return perr(p, "expected deliver, drop or pass after 'action' (word %u)", apos);
	if (lex_is(&p->lx, "deliver"))
		p->r.action = XSNAP_ACT_DELIVER;
	else if (lex_is(&p->lx, "drop"))
		p->r.action = XSNAP_ACT_DROP;
	else if (lex_is(&p->lx, "pass"))
		p->r.action = XSNAP_ACT_PASS;
	else
		return perr(p, "bad action '%.*s' (word %u): expected deliver, drop or pass", WQ(p),
			    p->lx.pos);
	if (lex_next(&p->lx))
		return perr(p, "unexpected '%.*s' after the action (word %u)", WQ(p), p->lx.pos);
	return 0;
}

int rule_parse(const char *match, struct rule *r, char *err, size_t errlen)
{
	struct parser p = { .err = err, .errlen = errlen };
	int ret;

	if (!r)
		return perr(&p, "no rule to parse into");
	/* work on a copy: a failed parse leaves @r as it was */
	p.r = *r;
	p.r.action = XSNAP_ACT_DELIVER;
	p.r.fields = 0;
	p.r.l3_proto = p.r.proto = p.r.src_plen = p.r.dst_plen = 0;
	p.r.sport = p.r.dport = p.r.sport_hi = p.r.dport_hi = p.r.vlan = 0;
	memset(p.r.src, 0, sizeof(p.r.src));
	memset(p.r.dst, 0, sizeof(p.r.dst));
	p.lx.p = match ? match : "";

	if (!lex_next(&p.lx))
		return perr(&p, "empty match");
	for (;;) {
		if (lex_is(&p.lx, "action")) {
			ret = parse_action(&p);
			if (ret)
				return ret;
			break;
		}
		ret = parse_term(&p);
		if (ret)
			return ret;
		p.nterms++;
		if (!lex_next(&p.lx))
			break;
		if (lex_is(&p.lx, "action"))
			continue;
		/* tcpdump style: "udp dst port 53" is "udp and dst port 53" */
		if (p.qualifier && (lex_is(&p.lx, "src") || lex_is(&p.lx, "dst") ||
				    lex_is(&p.lx, "port")))
			continue;
		if (!lex_is(&p.lx, "and"))
			return perr(&p, "expected 'and' or 'action' before '%.*s' (word %u)",
				    WQ(&p), p.lx.pos);
		if (!lex_next(&p.lx))
			return perr(&p, "expected a term after 'and' (word %u)", p.lx.pos);
		if (lex_is(&p.lx, "action"))
			return perr(&p, "expected a term after 'and', got 'action' (word %u)",
				    p.lx.pos);
	}
	/*
	 * The protocol is part of the key, so "src port 53" alone would need
	 * two keys (UDP and TCP); the language asks for the protocol instead.
	 */
	if (p.port_term && (!(p.r.fields & XSNAP_F_PROTO) ||
			    (p.r.proto != IPPROTO_UDP && p.r.proto != IPPROTO_TCP)))
		return perr(&p, "port needs 'udp' or 'tcp': '%s' (word %u)", p.port_term,
			    p.port_pos);
	if (err && errlen)
		err[0] = '\0';
	*r = p.r;
	return 0;
}

/* ---- formatter ----------------------------------------------------------- */

struct sbuf {
	char *buf;
	size_t len;
	size_t off;		/* length of the full text, even past @len */
	unsigned int nterms;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *sb, const char *fmt,
							     ...)
{
	size_t room = sb->off < sb->len ? sb->len - sb->off : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? sb->buf + sb->off : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		sb->off += n;
}

static void sb_term(struct sbuf *sb)
{
	if (sb->nterms++)
		sb_printf(sb, " and ");
}

static void sb_prefix(struct sbuf *sb, const char *dir, uint8_t fam, const uint8_t *addr,
		      unsigned int plen)
{
	char text[INET6_ADDRSTRLEN];
	uint8_t a[16];

	rule_mask_addr(a, addr, plen, sizeof(a));
	inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, text, sizeof(text));
	sb_term(sb);
	sb_printf(sb, "%s %s %s", fam == 4 ? "ip" : "ip6", dir, text);
	if (plen != addr_bits(fam))
		sb_printf(sb, "/%u", plen);
}

/* Could rule_parse() have produced the match and action of @r (up to masking)? */
static bool rule_expressible(const struct rule *r)
{
	uint32_t f = r->fields;
	uint8_t fam = r->l3_proto;

	if ((f & ~F_ALL) || r->action > XSNAP_ACT_PASS)
		return false;
	if (!f)
		return false;
	if (f & F_FAMILY) {
		if (!(f & XSNAP_F_L3) || (fam != 4 && fam != 6))
			return false;
		if ((f & XSNAP_F_SRC) && r->src_plen > addr_bits(fam))
			return false;
		if ((f & XSNAP_F_DST) && r->dst_plen > addr_bits(fam))
			return false;
	}
	if (f & XSNAP_F_PROTO) {
		switch (r->proto) {
		case IPPROTO_UDP:
		case IPPROTO_TCP:
			break;
		case IPPROTO_ICMP:
			if (!(f & XSNAP_F_L3) || fam != 4)
				return false;
			break;
		case IPPROTO_ICMPV6:
			if (!(f & XSNAP_F_L3) || fam != 6)
				return false;
			break;
		default:
			return false;
		}
	}
	/* a bare family is only expressible through an address or icmp/icmp6 */
	if ((f & F_FAMILY) == XSNAP_F_L3 &&
	    (!(f & XSNAP_F_PROTO) || (r->proto != IPPROTO_ICMP && r->proto != IPPROTO_ICMPV6)))
		return false;
	if (f & (XSNAP_F_SPORT | XSNAP_F_DPORT)) {
		if (!(f & XSNAP_F_PROTO) || (r->proto != IPPROTO_UDP && r->proto != IPPROTO_TCP))
			return false;
		if (((f & XSNAP_F_SPORT) && !ports_ok(r->sport, r->sport_hi)) ||
		    ((f & XSNAP_F_DPORT) && !ports_ok(r->dport, r->dport_hi)))
			return false;
	}
	if ((f & XSNAP_F_VLAN) && r->vlan > VLAN_MAX)
		return false;
	return true;
}

int rule_format(const struct rule *r, char *buf, size_t len)
{
	struct sbuf sb = { .buf = buf, .len = buf ? len : 0 };
	uint32_t f;

	if (!r || !rule_expressible(r))
		return fail(EINVAL);
	f = r->fields;
	if (sb.len)
		buf[0] = '\0';
	if (f & XSNAP_F_PROTO) {
		for (unsigned int i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
			if (protos[i].proto == r->proto) {
				sb_term(&sb);
				sb_printf(&sb, "%s", protos[i].name);
			}
		}
	}
	/* ports only come with udp/tcp: the first one qualifies it, "udp dst port 53" */
	if (f & XSNAP_F_SPORT) {
		sb_printf(&sb, " src port %u", r->sport);
		if (is_range(r->sport, r->sport_hi))
			sb_printf(&sb, "-%u", r->sport_hi);
	}
	if (f & XSNAP_F_DPORT) {
		sb_printf(&sb, "%s dst port %u", (f & XSNAP_F_SPORT) ? " and" : "", r->dport);
		if (is_range(r->dport, r->dport_hi))
			sb_printf(&sb, "-%u", r->dport_hi);
	}
	if (f & XSNAP_F_SRC)
		sb_prefix(&sb, "src", r->l3_proto, r->src, r->src_plen);
	if (f & XSNAP_F_DST)
		sb_prefix(&sb, "dst", r->l3_proto, r->dst, r->dst_plen);
	if (f & XSNAP_F_VLAN) {
		sb_term(&sb);
		sb_printf(&sb, "vlan %u", r->vlan);
	}
	if (r->action == XSNAP_ACT_DROP)
		sb_printf(&sb, " action drop");
	else if (r->action == XSNAP_ACT_PASS)
		sb_printf(&sb, " action pass");
	if (sb.off >= sb.len)
		return fail(ENOSPC);
	return sb.off;
}

/* ---- compiler ------------------------------------------------------------ */

/* What rule_compile() accepts (a superset of what rule_parse() produces). */
static bool rule_valid(const struct rule *r)
{
	uint32_t f = r->fields;

	if (!r->id || r->prio == XSNAP_PRIO_NONE || r->tenant >= XSNAP_MAX_TENANTS ||
	    r->action > XSNAP_ACT_PASS || (f & ~F_ALL))
		return false;
	if (f & F_FAMILY) {
		if (r->l3_proto != 4 && r->l3_proto != 6)
			return false;
		if ((f & XSNAP_F_SRC) && r->src_plen > addr_bits(r->l3_proto))
			return false;
		if ((f & XSNAP_F_DST) && r->dst_plen > addr_bits(r->l3_proto))
			return false;
	}
	if (((f & XSNAP_F_SPORT) && !ports_ok(r->sport, r->sport_hi)) ||
	    ((f & XSNAP_F_DPORT) && !ports_ok(r->dport, r->dport_hi)))
		return false;
	if ((f & XSNAP_F_VLAN) && r->vlan > VLAN_MAX)
		return false;
	return true;
}

/*
 * Normalised shape of @r.  A /0 prefix matches every address, so it is the
 * same as no address term; the family it names still has to match, so
 * XSNAP_F_L3 stays ("ip src 0.0.0.0/0" = "any IPv4 frame").  Every group
 * with an address field carries XSNAP_F_L3 too, and fields it lacks have
 * zero lengths, so equal shapes are equal bytes.
 */
static void rule_shape(const struct rule *r, struct xsnap_group *g)
{
	uint32_t f = r->fields;

	/* before dropping /0 terms: SRC/DST imply L3 even when it is not set */
	if (f & F_FAMILY)
		f |= XSNAP_F_L3;
	if ((f & XSNAP_F_SRC) && !r->src_plen)
		f &= ~XSNAP_F_SRC;
	if ((f & XSNAP_F_DST) && !r->dst_plen)
		f &= ~XSNAP_F_DST;
	if ((f & XSNAP_F_SPORT) && is_range(r->sport, r->sport_hi))
		f |= XSNAP_F_SPORT_CLASS;
	if ((f & XSNAP_F_DPORT) && is_range(r->dport, r->dport_hi))
		f |= XSNAP_F_DPORT_CLASS;
	memset(g, 0, sizeof(*g));
	g->fields = f;
	g->l3_proto = (f & XSNAP_F_L3) ? r->l3_proto : 0;
	g->src_plen = (f & XSNAP_F_SRC) ? r->src_plen : 0;
	g->dst_plen = (f & XSNAP_F_DST) ? r->dst_plen : 0;
}

/*
 * The stand-in of @r for frames whose protocol and ports are unknown (an
 * IPv6 chain the parser did not follow to its end): a drop rule with
 * protocol or port terms, those terms left out, so that it drops such a
 * frame when its other terms match (fail closed: the frame might be what
 * the rule drops).  Deliver and pass rules get none: they apply only to
 * what is known.  False when @r needs none.
 */
static bool l4any_rule(const struct rule *r, struct rule *out)
{
	if (r->action != XSNAP_ACT_DROP || !(r->fields & (XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT)))
		return false;
	*out = *r;
	out->fields &= ~(uint32_t)(XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT);
	out->proto = 0;
	out->sport = out->sport_hi = out->dport = out->dport_hi = 0;
	return true;
}

/* Shape of a stand-in from l4any_rule(): its own shape, marked L4_ANY. */
static void l4any_shape(const struct rule *pr, struct xsnap_group *g)
{
	rule_shape(pr, g);
	g->fields |= XSNAP_F_L4_ANY;
}

/*
 * Key of @r in group @g, for the source and destination port classes
 * @sc and @dc (used only when the group matches that port by class).
 */
static void rule_key(const struct rule *r, const struct xsnap_group *g, uint8_t bank,
		     unsigned int gi, uint16_t sc, uint16_t dc, struct xsnap_rule_key *k)
{
	unsigned int bytes = addr_bytes(g->l3_proto);

	memset(k, 0, sizeof(*k));
	k->bank = bank;
	k->group = gi;
	k->l3_proto = g->l3_proto;
	if (g->fields & XSNAP_F_PROTO)
		k->proto = r->proto;
	if (g->fields & XSNAP_F_SPORT)
		k->sport = (g->fields & XSNAP_F_SPORT_CLASS) ? sc : htons(r->sport);
	if (g->fields & XSNAP_F_DPORT)
		k->dport = (g->fields & XSNAP_F_DPORT_CLASS) ? dc : htons(r->dport);
	if (g->fields & XSNAP_F_VLAN)
		k->vlan = r->vlan;
	if (g->fields & XSNAP_F_SRC)
		rule_mask_addr(k->src, r->src, g->src_plen, bytes);
	if (g->fields & XSNAP_F_DST)
		rule_mask_addr(k->dst, r->dst, g->dst_plen, bytes);
}

/* (prio, id) better than (bprio, bid)?  XSNAP_PRIO_NONE loses to any rule. */
static bool better(uint32_t prio, uint32_t id, uint32_t bprio, uint32_t bid)
{
	return prio < bprio || (prio == bprio && id < bid);
}

static void val_init(struct xsnap_rule_val *v)
{
	memset(v, 0, sizeof(*v));
	v->deliver_prio = XSNAP_PRIO_NONE;
	v->stop_prio = XSNAP_PRIO_NONE;
}

static void val_add(struct xsnap_rule_val *v, const struct rule *r)
{
	if (r->action == XSNAP_ACT_DELIVER) {
		v->tenant_mask |= 1u << r->tenant;
		if (better(r->prio, r->id, v->deliver_prio, v->deliver_id)) {
			v->deliver_prio = r->prio;
			v->deliver_id = r->id;
		}
	} else if (better(r->prio, r->id, v->stop_prio, v->stop_id)) {
		v->stop_prio = r->prio;
		v->stop_id = r->id;
		v->stop_action = r->action;
	}
}

struct shape {
	struct xsnap_group g;
	const struct rule *best;	/* lowest (prio, id, index) rule of the shape */
	unsigned int best_idx;
	unsigned int index;		/* group index assigned */
};

static bool shape_before(const struct shape *a, const struct shape *b)
{
	if (a->best->prio != b->best->prio)
		return a->best->prio < b->best->prio;
	if (a->best->id != b->best->id)
		return a->best->id < b->best->id;
	return a->best_idx < b->best_idx;
}

static int shape_find(const struct shape *shapes, unsigned int nshapes,
		      const struct xsnap_group *g)
{
	for (unsigned int s = 0; s < nshapes; s++)
		if (!memcmp(&shapes[s].g, g, sizeof(*g)))
			return s;
	return -1;
}

/* Count rule @r (index @i) under shape @g: a new shape (false if there are
 * @max already) or a better best rule for a known one. */
static bool shape_add(struct shape *shapes, unsigned int *nshapes, unsigned int max,
		      const struct xsnap_group *g, const struct rule *r, unsigned int i)
{
	int s = shape_find(shapes, *nshapes, g);

	if (s < 0) {
		if (*nshapes == max)
			return false;
		s = (int)(*nshapes)++;
		shapes[s].g = *g;
		shapes[s].best = r;
		shapes[s].best_idx = i;
	} else if (better(r->prio, r->id, shapes[s].best->prio, shapes[s].best->id)) {
		shapes[s].best = r;
		shapes[s].best_idx = i;
	}
	return true;
}

/* Group index = rank of the shape's best rule, from @base (insertion
 * sort: at most 16 shapes). */
static void shapes_order(struct shape *shapes, unsigned int nshapes, struct shape **order,
			 unsigned int base)
{
	for (unsigned int s = 0; s < nshapes; s++) {
		unsigned int j = s;

		for (; j > 0 && shape_before(&shapes[s], order[j - 1]); j--)
			order[j] = order[j - 1];
		order[j] = &shapes[s];
	}
	for (unsigned int j = 0; j < nshapes; j++)
		order[j]->index = base + j;
}

struct sort_ent {
	struct xsnap_rule_key key;
	unsigned int idx;	/* rule index: makes the order total and the merge stable */
};

static int sort_ent_cmp(const void *a, const void *b)
{
	const struct sort_ent *x = a, *y = b;
	int c = memcmp(&x->key, &y->key, sizeof(x->key));

	if (c)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The compiler's message into @err (if any). */
__attribute__((format(printf, 3, 4))) static void cerr(char *err, size_t errlen, const char *fmt,
							...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
}

/*
 * Port classes of one direction: a class starts at every first port of a
 * range and right after every last port, so each range is a run of whole
 * classes.  @cls[p] = number of such starts <= p.  Returns the number of
 * classes.
 */
static uint32_t port_classes(const struct rule *rules, unsigned int n, uint32_t bit, bool src,
			     uint16_t *cls)
{
	uint32_t c = 0;

	memset(cls, 0, XSNAP_PORTS * sizeof(*cls));
	/* mark the starts (port 0 never starts one: ranges begin at 1 or later) */
	for (unsigned int i = 0; i < n; i++) {
		uint16_t lo = src ? rules[i].sport : rules[i].dport;
		uint16_t hi = src ? rules[i].sport_hi : rules[i].dport_hi;

		if (!(rules[i].fields & bit) || !is_range(lo, hi))
			continue;
		cls[lo] = 1;
		if (hi < XSNAP_PORTS - 1)
			cls[hi + 1] = 1;
	}
	for (uint32_t p = 0; p < XSNAP_PORTS; p++) {
		c += cls[p];
		cls[p] = (uint16_t)c;
	}
	return c + 1;
}

/* The classes [*@first, *@last] a port term covers in @cls (one port: 0, 0). */
static uint32_t term_classes(const uint16_t *cls, uint16_t lo, uint16_t hi, uint16_t *first,
			     uint16_t *last)
{
	if (!is_range(lo, hi)) {
		*first = *last = 0;
		return 1;
	}
	*first = cls[lo];
	*last = cls[hi];
	return (uint32_t)*last - *first + 1;
}

int rule_compile(const struct rule *rules, unsigned int n, uint8_t bank, struct xsnap_bank *out,
		 struct rule_entry *ents, unsigned int *nents, struct rule_ports *ports, char *err,
		 size_t errlen)
{
	struct shape shapes[XSNAP_MAX_GROUPS], *order[XSNAP_MAX_GROUPS];
	struct shape l4any[XSNAP_MAX_L4ANY_GROUPS], *l4order[XSNAP_MAX_L4ANY_GROUPS];
	unsigned int nshapes = 0, nl4any = 0, cap, nkeys = 0, nranges = 0, k;
	struct rule_ports *cls = ports;
	struct sort_ent *se = NULL;
	uint64_t total = 0;
	struct xsnap_group g;

	cerr(err, errlen, "%s", "");
	if (!out || !nents || (n && !rules) || (*nents && !ents) || bank > 1) {
		cerr(err, errlen, "bad arguments");
		return fail(EINVAL);
	}
	cap = *nents < XSNAP_MAX_RULES ? *nents : XSNAP_MAX_RULES;

	/* pass 1: validate, collect the shapes and the best rule of each, and
	 * the shapes of the drop rules' L4_ANY stand-ins */
	for (unsigned int i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		struct rule pr;

		if (!rule_valid(r)) {
			cerr(err, errlen, "rule %u is not valid", r->id);
			return fail(EINVAL);
		}
		rule_shape(r, &g);
		if (g.fields & (XSNAP_F_SPORT_CLASS | XSNAP_F_DPORT_CLASS))
			nranges++;
		if (!shape_add(shapes, &nshapes, XSNAP_MAX_GROUPS, &g, r, i)) {
			cerr(err, errlen,
			     "more than %d distinct rule shapes (fields, prefix lengths, "
			     "single ports or ranges)",
			     XSNAP_MAX_GROUPS);
			return fail(ENOSPC);
		}
		/* a stand-in's shape is a shape of drop rules less its L4
		 * fields: never more of them than shapes */
		if (l4any_rule(r, &pr)) {
			l4any_shape(&pr, &g);
			if (!shape_add(l4any, &nl4any, XSNAP_MAX_L4ANY_GROUPS, &g, r, i)) {
				cerr(err, errlen, "more than %d shapes of drop rules",
				     XSNAP_MAX_L4ANY_GROUPS);
				return fail(ENOSPC);
			}
		}
	}
	if (nranges && !ports) {
		cerr(err, errlen, "port ranges need a port class table");
		return fail(EINVAL);
	}

	/* group index = rank of the shape's best rule; the L4_ANY groups
	 * after all shapes */
	shapes_order(shapes, nshapes, order, 0);
	shapes_order(l4any, nl4any, l4order, nshapes);

	/* port classes: built in a scratch table so @ports is untouched on error */
	if (nranges) {
		cls = malloc(sizeof(*cls));
		if (!cls)
			return fail(ENOMEM);
		cls->nsport = port_classes(rules, n, XSNAP_F_SPORT, true, cls->sport);
		cls->ndport = port_classes(rules, n, XSNAP_F_DPORT, false, cls->dport);
	}

	/* pass 2: count the keys (a range has one per class, a stand-in one
	 * more), refuse too many */
	for (unsigned int i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		struct rule pr;
		uint16_t a, b;
		uint64_t nk = 1;

		total += l4any_rule(r, &pr);
		if (r->fields & XSNAP_F_SPORT)
			nk *= nranges ? term_classes(cls->sport, r->sport, r->sport_hi, &a, &b) : 1;
		if (r->fields & XSNAP_F_DPORT)
			nk *= nranges ? term_classes(cls->dport, r->dport, r->dport_hi, &a, &b) : 1;
		total += nk;
	}
	/* equal keys merge below; beyond this bound they cannot merge enough */
	if (total > (uint64_t)KEYS_BEFORE_MERGE_MAX)
		goto nospc;

	/* pass 3: every key, sorted so that equal keys are adjacent */
	se = malloc((total ? total : 1) * sizeof(*se));
	if (!se)
		goto nomem;
	k = 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		uint16_t s0 = 0, s1 = 0, d0 = 0, d1 = 0;
		struct rule pr;
		int s;

		if (l4any_rule(r, &pr)) {
			l4any_shape(&pr, &g);
			s = shape_find(l4any, nl4any, &g);
			rule_key(&pr, &g, bank, l4any[s].index, 0, 0, &se[k].key);
			se[k++].idx = i;
		}
		rule_shape(r, &g);
		s = shape_find(shapes, nshapes, &g);
		if (g.fields & XSNAP_F_SPORT_CLASS)
			term_classes(cls->sport, r->sport, r->sport_hi, &s0, &s1);
		if (g.fields & XSNAP_F_DPORT_CLASS)
			term_classes(cls->dport, r->dport, r->dport_hi, &d0, &d1);
		for (uint32_t sc = s0; sc <= s1; sc++) {
			for (uint32_t dc = d0; dc <= d1; dc++) {
				rule_key(r, &g, bank, shapes[s].index, sc, dc, &se[k].key);
				se[k++].idx = i;
			}
		}
	}
	qsort(se, total, sizeof(*se), sort_ent_cmp);
	for (k = 0; k < total; k++)
		if (!k || memcmp(&se[k].key, &se[k - 1].key, sizeof(se[k].key)))
			nkeys++;
	if (nkeys > cap)
		goto nospc;

	/* pass 4: merge runs of equal keys */
	nkeys = 0;
	for (k = 0; k < total; k++) {
		if (!k || memcmp(&se[k].key, &se[k - 1].key, sizeof(se[k].key))) {
			ents[nkeys].key = se[k].key;
			val_init(&ents[nkeys].val);
			nkeys++;
		}
		val_add(&ents[nkeys - 1].val, &rules[se[k].idx]);
	}
	free(se);

	memset(out, 0, sizeof(*out));
	out->ngroups = nshapes;
	out->nl4any = nl4any;
	for (unsigned int j = 0; j < nshapes; j++) {
		out->groups[j] = order[j]->g;
		if (order[j]->g.fields & (XSNAP_F_SPORT_CLASS | XSNAP_F_DPORT_CLASS))
			out->flags |= XSNAP_BANK_PORT_CLASSES;
	}
	for (unsigned int j = 0; j < nl4any; j++)
		out->groups[nshapes + j] = l4order[j]->g;
	if (ports && nranges) {
		memcpy(ports, cls, sizeof(*ports));
		free(cls);
	} else if (ports) {
		memset(ports, 0, sizeof(*ports));
		ports->nsport = ports->ndport = 1;
	}
	*nents = nkeys;
	return 0;
nospc:
	cerr(err, errlen, "%u rules %s %llu keys, more than the %u the rule map holds%s", n,
	     se ? "need" : "expand into",
	     se ? (unsigned long long)nkeys : (unsigned long long)total, cap,
	     nranges ? " (a port range takes one key per port class it covers, and every "
		       "range endpoint starts a class: use fewer, wider or non-overlapping "
		       "ranges)" :
		       "");
	free(se);
	if (cls != ports)
		free(cls);
	return fail(ENOSPC);
nomem:
	if (cls != ports)
		free(cls);
	cerr(err, errlen, "out of memory");
	return fail(ENOMEM);
}

/* ---- oracles ------------------------------------------------------------- */

/* The verdict being built, combined the same way by both classifiers. */
struct verdict {
	uint32_t mask;
	uint32_t deliver_prio, deliver_id;
	uint32_t stop_prio, stop_id, stop_action;
};

static void verdict_init(struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->deliver_prio = XSNAP_PRIO_NONE;
	v->stop_prio = XSNAP_PRIO_NONE;
}

static int verdict_end(const struct verdict *v, uint32_t *tenant_mask, uint32_t *rule_id)
{
	*tenant_mask = 0;
	*rule_id = 0;
	if (v->stop_prio != XSNAP_PRIO_NONE && v->stop_prio <= v->deliver_prio) {
		*rule_id = v->stop_id;
		return v->stop_action;
	}
	if (v->deliver_prio != XSNAP_PRIO_NONE) {
		*tenant_mask = v->mask;
		*rule_id = v->deliver_id;
		return XSNAP_ACT_DELIVER;
	}
	return -1;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < plen / 8; i++)
		if (a[i] != b[i])
			return false;
	if (plen % 8)
		return !((a[i] ^ b[i]) & (uint8_t)(0xff << (8 - plen % 8)));
	return true;
}

static bool ref_match(const struct rule *r, const struct rule_frame *f)
{
	uint32_t fl = r->fields;

	if ((fl & F_FAMILY) && f->l3_proto != r->l3_proto)
		return false;
	if (f->l4_unknown && (fl & (XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT))) {
		/* the frame's protocol and ports are unknown: it may be what a
		 * drop rule drops (fail closed), it is nothing another rule
		 * can be sure of */
		if (r->action != XSNAP_ACT_DROP)
			return false;
	} else {
		if ((fl & XSNAP_F_PROTO) && f->proto != r->proto)
			return false;
		if ((fl & XSNAP_F_SPORT) && (!f->has_ports || f->sport < r->sport ||
					     f->sport > port_last(r->sport, r->sport_hi)))
			return false;
		if ((fl & XSNAP_F_DPORT) && (!f->has_ports || f->dport < r->dport ||
					     f->dport > port_last(r->dport, r->dport_hi)))
			return false;
	}
	if ((fl & XSNAP_F_SRC) && !prefix_eq(f->src, r->src, r->src_plen))
		return false;
	if ((fl & XSNAP_F_DST) && !prefix_eq(f->dst, r->dst, r->dst_plen))
		return false;
	if ((fl & XSNAP_F_VLAN) && (!f->has_vlan || f->vlan != r->vlan))
		return false;
	return true;
}

/*
 * Written straight from the semantics, sharing nothing with the compiled
 * path but the match test, so that a mistake in one shows against the other.
 */
int rule_ref_classify(const struct rule *rules, unsigned int n, const struct rule_frame *f,
		      uint32_t *tenant_mask, uint32_t *rule_id)
{
	const struct rule *best_deliver = NULL, *best_stop = NULL;
	uint32_t mask = 0;

	for (unsigned int i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		const struct rule **best;

		if (!ref_match(r, f))
			continue;
		if (r->action == XSNAP_ACT_DELIVER)
			mask |= 1u << r->tenant;
		best = r->action == XSNAP_ACT_DELIVER ? &best_deliver : &best_stop;
		if (!*best || r->prio < (*best)->prio ||
		    (r->prio == (*best)->prio && r->id < (*best)->id))
			*best = r;
	}
	*tenant_mask = 0;
	*rule_id = 0;
	if (best_stop && (!best_deliver || best_stop->prio <= best_deliver->prio)) {
		*rule_id = best_stop->id;
		return best_stop->action;
	}
	if (!best_deliver)
		return -1;
	*tenant_mask = mask;
	*rule_id = best_deliver->id;
	return XSNAP_ACT_DELIVER;
}

/*
 * The key the XDP program builds for @f in group @gi (xsnap_make_key() in
 * bpf/xsnap_parse.h), or false when the frame cannot match the group.
 */
static bool frame_key(const struct xsnap_group *g, uint8_t bank, unsigned int gi,
		      const struct rule_ports *ports, const struct rule_frame *f,
		      struct xsnap_rule_key *k)
{
	unsigned int bytes = addr_bytes(g->l3_proto);

	memset(k, 0, sizeof(*k));
	k->bank = bank;
	k->group = gi;
	if (g->fields & XSNAP_F_L4_ANY) {
		if (!f->l4_unknown)
			return false;
	} else if ((g->fields & (XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT)) && f->l4_unknown) {
		return false;
	}
	if (g->fields & F_FAMILY) {
		if (f->l3_proto != g->l3_proto)
			return false;
		k->l3_proto = f->l3_proto;
	}
	if (g->fields & XSNAP_F_PROTO)
		k->proto = f->proto;
	if (g->fields & (XSNAP_F_SPORT | XSNAP_F_DPORT)) {
		if (!f->has_ports)
			return false;
		if (g->fields & XSNAP_F_SPORT)
			k->sport = (g->fields & XSNAP_F_SPORT_CLASS) ? ports->sport[f->sport] :
								       htons(f->sport);
		if (g->fields & XSNAP_F_DPORT)
			k->dport = (g->fields & XSNAP_F_DPORT_CLASS) ? ports->dport[f->dport] :
								       htons(f->dport);
	}
	if (g->fields & XSNAP_F_VLAN) {
		if (!f->has_vlan)
			return false;
		k->vlan = f->vlan;
	}
	if (g->fields & XSNAP_F_SRC)
		rule_mask_addr(k->src, f->src, g->src_plen, bytes);
	if (g->fields & XSNAP_F_DST)
		rule_mask_addr(k->dst, f->dst, g->dst_plen, bytes);
	return true;
}

static const struct xsnap_rule_val *ents_lookup(const struct rule_entry *ents, unsigned int n,
						const struct xsnap_rule_key *k)
{
	unsigned int lo = 0, hi = n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int c = memcmp(&ents[mid].key, k, sizeof(*k));

		if (!c)
			return &ents[mid].val;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int rule_compiled_classify(const struct xsnap_bank *b, const struct rule_entry *ents,
			   unsigned int n, uint8_t bank, const struct rule_ports *ports,
			   const struct rule_frame *f, uint32_t *tenant_mask, uint32_t *rule_id)
{
	unsigned int ngroups = b->ngroups < XSNAP_MAX_GROUPS ? b->ngroups : XSNAP_MAX_GROUPS;
	struct xsnap_rule_key k;
	struct verdict v;

	/* the L4_ANY groups after the shapes, for frames whose L4 is unknown */
	if (f->l4_unknown)
		ngroups += b->nl4any < XSNAP_MAX_L4ANY_GROUPS ? b->nl4any : XSNAP_MAX_L4ANY_GROUPS;
	verdict_init(&v);
	for (unsigned int gi = 0; gi < ngroups; gi++) {
		const struct xsnap_rule_val *val;

		const struct xsnap_group *g = &b->groups[gi];

		if ((g->fields & (XSNAP_F_SPORT_CLASS | XSNAP_F_DPORT_CLASS)) && !ports)
			continue;	/* no table: documented as not allowed */
		if (!frame_key(g, bank, gi, ports, f, &k))
			continue;
		val = ents_lookup(ents, n, &k);
		if (!val)
			continue;
		v.mask |= val->tenant_mask;
		if (better(val->deliver_prio, val->deliver_id, v.deliver_prio, v.deliver_id)) {
			v.deliver_prio = val->deliver_prio;
			v.deliver_id = val->deliver_id;
		}
		if (better(val->stop_prio, val->stop_id, v.stop_prio, v.stop_id)) {
			v.stop_prio = val->stop_prio;
			v.stop_id = val->stop_id;
			v.stop_action = val->stop_action;
		}
	}
	return verdict_end(&v, tenant_mask, rule_id);
}
