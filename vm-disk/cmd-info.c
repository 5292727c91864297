/*
 * vm-disk info: what an image is.  The human layout and the JSON key
 * names follow qemu-img info, so parsers written for one read the other.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "block/block.h"
#include "util/json.h"
#include "util/log.h"
#include "util/size.h"

#include "disk.h"

static uint64_t
actual_size(const struct blk *b)
{
	struct stat st;

	return fstat(b->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* qemu-img's snapshot table (info, and snapshot -l). */
void
disk_print_snapshots(struct blk *b)
{
	const struct blk_snapshot *s;
	char size[32], date[32], clock[32];
	uint64_t ms;
	time_t t;
	int n = blk_snapshots(b, &s), i;

	if (n == 0)
		return;
	printf("Snapshot list:\n");
	printf("%-9s %-16s %8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE",
	    "DATE", "VM CLOCK", "ICOUNT");
	for (i = 0; i < n; i++) {
		t = (time_t)s[i].date_sec;
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S",
		    localtime(&t));
		ms = s[i].vm_clock_nsec / 1000000;
		snprintf(clock, sizeof(clock), "%02llu:%02llu:%02llu.%03llu",
		    (unsigned long long)(ms / 3600000),
		    (unsigned long long)(ms / 60000 % 60),
		    (unsigned long long)(ms / 1000 % 60),
		    (unsigned long long)(ms % 1000));
		printf("%-9s %-16s %8s%20s%13s", s[i].id, s[i].name,
		    size_format(s[i].vm_state_size, size, sizeof(size)), date,
		    clock);
		if (s[i].icount != UINT64_MAX)
			printf("%11llu", (unsigned long long)s[i].icount);
		else
			printf("%11s", "");
		printf("\n");
	}
}

