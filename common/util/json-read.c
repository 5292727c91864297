/*
 * The JSON reader (json.h): a recursive-descent parser over a byte range
 * into a flat token array, after RFC 8259's grammar, strictly: no
 * comments, no trailing commas, no leading zeros or '+', no control
 * characters inside strings, nothing after the value but whitespace.
 * Depth and token count are bounded, so a hostile line costs at most
 * JSONR_TOKENS_MAX tokens and JSONR_DEPTH_MAX stack frames.  Strings are
 * checked for their escapes when parsed and decoded (\uXXXX, surrogate
 * pairs, to UTF-8) when asked for; other bytes pass as they are.
 */
#include "util/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct pstate {
	struct jsonr *r;
	size_t pos;
	int depth;
};

static int
fail(struct pstate *p, const char *what)
{
	snprintf(p->r->err, sizeof(p->r->err), "%s at byte %zu", what,
	    p->pos);
	return -EINVAL;
}

static void
skip_ws(struct pstate *p)
{
	while (p->pos < p->r->len) {
		char c = p->r->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int
peek(const struct pstate *p)
{
	return p->pos < p->r->len ? (unsigned char)p->r->s[p->pos] : -1;
}

static int
new_tok(struct pstate *p, enum jsonr_type type)
{
	struct jsonr_tok *t;

	if (p->r->ntok >= JSONR_TOKENS_MAX)
		return fail(p, "too many values");
	t = &p->r->tok[p->r->ntok];
	t->type = type;
	t->start = (unsigned)p->pos;
	t->end = (unsigned)p->pos;
	t->next = p->r->ntok + 1;
	t->n = 0;
	return p->r->ntok++;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_string(struct pstate *p)
{
	int t, c, k;

	p->pos++;       /* the opening quote */
	t = new_tok(p, JSONR_STR);
	if (t < 0)
		return t;
	for (;;) {
		c = peek(p);
		if (c < 0)
			return fail(p, "unterminated string");
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(p, "control character in a string");
		if (c != '\\') {
			p->pos++;
			continue;
		}
		p->pos++;
		c = peek(p);
		switch (c) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p->pos++;
			break;
		case 'u':
			p->pos++;
			for (k = 0; k < 4; k++, p->pos++)
				if (hexval(peek(p)) < 0)
					return fail(p, "bad \\u escape");
			break;
		default:
			return fail(p, "bad escape in a string");
		}
	}
	p->r->tok[t].end = (unsigned)p->pos;
	p->pos++;       /* the closing quote */
	return t;
}

static int
digits(struct pstate *p)
{
	size_t from = p->pos;

	while (peek(p) >= '0' && peek(p) <= '9')
		p->pos++;
	return p->pos > from;
}

static int
parse_number(struct pstate *p)
{
	int t = new_tok(p, JSONR_NUM);

	if (t < 0)
		return t;
	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0') {
		p->pos++;
		if (peek(p) >= '0' && peek(p) <= '9')
			return fail(p, "leading zero in a number");
	} else if (!digits(p)) {
		return fail(p, "bad number");
	}
	if (peek(p) == '.') {
		p->pos++;
		if (!digits(p))
			return fail(p, "bad fraction in a number");
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!digits(p))
			return fail(p, "bad exponent in a number");
	}
	p->r->tok[t].end = (unsigned)p->pos;
	return t;
}

static int
parse_word(struct pstate *p, const char *w, enum jsonr_type type)
{
	size_t n = strlen(w);
	int t;

	if (p->r->len - p->pos < n || memcmp(p->r->s + p->pos, w, n) != 0)
		return fail(p, "unexpected character");
	t = new_tok(p, type);
	if (t < 0)
		return t;
	p->pos += n;
	p->r->tok[t].end = (unsigned)p->pos;
	return t;
}

static int parse_value(struct pstate *p);

/* An object or an array: { "k": v, ... } or [ v, ... ]. */
static int
parse_container(struct pstate *p, bool obj)
{
	char close = obj ? '}' : ']';
	int t, v;

	if (++p->depth > JSONR_DEPTH_MAX)
		return fail(p, "nested too deep");
	t = new_tok(p, obj ? JSONR_OBJ : JSONR_ARR);
	if (t < 0)
		return t;
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
	} else {
		for (;;) {
			if (obj) {
				if (peek(p) != '"')
					return fail(p, "expected a key");
				v = parse_string(p);
				if (v < 0)
					return v;
				skip_ws(p);
				if (peek(p) != ':')
					return fail(p, "expected ':'");
				p->pos++;
			}
			v = parse_value(p);
			if (v < 0)
				return v;
			p->r->tok[t].n++;
			skip_ws(p);
			if (peek(p) == ',') {
				p->pos++;
				skip_ws(p);
				continue;
			}
			if (peek(p) == close) {
				p->pos++;
				break;
			}
			return fail(p, obj ? "expected ',' or '}'" :
			    "expected ',' or ']'");
		}
	}
	p->r->tok[t].end = (unsigned)p->pos;
	p->r->tok[t].next = p->r->ntok;
	p->depth--;
	return t;
}

