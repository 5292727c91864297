#!/usr/bin/env python3
# Makes the small seed images in tests/fuzz/vdi-vpc-seeds (run from that
# directory's parent as: python3 mk-vdi-vpc-seeds.py): dynamic VHDs with 4 KiB and
# 512-byte blocks (qemu-img makes only 2 MiB ones, too big to fuzz well), a
# fixed VHD, and short VDIs whose blocks start inside the file.
import struct, os
def csum(b, at):
    s = sum(b[:at]) + sum(b[at+4:])
    return (~s) & 0xffffffff
def footer(size, typ, doff, cyl=0, h=0, sec=0, app=b'qem2'):
    f = bytearray(512)
    f[0:8] = b'conectix'
    struct.pack_into('>IIQI4sI4sQQHBBI', f, 8, 2, 0x10000, doff, 0, app, 0x50003, b'Wi2k', size, size, cyl, h, sec, typ)
    struct.pack_into('>I', f, 64, csum(f, 64))
    return bytes(f)
def vhd_dyn(size, bs, blocks_alloc):
    n = (size + bs - 1) // bs
    bat_off = 1536
    batlen = (n * 4 + 511) & ~511
    d = bytearray(1024)
    d[0:8] = b'cxsparse'
    struct.pack_into('>QQIII', d, 8, 0xffffffffffffffff, bat_off, 0x10000, n, bs)
    struct.pack_into('>I', d, 36, csum(d, 36))
    bitmap = ((bs // 4096) + 511) & ~511
    bat = [0xffffffff] * n
    data = bytearray()
    off = bat_off + batlen
    for i in blocks_alloc:
        bat[i] = off // 512
        data += b'\xff' * bitmap + bytes([0x40 + i]) * bs
        off += bitmap + bs
    f = footer(size, 3, 512)
    batb = b''.join(struct.pack('>I', x) for x in bat).ljust(batlen, b'\xff')
    return f + bytes(d) + batb + bytes(data) + f
# differencing: parent name and W2ru/MacX locators after the BAT, one
# block with a partly clear sector bitmap (its parent is never there:
# the harness opens without backing files)
def vhd_diff(size, bs):
    n = (size + bs - 1) // bs
    bat_off = 1536
    batlen = (n * 4 + 511) & ~511
    loc_off = bat_off + batlen
    w2ru = '.\\parent.vhd'.encode('utf-16-le')
    macx = b'file:///tmp/parent.vhd'
    d = bytearray(1024)
    d[0:8] = b'cxsparse'
    struct.pack_into('>QQIII', d, 8, 0xffffffffffffffff, bat_off, 0x10000, n, bs)
    d[40:56] = bytes(range(16))
    name = 'parent.vhd'.encode('utf-16-be')
    d[64:64 + len(name)] = name
    struct.pack_into('>4sIIIQ', d, 576, b'W2ru', 512, len(w2ru), 0, loc_off)
    struct.pack_into('>4sIIIQ', d, 600, b'MacX', 512, len(macx), 0, loc_off + 512)
    struct.pack_into('>I', d, 36, csum(d, 36))
    bitmap = ((bs // 4096) + 511) & ~511
    off = loc_off + 1024
    bat = [0xffffffff] * n
    bat[1] = off // 512
    data = b'\xa5' + b'\0' * (bitmap - 1) + b'\x77' * bs
    f = footer(size, 4, 512)
    batb = b''.join(struct.pack('>I', x) for x in bat).ljust(batlen, b'\xff')
    locs = w2ru.ljust(512, b'\0') + macx.ljust(512, b'\0')
    return f + bytes(d) + batb + locs + data + f
open('vdi-vpc-seeds/vhd-diff', 'wb').write(vhd_diff(32 * 1024, 4096))
open('vdi-vpc-seeds/vhd-4k', 'wb').write(vhd_dyn(64 * 1024, 4096, [0, 3, 7]))
open('vdi-vpc-seeds/vhd-512', 'wb').write(vhd_dyn(16 * 1024, 512, [1, 2, 30]))
open('vdi-vpc-seeds/vhd-fixed', 'wb').write(b'\x11' * 8192 + footer(8192, 2, 0xffffffffffffffff))
# VDI: 1 MiB blocks, a short file: blocks start inside it, the rest reads zeros
def vdi(nblocks, disk, entries, fsize, typ=1):
    h = bytearray(512)
    h[0:35] = b'<<< QEMU VM Virtual Disk Image >>>\n'
    struct.pack_into('<IIII', h, 0x40, 0xbeda107f, 0x00010001, 0x180, typ)
    data_off = 512 + ((nblocks * 4 + 511) & ~511)
    struct.pack_into('<II', h, 0x154, 512, data_off)
    struct.pack_into('<I', h, 0x168, 512)
    struct.pack_into('<QIIII', h, 0x170, disk, 1 << 20, 0, nblocks, sum(1 for e in entries if e < 0xfffffffe))
    m = b''.join(struct.pack('<I', e) for e in entries).ljust(data_off - 512, b'\0')
    body = bytes(h) + m
    return (body + bytes(range(256)) * ((fsize - len(body)) // 256 + 1))[:fsize]
F = 0xffffffff
open('vdi-vpc-seeds/vdi-short', 'wb').write(vdi(4, 4 << 20, [0, F, F, F], 4096))
open('vdi-vpc-seeds/vdi-static', 'wb').write(vdi(1, (1 << 20) - 512, [0], 6000, 2))
# differencing: type 4 with parent UUIDs and the name in the comment
# (no parent is opened: the harness opens without backing files)
dv = bytearray(vdi(4, 4 << 20, [F, 0, F, 0xfffffffe], 4096, 4))
dv[0x54:0x54 + 23] = b'vmkit-parent=parent.vdi'
dv[0x1a8:0x1c8] = bytes(range(1, 33))
open('vdi-vpc-seeds/vdi-diff', 'wb').write(bytes(dv))
open('vdi-vpc-seeds/vdi-big', 'wb').write(vdi(200, 200 << 20, [F] * 199 + [0], 2048))
