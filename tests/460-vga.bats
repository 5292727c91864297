#!/usr/bin/env bats
# The standard VGA (PCI 1234:1111 with Bochs VBE) and the VGA console:
# SeaBIOS runs Debian's vgabios-stdvga.bin on it, vm-run --console vga
# draws the text screen in a terminal and types the terminal's keys on
# the PS/2 keyboard, and --screendump saves the display as a PNG.  The
# terminal is a tmux pane of 80x26 whose screen the tests read back
# (capture-pane), as a user would look at it; everything on the DBT.

load helpers
load boot
load vga

setup() {
	BIOS=/usr/share/seabios/bios-256k.bin
	[ -r "$BIOS" ] || skip "no $BIOS (Debian's seabios package)"
	[ -r /usr/share/seabios/vgabios-stdvga.bin ] ||
		skip "no vgabios-stdvga.bin (Debian's seabios package)"
	command -v tmux >/dev/null || skip "needs tmux"
	cd "$BATS_TEST_TMPDIR"
	TM="vmkit-vga-$$-$BATS_TEST_NUMBER"
}

# make_vga_iso ISO: isolinux waiting at its boot: prompt (no serial),
# label linux booting the guest kit's shell on the VGA (console=tty0),
# label other running a command with its output on the serial port.
make_vga_iso() {
	isolinux_iso "$1" <<-'EOF'
	DEFAULT linux
	PROMPT 1
	TIMEOUT 0
	LABEL linux
	  KERNEL /vmlinuz
	  INITRD /initrd.gz
	  APPEND console=tty0 panic=-1 quiet
	LABEL other
	  KERNEL /vmlinuz
	  INITRD /initrd.gz
	  APPEND console=ttyS0 panic=-1 quiet vmkit.run="echo label-other-$((6*7))"
	EOF
}

@test "SeaBIOS's VGA BIOS draws its banner on the VGA console; --screendump renders the text screen with the ROM font" {
	in_tmux --no-reboot --screendump shot.png
	wait_screen "SeaBIOS (version 1."
	wait_screen "No bootable device."
	wait_exit 0
	screen | head -1 | grep -q "^SeaBIOS (version" || { screen; false; }
	# 80x25 cells of 9x16 dots; the first cell is an S in light grey on
	# black, the last cell is blank.
	# The banner's line (the first 16 pixel lines) has lit dots, the
	# screen's last line none.
	run png_check shot.png 1,3 2,3 719,399 0-16 384-400
	is "${lines[0]}" "720x400" "the text mode's size in pixels"
	is "${lines[1]}${lines[2]}" "*aaaaaa*" "the S of SeaBIOS, in light grey"
	is "${lines[3]}" "000000" "the background"
	[ "${lines[4]}" -gt 500 ] || { echo "# ${lines[4]} lit pixels"; false; }
	is "${lines[5]}" "0" "the last line"
}

@test "under KVM: the same VGA BIOS on the VGA, SeaBIOS's output on COM1 too (--screendump with the serial console)" {
	require_kvm
	run_tool 0 timeout 120 "$VM_RUN" --accel kvm --no-reboot -m 256M \
		--firmware bios --screendump shot.png </dev/null
	is "$output" "*SeaBIOS (version 1.*No bootable device.*" "COM1"
	run png_check shot.png 0-16 384-400
	is "${lines[0]}" "720x400" "the text mode"
	[ "${lines[1]}" -gt 500 ] || { echo "# ${lines[1]} lit pixels"; false; }
	is "${lines[2]}" "0" "the last line"
}

@test "isolinux's boot: prompt on the VGA console takes a label typed at the terminal" {
	guestkit
	make_vga_iso boot.iso
	in_tmux --cdrom boot.iso --serial-log serial.log
	wait_screen "ISOLINUX 6."
	wait_screen "boot:"
	tm send-keys "other" Enter
	wait_screen "boot: other"
	wait_exit 0
	run cat serial.log
	is "$output" "*label-other-42*" "the label's command ran"
}

@test "the guest kit's Linux on the VGA console (console=tty0): a shell that answers typed commands, history on the Up arrow" {
	guestkit
	make_vga_iso boot.iso
	in_tmux --cdrom boot.iso --screendump shot.png
	wait_screen "boot:"
	tm send-keys Enter
	wait_screen "~ #" 240
	tm send-keys 'echo $((6*7))-ok; echo A-Z | tr A-Z a-z' Enter
	wait_screen "42-ok"
	wait_screen "a-z"
	# Ctrl-U clears the line; Up brings the command back.
	tm send-keys 'x' C-u 'echo $((7*8))-up' Enter
	wait_screen "56-up"
	tm send-keys Up Enter
	for ((i = 0; i < 100; i++)); do
		[ "$(screen | grep -c '^56-up')" -ge 2 ] && break
		sleep 0.2
	done
	[ "$(screen | grep -c '^56-up')" -ge 2 ] || { screen; false; }
	tm send-keys 'poweroff -f' Enter
	wait_exit 0
	run png_check shot.png
	is "${lines[0]}" "720x400" "the text screen at exit"
}

