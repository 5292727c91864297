#!/bin/bash
# Run the unit tests and the bats suites; end with "N passed, N failed".
# usage: tests/run-all.sh BUILD_DIR [unit|bats]
set -u
BUILD=${1:?build dir}
WHAT=${2:-all}
export VMKIT_BUILD=$(cd "$BUILD" && pwd)
pass=0 fail=0 skip=0
failed_names=()

count_tap() { # file name
	local f=$1 name=$2 p fl s
	p=$(grep -cE '^ok ' "$f" | head -1)
	s=$(grep -cE '^ok .*# [Ss][Kk][Ii][Pp]' "$f" | head -1)
	fl=$(grep -cE '^not ok ' "$f" | head -1)
	pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + fl))
	# Skips name their reason: CI's log says what was not tested.
	grep -E '^ok .*# [Ss][Kk][Ii][Pp]' "$f" | sed 's/^/  /'
	if [ "$fl" -gt 0 ]; then
		failed_names+=("$name")
		grep -E '^not ok |^#' "$f" | head -200
	fi
}

# The machine, for logs read elsewhere (CI): the DBT's native code and
# the difftest's judge depend on the host CPU.
echo "== host: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cpus, $(uname -r)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$WHAT" = all ] || [ "$WHAT" = unit ]; then
	for t in "$BUILD"/tests/*_test; do
		[ -x "$t" ] || continue
		n=$(basename "$t")
		echo "== unit: $n"
		"$t" > "$tmp/$n.tap" 2>&1
		rc=$?
		count_tap "$tmp/$n.tap" "$n"
		if [ $rc -ne 0 ] && ! grep -q '^not ok' "$tmp/$n.tap"; then
			fail=$((fail + 1)); failed_names+=("$n (exit $rc)")
			tail -5 "$tmp/$n.tap"
		fi
	done
fi

# The bats suites run $JOBS at a time (VMKIT_TEST_JOBS, default: one per
# core): most of their time is one guest on one vCPU, so on two cores two
# suites take the time of one.  Each suite has its own runtime directory
# (helpers.bash) and asks for free ports, so suites never meet.  Their
# results are printed in order, each as soon as it and those before it
# are done.
JOBS=${VMKIT_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1

run_suite() { # file name
	local t0=$SECONDS
	bats --tap "$1" > "$tmp/$2.tap" 2>&1
	echo $? > "$tmp/$2.rc.part"
	echo $((SECONDS - t0)) > "$tmp/$2.secs"
	mv "$tmp/$2.rc.part" "$tmp/$2.rc"
}

report_suite() { # name
	local n=$1 rc
	rc=$(cat "$tmp/$n.rc")
	echo "== bats: $n ($(cat "$tmp/$n.secs") s)"
	count_tap "$tmp/$n.tap" "$n"
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$tmp/$n.tap"; then
		fail=$((fail + 1)); failed_names+=("$n (exit $rc)")
		tail -20 "$tmp/$n.tap"
	fi
}

if [ "$WHAT" = all ] || [ "$WHAT" = bats ]; then
	suites=() names=()
	for s in tests/[0-9]*.bats; do
		[ -e "$s" ] || continue
		suites+=("$s"); names+=("$(basename "$s" .bats)")
	done
	echo "== bats: ${#suites[@]} suites, $JOBS at a time"
	running=0 next=0
	for k in "${!suites[@]}"; do
		while [ "$running" -ge "$JOBS" ]; do
			wait -n; running=$((running - 1))
			while [ "$next" -lt "$k" ] && [ -e "$tmp/${names[$next]}.rc" ]; do
				report_suite "${names[$next]}"; next=$((next + 1))
			done
		done
		run_suite "${suites[$k]}" "${names[$k]}" &
		running=$((running + 1))
	done
	wait
	while [ "$next" -lt "${#suites[@]}" ]; do
		report_suite "${names[$next]}"; next=$((next + 1))
	done
fi

[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
