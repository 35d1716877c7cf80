/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The closer: a thread that closes descriptors whose close() may sleep, so
 * that xsnapd's loop never does.
 *
 * A descriptor another process passed with SCM_RIGHTS can make its last
 * close() sleep for as long as that process likes (a TCP socket with
 * SO_LINGER whose data cannot drain; TESTING.md E20), and so can the close
 * of a Unix socket whose queue still holds such descriptors in flight (the
 * kernel drops them at that close, in the closing thread).  xsnapd refuses
 * descriptors from clients (SO_PASSRIGHTS 0); where the kernel cannot
 * refuse them, every client connection that carries some is handed here
 * instead of being closed by the loop.
 *
 * The closer drains what such a connection still holds in flight, makes
 * every socket among those descriptors close abortively (SO_LINGER 0),
 * closes them, then the connection.  Its queue is bounded: when it is
 * full, closer_push() refuses and the caller keeps the descriptor until
 * there is room (it never closes it itself).  A close that sleeps anyway
 * (another kind of file) holds up only this thread.
 */
#ifndef XSNAPD_CLOSER_H
#define XSNAPD_CLOSER_H

#include <stdbool.h>

struct closer;

/* Start the thread with a queue of @cap descriptors.  NULL and errno set on
 * failure. */
struct closer *closer_start(unsigned int cap);
/* Queue @fd for closing: true, or false (queue full, @fd untouched). */
bool closer_push(struct closer *cl, int fd);
/* Free places in the queue. */
unsigned int closer_room(struct closer *cl);
/* Descriptors closed so far (for the log). */
unsigned long closer_done(struct closer *cl);
/*
 * Stop the thread: it finishes the close in progress and what is queued,
 * for at most @wait_ms; a thread still stuck in a close() after that is
 * left to the process exit (which does not linger) and the queue is not
 * freed.  Never blocks longer than @wait_ms.
 */
void closer_stop(struct closer *cl, int wait_ms);

#endif /* XSNAPD_CLOSER_H */
