// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap-consumer: an example consumer, and the receiving side of the demo and
 * of the lab tests.
 *
 * It opens an interface in-process, creates tenants and rules, runs one
 * thread per consumer socket, and verifies every frame it receives: the
 * payload written by xsnap-gen (content and per-stream sequence), that a
 * frame belongs to the tenant the socket is bound to (metadata tenant mask),
 * and, for frames that two tenants receive, that both saw the same UMEM
 * chunk (fan-out without a copy).  On SIGINT/SIGTERM it drains what is
 * still queued, closes everything and prints a report; the exit code says
 * whether every check held.
 *
 *   xsnap-consumer -i veth1 -t alpha -t beta \
 *       -r 'alpha:10:udp dst port 9000' -r 'beta:10:udp dst port 9001' \
 *       -c alpha -c alpha -c beta --ready-file /tmp/ready
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "payload.h"

#define MAX_TENANTS 8
#define MAX_CONSUMERS 16
#define MAX_STREAMS 8	/* streams 0..7 are tracked per consumer */
#define BATCH 64

struct consumer {
	int idx;
	const char *tenant;
	int tslot;		/* index in opts.tenants */
	bool share;
	uint32_t group;
	bool stall;		/* receive but never release (quota test) */
	struct xsnap_sock *sock;
	pthread_t thr;
	uint64_t frames, bytes, bad_payload, foreign, other;
	struct seq_tracker seq[MAX_STREAMS];
	uint32_t *chunk;	/* [stream][seq] → chunk id + 1, for the no-copy check */
	uint8_t *sports;	/* share consumers: bitmap of the UDP/TCP source ports
				 * (the generator's flows) seen, for the affinity check */
	uint64_t queues[4];	/* bitmap of the receive queues its frames came from */
};

static struct {
	const char *ifname;
	uint32_t queue, nqueues, frames, mode, multiprog, engine;
	const char *tenants[MAX_TENANTS];
	uint32_t quotas[MAX_TENANTS];
	int ntenants;
	struct consumer cons[MAX_CONSUMERS];
	int ncons;
	const char *ready_file;
	uint32_t max_seq;
	int idle_ms;
	bool json;
	const char *stall;
} opt = { .nqueues = 1, .max_seq = 65536, .idle_ms = 300 };

static atomic_int stopping;
static struct xsnap_ctx *ctx;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, 1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xsnap-consumer -i IFACE [options]\n"
		"  -i, --iface IFACE          interface to open (in this namespace)\n"
		"  -q, --queue N              first queue (default 0)\n"
		"  -Q, --queues N             number of queues (default 1)\n"
		"  -F, --frames N             receive-region frames (default 8192)\n"
		"  -m, --mode auto|native|skb XDP attach mode (default auto)\n"
		"  -M, --multiprog           attach through libxdp (its dispatcher where it loads)\n"
		"  -e, --engine thread|inline|per-queue  who runs the engine (default thread:\n"
		"                             one engine thread; per-queue: one per queue)\n"
		"  -t, --tenant NAME[:QUOTA]  add a tenant (repeatable)\n"
		"  -r, --rule TENANT:PRIO:MATCH  add a rule (repeatable)\n"
		"  -c, --consumer TENANT[:share[:GROUP]]  add a consumer thread (repeatable)\n"
		"  -s, --stall TENANT         that tenant's consumers stop releasing frames\n"
		"  -R, --ready-file PATH      create PATH once attached and consuming\n"
		"  -S, --max-seq N            sequence numbers tracked per stream (default 65536)\n"
		"  -I, --idle-ms MS           on stop, drain until MS without frames (default 300)\n"
		"  -j, --json                 print the report as JSON\n"
		"Runs until SIGINT/SIGTERM, then drains, checks and reports.\n");
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int tenant_index(const char *name)
{
	for (int i = 0; i < opt.ntenants; i++)
		if (!strcmp(opt.tenants[i], name))
			return i;
	return -1;
}

