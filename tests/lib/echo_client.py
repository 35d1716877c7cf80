#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""UDP echo client of the lab: 20 datagrams to IPV4:PORT and 20 to IPV6:PORT,
each answered with the same bytes from that address and port.

  echo_client.py IPV4 IPV6 PORT      prints "echoed 40" (exits 1 on a mismatch)
"""
import socket
import sys


def main(argv):
    port = int(argv[3])
    ok = 0
    for fam, dst in ((socket.AF_INET, argv[1]), (socket.AF_INET6, argv[2])):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind(("", 0))
        s.settimeout(3)
        for i in range(20):
            msg = b"ping %d %d" % (fam, i)
            s.sendto(msg, (dst, port))
            data, src = s.recvfrom(100)
            if data != msg or src[0] != dst or src[1] != port:
                print(f"echo {i}: got {data!r} from {src}, sent {msg!r} to {dst}:{port}")
                return 1
            ok += 1
    print("echoed", ok)
    return 0


sys.exit(main(sys.argv))
