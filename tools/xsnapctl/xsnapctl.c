// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnapctl: the control CLI of xsnapd.
 *
 *   xsnapctl [-S PATH] [-j] COMMAND [SUBCOMMAND] [options] ARGS
 *
 * A command table; per command an option table bound (by offset) into one
 * config struct initialised from a defaults constant; usage generated from
 * the tables.  Exit codes: 0 success, 1 failure, 2 usage error.
 *
 * dump and snapshot are consumers, not control verbs: they open sockets of a
 * tenant through the daemon (xsnap_connect) and write pcap (pcap_out.h).
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "pcap_out.h"
#include "prom.h"
#include "proto.h"

#define EXIT_USAGE 2
#define MAX_POS 2
#define MAX_TX_ALLOW 8	/* xsnapd's MAX_TX_RULES */
#define MAX_IFACES 8	/* xsnapd's */

struct config {
	const char *sock;
	bool json, prometheus, help, multiprog;
	const char *pos[MAX_POS];
	int npos;
	const char *queues, *view;
	const char *tx[MAX_TX_ALLOW];	/* tenant add --tx-allow, repeated */
	unsigned int ntx;
	const char *mode, *zerocopy, *action, *timestamps, *hugepages;
	uint64_t frames, ring, quota, pool, prio, watch, groups, qgroup;
	int64_t uid, gid;
	const char *write, *iface;	/* dump, snapshot */
	uint64_t count, last_ms;
};

static const struct config defaults = {
	.mode = "auto",
	.zerocopy = "auto",
	.hugepages = "auto",
	.timestamps = "engine",
	.action = "deliver",
	.prio = 100,
	.uid = -1,
	.gid = -1,
};

enum opt_type { OPT_FLAG, OPT_U64, OPT_I64, OPT_STR, OPT_ENUM, OPT_TX };

struct opt {
	const char *name;
	char shrt;
	enum opt_type type;
	const char *metavar;
	const char *help;
	size_t off;
	uint64_t min, max;
	const char *const *choices;
};

struct cmd {
	const char *name, *sub;
	const char *args;	/* positional arguments, for the usage line */
	int min_pos, max_pos;
	const struct opt *opts;
	int (*run)(int fd, const struct config *cfg);
	const char *help;
	/* optional: option checks before connecting; an exit status, 0 to go on */
	int (*check)(const struct cmd *c, const struct config *cfg);
};

static const char *const modes[] = { "auto", "native", "skb", NULL };
static const char *const zcs[] = { "auto", "on", "off", NULL };
static const char *const stamps[] = { "engine", "xdp", NULL };	/* enum xsnap_stamp_mode */
static const char *const actions[] = { "deliver", "drop", "pass", NULL };

#define O(f) offsetof(struct config, f)
#define OPT_JSON { "json", 'j', OPT_FLAG, NULL, "JSON output", O(json), 0, 0, NULL }
#define OPT_END { NULL, 0, 0, NULL, NULL, 0, 0, 0, NULL }

static const struct opt attach_opts[] = {
	{ "queues", 'q', OPT_STR, "A-B",
	  "queues to open (default: every rx queue)", O(queues), 0, 0, NULL },
	{ "mode", 'm', OPT_ENUM, "auto|native|skb",
	  "XDP mode (auto: native, else generic)", O(mode), 0, 0, modes },
	{ "zerocopy", 'z', OPT_ENUM, "auto|on|off", "AF_XDP zero-copy", O(zerocopy), 0, 0, zcs },
	{ "frames", 'f', OPT_U64, "N",
	  "receive-region frames, a power of two (default: the rings of every queue plus 4096, "
	  "at least 8192)", O(frames), 0, 1u << 20, NULL },
	{ "ring", 'r', OPT_U64, "N",
	  "fill/rx/tx/completion ring entries per queue, a power of two (default 1024; beyond 4 "
	  "queues about 4096 over all, at least 128 each)", O(ring), 0, 16384, NULL },
	{ "timestamps", 't', OPT_ENUM, "engine|xdp",
	  "who stamps received frames: the engine, per batch (default), or the XDP program, "
	  "per frame (exact, a clock read per frame)", O(timestamps), 0, 0, stamps },
	{ "queue-groups", 'G', OPT_U64, "N",
	  "split the queues into N groups of equal size, each with receive memory of its own "
	  "(default 1)", O(groups), 1, XSNAP_MAX_QUEUES, NULL },
	{ "multiprog", 'M', OPT_FLAG, NULL,
	  "attach through libxdp: in its multi-program dispatcher next to other programs "
	  "where the kernel allows, else alone", O(multiprog), 0, 0, NULL },
	{ "hugepages", 'H', OPT_ENUM, "auto|on|off",
	  "receive memory on 2 MiB hugetlb pages (vm.nr_hugepages): auto uses them when "
	  "enough are free", O(hugepages), 0, 0, zcs },
	OPT_END,
};
static const struct opt json_opts[] = { OPT_JSON, OPT_END };
static const struct opt none_opts[] = { OPT_END };
static const struct opt tenant_add_opts[] = {
	{ "quota", 'Q', OPT_U64, "FRAMES",
	  "log capacity, a power of two (default 1024)", O(quota), 1, 1u << 20, NULL },
	{ "pool", 'P', OPT_U64, "FRAMES",
	  "pool chunks its versions may hold (default and at most 64)", O(pool), 0, 65536,
	  NULL },
	{ "tx-allow", 'T', OPT_TX, "MATCH",
	  "what its clients may send (rule language; repeat for up to 8; default: anything)",
	  O(tx), 0, 0, NULL },
	{ "uid", 'u', OPT_I64, "UID",
	  "uid allowed to consume the tenant", O(uid), 0, UINT32_MAX - 1, NULL },
	{ "gid", 'g', OPT_I64, "GID",
	  "gid allowed to consume the tenant", O(gid), 0, UINT32_MAX - 1, NULL },
	{ "view", 'V', OPT_STR, "private|shared|GROUP",
	  "what its consumers read: a private copy of its frames (default), the shared "
	  "receive region (zero-copy, every frame of the queues), or a group's private view",
	  O(view), 0, 0, NULL },
	{ "queue-group", 'G', OPT_U64, "N",
	  "receive only frames of the queues of group N (1..attach --queue-groups; default: "
	  "every queue)", O(qgroup), 1, XSNAP_MAX_QUEUES, NULL },
	OPT_END,
};
static const struct opt rule_add_opts[] = {
	{ "prio", 'p', OPT_U64, "N",
	  "priority, lower first (default 100)", O(prio), 0, 65535, NULL },
	{ "action", 'a', OPT_ENUM, "deliver|drop|pass",
	  "what a match does", O(action), 0, 0, actions },
	OPT_END,
};
static const struct opt stats_opts[] = {
	OPT_JSON,
	{ "watch", 'w', OPT_U64, "SECONDS",
	  "repeat every SECONDS (JSON: one object per line)", O(watch), 1, 3600, NULL },
	{ "prometheus", 'P', OPT_FLAG, NULL,
	  "Prometheus text format 0.0.4", O(prometheus), 0, 0, NULL },
	OPT_END,
};

#define OPT_WRITE(what)                                                                 \
	{ "write", 'w', OPT_STR, "FILE|-", what, O(write), 0, 0, NULL }
#define OPT_IFACE                                                                       \
	{ "iface", 'i', OPT_STR, "IFACE", "only this interface (default: every attached one)", \
	  O(iface), 0, 0, NULL }
static const struct opt dump_opts[] = {
	OPT_WRITE("pcap output, - for stdout (default: stdout unless it is a terminal)"),
	{ "count", 'c', OPT_U64, "N", "stop after N frames", O(count), 1, UINT64_MAX, NULL },
	OPT_IFACE,
	OPT_END,
};
static const struct opt snapshot_opts[] = {
	{ "last-ms", 'm', OPT_U64, "MS",
	  "the frames received in the last MS milliseconds", O(last_ms), 1, UINT32_MAX, NULL },
	{ "frames", 'n', OPT_U64, "N", "the newest N frames", O(frames), 1, 1u << 20, NULL },
	OPT_WRITE("pcap output (required), - for stdout"),
	OPT_IFACE,
	OPT_END,
};

static int run_attach(int fd, const struct config *cfg);
static int run_detach(int fd, const struct config *cfg);
static int run_status(int fd, const struct config *cfg);
static int run_tenant_add(int fd, const struct config *cfg);
static int run_tenant_del(int fd, const struct config *cfg);
static int run_tenant_list(int fd, const struct config *cfg);
static int run_rule_add(int fd, const struct config *cfg);
static int run_rule_del(int fd, const struct config *cfg);
static int run_rule_list(int fd, const struct config *cfg);
static int run_stats(int fd, const struct config *cfg);
static int run_dump(int fd, const struct config *cfg);
static int run_snapshot(int fd, const struct config *cfg);
static int run_audit(int fd, const struct config *cfg);
static int check_pcap_out(const struct cmd *c, const struct config *cfg);

