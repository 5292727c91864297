/* vm-disk's shared helpers: opening images with errors printed, -o
 * option lists, output selection.  Only main.c and cmd-*.c use it. */
#ifndef VM_DISK_DISK_H
#define VM_DISK_DISK_H

#include <stdbool.h>
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

/* Print a subcommand's usage (stdout for --help, stderr otherwise). */
void disk_usage(const char *cmd, bool err);
/* Open with the error printed; NULL on failure. */
struct blk *disk_open(const char *path, const char *fmt, unsigned flags);
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
