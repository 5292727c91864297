#!/usr/bin/env bats
# virtio-net's offloads (CSUM, GUEST_CSUM, HOST_TSO4, HOST_TSO6,
# GUEST_TSO4, GUEST_TSO6): the guest kit's Linux negotiates them and
# moves data intact through the NAT and through a switch, where vm-net
# capture and tshark find every checksum right and no frame over the MTU
# (the TSO frames were cut into segments for the capture); without a
# capture a TSO frame reaches another virtio guest whole, an e1000 guest
# in segments; a bare-metal guest (tests/guests/virtio-net-evil.c) sends
# headers that lie about their frames, and every one is refused while
# vm-run keeps running and the truthful frames still get through.

load helpers
load net

setup() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
	net_rt_setup
}

teardown() {
	net_rt_teardown
}

# The fourteen kinds of lie, as vm-run names them.
LIES=("flags other than NEEDS_CSUM" "NEEDS_CSUM without the CSUM feature"
	"csum_start outside the frame's payload" "csum_offset past the frame's end"
	"a gso_type not negotiated" "segmentation without NEEDS_CSUM"
	"gso_size out of range" "hdr_len past the frame's end"
	"an EtherType that is not the gso_type's IP" "a bad IP header"
	"an IP length that does not fit the frame"
	"segmentation of something other than TCP"
	"csum_start/csum_offset not at TCP's checksum" "a bad TCP header")

@test "dbt: NAT with offloads: the guest negotiates them; 8 MiB from the host and 8 MiB to the host arrive intact, the upload in TSO frames" {
	cd "$BATS_TEST_TMPDIR"
	mkdir www && head -c 8388608 /dev/urandom > www/down
	down=$(md5sum < www/down | cut -d' ' -f1)
	hport=$(free_port)
	python3 -m http.server "$hport" --bind 127.0.0.1 --directory www > http.log 2>&1 3>&- &
	BG_PIDS="$!"
	fport=$(free_port)
	sport=$(free_port)
	wait_for http.log "Serving HTTP" 20 || true
	guest_bg up "$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh >/dev/null
echo feat=\$(cut -c1,2,12,13 /sys/class/net/eth0/device/features)
wget -q -O - http://10.0.2.2:$hport/down | md5sum | sed 's/^/down=/'
mkdir /www; dd if=/dev/urandom of=/www/up bs=1M count=8 2>/dev/null
echo upsum=\$(md5sum < /www/up)
httpd -p 80 -h /www
t0=\$(cat /sys/class/net/eth0/statistics/tx_packets)
echo =RE''ADY=
nc -l -p 9001 </dev/null
echo txpk=\$((\$(cat /sys/class/net/eth0/statistics/tx_packets) - t0))" \
		--net "nat,forward=tcp:127.0.0.1:$fport:80,forward=tcp:127.0.0.1:$sport:9001"
	wait_for up.log "=READY=" 250
	curl -s --max-time 120 -o got "http://127.0.0.1:$fport/up"
	run_tool 0 "$VM_RUN" --cmd up query-nics --json
	nics=$output
	curl -s --max-time 30 "http://127.0.0.1:$sport/" >/dev/null || true
	guest_wait up
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$output" "*feat=1111*" "CSUM, GUEST_CSUM, HOST_TSO4, HOST_TSO6 negotiated (feature bits 0, 1, 11, 12)"
	is "$output" "*down=$down*" "the guest's copy of the host's 8 MiB"
	up=$(sed -n 's/.*upsum=\([0-9a-f]\{32\}\).*/\1/p' <<<"$output")
	[ -n "$up" ]
	is "$(md5sum < got | cut -d' ' -f1)" "$up" "the host's copy of the guest's 8 MiB, through the forward"
	# 8 MiB in MTU-sized frames would be over 5,700 of them.
	n=$(sed -n 's/.*txpk=\([0-9]*\).*/\1/p' <<<"$output")
	[ -n "$n" ] && [ "$n" -lt 4000 ] || { echo "# the guest sent $n frames for 8 MiB: no TSO" >&3; false; }
	# vm-run's side: TSO frames cut into more segments, no header refused.
	is "$(jq -r '.nics[0] | .model + " " + (.headers_refused | tostring)' <<<"$nics")" "virtio-net 0" "query-nics"
	tf=$(jq '.nics[0].tso_frames' <<<"$nics")
	ts=$(jq '.nics[0].tso_segments' <<<"$nics")
	[ "$tf" -gt 0 ] && [ "$ts" -gt "$tf" ] || { echo "# query-nics: $nics" >&3; false; }
}

