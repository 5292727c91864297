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
start=$(date +%s.%N)
printf '%s\n' 'uname -sr' 'grep -m1 "model name" /proc/cpuinfo' \
	'md5sum /bin/busybox' 'poweroff -f' |
	"$BUILD/vm-run" -v -m 256M --kernel "$kit/vmlinuz" \
		--initrd "$kit/initrd.gz" --append "console=ttyS0 quiet"
status=$?
end=$(date +%s.%N)
echo "demo: guest powered off with status $status after $(echo "$end - $start" | bc | cut -c1-5) s"
exit $status
