# Helpers for the 8NN snapshot suites: a guest-kit guest counting on its
# serial console, read back from the console log vm-run writes.

# wait_for FILE PATTERN SECONDS [PID]: until the console log has the
# pattern (or process PID, the VM, has ended)
wait_for() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		tr -d '\r' <"$1" 2>/dev/null | grep -q -- "$2" && return 0
		if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
			echo "# no '$2' in $1: the VM (pid $4) ended:" >&3
			sed 's/^/#   | /' "$1" >&3
			return 1
		fi
		sleep 0.2
	done
	echo "# no '$2' in $1 after $3 s:" >&3
	sed 's/^/#   | /' "$1" >&3
	return 1
}

# last_count FILE: the highest count=N printed
last_count() {
	tr -d '\r' <"$1" | sed -n 's/^count=\([0-9]*\).*/\1/p' | tail -n 1
}

# counts FILE [BYTE-OFFSET]: the counts printed (after the offset)
counts() {
	tail -c +$((${2:-0} + 1)) "$1" | tr -d '\r' | sed -n 's/^count=\([0-9]*\)$/\1/p'
}

# consecutive: stdin's numbers each one more than the one before
consecutive() {
	awk 'NR > 1 && $1 != p + 1 { print "# " p " then " $1; exit 1 } { p = $1 }'
}

# each count's disk= the write of the count before (none lost, none late)
disk_follows() {
	tr -d '\r' <"$1" | sed -n 's/^count=\([0-9]*\) disk=\([a-z0-9]*\)$/\1 \2/p' |
		awk 'NR > 1 && $2 != "w" ($1 - 1) { print "# count=" $1 " read " $2; bad = 1 } END { exit bad }'
}
