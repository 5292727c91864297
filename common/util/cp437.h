/*
 * Code page 437, the IBM PC's character set in the VGA ROM font, as
 * Unicode: the table a text console needs to show a VGA text screen in
 * a UTF-8 terminal (box drawing, blocks, accented letters, and the
 * glyphs CP437 draws for the control codes).  Pure data, any thread.
 */
#ifndef VM_UTIL_CP437_H
#define VM_UTIL_CP437_H

#include <stddef.h>
#include <stdint.h>

/* The Unicode code point character c shows. */
uint32_t cp437_to_unicode(uint8_t c);
/* c as UTF-8 in out (at least 4 bytes, not NUL-terminated); the length. */
size_t cp437_to_utf8(uint8_t c, char *out);

#endif
