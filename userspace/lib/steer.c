// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The XDP program's life cycle and its maps.
 *
 * open → load → pin → (sockets are inserted) → attach through a bpf_link →
 * run → close.  The attachment is a bpf_link owned by this process: if the
 * process dies the kernel detaches the program and traffic falls back to the
 * kernel stack.  Before anything is loaded we check that the interface has no
 * XDP program already (a second attacher would get EBUSY from the kernel; we
 * name the program in the message instead).
 *
 * Rules are applied by rewriting the idle bank of xsnap_groups_v3,
 * xsnap_rules and xsnap_ports and then flipping xsnap_cfg.bank, so a frame
 * sees one rule set or the other.  After the flip we wait for an RCU grace
 * period (an update of the map-in-map xsnap_sync does that in the kernel):
 * when steer_apply() returns, no program run still uses the old bank, so a
 * deleted rule or tenant gets no frame classified after the call, and the
 * old bank, idle now, can be rewritten by the next call.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <xdp/libxdp.h>

#include "proto.h"	/* enum xp_attach_kind */
#include "xsnap_internal.h"
#include "xsnap_spec.skel.h"
#include "xsnap_steer.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* The kernel's headroom in front of a received frame (XDP_PACKET_HEADROOM):
 * a UMEM frame holds FRAME_SIZE minus this (the metadata lives in it). */
#define KERNEL_HEADROOM 256
#define MAX_FRAME_LEN (FRAME_SIZE - KERNEL_HEADROOM)

/* libbpf messages go through our logger one level lower than ours. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	xsnap_pr(level == LIBBPF_WARN ? XSNAP_INFO : XSNAP_DEBUG, "libbpf: %s", buf);
	return 0;
}

/* Describe program @id, attached in @mode ("generic", "native", ...), into @buf. */
static void describe_prog(uint32_t id, const char *mode, char *buf, size_t len)
{
	struct bpf_prog_info info = {};
	uint32_t info_len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &info_len))
		snprintf(buf, len, "id %u \"%s\", %s mode", id, info.name, mode);
	else
		snprintf(buf, len, "id %u", id);
	if (fd >= 0)
		close(fd);
}

/* Describe the XDP program attached to @ifindex, if any, into @buf. */
static uint32_t attached_prog(int ifindex, char *buf, size_t len)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q) || !q.prog_id)
		return 0;
	describe_prog(q.prog_id, q.attach_mode == XDP_ATTACHED_SKB ? "generic" :
				 q.attach_mode == XDP_ATTACHED_HW  ? "offload" :
								     "native",
		      buf, len);
	return q.prog_id;
}

/* Refuse @ifname: the program @what is attached there; @remedy says what to do. */
static int refuse_attached(const char *ifname, const char *what, const char *remedy)
{
	pr_warn("%s: another XDP program (%s) is attached; %s\n", ifname, what, remedy);
	return -EBUSY;
}

static void unpin_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Make sure @root is on a bpffs, creating it if its parent is one. */
static int check_bpffs(const char *root)
{
	struct statfs st;
	char parent[256];
	char *slash;

	if (!statfs(root, &st))
		return st.f_type == BPF_FS_MAGIC ? 0 : -ENOENT;
	snprintf(parent, sizeof(parent), "%s", root);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -ENOENT;
	*slash = '\0';
	if (statfs(parent, &st) || st.f_type != BPF_FS_MAGIC)
		return -ENOENT;
	if (mkdir(root, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static const struct {
	const char *file;
	size_t off;
} pins[] = {
	{ "xsks", offsetof(struct steer, xsks_fd) },
	{ "cfg", offsetof(struct steer, cfg_fd) },
	{ "groups", offsetof(struct steer, groups_fd) },
	{ "rules", offsetof(struct steer, rules_fd) },
	{ "counters", offsetof(struct steer, cnt_fd) },
	{ "tenant_counters", offsetof(struct steer, tcnt_fd) },
	{ "queue_exclusions", offsetof(struct steer, qexcl_fd) },
};

static int pin_maps(struct steer *s)
{
	char path[512];

	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		int fd = *(int *)((char *)s + pins[i].off);

		snprintf(path, sizeof(path), "%s/%s", s->pin_dir, pins[i].file);
		if (bpf_obj_pin(fd, path))
			return -errno;
	}
	snprintf(path, sizeof(path), "%s/port_classes", s->pin_dir);
	if (bpf_obj_pin(bpf_map__fd(s->skel->maps.xsnap_ports), path))
		return -errno;
	return 0;
}

/* --- is a libxdp-attached xsnap program's owner alive? -------------------- */
/*
 * Attached through libxdp, a program is not a bpf_link of its process and
 * outlives it, so an xsnap_steer found on the interface may be a dead
 * process's (remove it) or a live one's (refuse, as the kernel refuses a
 * second bpf_link).  Neither the program nor its maps record an owner, and
 * from userspace an XSKMAP cannot be read: lookup answers EOPNOTSUPP and
 * get_next_key walks every index, full or empty.  Two things the kernel
 * ties to the owner's life can be observed:
 *  - its AF_XDP sockets: closing one (its owner dying) removes it from the
 *    XSKMAP.  A BPF program may look the map up, so a small XDP program,
 *    loaded with the map and run once with BPF_PROG_TEST_RUN, counts them.
 *    This sees an owner in any pid namespace, but not during its start:
 *    libxdp attaches at xsnap_open(), before the sockets are inserted;
 *  - its descriptors of the program (/proc/PID/fdinfo, prog_id), held from
 *    load to close, start included; but only for processes this /proc shows
 *    and this process may inspect.
 * So the owner is alive if either says so.
 */

/* The number of AF_XDP sockets in XSKMAP @map_fd of @max entries, or -errno. */
static int xskmap_count(int map_fd, uint32_t max)
{
#define INSN(c, d, s_, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s_), .off = (o), .imm = (i) })
	/* r6 = sockets found, r7 = key; for (r7 = 0; r7 < max; r7++) r6 += !!lookup(r7) */
	const struct bpf_insn insns[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_6, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, 0),
		INSN(BPF_STX | BPF_W | BPF_MEM, BPF_REG_10, BPF_REG_7, -4, 0),	/* loop: */
		INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd),
		INSN(0, 0, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 1, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_6, 0, 0, 1),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_7, 0, 0, 1),
		INSN(BPF_JMP | BPF_JLT | BPF_K, BPF_REG_7, 0, -10, (int32_t)max),	/* to loop */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_6, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
#undef INSN
	uint8_t frame[64] = {};	/* the run needs an Ethernet header's worth */
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);
	int fd, err = 0;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xsnap_xskcount", "Dual BSD/GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), NULL);
	if (fd < 0)
		return -errno;
	if (bpf_prog_test_run_opts(fd, &run))
		err = -errno;
	close(fd);
	return err ? err : (int)run.retval;
}

