// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The UMEM: one virtual range made of memfds mapped back to back.
 *
 *   [ receive region: nframes chunks ][ pool 0 ][ pool 1 ] ... [ pool npools-1 ]
 *
 * The receive region is one memfd per queue group (xsnap_opts.queue_groups;
 * one group unless asked): group g holds chunks g * gframes .. + gframes - 1,
 * has a free stack of its own, and stocks only its own queues' fill rings, so
 * a group's memfd only ever holds frames received on that group's queues and
 * can be handed to a tenant pinned to the group without a copy.
 *
 * The range is mapped twice.  The read-write mapping is what the kernel
 * registers (XDP_UMEM_REG pins it with FOLL_WRITE).  The read-only mapping
 * is what consumers see: a second mapping of the same memfds, opened
 * read-only through /proc/self/fd, so a stray write from a consumer faults
 * instead of corrupting what other consumers read, and so the same
 * descriptors can later be handed to other processes without write access.
 * Each tenant pool is its own memfd so that a tenant process can be given
 * its pool, and nothing else, writable.
 *
 * The region's memfds may be hugetlb files (xsnap_opts.hugepages): 2 MiB
 * pages from the system's reserved pool.  Every process that reads frames
 * (the engine reading metadata, each consumer its frames) touches a new
 * 4 KiB page per frame, a TLB miss each, and consumer processes do not
 * share TLB entries; with 2 MiB pages one entry covers 512 frames.  Every
 * mapping of the range therefore starts 2 MiB aligned (map_all(), and the
 * client's in client.c), and a group's part is a whole number of pages.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xsnap_internal.h"

/* What XDP_UMEM_REG demands of an aligned-mode UMEM, true by construction
 * here (the range comes from mmap, so it is page-aligned): a chunk is a
 * power of two between 2048 bytes and a page, and the headroom we ask for
 * (none: the kernel's XDP_PACKET_HEADROOM holds the metadata) leaves at
 * least 256 bytes of it. */
_Static_assert(FRAME_SIZE >= 2048 && FRAME_SIZE <= 4096 && !(FRAME_SIZE & (FRAME_SIZE - 1)),
	       "UMEM chunk size must be a power of two in 2048..4096");
_Static_assert(UMEM_HEADROOM < FRAME_SIZE - 256, "UMEM headroom must leave 256 bytes of a chunk");

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Whether @gframes chunks per group fill whole 2 MiB pages. */
static bool huge_fits(uint32_t gframes)
{
	return !(((uint64_t)gframes * FRAME_SIZE) & (UMEM_HUGE_SIZE - 1));
}

int umem_check_config(const char *ifname, const struct umem_config *c)
{
	const char *field = NULL, *want = NULL;
	uint32_t val = 0;

	/* the kernel refuses rings of 0 or non-power-of-two entries
	 * (xsk_init_queue); larger rings only cost memory, capped here */
	if (!pow2(c->ring_size) || c->ring_size > UMEM_MAX_RING) {
		field = "ring_size", val = c->ring_size;
		want = "a power of two, 1..16384 (fill, rx, tx and completion rings)";
	} else if (!c->frames || c->frames > UMEM_MAX_FRAMES) {
		field = "frames", val = c->frames;
		want = "1..1048576 (receive-region chunks)";
	} else if (!c->nqueues || c->nqueues > XSNAP_MAX_QUEUES) {
		field = "nqueues", val = c->nqueues;
		want = "1..64";
	} else if (!c->max_tenants || c->max_tenants > XSNAP_MAX_TENANTS) {
		field = "max_tenants", val = c->max_tenants;
		want = "1..32";
	} else if (!c->pool_frames || c->pool_frames > UMEM_MAX_POOL) {
		field = "pool_frames", val = c->pool_frames;
		want = "1..65536 (private chunks per tenant)";
	} else if (c->mode > XSNAP_MODE_SKB) {
		field = "mode", val = c->mode;
		want = "XSNAP_MODE_AUTO, _NATIVE or _SKB";
	} else if (c->zerocopy > XSNAP_ZC_OFF) {
		field = "zerocopy", val = c->zerocopy;
		want = "XSNAP_ZC_AUTO, _ON or _OFF";
	} else if (!c->groups || c->groups > c->nqueues || c->nqueues % c->groups) {
		field = "queue_groups", val = c->groups;
		want = "a divisor of nqueues (groups of equal size)";
	} else if (c->huge > XSNAP_HUGE_OFF) {
		field = "hugepages", val = c->huge;
		want = "XSNAP_HUGE_AUTO, _ON or _OFF";
	} else if (c->huge == XSNAP_HUGE_ON && !huge_fits(c->frames / c->groups)) {
		field = "frames", val = c->frames;
		want = "a multiple of 512 frames (2 MiB) per queue group with hugepages on";
	}
	if (field) {
		pr_warn("%s: bad option %s %u: must be %s\n", ifname, field, val, want);
		return -EINVAL;
	}
	return 0;
}

int umem_check_fit(const char *ifname, const struct umem_config *c)
{
	uint32_t per = c->nqueues / c->groups;

	if (c->groups > 1 && (uint64_t)per * 2 * c->ring_size >= c->frames / c->groups) {
		pr_warn("%s: bad option frames %u: too small for %u queue groups, each of %u "
			"frames: the fill and rx rings of a group's %u queue%s hold %u (raise "
			"frames or lower ring_size)\n",
			ifname, c->frames, c->groups, c->frames / c->groups, per, per == 1 ? "" : "s",
			per * 2 * c->ring_size);
		return -EINVAL;
	}
	if ((uint64_t)c->nqueues * 2 * c->ring_size >= c->frames) {
		pr_warn("%s: bad option frames %u: too small, the fill and rx rings of %u queue%s "
			"hold %u (raise frames or lower ring_size)\n",
			ifname, c->frames, c->nqueues, c->nqueues == 1 ? "" : "s",
			c->nqueues * 2 * c->ring_size);
		return -EINVAL;
	}
	return 0;
}

void umem_reg_hint(int err, uint64_t size, char *buf, size_t len)
{
	struct rlimit rl;

	*buf = '\0';
	if (err != -ENOBUFS && err != -ENOMEM)
		return;
	/* without CAP_IPC_LOCK the kernel charges the UMEM's pages to the
	 * user's locked memory (xdp_umem_account_pages) */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		snprintf(buf, len, " (RLIMIT_MEMLOCK too low: raise it or grant CAP_IPC_LOCK)");
	else
		snprintf(buf, len,
			 " (memlock limit %llu KiB < needed %llu KiB: raise RLIMIT_MEMLOCK "
			 "(ulimit -l, LimitMEMLOCK=) or grant CAP_IPC_LOCK)",
			 (unsigned long long)rl.rlim_cur / 1024, (unsigned long long)size / 1024);
}

/*
 * A sealed memfd of @size bytes.  Its inode is made 0600 (owner: the
 * creator): a memfd is created 0777, and a process holding a read-only
 * descriptor could otherwise reopen it read-write through /proc/self/fd/N.
 */
int umem_memfd(const char *name, uint64_t size)
{
	return umem_memfd_huge(name, size, false);
}

int umem_memfd_huge(const char *name, uint64_t size, bool huge)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0));

	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int fd_reopen_ro(int fd)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, O_RDONLY | O_CLOEXEC);
	return r < 0 ? -errno : r;
}

