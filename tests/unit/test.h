/*
 * A tiny unit-test harness: TEST(name) { ... } with EXPECT_* checks.
 * Every binary prints "ok/not ok" lines and ends with "N passed, N failed".
 */
#ifndef VM_TESTS_TEST_H
#define VM_TESTS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

static struct test_case *test_list, **test_tail = &test_list;
static int test_failed_now;

#define TEST(name)                                                       \
	static void test_##name(void);                                   \
	__attribute__((constructor)) static void reg_##name(void)        \
	{                                                                \
		static struct test_case tc = { #name, test_##name, 0 };  \
		*test_tail = &tc;                                        \
		test_tail = &tc.next;                                    \
	}                                                                \
	static void test_##name(void)

#define EXPECT_TRUE(c)                                                   \
	do {                                                             \
		if (!(c)) {                                              \
			printf("#   %s:%d: expected %s\n", __FILE__,     \
			    __LINE__, #c);                               \
			test_failed_now = 1;                             \
		}                                                        \
	} while (0)

#define EXPECT_EQ(a, b)                                                  \
	do {                                                             \
		long long _a = (long long)(a), _b = (long long)(b);      \
		if (_a != _b) {                                          \
			printf("#   %s:%d: %s == %lld, expected %s == %lld\n", \
			    __FILE__, __LINE__, #a, _a, #b, _b);         \
			test_failed_now = 1;                             \
		}                                                        \
	} while (0)

#define EXPECT_STREQ(a, b)                                               \
	do {                                                             \
		const char *_a = (a), *_b = (b);                         \
		if (strcmp(_a, _b) != 0) {                               \
			printf("#   %s:%d: \"%s\" != \"%s\"\n", __FILE__, \
			    __LINE__, _a, _b);                           \
			test_failed_now = 1;                             \
		}                                                        \
	} while (0)

int
main(void)
{
	struct test_case *t;
	int pass = 0, fail = 0;

	for (t = test_list; t; t = t->next) {
		test_failed_now = 0;
		t->fn();
		printf("%s %d - %s\n", test_failed_now ? "not ok" : "ok",
		    pass + fail + 1, t->name);
		if (test_failed_now)
			fail++;
		else
			pass++;
	}
	printf("%d passed, %d failed\n", pass, fail);
	return fail ? 1 : 0;
}

#endif
