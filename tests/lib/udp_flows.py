#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Send UDP datagrams through the kernel stack from many source ports.

    udp_flows.py DST PORT --flows N [--per-flow K] [--sport FIRST]

One socket per source port (FIRST..FIRST+N-1), K datagrams each.  On a
multi-queue veth the sender's tx queue, and so the receiver's rx queue, is
chosen by the flow's hash (AF_PACKET and XDP_TX pick it by CPU instead), so
many flows reach every queue.  Prints "sent S".
"""
import argparse
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("--flows", type=int, default=256)
    ap.add_argument("--per-flow", type=int, default=4)
    ap.add_argument("--sport", type=int, default=20000)
    a = ap.parse_args()
    fam = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
    sent = 0
    for i in range(a.flows):
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.bind(("", a.sport + i))
            for k in range(a.per_flow):
                s.sendto(b"xsnap flow %d frame %d" % (i, k), (a.dst, a.port))
                sent += 1
        if i % 64 == 63:
            time.sleep(0.001)  # let the receiver's rings drain
    print("sent %d" % sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
