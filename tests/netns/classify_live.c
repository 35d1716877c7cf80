// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * classify_live: rules and tenants change while a stream flows; every frame
 * must be classified by the rule set in force when it arrived, and none may
 * reach a tenant after its deletion returned.  Run by
 * tests/netns/test_classify.sh in the rx namespace of a lab:
 *
 *   classify_live -i IFACE --dst IP [--stream N] [--change-ms MS] [-R READY]
 *                 [-S STOP]
 *
 * It creates READY once it receives, runs its changes from the first frame
 * on, and ends when STOP exists (the sender is done) and no frame came for
 * 300 ms, or, without -S, after 500 ms without a frame.
 * The stream (xsnap-gen --stream N --dport 9000-9007) cycles through eight
 * destination ports, one frame each, with a sequence number in its payload.
 * A witness tenant W has a deliver rule for all eight ports at the worst
 * prio, so every frame that is delivered at all is delivered to W too: W's
 * socket sees the metadata (tenant mask, rule id, classification time
 * rx_ns) of every delivered frame.  Other tenants come and go, with rules,
 * port ranges, drop and pass rules; a tenant added late usually reuses the
 * slot of one deleted earlier.
 *
 * Every change is timed (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns()):
 * rule set V(i) is in force from the end of change i to the start of change
 * i + 1; during change i a frame may see V(i - 1) or V(i), never a mix.  The
 * checks, after the stream ended:
 *  1. each frame W got: its tenant mask and rule id equal what the reference
 *     classifier (rule_ref_classify() over the rule set) gives under a set
 *     in force at its rx_ns;
 *  2. each frame W did not get (sequence gap): a set in force around it
 *     (between its neighbours' rx_ns) does not deliver it (drop, pass, no
 *     match); otherwise it was lost;
 *  3. each tenant socket got exactly the frames tagged with its slot while
 *     the tenant existed, none classified after its deletion returned, and
 *     a deleted tenant's socket ends with -ENOENT.
 * Prints one line per check and a summary; exit status 0 when all hold.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "payload.h"
#include "rule.h"
#include "xsnap_parse.h"

#define MAX_SEQ (1u << 20)
#define MAX_RULES 64
#define MAX_CHANGES 64
#define MAX_SOCKS 16
#define BATCH 64
#define NPORTS 8
#define PORT0 9000

/* ---- what was received -------------------------------------------------------- */

struct seen {
	uint64_t rx_ns;		/* W's copy: classification time; 0 = W did not get it */
	uint32_t mask;		/* W's copy: tenant mask in the metadata */
	uint32_t rule_id;
	uint32_t socks;		/* bit s: socket s got the frame */
};

struct tsock {
	char tenant[32];
	int slot;
	struct xsnap_sock *sock;
	bool done;		/* -ENOENT seen, closed */
	uint64_t frames, foreign, bad, late;	/* late: classified after its deletion */
	uint64_t born;		/* when xsnap_tenant_add() was called */
	uint64_t del_end;	/* when xsnap_tenant_del() returned, 0 if alive */
};

static struct {
	const char *ifname, *dst, *ready, *stop;
	uint32_t stream;
	unsigned int change_ms;
	uint32_t mode;
} opt = { .stream = 7, .change_ms = 120 };

