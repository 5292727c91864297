/* Caller-owned error records: a code and a message, no allocation. */
#ifndef VM_UTIL_ERR_H
#define VM_UTIL_ERR_H

#include <stddef.h>

#define VM_ERR_MSG_MAX 256

struct vm_err {
	int code;                  /* -errno, 0 when unset */
	char msg[VM_ERR_MSG_MAX];  /* "file: what is wrong" */
};

/* Record a message (if err is not NULL) and return code. */
int vm_err_set(struct vm_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As vm_err_set, with ": strerror(-code)" appended. */
int vm_err_errno(struct vm_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reset to "no error". */
void vm_err_clear(struct vm_err *err);

/* Internal invariant broken: log file:line and abort.  Never for guest data. */
#define VM_BUG_ON(cond)                                                  \
	do {                                                             \
		if (__builtin_expect(!!(cond), 0))                       \
			vm_bug(__FILE__, __LINE__, #cond);               \
	} while (0)
void vm_bug(const char *file, int line, const char *what)
	__attribute__((noreturn));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