/* The number of AF_XDP sockets in program @prog_fd's xsnap_xsks, or -errno. */
static int prog_xsk_count(int prog_fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info), ids[16], n;
	int ret = -ENOENT;

	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	n = info.nr_map_ids < sizeof(ids) / sizeof(ids[0]) ? info.nr_map_ids :
							     sizeof(ids) / sizeof(ids[0]);
	for (uint32_t i = 0; i < n && ret == -ENOENT; i++) {
		struct bpf_map_info mi = {};
		uint32_t mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) && mi.type == BPF_MAP_TYPE_XSKMAP &&
		    !strcmp(mi.name, XSNAP_MAP_XSKS))
			ret = xskmap_count(fd, mi.max_entries);
		close(fd);
	}
	return ret;
}

/* Whether a process other than this one has a descriptor of program @id open. */
static bool prog_held_elsewhere(uint32_t id)
{
	char path[64], link[32], line[64];
	DIR *procs = opendir("/proc");
	struct dirent *p, *f;
	bool held = false;
	uint32_t fid;
	ssize_t n;

	if (!procs)
		return false;
	while (!held && (p = readdir(procs))) {
		DIR *fds;

		if (p->d_name[0] < '1' || p->d_name[0] > '9' || atoi(p->d_name) == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%.16s/fd", p->d_name);
		fds = opendir(path);
		if (!fds)
			continue;	/* gone, or not ours to inspect */
		while (!held && (f = readdir(fds))) {
			FILE *info;

			snprintf(path, sizeof(path), "/proc/%.16s/fd/%.16s", p->d_name, f->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n < 0 || (link[n] = '\0', strcmp(link, "anon_inode:bpf-prog")))
				continue;
			snprintf(path, sizeof(path), "/proc/%.16s/fdinfo/%.16s", p->d_name,
				 f->d_name);
			info = fopen(path, "re");
			if (!info)
				continue;
			while (!held && fgets(line, sizeof(line), info))
				held = sscanf(line, "prog_id: %u", &fid) == 1 && fid == id;
			fclose(info);
		}
		closedir(fds);
	}
	closedir(procs);
	return held;
}

/*
 * An xsnap program attached through libxdp on @ifindex: remove it if its
 * owner is gone (0), refuse if it is alive or cannot be told (-EBUSY).
 * Only programs named xsnap_steer are looked at; another program is
 * libxdp's to refuse (steer_attach_libxdp()).
 */
static int check_libxdp_owner(int ifindex, const char *ifname)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	enum xdp_attach_mode m;
	struct xdp_program *p;
	char what[128], remedy[224];
	int n, err = 0;

	if (!mp || libxdp_get_error(mp))
		return 0;
	m = xdp_multiprog__attach_mode(mp);
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && strcmp(xdp_program__name(p), "xsnap_steer"))
			p = NULL;
	} else {
		for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
			if (!strcmp(xdp_program__name(p), "xsnap_steer"))
				break;
	}
	if (!p)
		goto out;
	n = prog_xsk_count(xdp_program__fd(p));
	if (n != 0 || prog_held_elsewhere(xdp_program__id(p))) {
		describe_prog(xdp_program__id(p), m == XDP_MODE_SKB ? "generic" :
						  m == XDP_MODE_HW  ? "offload" :
								      "native",
			      what, sizeof(what));
		if (n > 0)
			snprintf(remedy, sizeof(remedy),
				 "the xsnap process that attached it through libxdp is alive "
				 "(%d AF_XDP socket%s in its map): stop it first", n,
				 n == 1 ? "" : "s");
		else if (n == 0)
			snprintf(remedy, sizeof(remedy),
				 "the xsnap process that attached it through libxdp is alive "
				 "(it holds the program; starting?): stop it first");
		else
			snprintf(remedy, sizeof(remedy),
				 "attached through libxdp, its owner cannot be told alive (%s): "
				 "stop its owner, or remove it with ip link set dev %s xdp off",
				 strerror(-n), ifname);
		err = refuse_attached(ifname, what, remedy);
		goto out;
	}
	pr_info("%s: removing a stale xsnap program (id %u%s): its owner is gone\n", ifname,
		xdp_program__id(p), xdp_multiprog__is_legacy(mp) ? "" : ", from the dispatcher");
	if (xdp_multiprog__is_legacy(mp))
		xdp_multiprog__detach(mp);
	else
		xdp_program__detach(p, ifindex, m, 0);	/* the dispatcher is rebuilt */
out:
	xdp_multiprog__close(mp);
	return err;
}

/*
 * Load and attach the program through libxdp (xsnap_opts.multiprog): libxdp
 * loads the object itself, as an extension of its multi-program dispatcher
 * where the kernel has freplace (other programs attached through libxdp
 * then run too, by priority: ours has libxdp's default, 50, and passes
 * on XDP_PASS), else as a plain XDP program attached alone.  The program
 * runs from here on: with no socket in the XSKMAP and no rule yet, every
 * frame passes to the kernel stack.
 */
