/*
 * vm-disk check: metadata consistency, with qemu-img check's messages,
 * JSON keys and exit statuses: 0 clean, 1 the check could not run,
 * 2 corruption, 3 leaks only, 63 the format has no checks.  With -r the
 * image is opened read-write, repaired, and checked again; the status
 * then describes the repaired image.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/json.h"
#include "util/log.h"

#include "disk.h"

static void
print_note(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s\n", msg);
}

static void
human(const struct blk_check *r)
{
	if (r->corruptions == 0 && r->leaks == 0)
		printf("No errors were found on the image.\n");
	if (r->corruptions)
		printf("\n%llu errors were found on the image.\nData may be "
		    "corrupted, or further writes to the image may corrupt "
		    "it.\n", (unsigned long long)r->corruptions);
	if (r->leaks)
		printf("\n%llu leaked clusters were found on the image.\nThis "
		    "means waste of disk space, but no harm to data.\n",
		    (unsigned long long)r->leaks);
	if (r->total_clusters)
		printf("%llu/%llu = %.2f%% allocated, %.2f%% fragmented, "
		    "%.2f%% compressed clusters\n",
		    (unsigned long long)r->allocated_clusters,
		    (unsigned long long)r->total_clusters,
		    100.0 * (double)r->allocated_clusters /
		    (double)r->total_clusters,
		    r->allocated_clusters ? 100.0 *
		    (double)r->fragmented_clusters /
		    (double)r->allocated_clusters : 0.0,
		    r->allocated_clusters ? 100.0 *
		    (double)r->compressed_clusters /
		    (double)r->allocated_clusters : 0.0);
	printf("Image end offset: %llu\n", (unsigned long long)r->image_end);
}

static void
json(struct blk *b, const struct blk_check *r, const struct blk_check *fix)
{
	struct json j;

	json_init(&j, stdout);
	json_obj_begin(&j, NULL);
	json_u64(&j, "image-end-offset", r->image_end);
	json_u64(&j, "total-clusters", r->total_clusters);
	json_u64(&j, "check-errors", 0);
	json_u64(&j, "leaks", r->leaks);
	json_u64(&j, "corruptions", r->corruptions);
	if (fix) {
		json_u64(&j, "leaks-fixed", fix->leaks_fixed);
		json_u64(&j, "corruptions-fixed", fix->corruptions_fixed);
	}
	json_u64(&j, "allocated-clusters", r->allocated_clusters);
	json_u64(&j, "fragmented-clusters", r->fragmented_clusters);
	json_u64(&j, "compressed-clusters", r->compressed_clusters);
	json_str(&j, "filename", b->path);
	json_str(&j, "format", b->drv->name);
	json_obj_end(&j);
	json_finish(&j);
}

static int
run(struct blk *b, int repair, struct blk_check *r, bool quiet)
{
	struct vm_err err;

	vm_err_clear(&err);
	r->note = quiet ? NULL : print_note;
	if (blk_check(b, repair, r, &err) < 0) {
		log_warnx("%s", err.msg[0] ? err.msg : "check failed");
		return -1;
	}
	return 0;
}

int
cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		DISK_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct disk_opts o = { NULL, BLK_F_RDONLY | BLK_F_NOBACKING, 0 };
	int ch, r, repair = 0;
	bool quiet = false;
	struct blk_check res, fix;
	struct blk *b;

	while ((ch = getopt_long(argc, argv, "hf:r:qU", lo, NULL)) != -1) {
		if ((r = disk_common_opt(ch, optarg, &o)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (ch) {
		case 'h':
			disk_usage("check", false);
			return 0;
		case 'r':
			if (strcmp(optarg, "leaks") == 0)
				repair = BLK_REPAIR_LEAKS;
			else if (strcmp(optarg, "all") == 0)
				repair = BLK_REPAIR_ALL;
			else {
				log_warnx("-r %s: expected leaks or all",
				    optarg);
				return 2;
			}
			break;
		case 'q':
			quiet = true;
			break;
		default:
			disk_usage("check", true);
			return 2;
		}
	}
	if (argc - optind != 1) {
		disk_usage("check", true);
		return 2;
	}
	if (repair)
		o.flags = (o.flags & ~(BLK_F_RDONLY | BLK_F_NOLOCK)) |
		    BLK_F_REPAIR;
	if ((b = disk_open(argv[optind], o.fmt, o.flags)) == NULL)
		return 1;
	memset(&res, 0, sizeof(res));
	memset(&fix, 0, sizeof(fix));
	if (run(b, repair, repair ? &fix : &res, quiet || o.json) < 0) {
		blk_close(b);
		return 1;
	}
	if (!res.supported && !fix.supported) {
		log_warnx("%s: the %s format does not support checks",
		    b->path, b->drv->name);
		blk_close(b);
		return 63;
	}
	if (repair) {
		if (!quiet && !o.json && (fix.leaks_fixed ||
		    fix.corruptions_fixed))
			printf("The following inconsistencies were found and "
			    "repaired:\n\n    %llu leaked clusters\n    %llu "
			    "corruptions\n\nDouble checking the fixed image "
			    "now...\n", (unsigned long long)fix.leaks_fixed,
			    (unsigned long long)fix.corruptions_fixed);
		if (blk_flush(b) < 0 || run(b, 0, &res, true) < 0) {
			blk_close(b);
			return 1;
		}
	}
	if (o.json)
		json(b, &res, repair ? &fix : NULL);
	else if (!quiet)
		human(&res);
	blk_close(b);
	if (res.corruptions)
		return 2;
	return res.leaks ? 3 : 0;
}
