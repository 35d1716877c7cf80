#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Numbered UDP datagrams through the plain socket module (test_preload.sh).

    udp_payloads.py send DST PORT N [FIRST] [--flows K]
                                       N datagrams (numbers FIRST.., default
                                       0), paced, to DST:PORT (IPv6 when DST
                                       has a colon); --flows K: from K
                                       sockets (source ports) in turn
    udp_payloads.py recv PORT N OUT [--poll]
                                       bind 0.0.0.0:PORT, print "bound", write
                                       each datagram's bytes as one hex line
                                       to OUT until N came (N 0: until
                                       killed; --poll: wait with
                                       select.poll before each recvfrom;
                                       --selectors: a non-blocking socket
                                       in selectors.DefaultSelector (epoll),
                                       read until BlockingIOError;
                                       --wait S: sleep S seconds after
                                       "bound", so the datagrams wait;
                                       --fork: fork a child that exits at
                                       once, before "bound")
    udp_payloads.py expect N           the hex lines recv writes for N
    udp_payloads.py expect-raw N       the N payloads back to back (what
                                       `socat -u UDP-RECV:PORT -` writes)

Datagram i carries "%06d:" % i and then i*37 % 1400 bytes of a pattern, so
sizes vary from 7 to 1406 bytes and every byte is checked.  The receiver is
an ordinary program: nothing in it knows about xsnap.
"""
import os
import select
import socket
import sys
import time


def payload(i):
    head = b"%06d:" % i
    return head + bytes((i * 7 + k) & 0xFF for k in range(i * 37 % 1400))


def recv_selectors(s, n, f):
    """The usual event loop: a non-blocking socket in an epoll selector,
    read until it would block."""
    import selectors
    sel = selectors.DefaultSelector()
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    got = 0
    while n == 0 or got < n:
        for _key, _ev in sel.select(timeout=10):
            while True:
                try:
                    data, _src = s.recvfrom(65535)
                except BlockingIOError:
                    break
                f.write(data.hex() + "\n")
                f.flush()
                got += 1
    sel.close()


def main():
    cmd = sys.argv[1]
    if cmd == "expect":
        for i in range(int(sys.argv[2])):
            print(payload(i).hex())
    elif cmd == "expect-raw":
        for i in range(int(sys.argv[2])):
            sys.stdout.buffer.write(payload(i))
    elif cmd == "send":
        args = sys.argv[2:]
        nflows = 1
        if "--flows" in args:
            k = args.index("--flows")
            nflows = int(args[k + 1])
            del args[k:k + 2]
        dst, port, n = args[0], int(args[1]), int(args[2])
        first = int(args[3]) if len(args) > 3 else 0
        fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
        socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(nflows)]
        for i in range(first, first + n):
            socks[i % nflows].sendto(payload(i), (dst, port))
            time.sleep(0.001)
        for s in socks:
            s.close()
        print("sent", n)
    elif cmd == "recv":
        port, n, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        use_poll = "--poll" in sys.argv[5:]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        p = select.poll()
        p.register(s.fileno(), select.POLLIN)
        if "--fork" in sys.argv[5:]:
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        print("bound", flush=True)
        if "--wait" in sys.argv[5:]:
            time.sleep(float(sys.argv[sys.argv.index("--wait") + 1]))
        with open(out, "w") as f:
            if "--selectors" in sys.argv[5:]:
                recv_selectors(s, n, f)
            else:
                got = 0
                while n == 0 or got < n:
                    if use_poll:
                        while not p.poll(1000):
                            pass
                    data, _src = s.recvfrom(65535)
                    f.write(data.hex() + "\n")
                    f.flush()
                    got += 1
        print("received", n, flush=True)
    else:
        sys.exit("usage: udp_payloads.py send|recv|expect ...")


if __name__ == "__main__":
    main()