static int steer_attach_libxdp(struct steer *s, const char *ifname, unsigned int flags)
{
	enum xdp_attach_mode m = flags & STEER_MP_NATIVE ? XDP_MODE_NATIVE :
				 flags & STEER_MP_SKB	 ? XDP_MODE_SKB :
							   XDP_MODE_UNSPEC;
	struct xdp_multiprog *mp;
	char what[128];
	int err;

	s->xprog = xdp_program__from_bpf_obj(s->skel->obj, "xdp");
	err = (int)libxdp_get_error(s->xprog);
	if (err) {
		s->xprog = NULL;
		pr_warn("%s: libxdp: %s\n", ifname, strerror(-err));
		return err;
	}
	err = xdp_program__attach(s->xprog, s->ifindex, m, 0);
	if (err) {
		if ((err == -EEXIST || err == -EBUSY) &&
		    attached_prog(s->ifindex, what, sizeof(what)))
			pr_warn("%s: libxdp cannot attach next to the XDP program there (%s): it "
				"was not attached through libxdp's dispatcher\n",
				ifname, what);
		xdp_program__close(s->xprog);
		s->xprog = NULL;
		return err;
	}
	mp = xdp_multiprog__get_from_ifindex(s->ifindex);
	s->dispatcher = mp && !libxdp_get_error(mp) && !xdp_multiprog__is_legacy(mp);
	s->mode = mp && !libxdp_get_error(mp) && xdp_multiprog__attach_mode(mp) == XDP_MODE_SKB ?
			  XSNAP_MODE_SKB :
			  XSNAP_MODE_NATIVE;
	if (mp && !libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	return 0;
}

/* Load "r2 = -8; [call bpf_xdp_adjust_meta;] r0 = XDP_PASS; exit" as XDP.
 * 0 if it loads, else -errno. */
static int probe_xdp_prog(bool call_meta)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = -8 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_xdp_adjust_meta },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	const struct bpf_insn plain[] = { insns[0], insns[2], insns[3] };
	int fd;

	if (call_meta)
		fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xsnap_probe", "GPL", insns, sizeof(insns) / sizeof(insns[0]), NULL);
	else
		fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xsnap_probe", "GPL", plain, sizeof(plain) / sizeof(plain[0]), NULL);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

bool steer_meta_in_head(void)
{
	static int probed = -1;	/* -1: not yet; else the answer */
	int v = __atomic_load_n(&probed, __ATOMIC_RELAXED);

	if (v < 0) {
		/* libbpf_probe_bpf_helper() of libbpf 1.1 does not know the
		 * verifier's "cannot use helper" and answers yes: ask
		 * directly.  Refused only if the same program without the
		 * call loads (not a matter of privilege or of XDP at all). */
		v = probe_xdp_prog(true) == -EINVAL && probe_xdp_prog(false) == 0;
		__atomic_store_n(&probed, v, __ATOMIC_RELAXED);
	}
	return v;
}

uint32_t steer_max_frame(bool meta_head)
{
	return MAX_FRAME_LEN - (meta_head ? (uint32_t)sizeof(struct xsnap_meta) : 0);
}

/*
 * Specialised programs (bpf/xsnap_spec.bpf.c).  At load, the general
 * program goes into its own jump table's general slot, where specialised
 * programs hand on the frames they do not serve; only then may rule sets
 * get one.  Benchmarks and tests of the general path never do.
 */
static void spec_init(struct steer *s, const char *ifname, unsigned int flags)
{
	uint32_t slot = XSNAP_JMP_GENERAL;
	int fd = bpf_program__fd(s->skel->progs.xsnap_general);

	s->jmp_fd = bpf_map__fd(s->skel->maps.xsnap_jmp);
	s->spec_probe = !!(flags & STEER_SPEC_PROBE);
	if (flags & (STEER_NO_SPEC | STEER_NO_FAST | STEER_EMC_MISS | STEER_FAST_PROBE))
		return;
	if (bpf_map_update_elem(s->jmp_fd, &slot, &fd, BPF_ANY)) {
		pr_info("%s: the kernel refused the program's jump table (%s): every rule set is "
			"served by the general classifier\n",
			ifname, strerror(errno));
		return;
	}
	s->spec_on = true;
}

#define SPEC_KEYS                                                            \
	(sizeof(((struct xsnap_spec__rodata *)0)->xsnap_spec_word) / sizeof(__u64))

/*
 * The specialised program of a compiled rule set (@b, @ents[@n]) for the
 * tenant slots @tenants, loaded and ready for the jump table; NULL when the
 * set has none: more than one shape, port classes, a term other than
 * protocol, exact ports and family, more than SPEC_KEYS keys, or a load
 * that failed (said once; rule sets stay general from then on).
 */
