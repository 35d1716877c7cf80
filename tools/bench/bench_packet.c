// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_packet: AF_PACKET fan-out.  N packet sockets (ETH_P_ALL, bound to
 * the interface, no PACKET_FANOUT: each sees every frame, like N tcpdumps),
 * each with a TPACKET_V3 receive ring mapped into the process and one
 * consumer thread.  A consumer walks each block the kernel retired, touches
 * the first byte of every frame, and hands the block back; with no block
 * ready it sleeps in poll() (or, with --spin, looks again at once).
 *
 * Ring: --block-kb KiB blocks (default 256) x --blocks (default 32), i.e.
 * 8 MiB per socket, block retire timeout 1 ms.  The kernel's per-socket
 * drop count (PACKET_STATISTICS, read, and so reset, at the start and the
 * end of the window) is reported.
 *
 *   bench_packet -i xs-rx -n 4 -c 1 -w 2 -R /tmp/ready
 */
#include <poll.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "bench.h"

struct pkt_cons {
	int fd;
	uint8_t *ring;
	size_t ring_len;
	uint64_t drops, packets;
};

static struct {
	unsigned int block_kb, blocks;
	struct pkt_cons *pc;
} pk = { .block_kb = 256, .blocks = 32 };

static struct bench b;

static void *consumer(void *arg)
{
	struct bench_cons *c = arg;
	struct pkt_cons *p = c->priv;
	size_t bsz = (size_t)pk.block_kb << 10;
	unsigned int blk = 0;
	uint64_t sink = 0;

	while (!bench_stopping(&b)) {
		struct tpacket_block_desc *bd = (void *)(p->ring + blk * bsz);
		struct tpacket3_hdr *h;
		uint32_t n;
		uint64_t now = 0;

		/* acquire: the block's frames are written before its status */
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		      TP_STATUS_USER)) {
			struct pollfd pfd = { .fd = p->fd, .events = POLLIN | POLLERR };

			if (!bench_spinning(&b, c))
				poll(&pfd, 1, 100);
			continue;
		}
		if (b.latency)
			now = bench_now_ns();
		n = bd->hdr.bh1.num_pkts;
		h = (void *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *frame = (const uint8_t *)h + h->tp_mac;

			sink += frame[0];
			if (b.latency)
				bench_lat_frame(&b, c, frame, h->tp_snaplen, now);
			h = (void *)((uint8_t *)h + h->tp_next_offset);
		}
		/* release: we are done reading before the kernel may rewrite it */
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		blk = (blk + 1) % pk.blocks;
		bench_count(c, n);
	}
	c->sink = sink;
	return NULL;
}

static void read_stats(struct bench *bb)
{
	for (unsigned int i = 0; i < bb->n; i++) {
		struct tpacket_stats_v3 st;
		socklen_t len = sizeof(st);

		/* reading resets the kernel's counters */
		if (!getsockopt(pk.pc[i].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len)) {
			pk.pc[i].drops = st.tp_drops;
			pk.pc[i].packets = st.tp_packets;
		}
	}
}

static int open_socket(struct pkt_cons *p, int ifindex)
{
	struct tpacket_req3 req = {
		.tp_block_size = pk.block_kb << 10,
		.tp_block_nr = pk.blocks,
		.tp_frame_size = 2048,
		.tp_frame_nr = (pk.block_kb << 10) / 2048 * pk.blocks,
		.tp_retire_blk_tov = 1,		/* ms */
	};
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	int v = TPACKET_V3;

	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (p->fd < 0) {
		bench_err(&b, "AF_PACKET socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) ||
	    setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) {
		bench_err(&b, "TPACKET_V3 ring (%u x %u KiB): %s", pk.blocks, pk.block_kb,
			  strerror(errno));
		return -1;
	}
	p->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	p->ring = mmap(NULL, p->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       p->fd, 0);
	if (p->ring == MAP_FAILED) {
		p->ring = NULL;
		bench_err(&b, "mapping the ring: %s", strerror(errno));
		return -1;
	}
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll))) {
		bench_err(&b, "bind: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int setup(int ifindex)
{
	pk.pc = calloc(b.n, sizeof(*pk.pc));
	if (!pk.pc) {
		bench_err(&b, "out of memory");
		return -1;
	}
	for (unsigned int i = 0; i < b.n; i++)
		pk.pc[i].fd = -1;
	for (unsigned int i = 0; i < b.n; i++) {
		if (open_socket(&pk.pc[i], ifindex))
			return -1;
		b.cons[i].priv = &pk.pc[i];
	}
	return 0;
}

static void teardown(void)
{
	if (!pk.pc)
		return;
	for (unsigned int i = 0; i < b.n; i++) {
		if (pk.pc[i].ring)
			munmap(pk.pc[i].ring, pk.pc[i].ring_len);
		if (pk.pc[i].fd >= 0)
			close(pk.pc[i].fd);
	}
	free(pk.pc);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_packet -i IFACE [options]\n"
		   "N AF_PACKET TPACKET_V3 rings, each seeing every frame, one consumer each;\n"
		   "report each one's rate over a window.\n\n"
		   BENCH_COMMON_HELP
		   BENCH_RT_HELP_REFUSED("the kernel fills the rings")
		   "      --block-kb KB        ring block size in KiB (default 256)\n"
		   "      --blocks N           ring blocks (default 32)\n"
		   "Prints one JSON object.\n");
}

static bool packet_opt(int c, const char *arg)
{
	switch (c) {
	case 'K':
		pk.block_kb = bench_parse_pow2(&b, "--block-kb", arg, 4, 65536);
		return true;
	case 'N':
		pk.blocks = (unsigned int)bench_parse_ul(&b, "--blocks", arg, 2, 65536);
		return true;
	}
	return false;
}

/* The report's own fields: the rings' size, the kernel's drops and packets. */
static int packet_fields(struct bench *bb, char *buf, size_t size)
{
	uint64_t drops = 0, seen = 0;

	for (unsigned int i = 0; i < bb->n; i++) {
		drops += pk.pc[i].drops;
		seen += pk.pc[i].packets;
	}
	snprintf(buf, size,
		 "\"ring_bytes\":%zu,\"kernel_drops\":%" PRIu64 ",\"kernel_packets\":%" PRIu64,
		 (size_t)pk.block_kb * 1024 * pk.blocks, drops, seen);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		BENCH_COMMON_OPTS,
		{ "block-kb", required_argument, NULL, 'K' },
		{ "blocks", required_argument, NULL, 'N' },
		{ 0 }
	};
	static const struct bench_prog prog = {
		.system = "afpacket", .mode = "tpacket_v3", .setup_if = setup,
		.consumer = consumer, .at_start = read_stats, .at_end = read_stats,
		.fields = packet_fields, .teardown = teardown,
	};

	bench_init(&b, "bench_packet");
	bench_options(&b, argc, argv, BENCH_COMMON_SHORT, lo, packet_opt, usage);
	return bench_main(&b, &prog);
}
