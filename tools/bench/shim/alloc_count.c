// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * alloc_count.so: an LD_PRELOAD shim that counts heap allocations, for the
 * benchmark's "allocations per received frame" (must be 0 on xsnap's data
 * path).  Every malloc, calloc, realloc, posix_memalign, aligned_alloc,
 * memalign, valloc and pvalloc call of every thread adds one to a counter
 * and is then served by glibc's own allocator (__libc_*), so the program
 * behaves as without the shim.  The benchmark programs read the counter at
 * the start and the end of their measurement window through
 * dlsym(RTLD_DEFAULT, "xsnap_bench_alloc_count") (tools/bench/bench.h).
 *
 * The counter lives in a shared mapping made when the shim loads, so that
 * processes the program forks (bench_xsnap --connect's consumer processes)
 * add to the same counter and the parent's window sees all of them.  With
 * XSNAP_BENCH_ALLOC_FILE=PATH the counter is the first 8 bytes of PATH
 * (created if needed) instead: another process (bench_xsnap
 * --daemon-allocs PATH) can then read the count of one it did not fork, such
 * as xsnapd.  Allocations made before the shim's constructor ran (by the
 * dynamic loader and libc's start-up) go to a private counter and are not
 * in the window anyway.
 *
 * Not built by the Makefile (tools/bench/NAME.c are programs): scripts/
 * bench.sh builds it with `cc -shared -fPIC` into $OUTPUT/bench/.  glibc
 * only (the __libc_* entry points).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);

#define EXPORT __attribute__((visibility("default")))

static _Atomic uint64_t early;		/* until the constructor ran */
static _Atomic uint64_t *count = &early;

/* Map the shared counter: PATH's first 8 bytes, or an anonymous shared page.
 * No allocation happens here (open, ftruncate, mmap are system calls). */
__attribute__((constructor)) static void shared_counter(void)
{
	const char *path = getenv("XSNAP_BENCH_ALLOC_FILE");
	void *p = MAP_FAILED;

	if (path && *path) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		struct stat st;

		if (fd >= 0 && !fstat(fd, &st) &&
		    (st.st_size >= (off_t)sizeof(uint64_t) || !ftruncate(fd, sizeof(uint64_t))))
			p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (fd >= 0)
			close(fd);
	} else {
		p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	}
	if (p != MAP_FAILED)
		count = p;
}

EXPORT uint64_t xsnap_bench_alloc_count(void)
{
	return atomic_load_explicit(count, memory_order_relaxed);
}

static inline void counted(void)
{
	atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
}

EXPORT void *malloc(size_t size)
{
	counted();
	return __libc_malloc(size);
}

EXPORT void *calloc(size_t n, size_t size)
{
	counted();
	return __libc_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t size)
{
	counted();
	return __libc_realloc(p, size);
}

EXPORT void *memalign(size_t align, size_t size)
{
	counted();
	return __libc_memalign(align, size);
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	counted();
	return __libc_memalign(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!align || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	counted();
	p = __libc_memalign(align, size);
	if (!p && size)
		return ENOMEM;
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t size)
{
	counted();
	return __libc_memalign(4096, size);
}

EXPORT void *pvalloc(size_t size)
{
	counted();
	return __libc_memalign(4096, (size + 4095) & ~(size_t)4095);
}
