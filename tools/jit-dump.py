#!/usr/bin/env python3
"""Disassemble the translator's code for one guest block.

usage: VMKIT_JIT_DUMP=FILE vm-run ...; tools/jit-dump.py FILE GUEST_RIP
       tools/jit-dump.py --perf PERF_DATA FILE GUEST_RIP

FILE holds, per compiled block, a line "block GUEST HOST LEN" (hex) and
LEN bytes of host code.  The code is shown with objdump at its host
address; every compilation of that guest RIP is listed.  The moves a
link makes into its target's register entry are kept as blocks too,
under the source block's RIP with bit 63 set ("link:54ba32" selects
them, every target of that block).

With --perf, each instruction is prefixed by the number of perf samples
taken at it, from a recording of the same run:

    VMKIT_JIT_DUMP=jit.bin VMKIT_JIT_PERFMAP=1 perf record -o perf.data \\
        vm-run ...
    tools/jit-dump.py --perf perf.data jit.bin 54b930

(VMKIT_JIT_PERFMAP lets perf name samples in translated code; without
hardware counters the samples are timer-based and land an instruction or
two after the one that cost them.)  Compilations without samples are
left out.
"""
import collections
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


def perf_samples(path):
    """Samples per host address, from perf script."""
    out = subprocess.run(['perf', 'script', '-i', path, '-F', 'ip'],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"perf script -i {path} failed: {out.stderr.strip()}")
    count = collections.Counter()
    for line in out.stdout.split():
        try:
            count[int(line, 16)] += 1
        except ValueError:
            pass
    return count


def disassemble(host, code):
    with tempfile.NamedTemporaryFile() as f:
        f.write(code)
        f.flush()
        out = subprocess.run(['objdump', '-D', '-b', 'binary', '-m',
                              'i386:x86-64', f'--adjust-vma={host:#x}',
                              f.name], capture_output=True, text=True,
                             check=False)
    return out.stdout


def main():
    args = sys.argv[1:]
    samples = None
    if len(args) == 4 and args[0] == '--perf':
        samples = perf_samples(args[1])
        args = args[2:]
    if len(args) != 2:
        sys.exit(__doc__)
    want = args[1]
    want = (int(want[5:], 16) | 1 << 63 if want.startswith('link:')
            else int(want, 16))
    found = False
    for guest, host, code in blocks(args[0]):
        if guest != want:
            continue
        found = True
        if samples is None:
            print(f"guest {guest:#x}: {len(code)} bytes at {host:#x}")
            print(disassemble(host, code), end='')
            continue
        total = sum(n for a, n in samples.items()
                    if host <= a < host + len(code))
        if total == 0:
            continue
        print(f"guest {guest:#x}: {len(code)} bytes at {host:#x}, "
              f"{total} samples")
        for line in disassemble(host, code).splitlines():
            addr = line.split(':', 1)[0].strip()
            try:
                n = samples.get(int(addr, 16), 0)
            except ValueError:
                continue
            print(f"{n:6d} {line}")
    if not found:
        sys.exit(f"no block at guest {want:#x}")


main()