static struct xsnap_spec *spec_load(struct steer *s, const struct xsnap_bank *b,
				    const struct rule_entry *ents, unsigned int n, uint32_t tenants)
{
	const uint32_t ok = XSNAP_F_L3 | XSNAP_F_PROTO | XSNAP_F_SPORT | XSNAP_F_DPORT;
	static const uint8_t zero[sizeof(struct xsnap_rule_key) - 8];
	unsigned int key[SPEC_KEYS], nkeys = 0;
	struct xsnap_spec__rodata *ro;
	struct xsnap_spec *sp;
	int err;

	if (!s->spec_on || b->ngroups != 1 || (b->flags & XSNAP_BANK_PORT_CLASSES) ||
	    (b->groups[0].fields & ~ok))
		return NULL;
	/* the shape's keys: group 0, the first 8 bytes and nothing else (the
	 * XSNAP_F_L4_ANY groups after it serve frames whose L4 is unknown,
	 * which this program hands on) */
	for (unsigned int i = 0; i < n; i++) {
		if (ents[i].key.group >= b->ngroups)
			continue;
		if (nkeys == SPEC_KEYS ||
		    memcmp((const uint8_t *)&ents[i].key + 8, zero, sizeof(zero)))
			return NULL;
		key[nkeys++] = i;
	}
	sp = xsnap_spec__open();
	if (!sp) {
		err = -errno;
		goto fail;
	}
	ro = sp->rodata;
	ro->xsnap_spec_fields = b->groups[0].fields;
	ro->xsnap_spec_fam = b->groups[0].l3_proto;
	ro->xsnap_spec_nkeys = nkeys;
	for (unsigned int i = 0; i < nkeys; i++) {
		struct xsnap_rule_key k = ents[key[i]].key;
		uint64_t w;

		k.bank = 0;
		memcpy(&w, &k, sizeof(w));
		ro->xsnap_spec_word[i] = w;
		ro->xsnap_spec_val[i] = ents[key[i]].val;
		ro->xsnap_spec_val[i].tenant_mask &= tenants;
	}
	ro->xsnap_spec_probe = s->spec_probe;
	/* the implicit outcome: the first key whose frames are delivered,
	 * where bare frames can be told apart and their metadata written by
	 * the engine alike (bpf/xsnap_spec.bpf.c) */
	if (s->impl_switch && s->meta_head && !s->spec_probe &&
	    !s->skel->rodata->xsnap_xdp_stamp && !s->skel->rodata->xsnap_qgroups) {
		for (unsigned int i = 0; i < nkeys; i++) {
			const struct xsnap_rule_val *v = (const struct xsnap_rule_val *)&ro->xsnap_spec_val[i];

			if (v->deliver_prio == XSNAP_PRIO_NONE || !v->tenant_mask ||
			    (v->stop_prio != XSNAP_PRIO_NONE && v->stop_prio <= v->deliver_prio))
				continue;
			ro->xsnap_spec_impl = 1;
			ro->xsnap_spec_impl_mask = v->tenant_mask;
			ro->xsnap_spec_impl_id = v->deliver_id;
			break;
		}
	}
	/* the load-time knobs the two programs share (bpf/xsnap_steer.h) */
	ro->xsnap_max_frame = s->skel->rodata->xsnap_max_frame;
	ro->xsnap_xdp_stamp = s->skel->rodata->xsnap_xdp_stamp;
	ro->xsnap_meta_head = s->skel->rodata->xsnap_meta_head;
	ro->xsnap_qgroups = s->skel->rodata->xsnap_qgroups;
	/* and the general program's maps */
	err = bpf_map__reuse_fd(sp->maps.xsnap_xsks, s->xsks_fd);
	err = err ?: bpf_map__reuse_fd(sp->maps.xsnap_qexcl, s->qexcl_fd);
	err = err ?: bpf_map__reuse_fd(sp->maps.xsnap_cnt, s->cnt_fd);
	err = err ?: bpf_map__reuse_fd(sp->maps.xsnap_tcnt, s->tcnt_fd);
	err = err ?: bpf_map__reuse_fd(sp->maps.xsnap_jmp, s->jmp_fd);
	err = err ?: xsnap_spec__load(sp);
	if (!err)
		return sp;
fail:
	xsnap_spec__destroy(sp);
	s->spec_on = false;
	pr_warn("rules: loading the specialised classifier failed (%s): every rule set is "
		"served by the general one from now on\n",
		strerror(-err));
	return NULL;
}

/* Put @sp (NULL: none) into the jump table's specialised slot. */
static int spec_slot(struct steer *s, struct xsnap_spec *sp)
{
	uint32_t slot = XSNAP_JMP_SPEC;
	int fd;

	if (!sp)
		return bpf_map_delete_elem(s->jmp_fd, &slot) && errno != ENOENT ? -errno : 0;
	fd = bpf_program__fd(sp->progs.xsnap_spec);
	return bpf_map_update_elem(s->jmp_fd, &slot, &fd, BPF_ANY) ? -errno : 0;
}

