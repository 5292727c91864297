/*
 * Size strings as users type them: a number with an optional binary suffix
 * (K, M, G, T, P, E; "KiB" and "KB" spellings accepted, all powers of 1024,
 * as qemu-img and QEMU's -m do).  A fraction is allowed with a suffix
 * ("1.5G") as long as the result is a whole number of bytes.
 */
#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int
suffix_shift(const char *s, unsigned *shift)
{
	static const char units[] = "BKMGTPE";
	const char *p;

	if (*s == '\0') {
		*shift = 0;
		return 0;
	}
	p = strchr(units, toupper((unsigned char)*s));
	if (p == NULL)
		return -EINVAL;
	*shift = (unsigned)(p - units) * 10;
	s++;
	if (p != units) {
		/* Optional "iB" or "B" after the unit letter. */
		if (*s == 'i' || *s == 'I')
			s++;
		if (*s == 'b' || *s == 'B')
			s++;
	}
	return *s == '\0' ? 0 : -EINVAL;
}

int
size_parse(const char *s, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, fdiv = 1, v;
	unsigned shift;
	const char *p = s;
	int ndig = 0;

	if (s == NULL)
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		ndig++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (fdiv < 1000000000ULL) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fdiv *= 10;
			}
			p++;
			ndig++;
		}
	}
	if (ndig == 0)
		return -EINVAL;
	if (suffix_shift(p, &shift) < 0)
		return -EINVAL;
	if (shift >= 64 || whole > (UINT64_MAX >> shift))
		return -ERANGE;
	v = whole << shift;
	if (frac) {
		unsigned __int128 f = ((unsigned __int128)frac << shift);

		if (f % fdiv != 0)
			return -EINVAL;
		f /= fdiv;
		if (v + (uint64_t)f < v)
			return -ERANGE;
		v += (uint64_t)f;
	}
	*out = v;
	return 0;
}

/*
 * As qemu-img prints sizes, so that vm-disk info reads the same: the
 * unit is the largest power of 1024 the value reaches 1000 of (so 1000
 * bytes are 0.977 KiB, never "1000 B"), and the number has three
 * significant digits ("512 MiB", "1.5 GiB", "4.02 MiB").
 */
char *
size_format(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
		"PiB", "EiB" };
	unsigned u = 0;

	while (u < 6 && bytes >= 1000ULL << (10 * u))
		u++;
	snprintf(buf, len, "%.3g %s", (double)bytes / (double)(1ULL << (10 * u)),
	    units[u]);
	return buf;
}
