#!/bin/sh
# tools/tsan-smp.sh BUILD: tests/guests/smp.S with the DBT's vCPUs in
# parallel ($VMKIT_DBT_SMP=parallel), on both tiers, at --cpus 2 and 4,
# under a ThreadSanitizer build (make tsan builds build/tsan and runs
# this).  Each run's reports go to BUILD/tsan-smp/TIER-N.log; the races
# that are there on purpose are listed in tools/tsan.supp (each one is
# explained in common/dbt/SMP.md, "TSan").  Exit 1 if any run failed its
# checks or TSan reported a race not suppressed.
set -u
build=${1:?usage: tools/tsan-smp.sh BUILD (build/tsan)}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$build/tsan-smp
mkdir -p "$out"
rc=0
for tier in interp jit; do
	for n in 2 4; do
		log=$out/$tier-$n.log
		VMKIT_DBT_SMP=parallel VMKIT_DBT_TIER=$tier \
		TSAN_OPTIONS="suppressions=$top/tools/tsan.supp halt_on_error=0 exitcode=66 history_size=4" \
		    timeout 1200 "$build/vm-run" --accel dbt -m 64M --cpus "$n" \
		    --kernel "$build/guests/smp.elf" --append "cpus=$n" \
		    >"$log" 2>&1
		st=$?
		races=$(grep -c '^WARNING: ThreadSanitizer' "$log")
		if grep -q '^smp: all ok' "$log"; then checks=ok; else checks=FAILED; fi
		echo "tsan-smp: $tier --cpus $n: exit $st, smp checks $checks, $races race reports ($log)"
		if [ "$st" -ne 0 ] || [ "$checks" != ok ] || [ "$races" -ne 0 ]; then
			rc=1
		fi
	done
done
exit $rc
