/*
 * pack.h - write and read pack files (docs/FORMAT.md, "Pack file").
 *
 * A pack writer streams groups into a temporary file, then writes the footer
 * and trailer and makes the file durable under its final name. A pack reader
 * validates a pack from its last 48 bytes on and parses its footer, so a pack
 * can be read without the catalog.
 */
#ifndef STRATA_PACK_H
#define STRATA_PACK_H

#include "group.h"

#include <stddef.h>
#include <stdint.h>

#define PACK_VERSION 1
#define PACK_HEADER_SIZE 64
#define PACK_TRAILER_SIZE 48
#define PACK_GROUP_ENTRY 48
#define PACK_RECORD_ENTRY 80
#define PACK_KEY_MAX 65535

/* Record encodings (docs/FORMAT.md, "Encodings"). */
enum { ENC_LITERAL = 0, ENC_DELTA = 1, ENC_BASE = 2, ENC_CHUNKS = 3, ENC_PATCH = 4, ENC_POOL = 5, ENC_MAX = 5 };

typedef struct pack_group {
	uint64_t offset;  /* where the group starts in the pack */
	uint64_t clen;    /* compressed length */
	uint64_t blen;    /* body length */
	uint64_t sum;     /* XXH3-64 of the compressed bytes */
	uint8_t codec;    /* CODEC_* */
	int8_t level;     /* codec level used */
} pack_group;

typedef struct pack_key {
	const uint8_t *p; /* key bytes; owner: the footer's owner */
	uint16_t len;
} pack_key;

typedef struct pack_record {
	uint32_t key;     /* index into the footer's keys */
	uint32_t group;   /* index into the footer's groups */
	uint64_t n;       /* record number within the key */
	uint64_t off;     /* offset of the encoding in the group body */
	uint64_t len;     /* length of the encoding */
	uint64_t size;    /* content length */
	uint64_t sum;     /* XXH3-64 of the content, or the shared one (rcount) */
	uint64_t cend;    /* compressed prefix of the group that decodes past it */
	uint64_t base;    /* ENC_BASE: record number of the base; else 0 */
	uint64_t unit;    /* unit the record was committed in */
	uint8_t enc;      /* ENC_* */
	uint16_t rcount;  /* records sharing its checksum (runs.h), or 0 */
	uint16_t rpos;    /* its place among them, from 0 */
} pack_record;

/* One unit of the pack's range. */
typedef struct pack_unit {
	uint64_t unit;
	int64_t time;           /* commit time, seconds since the epoch */
	const uint8_t *label;   /* owner: the footer's owner */
	uint32_t label_len;
} pack_unit;

/* Where a run of records (runs.h) lies in a pack file of footer version 2
 * or 3:
 * the catalog refers to it rather than copying it. */
typedef struct pack_run {
	uint64_t off, len;  /* its encoding's bytes in the file */
	uint64_t sum;       /* XXH3-64 of those bytes */
	size_t first;       /* index of its first record in the footer */
	size_t count;       /* its records */
	/* What its records share, and their content bytes in all */
	uint32_t key, group;
	uint64_t unit, n;   /* n of the first record */
	uint64_t size;
} pack_run;

/* A pack's table of contents, as written or as parsed. */
typedef struct pack_footer {
	uint64_t first, last;   /* the range of units it holds */
	int64_t time;           /* when the pack was made */
	pack_unit *units;       /* last - first + 1 entries, in order */
	size_t nunits;
	pack_group *groups;
	size_t ngroups;
	pack_key *keys;
	size_t nkeys;
	/* Every record, in order; NULL in the footer of a pack writer of
	 * footer version 2 or 3, which encodes each run as it closes (a
	 * record takes a few bytes there instead of 80): `runs` says what
	 * they hold, nrecords how many there are. */
	pack_record *records;
	size_t nrecords;
	pack_run *runs;         /* footer version 2 or 3 once written or parsed; else NULL */
	size_t nruns;
} pack_footer;

/* "0000000042.pack" for unit 42, "0000000001-0000000042.pack" for units
 * 1..42, into buf (at least 32 bytes). */
void pack_name(char *buf, size_t cap, uint64_t first, uint64_t last);
/* Parse a pack file name; returns 1 and sets the range if it is one. */
int pack_name_parse(const char *name, uint64_t *first, uint64_t *last);

/* ---- writing */

typedef struct pack_writer pack_writer;

