// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * --mode live: BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES.
 *
 * The kernel runs bpf/xsnap_gen.bpf.c over copies of one template frame and
 * transmits every XDP_TX verdict out of the interface (ctx_in's
 * ingress_ifindex): no skb, no socket, one syscall per chunk of frames.
 * The program stamps frame k itself (see its header comment for why it
 * rewrites the headers of every frame: live frames are not re-copied from
 * data_in), so the BPF counter gen_next is the number of frames produced.
 *
 * Steps: open the skeleton -> set the rodata knobs (template, offsets,
 * cookie) -> load -> attach to the sending interface through a bpf_link
 * held by this process (the kernel detaches it when we exit, even on
 * SIGKILL) -> BPF_PROG_RUN in chunks (pacing and SIGINT act between chunks;
 * a signal also interrupts a running chunk with EINTR) -> destroy.
 *
 * Attaching matters for speed only.  Without it every BPF_PROG_RUN call
 * of an XDP program installs the program in the kernel's XDP dispatcher
 * and removes it again (bpf_prog_change_xdp(): an image rebuild and an RCU
 * grace period), 0.5-3 ms per call; with the same program attached it is
 * already there.  Measured on kernel 6.18, veth, 66-byte frames, peer
 * dropping in XDP: paced at 1 Mpps in 1000-frame calls, 1.0 Mpps attached
 * vs 0.6 Mpps unattached (also when a *different* program is attached);
 * unpaced in 256k-frame calls, 17-18 vs 15.6 Mpps.  If another XDP program
 * owns the interface we say so and run unattached with longer calls.
 *
 * Frames the kernel fails to transmit are dropped without telling the
 * caller, so the frames really sent are taken from the driver's XDP
 * transmit counters (ethtool statistics) where it has them.  On veth: a
 * peer without NAPI (no XDP program, GRO off, not threaded) accepts
 * nothing and counts nothing as an error; a full peer ring counts
 * tx_queue_N_xdp_xmit_errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "gen.h"
#include "xsnap_gen.skel.h"
#include "xsnap_internal.h"	/* steer_meta_in_head() */

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES	(1U << 1)	/* linux 5.18 */
#endif

/*
 * The XDP metadata area in front of each test-run frame: the 8-byte cookie,
 * then 32 bytes nobody reads.  The program strips the whole area before
 * XDP_TX (a wire carries no metadata; on veth the peer would otherwise get
 * it in front of the frame), so the peer's XDP program may write up to 32
 * bytes of its own metadata there; the cookie, further out, survives for
 * the page's next use (pages are recycled as they were left).
 */
#define LIVE_META_LEN	40
/* Frames per BPF_PROG_RUN call: bounds, see chunk_size(). */
#define LIVE_CHUNK_MIN	1024u
#define LIVE_CHUNK_START	4096u
#define LIVE_CHUNK_MAX	(1u << 18)

static bool quiet_libbpf;
static bool verbose_libbpf = true;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || quiet_libbpf || !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Name the program that already owns @cfg's XDP hook, for the warning. */
static void describe_owner(const struct gen_cfg *cfg, char *buf, size_t len)
{
	struct bpf_prog_info info;
	__u32 id = 0, ilen = sizeof(info);
	int fd;

	snprintf(buf, len, "another XDP program");
	if (bpf_xdp_query_id(cfg->ifindex, 0, &id) || !id)
		return;
	snprintf(buf, len, "XDP program id %u", id);
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(buf, len, "XDP program '%s' (id %u)", info.name, id);
	close(fd);
}

/*
 * The driver's XDP transmit counters, summed over queues: statistics named
 * "*xdp_xmit" (accepted) and "*xdp_xmit_err*" (refused), as veth reports
 * them (tx_queue_N_xdp_xmit[_errors]).  Returns -1 if the driver has none.
 * Needed because the kernel drops live frames it cannot transmit without
 * telling the caller: a veth whose peer has no NAPI (no XDP program, GRO
 * off, not threaded) accepts nothing and counts nothing as an error; a
 * full peer ring counts errors.
 */
