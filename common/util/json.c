/*
 * The JSON writer behind every --json: values go straight to a FILE, with
 * commas and indentation tracked per nesting level.  Strings are escaped
 * as RFC 8259 requires (quote, backslash, control characters); other
 * bytes pass through, so UTF-8 file names stay readable.
 */
#include "util/json.h"

#include <inttypes.h>

void
json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->compact = false;
	j->first[0] = true;
}

void
json_init_compact(struct json *j, FILE *f)
{
	json_init(j, f);
	j->compact = true;
}

static void
escaped(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* The separator, indentation and key before a value. */
static void
lead(struct json *j, const char *key)
{
	int i;

	if (j->depth > 0 && j->compact) {
		if (!j->first[j->depth])
			fputc(',', j->f);
	} else if (j->depth > 0) {
		fputs(j->first[j->depth] ? "\n" : ",\n", j->f);
		for (i = 0; i < j->depth; i++)
			fputs("    ", j->f);
	}
	j->first[j->depth] = false;
	if (key != NULL) {
		escaped(j->f, key);
		fputs(j->compact ? ":" : ": ", j->f);
	}
}

static void
open_(struct json *j, const char *key, char c)
{
	lead(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < JSON_DEPTH_MAX)
		j->depth++;
	j->first[j->depth] = true;
}

static void
close_(struct json *j, char c)
{
	int i;
	bool empty = j->first[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (!empty && !j->compact) {
		fputc('\n', j->f);
		for (i = 0; i < j->depth; i++)
			fputs("    ", j->f);
	}
	fputc(c, j->f);
}

void
json_obj_begin(struct json *j, const char *key)
{
	open_(j, key, '{');
}

void
json_obj_end(struct json *j)
{
	close_(j, '}');
}

void
json_arr_begin(struct json *j, const char *key)
{
	open_(j, key, '[');
}

void
json_arr_end(struct json *j)
{
	close_(j, ']');
}

void
json_str(struct json *j, const char *key, const char *v)
{
	lead(j, key);
	escaped(j->f, v);
}

void
json_u64(struct json *j, const char *key, uint64_t v)
{
	lead(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void
json_int(struct json *j, const char *key, int64_t v)
{
	lead(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void
json_bool(struct json *j, const char *key, bool v)
{
	lead(j, key);
	fputs(v ? "true" : "false", j->f);
}

void
json_null(struct json *j, const char *key)
{
	lead(j, key);
	fputs("null", j->f);
}

void
json_raw(struct json *j, const char *key, const char *text, size_t len)
{
	lead(j, key);
	fwrite(text, 1, len, j->f);
}

void
json_finish(struct json *j)
{
	fputc('\n', j->f);
}
