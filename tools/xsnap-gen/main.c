// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * xsnap-gen: send crafted UDP/TCP frames carrying xsnap test payloads
 * (tools/common/payload.h) into an interface, for tests and benchmarks.
 *
 * main.c parses the command line into a struct gen_cfg (strictly: every
 * number with an end pointer and a range; a usage error exits 2 naming the
 * option), builds the template frame (frame.c) and hands it to a sending
 * path: send_packet.c (AF_PACKET, default) or send_live.c (XDP live
 * frames).  Operational errors exit 1 naming the interface and the cause.
 * See docs/xsnap-gen.1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "gen.h"
#include "payload.h"

#define EXIT_USAGE 2

volatile sig_atomic_t gen_stop;

static const struct gen_cfg gen_defaults = {
	.count = 1000,
	.rate = 0,
	.size = 0,		/* max(64, smallest frame that fits) */
	.flows = 1,
	.proto = IPPROTO_UDP,
	.sport = 40000,
	.dport_lo = 9000,
	.dport_hi = 9000,
	.dmac = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	.vlan = -1,
	.svlan = -1,
	.mode = GEN_MODE_PACKET,
	.batch = 64,
};

enum {
	OPT_FLOWS = 256, OPT_PROTO, OPT_SRC, OPT_DST, OPT_SPORT, OPT_DPORT, OPT_SMAC, OPT_DMAC,
	OPT_VLAN, OPT_SVLAN, OPT_STREAM, OPT_SEQ_START, OPT_MODE, OPT_BATCH, OPT_TIMESTAMP,
	OPT_LOOP,
};

/* One table drives getopt_long and the usage text. */
static const struct gen_opt {
	const char *name;
	int val;		/* short letter or OPT_* */
	const char *metavar;	/* NULL: flag without argument */
	const char *help;
} gen_opts[] = {
	{ "interface", 'i', "IFACE", "interface to send on (required)" },
	{ "count", 'n', "COUNT", "frames to send, 0 = until interrupted (default 1000)" },
	{ "rate", 'r', "PPS", "frames per second, 0 = as fast as possible (default 0)" },
	{ "size", 's', "BYTES", "frame size without FCS (default 64, or the minimum that fits)" },
	{ "flows", OPT_FLOWS, "N", "vary the source port over N values (default 1)" },
	{ "proto", OPT_PROTO, "udp|tcp", "L4 protocol (default udp)" },
	{ "ipv4", '4', NULL, "IPv4 (default 10.0.0.1 -> 10.0.0.2)" },
	{ "ipv6", '6', NULL, "IPv6 (default fd00::1 -> fd00::2)" },
	{ "src", OPT_SRC, "IP", "source address" },
	{ "dst", OPT_DST, "IP", "destination address" },
	{ "sport", OPT_SPORT, "PORT", "first source port (default 40000)" },
	{ "dport", OPT_DPORT, "P[-Q]", "destination port or range (default 9000)" },
	{ "smac", OPT_SMAC, "MAC", "source MAC (default: the interface's)" },
	{ "dmac", OPT_DMAC, "MAC", "destination MAC (default ff:ff:ff:ff:ff:ff)" },
	{ "vlan", OPT_VLAN, "ID", "add an 802.1Q tag with this VLAN id (0-4095)" },
	{ "svlan", OPT_SVLAN, "ID", "add an 802.1ad tag (0x88a8) with this id outside it (QinQ)" },
	{ "stream", OPT_STREAM, "ID", "payload stream id (default 0)" },
	{ "seq-start", OPT_SEQ_START, "N", "sequence number of the first frame (default 0)" },
	{ "mode", OPT_MODE, "packet|live|pump",
	  "AF_PACKET (default), XDP live frames, or clones of frames circling --loop" },
	{ "batch", OPT_BATCH, "N",
	  "frames per sendmmsg / live-frames batch / pump lap (default 64)" },
	{ "loop", OPT_LOOP, "VETH", "pump mode: a veth whose frames circle (its peer seeds them)" },
	{ "timestamp", OPT_TIMESTAMP, NULL,
	  "send time (CLOCK_MONOTONIC ns) in payload bytes 24-31 (+8 bytes)" },
	{ "json", 'j', NULL, "print the result as one JSON object" },
	{ "quiet", 'q', NULL, "print nothing but errors (and -j output)" },
	{ "help", 'h', NULL, "show this help" },
};
#define N_OPTS (sizeof(gen_opts) / sizeof(gen_opts[0]))

