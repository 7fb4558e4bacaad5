/* chunk.c - chunk lists and the compressor state (chunk.h). */
#include "chunk.h"
#include "bytes.h"
#include "cdc.h"
#include "delta.h"
#include "err.h"
#include "read.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SKETCH_CANDIDATES 4 /* earlier chunks looked at per feature */
#define CATCH_UP_BATCH 1024 /* chunks per catalog transaction when catching up */

/* Chunks put through this handle whose units are not yet in the indexes:
 * a vector, and an open-addressed table over it by hash. */
struct chunk_state {
	catalog_chunk *v;
	size_t n, cap;
	uint32_t *slot;     /* index + 1 into v, 0 = empty */
	size_t nslots;      /* a power of two, at least twice n */
	int lagging;        /* the indexes may miss committed chunks */
};

void chunk_state_free(struct chunk_state *cs)
{
	if (!cs)
		return;
	free(cs->v);
	free(cs->slot);
	free(cs);
}

int chunk_sha256(const void *p, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	if (!EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) || n != 32)
		return err_set(STRATA_ENOMEM, "SHA-256 failed (OpenSSL)");
	return 0;
}

static size_t slot_of(const struct chunk_state *cs, const uint8_t hash[32])
{
	return (size_t)le_get64(hash) & (cs->nslots - 1);
}

static catalog_chunk *pending_find(struct chunk_state *cs, const uint8_t hash[32])
{
	if (!cs->nslots)
		return NULL;
	for (size_t i = slot_of(cs, hash);; i = (i + 1) & (cs->nslots - 1)) {
		if (!cs->slot[i])
			return NULL;
		catalog_chunk *c = &cs->v[cs->slot[i] - 1];
		if (!memcmp(c->hash, hash, 32))
			return c;
	}
}

static int pending_add(struct chunk_state *cs, const catalog_chunk *c)
{
	if (cs->n == cs->cap) {
		size_t nc = cs->cap ? cs->cap * 2 : 256;
		catalog_chunk *nv = realloc(cs->v, nc * sizeof *nv);
		if (!nv)
			return ERR_NOMEM();
		cs->v = nv;
		cs->cap = nc;
	}
	if ((cs->n + 1) * 2 > cs->nslots) {
		size_t ns = cs->nslots ? cs->nslots * 2 : 512;
		uint32_t *sl = calloc(ns, sizeof *sl);
		if (!sl)
			return ERR_NOMEM();
		free(cs->slot);
		cs->slot = sl;
		cs->nslots = ns;
		for (size_t k = 0; k < cs->n; k++) {
			size_t i = slot_of(cs, cs->v[k].hash);
			while (cs->slot[i])
				i = (i + 1) & (ns - 1);
			cs->slot[i] = (uint32_t)(k + 1);
		}
	}
	size_t i = slot_of(cs, c->hash);
	while (cs->slot[i])
		i = (i + 1) & (cs->nslots - 1);
	cs->v[cs->n++] = *c;
	cs->slot[i] = (uint32_t)cs->n;
	return 0;
}

static void pending_clear(struct chunk_state *cs)
{
	cs->n = 0;
	if (cs->slot)
		memset(cs->slot, 0, cs->nslots * sizeof *cs->slot);
}

/* The caller's buffer, shared by its chunks: released by the last. */
typedef struct shared_buf {
	atomic_int refs;
	void *data;
	size_t len;
	strata_release_fn *release;
	void *ctx;
} shared_buf;

static void shared_release(void *ctx, void *ptr, size_t len)
{
	(void)ptr;
	(void)len;
	shared_buf *b = ctx;
	if (atomic_fetch_sub(&b->refs, 1) == 1) {
		if (b->release)
			b->release(b->ctx, b->data, b->len);
		free(b);
	}
}

/* The committed chunk most like this one: the one sharing the most
 * features of its sketch (ties: the newest), or 0 when none shares one.
 * Each feature is shared with a probability near the two chunks'
 * resemblance, so the count ranks them: typescript 5.5's typescript.js
 * shares 9 of 12 features with 5.4's tsserver.js, its best base (a zstd
 * -19 patch of 97 KB), 7 with 5.4's tsc.js (437 KB) and 2 with 5.4's
 * typescript.js (665 KB); super-features of 4 features each, all of which
 * must match, found none of them. */
