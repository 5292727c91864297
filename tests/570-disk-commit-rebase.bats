#!/usr/bin/env bats
# vm-disk commit and rebase against qemu-img commit and rebase: the same
# operation on a copy of the same chain gives images qemu-img compare
# finds identical, every image passes qemu-img check, and safe rebase
# keeps the guest view byte for byte.

load helpers
load disk

setup() {
	disk_setup
	# c0 <- c1 <- c2: data, zeros over data, data past the base's end
	qemu-img create -q -f qcow2 -o cluster_size=4k c0.qcow2 8M
	qemu-io -c 'write -P 1 0 4M' c0.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b c0.qcow2 -F qcow2 c1.qcow2 12M
	qemu-io -c 'write -P 2 1M 1M' -c 'write -z 2M 100k' -c 'write -P 6 9M 1M' c1.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b c1.qcow2 -F qcow2 c2.qcow2
	qemu-io -c 'write -P 3 3M 100k' -c 'write -z 1500k 10k' -c 'write -P 7 11M 4k' c2.qcow2 > /dev/null
	qemu-img convert -O raw c2.qcow2 view.raw
	mkdir q
	cp c?.qcow2 q/
}

# judged: every image equals qemu-img's result and checks clean.
judged() {
	local i
	for i in 0 1 2; do
		run qemu-img compare c$i.qcow2 q/c$i.qcow2
		is "$status" 0 "c$i against qemu-img's ($*): $output"
		qemu_ok c$i.qcow2
	done
}

@test "commit: the overlay's data goes into its backing file, the overlay is emptied, as qemu-img commit does" {
	run_tool 0 "$VM_DISK" commit c2.qcow2
	is "$output" "Image committed."
	(cd q && qemu-img commit -q c2.qcow2)
	judged commit
	same "$(qemu-img map --output=json c2.qcow2 | jq -c '[.[] | select(.depth == 0)]')" "[]" "c2 is empty"
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "the guest view through c2"
	# again one level down: c1 (12M) into the smaller c0, which grows
	run_tool 0 "$VM_DISK" commit -q c1.qcow2
	is "$output" ""
	(cd q && qemu-img commit -q c1.qcow2)
	judged "commit c1"
	is "$(qemu-img info --output=json c0.qcow2 | jq '.["virtual-size"]')" 12582912
	run qemu-img compare -f raw view.raw c0.qcow2
	is "$status" 0 "the base now holds the whole view"
}

@test "commit -d keeps the overlay; -b picks a deeper base and implies -d" {
	cp c2.qcow2 c2.orig
	run_tool 0 "$VM_DISK" commit -d c2.qcow2
	(cd q && qemu-img commit -q -d c2.qcow2)
	judged "commit -d"
	cmp c2.qcow2 c2.orig
	rm -rf q && mkdir q && cp c?.qcow2 q/
	run_tool 0 "$VM_DISK" commit -p -b c0.qcow2 c2.qcow2
	(cd q && qemu-img commit -q -b c0.qcow2 c2.qcow2)
	judged "commit -b"
	run qemu-img compare -f raw view.raw c0.qcow2
	is "$status" 0 "c0 holds the view"
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "c2 still reads the same"
}

@test "commit: errors leave every image as it was" {
	cp c0.qcow2 c0.orig
	cp c2.qcow2 c2.orig
	run_tool 1 "$VM_DISK" commit c0.qcow2
	is "$output" "vm-disk: c0.qcow2: the image has no backing file to commit into"
	run_tool 1 "$VM_DISK" commit -b nope.qcow2 c2.qcow2
	is "$output" "vm-disk: nope.qcow2: not found in the backing chain of c2.qcow2"
	run_tool 1 "$VM_DISK" commit -b c2.qcow2 c2.qcow2
	is "$output" "vm-disk: c2.qcow2: not found in the backing chain of c2.qcow2"
	run_tool 2 "$VM_DISK" commit
	cmp c0.qcow2 c0.orig
	cmp c2.qcow2 c2.orig
}

@test "rebase (safe): the guest view stays the same, and equals qemu-img rebase's result" {
	run_tool 0 "$VM_DISK" rebase -b c0.qcow2 c2.qcow2
	is "$output" ""
	(cd q && qemu-img rebase -F qcow2 -b c0.qcow2 c2.qcow2)
	judged "rebase onto c0"
	same "$(qemu-img info --output=json c2.qcow2 | jq -c '[.["backing-filename"], .["backing-filename-format"]]')" \
		'["c0.qcow2","qcow2"]' "new backing file"
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "the view"
	# onto an unrelated image of another size, given with -F
	qemu-img create -q -f qcow2 o.qcow2 6M
	qemu-io -c 'write -P 1 0 6M' o.qcow2 > /dev/null
	cp o.qcow2 q/
	run_tool 0 "$VM_DISK" rebase -F qcow2 -b o.qcow2 c2.qcow2
	(cd q && qemu-img rebase -F qcow2 -b o.qcow2 c2.qcow2)
	judged "rebase onto o"
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "the view"
	# onto nothing: everything is copied in
	run_tool 0 "$VM_DISK" rebase -b "" c2.qcow2
	(cd q && qemu-img rebase -b "" c2.qcow2)
	judged "rebase -b ''"
	is "$(qemu-img info --output=json c2.qcow2 | jq -r '.["backing-filename"]')" null
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "the view"
}