int steer_open(struct steer *s, const char *ifname, int ifindex, const char *pin_root,
	       unsigned int flags)
{
	char what[128], remedy[96];
	int err;

	memset(s, 0, sizeof(*s));
	s->link_fd = -1;
	s->ifindex = ifindex;
	libbpf_set_print(libbpf_print);

	/* 1. refuse early if another program owns the interface (with
	 *    libxdp, another live xsnap; a program that is not libxdp's is in
	 *    the way too, and libxdp itself says so at the attach) */
	if (flags & STEER_MULTIPROG) {
		err = check_libxdp_owner(ifindex, ifname);
		if (err)
			return err;
	} else if (attached_prog(ifindex, what, sizeof(what))) {
		snprintf(remedy, sizeof(remedy),
			 "detach it first (ip link set dev %s xdp off, or stop its owner)", ifname);
		return refuse_attached(ifname, what, remedy);
	}

	/* 2. pins live on bpffs; remove stale ones left by a process that died
	 *    (its link died with it, or its libxdp program was removed above:
	 *    a live owner's interface was refused before its pins are touched) */
	if (pin_root && *pin_root) {
		err = check_bpffs(pin_root);
		if (err) {
			pr_warn("%s: bpffs not mounted at %s: run 'mount -t bpf bpf /sys/fs/bpf' "
				"(inside 'ip netns exec' too)\n",
				ifname, pin_root);
			return err;
		}
		snprintf(s->pin_dir, sizeof(s->pin_dir), "%s/%s", pin_root, ifname);
		if (!access(s->pin_dir, F_OK)) {
			pr_info("%s: removing stale pins in %s\n", ifname, s->pin_dir);
			unpin_dir(s->pin_dir);
		}
		if (mkdir(s->pin_dir, 0700)) {
			err = -errno;
			pr_warn("%s: cannot create %s: %s\n", ifname, s->pin_dir, strerror(-err));
			s->pin_dir[0] = '\0';
			return err;
		}
	}

	/* 3. open the embedded object, set the load-time knobs, load */
	s->skel = xsnap_steer__open();
	if (!s->skel) {
		err = -errno;
		pr_warn("%s: opening the XDP program failed: %s\n", ifname, strerror(-err));
		goto fail;
	}
	s->meta_head = steer_meta_in_head();
	if (s->meta_head)
		pr_info("%s: this kernel refuses bpf_xdp_adjust_meta() to XDP programs: the "
			"metadata travels as the head of each delivered frame\n", ifname);
	s->skel->rodata->xsnap_meta_head = s->meta_head;
	s->skel->rodata->xsnap_max_frame = steer_max_frame(s->meta_head);
	s->skel->rodata->xsnap_xdp_stamp = !!(flags & STEER_XDP_STAMP);
	s->skel->rodata->xsnap_emc_miss = !!(flags & STEER_EMC_MISS);
	s->skel->rodata->xsnap_no_fast = !!(flags & STEER_NO_FAST);
	s->skel->rodata->xsnap_fast_probe = !!(flags & STEER_FAST_PROBE);
	s->skel->rodata->xsnap_qgroups = !!(flags & STEER_QGROUPS);
	if (flags & STEER_MULTIPROG)
		err = steer_attach_libxdp(s, ifname, flags);
	else
		err = xsnap_steer__load(s->skel);
	if (err) {
		pr_warn("%s: %s the XDP program failed: %s%s\n", ifname,
			flags & STEER_MULTIPROG ? "attaching (through libxdp)" : "loading", strerror(-err),
			err == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN, or root)" : "");
		goto fail;
	}
	s->xsks_fd = bpf_map__fd(s->skel->maps.xsnap_xsks);
	s->cfg_fd = bpf_map__fd(s->skel->maps.xsnap_cfg);
	s->groups_fd = bpf_map__fd(s->skel->maps.xsnap_groups_v3);
	s->rules_fd = bpf_map__fd(s->skel->maps.xsnap_rules);
	s->cnt_fd = bpf_map__fd(s->skel->maps.xsnap_cnt);
	s->tcnt_fd = bpf_map__fd(s->skel->maps.xsnap_tcnt);
	s->qexcl_fd = bpf_map__fd(s->skel->maps.xsnap_qexcl);
	spec_init(s, ifname, flags);

	s->cfg.abi_version = XSNAP_ABI_VERSION;
	uint32_t zero = 0;
	if (bpf_map_update_elem(s->cfg_fd, &zero, &s->cfg, BPF_ANY)) {
		err = -errno;
		goto fail;
	}

	/* 4. pin */
	if (s->pin_dir[0]) {
		err = pin_maps(s);
		if (err) {
			pr_warn("%s: pinning maps under %s failed: %s\n", ifname, s->pin_dir,
				strerror(-err));
			goto fail;
		}
	}
	return 0;
fail:
	steer_close(s);
	return err;
}

/* @ifname's MTU, or 0 if it cannot be read. */
static unsigned int if_mtu(const char *ifname)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned int mtu = 0;

	if (fd < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (!ioctl(fd, SIOCGIFMTU, &ifr) && ifr.ifr_mtu > 0)
		mtu = (unsigned int)ifr.ifr_mtu;
	close(fd);
	return mtu;
}

/* --- receive VLAN offload -------------------------------------------------- */
/*
 * A device with receive VLAN offload on takes the outer tag out of the
 * frame into its descriptor before XDP runs (this kernel's XDP cannot read
 * it portably: bpf_xdp_metadata_rx_vlan_tag() needs 6.8 and a device-bound
 * program, and generic XDP has no such metadata).  So `vlan N` would never
 * match, and a double-tagged frame would be classified by its inner tag,
 * the one its sender chose.  xsnap reads the features (ETHTOOL_GFEATURES,
 * the strings of `ethtool -k`), says so at attach and refuses vlan rules
 * while either is on (ctx.c), naming the command that turns them off.  It
 * does not change the device itself: the host's configuration stays the
 * operator's.
 */
static const char *const vlan_features[] = {
	[0] = "rx-vlan-hw-parse",	/* ethtool's rx-vlan-offload, `rxvlan` */
	[1] = "rx-vlan-stag-hw-parse",
};

int steer_vlan_offload(const char *ifname, bool *veth)
{
	struct ethtool_drvinfo drv = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_sset_info *si = NULL;
	struct ethtool_gstrings *gs = NULL;
	struct ethtool_gfeatures *gf = NULL;
	uint32_t n, nblocks;
	struct ifreq ifr = {};
	int fd, ret = 0;

	*veth = false;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&drv;
	if (!ioctl(fd, SIOCETHTOOL, &ifr))
		*veth = !strcmp(drv.driver, "veth");
	si = calloc(1, sizeof(*si) + sizeof(uint32_t));
	if (!si) {
		ret = -ENOMEM;
		goto out;
	}
	si->cmd = ETHTOOL_GSSET_INFO;
	si->sset_mask = 1ull << ETH_SS_FEATURES;
	ifr.ifr_data = (void *)si;
	if (ioctl(fd, SIOCETHTOOL, &ifr)) {
		ret = -errno;
		goto out;
	}
	n = si->sset_mask ? si->data[0] : 0;
	nblocks = (n + 31) / 32;
	gs = calloc(1, sizeof(*gs) + (size_t)n * ETH_GSTRING_LEN);
	gf = calloc(1, sizeof(*gf) + nblocks * sizeof(gf->features[0]));
	if (!gs || !gf) {
		ret = -ENOMEM;
		goto out;
	}
	gs->cmd = ETHTOOL_GSTRINGS;
	gs->string_set = ETH_SS_FEATURES;
	gs->len = n;
	ifr.ifr_data = (void *)gs;
	if (ioctl(fd, SIOCETHTOOL, &ifr)) {
		ret = -errno;
		goto out;
	}
	gf->cmd = ETHTOOL_GFEATURES;
	gf->size = nblocks;
	ifr.ifr_data = (void *)gf;
	if (ioctl(fd, SIOCETHTOOL, &ifr)) {
		ret = -errno;
		goto out;
	}
	for (uint32_t i = 0; i < n && i < gs->len; i++) {
		const char *name = (const char *)gs->data + (size_t)i * ETH_GSTRING_LEN;

		for (unsigned int k = 0; k < sizeof(vlan_features) / sizeof(vlan_features[0]); k++)
			if (!strncmp(name, vlan_features[k], ETH_GSTRING_LEN) &&
			    (gf->features[i / 32].active & (1u << (i % 32))))
				ret |= 1 << k;
	}
out:
	free(si);
	free(gs);
	free(gf);
	close(fd);
	return ret;
}

