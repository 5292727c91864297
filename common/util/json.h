/* A small streaming JSON writer (pretty-printed, 4-space indents, as
 * qemu-img prints it).  Keys are NULL inside arrays and at the top. */
#ifndef VM_UTIL_JSON_H
#define VM_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 16

struct json {
	FILE *f;
	int depth;
	bool compact;           /* one line, no spaces (JSON lines) */
	bool first[JSON_DEPTH_MAX];
};

void json_init(struct json *j, FILE *f);
/* The same on one line: the control socket's replies. */
void json_init_compact(struct json *j, FILE *f);
void json_obj_begin(struct json *j, const char *key);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j, const char *key);
void json_arr_end(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_int(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
/* A value already in JSON (len bytes of text, from the reader below). */
void json_raw(struct json *j, const char *key, const char *text,
    size_t len);
/* End the document with a newline. */
void json_finish(struct json *j);

/*
 * A small, strict reader (RFC 8259) for requests: the whole input is one
 * value, parsed into a flat array of tokens, at most JSONR_TOKENS_MAX of
 * them and JSONR_DEPTH_MAX levels deep.  An object's token is followed by
 * its members, each a key (a string token) and its value; an array's by
 * its elements.  Every index and length is checked: malformed or hostile
 * input is refused with a message, never read past its end.
 */
#define JSONR_TOKENS_MAX 512
#define JSONR_DEPTH_MAX 32

enum jsonr_type {
	JSONR_OBJ, JSONR_ARR, JSONR_STR, JSONR_NUM, JSONR_TRUE, JSONR_FALSE,
	JSONR_NULL,
};

struct jsonr_tok {
	enum jsonr_type type;
	unsigned start, end;    /* its text; a string's without the quotes */
	int next;               /* the token after it and all it holds */
	int n;                  /* members of an object, elements of an array */
};

struct jsonr {
	const char *s;
	size_t len;
	struct jsonr_tok tok[JSONR_TOKENS_MAX];
	int ntok;
	char err[96];           /* what is wrong and at which byte */
};

/* Parse s[0..len); 0, or -EINVAL with r->err set. */
int jsonr_parse(struct jsonr *r, const char *s, size_t len);
/* The value of member key in object token obj; -1 if none (or obj is not
 * an object).  The first of duplicate keys wins. */
int jsonr_find(const struct jsonr *r, int obj, const char *key);
/* The i-th element of array arr, or the i-th member's value of an
 * object; -1 past the end.  jsonr_key: the i-th member's key token. */
int jsonr_elem(const struct jsonr *r, int arr, int i);
int jsonr_key(const struct jsonr *r, int obj, int i);
/* String token t, unescaped to UTF-8 and NUL-terminated in buf:
 * its length, -EINVAL if t is not a string or holds \u0000, -ENOSPC if
 * buf is too small. */
int jsonr_str(const struct jsonr *r, int t, char *buf, size_t len);
/* Is t the string s? */
bool jsonr_str_eq(const struct jsonr *r, int t, const char *s);
/* A non-negative integer (no fraction or exponent) up to UINT64_MAX;
 * 0 or -EINVAL (not such a number) / -ERANGE. */
int jsonr_u64(const struct jsonr *r, int t, uint64_t *v);
/* true or false; 0 or -EINVAL. */
int jsonr_bool(const struct jsonr *r, int t, bool *v);

#endif
