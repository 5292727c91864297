/*
 * Error records.  Library code never prints and never exits; it fills a
 * caller-owned struct vm_err and returns -errno.  Only a tool's main()
 * decides what to print (shared/STYLE.md 2.4.1).
 */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
vm_err_set(struct vm_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

int
vm_err_errno(struct vm_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(-code));
	err->code = code;
	return code;
}

void
vm_err_clear(struct vm_err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

void
vm_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "vmkit: internal error at %s:%d: %s\n", file, line,
	    what);
	abort();
}
