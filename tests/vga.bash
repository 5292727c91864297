# Helpers of the VGA console suites (460, 610, 800): vm-run --console vga
# in a tmux pane of 80x26 read back as a user sees it, and a PNG reader.
# The caller sets TM (the tmux server's name) and works in its own
# directory.

teardown() {
	tmux -L "$TM" kill-server 2>/dev/null || true
	rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$TM"
}

tm() { tmux -L "$TM" "$@"; }

# tmux_run ARGS...: vm-run ARGS (shell words, as typed) in a new pane of
# 80x26; its exit status goes to ./rc.
tmux_run() {
	rm -f rc
	tm new-session -d -x 80 -y 26 \
		"cd '$BATS_TEST_TMPDIR' && '$VM_RUN' $*; echo \$? > rc; sleep 600"
}

# in_tmux ARGS...: vm-run --console vga with ARGS in a new pane (through
# SeaBIOS unless ARGS has --kernel), on the DBT with 256M.
in_tmux() {
	local opt="--accel dbt -m 256M"
	[[ " $* " == *" --kernel "* ]] || opt="$opt --firmware bios"
	tmux_run "$opt --console vga $*"
}

screen() { tm capture-pane -p; }

# wait_screen TEXT [SECONDS]: until the pane shows TEXT (a fixed string).
wait_screen() {
	local i
	for ((i = 0; i < ${2:-120} * 5; i++)); do
		screen | grep -qF -- "$1" && return 0
		[ -e rc ] && break
		sleep 0.2
	done
	screen | grep -qF -- "$1" && return 0
	echo "# the screen, without '$1':"; screen | sed 's/^/# /'
	return 1
}

# wait_exit STATUS [SECONDS]: vm-run ended with STATUS.
wait_exit() {
	local i
	for ((i = 0; i < ${2:-120} * 5; i++)); do
		[ -s rc ] && break
		sleep 0.2
	done
	[ -s rc ] || { echo "# vm-run did not exit"; screen | sed 's/^/# /'; return 1; }
	is "$(cat rc)" "$1" "vm-run's exit status"
}

# png_check FILE [X,Y | Y0-Y1]...: "WIDTHxHEIGHT", then for each X,Y the
# pixel as RRGGBB and for each Y0-Y1 how many pixels of those lines are
# not black, from the PNG's own bytes (python3's zlib: the chunks' CRCs,
# IHDR, the IDAT stream, filter bytes undone).
png_check() {
	python3 - "$@" <<-'PY'
	import struct, sys, zlib
	data = open(sys.argv[1], 'rb').read()
	assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
	pos, idat = 8, b''
	while pos < len(data):
	    n, t = struct.unpack('>I4s', data[pos:pos + 8])
	    body = data[pos + 8:pos + 8 + n]
	    crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])
	    assert zlib.crc32(t + body) == crc, 'bad CRC'
	    if t == b'IHDR':
	        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
	        assert depth == 8 and ctype == 2, 'not 8-bit RGB'
	    elif t == b'IDAT':
	        idat += body
	    pos += 12 + n
	raw, stride, prev, rows = zlib.decompress(idat), w * 3, bytearray(w * 3), []
	for y in range(h):
	    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
	    for i in range(stride):
	        a = line[i - 3] if i >= 3 else 0
	        b, c = prev[i], prev[i - 3] if i >= 3 else 0
	        if f == 1: line[i] = (line[i] + a) & 255
	        elif f == 2: line[i] = (line[i] + b) & 255
	        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
	        elif f == 4:
	            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
	            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
	    rows.append(line); prev = line
	print('%dx%d' % (w, h))
	for arg in sys.argv[2:]:
	    if '-' in arg:
	        y0, y1 = map(int, arg.split('-'))
	        print(sum(1 for y in range(y0, y1) for x in range(w) if any(rows[y][3 * x:3 * x + 3])))
	        continue
	    x, y = map(int, arg.split(','))
	    print('%02x%02x%02x' % tuple(rows[y][3 * x:3 * x + 3]))
	PY
}