static int similar_chunk(strata_store *s, const catalog_chunk *c, uint64_t *base)
{
	_Static_assert(CATALOG_FEATURES == CDC_FEATURES, "one sketch size");
	uint64_t cand[CATALOG_FEATURES * SKETCH_CANDIDATES];
	size_t nc = 0;
	*base = 0;
	for (int j = 0; c->has_sketch && j < CATALOG_FEATURES; j++) {
		size_t got;
		int rc = catalog_sketch_find(s->cat, c->feat[j], cand + nc, SKETCH_CANDIDATES, &got);
		if (rc)
			return rc;
		nc += got;
	}
	int best = 0;
	for (size_t i = 0; i < nc; i++) {
		int score = 0;
		for (size_t k = 0; k < nc; k++)
			score += cand[k] == cand[i];
		if (score > best || (score == best && cand[i] > *base)) {
			best = score;
			*base = cand[i];
		}
	}
	return 0;
}

/* Whether the index's chunk n is a live record (the index is derived, so
 * check before relying on it). */
static int chunk_live(strata_store *s, uint64_t n)
{
	catalog_loc loc;
	int rc = catalog_lookup(s->cat, CHUNK_KEY, CHUNK_KEYLEN, n, &loc);
	if (rc == STRATA_ENOTFOUND)
		err_clear();
	return rc == 0;
}

/* Store one chunk (or find it stored) and append its list entry. The
 * chunk's bytes are shared with the caller's buffer through sb, or copied
 * when sb is NULL. */
static int put_chunk(strata_store *s, struct chunk_state *cs, shared_buf *sb, uint8_t *p, size_t len,
		     uint64_t near, bytebuf *list)
{
	catalog_chunk c = { .n = 0 };
	int rc = chunk_sha256(p, len, c.hash);
	if (rc)
		return rc;
	const catalog_chunk *known = pending_find(cs, c.hash);
	if (known) {
		c.n = known->n;
	} else if ((rc = catalog_chunk_find(s->cat, c.hash, &c.n)) == STRATA_ENOTFOUND || (!rc && !chunk_live(s, c.n))) {
		err_clear();
		c.has_sketch = cdc_sketch(p, len, c.feat);
		unitw_hint h = { .patch = 1 };
		rc = similar_chunk(s, &c, &h.base);
		/* No sketch in common: the chunk at the same place in the key's
		 * previous version is still the likeliest base. */
		if (!rc && !h.base)
			h.base = near;
		if (!rc && sb) {
			atomic_fetch_add(&sb->refs, 1);
			rc = store_put_hinted(s, CHUNK_KEY, CHUNK_KEYLEN, &h, p, len, shared_release, sb, &c.n);
		} else if (!rc) {
			uint8_t *q = malloc(len);
			rc = q ? 0 : ERR_NOMEM();
			if (q) {
				memcpy(q, p, len);
				rc = store_put_hinted(s, CHUNK_KEY, CHUNK_KEYLEN, &h, q, len, strata_release_free, NULL,
						      &c.n);
			}
		}
		if (!rc)
			rc = pending_add(cs, &c);
	}
	if (rc)
		return rc;
	uint8_t *e = buf_extend(list, 20 + 32);
	if (!e)
		return STRATA_ENOMEM;
	size_t k = varint_put(e, c.n);
	k += varint_put(e + k, len);
	memcpy(e + k, c.hash, 32);
	list->len -= 20 + 32 - (k + 32);
	return 0;
}

/* A chunked put in progress: the handle's chunk lock is held. */
typedef struct chunker {
	strata_store *s;
	cdc_params cp;
	uint64_t *prev_n, *prev_end; /* the key's previous version, when it is a
				      * chunk list: its chunks and where each ends */
	size_t nprev;
	uint64_t prev_rec;    /* that version's record number (0: none read) */
	bytebuf list;         /* entries so far */
	uint64_t count, size;
	XXH3_state_t *xx;     /* over the whole content */
} chunker;

/* The chunks of the key's latest record, if it is a chunk list (else none:
 * a missing or unreadable one only costs ratio). */
