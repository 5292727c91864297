/*
 * pcap headers (net/pcap.h).
 */
#include "net/pcap.h"

#include <string.h>

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

void
pcap_file_header(uint8_t out[PCAP_HDR_LEN])
{
	uint16_t major = 2, minor = 4;

	put32(out, 0xa1b2c3d4u);
	memcpy(out + 4, &major, 2);
	memcpy(out + 6, &minor, 2);
	put32(out + 8, 0);              /* thiszone */
	put32(out + 12, 0);             /* sigfigs */
	put32(out + 16, PCAP_SNAPLEN);
	put32(out + 20, 1);             /* LINKTYPE_ETHERNET */
}

size_t
pcap_rec_header(uint8_t out[PCAP_REC_LEN], uint64_t ns, size_t len)
{
	size_t incl = len < PCAP_SNAPLEN ? len : PCAP_SNAPLEN;

	put32(out, (uint32_t)(ns / 1000000000ULL));
	put32(out + 4, (uint32_t)(ns % 1000000000ULL / 1000));
	put32(out + 8, (uint32_t)incl);
	put32(out + 12, (uint32_t)len);
	return incl;
}