static int xdp_xmit_stats(const char *ifname, uint64_t *xmit, uint64_t *errs)
{
	struct ethtool_drvinfo drv = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_gstrings *names = NULL;
	struct ethtool_stats *stats = NULL;
	struct ifreq ifr;
	int fd, ret = -1;
	bool found = false;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&drv;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0 || !drv.n_stats)
		goto out;
	names = calloc(1, sizeof(*names) + (size_t)drv.n_stats * ETH_GSTRING_LEN);
	stats = calloc(1, sizeof(*stats) + (size_t)drv.n_stats * sizeof(__u64));
	if (!names || !stats)
		goto out;
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_STATS;
	names->len = drv.n_stats;
	ifr.ifr_data = (void *)names;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		goto out;
	stats->cmd = ETHTOOL_GSTATS;
	stats->n_stats = drv.n_stats;
	ifr.ifr_data = (void *)stats;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		goto out;
	*xmit = *errs = 0;
	for (__u32 i = 0; i < drv.n_stats && i < names->len; i++) {
		char name[ETH_GSTRING_LEN + 1] = { 0 };
		size_t n;

		memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		n = strlen(name);
		if (n >= 8 && !strcmp(name + n - 8, "xdp_xmit")) {
			*xmit += stats->data[i];
			found = true;
		} else if (strstr(name, "xdp_xmit_err")) {
			*errs += stats->data[i];
		}
	}
	ret = found ? 0 : -1;
out:
	free(stats);
	free(names);
	close(fd);
	return ret;
}

static struct bpf_link *attach(const struct gen_cfg *cfg, struct xsnap_gen *skel)
{
	struct bpf_link *link;
	char owner[64];
	int err;

	quiet_libbpf = true;	/* we report a failure ourselves */
	link = bpf_program__attach_xdp(skel->progs.xsnap_gen, cfg->ifindex);
	err = link ? 0 : -errno;
	quiet_libbpf = false;
	if (link)
		return link;
	if (cfg->quiet)
		return NULL;
	if (err == -EBUSY || err == -EEXIST) {
		describe_owner(cfg, owner, sizeof(owner));
		fprintf(stderr, "xsnap-gen: %s: warning: %s is already attached there, so "
			"xsnap_gen cannot be; running unattached\n", cfg->ifname, owner);
	} else {
		fprintf(stderr, "xsnap-gen: %s: warning: attaching xsnap_gen failed (%s); running "
			"unattached\n", cfg->ifname, strerror(-err));
	}
	fprintf(stderr, "xsnap-gen: %s: unattached, every BPF_PROG_RUN call costs 0.5-3 ms more "
		"(paced runs suffer most)\n", cfg->ifname);
	return NULL;
}

static void set_knobs(const struct gen_cfg *cfg, const struct gen_frame *fr, struct xsnap_gen *skel,
		      __u64 cookie)
{
	uint32_t n = fr->len < GEN_TMPL_BYTES ? fr->len : GEN_TMPL_BYTES;

	skel->rodata->gen_cookie = cookie;
	/* unless the kernel refuses bpf_xdp_adjust_meta() (libxsnap's probe) */
	skel->rodata->gen_strip_meta = !steer_meta_in_head();
	memcpy((void *)skel->rodata->gen_tmpl, fr->buf, n);
	skel->rodata->gen_tmpl_words = n / 8;
	skel->rodata->gen_l4_off = fr->l4_off;
	skel->rodata->gen_pl_off = fr->pl_off;
	skel->rodata->gen_csum_off = fr->csum_off;
	skel->rodata->gen_csum_base = fr->csum_base;
	skel->rodata->gen_udp = fr->udp;
	skel->rodata->gen_stream = cfg->stream;
	skel->rodata->gen_pl_len = fr->pl_len;
	skel->rodata->gen_seq_start = cfg->seq_start;
	skel->rodata->gen_flows = cfg->flows;
	skel->rodata->gen_sport = cfg->sport;
	skel->rodata->gen_ndports = (uint32_t)cfg->dport_hi - cfg->dport_lo + 1;
	skel->rodata->gen_dport = cfg->dport_lo;
	skel->rodata->gen_ts_off = fr->ts_off;
}

