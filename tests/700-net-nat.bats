#!/usr/bin/env bats
# vm-run's user-mode NAT (libslirp) behind virtio-net: bad --net and
# networks: input is refused before anything runs; a guest gets 10.0.2.15
# by DHCP, fetches a page from a server on the host's loopback and serves
# one to the host through a port forward.  One boot, on the DBT.

load helpers
load net

setup() {
	guestkit
	"$VM_RUN" --accel help | grep -q '^dbt: usable' || skip "the DBT is not usable here"
}

teardown() {
	kill_bg
}

# host_page: in the test's folder, a page served on the host's loopback
# (port $hport, its log http.log) and a free port for a forward ($fport).
host_page() {
	cd "$BATS_TEST_TMPDIR"
	mkdir www && echo "page-from-the-host-$$" > www/index.html
	hport=$(free_port)
	python3 -m http.server "$hport" --bind 127.0.0.1 --directory www > http.log 2>&1 3>&- &
	BG_PIDS="$!"
	fport=$(free_port)
}

# fetch_forward: what the host gets from http://127.0.0.1:$fport/x.
fetch_forward() {
	python3 -c 'import sys,urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/x" % sys.argv[1], timeout=30).read().decode().strip())' "$fport"
}

@test "bad --net specs are usage errors that name the problem" {
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net bogus
	is "$output" "*--net bogus: 'bogus' is not a network (use nat, switch:NAME, tap:DEV or none)*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net nat,forward=tcp:80
	is "$output" "*forward 'tcp:80' is not tcp|udp:\[HOSTADDR:\]HOSTPORT:GUESTPORT*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net nat,forward=tcp:99999:80
	is "$output" "*forward 'tcp:99999:80': ports are numbers from 1 to 65535*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net nat,forward=sctp:1:2
	is "$output" "*forward 'sctp:1:2' is not*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net nat,mac=01:00:00:00:00:01
	is "$output" "*'01:00:00:00:00:01' is not a unicast MAC address*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net nat,colour=blue
	is "$output" "*unknown option 'colour'*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net switch:
	is "$output" "*name the switch*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net switch:lan0,forward=tcp:1:2
	is "$output" "*forward rules are for nat networks*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net none,model=virtio
	is "$output" "*'none' takes no options*"
}

@test "networks: in vm.yaml are checked with file:line:col" {
	cd "$BATS_TEST_TMPDIR"
	cat > vm.yaml <<-EOF2
	boot:
	  kernel: $KERNEL
	networks:
	  - type: nat
	    forward: ["tcp:8080:80", "tcp:nope:80"]
	EOF2
	run_tool 2 "$VM_RUN" vm.yaml
	is "$output" "*vm.yaml:4:5: networks\[0\]: forward 'tcp:nope:80': ports are numbers*"
	cat > sw.yaml <<-EOF2
	boot:
	  kernel: $KERNEL
	networks:
	  - type: switch:lan0
	    subnet: 10.0.9.0/24
	EOF2
	run_tool 2 "$VM_RUN" sw.yaml
	is "$output" "*sw.yaml:5:13: networks\[0\]: tftp, bootfile and subnet are for type nat, not 'switch:lan0'*"
	cat > nat.yaml <<-EOF2
	boot:
	  kernel: $KERNEL
	networks:
	  - type: nat
	    subnet: 10.0.9.0/24
	EOF2
	run_tool 0 "$VM_RUN" --print-config nat.yaml
	is "$output" "*subnet: 10.0.9.0/24*" "the subnet in the configuration vm-run runs"
}

@test "a forward to a host port already in use fails with the port named, status 1" {
	port=$(free_port)
	# The listener says when it listens: on a loaded host its start-up
	# can take longer than any fixed sleep.
	python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); print("listening", flush=True); time.sleep(120)' "$port" > "$BATS_TEST_TMPDIR/busy.log" 3>&- &
	BG_PIDS="$!"
	wait_for "$BATS_TEST_TMPDIR/busy.log" listening 60
	run_tool 1 "$VM_RUN" --accel dbt --kernel "$KERNEL" --initrd "$INITRD" \
		--net nat,forward=tcp:$port:80 </dev/null
	is "$output" "*--net nat,forward=tcp:$port:80: forward 'tcp:$port:80': cannot listen on 127.0.0.1 port $port*"
	[[ $output != *"Linux version"* ]]
}

