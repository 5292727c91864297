/*
 * Terminal keystrokes as keys: the bytes a terminal sends in raw mode
 * (ASCII, control characters, ESC-prefixed Alt, and the xterm/VT220
 * CSI and SS3 sequences for cursor and function keys) decoded into key
 * presses with modifiers, for a guest keyboard (US layout).  Pure code,
 * any thread.
 */
#ifndef VM_UTIL_TERMKEY_H
#define VM_UTIL_TERMKEY_H

#include <stddef.h>
#include <stdint.h>

enum term_key {
	TK_NONE = 0,
	TK_A, TK_B, TK_C, TK_D, TK_E, TK_F, TK_G, TK_H, TK_I, TK_J, TK_K,
	TK_L, TK_M, TK_N, TK_O, TK_P, TK_Q, TK_R, TK_S, TK_T, TK_U, TK_V,
	TK_W, TK_X, TK_Y, TK_Z,
	TK_0, TK_1, TK_2, TK_3, TK_4, TK_5, TK_6, TK_7, TK_8, TK_9,
	TK_MINUS, TK_EQUAL, TK_LBRACKET, TK_RBRACKET, TK_BACKSLASH,
	TK_SEMICOLON, TK_APOSTROPHE, TK_GRAVE, TK_COMMA, TK_DOT, TK_SLASH,
	TK_SPACE, TK_ENTER, TK_BACKSPACE, TK_TAB, TK_ESC,
	TK_UP, TK_DOWN, TK_LEFT, TK_RIGHT, TK_HOME, TK_END, TK_PGUP, TK_PGDN,
	TK_INSERT, TK_DELETE,
	TK_F1, TK_F2, TK_F3, TK_F4, TK_F5, TK_F6, TK_F7, TK_F8, TK_F9,
	TK_F10, TK_F11, TK_F12,
	TK_LSHIFT, TK_LCTRL, TK_LALT,
	TK_COUNT
};

#define TK_MOD_SHIFT 1u
#define TK_MOD_ALT 2u
#define TK_MOD_CTRL 4u

struct term_key_ev {
	enum term_key key;
	unsigned mods;
};

/* The decoder's state: an escape sequence in progress. */
struct term_keys {
	uint8_t buf[16];
	size_t len;
};

/* Feed one byte; returns how many key presses it completed (0-2) in ev. */
size_t term_keys_feed(struct term_keys *p, uint8_t b, struct term_key_ev *ev);
/* The input paused: a lone ESC is the Esc key (0 or 1 press in ev); a
 * partial sequence is kept. */
size_t term_keys_flush(struct term_keys *p, struct term_key_ev *ev);

#endif
