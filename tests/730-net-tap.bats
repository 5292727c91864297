#!/usr/bin/env bats
# Host tap back ends, in a network namespace each test makes (the host's
# own interfaces are never touched): a guest kit guest on --net tap:DEV
# (e1000 and virtio-net) pings the namespace's address and answers the
# namespace's pings; vm-net tap bridges a switch to a tap the same way.
# Refusals: bad names, a tun (not tap) device, no CAP_NET_ADMIN.

load helpers
load net

setup() {
	net_rt_setup
	NS=
}

teardown() {
	net_rt_teardown
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	true
}

# netns_tap DEV ADDR: a namespace of our own with tap DEV at ADDR/24, up.
netns_tap() {
	require_root
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	NS=vmkit-tap-$$-$BATS_TEST_NUMBER
	ip netns add "$NS" 2>/dev/null || skip "cannot make a network namespace"
	ip -n "$NS" link set lo up
	ip -n "$NS" tuntap add dev "$1" mode tap
	ip -n "$NS" addr add "$2/24" dev "$1"
	ip -n "$NS" link set "$1" up
}

# The guest's part: ADDR/24 on eth0, ping PEER until it answers, 3 more
# pings, then stay up until the namespace has pinged back (/done).
GUEST_PING='ip addr add $ADDR/24 dev eth0; ip link set eth0 up
n=0; until ping -c 1 -W 1 $PEER >/dev/null 2>&1 || [ $n -ge 100 ]; do n=$((n+1)); done
ping -c 3 $PEER
echo =PING""ED=
sleep 20'

@test "tap: bad names and specs are usage errors; a tun device and no CAP_NET_ADMIN are refused with what to do" {
	guestkit
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net tap:
	is "$output" "*--net tap:: 'tap:': name the tap device (tap:DEV)*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net tap:../x
	is "$output" "*'../x' is not a network interface name*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net tap:abcdefghijklmnop
	is "$output" "*'abcdefghijklmnop' is not a network interface name (1 to 15 characters*"
	run_tool 2 "$VM_NET" tap lan0
	is "$output" "*usage: vm-net tap \[--vlan N | --trunk\] NAME TAPDEV*"
	run_tool 2 "$VM_NET" tap lan0 a/b
	is "$output" "*'a/b' is not a network interface name*"
	run_tool 1 "$VM_NET" tap nosuch tap0
	is "$output" "*switch nosuch: cannot connect to*"
	netns_tap vmkt0 10.0.9.1
	ip -n "$NS" tuntap add dev vmktun mode tun
	run_tool 1 ip netns exec "$NS" "$VM_RUN" --accel dbt --kernel "$GUESTS/hello.elf" --net tap:vmktun </dev/null
	is "$output" "*tap vmktun: cannot attach (is it a tun device, not a tap, or in use by another program?)*"
	command -v setpriv >/dev/null || skip "no setpriv to drop root"
	# (--ctl none: the unprivileged user cannot make its control socket
	# in the test's runtime directory, which is root's)
	run_tool 1 ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=-all --bounding-set=-all "$VM_RUN" --accel dbt \
		--ctl none --kernel "$GUESTS/hello.elf" --net tap:vmkt0 </dev/null
	is "$output" "*tap vmkt0: *not permitted*"
}

@test "dbt: guests on --net tap:DEV (e1000, then virtio) ping the namespace's address, and the namespace pings them" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	netns_tap vmkt0 10.0.9.1
	cd "$BATS_TEST_TMPDIR"
	for model in e1000 virtio; do
		printf '%s\n' "stty -echo" "ADDR=10.0.9.2 PEER=10.0.9.1" "$GUEST_PING" "poweroff -f" > g.in
		timeout 300 ip netns exec "$NS" "$VM_RUN" --accel dbt --no-reboot -m 256M --name tapg \
			--kernel "$KERNEL" --initrd "$INITRD" --net tap:vmkt0,model=$model \
			--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000" \
			< g.in > $model.log 2>&1 3>&- &
		pid=$!
		BG_PIDS="$!"
		wait_for $model.log "=PINGED=" 250
		run ip netns exec "$NS" busybox ping -c 3 -W 5 10.0.9.2
		back=$output
		kill "$pid" 2>/dev/null || true
		wait "$pid" || true
		BG_PIDS=
		is "$(cat $model.log)" "*3 packets transmitted, 3 packets received*" "$model: the guest pings 10.0.9.1"
		is "$back" "*3 packets transmitted, 3 packets received*" "$model: the namespace pings the guest"
	done
}

@test "dbt: vm-net tap bridges a switch to a tap: a guest on the switch and the namespace ping each other" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	netns_tap vmkt1 10.0.8.1
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lan0
	ip netns exec "$NS" "$VM_NET" tap lan0 vmkt1 > tap.log 2>&1 3>&- &
	BG_PIDS="$!"
	for _ in $(seq 50); do
		[ "$("$VM_NET" status --json lan0 | jq '.ports | length')" = 1 ] && break
		sleep 0.1
	done
	guest_bg sw "ADDR=10.0.8.2 PEER=10.0.8.1
