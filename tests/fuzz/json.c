/*
 * libFuzzer harness for the JSON reader (util/json-read.c), which parses
 * every line a control socket client sends (make fuzz; then
 * build/fuzz/json CORPUS_DIR).  Each input is one request line: parsed,
 * and when accepted, every token walked the way the server and the
 * client do it (lookups, elements, keys, strings decoded, numbers,
 * booleans), each token checked to lie inside the input.  Any sanitizer
 * report or failed check is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jsonr r;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[64];
	uint64_t v;
	bool b;
	int t, i;

	if (jsonr_parse(&r, (const char *)data, size) != 0)
		return 0;
	if (r.ntok < 1 || r.ntok > JSONR_TOKENS_MAX)
		abort();
	for (t = 0; t < r.ntok; t++) {
		const struct jsonr_tok *k = &r.tok[t];

		if (k->start > k->end || k->end > size || k->next <= t ||
		    k->next > r.ntok)
			abort();
		(void)jsonr_str(&r, t, buf, sizeof(buf));
		(void)jsonr_u64(&r, t, &v);
		(void)jsonr_bool(&r, t, &b);
		for (i = 0; i <= k->n; i++) {
			(void)jsonr_elem(&r, t, i);
			(void)jsonr_key(&r, t, i);
		}
		(void)jsonr_find(&r, t, "cmd");
		(void)jsonr_str_eq(&r, t, "status");
	}
	return 0;
}
