/*
 * read.h - reconstruct a record's content from its encoding: a literal is
 * copied out of the group body, a delta is applied to the body prefix before
 * it, a base delta to the content of its base record (fetched the same way).
 * Used by strata_get() and by verify.
 */
#ifndef STRATA_READ_H
#define STRATA_READ_H

#include "store.h"

/* Most base records followed to reconstruct one record; the write policy
 * keeps chains far shorter, so a longer one means damaged data. */
#define READ_MAX_DEPTH 64

/* A record's encoding and where its key is (borrowed). */
typedef struct read_rec {
	const void *key;
	size_t keylen;
	uint64_t n;
	int enc;
	uint64_t off, len;   /* encoding range in the group body */
	uint64_t size, sum;  /* content length and checksum */
	uint64_t base;       /* ENC_BASE: base record number */
	int shared_checked;  /* checked with those sharing its checksum: `sum` is theirs */
} read_rec;

/* Decode a record from its encoding `enc` (r->len bytes); an in-group
 * delta also needs `prefix`, the group body from 0 to r->off. *out receives
 * a malloc'd buffer of r->size bytes, checksum-checked (unless the caller
 * checked it with the records that share its checksum, r->shared_checked). */
int read_decode(strata_store *s, const read_rec *r, const uint8_t *prefix, const uint8_t *enc, int depth,
		uint8_t **out);

/* read_decode into dst, r->size bytes the caller provides. */
int read_decode_to(strata_store *s, const read_rec *r, const uint8_t *prefix, const uint8_t *enc, int depth,
		   uint8_t *dst);

/* Decode body bytes [0, len) of the group at *loc into dst, reading its
 * compressed prefix of cend bytes (the cend of a record ending at or
 * past len). A missing pack is STRATA_ECORRUPT. */
int read_body(strata_store *s, const catalog_loc *loc, uint64_t cend, uint8_t *dst, size_t len);

/* Fetch record n of key from the store: *out is malloc'd, *len its size. */
int read_record(strata_store *s, const void *key, size_t keylen, uint64_t n, int depth, uint8_t **out,
		size_t *len);

/* The record catalog_lookup found at *loc, as stored: *out its encoding
 * (loc->len bytes, malloc'd), not decoded. */
int read_encoding(strata_store *s, const catalog_loc *loc, uint8_t **out);

/* Drop the cache of decoded group bodies and stop caching. */
void read_cache_clear(strata_store *s);

/* Drop the cache of pooled records' content (repeat.h), or this
 * handle's share of it. */
void read_pool_clear(strata_store *s);

/* A pooled record's content as s's cache of them holds it, counted. */
typedef struct read_pooled read_pooled;

/* The content of r, a reference to a pooled record (ENC_POOL; enc its
 * encoding, r->len bytes), without a copy: 0 with *bytes (r->size bytes,
 * whose hash is r->sum) and *hold, a reference that keeps them valid until
 * read_pool_release(*hold), from any thread, whatever s reads meanwhile.
 * Nonzero when r is not such a reference or its content is not at hand
 * and matching; read_decode then says what is wrong. */
int read_pool_share(strata_store *s, const read_rec *r, const uint8_t *enc, const uint8_t **bytes,
		    read_pooled **hold);

/* Let go of a reference read_pool_share took. Accepts NULL. */
void read_pool_release(read_pooled *hold);

/* Make `to` share `from`'s cache of pooled records (from then on either
 * may read through it, on its own thread), dropping its own. */
int read_pool_join(strata_store *from, strata_store *to);

#endif