static void account(struct consumer *c, const struct xsnap_frame *f, uint32_t tbit)
{
	const struct xsnap_meta *m = xsnap_frame_meta(f);
	const void *pl;
	size_t pllen;
	uint32_t stream;
	uint64_t seq;

	c->frames++;
	c->bytes += xsnap_frame_len(f);
	if (xsnap_frame_queue(f) < 256)
		c->queues[xsnap_frame_queue(f) / 64] |= 1ull << (xsnap_frame_queue(f) % 64);
	if (m->magic != XSNAP_META_MAGIC || !(m->tenant_mask & tbit))
		c->foreign++;
	if (payload_of_frame(xsnap_frame_data(f), xsnap_frame_len(f), &pl, &pllen) ||
	    payload_check(pl, pllen, &stream, &seq)) {
		c->bad_payload++;
		return;
	}
	if (stream >= MAX_STREAMS) {
		c->other++;
		return;
	}
	seq_track(&c->seq[stream], seq);
	if (c->sports && m->l4_off && (m->l4_proto == IPPROTO_UDP || m->l4_proto == IPPROTO_TCP) &&
	    m->l4_off + 2u <= xsnap_frame_len(f)) {
		const uint8_t *l4 = (const uint8_t *)xsnap_frame_data(f) + m->l4_off;
		uint16_t sport = (uint16_t)(l4[0] << 8 | l4[1]);

		c->sports[sport >> 3] |= (uint8_t)(1u << (sport & 7));
	}
	if (c->chunk && seq < opt.max_seq)
		c->chunk[(uint64_t)stream * opt.max_seq + seq] = (uint32_t)xsnap_frame_id(f) + 1;
}

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	struct xsnap_frame *v[BATCH];
	uint32_t tbit = 0;
	int n;

	/* the tenant bit: slots are assigned in order of tenant_add */
	tbit = 1u << c->tslot;
	for (;;) {
		bool stop = atomic_load(&stopping);

		n = xsnap_recv(c->sock, v, BATCH, stop ? opt.idle_ms : 100);
		if (n < 0) {
			if (n == -EINTR)
				continue;
			fprintf(stderr, "consumer %d: recv: %s\n", c->idx, strerror(-n));
			break;
		}
		if (n == 0 && stop)
			break;	/* drained: nothing for idle_ms after the stop */
		for (int i = 0; i < n; i++)
			account(c, v[i], tbit);
		if (!c->stall)
			xsnap_release(c->sock, v, (unsigned int)n);
	}
	return NULL;
}

static int setup(void)
{
	XSNAP_OPTS(xsnap_opts, o, .queue = opt.queue, .nqueues = opt.nqueues,
		   .frames = opt.frames, .mode = opt.mode, .multiprog = opt.multiprog,
		   .engine = opt.engine);

	ctx = xsnap_open(opt.ifname, &o);
	if (!ctx) {
		fprintf(stderr, "Error: open %s: %s\n", opt.ifname, strerror(errno));
		return -1;
	}
	for (int i = 0; i < opt.ntenants; i++) {
		XSNAP_OPTS(xsnap_tenant_opts, to, .quota = opt.quotas[i]);
		int slot = xsnap_tenant_add(ctx, opt.tenants[i], &to);

		if (slot < 0) {
			fprintf(stderr, "Error: tenant %s: %s\n", opt.tenants[i], strerror(-slot));
			return -1;
		}
		if (slot != i) {
			fprintf(stderr, "Error: tenant %s got slot %d, expected %d\n",
				opt.tenants[i], slot, i);
			return -1;
		}
	}
	return 0;
}

static int add_rule(const char *spec)
{
	char *s = strdup(spec), *p1, *p2;
	uint32_t prio;
	int id = -1;

	if (!s)
		return -1;
	p1 = strchr(s, ':');
	p2 = p1 ? strchr(p1 + 1, ':') : NULL;
	if (!p1 || !p2) {
		fprintf(stderr, "Error: rule '%s': expected TENANT:PRIO:MATCH\n", spec);
		goto out;
	}
	*p1 = *p2 = '\0';
	if (parse_u32(p1 + 1, 65535, &prio)) {
		fprintf(stderr, "Error: rule '%s': bad prio '%s'\n", spec, p1 + 1);
		goto out;
	}
	id = xsnap_rule_add(ctx, s, p2 + 1, (int)prio);
	if (id < 0)
		fprintf(stderr, "Error: rule '%s': %s\n", spec, strerror(-id));
out:
	free(s);
	return id;
}