static struct xsnap_ctx *ctx;
static struct seen *seen;
static struct tsock socks[MAX_SOCKS];
static int nsocks;
static pthread_mutex_t socks_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop;
static atomic_ullong total_frames, last_rx_mono;
static uint64_t max_seq_seen;
static struct rule_frame tmpl;	/* the stream's frame, but for the ports */
static bool have_tmpl;
static uint16_t sport_of[NPORTS];

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One frame of socket @s. */
static void account(int s, const struct xsnap_frame *f)
{
	const struct xsnap_meta *m = xsnap_frame_meta(f);
	const uint8_t *b = xsnap_frame_data(f);
	uint32_t len = xsnap_frame_len(f), stream;
	struct tsock *t = &socks[s];
	const void *pl;
	size_t pllen;
	uint64_t seq;
	struct xsnap_pkt p;

	t->frames++;
	if (!m || m->magic != XSNAP_META_MAGIC || payload_of_frame(b, len, &pl, &pllen) ||
	    payload_check(pl, pllen, &stream, &seq) || stream != opt.stream || seq >= MAX_SEQ ||
	    xsnap_parse(b, b + len, &p)) {
		t->bad++;
		return;
	}
	if (!(m->tenant_mask & (1u << t->slot)))
		t->foreign++;
	if (t->del_end && m->rx_ns > t->del_end)
		t->late++;
	seen[seq].socks |= 1u << s;
	if (s == 0) {
		seen[seq].rx_ns = m->rx_ns;
		seen[seq].mask = m->tenant_mask;
		seen[seq].rule_id = m->rule_id;
		if (!have_tmpl) {
			rule_frame_of_pkt(&p, &tmpl);
			have_tmpl = true;
		}
		if (ntohs(p.dport) >= PORT0 && ntohs(p.dport) < PORT0 + NPORTS)
			sport_of[ntohs(p.dport) - PORT0] = ntohs(p.sport);
		if (seq > max_seq_seen)
			max_seq_seen = seq;
		atomic_store(&last_rx_mono, mono_ns());
	}
	atomic_fetch_add(&total_frames, 1);
}

/* The receiving thread: every socket, non-blocking, in turn. */
static void *receiver(void *arg)
{
	struct xsnap_frame *v[BATCH];

	(void)arg;
	while (!atomic_load(&stop)) {
		int got = 0;

		pthread_mutex_lock(&socks_lock);
		for (int s = 0; s < nsocks; s++) {
			int n;

			if (socks[s].done)
				continue;
			n = xsnap_recv(socks[s].sock, v, BATCH, 0);
			if (n == -ENOENT) {
				/* the tenant is gone and its log drained */
				xsnap_sock_close(socks[s].sock);
				socks[s].sock = NULL;
				socks[s].done = true;
				continue;
			}
			if (n < 0) {
				fprintf(stderr, "recv on %s: %s\n", socks[s].tenant, strerror(-n));
				continue;
			}
			for (int i = 0; i < n; i++)
				account(s, v[i]);
			xsnap_release(socks[s].sock, v, (unsigned int)n);
			got += n;
		}
		pthread_mutex_unlock(&socks_lock);
		if (!got)
			usleep(100);
	}
	return NULL;
}

/* ---- the rule sets in force --------------------------------------------------- */

struct version {
	uint64_t start, end;	/* the change that made it: [start, end] */
	struct rule rules[MAX_RULES];
	unsigned int n;
};

static struct version versions[MAX_CHANGES + 1];
static unsigned int nversions;
static struct rule cur[MAX_RULES];	/* the model of the live set */
static unsigned int ncur;
static char tnames[XSNAP_MAX_TENANTS][32];	/* slot -> tenant, in the model */

static int failures;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static void version_push(uint64_t start, uint64_t end)
{
	struct version *v = &versions[nversions++];

	v->start = start;
	v->end = end;
	memcpy(v->rules, cur, sizeof(cur));
	v->n = ncur;
}

static int tenant_slot(const char *name)
{
	for (int i = 0; i < XSNAP_MAX_TENANTS; i++)
		if (!strcmp(tnames[i], name))
			return i;
	return -1;
}

/* Changes, each timed and mirrored in the model. */
static int add_tenant(const char *name, bool with_socket)
{
	XSNAP_OPTS(xsnap_tenant_opts, to, .quota = 2048);
	uint64_t t0 = mono_ns(), t1;
	int slot = xsnap_tenant_add(ctx, name, &to);

	t1 = mono_ns();
	if (slot < 0) {
		fail("tenant add %s: %s", name, strerror(-slot));
		return -1;
	}
	snprintf(tnames[slot], sizeof(tnames[slot]), "%s", name);
	version_push(t0, t1);
	if (with_socket) {
		struct xsnap_sock *s = xsnap_socket(ctx, name, NULL);

		if (!s) {
			fail("socket on %s: %s", name, strerror(errno));
			return -1;
		}
		pthread_mutex_lock(&socks_lock);
		socks[nsocks] = (struct tsock){ .slot = slot, .sock = s, .born = t0 };
		snprintf(socks[nsocks].tenant, sizeof(socks[nsocks].tenant), "%s", name);
		nsocks++;
		pthread_mutex_unlock(&socks_lock);
	}
	printf("change %u: tenant add %s (slot %d) in %.2f ms\n", nversions - 1, name, slot,
	       (double)(t1 - t0) / 1e6);
	return slot;
}

