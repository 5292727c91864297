#!/usr/bin/env bats
# The control socket and detached VMs: the guest kit on the DBT, a guest
# printing a counter on its serial line, run with --detach; status,
# pause (the counter stands), resume (it goes on), query-cpus and
# query-disks (beside qemu-img's own view of the images), malformed
# requests from several clients at once, powerdown (busybox acpid in the
# guest powers off; vm-run exits 0), stop, a second VM of the same name
# refused and a stale socket replaced, --attach through a pty; pause,
# save and restore of parallel vCPUs in exclusive sections (smp.S).

load helpers
load net

COUNTER='i=0; while true; do echo count=$i; i=$((i+1)); sleep 1; done'

setup() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	VMDIR=$XDG_RUNTIME_DIR/vmkit/vm
}

teardown() {
	local f
	for f in "$VMDIR"/*/pid; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	kill_bg
	return 0
}

# start NAME SCRIPT ARGS...: the guest kit detached, running SCRIPT
# (the shell if empty), its serial output in $BATS_TEST_TMPDIR/NAME.serial.
start() {
	local name=$1 script=$2; shift 2
	local append="console=ttyS0 panic=-1 quiet"
	[ -n "$script" ] && append="$append vmkit.run=\"$script\""
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt -m 256M --name "$name" --detach \
		--serial-log "$BATS_TEST_TMPDIR/$name.serial" \
		--kernel "$KERNEL" --initrd "$INITRD" --append "$append" "$@"
	is "$output" "*$name: running detached (pid *"
}

counts() { grep -c '^count=[0-9]' "$BATS_TEST_TMPDIR/$1.serial" || true; }

# cmd NAME CMD...: --cmd's JSON reply in $output.
cmd() {
	local name=$1; shift
	run_tool '?' "$VM_RUN" --cmd "$name" "$@" --json
}

# wait_gone PID: that VM's vm-run is gone (a bounded wait, no timing
# asserted).
wait_gone() {
	local pid=$1 n=600
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.2; n=$((n - 1)); done
	! kill -0 "$pid" 2>/dev/null
}

@test "--detach: status, pause stops the counter, resume lets it go on, query-cpus, query-disks" {
	"$VM_DISK" create -f qcow2 "$BATS_TEST_TMPDIR/a.qcow2" 64M >/dev/null
	"$VM_DISK" create -f raw "$BATS_TEST_TMPDIR/b.img" 3M >/dev/null
	start t1 "$COUNTER" -c 2 --disk "$BATS_TEST_TMPDIR/a.qcow2" \
		--disk "$BATS_TEST_TMPDIR/b.img,readonly=on"
	[ -S "$VMDIR/t1/ctl" ] && [ -S "$VMDIR/t1/console" ]
	pid=$(cat "$VMDIR/t1/pid")
	kill -0 "$pid"
	wait_for "$BATS_TEST_TMPDIR/t1.serial" '^count=3' 300

	cmd t1 status
	[ "$status" -eq 0 ]
	is "$output" '{"ok":true,"name":"t1","state":"running","backend":"dbt","cpus":2,"memory":268435456,"uptime":*,"pid":'"$pid"',"console":"'"$VMDIR/t1/console"'"}'
	run_tool 0 "$VM_RUN" --cmd t1 status
	is "$output" "*state: running*memory: 256 MiB*"
	run_tool 0 "$VM_RUN" --list
	is "${lines[1]}" "t1 *running *dbt *2 *256 MiB *$pid *"

	cmd t1 pause
	is "$output" '{"ok":true,"state":"paused"}'
	a=$(counts t1)
	sleep 3
	b=$(counts t1)
	is "$b" "$a" "counter lines while paused"
	cmd t1 status
	is "$output" '*"state":"paused"*'
	cmd t1 pause
	[ "$status" -eq 1 ]
	is "$output" '{"ok":false,"error":"the VM is paused already"}'

	# Read while paused: both vCPUs in 64-bit kernel code.
	run_tool 0 "$VM_RUN" --cmd t1 query-cpus
	is "${lines[0]}" "INDEX *RIP *MODE *HALTED"
	is "${lines[1]}" "0 *0xffffffff8* *long *[tf]*"
	is "${lines[2]}" "1 *0xffffffff8* *long *[tf]*"
	[ "${#lines[@]}" -eq 3 ]
	is "$(counts t1)" "$a" "counter lines after query-cpus"

	cmd t1 resume
	is "$output" '{"ok":true,"state":"running"}'
	wait_for "$BATS_TEST_TMPDIR/t1.serial" "^count=$((a + 2))" 120
	cmd t1 resume
	is "$output" '{"ok":false,"error":"the VM is not paused"}'
	# query-cpus on a running VM pauses it for the moment and resumes.
	cmd t1 query-cpus
	is "$output" '{"ok":true,"cpus":\[{"index":0,"rip":*,"mode":"long","halted":*},{"index":1,*}\]}'
	cmd t1 status
	is "$output" '*"state":"running"*'

	# The disks as qemu-img sees the images (format, virtual size).
	cmd t1 query-disks
	[ "$status" -eq 0 ]
	is "$output" '{"ok":true,"disks":\[{"device":"disk0","interface":"virtio","media":"disk","file":"'"$BATS_TEST_TMPDIR/a.qcow2"'","format":"qcow2","read-only":false,"size":67108864},{"device":"disk1","interface":"virtio","media":"disk","file":"'"$BATS_TEST_TMPDIR/b.img"'","format":"raw","read-only":true,"size":3145728}\]}'
	if command -v qemu-img >/dev/null; then
		for f in a.qcow2 b.img; do
			q=$(qemu-img info -U --output=json "$BATS_TEST_TMPDIR/$f")
			fmt=$(sed -n 's/.*"format": "\([a-z0-9]*\)".*/\1/p' <<<"$q" | head -1)
			vs=$(sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p' <<<"$q" | head -1)
			is "$output" "*\"file\":\"$BATS_TEST_TMPDIR/$f\",\"format\":\"$fmt\",*\"size\":$vs}*" "$f beside qemu-img"
		done
	fi
	run_tool 0 "$VM_RUN" --cmd t1 query-disks
	is "${lines[0]}" "DEVICE *INTERFACE *MEDIA *FILE *FORMAT *READ-ONLY *SIZE"
	is "${lines[1]}" "disk0 *virtio *disk *$BATS_TEST_TMPDIR/a.qcow2 *qcow2 *false *64 MiB"

	cmd t1 snapshot-save
	is "$output" '{"ok":false,"error":"snapshot-save needs \\"file\\", an absolute path"}'
	# --cmd sends a relative file= as an absolute path (the server
	# itself refuses relative ones: tests/820).
	mkdir "$BATS_TEST_TMPDIR/rel"
	(cd "$BATS_TEST_TMPDIR/rel" && "$VM_RUN" --cmd t1 snapshot-save file=relative.snap tag=r --json) > "$BATS_TEST_TMPDIR/rel.out"
	is "$(cat "$BATS_TEST_TMPDIR/rel.out")" '{"ok":true,"file":"'"$BATS_TEST_TMPDIR/rel/relative.snap"'","tag":"r","ms":*}'
	[ -s "$BATS_TEST_TMPDIR/rel/relative.snap" ]
	cmd t1 snapshot-save file="$BATS_TEST_TMPDIR/s.snap" tag=x
	# the read-only raw disk needs no snapshot; the qcow2 gets one
	is "$output" '{"ok":true,"file":"'"$BATS_TEST_TMPDIR/s.snap"'","tag":"x","ms":*}'
	[ -s "$BATS_TEST_TMPDIR/s.snap" ]
	is "$(qemu-img snapshot -U -l "$BATS_TEST_TMPDIR/a.qcow2")" "*x *" "the qcow2's internal snapshot"
	cmd t1 stop
	is "$output" '{"ok":true,"state":"stopping"}'
	wait_gone "$pid"
	[ ! -e "$VMDIR/t1/ctl" ] && [ ! -e "$VMDIR/t1/console" ] && [ ! -e "$VMDIR/t1/pid" ]
	is "$(cat "$VMDIR/t1/log")" "*vm-run: t1: exit status 0"
	run_tool 1 "$VM_RUN" --cmd t1 status
	is "$output" "*t1: no VM is running there*"
}

@test "malformed requests get errors, the connection stays usable, several clients at once" {
	start t2 "$COUNTER"
	pid=$(cat "$VMDIR/t2/pid")
	wait_for "$BATS_TEST_TMPDIR/t2.serial" '^count=1' 300
	run_tool 0 python3 - "$VMDIR/t2/ctl" <<'EOF'
import json, socket, sys
def client():
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    return s, s.makefile("rb")
def ask(c, line):
    c[0].sendall(line)
    return json.loads(c[1].readline())
a, b, c = client(), client(), client()
cases = [
    (b"not json\n", "malformed request: unexpected character at byte 0"),
    (b'{"cmd":"status"\n', "malformed request: expected ',' or '}' at byte 15"),
    (b'["status"]\n', "a request is a JSON object, {\"cmd\":\"NAME\"}"),
    (b'{}\n', 'the request has no "cmd" string'),
    (b'{"cmd":7}\n', 'the request has no "cmd" string'),
    (b'{"cmd":"\\u0000"}\n', "unknown command (its name is too long or holds a NUL)"),
    (b'{"cmd":"reboot-now"}\n', "unknown command 'reboot-now' (\"help\" lists them)"),
    (b'{"cmd":"status"} trailing\n', "malformed request: text after the value at byte 17"),
    (b"[" * 100000 + b"\n", "request longer than 65536 bytes"),
    (b"\xff\xfe{\n", "malformed request: unexpected character at byte 0"),
]
for line, err in cases:
    r = ask(a, line)
    assert r == {"ok": False, "error": err}, (line[:40], r)
# Interleaved: each client gets its own replies, in order, ids echoed.
a[0].sendall(b'{"cmd":"status","id":1}\n{"cmd":"help","id":"two"}\n')
b[0].sendall(b'\n   \n{"id":[3],"cmd":"status"}\r\n')
r1 = json.loads(a[1].readline()); r2 = json.loads(a[1].readline())
r3 = json.loads(b[1].readline())
assert r1["ok"] and r1["id"] == 1 and r1["name"] == "t2", r1
assert r2["ok"] and r2["id"] == "two" and any(x["name"] == "pause" for x in r2["commands"]), r2
assert r3["ok"] and r3["id"] == [3] and r3["state"] == "running", r3
# A request split over writes, a closed client, and c still served.
a[0].sendall(b'{"cmd":'); a[0].sendall(b'"status"}\n')
assert json.loads(a[1].readline())["ok"]
b[0].close()
assert ask(c, b'{"cmd":"status"}\n')["name"] == "t2"
print("ok")
EOF
	is "$output" "ok"
	cmd t2 status
	is "$output" '*"state":"running"*'
	# The guest went on through all that.
	n=$(counts t2)
	wait_for "$BATS_TEST_TMPDIR/t2.serial" "^count=$((n + 1))" 120
	cmd t2 stop
	wait_gone "$pid"
}

@test "powerdown: the guest's acpid powers it off, vm-run exits 0" {
	timeout 300 "$VM_RUN" --accel dbt -m 256M --name t3 --kernel "$KERNEL" \
		--initrd "$INITRD" --append "console=ttyS0 panic=-1 quiet vmkit.run=\"$COUNTER\"" \
		</dev/null > "$BATS_TEST_TMPDIR/t3.serial" 2>&1 3>&- &
	pid=$!
	BG_PIDS="${BG_PIDS:-} $pid"
	wait_for "$BATS_TEST_TMPDIR/t3.serial" '^count=2' 300
	[ -S "$VMDIR/t3/ctl" ]
	cmd t3 powerdown
	is "$output" '{"ok":true}'
	status=0
	wait "$pid" || status=$?
	is "$status" 0 "vm-run's exit status"
	run cat "$BATS_TEST_TMPDIR/t3.serial"
	is "$output" "*vmkit-guest: power button: powering off*reboot: Power down*"
	[ ! -e "$VMDIR/t3" ]
}

@test "a second VM of the same name is refused while the first runs; a stale socket is replaced" {
	start t4 ""
	pid=$(cat "$VMDIR/t4/pid")
	run_tool 1 timeout 60 "$VM_RUN" --accel dbt --name t4 --kernel "$KERNEL" </dev/null
	is "$output" "*$VMDIR/t4/ctl: a VM called 't4' is running (its control socket answers); give another --name"
	run_tool 1 timeout 60 "$VM_RUN" --accel dbt --name t4 --detach --kernel "$KERNEL"
	is "$output" "*a VM called 't4' is running*"
	# ... and leaves the first one's files alone.
	is "$(cat "$VMDIR/t4/pid")" "$pid"
	[ -S "$VMDIR/t4/console" ]
	cmd t4 status
	is "$output" "*\"pid\":$pid*"
	run_tool 2 "$VM_RUN" --name 'bad name' --kernel "$KERNEL"
	is "$output" "*--name: 'bad name' is not a VM name*"
	# Killed outright: its socket stays, and the next t4 takes its place.
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	[ -S "$VMDIR/t4/ctl" ]
	run_tool 1 "$VM_RUN" --cmd t4 status
	is "$output" "*t4: no VM is running there (its control socket is stale)"
	start t4 ""
	pid=$(cat "$VMDIR/t4/pid")
	cmd t4 status
	is "$output" '*"name":"t4","state":"running"*'
	cmd t4 stop
	wait_gone "$pid"
}

@test "VMs run without a name never meet: each gets vm-PID, both run at once" {
	local names=() k out
	for k in 1 2; do
		run_tool 0 timeout 60 "$VM_RUN" --accel dbt --detach \
			--serial-log "$BATS_TEST_TMPDIR/anon$k.serial" --kernel "$GUESTS/ticks.elf"
		is "$output" "*vm-[0-9]*: running detached (pid *"
		out=${output##*vm-}
		names+=("vm-${out%%:*}")
	done
	[ "${names[0]}" != "${names[1]}" ]
	run_tool 0 "$VM_RUN" --list
	is "$output" "*${names[0]}*"
	is "$output" "*${names[1]}*"
	for k in 0 1; do
		pid=$(cat "$VMDIR/${names[$k]}/pid")
		cmd "${names[$k]}" stop
		wait_gone "$pid"
	done
}

@test "--attach: a pty on the detached console sees the shell; Ctrl-A d leaves the VM running" {
	start t5 ""
	pid=$(cat "$VMDIR/t5/pid")
	wait_for "$BATS_TEST_TMPDIR/t5.serial" 'vmkit-guest: ready' 300
	run_tool 0 timeout 200 python3 - "$VM_RUN" t5 <<'EOF'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--attach", sys.argv[2]])
seen = b""
def until(pat, limit=120):
    global seen
    end = time.monotonic() + limit
    while pat not in seen:
        left = end - time.monotonic()
        if left <= 0:
            sys.exit("no %r in %r" % (pat, seen[-400:]))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
until(b"Ctrl-A d detaches")
os.write(fd, b"echo attached-$((6*7))\r")
until(b"attached-42")
os.write(fd, b"\x01d")
until(b"detached; the VM goes on")
_, st = os.waitpid(pid, 0)
assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st
print("ok")
EOF
	is "${lines[-1]}" "ok"
	cmd t5 status
	is "$output" '*"state":"running"*'
	# Ctrl-A x from a second attach stops the VM.
	run_tool 0 timeout 200 python3 - "$VM_RUN" t5 <<'EOF'
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--attach", sys.argv[2]])
seen = b""
while b"Ctrl-A d" not in seen:
    seen += os.read(fd, 4096)
os.write(fd, b"\x01x")
while True:
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    seen += d
_, st = os.waitpid(pid, 0)
assert b"the console closed" in seen, seen[-300:]
print("ok")
EOF
	is "${lines[-1]}" "ok"
	wait_gone "$pid"
	is "$(cat "$VMDIR/t5/log")" "*exit status 0"
}

@test "--cmd, --attach and --list: usage and missing VMs" {
	run_tool 2 "$VM_RUN" --cmd t6
	is "$output" "*--cmd t6: which command?*"
	run_tool 2 "$VM_RUN" --cmd t6 status foo
	is "$output" "*'foo' is not KEY=VALUE*"
	run_tool 1 "$VM_RUN" --cmd t6 status
	is "$output" "*t6: no VM is running there (no control socket)"
	run_tool 1 "$VM_RUN" --attach t6
	is "$output" "*t6: no detached VM is running there*"
	run_tool 2 "$VM_RUN" --attach t6 --list
	run_tool 2 "$VM_RUN" --detach --ctl none --kernel "$KERNEL"
	is "$output" "*--detach needs the control socket*"
	run_tool 0 "$VM_RUN" --list
	is "$output" "NAME *STATE *BACKEND *CPUS *MEMORY *PID *UPTIME"
	run_tool 0 "$VM_RUN" --list --json
	is "$output" "[]"
	# A detached start that fails says why here, with a failing status.
	run_tool 2 "$VM_RUN" --accel dbt --name t6 --detach --kernel /nonexistent
	is "$output" "*/nonexistent*"
	head -c 4096 /dev/urandom > "$BATS_TEST_TMPDIR/junk"
	run_tool 1 "$VM_RUN" --accel dbt --name t6 --detach --kernel "$BATS_TEST_TMPDIR/junk"
	is "$output" "*junk*"
	[[ $output != *"running detached"* ]]
	[ ! -e "$VMDIR/t6/ctl" ]
}

@test "pause and resume on every usable back end (a multiboot test guest)" {
	for accel in $(usable_accels); do
		start "p-$accel" "" --accel "$accel" --kernel "$GUESTS/ticks.elf"
		pid=$(cat "$VMDIR/p-$accel/pid")
		wait_for "$BATS_TEST_TMPDIR/p-$accel.serial" '^tick' 60
		cmd "p-$accel" pause
		is "$output" '{"ok":true,"state":"paused"}' "$accel: pause"
		a=$(grep -c '^tick' "$BATS_TEST_TMPDIR/p-$accel.serial")
		sleep 2
		is "$(grep -c '^tick' "$BATS_TEST_TMPDIR/p-$accel.serial")" "$a" "$accel: ticks while paused"
		cmd "p-$accel" query-cpus
		is "$output" '{"ok":true,"cpus":\[{"index":0,"rip":*,"mode":"protected","halted":false}\]}' "$accel: query-cpus"
		cmd "p-$accel" resume
		is "$output" '{"ok":true,"state":"running"}' "$accel: resume"
		n=0
		while [ "$(grep -c '^tick' "$BATS_TEST_TMPDIR/p-$accel.serial")" -le "$a" ] && [ $n -lt 600 ]; do
			sleep 0.1; n=$((n + 1))
		done
		[ "$(grep -c '^tick' "$BATS_TEST_TMPDIR/p-$accel.serial")" -gt "$a" ]
		cmd "p-$accel" stop
		wait_gone "$pid"
	done
}

@test "reset: the machine starts over as from its reset button, the same vm-run" {
	local pid n
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt -m 64M --name rs --detach \
		--serial-log "$BATS_TEST_TMPDIR/rs.serial" --kernel "$GUESTS/count.elf"
	pid=$(cat "$VMDIR/rs/pid")
	wait_for "$BATS_TEST_TMPDIR/rs.serial" '^count=5$' 120
	cmd rs reset
	is "$output" '{"ok":true}' "reset"
	# count.elf starts from 0 again: a second count=0 in the log
	n=0
	until [ "$(tr -d '\r' <"$BATS_TEST_TMPDIR/rs.serial" | grep -c '^count=0$')" -ge 2 ] || [ $n -ge 600 ]; do
		sleep 0.1; n=$((n + 1))
	done
	is "$(tr -d '\r' <"$BATS_TEST_TMPDIR/rs.serial" | grep -c '^count=0$')" 2 "the count started over once"
	kill -0 "$pid"
	cmd rs stop
	wait_gone "$pid"
}

# T9 (common/dbt/SMP.md): vCPUs on their host threads at once that are
# always in, or waiting for, exclusive sections (smp.S's xloop: LOCKed
# operands across a line or a page, run with the others stopped, and
# exact totals checked after every pass) are paused, resumed, saved
# through the control socket and restored; nothing hangs and no total
# is ever wrong, before or after the restore.
xl_passes() { tr -d '\r' <"$1" | grep -c '^smp: pass ' || true; }
xl_wait() {     # FILE N: until FILE shows more than N passes (bounded)
	local n=0
	while [ "$(xl_passes "$1")" -le "$2" ] && [ $n -lt 1500 ]; do sleep 0.2; n=$((n + 1)); done
	[ "$(xl_passes "$1")" -gt "$2" ] || { echo "# no pass after $2 in $1" >&3; false; }
}
@test "parallel vCPUs in and waiting for exclusive sections: pause, resume, vm-snap save and restore (--cpus 4)" {
	local pid a i f first log=$BATS_TEST_TMPDIR/xl.serial r1=$BATS_TEST_TMPDIR/run1.out r2=$BATS_TEST_TMPDIR/run2.out
	export XDG_STATE_HOME=$BATS_TEST_TMPDIR/state VMKIT_DBT_SMP=parallel
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt --cpus 4 -m 64M --name xl --detach \
		--serial-log "$log" --kernel "$GUESTS/smp.elf" --append "cpus=4 xloop"
	pid=$(cat "$VMDIR/xl/pid")
	xl_wait "$log" 0
	for i in 1 2 3 4 5 6 7 8; do
		cmd xl pause
		is "$output" '{"ok":true,"state":"paused"}' "pause $i"
		a=$(xl_passes "$log")
		sleep 0.5
		is "$(xl_passes "$log")" "$a" "no pass while paused ($i)"
		cmd xl resume
		is "$output" '{"ok":true,"state":"running"}' "resume $i"
		xl_wait "$log" "$a"
	done
	run_tool 0 "$VM_SNAP" save xl t9
	a=$(xl_passes "$log")
	xl_wait "$log" "$((a + 2))"
	cmd xl stop
	wait_gone "$pid"
	mv "$log" "$r1"
	# the restored VM's console goes to the same log (and stdout)
	"$VM_SNAP" restore xl t9 </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/run2.err" &
	pid=$!
	xl_wait "$log" 3
	cmd xl stop
	wait_gone "$pid"
	mv "$log" "$r2"
	# the restored guest goes on from the save: its first pass is one
	# after a pass run 1 printed
	first=$(tr -d '\r' <"$r2" | sed -n 's/^smp: pass \([0-9a-f]*\)$/\1/p' | head -n 1)
	tr -d '\r' <"$r1" | grep -qx "smp: pass $(printf '%08x' $((16#$first - 1)))" ||
		{ echo "# first restored pass $first, not one after a pass of run 1" >&3; false; }
	for f in "$r1" "$r2"; do
		run grep -c ' BAD ' "$f"
		is "$output" 0 "$f: every total right"
		[ "$(tr -d '\r' <"$f" | grep -c '^smp: 64 xpage ok')" -ge "$(($(xl_passes "$f") - 1))" ] ||
			{ echo "# $f: fewer checks than passes" >&3; false; }
	done
}
