// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Prometheus text format 0.0.4 of xsnap's figures (prom.h).
 *
 * One table says, for every field of struct xsnap_stats, the metric it
 * becomes: its name, its type, whether it is a tenant's figure or the
 * interface's, and its help text.  prom_write() walks the table once per
 * family, so a family's samples come together under one # HELP and one
 * # TYPE line whatever the number of interfaces and tenants.  Two fields
 * are not plain numbers: xdp[] is one counter labelled by the XDP
 * program's reason, xdp_mode a state set (one sample per mode, 1 for the
 * mode in effect).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "prom.h"

enum kind {
	K_TENANT,		/* a tenant's figure on the interface */
	K_IFACE,		/* the interface's */
	K_XDP,			/* xdp[]: the interface's, one sample per reason */
	K_MODE,			/* xdp_mode: the interface's, a state set */
};

struct metric {
	const char *name;
	enum kind kind;
	bool counter;
	size_t off, size;	/* the field in struct xsnap_stats */
	const char *help;
};

#define F(field) offsetof(struct xsnap_stats, field), sizeof(((struct xsnap_stats *)0)->field)
#define TC(name, field, help) { "xsnap_" name "_total", K_TENANT, true, F(field), help }
#define TG(name, field, help) { "xsnap_" name, K_TENANT, false, F(field), help }
#define IC(name, field, help) { "xsnap_" name "_total", K_IFACE, true, F(field), help }
#define IG(name, field, help) { "xsnap_" name, K_IFACE, false, F(field), help }

static const struct metric metrics[] = {
	TC("rx_frames", rx_frames, "Frames appended to the tenant's log."),
	TC("rx_bytes", rx_bytes, "Bytes of the frames appended to the tenant's log."),
	TC("quota_drops", quota_drops, "Frames tail-dropped because the tenant's log was full."),
	TC("delivered", delivered,
	   "Frames the tenant's sockets received and released (xsnapd counts them from "
	   "release watermarks)."),
	TC("bad_releases", bad_releases, "Releases of frames not held, as the consumers report them."),
	TC("xdp_tenant_frames", xdp_tenant_frames,
	   "Frames the XDP program steered to the tenant."),
	TC("evicted", evicted, "Released frames evicted from the tenant's log for new ones."),
	TC("cow", cow, "Private versions of frames made (copy-on-write)."),
	TC("commits", commits, "Versions committed."),
	TC("tx_frames", tx_frames, "Frames queued for transmission."),
	TC("tx_completed", tx_completed, "Transmissions completed."),
	TC("tx_refused", tx_refused, "Frames refused for transmission by the tenant's transmit rules."),
	TC("tx_copied", tx_copied, "Frames transmitted from a copy."),
	TC("snapshots", snapshots, "Snapshots taken."),
	TC("recvfrom_skipped", recvfrom_skipped,
	   "Frames xsnap_recvfrom() skipped (not UDP, IP fragments, bad checksums)."),
	TC("recvfrom_fragments", recvfrom_fragments, "IP fragments xsnap_recvfrom() skipped."),
	TC("recvfrom_bad_csum", recvfrom_bad_csum,
	   "UDP datagrams xsnap_recvfrom() skipped for a bad checksum."),
	TC("view_copies", view_copies, "Frames copied into the tenant's private view."),
	TG("sockets", sockets, "Open sockets of the tenant."),
	TG("held", held, "Frames the tenant's log holds."),
	TG("pool_free", pool_free, "Free chunks in the tenant's pool."),
	TG("view_private", view_private, "1 if the tenant reads a private view, else 0."),
	TG("view_held", view_held, "Chunks of the tenant's private view its log holds."),
	{ "xsnap_xdp_frames_total", K_XDP, true, F(xdp),
	  "Frames the XDP program handled, by reason (verdict)." },
	IC("kernel_rx_dropped", kernel_rx_dropped,
	   "Frames the kernel dropped on the interface's AF_XDP sockets (XDP_STATISTICS rx_dropped)."),
	IC("kernel_rx_ring_full", kernel_rx_ring_full,
	   "Frames dropped for a full AF_XDP rx ring (XDP_STATISTICS rx_ring_full)."),
	IC("kernel_fill_empty", kernel_fill_empty,
	   "Times the kernel found an AF_XDP fill ring empty (XDP_STATISTICS "
	   "rx_fill_ring_empty_descs)."),
	IG("region_frames", frames_total, "Frames of the interface's receive region."),
	IG("region_frames_free", frames_free, "Receive-region frames free in xsnap."),
	IG("region_frames_kernel", frames_kernel,
	   "Receive-region frames in the fill ring, the kernel or the rx ring."),
	IG("region_frames_logged", frames_logged,
	   "Receive-region frames referenced by logs or transmits."),
	IG("zerocopy", zerocopy, "1 if every queue of the interface runs AF_XDP zero-copy, else 0."),
	{ "xsnap_xdp_mode", K_MODE, false, F(xdp_mode),
	  "XDP mode in effect on the interface: 1 for the mode it runs, 0 for the other." },
};

