/*
 * repeat.h - records that repeat far back (docs/FORMAT.md, "Repeats"): a
 * record of dedup-above bytes or more whose content was last put a quarter
 * of a group cap or more earlier (beyond what its group's codec and delta
 * coding reach) is stored once as a record of the reserved pool key, and
 * it and every later record of that content as a reference to it
 * (ENC_POOL).
 *
 * The index lives in the writing handle's memory only: content hash (the
 * record checksum, XXH3-64) -> where it was last put, and for pooled
 * content its pool record and a copy of its bytes, so that a reference is
 * made only to content compared byte for byte. A writer that opens the
 * store reads the pooled records back into it (where repeats were put
 * before is not kept).
 */
#ifndef STRATA_REPEAT_H
#define STRATA_REPEAT_H

#include "store.h"

/* The reserved pool key: a NUL and "pool". */
#define POOL_KEY "\0pool"
#define POOL_KEYLEN 5

/* Index slots (24 bytes each: 6 MiB; 2^19 stored no less on bench/trace's
 * 300,000 records of 256 bytes and more, for 6 MiB more) and the most
 * bytes of pooled content kept. */
#define REPEAT_SLOTS (1u << 18)
#define REPEAT_POOL_MEM (64u << 20)

typedef struct repeats repeats;

/* An empty index; content put less than `far` bytes after its previous
 * put is left to the codec. */
int repeats_new(repeats **out, uint64_t far);
void repeats_free(repeats *r);

/* Forget everything (a rollback or a failed commit may have dropped pooled
 * records). */
void repeats_clear(repeats *r);

/* A writer's open: index the store's pooled records, newest first, as far
 * as REPEAT_POOL_MEM allows, so that this writer refers to them too. */
int repeats_load(strata_store *s);

/* strata_put of a record of dedup-above bytes or more: stored as is, or
 * as the pool record of its content, put first when it is new. Ownership
 * of data as strata_put. Called without locks held; puts of several
 * threads may run at once. */
int repeat_put(strata_store *s, const void *key, size_t keylen, void *data, size_t len,
	       strata_release_fn *release, void *ctx, uint64_t *n_out);

#endif