static void usage(FILE *f)
{
	fprintf(f, "Usage: xsnap-gen -i IFACE [options]\n"
		   "Send UDP/TCP frames with xsnap test payloads into IFACE.\n\nOptions:\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct gen_opt *o = &gen_opts[i];
		char left[48];

		if (o->val < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->val, o->name,
				 o->metavar ? " " : "", o->metavar ? o->metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name,
				 o->metavar ? " " : "", o->metavar ? o->metavar : "");
		fprintf(f, "  %-26s %s\n", left, o->help);
	}
	fprintf(f, "\nExit status: 0 success, 1 operational error, 2 usage error.\n");
}

static void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xsnap-gen: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'xsnap-gen --help'.\n");
	exit(EXIT_USAGE);
}

/* "-n/--count" or "--flows": how usage errors name an option. */
static const char *opt_name(int val)
{
	static char buf[40];

	for (size_t i = 0; i < N_OPTS; i++) {
		if (gen_opts[i].val != val)
			continue;
		if (val < 256)
			snprintf(buf, sizeof(buf), "-%c/--%s", val, gen_opts[i].name);
		else
			snprintf(buf, sizeof(buf), "--%s", gen_opts[i].name);
		return buf;
	}
	return "?";
}

/* Strict unsigned parse: decimal (or 0x hex), whole string, within [min, max]. */
static uint64_t parse_u64(int opt, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		usage_error("%s: '%s' is not a number", opt_name(opt), s);
	v = strtoull(s, &end, 0);
	if (errno == ERANGE || *end)
		usage_error("%s: '%s' is not a number", opt_name(opt), s);
	if (v < min || v > max)
		usage_error("%s: %llu out of range [%" PRIu64 ", %" PRIu64 "]", opt_name(opt),
			    v, min, max);
	return v;
}

static void parse_mac(int opt, const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
				      &b[4], &b[5], &tail) != 6)
		usage_error("%s: '%s' is not a MAC address (xx:xx:xx:xx:xx:xx)", opt_name(opt), s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
}

static void parse_ip(struct gen_cfg *cfg, int opt, const char *s)
{
	bool six = strchr(s, ':') != NULL;
	int ok;

	if ((six && cfg->family == AF_INET) || (!six && cfg->family == AF_INET6))
		usage_error("%s: '%s' does not match the address family (-4/-6 or the other "
			    "address)", opt_name(opt), s);
	cfg->family = six ? AF_INET6 : AF_INET;
	if (six)
		ok = inet_pton(AF_INET6, s, opt == OPT_SRC ? &cfg->src6 : &cfg->dst6);
	else
		ok = inet_pton(AF_INET, s, opt == OPT_SRC ? &cfg->src4.s_addr : &cfg->dst4.s_addr);
	if (ok != 1)
		usage_error("%s: '%s' is not an IP address", opt_name(opt), s);
	if (opt == OPT_SRC)
		cfg->src_set = true;
	else
		cfg->dst_set = true;
}

static void parse_dport(struct gen_cfg *cfg, const char *s)
{
	char buf[32], *dash;

	if (strlen(s) >= sizeof(buf))
		usage_error("--dport: '%s' is not a port or range", s);
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash == buf)
		usage_error("--dport: '%s' is not a port or range", s);
	if (dash)
		*dash = '\0';
	cfg->dport_lo = (uint16_t)parse_u64(OPT_DPORT, buf, 1, 65535);
	cfg->dport_hi = dash ? (uint16_t)parse_u64(OPT_DPORT, dash + 1, 1, 65535) : cfg->dport_lo;
	if (cfg->dport_hi < cfg->dport_lo)
		usage_error("--dport: empty range '%s'", s);
}