static int add_rule(const char *tenant, const char *match, int prio)
{
	struct rule r = { .prio = (uint32_t)prio };
	uint64_t t0, t1;
	char err[256];
	int id;

	r.tenant = (uint32_t)tenant_slot(tenant);
	if (rule_parse(match, &r, err, sizeof(err))) {
		fail("rule '%s': %s", match, err);
		return -1;
	}
	t0 = mono_ns();
	id = xsnap_rule_add(ctx, tenant, match, prio);
	t1 = mono_ns();
	if (id <= 0) {
		fail("rule add '%s': %s", match, strerror(-id));
		return -1;
	}
	r.id = (uint32_t)id;
	cur[ncur++] = r;
	version_push(t0, t1);
	printf("change %u: rule %d '%s' prio %d for %s in %.2f ms\n", nversions - 1, id, match,
	       prio, tenant, (double)(t1 - t0) / 1e6);
	return id;
}

static void del_rule(int id)
{
	uint64_t t0 = mono_ns(), t1;
	int err = xsnap_rule_del(ctx, id);
	unsigned int k = 0;

	t1 = mono_ns();
	if (err) {
		fail("rule del %d: %s", id, strerror(-err));
		return;
	}
	for (unsigned int i = 0; i < ncur; i++)
		if ((int)cur[i].id != id)
			cur[k++] = cur[i];
	ncur = k;
	version_push(t0, t1);
	printf("change %u: rule del %d in %.2f ms\n", nversions - 1, id, (double)(t1 - t0) / 1e6);
}

static void del_tenant(const char *name)
{
	int slot = tenant_slot(name), err;
	uint64_t t0 = mono_ns(), t1;
	unsigned int k = 0;

	err = xsnap_tenant_del(ctx, name);
	t1 = mono_ns();
	if (err) {
		fail("tenant del %s: %s", name, strerror(-err));
		return;
	}
	for (unsigned int i = 0; i < ncur; i++)
		if ((int)cur[i].tenant != slot)
			cur[k++] = cur[i];
	ncur = k;
	tnames[slot][0] = '\0';
	pthread_mutex_lock(&socks_lock);
	for (int s = 0; s < nsocks; s++)
		if (!strcmp(socks[s].tenant, name) && !socks[s].del_end)
			socks[s].del_end = t1;
	pthread_mutex_unlock(&socks_lock);
	version_push(t0, t1);
	printf("change %u: tenant del %s in %.2f ms\n", nversions - 1, name,
	       (double)(t1 - t0) / 1e6);
}

static void pause_ms(unsigned int ms)
{
	usleep(ms * 1000);
}

/* The schedule of changes; returns when it is done. */
static void schedule(void)
{
	char m[128];
	int a1, a2, pass_id, drop_id, b2r;

	a1 = add_rule("A", "udp dst port 9001", 10);
	pause_ms(opt.change_ms);
	a2 = add_rule("A", "udp dst port 9005-9006", 10);
	pause_ms(opt.change_ms);
	add_tenant("C", true);
	snprintf(m, sizeof(m), "udp dst port 9000-9003 and ip dst %s", opt.dst);
	add_rule("C", m, 20);
	pause_ms(opt.change_ms);
	del_rule(a1);
	pause_ms(opt.change_ms);
	drop_id = add_rule("W", "udp dst port 9007 action drop", 1);
	pause_ms(opt.change_ms);
	del_tenant("B");
	pause_ms(opt.change_ms);
	add_tenant("B2", true);
	b2r = add_rule("B2", "udp dst port 9002", 10);
	pause_ms(opt.change_ms);
	del_rule(drop_id);
	pause_ms(opt.change_ms);
	pass_id = add_rule("W", "udp dst port 9000-9001 action pass", 50);
	pause_ms(opt.change_ms);
	del_tenant("C");
	pause_ms(opt.change_ms);
	del_rule(pass_id);
	pause_ms(opt.change_ms);
	del_rule(b2r);
	b2r = add_rule("B2", "udp dst port 9003-9006", 30);
	pause_ms(opt.change_ms);
	del_rule(a2);
	pause_ms(opt.change_ms);
	del_tenant("A");
	pause_ms(opt.change_ms);
	add_rule("B2", "udp dst port 9004 action pass", 30);
	pause_ms(opt.change_ms);
	del_tenant("B2");
	pause_ms(opt.change_ms);
}

