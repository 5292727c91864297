/* Sizes with K/M/G/T suffixes ("512M", "2G", "1.5G"). */
#ifndef VM_UTIL_SIZE_H
#define VM_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Parse "512M", "2G", "4096" (bytes), "64K"; 0 or -EINVAL / -ERANGE. */
int size_parse(const char *s, uint64_t *out);
/* Format bytes as qemu-img does: "512 MiB", "1.5 GiB", "4.02 MiB". */
char *size_format(uint64_t bytes, char *buf, size_t len);

#endif
