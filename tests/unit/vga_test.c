/*
 * The VGA console's tables: CP437 characters as UTF-8, terminal bytes as
 * key presses, and key presses as PS/2 scan set 1 and 2 bytes (the IBM
 * keyboard reference's codes).
 */
#include <string.h>

#include "dev/i8042.h"
#include "test.h"
#include "util/cp437.h"
#include "util/termkey.h"

static const char *
utf8(uint8_t c)
{
	static char buf[8];

	buf[cp437_to_utf8(c, buf)] = '\0';
	return buf;
}

TEST(cp437_box_drawing_and_glyphs)
{
	EXPECT_STREQ(utf8('A'), "A");
	EXPECT_STREQ(utf8(' '), " ");
	EXPECT_STREQ(utf8(0x00), " ");
	EXPECT_STREQ(utf8(0xc4), "\u2500");     /* ─ */
	EXPECT_STREQ(utf8(0xb3), "\u2502");     /* │ */
	EXPECT_STREQ(utf8(0xda), "\u250c");     /* ┌ */
	EXPECT_STREQ(utf8(0xbf), "\u2510");     /* ┐ */
	EXPECT_STREQ(utf8(0xc9), "\u2554");     /* ╔ */
	EXPECT_STREQ(utf8(0xcd), "\u2550");     /* ═ */
	EXPECT_STREQ(utf8(0xdb), "\u2588");     /* █ */
	EXPECT_STREQ(utf8(0xb0), "\u2591");     /* ░ */
	EXPECT_STREQ(utf8(0x01), "\u263a");     /* ☺ */
	EXPECT_STREQ(utf8(0x10), "\u25ba");     /* ► */
	EXPECT_STREQ(utf8(0x7f), "\u2302");     /* ⌂ */
	EXPECT_STREQ(utf8(0x82), "\u00e9");     /* é */
	EXPECT_STREQ(utf8(0xe1), "\u00df");     /* ß */
	EXPECT_STREQ(utf8(0xe3), "\u03c0");     /* π */
	EXPECT_STREQ(utf8(0xfe), "\u25a0");     /* ■ */
	EXPECT_EQ(cp437_to_unicode(0xff), 0xa0);
}

TEST(cp437_every_byte_is_one_character)
{
	unsigned c, seen = 0;

	for (c = 0; c < 256; c++) {
		char b[4];
		size_t n = cp437_to_utf8((uint8_t)c, b);

		EXPECT_TRUE(n >= 1 && n <= 3);
		if (c >= 0x20 && c < 0x7f)
			EXPECT_EQ(cp437_to_unicode((uint8_t)c), c);
		if (cp437_to_unicode((uint8_t)c) >= 0x2500 &&
		    cp437_to_unicode((uint8_t)c) < 0x2580)
			seen++;
	}
	EXPECT_EQ(seen, 40);    /* the single and double box drawings */
}

/* Decode s (with a flush at the end) into at most 8 presses. */
static size_t
keys(const char *s, struct term_key_ev *ev)
{
	struct term_keys p = { { 0 }, 0 };
	size_t n = 0;

	for (; *s; s++)
		n += term_keys_feed(&p, (uint8_t)*s, ev + n);
	n += term_keys_flush(&p, ev + n);
	return n;
}

#define EXPECT_KEY(s, k, m)                                      \
	do {                                                     \
		struct term_key_ev _e[8];                        \
		EXPECT_EQ(keys(s, _e), 1);                       \
		EXPECT_EQ(_e[0].key, k);                         \
		EXPECT_EQ(_e[0].mods, m);                        \
	} while (0)

TEST(termkey_plain_and_control)
{
	EXPECT_KEY("a", TK_A, 0);
	EXPECT_KEY("Z", TK_Z, TK_MOD_SHIFT);
	EXPECT_KEY("7", TK_7, 0);
	EXPECT_KEY("&", TK_7, TK_MOD_SHIFT);
	EXPECT_KEY(":", TK_SEMICOLON, TK_MOD_SHIFT);
	EXPECT_KEY("/", TK_SLASH, 0);
	EXPECT_KEY("~", TK_GRAVE, TK_MOD_SHIFT);
	EXPECT_KEY(" ", TK_SPACE, 0);
	EXPECT_KEY("\r", TK_ENTER, 0);
	EXPECT_KEY("\t", TK_TAB, 0);
	EXPECT_KEY("\x7f", TK_BACKSPACE, 0);
	EXPECT_KEY("\x03", TK_C, TK_MOD_CTRL);
	EXPECT_KEY("\x1b", TK_ESC, 0);
	EXPECT_KEY("\x1bx", TK_X, TK_MOD_ALT);
	EXPECT_KEY("\x1bX", TK_X, TK_MOD_ALT | TK_MOD_SHIFT);
}

