#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Generate the committed frame corpus of tests/bpf/test_classify.

Every file is one raw Ethernet frame (no FCS) named

    NNN-CLASS-WHAT.EXPECT.bin

CLASS is the row of TESTING.md group A it covers (a1 .. a12, or "base" for
well-formed seed frames); EXPECT is what the parser (bpf/xsnap_parse.h) must
make of the bytes: "ok" (parsed), parsed and read in one of the ways counted
in addition to the verdict: "frag" (a non-first fragment without L4),
"bad_l4" (a UDP/TCP header that cannot be read: no ports), "tiny_frag" (a
first fragment whose UDP/TCP header goes on in the next fragment: ports from
its first 4 bytes), "l4_unknown" (an IPv6 chain longer than the parser
follows, or cut by a first fragment after its Fragment header), or the
XSNAP_R_* reason of a refused frame in lower case (short_l2, non_ip,
vlan_deep, bad_l3, ipv6_ext).  test_classify
checks every file against its EXPECT, then runs it through the XDP program
and the userspace reference under a fixed rule set, and uses the files as
seeds of its mutation fuzzer.

The frames are built here byte by byte, independently of the C frame
builders (tests/lib/frames.c) and of the parser, so a mistake in one of
those does not repeat itself in the corpus.  Standard library only.

    tests/bpf/corpus/gen_corpus.py [DIR]    (default: this script's directory)

The output is deterministic; re-running it must leave `git status` clean.
"""

import os
import struct
import sys

DMAC = bytes.fromhex("020000000002")
SMAC = bytes.fromhex("020000000001")

IP4_SRC, IP4_DST = "10.0.0.1", "10.2.0.1"
IP6_SRC, IP6_DST = "2001:db8::1", "2001:db8:0:1::2"


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    head, _, tail = a.partition("::")
    h = [int(x, 16) for x in head.split(":") if x]
    t = [int(x, 16) for x in tail.split(":") if x]
    words = h + [0] * (8 - len(h) - len(t)) + t
    return struct.pack("!8H", *words)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(ethertype, tags=()):
    """Ethernet header with VLAN tags [(tpid, vid), ...], outermost first."""
    b = DMAC + SMAC
    for tpid, vid in tags:
        b += struct.pack("!HH", tpid, vid & 0x0FFF)
    return b + struct.pack("!H", ethertype)


def set_byte(b, off, v):
    return b[:off] + bytes([v]) + b[off + 1:]


def payload(n, seed=0):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def udp(sport, dport, data, ulen=None):
    ulen = 8 + len(data) if ulen is None else ulen
    return struct.pack("!HHHH", sport, dport, ulen, 0) + data


def tcp(sport, dport, data, doff=5, opts=b""):
    opts = opts + b"\x01" * ((doff * 4 - 20) - len(opts)) if doff >= 5 else b""
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, 0x02, 65535, 0, 0)
    return hdr + opts + data


def icmp(data, v6=False):
    body = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, 0x1234, 1) + data
    if not v6:
        body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    return body


def ipv4(proto, l4, src=IP4_SRC, dst=IP4_DST, opts=b"", ihl=None, tot=None, frag=0,
         version=4):
    hl = 20 + len(opts)
    ihl = hl // 4 if ihl is None else ihl
    tot = hl + len(l4) if tot is None else tot
    hdr = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, 0, tot & 0xFFFF, 0x4242, frag, 64,
                      proto, 0, ip4(src), ip4(dst)) + opts
    hdr = hdr[:10] + struct.pack("!H", csum(hdr[:hl] if hl <= len(hdr) else hdr)) + hdr[12:]
    return hdr + l4


def ext(nh, hdrlen=0):
    """Hop-by-hop / routing / destination options header, (hdrlen + 1) * 8 bytes."""
    n = (hdrlen + 1) * 8
    body = bytes([nh, hdrlen, 1, n - 4]) + bytes(n - 4)
    return body


def frag6(nh, offset8=0, more=True):
    return struct.pack("!BBHI", nh, 0, (offset8 << 3) | (1 if more else 0), 0x1234)


def ipv6(nh, rest, src=IP6_SRC, dst=IP6_DST, plen=None, version=6):
    plen = len(rest) if plen is None else plen
    return struct.pack("!IHBB16s16s", version << 28, plen & 0xFFFF, nh, 64, ip6(src),
                       ip6(dst)) + rest


def chain(exts, last_nh, l4):
    """IPv6 extension chain: exts is [(type, hdrlen_or_fragspec)], returns (first nh, bytes)."""
    out = b""
    types = [t for t, _ in exts] + [last_nh]
    for i, (t, arg) in enumerate(exts):
        nxt = types[i + 1]
        if t == 44:
            out += frag6(nxt, *arg)
        else:
            out += ext(nxt, arg)
    return types[0], out + l4


FRAMES = []


def add(cls, what, expect, frame):
    FRAMES.append((cls, what, expect, frame))


def udp4(dport=9000, sport=40000, n=32, tags=(), dst=IP4_DST, src=IP4_SRC, opts=b""):
    return eth(0x0800, tags) + ipv4(17, udp(sport, dport, payload(n)), src, dst, opts)


def udp6(dport=9000, sport=40000, n=32, tags=(), dst=IP6_DST, src=IP6_SRC):
    return eth(0x86DD, tags) + ipv6(17, udp(sport, dport, payload(n)), src, dst)


def build():
    # ---- well-formed seeds (also the fuzzer's starting points) ----------------
    add("base", "udp4-9000", "ok", udp4())
    add("base", "udp4-53", "ok", udp4(53, 5353, 40))
    add("base", "udp4-range-20000", "ok", udp4(20000, 1024))
    add("base", "udp4-other-net", "ok", udp4(9001, dst="192.168.7.9", src="172.16.0.5"))
    add("base", "tcp4-80", "ok", eth(0x0800) + ipv4(6, tcp(40000, 80, payload(20))))
    add("base", "tcp4-443-opts", "ok",
        eth(0x0800) + ipv4(6, tcp(50000, 443, payload(10), doff=8)))
    add("base", "icmp4-echo", "ok", eth(0x0800) + ipv4(1, icmp(payload(56))))
    add("base", "udp6-9000", "ok", udp6())
    add("base", "tcp6-22", "ok", eth(0x86DD) + ipv6(6, tcp(33000, 22, payload(8))))
    add("base", "icmp6-echo", "ok", eth(0x86DD) + ipv6(58, icmp(payload(16), True)))
    add("base", "udp4-padded-60", "ok", udp4(9000, n=0) + bytes(60 - 42))
    add("base", "gre4-proto47", "ok", eth(0x0800) + ipv4(47, payload(24)))
    add("base", "sctp6-proto132", "ok", eth(0x86DD) + ipv6(132, payload(28)))
    add("base", "udp4-port-65535", "ok", udp4(65535, 1))

    # ---- A1: shorter than Ethernet; 14 zero bytes --------------------------------
    for n in (0, 1, 7, 13):
        add("a1", "short-%d" % n, "short_l2", udp4()[:n])
    add("a1", "zero-14", "non_ip", bytes(14))

    # ---- A2: not IP at L2 -------------------------------------------------------
    add("a2", "arp", "non_ip", eth(0x0806) + payload(28))
    add("a2", "8023-length", "non_ip", eth(0x05DC) + payload(46))
    add("a2", "ethertype-88b5", "non_ip", eth(0x88B5) + payload(46))
    add("a2", "vlan-arp", "non_ip", eth(0x0806, [(0x8100, 300)]) + payload(28))
    add("a2", "vlan-cut", "short_l2", (DMAC + SMAC + struct.pack("!HH", 0x8100, 300))[:16])
    add("a2", "qinq-inner-cut", "short_l2",
        DMAC + SMAC + struct.pack("!HHH", 0x88A8, 100, 0x8100))

    # ---- A3: VLAN stacks --------------------------------------------------------
    add("a3", "vlan1-8100", "ok", udp4(tags=[(0x8100, 100)]))
    add("a3", "vlan1-prio-tag", "ok", udp4(tags=[(0x8100, 0)]))
    add("a3", "vlan1-88a8", "ok", udp6(tags=[(0x88A8, 4095)]))
    add("a3", "vlan2-qinq", "ok", udp4(tags=[(0x88A8, 300), (0x8100, 100)]))
    add("a3", "vlan2-8100-8100", "ok", udp4(5000, tags=[(0x8100, 7), (0x8100, 8)]))
    add("a3", "vlan3", "vlan_deep", udp4(tags=[(0x88A8, 1), (0x8100, 2), (0x8100, 3)]))
    add("a3", "vlan4", "vlan_deep",
        udp6(tags=[(0x88A8, 1), (0x88A8, 2), (0x8100, 3), (0x8100, 4)]))

    # ---- A4: IPv4 IHL < 5, wrong version, truncated header ----------------------
    base = udp4()
    for ihl in (0, 1, 4):
        f = bytearray(base)
        f[14] = 0x40 | ihl
        add("a4", "ihl%d" % ihl, "bad_l3", bytes(f))
    f = bytearray(base)
    f[14] = 0x65
    add("a4", "version6-in-ipv4", "bad_l3", bytes(f))
    add("a4", "ip-header-cut", "bad_l3", base[:14 + 12])

    # ---- A5: options ------------------------------------------------------------
    add("a5", "ihl6-nop", "ok", udp4(opts=b"\x01" * 4))
    rr = bytes([7, 11, 4]) + bytes(8) + b"\x00"  # record route, 2 slots, then EOL
    add("a5", "ihl8-record-route", "ok", udp4(opts=rr))
    add("a5", "ihl15-max", "ok", udp4(opts=b"\x01" * 40))
    f = udp4(opts=b"\x01" * 40)
    add("a5", "ihl15-cut", "bad_l3", f[:14 + 40])

    # ---- A6: IPv4 total length ------------------------------------------------------
    def with_tot(tot, opts=b""):
        l4 = udp(40000, 9000, payload(32))
        return eth(0x0800) + ipv4(17, l4, opts=opts, tot=tot)

    add("a6", "tot-len-0", "bad_l3", with_tot(0))
    add("a6", "tot-len-below-ihl", "bad_l3", with_tot(27, opts=b"\x01" * 8))
    add("a6", "tot-len-beyond-frame", "bad_l3", with_tot(20 + 40 + 1))
    add("a6", "tot-len-short-padding", "bad_l4", with_tot(20 + 4))  # UDP cut by tot_len
    add("a6", "tot-len-exact-header", "ok", eth(0x0800) + ipv4(253, b""))

    # ---- A7: IPv4 fragments -----------------------------------------------------
    l4 = udp(40000, 9000, payload(32))
    add("a7", "first-fragment", "ok", eth(0x0800) + ipv4(17, l4, frag=0x2000))
    big = udp(40000, 9000, payload(32), ulen=2000)
    add("a7", "first-fragment-udp-len-whole", "ok", eth(0x0800) + ipv4(17, big, frag=0x2000))
    add("a7", "later-fragment", "frag", eth(0x0800) + ipv4(17, payload(40), frag=185))
    add("a7", "middle-fragment", "frag",
        eth(0x0800) + ipv4(17, payload(40), frag=0x2000 | 185))
    add("a7", "later-fragment-icmp", "frag",
        eth(0x0800) + ipv4(1, payload(24), frag=100, dst="10.1.2.3"))
    add("a7", "df-set", "ok", eth(0x0800) + ipv4(17, l4, frag=0x4000))
    # first fragments whose L4 header goes on in the next fragment (RFC 1858
    # tiny fragments): the ports are in the first 4 bytes, Linux reassembles
    # an IPv4 one of 8 bytes; fewer than 4 bytes: no ports
    add("a7", "first-fragment-l4-cut", "tiny_frag",
        eth(0x0800) + ipv4(17, udp(40000, 9000, b"")[:6], frag=0x2000))

    # ---- A8: TCP data offset ----------------------------------------------------------
    def tcp4(doff, data=payload(8), cut=None):
        seg = tcp(40000, 80, data, doff=doff)
        if cut is not None:
            seg = seg[:cut]
        return eth(0x0800) + ipv4(6, seg)

    add("a8", "doff0", "bad_l4", tcp4(0))
    add("a8", "doff4", "bad_l4", tcp4(4))
    add("a8", "doff15-max", "ok", tcp4(15, b""))
    add("a8", "doff-beyond", "bad_l4", eth(0x0800) + ipv4(6, set_byte(tcp(40000, 80, b""), 12, 0xF0)))
    add("a8", "header-cut", "bad_l4", tcp4(5, b"", cut=19))
    add("a8", "ipv6-doff-beyond", "bad_l4", eth(0x86DD) + ipv6(6, set_byte(tcp(1, 80, b""), 12, 0x60)))

    # ---- A9: UDP length ---------------------------------------------------------------
    def udp_len(ulen, n=32):
        return eth(0x0800) + ipv4(17, udp(40000, 9000, payload(n), ulen=ulen))

    add("a9", "len0", "bad_l4", udp_len(0))
    add("a9", "len7", "bad_l4", udp_len(7))
    add("a9", "len8-empty-payload-ok", "ok", udp_len(8, 0))
    add("a9", "len-shorter-than-ip", "ok", udp_len(16))
    add("a9", "len-beyond", "bad_l4", udp_len(41))
    add("a9", "header-cut", "bad_l4", eth(0x0800) + ipv4(17, udp(1, 2, b"")[:7]))
    add("a9", "ipv6-len-beyond", "bad_l4",
        eth(0x86DD) + ipv6(17, udp(40000, 9000, payload(8), ulen=17)))

    # ---- A10: IPv6 extension chains ------------------------------------------------
    pl = udp(40000, 9000, payload(16))
    kinds = [0, 43, 60]
    for n in range(0, 7):
        exts = [(kinds[i % 3], i % 3) for i in range(n)]
        nh, rest = chain(exts, 17, pl)
        add("a10", "chain%d" % n, "ok", eth(0x86DD) + ipv6(nh, rest))
    # longer than the parser follows: protocol and ports unknown (Linux
    # accepts any number of extension headers)
    exts = [(kinds[i % 3], 0) for i in range(7)]
    nh, rest = chain(exts, 17, pl)
    add("a10", "chain7-too-long", "l4_unknown", eth(0x86DD) + ipv6(nh, rest))
    nh, rest = chain([(0, 0), (43, 1), (60, 0), (44, (0, True))], 17, pl)
    add("a10", "hop-rt-dst-frag0", "ok", eth(0x86DD) + ipv6(nh, rest))
    nh, rest = chain([(0, 0), (44, (100, True))], 17, pl)
    add("a10", "hop-frag-later", "frag", eth(0x86DD) + ipv6(nh, rest))
    nh, rest = chain([(44, (0, False))], 6, tcp(1, 443, b""))
    add("a10", "atomic-fragment", "ok", eth(0x86DD) + ipv6(nh, rest))
    nh, rest = chain([(0, 0)], 50, payload(24))
    add("a10", "unknown-nh-esp", "ok", eth(0x86DD) + ipv6(nh, rest))
    add("a10", "no-next-header", "ok", eth(0x86DD) + ipv6(59, b""))
    nh, rest = chain([(60, 2)], 17, pl)
    add("a10", "ext-cut", "ipv6_ext", eth(0x86DD) + ipv6(nh, rest[:12]))
    nh, rest = chain([(60, 0)], 17, pl)
    add("a10", "ext-beyond-payload-len", "ipv6_ext",
        eth(0x86DD) + ipv6(nh, rest[:6], plen=6) + rest[6:8])
    add("a10", "payload-len-beyond-frame", "bad_l3",
        eth(0x86DD) + ipv6(17, pl, plen=len(pl) + 1))
    add("a10", "version4-in-ipv6", "bad_l3", eth(0x86DD) + ipv6(17, pl, version=4))
    add("a10", "ipv6-header-cut", "bad_l3", (eth(0x86DD) + ipv6(17, pl))[:14 + 39])
    nh, rest = chain([(0, 0)], 17, udp(1, 2, b"")[:4])
    add("a10", "udp-cut-after-ext", "bad_l4", eth(0x86DD) + ipv6(nh, rest))

    # ---- A11/A12: jumbo and multi-buffer frames ----------------------------------
    add("a11", "udp4-3000", "ok", udp4(9000, n=3000 - 42))
    add("a11", "udp4-5000-jumbo", "ok", udp4(9000, n=5000 - 42))
    add("a11", "tcp6-5000-jumbo", "ok",
        eth(0x86DD) + ipv6(6, tcp(40000, 80, payload(5000 - 14 - 40 - 20))))
    add("a12", "udp4-9000-jumbo", "ok", udp4(9000, n=9000 - 42))
    nh, rest = chain([(0, 0), (60, 1)], 17, udp(40000, 9000, payload(4000)))
    add("a12", "ipv6-ext-4100", "ok", eth(0x86DD) + ipv6(nh, rest))

    # ---- A7/A10: frames the kernel accepts that a rule could match --------------
    # (appended, so the numbers above stay)
    pl = udp(40000, 9000, payload(16))
    add("a7", "tiny-tcp-first-fragment-8", "tiny_frag",
        eth(0x0800) + ipv4(6, tcp(40000, 22, b"")[:8], frag=0x2000))
    add("a7", "tiny-tcp-first-fragment-3", "bad_l4",
        eth(0x0800) + ipv4(6, tcp(40000, 22, b"")[:3], frag=0x2000))
    add("a7", "tiny-udp-first-fragment-4", "tiny_frag",
        eth(0x0800) + ipv4(17, udp(40000, 9000, b"")[:4], frag=0x2000))
    add("a7", "tcp-first-fragment-options-cut", "tiny_frag",
        eth(0x0800) + ipv4(6, tcp(40000, 22, b"", doff=15)[:24], frag=0x2000))
    add("a7", "tcp-8-bytes-not-fragment", "bad_l4",
        eth(0x0800) + ipv4(6, tcp(40000, 22, b"")[:8]))
    nh, rest = chain([(44, (0, True))], 6, tcp(40000, 22, b"")[:8])
    add("a7", "tiny-tcp6-first-fragment-8", "tiny_frag", eth(0x86DD) + ipv6(nh, rest))
    nh, rest = chain([(60, 0)] * 7, 6, tcp(40000, 22, b""))
    add("a10", "chain7-tcp22", "l4_unknown", eth(0x86DD) + ipv6(nh, rest))
    nh, rest = chain([(60, 0)] * 8, 17, udp(40000, 9999, payload(8)))
    add("a10", "chain8-udp9999", "l4_unknown",
        eth(0x86DD) + ipv6(nh, rest, dst="2001:db8:0:1::9"))
    nh, rest = chain([(0, 0)] + [(60, 0)] * 6, 17, pl)
    add("a10", "chain7-other-net", "l4_unknown",
        eth(0x86DD) + ipv6(nh, rest, dst="2001:db8:5::1"))
    # a first fragment whose chain goes on in the next fragment: a
    # Destination Options header after the Fragment header, cut
    nh, rest = chain([(44, (0, True)), (60, 4)], 17, pl)
    add("a10", "frag-dstopts-cut", "l4_unknown", eth(0x86DD) + ipv6(nh, rest[:8 + 24]))
    nh, rest = chain([(44, (0, True)), (60, 0), (43, 0)], 6, tcp(1, 22, b""))
    add("a10", "frag-dstopts-then-cut", "l4_unknown", eth(0x86DD) + ipv6(nh, rest[:16]))
    nh, rest = chain([(44, (0, False)), (60, 4)], 17, pl)
    add("a10", "atomic-frag-dstopts-cut", "ipv6_ext", eth(0x86DD) + ipv6(nh, rest[:8 + 24]))
    nh, rest = chain([(0, 2), (44, (0, True))], 17, pl)
    add("a10", "hop-cut-before-frag", "ipv6_ext", eth(0x86DD) + ipv6(nh, rest[:16]))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    build()
    keep = set()
    for i, (cls, what, expect, frame) in enumerate(FRAMES):
        name = "%03d-%s-%s.%s.bin" % (i, cls, what, expect)
        keep.add(name)
        with open(os.path.join(out, name), "wb") as f:
            f.write(frame)
    # files of an earlier run under other names
    for name in os.listdir(out):
        if name.endswith(".bin") and name not in keep:
            os.unlink(os.path.join(out, name))
    print("%d frames written to %s" % (len(FRAMES), out))


if __name__ == "__main__":
    main()