static int
parse_value(struct pstate *p)
{
	skip_ws(p);
	switch (peek(p)) {
	case '{':
		return parse_container(p, true);
	case '[':
		return parse_container(p, false);
	case '"':
		return parse_string(p);
	case 't':
		return parse_word(p, "true", JSONR_TRUE);
	case 'f':
		return parse_word(p, "false", JSONR_FALSE);
	case 'n':
		return parse_word(p, "null", JSONR_NULL);
	case -1:
		return fail(p, "unexpected end");
	default:
		if (peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9'))
			return parse_number(p);
		return fail(p, "unexpected character");
	}
}

int
jsonr_parse(struct jsonr *r, const char *s, size_t len)
{
	struct pstate p = { r, 0, 0 };
	int ret;

	r->s = s;
	r->len = len;
	r->ntok = 0;
	r->err[0] = '\0';
	if (len > 0x7fffffff)
		return fail(&p, "input too long");
	ret = parse_value(&p);
	if (ret < 0)
		return ret;
	skip_ws(&p);
	if (p.pos != len)
		return fail(&p, "text after the value");
	return 0;
}

static bool
tok_ok(const struct jsonr *r, int t)
{
	return t >= 0 && t < r->ntok;
}

int
jsonr_elem(const struct jsonr *r, int c, int i)
{
	int k, at;

	if (!tok_ok(r, c) || (r->tok[c].type != JSONR_OBJ &&
	    r->tok[c].type != JSONR_ARR) || i < 0 || i >= r->tok[c].n)
		return -1;
	at = c + 1;
	for (k = 0; k < i; k++) {
		if (r->tok[c].type == JSONR_OBJ)
			at++;   /* the key */
		at = r->tok[at].next;
	}
	return r->tok[c].type == JSONR_OBJ ? at + 1 : at;
}

int
jsonr_key(const struct jsonr *r, int obj, int i)
{
	if (!tok_ok(r, obj) || r->tok[obj].type != JSONR_OBJ)
		return -1;
	i = jsonr_elem(r, obj, i);
	return i < 0 ? -1 : i - 1;
}

int
jsonr_find(const struct jsonr *r, int obj, const char *key)
{
	int i, k;

	if (!tok_ok(r, obj) || r->tok[obj].type != JSONR_OBJ)
		return -1;
	for (i = 0; i < r->tok[obj].n; i++) {
		k = jsonr_key(r, obj, i);
		if (jsonr_str_eq(r, k, key))
			return k + 1;
	}
	return -1;
}

/* Put code point cp as UTF-8 at buf[*n], room permitting. */
static int
put_utf8(char *buf, size_t len, size_t *n, unsigned cp)
{
	unsigned char u[4];
	size_t k, m;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		m = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		m = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		m = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		m = 4;
	}
	if (*n + m >= len)
		return -ENOSPC;
	for (k = 0; k < m; k++)
		buf[(*n)++] = (char)u[k];
	return 0;
}

static unsigned
hex4(const char *s)
{
	unsigned v = 0;
	int k;

	for (k = 0; k < 4; k++)
		v = v << 4 | (unsigned)hexval((unsigned char)s[k]);
	return v;
}

int
jsonr_str(const struct jsonr *r, int t, char *buf, size_t len)
{
	size_t i, n = 0, end;
	unsigned cp, lo;
	const char *s = r->s;
	int ret;

	if (len == 0 || !tok_ok(r, t) || r->tok[t].type != JSONR_STR)
		return -EINVAL;
	end = r->tok[t].end;
	/* The parser checked every escape's shape, so \u has 4 digits. */
	for (i = r->tok[t].start; i < end; i++) {
		if (s[i] != '\\') {
			if (n + 1 >= len)
				return -ENOSPC;
			buf[n++] = s[i];
			continue;
		}
		i++;
		switch (s[i]) {
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			cp = hex4(s + i + 1);
			i += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -EINVAL;         /* a lone low half */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (i + 6 >= end || s[i + 1] != '\\' ||
				    s[i + 2] != 'u')
					return -EINVAL;
				lo = hex4(s + i + 3);
				if (lo < 0xdc00 || lo > 0xdfff)
					return -EINVAL;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 6;
			}
			if (cp == 0)
				return -EINVAL;
			break;
		default: cp = (unsigned char)s[i]; break; /* " \ / */
		}
		ret = put_utf8(buf, len, &n, cp);
		if (ret < 0)
			return ret;
	}
	buf[n] = '\0';
	return (int)n;
}

bool
jsonr_str_eq(const struct jsonr *r, int t, const char *str)
{
	char buf[256];

	if (strlen(str) >= sizeof(buf))
		return false;
	return jsonr_str(r, t, buf, sizeof(buf)) >= 0 &&
	    strcmp(buf, str) == 0;
}

int
jsonr_u64(const struct jsonr *r, int t, uint64_t *v)
{
	uint64_t x = 0;
	unsigned i;

	if (!tok_ok(r, t) || r->tok[t].type != JSONR_NUM)
		return -EINVAL;
	for (i = r->tok[t].start; i < r->tok[t].end; i++) {
		unsigned d;

		if (r->s[i] < '0' || r->s[i] > '9')
			return -EINVAL;         /* sign, fraction, exponent */
		d = (unsigned)(r->s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -ERANGE;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int
jsonr_bool(const struct jsonr *r, int t, bool *v)
{
	if (!tok_ok(r, t) || (r->tok[t].type != JSONR_TRUE &&
	    r->tok[t].type != JSONR_FALSE))
		return -EINVAL;
	*v = r->tok[t].type == JSONR_TRUE;
	return 0;
}
