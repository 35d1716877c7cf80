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
 * Rules are applied by rewriting the idle bank of xsnap_groups/xsnap_rules
 * and then flipping xsnap_cfg.bank, so a frame sees one rule set or the other.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "xsnap_internal.h"
#include "xsnap_steer.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

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

/* Describe the XDP program attached to @ifindex, if any, into @buf. */
static uint32_t attached_prog(int ifindex, char *buf, size_t len)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = {};
	uint32_t info_len = sizeof(info);
	int fd;

	if (bpf_xdp_query(ifindex, 0, &q) || !q.prog_id)
		return 0;
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &info_len))
		snprintf(buf, len, "id %u \"%s\", %s mode", q.prog_id, info.name,
			 q.attach_mode == XDP_ATTACHED_SKB ? "generic" :
			 q.attach_mode == XDP_ATTACHED_HW  ? "offload" :
							     "native");
	else
		snprintf(buf, len, "id %u", q.prog_id);
	if (fd >= 0)
		close(fd);
	return q.prog_id;
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
	return 0;
}

int steer_open(struct steer *s, const char *ifname, int ifindex, const char *pin_root)
{
	char what[128];
	int err;

	memset(s, 0, sizeof(*s));
	s->link_fd = -1;
	s->ifindex = ifindex;
	libbpf_set_print(libbpf_print);

	/* 1. refuse early if another program owns the interface */
	if (attached_prog(ifindex, what, sizeof(what))) {
		pr_warn("%s: another XDP program (%s) is attached; detach it first "
			"(ip link set dev %s xdp off, or stop its owner)\n",
			ifname, what, ifname);
		return -EBUSY;
	}

	/* 2. pins live on bpffs; remove stale ones left by a process that died
	 *    (its link died with it, so nothing is attached: checked above) */
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

	/* 3. open and load the embedded object */
	s->skel = xsnap_steer__open_and_load();
	if (!s->skel) {
		err = -errno;
		pr_warn("%s: loading the XDP program failed: %s%s\n", ifname, strerror(-err),
			err == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN, or root)" : "");
		goto fail;
	}
	s->xsks_fd = bpf_map__fd(s->skel->maps.xsnap_xsks);
	s->cfg_fd = bpf_map__fd(s->skel->maps.xsnap_cfg);
	s->groups_fd = bpf_map__fd(s->skel->maps.xsnap_groups);
	s->rules_fd = bpf_map__fd(s->skel->maps.xsnap_rules);
	s->cnt_fd = bpf_map__fd(s->skel->maps.xsnap_cnt);
	s->tcnt_fd = bpf_map__fd(s->skel->maps.xsnap_tcnt);

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

int steer_attach(struct steer *s, const char *ifname, uint32_t mode)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int prog_fd = bpf_program__fd(s->skel->progs.xsnap_steer);
	char what[128];
	int fd, err;

	lo.flags = mode == XSNAP_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_link_create(prog_fd, s->ifindex, BPF_XDP, &lo);
	if (fd < 0 && mode == XSNAP_MODE_AUTO && errno != EBUSY) {
		pr_info("%s: native XDP unavailable (%s), falling back to generic mode\n",
			ifname, strerror(errno));
		lo.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, s->ifindex, BPF_XDP, &lo);
	}
	if (fd < 0) {
		err = -errno;
		if (err == -EBUSY && attached_prog(s->ifindex, what, sizeof(what)))
			pr_warn("%s: another XDP program (%s) is attached\n", ifname, what);
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
	return 0;
}

void steer_close(struct steer *s)
{
	/* detach first, so no frame is steered to sockets about to vanish */
	if (s->link_fd >= 0)
		close(s->link_fd);
	s->link_fd = -1;
	if (s->pin_dir[0])
		unpin_dir(s->pin_dir);
	s->pin_dir[0] = '\0';
	xsnap_steer__destroy(s->skel);
	s->skel = NULL;
	free(s->bank_keys[0]);
	free(s->bank_keys[1]);
	s->bank_keys[0] = s->bank_keys[1] = NULL;
}

int steer_set_xsk(struct steer *s, uint32_t queue, int xsk_fd)
{
	if (xsk_fd < 0)
		return bpf_map_delete_elem(s->xsks_fd, &queue) ? -errno : 0;
	return bpf_map_update_elem(s->xsks_fd, &queue, &xsk_fd, BPF_ANY) ? -errno : 0;
}

/* Compile @rules into the idle bank, then make it live. */
int steer_apply(struct steer *s, const struct rule *rules, unsigned int n, uint32_t tenants)
{
	uint8_t bank = !s->cfg.bank;
	unsigned int cap = n ? n : 1, nents = cap;
	struct rule_entry *ents = calloc(cap, sizeof(*ents));
	struct xsnap_rule_key *keys = calloc(cap, sizeof(*keys));
	struct xsnap_bank b = {};
	struct xsnap_cfg cfg;
	uint32_t zero = 0, bidx = bank;
	int err;

	if (!ents || !keys) {
		err = -ENOMEM;
		goto out;
	}
	err = rule_compile(rules, n, bank, &b, ents, &nents);
	if (err || !s->skel)
		goto out;	/* no program: unit tests check compilation only */

	/* empty the idle bank: it still holds the set before the last flip */
	for (unsigned int i = 0; i < s->bank_nkeys[bank]; i++)
		bpf_map_delete_elem(s->rules_fd, &s->bank_keys[bank][i]);
	s->bank_nkeys[bank] = 0;

	for (unsigned int i = 0; i < nents; i++) {
		if (bpf_map_update_elem(s->rules_fd, &ents[i].key, &ents[i].val, BPF_ANY)) {
			err = -errno;
			/* undo, so the idle bank is empty and accounted for */
			for (unsigned int j = 0; j < i; j++)
				bpf_map_delete_elem(s->rules_fd, &ents[j].key);
			goto out;
		}
		keys[i] = ents[i].key;
	}
	free(s->bank_keys[bank]);
	s->bank_keys[bank] = keys;
	s->bank_nkeys[bank] = nents;
	keys = NULL;
	if (bpf_map_update_elem(s->groups_fd, &bidx, &b, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	/* the flip: one 16-byte value written in one syscall */
	cfg = s->cfg;
	cfg.bank = bank;
	cfg.tenants = tenants;
	if (bpf_map_update_elem(s->cfg_fd, &zero, &cfg, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	s->cfg = cfg;
	err = 0;
out:
	free(ents);
	free(keys);
	return err;
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
