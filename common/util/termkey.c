/*
 * Terminal bytes to key presses (termkey.h).  What a terminal sends is
 * ECMA-48 and the xterm conventions: ESC [ params final (CSI) and ESC O
 * final (SS3) for the cursor, editing and function keys, the modifier
 * in the second parameter as 1 + (shift 1, alt 2, ctrl 4); the Linux
 * console's ESC [ [ A-E for F1-F5; a control character for Ctrl with a
 * letter; ESC before a character for Alt with it.
 */
#include "util/termkey.h"

#include <stdbool.h>
#include <stdlib.h>

#define ESC 0x1b

/* Printable ASCII on a US keyboard: the key, and whether with shift. */
static bool
ascii_key(uint8_t c, struct term_key_ev *ev)
{
	static const char plain[] = "-=[]\\;'`,./ ";
	static const char shifted[] = "_+{}|:\"~<>? ";
	static const char digit_shift[] = ")!@#$%^&*(";
	static const enum term_key sym[] = { TK_MINUS, TK_EQUAL,
		TK_LBRACKET, TK_RBRACKET, TK_BACKSLASH, TK_SEMICOLON,
		TK_APOSTROPHE, TK_GRAVE, TK_COMMA, TK_DOT, TK_SLASH, TK_SPACE };
	unsigned i;

	ev->mods = 0;
	if (c >= 'a' && c <= 'z') {
		ev->key = (enum term_key)(TK_A + (c - 'a'));
		return true;
	}
	if (c >= 'A' && c <= 'Z') {
		ev->key = (enum term_key)(TK_A + (c - 'A'));
		ev->mods = TK_MOD_SHIFT;
		return true;
	}
	if (c >= '0' && c <= '9') {
		ev->key = (enum term_key)(TK_0 + (c - '0'));
		return true;
	}
	for (i = 0; i < 10; i++)
		if (digit_shift[i] == c) {
			ev->key = (enum term_key)(TK_0 + i);
			ev->mods = TK_MOD_SHIFT;
			return true;
		}
	for (i = 0; i < sizeof(sym) / sizeof(sym[0]); i++) {
		if (plain[i] == c) {
			ev->key = sym[i];
			return true;
		}
		if (shifted[i] == c && c != ' ') {
			ev->key = sym[i];
			ev->mods = TK_MOD_SHIFT;
			return true;
		}
	}
	return false;
}

/* One byte outside an escape sequence. */
static bool
plain_key(uint8_t c, struct term_key_ev *ev)
{
	ev->mods = 0;
	switch (c) {
	case '\r':
	case '\n':
		ev->key = TK_ENTER;
		return true;
	case '\t':
		ev->key = TK_TAB;
		return true;
	case 0x7f:
	case 0x08:
		ev->key = TK_BACKSPACE;
		return true;
	case 0x00:
		ev->key = TK_SPACE;
		ev->mods = TK_MOD_CTRL;
		return true;
	case 0x1c:
		ev->key = TK_BACKSLASH;
		ev->mods = TK_MOD_CTRL;
		return true;
	case 0x1d:
		ev->key = TK_RBRACKET;
		ev->mods = TK_MOD_CTRL;
		return true;
	case 0x1e:
		ev->key = TK_6;
		ev->mods = TK_MOD_CTRL;
		return true;
	case 0x1f:
		ev->key = TK_MINUS;
		ev->mods = TK_MOD_CTRL;
		return true;
	default:
		break;
	}
	if (c >= 0x01 && c <= 0x1a) {
		ev->key = (enum term_key)(TK_A + (c - 1));
		ev->mods = TK_MOD_CTRL;
		return true;
	}
	return c < 0x80 && ascii_key(c, ev);
}

static enum term_key
tilde_key(int n)
{
	switch (n) {
	case 1:
	case 7:
		return TK_HOME;
	case 2:
		return TK_INSERT;
	case 3:
		return TK_DELETE;
	case 4:
	case 8:
		return TK_END;
	case 5:
		return TK_PGUP;
	case 6:
		return TK_PGDN;
	case 11: case 12: case 13: case 14: case 15:
		return (enum term_key)(TK_F1 + (n - 11));
	case 17: case 18: case 19: case 20: case 21:
		return (enum term_key)(TK_F6 + (n - 17));
	case 23:
		return TK_F11;
	case 24:
		return TK_F12;
	default:
		return TK_NONE;
	}
}