static const struct cmd cmds[] = {
	{ "attach", NULL, "IFACE", 1, 1, attach_opts, run_attach, "attach xsnap to an interface" },
	{ "detach", NULL, "IFACE", 1, 1, none_opts, run_detach,
	  "detach and close its clients' sockets" },
	{ "status", NULL, "[IFACE]", 0, 1, json_opts, run_status,
	  "interfaces, queues, tenants, rules" },
	{ "tenant", "add", "NAME", 1, 1, tenant_add_opts, run_tenant_add, "create a tenant" },
	{ "tenant", "del", "NAME", 1, 1, none_opts, run_tenant_del, "delete a tenant" },
	{ "tenant", "list", "", 0, 0, json_opts, run_tenant_list, "list tenants" },
	{ "rule", "add", "TENANT 'MATCH'", 2, 2, rule_add_opts, run_rule_add,
	  "add a steering rule" },
	{ "rule", "del", "ID", 1, 1, none_opts, run_rule_del, "delete a rule" },
	{ "rule", "list", "", 0, 0, json_opts, run_rule_list, "list rules" },
	{ "stats", NULL, "[TENANT]", 0, 1, stats_opts, run_stats,
	  "counters per tenant and in total" },
	{ "dump", NULL, "TENANT", 1, 1, dump_opts, run_dump,
	  "stream a tenant's frames as pcap (nanosecond timestamps)", check_pcap_out },
	{ "snapshot", NULL, "TENANT", 1, 1, snapshot_opts, run_snapshot,
	  "write frames the tenant's log retains as pcap", check_pcap_out },
	{ "audit", NULL, "[IFACE]", 0, 1, json_opts, run_audit,
	  "recount every frame's holders against its reference count" },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static bool json_errors;

static void cmd_usage(FILE *out, const struct cmd *c, bool full)
{
	fprintf(out, "usage: xsnapctl %s%s%s %s", c->name, c->sub ? " " : "", c->sub ? c->sub : "",
		c->args);
	for (const struct opt *o = c->opts; o->name; o++)
		fprintf(out, " [--%s%s%s]", o->name, o->metavar ? " " : "",
			o->metavar ? o->metavar : "");
	fputc('\n', out);
	if (!full)
		return;
	fprintf(out, "  %s\n", c->help);
	for (const struct opt *o = c->opts; o->name; o++) {
		char lhs[64];

		snprintf(lhs, sizeof(lhs), "-%c, --%s%s%s", o->shrt, o->name, o->metavar ? " " : "",
			 o->metavar ? o->metavar : "");
		fprintf(out, "  %-30s %s\n", lhs, o->help);
	}
}

static void usage(FILE *out)
{
	fprintf(out, "usage: xsnapctl [-S PATH] [-j] [-h] COMMAND [options] ARGS\n"
		     "  -S, --socket PATH  xsnapd socket (default $XSNAP_SOCKET or " XP_DEFAULT_SOCKET ")\n"
		     "  -j, --json         JSON output (errors too)\n"
		     "  -V, --version      versions of xsnapctl, its protocol and libbpf\n"
		     "commands:\n");
	for (size_t i = 0; i < NCMDS; i++) {
		char lhs[64];

		snprintf(lhs, sizeof(lhs), "%s%s%s %s", cmds[i].name, cmds[i].sub ? " " : "",
			 cmds[i].sub ? cmds[i].sub : "", cmds[i].args);
		fprintf(out, "  %-30s %s\n", lhs, cmds[i].help);
	}
	fprintf(out, "  %-30s %s\n", "help [COMMAND]", "this help, or a command's");
	fprintf(out, "exit status: 0 success, 1 failure, 2 usage error\n");
}

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* "xsnapctl: WHAT: MSG" (+ a hint), or {"error": ..., "errno": N} with -j. */
static int fail(const char *what, int err, const char *msg, const char *hint)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s: %s%s%s", what, msg && *msg ? msg : strerror(-err),
		 hint ? "; " : "", hint ? hint : "");
	if (json_errors) {
		printf("{\"error\": ");
		json_str(stdout, buf);
		printf(", \"errno\": %d}\n", -err);
	} else {
		fprintf(stderr, "xsnapctl: %s\n", buf);
	}
	return EXIT_FAILURE;
}

static const char *hint_for(uint16_t op, int err)
{
	switch (-err) {
	case EPERM:
		return "control commands need root or xsnapd's admin group (xsnapd -A GROUP)";
	case ENOBUFS:
		return "raise RLIMIT_MEMLOCK for xsnapd (LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK";
	}
	if (op != XP_ATTACH)
		return NULL;
	switch (-err) {
	case ENOENT:
		return "is bpffs mounted? mount -t bpf bpf /sys/fs/bpf";
	case EBUSY:
		return "detach the other XDP program first (ip link set dev IFACE xdp off)";
	case EOPNOTSUPP:
		return "the driver lacks native XDP or zero-copy: use --mode auto|skb, --zerocopy auto|off";
	case ENOMEM:
		return "raise RLIMIT_MEMLOCK for xsnapd or use fewer --frames";
	case ENODEV:
		return "check the name with ip link";
	}
	return NULL;
}

/* --- transport ------------------------------------------------------------ */
static uint8_t reqbuf[XP_MAX_MSG], repbuf[XP_MAX_MSG];

static int ctl_connect(const char *path)
{
	char msg[512] = "";
	int fd = xp_connect(path, NULL, repbuf, sizeof(repbuf), msg, sizeof(msg));

	if (fd < 0) {
		fail("xsnapd", fd, msg, NULL);
		return -1;
	}
	return fd;
}

/* Send @req; on an error reply print it (naming @what) and return -1. */
static int call(int fd, struct xp_msg *req, struct xp_msg *rep, const char *what)
{
	char msg[1024] = "";
	int r = xp_call(fd, req, repbuf, sizeof(repbuf), rep, NULL, NULL, msg, sizeof(msg));

	if (r) {
		/* the daemon's message carries the library's remedy when there
		 * is one; add ours only where it has none */
		fail(what, r, msg, !*msg || r == -EPERM ? hint_for(req->hdr.op, r) : NULL);
		return -1;
	}
	return 0;
}

static int simple(int fd, struct xp_msg *req, const char *what)
{
	struct xp_msg rep;

	return call(fd, req, &rep, what) ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* --- commands ------------------------------------------------------------- */
static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int run_attach(int fd, const struct config *cfg)
{
	uint32_t first = 0, nq = 0, last;
	struct xp_msg req;
	char what[64];
	int i, h;

	if (cfg->queues) {
		const char *dash = strchr(cfg->queues, '-');
		char a[16];

		if (dash && (size_t)(dash - cfg->queues) < sizeof(a)) {
			memcpy(a, cfg->queues, (size_t)(dash - cfg->queues));
			a[dash - cfg->queues] = '\0';
			if (parse_u32(a, &first) || parse_u32(dash + 1, &last) || last < first ||
			    last - first >= XSNAP_MAX_QUEUES)
				goto bad;
			nq = last - first + 1;
		} else if (!dash && !parse_u32(cfg->queues, &first) && first < 1024) {
			nq = 1;
		} else {
			goto bad;
		}
	}
	if (cfg->frames && (cfg->frames & (cfg->frames - 1))) {
		fprintf(stderr, "xsnapctl: attach: --frames %llu is not a power of two\n",
			(unsigned long long)cfg->frames);
		return EXIT_USAGE;
	}
	if (cfg->ring && (cfg->ring < 64 || (cfg->ring & (cfg->ring - 1)))) {
		fprintf(stderr, "xsnapctl: attach: --ring %llu: a power of two, 64..16384\n",
			(unsigned long long)cfg->ring);
		return EXIT_USAGE;
	}
	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_ATTACH, 0);
	xp_put_str(&req, cfg->pos[0]);
	xp_put_u32(&req, first);
	xp_put_u32(&req, nq);
	for (i = 0; strcmp(modes[i], cfg->mode); i++)
		;
	for (h = 0; strcmp(zcs[h], cfg->hugepages); h++)
		;
	xp_put_u32(&req, (uint32_t)i | (cfg->multiprog ? XP_ATTACH_MULTIPROG : 0) |
				 ((uint32_t)h << XP_ATTACH_HUGE_SHIFT));
	for (i = 0; strcmp(zcs[i], cfg->zerocopy); i++)
		;
	xp_put_u32(&req, (uint32_t)i);
	xp_put_u32(&req, (uint32_t)cfg->frames);
	xp_put_u32(&req, (uint32_t)cfg->ring);
	for (i = 0; strcmp(stamps[i], cfg->timestamps); i++)
		;
	xp_put_u32(&req, (uint32_t)i);
	xp_put_u32(&req, (uint32_t)cfg->groups);
	snprintf(what, sizeof(what), "attach %s", cfg->pos[0]);
	return simple(fd, &req, what);
bad:
	fprintf(stderr, "xsnapctl: attach: bad --queues '%s': N or A-B (at most %d queues)\n",
		cfg->queues, XSNAP_MAX_QUEUES);
	return EXIT_USAGE;
}