void steer_vlan_offload_msg(const char *ifname, int on, bool veth, char *buf, size_t len)
{
	snprintf(buf, len,
		 "%s: receive VLAN offload is on (%s%s%s): the device takes the outer tag out "
		 "of the frame before XDP sees it, so a vlan rule would never match and a "
		 "double-tagged frame would be classified by its inner tag; vlan rules are "
		 "refused until it is off: ethtool -K %s%s%s%s",
		 ifname, on & STEER_RXVLAN_CTAG ? "rx-vlan-offload" : "",
		 on == (STEER_RXVLAN_CTAG | STEER_RXVLAN_STAG) ? ", " : "",
		 on & STEER_RXVLAN_STAG ? "rx-vlan-stag-hw-parse" : "", ifname,
		 on & STEER_RXVLAN_CTAG ? " rxvlan off" : "",
		 on & STEER_RXVLAN_STAG ? " rx-vlan-stag-hw-parse off" : "",
		 veth ? " (on veth the peer's transmit offload strips tags too: ethtool -K PEER "
			"txvlan off tx-vlan-stag-hw-insert off)" :
			"");
}

/*
 * Why native XDP was refused, as a phrase, from the errno of the attach.
 * ERANGE is the MTU check of drivers (veth: "Peer MTU is too large to set
 * XDP"): our program is not frags-aware, so every frame must fit one page
 * with XDP's headroom and tailroom (TESTING.md E12).
 */
static const char *native_refusal(int err)
{
	switch (err) {
	case -ERANGE:
		return "the MTU is too large for native XDP without multi-buffer support (on "
		       "veth the peer's MTU counts; native mode needs about 3500 or less)";
	case -EOPNOTSUPP:
		return "the driver does not support native XDP";
	default:
		return NULL;
	}
}

int steer_attach(struct steer *s, const char *ifname, uint32_t mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int prog_fd = bpf_program__fd(s->skel->progs.xsnap_steer);
	const char *why;
	unsigned int mtu;
	char what[128];
	int fd, err;

	if (s->xprog) {
		/* attached at open (steer_attach_libxdp()) */
		pr_info("%s: XDP program attached through libxdp, %s, %s mode\n", ifname,
			s->dispatcher ? "in its multi-program dispatcher" :
					"alone (no dispatcher: the kernel lacks freplace)",
			s->mode == XSNAP_MODE_SKB ? "generic" : "native");
		goto attached;
	}

	lo.flags = mode == XSNAP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, s->ifindex, BPF_XDP, &lo);
	if (fd < 0 && mode == XSNAP_MODE_AUTO && errno != EBUSY) {
		err = -errno;
		why = native_refusal(err);
		pr_info("%s: native XDP unavailable (%s), falling back to generic mode\n", ifname,
			why ? why : strerror(-err));
		lo.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, s->ifindex, BPF_XDP, &lo);
	}
	if (fd < 0) {
		err = -errno;
		why = native_refusal(err);
		if (err == -EBUSY && attached_prog(s->ifindex, what, sizeof(what)))
			pr_warn("%s: another XDP program (%s) is attached\n", ifname, what);
		else if (mode == XSNAP_MODE_NATIVE && err == -ERANGE)
			pr_warn("%s: native XDP refused: %s; lower the MTU (ip link set dev PEER "
				"mtu 1500) or use mode skb or auto (generic XDP)\n",
				ifname, why);
		else if (mode == XSNAP_MODE_NATIVE && (err == -EOPNOTSUPP || err == -EINVAL))
			pr_warn("%s: the driver does not support native XDP: %s (use mode skb or "
				"auto)\n",
				ifname, strerror(-err));
		else
			pr_warn("%s: attaching XDP failed: %s%s\n", ifname, strerror(-err),
				err == -ERANGE || err == -EINVAL ?
					" (MTU too large for XDP? on veth the peer's MTU counts)" :
					"");
		return err;
	}
	s->link_fd = fd;
	s->mode = XSNAP_MODE_NATIVE;
	if (!bpf_xdp_query(s->ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_SKB)
		s->mode = XSNAP_MODE_SKB;
	pr_info("%s: XDP program attached through bpf_link, %s mode\n", ifname,
		s->mode == XSNAP_MODE_SKB ? "generic" : "native");
attached:
	/* Ethernet + two VLAN tags around the MTU: what a frame can be */
	mtu = if_mtu(ifname);
	if (mtu && mtu + 14 + 8 > steer_max_frame(s->meta_head))
		pr_info("%s: MTU %u: frames longer than %u bytes do not fit a UMEM frame; rules "
			"still apply to them, but deliver verdicts pass them to the kernel stack "
			"(counted as too_big)\n",
			ifname, mtu, steer_max_frame(s->meta_head));
	return 0;
}

void steer_close(struct steer *s)
{
	/* detach first, so no frame is steered to sockets about to vanish */
	if (s->link_fd >= 0)
		close(s->link_fd);
	s->link_fd = -1;
	if (s->xprog) {
		enum xdp_attach_mode m = xdp_program__is_attached(s->xprog, s->ifindex);

		if (m != XDP_MODE_UNSPEC)
			xdp_program__detach(s->xprog, s->ifindex, m, 0);
		xdp_program__close(s->xprog);	/* the object stays the skeleton's */
		s->xprog = NULL;
	}
	if (s->pin_dir[0])
		unpin_dir(s->pin_dir);
	s->pin_dir[0] = '\0';
	xsnap_spec__destroy(s->spec);
	s->spec = NULL;
	xsnap_steer__destroy(s->skel);
	s->skel = NULL;
	free(s->bank_keys[0]);
	free(s->bank_keys[1]);
	s->bank_keys[0] = s->bank_keys[1] = NULL;
}

