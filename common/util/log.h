/* Logging: "prog: message" on stderr, with categories for debug output. */
#ifndef VM_UTIL_LOG_H
#define VM_UTIL_LOG_H

#include <stdbool.h>

enum log_cat {
	LOG_GEN = 1u << 0,
	LOG_CPU = 1u << 1,
	LOG_DBT = 1u << 2,
	LOG_KVM = 1u << 3,
	LOG_IO = 1u << 4,
	LOG_BLK = 1u << 5,
	LOG_NET = 1u << 6,
	LOG_SNAP = 1u << 7,
	LOG_CFG = 1u << 8,
	LOG_DEV = 1u << 9,
	LOG_BOOT = 1u << 10,
};

/* Set the program name shown before every message (basename of argv0). */
void log_init(const char *argv0);
const char *log_prog(void);
/* Verbosity: 0 errors and warnings, 1 info (-v), 2 debug (-vv). */
void log_set_verbose(int level);
int log_verbose(void);
/* Enable debug categories from a list "dbt,io" (or "all"); -EINVAL if bad. */
int log_set_cats(const char *list);
bool log_cat_on(unsigned cat);

void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(unsigned cat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
