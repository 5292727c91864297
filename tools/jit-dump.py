#!/usr/bin/env python3
"""Disassemble the translator's code for one guest block.

usage: VMKIT_JIT_DUMP=FILE vm-run ...; tools/jit-dump.py FILE GUEST_RIP

FILE holds, per compiled block, a line "block GUEST HOST LEN" (hex) and
LEN bytes of host code.  The code is shown with objdump at its host
address; every compilation of that guest RIP is listed.
"""
import subprocess
import sys
import tempfile


def blocks(path):
    data = open(path, 'rb').read()
    pos = 0
    while pos < len(data):
        end = data.index(b'\n', pos)
        _, guest, host, length = data[pos:end].split()
        n = int(length, 16)
        code = data[end + 1:end + 1 + n]
        yield int(guest, 16), int(host, 16), code
        pos = end + 1 + n + 1


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    want = int(sys.argv[2], 16)
    found = False
    for guest, host, code in blocks(sys.argv[1]):
        if guest != want:
            continue
        found = True
        with tempfile.NamedTemporaryFile() as f:
            f.write(code)
            f.flush()
            print(f"guest {guest:#x}: {len(code)} bytes at {host:#x}")
            subprocess.run(['objdump', '-D', '-b', 'binary', '-m',
                            'i386:x86-64', f'--adjust-vma={host:#x}',
                            f.name], check=False)
    if not found:
        sys.exit(f"no block at guest {want:#x}")


main()