static void load_previous(chunker *ck, const void *key, size_t keylen)
{
	uint64_t count;
	catalog_loc loc;
	uint8_t *list = NULL;
	strata_store *s = ck->s;
	if (catalog_key_count(s->cat, key, keylen, &count) || count == 0 ||
	    catalog_lookup(s->cat, key, keylen, count, &loc) || loc.enc != ENC_CHUNKS ||
	    read_encoding(s, &loc, &list)) {
		err_clear();
		return;
	}
	uint64_t nc, end = 0;
	size_t at = varint_get(list, (size_t)loc.len, &nc);
	if (at && nc <= loc.len / 34 + 1) {
		ck->prev_n = malloc(nc * sizeof *ck->prev_n);
		ck->prev_end = malloc(nc * sizeof *ck->prev_end);
	}
	for (uint64_t i = 0; ck->prev_n && ck->prev_end && i < nc; i++) {
		uint64_t n, clen;
		size_t k = varint_get(list + at, (size_t)loc.len - at, &n);
		size_t m = k ? varint_get(list + at + k, (size_t)loc.len - at - k, &clen) : 0;
		if (!m || loc.len - at - k - m < 32)
			break;
		at += k + m + 32;
		end += clen;
		ck->prev_n[ck->nprev] = n;
		ck->prev_end[ck->nprev++] = end;
	}
	if (ck->prev_n && ck->prev_end && ck->nprev == nc)
		ck->prev_rec = count;
	free(list);
}

/* Whether the list cut is the previous version's: the same chunks, so the
 * same content (chunks are found by SHA-256). */
static int same_as_previous(const chunker *ck)
{
	if (!ck->prev_rec || ck->count != ck->nprev || ck->size != (ck->nprev ? ck->prev_end[ck->nprev - 1] : 0))
		return 0;
	const uint8_t *p = ck->list.p;
	size_t at = 0, len = ck->list.len;
	uint64_t end = 0;
	for (size_t i = 0; i < ck->nprev; i++) {
		uint64_t n, clen;
		size_t k = varint_get(p + at, len - at, &n);
		size_t m = k ? varint_get(p + at + k, len - at - k, &clen) : 0;
		if (!m || len - at - k - m < 32)
			return 0;
		at += k + m + 32;
		end += clen;
		if (n != ck->prev_n[i] || end != ck->prev_end[i])
			return 0;
	}
	return at == len;
}

