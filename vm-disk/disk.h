/* vm-disk's shared helpers: opening images with errors printed, -o
 * option lists, output selection.  Only main.c and cmd-*.c use it. */
#ifndef VM_DISK_DISK_H
#define VM_DISK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk;
struct blk_create_opts;

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_rebase(int argc, char **argv);

/* Print the internal snapshot table as qemu-img does (nothing if none). */
void disk_print_snapshots(struct blk *b);

/* Options several commands share, and their long forms. */
struct disk_opts {
	const char *fmt;        /* -f */
	unsigned flags;         /* BLK_F_*: -U adds BLK_F_NOLOCK */
	int json;               /* --output=json, --json */
};
#define DISK_OPT_OUTPUT 0x100
#define DISK_OPT_JSON   0x101
#define DISK_LONGOPTS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "output", required_argument, NULL, DISK_OPT_OUTPUT }, \
	{ "json", no_argument, NULL, DISK_OPT_JSON }
/* Handle ch if it is -f, -U, --output or --json: 1 done, 0 not one of
 * them, -1 a bad value (printed). */
int disk_common_opt(int ch, const char *arg, struct disk_opts *o);

/* Print a subcommand's usage (stdout for --help, stderr otherwise). */
void disk_usage(const char *cmd, bool err);
/* Open with the error printed; NULL on failure. */
struct blk *disk_open(const char *path, const char *fmt, unsigned flags);
/* Open o->backing as the image file will see it (relative to file's
 * directory): its format (o->backing_fmt, or probed) into fmt, its size
 * into *size.  -1 printed. */
int disk_probe_backing(const char *file, struct blk_create_opts *o,
    char *fmt, size_t fmtlen, uint64_t *size);
/* Print why an I/O call on b failed. */
void disk_ioerr(struct blk *b, int ret, const char *what);
/* Parse "-o key=val,key=val" into o (strings point into s); -1 printed. */
int disk_parse_opts(char *s, struct blk_create_opts *o);
/* --output=human|json: 1 json, 0 human, -1 bad (printed). */
int disk_output(const char *s);
/* Read len guest bytes at off, zeros where the chain has none. */
int disk_read(struct blk *b, uint8_t *buf, uint64_t len, uint64_t off);
bool disk_is_zero(const uint8_t *p, uint64_t len);

#endif
