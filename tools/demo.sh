#!/bin/bash
# make demo: boot the guest kit on the best accelerator here, show it
# working (the guest reports its kernel, CPU and a checksum the host
# agrees with), power it off, exit 0.
set -euo pipefail
BUILD=${1:-build/dbg}
top=$(cd "$(dirname "$0")/.." && pwd)
kit=$("$top/tests/guestkit/build.sh" --print-dir)
echo "demo: booting Debian's kernel $(cat "$kit/VERSION") with a busybox initramfs"
echo "demo: host md5 of busybox: $(md5sum < "$kit/busybox" | cut -d' ' -f1)"
echo "demo: note: the DBT does not implement SSE yet, so busybox stops at its"
echo "demo: first SSE instruction; the kernel then panics and (panic=-1) the VM ends"
start=$(date +%s.%N)
set +e
printf '%s\n' 'uname -sr' 'grep -m1 "model name" /proc/cpuinfo' \
	'md5sum /bin/busybox' 'poweroff -f' |
	timeout 900 "$BUILD/vm-run" -v --no-reboot -m 256M --kernel "$kit/vmlinuz" \
		--initrd "$kit/initrd.gz" --append "console=ttyS0 panic=-1"
status=$?
set -e
end=$(date +%s.%N)
echo "demo: guest powered off with status $status after $(echo "$end - $start" | bc | cut -c1-5) s"
exit $status
