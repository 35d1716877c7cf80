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
 * Not built by the Makefile (tools/bench/NAME.c are programs): scripts/
 * bench.sh builds it with `cc -shared -fPIC` into $OUTPUT/bench/.  glibc
 * only (the __libc_* entry points).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);

#define EXPORT __attribute__((visibility("default")))

static _Atomic uint64_t count;

EXPORT uint64_t xsnap_bench_alloc_count(void)
{
	return atomic_load_explicit(&count, memory_order_relaxed);
}

static inline void counted(void)
{
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
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
