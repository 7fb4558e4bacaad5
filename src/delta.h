/*
 * delta.h - copy/insert deltas (docs/FORMAT.md, "Delta instructions") and the
 * match index that finds them.
 *
 * The index samples 16-byte blocks of a source at a stride (16 bytes while
 * the source is within max_bytes, proportionally wider beyond) and keeps
 * their fingerprints in a hash table of 64-byte buckets of 8 entries,
 * newest first. A full bucket drops its oldest entry and one fingerprint
 * holds at most 4 entries of a bucket (its earliest occurrences and its
 * latest), so repeated content cannot crowd a bucket; a run of equal blocks
 * is entered once, at its start. The table grows with the source up to at
 * most max_bytes bytes (4 KiB at least), then entries replace old ones.
 *
 * The encoder fingerprints the block at every target position, checks the
 * candidates of its bucket byte for byte, keeps the longest match (the most
 * recent source position on a tie), extends it forwards and backwards, and
 * emits it as a copy if it is at least 32 bytes long (shorter matches cost
 * more than they save once the group is compressed); the rest becomes
 * inserts. Every copy is checked against src, so a delta is correct for the
 * src it was made with whatever the index holds. Encoding only reads the
 * index: threads may encode against one index at the same time.
 *
 * Functions return 0 or a negative STRATA_E* code with a message set
 * (err.h); delta_encode may also return DELTA_TOO_BIG, which is not an
 * error.
 */
#ifndef STRATA_DELTA_H
#define STRATA_DELTA_H

#include "bytes.h"

#include <stddef.h>
#include <stdint.h>

typedef struct delta_index delta_index;

/* max_bytes: cap on the source bytes indexed (beyond it, index sampling
 * widens its stride so memory stays bounded, as Bazaar's max_bytes_to_index
 * does). Must be at least 1 (STRATA_EINVAL otherwise). */
int delta_index_new(delta_index **out, size_t max_bytes);
void delta_index_free(delta_index *ix);  /* NULL ok */
void delta_index_reset(delta_index *ix); /* forget everything, keep memory */
/* Forget everything and size the table for indexing n source bytes from 0,
 * as a new index would grow it: what the index then finds depends on n
 * alone, not on what it indexed before (delta_index_reset keeps the
 * table's size). Memory is kept where it is large enough. */
int delta_index_reset_for(delta_index *ix, size_t n);

/* Index source bytes [from, to). The caller owns the source and keeps it
 * growing: at every later call it passes a src pointer holding at least
 * every byte indexed so far, unchanged (the pointer itself may move, e.g.
 * after realloc). Ranges come in increasing order; they may leave gaps
 * (e.g. only the insert bytes of a body). A block that straddles the end of
 * one range is sampled by the next call if that call starts where the
 * previous one ended. On STRATA_ENOMEM (the table could not grow) the index
 * is left as it was and stays usable. */
int delta_index_add(delta_index *ix, const uint8_t *src, size_t from, size_t to);

/* A range of insert bytes inside an encoding, relative to the encoding's start. */
typedef struct delta_lit {
	size_t off, len;
} delta_lit;
typedef struct delta_lits {
	delta_lit *v;
	size_t n, cap;
} delta_lits; /* zero-init; free with delta_lits_free */
void delta_lits_free(delta_lits *l);

/* Encode tgt as a delta against src[0, srclen) and append it to out.
 * Matches start at indexed positions and are then extended forwards and
 * backwards (backwards into bytes that would otherwise be inserted) over any
 * src bytes. If lits is not NULL, it is cleared and receives where the
 * insert bytes lie in the appended encoding. Returns 0, or DELTA_TOO_BIG (a
 * positive constant, not an error) with out restored to its old length when
 * the encoding would exceed `limit` bytes, or a negative STRATA_E* code
 * (out restored too). On anything but 0, lits is left empty.
 * ix may be NULL (then tgt is one insert). Indexed positions at or beyond
 * srclen - 15 are ignored, so src may be a prefix of what was indexed.
 * src and tgt may lie inside the bytes out already holds (e.g. src is the
 * group body the encoding is appended to): they are followed when out is
 * reallocated. Overlapping out's unused capacity is STRATA_EINVAL. */
#define DELTA_TOO_BIG 1
int delta_encode(const delta_index *ix, const uint8_t *src, size_t srclen, const uint8_t *tgt, size_t tgtlen,
		 size_t limit, bytebuf *out, delta_lits *lits);

/* Apply: dst receives exactly dstlen bytes; any malformation (bad varint,
 * copy outside src, length mismatch with the header or with dstlen, trailing
 * bytes, zero-length op) is STRATA_ECORRUPT with a message. Never reads or
 * writes out of bounds whatever the input. src must not overlap dst. */
int delta_apply(const uint8_t *src, size_t srclen, const uint8_t *d, size_t dlen, uint8_t *dst, size_t dstlen);

/* The content length a delta declares (its first varint). STRATA_ECORRUPT
 * if that varint is malformed or truncated. */
int delta_target_length(const uint8_t *d, size_t dlen, uint64_t *len);

/* Unsigned LEB128 helpers used by the format: put returns bytes written
 * (<= 10) to p; get returns bytes read, or 0 if malformed/truncated (over 10
 * bytes or overflowing 64 bits). Non-minimal encodings (e.g. 0x80 0x00) are
 * accepted by get; put always writes the minimal one. */
size_t varint_put(uint8_t *p, uint64_t v);
size_t varint_get(const uint8_t *p, size_t avail, uint64_t *v);

#endif
