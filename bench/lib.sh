# Shared by the boot benchmarks (bench/run.sh, bench/boot-fw.sh); sourced,
# with $tmp (a scratch directory) and $RUNS set by the caller.

# run_one CMD...: prints "ready_s exit_s rss_kib status cpu_s".  A run that
# exits 0 without the guest having run its md5sum is a failure (status 99).
run_one() {
	local start ready="" end st rss usr sys
	# The last run's output goes first: the background job's redirection
	# may truncate it after the loop below has looked once.
	: > "$tmp/out"
	start=$(date +%s.%N)
	/usr/bin/time -f '%M %U %S' -o "$tmp/rss" "$@" < /dev/null > "$tmp/out" 2>&1 &
	local pid=$!
	while kill -0 $pid 2>/dev/null; do
		if [ -z "$ready" ] && grep -q 'vmkit-guest: ready' "$tmp/out" 2>/dev/null; then
			ready=$(date +%s.%N)
		fi
		sleep 0.01
	done
	wait $pid; st=$?
	end=$(date +%s.%N)
	[ -z "$ready" ] && grep -q 'vmkit-guest: ready' "$tmp/out" && ready=$end
	grep -q '[0-9a-f]\{32\}  /bin/busybox' "$tmp/out" || [ "$st" -ne 0 ] || st=99
	read -r rss usr sys < <(tail -1 "$tmp/rss")
	printf '%s %s %s %s %s\n' \
		"$( [ -n "$ready" ] && echo "$ready - $start" | bc || echo NA)" \
		"$(echo "$end - $start" | bc)" "$rss" "$st" \
		"$(echo "$usr + $sys" | bc)"
}

# median [DECIMALS]: of one number per line (NA when there is none)
median() {
	sort -n | awk -v d="${1:-}" '{a[NR]=$1} END {
		m = NR ? a[int((NR+1)/2)] : "NA"
		if (d == "" || m == "NA") print m; else printf "%.*f\n", d, m }'
}

# bench NAME CMD...: one table row, the medians of $RUNS runs; the name
# column is $BENCH_NAME_WIDTH wide (default 44)
bench() {
	local name=$1; shift
	: > "$tmp/r"
	for _ in $(seq "$RUNS"); do run_one "$@" >> "$tmp/r"; done
	row "$name" "$tmp/r"
}

# row NAME FILE: the table row of FILE's run_one lines
row() {
	local ok; ok=$(awk '$4 == 0' "$2" | wc -l)
	printf '| %-*s | %10s | %9s | %5s | %12s | %s/%s |\n' \
		"${BENCH_NAME_WIDTH:-44}" "$1" \
		"$(awk '{print $1}' "$2" | median 1)" \
		"$(awk '{print $2}' "$2" | median 1)" \
		"$(awk '{print $5}' "$2" | median 1)" \
		"$(awk '{print $3}' "$2" | median)" "$ok" "$(wc -l < "$2")"
}