@test "dbt: vm.yaml networks: DHCP gives 10.0.2.15; the guest fetches from the host's loopback and serves the host through a forward" {
	host_page
	# The network from vm.yaml (--net is the switch suite's).
	cat > web.yaml <<-EOF2
	networks:
	  - type: nat
	    mac: 52:54:00:12:34:56
	    forward: ["tcp:127.0.0.1:$fport:80"]
	EOF2
	wait_for http.log "Serving HTTP" 20 || curl -s "http://127.0.0.1:$hport/" >/dev/null
	guest_bg web "$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh
echo addr=\$(ip -4 -o addr show eth0 | sed 's/.*inet \([0-9.]*\).*/\1/') mac=\$(cat /sys/class/net/eth0/address) gw=\$(ip route | sed -n 's/default via \([0-9.]*\).*/\1/p')
wget -q -O - http://10.0.2.2:$hport/index.html | sed 's/^/got=/'
printf 'HTTP/1.0 200 OK\r\n\r\npage-from-the-guest\n' > /r
echo =RE''ADY=
nc -l -p 80 < /r > /req
echo req=\$(head -1 /req)" web.yaml
	wait_for web.log "=READY=" 200
	got=$(fetch_forward)
	guest_wait web
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$output" "*addr=10.0.2.15 mac=52:54:00:12:34:56 gw=10.0.2.2*" "the lease, the MAC given, the route"
	is "$output" "*got=page-from-the-host-$$*" "wget in the guest, from the host's loopback"
	is "$got" "page-from-the-guest" "the host, through 127.0.0.1:$fport -> guest port 80"
	is "$output" "*req=GET /x HTTP/1.1*" "the guest saw the host's request"
}

@test "a NAT subnet that is not a.b.c.d/16 to /27 is refused, named; subnet is for nat only" {
	run_tool 1 "$VM_RUN" --accel dbt --kernel "$KERNEL" --initrd "$INITRD" \
		--net nat,subnet=10.0.5.0/28 </dev/null
	is "$output" "*--net nat,subnet=10.0.5.0/28: subnet '10.0.5.0/28' is not a.b.c.d/P with P from 16 to 27*"
	run_tool 1 "$VM_RUN" --accel dbt --kernel "$KERNEL" --initrd "$INITRD" \
		--net nat,subnet=10.0.500.0/24 </dev/null
	is "$output" "*subnet '10.0.500.0/24' is not*"
	run_tool 2 "$VM_RUN" --kernel "$KERNEL" --net switch:lan0,subnet=10.0.5.0/24
	is "$output" "*subnet is for nat*"
	run_tool 2 "$VM_NET" nat --subnet 10.1.0.0/28 lanq
	is "$output" "*--subnet: '10.1.0.0/28' is not a subnet a.b.c.d/P with P from 16 to 27*"
}

@test "dbt: --net nat,subnet=10.0.9.0/24: DHCP gives 10.0.9.15 with the gateway .2 and DNS .3; the host is reached at 10.0.9.2 and reaches the guest through a forward" {
	host_page
	wait_for http.log "Serving HTTP" 20 || true
	guest_bg sub "printf '#!/bin/sh\n[ \$1 = bound ] || exit 0\nifconfig \$interface \$ip netmask \$subnet\nroute add default gw \$router\necho lease=\$ip router=\$router dns=\$dns\n' > /dhcp.sh; chmod +x /dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh
wget -q -O - http://10.0.9.2:$hport/index.html | sed 's/^/got=/'
printf 'HTTP/1.0 200 OK\r\n\r\npage-from-the-guest\n' > /r
echo =RE''ADY=
nc -l -p 80 < /r > /req" --net "nat,subnet=10.0.9.0/24,forward=tcp:127.0.0.1:$fport:80"
	wait_for sub.log "=READY=" 200
	got=$(fetch_forward)
	guest_wait sub
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$output" "*lease=10.0.9.15 router=10.0.9.2 dns=10.0.9.3*" "the lease, the gateway and DNS DHCP gave"
	is "$output" "*got=page-from-the-host-$$*" "wget in the guest from the host's loopback, as 10.0.9.2"
	is "$got" "page-from-the-guest" "the host, through 127.0.0.1:$fport -> 10.0.9.15 port 80"
}

