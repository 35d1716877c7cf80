// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cycles IFACE N: open and close xsnap on IFACE N times (attach, tenant,
 * rule, socket, a receive, close) and check that nothing accumulates: file
 * descriptors, BPF programs, maps and links (machine-wide ids walked with
 * bpf_*_get_next_id), and resident memory.  Exit 0 when all stayed flat.
 */
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n - 1;	/* the DIR's own descriptor */
}

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static int count_ids(int (*next)(__u32, __u32 *))
{
	__u32 id = 0;
	int n = 0;

	while (!next(id, &id))
		n++;
	return n;
}

struct snap {
	int fds, progs, maps, links;
	long rss;
};

static void take(struct snap *s)
{
	s->fds = count_fds();
	s->progs = count_ids(bpf_prog_get_next_id);
	s->maps = count_ids(bpf_map_get_next_id);
	s->links = count_ids(bpf_link_get_next_id);
	s->rss = rss_kb();
}

static int cycle(const char *ifname)
{
	struct xsnap_frame *v[8];
	struct xsnap_ctx *ctx = xsnap_open(ifname, NULL);
	struct xsnap_sock *s;

	if (!ctx)
		return -errno;
	if (xsnap_tenant_add(ctx, "t", NULL) < 0 || xsnap_rule_add(ctx, "t", "udp dst port 9", 1) < 0 ||
	    !(s = xsnap_socket(ctx, "t", NULL))) {
		xsnap_close(ctx);
		return -EINVAL;
	}
	xsnap_recv(s, v, 8, 0);
	xsnap_close(ctx);	/* closes the socket too */
	return 0;
}

int main(int argc, char **argv)
{
	struct snap before, first, after;
	int n, err;

	if (argc != 3 || (n = atoi(argv[2])) < 2) {
		fprintf(stderr, "usage: cycles IFACE N (N >= 2)\n");
		return 2;
	}
	if (!getenv("CYCLES_VERBOSE"))
		xsnap_set_print(NULL);
	take(&before);
	if ((err = cycle(argv[1]))) {
		fprintf(stderr, "cycle 1: %s\n", strerror(-err));
		return 1;
	}
	take(&first);	/* after one cycle: lazily initialised libraries settle */
	for (int i = 2; i <= n; i++) {
		if ((err = cycle(argv[1]))) {
			fprintf(stderr, "cycle %d: %s\n", i, strerror(-err));
			return 1;
		}
	}
	/* maps and links are freed by a workqueue after the last reference
	 * goes: give the kernel up to 5 s to catch up */
	for (int w = 0; w < 100; w++) {
		take(&after);
		if (after.progs == before.progs && after.maps == before.maps &&
		    after.links == before.links)
			break;
		usleep(50000);
	}
	printf("%d open/close cycles: fds %d -> %d, progs %d -> %d, maps %d -> %d, "
	       "links %d -> %d, rss %ld -> %ld kB\n",
	       n, before.fds, after.fds, before.progs, after.progs, before.maps, after.maps,
	       before.links, after.links, first.rss, after.rss);
#ifdef __SANITIZE_ADDRESS__
	/* ASan's quarantine keeps freed memory resident on purpose: its leak
	 * checker is the memory test in that build, RSS is not */
	after.rss = first.rss;
#endif
	if (after.fds != before.fds || after.progs != before.progs || after.maps != before.maps ||
	    after.links != before.links || after.rss - first.rss > 2048) {
		printf("FAIL: something accumulated\n");
		return 1;
	}
	return 0;
}
