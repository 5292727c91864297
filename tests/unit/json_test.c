/*
 * The JSON reader (util/json-read.c) and the one-line writer the control
 * socket replies with: what RFC 8259 accepts, what it refuses, string
 * decoding, lookups, and hostile input (deep nesting, too many values,
 * truncations and random bytes) refused without reading out of bounds.
 */
#include <errno.h>
#include <stdlib.h>

#include "test.h"
#include "util/json.h"

static struct jsonr r;

static int
parse(const char *s)
{
	return jsonr_parse(&r, s, strlen(s));
}

TEST(accepts_valid_documents)
{
	static const char *const ok[] = {
		"{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "false",
		"null", " {\"cmd\" : \"status\"} \n", "[1,[2,[3]],{\"a\":{}}]",
		"{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}", "-12.5E+7",
		"\"\xc3\xa9 bytes pass\"",
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (parse(ok[i]) != 0)
			printf("#   refused %s: %s\n", ok[i], r.err);
		EXPECT_EQ(parse(ok[i]), 0);
	}
}

TEST(refuses_malformed_documents)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
		"01", "+1", "1.", ".5", "1e", "-", "tru", "nul", "\"abc",
		"\"a\\x\"", "\"\\u12\"", "\"\\u12g4\"", "{} {}", "[1 2]",
		"\"tab\there\"", "{\"a\":1]", "[\"a\":1]", "'a'", "{,}",
		"NaN", "Infinity", "[1]x", "{\"cmd\":\"status\"}\x01",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i]) == 0)
			printf("#   accepted '%s'\n", bad[i]);
		EXPECT_EQ(parse(bad[i]), -EINVAL);
		EXPECT_TRUE(r.err[0] != '\0');
	}
	EXPECT_EQ(parse("{\"a\":01}"), -EINVAL);
	EXPECT_TRUE(strstr(r.err, "leading zero") != NULL);
	EXPECT_TRUE(strstr(r.err, "byte 6") != NULL);
}