@test "dbt: NAT carries the guest's UDP to the host's loopback and answers DNS at 10.0.2.3 from the host's resolver" {
	cd "$BATS_TEST_TMPDIR"
	name=deb.debian.org
	want=$(getent ahostsv4 "$name" | awk 'NR == 1 {print $1}')
	uport=$(free_port)
	# The host's UDP sink: the first datagram it gets, into udp.bin.
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1]))); print("bound", flush=True); open("udp.bin", "wb").write(s.recv(2048))' "$uport" > sink.log 2>&1 3>&- &
	BG_PIDS="$!"
	wait_for sink.log bound 20
	# busybox has no UDP nc: tftp's read request is the datagram (no
	# answer comes; it gives up).
	guest_bg udp "$UDHCPC_SCRIPT
ip link set eth0 up
udhcpc -i eth0 -n -q -s /dhcp.sh >/dev/null
timeout 5 tftp -g -r from-the-guest-$$ -l /dev/null 10.0.2.2 $uport
nslookup $name 10.0.2.3 2>&1 | sed 's/^/dns: /'" --net nat
	guest_wait udp
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$(tr -c 'a-z0-9-' ' ' < udp.bin)" "*from-the-guest-$$*" "the host's sink got the guest's datagram (10.0.2.15 to 10.0.2.2)"
	if [ -n "$want" ]; then
		is "$output" "*dns: *Name:*$name*Address: $want*" "10.0.2.3 answered $name as the host's resolver does ($want)"
	else
		echo "# the host cannot resolve $name: the DNS part was not checked" >&3
	fi
}

@test "dbt: vm-create --net nat,forward=...: --print shows the rules and the bundle forwards the host's port to the guest's httpd" {
	cd "$BATS_TEST_TMPDIR"
	fport=$(free_port)
	sport=$(free_port)
	net="nat,forward=tcp:127.0.0.1:$fport:80,forward=tcp:127.0.0.1:$sport:9001"
	run_tool 0 "$VM_CREATE" --print fw --net "$net"
	is "$output" "*forward:*- \"tcp:127.0.0.1:$fport:80\"*- \"tcp:127.0.0.1:$sport:9001\"*" \
		"both rules in the printed vm.yaml"
	run_tool 0 "$VM_CREATE" fw -m 256M --kernel "$KERNEL" --initrd "$INITRD" \
		--append "console=ttyS0 panic=-1 quiet" --net "$net"
	run_tool 0 "$VM_RUN" --print-config fw
	is "$output" "*tcp:127.0.0.1:$fport:80*tcp:127.0.0.1:$sport:9001*" "vm-run reads both rules from the bundle"
	printf '%s\n' "stty -echo" "$UDHCPC_SCRIPT" \
		"ip link set eth0 up" "udhcpc -i eth0 -n -q -s /dhcp.sh >/dev/null" \
		"mkdir /www && echo page-from-the-bundle-$$ > /www/index.html" \
		"httpd -p 80 -h /www" "echo =RE''ADY=" "nc -l -p 9001 </dev/null" \
		"poweroff -f" > fw.in
	timeout 300 "$VM_RUN" --accel dbt --no-reboot fw < fw.in > fw.log 2>&1 3>&- &
	fw_pid=$!
	BG_PIDS="$fw_pid"
	wait_for fw.log "=READY=" 200
	got=$(curl -s --max-time 30 "http://127.0.0.1:$fport/index.html")
	# Let the guest go: a connection to the second forward ends its nc.
	curl -s --max-time 30 "http://127.0.0.1:$sport/" >/dev/null || true
	guest_wait fw
	is "$status" 0 "vm-run's exit status after the guest's poweroff"
	is "$got" "page-from-the-bundle-$$" "the host, through 127.0.0.1:$fport -> the guest's httpd on port 80"
}
