/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * prom: xsnap's figures in the Prometheus text exposition format 0.0.4,
 * the one formatter behind xsnapd's metrics endpoint (xsnapd --metrics)
 * and `xsnapctl stats --prometheus` (node_exporter's textfile collector),
 * so that both emit the same series.
 *
 * The figures come per interface: the interface-wide ones (XDP program
 * counters, the kernel's XDP_STATISTICS, where the receive frames are,
 * zero-copy, XDP mode) labelled {interface} and written once per
 * interface, and each tenant's on that interface labelled
 * {interface,tenant}.  Each metric family has its # HELP and # TYPE lines
 * once, before its samples; counters end in _total, gauges never do.  The
 * names are listed in xsnapd(8), METRICS.
 */
#ifndef XSNAP_PROM_H
#define XSNAP_PROM_H

#include <stdio.h>

struct xsnap_stats;

/* A tenant's figures on one interface. */
struct prom_tenant {
	const char *name;
	const struct xsnap_stats *st;
};

/* One attached interface: its interface-wide figures and its tenants'. */
struct prom_iface {
	const char *name;
	const struct xsnap_stats *st;
	const struct prom_tenant *t;
	unsigned int nt;
};

/**
 * prom_write() - write the metric families of @n interfaces to @f.
 * @f: where to (a memory stream in xsnapd, stdout in xsnapctl).
 * @ifs: the interfaces, in the order their samples are to appear.
 * @n: how many; 0 writes only xsnap_interfaces 0.
 *
 * A family with no sample (a tenant family with no tenant) is left out.
 * Label values are escaped (backslash, double quote, newline).
 *
 * Return: 0, or -EIO if a write to @f failed.
 */
int prom_write(FILE *f, const struct prom_iface *ifs, unsigned int n);

#endif /* XSNAP_PROM_H */