static void parse_args(int argc, char **argv, struct gen_cfg *cfg)
{
	struct option lopts[N_OPTS + 1];
	char sopts[3 * N_OPTS + 2], *sp = sopts;
	int c;

	memset(lopts, 0, sizeof(lopts));
	*sp++ = ':';	/* report a missing argument as ':' */
	for (size_t i = 0; i < N_OPTS; i++) {
		lopts[i].name = gen_opts[i].name;
		lopts[i].has_arg = gen_opts[i].metavar ? required_argument : no_argument;
		lopts[i].val = gen_opts[i].val;
		if (gen_opts[i].val < 256) {
			*sp++ = (char)gen_opts[i].val;
			if (gen_opts[i].metavar)
				*sp++ = ':';
		}
	}
	*sp = '\0';

	*cfg = gen_defaults;
	opterr = 0;
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			cfg->ifname = optarg;
			break;
		case 'n':
			cfg->count = parse_u64(c, optarg, 0, UINT64_MAX);
			break;
		case 'r':
			cfg->rate = parse_u64(c, optarg, 0, 1000000000);
			break;
		case 's':
			cfg->size = (uint32_t)parse_u64(c, optarg, 1, GEN_MAX_FRAME);
			break;
		case OPT_FLOWS:
			cfg->flows = (uint32_t)parse_u64(c, optarg, 1, 65535);
			break;
		case OPT_PROTO:
			if (!strcmp(optarg, "udp"))
				cfg->proto = IPPROTO_UDP;
			else if (!strcmp(optarg, "tcp"))
				cfg->proto = IPPROTO_TCP;
			else
				usage_error("--proto: '%s' is not udp or tcp", optarg);
			break;
		case '4':
		case '6':
			if (cfg->family && cfg->family != (c == '4' ? AF_INET : AF_INET6))
				usage_error("-%c contradicts an earlier -4/-6 or address", c);
			cfg->family = c == '4' ? AF_INET : AF_INET6;
			break;
		case OPT_SRC:
		case OPT_DST:
			parse_ip(cfg, c, optarg);
			break;
		case OPT_SPORT:
			cfg->sport = (uint16_t)parse_u64(c, optarg, 1, 65535);
			break;
		case OPT_DPORT:
			parse_dport(cfg, optarg);
			break;
		case OPT_SMAC:
			parse_mac(c, optarg, cfg->smac);
			cfg->smac_set = true;
			break;
		case OPT_DMAC:
			parse_mac(c, optarg, cfg->dmac);
			break;
		case OPT_VLAN:
			cfg->vlan = (int)parse_u64(c, optarg, 0, 4095);
			break;
		case OPT_SVLAN:
			cfg->svlan = (int)parse_u64(c, optarg, 0, 4095);
			break;
		case OPT_STREAM:
			cfg->stream = (uint32_t)parse_u64(c, optarg, 0, UINT32_MAX);
			break;
		case OPT_SEQ_START:
			cfg->seq_start = parse_u64(c, optarg, 0, UINT64_MAX);
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "packet"))
				cfg->mode = GEN_MODE_PACKET;
			else if (!strcmp(optarg, "live"))
				cfg->mode = GEN_MODE_LIVE;
			else if (!strcmp(optarg, "pump"))
				cfg->mode = GEN_MODE_PUMP;
			else
				usage_error("--mode: '%s' is not packet, live or pump", optarg);
			break;
		case OPT_LOOP:
			cfg->loop = optarg;
			break;
		case OPT_BATCH:
			cfg->batch = (uint32_t)parse_u64(c, optarg, 1, 1024);
			break;
		case OPT_TIMESTAMP:
			cfg->tstamp = true;
			break;
		case 'j':
			cfg->json = true;
			break;
		case 'q':
			cfg->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case ':':
			if (optopt && optopt < 256)
				usage_error("option '-%c' needs an argument", optopt);
			usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				usage_error("unknown option '-%c'", optopt);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg->ifname)
		usage_error("-i IFACE is required");

	if (!cfg->family)
		cfg->family = AF_INET;
	if (cfg->family == AF_INET) {
		if (!cfg->src_set)
			inet_pton(AF_INET, "10.0.0.1", &cfg->src4);
		if (!cfg->dst_set)
			inet_pton(AF_INET, "10.0.0.2", &cfg->dst4);
	} else {
		if (!cfg->src_set)
			inet_pton(AF_INET6, "fd00::1", &cfg->src6);
		if (!cfg->dst_set)
			inet_pton(AF_INET6, "fd00::2", &cfg->dst6);
	}
	if ((uint32_t)cfg->sport + cfg->flows - 1 > 65535)
		usage_error("--flows: %u flows from source port %u exceed port 65535", cfg->flows,
			    cfg->sport);
	if (!cfg->size) {
		cfg->size = frame_min_size(cfg) > 64 ? frame_min_size(cfg) : 64;
	} else if (cfg->size < frame_min_size(cfg)) {
		usage_error("-s/--size: %u bytes is too small: headers plus the %u-byte payload "
			    "header need at least %u", cfg->size, PAYLOAD_HDR_LEN,
			    frame_min_size(cfg));
	}
	if (cfg->mode == GEN_MODE_LIVE && cfg->batch > 256)
		usage_error("--batch: at most 256 in live mode (the kernel's limit)");
	if (cfg->mode == GEN_MODE_PUMP) {
		if (cfg->batch > 256)
			usage_error("--batch: at most 256 in pump mode (its broadcast map)");
		if (!cfg->loop)
			usage_error("--mode pump needs --loop VETH");
		if (cfg->rate)
			usage_error("--rate: pump mode is not paced (use --mode packet or live)");
	} else if (cfg->loop) {
		usage_error("--loop: only with --mode pump");
	}
}