@test "rebase: names relative to the overlay's directory, as qemu-img stores them" {
	mkdir sub
	qemu-img create -q -f qcow2 sub/base.qcow2 8M
	qemu-io -c 'write -P 8 0 1M' sub/base.qcow2 > /dev/null
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 sub/top.qcow2
	qemu-img create -q -f qcow2 sub/nb.qcow2 8M
	qemu-img convert -O raw sub/top.qcow2 sub.raw
	run_tool 0 "$VM_DISK" rebase -b nb.qcow2 sub/top.qcow2
	same "$(qemu-img info --output=json sub/top.qcow2 | jq -c '[.["backing-filename"], .["full-backing-filename"]]')" \
		'["nb.qcow2","sub/nb.qcow2"]' "backing names"
	run qemu-img compare -f raw sub.raw sub/top.qcow2
	is "$status" 0 "the view"
	qemu_ok sub/top.qcow2
}

@test "rebase -u: only the header changes, as with qemu-img rebase -u" {
	run_tool 0 "$VM_DISK" rebase -u -F qcow2 -b nothere.qcow2 c2.qcow2
	(cd q && qemu-img rebase -u -F qcow2 -b nothere.qcow2 c2.qcow2)
	same "$(qemu-img info -U --output=json c2.qcow2 2>/dev/null | jq -c '[.["backing-filename"], .["backing-filename-format"]]')" \
		'["nothere.qcow2","qcow2"]' "backing fields"
	# back to c1 by name only: the view is the old one again
	run_tool 0 "$VM_DISK" rebase -u -b c1.qcow2 c2.qcow2
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "the view"
	qemu_ok c2.qcow2
	# the header keeps qemu's other extensions (the feature name table)
	same "$(qemu-img info --output=json c2.qcow2 | jq -c '.["format-specific"]')" \
		"$(qemu-img info --output=json q/c1.qcow2 | jq -c '.["format-specific"]')" "format-specific info"
}

@test "rebase: errors leave the image as it was" {
	cp c2.qcow2 c2.orig
	run_tool 1 "$VM_DISK" rebase -b nothere.qcow2 c2.qcow2
	is "$output" "vm-disk: nothere.qcow2: No such file or directory"
	run_tool 1 "$VM_DISK" rebase -u -b nothere.qcow2 c2.qcow2
	is "$output" "*rebase -u: without -F the new backing file must exist (its format is probed)"
	run_tool 1 "$VM_DISK" rebase -F nosuch -b c0.qcow2 c2.qcow2
	is "$output" "vm-disk: rebase: unknown backing format 'nosuch'"
	run_tool 1 "$VM_DISK" rebase -b "$(head -c 2000 /dev/zero | tr '\0' x)" -u -F qcow2 c2.qcow2
	is "$output" "vm-disk: c2.qcow2: backing file name or format too long"
	run_tool 2 "$VM_DISK" rebase c2.qcow2
	cmp c2.qcow2 c2.orig
	qemu-img create -q -f raw r.img 1M
	run_tool 1 "$VM_DISK" rebase -b c0.qcow2 r.img
	is "$output" "vm-disk: r.img: raw images have no backing file"
}

# killed_at N CMD...: run CMD with a SIGKILL at its Nth write, truncate
# or sync (strace's fault injection: an exact point, no timing).
killed_at() {
	local n=$1; shift
	strace -o /dev/null -e trace=pwrite64,ftruncate,fdatasync \
		-e inject=pwrite64,ftruncate,fdatasync:signal=SIGKILL:when=$n "$@" 2>/dev/null || true
}

points() {
	strace -o calls -e trace=pwrite64,ftruncate,fdatasync "$@" > /dev/null
	grep -c '^[a-z]' calls
}

@test "SIGKILL during commit and rebase: at worst leaks; a killed safe rebase still shows the same guest view" {
	command -v strace > /dev/null || skip "strace not installed (fault injection)"
	mkdir orig
	cp c?.qcow2 orig/
	total=$(points "$VM_DISK" commit c2.qcow2)
	[ "$total" -gt 5 ]
	for n in 1 2 $((total / 4)) $((total / 2)) $((total - 3)) $((total - 1)) $total; do
		cp orig/c?.qcow2 .
		killed_at $n "$VM_DISK" commit c2.qcow2
		for i in 0 1 2; do
			run qemu-img check c$i.qcow2
			[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# commit killed at $n of $total: c$i: $output" >&3; false; }
		done
	done
	cp orig/c?.qcow2 .
	total=$(points "$VM_DISK" rebase -b c0.qcow2 c2.qcow2)
	[ "$total" -gt 5 ]
	for n in 1 2 $((total / 4)) $((total / 2)) $((total - 2)) $((total - 1)) $total; do
		cp orig/c?.qcow2 .
		killed_at $n "$VM_DISK" rebase -b c0.qcow2 c2.qcow2
		run qemu-img check c2.qcow2
		[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || { echo "# rebase killed at $n of $total: $output" >&3; false; }
		run qemu-img compare -f raw view.raw c2.qcow2
		is "$status" 0 "the view after a kill at $n of $total"
	done
}

@test "commit into a base with an internal snapshot: the snapshot keeps its data" {
	qemu-img snapshot -c before c1.qcow2
	qemu-img convert -O raw c1.qcow2 c1.raw
	run_tool 0 "$VM_DISK" commit -q c2.qcow2
	qemu_ok c1.qcow2
	run qemu-img compare -f raw view.raw c2.qcow2
	is "$status" 0 "the view after the commit"
	qemu-img snapshot -a before c1.qcow2
	qemu_ok c1.qcow2
	run qemu-img compare -f raw c1.raw c1.qcow2
	is "$status" 0 "c1's snapshot"
}
