#!/usr/bin/env bats
# The VGA of a running, detached VM through its control socket: the
# screendump command writes the PNG --screendump writes at exit, of a
# text screen and of a Bochs VBE mode (read back by the PNG reader of
# tests/vga.bash), with its errors; and vm-run --attach showing the
# VGA console of a VM whose console is vga.  SeaBIOS on the DBT.

load helpers
load boot
load net
load vga

setup() {
	BIOS=/usr/share/seabios/bios-256k.bin
	[ -r "$BIOS" ] || skip "no $BIOS (Debian's seabios package)"
	[ -r /usr/share/seabios/vgabios-stdvga.bin ] ||
		skip "no vgabios-stdvga.bin (Debian's seabios package)"
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	cd "$BATS_TEST_TMPDIR"
	VMDIR=$XDG_RUNTIME_DIR/vmkit/vm
	TM="vmkit-ctlvga-$$-$BATS_TEST_NUMBER"
}

teardown() {
	local f
	tmux -L "$TM" kill-server 2>/dev/null || true
	for f in "$VMDIR"/*/pid; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	return 0
}

# start NAME DISK ARGS...: SeaBIOS booting DISK, detached, with the VGA
# console; the serial output in NAME.serial.
start() {
	local name=$1 disk=$2; shift 2
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt -m 64M --name "$name" \
		--detach --firmware bios --console vga --disk "$disk" \
		--serial-log "$BATS_TEST_TMPDIR/$name.serial" "$@"
	is "$output" "*$name: running detached (pid *"
}

# stop NAME: the stop command; vm-run goes away.
stop() {
	local pid n=600
	pid=$(cat "$VMDIR/$1/pid")
	run_tool 0 "$VM_RUN" --cmd "$1" stop
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.2; n=$((n - 1)); done
	! kill -0 "$pid" 2>/dev/null
}

# A boot sector filling the text screen with blanks in white on blue,
# a full block (0xdb) in the first cell, "D" and a newline on COM1 once
# drawn, then halting (interrupts on:
# a halt with them off ends vm-run).
text_disk() {
	cat > text.S <<-'EOF'
	.code16
	.globl _start
	_start:
		mov $0xb800, %ax
		mov %ax, %es
		xor %di, %di
		mov $0x1f20, %ax
		mov $2000, %cx
		cld
		rep stosw
		movb $0xdb, %es:0
		mov $0x3f8, %dx
		mov $'D', %al
		out %al, %dx
		mov $'\n', %al
		out %al, %dx
	1:	hlt
		jmp 1b
	EOF
	boot_sector_disk "$1" text.S
}

# A boot sector setting 640x480x32 through the DISPI registers, two
# pixels through the bank at 0xa0000, "D" on COM1, then halting (interrupts on:
# a halt with them off ends vm-run).
vbe_disk() {
	cat > vbe.S <<-'EOF'
	.code16
	.globl _start
	_start:
		mov $1, %bx
		mov $640, %cx
		call dispi
		mov $2, %bx
		mov $480, %cx
		call dispi
		mov $3, %bx
		mov $32, %cx
		call dispi
		mov $4, %bx
		mov $1, %cx
		call dispi
		mov $0xa000, %ax
		mov %ax, %es
		movl $0x00ff8040, %es:0
		movl $0x0000ff00, %es:2564
		mov $0x3f8, %dx
		mov $'D', %al
		out %al, %dx
		mov $'\n', %al
		out %al, %dx
	1:	hlt
		jmp 1b
	dispi:	mov $0x1ce, %dx
		mov %bx, %ax
		out %ax, %dx
		inc %dx
		mov %cx, %ax
		out %ax, %dx
		ret
	EOF
	boot_sector_disk "$1" vbe.S
}

@test "screendump of a running VM's text screen: the PNG --screendump writes, the VM runs on" {
	text_disk text.img
	start s1 text.img
	wait_for s1.serial '^D' 120
	run_tool 0 "$VM_RUN" --cmd s1 screendump file="$BATS_TEST_TMPDIR/now.png" --json
	is "$output" '{"ok":true,"file":"'"$BATS_TEST_TMPDIR"'/now.png","mode":"text","width":720,"height":400}'
	# 80x25 cells of 9x16: the first cell's block in white, the blanks'
	# blue everywhere else, the screen's corners included.
	run png_check now.png 0,0 3,8 7,15 9,0 12,8 719,0 719,399
	is "${lines[*]}" "720x400 ffffff ffffff ffffff 0000aa 0000aa 0000aa 0000aa" "size and pixels"
	# A relative name is this directory's; the VM is still running.
	mkdir sub
	(cd sub && "$VM_RUN" --cmd s1 screendump file=again.png) > out
	is "$(cat out)" "*file: $BATS_TEST_TMPDIR/sub/again.png*mode: text*" "the human reply"
	cmp now.png sub/again.png
	run_tool 0 "$VM_RUN" --cmd s1 status
	is "$output" "*state: running*"
	stop s1
}

@test "screendump of a Bochs VBE mode: its size and pixels" {
	vbe_disk vbe.img
	start s2 vbe.img
	wait_for s2.serial '^D' 120
	run_tool 0 "$VM_RUN" --cmd s2 screendump file="$BATS_TEST_TMPDIR/gfx.png" --json
	is "$output" '*"mode":"graphics","width":640,"height":480}'
	run png_check gfx.png 0,0 1,1 2,2 639,479
	is "${lines[*]}" "640x480 ff8040 00ff00 000000 000000" "size and pixels"
	stop s2
}

@test "screendump's errors: no file, a relative path in JSON, no VGA, an unwritable place (not root: an older file is kept)" {
	text_disk text.img
	start s3 text.img
	wait_for s3.serial '^D' 120
	run_tool 1 "$VM_RUN" --cmd s3 screendump
	is "$output" '*s3: screendump: screendump needs "file", an absolute path'
	# Straight to the socket: a relative path is refused.
	run_tool 0 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"screendump\",\"file\":\"x.png\"}\n")
print(s.makefile().readline().strip())' "$VMDIR/s3/ctl"
	is "$output" '{"ok":false,"error":"screendump needs *an absolute path"}'
	run_tool 1 "$VM_RUN" --cmd s3 screendump file=/nonexistent/dir/x.png
	is "$output" "*s3: screendump: /nonexistent/dir/x.png: No such file or directory"
	# A directory cannot take the PNG; a read-only one neither, and the
	# file already there stays as it was.
	mkdir d.png
	run_tool 1 "$VM_RUN" --cmd s3 screendump file="$BATS_TEST_TMPDIR/d.png"
	is "$output" "*d.png: *"
	[ -d d.png ]
	if [ "$(id -u)" -ne 0 ]; then
		mkdir ro && echo old > ro/x.png && chmod 555 ro
		run_tool 1 "$VM_RUN" --cmd s3 screendump file="$BATS_TEST_TMPDIR/ro/x.png"
		is "$(cat ro/x.png)" old "the older file"
		is "$(ls ro)" "x.png" "no temporary file left"
	fi
	stop s3
	# A VM without a VGA (the serial console, no --screendump).
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt -m 16M --name s4 --detach \
		--kernel "$GUESTS/ticks.elf"
	run_tool 1 "$VM_RUN" --cmd s4 screendump file="$BATS_TEST_TMPDIR/no.png"
	is "$output" "*s4: screendump: this VM has no VGA*"
	[ ! -e no.png ]
	stop s4
}

@test "--attach to a detached VM whose console is vga: the text screen in the terminal, keys to the guest, Ctrl-A d leaves it running, a second attach redraws it" {
	guestkit
	command -v tmux >/dev/null || skip "needs tmux"
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt -m 256M --name a1 --detach \
		--console vga --kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=tty0 quiet" --serial-log a1.serial
	tmux_attach() {
		tm kill-server 2>/dev/null || true
		rm -f rc
		tm new-session -d -x 80 -y 26 \
			"XDG_RUNTIME_DIR='$XDG_RUNTIME_DIR' '$VM_RUN' --attach a1; echo \$? > '$BATS_TEST_TMPDIR/rc'; sleep 600"
	}
	tmux_attach
	wait_screen "~ #" 300
	tm send-keys 'echo $((6*7))-on-the-vga' Enter
	wait_screen "42-on-the-vga"
	# Nothing of it on COM1: the shell is the VGA's.
	! grep -q on-the-vga a1.serial
	tm send-keys C-a d
	wait_screen "detached; the VM goes on"
	wait_exit 0
	run_tool 0 "$VM_RUN" --cmd a1 status
	is "$output" "*state: running*"
	# A new terminal gets the whole screen as it is, and types on.
	tmux_attach
	wait_screen "42-on-the-vga"
	tm send-keys 'echo $((7*8))-again' Enter
	wait_screen "56-again"
	tm send-keys 'poweroff -f' Enter
	wait_screen "the console closed"
	wait_exit 0
}