/* Interface index, MTU and (unless --smac) MAC. */
static int probe_iface(struct gen_cfg *cfg)
{
	struct ifreq ifr;
	int fd, err = 0;

	cfg->ifindex = (int)if_nametoindex(cfg->ifname);
	if (!cfg->ifindex) {
		fprintf(stderr, "xsnap-gen: %s: %s\n", cfg->ifname, strerror(errno));
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "xsnap-gen: %s: socket: %s\n", cfg->ifname, strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->ifname);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
		fprintf(stderr, "xsnap-gen: %s: reading the MTU: %s\n", cfg->ifname,
			strerror(errno));
		err = -1;
		goto out;
	}
	if (cfg->size > (uint32_t)ifr.ifr_mtu + 14 + (cfg->vlan >= 0 ? 4 : 0) +
				(cfg->svlan >= 0 ? 4 : 0)) {
		fprintf(stderr, "xsnap-gen: %s: a %u-byte frame exceeds the MTU (%d)\n",
			cfg->ifname, cfg->size, ifr.ifr_mtu);
		err = -1;
		goto out;
	}
	if (!cfg->smac_set) {
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
			fprintf(stderr, "xsnap-gen: %s: reading the MAC address: %s\n", cfg->ifname,
				strerror(errno));
			err = -1;
			goto out;
		}
		memcpy(cfg->smac, ifr.ifr_hwaddr.sa_data, 6);
	}
out:
	close(fd);
	return err;
}

double gen_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sleep until frame number @sent is due: t0 + sent / rate (no-op if unpaced). */
void gen_pace(const struct gen_cfg *cfg, const struct timespec *t0, uint64_t sent)
{
	struct timespec t = *t0;
	uint64_t ns;

	if (!cfg->rate)
		return;
	ns = sent / cfg->rate * 1000000000ULL + sent % cfg->rate * 1000000000ULL / cfg->rate;
	t.tv_sec += (time_t)(ns / 1000000000ULL);
	t.tv_nsec += (long)(ns % 1000000000ULL);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR && !gen_stop)
		;
}

static void on_signal(int sig)
{
	(void)sig;
	gen_stop = 1;
}

static void report(const struct gen_cfg *cfg, const struct gen_result *res)
{
	double pps = res->seconds > 0 ? (double)res->sent / res->seconds : 0;
	const char *mode = cfg->mode == GEN_MODE_LIVE ? "live" :
			   cfg->mode == GEN_MODE_PUMP ? "pump" : "packet";

	if (cfg->json) {
		printf("{\"sent\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.0f,\"retries\":%" PRIu64
		       ",\"mode\":\"%s\"", res->sent, res->seconds, pps, res->retries, mode);
		if (cfg->mode == GEN_MODE_LIVE)
			printf(",\"attached\":%s", res->attached ? "true" : "false");
		if (cfg->mode == GEN_MODE_PUMP)
			printf(",\"reseeds\":%" PRIu64, res->reseeds);
		if (cfg->mode != GEN_MODE_PACKET) {
			if (res->dropped_known)
				printf(",\"dropped\":%" PRIu64, res->dropped);
			else
				printf(",\"dropped\":null");
		}
		printf("}\n");
		return;
	}
	if (cfg->quiet)
		return;
	printf("sent %" PRIu64 " frames in %.3f s (%.0f pps), %" PRIu64 " retries", res->sent,
	       res->seconds, pps, res->retries);
	if (res->dropped)
		printf(", %" PRIu64 " dropped by %s (XDP transmit failed)", res->dropped,
		       cfg->ifname);
	printf("\n");
	if (cfg->mode == GEN_MODE_LIVE)
		printf("live: program %s %s; %" PRIu64 " frames from a fresh template copy, "
		       "%" PRIu64 " from recycled pages (%" PRIu64 " with changed headers, "
		       "rewritten)\n",
		       res->attached ? "attached to" : "NOT attached to", cfg->ifname, res->fresh,
		       res->recycled, res->dirty);
}

int main(int argc, char **argv)
{
	static struct gen_frame frame;	/* 9 KiB: keep it off the stack */
	struct gen_result res = { 0 };
	struct sigaction sa;
	struct gen_cfg cfg;
	int err;

	parse_args(argc, argv, &cfg);
	if (probe_iface(&cfg))
		return EXIT_FAILURE;
	frame_build(&cfg, &frame);

	/* No SA_RESTART: a signal interrupts a blocking send or test run. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (cfg.mode == GEN_MODE_LIVE)
		err = send_live(&cfg, &frame, &res);
	else if (cfg.mode == GEN_MODE_PUMP)
		err = send_pump(&cfg, &frame, &res);
	else
		err = send_packet(&cfg, &frame, &res);
	if (err)
		return EXIT_FAILURE;
	report(&cfg, &res);
	return EXIT_SUCCESS;
}
