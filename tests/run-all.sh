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

if [ "$WHAT" = all ] || [ "$WHAT" = bats ]; then
	for s in tests/[0-9]*.bats; do
		[ -e "$s" ] || continue
		n=$(basename "$s" .bats)
		echo "== bats: $n"
		bats --tap "$s" > "$tmp/$n.tap" 2>&1
		rc=$?
		count_tap "$tmp/$n.tap" "$n"
		if [ $rc -ne 0 ] && ! grep -q '^not ok' "$tmp/$n.tap"; then
			fail=$((fail + 1)); failed_names+=("$n (exit $rc)")
			tail -20 "$tmp/$n.tap"
		fi
	done
fi

[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
