/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the receive benchmarks (tools/bench/bench_*.c) share: the command
 * line, consumer threads pinned to one CPU, the measurement window, latency
 * samples, the allocation counter and the JSON report.  Header-only: the
 * Makefile builds every tools/bench/NAME.c alone into build/bench/NAME.
 *
 * Every receiver works the same way, so that scripts/bench.sh can drive them
 * all alike and their numbers compare:
 *
 *   1. set up (sockets, XDP program, UMEM), start N consumer threads pinned
 *      to --cpu, then create the --ready file (consumer processes, see
 *      below: once every one of them said it is ready);
 *   2. wait for the first frame (the generator starts after the ready file),
 *      then --warmup seconds;
 *   3. measure for --window seconds: each consumer publishes its frame count
 *      after every batch (one relaxed store to its own cache line); the main
 *      thread reads every count (and the receive CPU's times in /proc/stat,
 *      "rx_cpu_busy") at the start and at the end of the window and does
 *      nothing else in between (so an allocation counted meanwhile is a
 *      consumer's or the engine's);
 *   4. stop the consumers, print one JSON object on stdout, exit 0.
 *
 * Consumers may also be processes (b->procs, bench_new_shared()): each is
 * forked from the main thread, pinned with it, does its own set-up (say
 * xsnap_connect() and a socket), calls bench_ready() and then runs like a
 * thread would.  The struct bench and the latency buffers are then in
 * shared memory, so counting, phases and the report work unchanged; a
 * consumer process that fails calls bench_fail() and the run fails.
 *
 * A consumer waits for frames the way its system's users do: a blocking
 * receive call (poll, epoll, recvmmsg, xsnap_recv with a timeout), or with
 * --spin the same call without waiting, in a loop (busy polling), for a
 * receive core that the consumers have to themselves.  A spinning consumer
 * still sleeps until its first frame (bench_spinning()): while the harness
 * sets the run up (pins the NAPI thread, starts the generator) a thread that
 * spins on an idle queue would only take the CPU from it.
 *
 * -P/--rt-prio N runs the thread that moves frames from the kernel SCHED_FIFO
 * at priority N: bench_afxdp's receive thread, bench_xsnap's engine thread
 * (in-process; xsnapd has its own).  The other receivers have no such thread
 * of their own (the kernel fills their sockets) and refuse it.  Every report
 * says which priority it ran with ("rt_prio", 0: normal scheduling).
 *
 * A consumer "touches one byte per frame": it reads the frame's first byte
 * into a sink, so that every system has to bring each frame into the cache.
 * With --latency each consumer also records, for every frame received in the
 * window, now - the send time that xsnap-gen --timestamp put in the payload,
 * both CLOCK_MONOTONIC; "now" is read once per received batch, right after
 * the receive call returned it.
 */
#ifndef XSNAP_BENCH_H
#define XSNAP_BENCH_H

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "payload.h"

#define BENCH_MAX_CONS	64
#define BENCH_BATCH	64		/* frames per receive call, every system */
#define BENCH_MAX_LAT	(1u << 22)	/* latency samples kept per consumer */
#define BENCH_MAX_TASKS	256		/* threads whose CPU time is split by role */
#define EXIT_USAGE	2

/* Roles of the threads whose on-CPU time a run reports ("cpu_ns_per_frame"). */
enum { BR_NAPI = 0, BR_ENGINE, BR_CONSUMERS, BR_NROLES };

/* A thread of the run and its on-CPU time (ns) at the window's start. */
struct bench_task {
	pid_t tid;
	int role;		/* BR_* */
	uint64_t t0, n0;	/* on-CPU ns and times scheduled in, at the start */
};

/* Phases of a run, set by the main thread, read by the consumers. */
enum { PH_WARMUP = 0, PH_WINDOW, PH_STOP };
/* A consumer's set-up (processes only): starting, ready, failed. */
enum { CS_STARTING = 0, CS_READY, CS_FAILED };

struct bench_cons {
	_Atomic uint64_t frames;	/* written by its consumer only */
	uint64_t sink;			/* the touched bytes, summed */
	uint64_t *lat;			/* latency samples (ns), preallocated */
	uint64_t *lat2;			/* second kind (bench_lat2), or NULL */
	uint32_t nlat, nlat2, lat_cap;
	uint64_t lat_bad;		/* frames without a send time */
	int idx;
	_Atomic int state;		/* CS_*, written by its consumer */
	pthread_t thr;
	pid_t pid;			/* consumer process (b->procs) */
	void *priv;			/* the program's per-consumer state */
} __attribute__((aligned(64)));

struct bench {
	/* options */
	const char *prog;
	const char *ifname;
	unsigned int n;			/* consumers */
	int cpu;			/* pin consumers here (-1: do not) */
	double warmup_s, window_s, first_s;
	const char *ready_file;
	bool latency;
	bool spin;			/* busy-poll instead of sleeping when idle */
	unsigned int rt_prio;		/* -P: SCHED_FIFO priority, 0: normal */
	const char *rt_what;		/* the thread -P applies to; NULL: refused */
	const char *lat2_name;		/* JSON name of the second latency, or NULL */
	bool procs;			/* consumers are processes (bench_new_shared) */
	const char *alloc_file;		/* the daemon's shim counter file, or NULL */
	/* run state */
	_Atomic int phase;
	struct bench_cons cons[BENCH_MAX_CONS];
	double t_window;		/* measured window length (s) */
	uint64_t f0[BENCH_MAX_CONS], f1[BENCH_MAX_CONS];
	long long allocs;		/* allocations in the window, -1: not counted */
	long long file_allocs;		/* the daemon's, counted in alloc_file */
	uint64_t rss_bytes;		/* at the end of the window */
	double cpu_busy;		/* of the -c CPU over the window (0..1), -1: unknown */
	double other_busy;		/* of the other CPUs together, the same way */
	/* on-CPU time in the window by role (bench_tasks_find()) */
	struct bench_task tasks[BENCH_MAX_TASKS];
	unsigned int ntasks;
	bool split_ok;
	uint64_t role_ns[BR_NROLES];
	uint64_t role_runs[BR_NROLES];	/* times scheduled in */
};

