#!/usr/bin/env python3
"""Edit a vmkit snapshot's sections and make every CRC right again, so
that only the semantic checks of a load can find the damage (the layout
is vmkit.7's "The state stream").

  snapedit.py IN OUT EDIT...

EDIT is one of
  u8|u16|u32|u64,SECTION,OFFSET,VALUE   store VALUE at OFFSET of the payload
                                        (negative OFFSET: from its end)
  pci-end,SECTION                       print the offset after the PCI state
  grow-ram,BYTES                        the last RAM region BYTES bigger
                                        (its page bitmap grown to match)
  find-blob-end,SECTION,TAIL            print the offset of the u32 length
                                        of the blob followed by TAIL bytes
  cut,SECTION,OFFSET,LEN                remove LEN bytes at OFFSET of the
                                        payload (negative: from its end)
  version,SECTION,V                     the section's version V
  rename,SECTION,NAME                   the section named NAME
  format,V                              the file header's format V
"""
import struct
import sys
import zlib

FILE_HDR, SECT_HDR = 60, 68


def parse(data):
    sects, off = [], FILE_HDR
    while True:
        h = data[off:off + SECT_HDR]
        name = h[4:36].rstrip(b"\0").decode()
        inst, ver, flags, pad, ln, crc = struct.unpack("<IIIIQI", h[36:64])
        start = off + SECT_HDR + pad
        sects.append({"name": name, "inst": inst, "ver": ver, "flags": flags,
                      "pad": pad, "payload": bytearray(data[start:start + ln])})
        off = start + ln
        if name == "end":
            return sects


def write(data, sects):
    out = bytearray(data[:FILE_HDR])
    struct.pack_into("<I", out, 56, zlib.crc32(bytes(out[:56])))
    for s in sects:
        p = s["payload"]
        crc = 0 if s["flags"] & 1 else zlib.crc32(p)
        h = bytearray(b"SECT" + s["name"].encode().ljust(32, b"\0"))
        h += struct.pack("<IIIIQI", s["inst"], s["ver"], s["flags"], s["pad"],
                         len(p), crc)
        h += struct.pack("<I", zlib.crc32(h))
        out += h + b"\0" * s["pad"] + p
    return out


def find(sects, name):
    for s in sects:
        if s["name"] == name:
            return s
    sys.exit("snapedit: no section " + name)


def pci_end(p):
    n = struct.unpack_from("<I", p, 260)[0]
    return 264 + 16 * n + 32


def main():
    data = open(sys.argv[1], "rb").read()
    sects = parse(data)
    for e in sys.argv[3:]:
        f = e.split(",")
        if f[0] in ("u8", "u16", "u32", "u64"):
            s = find(sects, f[1])["payload"]
            off = int(f[2], 0)
            if off < 0:
                off += len(s)
            fmt = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q"}[f[0]]
            struct.pack_into(fmt, s, off, int(f[3], 0))
        elif f[0] == "cut":
            s = find(sects, f[1])["payload"]
            off, ln = int(f[2], 0), int(f[3], 0)
            if off < 0:
                off += len(s)
            if off < 0 or ln < 0 or off + ln > len(s):
                sys.exit("snapedit: cut outside the payload of " + f[1])
            del s[off:off + ln]
        elif f[0] == "version":
            find(sects, f[1])["ver"] = int(f[2], 0)
        elif f[0] == "rename":
            find(sects, f[1])["name"] = f[2]
        elif f[0] == "format":
            data = bytearray(data)
            struct.pack_into("<I", data, 8, int(f[1], 0))
        elif f[0] == "list":
            for s in sects:
                print(s["name"], s["inst"], len(s["payload"]))
            return
        elif f[0] == "pci-end":
            print(pci_end(find(sects, f[1])["payload"]))
            return
        elif f[0] == "find-blob-end":
            p, tail = find(sects, f[1])["payload"], int(f[2])
            for n in range(len(p)):
                at = len(p) - tail - n - 4
                if at < 0:
                    break
                if struct.unpack_from("<I", p, at)[0] == n:
                    print(at)
                    return
            sys.exit("snapedit: no blob found")
        elif f[0] == "grow-ram":
            s = find(sects, "ram-map")
            p, grow = s["payload"], int(f[1], 0)
            nr = struct.unpack_from("<I", p, 0)[0]
            off, regs = 4, []
            for _ in range(nr):
                gpa, size, doff, bl = struct.unpack_from("<QQQI", p, off)
                regs.append([gpa, size, doff, p[off + 28:off + 28 + bl]])
                off += 28 + bl
            regs[-1][1] += grow
            pages = regs[-1][1] // 4096
            regs[-1][3] = bytes(regs[-1][3]).ljust((pages + 7) // 8, b"\0")
            q = bytearray(struct.pack("<I", nr))
            for gpa, size, doff, bm in regs:
                q += struct.pack("<QQQI", gpa, size, doff, len(bm)) + bm
            s["payload"] = q
        else:
            sys.exit("snapedit: unknown edit " + e)
    open(sys.argv[2], "wb").write(write(data, sects))


main()