static int run_detach(int fd, const struct config *cfg)
{
	struct xp_msg req;
	char what[64];

	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_DETACH, 0);
	xp_put_str(&req, cfg->pos[0]);
	snprintf(what, sizeof(what), "detach %s", cfg->pos[0]);
	return simple(fd, &req, what);
}

/* AUDIT: each interface's chunks recounted; exit 1 on any inconsistency. */
static int run_audit(int fd, const struct config *cfg)
{
	struct xp_msg req, rep;
	uint32_t n, chunks;
	int32_t problems;
	char name[IF_NAMESIZE + 1], why[512];
	int rc = EXIT_SUCCESS;

	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_AUDIT, 0);
	xp_put_str(&req, cfg->pos[0] ? cfg->pos[0] : "");
	if (call(fd, &req, &rep, "audit"))
		return EXIT_FAILURE;
	n = xp_get_u32(&rep);
	if (n > 64) {
		fail("audit", -EPROTO, "malformed reply from xsnapd", NULL);
		return EXIT_FAILURE;
	}
	if (cfg->json)
		printf("{\"interfaces\": [");
	else if (!n)
		printf("no interface attached\n");
	for (uint32_t i = 0; i < n; i++) {
		xp_get_str(&rep, name, sizeof(name), false);
		chunks = xp_get_u32(&rep);
		problems = (int32_t)xp_get_u32(&rep);
		xp_get_str(&rep, why, sizeof(why), true);
		if (problems)
			rc = EXIT_FAILURE;
		if (cfg->json) {
			printf("%s{\"name\": ", i ? ", " : "");
			json_str(stdout, name);
			printf(", \"chunks\": %u, \"problems\": %d, \"first\": ", chunks, problems);
			json_str(stdout, why);
			printf("}");
		} else if (!problems) {
			printf("%s: consistent (%u chunks: every reference has its holder)\n", name,
			       chunks);
		} else if (problems < 0) {
			printf("%s: audit failed: %s\n", name, why);
		} else {
			printf("%s: %d inconsistencies in %u chunks; the first: %s\n", name, problems,
			       chunks, why);
		}
	}
	if (cfg->json)
		printf("]}\n");
	if (xp_done(&rep)) {
		fail("audit", -EPROTO, "malformed reply from xsnapd", NULL);
		return EXIT_FAILURE;
	}
	return rc;
}

/* The XP_STATUS reply, decoded. */
struct st_queue {
	uint32_t id, zc, group;
};
struct st_if {
	char name[IF_NAMESIZE + 1], pin[256];
	uint32_t ifindex, flags, mode, frames, socks, ngroups, nq;
	struct st_queue q[XSNAP_MAX_QUEUES];
	/* the attachment as the kernel reported it to the daemon */
	uint32_t link_id, kind, prog_id, if_prog_id, if_mode;	/* kind: enum xp_attach_kind */
	uint32_t spec_keys;	/* the live set's specialised program's keys, 0: none */
	char if_prog[16];
};
struct st_tenant {
	char name[32], view[32];
	uint32_t quota, pool, socks, qgroup;
	int64_t uid, gid;
};
struct st_rule {
	uint32_t id, prio, action;
	char tenant[32], match[XP_STR_MAX + 1];
};
struct status {
	uint32_t nif, nt, nr;
	struct st_if ifs[8];
	struct st_tenant t[XSNAP_MAX_TENANTS];
	struct st_rule *r;
};

/*
 * STATUS comes in pages of rules (as many as a message holds): ask again
 * from where the last page stopped until the daemon says there is no more.
 * Interfaces and tenants come with every page; the last page's are kept.
 */
static int get_status(int fd, const char *iface, struct status *st)
{
	struct xp_msg req, rep;
	uint32_t from = 0, next, n;

	memset(st, 0, sizeof(*st));
next_page:
	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_STATUS, 0);
	xp_put_str(&req, iface ? iface : "");
	xp_put_u32(&req, from);
	if (call(fd, &req, &rep, "status")) {
		free(st->r);
		st->r = NULL;
		return -1;
	}
	st->nif = xp_get_u32(&rep);
	if (st->nif > 8)
		goto bad;
	for (uint32_t i = 0; i < st->nif; i++) {
		struct st_if *f = &st->ifs[i];

		xp_get_str(&rep, f->name, sizeof(f->name), false);
		f->ifindex = xp_get_u32(&rep);
		f->flags = xp_get_u32(&rep);
		f->mode = xp_get_u32(&rep);
		f->frames = xp_get_u32(&rep);
		f->socks = xp_get_u32(&rep);
		xp_get_str(&rep, f->pin, sizeof(f->pin), true);
		f->ngroups = xp_get_u32(&rep);
		f->nq = xp_get_u32(&rep);
		if (f->nq > XSNAP_MAX_QUEUES)
			goto bad;
		for (uint32_t q = 0; q < f->nq; q++) {
			f->q[q].id = xp_get_u32(&rep);
			f->q[q].zc = xp_get_u32(&rep);
			f->q[q].group = xp_get_u32(&rep);
		}
		f->link_id = xp_get_u32(&rep);
		f->kind = xp_get_u32(&rep);
		f->prog_id = xp_get_u32(&rep);
		f->if_prog_id = xp_get_u32(&rep);
		xp_get_str(&rep, f->if_prog, sizeof(f->if_prog), true);
		f->if_mode = xp_get_u32(&rep);
		f->spec_keys = xp_get_u32(&rep);
	}
	st->nt = xp_get_u32(&rep);
	if (st->nt > XSNAP_MAX_TENANTS)
		goto bad;
	for (uint32_t i = 0; i < st->nt; i++) {
		struct st_tenant *t = &st->t[i];

		xp_get_str(&rep, t->name, sizeof(t->name), false);
		t->quota = xp_get_u32(&rep);
		t->pool = xp_get_u32(&rep);
		t->uid = xp_get_i64(&rep);
		t->gid = xp_get_i64(&rep);
		t->socks = xp_get_u32(&rep);
		xp_get_str(&rep, t->view, sizeof(t->view), false);
		t->qgroup = xp_get_u32(&rep);
	}
	n = xp_get_u32(&rep);
	if (n > 65536 || st->nr + n > 65536)
		goto bad;
	{
		struct st_rule *r = realloc(st->r, (st->nr + n ? st->nr + n : 1) * sizeof(*r));

		if (!r) {
			free(st->r);
			st->r = NULL;
			return -1;
		}
		st->r = r;
	}
	for (uint32_t i = st->nr; i < st->nr + n; i++) {
		struct st_rule *r = &st->r[i];

		r->id = xp_get_u32(&rep);
		xp_get_str(&rep, r->tenant, sizeof(r->tenant), false);
		xp_get_str(&rep, r->match, sizeof(r->match), false);
		r->prio = xp_get_u32(&rep);
		r->action = xp_get_u32(&rep);
		if (r->action > XP_PASS)
			goto bad;
	}
	st->nr += n;
	next = xp_get_u32(&rep);
	if (xp_done(&rep) || (next && next <= from))
		goto bad;
	if (next) {
		from = next;
		goto next_page;
	}
	return 0;
bad:
	fail("status", -EPROTO, "malformed reply from xsnapd", NULL);
	free(st->r);
	st->r = NULL;
	return -1;
}

static void print_id(FILE *out, int64_t v, bool json)
{
	if (v < 0)
		fputs(json ? "null" : "-", out);
	else
		fprintf(out, "%lld", (long long)v);
}

static void json_tenants(const struct status *st)
{
	printf("[");
	for (uint32_t i = 0; i < st->nt; i++) {
		const struct st_tenant *t = &st->t[i];

		printf("%s{\"name\": ", i ? ", " : "");
		json_str(stdout, t->name);
		printf(", \"quota\": %u, \"pool\": %u, \"uid\": ", t->quota, t->pool);
		print_id(stdout, t->uid, true);
		printf(", \"gid\": ");
		print_id(stdout, t->gid, true);
		printf(", \"sockets\": %u, \"view\": ", t->socks);
		json_str(stdout, t->view);
		printf(", \"queue_group\": ");
		print_id(stdout, t->qgroup ? (int64_t)t->qgroup : -1, true);
		printf("}");
	}
	printf("]");
}

static void json_rules(const struct status *st)
{
	printf("[");
	for (uint32_t i = 0; i < st->nr; i++) {
		const struct st_rule *r = &st->r[i];

		printf("%s{\"id\": %u, \"tenant\": ", i ? ", " : "", r->id);
		json_str(stdout, r->tenant);
		printf(", \"match\": ");
		json_str(stdout, r->match);
		printf(", \"prio\": %u, \"action\": \"%s\"}", r->prio, actions[r->action]);
	}
	printf("]");
}