static inline void __attribute__((format(printf, 2, 3), noreturn))
bench_usage_error(const struct bench *b, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", b->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", b->prog);
	exit(EXIT_USAGE);
}

static inline void __attribute__((format(printf, 2, 3)))
bench_err(const struct bench *b, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", b->prog, b->ifname ? b->ifname : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void bench_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline unsigned long bench_parse_ul(const struct bench *b, const char *opt, const char *s,
				    unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		bench_usage_error(b, "%s: '%s' is not a number", opt, s);
	v = strtoul(s, &end, 0);
	if (errno || *end)
		bench_usage_error(b, "%s: '%s' is not a number", opt, s);
	if (v < min || v > max)
		bench_usage_error(b, "%s: %lu out of range [%lu, %lu]", opt, v, min, max);
	return v;
}

static inline double bench_parse_s(const struct bench *b, const char *opt, const char *s,
				   double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		bench_usage_error(b, "%s: '%s' is not a number of seconds in [%g, %g]", opt, s,
				  min, max);
	return v;
}

/* The options every receiver has; short letters are theirs. */
#define BENCH_COMMON_OPTS						\
	{ "iface", required_argument, NULL, 'i' },			\
	{ "consumers", required_argument, NULL, 'n' },			\
	{ "cpu", required_argument, NULL, 'c' },			\
	{ "warmup", required_argument, NULL, 'W' },			\
	{ "window", required_argument, NULL, 'w' },			\
	{ "first-timeout", required_argument, NULL, 'T' },		\
	{ "ready-file", required_argument, NULL, 'R' },		\
	{ "latency", no_argument, NULL, 'L' },				\
	{ "spin", no_argument, NULL, 'S' },				\
	{ "rt-prio", required_argument, NULL, 'P' },			\
	{ "help", no_argument, NULL, 'h' }
#define BENCH_COMMON_SHORT "i:n:c:W:w:T:R:LSP:h"

#define BENCH_COMMON_HELP						\
	"  -i, --iface IFACE        receiving interface (required)\n"	\
	"  -n, --consumers N        consumers (default 1)\n"		\
	"  -c, --cpu CPU            pin the consumer threads to CPU (default: no pinning)\n" \
	"  -W, --warmup S           seconds from the first frame to the window (default 0.5)\n" \
	"  -w, --window S           measurement window in seconds (default 2)\n" \
	"  -T, --first-timeout S    give up if no frame arrives within S seconds (default 10)\n" \
	"  -R, --ready-file PATH    create PATH once every consumer runs\n" \
	"  -L, --latency            record send->consumer latency (xsnap-gen --timestamp)\n" \
	"  -S, --spin               when idle, look again at once instead of sleeping\n" \
	"                           in the kernel (from the first frame on)\n" \
	"  -h, --help               show this help\n"

/*
 * -P/--rt-prio in a program's help: BENCH_RT_HELP("what it raises") where the
 * program sets b->rt_what, BENCH_RT_HELP_REFUSED("why") where it does not.
 */
#define BENCH_RT_HELP(what)						\
	"  -P, --rt-prio N          run " what "\n"			\
	"                           SCHED_FIFO at priority N (1..99; default 0:\n" \
	"                           normal scheduling; needs CAP_SYS_NICE)\n"
#define BENCH_RT_HELP_REFUSED(why)					\
	"  -P, --rt-prio N          refused here: " why "\n"		\
	"                           (bench_afxdp and bench_xsnap have it)\n"

static inline void bench_init(struct bench *b, const char *prog)
{
	memset(b, 0, sizeof(*b));
	b->prog = prog;
	b->n = 1;
	b->cpu = -1;
	b->warmup_s = 0.5;
	b->window_s = 2;
	b->first_s = 10;
	b->allocs = -1;
	b->cpu_busy = -1;
	b->other_busy = -1;
	b->file_allocs = -1;
}

/*
 * bench_new_shared() - a struct bench for consumer processes: in a shared
 * anonymous mapping (it survives fork() as one object), initialised like
 * bench_init() with procs set.  Exits on failure (nothing to clean up yet).
 */
static inline struct bench *bench_new_shared(const char *prog)
{
	struct bench *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED) {
		fprintf(stderr, "%s: mapping shared state: %s\n", prog, strerror(errno));
		exit(EXIT_FAILURE);
	}
	bench_init(b, prog);
	b->procs = true;
	return b;
}

/* Zeroed memory for latency samples: shared with consumer processes when
 * there are some, so that the main thread reads what they recorded. */
