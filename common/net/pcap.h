/*
 * The classic pcap file format (tcpdump's, linktype 1 = Ethernet):
 * a 24-byte file header, then per frame a 16-byte record header and the
 * frame's bytes.  Written in the host's byte order, as libpcap does;
 * readers tell from the magic.
 */
#ifndef VM_NET_PCAP_H
#define VM_NET_PCAP_H

#include <stddef.h>
#include <stdint.h>

#define PCAP_HDR_LEN 24
#define PCAP_REC_LEN 16
#define PCAP_SNAPLEN 65535

void pcap_file_header(uint8_t out[PCAP_HDR_LEN]);
/* The record header for a frame of len bytes (captured up to the
 * snap length) at time ns since the epoch; returns the bytes captured. */
size_t pcap_rec_header(uint8_t out[PCAP_REC_LEN], uint64_t ns, size_t len);

#endif
