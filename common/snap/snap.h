/*
 * The state stream: a header, then named sections, each with an instance
 * number, a section version, a length and a CRC32 of its payload.  A
 * section's payload is written and read by one visitor walk: the same
 * function visits a struct's fields one by one, and the visitor either
 * appends them (save) or fills them (load).  No struct is ever dumped raw.
 *
 * Save: snap_writer_open, then per section snap_vis_begin_save, visits,
 * snap_writer_section; snap_writer_close.
 * Load: snap_reader_open validates the header and every section's length
 * and CRC32 (so a truncated or corrupt file is refused before anything is
 * applied), then snap_reader_next walks the sections and
 * snap_vis_begin_load visits one.  Big sections (RAM) are read through
 * snap_reader_fd at the offset snap_reader_next gives.
 */
#ifndef VM_SNAP_SNAP_H
#define VM_SNAP_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm_err;

#define SNAP_MAGIC "VMKSNAP"    /* 8 bytes with its NUL */
#define SNAP_FORMAT_VERSION 1u
#define SNAP_NAME_MAX 32
/* A section read into memory is at most this big; bigger ones (RAM) are
 * read from the file by their owner. */
#define SNAP_SECTION_MEM_MAX (64u << 20)

/* ---- the visitor ---- */

struct snap_vis {
	bool load;
	const char *section;    /* for messages */
	uint32_t version;       /* the section's version (load: as stored) */
	/* save */
	uint8_t *buf;
	size_t len, cap;
	/* load */
	const uint8_t *in;
	size_t in_len, pos;
	struct vm_err *err;
	int failed;             /* first error's code; later visits no-ops */
	uint64_t now;           /* CLOCK_MONOTONIC ns of the save / load */
	/* Load into a staging copy (a snapshot-load into a running VM
	 * checks the whole file before it changes anything): the walk is
	 * given a copy of its struct, and fields that live behind pointers
	 * the copy shares with the live device (VRAM, MSI-X table, LAPICs)
	 * are read into scratch, not stored.  Every check still runs. */
	bool dry;
};

void snap_vis_begin_save(struct snap_vis *v, const char *section,
    uint32_t version, struct vm_err *err);
void snap_vis_begin_load(struct snap_vis *v, const char *section,
    uint32_t version, const void *payload, size_t len, struct vm_err *err);
/* Load: fail unless every byte was consumed; both: return v->failed. */
int snap_vis_end(struct snap_vis *v);
void snap_vis_free(struct snap_vis *v);

/* Each visits one named field; 0 or -errno (err names section and field). */
int snap_u8(struct snap_vis *v, const char *name, uint8_t *p);
int snap_u16(struct snap_vis *v, const char *name, uint16_t *p);
int snap_u32(struct snap_vis *v, const char *name, uint32_t *p);
int snap_u64(struct snap_vis *v, const char *name, uint64_t *p);
int snap_i16(struct snap_vis *v, const char *name, int16_t *p);
int snap_i32(struct snap_vis *v, const char *name, int32_t *p);
int snap_i64(struct snap_vis *v, const char *name, int64_t *p);
int snap_bool(struct snap_vis *v, const char *name, bool *p);
/* An int stored as i32; load refuses values outside [lo, hi]. */
int snap_int(struct snap_vis *v, const char *name, int *p, int lo, int hi);
int snap_unsigned(struct snap_vis *v, const char *name, unsigned *p,
    unsigned hi);
/* Fixed-size byte array. */
int snap_bytes(struct snap_vis *v, const char *name, void *p, size_t len);
/* Fixed arrays of n elements. */
int snap_u16_array(struct snap_vis *v, const char *name, uint16_t *p,
    size_t n);
int snap_u32_array(struct snap_vis *v, const char *name, uint32_t *p,
    size_t n);
int snap_u64_array(struct snap_vis *v, const char *name, uint64_t *p,
    size_t n);
/* A byte string of variable length (at most max): save writes *len then
 * the bytes; load checks the length against max. */
int snap_blob(struct snap_vis *v, const char *name, void *p, uint32_t *len,
    uint32_t max);
/* A CLOCK_MONOTONIC deadline or start time in ns, stored relative to
 * v->now so it means the same after a restore; 0 (unset) stays 0. */
int snap_time(struct snap_vis *v, const char *name, uint64_t *ns);
/* Load-time validation of a value already visited: if !ok, fail naming
 * the field with why. */
int snap_check(struct snap_vis *v, bool ok, const char *name,
    const char *why);