/* The previous version's chunk covering offset `off`, or 0. */
static uint64_t chunk_near(const chunker *ck, uint64_t off)
{
	size_t lo = 0, hi = ck->nprev;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ck->prev_end[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ck->nprev ? ck->prev_n[lo] : 0;
}

static int chunker_begin(strata_store *s, chunker *ck, const void *key, size_t keylen)
{
	*ck = (chunker){ .s = s };
	cdc_params_init(&ck->cp, s->opts.chunk_avg);
	pthread_mutex_lock(&s->chunk_mu);
	int rc = 0;
	if (!s->chunks && !(s->chunks = calloc(1, sizeof *s->chunks)))
		rc = ERR_NOMEM();
	if (!rc && s->chunks->lagging && !(rc = chunk_catch_up(s, NULL, NULL)))
		s->chunks->lagging = 0;
	if (!rc && !(ck->xx = XXH3_createState()))
		rc = ERR_NOMEM();
	if (!rc)
		XXH3_64bits_reset(ck->xx);
	if (!rc)
		load_previous(ck, key, keylen);
	return rc;
}

/* Cut and store the chunks of p[0, len); at `end` the last may be short,
 * else only whole chunks are taken: *used says how many bytes were. */
static int chunker_feed(chunker *ck, shared_buf *sb, uint8_t *p, size_t len, int end, size_t *used)
{
	size_t off = 0;
	int rc = 0;
	while (!rc && off < len && (end || len - off >= ck->cp.max)) {
		size_t cl = cdc_next(&ck->cp, p + off, len - off);
		rc = put_chunk(ck->s, ck->s->chunks, sb, p + off, cl, chunk_near(ck, ck->size), &ck->list);
		XXH3_64bits_update(ck->xx, p + off, cl);
		ck->count++;
		ck->size += cl;
		off += cl;
	}
	*used = off;
	return rc;
}

/* Put the chunk list (unless an earlier step failed) and let go. With
 * `reused` (else NULL), a list equal to the key's latest record's is not
 * put again: *n_out is that record's number and *reused set. */
static int chunker_end(chunker *ck, int rc, const void *key, size_t keylen, uint64_t *n_out, int *reused)
{
	strata_store *s = ck->s;
	uint8_t hdr[10];
	size_t hl = varint_put(hdr, ck->count);
	int same = !rc && reused && same_as_previous(ck);
	if (reused)
		*reused = same;
	if (same && n_out)
		*n_out = ck->prev_rec;
	uint8_t *enc = rc || same ? NULL : malloc(hl + ck->list.len);
	if (!rc && !same && !enc)
		rc = ERR_NOMEM();
	if (!rc && !same) {
		unitw_hint h = { .chunk_list = 1, .size = ck->size, .sum = XXH3_64bits_digest(ck->xx) };
		memcpy(enc, hdr, hl);
		memcpy(enc + hl, ck->list.p, ck->list.len);
		rc = store_put_hinted(s, key, keylen, &h, enc, hl + ck->list.len, strata_release_free, NULL, n_out);
	}
	pthread_mutex_unlock(&s->chunk_mu);
	XXH3_freeState(ck->xx);
	free(ck->prev_n);
	free(ck->prev_end);
	buf_free(&ck->list);
	return rc;
}

int chunk_put(strata_store *s, const void *key, size_t keylen, void *data, size_t len, strata_release_fn *release,
	      void *ctx, uint64_t *n_out)
{
	shared_buf *sb = malloc(sizeof *sb);
	if (!sb) {
		if (release)
			release(ctx, data, len);
		return ERR_NOMEM();
	}
	*sb = (shared_buf){ .data = data, .len = len, .release = release, .ctx = ctx };
	atomic_init(&sb->refs, 1);
	chunker ck;
	size_t used;
	int rc = chunker_begin(s, &ck, key, keylen);
	if (!rc)
		rc = chunker_feed(&ck, sb, data, len, 1, &used);
	rc = chunker_end(&ck, rc, key, keylen, n_out, NULL);
	shared_release(sb, NULL, 0);
	return rc;
}

int chunk_put_stream(strata_store *s, const void *key, size_t keylen, uint8_t *head, size_t head_len,
		     chunk_read_fn *rd, void *rctx, uint64_t *n_out, uint64_t *size_out, int *reused)
{
	chunker ck;
	int rc = chunker_begin(s, &ck, key, keylen);
	/* A window of two maximum chunks: each chunk is cut with its maximum
	 * length in view (or the end of the stream). */
	size_t cap = ck.cp.max * 2 > head_len ? ck.cp.max * 2 : head_len;
	uint8_t *w = rc ? NULL : malloc(cap);
	if (!rc && !w)
		rc = ERR_NOMEM();
	size_t have = 0;
	if (w && head_len) {
		memcpy(w, head, head_len);
		have = head_len;
	}
	for (int eof = 0; !rc;) {
		while (!rc && !eof && have < cap) {
			size_t got = 0;
			rc = rd(rctx, w + have, cap - have, &got);
			eof = got == 0;
			have += got;
		}
		size_t used = 0;
		if (!rc)
			rc = chunker_feed(&ck, NULL, w, have, eof, &used);
		memmove(w, w + used, have - used);
		have -= used;
		if (eof && have == 0)
			break;
	}
	free(w);
	if (size_out)
		*size_out = ck.size;
	return chunker_end(&ck, rc, key, keylen, n_out, reused);
}

void chunk_committed(strata_store *s, uint64_t unit)
{
	pthread_mutex_lock(&s->chunk_mu);
	struct chunk_state *cs = s->chunks;
	if (cs && !cs->lagging && catalog_state_add(s->cat, cs->v, cs->n, unit))
		cs->lagging = 1;
	if (cs)
		pending_clear(cs);
	err_clear();
	pthread_mutex_unlock(&s->chunk_mu);
}

void chunk_rolled_back(strata_store *s)
{
	pthread_mutex_lock(&s->chunk_mu);
	if (s->chunks) {
		/* Chunks of async commits since the last mark went too. */
		pending_clear(s->chunks);
		s->chunks->lagging = 1;
	}
	pthread_mutex_unlock(&s->chunk_mu);
}

typedef struct nvec {
	uint64_t *v;
	size_t n, cap;
} nvec;

static int collect_n(void *ctx, uint64_t n, uint64_t unit)
{
	(void)unit;
	nvec *nv = ctx;
	if (nv->n == nv->cap) {
		size_t nc = nv->cap ? nv->cap * 2 : 1024;
		uint64_t *p = realloc(nv->v, nc * sizeof *p);
		if (!p)
			return ERR_NOMEM();
		nv->v = p;
		nv->cap = nc;
	}
	nv->v[nv->n++] = n;
	return 0;
}

int chunk_catch_up(strata_store *s, strata_progress_cb *progress, void *ctx)
{
	uint64_t upto, max;
	int rc = catalog_state_upto(s->cat, &upto);
	if (!rc)
		rc = catalog_max_unit(s->cat, &max);
	if (rc || upto >= max)
		return rc;
	nvec nv = { 0 };
	rc = catalog_foreach_since(s->cat, CHUNK_KEY, CHUNK_KEYLEN, upto, collect_n, &nv);
	catalog_chunk batch[64];
	size_t nb = 0;
	for (size_t i = 0; !rc && i < nv.n; i++) {
		uint8_t *p;
		size_t len;
		catalog_chunk *c = &batch[nb++];
		*c = (catalog_chunk){ .n = nv.v[i] };
		/* A chunk that cannot be read is left out (verify reports
		 * it): the index only finds what can be reused. */
		if (read_record(s, CHUNK_KEY, CHUNK_KEYLEN, c->n, 0, &p, &len)) {
			err_clear();
			nb--;
			p = NULL;
		} else {
			rc = chunk_sha256(p, len, c->hash);
			c->has_sketch = cdc_sketch(p, len, c->feat);
		}
		free(p);
		if (!rc && nb > 0 && (nb == sizeof batch / sizeof *batch || i + 1 == nv.n)) {
			rc = catalog_state_add(s->cat, batch, nb, 0);
			nb = 0;
		}
		if (progress && (i % CATCH_UP_BATCH == 0 || i + 1 == nv.n))
			progress(ctx, i + 1, nv.n);
	}
	free(nv.v);
	if (!rc)
		rc = catalog_state_add(s->cat, NULL, 0, max);
	return rc ? err_prefix(rc, "bringing the chunk index up to date: ") : 0;
}

int chunk_list_decode(const uint8_t *list, size_t len, uint64_t size, chunk_fetch_fn *fetch, void *fctx,
		      chunk_out_fn *out, void *octx)
{
	uint64_t count, done = 0;
	size_t at = varint_get(list, len, &count);
	if (!at || count == 0)
		return err_set(STRATA_ECORRUPT, "malformed chunk list");
	for (uint64_t i = 0; i < count; i++) {
		uint64_t n, clen;
		size_t k = varint_get(list + at, len - at, &n);
		size_t m = k ? varint_get(list + at + k, len - at - k, &clen) : 0;
		if (!m || len - at - k - m < 32 || clen == 0 || clen > size - done)
			return err_set(STRATA_ECORRUPT, "malformed chunk list (entry %" PRIu64 ")", i);
		const uint8_t *want = list + at + k + m;
		at += k + m + 32;
		uint8_t *p, got[32];
		size_t plen;
		int rc = fetch(fctx, n, &p, &plen);
		if (rc)
			return err_prefix(rc, "chunk %" PRIu64 " of the list: ", n);
		rc = plen != clen ? err_set(STRATA_ECORRUPT, "chunk %" PRIu64 " has %zu bytes, the list says %" PRIu64,
					    n, plen, clen)
				  : chunk_sha256(p, plen, got);
		if (!rc && memcmp(got, want, 32))
			rc = err_set(STRATA_ECORRUPT, "chunk %" PRIu64 " does not match its SHA-256", n);
		if (!rc)
			rc = out(octx, p, plen);
		free(p);
		if (rc)
			return rc;
		done += clen;
	}
	if (done != size || at != len)
		return err_set(STRATA_ECORRUPT, "chunk list covers %" PRIu64 " of %" PRIu64 " bytes", done, size);
	return 0;
}

/* A chunk read from the store, at the list's depth + 1. */
typedef struct store_fetch {
	strata_store *s;
	int depth;
} store_fetch;

static int fetch_chunk(void *ctx, uint64_t n, uint8_t **p, size_t *len)
{
	store_fetch *sf = ctx;
	return read_record(sf->s, CHUNK_KEY, CHUNK_KEYLEN, n, sf->depth + 1, p, len);
}

/* Consecutive chunks mostly share groups: decode each group once (whole)
 * rather than its prefix once per chunk. */
static int decode_cached(strata_store *s, const uint8_t *list, size_t len, uint64_t size, int depth,
			 chunk_out_fn *out, void *octx)
{
	int cached = s->body_cache_on;
	s->body_cache_on = 1;
	store_fetch sf = { s, depth };
	int rc = chunk_list_decode(list, len, size, fetch_chunk, &sf, out, octx);
	if (!cached && s->body_cache_keep)
		s->body_cache_on = 0; /* the bodies stay for the next list */
	else if (!cached)
		read_cache_clear(s);
	return rc;
}

static int to_memory(void *ctx, const uint8_t *p, size_t len)
{
	uint8_t **dst = ctx;
	memcpy(*dst, p, len);
	*dst += len;
	return 0;
}

/* decode_cached of a borrowed list, which may lie in a cached group body
 * that the chunks' own reads evict: on a private copy. */
static int decode_borrowed(strata_store *s, const uint8_t *list, size_t len, uint64_t size, int depth,
			   chunk_out_fn *out, void *octx)
{
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return ERR_NOMEM();
	memcpy(copy, list, len);
	int rc = decode_cached(s, copy, len, size, depth, out, octx);
	free(copy);
	return rc;
}

int chunk_decode_list(strata_store *s, const uint8_t *list, size_t len, uint8_t *dst, uint64_t size, int depth)
{
	return decode_borrowed(s, list, len, size, depth, to_memory, &dst);
}

/* Streaming a list out: the content's checksum, checked at the end. */
typedef struct stream_out {
	chunk_write_fn *write;
	void *ctx;
	XXH3_state_t *xx;
} stream_out;

static int to_stream(void *ctx, const uint8_t *p, size_t len)
{
	stream_out *so = ctx;
	XXH3_64bits_update(so->xx, p, len);
	return so->write ? so->write(so->ctx, p, len) : 0;
}

/* Decode a list of `len` bytes (`borrowed`, or the caller's own) to write
 * (NULL: nowhere) chunk by chunk and check the content against `size`
 * bytes of checksum `sum`. */
static int stream_list(strata_store *s, const uint8_t *list, size_t len, int borrowed, uint64_t size,
		       uint64_t sum, chunk_write_fn *write, void *ctx)
{
	stream_out so = { write, ctx, XXH3_createState() };
	int rc = so.xx ? 0 : ERR_NOMEM();
	if (!rc) {
		XXH3_64bits_reset(so.xx);
		rc = borrowed ? decode_borrowed(s, list, len, size, 0, to_stream, &so)
			      : decode_cached(s, list, len, size, 0, to_stream, &so);
	}
	if (!rc && XXH3_64bits_digest(so.xx) != sum)
		rc = err_set(STRATA_ECORRUPT, "content checksum mismatch");
	XXH3_freeState(so.xx);
	return rc;
}

int chunk_check_list(strata_store *s, const uint8_t *list, size_t len, uint64_t size, uint64_t sum)
{
	return stream_list(s, list, len, 1, size, sum, NULL, NULL);
}

int chunk_write_record(strata_store *s, const void *key, size_t keylen, uint64_t n, chunk_write_fn *write,
		       void *ctx, int *chunked)
{
	catalog_loc loc;
	uint8_t *list;
	*chunked = 0;
	int rc = catalog_lookup(s->cat, key, keylen, n, &loc);
	if (rc || loc.enc != ENC_CHUNKS)
		return rc;
	*chunked = 1;
	if ((rc = read_encoding(s, &loc, &list)) != 0)
		return rc;
	rc = stream_list(s, list, (size_t)loc.len, 0, loc.size, loc.sum, write, ctx);
	free(list);
	return rc;
}