static void text_tenants(const struct status *st)
{
	printf("tenants:%s\n", st->nt ? "" : " none");
	for (uint32_t i = 0; i < st->nt; i++) {
		const struct st_tenant *t = &st->t[i];

		printf("  %-16s quota %u  pool %u  uid ", t->name, t->quota, t->pool);
		print_id(stdout, t->uid, false);
		printf("  gid ");
		print_id(stdout, t->gid, false);
		printf("  sockets %u  view %s", t->socks, t->view);
		if (t->qgroup)
			printf("  queue group %u", t->qgroup);
		printf("\n");
	}
}

/* Who can read what, per view: the shared view is the receive region
 * itself (every frame of the attached queues, whoever it was for); a
 * private view holds copies of its own tenants' frames only. */
static const char *view_kind(const char *v)
{
	return !strcmp(v, XSNAP_VIEW_SHARED) ? "shared" :
	       !strcmp(v, XSNAP_VIEW_PRIVATE) ? "private" : "group";
}

/* Do tenants @a and @b read the same view?  A private view has one reader;
 * the shared view is split by queue group (a tenant pinned to a group reads
 * only that group's part of the receive region). */
static bool same_view(const struct st_tenant *a, const struct st_tenant *b)
{
	if (a == b)
		return true;
	if (strcmp(a->view, b->view) || !strcmp(a->view, XSNAP_VIEW_PRIVATE))
		return false;
	return strcmp(a->view, XSNAP_VIEW_SHARED) || a->qgroup == b->qgroup;
}

/* True if tenant @i is the first reader of its view in @st (shared and group
 * views are listed at their first). */
static bool view_first(const struct status *st, uint32_t i)
{
	for (uint32_t j = 0; j < i; j++)
		if (same_view(&st->t[j], &st->t[i]))
			return false;
	return true;
}

static void json_views(const struct status *st)
{
	bool first = true;

	printf("[");
	for (uint32_t i = 0; i < st->nt; i++) {
		const struct st_tenant *t = &st->t[i];
		bool own = !strcmp(t->view, XSNAP_VIEW_PRIVATE);

		if (!view_first(st, i))
			continue;
		printf("%s{\"view\": ", first ? "" : ", ");
		json_str(stdout, own ? t->name : t->view);
		printf(", \"kind\": \"%s\", \"readers\": [", view_kind(t->view));
		for (uint32_t j = i, n = 0; j < st->nt; j++) {
			if (!same_view(&st->t[j], t))
				continue;
			printf("%s", n++ ? ", " : "");
			json_str(stdout, st->t[j].name);
		}
		printf("], \"queue_group\": ");
		print_id(stdout, t->qgroup && !strcmp(t->view, XSNAP_VIEW_SHARED) ? (int64_t)t->qgroup : -1,
			 true);
		printf(", \"reads\": \"%s\"}", !strcmp(t->view, XSNAP_VIEW_SHARED) ?
			(t->qgroup ? "every frame received on the queues of its queue group "
				     "(zero-copy)" :
				     "every frame received on the attached queues (zero-copy)") :
			"copies of its readers' frames only");
		first = false;
	}
	printf("]");
}

static void text_views(const struct status *st)
{
	printf("views (who can read what):%s\n", st->nt ? "" : " none");
	for (uint32_t i = 0; i < st->nt; i++) {
		const struct st_tenant *t = &st->t[i];
		bool own = !strcmp(t->view, XSNAP_VIEW_PRIVATE);

		if (!view_first(st, i))
			continue;
		if (!strcmp(t->view, XSNAP_VIEW_SHARED) && t->qgroup)
			printf("  shared, queue group %u (its part of the receive region, zero-copy): "
			       "every frame received on the group's queues, whoever it is for, can "
			       "be read by:", t->qgroup);
		else if (!strcmp(t->view, XSNAP_VIEW_SHARED))
			printf("  shared (the receive region, zero-copy): every frame received on the "
			       "attached queues, whoever it is for, can be read by:");
		else if (own)
			printf("  private (%s's own): copies of its frames only, read by:", t->name);
		else
			printf("  group %s: copies of its tenants' frames only, read by:", t->view);
		for (uint32_t j = i; j < st->nt; j++)
			if (same_view(&st->t[j], t))
				printf(" %s", st->t[j].name);
		printf("\n");
	}
}

static void text_rules(const struct status *st)
{
	printf("rules:%s\n", st->nr ? "" : " none");
	for (uint32_t i = 0; i < st->nr; i++) {
		const struct st_rule *r = &st->r[i];

		printf("  %-4u %-16s prio %-5u %-7s '%s'\n", r->id, r->tenant, r->prio,
		       actions[r->action], r->match);
	}
}

/* How our program is attached, by enum serve_attach_kind (JSON "attach"). */
static const char *attach_kind(uint32_t kind)
{
	static const char *const kinds[] = { "none", "bpf_link", "libxdp", "libxdp_dispatcher" };

	return kind < sizeof(kinds) / sizeof(kinds[0]) ? kinds[kind] : "none";
}

/* What the kernel says runs on @f: "none" when it is our program itself
 * (no libxdp dispatcher in front), else that program's name. */
static const char *if_dispatcher(const struct st_if *f)
{
	if (f->if_prog_id && f->if_prog_id == f->prog_id)
		return "none";
	return f->if_prog_id ? f->if_prog : "no XDP program";
}

/* The XDP mode the kernel reports, or the one recorded if it said none. */
static const char *if_mode(const struct st_if *f)
{
	uint32_t m = f->if_mode ? f->if_mode : f->mode;

	return m == XSNAP_MODE_SKB ? "generic" : "native";
}

/* Why an interface runs copy mode (the daemon's XP_IF_ZC_* flags), NULL
 * when it runs zero-copy. */
static const char *copy_reason(const struct st_if *f)
{
	if (f->flags & XP_IF_ZEROCOPY)
		return NULL;
	if (f->flags & XP_IF_ZC_NOT_REQUESTED)
		return "zero-copy not requested";
	if (f->flags & XP_IF_ZC_NO_DRIVER)
		return "driver has no XSK zero-copy";
	return "reason unknown";
}

/* Which classifier serves @f's live rule set: "specialised" (a program
 * compiled for it), "general", "general-only" (the interface cannot have
 * specialised programs), or NULL (the daemon shows it to admins only). */
static const char *classifier(const struct st_if *f)
{
	if (f->flags & XP_IF_SPEC_HIDDEN)
		return NULL;
	if (f->spec_keys)
		return "specialised";
	return f->flags & XP_IF_SPEC_OFF ? "general-only" : "general";
}