/*
 * Frames per BPF_PROG_RUN call.  Paced: about 1 ms worth, or 20 ms when
 * the program is not attached (each call then pays 0.5-3 ms for the XDP
 * dispatcher update, see the top of this file).  Never more than
 * *cap, which adapts to whether the page pool recycles: every call creates
 * its own page pool, and while transmitted pages come back to it a call
 * can be long (cheaper per frame).  When they do not come back (measured:
 * VLAN-tagged frames that a veth peer hands to its stack), every frame
 * costs a fresh page and long calls collapse (2k pps at 256k frames per
 * call, 500k pps at 1k), so the cap drops to LIVE_CHUNK_MIN.
 */
static uint64_t chunk_size(const struct gen_cfg *cfg, uint64_t cap, bool attached)
{
	uint64_t c = cfg->rate ? cfg->rate / (attached ? 1000 : 50) : cap;

	if (c > cap)
		c = cap;
	return c ? c : 1;
}

static uint64_t adapt_cap(uint64_t cap, uint64_t ran, uint64_t fresh)
{
	if (ran < cap / 2)
		return cap;		/* a short (last or paced) call says little */
	if (fresh * 2 > ran)
		return LIVE_CHUNK_MIN;
	if (fresh * 4 < ran && cap < LIVE_CHUNK_MAX)
		return cap * 2;
	return cap;
}

static int run(const struct gen_cfg *cfg, int prog_fd, const uint8_t *data, uint32_t size,
	       volatile struct xsnap_gen__bss *bss, struct gen_result *res)
{
	struct xdp_md ctx = {
		.data = LIVE_META_LEN,
		.data_end = size,
		.ingress_ifindex = (__u32)cfg->ifindex,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = data,
		.data_size_in = size,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		.batch_size = cfg->batch,
	);
	uint64_t cap = LIVE_CHUNK_START, fresh = 0;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!gen_stop && (!cfg->count || res->sent < cfg->count)) {
		uint64_t chunk = chunk_size(cfg, cap, res->attached);
		uint64_t left = cfg->count ? cfg->count - res->sent : chunk;

		opts.repeat = (int)(left < chunk ? left : chunk);
		gen_pace(cfg, &t0, res->sent);
		if (bpf_prog_test_run_opts(prog_fd, &opts) && errno != EINTR) {
			fprintf(stderr, "xsnap-gen: %s: BPF_PROG_RUN (live frames): %s (after %llu "
				"frames)\n", cfg->ifname, strerror(errno),
				(unsigned long long)bss->gen_next);
			if (errno == EINVAL)
				fprintf(stderr, "xsnap-gen: %s: (a live frame must fit one page "
					"with its headroom: at most 3408 bytes on kernel 6.18 "
					"x86_64)\n", cfg->ifname);
			return 1;
		}
		cap = adapt_cap(cap, bss->gen_next - res->sent, bss->gen_fresh - fresh);
		res->sent = bss->gen_next;
		fresh = bss->gen_fresh;
	}
	res->seconds = gen_elapsed(&t0);
	return 0;
}

