/*
 * Logging in the OpenBSD vocabulary: log_warn appends strerror(errno),
 * log_warnx does not.  Debug output is filtered by category, enabled with
 * --log=dbt,io or VM_LOG.  fatal() exists only in the tools, never here.
 */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog = "vmkit";
static int verbose;
static unsigned cats;

static const struct {
	const char *name;
	unsigned bit;
} cat_names[] = {
	{ "gen", LOG_GEN }, { "cpu", LOG_CPU }, { "dbt", LOG_DBT },
	{ "kvm", LOG_KVM }, { "io", LOG_IO }, { "blk", LOG_BLK },
	{ "net", LOG_NET }, { "snap", LOG_SNAP }, { "cfg", LOG_CFG },
	{ "dev", LOG_DEV }, { "boot", LOG_BOOT },
};

void
log_init(const char *argv0)
{
	const char *s, *env;

	if (argv0 != NULL) {
		s = strrchr(argv0, '/');
		prog = s ? s + 1 : argv0;
	}
	env = getenv("VM_LOG");
	if (env != NULL && *env != '\0')
		(void)log_set_cats(env);
}

const char *
log_prog(void)
{
	return prog;
}

void
log_set_verbose(int level)
{
	verbose = level;
}

int
log_verbose(void)
{
	return verbose;
}

int
log_set_cats(const char *list)
{
	char buf[256], *tok, *save;
	unsigned set = 0;
	size_t i;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "all") == 0) {
			set = ~0u;
			continue;
		}
		for (i = 0; i < sizeof(cat_names) / sizeof(cat_names[0]); i++)
			if (strcmp(tok, cat_names[i].name) == 0)
				break;
		if (i == sizeof(cat_names) / sizeof(cat_names[0]))
			return -EINVAL;
		set |= cat_names[i].bit;
	}
	cats = set;
	if (verbose < 2)
		verbose = 2;
	return 0;
}

bool
log_cat_on(unsigned cat)
{
	return verbose >= 2 && (cats & cat) != 0;
}

static void
vlog(const char *fmt, va_list ap, int errnum)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), "%s: ", prog);
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	if (errnum && n < (int)sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - n, ": %s",
		    strerror(errnum));
	if (n >= (int)sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fwrite(buf, 1, n, stderr);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vlog(fmt, ap, e);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (verbose < 1)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap, 0);
	va_end(ap);
}

void
log_debug(unsigned cat, const char *fmt, ...)
{
	va_list ap;

	if (!log_cat_on(cat))
		return;
	va_start(ap, fmt);
	vlog(fmt, ap, 0);
	va_end(ap);
}