static int run_status(int fd, const struct config *cfg)
{
	struct status st;

	if (get_status(fd, cfg->pos[0], &st))
		return EXIT_FAILURE;
	if (cfg->json) {
		printf("{\"interfaces\": [");
		for (uint32_t i = 0; i < st.nif; i++) {
			const struct st_if *f = &st.ifs[i];
			bool gone = f->flags & XP_IF_GONE;

			printf("%s{\"name\": ", i ? ", " : "");
			json_str(stdout, f->name);
			printf(", \"ifindex\": %u, \"state\": \"%s\", \"attach\": \"%s\", "
			       "\"link_id\": %u, \"prog_id\": %u, \"if_prog_id\": %u, "
			       "\"xdp_mode\": \"%s\", \"zerocopy\": %s, \"copy_reason\": ",
			       f->ifindex, gone ? "gone" : "attached",
			       gone ? "none" : attach_kind(f->kind), f->link_id, f->prog_id,
			       f->if_prog_id, gone ? "none" : if_mode(f),
			       f->flags & XP_IF_ZEROCOPY ? "true" : "false");
			if (copy_reason(f))
				json_str(stdout, copy_reason(f));
			else
				printf("null");
			printf(", \"frames\": %u, \"hugepages\": %s, \"timestamps\": \"%s\", "
			       "\"dispatcher\": ", f->frames,
			       f->flags & XP_IF_HUGEPAGES ? "true" : "false",
			       f->flags & XP_IF_XDP_STAMP ? "xdp" : "engine");
			json_str(stdout, gone ? "none" : if_dispatcher(f));
			if (classifier(f))
				printf(", \"classifier\": \"%s\", \"specialised_keys\": %u",
				       classifier(f), f->spec_keys);
			else
				printf(", \"classifier\": null, \"specialised_keys\": null");
			printf(", \"client_sockets\": %u, \"pin_dir\": ", f->socks);
			json_str(stdout, f->pin);
			printf(", \"queue_groups\": %u, \"queues\": [", f->ngroups);
			for (uint32_t q = 0; q < f->nq; q++)
				printf("%s{\"id\": %u, \"zerocopy\": %s, \"group\": %u}",
				       q ? ", " : "", f->q[q].id, f->q[q].zc ? "true" : "false",
				       f->q[q].group);
			printf("]}");
		}
		printf("], \"tenants\": ");
		json_tenants(&st);
		printf(", \"views\": ");
		json_views(&st);
		printf(", \"rules\": ");
		json_rules(&st);
		printf("}\n");
	} else {
		if (!st.nif)
			printf("no interface attached\n");
		for (uint32_t i = 0; i < st.nif; i++) {
			const struct st_if *f = &st.ifs[i];

			if (f->flags & XP_IF_GONE) {
				printf("%s: gone (interface removed; detach it or attach again)\n",
				       f->name);
				continue;
			}
			/* how the kernel says it is attached, asked just now */
			if (f->kind == XP_AT_LINK)
				printf("%s (ifindex %u): attached via bpf_link %u", f->name,
				       f->ifindex, f->link_id);
			else if (f->kind == XP_AT_DISPATCHER)
				printf("%s (ifindex %u): attached through libxdp, program %u in its "
				       "multi-program dispatcher (the interface runs %u \"%s\")",
				       f->name, f->ifindex, f->prog_id, f->if_prog_id, f->if_prog);
			else if (f->kind == XP_AT_LIBXDP)
				printf("%s (ifindex %u): attached through libxdp, alone (no dispatcher: "
				       "the kernel lacks freplace)", f->name, f->ifindex);
			else
				printf("%s (ifindex %u): NO bpf_link of ours", f->name,
				       f->ifindex);
			if (f->kind == XP_AT_DISPATCHER)
				;	/* said above */
			else if (f->if_prog_id && f->if_prog_id == f->prog_id)
				printf(" (program %u, the interface's only XDP program: no libxdp "
				       "dispatcher)", f->prog_id);
			else
				printf(" (the interface runs %s %u \"%s\", not ours, %u)",
				       f->if_prog_id ? "program" : "no program", f->if_prog_id,
				       f->if_prog, f->prog_id);
			printf(", %s XDP, %s%s%s%s, %u frames on %s pages, timestamps by the %s\n",
			       if_mode(f), copy_reason(f) ? "copy mode" : "zero-copy",
			       copy_reason(f) ? " (" : "", copy_reason(f) ? copy_reason(f) : "",
			       copy_reason(f) ? ")" : "", f->frames,
			       f->flags & XP_IF_HUGEPAGES ? "2 MiB" : "4 KiB",
			       f->flags & XP_IF_XDP_STAMP ? "XDP program" : "engine");
			printf("  queues with AF_XDP sockets:");
			for (uint32_t q = 0; q < f->nq; q++)
				printf(" %u (%s)", f->q[q].id, f->q[q].zc ? "zero-copy" : "copy");
			if (f->ngroups > 1) {
				printf("\n  queue groups (receive memory of their own):");
				for (uint32_t q = 0; q < f->nq; q++)
					if (!q || f->q[q].group != f->q[q - 1].group)
						printf("%s %u: queue %u", q ? "," : "", f->q[q].group,
						       f->q[q].id);
					else if (q + 1 == f->nq || f->q[q + 1].group != f->q[q].group)
						printf("-%u", f->q[q].id);
			}
			if (f->flags & XP_IF_SPEC_HIDDEN)
				printf("\n  rules: which classifier serves them is shown to root and "
				       "the admin group");
			else if (f->spec_keys)
				printf("\n  rules: a program specialised for the live set (%u key%s)",
				       f->spec_keys, f->spec_keys == 1 ? "" : "s");
			else if (f->flags & XP_IF_SPEC_OFF)
				printf("\n  rules: the general classifier (no specialised programs "
				       "here: see xsnapd's log)");
			else
				printf("\n  rules: the general classifier (the live set is not of the "
				       "specialised programs' shape)");
			printf("\n  client sockets: %u\n  pins: %s\n", f->socks,
			       *f->pin ? f->pin : "none");
		}
		text_tenants(&st);
		text_views(&st);
		text_rules(&st);
	}
	free(st.r);
	return EXIT_SUCCESS;
}

static int run_tenant_add(int fd, const struct config *cfg)
{
	struct xp_msg req;
	char what[64];

	if (cfg->quota && (cfg->quota & (cfg->quota - 1))) {
		fprintf(stderr, "xsnapctl: tenant add: --quota %llu is not a power of two\n",
			(unsigned long long)cfg->quota);
		return EXIT_USAGE;
	}
	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_TENANT_ADD, 0);
	xp_put_str(&req, cfg->pos[0]);
	xp_put_u32(&req, (uint32_t)cfg->quota);
	xp_put_u32(&req, (uint32_t)cfg->pool);
	xp_put_i64(&req, cfg->uid);
	xp_put_i64(&req, cfg->gid);
	xp_put_str(&req, cfg->view ? cfg->view : "");
	xp_put_u32(&req, (uint32_t)cfg->qgroup);
	xp_put_u32(&req, cfg->ntx);
	for (unsigned int i = 0; i < cfg->ntx; i++)
		xp_put_str(&req, cfg->tx[i]);
	snprintf(what, sizeof(what), "tenant add %s", cfg->pos[0]);
	return simple(fd, &req, what);
}

static int run_tenant_del(int fd, const struct config *cfg)
{
	struct xp_msg req;
	char what[64];

	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_TENANT_DEL, 0);
	xp_put_str(&req, cfg->pos[0]);
	snprintf(what, sizeof(what), "tenant del %s", cfg->pos[0]);
	return simple(fd, &req, what);
}

static int run_tenant_list(int fd, const struct config *cfg)
{
	struct status st;

	if (get_status(fd, NULL, &st))
		return EXIT_FAILURE;
	if (cfg->json) {
		json_tenants(&st);
		printf("\n");
	} else {
		text_tenants(&st);
	}
	free(st.r);
	return EXIT_SUCCESS;
}

static int run_rule_add(int fd, const struct config *cfg)
{
	struct xp_msg req, rep;
	uint32_t id;
	int i;

	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_RULE_ADD, 0);
	xp_put_str(&req, cfg->pos[0]);
	xp_put_str(&req, cfg->pos[1]);
	xp_put_u32(&req, (uint32_t)cfg->prio);
	for (i = 0; strcmp(actions[i], cfg->action); i++)
		;
	xp_put_u32(&req, (uint32_t)i);
	if (call(fd, &req, &rep, "rule add"))
		return EXIT_FAILURE;
	id = xp_get_u32(&rep);
	if (cfg->json)
		printf("{\"id\": %u}\n", id);
	else
		printf("rule %u\n", id);
	return EXIT_SUCCESS;
}

static int run_rule_del(int fd, const struct config *cfg)
{
	struct xp_msg req;
	uint32_t id;

	if (parse_u32(cfg->pos[0], &id) || !id) {
		fprintf(stderr, "xsnapctl: rule del: bad rule id '%s'\n", cfg->pos[0]);
		return EXIT_USAGE;
	}
	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_RULE_DEL, 0);
	xp_put_u32(&req, id);
	return simple(fd, &req, "rule del");
}

static int run_rule_list(int fd, const struct config *cfg)
{
	struct status st;

	if (get_status(fd, NULL, &st))
		return EXIT_FAILURE;
	if (cfg->json) {
		json_rules(&st);
		printf("\n");
	} else {
		text_rules(&st);
	}
	free(st.r);
	return EXIT_SUCCESS;
}

/* stats: one record per tenant, then the total (name "") */
struct stat_rec {
	char name[32];
	struct xsnap_stats st;
};

struct kv {
	const char *k;
	uint64_t v;
};

static int stat_fields(const struct xsnap_stats *st, struct kv *out)
{
	int n = 0;

#define X(f) out[n++] = (struct kv){ #f, (uint64_t)st->f };
	XP_STATS_FIELDS(X)
#undef X
	return n;
}

static void print_stats_json(const struct stat_rec *r, uint32_t n)
{
	struct kv kv[64];

	printf("{\"tenants\": {");
	for (uint32_t i = 0, k = 0; i < n; i++) {
		int nf = stat_fields(&r[i].st, kv);

		if (!*r[i].name)
			printf("}, \"total\": {");
		else {
			printf("%s", k++ ? ", " : "");
			json_str(stdout, r[i].name);
			printf(": {");
		}
		for (int f = 0; f < nf; f++)
			printf("%s\"%s\": %llu", f ? ", " : "", kv[f].k,
			       (unsigned long long)kv[f].v);
		printf(", \"xdp\": {");
		for (int x = 0; x < XSNAP_R_MAX && x < XP_STATS_XDP; x++)
			printf("%s\"%s\": %llu", x ? ", " : "", xsnap_reason_str((unsigned int)x),
			       (unsigned long long)r[i].st.xdp[x]);
		printf("}}");
	}
	printf("}\n");
}

/*
 * stats --prometheus: the figures of each attached interface (STATS_IF,
 * asked interface after interface), each tenant's apart from the
 * interface's, written by the formatter of xsnapd's metrics endpoint
 * (prom.h): the same series a scrape of xsnapd --metrics gives.
 */