int shm_create(const char *name, size_t size, int *fdp, void **mapp)
{
	int fd = umem_memfd(name, size);
	void *p;

	if (fd < 0)
		return fd;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		close(fd);
		return err;
	}
	*fdp = fd;
	*mapp = p;
	return 0;
}

void *umem_reserve(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + UMEM_HUGE_SIZE, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	/* keep the 2 MiB-aligned part: hugetlb files map only at such addresses */
	a = ((uintptr_t)p + UMEM_HUGE_SIZE - 1) & ~(uintptr_t)(UMEM_HUGE_SIZE - 1);
	if (a != (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((uint8_t *)a + size, (uintptr_t)p + UMEM_HUGE_SIZE - a);
	return (void *)a;
}

/* Map @fd over [base + off, + len) of a reserved range, with @prot.  For a
 * read-only view the descriptor is reopened O_RDONLY, as a client process
 * would get it, so the mapping can never be made writable. */
static int map_at(uint8_t *base, uint64_t off, uint64_t len, int fd, int prot)
{
	int mfd = fd;
	void *p;

	if (!(prot & PROT_WRITE)) {
		mfd = fd_reopen_ro(fd);
		if (mfd < 0)
			return mfd;
	}
	p = mmap(base + off, len, prot, MAP_SHARED | MAP_FIXED, mfd, 0);
	if (mfd != fd)
		close(mfd);
	if (p == MAP_FAILED)
		return -errno;
	return 0;
}

/* Map the whole range: @nrx region memfds (one over the whole region, or
 * one per queue group), then the pools. */
static int map_all(struct umem *u, const int *rx_fds, uint32_t nrx, uint8_t **basep, int prot)
{
	uint64_t rx_len = (uint64_t)u->nframes * FRAME_SIZE;
	uint64_t pool_len = (uint64_t)u->pool_frames * FRAME_SIZE;
	uint64_t part = rx_len / nrx;
	uint8_t *base;
	int err = 0;

	/* Reserve the whole range first so the pieces land back to back. */
	base = umem_reserve(u->size);
	if (!base)
		return -errno;
	for (uint32_t g = 0; !err && g < nrx; g++)
		err = map_at(base, g * part, part, rx_fds[g], prot);
	for (uint32_t i = 0; !err && i < u->npools; i++)
		err = map_at(base, rx_len + i * pool_len, pool_len, u->pool_fds[i], prot);
	if (err) {
		munmap(base, u->size);
		return err;
	}
	*basep = base;
	return 0;
}

int umem_map_like(struct umem *u, int region_fd, uint8_t **rop)
{
	return map_all(u, &region_fd, 1, rop, PROT_READ);
}

static void rx_fds_reset(struct umem *u)
{
	for (uint32_t g = 0; g < XSNAP_MAX_QUEUES; g++)
		u->rx_fd[g] = -1;
}

long umem_huge_free(void)
{
	long free_pages = -1, rsvd = -1, v;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			free_pages = v;
		else if (sscanf(line, "HugePages_Rsvd: %ld", &v) == 1)
			rsvd = v;
	}
	fclose(f);
	/* a mapping reserves its pages (Rsvd) and takes them at the first
	 * touch (Free): what is free and not promised is what one can get */
	return free_pages < 0 || rsvd < 0 ? -1 : free_pages - rsvd;
}

/* Create the region's memfds (one per group), on hugetlb pages if @huge, and
 * map the whole range read-write; on failure nothing of the region is left. */
static int region_open(struct umem *u, bool huge)
{
	int err = 0;

	for (uint32_t g = 0; !err && g < u->ngroups; g++) {
		char name[32];

		snprintf(name, sizeof(name), u->ngroups == 1 ? "xsnap-rx" : "xsnap-rx-group%u",
			 g + 1);
		u->rx_fd[g] = umem_memfd_huge(name, (uint64_t)u->gframes * FRAME_SIZE, huge);
		if (u->rx_fd[g] < 0)
			err = u->rx_fd[g];
	}
	/* a hugetlb mapping takes its pages from the pool here (ENOMEM if
	 * short), not at the first touch */
	if (!err)
		err = map_all(u, u->rx_fd, u->ngroups, &u->rw, PROT_READ | PROT_WRITE);
	if (err) {
		for (uint32_t g = 0; g < u->ngroups; g++)
			if (u->rx_fd[g] >= 0)
				close(u->rx_fd[g]);
		rx_fds_reset(u);
		u->rw = NULL;
	}
	return err;
}

int umem_create(struct umem *u, uint32_t nframes, uint32_t ngroups, uint32_t npools,
		uint32_t pool_frames, uint32_t huge)
{
	int err = -ENOMEM;

	memset(u, 0, sizeof(*u));
	rx_fds_reset(u);
	if (!ngroups || ngroups > XSNAP_MAX_QUEUES || nframes % ngroups)
		return -EINVAL;
	u->nframes = nframes;
	u->ngroups = ngroups;
	u->gframes = nframes / ngroups;
	u->npools = npools;
	u->pool_frames = pool_frames;
	u->nchunks = nframes + npools * pool_frames;
	u->size = (uint64_t)u->nchunks * FRAME_SIZE;

	u->gen = calloc(u->nchunks, sizeof(*u->gen));
	u->ref = calloc(u->nchunks, sizeof(*u->ref));
	u->free = calloc(nframes, sizeof(*u->free));
	u->pool_free = calloc((size_t)npools * pool_frames + 1, sizeof(*u->pool_free));
	u->npool_free = calloc(npools + 1, sizeof(*u->npool_free));
	u->pool_fds = calloc(npools ? npools : 1, sizeof(int));
	if (!u->gen || !u->ref || !u->free || !u->pool_fds || !u->pool_free || !u->npool_free)
		goto fail;
	for (uint32_t i = 0; i < npools; i++)
		u->pool_fds[i] = -1;

	for (uint32_t i = 0; i < npools; i++) {
		char name[32];

		snprintf(name, sizeof(name), "xsnap-pool%u", i);
		u->pool_fds[i] = umem_memfd(name, (uint64_t)pool_frames * FRAME_SIZE);
		if (u->pool_fds[i] < 0) {
			err = u->pool_fds[i];
			goto fail;
		}
	}
	err = -ENOMEM;
	if (huge != XSNAP_HUGE_OFF && huge_fits(u->gframes)) {
		err = region_open(u, true);
		u->huge = !err;
	}
	if (err && huge == XSNAP_HUGE_ON)
		goto fail;	/* the caller says why */
	if (err)
		err = region_open(u, false);
	if (err)
		goto fail;
	err = map_all(u, u->rx_fd, ngroups, &u->ro, PROT_READ);
	if (err)
		goto fail;

	/* Every receive chunk starts on its group's free stack; the engine
	 * stocks the group's fill rings from it. */
	for (uint32_t g = 0; g < ngroups; g++) {
		uint32_t *st = u->free + g * u->gframes;

		for (uint32_t i = 0; i < u->gframes; i++)
			st[i] = g * u->gframes + u->gframes - 1 - i;
		u->gfree[g] = u->gframes;
	}
	u->nfree = nframes;
	/* each pool stacks its chunks so the lowest comes out first */
	for (uint32_t p = 0; p < npools; p++) {
		for (uint32_t i = 0; i < pool_frames; i++)
			u->pool_free[p * pool_frames + i] =
				nframes + p * pool_frames + pool_frames - 1 - i;
		u->npool_free[p] = pool_frames;
	}
	return 0;
fail:
	umem_destroy(u);
	return err;
}

void umem_destroy(struct umem *u)
{
	if (u->rw)
		munmap(u->rw, u->size);
	if (u->ro)
		munmap(u->ro, u->size);
	for (uint32_t g = 0; g < XSNAP_MAX_QUEUES; g++)
		if (u->rx_fd[g] >= 0)
			close(u->rx_fd[g]);
	for (uint32_t i = 0; u->pool_fds && i < u->npools; i++)
		if (u->pool_fds[i] >= 0)
			close(u->pool_fds[i]);
	free(u->pool_fds);
	free(u->gen);
	free(u->ref);
	free(u->free);
	free(u->pool_free);
	free(u->npool_free);
	memset(u, 0, sizeof(*u));
	rx_fds_reset(u);
}