static enum term_key
final_key(uint8_t f)
{
	switch (f) {
	case 'A':
		return TK_UP;
	case 'B':
		return TK_DOWN;
	case 'C':
		return TK_RIGHT;
	case 'D':
		return TK_LEFT;
	case 'H':
		return TK_HOME;
	case 'F':
		return TK_END;
	case 'P': case 'Q': case 'R': case 'S':
		return (enum term_key)(TK_F1 + (f - 'P'));
	default:
		return TK_NONE;
	}
}

/* A whole sequence buf[0..len) (ESC, '[' or 'O', ..., final). */
static bool
sequence_key(const uint8_t *buf, size_t len, struct term_key_ev *ev)
{
	int par[2] = { 0, 0 }, np = 0;
	uint8_t f = buf[len - 1];
	size_t i;

	ev->mods = 0;
	if (buf[1] == '[' && len == 4 && buf[2] == '[') {
		/* Linux console F1-F5. */
		ev->key = f >= 'A' && f <= 'E' ?
		    (enum term_key)(TK_F1 + (f - 'A')) : TK_NONE;
		return ev->key != TK_NONE;
	}
	for (i = 2; i + 1 < len; i++) {
		if (buf[i] >= '0' && buf[i] <= '9') {
			if (np == 0)
				np = 1;
			if (par[np - 1] < 1000)
				par[np - 1] = par[np - 1] * 10 + (buf[i] - '0');
		} else if (buf[i] == ';' && np < 2) {
			np = np == 0 ? 2 : np + 1;
		} else {
			return false;
		}
	}
	if (par[1] > 1 && par[1] <= 16) {
		unsigned m = (unsigned)par[1] - 1;

		ev->mods = ((m & 1) ? TK_MOD_SHIFT : 0) |
		    ((m & 2) ? TK_MOD_ALT : 0) | ((m & 4) ? TK_MOD_CTRL : 0);
	}
	if (f == '~' && buf[1] == '[')
		ev->key = tilde_key(par[0]);
	else if (f == 'Z' && buf[1] == '[') {
		ev->key = TK_TAB;
		ev->mods |= TK_MOD_SHIFT;
	} else
		ev->key = final_key(f);
	return ev->key != TK_NONE;
}

size_t
term_keys_feed(struct term_keys *p, uint8_t b, struct term_key_ev *ev)
{
	size_t n = 0;

	if (p->len == 0) {
		if (b == ESC) {
			p->buf[p->len++] = b;
			return 0;
		}
		return plain_key(b, &ev[0]) ? 1 : 0;
	}
	if (p->len == 1) {
		if (b == '[' || b == 'O') {
			p->buf[p->len++] = b;
			return 0;
		}
		if (b == ESC) {                 /* Esc, and a new sequence */
			ev[0].key = TK_ESC;
			ev[0].mods = 0;
			return 1;
		}
		p->len = 0;
		if (!plain_key(b, &ev[0]))
			return 0;
		ev[0].mods |= TK_MOD_ALT;
		return 1;
	}
	if (p->len == sizeof(p->buf)) {         /* nonsense: drop it */
		p->len = 0;
		return term_keys_feed(p, b, ev);
	}
	p->buf[p->len++] = b;
	if (p->buf[1] == 'O' || (b >= 0x40 && b <= 0x7e &&
	    !(p->len == 3 && b == '['))) {
		if (sequence_key(p->buf, p->len, &ev[0]))
			n = 1;
		p->len = 0;
	}
	return n;
}

size_t
term_keys_flush(struct term_keys *p, struct term_key_ev *ev)
{
	if (p->len != 1)
		return 0;
	p->len = 0;
	ev[0].key = TK_ESC;
	ev[0].mods = 0;
	return 1;
}