/* Fail the walk with a message (save or load). */
int snap_fail(struct snap_vis *v, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the container ---- */

struct snap_header {
	uint32_t format;
	char vmkit_version[32];
	uint64_t time;          /* seconds since the epoch, at save */
	uint32_t flags;
};

struct snap_writer {
	int fd;
	uint64_t off;
	const char *path;
};

/* Create path (refusing to overwrite unless it is new); 0/-errno. */
int snap_writer_open(struct snap_writer *w, const char *path,
    uint32_t flags, struct vm_err *err);
/* The same with the header's time given (a copy keeps the original's). */
int snap_writer_open_time(struct snap_writer *w, const char *path,
    uint32_t flags, uint64_t when, struct vm_err *err);
/* Append v's bytes as a section (name, instance, version). */
int snap_writer_section(struct snap_writer *w, const char *name,
    uint32_t instance, const struct snap_vis *v, struct vm_err *err);
/* A section whose payload the caller writes at *payload_off (the file
 * offset after the section header rounded up to align, a power of two)
 * with pwrite on w->fd; then snap_writer_end_raw with the payload length
 * and its CRC32. */
int snap_writer_begin_raw(struct snap_writer *w, const char *name,
    uint32_t instance, uint32_t version, uint64_t align,
    uint64_t *payload_off, struct vm_err *err);
int snap_writer_end_raw(struct snap_writer *w, uint64_t len, uint32_t crc,
    struct vm_err *err);
/* The same for a payload the CRC does not cover (SNAP_SECT_NOCRC: mapped
 * RAM, which a restore maps rather than reads).  Every other section is
 * checked, whatever its CRC's value. */
int snap_writer_end_raw_nocrc(struct snap_writer *w, uint64_t len,
    struct vm_err *err);
/* Write the end marker, fsync, close. */
int snap_writer_close(struct snap_writer *w, struct vm_err *err);
/* Close and unlink after a failure. */
void snap_writer_abort(struct snap_writer *w);

struct snap_section {
	char name[SNAP_NAME_MAX + 1];
	uint32_t instance, version;
	uint64_t off, len;      /* payload in the file */
	uint32_t crc;
	uint32_t flags;         /* SNAP_SECT_* */
};
#define SNAP_SECT_NOCRC 1u      /* payload not covered by the CRC (mapped RAM) */

struct snap_reader {
	int fd;
	const char *path;
	struct snap_header hdr;
	struct snap_section *sect;
	int nsect, next;
	uint64_t size;
};

/* Open and validate path: header, every section's bounds and CRC32. */
int snap_reader_open(struct snap_reader *r, const char *path,
    struct vm_err *err);
/* The same, the CRC32 checked only of sections small enough to load
 * (SNAP_SECTION_MEM_MAX), not of RAM: for a look at the configuration. */
int snap_reader_open_small(struct snap_reader *r, const char *path,
    struct vm_err *err);
/* The section named name with instance, or NULL. */
const struct snap_section *snap_reader_find(const struct snap_reader *r,
    const char *name, uint32_t instance);
/* Read a section's payload into a malloc'd buffer (*out). */
int snap_reader_load(struct snap_reader *r, const struct snap_section *s,
    void **out, struct vm_err *err);
void snap_reader_close(struct snap_reader *r);

/* ---- the send stream (send.c) ---- */

/* A bundle as one stream in order (vm-snap send | vm-snap receive):
 * a header, then records of at most SNAP_SEND_REC_MAX bytes, each with
 * a name, an instance, its length and a CRC32 of its payload and of its
 * header, then an "end" record.  What the records hold is the caller's. */
#define SNAP_SEND_MAGIC "VMKSEND"       /* 8 bytes with its NUL */
#define SNAP_SEND_VERSION 1u
#define SNAP_SEND_REC_MAX (2u << 20)

struct snap_send {
	int fd;
	const char *what;       /* for messages: "stdout" */
};

/* Write the header to fd; 0/-errno. */
int snap_send_open(struct snap_send *s, int fd, const char *what,
    struct vm_err *err);
int snap_send_record(struct snap_send *s, const char *name,
    uint32_t instance, const void *buf, size_t len, struct vm_err *err);
/* A record of what visitor v saved (v freed). */
int snap_send_vis(struct snap_send *s, const char *name, uint32_t instance,
    struct snap_vis *v, struct vm_err *err);
/* The end record. */
int snap_send_close(struct snap_send *s, struct vm_err *err);

struct snap_recv {
	int fd;
	const char *what;       /* "stdin" */
	char name[SNAP_NAME_MAX + 16];  /* the record read last */
	uint32_t instance;
	size_t len;
	uint8_t *buf;           /* its payload */
};

/* Read and check the header; 0/-errno (a clear message for an empty
 * stream, another file, a newer format). */
int snap_recv_open(struct snap_recv *r, int fd, const char *what,
    struct vm_err *err);
/* The next record into r (its header's and payload's CRC checked): 1, 0
 * for the end record, -errno for a truncated or corrupt stream. */
int snap_recv_next(struct snap_recv *r, struct vm_err *err);
void snap_recv_close(struct snap_recv *r);

/* zlib's CRC32, chained (start with 0). */
uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len);

#endif