int send_live(const struct gen_cfg *cfg, const struct gen_frame *fr, struct gen_result *res)
{
	static uint8_t data[LIVE_META_LEN + GEN_MAX_FRAME];
	struct bpf_link *link = NULL;
	struct xsnap_gen *skel;
	uint64_t xmit0 = 0, errs0 = 0, xmit1 = 0, errs1 = 0;
	bool have_stats;
	__u64 cookie = 0;
	int err = 1;

	verbose_libbpf = !cfg->quiet;
	libbpf_set_print(libbpf_print);
	if (getrandom(&cookie, sizeof(cookie), 0) != sizeof(cookie))
		cookie = (__u64)time(NULL) * 0x9e3779b97f4a7c15ULL;
	cookie |= 1;	/* never 0: an all-zero metadata area must not match */

	/* 1. open */
	skel = xsnap_gen__open();
	if (!skel) {
		fprintf(stderr, "xsnap-gen: %s: opening the BPF skeleton: %s\n", cfg->ifname,
			strerror(errno));
		return 1;
	}
	/* 2. set rodata: template, offsets, cookie */
	set_knobs(cfg, fr, skel, cookie);
	/* 3. load */
	if (xsnap_gen__load(skel)) {
		fprintf(stderr, "xsnap-gen: %s: loading xsnap_gen: %s\n", cfg->ifname,
			strerror(errno));
		goto out;
	}
	/* 4. attach to the sending interface (speed only; held by this process) */
	link = attach(cfg, skel);
	res->attached = link != NULL;

	/* 5. run: data_in = cookie (as XDP metadata) + frame 0 */
	memset(data, 0, LIVE_META_LEN);
	memcpy(data, &cookie, sizeof(cookie));
	memcpy(data + LIVE_META_LEN, fr->buf, fr->len);
	have_stats = !xdp_xmit_stats(cfg->ifname, &xmit0, &errs0);
	if (run(cfg, bpf_program__fd(skel->progs.xsnap_gen), data, LIVE_META_LEN + fr->len,
		skel->bss, res))
		goto out;
	res->fresh = skel->bss->gen_fresh;
	res->recycled = skel->bss->gen_recycled;
	res->dirty = skel->bss->gen_dirty;
	res->foreign = skel->bss->gen_foreign;

	/* 6. what did the driver really transmit? */
	if (have_stats && !xdp_xmit_stats(cfg->ifname, &xmit1, &errs1)) {
		uint64_t runs = res->sent, ok = xmit1 - xmit0;

		res->sent = ok < runs ? ok : runs;
		res->dropped = runs - res->sent;
		res->dropped_known = true;
		if (runs && !ok) {
			fprintf(stderr, "xsnap-gen: %s: the driver transmitted none of the %llu "
				"frames (%llu transmit errors); on a veth the peer needs NAPI: "
				"an XDP program, GRO (ethtool -K PEER gro on) or threaded "
				"NAPI\n", cfg->ifname,
				(unsigned long long)runs, (unsigned long long)(errs1 - errs0));
			goto out;
		}
	}
	err = 0;
out:
	/* 7. detach and unload, in reverse */
	bpf_link__destroy(link);
	xsnap_gen__destroy(skel);
	return err;
}

/*
 * --mode pump: where the kernel refuses live frames (EPERM for every
 * program on some builds), XDP still clones.  Frames circle the veth pair
 * --loop / its peer: xsnap_gen_pump on --loop broadcasts each arriving
 * frame through gen_pump, whose first --batch slots name the sending
 * interface (with xsnap_gen_stamp, the same stamping as live mode, run on
 * each clone before transmission) and whose last names the peer, which
 * takes the original back to --loop for the next lap.  No syscall per
 * frame or per batch: this process seeds the loop, watches gen_next, seeds
 * again if the loop ever runs dry (a lap's frame can be dropped), and
 * detaches at the end, which stops it.  Not paced.
 */
#define PUMP_SEEDS	1	/* frames circling; each lap makes --batch frames */
#define PUMP_IDLE_MS	20	/* no new frame for this long: seed again */

/* The ifindex of @ifname's veth peer (its iflink), or -errno. */
static int veth_peer(const char *ifname)
{
	char path[128];
	FILE *f;
	int idx = -1;

	snprintf(path, sizeof(path), "/sys/class/net/%s/iflink", ifname);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%d", &idx) != 1)
		idx = -1;
	fclose(f);
	return idx > 0 && idx != (int)if_nametoindex(ifname) ? idx : -ENODEV;
}

/* Send @n copies of frame 0 out of @ifindex (the loop's peer): they
 * arrive on --loop.  0 or -errno. */