static int print_stats_prom(int fd, const struct config *cfg)
{
	static struct {
		char name[IF_NAMESIZE + 1];
		struct xsnap_stats st;
		char tname[XSNAP_MAX_TENANTS][32];
		struct xsnap_stats tst[XSNAP_MAX_TENANTS];
		struct prom_tenant pt[XSNAP_MAX_TENANTS];
	} pg[MAX_IFACES];
	struct prom_iface pi[MAX_IFACES];
	uint32_t from = 0, n = 0;

	for (;;) {
		struct xp_msg req, rep;
		uint32_t slot, nt;

		xp_begin(&req, reqbuf, sizeof(reqbuf), XP_STATS_IF, 0);
		xp_put_str(&req, cfg->pos[0] ? cfg->pos[0] : "");
		xp_put_u32(&req, from);
		if (call(fd, &req, &rep, "stats"))
			return EXIT_FAILURE;
		if (!xp_get_u32(&rep))
			break;
		slot = xp_get_u32(&rep);
		xp_get_str(&rep, pg[n].name, sizeof(pg[n].name), false);
		pg[n].st.sz = sizeof(pg[n].st);
		xp_get_stats(&rep, &pg[n].st);
		nt = xp_get_u32(&rep);
		if (n == MAX_IFACES || slot < from || nt > XSNAP_MAX_TENANTS)
			return fail("stats", -EPROTO, "malformed reply from xsnapd", NULL);
		for (uint32_t t = 0; t < nt; t++) {
			xp_get_str(&rep, pg[n].tname[t], sizeof(pg[n].tname[t]), false);
			pg[n].tst[t].sz = sizeof(pg[n].tst[t]);
			xp_get_stats(&rep, &pg[n].tst[t]);
			pg[n].pt[t] = (struct prom_tenant){ pg[n].tname[t], &pg[n].tst[t] };
		}
		if (xp_done(&rep))
			return fail("stats", -EPROTO, "malformed reply from xsnapd", NULL);
		pi[n] = (struct prom_iface){ pg[n].name, &pg[n].st, pg[n].pt, nt };
		n++;
		from = slot + 1;
	}
	if (prom_write(stdout, pi, n))
		return fail("stats", -EIO, NULL, NULL);
	return EXIT_SUCCESS;
}

static void print_stats_text(const struct stat_rec *r, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct xsnap_stats *s = &r[i].st;

		if (*r[i].name)
			printf("tenant %s:", r[i].name);
		else
			printf("total:");
		printf(" rx_frames %llu rx_bytes %llu delivered %llu quota_drops %llu held %u "
		       "evicted %llu sockets %u bad_releases %llu\n",
		       (unsigned long long)s->rx_frames, (unsigned long long)s->rx_bytes,
		       (unsigned long long)s->delivered, (unsigned long long)s->quota_drops,
		       s->held, (unsigned long long)s->evicted, s->sockets,
		       (unsigned long long)s->bad_releases);
	}
	if (n) {
		const struct xsnap_stats *s = &r[n - 1].st;

		printf("frames: total %u free %u kernel %u logged %u; xdp:", s->frames_total,
		       s->frames_free, s->frames_kernel, s->frames_logged);
		for (int x = 0; x < XSNAP_R_MAX && x < XP_STATS_XDP; x++)
			if (s->xdp[x])
				printf(" %s %llu", xsnap_reason_str((unsigned int)x),
				       (unsigned long long)s->xdp[x]);
		printf("\n");
		/* TESTING.md D6: traffic on a queue nobody bound is otherwise silent */
		if (s->xdp[XSNAP_R_NO_SOCKET])
			printf("warning: %llu frames matched a rule on an rx queue without an AF_XDP "
			       "socket and went to the kernel stack (attach --queues to cover every "
			       "queue that receives them)\n",
			       (unsigned long long)s->xdp[XSNAP_R_NO_SOCKET]);
	}
}

/* stats in text or JSON: STATS, each tenant's figures summed over the
 * interfaces (with the interface-wide ones), and the total */
static int print_stats(int fd, const struct config *cfg)
{
	struct stat_rec *r;
	struct xp_msg req, rep;
	uint32_t n;

	xp_begin(&req, reqbuf, sizeof(reqbuf), XP_STATS, 0);
	xp_put_str(&req, cfg->pos[0] ? cfg->pos[0] : "");
	if (call(fd, &req, &rep, "stats"))
		return EXIT_FAILURE;
	n = xp_get_u32(&rep);
	if (!n || n > XSNAP_MAX_TENANTS + 1)
		return fail("stats", -EPROTO, "malformed reply from xsnapd", NULL);
	r = calloc(n, sizeof(*r));
	if (!r)
		return fail("stats", -ENOMEM, NULL, NULL);
	for (uint32_t i = 0; i < n; i++) {
		xp_get_str(&rep, r[i].name, sizeof(r[i].name), true);
		r[i].st.sz = sizeof(r[i].st);
		xp_get_stats(&rep, &r[i].st);
	}
	if (xp_done(&rep)) {
		free(r);
		return fail("stats", -EPROTO, "malformed reply from xsnapd", NULL);
	}
	if (cfg->json)
		print_stats_json(r, n);
	else
		print_stats_text(r, n);
	free(r);
	return EXIT_SUCCESS;
}

static int run_stats(int fd, const struct config *cfg)
{
	for (;;) {
		int rc = cfg->prometheus ? print_stats_prom(fd, cfg) : print_stats(fd, cfg);

		fflush(stdout);
		if (rc || !cfg->watch)
			return rc;
		sleep((unsigned int)cfg->watch);
	}
}

/* --- dump and snapshot: a tenant's frames as pcap -------------------------- */
#define TAP_BATCH 64

/*
 * A fan-out socket of the tenant on one attached interface.  A connected
 * context serves one interface, so each tap has its own; the interface is
 * chosen with $XSNAP_IFACE, which the library reads in xsnap_socket().
 */
struct pcap_job;
struct tap {
	struct pcap_job *job;
	char ifname[IF_NAMESIZE + 1];
	struct xsnap_ctx *ctx;
	struct xsnap_sock *s;
	pthread_t th;
	int err;		/* the receive error that ended it (errno) */
};

struct pcap_job {
	const struct config *cfg;
	char what[64];		/* "dump TENANT", for messages */
	struct tap taps[XS_PCAP_MAX_SNAPS];
	unsigned int ntaps;
	struct xs_pcap w;
	pthread_mutex_t lock;	/* w, between taps */
};

static atomic_int pcap_stop;
/* the library's last warning, while lib_print is installed (one thread) */
static char lib_msg[512];

static void on_stop(int sig)
{
	(void)sig;
	atomic_store(&pcap_stop, 1);
}

/* Keep the library's warning for our own one-line message. */
static int lib_print(enum xsnap_print_level level, const char *fmt, va_list ap)
{
	size_t n;

	if (level != XSNAP_WARN)
		return 0;
	vsnprintf(lib_msg, sizeof(lib_msg), fmt, ap);
	n = strlen(lib_msg);
	if (n && lib_msg[n - 1] == '\n')
		lib_msg[--n] = '\0';
	if (!strncmp(lib_msg, "xsnap: ", 7))	/* we say "xsnapctl: " already */
		memmove(lib_msg, lib_msg + 7, n - 6);
	return 0;
}

/* Usage errors of dump and snapshot, before anything is opened. */
static int check_pcap_out(const struct cmd *c, const struct config *cfg)
{
	bool snap = !strcmp(c->name, "snapshot");

	if (snap && !!cfg->frames == !!cfg->last_ms) {
		fprintf(stderr, "xsnapctl: snapshot: give one of --last-ms MS or --frames N\n");
		return EXIT_USAGE;
	}
	if (snap && !cfg->write) {
		fprintf(stderr, "xsnapctl: snapshot: missing -w FILE (the pcap file to write; "
				"- writes to stdout)\n");
		return EXIT_USAGE;
	}
	if (cfg->write && !*cfg->write) {
		fprintf(stderr, "xsnapctl: %s: empty file name for -w\n", c->name);
		return EXIT_USAGE;
	}
	if ((!cfg->write || !strcmp(cfg->write, "-")) && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "xsnapctl: %s: refusing to write binary pcap to a terminal: "
				"give -w FILE, or pipe it (xsnapctl %s TENANT%s -w - | tcpdump -r -)\n",
			c->name, c->name, snap ? " --frames N" : "");
		return EXIT_USAGE;
	}
	return 0;
}

static void taps_close(struct pcap_job *j)
{
	for (unsigned int i = 0; i < j->ntaps; i++)
		xsnap_close(j->taps[i].ctx);	/* closes the socket and its snapshots */
	j->ntaps = 0;
}