@test "a direct --kernel boot on the VGA console: the VGA starts in text mode 3 and Linux's vgacon (console=tty0) takes it" {
	guestkit
	in_tmux --kernel "$KERNEL" --initrd "$INITRD" \
		--append "'console=tty0 quiet'" --screendump shot.png
	wait_screen "~ #" 240
	tm send-keys 'echo $((6*7))-direct' Enter
	wait_screen "42-direct"
	# Ctrl-A x is vm-run's, not the guest's: it quits.
	tm send-keys C-a x
	wait_exit 0
	# The glyphs come from the VGA BIOS file's font.
	run png_check shot.png 0-400
	is "${lines[0]}" "720x400" "text mode 3"
	[ "${lines[1]}" -gt 1000 ] || { echo "# ${lines[1]} lit pixels"; false; }
}

@test "SeaBIOS's boot menu on the VGA console: Esc, then the CD-ROM's number boots the CD instead of the disk" {
	guestkit
	make_vga_iso boot.iso
	# A disk whose boot sector ends vm-run with status 42 (tests/450).
	head -c 1048576 /dev/zero > mbr.img
	printf '\xba\xe0\x05\xb0\x2a\xee\xf4\xeb\xfd' |
		dd of=mbr.img conv=notrunc status=none
	printf '\x55\xaa' | dd of=mbr.img bs=1 seek=510 conv=notrunc status=none
	in_tmux --disk mbr.img --cdrom boot.iso
	wait_screen "Press ESC for boot menu."
	tm send-keys Escape
	wait_screen "Select boot device:"
	line=$(screen | grep -E '^[0-9]+\. DVD/CD')
	[ -n "$line" ] || { screen; false; }
	tm send-keys "${line%%.*}"
	wait_screen "boot:"
	tm send-keys "other" Enter
	wait_exit 0
	# Without the menu the disk boots first.
	rm -f rc
	tm kill-server
	in_tmux --disk mbr.img --cdrom boot.iso
	wait_exit 42
}

# make_grub_iso ISO: a BIOS GRUB rescue ISO (Debian's grub-pc-bin through
# grub-mkrescue and xorriso) whose menu waits for a key and has three
# entries, each booting the guest kit's shell on the VGA (console=tty0)
# with vmkit.entry=its name on the kernel's command line.
make_grub_iso() {
	local root=$BATS_TEST_TMPDIR/grubroot e
	command -v grub-mkrescue >/dev/null && command -v xorriso >/dev/null &&
		[ -r /usr/lib/grub/i386-pc/cdboot.img ] ||
		skip "needs grub-pc-bin, grub-common and xorriso"
	mkdir -p "$root/boot/grub"
	cp "$KERNEL" "$root/vmlinuz"
	cp "$INITRD" "$root/initrd.gz"
	printf 'set timeout=-1\nset default=0\n' > "$root/boot/grub/grub.cfg"
	for e in first second third; do
		printf "menuentry 'vmkit %s' {\n\tlinux /vmlinuz console=tty0 panic=-1 quiet vmkit.entry=%s\n\tinitrd /initrd.gz\n}\n" \
			"$e" "$e" >> "$root/boot/grub/grub.cfg"
	done
	grub-mkrescue -o "$1" "$root" 2>/dev/null
}

@test "GRUB's menu on the VGA console: the arrow keys move the highlight, Enter boots the entry chosen" {
	guestkit
	make_grub_iso grub.iso
	in_tmux --cdrom grub.iso
	wait_screen "GNU GRUB"
	wait_screen "vmkit third"
	# GRUB marks the highlighted entry with a * in the menu's first
	# column (tmux keeps the text, not the colours).
	is "$(screen | grep -F 'vmkit ' | tr -d '\342\224\202' | sed 's/ *$//')" \
		"$(printf ' *vmkit first\n  vmkit second\n  vmkit third')" "the menu, first highlighted"
	tm send-keys Down Down
	wait_screen "*vmkit third"
	tm send-keys Up
	wait_screen "*vmkit second"
	tm send-keys Enter
	wait_screen "~ #" 240
	tm send-keys 'tr " " "\n" < /proc/cmdline | grep entry=' Enter
	wait_screen "vmkit.entry=second"
	tm send-keys 'poweroff -f' Enter
	wait_exit 0
}

