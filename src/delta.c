/* delta.c - copy/insert deltas and their match index (delta.h). */
#include "delta.h"
#include "err.h"
#include "os.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define BLOCK 16       /* bytes fingerprinted per entry; also the shortest match */
#define BASE_STRIDE 16 /* sampling stride while the source is within max_bytes */
#define WAYS 8         /* entries per bucket: one 64-byte cache line */
#define LOAD 4         /* entries per bucket, on average, before the table doubles */
#define MIN_BITS 6     /* smallest table: 64 buckets (4 KiB) */
#define MAX_BITS 40
#define POS_LIMIT ((UINT64_C(1) << 48) - 1) /* positions above this are not indexed */
/* Shortest copy emitted. A copy costs 3-6 bytes that zstd cannot shrink,
 * while inserted text compresses with the rest of the group: on real
 * version pairs (Python stdlib 3.12 -> 3.13, generated API modules, .pyc
 * files) 32 gave zstd-compressed deltas 5-15% smaller than 16; 48 was
 * within 2% of 32 either way, 64 and more worse, and the raw delta grows
 * with it. */
#define MIN_COPY 32
#define SAME_CAP 4     /* slots one fingerprint may hold in a bucket */
#define PREFETCH 8     /* positions hashed ahead of their bucket insert/probe */

/* One cache line: WAYS entries, newest first. An entry is a 16-bit tag
 * (other bits of the fingerprint than those that chose the bucket; 0 marks
 * an empty slot) and a 48-bit source position. */
typedef struct bucket {
	uint16_t tag[WAYS];
	uint32_t lo[WAYS];
	uint16_t hi[WAYS];
} bucket;

_Static_assert(sizeof(bucket) == 64, "a bucket is one cache line");

struct delta_index {
	bucket *b;         /* 2^bits buckets */
	unsigned bits;     /* log2 of the number of buckets */
	unsigned cap_bits; /* log2 of the buckets b has room for */
	unsigned max_bits; /* the table never grows past this */
	size_t count;      /* entries held */
	size_t max_bytes;
	size_t next;       /* next source position to sample */
	int have_prev;     /* prev_h, prev_p: the last block sampled */
	uint64_t prev_h;
	size_t prev_p;
};

/* ------------------------------------------------------------- helpers */

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Fingerprint of the 16 bytes at p. The index is never stored, so the host
 * byte order does not matter. */
static inline uint64_t block_hash(const uint8_t *p)
{
	uint64_t h = load64(p) * UINT64_C(0x9E3779B97F4A7C15) ^ load64(p + 8) * UINT64_C(0xC2B2AE3D27D4EB4F);
	h ^= h >> 32;
	return h * UINT64_C(0x165667B19E3779F9);
}

/* Bucket from the top bits, tag from bits 8..23: independent parts of h. */
static inline uint16_t hash_tag(uint64_t h)
{
	uint16_t t = (uint16_t)(h >> 8);
	return t ? t : 1;
}

static inline uint64_t entry_pos(const bucket *b, int k)
{
	return (uint64_t)b->hi[k] << 32 | b->lo[k];
}

/* Bit k set when slot k of b holds tag. */
static inline unsigned tag_mask(const bucket *b, uint16_t tag)
{
#ifdef __SSE2__
	__m128i eq = _mm_cmpeq_epi16(_mm_loadu_si128((const __m128i *)b->tag), _mm_set1_epi16((short)tag));
	return (unsigned)_mm_movemask_epi8(_mm_packs_epi16(eq, _mm_setzero_si128()));
#else
	unsigned m = 0;
	for (int k = 0; k < WAYS; k++)
		m |= (unsigned)(b->tag[k] == tag) << k;
	return m;
#endif
}

static inline void prefetch(const void *p)
{
#if defined(__GNUC__)
	__builtin_prefetch(p);
#else
	(void)p;
#endif
}

