// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * cycles IFACE N: open and close xsnap on IFACE N times (attach, tenant,
 * rule, socket, a receive, close) and check that nothing accumulates: file
 * descriptors, resident memory, and BPF programs, maps and links.  BPF ids
 * are machine-wide and other test runs share the machine, so the objects
 * counted are this process's own: the ids its descriptors name
 * (/proc/self/fdinfo) just before each close; after the cycles none of them
 * may still exist.  Exit 0 when all stayed flat.
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

struct snap {
	int fds;
	long rss;
};

static void take(struct snap *s)
{
	s->fds = count_fds();
	s->rss = rss_kb();
}

/* The BPF objects this process opened during the cycles. */
enum { K_PROG, K_MAP, K_LINK, K_MAX };
#define MAX_OWN 8192
static struct { int kind; __u32 id; } own[MAX_OWN];
static int nown;

static void remember(int kind, __u32 id)
{
	for (int i = 0; i < nown; i++)
		if (own[i].kind == kind && own[i].id == id)
			return;
	if (nown < MAX_OWN)
		own[nown++] = (typeof(own[0])){ kind, id };
}

/* Record the ids of the BPF objects behind our descriptors. */
static void note_own(void)
{
	static const char *const key[K_MAX] = { "prog_id:", "map_id:", "link_id:" };
	DIR *d = opendir("/proc/self/fdinfo");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], line[256];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			for (int k = 0; k < K_MAX; k++)
				if (!strncmp(line, key[k], strlen(key[k])))
					remember(k, (__u32)strtoul(line + strlen(key[k]), NULL, 10));
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

/* How many of the remembered objects of @kind still exist. */
static int alive(int kind)
{
	int n = 0;

	for (int i = 0; i < nown; i++) {
		int fd;

		if (own[i].kind != kind)
			continue;
		fd = kind == K_PROG ? bpf_prog_get_fd_by_id(own[i].id) :
		     kind == K_MAP  ? bpf_map_get_fd_by_id(own[i].id) :
				      bpf_link_get_fd_by_id(own[i].id);
		if (fd >= 0) {
			close(fd);
			n++;
		}
	}
	return n;
}

static int count_kind(int kind)
{
	int n = 0;

	for (int i = 0; i < nown; i++)
		n += own[i].kind == kind;
	return n;
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
	note_own();
	xsnap_close(ctx);	/* closes the socket too */
	return 0;
}

int main(int argc, char **argv)
{
	struct snap before, first, after;
	int n, err, progs = 0, maps = 0, links = 0;

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
		progs = alive(K_PROG);
		maps = alive(K_MAP);
		links = alive(K_LINK);
		if (!progs && !maps && !links)
			break;
		usleep(50000);
	}
	printf("%d open/close cycles: fds %d -> %d, of the BPF objects they opened still alive: "
	       "progs %d of %d, maps %d of %d, links %d of %d; rss %ld -> %ld kB\n",
	       n, before.fds, after.fds, progs, count_kind(K_PROG), maps, count_kind(K_MAP),
	       links, count_kind(K_LINK), first.rss, after.rss);
#ifdef __SANITIZE_ADDRESS__
	/* ASan's quarantine keeps freed memory resident on purpose: its leak
	 * checker is the memory test in that build, RSS is not */
	after.rss = first.rss;
#endif
	if (after.fds != before.fds || progs || maps || links || !count_kind(K_PROG) ||
	    after.rss - first.rss > 2048) {
		printf("FAIL: something accumulated\n");
		return 1;
	}
	return 0;
}