/* Start a pack of units first..last in directory `dir` (the store's
 * packs/): creates dir/tmp-<pid>-<random>.pack and writes the header. */
int pack_writer_new(pack_writer **out, const char *dir, uint64_t first, uint64_t last, int64_t time);

/* Start a piece of a pack in memory: groups, keys and records whose bytes
 * stay in memory (offsets from 0), for pack_writer_append. A piece has no
 * units and is never finished. */
int pack_writer_new_mem(pack_writer **out);

/* Append a piece's group bytes, groups and records (of unit `unit`) to w.
 * keys[i] is the index in w of the piece's key i (the caller adds the
 * keys). */
int pack_writer_append(pack_writer *w, const pack_writer *piece, const uint32_t *keys, uint64_t unit);

/* Describe the next unit of the range (label copied). Every unit of the
 * range must be described, in order, before finish. */
int pack_writer_add_unit(pack_writer *w, uint64_t unit, int64_t time, const void *label, size_t len);

/* Add a key to the footer (copied); *idx receives its index. The caller adds
 * each key once. */
int pack_writer_add_key(pack_writer *w, const void *key, size_t len, uint32_t *idx);

/* Compress the body made of `pieces` as the next group; *gidx receives its
 * index and cends (may be NULL) each piece's compressed prefix. */
int pack_writer_add_group(pack_writer *w, group_coder *c, int codec, int level,
			  const group_piece *pieces, size_t npieces, uint32_t *gidx, uint64_t *cends);

/* Streaming a group yourself: pack_writer_sink is a group_sink_fn to pass,
 * with the writer as its context, to group_enc_begin; then file the group
 * with pack_writer_end_group (its offset is where its bytes began). */
int pack_writer_sink(void *w, const void *p, size_t n);
int pack_writer_end_group(pack_writer *w, uint64_t start, int codec, int level, const group_out *go,
			  uint32_t *gidx);

/* Add a record entry (the caller has placed its encoding in a group). */
int pack_writer_add_record(pack_writer *w, const pack_record *r);

/* Bytes written so far (header and groups). */
uint64_t pack_writer_bytes(const pack_writer *w);

/* Write footer and trailer, fsync, rename to its name in dir, fsync dir.
 * After success the pack is durable; *size_out receives its size. On failure
 * the temporary file is removed. Either way call pack_writer_free. */
int pack_writer_finish(pack_writer *w, uint64_t *size_out);

/* Write a footer of this version: 3 (the default), 2 or 1 (packs of builds
 * before formats 1.5 and 1.2; for tests of the readers). Set it before the
 * first record: a file writer of version 2 or 3 encodes runs as they close. */
void pack_writer_footer_version(pack_writer *w, int version);

/* The footer as built so far (borrowed from the writer). */
const pack_footer *pack_writer_footer(const pack_writer *w);

/* Path and file name of the final pack. Borrowed from the writer. */
const char *pack_writer_path(const pack_writer *w);
const char *pack_writer_name(const pack_writer *w);

/* Free the writer; if not finished, remove the temporary file. NULL ok. */
void pack_writer_free(pack_writer *w);

/* ---- reading */

typedef struct pack_reader {
	int fd;             /* open read-only, O_CLOEXEC */
	char *path;         /* owned */
	uint64_t size;      /* file size */
	uint64_t footer_off;
	pack_footer footer; /* parsed; points into footer_mem */
	uint8_t *footer_mem;/* owned */
} pack_reader;

/* Open and validate the pack at `path`: header, trailer, footer checksum
 * and footer structure. STRATA_ECORRUPT with a message on any mismatch. */
int pack_open(pack_reader **out, const char *path);
/* Same, on a descriptor the reader takes over (closes on free). */
int pack_open_fd(pack_reader **out, int fd, const char *path);
void pack_close(pack_reader *r);

/* Positioned reads of one group's compressed bytes, for group_read(). */
typedef struct pack_src {
	int fd;
	uint64_t base;     /* the group's offset in the pack */
	const char *path;  /* for messages */
} pack_src;
int pack_src_pread(void *ctx, void *dst, size_t n, uint64_t off);

/* Check one group of an open pack: read its compressed bytes, compare their
 * checksum, decode the body. *body receives the malloc'd body (caller frees).
 */
int pack_read_group(pack_reader *r, group_coder *c, uint32_t g, uint8_t **body);

#endif
