#!/usr/bin/env bats
# vm.yaml and vm-run's flags: every mistake gets file:line:col, the key,
# what is wrong, and the documented exit status.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	cp "$GUESTS/hello.elf" kernel.elf
	ACCEL=$(usable_accels | head -1)
}

need_accel() { [ -n "$ACCEL" ] || skip "no usable CPU back end"; }

@test "a YAML file boots the kernel it names, relative to the file" {
	need_accel
	mkdir -p sub
	cp kernel.elf sub/
	printf 'name: hello\nmemory: 16M\naccel: %s\nboot:\n  kernel: kernel.elf\n' "$ACCEL" > sub/vm.yaml
	run_tool 0 timeout 20 "$VM_RUN" sub/vm.yaml
	is "$output" "*hello from a multiboot guest*"
	# a bundle directory means its vm.yaml
	run_tool 0 timeout 20 "$VM_RUN" sub
	is "$output" "*hello from a multiboot guest*"
}

@test "flags win over the file" {
	printf 'memory: 12X\n' > bad.yaml
	run_tool 2 "$VM_RUN" bad.yaml --memory 16M --kernel kernel.elf
	need_accel
	printf 'memory: 8G\nboot:\n  kernel: nothere\n' > vm.yaml
	run_tool 0 timeout 20 "$VM_RUN" vm.yaml --accel "$ACCEL" -m 16M --kernel kernel.elf
	is "$output" "*hello from a multiboot guest*"
}

@test "a bad size is reported with line and column" {
	printf 'name: x\nmemory: 12X\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:2:9: memory: '12X' is not a size (use e.g. 512M or 2G)"
}

@test "an unknown key is an error that suggests the right one" {
	printf 'name: x\nmemroy: 1G\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:2:1: memroy: unknown key (did you mean 'memory'?)"
}

@test "YAML syntax errors carry libyaml's position" {
	printf 'name: [x\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:*:*: *"
}

@test "out-of-range and wrongly typed values" {
	printf 'cpus: 0\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:1:7: cpus: 0 is out of range (1..64)"
	printf 'cpus:\n  a: 1\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:*: cpus: expected an integer, got a mapping"
}

@test "a missing kernel names the key and the file" {
	printf 'boot:\n  kernel: /nonexistent/bzImage\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:2:11: boot.kernel: /nonexistent/bzImage: No such file or directory"
	run_tool 2 "$VM_RUN" --kernel /nonexistent/bzImage
	is "$output" "vm-run: --kernel: /nonexistent/bzImage: No such file or directory"
}

@test "a missing vm.yaml is a clear error" {
	run_tool 1 "$VM_RUN" nothere.yaml
	is "$output" "vm-run: nothere.yaml: No such file or directory"
}

@test "bad flag values are usage errors" {
	run_tool 2 "$VM_RUN" --memory lots --kernel kernel.elf
	is "$output" "vm-run: --memory: 'lots' is not a size*"
	run_tool 2 "$VM_RUN" --cpus 0 --kernel kernel.elf
	is "$output" "vm-run: --cpus: '0' is not a number from 1 to 64"
	run_tool 2 "$VM_RUN" --accel warp --kernel kernel.elf
	is "$output" "vm-run: --accel: unknown accelerator 'warp'*"
	run_tool 2 "$VM_RUN" --disk x.img,if=scsi --kernel kernel.elf
	is "$output" "vm-run: --disk*"
	run_tool 2 "$VM_RUN" --kernel-decompress both --kernel kernel.elf
	is "$output" "vm-run: --kernel-decompress: unknown value 'both' (use host or guest)"
}

@test "boot.decompress takes host or guest" {
	printf 'boot:\n  kernel: kernel.elf\n  decompress: maybe\n' > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "vm-run: vm.yaml:3:15: boot.decompress: unknown decompressor 'maybe'*host, guest*"
	need_accel
	# A multiboot kernel has nothing to decompress; the key is accepted.
	printf 'accel: %s\nmemory: 16M\nboot:\n  kernel: kernel.elf\n  decompress: guest\n' "$ACCEL" > vm.yaml
	run_tool 0 timeout 20 "$VM_RUN" vm.yaml
	is "$output" "*hello from a multiboot guest*"
}

@test "memory larger than the host has is refused" {
	run_tool 1 "$VM_RUN" --memory 64T --kernel kernel.elf
	is "$output" "vm-run: memory: 64 TiB is more than this host has*"
}

@test "--accel kvm without a usable /dev/kvm fails with the reason" {
	VMKIT_KVM_DEVICE=/nonexistent/kvm run_tool 1 "$VM_RUN" --accel kvm --kernel kernel.elf
	is "$output" "vm-run: --accel kvm: /nonexistent/kvm: No such file or directory"
}

@test "--accel auto says which back end it chose and why with -v" {
	need_accel
	run_tool 0 timeout 20 "$VM_RUN" -v -m 16M --kernel kernel.elf
	is "$output" "*vm-run: accelerator *: *"
}

@test "a disk image another process has locked is refused and left alone" {
	need_accel
	printf 'precious' > x.img
	truncate -s 1M x.img
	hold_lock x.img 30
	local locker=$LOCK_PID
	run_tool 1 timeout 20 "$VM_RUN" --accel "$ACCEL" -m 16M --disk x.img \
		--kernel kernel.elf
	kill "$locker" 2>/dev/null || true
	is "$output" "vm-run: x.img: in use by another process*"
	is "$(head -c 8 x.img)" "precious" "image untouched"
}

@test "a missing disk image or an unknown format is named in the error" {
	run_tool 2 "$VM_RUN" --disk nonexist.img --kernel kernel.elf
	is "$output" "vm-run: --disk: nonexist.img: No such file or directory"
	truncate -s 1M x.img
	run_tool 2 "$VM_RUN" --disk x.img,format=nope --kernel kernel.elf
	is "$output" "vm-run: --disk x.img,format=nope: unknown format 'nope'*"
}
