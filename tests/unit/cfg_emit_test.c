/* cfg_emit: what it writes, cfg_parse reads back as the same config. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cfg/cfg.h"
#include "test.h"
#include "util/err.h"

/* Emit a, parse the text into b; 0 or the first failure's code. */
static int
round_trip(const struct vm_config *a, struct vm_config *b, char **text)
{
	struct vm_err err = { 0 };
	size_t len;
	FILE *f;
	int ret;

	*text = NULL;
	f = open_memstream(text, &len);
	if (f == NULL)
		return -1;
	ret = cfg_emit(a, f, "mem", &err);
	fclose(f);
	if (ret < 0)
		return ret;
	cfg_defaults(b);
	ret = cfg_parse(b, *text, len, "mem.yaml", NULL, &err);
	if (ret < 0)
		printf("#   %s\n#   text:\n%s", err.msg, *text);
	return ret;
}

TEST(defaults_round_trip)
{
	struct vm_config a, b;
	char *text;

	cfg_defaults(&a);
	EXPECT_EQ(round_trip(&a, &b, &text), 0);
	EXPECT_STREQ(b.name, "vm");
	EXPECT_EQ(b.memory, 512ULL << 20);
	EXPECT_EQ(b.cpus, 1);
	EXPECT_EQ(b.ndisks, 0);
	EXPECT_EQ(b.nnets, 0);
	free(text);
}

TEST(every_key_round_trips)
{
	struct vm_config a, b;
	char *text;

	cfg_defaults(&a);
	snprintf(a.name, sizeof(a.name), "web-1.test");
	a.memory = 3ULL << 30;
	a.cpus = 4;
	a.accel = CFG_ACCEL_DBT;
	snprintf(a.boot.kernel, sizeof(a.boot.kernel), "/boot/vmlinuz");
	snprintf(a.boot.initrd, sizeof(a.boot.initrd), "initrd.gz");
	snprintf(a.boot.cmdline, sizeof(a.boot.cmdline),
	    "console=ttyS0 vmkit.run=\"echo a: b # c\\d\"");
	snprintf(a.boot.firmware, sizeof(a.boot.firmware), "uefi");
	a.boot.decompress = CFG_DECOMPRESS_GUEST;
	a.boot.norder = 3;
	a.boot.order[0] = CFG_BOOT_NET;
	a.boot.order[1] = CFG_BOOT_CDROM;
	a.boot.order[2] = CFG_BOOT_DISK;
	a.boot.menu = true;
	a.ndisks = 2;
	snprintf(a.disks[0].file, sizeof(a.disks[0].file), "disk0.qcow2");
	snprintf(a.disks[0].format, sizeof(a.disks[0].format), "qcow2");
	snprintf(a.disks[1].file, sizeof(a.disks[1].file), "my cd: yes.iso");
	a.disks[1].interface = CFG_IF_IDE;
	a.disks[1].media = CFG_MEDIA_CDROM;
	a.disks[1].readonly = true;
	snprintf(a.nets[0].spec, sizeof(a.nets[0].spec), "switch:lan0");
	snprintf(a.nets[0].model, sizeof(a.nets[0].model), "e1000");
	snprintf(a.nets[0].mac, sizeof(a.nets[0].mac), "52:54:00:12:34:56");
	a.nets[0].vlan = 42;
	snprintf(a.nets[1].spec, sizeof(a.nets[1].spec), "nat");
	snprintf(a.nets[1].model, sizeof(a.nets[1].model), "virtio");
	snprintf(a.nets[1].forward[0], sizeof(a.nets[1].forward[0]),
	    "tcp:8080:80");
	snprintf(a.nets[1].forward[1], sizeof(a.nets[1].forward[1]),
	    "udp:127.0.0.1:5353:53");
	a.nets[1].nforward = 2;
	snprintf(a.nets[1].tftp, sizeof(a.nets[1].tftp), "/srv/tftp root");
	snprintf(a.nets[1].bootfile, sizeof(a.nets[1].bootfile), "boot.ipxe");
	snprintf(a.nets[1].subnet, sizeof(a.nets[1].subnet), "10.0.9.0/24");
	a.nnets = 2;
	a.console = CFG_CONSOLE_VGA;
	a.rtc_localtime = true;
	snprintf(a.serial_log, sizeof(a.serial_log), "serial.log");

	EXPECT_EQ(round_trip(&a, &b, &text), 0);
	EXPECT_STREQ(b.name, a.name);
	EXPECT_EQ(b.memory, a.memory);
	EXPECT_EQ(b.cpus, 4);
	EXPECT_EQ(b.accel, CFG_ACCEL_DBT);
	EXPECT_STREQ(b.boot.kernel, a.boot.kernel);
	EXPECT_STREQ(b.boot.initrd, a.boot.initrd);
	EXPECT_STREQ(b.boot.cmdline, a.boot.cmdline);
	EXPECT_STREQ(b.boot.firmware, "uefi");
	EXPECT_EQ(b.boot.decompress, CFG_DECOMPRESS_GUEST);
	EXPECT_EQ(b.boot.norder, 3);
	EXPECT_EQ(b.boot.order[0], CFG_BOOT_NET);
	EXPECT_EQ(b.boot.order[1], CFG_BOOT_CDROM);
	EXPECT_EQ(b.boot.order[2], CFG_BOOT_DISK);
	EXPECT_EQ(b.boot.menu, true);
	EXPECT_EQ(b.ndisks, 2);
	EXPECT_STREQ(b.disks[0].file, "disk0.qcow2");
	EXPECT_STREQ(b.disks[0].format, "qcow2");
	EXPECT_EQ(b.disks[0].interface, CFG_IF_VIRTIO);
	EXPECT_EQ(b.disks[0].media, CFG_MEDIA_DISK);
	EXPECT_STREQ(b.disks[1].file, a.disks[1].file);
	EXPECT_EQ(b.disks[1].interface, CFG_IF_IDE);
	EXPECT_EQ(b.disks[1].media, CFG_MEDIA_CDROM);
	EXPECT_EQ(b.disks[1].readonly, true);
	EXPECT_EQ(b.nnets, 2);
	EXPECT_STREQ(b.nets[0].spec, "switch:lan0");
	EXPECT_STREQ(b.nets[0].model, "e1000");
	EXPECT_STREQ(b.nets[0].mac, a.nets[0].mac);
	EXPECT_EQ(b.nets[0].vlan, 42);
	EXPECT_EQ(b.nets[0].nforward, 0);
	EXPECT_STREQ(b.nets[1].spec, "nat");
	EXPECT_STREQ(b.nets[1].model, "virtio");
	EXPECT_STREQ(b.nets[1].mac, "");
	EXPECT_EQ(b.nets[1].vlan, 0);
	EXPECT_EQ(b.nets[1].nforward, 2);
	EXPECT_STREQ(b.nets[1].forward[0], "tcp:8080:80");
	EXPECT_STREQ(b.nets[1].forward[1], "udp:127.0.0.1:5353:53");
	EXPECT_STREQ(b.nets[1].tftp, "/srv/tftp root");
	EXPECT_STREQ(b.nets[1].bootfile, "boot.ipxe");
	EXPECT_STREQ(b.nets[1].subnet, "10.0.9.0/24");
	EXPECT_STREQ(b.nets[0].tftp, "");
	EXPECT_EQ(b.console, CFG_CONSOLE_VGA);
	EXPECT_EQ(b.rtc_localtime, true);
	EXPECT_STREQ(b.serial_log, "serial.log");
	free(text);
}