@test "GRUB's entry editor: a line typed in one burst (49 keys, more than the BIOS's 15-key buffer) arrives whole and boots" {
	guestkit
	make_grub_iso grub.iso
	in_tmux --cdrom grub.iso
	wait_screen "vmkit third"
	tm send-keys e
	wait_screen "initrd /initrd.gz"
	# To the end of the linux line, then the burst as tmux types it.
	tm send-keys Down Down End
	tm send-keys ' vmkit.burst=abcdefghijklmnopqrstuvwxyz0123456789'
	wait_screen "burst=abcdefghijklmnopqrstuvwxyz0123456789"
	tm send-keys C-x
	wait_screen "~ #" 240
	tm send-keys 'tr " " "\n" < /proc/cmdline | grep burst=' Enter
	wait_screen "vmkit.burst=abcdefghijklmnopqrstuvwxyz0123456789"
	tm send-keys 'poweroff -f' Enter
	wait_exit 0
}

@test "a Bochs VBE graphics mode: the console says so, --screendump saves its pixels" {
	# A boot sector programming the DISPI registers (640x480, 32 bpp),
	# writing two pixels through the 64 KiB bank at 0xa0000 and leaving
	# through the vmkit exit port with 7.
	cat > boot.S <<-'EOF'
	.code16
	.globl _start
	_start:
		mov $0x1ce, %dx
		mov $4, %ax
		out %ax, %dx
		inc %dx
		mov $0, %ax
		out %ax, %dx
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
		mov $0x5e0, %dx
		mov $7, %al
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
	boot_sector_disk gfx.img boot.S
	run_tool 7 timeout 120 "$VM_RUN" --accel dbt -m 256M --firmware bios \
		--console vga --disk gfx.img --screendump shot.png </dev/null
	is "$output" "*[graphics mode 640x480x32: use --screendump]*" "the status line"
	run png_check shot.png 0,0 1,1 2,2 639,479
	is "${lines[*]}" "640x480 ff8040 00ff00 000000 000000" "size and pixels"
}

@test "a guest writing random values to every VGA and VBE register and the window does not crash vm-run" {
	# A boot sector: 16384 rounds of a 16-bit xorshift, each writing a
	# random word to a random port of 0x3c0-0x3df (and reading one),
	# a random byte to a random offset of the window (through 0xa000 and
	# 0xb800), and every fourth round a random DISPI register and value;
	# then the vmkit exit port with 3.  The console draws it all, the
	# screendump renders whatever mode is left.
	cat > boot.S <<-'EOF'
	.code16
	.globl _start
	_start:
		mov $0xace1, %si
		mov $0x4000, %cx
	round:	call rnd
		mov %ax, %dx
		and $0x1f, %dx
		add $0x3c0, %dx
		call rnd
		out %ax, %dx
		in %dx, %al
		call rnd
		mov %ax, %bx
		mov $0xa000, %ax
		test $1, %cx
		jz 1f
		mov $0xb800, %ax
	1:	mov %ax, %es
		call rnd
		mov %al, %es:(%bx)
		mov %es:(%bx), %al
		test $3, %cx
		jnz 2f
		mov $0x1ce, %dx
		call rnd
		and $0xf, %ax
		out %ax, %dx
		inc %dx
		call rnd
		out %ax, %dx
		in %dx, %ax
	2:	loop round
		mov $0x5e0, %dx
		mov $3, %al
		out %al, %dx
	3:	hlt
		jmp 3b
	rnd:	mov %si, %ax
		shl $7, %ax
		xor %ax, %si
		mov %si, %ax
		shr $9, %ax
		xor %ax, %si
		mov %si, %ax
		shl $8, %ax
		xor %ax, %si
		mov %si, %ax
		ret
	EOF
	boot_sector_disk fuzz.img boot.S
	run_tool 3 timeout 300 "$VM_RUN" --accel dbt -m 256M --firmware bios \
		--console vga --disk fuzz.img --screendump shot.png </dev/null
}

@test "--console vga and --screendump on the command line; a bad --console is a usage error" {
	run_tool 2 "$VM_RUN" --console vgax --kernel /dev/null
	is "$output" "*unknown console 'vgax' (use serial, vga or none)*" "message"
	run_tool 0 "$VM_RUN" --console vga --print-config
	is "$output" "*console: vga*" "the config"
	# No writable place for the PNG: a warning, the guest's status kept.
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt --no-reboot -m 256M \
		--firmware bios --screendump /nonexistent/dir/x.png </dev/null
	is "$output" "*--screendump: /nonexistent/dir/x.png: *" "the warning"
	is "$output" "*No bootable device.*" "serial console as before"
}