@test "dbt: a switch with offloads: 4 MiB between two guests intact; in vm-net capture tshark finds every IP and TCP checksum right, no frame over 1514 bytes" {
	command -v tshark >/dev/null || skip "tshark is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lanx
	"$VM_NET" capture lanx -w lanx.pcap 3>&- &
	cap_pid=$!
	BG_PIDS="$cap_pid"
	guest_bg srv "dd if=/dev/urandom of=/up bs=1M count=4 2>/dev/null
echo srvsum=\$(md5sum < /up)
mkdir /www; mv /up /www/up; httpd -p 80 -h /www
$(ping_peer_cmd 10.0.3.1 10.0.3.2)
nc -l -p 9001 </dev/null" --net switch:lanx
	guest_bg cli "$(ping_peer_cmd 10.0.3.2 10.0.3.1)
wget -q -O - http://10.0.3.1/up | md5sum | sed 's/^/got=/'
n=0; until echo done | nc 10.0.3.1 9001 || [ \$n -ge 60 ]; do n=\$((n+1)); sleep 1; done" --net switch:lanx
	guest_wait srv
	srv_out=$output
	is "$status" 0 "the server guest powered off"
	guest_wait cli
	is "$status" 0 "the client guest powered off"
	"$VM_NET" stop lanx
	wait "$cap_pid" || true
	sum=$(sed -n 's/.*srvsum=\([0-9a-f]\{32\}\).*/\1/p' <<<"$srv_out")
	[ -n "$sum" ]
	is "$output" "*got=$sum*" "the client's copy of the server's 4 MiB"
	opts=(-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE)
	tshark -r lanx.pcap "${opts[@]}" -Y 'ip.checksum.status == 0 || tcp.checksum.status == 0' > bad.txt 2>/dev/null
	is "$?" 0 "tshark reads the capture"
	is "$(cat bad.txt)" "" "frames with a bad IP or TCP checksum"
	good=$(tshark -r lanx.pcap "${opts[@]}" -Y 'tcp.checksum.status == 1 && tcp.len > 0 && ip.src == 10.0.3.1' 2>/dev/null | wc -l)
	[ "$good" -gt 2800 ] || { echo "# only $good data segments from the server with a right checksum" >&3; false; }
	max=$(tshark -r lanx.pcap -T fields -e frame.len 2>/dev/null | sort -n | tail -1)
	[ "$max" -le 1514 ] || { echo "# a $max-byte frame on the switch" >&3; false; }
}

# tso_client NAME ADDR: a vmkit.run= script for a guest that fetches
# /up from 10.0.3.1 and says its card's receive count for it, then waits
# 30 s for the test's query-nics and tells the server it is done.
tso_client() {
	printf '%s\n' "ip addr add $2/24 dev eth0; ip link set eth0 up" \
		"echo feat=\$(cut -c8,9 /sys/class/net/eth0/device/features 2>/dev/null)" \
		"n=0; until ping -c 1 -W 1 10.0.3.1 >/dev/null 2>&1 || [ \$n -ge 100 ]; do n=\$((n+1)); done" \
		"r0=\$(cat /sys/class/net/eth0/statistics/rx_packets)" \
		"wget -q -O - http://10.0.3.1/up | md5sum | sed 's/^/got=/'" \
		"echo rxpk=\$((\$(cat /sys/class/net/eth0/statistics/rx_packets) - r0))" \
		"echo =GO''T=; sleep 30" \
		"n=0; until echo done | nc 10.0.3.1 9001 || [ \$n -ge 60 ]; do n=\$((n+1)); sleep 1; done"
}

@test "dbt: GUEST_TSO4/6 on a switch: a virtio guest's TSO frames reach a virtio guest whole (fewer, larger frames), an e1000 guest as segments; 4 MiB intact in both" {
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lant
	guest_bg srv "dd if=/dev/urandom of=/up bs=1M count=4 2>/dev/null
echo srvsum=\$(md5sum < /up)
mkdir /www; mv /up /www/up; httpd -p 80 -h /www
ip addr add 10.0.3.1/24 dev eth0; ip link set eth0 up
nc -l -p 9001 </dev/null; nc -l -p 9001 </dev/null" --net switch:lant
	guest_bg vio "$(tso_client vio 10.0.3.2)" --net switch:lant
	guest_bg eth "$(tso_client eth 10.0.3.3)" --net switch:lant,model=e1000 \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	wait_for vio.log "=GOT=" 250
	run_tool 0 "$VM_RUN" --cmd vio query-nics --json
	nics=$output
	wait_for eth.log "=GOT=" 250
	run_tool 0 "$VM_NET" status --json lant
	ports=$output
	guest_wait vio
	is "$status" 0 "the virtio client powered off"
	vio_out=$output
	guest_wait eth
	is "$status" 0 "the e1000 client powered off"
	eth_out=$output
	guest_wait srv
	is "$status" 0 "the server powered off"
	sum=$(sed -n 's/.*srvsum=\([0-9a-f]\{32\}\).*/\1/p' <<<"$output")
	[ -n "$sum" ]
	is "$vio_out" "*feat=11*" "the virtio client negotiated GUEST_TSO4 and GUEST_TSO6 (feature bits 7, 8)"
	is "$vio_out" "*got=$sum*" "the virtio client's copy of the server's 4 MiB"
	is "$eth_out" "*got=$sum*" "the e1000 client's copy of the server's 4 MiB"
	# 4 MiB in MTU-sized segments is at least 2,897 frames.
	v=$(sed -n 's/.*rxpk=\([0-9][0-9]*\).*/\1/p' <<<"$vio_out")
	e=$(sed -n 's/.*rxpk=\([0-9][0-9]*\).*/\1/p' <<<"$eth_out")
	echo "# frames received for 4 MiB: virtio $v, e1000 $e" >&3
	[ -n "$v" ] && [ "$v" -lt 2700 ] || { echo "# the virtio client received $v frames: no large frames" >&3; false; }
	[ -n "$e" ] && [ "$e" -ge 2897 ] || { echo "# the e1000 client received $e frames" >&3; false; }
	off=$(jq '.nics[0].rx_offload' <<<"$nics")
	[ "$off" -gt 0 ] || { echo "# query-nics: $nics" >&3; false; }
	# The switch passed frames on whole (to each vm-run: the e1000's cut
	# them up itself), behind their headers.
	t=$(jq '[.ports[] | select(.offload_headers) | .tx_offload] | add' <<<"$ports")
	[ "$t" -gt 0 ] || { echo "# vm-net status: $ports" >&3; false; }
}

