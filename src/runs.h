/*
 * runs.h - record runs: the compact listing of records that footers of
 * version 2 and the catalog's `runs` rows share (docs/FORMAT.md, "Record
 * runs").
 *
 * A run is a stretch of consecutive records of one key, one unit and one
 * group, numbered n, n+1, ...; its encoding lists each record in about 11
 * bytes (flags, length, checksum) where a footer entry of version 1 took 80.
 * In footer version 3, literals that end in the same block share one
 * checksum (about 3 bytes each): pack_record's rcount and rpos say which.
 */
#ifndef STRATA_RUNS_H
#define STRATA_RUNS_H

#include "bytes.h"
#include "pack.h"

#define RUN_MAX 512

/* Whether r may follow the count (>= 1) records of run in the same run:
 * same key, unit and group, the next n, RUN_MAX at most. */
int run_continues(const pack_record *run, size_t count, const pack_record *r);

/* The end (exclusive) of the run that starts at records[start]: the records
 * that may share a run with it, at most RUN_MAX. */
size_t run_end(const pack_record *records, size_t n, size_t start);

/* Set what the records [0, count) of one run share (key, group, unit, first
 * n) and their content bytes in pr; the rest of *pr is the caller's. */
void run_summary(pack_run *pr, const pack_record *records, size_t count);

/* Let the literals of records [0, count) (one run) that end in the same
 * block, two or more in a row, share one checksum (footer version 3): their
 * rcount, rpos and sum, the XXH3-64 of their content checksums. */
void run_share_sums(pack_record *records, size_t count);

/* The shared sum of `count` content checksums (docs/FORMAT.md). */
uint64_t run_sum(const uint64_t *sums, size_t count);

/* Check records that share a checksum: run[0..run->rcount) (run[0].rpos
 * == 0), whose encodings (literals: their content) `span` holds, body
 * bytes from offset span_off on. 0 or STRATA_ECORRUPT. */
int run_check(const pack_record *run, const uint8_t *span, uint64_t span_off);

/* Append the encoding of records [0, count) (one run, as run_end cuts
 * them; shared checksums as their rcount says) to b, uniform when it can
 * be and `v3` allows. 0 or STRATA_ENOMEM. */
int run_encode(const pack_record *records, size_t count, int v3, bytebuf *b);

/* What a run's header says. */
typedef struct run_head {
	uint32_t group;
	uint64_t first;  /* n of the first record */
	uint64_t count;
	uint64_t off;    /* offset of the first encoding in the group body */
} run_head;

/* Decode a run's header; returns the bytes it took, or 0 when malformed. */
size_t run_head_decode(const uint8_t *p, size_t len, run_head *h);

/* Whether a run is written uniform (footer version 3): literals of one
 * length listed by block, about 12 bytes a block instead of 2 or more a
 * record. run_encode writes a run so when it can. */
int run_is_uniform(const uint8_t *p, size_t len);

/* Decode a whole run into out[0..h.count) (the caller's array of at least
 * RUN_MAX entries), with key and unit set as given (records that share a
 * checksum have it as their sum). Checks what the run alone can check:
 * sizes of literals, base references, bytes used exactly.
 * STRATA_ECORRUPT (message naming `what`) when malformed, STRATA_EFORMAT
 * for an unknown encoding. *nout receives the count. */
int run_decode(const uint8_t *p, size_t len, uint32_t key, uint64_t unit, pack_record *out, size_t *nout,
	       const char *what);

#endif
