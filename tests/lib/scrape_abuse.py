#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Misbehaving scrapers against xsnapd's metrics endpoint (test_daemon.sh
metrics_endpoint).  Prints one line per finding; the test asserts on them.

  scrape_abuse.py hang HOST PORT
      two connections that send nothing, one that sends part of a request
      head and then a byte every 200 ms, one that sends a 64 KiB head; while
      they hang, a normal scrape:
        huge STATUS              the status the 64 KiB head got
        scrape STATUS MS BYTES   the normal scrape, its time
        closed KIND MS           when the daemon closed each hanging one
                                 (KIND silent or drip; MS from its connect;
                                 'never' if not within 15 s)
  scrape_abuse.py limit HOST PORT N
      N connections that send nothing, then one more scrape, then the N
      close and a last scrape:
        over STATUS              what the one more got (expected 503)
        after STATUS             the scrape after the N closed
"""
import select
import socket
import sys
import time

REQ = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n"


def now_ms():
    return int(time.monotonic() * 1000)


def connect(host, port):
    return socket.create_connection((host, port), timeout=5)


def status_of(data):
    """The status code of a response, or 'none'."""
    line = data.split(b"\r\n", 1)[0].split()
    return line[1].decode() if len(line) >= 2 else "none"


def read_all(s, timeout=5.0):
    """Read until the peer closes (or the timeout); what came."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def scrape(host, port):
    t0 = now_ms()
    s = connect(host, port)
    s.sendall(REQ)
    data = read_all(s)
    s.close()
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return status_of(data), now_ms() - t0, len(body)


def hang(host, port):
    hanging = []  # (kind, socket, connect time)
    for _ in range(2):
        hanging.append(("silent", connect(host, port), now_ms()))
    d = connect(host, port)
    d.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    hanging.append(("drip", d, now_ms()))
    # a head far larger than the daemon takes (4 KiB): it answers 431 and
    # then reads and discards the rest until we close
    h = connect(host, port)
    try:
        h.sendall(b"GET /metrics HTTP/1.1\r\n" + b"X-Junk: " + b"a" * 65536 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    print("huge", status_of(read_all(h, 5.0)), flush=True)
    h.close()
    st, ms, n = scrape(host, port)
    print("scrape", st, ms, n, flush=True)
    left = {s.fileno(): (k, s, t) for k, s, t in hanging}
    for _, s, _ in hanging:
        s.setblocking(False)
    end = now_ms() + 15000
    next_drip = now_ms()
    while left and now_ms() < end:
        if now_ms() >= next_drip:
            next_drip = now_ms() + 200
            for k, s, _ in list(left.values()):
                if k == "drip":
                    try:
                        s.send(b"x")
                    except OSError:
                        pass
        r, _, _ = select.select(list(left), [], [], 0.05)
        for fd in r:
            k, s, t = left[fd]
            try:
                b = s.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                b = b""
            if not b:
                print("closed", k, now_ms() - t, flush=True)
                s.close()
                del left[fd]
    for k, s, _ in left.values():
        print("closed", k, "never", flush=True)
        s.close()


def limit(host, port, n):
    held = [connect(host, port) for _ in range(n)]
    # the daemon accepts in the order the kernel queued them: the n first
    s = connect(host, port)
    try:
        s.sendall(REQ)
    except (BrokenPipeError, ConnectionResetError):
        pass
    print("over", status_of(read_all(s, 5.0)), flush=True)
    s.close()
    for s in held:
        s.close()
    # closed by us: their slots are free as soon as the daemon reads EOF
    for _ in range(50):
        st, _, _ = scrape(host, port)
        if st == "200":
            break
        time.sleep(0.1)
    print("after", st, flush=True)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "hang":
        hang(host, port)
    elif mode == "limit":
        limit(host, port, int(sys.argv[4]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
