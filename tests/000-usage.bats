#!/usr/bin/env bats
# Every tool: --help, --version, bad flags, and the man page in sync.

load helpers

TOOLS="vm-create vm-run vm-disk vm-net vm-snap"

@test "every tool answers --help and --version with status 0" {
	for t in $TOOLS; do
		run_tool 0 "$VMKIT_BUILD/$t" --help
		is "$output" "*usage: $t*" "$t --help"
		run_tool 0 "$VMKIT_BUILD/$t" --version
		is "$output" "$t [0-9]*.[0-9]*" "$t --version"
	done
}

@test "an unknown flag is a usage error (status 2) with the usage on stderr" {
	for t in $TOOLS; do
		run_tool 2 "$VMKIT_BUILD/$t" --no-such-flag
		is "$output" "*usage: $t*" "$t usage after a bad flag"
	done
}

@test "every long option in --help is documented in the man page" {
	for t in $TOOLS; do
		opts=$("$VMKIT_BUILD/$t" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
		page=$(mandoc -T ascii "$TOPDIR/man/$t.1" | col -b)
		for o in $opts; do
			[[ $page == *"$o"* ]] || { echo "# $t: $o missing from $t.1" >&3; false; }
		done
	done
}

@test "vm-snap: no command or an unknown one is a usage error" {
	run_tool 2 "$VM_SNAP"
	is "$output" "usage: vm-snap*"
	run_tool 2 "$VM_SNAP" frobnicate x
	is "$output" "vm-snap: unknown command 'frobnicate'*"
	run_tool 2 "$VM_SNAP" list
	is "$output" "usage: vm-snap*"
}

@test "vm-disk: no command or an unknown one is a usage error; every command has --help" {
	run_tool 2 "$VM_DISK"
	is "$output" "usage: vm-disk*"
	run_tool 2 "$VM_DISK" frobnicate
	is "$output" "vm-disk: unknown command 'frobnicate'*"
	for c in create info convert check compare map resize snapshot cat; do
		run_tool 0 "$VM_DISK" $c --help
		is "$output" "usage: vm-disk $c *"
		run_tool 2 "$VM_DISK" $c --no-such-flag
		is "$output" "*usage: vm-disk $c *"
	done
}
