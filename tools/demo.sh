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
echo "demo: (on the DBT, vmkit's own CPU, this takes about a minute here: the"
echo "demo: interpreter tier runs the kernel's decompressor and boot)"
disk=$(mktemp /tmp/vmkit-demo.XXXXXX.img)
trap 'rm -f "$disk"' EXIT
printf 'a disk from host\n' > "$disk"
truncate -s 16M "$disk"
echo "demo: the guest's /dev/vda is $disk"
start=$(date +%s.%N)
set +e
printf '%s\n' 'uname -sr' 'grep -m1 "model name" /proc/cpuinfo' \
	'md5sum /bin/busybox' 'head -c 16 /dev/vda; echo' 'poweroff -f' |
	timeout 900 "$BUILD/vm-run" -v --no-reboot -m 256M --kernel "$kit/vmlinuz" \
		--initrd "$kit/initrd.gz" --disk "$disk" \
		--append "console=ttyS0 panic=-1 quiet"
status=$?
set -e
end=$(date +%s.%N)
echo "demo: guest powered off with status $status after $(echo "$end - $start" | bc | cut -c1-5) s"
exit $status
