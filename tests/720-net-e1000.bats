#!/usr/bin/env bats
# The Intel e1000 (82540EM) NIC, driven by the guest kit's own Linux e1000
# driver (vmkit.modules=e1000), on the DBT: on vm-run's NAT it gets
# 10.0.2.15 by DHCP, pings the gateway, fetches a page and a 2 MB file
# from the host's loopback, sends 2 MB to the host (TSO, checksum
# offload) and serves the host through a forward; two e1000 guests on a
# vm-net switch with vm-net nat get leases, ping each other and move a
# file while vm-net capture records it for tshark; a guest that programs
# the bare device with hostile rings and registers leaves vm-run
# running and the device still works afterwards (tests/guests/e1000-evil.S).

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

# sink PORT FILE: accept one TCP connection on 127.0.0.1:PORT, write
# "BYTES MD5" of what it sent to FILE.
sink() {
	python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(280)
c, _ = s.accept(); c.settimeout(60); h = hashlib.md5(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
open(sys.argv[2], "w").write("%d %s\n" % (n, h.hexdigest()))' "$@"
}

@test "model=e1000 is accepted on --net and in vm.yaml; other models are refused" {
	run_tool 0 "$VM_RUN" --print-config --kernel "$KERNEL" --net nat,model=e1000
	is "$output" "*type: nat*model: e1000*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net nat,model=rtl8139
	is "$output" "*unknown model 'rtl8139' (virtio or e1000)*"
	cd "$BATS_TEST_TMPDIR"
	printf 'boot:\n  kernel: %s\nnetworks:\n  - type: nat\n    model: ne2k\n' "$KERNEL" > vm.yaml
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "*vm.yaml:5:12: networks\[0\].model*ne2k*"
}

@test "hostile rings and registers from a bare-metal guest: vm-run keeps running, the device still works" {
	local b n=0
	for b in $(usable_accels); do
		n=$((n + 1))
		run_tool 0 timeout 120 "$VM_RUN" --accel "$b" -m 32M --kernel "$GUESTS/e1000-evil.elf" \
			--net nat,model=e1000,mac=52:54:00:12:34:56
	done
	[ "$n" -gt 0 ]
	# The NAT's ARP reply is what check 7 receives: another MAC filters it.
	run_tool 7 timeout 120 "$VM_RUN" --accel dbt -m 32M --kernel "$GUESTS/e1000-evil.elf" \
		--net nat,model=e1000,mac=52:54:00:12:34:57
}

@test "dbt: e1000 on NAT: DHCP gives 10.0.2.15, ping 10.0.2.2, a page and 2 MB from the host's loopback, 2 MB to the host (nc, then httpd in TSO contexts), a forward into the guest" {
	cd "$BATS_TEST_TMPDIR"
	mkdir www && echo "page-from-the-host-$$" > www/index.html
	head -c 2000000 /dev/urandom > www/big
	bigmd5=$(md5sum < www/big | cut -d' ' -f1)
	hport=$(free_port)
	python3 -m http.server "$hport" --bind 127.0.0.1 --directory www > http.log 2>&1 3>&- &
	BG_PIDS="$!"
	sport=$(free_port)
	sink "$sport" up.txt 3>&- &
	BG_PIDS="$BG_PIDS $!"
	fport=$(free_port)
	wport=$(free_port)
	wait_for http.log "Serving HTTP" 20 || curl -s "http://127.0.0.1:$hport/" >/dev/null
	guest_bg web "$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh
echo addr=\$(ip -4 -o addr show eth0 | sed 's/.*inet \([0-9.]*\).*/\1/') mac=\$(cat /sys/class/net/eth0/address) drv=\$(basename \$(readlink /sys/class/net/eth0/device/driver))
ping -c 2 10.0.2.2 | grep -o '2 packets received' | sed 's/^/ping=/'
wget -q -O - http://10.0.2.2:$hport/index.html | sed 's/^/got=/'
wget -q -O - http://10.0.2.2:$hport/big | md5sum | sed 's/^/bigmd5=/'
dd if=/dev/urandom of=/up bs=1000 count=2000 2>/dev/null
md5sum /up | sed 's/^/upmd5=/'
nc 10.0.2.2 $sport < /up
mkdir /www; mv /up /www/up; httpd -p 8080 -h /www
printf 'HTTP/1.0 200 OK\r\n\r\npage-from-the-guest\n' > /r
echo =RE''ADY=
nc -l -p 80 < /r > /req
echo req=\$(head -1 /req)" \
		--net "nat,model=e1000,mac=52:54:00:12:34:57,forward=tcp:127.0.0.1:$fport:80,forward=tcp:127.0.0.1:$wport:8080" \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	wait_for web.log "=READY=" 250
	# The same 2 MB again from the guest's httpd (large writes: TSO), then
	# the card's counters, through the control socket.
	curl -s --max-time 120 -o up2 "http://127.0.0.1:$wport/up"
	run_tool 0 "$VM_RUN" --cmd web query-nics --json
	nics=$output
	got=$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/x" % sys.argv[1], timeout=30).read().decode().strip())' "$fport")
	guest_wait web
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$output" "*addr=10.0.2.15 mac=52:54:00:12:34:57 drv=e1000*" "the lease, the MAC given, Linux's e1000 driver"
	is "$output" "*ping=2 packets received*" "the gateway answers pings"
	is "$output" "*got=page-from-the-host-$$*" "wget in the guest, from the host's loopback"
	is "$output" "*bigmd5=$bigmd5*" "2 MB received intact"
	up=$(sed -n 's/.*upmd5=\([0-9a-f]\{32\}\).*/\1/p' <<<"$output")
	[ -n "$up" ] || { echo "$output" | sed 's/^/# /' >&3; false; }
	is "$(cat up.txt)" "2000000 $up" "2 MB sent to the host intact"
	is "$(md5sum < up2 | cut -d' ' -f1)" "$up" "2 MB from the guest's httpd intact"
	# Linux's e1000 driver sends httpd's reply as TSO contexts (TSE): the
	# card cut them into segments and refused none.
	is "$(jq -r '.nics[0] | .device + " " + .model + " " + (.tso_failed | tostring)' <<<"$nics")" "* e1000 0" "query-nics: the card, no TSO context refused"
	tf=$(jq '.nics[0].tso_frames' <<<"$nics")
	ts=$(jq '.nics[0].tso_segments' <<<"$nics")
	[ "$tf" -gt 0 ] && [ "$ts" -gt "$tf" ] || { echo "# query-nics: $nics" >&3; false; }
	[ "$(jq '.nics[0].tx_frames' <<<"$nics")" -ge "$ts" ]
	is "$got" "page-from-the-guest" "the host, through 127.0.0.1:$fport -> guest port 80"
	is "$output" "*req=GET /x HTTP/1.1*" "the guest saw the host's request"
}

@test "dbt: two e1000 guests on a switch with vm-net nat: leases, pings both ways, a file moved; tshark sees the DHCP exchange, the ARP and the ICMP" {
	command -v tshark >/dev/null || skip "tshark is not installed"
	cd "$BATS_TEST_TMPDIR"
	"$VM_NET" switch -d lan0
	"$VM_NET" capture lan0 -w lan0.pcap 3>&- &
	BG_PIDS="$!"
	"$VM_NET" nat lan0 3>&- &
	BG_PIDS="$BG_PIDS $!"
	lease="$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh
echo addr=\$(ip -4 -o addr show eth0 | sed 's/.*inet \([0-9.]*\).*/\1/')"
	# vm1 (the first lease, 10.0.2.15) serves /bin; vm2 pings it,
	# fetches busybox, and tells it to stop.
	guest_bg vm1 "$lease
httpd -p 80 -h /bin
n=0; until ping -c 1 -W 1 10.0.2.16 >/dev/null 2>&1 || [ \$n -ge 200 ]; do n=\$((n+1)); done
ping -c 3 10.0.2.16
nc -l -p 9001 </dev/null" --net switch:lan0,model=e1000 \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	wait_for "$BATS_TEST_TMPDIR/vm1.log" "addr=" 200
	guest_bg vm2 "$lease
n=0; until ping -c 1 -W 1 10.0.2.15 >/dev/null 2>&1 || [ \$n -ge 100 ]; do n=\$((n+1)); done
ping -c 3 10.0.2.15
wget -q -O - http://10.0.2.15/busybox | md5sum | sed s/^/fetched=/
n=0; until echo done | nc 10.0.2.15 9001 || [ \$n -ge 60 ]; do n=\$((n+1)); sleep 1; done" \
		--net switch:lan0,model=e1000 \
		--append "console=ttyS0 panic=-1 quiet vmkit.modules=e1000"
	guest_wait vm1; s1=$status
	guest_wait vm2; s2=$status
	"$VM_NET" stop lan0
	sleep 1
	is "$s1 $s2" "0 0" "both guests powered off"
	is "$(cat vm1.log)" "*addr=10.0.2.15*" "vm1's lease"
	is "$(cat vm2.log)" "*addr=10.0.2.16*" "vm2's lease"
	is "$(cat vm1.log)" "*3 packets transmitted, 3 packets received*" "vm1 pings vm2"
	is "$(cat vm2.log)" "*3 packets transmitted, 3 packets received*" "vm2 pings vm1"
	md5=$(md5sum < "$GUESTKIT/busybox" | cut -d' ' -f1)
	is "$(cat vm2.log)" "*fetched=$md5*" "vm2 fetched vm1's busybox over TCP, intact"
	run tshark -r lan0.pcap -Y dhcp
	is "$status" 0 "tshark reads the capture"
	is "$output" "*DHCP Discover*" "a discover"
	is "$output" "*DHCP Offer*" "an offer"
	is "$output" "*DHCP Request*" "a request"
	is "$output" "*DHCP ACK*" "an ACK"
	run tshark -r lan0.pcap -Y "dhcp.option.dhcp == 5" -T fields -e dhcp.ip.your
	is "$(sort -u <<<"$output" | grep '^10' | tr '\n' ' ')" "10.0.2.15 10.0.2.16 " "the two leases the ACKs gave"
	run tshark -r lan0.pcap -Y "arp || icmp"
	is "$output" "*ARP*Who has 10.0.2.1[56]? Tell 10.0.2.1[56]*" "an ARP request from one guest for the other"
	is "$output" "*ARP*10.0.2.1[56] is at*" "the other's ARP reply"
	is "$output" "*10.0.2.16 → 10.0.2.15*ICMP*Echo (ping) request*" "vm2's echo request"
	is "$output" "*10.0.2.15 → 10.0.2.16*ICMP*Echo (ping) reply*" "vm1's echo reply"
}