$GUEST_PING" --net switch:lan0,model=e1000 \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	wait_for "$BATS_TEST_TMPDIR/sw.log" "=PINGED=" 250
	run ip netns exec "$NS" busybox ping -c 3 -W 5 10.0.8.2
	back=$output
	run_tool 0 "$VM_NET" status --json lan0
	ports=$(jq '.ports | length' <<<"$output")
	kill_bg
	"$VM_NET" stop lan0
	is "$(tr -d '\r' < sw.log)" "*3 packets transmitted, 3 packets received*" "the guest pings the namespace through the switch"
	is "$back" "*3 packets transmitted, 3 packets received*" "the namespace pings the guest"
	is "$ports" 2 "the switch has the tap's port and the guest's"
}

@test "dbt: virtio-net on a tap with IFF_VNET_HDR: 4 MiB from the guest reach the namespace intact, its TSO frames unsplit" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	netns_tap vmkt2 10.0.7.1
	cd "$BATS_TEST_TMPDIR"
	printf '%s\n' "stty -echo" "ip addr add 10.0.7.2/24 dev eth0; ip link set eth0 up" \
		"mkdir /www; dd if=/dev/urandom of=/www/f bs=1M count=4 2>/dev/null" \
		"echo gsum=\$(md5sum < /www/f)" "httpd -p 80 -h /www" "echo =RE''ADY=" \
		"sleep 600" > tso.in
	timeout 300 ip netns exec "$NS" "$VM_RUN" --accel dbt --no-reboot -m 256M --name tso \
		--kernel "$KERNEL" --initrd "$INITRD" --net tap:vmkt2 \
		--append "console=ttyS0 panic=-1 quiet" < tso.in > tso.log 2>&1 3>&- &
	pid=$!
	BG_PIDS="$pid"
	wait_for tso.log "=READY=" 250
	rx0=$(ip netns exec "$NS" cat /sys/class/net/vmkt2/statistics/rx_packets)
	ip netns exec "$NS" curl -s --max-time 120 -o got http://10.0.7.2/f
	rx1=$(ip netns exec "$NS" cat /sys/class/net/vmkt2/statistics/rx_packets)
	kill "$pid" 2>/dev/null || true
	wait "$pid" || true
	BG_PIDS=
	gsum=$(tr -d '\r' < tso.log | sed -n 's/.*gsum=\([0-9a-f]\{32\}\).*/\1/p')
	[ -n "$gsum" ]
	is "$(md5sum < got | cut -d' ' -f1)" "$gsum" "the namespace's copy of the guest's 4 MiB"
	# 4 MiB in MTU-sized frames would be over 2,800 of them.
	[ $((rx1 - rx0)) -lt 2000 ] || { echo "# the tap took $((rx1 - rx0)) frames for 4 MiB: TSO frames were split" >&3; false; }
}

@test "dbt: the host's TSO frames through a tap: 4 MiB from the namespace reach a virtio guest intact in fewer, larger frames (GUEST_TSO4)" {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	netns_tap vmkt3 10.0.8.1
	cd "$BATS_TEST_TMPDIR"
	mkdir www && head -c 4194304 /dev/urandom > www/f
	sum=$(md5sum < www/f | cut -d' ' -f1)
	ip netns exec "$NS" python3 -m http.server 8080 --bind 10.0.8.1 --directory www > http.log 2>&1 3>&- &
	BG_PIDS="$!"
	wait_for http.log "Serving HTTP" 20 || true
	printf '%s\n' "stty -echo" "ip addr add 10.0.8.2/24 dev eth0; ip link set eth0 up" \
		"n=0; until ping -c 1 -W 1 10.0.8.1 >/dev/null 2>&1 || [ \$n -ge 100 ]; do n=\$((n+1)); done" \
		"r0=\$(cat /sys/class/net/eth0/statistics/rx_packets)" \
		"wget -q -O - http://10.0.8.1:8080/f | md5sum | sed 's/^/got=/'" \
		"echo rxpk=\$((\$(cat /sys/class/net/eth0/statistics/rx_packets) - r0))" \
		"poweroff -f" > in.txt
	run timeout 300 ip netns exec "$NS" "$VM_RUN" --accel dbt --no-reboot -m 256M --name tsoin \
		--kernel "$KERNEL" --initrd "$INITRD" --net tap:vmkt3 \
		--append "console=ttyS0 panic=-1 quiet" < in.txt 3>&-
	output=$(tr -d '\r' <<<"$output")
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$output" "*got=$sum*" "the guest's copy of the namespace's 4 MiB"
	n=$(sed -n 's/.*rxpk=\([0-9][0-9]*\).*/\1/p' <<<"$output")
	# 4 MiB in MTU-sized frames would be over 2,800 of them.
	[ -n "$n" ] && [ "$n" -lt 2700 ] || { echo "# the guest received $n frames for 4 MiB: split" >&3; false; }
}