TEST(lookups)
{
	char buf[64];
	uint64_t v = 0;
	bool b = false;
	int t;

	EXPECT_EQ(parse("{\"cmd\":\"pause\",\"n\":42,\"x\":[1,{\"y\":2}],"
	    "\"f\":true,\"cmd\":\"other\"}"), 0);
	EXPECT_EQ(r.tok[0].type, JSONR_OBJ);
	EXPECT_EQ(r.tok[0].n, 5);
	t = jsonr_find(&r, 0, "cmd");
	EXPECT_EQ(jsonr_str(&r, t, buf, sizeof(buf)), 5);
	EXPECT_STREQ(buf, "pause");         /* the first of two wins */
	EXPECT_TRUE(jsonr_str_eq(&r, t, "pause"));
	EXPECT_EQ(jsonr_u64(&r, jsonr_find(&r, 0, "n"), &v), 0);
	EXPECT_EQ(v, 42);
	EXPECT_EQ(jsonr_bool(&r, jsonr_find(&r, 0, "f"), &b), 0);
	EXPECT_TRUE(b);
	t = jsonr_find(&r, 0, "x");
	EXPECT_EQ(r.tok[t].type, JSONR_ARR);
	EXPECT_EQ(r.tok[t].n, 2);
	EXPECT_EQ(jsonr_u64(&r, jsonr_find(&r, jsonr_elem(&r, t, 1), "y"),
	    &v), 0);
	EXPECT_EQ(v, 2);
	EXPECT_EQ(jsonr_elem(&r, t, 2), -1);
	EXPECT_EQ(jsonr_find(&r, 0, "missing"), -1);
	EXPECT_EQ(jsonr_find(&r, t, "cmd"), -1);    /* not an object */
	EXPECT_EQ(jsonr_u64(&r, t, &v), -EINVAL);
	EXPECT_EQ(jsonr_str(&r, -1, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(jsonr_str(&r, 9999, buf, sizeof(buf)), -EINVAL);
	EXPECT_TRUE(jsonr_str_eq(&r, jsonr_key(&r, 0, 3), "f"));
}

TEST(numbers)
{
	uint64_t v;

	EXPECT_EQ(parse("18446744073709551615"), 0);
	EXPECT_EQ(jsonr_u64(&r, 0, &v), 0);
	EXPECT_TRUE(v == UINT64_MAX);
	EXPECT_EQ(parse("18446744073709551616"), 0);
	EXPECT_EQ(jsonr_u64(&r, 0, &v), -ERANGE);
	EXPECT_EQ(parse("-1"), 0);
	EXPECT_EQ(jsonr_u64(&r, 0, &v), -EINVAL);
	EXPECT_EQ(parse("1.0"), 0);
	EXPECT_EQ(jsonr_u64(&r, 0, &v), -EINVAL);
	EXPECT_EQ(parse("1e3"), 0);
	EXPECT_EQ(jsonr_u64(&r, 0, &v), -EINVAL);
}

TEST(strings_decoded)
{
	char buf[32], small[4];

	EXPECT_EQ(parse("\"a\\u00e9\\u20ac\\ud83d\\ude00\\n\""), 0);
	EXPECT_EQ(jsonr_str(&r, 0, buf, sizeof(buf)), 1 + 2 + 3 + 4 + 1);
	EXPECT_STREQ(buf, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n");
	EXPECT_EQ(jsonr_str(&r, 0, small, sizeof(small)), -ENOSPC);
	/* Lone surrogates and NUL have no place in a C string. */
	EXPECT_EQ(parse("\"\\ud800\""), 0);
	EXPECT_EQ(jsonr_str(&r, 0, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(parse("\"\\udc00x\""), 0);
	EXPECT_EQ(jsonr_str(&r, 0, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(parse("\"\\ud800\\\\u1234\""), 0);
	EXPECT_EQ(jsonr_str(&r, 0, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(parse("\"a\\u0000b\""), 0);
	EXPECT_EQ(jsonr_str(&r, 0, buf, sizeof(buf)), -EINVAL);
	EXPECT_EQ(parse("\"\""), 0);
	EXPECT_EQ(jsonr_str(&r, 0, buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "");
}

TEST(hostile_input_bounded)
{
	static char s[70000];
	int i;

	/* Nesting deeper than the limit: refused, no stack blow-up. */
	for (i = 0; i < 60000; i++)
		s[i] = '[';
	s[i] = '\0';
	EXPECT_EQ(parse(s), -EINVAL);
	EXPECT_TRUE(strstr(r.err, "deep") != NULL);
	/* JSONR_DEPTH_MAX levels are fine. */
	for (i = 0; i < JSONR_DEPTH_MAX; i++)
		s[i] = '[';
	for (; i < 2 * JSONR_DEPTH_MAX; i++)
		s[i] = ']';
	s[i] = '\0';
	EXPECT_EQ(parse(s), 0);
	/* More values than tokens. */
	s[0] = '[';
	for (i = 0; i < JSONR_TOKENS_MAX + 10; i++) {
		s[1 + 2 * i] = '0';
		s[2 + 2 * i] = ',';
	}
	s[2 * i] = ']';
	s[2 * i + 1] = '\0';
	EXPECT_EQ(parse(s), -EINVAL);
	EXPECT_TRUE(strstr(r.err, "too many") != NULL);
}

TEST(truncations_and_random_bytes)
{
	static const char doc[] = "{\"cmd\":\"query-cpus\",\"id\":[1,2.5e3,"
	    "{\"k\":\"\\u00e9\\ud83d\\ude00\"}],\"t\":true,\"n\":null}";
	char buf[sizeof(doc)], out[128];
	unsigned seed = 12345;
	size_t n, k;
	int i, t;

	EXPECT_EQ(jsonr_parse(&r, doc, sizeof(doc) - 1), 0);
	/* Every proper prefix is incomplete. */
	for (n = 0; n + 1 < sizeof(doc) - 1; n++)
		EXPECT_EQ(jsonr_parse(&r, doc, n), -EINVAL);
	/* Mutants: parsed or refused, and every string token of an
	 * accepted one decodes or is refused, all inside its bounds
	 * (the asan build checks the reads). */
	for (i = 0; i < 20000; i++) {
		memcpy(buf, doc, sizeof(doc));
		for (k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % (sizeof(doc) - 1)] =
			    (char)(seed >> 20);
		}
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % sizeof(doc);
		if (jsonr_parse(&r, buf, n) != 0)
			continue;
		for (t = 0; t < r.ntok; t++) {
			EXPECT_TRUE(r.tok[t].end <= n);
			EXPECT_TRUE(r.tok[t].next <= r.ntok);
			if (r.tok[t].type == JSONR_STR)
				(void)jsonr_str(&r, t, out, sizeof(out));
		}
	}
}

TEST(compact_writer_round_trip)
{
	char *text = NULL, buf[64];
	size_t len = 0;
	struct json j;
	uint64_t v;
	FILE *f = open_memstream(&text, &len);

	json_init_compact(&j, f);
	json_obj_begin(&j, NULL);
	json_bool(&j, "ok", true);
	json_str(&j, "name", "web \"1\"\n");
	json_u64(&j, "memory", 536870912);
	json_arr_begin(&j, "cpus");
	json_obj_begin(&j, NULL);
	json_int(&j, "index", 0);
	json_obj_end(&j);
	json_arr_end(&j);
	json_raw(&j, "id", "[1,2]", 5);
	json_null(&j, "none");
	json_obj_end(&j);
	json_finish(&j);
	fclose(f);
	EXPECT_STREQ(text, "{\"ok\":true,\"name\":\"web \\\"1\\\"\\n\","
	    "\"memory\":536870912,\"cpus\":[{\"index\":0}],\"id\":[1,2],"
	    "\"none\":null}\n");
	EXPECT_EQ(jsonr_parse(&r, text, len), 0);
	EXPECT_EQ(jsonr_str(&r, jsonr_find(&r, 0, "name"), buf, sizeof(buf)),
	    8);
	EXPECT_STREQ(buf, "web \"1\"\n");
	EXPECT_EQ(jsonr_u64(&r, jsonr_find(&r, 0, "memory"), &v), 0);
	EXPECT_EQ(v, 536870912);
	free(text);
}