/* Length of the common prefix of a and b, at most max. */
static inline size_t fwd_len(const uint8_t *a, const uint8_t *b, size_t max)
{
	size_t n = 0;
	while (n + 8 <= max) {
		uint64_t x = load64(a + n) ^ load64(b + n);
		if (x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return n + ((size_t)__builtin_ctzll(x) >> 3);
#else
			break;
#endif
		}
		n += 8;
	}
	while (n < max && a[n] == b[n])
		n++;
	return n;
}

/* Length of the common suffix of the bytes before a and before b, at most max. */
static inline size_t back_len(const uint8_t *a, const uint8_t *b, size_t max)
{
	size_t n = 0;
	while (n + 8 <= max) {
		uint64_t x = load64(a - n - 8) ^ load64(b - n - 8);
		if (x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return n + ((size_t)__builtin_clzll(x) >> 3);
#else
			break;
#endif
		}
		n += 8;
	}
	while (n < max && a[-1 - (ptrdiff_t)n] == b[-1 - (ptrdiff_t)n])
		n++;
	return n;
}

/* ------------------------------------------------------------- varints */

size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t varint_get(const uint8_t *p, size_t avail, uint64_t *v)
{
	uint64_t r = 0;
	size_t max = avail < 10 ? avail : 10;
	for (size_t i = 0; i < max; i++) {
		uint8_t b = p[i];
		if (i == 9 && b > 1)
			return 0; /* beyond 64 bits, or an 11th byte */
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

/* --------------------------------------------------------------- index */

/* Probes and inserts hit the table at random: the huge pages os_alloc_big
 * asks for from 2 MiB on spare most of the TLB misses of a large table. */
static bucket *table_alloc(unsigned bits)
{
	size_t bytes = ((size_t)1 << bits) * sizeof(bucket);
	bucket *t = os_alloc_big(bytes, NULL);
	if (t)
		memset(t, 0, bytes);
	return t;
}

int delta_index_new(delta_index **out, size_t max_bytes)
{
	*out = NULL;
	if (max_bytes == 0)
		return err_set(STRATA_EINVAL, "delta index: max_bytes must be at least 1");
	delta_index *ix = calloc(1, sizeof *ix);
	if (!ix)
		return ERR_NOMEM();
	/* At most max_bytes / (BASE_STRIDE * LOAD) buckets of 64 bytes: the
	 * table never takes more than max_bytes (or its 4 KiB minimum). */
	size_t want = max_bytes / BASE_STRIDE / LOAD;
	unsigned mb = MIN_BITS;
	while (mb < MAX_BITS && ((size_t)2 << mb) <= want)
		mb++;
	ix->max_bits = mb;
	ix->bits = ix->cap_bits = MIN_BITS;
	ix->max_bytes = max_bytes;
	ix->b = table_alloc(ix->bits);
	if (!ix->b) {
		free(ix);
		return ERR_NOMEM();
	}
	*out = ix;
	return 0;
}

void delta_index_free(delta_index *ix)
{
	if (!ix)
		return;
	free(ix->b);
	free(ix);
}

void delta_index_reset(delta_index *ix)
{
	if (!ix)
		return;
	memset(ix->b, 0, ((size_t)1 << ix->bits) * sizeof(bucket));
	ix->count = 0;
	ix->next = 0;
	ix->have_prev = 0;
}

/* Entries that indexing [p, to) would add; *last: the last position
 * sampled, *stride: the step between samples. */
static size_t entries_for(const delta_index *ix, size_t p, size_t to, size_t *last, size_t *stride)
{
	if (to < BLOCK || p > to - BLOCK)
		return 0;
	*last = to - BLOCK;
	if ((uint64_t)*last > POS_LIMIT)
		*last = (size_t)POS_LIMIT;
	if (p > *last)
		return 0;
	/* Beyond max_bytes the stride widens in proportion to the source. */
	size_t mult = to / ix->max_bytes + (to % ix->max_bytes != 0);
	*stride = mult <= SIZE_MAX / BASE_STRIDE ? BASE_STRIDE * mult : SIZE_MAX;
	return (*last - p) / *stride + 1;
}

/* The table size for `entries`, from `bits` up. */
static unsigned bits_for(const delta_index *ix, unsigned bits, size_t entries)
{
	while (bits < ix->max_bits && ((size_t)1 << bits) * LOAD < entries)
		bits++;
	return bits;
}

int delta_index_reset_for(delta_index *ix, size_t n)
{
	size_t last, stride;
	unsigned bits = bits_for(ix, MIN_BITS, entries_for(ix, 0, n, &last, &stride));
	if (bits > ix->cap_bits) {
		bucket *t = table_alloc(bits);
		if (!t)
			return err_set(STRATA_ENOMEM, "delta index: out of memory for 2^%u buckets", bits);
		free(ix->b);
		ix->b = t;
		ix->cap_bits = bits;
	} else {
		memset(ix->b, 0, ((size_t)1 << bits) * sizeof(bucket));
	}
	ix->bits = bits;
	ix->count = 0;
	ix->next = 0;
	ix->have_prev = 0;
	return 0;
}

/* Put an entry first in bucket b (entries [0, hole) move up one slot, the
 * entry at hole goes). */
static inline void bucket_put(bucket *b, int hole, uint16_t tag, uint64_t pos)
{
#ifdef __SSE2__
	if (hole == WAYS - 1) {
		/* Each array slides up one slot inside vector registers. */
		__m128i t = _mm_loadu_si128((const __m128i *)b->tag);
		__m128i h = _mm_loadu_si128((const __m128i *)b->hi);
		__m128i l0 = _mm_loadu_si128((const __m128i *)b->lo);
		__m128i l1 = _mm_loadu_si128((const __m128i *)(b->lo + 4));
		t = _mm_or_si128(_mm_slli_si128(t, 2), _mm_cvtsi32_si128(tag));
		h = _mm_or_si128(_mm_slli_si128(h, 2), _mm_cvtsi32_si128((uint16_t)(pos >> 32)));
		l1 = _mm_or_si128(_mm_slli_si128(l1, 4), _mm_srli_si128(l0, 12));
		l0 = _mm_or_si128(_mm_slli_si128(l0, 4), _mm_cvtsi32_si128((int)(uint32_t)pos));
		_mm_storeu_si128((__m128i *)b->tag, t);
		_mm_storeu_si128((__m128i *)b->hi, h);
		_mm_storeu_si128((__m128i *)b->lo, l0);
		_mm_storeu_si128((__m128i *)(b->lo + 4), l1);
		return;
	}
#endif
	/* Element by element, last first: no load waits on a store it overlaps. */
	for (int k = hole; k > 0; k--) {
		b->tag[k] = b->tag[k - 1];
		b->lo[k] = b->lo[k - 1];
		b->hi[k] = b->hi[k - 1];
	}
	b->tag[0] = tag;
	b->lo[0] = (uint32_t)pos;
	b->hi[0] = (uint16_t)(pos >> 32);
}

/* Add an entry to bucket b. A full bucket drops its oldest entry, but one
 * fingerprint may hold at most SAME_CAP slots: beyond that the newest of
 * them is replaced, so repeated content keeps its earliest occurrences
 * (the start of a long run, from which a match extends furthest) and its
 * latest one, and cannot push other entries out. */
static inline void bucket_add(bucket *b, uint16_t tag, uint64_t pos, size_t *count)
{
	int hole = WAYS - 1;
	unsigned m = tag_mask(b, tag);
	if (m && __builtin_popcount(m) >= SAME_CAP)
		hole = __builtin_ctz(m); /* the newest of them */
	else if (!b->tag[WAYS - 1])
		(*count)++;
	bucket_put(b, hole, tag, pos);
}

/* Rehash into 2^bits buckets. The top bits pick the bucket, so each new
 * bucket takes its entries from one old bucket: none is lost, the order
 * (newest first) is kept. Fingerprints are recomputed from src. */
static int index_grow(delta_index *ix, const uint8_t *src, unsigned bits)
{
	bucket *nt = table_alloc(bits);
	if (!nt)
		return err_set(STRATA_ENOMEM, "delta index: out of memory growing to 2^%u buckets", bits);
	size_t old = (size_t)1 << ix->bits;
	unsigned shift = 64 - bits;
	for (size_t i = 0; i < old; i++) {
		const bucket *ob = ix->b + i;
		for (int k = WAYS - 1; k >= 0; k--) {
			if (!ob->tag[k])
				continue;
			uint64_t pos = entry_pos(ob, k);
			bucket_put(nt + (block_hash(src + pos) >> shift), WAYS - 1, ob->tag[k], pos);
		}
	}
	free(ix->b);
	ix->b = nt;
	ix->bits = ix->cap_bits = bits;
	return 0;
}

int delta_index_add(delta_index *ix, const uint8_t *src, size_t from, size_t to)
{
	if (!ix || from > to || (!src && to > from))
		return err_set(STRATA_EINVAL, "delta index: bad range [%zu, %zu)", from, to);
	size_t p = ix->next > from ? ix->next : from;
	size_t last = 0, stride = 0;
	size_t n_new = entries_for(ix, p, to, &last, &stride);
	if (!n_new) {
		ix->next = p;
		return 0;
	}
	unsigned bits = bits_for(ix, ix->bits, ix->count + n_new);
	if (bits != ix->bits) {
		int rc = index_grow(ix, src, bits);
		if (rc)
			return rc;
	}

	bucket *tab = ix->b;
	unsigned shift = 64 - ix->bits;
	size_t count = ix->count, prev_p = ix->prev_p;
	uint64_t prev_h = ix->prev_h;
	int have_prev = ix->have_prev;
	uint64_t hq[PREFETCH];
	size_t q = p; /* next position to hash; the ring hq holds those from p up to q */
	for (size_t k = 0; k < PREFETCH && q <= last; k++) {
		hq[k] = block_hash(src + q);
		prefetch(tab + (hq[k] >> shift));
		q = last - q >= stride ? q + stride : last + 1;
	}
	for (size_t k = 0;; k = k + 1 == PREFETCH ? 0 : k + 1) {
		uint64_t h = hq[k];
		/* A block equal to the one sampled just before it (a run) is
		 * skipped: the run's start is the better match. */
		if (!(have_prev && p - prev_p <= stride && h == prev_h && !memcmp(src + p, src + prev_p, BLOCK)))
			bucket_add(tab + (h >> shift), hash_tag(h), p, &count);
		have_prev = 1;
		prev_h = h;
		prev_p = p;
		if (q <= last) {
			hq[k] = block_hash(src + q);
			prefetch(tab + (hq[k] >> shift));
			q = last - q >= stride ? q + stride : last + 1;
		}
		if (last - p < stride) {
			p = p <= SIZE_MAX - stride ? p + stride : SIZE_MAX;
			break;
		}
		p += stride;
	}
	ix->next = p;
	ix->count = count;
	ix->have_prev = have_prev;
	ix->prev_h = prev_h;
	ix->prev_p = prev_p;
	return 0;
}

/* -------------------------------------------------------------- encode */

void delta_lits_free(delta_lits *l)
{
	if (!l)
		return;
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

#define NO_ALIAS SIZE_MAX

typedef struct encoder {
	bytebuf *out;
	size_t base;  /* out->len when the encoding began */
	size_t limit;
	delta_lits *lits;
	const uint8_t *src, *tgt;
	size_t src_at, tgt_at; /* where src and tgt lie in out->p, or NO_ALIAS */
} encoder;

/* src and tgt may lie in the bytes out already holds (say, src is the group
 * body the delta is appended to): follow them when out moves. */
static void follow(encoder *e)
{
	if (e->src_at != NO_ALIAS)
		e->src = e->out->p + e->src_at;
	if (e->tgt_at != NO_ALIAS)
		e->tgt = e->out->p + e->tgt_at;
}

/* Where [p, p+n) lies in out's used bytes (*at), NO_ALIAS if it is apart
 * from out's storage; -1 if it overlaps what the encoder may write. */
static int alias_of(const bytebuf *out, const uint8_t *p, size_t n, size_t *at)
{
	*at = NO_ALIAS;
	if (!p || !out->p)
		return 0;
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)out->p;
	if (a + n <= lo || a >= lo + out->cap)
		return 0;
	if (a < lo || a + n > lo + out->len)
		return -1;
	*at = (size_t)(a - lo);
	return 0;
}

static int emit_insert(encoder *e, size_t from, size_t n)
{
	uint8_t hdr[10];
	size_t hl = varint_put(hdr, (uint64_t)n << 1);
	size_t used = e->out->len - e->base; /* <= limit */
	if (n > e->limit - used || hl > e->limit - used - n)
		return DELTA_TOO_BIG;
	int rc = buf_reserve(e->out, hl + n);
	if (rc)
		return rc;
	follow(e);
	if (e->lits) {
		delta_lits *l = e->lits;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 16;
			delta_lit *v = realloc(l->v, cap * sizeof *v);
			if (!v)
				return ERR_NOMEM();
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n].off = used + hl;
		l->v[l->n].len = n;
		l->n++;
	}
	uint8_t *w = e->out->p + e->out->len;
	memcpy(w, hdr, hl);
	memcpy(w + hl, e->tgt + from, n);
	e->out->len += hl + n;
	return 0;
}

static int emit_copy(encoder *e, size_t off, size_t n)
{
	uint8_t op[20];
	size_t k = varint_put(op, (uint64_t)n << 1 | 1);
	k += varint_put(op + k, off);
	if (k > e->limit - (e->out->len - e->base))
		return DELTA_TOO_BIG;
	int rc = buf_append(e->out, op, k);
	follow(e);
	return rc;
}

/* The matching part of the encoder: copies and the inserts between them;
 * returns the start of the final pending insert through *lit_out. */
static int encode_matches(encoder *e, const delta_index *ix, size_t srclen, size_t tgtlen, size_t *lit_out)
{
	const uint8_t *src = e->src, *tgt = e->tgt;
	const bucket *tab = ix->b;
	unsigned shift = 64 - ix->bits;
	size_t last = tgtlen - BLOCK;
	size_t cmax = srclen - BLOCK; /* candidates must leave a whole block in src */
	size_t lit = 0, i = 0;
	int rc;

	/* hq[p % PREFETCH] holds the fingerprint of position p for p in
	 * [i, filled), whose buckets have been prefetched. */
	uint64_t hq[PREFETCH];
	size_t filled = 0;
	while (i <= last) {
		if (filled <= i) {
			for (filled = i; filled <= last && filled - i < PREFETCH; filled++) {
				hq[filled % PREFETCH] = block_hash(tgt + filled);
				prefetch(tab + (hq[filled % PREFETCH] >> shift));
			}
		}
		uint64_t h = hq[i % PREFETCH];
		if (filled <= last) {
			hq[filled % PREFETCH] = block_hash(tgt + filled);
			prefetch(tab + (hq[filled % PREFETCH] >> shift));
			filled++;
		}
		const bucket *b = tab + (h >> shift);
		unsigned m = tag_mask(b, hash_tag(h));
		if (!m) {
			i++;
			continue;
		}
		size_t best = 0, bstart = 0, bback = 0;
		for (; m; m &= m - 1) {
			uint64_t c64 = entry_pos(b, __builtin_ctz(m));
			if (c64 > cmax)
				continue;
			size_t c = (size_t)c64;
			size_t fmax = srclen - c < tgtlen - i ? srclen - c : tgtlen - i;
			size_t f = fwd_len(src + c, tgt + i, fmax);
			if (f < BLOCK)
				continue; /* a fingerprint collision */
			size_t bmax = c < i - lit ? c : i - lit;
			size_t bk = back_len(src + c, tgt + i, bmax);
			/* Strictly longer only: entries come newest first. */
			if (f + bk > best) {
				best = f + bk;
				bstart = c - bk;
				bback = bk;
				if (f == tgtlen - i && bk == i - lit)
					break; /* nothing can be longer */
			}
		}
		if (best < MIN_COPY) {
			i++;
			continue;
		}
		size_t start = i - bback;
		if (start > lit && (rc = emit_insert(e, lit, start - lit)) != 0)
			return rc;
		if ((rc = emit_copy(e, bstart, best)) != 0)
			return rc;
		src = e->src;
		tgt = e->tgt;
		i = start + best;
		lit = i;
	}
	*lit_out = lit;
	return 0;
}

int delta_encode(const delta_index *ix, const uint8_t *src, size_t srclen, const uint8_t *tgt, size_t tgtlen,
		 size_t limit, bytebuf *out, delta_lits *lits)
{
	if (lits)
		lits->n = 0;
	if (!out || (!tgt && tgtlen) || (!src && srclen))
		return err_set(STRATA_EINVAL, "delta encode: bad argument");
	encoder e = { out, out->len, limit, lits, src, tgt, NO_ALIAS, NO_ALIAS };
	if (alias_of(out, src, srclen, &e.src_at) || alias_of(out, tgt, tgtlen, &e.tgt_at))
		return err_set(STRATA_EINVAL, "delta encode: source or target overlaps the output's free space");
	uint8_t hdr[10];
	size_t hl = varint_put(hdr, tgtlen);
	if (hl > limit)
		return DELTA_TOO_BIG;
	int rc = buf_append(out, hdr, hl);
	follow(&e);
	size_t lit = 0;
	if (!rc && ix && ix->count && srclen >= BLOCK && tgtlen >= BLOCK)
		rc = encode_matches(&e, ix, srclen, tgtlen, &lit);
	if (!rc && lit < tgtlen)
		rc = emit_insert(&e, lit, tgtlen - lit);
	if (rc) {
		out->len = e.base;
		if (lits)
			lits->n = 0;
	}
	return rc;
}

/* --------------------------------------------------------------- apply */

int delta_target_length(const uint8_t *d, size_t dlen, uint64_t *len)
{
	if (!varint_get(d, dlen, len))
		return err_set(STRATA_ECORRUPT, "delta: malformed content length");
	return 0;
}

int delta_apply(const uint8_t *src, size_t srclen, const uint8_t *d, size_t dlen, uint8_t *dst, size_t dstlen)
{
	uint64_t clen, v, off;
	size_t k = varint_get(d, dlen, &clen);
	if (!k)
		return err_set(STRATA_ECORRUPT, "delta: malformed content length");
	if (clen != dstlen)
		return err_set(STRATA_ECORRUPT, "delta: declares %" PRIu64 " content bytes, expected %zu", clen,
			       dstlen);
	size_t pos = k, done = 0;
	while (pos < dlen) {
		size_t at = pos;
		if (!(k = varint_get(d + pos, dlen - pos, &v)))
			return err_set(STRATA_ECORRUPT, "delta: malformed instruction at offset %zu", at);
		pos += k;
		uint64_t len = v >> 1;
		if (len == 0)
			return err_set(STRATA_ECORRUPT, "delta: zero-length instruction at offset %zu", at);
		if (done == dstlen)
			return err_set(STRATA_ECORRUPT, "delta: trailing bytes at offset %zu after the content", at);
		if (len > dstlen - done)
			return err_set(STRATA_ECORRUPT,
				       "delta: instruction at offset %zu writes %" PRIu64 " bytes past the content",
				       at, len - (dstlen - done));
		if (v & 1) {
			if (!(k = varint_get(d + pos, dlen - pos, &off)))
				return err_set(STRATA_ECORRUPT, "delta: malformed copy offset at offset %zu", pos);
			pos += k;
			if (off > srclen || len > srclen - off)
				return err_set(STRATA_ECORRUPT,
					       "delta: copy of [%" PRIu64 ", +%" PRIu64 ") outside a source of %zu bytes",
					       off, len, srclen);
			memcpy(dst + done, src + off, (size_t)len);
		} else {
			if (len > dlen - pos)
				return err_set(STRATA_ECORRUPT, "delta: insert at offset %zu is truncated", at);
			memcpy(dst + done, d + pos, (size_t)len);
			pos += (size_t)len;
		}
		done += (size_t)len;
	}
	if (done != dstlen)
		return err_set(STRATA_ECORRUPT, "delta: produces %zu of its %zu content bytes", done, dstlen);
	return 0;
}