int steer_set_qexcl(struct steer *s, uint32_t queue, uint32_t excl)
{
	if (!s->skel)	/* unit tests: no program */
		return 0;
	return bpf_map_update_elem(s->qexcl_fd, &queue, &excl, BPF_ANY) ? -errno : 0;
}

int steer_set_xsk(struct steer *s, uint32_t queue, int xsk_fd)
{
	if (xsk_fd < 0)
		return bpf_map_delete_elem(s->xsks_fd, &queue) ? -errno : 0;
	return bpf_map_update_elem(s->xsks_fd, &queue, &xsk_fd, BPF_ANY) ? -errno : 0;
}

/*
 * Write the port classes of @bank into its half of xsnap_ports, in place
 * through an mmap of the map (one memcpy-sized write instead of 65536
 * updates).  The half is idle: no frame reads it until the flip.
 */
static int write_port_classes(struct steer *s, uint32_t bank, const struct rule_ports *pc)
{
	size_t len = 2 * XSNAP_PORTS * sizeof(struct xsnap_port_class);
	int fd = bpf_map__fd(s->skel->maps.xsnap_ports);
	struct xsnap_port_class *tab;

	tab = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (tab == MAP_FAILED)
		return -errno;
	tab += (size_t)bank * XSNAP_PORTS;
	for (uint32_t p = 0; p < XSNAP_PORTS; p++) {
		tab[p].sport = pc->sport[p];
		tab[p].dport = pc->dport[p];
		tab[p].pad = 0;
	}
	munmap(tab - (size_t)bank * XSNAP_PORTS, len);
	return 0;
}

/* Delete @n keys of the rule map, in one call where the kernel allows. */
static void delete_keys(struct steer *s, struct xsnap_rule_key *keys, unsigned int n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	__u32 count = n;

	if (!n || !bpf_map_delete_batch(s->rules_fd, keys, &count, &bo))
		return;
	for (unsigned int i = count; i < n; i++)
		bpf_map_delete_elem(s->rules_fd, &keys[i]);
}

/* Insert @n entries; on failure none of them is left in the map. */
static int insert_entries(struct steer *s, const struct rule_entry *ents,
			  struct xsnap_rule_key *keys, unsigned int n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = BPF_ANY);
	struct xsnap_rule_val *vals;
	__u32 count = n;
	int err = 0;

	if (!n)
		return 0;
	vals = malloc(n * sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		keys[i] = ents[i].key;
		vals[i] = ents[i].val;
	}
	if (bpf_map_update_batch(s->rules_fd, keys, vals, &count, &bo)) {
		/* the batch stopped at @count; go on one by one */
		for (unsigned int i = count; i < n && !err; i++)
			if (bpf_map_update_elem(s->rules_fd, &keys[i], &vals[i], BPF_ANY))
				err = -errno;
		if (err) {
			pr_warn("rules: writing %u keys into the rule map: %s\n", n,
				strerror(-err));
			delete_keys(s, keys, n);
		}
	}
	free(vals);
	return err;
}

/* Wait until no program run can still see the bank that was live before
 * the last flip (see xsnap_sync in the program). */
static void wait_for_readers(struct steer *s)
{
	int sync_fd = bpf_map__fd(s->skel->maps.xsnap_sync);
	uint32_t zero = 0;

	if (bpf_map_update_elem(sync_fd, &zero, &s->cfg_fd, BPF_ANY))
		pr_warn("rules: waiting for the old rule set's readers failed: %s; frames "
			"classified just before this change may still be in flight\n",
			strerror(errno));
}

