#!/usr/bin/env bats
# Small multiboot test guests (tests/guests/*.S) on every back end that can
# run them: serial output, the exit ports, status codes.

load helpers

# Every usable back end, KVM-PVM included: these guests are a few hundred
# instructions, fine even where kernel mode is emulated.
guest_backends() {
	local a; a=$(usable_accels)
	[ -n "$a" ] || skip "no usable CPU back end"
	echo "$a"
}

@test "hello: serial output and exit port status 0" {
	for b in $(guest_backends); do
		run_tool 0 timeout 20 "$VM_RUN" --accel "$b" -m 16M --kernel "$GUESTS/hello.elf"
		is "$output" "*hello from a multiboot guest*" "$b: serial output"
	done
}

@test "isa-debug-exit gives (v << 1) | 1" {
	for b in $(guest_backends); do
		run_tool 67 timeout 20 "$VM_RUN" --accel "$b" -m 16M --kernel "$GUESTS/exit-qemu.elf"
	done
}

@test "io: port and MMIO dispatch reach the right devices" {
	for b in $(guest_backends); do
		run_tool 0 timeout 20 "$VM_RUN" --accel "$b" -m 16M --kernel "$GUESTS/io.elf"
		is "$output" "*io: all checks passed*" "$b: io checks"
	done
}

@test "cpu: the DBT computes what the real CPU computes (KVM as judge)" {
	local a sums=""
	for a in $(guest_backends); do
		run_tool 0 timeout 30 "$VM_RUN" --accel "$a" -m 16M --kernel "$GUESTS/cpu.elf"
		is "$output" "cpu: checksum [0-9a-f]*" "$a: checksum line"
		sums="$sums $a=${output##* }"
	done
	have_kvm || skip "no /dev/kvm to judge against (DBT alone gave:$sums)"
	set -- $sums
	is "${1#*=}" "${2#*=}" "checksums $sums"
}

@test "exc: #DE and #UD are delivered through the IDT; LAR and LSL" {
	local a
	for a in $(guest_backends); do
		# KVM-PVM emulates guest kernel mode and cannot run IRET there.
		[ "$a" = kvm ] && ! have_hw_kvm && continue
		run_tool 0 timeout 30 "$VM_RUN" --accel "$a" -m 16M --kernel "$GUESTS/exc.elf"
		is "$output" "exc: #DE and #UD delivered through the IDT, LAR/LSL right" "$a"
	done
}