TEST(termkey_sequences)
{
	struct term_key_ev e[8];

	EXPECT_KEY("\x1b[A", TK_UP, 0);
	EXPECT_KEY("\x1b[D", TK_LEFT, 0);
	EXPECT_KEY("\x1bOB", TK_DOWN, 0);
	EXPECT_KEY("\x1b[H", TK_HOME, 0);
	EXPECT_KEY("\x1b[4~", TK_END, 0);
	EXPECT_KEY("\x1b[5~", TK_PGUP, 0);
	EXPECT_KEY("\x1b[6~", TK_PGDN, 0);
	EXPECT_KEY("\x1b[2~", TK_INSERT, 0);
	EXPECT_KEY("\x1b[3~", TK_DELETE, 0);
	EXPECT_KEY("\x1bOP", TK_F1, 0);
	EXPECT_KEY("\x1bOS", TK_F4, 0);
	EXPECT_KEY("\x1b[15~", TK_F5, 0);
	EXPECT_KEY("\x1b[21~", TK_F10, 0);
	EXPECT_KEY("\x1b[24~", TK_F12, 0);
	EXPECT_KEY("\x1b[[B", TK_F2, 0);
	EXPECT_KEY("\x1b[1;5C", TK_RIGHT, TK_MOD_CTRL);
	EXPECT_KEY("\x1b[1;3A", TK_UP, TK_MOD_ALT);
	EXPECT_KEY("\x1b[3;2~", TK_DELETE, TK_MOD_SHIFT);
	EXPECT_KEY("\x1b[Z", TK_TAB, TK_MOD_SHIFT);
	/* Esc then a sequence; a sequence then a letter. */
	EXPECT_EQ(keys("\x1b\x1b[A", e), 2);
	EXPECT_EQ(e[0].key, TK_ESC);
	EXPECT_EQ(e[1].key, TK_UP);
	EXPECT_EQ(keys("\x1b[24~q", e), 2);
	EXPECT_EQ(e[0].key, TK_F12);
	EXPECT_EQ(e[1].key, TK_Q);
	/* Unknown sequences give nothing and do not swallow what follows. */
	EXPECT_EQ(keys("\x1b[99~a", e), 1);
	EXPECT_EQ(e[0].key, TK_A);
}

static size_t
sc(enum term_key k, bool down, int set, uint8_t *b)
{
	memset(b, 0, 4);
	return i8042_scancode(k, down, set, b);
}

TEST(scancodes_set1_and_set2)
{
	uint8_t b[4];

	EXPECT_EQ(sc(TK_A, true, 1, b), 1);
	EXPECT_EQ(b[0], 0x1e);
	EXPECT_EQ(sc(TK_A, false, 1, b), 1);
	EXPECT_EQ(b[0], 0x9e);
	EXPECT_EQ(sc(TK_A, true, 2, b), 1);
	EXPECT_EQ(b[0], 0x1c);
	EXPECT_EQ(sc(TK_A, false, 2, b), 2);
	EXPECT_EQ(b[0], 0xf0);
	EXPECT_EQ(b[1], 0x1c);
	EXPECT_EQ(sc(TK_ENTER, true, 1, b), 1);
	EXPECT_EQ(b[0], 0x1c);
	EXPECT_EQ(sc(TK_ESC, true, 2, b), 1);
	EXPECT_EQ(b[0], 0x76);
	EXPECT_EQ(sc(TK_UP, true, 1, b), 2);
	EXPECT_EQ(b[0], 0xe0);
	EXPECT_EQ(b[1], 0x48);
	EXPECT_EQ(sc(TK_UP, false, 1, b), 2);
	EXPECT_EQ(b[1], 0xc8);
	EXPECT_EQ(sc(TK_DELETE, false, 2, b), 3);
	EXPECT_EQ(b[0], 0xe0);
	EXPECT_EQ(b[1], 0xf0);
	EXPECT_EQ(b[2], 0x71);
	EXPECT_EQ(sc(TK_F12, true, 1, b), 1);
	EXPECT_EQ(b[0], 0x58);
	EXPECT_EQ(sc(TK_F7, true, 2, b), 1);
	EXPECT_EQ(b[0], 0x83);
	EXPECT_EQ(sc(TK_LCTRL, true, 1, b), 1);
	EXPECT_EQ(b[0], 0x1d);
	EXPECT_EQ(sc(TK_NONE, true, 1, b), 0);
	EXPECT_EQ(sc(TK_COUNT, true, 1, b), 0);
}

TEST(scancodes_every_key_has_both_sets)
{
	uint8_t b[4];
	int k;

	for (k = TK_A; k < TK_COUNT; k++) {
		EXPECT_TRUE(sc((enum term_key)k, true, 1, b) >= 1);
		EXPECT_TRUE(sc((enum term_key)k, true, 2, b) >= 1);
	}
}
