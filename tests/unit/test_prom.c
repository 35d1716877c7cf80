// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Prometheus text formatter of xsnapd --metrics and xsnapctl stats
 * --prometheus (tools/common/prom.c): every figure of struct xsnap_stats
 * exported once, in the right scope (a tenant's with its tenant, an
 * interface's once per interface and never per tenant); # HELP and
 * # TYPE once per family, before its samples; counters and only counters
 * ending in _total; no series twice; label values escaped.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xsnap/abi.h>
#include <xsnap/xsnap.h>

#include "prom.h"
#include "proto.h"
#include "testlib.h"

#define MAX_LINES 4096

struct out {
	char *text;		/* what prom_write() wrote */
	char *lines;		/* a copy, cut into line[] */
	size_t len;
	char *line[MAX_LINES];
	int n;
};

/* Format @n interfaces into @o, split into lines. */
static int render(struct out *o, const struct prom_iface *ifs, unsigned int n)
{
	FILE *f = open_memstream(&o->text, &o->len);
	int r;

	if (!f)
		return -1;
	r = prom_write(f, ifs, n);
	fclose(f);
	o->n = 0;
	o->lines = strdup(o->text);
	if (!o->lines)
		return -1;
	for (char *s = strtok(o->lines, "\n"); s && o->n < MAX_LINES; s = strtok(NULL, "\n"))
		o->line[o->n++] = s;
	return r;
}

static void out_free(struct out *o)
{
	free(o->text);
	free(o->lines);
}

/* Lines that end in " @v". */
static int ending(const struct out *o, unsigned long long v)
{
	char tail[32];
	int c = 0;

	snprintf(tail, sizeof(tail), " %llu", v);
	for (int i = 0; i < o->n; i++) {
		size_t l = strlen(o->line[i]), t = strlen(tail);

		c += o->line[i][0] != '#' && l > t && !strcmp(o->line[i] + l - t, tail);
	}
	return c;
}

/* Set every plain field of @st to @base + its index (xdp[] to @xbase + reason). */
static void fill(struct xsnap_stats *st, uint64_t base, uint64_t xbase)
{
	uint64_t i = 0;

	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
#define X(f) st->f = (__typeof__(st->f))(base + i++);
	XP_STATS_FIELDS(X)
#undef X
	st->zerocopy = 1;
	st->xdp_mode = XSNAP_MODE_SKB;
	for (int r = 0; r < 16; r++)
		st->xdp[r] = xbase + (uint64_t)r;
}

/* Every field once, in its scope: each value of the tenant's or the
 * interface's figures appears once in all, xdp[] only the interface's. */
TEST(every_field_once)
{
	struct xsnap_stats ist, tst;
	struct prom_tenant t = { "blue", &tst };
	struct prom_iface ifc = { "eth0", &ist, &t, 1 };
	struct out o = { 0 };
	uint64_t i = 0;

	fill(&ist, 200000, 300000);
	fill(&tst, 100000, 400000);
	REQUIRE(render(&o, &ifc, 1) == 0);
#define X(f)                                                                              \
	if (strcmp(#f, "zerocopy") && strcmp(#f, "xdp_mode")) {                           \
		int c = ending(&o, 100000 + i) + ending(&o, 200000 + i);                   \
		if (c != 1)                                                               \
			fprintf(stderr, "field %s: %d samples\n", #f, c);                  \
		CHECK_EQ(c, 1);                                                           \
	}                                                                                 \
	i++;
	XP_STATS_FIELDS(X)
#undef X
	for (int r = 0; r < XSNAP_R_MAX; r++) {
		CHECK_EQ(ending(&o, 300000 + (uint64_t)r), 1);
		CHECK_EQ(ending(&o, 400000 + (uint64_t)r), 0);
	}
	/* the states */
	CHECK(strstr(o.text, "\nxsnap_zerocopy{interface=\"eth0\"} 1\n"));
	CHECK(strstr(o.text, "\nxsnap_xdp_mode{interface=\"eth0\",mode=\"generic\"} 1\n"));
	CHECK(strstr(o.text, "\nxsnap_xdp_mode{interface=\"eth0\",mode=\"native\"} 0\n"));
	CHECK(strstr(o.text, "\nxsnap_interfaces 1\n"));
	out_free(&o);
}

/* The family of a sample or comment line, into @fam. */
static void family_of(const char *line, char *fam, size_t sz)
{
	const char *p = line;
	size_t n;

	if (line[0] == '#')
		p = strchr(strchr(line, ' ') + 1, ' ') + 1;
	n = strcspn(p, "{ ");
	snprintf(fam, sz, "%.*s", (int)n, p);
}

static bool ends_with(const char *s, const char *t)
{
	size_t l = strlen(s), m = strlen(t);

	return l >= m && !strcmp(s + l - m, t);
}

/* Two interfaces, three tenants: the shape of the text. */
TEST(families_and_scopes)
{
	struct xsnap_stats ist[2], tst[2][3];
	struct prom_tenant t[2][3];
	struct prom_iface ifs[2];
	static const char *const tn[] = { "a", "b.c", "d-e_f" };
	struct out o = { 0 };
	char fam[128], cur[128] = "", type[16] = "";
	int help_seen = 0, type_seen = 0, families = 0;

	for (int i = 0; i < 2; i++) {
		fill(&ist[i], 1000 * (uint64_t)i, 0);
		for (int k = 0; k < 3; k++) {
			fill(&tst[i][k], 7, 0);
			t[i][k] = (struct prom_tenant){ tn[k], &tst[i][k] };
		}
		ifs[i] = (struct prom_iface){ i ? "eth1" : "eth0", &ist[i], t[i], 3 };
	}
	REQUIRE(render(&o, ifs, 2) == 0);
	for (int i = 0; i < o.n; i++) {
		const char *l = o.line[i];

		family_of(l, fam, sizeof(fam));
		if (!strncmp(l, "# HELP ", 7)) {
			/* a new family: never one seen before */
			for (int j = 0; j < i; j++) {
				char f2[128];

				family_of(o.line[j], f2, sizeof(f2));
				if (!strcmp(f2, fam))
					fprintf(stderr, "family %s twice (line %d)\n", fam, i + 1);
				CHECK(strcmp(f2, fam));
			}
			snprintf(cur, sizeof(cur), "%s", fam);
			help_seen = 1;
			type_seen = 0;
			families++;
			continue;
		}
		if (!strncmp(l, "# TYPE ", 7)) {
			CHECK(help_seen && !strcmp(fam, cur));
			snprintf(type, sizeof(type), "%s", strrchr(l, ' ') + 1);
			CHECK(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			CHECK_EQ(ends_with(fam, "_total"), !strcmp(type, "counter"));
			type_seen = 1;
			continue;
		}
		/* a sample of the current family, after its HELP and TYPE */
		if (strcmp(fam, cur))
			fprintf(stderr, "line %d: %s outside its family %s\n", i + 1, l, cur);
		CHECK(!strcmp(fam, cur) && type_seen);
		/* no series twice */
		for (int j = 0; j < i; j++) {
			size_t k = strcspn(l, " ");

			CHECK(strncmp(o.line[j], l, k) || o.line[j][k] != ' ');
		}
	}
	CHECK(families > 30);
	/* tenant figures: 6 samples (2 x 3), interface-wide: 2, never a tenant label */
	for (int i = 0; i < o.n; i++) {
		const char *l = o.line[i];

		if (!strncmp(l, "xsnap_rx_frames_total{", 22))
			CHECK(strstr(l, ",tenant=\""));
		if (!strncmp(l, "xsnap_region_frames{", 20) || !strncmp(l, "xsnap_zerocopy{", 15) ||
		    !strncmp(l, "xsnap_xdp_frames_total{", 23) ||
		    !strncmp(l, "xsnap_kernel_fill_empty_total{", 30))
			CHECK(!strstr(l, "tenant="));
	}
	CHECK(strstr(o.text, "xsnap_rx_frames_total{interface=\"eth1\",tenant=\"d-e_f\"} 7\n"));
	{
		int rx = 0, region = 0, reasons = 0;

		for (int i = 0; i < o.n; i++) {
			rx += !strncmp(o.line[i], "xsnap_rx_frames_total{", 22);
			region += !strncmp(o.line[i], "xsnap_region_frames{", 20);
			reasons += !strncmp(o.line[i], "xsnap_xdp_frames_total{", 23);
		}
		CHECK_EQ(rx, 6);
		CHECK_EQ(region, 2);
		CHECK_EQ(reasons, 2 * XSNAP_R_MAX);
	}
	out_free(&o);
}

/* Label values escape backslash, double quote and newline. */
TEST(label_escaping)
{
	struct xsnap_stats ist, tst;
	struct prom_tenant t = { "x", &tst };
	struct prom_iface ifc = { "a\"b\\c\nd", &ist, &t, 1 };
	struct out o = { 0 };

	fill(&ist, 0, 0);
	fill(&tst, 0, 0);
	REQUIRE(render(&o, &ifc, 1) == 0);
	CHECK(strstr(o.text, "xsnap_zerocopy{interface=\"a\\\"b\\\\c\\nd\"} 1\n"));
	out_free(&o);
}

/* Nothing attached: xsnap_interfaces 0 and no empty family. */
TEST(no_interface)
{
	struct out o = { 0 };

	REQUIRE(render(&o, NULL, 0) == 0);
	CHECK_EQ(o.n, 3);
	CHECK(!strcmp(o.line[2], "xsnap_interfaces 0"));
	out_free(&o);
}

/* An interface without tenants: its interface-wide families, no tenant's. */
TEST(no_tenant)
{
	struct xsnap_stats ist;
	struct prom_iface ifc = { "eth0", &ist, NULL, 0 };
	struct out o = { 0 };

	fill(&ist, 0, 0);
	REQUIRE(render(&o, &ifc, 1) == 0);
	CHECK(!strstr(o.text, "xsnap_rx_frames_total"));
	CHECK(strstr(o.text, "# TYPE xsnap_region_frames gauge\nxsnap_region_frames{interface=\"eth0\"}"));
	out_free(&o);
}

TEST_MAIN()