#define XDP_REASONS (sizeof(((struct xsnap_stats *)0)->xdp) / sizeof(uint64_t))

static uint64_t field(const struct xsnap_stats *st, const struct metric *m, size_t i)
{
	const char *p = (const char *)st + m->off;

	uint32_t v32;
	uint64_t v64;

	if (m->kind == K_XDP)
		return st->xdp[i];
	if (m->size == sizeof(v32)) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	memcpy(&v64, p, sizeof(v64));
	return v64;
}

/* A label value, escaped as the format wants. */
static void label(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s=\"", key);
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void head(FILE *f, const char *name, const char *help, bool counter)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, counter ? "counter" : "gauge");
}

/* The samples of family @m (its head first, if it has any). */
static void family(FILE *f, const struct metric *m, const struct prom_iface *ifs, unsigned int n)
{
	static const struct {
		unsigned int mode;
		const char *name;
	} modes[] = { { XSNAP_MODE_NATIVE, "native" }, { XSNAP_MODE_SKB, "generic" } };
	unsigned int samples = 0;

	for (unsigned int i = 0; i < n; i++)
		samples += m->kind == K_TENANT ? ifs[i].nt : 1;
	if (!samples)
		return;
	head(f, m->name, m->help, m->counter);
	for (unsigned int i = 0; i < n; i++) {
		const struct prom_iface *ifc = &ifs[i];

		switch (m->kind) {
		case K_TENANT:
			for (unsigned int t = 0; t < ifc->nt; t++) {
				fprintf(f, "%s{", m->name);
				label(f, "interface", ifc->name);
				fputc(',', f);
				label(f, "tenant", ifc->t[t].name);
				fprintf(f, "} %llu\n",
					(unsigned long long)field(ifc->t[t].st, m, 0));
			}
			break;
		case K_IFACE:
			fprintf(f, "%s{", m->name);
			label(f, "interface", ifc->name);
			fprintf(f, "} %llu\n", (unsigned long long)field(ifc->st, m, 0));
			break;
		case K_XDP:
			for (unsigned int r = 0; r < XSNAP_R_MAX && r < XDP_REASONS; r++) {
				fprintf(f, "%s{", m->name);
				label(f, "interface", ifc->name);
				fputc(',', f);
				label(f, "reason", xsnap_reason_str(r));
				fprintf(f, "} %llu\n", (unsigned long long)field(ifc->st, m, r));
			}
			break;
		case K_MODE:
			for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
				fprintf(f, "%s{", m->name);
				label(f, "interface", ifc->name);
				fputc(',', f);
				label(f, "mode", modes[k].name);
				fprintf(f, "} %d\n", field(ifc->st, m, 0) == modes[k].mode);
			}
			break;
		}
	}
}

int prom_write(FILE *f, const struct prom_iface *ifs, unsigned int n)
{
	head(f, "xsnap_interfaces", "Interfaces xsnap is attached to.", false);
	fprintf(f, "xsnap_interfaces %u\n", n);
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
		family(f, &metrics[i], ifs, n);
	return fflush(f) || ferror(f) ? -EIO : 0;
}
