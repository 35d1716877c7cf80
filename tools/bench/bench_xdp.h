/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The baselines' XDP programs, built from raw instructions at run time so
 * that the benchmark needs no BPF object of its own:
 *
 *   drop      count the frame in a per-CPU array, return XDP_DROP: the
 *             receive-side ceiling (what one core can take in at all);
 *   redirect  bpf_redirect_map(xskmap, rx_queue_index, XDP_PASS): the
 *             trivial redirect-all program of a raw AF_XDP socket.
 *
 * Both are attached to the interface through a bpf_link held by the calling
 * process (native mode on veth): the kernel detaches them when it exits,
 * even on SIGKILL, so nothing is left behind.
 */
#ifndef XSNAP_BENCH_XDP_H
#define XSNAP_BENCH_XDP_H

#include <stddef.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

/* The few instruction encoders we need (the kernel's filter.h is not UAPI). */
#define I_ALU64_IMM(OP, DST, IMM) \
	((struct bpf_insn){ .code = BPF_ALU64 | BPF_OP(OP) | BPF_K, .dst_reg = DST, .imm = IMM })
#define I_MOV64_IMM(DST, IMM) \
	((struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = DST, .imm = IMM })
#define I_MOV64_REG(DST, SRC) \
	((struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = DST, .src_reg = SRC })
#define I_LDX_MEM(SZ, DST, SRC, OFF)						\
	((struct bpf_insn){ .code = BPF_LDX | BPF_SIZE(SZ) | BPF_MEM, .dst_reg = DST,	\
			    .src_reg = SRC, .off = OFF })
#define I_STX_MEM(SZ, DST, SRC, OFF)						\
	((struct bpf_insn){ .code = BPF_STX | BPF_SIZE(SZ) | BPF_MEM, .dst_reg = DST,	\
			    .src_reg = SRC, .off = OFF })
#define I_ST_MEM(SZ, DST, OFF, IMM)						\
	((struct bpf_insn){ .code = BPF_ST | BPF_SIZE(SZ) | BPF_MEM, .dst_reg = DST,	\
			    .off = OFF, .imm = IMM })
#define I_JEQ_IMM(DST, IMM, OFF)						\
	((struct bpf_insn){ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = DST, .off = OFF,	\
			    .imm = IMM })
#define I_CALL(FN) ((struct bpf_insn){ .code = BPF_JMP | BPF_CALL, .imm = FN })
#define I_EXIT() ((struct bpf_insn){ .code = BPF_JMP | BPF_EXIT })
/* ld_imm64 of a map fd: two instructions */
#define I_LD_MAP_FD(DST, FD)							\
	((struct bpf_insn){ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = DST,		\
			    .src_reg = BPF_PSEUDO_MAP_FD, .imm = FD }),			\
	((struct bpf_insn){ 0 })

struct bench_xdp {
	int map_fd;		/* counters (drop) or XSKMAP (redirect) */
	int prog_fd;
	int link_fd;
};
/* Nothing open yet: bench_xdp_close() of it does nothing. */
#define BENCH_XDP_INIT { .map_fd = -1, .prog_fd = -1, .link_fd = -1 }

static inline void bench_xdp_close(struct bench_xdp *x)
{
	if (x->link_fd >= 0)
		close(x->link_fd);
	if (x->prog_fd >= 0)
		close(x->prog_fd);
	if (x->map_fd >= 0)
		close(x->map_fd);
	x->link_fd = x->prog_fd = x->map_fd = -1;
}

static inline int bench_xdp_load(struct bench_xdp *x, const char *name,
				 const struct bpf_insn *insns, size_t n, char *log, size_t loglen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, po, .log_buf = log, .log_size = (__u32)loglen,
		    .log_level = 1);

	x->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, n, NULL);
	if (x->prog_fd < 0)	/* again, with the verifier's log */
		x->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, n, &po);
	return x->prog_fd < 0 ? -errno : 0;
}

/*
 * bench_xdp_load_prog() - create the map of the "drop" or "redirect" program
 * and load the program, without attaching it (x->link_fd stays -1).
 * Returns 0, or a negative errno with a message in @why.
 */