/* ---- the checks ------------------------------------------------------------------ */

/* What set @v does with the stream's frame to @dport: deliver mask and id. */
static int verdict(const struct version *v, uint16_t dport, uint32_t *mask, uint32_t *id)
{
	struct rule_frame f = tmpl;

	f.dport = dport;
	f.sport = sport_of[dport - PORT0] ? sport_of[dport - PORT0] : tmpl.sport;
	return rule_ref_classify(v->rules, v->n, &f, mask, id);
}

/* Versions that may classify a frame seen between @t0 and @t1: those in
 * force at some instant of [t0, t1], a change's window counting for both
 * the set before and the set after it. */
static void candidates(uint64_t t0, uint64_t t1, unsigned int *lo, unsigned int *hi)
{
	unsigned int a = 0, b;

	/* the last version whose change started at or before t0 */
	while (a + 1 < nversions && versions[a + 1].start <= t0)
		a++;
	/* ...the last whose change started at or before t1 */
	b = a;
	while (b + 1 < nversions && versions[b + 1].start <= t1)
		b++;
	/* a change still running at t1 may not have taken effect yet: b stays; one
	 * that ended after t0 may not have, so a's predecessor is possible too */
	if (a > 0 && versions[a].end > t0)
		a--;
	*lo = a;
	*hi = b;
}

/* @kernel_dropped: frames the AF_XDP sockets' rx rings dropped (the reader
 * did not keep up, e.g. on a loaded machine): a gap that many frames long is
 * loss after classification, not a classification error, and is reported
 * apart. */
static void check(uint64_t first, uint64_t last, uint64_t kernel_dropped)
{
	uint64_t delivered = 0, ok = 0, wrong = 0, explained = 0, lost = 0, ambiguous = 0;
	uint64_t prev_t = 0;

	for (uint64_t seq = first; seq <= last; seq++) {
		const struct seen *s = &seen[seq];
		uint16_t dport = (uint16_t)(PORT0 + seq % NPORTS);
		unsigned int lo, hi;
		bool match = false;

		if (s->rx_ns) {
			delivered++;
			candidates(s->rx_ns, s->rx_ns, &lo, &hi);
			ambiguous += hi > lo;
			for (unsigned int v = lo; v <= hi && !match; v++) {
				uint32_t mask, id;

				match = verdict(&versions[v], dport, &mask, &id) ==
						XSNAP_ACT_DELIVER &&
					mask == s->mask && id == s->rule_id;
			}
			if (match) {
				ok++;
			} else {
				uint32_t mask = 0, id = 0;
				int act = verdict(&versions[hi], dport, &mask, &id);

				if (wrong++ < 10)
					fail("seq %llu (dport %u, rx %llu): mask 0x%x id %u, but "
					     "the sets in force (%u..%u) say: set %u action %d "
					     "mask 0x%x id %u",
					     (unsigned long long)seq, dport,
					     (unsigned long long)s->rx_ns, s->mask, s->rule_id, lo,
					     hi, hi, act, mask, id);
			}
			prev_t = s->rx_ns;
			continue;
		}
		/* not delivered: the sets around it must not deliver it */
		uint64_t next_t = 0;

		for (uint64_t k = seq + 1; k <= last && !next_t; k++)
			next_t = seen[k].rx_ns;
		if (!prev_t || !next_t) {
			lost++;
			continue;
		}
		candidates(prev_t, next_t, &lo, &hi);
		for (unsigned int v = lo; v <= hi && !match; v++) {
			uint32_t mask, id;

			match = verdict(&versions[v], dport, &mask, &id) != XSNAP_ACT_DELIVER;
		}
		if (match) {
			explained++;
		} else if (lost++ < 10) {
			fprintf(stderr, "seq %llu (dport %u) not delivered between %llu and %llu "
				"(sets %u..%u all deliver it)\n",
				(unsigned long long)seq, dport, (unsigned long long)prev_t,
				(unsigned long long)next_t, lo, hi);
		}
	}
	if (lost && kernel_dropped) {
		uint64_t k = lost < kernel_dropped ? lost : kernel_dropped;

		printf("witness: %llu frames missing were dropped by the socket rx ring or W's full "
		       "log (kernel rx_dropped + W's quota_drops: %llu): not judged\n",
		       (unsigned long long)k, (unsigned long long)kernel_dropped);
		lost -= k;
	}
	printf("witness: seqs %llu..%llu: %llu delivered (%llu agree with the set in force, "
	       "%llu during a change), %llu disagree; %llu not delivered as the rules say, "
	       "%llu lost\n",
	       (unsigned long long)first, (unsigned long long)last,
	       (unsigned long long)delivered, (unsigned long long)ok,
	       (unsigned long long)ambiguous, (unsigned long long)wrong,
	       (unsigned long long)explained, (unsigned long long)lost);
	if (wrong)
		fail("%llu frames classified by no set in force", (unsigned long long)wrong);
	if (lost)
		fail("%llu frames lost (not delivered though every set in force delivers them)",
		     (unsigned long long)lost);
	if (delivered < 1000 || explained < 100)
		fail("too little traffic to judge: %llu delivered, %llu not",
		     (unsigned long long)delivered, (unsigned long long)explained);
}