static inline void *bench_buf_alloc(const struct bench *b, size_t size)
{
	void *p;

	if (!b->procs)
		return calloc(1, size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static inline void bench_buf_free(const struct bench *b, void *p, size_t size)
{
	if (!p)
		return;
	if (b->procs)
		munmap(p, size);
	else
		free(p);
}

/* Handle a common option; false if @c is not one. */
static inline bool bench_common_opt(struct bench *b, int c, const char *arg)
{
	switch (c) {
	case 'i':
		b->ifname = arg;
		return true;
	case 'n':
		b->n = (unsigned int)bench_parse_ul(b, "-n/--consumers", arg, 1, BENCH_MAX_CONS);
		return true;
	case 'c':
		b->cpu = (int)bench_parse_ul(b, "-c/--cpu", arg, 0, CPU_SETSIZE - 1);
		return true;
	case 'W':
		b->warmup_s = bench_parse_s(b, "-W/--warmup", arg, 0, 600);
		return true;
	case 'w':
		b->window_s = bench_parse_s(b, "-w/--window", arg, 0.01, 600);
		return true;
	case 'T':
		b->first_s = bench_parse_s(b, "-T/--first-timeout", arg, 0.01, 600);
		return true;
	case 'R':
		b->ready_file = arg;
		return true;
	case 'L':
		b->latency = true;
		return true;
	case 'S':
		b->spin = true;
		return true;
	case 'P':
		b->rt_prio = (unsigned int)bench_parse_ul(b, "-P/--rt-prio", arg, 0, 99);
		return true;
	}
	return false;
}

static inline void bench_check_opts(struct bench *b, int argc, char **argv)
{
	if (optind < argc)
		bench_usage_error(b, "unexpected argument '%s'", argv[optind]);
	if (!b->ifname)
		bench_usage_error(b, "-i IFACE is required");
	if (b->cpu >= 0 && b->cpu >= sysconf(_SC_NPROCESSORS_ONLN))
		bench_usage_error(b, "-c/--cpu: CPU %d does not exist (%ld online)", b->cpu,
				  sysconf(_SC_NPROCESSORS_ONLN));
	if (b->rt_prio && !b->rt_what)
		bench_usage_error(b, "-P/--rt-prio: %s has no thread that moves frames from the "
				  "kernel to raise (bench_afxdp and in-process bench_xsnap have "
				  "one)", b->prog);
}

/*
 * bench_options() - parse the command line, the common options and the
 * program's, then check them (bench_check_opts()).
 * @shortopts: BENCH_COMMON_SHORT and the program's letters.
 * @lo: BENCH_COMMON_OPTS, the program's long options, { 0 }.
 * @opt: handles one of the program's options (getopt's @c and its argument);
 *       false if @c is none of them; NULL: the program has none.
 * @usage: prints the help to its stream.
 * -h/--help prints the help on stdout and exits 0; a usage error exits 2.
 */
static inline void bench_options(struct bench *b, int argc, char **argv, const char *shortopts,
				 const struct option *lo, bool (*opt)(int c, const char *arg),
				 void (*usage)(FILE *f))
{
	int c;

	while ((c = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
		if (bench_common_opt(b, c, optarg) || (opt && opt(c, optarg)))
			continue;
		if (c == 'h') {
			usage(stdout);
			exit(EXIT_SUCCESS);
		}
		bench_usage_error(b, "unknown option or missing argument");
	}
	bench_check_opts(b, argc, argv);
}

/* A power of two in [@min, @max] for option @opt, or a usage error. */
static inline uint32_t bench_parse_pow2(const struct bench *b, const char *opt, const char *s,
					unsigned long min, unsigned long max)
{
	uint32_t v = (uint32_t)bench_parse_ul(b, opt, s, min, max);

	if (v & (v - 1))
		bench_usage_error(b, "%s: %u is not a power of two", opt, v);
	return v;
}

/*
 * Run the calling thread SCHED_FIFO at -P/--rt-prio (nothing without it).
 * Returns 0, or -1 after saying why (a run that asked for a real-time
 * receiver and got a normal one would be labelled wrongly: it fails).
 */
static inline int bench_rt_self(const struct bench *b)
{
	struct sched_param sp = { .sched_priority = (int)b->rt_prio };
	int err;

	if (!b->rt_prio)
		return 0;
	err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (err) {
		bench_err(b, "%s: SCHED_FIFO priority %u: %s", b->rt_what, b->rt_prio,
			  strerror(err));
		return -1;
	}
	return 0;
}

/* Preallocate and pre-fault every consumer's latency buffer (not in the window). */
static inline int bench_alloc_lat(struct bench *b)
{
	for (unsigned int i = 0; i < b->n; i++) {
		struct bench_cons *c = &b->cons[i];

		c->idx = (int)i;
		if (!b->latency)
			continue;
		c->lat_cap = BENCH_MAX_LAT;
		c->lat = bench_buf_alloc(b, c->lat_cap * sizeof(*c->lat));
		if (b->lat2_name)
			c->lat2 = bench_buf_alloc(b, c->lat_cap * sizeof(*c->lat2));
		if (!c->lat || (b->lat2_name && !c->lat2)) {
			bench_err(b, "out of memory for latency samples");
			return -1;
		}
		/* touch every page now, not in the window */
		memset(c->lat, 0, sizeof(*c->lat) * c->lat_cap);
		if (c->lat2)
			memset(c->lat2, 0, sizeof(*c->lat2) * c->lat_cap);
	}
	return 0;
}

/* Pin the calling thread (the program's main thread, before it starts any). */
static inline int bench_pin_self(const struct bench *b)
{
	cpu_set_t set;

	if (b->cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(b->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		bench_err(b, "pinning to CPU %d: %s", b->cpu, strerror(errno));
		return -1;
	}
	return 0;
}

/* A consumer process's set-up is done (it receives from now on). */
static inline void bench_ready(struct bench_cons *c)
{
	atomic_store(&c->state, CS_READY);
}

/* A consumer failed (it said why): the run fails. */
static inline void bench_fail(struct bench_cons *c)
{
	atomic_store(&c->state, CS_FAILED);
}

/* Wait for consumer processes, then tell whether any failed (a non-zero
 * exit, a signal, or bench_fail()); -1 if so. */
static inline int bench_reap(struct bench *b, unsigned int n)
{
	int ret = 0;

	for (unsigned int i = 0; i < n; i++) {
		struct bench_cons *c = &b->cons[i];
		int st;

		if (c->pid <= 0)
			continue;
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
		c->pid = 0;
		if (WIFSIGNALED(st)) {
			bench_err(b, "consumer process %u killed by signal %d", i, WTERMSIG(st));
			ret = -1;
		} else if (WEXITSTATUS(st) || atomic_load(&c->state) == CS_FAILED) {
			bench_err(b, "consumer process %u failed", i);
			ret = -1;
		}
	}
	return ret;
}

/* Fork consumer process @i: it dies with the main thread's process, runs
 * fn(consumer) and exits (status 1 if it called bench_fail()). */
static inline pid_t bench_fork(struct bench *b, unsigned int i, void *(*fn)(void *))
{
	pid_t parent = getpid(), pid;

	fflush(NULL);	/* nothing buffered twice */
	pid = fork();
	if (pid)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(EXIT_FAILURE);
	fn(&b->cons[i]);
	_exit(atomic_load(&b->cons[i].state) == CS_FAILED ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* Start the consumers: fn(b, consumer) each, on --cpu (inherited), as
 * threads or (b->procs) as processes. */
static inline int bench_start(struct bench *b, void *(*fn)(void *))
{
	for (unsigned int i = 0; i < b->n; i++) {
		int err = 0;

		if (b->procs) {
			b->cons[i].pid = bench_fork(b, i, fn);
			if (b->cons[i].pid < 0)
				err = errno;
		} else {
			err = pthread_create(&b->cons[i].thr, NULL, fn, &b->cons[i]);
		}
		if (err) {
			bench_err(b, "starting consumer %u: %s", i, strerror(err));
			atomic_store(&b->phase, PH_STOP);
			if (b->procs)
				bench_reap(b, i);
			else
				for (unsigned int j = 0; j < i; j++)
					pthread_join(b->cons[j].thr, NULL);
			return -1;
		}
	}
	return 0;
}

/* Consumer processes: wait until each is ready; -1 (after saying why) if one
 * failed or they took longer than --first-timeout. */
static inline int bench_wait_ready(struct bench *b)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)(b->first_s * 1e9);

	for (unsigned int i = 0; b->procs && i < b->n; i++) {
		int st;

		while ((st = atomic_load(&b->cons[i].state)) == CS_STARTING) {
			if (bench_now_ns() > deadline) {
				bench_err(b, "consumer process %u not ready within %g s", i,
					  b->first_s);
				return -1;
			}
			bench_sleep(0.002);
		}
		if (st == CS_FAILED) {
			bench_err(b, "consumer process %u failed to start", i);
			return -1;
		}
	}
	return 0;
}

static inline bool bench_any_failed(struct bench *b)
{
	for (unsigned int i = 0; i < b->n; i++)
		if (atomic_load_explicit(&b->cons[i].state, memory_order_relaxed) == CS_FAILED)
			return true;
	return false;
}

static inline bool bench_stopping(struct bench *b)
{
	return atomic_load_explicit(&b->phase, memory_order_relaxed) == PH_STOP;
}

/* Whether consumer @c, finding nothing, should look again at once (--spin,
 * once its first frame came) rather than sleep in its receive call. */
static inline bool bench_spinning(const struct bench *b, struct bench_cons *c)
{
	return b->spin && atomic_load_explicit(&c->frames, memory_order_relaxed);
}

/* A consumer's account of one received batch: @n frames. */
static inline void bench_count(struct bench_cons *c, uint64_t n)
{
	/* single writer: a relaxed add is a plain load + store */
	atomic_store_explicit(&c->frames,
			      atomic_load_explicit(&c->frames, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Latency of one frame: @now (per batch) minus the send time in @frame. */
static inline void bench_lat_frame(struct bench *b, struct bench_cons *c, const void *frame,
				   size_t len, uint64_t now)
{
	const void *pl;
	size_t pllen;
	uint64_t ts;

	if (atomic_load_explicit(&b->phase, memory_order_relaxed) != PH_WINDOW)
		return;
	if (payload_of_frame(frame, len, &pl, &pllen) || !(ts = payload_tstamp(pl, pllen)) ||
	    ts > now) {
		c->lat_bad++;
		return;
	}
	if (c->nlat < c->lat_cap)
		c->lat[c->nlat++] = now - ts;
}

/* A second latency of one frame, @now - @t (e.g. XDP time -> consumer). */
static inline void bench_lat2(struct bench *b, struct bench_cons *c, uint64_t t, uint64_t now)
{
	if (atomic_load_explicit(&b->phase, memory_order_relaxed) != PH_WINDOW || !t || t > now)
		return;
	if (c->nlat2 < c->lat_cap)
		c->lat2[c->nlat2++] = now - t;
}

/* The same for a UDP payload (kernel sockets hand out no headers). */
static inline void bench_lat_payload(struct bench *b, struct bench_cons *c, const void *pl,
				     size_t len, uint64_t now)
{
	uint64_t ts;

	if (atomic_load_explicit(&b->phase, memory_order_relaxed) != PH_WINDOW)
		return;
	ts = payload_tstamp(pl, len);
	if (!ts || ts > now) {
		c->lat_bad++;
		return;
	}
	if (c->nlat < c->lat_cap)
		c->lat[c->nlat++] = now - ts;
}

#define BENCH_CPU_ALL	(-2)	/* bench_cpu_ticks(): every CPU together */

/*
 * Busy and total time of @cpu (BENCH_CPU_ALL: of all CPUs together) from
 * /proc/stat, in USER_HZ ticks; false if unreadable.  Busy: user, nice,
 * system, irq and softirq (guest time is in user already); total: those
 * plus idle and iowait.  Steal is in neither:
 * time a hypervisor gave to another guest was not this CPU's to spend, so a
 * saturated receive CPU reads 1 on a VM too.
 */
static inline bool bench_cpu_ticks(int cpu, unsigned long long *busy, unsigned long long *total)
{
	char line[256], want[16];
	bool ok = false;
	FILE *f;

	if ((cpu < 0 && cpu != BENCH_CPU_ALL) || !(f = fopen("/proc/stat", "re")))
		return false;
	if (cpu == BENCH_CPU_ALL)
		snprintf(want, sizeof(want), "cpu ");
	else
		snprintf(want, sizeof(want), "cpu%d ", cpu);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[8] = { 0 };

		if (strncmp(line, want, strlen(want)))
			continue;
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
			/* user nice system idle iowait irq softirq steal */
			*busy = v[0] + v[1] + v[2] + v[5] + v[6];
			*total = *busy + v[3] + v[4];
			ok = true;
		}
		break;
	}
	fclose(f);
	return ok;
}

/*
 * Allocation counter of the LD_PRELOAD shim (tools/bench/shim/alloc_count.c),
 * if it is loaded: malloc, calloc, realloc and friends, every thread.
 */
static inline long long bench_allocs(void)
{
	static uint64_t (*fn)(void);
	static bool looked;

	if (!looked) {
		*(void **)&fn = dlsym(RTLD_DEFAULT, "xsnap_bench_alloc_count");
		looked = true;
	}
	return fn ? (long long)fn() : -1;
}

/*
 * The shim's counter of another process that runs it with
 * XSNAP_BENCH_ALLOC_FILE=@path (the first 8 bytes of @path), or -1 if there
 * is none.  Mapped once (before the window), read with one load after.
 */
static inline long long bench_file_allocs(const char *path)
{
	static const _Atomic uint64_t *cnt;
	struct stat st;
	void *p;
	int fd;

	if (!path)
		return -1;
	if (!cnt) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		p = MAP_FAILED;
		if (!fstat(fd, &st) && st.st_size >= (off_t)sizeof(uint64_t))
			p = mmap(NULL, sizeof(uint64_t), PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (p == MAP_FAILED)
			return -1;
		cnt = p;
	}
	return (long long)atomic_load_explicit(cnt, memory_order_relaxed);
}

/* Resident set size of process @pid (0: this one) from /proc/PID/statm (no
 * allocation). */
static inline uint64_t bench_rss_of(pid_t pid)
{
	char buf[128], path[64];
	unsigned long size, res;
	ssize_t r;
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/statm");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	if (sscanf(buf, "%lu %lu", &size, &res) != 2)
		return 0;
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* This process's RSS, or with consumer processes the sum of theirs (pages
 * they share, such as a UMEM, count once per process). */
static inline uint64_t bench_rss(const struct bench *b)
{
	uint64_t sum = 0;

	if (!b->procs)
		return bench_rss_of(0);
	for (unsigned int i = 0; i < b->n; i++)
		sum += bench_rss_of(b->cons[i].pid);
	return sum;
}

/* Create the --ready-file, if any (step 1 of the protocol): 0, or -1 after
 * saying why. */
static inline int bench_ready_file(const struct bench *b)
{
	int fd;

	if (!b->ready_file)
		return 0;
	fd = open(b->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		bench_err(b, "creating %s: %s", b->ready_file, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* On-CPU time of thread @tid in ns and the times it was scheduled in
 * (/proc/TID/schedstat, no allocation): true, or false if it is gone. */
static inline bool bench_task_ns(pid_t tid, uint64_t *ns, uint64_t *runs)
{
	char path[64], buf[128];
	unsigned long long v, wait, n;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	if (sscanf(buf, "%llu %llu %llu", &v, &wait, &n) != 3)
		return false;
	*ns = v;
	*runs = n;
	return true;
}

/* The first line of /proc/@pid[/task/@tid]/comm into @comm (newline cut). */
static inline void bench_comm(pid_t pid, pid_t tid, char *comm, size_t sz)
{
	char path[96];
	ssize_t r;
	int fd;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	comm[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	r = read(fd, comm, sz - 1);
	close(fd);
	if (r <= 0)
		r = 0;
	comm[r] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

/* Add thread @tid in @role; too many threads: no split (b->split_ok). */
static inline void bench_task_add(struct bench *b, pid_t tid, int role)
{
	if (b->ntasks < BENCH_MAX_TASKS)
		b->tasks[b->ntasks++] = (struct bench_task){ .tid = tid, .role = role };
	else
		b->split_ok = false;
}

/* Add the threads of process @pid but @skip (the main thread, 0: none):
 * all of them as the engine with @engine (xsnapd), else those named like
 * xsnap's engine threads as the engine and the others as consumers. */
static inline void bench_tasks_of(struct bench *b, pid_t pid, pid_t skip, bool engine)
{
	char path[64], comm[32];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || tid == skip)
			continue;
		bench_comm(pid, tid, comm, sizeof(comm));
		bench_task_add(b, tid, engine || !strncmp(comm, "xsnap-eng", 9) ? BR_ENGINE :
										 BR_CONSUMERS);
	}
	closedir(d);
}

/*
 * Find the threads whose on-CPU time the report splits by role: the
 * receiving device's NAPI kthreads ("napi/IFNAME-ID": threaded NAPI only;
 * NAPI in softirq belongs to no thread), engine threads (xsnap's, xsnapd),
 * and the consumers (this process's other threads, or the consumer
 * processes').  Before the window: it allocates (opendir).
 */
static inline void bench_tasks_find(struct bench *b)
{
	char want[32], comm[32];
	struct dirent *de;
	DIR *d;

	b->ntasks = 0;
	b->split_ok = true;
	snprintf(want, sizeof(want), "napi/%s-", b->ifname ? b->ifname : "");
	want[15] = '\0';	/* comm is at most 15 characters */
	d = opendir("/proc");
	if (d) {
		while ((de = readdir(d))) {
			pid_t pid = (pid_t)atoi(de->d_name);

			if (pid <= 0)
				continue;
			bench_comm(pid, 0, comm, sizeof(comm));
			if (!strncmp(comm, want, strlen(want)))
				bench_task_add(b, pid, BR_NAPI);
			else if (!strcmp(comm, "xsnapd"))
				bench_tasks_of(b, pid, 0, true);
		}
		closedir(d);
	}
	if (b->procs) {
		for (unsigned int i = 0; i < b->n; i++)
			bench_tasks_of(b, b->cons[i].pid, 0, false);
	} else {
		bench_tasks_of(b, getpid(), getpid(), false);
	}
	b->split_ok = b->split_ok && b->ntasks > 0;
	for (unsigned int i = 0; i < b->ntasks; i++)
		if (!bench_task_ns(b->tasks[i].tid, &b->tasks[i].t0, &b->tasks[i].n0))
			b->split_ok = false;
}

/* The window's on-CPU time by role (after bench_tasks_find()). */
static inline void bench_tasks_end(struct bench *b)
{
	memset(b->role_ns, 0, sizeof(b->role_ns));
	memset(b->role_runs, 0, sizeof(b->role_runs));
	for (unsigned int i = 0; i < b->ntasks; i++) {
		uint64_t ns, runs;

		if (!bench_task_ns(b->tasks[i].tid, &ns, &runs) || ns < b->tasks[i].t0 ||
		    runs < b->tasks[i].n0) {
			b->split_ok = false;
			continue;
		}
		b->role_ns[b->tasks[i].role] += ns - b->tasks[i].t0;
		b->role_runs[b->tasks[i].role] += runs - b->tasks[i].n0;
	}
}

static inline uint64_t bench_total(struct bench *b)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < b->n; i++)
		t += atomic_load(&b->cons[i].frames);
	return t;
}

/*
 * Steps 2-4 of the protocol (see the top of this file), on the main thread.
 * @at_start/@at_end, if set, run just outside the window's allocation count
 * (kernel drop counters and the like).  Returns 0, or -1 after printing why.
 */
static inline int bench_measure(struct bench *b, void (*at_start)(struct bench *),
			 void (*at_end)(struct bench *))
{
	uint64_t t0, t1, deadline;
	long long a0, a1, fa0, fa1;
	unsigned long long cb0 = 0, ct0 = 0, cb1 = 0, ct1 = 0;
	unsigned long long ab0 = 0, at0 = 0, ab1 = 0, at1 = 0;
	bool cpu_ok, all_ok;

	if (bench_wait_ready(b) || bench_ready_file(b))
		return -1;
	deadline = bench_now_ns() + (uint64_t)(b->first_s * 1e9);
	while (!bench_total(b)) {
		if (bench_any_failed(b)) {
			bench_err(b, "a consumer failed before the first frame");
			return -1;
		}
		if (bench_now_ns() > deadline) {
			bench_err(b, "no frame arrived within %g s", b->first_s);
			return -1;
		}
		bench_sleep(0.002);
	}
	bench_sleep(b->warmup_s);

	if (at_start)
		at_start(b);
	/* outside the allocation count: fopen() and opendir() allocate */
	bench_tasks_find(b);
	cpu_ok = bench_cpu_ticks(b->cpu, &cb0, &ct0);
	all_ok = bench_cpu_ticks(BENCH_CPU_ALL, &ab0, &at0);
	fa0 = bench_file_allocs(b->alloc_file);
	a0 = bench_allocs();
	t0 = bench_now_ns();
	for (unsigned int i = 0; i < b->n; i++)
		b->f0[i] = atomic_load(&b->cons[i].frames);
	atomic_store(&b->phase, PH_WINDOW);
	bench_sleep(b->window_s);
	atomic_store(&b->phase, PH_STOP);
	for (unsigned int i = 0; i < b->n; i++)
		b->f1[i] = atomic_load(&b->cons[i].frames);
	t1 = bench_now_ns();
	bench_tasks_end(b);
	a1 = bench_allocs();
	fa1 = bench_file_allocs(b->alloc_file);
	cpu_ok = cpu_ok && bench_cpu_ticks(b->cpu, &cb1, &ct1) && ct1 > ct0;
	b->cpu_busy = cpu_ok ? (double)(cb1 - cb0) / (double)(ct1 - ct0) : -1;
	all_ok = cpu_ok && all_ok && bench_cpu_ticks(BENCH_CPU_ALL, &ab1, &at1) &&
		 at1 - at0 > ct1 - ct0 && ab1 - ab0 >= cb1 - cb0;
	b->other_busy = all_ok ? (double)((ab1 - ab0) - (cb1 - cb0)) /
					 (double)((at1 - at0) - (ct1 - ct0)) : -1;
	b->rss_bytes = bench_rss(b);
	if (at_end)
		at_end(b);
	b->t_window = (double)(t1 - t0) / 1e9;
	b->allocs = a0 >= 0 && a1 >= 0 ? a1 - a0 : -1;
	b->file_allocs = fa0 >= 0 && fa1 >= 0 ? fa1 - fa0 : -1;
	return 0;
}

/* Stop the consumers and wait for them; -1 if a consumer process failed. */
static inline int bench_join(struct bench *b)
{
	atomic_store(&b->phase, PH_STOP);
	if (b->procs)
		return bench_reap(b, b->n);
	for (unsigned int i = 0; i < b->n; i++)
		pthread_join(b->cons[i].thr, NULL);
	return 0;
}

/* bench_run() - start the consumer threads, measure one window, join them.
 * Returns 0, or -1 if starting or measuring failed (threads are joined). */
static inline int bench_run(struct bench *b, void *(*consumer)(void *),
			    void (*at_start)(struct bench *), void (*at_end)(struct bench *))
{
	int err;

	if (bench_start(b, consumer))
		return -1;
	err = bench_measure(b, at_start, at_end);
	if (bench_join(b))
		err = -1;
	return err ? -1 : 0;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted @v[0..n). */
static inline uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t r = (size_t)ceil(p / 100.0 * (double)n);

	return v[r ? r - 1 : 0];
}

/* ,"NAME":{"samples":..,"p50":..,"p99":..,"p999":..,"max":..} over every consumer. */
static inline int print_lat(const struct bench *b, const char *name, bool second, uint64_t bad)
{
	size_t n = 0, k = 0;
	uint64_t *all;

	for (unsigned int i = 0; i < b->n; i++)
		n += second ? b->cons[i].nlat2 : b->cons[i].nlat;
	printf(",\"%s\":{\"samples\":%zu,\"no_stamp\":%" PRIu64, name, n, bad);
	if (!n) {
		printf("}");
		return 0;
	}
	all = malloc(n * sizeof(*all));
	if (!all) {
		fprintf(stderr, "%s: out of memory sorting latencies\n", b->prog);
		return -1;
	}
	for (unsigned int i = 0; i < b->n; i++) {
		uint32_t m = second ? b->cons[i].nlat2 : b->cons[i].nlat;

		memcpy(all + k, second ? b->cons[i].lat2 : b->cons[i].lat, m * sizeof(*all));
		k += m;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	printf(",\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64
	       "}", pct(all, n, 50), pct(all, n, 99), pct(all, n, 99.9), all[n - 1]);
	free(all);
	return 0;
}

/*
 * The report: {"system":..., "mode":..., "n":..., "window_s":...,
 * "per_consumer_pps":[...], "min_pps", "mean_pps", "total_pps", "frames",
 * "allocs", ["daemon_allocs",] "allocs_per_frame", "rx_cpu_busy",
 * "rss_bytes", "rt_prio", PROGRAM FIELDS, "latency_ns"}.  allocs: this process
 * and its consumer processes; daemon_allocs (with b->alloc_file): the
 * daemon's; allocs_per_frame: both together per received frame; rx_cpu_busy:
 * the share of the window, 0..1, that the receive CPU (-c) was not idle,
 * whoever ran there (consumers, a daemon pinned with them, the NAPI kthread
 * or softirq, anything else), from /proc/stat at the window's edges
 * (bench_cpu_ticks(); in USER_HZ ticks, 10 ms at each edge, so about +-0.02
 * over a 1 s window), null without -c or if unreadable; other_cpus_busy:
 * the same share for the other CPUs together (the generator's, and NAPI's
 * in the softirq placement); rss_bytes: resident
 * pages at the end of the window, hugetlb pages not included (the kernel does
 * not count them in RSS); cpu_ns_per_frame: on-CPU time in the window of the
 * NAPI kthreads, engine threads and consumers (bench_tasks_find()) per
 * frame received by a consumer on average (null if a thread was unreadable);
 * sched_in_per_kframe: the times those threads were scheduled in, per 1000
 * such frames;
 * rt_prio: -P.
 * @extra: the program's own fields, already JSON ("\"k\":v,..."), or "".
 */
static inline int bench_report(struct bench *b, const char *system, const char *mode,
			       const char *extra)
{
	uint64_t frames = 0, minf = UINT64_MAX, bad = 0;
	double w = b->t_window > 0 ? b->t_window : 1;

	printf("{\"system\":\"%s\",\"mode\":\"%s\",\"n\":%u,\"window_s\":%.4f,"
	       "\"per_consumer_pps\":[", system, mode, b->n, b->t_window);
	for (unsigned int i = 0; i < b->n; i++) {
		uint64_t d = b->f1[i] - b->f0[i];

		printf("%s%.0f", i ? "," : "", (double)d / w);
		frames += d;
		if (d < minf)
			minf = d;
	}
	printf("],\"min_pps\":%.0f,\"mean_pps\":%.0f,\"total_pps\":%.0f,\"frames\":%" PRIu64,
	       (double)minf / w, (double)frames / w / b->n, (double)frames / w, frames);
	if (b->allocs >= 0)
		printf(",\"allocs\":%lld", b->allocs);
	else
		printf(",\"allocs\":null");
	if (b->alloc_file && b->file_allocs >= 0)
		printf(",\"daemon_allocs\":%lld", b->file_allocs);
	else if (b->alloc_file)
		printf(",\"daemon_allocs\":null");
	if (b->allocs >= 0 && (!b->alloc_file || b->file_allocs >= 0)) {
		long long all = b->allocs + (b->alloc_file ? b->file_allocs : 0);

		printf(",\"allocs_per_frame\":%.6f", frames ? (double)all / (double)frames : 0.0);
	} else {
		printf(",\"allocs_per_frame\":null");
	}
	if (b->cpu_busy >= 0)
		printf(",\"rx_cpu_busy\":%.3f", b->cpu_busy);
	else
		printf(",\"rx_cpu_busy\":null");
	if (b->other_busy >= 0)
		printf(",\"other_cpus_busy\":%.3f", b->other_busy);
	else
		printf(",\"other_cpus_busy\":null");
	if (b->split_ok && frames) {
		/* per frame of one consumer: each one receives every frame the
		 * engine or the kernel moved (fan-out), or its share */
		double per = (double)frames / b->n;

		printf(",\"cpu_ns_per_frame\":{\"napi\":%.1f,\"engine\":%.1f,\"consumers\":%.1f}",
		       (double)b->role_ns[BR_NAPI] / per, (double)b->role_ns[BR_ENGINE] / per,
		       (double)b->role_ns[BR_CONSUMERS] / per);
		printf(",\"sched_in_per_kframe\":{\"napi\":%.2f,\"engine\":%.2f,\"consumers\":%.2f}",
		       (double)b->role_runs[BR_NAPI] * 1000 / per,
		       (double)b->role_runs[BR_ENGINE] * 1000 / per,
		       (double)b->role_runs[BR_CONSUMERS] * 1000 / per);
	} else {
		printf(",\"cpu_ns_per_frame\":null,\"sched_in_per_kframe\":null");
	}
	printf(",\"rss_bytes\":%" PRIu64 ",\"rt_prio\":%u%s%s", b->rss_bytes, b->rt_prio,
	       *extra ? "," : "", extra);

	if (b->latency) {
		for (unsigned int i = 0; i < b->n; i++)
			bad += b->cons[i].lat_bad;
		if (print_lat(b, "latency_ns", false, bad))
			return -1;
		if (b->lat2_name && print_lat(b, b->lat2_name, true, 0))
			return -1;
	}
	printf("}\n");
	fflush(stdout);
	for (unsigned int i = 0; i < b->n; i++) {
		bench_buf_free(b, b->cons[i].lat, b->cons[i].lat_cap * sizeof(uint64_t));
		bench_buf_free(b, b->cons[i].lat2, b->cons[i].lat_cap * sizeof(uint64_t));
		b->cons[i].lat = b->cons[i].lat2 = NULL;
	}
	return 0;
}

/* SIGINT/SIGTERM end the run early (the report still comes). */
static struct bench *bench_sig_target;

static inline void bench_on_signal(int sig)
{
	(void)sig;
	if (bench_sig_target)
		atomic_store(&bench_sig_target->phase, PH_STOP);
}

static inline void bench_signals(struct bench *b)
{
	struct sigaction sa;

	bench_sig_target = b;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The index of -i's interface, or 0 (said why). */
static inline int bench_ifindex(struct bench *b)
{
	int ifindex = (int)if_nametoindex(b->ifname);

	if (!ifindex)
		bench_err(b, "%s: %s", b->ifname, strerror(errno));
	return ifindex;
}

/* After the options: stop on SIGINT/SIGTERM, pin this thread (-c) and
 * allocate the latency samples (-L).  0, or -1 (said why). */
static inline int bench_prepare(struct bench *b)
{
	bench_signals(b);
	return bench_pin_self(b) || bench_alloc_lat(b) ? -1 : 0;
}

/*
 * What a receiver is to bench_main(): its set-up, consumer and report.
 * Every member but @consumer and @system/@mode may be NULL.
 */
struct bench_prog {
	const char *system, *mode;	/* the report's "system" and "mode" */
	/* set-up after bench_prepare(): 0, or -1 after saying why; setup_if
	 * is given -i's index, looked up before anything else */
	int (*setup)(void);
	int (*setup_if)(int ifindex);
	void *(*consumer)(void *);
	/* run just outside the window's allocation count (bench_measure()) */
	void (*at_start)(struct bench *), (*at_end)(struct bench *);
	/* after the window: the program's own report fields, JSON
	 * ("\"k\":v,...", or nothing) into @buf; -1 fails the run (said why) */
	int (*fields)(struct bench *b, char *buf, size_t size);
	void (*teardown)(void);	/* also after a failed set-up */
};

/*
 * bench_main() - the rest of a receiver's main() once its options are
 * parsed: set up (bench_prepare(), @p's set-up), start the consumers and
 * measure one window (bench_run()), print the report with @p's fields, tear
 * down.  Returns main()'s exit status.
 */
static inline int bench_main(struct bench *b, const struct bench_prog *p)
{
	char extra[1024] = "";
	int ifindex = 0, ret = EXIT_FAILURE;

	if (p->setup_if) {
		ifindex = bench_ifindex(b);
		if (!ifindex)
			return EXIT_FAILURE;
	}
	if (bench_prepare(b) || (p->setup_if && p->setup_if(ifindex)) || (p->setup && p->setup()))
		goto out;
	if (bench_run(b, p->consumer, p->at_start, p->at_end))
		goto out;
	if (p->fields && p->fields(b, extra, sizeof(extra)))
		goto out;
	if (!bench_report(b, p->system, p->mode, extra))
		ret = EXIT_SUCCESS;
out:
	if (p->teardown)
		p->teardown();
	return ret;
}

#endif /* XSNAP_BENCH_H */