static void
json_snapshots(struct json *j, struct blk *b)
{
	const struct blk_snapshot *s;
	int n = blk_snapshots(b, &s), i;

	if (n == 0)
		return;
	json_arr_begin(j, "snapshots");
	for (i = 0; i < n; i++) {
		json_obj_begin(j, NULL);
		if (s[i].icount != UINT64_MAX)
			json_u64(j, "icount", s[i].icount);
		json_u64(j, "vm-clock-nsec", s[i].vm_clock_nsec % 1000000000);
		json_str(j, "name", s[i].name);
		json_u64(j, "date-sec", s[i].date_sec);
		json_u64(j, "date-nsec", s[i].date_nsec);
		json_u64(j, "vm-clock-sec", s[i].vm_clock_nsec / 1000000000);
		json_str(j, "id", s[i].id);
		json_u64(j, "vm-state-size", s[i].vm_state_size);
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* vmdk's part, as qemu-img prints it. */
static void
human_vmdk(const struct blk_info *in)
{
	const struct blk_extent *e;
	int i;

	printf("Format specific information:\n");
	printf("    cid: %u\n", in->cid);
	printf("    parent cid: %u\n", in->parent_cid);
	printf("    create type: %s\n", in->create_type);
	printf("    extents:\n");
	for (i = 0; i < in->nextents; i++) {
		e = &in->extents[i];
		printf("        [%d]:\n", i);
		if (e->compressed)
			printf("            compressed: true\n");
		printf("            virtual size: %llu\n",
		    (unsigned long long)e->size);
		printf("            filename: %s\n", e->filename);
		if (e->cluster_size)
			printf("            cluster size: %u\n",
			    e->cluster_size);
		printf("            format: %s\n", e->format);
	}
}

static void
json_vmdk(struct json *j, const struct blk_info *in)
{
	const struct blk_extent *e;
	int i;

	json_obj_begin(j, "format-specific");
	json_str(j, "type", "vmdk");
	json_obj_begin(j, "data");
	json_u64(j, "cid", in->cid);
	json_u64(j, "parent-cid", in->parent_cid);
	json_str(j, "create-type", in->create_type);
	json_arr_begin(j, "extents");
	for (i = 0; i < in->nextents; i++) {
		e = &in->extents[i];
		json_obj_begin(j, NULL);
		if (e->compressed)
			json_bool(j, "compressed", true);
		json_u64(j, "virtual-size", e->size);
		json_str(j, "filename", e->filename);
		if (e->cluster_size)
			json_u64(j, "cluster-size", e->cluster_size);
		json_str(j, "format", e->format);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
	json_obj_end(j);
}

static void
human(struct blk *b, const struct blk_info *in)
{
	char s1[64], s2[64];

	printf("image: %s\n", b->path);
	printf("file format: %s\n", b->drv->name);
	printf("virtual size: %s (%llu bytes)\n",
	    size_format(b->size, s1, sizeof(s1)), (unsigned long long)b->size);
	printf("disk size: %s\n", size_format(actual_size(b), s2, sizeof(s2)));
	if (in->cluster_size)
		printf("cluster_size: %u\n", in->cluster_size);
	if (in->backing[0]) {
		printf("backing file: %s", in->backing);
		if (b->backing && strcmp(b->backing->path, in->backing) != 0)
			printf(" (actual path: %s)", b->backing->path);
		printf("\n");
		if (in->backing_fmt[0])
			printf("backing file format: %s\n", in->backing_fmt);
	}
	disk_print_snapshots(b);
	if (strcmp(b->drv->name, "qcow2") == 0) {
		printf("Format specific information:\n");
		printf("    compat: %s\n", in->compat >= 3 ? "1.1" : "0.10");
		printf("    compression type: %s\n", in->compression);
		/* Version 2 has no feature bits: qemu-img leaves them out. */
		if (in->compat >= 3)
			printf("    lazy refcounts: %s\n",
			    in->lazy_refcounts ? "true" : "false");
		printf("    refcount bits: %d\n", in->refcount_bits);
		if (in->compat >= 3) {
			printf("    corrupt: %s\n",
			    in->corrupt ? "true" : "false");
			printf("    extended l2: %s\n",
			    in->extended_l2 ? "true" : "false");
		}
	}
	if (strcmp(b->drv->name, "vmdk") == 0)
		human_vmdk(in);
}

static void
json(struct json *j, struct blk *b, const struct blk_info *in)
{
	json_obj_begin(j, NULL);
	json_u64(j, "virtual-size", b->size);
	json_str(j, "filename", b->path);
	if (in->cluster_size)
		json_u64(j, "cluster-size", in->cluster_size);
	json_str(j, "format", b->drv->name);
	json_u64(j, "actual-size", actual_size(b));
	json_snapshots(j, b);
	if (strcmp(b->drv->name, "qcow2") == 0) {
		json_obj_begin(j, "format-specific");
		json_str(j, "type", "qcow2");
		json_obj_begin(j, "data");
		json_str(j, "compat", in->compat >= 3 ? "1.1" : "0.10");
		json_str(j, "compression-type", in->compression);
		if (in->compat >= 3)
			json_bool(j, "lazy-refcounts", in->lazy_refcounts);
		json_u64(j, "refcount-bits", (uint64_t)in->refcount_bits);
		if (in->compat >= 3) {
			json_bool(j, "corrupt", in->corrupt);
			json_bool(j, "extended-l2", in->extended_l2);
		}
		json_obj_end(j);
		json_obj_end(j);
	}
	if (strcmp(b->drv->name, "vmdk") == 0)
		json_vmdk(j, in);
	if (in->backing[0]) {
		json_str(j, "backing-filename", in->backing);
		if (b->backing)
			json_str(j, "full-backing-filename", b->backing->path);
		if (in->backing_fmt[0])
			json_str(j, "backing-filename-format", in->backing_fmt);
	}
	json_bool(j, "dirty-flag", in->dirty);
	json_obj_end(j);
}

int
cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {
		DISK_LONGOPTS,
		{ "backing-chain", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { NULL, BLK_F_RDONLY | BLK_F_NOBACKING, 0 };
	bool chain = false;
	struct blk_info in;
	struct blk *b, *l;
	struct json j;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "hf:U", lo, NULL)) != -1) {
		if ((r = disk_common_opt(ch, optarg, &o)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		if (ch == 'h') {
			disk_usage("info", false);
			return 0;
		}
		if (ch != 'B') {
			disk_usage("info", true);
			return 2;
		}
		chain = true;
		o.flags &= ~BLK_F_NOBACKING;
	}
	if (argc - optind != 1) {
		disk_usage("info", true);
		return 2;
	}
	if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
		return 1;
	json_init(&j, stdout);
	if (o.json && chain)
		json_arr_begin(&j, NULL);
	for (l = b; l != NULL; l = chain ? l->backing : NULL) {
		blk_get_info(l, &in);
		if (o.json)
			json(&j, l, &in);
		else {
			if (l != b)
				printf("\n");
			human(l, &in);
		}
	}
	if (o.json && chain)
		json_arr_end(&j);
	if (o.json)
		json_finish(&j);
	blk_close(b);
	return 0;
}
