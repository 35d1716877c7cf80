// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The closer thread (see closer.h): closes, off xsnapd's loop, descriptors
 * whose close() may sleep.  One mutex guards the queue; the loop only ever
 * takes it for a push or a look at the room, never while a close runs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "closer.h"

#ifndef SCM_MAX_FD
#define SCM_MAX_FD 253	/* descriptors one message can carry (include/net/scm.h) */
#endif
#define DRAIN_MAX 1024	/* messages read from one socket before it is closed */
#define DRAIN_DEPTH 2	/* sockets in flight inside sockets in flight: drained this deep */

struct closer {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t work;	/* queue not empty, or stop */
	pthread_cond_t idle;	/* the thread finished (stopped) */
	int *q;
	unsigned int cap, head, n;
	bool stop, stopped;
	unsigned long done;
};

static void dispose(int fd, int depth);

/*
 * Read what a Unix socket still holds, so the descriptors in flight in it
 * are closed here, one by one, each after SO_LINGER 0, instead of by the
 * kernel at the socket's close.  Bounded: a peer that is still writing (a
 * socket we did not shut down) cannot keep us here.
 */
static void drain(int fd, int depth)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * SCM_MAX_FD)];
		struct cmsghdr align;
	} u;
	char buf[512];

	for (int i = 0; i < DRAIN_MAX; i++) {
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				     .msg_controllen = sizeof(u.b) };
		ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;	/* EAGAIN: empty; or not a socket we can read */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t k;

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k; j++) {
				int rfd;

				memcpy(&rfd, CMSG_DATA(c) + j * sizeof(int), sizeof(int));
				dispose(rfd, depth + 1);
			}
		}
		/* 0 is the end of a shut-down socket, or an empty message:
		 * go on (bounded), an empty message may precede others */
	}
}

static void dispose(int fd, int depth)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct stat st;
	int dom;
	socklen_t len = sizeof(dom);

	if (!fstat(fd, &st) && S_ISSOCK(st.st_mode)) {
		if (depth < DRAIN_DEPTH && !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) &&
		    dom == AF_UNIX)
			drain(fd, depth);
		/* a TCP socket whose data cannot drain would make its last
		 * close wait for the linger time: reset it instead */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

static void *closer_main(void *arg)
{
	struct closer *cl = arg;

	pthread_mutex_lock(&cl->lock);
	for (;;) {
		int fd;

		while (!cl->n && !cl->stop)
			pthread_cond_wait(&cl->work, &cl->lock);
		if (!cl->n)
			break;
		fd = cl->q[cl->head];
		cl->head = (cl->head + 1) % cl->cap;
		cl->n--;
		pthread_mutex_unlock(&cl->lock);
		dispose(fd, 0);
		pthread_mutex_lock(&cl->lock);
		cl->done++;
	}
	cl->stopped = true;
	pthread_cond_broadcast(&cl->idle);
	pthread_mutex_unlock(&cl->lock);
	return NULL;
}

struct closer *closer_start(unsigned int cap)
{
	struct closer *cl = calloc(1, sizeof(*cl));
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	if (!cl || !cap || !(cl->q = calloc(cap, sizeof(int)))) {
		free(cl);
		errno = ENOMEM;
		return NULL;
	}
	cl->cap = cap;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_cond_init(&cl->work, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cl->idle, &ca);
	pthread_condattr_destroy(&ca);
	/* signals are the loop's (signalfd): the thread blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&cl->tid, NULL, closer_main, cl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&cl->idle);
		pthread_cond_destroy(&cl->work);
		pthread_mutex_destroy(&cl->lock);
		free(cl->q);
		free(cl);
		errno = err;
		return NULL;
	}
	pthread_setname_np(cl->tid, "xsnapd-closer");
	return cl;
}

bool closer_push(struct closer *cl, int fd)
{
	bool ok;

	pthread_mutex_lock(&cl->lock);
	ok = cl->n < cl->cap && !cl->stop;
	if (ok) {
		cl->q[(cl->head + cl->n) % cl->cap] = fd;
		cl->n++;
		pthread_cond_signal(&cl->work);
	}
	pthread_mutex_unlock(&cl->lock);
	return ok;
}

unsigned int closer_room(struct closer *cl)
{
	unsigned int r;

	pthread_mutex_lock(&cl->lock);
	r = cl->stop ? 0 : cl->cap - cl->n;
	pthread_mutex_unlock(&cl->lock);
	return r;
}

unsigned long closer_done(struct closer *cl)
{
	unsigned long n;

	pthread_mutex_lock(&cl->lock);
	n = cl->done;
	pthread_mutex_unlock(&cl->lock);
	return n;
}

void closer_stop(struct closer *cl, int wait_ms)
{
	struct timespec ts;
	bool stopped;

	if (!cl)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cl->lock);
	cl->stop = true;
	pthread_cond_signal(&cl->work);
	while (!cl->stopped && pthread_cond_timedwait(&cl->idle, &cl->lock, &ts) != ETIMEDOUT)
		;
	stopped = cl->stopped;
	pthread_mutex_unlock(&cl->lock);
	if (!stopped) {
		/* stuck in a close(): the process exit ends it (an exiting
		 * process does not linger); its queue stays allocated */
		pthread_detach(cl->tid);
		return;
	}
	pthread_join(cl->tid, NULL);
	pthread_cond_destroy(&cl->idle);
	pthread_cond_destroy(&cl->work);
	pthread_mutex_destroy(&cl->lock);
	free(cl->q);
	free(cl);
}