static int report(void)
{
	uint64_t lost = 0, bad = 0, copies = 0, shared = 0;
	int failed = 0;

	/* fan-out consumers must each see every frame their tenant logged;
	 * share consumers of one group together see each frame once */
	for (int ti = 0; ti < opt.ntenants; ti++) {
		XSNAP_OPTS(xsnap_stats, st);
		uint64_t share_sum = 0;
		bool has_share = false;

		xsnap_stats(ctx, opt.tenants[ti], &st);
		/* XDP steered xdp_tenant_frames to the socket; the engine logged
		 * rx_frames and tail-dropped quota_drops: anything else is lost */
		if (st.xdp_tenant_frames != st.rx_frames + st.quota_drops)
			lost += st.xdp_tenant_frames - st.rx_frames - st.quota_drops;
		for (int ci = 0; ci < opt.ncons; ci++) {
			struct consumer *c = &opt.cons[ci];

			if (c->tslot != ti)
				continue;
			if (c->share) {
				share_sum += c->frames;
				has_share = true;
			} else if (c->frames != st.rx_frames) {
				lost += st.rx_frames > c->frames ? st.rx_frames - c->frames : 0;
				failed = 1;
			}
		}
		if (has_share && share_sum != st.rx_frames) {
			lost += st.rx_frames > share_sum ? st.rx_frames - share_sum : 0;
			failed = 1;
		}
		printf(opt.json ? "{\"tenant\":\"%s\",\"xdp_frames\":%" PRIu64
				  ",\"logged\":%" PRIu64 ",\"quota_drops\":%" PRIu64
				  ",\"delivered\":%" PRIu64 "}\n" :
				  "tenant %-8s xdp %" PRIu64 " logged %" PRIu64
				  " quota_drops %" PRIu64 " delivered %" PRIu64 "\n",
		       opt.tenants[ti], st.xdp_tenant_frames, st.rx_frames, st.quota_drops,
		       st.delivered);
	}
	for (int ci = 0; ci < opt.ncons; ci++) {
		struct consumer *c = &opt.cons[ci];
		uint64_t gaps = 0, dups = 0;

		for (int s = 0; s < MAX_STREAMS; s++) {
			gaps += c->seq[s].gaps;
			dups += c->seq[s].dups;
		}
		bad += c->bad_payload + c->foreign + dups;
		/* a fan-out consumer of a tenant that loses nothing sees no gap
		 * beyond what never reached XDP; gaps are reported, not judged */
		printf(opt.json ? "{\"consumer\":%d,\"tenant\":\"%s\",\"mode\":\"%s\",\"frames\":%" PRIu64
				  ",\"bad_payload\":%" PRIu64 ",\"foreign\":%" PRIu64
				  ",\"seq_gaps\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"queues\":%d}\n" :
				  "consumer %d tenant %-8s %-6s frames %" PRIu64 " bad_payload %" PRIu64
				  " foreign %" PRIu64 " seq_gaps %" PRIu64 " dups %" PRIu64
				  " queues %d\n",
		       c->idx, c->tenant, c->share ? "share" : "fanout", c->frames,
		       c->bad_payload, c->foreign, gaps, dups,
		       __builtin_popcountll(c->queues[0]) + __builtin_popcountll(c->queues[1]) +
			       __builtin_popcountll(c->queues[2]) + __builtin_popcountll(c->queues[3]));
	}
	/* share groups: each frame to one member (no (stream, seq) seen by two),
	 * each flow (source port) to one member (affinity) */
	for (int a = 0; a < opt.ncons; a++) {
		struct consumer *ca = &opt.cons[a];
		uint64_t twice = 0, split = 0, flows = 0, members = 1;
		bool first = true;

		if (!ca->share || !ca->chunk || !ca->sports)
			continue;
		for (int b = 0; b < a && first; b++)
			first = !(opt.cons[b].share && opt.cons[b].tslot == ca->tslot &&
				  opt.cons[b].group == ca->group);
		if (!first)
			continue;	/* the group's first member reports for it */
		for (int b = a + 1; b < opt.ncons; b++) {
			struct consumer *cb = &opt.cons[b];

			if (!cb->share || cb->tslot != ca->tslot || cb->group != ca->group)
				continue;
			members++;
		}
		for (uint32_t port = 0; port < 65536; port++) {
			unsigned int owners = 0;

			for (int b = a; b < opt.ncons; b++) {
				struct consumer *cb = &opt.cons[b];

				if (cb->share && cb->tslot == ca->tslot && cb->group == ca->group &&
				    cb->sports && (cb->sports[port >> 3] & (1u << (port & 7))))
					owners++;
			}
			flows += owners > 0;
			split += owners > 1;
		}
		for (uint64_t i = 0; i < (uint64_t)MAX_STREAMS * opt.max_seq; i++) {
			unsigned int seen = 0;

			for (int b = a; b < opt.ncons; b++) {
				struct consumer *cb = &opt.cons[b];

				if (cb->share && cb->tslot == ca->tslot && cb->group == ca->group &&
				    cb->chunk && cb->chunk[i])
					seen++;
			}
			twice += seen > 1;
		}
		printf(opt.json ? "{\"share_group\":%u,\"tenant\":\"%s\",\"members\":%" PRIu64
				  ",\"flows\":%" PRIu64 ",\"flows_split\":%" PRIu64
				  ",\"frames_twice\":%" PRIu64 "}\n" :
				  "share group %u of tenant %s: %" PRIu64 " members, %" PRIu64
				  " flows, %" PRIu64 " flows split across members, %" PRIu64
				  " frames seen by two members\n",
		       ca->group, ca->tenant, members, flows, split, twice);
		bad += split + twice;
	}
	/* frames that two tenants received: same chunk means no copy */
	for (int a = 0; a < opt.ncons; a++) {
		for (int b = a + 1; b < opt.ncons; b++) {
			struct consumer *ca = &opt.cons[a], *cb = &opt.cons[b];

			if (ca->tslot == cb->tslot || !ca->chunk || !cb->chunk)
				continue;
			for (uint64_t i = 0; i < (uint64_t)MAX_STREAMS * opt.max_seq; i++) {
				if (!ca->chunk[i] || !cb->chunk[i])
					continue;
				shared++;
				copies += ca->chunk[i] != cb->chunk[i];
			}
		}
	}
	printf(opt.json ? "{\"shared_frames\":%" PRIu64 ",\"copies\":%" PRIu64 "}\n" :
			  "frames seen by two tenants: %" PRIu64 " (consumer pairs), in different "
			  "UMEM chunks (copies): %" PRIu64 "\n",
	       shared, copies);
	if (lost || bad || copies)
		failed = 1;
	return failed ? -1 : (int)lost;
}