static int pump_seed(int ifindex, const struct gen_frame *fr, unsigned int n)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	int fd, err = 0;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);	/* protocol 0: sends only */
	if (fd < 0)
		return -errno;
	for (unsigned int i = 0; i < n && !err; i++)
		if (sendto(fd, fr->buf, fr->len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			err = -errno;
	close(fd);
	return err;
}

int send_pump(const struct gen_cfg *cfg, const struct gen_frame *fr, struct gen_result *res)
{
	struct bpf_link *link = NULL;
	struct xsnap_gen *skel;
	uint64_t xmit0 = 0, errs0 = 0, xmit1 = 0, errs1 = 0, last = 0;
	int loop = (int)if_nametoindex(cfg->loop), peer, map_fd, err = 1;
	struct timespec t0, seen;
	bool have_stats;

	verbose_libbpf = !cfg->quiet;
	libbpf_set_print(libbpf_print);
	peer = loop ? veth_peer(cfg->loop) : -ENODEV;
	if (peer < 0) {
		fprintf(stderr, "xsnap-gen: --loop %s: %s\n", cfg->loop,
			loop ? "not a veth with its peer in this namespace" : "no such interface");
		return 1;
	}
	skel = xsnap_gen__open();
	if (!skel) {
		fprintf(stderr, "xsnap-gen: %s: opening the BPF skeleton: %s\n", cfg->ifname,
			strerror(errno));
		return 1;
	}
	set_knobs(cfg, fr, skel, 0);
	skel->rodata->gen_count = cfg->count;
	/* the live-frames program is not needed here */
	bpf_program__set_autoload(skel->progs.xsnap_gen, false);
	if (xsnap_gen__load(skel)) {
		fprintf(stderr, "xsnap-gen: %s: loading the pump programs: %s\n", cfg->ifname,
			strerror(errno));
		goto out;
	}
	map_fd = bpf_map__fd(skel->maps.gen_pump);
	for (uint32_t i = 0; i <= cfg->batch; i++) {
		struct bpf_devmap_val v = { .ifindex = (__u32)cfg->ifindex };

		if (i < cfg->batch)
			v.bpf_prog.fd = bpf_program__fd(skel->progs.xsnap_gen_stamp);
		else
			v.ifindex = (__u32)peer;	/* the last slot gets the original */
		if (bpf_map_update_elem(map_fd, &i, &v, BPF_ANY)) {
			fprintf(stderr, "xsnap-gen: %s: broadcast slot %u: %s\n", cfg->ifname, i,
				strerror(errno));
			goto out;
		}
	}
	link = bpf_program__attach_xdp(skel->progs.xsnap_gen_pump, loop);
	if (!link) {
		fprintf(stderr, "xsnap-gen: --loop %s: attaching the pump: %s\n", cfg->loop,
			strerror(errno));
		goto out;
	}
	have_stats = !xdp_xmit_stats(cfg->ifname, &xmit0, &errs0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	seen = t0;
	for (bool seed = true; !gen_stop && (!cfg->count || skel->bss->gen_next < cfg->count);
	     seed = false) {
		uint64_t next = skel->bss->gen_next;

		if (next != last) {
			last = next;
			clock_gettime(CLOCK_MONOTONIC, &seen);
		} else if (seed || gen_elapsed(&seen) >= PUMP_IDLE_MS / 1e3) {
			/* not started, or the loop ran dry */
			int e = pump_seed(peer, fr, PUMP_SEEDS);

			if (!seed)
				res->reseeds++;

			if (e) {
				fprintf(stderr, "xsnap-gen: seeding %s: %s\n", cfg->loop, strerror(-e));
				goto out;
			}
			clock_gettime(CLOCK_MONOTONIC, &seen);
		}
		usleep(1000);
	}
	res->seconds = gen_elapsed(&t0);
	bpf_link__destroy(link);	/* stops the loop */
	link = NULL;
	/* a lap already running on another CPU may still stamp a batch */
	do {
		last = skel->bss->gen_next;
		usleep(5000);
	} while (skel->bss->gen_next != last);
	res->sent = skel->bss->gen_next;
	if (cfg->count && res->sent > cfg->count)
		res->sent = cfg->count;
	res->fresh = skel->bss->gen_fresh;
	res->recycled = skel->bss->gen_recycled;
	if (have_stats && !xdp_xmit_stats(cfg->ifname, &xmit1, &errs1)) {
		uint64_t ok = xmit1 - xmit0;

		res->dropped = res->sent > ok ? res->sent - ok : 0;
		res->sent -= res->dropped;
		res->dropped_known = true;
	}
	err = 0;
out:
	bpf_link__destroy(link);
	xsnap_gen__destroy(skel);
	return err;
}