/* Compile @rules into the idle bank, then make it live. */
int steer_apply(struct steer *s, const struct rule *rules, unsigned int n, uint32_t tenants)
{
	uint8_t bank = !s->cfg.bank;
	/* one key per rule unless ranges expand: try that size first */
	unsigned int cap = n < 64 ? 64 : n, nents = cap;
	struct rule_entry *ents = calloc(cap, sizeof(*ents));
	struct rule_ports *pc = malloc(sizeof(*pc));
	struct xsnap_rule_key *keys = NULL;
	struct xsnap_spec *spec = NULL;
	struct xsnap_bank b = {};
	struct xsnap_cfg cfg;
	bool impl;
	uint32_t zero = 0, bidx = bank;
	char msg[256];
	int err;

	if (!ents || !pc) {
		err = -ENOMEM;
		goto out;
	}
	err = rule_compile(rules, n, bank, &b, ents, &nents, pc, msg, sizeof(msg));
	if (err == -ENOSPC && cap < XSNAP_MAX_RULES) {
		free(ents);
		nents = XSNAP_MAX_RULES;
		ents = calloc(nents, sizeof(*ents));
		if (ents)
			err = rule_compile(rules, n, bank, &b, ents, &nents, pc, msg, sizeof(msg));
		else
			err = -ENOMEM;
	}
	if (err == -ENOMEM)
		snprintf(msg, sizeof(msg), "out of memory");
	if (err) {
		pr_warn("rules: %s\n", msg);
		goto out;
	}
	if (!s->skel)
		goto out;	/* no program: unit tests check compilation only */
	keys = calloc(nents ? nents : 1, sizeof(*keys));
	if (!keys) {
		err = -ENOMEM;
		goto out;
	}

	/* Empty the idle bank: it holds the set that was live before the last
	 * flip, whose readers that flip's wait_for_readers() outlived. */
	delete_keys(s, s->bank_keys[bank], s->bank_nkeys[bank]);
	free(s->bank_keys[bank]);
	s->bank_keys[bank] = NULL;
	s->bank_nkeys[bank] = 0;

	err = insert_entries(s, ents, keys, nents);
	if (err)
		goto out;
	s->bank_keys[bank] = keys;
	s->bank_nkeys[bank] = nents;
	keys = NULL;
	if (b.flags & XSNAP_BANK_PORT_CLASSES) {
		err = write_port_classes(s, bank, pc);
		if (err) {
			pr_warn("rules: writing the port class table: %s\n", strerror(-err));
			goto out;
		}
	}
	if (bpf_map_update_elem(s->groups_fd, &bidx, &b, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	/* The old set's specialised program leaves before the flip (from
	 * here until the new one is in, frames take the general path, right
	 * with either bank); the new set's is loaded now, so a failure leaves
	 * the old set live. */
	spec = spec_load(s, &b, ents, nents, tenants);
	if (s->spec) {
		err = spec_slot(s, NULL);
		if (err) {
			pr_warn("rules: removing the old set's specialised classifier: %s\n",
				strerror(-err));
			goto out;
		}
	}
	/* the flip: one 16-byte value written in one syscall */
	cfg = s->cfg;
	cfg.bank = bank;
	cfg.tenants = tenants;
	cfg.gen++;	/* the program's exact-match cache: see xsnap_cfg.gen */
	if (bpf_map_update_elem(s->cfg_fd, &zero, &cfg, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	s->cfg = cfg;
	impl = spec && spec->rodata->xsnap_spec_impl;
	if (spec && !impl && spec_slot(s, spec)) {
		/* the general path serves the set: slower, still right */
		pr_warn("rules: installing the specialised classifier: %s\n", strerror(errno));
		xsnap_spec__destroy(spec);
		spec = NULL;
	}
	wait_for_readers(s);
	/* no frame is in the old program any more */
	xsnap_spec__destroy(s->spec);
	s->spec = NULL;
	/* Bare frames: every one the old program sent is in an rx ring now,
	 * before the producer index the engines get with the new outcome; a
	 * program that sends some goes live only after that.  An engine
	 * still far behind (it has not read as far as the switches before)
	 * leaves the set to the general program. */
	if (s->impl_switch) {
		uint32_t mask = impl ? spec->rodata->xsnap_spec_impl_mask : 0;
		uint32_t rule = impl ? spec->rodata->xsnap_spec_impl_id : 0;

		if ((mask != s->impl_mask || rule != s->impl_rule) &&
		    !s->impl_switch(s->impl_arg, mask, rule)) {
			s->impl_mask = mask;
			s->impl_rule = rule;
		}
		if (impl && (mask != s->impl_mask || rule != s->impl_rule)) {
			pr_debug("rules: an engine lags %d rule changes behind: the general "
				 "classifier serves this set\n", IMPL_SWITCHES);
			xsnap_spec__destroy(spec);
			spec = NULL;
		}
	}
	if (spec && impl && spec_slot(s, spec)) {
		pr_warn("rules: installing the specialised classifier: %s\n", strerror(errno));
		xsnap_spec__destroy(spec);
		spec = NULL;
	}
	s->spec = spec;
	s->spec_keys = spec ? spec->rodata->xsnap_spec_nkeys : 0;
	spec = NULL;
	err = 0;
out:
	xsnap_spec__destroy(spec);
	free(ents);
	free(pc);
	free(keys);
	return err;
}

int steer_observe(struct steer *s, struct serve_attach *a)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_link_info li = { 0 };
	struct bpf_prog_info pi = { 0 };
	uint32_t len;
	int fd;

	memset(a, 0, sizeof(*a));
	if (s->link_fd >= 0) {
		len = sizeof(li);
		if (bpf_obj_get_info_by_fd(s->link_fd, &li, &len))
			return -errno;
		a->link_id = li.id;
		if (li.type == BPF_LINK_TYPE_XDP && (int)li.xdp.ifindex == s->ifindex)
			a->kind = XP_AT_LINK;
	}
	if (s->xprog && xdp_program__is_attached(s->xprog, s->ifindex) != XDP_MODE_UNSPEC)
		a->kind = s->dispatcher ? XP_AT_DISPATCHER : XP_AT_LIBXDP;
	len = sizeof(pi);
	if (s->skel && !bpf_obj_get_info_by_fd(bpf_program__fd(s->skel->progs.xsnap_steer), &pi,
					      &len))
		a->prog_id = pi.id;
	if (bpf_xdp_query(s->ifindex, 0, &q))
		return -errno;
	a->if_prog_id = q.prog_id;
	a->if_mode = q.attach_mode == XDP_ATTACHED_DRV ? XSNAP_MODE_NATIVE :
		     q.attach_mode == XDP_ATTACHED_SKB ? XSNAP_MODE_SKB : 0;
	fd = q.prog_id ? bpf_prog_get_fd_by_id(q.prog_id) : -1;
	if (fd >= 0) {
		memset(&pi, 0, sizeof(pi));
		len = sizeof(pi);
		if (!bpf_obj_get_info_by_fd(fd, &pi, &len))
			snprintf(a->if_prog_name, sizeof(a->if_prog_name), "%s", pi.name);
		close(fd);
	}
	return 0;
}

int steer_counters(struct steer *s, uint64_t cnt[XSNAP_R_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *v;

	memset(cnt, 0, sizeof(uint64_t) * XSNAP_R_MAX);
	if (!s->skel)
		return 0;
	if (ncpu <= 0)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t r = 0; r < XSNAP_R_MAX; r++) {
		cnt[r] = 0;
		if (bpf_map_lookup_elem(s->cnt_fd, &r, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			cnt[r] += v[c];
	}
	free(v);
	return 0;
}

int steer_tenant_counters(struct steer *s, uint32_t slot, struct xsnap_tenant_cnt *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct xsnap_tenant_cnt *v;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!s->skel)
		return 0;
	if (ncpu <= 0)
		return -EINVAL;
	v = calloc(ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(s->tcnt_fd, &slot, v))
		err = -errno;
	for (int c = 0; !err && c < ncpu; c++) {
		out->frames += v[c].frames;
		out->bytes += v[c].bytes;
	}
	free(v);
	return err;
}