static int leak_check(void)
{
	XSNAP_OPTS(xsnap_stats, st);

	xsnap_stats(ctx, NULL, &st);
	/* after every socket closed: each chunk is free, with the kernel, or
	 * retained in a log (released frames stay until room is needed) */
	uint64_t leaked = st.frames_total - st.frames_free - st.frames_kernel - st.frames_logged;
	/* and exactly: every chunk's reference count against its holders (a
	 * reference nothing holds counts as "retained" above) */
	int audit = xsnap_audit(ctx);

	if (opt.json)
		printf("{\"frames_total\":%u,\"frames_free\":%u,\"frames_kernel\":%u,"
		       "\"retained\":%u,\"leaked\":%" PRIu64 ",\"audit_problems\":%d,"
		       "\"kernel_rx_dropped\":%" PRIu64 ",\"kernel_rx_ring_full\":%" PRIu64
		       ",\"kernel_fill_empty\":%" PRIu64 ",\"zerocopy\":%u,\"xdp_mode\":\"%s\"}\n",
		       st.frames_total, st.frames_free, st.frames_kernel, st.frames_logged, leaked,
		       audit, st.kernel_rx_dropped, st.kernel_rx_ring_full, st.kernel_fill_empty,
		       st.zerocopy,
		       st.xdp_mode == XSNAP_MODE_SKB ? "generic" : "native");
	else
		printf("frames: total %u free %u in kernel %u retained %u leaked %" PRIu64
		       " audit %d; kernel rx_dropped %" PRIu64 " rx_ring_full %" PRIu64
		       " fill_empty %" PRIu64 "; %s mode, %s XDP\n",
		       st.frames_total, st.frames_free, st.frames_kernel, st.frames_logged, leaked,
		       audit, st.kernel_rx_dropped, st.kernel_rx_ring_full, st.kernel_fill_empty,
		       st.zerocopy ? "zero-copy" : "copy",
		       st.xdp_mode == XSNAP_MODE_SKB ? "generic" : "native");
	if (!opt.json) {
		printf("xdp:");
		for (unsigned int r = 0; r < XSNAP_R_MAX; r++)
			if (st.xdp[r])
				printf(" %s %" PRIu64, xsnap_reason_str(r), st.xdp[r]);
		printf("\n");
	}
	return leaked || audit ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "queue", required_argument, NULL, 'q' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "frames", required_argument, NULL, 'F' },
		{ "mode", required_argument, NULL, 'm' },
		{ "multiprog", no_argument, NULL, 'M' },
		{ "engine", required_argument, NULL, 'e' },
		{ "tenant", required_argument, NULL, 't' },
		{ "rule", required_argument, NULL, 'r' },
		{ "consumer", required_argument, NULL, 'c' },
		{ "stall", required_argument, NULL, 's' },
		{ "ready-file", required_argument, NULL, 'R' },
		{ "max-seq", required_argument, NULL, 'S' },
		{ "idle-ms", required_argument, NULL, 'I' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *rules[64];
	const char *cons[MAX_CONSUMERS];
	int nrules = 0, ret = EXIT_FAILURE, ch, lost;
	uint32_t v;

	while ((ch = getopt_long(argc, argv, "i:q:Q:F:m:Me:t:r:c:s:R:S:I:jh", lo, NULL)) != -1) {
		switch (ch) {
		case 'i':
			opt.ifname = optarg;
			break;
		case 'q':
		case 'Q':
		case 'F':
		case 'S':
		case 'I':
			if (parse_u32(optarg, ch == 'S' ? (1u << 22) : (1u << 24), &v)) {
				fprintf(stderr, "Error: bad number '%s' for -%c\n", optarg, ch);
				return 2;
			}
			if (ch == 'q')
				opt.queue = v;
			else if (ch == 'Q')
				opt.nqueues = v;
			else if (ch == 'F')
				opt.frames = v;
			else if (ch == 'S')
				opt.max_seq = v;
			else
				opt.idle_ms = (int)v;
			break;
		case 'e':
			if (!strcmp(optarg, "thread"))
				opt.engine = XSNAP_ENGINE_THREAD;
			else if (!strcmp(optarg, "inline"))
				opt.engine = XSNAP_ENGINE_INLINE;
			else if (!strcmp(optarg, "per-queue"))
				opt.engine = XSNAP_ENGINE_PER_QUEUE;
			else {
				fprintf(stderr, "Error: --engine: expected thread, inline or per-queue\n");
				return 2;
			}
			break;
		case 'm':
			if (!strcmp(optarg, "auto"))
				opt.mode = XSNAP_MODE_AUTO;
			else if (!strcmp(optarg, "native"))
				opt.mode = XSNAP_MODE_NATIVE;
			else if (!strcmp(optarg, "skb"))
				opt.mode = XSNAP_MODE_SKB;
			else {
				fprintf(stderr, "Error: --mode: expected auto, native or skb\n");
				return 2;
			}
			break;
		case 'M':
			opt.multiprog = 1;
			break;
		case 't': {
			char *colon = strchr(optarg, ':');

			if (opt.ntenants == MAX_TENANTS) {
				fprintf(stderr, "Error: at most %d tenants\n", MAX_TENANTS);
				return 2;
			}
			if (colon) {
				*colon = '\0';
				if (parse_u32(colon + 1, 1u << 20, &v) || !v) {
					fprintf(stderr, "Error: tenant %s: bad quota '%s' (a power "
							"of two >= 1)\n", optarg, colon + 1);
					return 2;
				}
				opt.quotas[opt.ntenants] = v;
			}
			opt.tenants[opt.ntenants++] = optarg;
			break;
		}
		case 'r':
			if (nrules == 64) {
				fprintf(stderr, "Error: at most 64 rules\n");
				return 2;
			}
			rules[nrules++] = optarg;
			break;
		case 'c':
			if (opt.ncons == MAX_CONSUMERS) {
				fprintf(stderr, "Error: at most %d consumers\n", MAX_CONSUMERS);
				return 2;
			}
			cons[opt.ncons++] = optarg;
			break;
		case 's':
			opt.stall = optarg;
			break;
		case 'R':
			opt.ready_file = optarg;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!opt.ifname || optind != argc) {
		fprintf(stderr, "Error: %s\n", opt.ifname ? "unexpected argument" : "-i IFACE is required");
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < opt.ncons; i++) {
		struct consumer *c = &opt.cons[i];
		char *spec = strdup(cons[i]), *p = strchr(spec, ':');

		c->idx = i;
		if (p) {
			*p++ = '\0';
			if (strncmp(p, "share", 5) || (p[5] && p[5] != ':') ||
			    (p[5] == ':' && parse_u32(p + 6, 65535, &c->group))) {
				fprintf(stderr, "Error: consumer '%s': expected TENANT[:share[:GROUP]]\n",
					cons[i]);
				free(spec);
				return 2;
			}
			c->share = true;
		}
		c->tenant = spec;
		c->tslot = tenant_index(spec);
		if (c->tslot < 0) {
			fprintf(stderr, "Error: consumer '%s': no tenant '%s' (add it with -t)\n",
				cons[i], spec);
			return 2;
		}
		c->stall = opt.stall && !strcmp(opt.stall, spec);
		c->chunk = calloc((size_t)MAX_STREAMS * opt.max_seq, sizeof(uint32_t));
		if (c->share)
			c->sports = calloc(65536 / 8, 1);
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (setup())
		goto out;
	for (int i = 0; i < nrules; i++)
		if (add_rule(rules[i]) < 0)
			goto out;
	for (int i = 0; i < opt.ncons; i++) {
		struct consumer *c = &opt.cons[i];
		XSNAP_OPTS(xsnap_sock_opts, so, .mode = c->share ? XSNAP_SHARE : XSNAP_FANOUT,
			   .group = c->group);

		c->sock = xsnap_socket(ctx, c->tenant, &so);
		if (!c->sock) {
			fprintf(stderr, "Error: socket on %s: %s\n", c->tenant, strerror(errno));
			goto out;
		}
	}
	for (int i = 0; i < opt.ncons; i++)
		pthread_create(&opt.cons[i].thr, NULL, consumer_main, &opt.cons[i]);
	if (opt.ready_file) {
		FILE *f = fopen(opt.ready_file, "w");

		if (f)
			fclose(f);
	}
	for (int i = 0; i < opt.ncons; i++)
		pthread_join(opt.cons[i].thr, NULL);

	lost = report();
	for (int i = 0; i < opt.ncons; i++) {
		xsnap_sock_close(opt.cons[i].sock);
		opt.cons[i].sock = NULL;
	}
	if (leak_check() == 0 && lost == 0) {
		printf(opt.json ? "{\"lost\":0,\"leaked\":0}\n" : "0 lost, 0 leaked\n");
		ret = EXIT_SUCCESS;
	} else {
		printf(opt.json ? "{\"result\":\"FAIL\"}\n" : "FAIL: frames lost, leaked or corrupted\n");
	}
out:
	xsnap_close(ctx);
	for (int i = 0; i < opt.ncons; i++) {
		free(opt.cons[i].chunk);
		free(opt.cons[i].sports);
		free((char *)opt.cons[i].tenant);
	}
	return ret;
}