static inline int bench_xdp_load_prog(struct bench_xdp *x, bool redirect, char *why,
				      size_t whylen)
{
	static char log[8192];
	int err;

	x->map_fd = x->prog_fd = x->link_fd = -1;
	log[0] = '\0';
	if (redirect)
		x->map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "bench_xsks", 4, 4, 64, NULL);
	else
		x->map_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "bench_cnt", 4, 8, 1, NULL);
	if (x->map_fd < 0) {
		err = -errno;
		snprintf(why, whylen, "creating the %s map: %s", redirect ? "XSKMAP" : "counter",
			 strerror(-err));
		return err;
	}
	if (redirect) {
		const struct bpf_insn insns[] = {
			I_LDX_MEM(BPF_W, BPF_REG_2, BPF_REG_1,
				  offsetof(struct xdp_md, rx_queue_index)),
			I_LD_MAP_FD(BPF_REG_1, x->map_fd),
			I_MOV64_IMM(BPF_REG_3, XDP_PASS),	/* no socket: XDP_PASS */
			I_CALL(BPF_FUNC_redirect_map),
			I_EXIT(),
		};

		err = bench_xdp_load(x, "bench_redirect", insns, sizeof(insns) / sizeof(insns[0]),
				     log, sizeof(log));
	} else {
		const struct bpf_insn insns[] = {
			I_ST_MEM(BPF_W, BPF_REG_10, -4, 0),	/* key = 0 */
			I_MOV64_REG(BPF_REG_2, BPF_REG_10),
			I_ALU64_IMM(BPF_ADD, BPF_REG_2, -4),
			I_LD_MAP_FD(BPF_REG_1, x->map_fd),
			I_CALL(BPF_FUNC_map_lookup_elem),
			I_JEQ_IMM(BPF_REG_0, 0, 3),
			I_LDX_MEM(BPF_DW, BPF_REG_1, BPF_REG_0, 0),	/* per-CPU: no atomic */
			I_ALU64_IMM(BPF_ADD, BPF_REG_1, 1),
			I_STX_MEM(BPF_DW, BPF_REG_0, BPF_REG_1, 0),
			I_MOV64_IMM(BPF_REG_0, XDP_DROP),
			I_EXIT(),
		};

		err = bench_xdp_load(x, "bench_drop", insns, sizeof(insns) / sizeof(insns[0]),
				     log, sizeof(log));
	}
	if (err) {
		snprintf(why, whylen, "loading the %s program: %s%s%s",
			 redirect ? "redirect" : "drop", strerror(-err),
			 log[0] ? "; verifier: " : "", log);
		bench_xdp_close(x);
	}
	return err;
}

/*
 * bench_xdp_open() - load the "drop" or "redirect" program and attach it to
 * @ifindex.  Returns 0, or a negative errno with a message in @why.
 */
static inline int bench_xdp_open(struct bench_xdp *x, bool redirect, int ifindex, char *why,
			  size_t whylen)
{
	int err = bench_xdp_load_prog(x, redirect, why, whylen);

	if (err)
		return err;
	x->link_fd = bpf_link_create(x->prog_fd, ifindex, BPF_XDP, NULL);
	if (x->link_fd < 0) {
		err = -errno;
		snprintf(why, whylen, "attaching the %s program: %s%s",
			 redirect ? "redirect" : "drop", strerror(-err),
			 err == -EBUSY ? " (another XDP program is attached)" : "");
		bench_xdp_close(x);
	}
	return err;
}

/* The drop program's count, summed over CPUs; -1 on error. */
static inline long long bench_xdp_count(const struct bench_xdp *x)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long sum = 0;
	__u64 v[256];
	__u32 key = 0;

	if (ncpu <= 0 || ncpu > 256 || bpf_map_lookup_elem(x->map_fd, &key, v))
		return -1;
	for (int i = 0; i < ncpu; i++)
		sum += v[i];
	return (long long)sum;
}

#endif /* XSNAP_BENCH_XDP_H */