/* Open a socket of the tenant on every attached interface (or --iface). */
static int taps_open(int fd, struct pcap_job *j)
{
	const struct config *cfg = j->cfg;
	const char *tenant = cfg->pos[0], *env = getenv("XSNAP_IFACE");
	char saved[IF_NAMESIZE + 1] = "";
	xsnap_print_fn_t prev;
	struct status st;
	bool at_socket = false;
	char nomsg[64];
	int err = 0;

	/* the status lists only the tenants we may see: one it does not list
	 * may still exist, and the daemon's answer to the socket says why we
	 * cannot have it (not allowed, or no such tenant) */
	if (get_status(fd, NULL, &st))
		return -1;
	free(st.r);
	for (uint32_t i = 0; i < st.nif && j->ntaps < XS_PCAP_MAX_SNAPS; i++) {
		if ((st.ifs[i].flags & XP_IF_GONE) || (cfg->iface && strcmp(cfg->iface, st.ifs[i].name)))
			continue;
		snprintf(j->taps[j->ntaps++].ifname, IF_NAMESIZE + 1, "%s", st.ifs[i].name);
	}
	if (!j->ntaps) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%s%s", cfg->iface ? cfg->iface : "no interface",
			 cfg->iface ? " is not attached" : " is attached");
		fail(j->what, -ENODEV, msg,
		     cfg->iface ? "xsnapctl status lists the attached ones" : "xsnapctl attach IFACE");
		return -1;
	}
	if (env)
		snprintf(saved, sizeof(saved), "%s", env);
	prev = xsnap_set_print(lib_print);
	for (unsigned int i = 0; i < j->ntaps && !err; i++) {
		struct tap *t = &j->taps[i];

		lib_msg[0] = '\0';
		t->ctx = xsnap_connect(cfg->sock);
		if (!t->ctx) {
			err = errno;
			break;
		}
		setenv("XSNAP_IFACE", t->ifname, 1);
		t->s = xsnap_socket(t->ctx, tenant, NULL);
		if (!t->s) {
			err = errno;
			at_socket = true;
			xsnap_close(t->ctx);
			t->ctx = NULL;
		}
	}
	if (env)
		setenv("XSNAP_IFACE", saved, 1);
	else
		unsetenv("XSNAP_IFACE");
	/* receive threads may warn: straight to stderr, not into lib_msg */
	xsnap_set_print(prev);
	if (!err)
		return 0;
	for (unsigned int i = 0; i < j->ntaps && j->taps[i].ctx; i++)
		xsnap_close(j->taps[i].ctx);
	j->ntaps = 0;
	if (at_socket && err == ENOENT) {
		snprintf(nomsg, sizeof(nomsg), "no tenant %s", tenant);
		fail(j->what, -err, nomsg, "xsnapctl tenant list shows them");
		return -1;
	}
	fail(j->what, -err, lib_msg,
	     err == EACCES ? "run it as root, in xsnapd's admin group (xsnapd -A GROUP), or as "
			     "a uid/gid the tenant allows" :
	     err == ENOENT || err == ECONNREFUSED ? "is xsnapd running?" :
						    NULL);
	return -1;
}

/* Receive on one tap and write what came, a batch at a time, until stopped. */
static void dump_tap(struct pcap_job *j, struct tap *t)
{
	uint64_t limit = j->cfg->count;
	struct xsnap_frame *v[TAP_BATCH];

	while (!atomic_load(&pcap_stop)) {
		int n = xsnap_recv(t->s, v, TAP_BATCH, 200);
		unsigned int k = n > 0 ? (unsigned int)n : 0;

		if (n == 0 || n == -EINTR)
			continue;
		if (n < 0) {
			t->err = -n;
			atomic_store(&pcap_stop, 1);
			break;
		}
		pthread_mutex_lock(&j->lock);
		if (limit && j->w.frames + k > limit)
			k = (unsigned int)(limit - j->w.frames);
		/* flushed per batch: a pipe reader sees the frames now */
		if (k && (xs_pcap_write(&j->w, v, k) || xs_pcap_flush(&j->w)))
			atomic_store(&pcap_stop, 1);
		if (limit && j->w.frames >= limit)
			atomic_store(&pcap_stop, 1);
		pthread_mutex_unlock(&j->lock);
		xsnap_release(t->s, v, (unsigned int)n);
	}
}

static void *dump_thread(void *arg)
{
	struct tap *t = arg;

	dump_tap(t->job, t);
	return NULL;
}

static const char *tap_error(const struct tap *t, char *buf, size_t len)
{
	switch (t->err) {
	case ENOENT:
		return "the tenant was deleted";
	case ENETDOWN:
	case ENXIO:
		snprintf(buf, len, "%s went away (detached or removed)", t->ifname);
		return buf;
	case ECONNRESET:
		return "xsnapd went away";
	}
	snprintf(buf, len, "receive on %s: %s", t->ifname, strerror(t->err));
	return buf;
}

/* The output is stdout: keep -j's JSON errors out of the pcap stream. */
static bool pcap_to_stdout(const struct config *cfg)
{
	return !cfg->write || !strcmp(cfg->write, "-");
}

static int pcap_open_out(struct pcap_job *j)
{
	if (!xs_pcap_open(&j->w, pcap_to_stdout(j->cfg) ? "-" : j->cfg->write))
		return 0;
	fail(j->what, -EIO, j->w.msg, j->w.to_stdout ? NULL : "choose a writable path");
	return -1;
}