/* Each tenant socket got the frames tagged with its slot in its lifetime. */
static void check_sockets(uint64_t first, uint64_t last)
{
	for (int s = 1; s < nsocks; s++) {
		struct tsock *t = &socks[s];
		uint64_t tagged = 0, got = 0, missed = 0, extra = 0, tail = 0;
		uint64_t born = t->born, died = t->del_end ? t->del_end : UINT64_MAX;

		/* a slot bit means this tenant only between its add and its delete:
		 * before, the slot may have been another tenant's */
		for (uint64_t seq = first; seq <= last; seq++) {
			const struct seen *e = &seen[seq];
			bool mine = e->rx_ns && (e->mask & (1u << t->slot)) && e->rx_ns >= born &&
				    e->rx_ns <= died;
			bool has = e->socks & (1u << s);

			tagged += mine;
			got += has;
			if (mine && !has) {
				/* frames tagged just before the delete need not be logged
				 * any more ("no new frame is logged for it") */
				if (t->del_end && e->rx_ns + 100000000ull > died)
					tail++;
				else
					missed++;
			}
			extra += has && !mine;
		}
		printf("tenant %s (slot %d%s): %llu frames, %llu tagged for it while it lived, "
		       "%llu missed, %llu not tagged for it, %llu classified after its "
		       "deletion, %llu foreign, %llu bad; %s\n",
		       t->tenant, t->slot, t->del_end ? ", deleted" : "",
		       (unsigned long long)t->frames, (unsigned long long)tagged,
		       (unsigned long long)(missed + tail), (unsigned long long)extra,
		       (unsigned long long)t->late, (unsigned long long)t->foreign,
		       (unsigned long long)t->bad,
		       t->del_end ? (t->done ? "socket ended with ENOENT" : "socket still open") :
				    "alive");
		if (missed || extra || t->late || t->foreign || t->bad)
			fail("tenant %s: %llu missed, %llu extra, %llu late, %llu foreign, "
			     "%llu bad",
			     t->tenant, (unsigned long long)missed, (unsigned long long)extra,
			     (unsigned long long)t->late, (unsigned long long)t->foreign,
			     (unsigned long long)t->bad);
		if (t->del_end && !t->done)
			fail("tenant %s: its socket did not end with ENOENT after the delete",
			     t->tenant);
		if (!tagged)
			fail("tenant %s got nothing to check", t->tenant);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: classify_live -i IFACE --dst IP [--stream N] [--change-ms MS] "
		   "[-m auto|native|skb] [-R READY] [-S STOP]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "iface", required_argument, NULL, 'i' },
					    { "dst", required_argument, NULL, 'd' },
					    { "stream", required_argument, NULL, 's' },
					    { "change-ms", required_argument, NULL, 'c' },
					    { "mode", required_argument, NULL, 'm' },
					    { "ready-file", required_argument, NULL, 'R' },
					    { "stop-file", required_argument, NULL, 'S' },
					    {} };
	/* rx_ns in the metadata is the classification time: the program stamps */
	XSNAP_OPTS(xsnap_opts, o, .timestamps = XSNAP_STAMP_XDP);
	XSNAP_OPTS(xsnap_stats, st);
	pthread_t thr;
	uint64_t t0;
	int ch;

	while ((ch = getopt_long(argc, argv, "i:d:s:c:m:R:S:", lo, NULL)) != -1) {
		switch (ch) {
		case 'i':
			opt.ifname = optarg;
			break;
		case 'd':
			opt.dst = optarg;
			break;
		case 's':
			opt.stream = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			opt.change_ms = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			opt.mode = !strcmp(optarg, "native") ? XSNAP_MODE_NATIVE :
				   !strcmp(optarg, "skb")    ? XSNAP_MODE_SKB :
							       XSNAP_MODE_AUTO;
			break;
		case 'R':
			opt.ready = optarg;
			break;
		case 'S':
			opt.stop = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!opt.ifname || !opt.dst) {
		usage(stderr);
		return 2;
	}
	seen = calloc(MAX_SEQ, sizeof(*seen));
	if (!seen)
		return EXIT_FAILURE;
	o.mode = opt.mode;
	o.frames = 16384;
	ctx = xsnap_open(opt.ifname, &o);
	if (!ctx) {
		fprintf(stderr, "xsnap_open %s: %s\n", opt.ifname, strerror(errno));
		return EXIT_FAILURE;
	}
	/* the initial set: W sees every delivered frame, A and B some */
	version_push(0, 0);
	add_tenant("W", true);
	add_tenant("A", true);
	add_tenant("B", true);
	add_rule("W", "udp dst port 9000-9007", 100);
	add_rule("B", "udp dst port 9002-9004", 10);
	if (failures || pthread_create(&thr, NULL, receiver, NULL))
		goto out;
	if (opt.ready) {
		FILE *f = fopen(opt.ready, "w");

		if (f)
			fclose(f);
	}
	/* wait for the stream, run the changes, wait for the stream to end */
	t0 = mono_ns();
	while (!atomic_load(&total_frames) && mono_ns() - t0 < 20000000000ull)
		usleep(1000);
	if (!atomic_load(&total_frames)) {
		fail("no frame arrived in 20 s");
	} else {
		schedule();
		t0 = mono_ns();
		while (opt.stop && access(opt.stop, F_OK) && mono_ns() - t0 < 60000000000ull)
			usleep(10000);
		while (mono_ns() - atomic_load(&last_rx_mono) < (opt.stop ? 300 : 500) * 1000000ull)
			usleep(10000);
	}
	atomic_store(&stop, 1);
	pthread_join(thr, NULL);
	if (!failures) {
		uint64_t first = 0;

		while (first < MAX_SEQ && !seen[first].rx_ns)
			first++;
		XSNAP_OPTS(xsnap_stats, sw);

		if (xsnap_stats(ctx, NULL, &st))
			st.kernel_rx_dropped = 0;
		/* the engine thread moves frames whatever W's receiver does: a
		 * slow receiver (ASan) makes W's log drop, counted, not lose */
		if (xsnap_stats(ctx, "W", &sw))
			sw.quota_drops = 0;
		printf("witness: W's log dropped %llu (quota_drops)\n",
		       (unsigned long long)sw.quota_drops);
		check(first, max_seq_seen, st.kernel_rx_dropped + sw.quota_drops);
		check_sockets(first, max_seq_seen);
	}
	if (!xsnap_stats(ctx, NULL, &st)) {
		printf("xdp:");
		for (unsigned int r = 0; r < XSNAP_R_MAX; r++)
			if (st.xdp[r])
				printf(" %s %llu", xsnap_reason_str(r),
				       (unsigned long long)st.xdp[r]);
		printf("; kernel rx_dropped %llu\n", (unsigned long long)st.kernel_rx_dropped);
	}
	printf("live: %u rule set changes, %llu frames received, %d failures\n", nversions - 1,
	       (unsigned long long)atomic_load(&total_frames), failures);
out:
	for (int s = 0; s < nsocks; s++)
		xsnap_sock_close(socks[s].sock);
	xsnap_close(ctx);
	free(seen);
	return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