# jit64 runs in 64-bit mode, the only code the translator compiles; the
# interpreter and KVM (the real CPU) are the judges of its checksums.  On
# KVM-PVM guest kernel mode is emulated by the host kernel, which cannot
# run SSE arithmetic there: "nosse" skips that part.
@test "jit64: SMC, generated code, page-crossing code, indirect CALL on a TLB miss, precise #PF, IRQ in a loop, accesses across pages whose frames are apart; tiers agree" {
	local a t s x sums="" first="" firstx="" args
	for a in $(guest_backends); do
		for t in jit interp; do
			[ "$a" = kvm ] && [ "$t" = interp ] && continue
			args=()
			[ "$a" = kvm ] && ! have_hw_kvm && args=(--append nosse)
			run_tool 0 timeout 60 "$VM_RUN" --accel "$a" --dbt-tier "$t" -m 64M --kernel "$GUESTS/jit64.elf" "${args[@]}"
			is "$output" "*jit64: smc ok*jit64: gen ok*jit64: cross ok*jit64: icall ok*jit64: precise ok*jit64: irq ok*jit64: many slow paths ok*jit64: stack runs ok*jit64: xpage ok*jit64: linked flags ok*jit64: all ok*" "$a/$t: every check"
			s=$(printf '%s\n' "$output" | sed -n 's/^jit64: sum \([0-9a-f]*\).*/\1/p')
			x=$(printf '%s\n' "$output" | sed -n 's/^jit64: sse \([0-9a-f]*\).*/\1/p')
			[ -n "$s" ] || { echo "# $a/$t: no sum line" >&3; false; }
			[ -n "$x" ] || [ ${#args[@]} -gt 0 ] || { echo "# $a/$t: no sse line" >&3; false; }
			[ ${#args[@]} -gt 0 ] || is "$output" "*jit64: 16-byte alignment before the address ok*" "$a/$t: #GP before #SS"
			[ ${#args[@]} -gt 0 ] || is "$output" "*jit64: sse after CR0.TS ok*" "$a/$t: #NM from translated SSE code"
			[ ${#args[@]} -gt 0 ] || is "$output" "*jit64: maskmovq with TOP 7 ok*" "$a/$t: MASKMOVQ's MMX registers"
			sums="$sums $a/$t=$s/${x:-skipped}"
			[ -z "$first" ] && first=$s
			is "$s" "$first" "integer checksums:$sums"
			if [ -n "$x" ]; then
				[ -z "$firstx" ] && firstx=$x
				is "$x" "$firstx" "SSE checksums:$sums"
			fi
		done
	done
}

@test "--dbt-tier and --dbt-cache: bad values are usage errors" {
	run_tool 2 "$VM_RUN" --dbt-tier fast --kernel "$GUESTS/hello.elf"
	is "$output" "*--dbt-tier: unknown tier 'fast'*"
	run_tool 2 "$VM_RUN" --dbt-cache 12X --kernel "$GUESTS/hello.elf"
	is "$output" "*--dbt-cache: '12X' is not a size*"
}

# The system-side guests (paging.S, ...): expected results from the SDM
# are in the guests; each prints one line per check.  The two DBT tiers
# must print the same lines; KVM runs them where it has hardware
# virtualization (KVM-PVM emulates guest kernel mode, and these guests
# live there).
system_guest() {
	local g=$1 mem=$2 a t out="" first=""
	for a in $(guest_backends); do
		if [ "$a" = kvm ] && ! have_hw_kvm; then
			echo "# $g: kvm skipped: /dev/kvm is software-only (KVM-PVM), it cannot run guest kernel mode" >&3
			continue
		fi
		for t in interp jit; do
			[ "$a" = kvm ] && [ "$t" = jit ] && continue
			run_tool 0 timeout 60 "$VM_RUN" --accel "$a" --dbt-tier "$t" -m "$mem" --kernel "$GUESTS/$g.elf"
			out=$(printf '%s\n' "$output" | grep "^$g: ")
			printf '%s\n' "$out" | grep -v ' ok$' | sed "s/^/# $a\/$t: /" >&3 || true
			is "$out" "*$g: all ok" "$a/$t: every check"
			[ -z "$first" ] && first=$out
			[ "$out" = "$first" ] || { diff <(echo "$first") <(echo "$out") | sed 's/^/# /' >&3; false; }
		done
	done
}

@test "paging: #PF error codes and CR2, WP, U/S, NX, reserved bits, A/D bits, large pages (32-bit, PAE, 4-level)" {
	system_guest paging 32M
}

@test "gates: call gates (stack switch, parameters), conforming code, interrupt/trap gates, #GP/#NP/#SS error codes, limits, expand-down, returns to outer levels" {
	system_guest gates 32M
}

@test "tasks: JMP/CALL to a TSS and a task gate, busy bits, NT and back-link with IRET, #GP/#NP/#TS on bad TSSs, the double fault through a task gate, a 16-bit TSS (and an error code pushed through a task gate into it), DR7's local enables and the TSS T flag" {
	system_guest tasks 32M
}

@test "v86: IRET into virtual-8086 mode, the monitor's frame, #GP for INT n/CLI/PUSHF/HLT, the I/O bitmap, VME's redirection bitmap and VIF/VIP, TF across the entry, PVI's CLI/STI at CPL 3, a task switch into virtual-8086 mode" {
	system_guest v86 32M
}

@test "modes16: ENTER with nesting levels and 16-bit stacks, faults that leave ESP/EBP, BOUND, ARPL, 16-bit code segments and interrupt gates" {
	system_guest modes16 32M
}

@test "debug: single-step traps (after POPF, MOV SS, INT n, far jumps to 16-bit code and back, each REP iteration, across real mode and back and long-mode entry), DR0-DR3 instruction, data (every R/W and LEN, REP, over compiled code, hit by an event delivery's pushes) and I/O breakpoints with DR6 and RF, RF for interrupts between REP iterations (also in 16-bit code), DR7.GD, DR4/DR5, 32-bit and 64-bit" {
	system_guest debug 32M
}

@test "prot: SMEP, SMAP (STAC/CLAC, POPF, REP MOVSB, implicit supervisor accesses, stale TLB entries after CLAC), UMIP (SGDT/SIDT/SLDT/SMSW/STR at CPL 3), global pages flushed by INVLPG, a CR4.PGE toggle and (G clear or PGE clear) CR3 loads, for data and code, 64-bit, both tiers; SMEP and SMAP at CPL 0 also under 32-bit (4 MiB and 4 KiB pages) and PAE paging, CR4 bits of unadvertised features #GP, PVI's CLI/STI in 64-bit mode, x87 FCS/FDS in 64-bit mode, an implicit TSS write after a STAC window's explicit write, CPL 3 under SMEP and SMAP in 32-bit code" {
	system_guest prot 32M
}

# smp.S: the BSP starts the others with INIT-SIPI-SIPI and every CPU runs
# the same races, in 32-bit mode (interpreted) and 64-bit mode (compiled on
# the jit tier): LOCKed counters whose totals must be exact, spinlocks,
# message passing and store buffering with fences (TSO forbids their
# failures), cross-modifying code, IPIs both ways and a TLB shootdown.
# The lines must be the same on every tier and CPU count; KVM joins where
# it has hardware virtualization (the guest lives in kernel mode).
@test "smp: INIT-SIPI-SIPI, LOCK/XCHG/CMPXCHG/XADD races with exact totals, TSO litmus tests, cross-modifying code, IPIs, a TLB shootdown (--cpus 2 and 4, both tiers)" {
	local a t n out first=""
	for a in $(guest_backends); do
		if [ "$a" = kvm ] && ! have_hw_kvm; then
			echo "# smp: kvm skipped: /dev/kvm is software-only (KVM-PVM), it cannot run guest kernel mode" >&3
			continue
		fi
		for n in 2 4; do
			for t in interp jit; do
				[ "$a" = kvm ] && [ "$t" = jit ] && continue
				run_tool 0 timeout 120 "$VM_RUN" --accel "$a" --dbt-tier "$t" --cpus "$n" -m 64M \
					--kernel "$GUESTS/smp.elf" --append "cpus=$n"
				out=$(printf '%s\n' "$output" | grep "^smp: ")
				printf '%s\n' "$out" | grep -v ' ok$' | sed "s/^/# $a\/$t\/$n: /" >&3 || true
				is "$out" "*smp: 32 up ok*smp: 32 inc ok*smp: 32 ipi ok*smp: 32 tlb ok*smp: 64 cline ok*smp: 64 xpage ok*smp: 64 c16b ok*smp: 64 mmio ok*smp: 64 sb ok*smp: 64 xmc ok*smp: all ok" "$a/$t/--cpus $n: every check"
				[ -z "$first" ] && first=$out
				[ "$out" = "$first" ] || { diff <(echo "$first") <(echo "$out") | sed 's/^/# /' >&3; false; }
			done
		done
	done
}

# SMP.md M5: a store that passed its write-entry check before the page
# gained code lands after the translator compared its bytes.  The
# delay (interpreter-side stores sleep between check and store) makes
# it land late almost every round: without the translator's wait for
# such stores (dbt_sync_writers) 32 xmcs fails some 195 of its 200
# rounds on both tiers.
@test "smp: a function rewritten while another vCPU translates it runs in its last version after CPUID (parallel, a store delayed past its check, both tiers, --cpus 2 and 4)" {
	local t n
	for n in 2 4; do
		for t in interp jit; do
			VMKIT_DBT_SMP=parallel VMKIT_DBT_WRITE_DELAY=100 run_tool 0 timeout 200 \
				"$VM_RUN" --accel dbt --dbt-tier "$t" --cpus "$n" -m 64M \
				--kernel "$GUESTS/smp.elf" --append "cpus=$n xmcs" --stats
			is "$output" "*smp: 32 up ok*smp: 32 xmcs ok*smp: 64 xmcs ok*smp: all ok*" "$t/--cpus $n: the checks"
			w=$(printf '%s\n' "$output" | sed -n "s/.* \([0-9]*\) waits for other vCPUs' stores.*/\1/p")
			[ -n "$w" ] && [ "$w" -gt 0 ] || { echo "# $t/$n: the translator never waited for a store (--stats: '$w')" >&3; false; }
		done
	done
	VMKIT_DBT_WRITE_DELAY=soon run_tool 1 timeout 20 "$VM_RUN" --accel dbt -m 64M --kernel "$GUESTS/smp.elf"
	is "$output" "*VMKIT_DBT_WRITE_DELAY=soon*microseconds*"
}

# The LOCKed operands the host cannot update atomically (across a line,
# across a page, MMIO) run with the other vCPUs stopped, counted by
# --stats; per CPU and mode smp.S has at least 4 * ITER (20000) of them
# plus 17 on the TPR.  The JIT sends a line-crossing LOCK there too
# instead of running it as a host split lock: without that the 64-bit
# line and cline counters would be missing (80000 fewer).
@test "smp: LOCKed operands across a line or a page, or on MMIO, run in an exclusive section on both tiers (--stats)" {
	local t n
	for t in interp jit; do
		run_tool 0 timeout 120 "$VM_RUN" --accel dbt --dbt-tier "$t" --cpus 2 -m 64M \
			--kernel "$GUESTS/smp.elf" --append "cpus=2" --stats
		is "$output" "*smp: 32 cline ok*smp: 32 xpage ok*smp: 32 mmio ok*smp: 64 cline ok*smp: 64 xpage ok*smp: 64 mmio ok*smp: all ok*" "$t: the checks"
		n=$(printf '%s\n' "$output" | sed -n 's/.* \([0-9]*\) LOCKed accesses run exclusively.*/\1/p')
		[ -n "$n" ] || { echo "# $t: no exclusive count in --stats" >&3; false; }
		[ "$n" -ge $((2 * 2 * (4 * 20000 + 17))) ] || { echo "# $t: $n exclusive runs, want >= 320068" >&3; false; }
	done
}

@test "smp: the vCPUs run at once by default; VMKIT_DBT_SMP takes serial and parallel and refuses anything else by name" {
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt --cpus 2 -m 64M \
		--kernel "$GUESTS/smp.elf" --append "cpus=2" --stats
	is "$output" "*smp: all ok*dbt: 2 vCPUs, running at once (parallel)*"
	VMKIT_DBT_SMP=parallel run_tool 0 timeout 120 "$VM_RUN" --accel dbt --cpus 2 -m 64M \
		--kernel "$GUESTS/smp.elf" --append "cpus=2" --stats
	is "$output" "*smp: all ok*dbt: 2 vCPUs, running at once (parallel)*"
	VMKIT_DBT_SMP=serial run_tool 0 timeout 120 "$VM_RUN" --accel dbt --cpus 2 -m 64M \
		--kernel "$GUESTS/smp.elf" --append "cpus=2" --stats
	is "$output" "*smp: all ok*dbt: 2 vCPUs, taking turns (VMKIT_DBT_SMP=serial)*"
	VMKIT_DBT_SMP=sideways run_tool 1 timeout 20 "$VM_RUN" --accel dbt -m 64M --kernel "$GUESTS/smp.elf"
	is "$output" "*VMKIT_DBT_SMP=sideways: want serial or parallel*"
}

@test "smp: one CPU without cpus=N runs the counters and says which checks it skipped" {
	run_tool 0 timeout 60 "$VM_RUN" --accel dbt -m 64M --kernel "$GUESTS/smp.elf"
	is "$output" "*smp: 32 up ok*smp: 32 inc ok*smp: 32 mp skipped*smp: 32 tlb skipped*smp: 64 code ok*smp: all ok*"
}
