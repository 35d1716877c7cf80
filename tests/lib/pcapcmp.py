#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Compare frames in pcap files (no dependencies beyond the standard library).

  pcapcmp.py count FILE                      print the number of frames
  pcapcmp.py reflect FILE TX_MAC [--forward] frames from TX_MAC, and the frames
      sent back to it, must pair up in order: byte-identical (--forward) or
      with MAC, IP and port fields swapped
  pcapcmp.py tail SENT_PCAP TX_MAC GOT_PCAP  GOT must be byte-identical to the
      last len(GOT) frames of SENT that came from TX_MAC, in order
  pcapcmp.py count-equal FILE HEX            print how many frames equal HEX
  pcapcmp.py count-src4 FILE A.B.C.D         print how many IPv4 frames have
      that source address
Exit 0 if the check holds, 1 (with a reason) if not.
"""
import struct
import sys


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit(f"{path}: not a little-endian pcap (magic {magic:#x})")
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out, magic == 0xA1B23C4D


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def swapped(f):
    b = bytearray(f)
    b[0:6], b[6:12] = f[6:12], f[0:6]
    et = int.from_bytes(f[12:14], "big")
    l3 = 14
    if et == 0x0800:
        ihl = (f[l3] & 15) * 4
        b[l3 + 12:l3 + 16], b[l3 + 16:l3 + 20] = f[l3 + 16:l3 + 20], f[l3 + 12:l3 + 16]
        l4 = l3 + ihl
    elif et == 0x86DD:
        b[l3 + 8:l3 + 24], b[l3 + 24:l3 + 40] = f[l3 + 24:l3 + 40], f[l3 + 8:l3 + 24]
        l4 = l3 + 40
    else:
        return bytes(b)
    b[l4:l4 + 2], b[l4 + 2:l4 + 4] = f[l4 + 2:l4 + 4], f[l4:l4 + 2]
    return bytes(b)


def main(argv):
    if argv[1] == "count":
        print(len(frames(argv[2])[0]))
        return 0
    if argv[1] == "reflect":
        fr, _ = frames(argv[2])
        tx = mac(argv[3])
        if "--forward" in argv:
            # sent back unmodified: each frame from TX_MAC is seen twice
            # (out and back in), identical
            seen = {}
            for f in fr:
                if f[6:12] == tx:
                    seen[f] = seen.get(f, 0) + 1
            bad = [n for n in seen.values() if n != 2]
            if not seen or bad:
                print(f"{len(seen)} distinct frames, {len(bad)} not seen exactly twice")
                return 1
            print(f"{len(seen)} frames came back byte-exact")
            return 0
        sent = [f for f in fr if f[6:12] == tx]
        back = [f for f in fr if f[0:6] == tx and f[6:12] != tx]
        if not sent or len(sent) != len(back):
            print(f"sent {len(sent)} frames, got {len(back)} back")
            return 1
        for i, (s, r) in enumerate(zip(sent, back)):
            want = swapped(s)
            if r != want:
                print(f"frame {i}: got {r.hex()}\n want {want.hex()}")
                return 1
        print(f"{len(back)} frames came back byte-exact")
        return 0
    if argv[1] == "count-equal":
        want = bytes.fromhex(argv[3])
        print(sum(1 for f in frames(argv[2])[0] if f == want))
        return 0
    if argv[1] == "count-src4":
        src = bytes(int(x) for x in argv[3].split("."))
        print(sum(1 for f in frames(argv[2])[0]
                  if f[12:14] == b"\x08\x00" and f[26:30] == src))
        return 0
    if argv[1] == "tail":
        sent = [f for f in frames(argv[2])[0] if f[6:12] == mac(argv[3])]
        got, nsec = frames(argv[4])
        if not got or len(got) > len(sent):
            print(f"got {len(got)} frames, sent {len(sent)}")
            return 1
        if got != sent[-len(got):]:
            for i, (g, s) in enumerate(zip(got, sent[-len(got):])):
                if g != s:
                    print(f"frame {i} differs:\n got  {g.hex()}\n sent {s.hex()}")
                    break
            return 1
        print(f"{len(got)} frames identical to the last ones sent"
              f" ({'nanosecond' if nsec else 'microsecond'} pcap)")
        return 0
    print(__doc__)
    return 2


sys.exit(main(sys.argv))