/* Strings a YAML reader would otherwise take for something else. */
TEST(awkward_strings_stay_strings)
{
	static const char *const s[] = { "yes", "No", "on", "null", "~",
		"123", "0x10", "1.5", "-", "- a", " lead", "trail ", "a#b",
		"#c", "[x]", "{y}", "*z", "&w", "!t", "%p", "@q", "`r", "a: b",
		"tab\there", "line\nbreak", "\"quoted\"", "back\\slash",
		"ctl\001x", "|", ">", "'", "?", "", NULL };
	struct vm_config a, b;
	char *text;
	int i;

	for (i = 0; s[i]; i++) {
		cfg_defaults(&a);
		snprintf(a.boot.cmdline, sizeof(a.boot.cmdline), "%s", s[i]);
		snprintf(a.boot.kernel, sizeof(a.boot.kernel), "k%s", s[i]);
		EXPECT_EQ(round_trip(&a, &b, &text), 0);
		EXPECT_STREQ(b.boot.cmdline, s[i]);
		EXPECT_STREQ(b.boot.kernel, a.boot.kernel);
		free(text);
	}
}

TEST(bad_utf8_is_refused)
{
	static const char *const bad[] = { "a\xff", "\xc0\xaf", "\xe0\x80\xaf",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", NULL };
	struct vm_config a, b;
	char *text;
	int i;

	for (i = 0; bad[i]; i++) {
		cfg_defaults(&a);
		snprintf(a.boot.cmdline, sizeof(a.boot.cmdline), "%s", bad[i]);
		EXPECT_EQ(round_trip(&a, &b, &text), -EINVAL);
		free(text);
	}
	cfg_defaults(&a);
	snprintf(a.boot.cmdline, sizeof(a.boot.cmdline), "caf\xc3\xa9 \xf0\x9f\x92\xbe");
	EXPECT_EQ(round_trip(&a, &b, &text), 0);
	EXPECT_STREQ(b.boot.cmdline, a.boot.cmdline);
	free(text);
}

TEST(sizes_keep_their_value)
{
	static const uint64_t v[] = { 16ULL << 20, 1536ULL << 20, 1ULL << 40,
		(16ULL << 20) + 4096, (16ULL << 20) + 1 };
	struct vm_config a, b;
	char *text;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		cfg_defaults(&a);
		a.memory = v[i];
		EXPECT_EQ(round_trip(&a, &b, &text), 0);
		EXPECT_EQ(b.memory, v[i]);
		free(text);
	}
}
