/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pcap_out: write xsnap frames as classic pcap through libpcap's writer, the
 * one piece of code xsnapctl (dump, snapshot) and the examples share.
 *
 * Files are DLT_EN10MB with nanosecond timestamps (magic 0xa1b23c4d), which
 * tcpdump -r and tshark -r read.  Receive times are CLOCK_MONOTONIC
 * (xsnap_frame_time_ns); they are turned into wall time with one offset,
 * CLOCK_REALTIME - CLOCK_MONOTONIC, taken when the file is opened.
 *
 * No call allocates memory per frame; libpcap buffers through stdio, so
 * xs_pcap_flush() after each receive batch is what makes frames visible to
 * a reader of a pipe.  Link with -lpcap.
 */
#ifndef XSNAP_PCAP_OUT_H
#define XSNAP_PCAP_OUT_H

#include <stdbool.h>
#include <stdint.h>

struct xsnap_frame;
struct xsnap_snap;
/* libpcap's pcap_t and pcap_dumper_t; <pcap/pcap.h> is not included here
 * because its struct bpf_insn clashes with <linux/bpf.h> (via libbpf.h) */
struct pcap;
struct pcap_dumper;

/* Snapshots xs_pcap_write_snaps() merges at most (one per interface). */
#define XS_PCAP_MAX_SNAPS 8

struct xs_pcap {
	struct pcap *pcap;	/* opened dead: only the writer's format */
	struct pcap_dumper *dump;
	int64_t wall_off_ns;	/* CLOCK_REALTIME - CLOCK_MONOTONIC at open */
	uint64_t frames;	/* frames written so far */
	bool to_stdout;
	int err;		/* first write error (errno), 0 if none */
	char name[256];		/* the path, or "stdout" */
	char msg[512];		/* what went wrong, after a failed call */
};

/**
 * xs_pcap_open() - create a pcap file and write its header.  A new file is
 * created 0600; a symbolic link is not followed; an existing regular file
 * (truncated) or FIFO is written only if the caller owns it.
 * @w: writer to initialise.
 * @path: file name, or "-" for stdout (the caller decides whether stdout
 *        may be a terminal).
 *
 * Return: 0, or -1 with w->msg naming the file and the cause.
 */
int xs_pcap_open(struct xs_pcap *w, const char *path);

/**
 * xs_pcap_write() - append frames, in the order given.
 *
 * Return: 0, or -1 after a write error (w->err, w->msg); later calls then
 * write nothing and fail again.
 */
int xs_pcap_write(struct xs_pcap *w, struct xsnap_frame *const *v, unsigned int n);

/**
 * xs_pcap_flush() - push what was written to the file or pipe.
 *
 * Return: 0, or -1 after a write error (w->err is EPIPE when the reader of
 * a pipe went away).
 */
int xs_pcap_flush(struct xs_pcap *w);

/**
 * xs_pcap_write_snaps() - write the frames of one or several snapshots
 * merged in receive-time order (each snapshot is already in order: one
 * tenant log per interface).
 * @w: writer.
 * @sn: snapshots (1..XS_PCAP_MAX_SNAPS), read to their end.
 * @nsn: number of snapshots.
 * @skip: leave out the oldest @skip frames of the merged sequence (to keep
 *        the newest N of several snapshots of N).
 *
 * Return: frames written (>= 0), or -1 with w->msg.
 */
int64_t xs_pcap_write_snaps(struct xs_pcap *w, struct xsnap_snap *const *sn, unsigned int nsn,
			    uint64_t skip);

/**
 * xs_pcap_close() - flush and close; the writer may be opened again.
 *
 * Return: 0, or -1 if any write failed (w->msg says which); the file holds
 * what was written before the failure.
 */
int xs_pcap_close(struct xs_pcap *w);

#endif /* XSNAP_PCAP_OUT_H */
