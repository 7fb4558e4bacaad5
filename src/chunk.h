/*
 * chunk.h - large records as chunk lists (docs/FORMAT.md, "Chunks"): cut a
 * record into content-defined chunks, store each distinct chunk once as a
 * record of the chunk key (deduplicated by SHA-256, delta-coded against a
 * similar earlier chunk found by its sketch), and store the record as the
 * list. Also the compressor state those need: the chunk and sketch indexes
 * in the catalog, the chunks of the unit in progress, and the catch-up that
 * rebuilds the indexes from the packs.
 */
#ifndef STRATA_CHUNK_H
#define STRATA_CHUNK_H

#include "store.h"

/* The reserved keys (docs/FORMAT.md, "Reserved keys"). */
#define CHUNK_KEY "\0chunk"
#define CHUNK_KEYLEN 6
#define TREE_KEY "\0tree"
#define TREE_KEYLEN 5

/* strata_put() of a record of chunk_above bytes or more. Ownership of data
 * as strata_put: released once every chunk of it is coded. */
int chunk_put(strata_store *s, const void *key, size_t keylen, void *data, size_t len, strata_release_fn *release,
	      void *ctx, uint64_t *n_out);

/* The same, for a record read from a stream: `head` (head_len bytes
 * already read, borrowed) then what rd gives until it gives 0 bytes.
 * Memory stays at a few chunks whatever the size. *size_out (may be NULL)
 * receives the record's size. With `reused` (else NULL), content whose
 * chunks are exactly those of the key's latest record is not put again:
 * *n_out is that record's number and *reused is set. */
typedef int chunk_read_fn(void *ctx, uint8_t *dst, size_t cap, size_t *got);
int chunk_put_stream(strata_store *s, const void *key, size_t keylen, uint8_t *head, size_t head_len,
		     chunk_read_fn *rd, void *rctx, uint64_t *n_out, uint64_t *size_out, int *reused);

/* After a commit of `unit` through s returned: add the chunks put since the
 * last such call to the indexes. A failure is not the commit's: the next
 * writer to open the store catches up, so it is only cleared. */
void chunk_committed(strata_store *s, uint64_t unit);

/* After a rollback: forget the chunks of the unit in progress. */
void chunk_rolled_back(strata_store *s);

/* Bring the indexes up to date with the committed units (a writer's open,
 * strata_rebuild): read every chunk committed after the mark. Progress in
 * chunks. */
int chunk_catch_up(strata_store *s, strata_progress_cb *progress, void *ctx);

/* Decode a chunk list of `len` bytes (borrowed; it may lie in a cached
 * group body) into dst, `size` bytes. Each chunk is read at depth + 1 and
 * checked against its length and SHA-256. */
int chunk_decode_list(strata_store *s, const uint8_t *list, size_t len, uint8_t *dst, uint64_t size, int depth);

/* The list decoder behind chunk_decode_list, without a store (also for
 * tests/fuzz/fuzz_pack.c, which decodes lists from a pack alone): parse a
 * chunk list of `len` bytes standing for `size` bytes of content, get each
 * chunk from `fetch` (*p malloc'd, freed here), check its length and
 * SHA-256 and hand it to `out`, in order. STRATA_ECORRUPT when the list is
 * malformed or a chunk does not match; fetch's and out's errors as they
 * return them (a fetch error prefixed with the chunk). */
typedef int chunk_fetch_fn(void *ctx, uint64_t n, uint8_t **p, size_t *len);
typedef int chunk_out_fn(void *ctx, const uint8_t *p, size_t len);
int chunk_list_decode(const uint8_t *list, size_t len, uint64_t size, chunk_fetch_fn *fetch, void *fctx,
		      chunk_out_fn *out, void *octx);

/* Check a chunk list of `len` bytes (borrowed) standing for `size` bytes
 * of content of XXH3-64 `sum`: every chunk read and checked, the content
 * never whole in memory (verify). */
int chunk_check_list(strata_store *s, const uint8_t *list, size_t len, uint64_t size, uint64_t sum);

/* Write record n of key to `write` chunk by chunk, if it is a chunk list
 * (*chunked set; memory stays at a chunk and a group), checking every
 * chunk and, at the end, the content's checksum: a failure after some
 * bytes went out means those bytes must be discarded. Not a chunk list:
 * *chunked is 0 and nothing is written. */
typedef int chunk_write_fn(void *ctx, const uint8_t *p, size_t len);
int chunk_write_record(strata_store *s, const void *key, size_t keylen, uint64_t n, chunk_write_fn *write,
		       void *ctx, int *chunked);

/* SHA-256 (OpenSSL) of p[0, len). */
int chunk_sha256(const void *p, size_t len, uint8_t out[32]);

/* Free the state of handle s (its pending chunks). */
void chunk_state_free(struct chunk_state *cs);

#endif
