// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pcap_out: xsnap frames to pcap with nanosecond timestamps (pcap_out.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xsnap/xsnap.h>

#include "pcap_out.h"

#define NSEC_PER_SEC 1000000000ull

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * (int64_t)NSEC_PER_SEC + ts.tv_nsec;
}

static int write_failed(struct xs_pcap *w, int err)
{
	if (!w->err) {
		w->err = err ? err : EIO;
		snprintf(w->msg, sizeof(w->msg), "write to %s: %s", w->name, strerror(w->err));
	}
	return -1;
}

/*
 * The capture file, opened for writing: frames may carry anything, and the
 * README's example writes to /tmp, so it is created 0600, never through a
 * symbolic link, and an existing file is reused (truncated) only if it is a
 * regular file or a FIFO of the caller's own: never one another user left
 * there for us to fill.  NULL with @msg set otherwise.
 */
static FILE *capture_open(const char *path, char *msg, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	struct stat st;
	FILE *f;

	if (fd < 0) {
		snprintf(msg, len, "cannot write %s: %s%s", path, strerror(errno),
			 errno == ELOOP ? " (a symbolic link: not followed)" : "");
		return NULL;
	}
	if (fstat(fd, &st) || (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))) {
		snprintf(msg, len, "cannot write %s: not a regular file or a FIFO", path);
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		snprintf(msg, len,
			 "cannot write %s: it exists and belongs to uid %u, not to us (remove it "
			 "or choose a new name)",
			 path, (unsigned int)st.st_uid);
		goto fail;
	}
	if (S_ISREG(st.st_mode) && ftruncate(fd, 0)) {
		snprintf(msg, len, "cannot write %s: %s", path, strerror(errno));
		goto fail;
	}
	f = fdopen(fd, "w");
	if (f)
		return f;
	snprintf(msg, len, "cannot write %s: %s", path, strerror(errno));
fail:
	close(fd);
	return NULL;
}

int xs_pcap_open(struct xs_pcap *w, const char *path)
{
	FILE *f = stdout;

	memset(w, 0, sizeof(*w));
	w->to_stdout = !strcmp(path, "-");
	snprintf(w->name, sizeof(w->name), "%s", w->to_stdout ? "stdout" : path);
	/* 65535: larger than any xsnap frame (3840), so caplen == len */
	w->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
						       PCAP_TSTAMP_PRECISION_NANO);
	if (!w->pcap) {
		snprintf(w->msg, sizeof(w->msg), "%s: libpcap cannot create a writer", w->name);
		return -1;
	}
	if (!w->to_stdout)
		f = capture_open(path, w->msg, sizeof(w->msg));
	w->dump = f ? pcap_dump_fopen(w->pcap, f) : NULL;
	if (!w->dump) {
		if (f) {
			snprintf(w->msg, sizeof(w->msg), "cannot write %s", pcap_geterr(w->pcap));
			if (f != stdout)
				fclose(f);
		}
		pcap_close(w->pcap);
		w->pcap = NULL;
		return -1;
	}
	w->wall_off_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	/* the header reaches a pipe reader at once */
	if (!xs_pcap_flush(w))
		return 0;
	pcap_dump_close(w->dump);
	pcap_close(w->pcap);
	w->dump = NULL;
	w->pcap = NULL;
	return -1;
}

int xs_pcap_write(struct xs_pcap *w, struct xsnap_frame *const *v, unsigned int n)
{
	if (w->err)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t = xsnap_frame_time_ns(v[i]) + (uint64_t)w->wall_off_ns;
		struct pcap_pkthdr h = {
			.caplen = xsnap_frame_len(v[i]),
			.len = xsnap_frame_len(v[i]),
		};

		/* nanosecond precision: tv_usec carries nanoseconds */
		h.ts.tv_sec = (time_t)(t / NSEC_PER_SEC);
		h.ts.tv_usec = (suseconds_t)(t % NSEC_PER_SEC);
		pcap_dump((u_char *)w->dump, &h, xsnap_frame_data(v[i]));
	}
	w->frames += n;
	if (ferror(pcap_dump_file(w->dump)))
		return write_failed(w, errno);
	return 0;
}

int xs_pcap_flush(struct xs_pcap *w)
{
	if (w->err)
		return -1;
	if (pcap_dump_flush(w->dump))
		return write_failed(w, errno);
	return 0;
}

int64_t xs_pcap_write_snaps(struct xs_pcap *w, struct xsnap_snap *const *sn, unsigned int nsn,
			    uint64_t skip)
{
	struct xsnap_frame *v[XS_PCAP_MAX_SNAPS][64];
	unsigned int have[XS_PCAP_MAX_SNAPS] = { 0 }, pos[XS_PCAP_MAX_SNAPS] = { 0 };
	bool done[XS_PCAP_MAX_SNAPS] = { false };
	int64_t written = 0;

	if (!nsn || nsn > XS_PCAP_MAX_SNAPS) {
		snprintf(w->msg, sizeof(w->msg), "%u snapshots to merge (1..%d)", nsn,
			 XS_PCAP_MAX_SNAPS);
		return -1;
	}
	for (;;) {
		int best = -1;

		/* refill exhausted batches; pick the oldest head of all */
		for (unsigned int k = 0; k < nsn; k++) {
			if (pos[k] == have[k] && !done[k]) {
				int r = xsnap_snap_next(sn[k], v[k], 64);

				if (r < 0) {
					snprintf(w->msg, sizeof(w->msg), "reading a snapshot: %s",
						 strerror(-r));
					return -1;
				}
				have[k] = (unsigned int)r;
				pos[k] = 0;
				done[k] = !r;
			}
			if (pos[k] < have[k] &&
			    (best < 0 || xsnap_frame_time_ns(v[k][pos[k]]) <
						 xsnap_frame_time_ns(v[best][pos[best]])))
				best = (int)k;
		}
		if (best < 0)
			break;
		if (skip) {
			skip--;
			pos[best]++;
			continue;
		}
		if (xs_pcap_write(w, &v[best][pos[best]++], 1))
			return -1;
		written++;
	}
	return xs_pcap_flush(w) ? -1 : written;
}

int xs_pcap_close(struct xs_pcap *w)
{
	int r = 0;

	if (!w->dump)
		return 0;
	if (xs_pcap_flush(w))
		r = -1;
	pcap_dump_close(w->dump);
	pcap_close(w->pcap);
	w->dump = NULL;
	w->pcap = NULL;
	return r;
}
