/*
 * A PNG writer: 8-bit RGB, one zlib-compressed IDAT (PNG 1.2 spec,
 * sections 5 and 11).  Called from any thread.
 */
#ifndef VM_UTIL_PNG_H
#define VM_UTIL_PNG_H

#include <stdint.h>

struct vm_err;

/* Write w x h pixels of 0xRRGGBB to path.  0 or -errno with err set. */
int png_write_rgb(const char *path, const uint32_t *px, unsigned w,
    unsigned h, struct vm_err *err);

#endif