@test "lying virtio_net_hdrs from a bare-metal guest: each is refused and counted, vm-run keeps running, the device still works" {
	local b n=0
	for b in $(usable_accels); do
		n=$((n + 1))
		run_tool 0 timeout 120 "$VM_RUN" --accel "$b" -m 32M --kernel "$GUESTS/virtio-net-evil.elf" \
			--net nat,mac=52:54:00:12:34:56
		is "$output" "*virtio-net-evil: ARP reply from 10.0.2.2*" "$b: the NAT answers after the lies"
		is "$output" "*net0: refused 25 transmit headers:*" "$b: the count at exit"
		for l in "${LIES[@]}"; do
			is "$output" "*net0: refused a transmit header: $l (*" "$b: logged once: $l"
		done
	done
	[ "$n" -gt 0 ]
}

@test "dbt: lying headers on a switch: vm-net capture has exactly the truthful frames, each right: the checksum completed, the TSO frames cut into segments" {
	command -v tshark >/dev/null || skip "tshark is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lane
	"$VM_NET" capture lane -w lane.pcap 3>&- &
	cap_pid=$!
	"$VM_NET" nat lane 2> nat.log 3>&- &
	nat_pid=$!
	BG_PIDS="$cap_pid $nat_pid"
	for i in $(seq 100); do
		[ "$("$VM_NET" status --json lane | jq '.ports | length')" -ge 2 ] && break
		sleep 0.1
	done
	run_tool 0 timeout 120 "$VM_RUN" --accel dbt -m 32M --kernel "$GUESTS/virtio-net-evil.elf" \
		--net switch:lane,mac=52:54:00:12:34:56
	is "$output" "*virtio-net-evil: ARP reply from 10.0.2.2*" "the shared NAT answers after the lies"
	is "$output" "*net0: refused 25 transmit headers:*" "the count at exit"
	"$VM_NET" stop lane
	wait "$cap_pid" || true
	opts=(-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE)
	tshark -r lane.pcap "${opts[@]}" -Y 'eth.src == 52:54:00:12:34:56' -T fields \
		-e frame.len -e ip.checksum.status -e udp.checksum.status -e tcp.checksum.status \
		-e tcp.seq_raw -e tcp.len -e ipv6.plen -e arp.opcode -e tcp.flags.push \
		> fields.txt 2>/dev/null
	# tab-separated: length, IPv4/UDP/TCP checksum (1: right), TCP seq
	# and length, IPv6 payload length, ARP opcode, PSH.  The UDP frame
	# with its checksum completed; three IPv4 TSO segments of 1000
	# bytes; IPv6 segments of 1200, 1200 and 100, PSH on the last of
	# each; the ARP request.  None of the 25 lying frames.
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		142 1 1 '' '' '' '' '' '' \
		1054 1 '' 1 268435456 1000 '' '' 0 \
		1054 1 '' 1 268436456 1000 '' '' 0 \
		1054 1 '' 1 268437456 1000 '' '' 1 \
		1274 '' '' 1 268435456 1200 1220 '' 0 \
		1274 '' '' 1 268436656 1200 1220 '' 0 \
		174 '' '' 1 268437856 100 120 '' 1 \
		60 '' '' '' '' '' '' 1 '' > expected.txt
	run diff expected.txt fields.txt
	is "$output" "" "the guest's frames on the switch (diff expected actual)"
}