static int run_dump(int fd, const struct config *cfg)
{
	struct pcap_job *j = calloc(1, sizeof(*j));
	/* writes restart, so the file stays whole; the wait in xsnap_recv
	 * (epoll) returns EINTR anyway.  A second signal kills at once (a
	 * pipe reader that stopped reading would block us for good). */
	struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART | SA_RESETHAND };
	XSNAP_OPTS(xsnap_stats, st0);
	XSNAP_OPTS(xsnap_stats, st1);
	sigset_t block, old;
	bool have_stats, pipe_closed = false;
	unsigned int started = 1;
	int rc = EXIT_SUCCESS;
	char buf[128];

	if (!j)
		return fail("dump", -ENOMEM, NULL, NULL);
	if (pcap_to_stdout(cfg))
		json_errors = false;
	j->cfg = cfg;
	snprintf(j->what, sizeof(j->what), "dump %s", cfg->pos[0]);
	pthread_mutex_init(&j->lock, NULL);
	if (taps_open(fd, j) || pcap_open_out(j)) {
		rc = EXIT_FAILURE;
		goto out;
	}
	have_stats = !xsnap_stats(j->taps[0].ctx, cfg->pos[0], &st0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a closed pipe is a write error (EPIPE) */
	/* taps 1.. get threads that leave the signals to this one */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (unsigned int i = 0; i < j->ntaps; i++)
		j->taps[i].job = j;
	for (; started < j->ntaps; started++) {
		if (pthread_create(&j->taps[started].th, NULL, dump_thread, &j->taps[started])) {
			fail(j->what, -EAGAIN, "cannot start a receive thread", NULL);
			atomic_store(&pcap_stop, 1);
			rc = EXIT_FAILURE;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	dump_tap(j, &j->taps[0]);
	for (unsigned int i = 1; i < started; i++)
		pthread_join(j->taps[i].th, NULL);
	if (have_stats && !xsnap_stats(j->taps[0].ctx, cfg->pos[0], &st1))
		st1.quota_drops -= st0.quota_drops;
	else
		st1.quota_drops = 0;
	if (xs_pcap_close(&j->w)) {
		if (j->w.to_stdout && j->w.err == EPIPE) {
			pipe_closed = true;	/* the reader had enough: not a failure */
		} else {
			fail(j->what, -j->w.err, j->w.msg, NULL);
			rc = EXIT_FAILURE;
		}
	}
	for (unsigned int i = 0; i < j->ntaps; i++) {
		if (j->taps[i].err) {
			fail(j->what, -j->taps[i].err, tap_error(&j->taps[i], buf, sizeof(buf)),
			     NULL);
			rc = EXIT_FAILURE;
		}
	}
	fprintf(stderr, "xsnapctl: %s: %llu frames written to %s%s", j->what,
		(unsigned long long)j->w.frames, j->w.name,
		pipe_closed ? " (the reader closed the pipe)" : "");
	if (st1.quota_drops)
		fprintf(stderr, "; tenant %s dropped %llu frames meanwhile (its log was full: a slow "
				"reader, or raise --quota)",
			cfg->pos[0], (unsigned long long)st1.quota_drops);
	fputc('\n', stderr);
out:
	taps_close(j);
	pthread_mutex_destroy(&j->lock);
	free(j);
	return rc;
}

static int run_snapshot(int fd, const struct config *cfg)
{
	struct pcap_job *j = calloc(1, sizeof(*j));
	XSNAP_OPTS(xsnap_snap_opts, so, .frames = (uint32_t)cfg->frames,
		   .last_ms = (uint32_t)cfg->last_ms);
	struct xsnap_snap *sn[XS_PCAP_MAX_SNAPS];
	uint64_t total = 0, skip = 0;
	xsnap_print_fn_t prev;
	int rc = EXIT_FAILURE;
	int64_t n;

	if (!j)
		return fail("snapshot", -ENOMEM, NULL, NULL);
	if (pcap_to_stdout(cfg))
		json_errors = false;
	j->cfg = cfg;
	snprintf(j->what, sizeof(j->what), "snapshot %s", cfg->pos[0]);
	pthread_mutex_init(&j->lock, NULL);
	if (taps_open(fd, j))
		goto out;
	/* one snapshot per interface, taken before anything is written */
	prev = xsnap_set_print(lib_print);
	for (unsigned int i = 0; i < j->ntaps; i++) {
		lib_msg[0] = '\0';
		sn[i] = xsnap_snapshot(j->taps[i].s, &so);
		if (!sn[i]) {
			int err = errno;

			xsnap_set_print(prev);
			fail(j->what, -err, lib_msg, NULL);
			goto out;	/* closing the taps closes the snapshots */
		}
		total += xsnap_snap_len(sn[i]);
	}
	xsnap_set_print(prev);
	/* several interfaces: the newest N of their merged frames */
	if (cfg->frames && total > cfg->frames)
		skip = total - cfg->frames;
	signal(SIGPIPE, SIG_IGN);
	if (pcap_open_out(j))
		goto out;
	n = xs_pcap_write_snaps(&j->w, sn, j->ntaps, skip);
	if (xs_pcap_close(&j->w) || n < 0) {
		fail(j->what, -(j->w.err ? j->w.err : EIO), j->w.msg, NULL);
		goto out;
	}
	fprintf(stderr, "xsnapctl: %s: %lld frames written to %s\n", j->what, (long long)n,
		j->w.name);
	rc = EXIT_SUCCESS;
out:
	taps_close(j);
	pthread_mutex_destroy(&j->lock);
	free(j);
	return rc;
}

/* --- argument parsing ----------------------------------------------------- */
static int set_opt(const struct cmd *c, const struct opt *o, const char *val, struct config *cfg)
{
	char *p = (char *)cfg + o->off;
	char *end;

	switch (o->type) {
	case OPT_FLAG:
		*(bool *)p = true;
		return 0;
	case OPT_STR:
		*(const char **)p = val;
		return 0;
	case OPT_TX:
		if (cfg->ntx == MAX_TX_ALLOW) {
			fprintf(stderr, "xsnapctl: %s %s: at most %d --%s\n", c->name,
				c->sub ? c->sub : "", MAX_TX_ALLOW, o->name);
			return -1;
		}
		cfg->tx[cfg->ntx++] = val;
		return 0;
	case OPT_ENUM:
		for (int i = 0; o->choices[i]; i++) {
			if (!strcmp(o->choices[i], val)) {
				*(const char **)p = o->choices[i];
				return 0;
			}
		}
		break;
	case OPT_U64:
	case OPT_I64: {
		unsigned long long v;

		if (!*val || *val == '-' || *val == '+')
			break;
		errno = 0;
		v = strtoull(val, &end, 0);
		if (errno || *end || v < o->min || v > o->max)
			break;
		if (o->type == OPT_U64)
			*(uint64_t *)p = v;
		else
			*(int64_t *)p = (int64_t)v;
		return 0;
	}
	}
	fprintf(stderr, "xsnapctl: %s%s%s: bad value '%s' for --%s (%s", c->name, c->sub ? " " : "",
		c->sub ? c->sub : "", val, o->name, o->metavar);
	if (o->type == OPT_U64 || o->type == OPT_I64)
		fprintf(stderr, ", %llu..%llu", (unsigned long long)o->min,
			(unsigned long long)o->max);
	fprintf(stderr, ")\n");
	return -1;
}

static int parse_cmd(const struct cmd *c, int argc, char **argv, struct config *cfg)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *o = NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			cfg->help = true;
			return 0;
		}
		if (a[0] == '-' && a[1] && strcmp(a, "--")) {
			const char *eq = NULL;

			for (const struct opt *k = c->opts; k->name; k++) {
				if (a[1] == '-') {
					size_t n = strlen(k->name);

					if (!strncmp(a + 2, k->name, n) &&
					    (!a[2 + n] || a[2 + n] == '=')) {
						o = k;
						eq = a[2 + n] == '=' ? a + 3 + n : NULL;
					}
				} else if (a[1] == k->shrt && !a[2]) {
					o = k;
				}
			}
			if (!o) {
				fprintf(stderr, "xsnapctl: %s: unknown option %s\n", c->name, a);
				return -1;
			}
			if (o->type == OPT_FLAG) {
				set_opt(c, o, NULL, cfg);
				continue;
			}
			if (!eq) {
				if (i + 1 >= argc) {
					fprintf(stderr, "xsnapctl: %s: --%s needs a value (%s)\n",
						c->name, o->name, o->metavar);
					return -1;
				}
				eq = argv[++i];
			}
			if (set_opt(c, o, eq, cfg))
				return -1;
			continue;
		}
		if (cfg->npos == c->max_pos) {
			fprintf(stderr, "xsnapctl: %s: unexpected argument '%s'\n", c->name, a);
			return -1;
		}
		cfg->pos[cfg->npos++] = a;
	}
	if (cfg->npos < c->min_pos) {
		fprintf(stderr, "xsnapctl: %s: missing %s\n", c->name, c->args);
		return -1;
	}
	return 0;
}

static const struct cmd *find_cmd(const char *name, const char *sub, bool *needs_sub)
{
	*needs_sub = false;
	for (size_t i = 0; i < NCMDS; i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		if (!cmds[i].sub)
			return &cmds[i];
		*needs_sub = true;
		if (sub && !strcmp(cmds[i].sub, sub))
			return &cmds[i];
	}
	return NULL;
}

/*
 * Test hook: XSNAPCTL_TEST_STOP=hello|attach|detach (or an op number) stops
 * this process (SIGSTOP) right after that request went to the daemon, before
 * its reply is read, so that a test can kill the CLI at that step and know
 * what the daemon had received (tests/netns/test_fault_de.sh, D13).
 */
static uint16_t test_stop_op = UINT16_MAX;

static void test_stop(uint16_t op)
{
	if (op == test_stop_op)
		raise(SIGSTOP);
}

static void test_hook_init(void)
{
	static const struct { const char *name; uint16_t op; } ops[] = {
		{ "hello", XP_HELLO }, { "attach", XP_ATTACH }, { "detach", XP_DETACH },
	};
	const char *v = getenv("XSNAPCTL_TEST_STOP");
	char *end;

	if (!v || !*v)
		return;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(v, ops[i].name))
			test_stop_op = ops[i].op;
	if (test_stop_op == UINT16_MAX) {
		unsigned long n = strtoul(v, &end, 10);

		if (*end || n >= XP_OP_MAX) {
			fprintf(stderr, "xsnapctl: XSNAPCTL_TEST_STOP='%s': hello, attach, "
					"detach or an op number\n", v);
			exit(EXIT_USAGE);
		}
		test_stop_op = (uint16_t)n;
	}
	xp_sent_hook = test_stop;
}

int main(int argc, char **argv)
{
	struct config cfg = defaults;
	const struct cmd *c;
	bool needs_sub;
	int i = 1, fd, rc;

	test_hook_init();
	cfg.sock = getenv("XSNAP_SOCKET");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if ((!strcmp(argv[i], "-S") || !strcmp(argv[i], "--socket")) && i + 1 < argc) {
			cfg.sock = argv[++i];
		} else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cfg.json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("xsnapctl %d.%d (protocol %d, libbpf %u.%u)\n", XSNAP_VERSION_MAJOR,
			       XSNAP_VERSION_MINOR, XP_VERSION, libbpf_major_version(),
			       libbpf_minor_version());
			return EXIT_SUCCESS;
		} else {
			fprintf(stderr, "xsnapctl: unknown option %s\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!cfg.sock || !*cfg.sock)
		cfg.sock = xp_socket_path(NULL);
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			usage(stdout);
			return EXIT_SUCCESS;
		}
		c = find_cmd(argv[i + 1], i + 2 < argc ? argv[i + 2] : NULL, &needs_sub);
		if (!c && needs_sub) {
			for (size_t k = 0; k < NCMDS; k++)
				if (!strcmp(cmds[k].name, argv[i + 1]))
					cmd_usage(stdout, &cmds[k], true);
			return EXIT_SUCCESS;
		}
		if (!c) {
			fprintf(stderr, "xsnapctl: no command '%s'\n", argv[i + 1]);
			return EXIT_USAGE;
		}
		cmd_usage(stdout, c, true);
		return EXIT_SUCCESS;
	}
	c = find_cmd(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &needs_sub);
	if (!c) {
		if (needs_sub)
			fprintf(stderr, "xsnapctl: %s: expected a subcommand (add, del, list)\n",
				argv[i]);
		else
			fprintf(stderr, "xsnapctl: unknown command '%s' (xsnapctl help)\n",
				argv[i]);
		return EXIT_USAGE;
	}
	i += c->sub ? 2 : 1;
	if (parse_cmd(c, argc - i, argv + i, &cfg)) {
		cmd_usage(stderr, c, false);
		return EXIT_USAGE;
	}
	if (cfg.help) {
		cmd_usage(stdout, c, true);
		return EXIT_SUCCESS;
	}
	if (c->check) {
		rc = c->check(c, &cfg);
		if (rc)
			return rc;
	}
	json_errors = cfg.json;
	fd = ctl_connect(cfg.sock);
	if (fd < 0)
		return EXIT_FAILURE;
	rc = c->run(fd, &cfg);
	close(fd);
	return rc;
}
