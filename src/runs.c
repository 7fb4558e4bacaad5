/* runs.c - record runs (runs.h; docs/FORMAT.md, "Record runs"). */
#include "runs.h"
#include "delta.h"
#include "err.h"

#include <inttypes.h>
#include <xxhash.h>

enum { F_ENC = 7, F_SIZE = 8, F_CEND = 16, F_SHARE = 32, F_UNIFORM = 64, F_ZERO = 0xc0 };

static int has_base(int enc)
{
	return enc == ENC_BASE || enc == ENC_PATCH;
}

static void run_sum_mark(pack_record *r, size_t count);

int run_continues(const pack_record *run, size_t count, const pack_record *r)
{
	return count < RUN_MAX && r->key == run->key && r->unit == run->unit && r->group == run->group &&
	       r->n == run[count - 1].n + 1;
}

size_t run_end(const pack_record *r, size_t n, size_t start)
{
	size_t i = start + 1;
	while (i < n && run_continues(r + start, i - start, &r[i]))
		i++;
	return i;
}

void run_summary(pack_run *pr, const pack_record *r, size_t count)
{
	pr->key = r[0].key;
	pr->group = r[0].group;
	pr->unit = r[0].unit;
	pr->n = r[0].n;
	pr->size = 0;
	for (size_t i = 0; i < count; i++)
		pr->size += r[i].size;
}

void run_share_sums(pack_record *r, size_t count)
{
	for (size_t i = 0, e; i < count; i = e) {
		e = i + 1;
		if (r[i].enc != ENC_LITERAL)
			continue;
		while (e < count && r[e].enc == ENC_LITERAL && r[e].cend == r[i].cend)
			e++;
		if (e - i >= 2)
			run_sum_mark(r + i, e - i);
	}
}

uint64_t run_sum(const uint64_t *sums, size_t count)
{
	uint8_t b[8 * RUN_MAX] = { 0 };
	if (count > RUN_MAX) /* never: runs hold at most RUN_MAX */
		count = RUN_MAX;
	for (size_t i = 0; i < count; i++)
		le_put64(b + 8 * i, sums[i]);
	return XXH3_64bits(b, 8 * count);
}

/* Make records [0, count) one shared sum: their rcount and rpos, and
 * their sum that of their content checksums. */
static void run_sum_mark(pack_record *r, size_t count)
{
	uint64_t sums[RUN_MAX] = { 0 };
	for (size_t i = 0; i < count && i < RUN_MAX; i++)
		sums[i] = r[i].sum;
	uint64_t sum = run_sum(sums, count);
	for (size_t i = 0; i < count; i++) {
		r[i].rcount = (uint16_t)count;
		r[i].rpos = (uint16_t)i;
		r[i].sum = sum;
	}
}

int run_check(const pack_record *run, const uint8_t *span, uint64_t span_off)
{
	uint64_t sums[RUN_MAX] = { 0 };
	for (size_t i = 0; i < run->rcount && i < RUN_MAX; i++)
		sums[i] = XXH3_64bits(span + (run[i].off - span_off), (size_t)run[i].len);
	if (run_sum(sums, run->rcount) != run->sum)
		return err_set(STRATA_ECORRUPT, "content checksum mismatch in records %" PRIu64 "..%" PRIu64
			       " (one checksum)", run->n, run->n + run->rcount - 1);
	return 0;
}

/* Whether a run may be written uniform (footer version 3): literals of
 * one length, with checksums shared by block as run_share_sums leaves
 * them (a record alone in its block keeps its own). */
static int uniform(const pack_record *r, size_t count)
{
	if (count < 2)
		return 0;
	for (size_t i = 0, e; i < count; i = e) {
		for (e = i + 1; e < count && r[e].cend == r[i].cend; e++)
			;
		for (size_t j = i; j < e; j++) {
			if (r[j].enc != ENC_LITERAL || r[j].len != r[0].len)
				return 0;
			if (e - i == 1 ? r[j].rcount != 0
				       : r[j].rcount != e - i || r[j].rpos != j - i || r[j].sum != r[i].sum)
				return 0;
		}
	}
	return 1;
}

/* A uniform run after its header: flags F_UNIFORM, the records' length,
 * the number of blocks, then for each the records ending in it, their
 * checksum (shared, or the one record's own) and the compressed prefix. */
static uint8_t *encode_uniform(const pack_record *r, size_t count, uint8_t *p)
{
	size_t blocks = 0;
	for (size_t i = 0; i < count; i++)
		blocks += i == 0 || r[i].cend != r[i - 1].cend;
	*p++ = F_UNIFORM;
	p += varint_put(p, r[0].len);
	p += varint_put(p, blocks);
	for (size_t i = 0, e; i < count; i = e) {
		for (e = i + 1; e < count && r[e].cend == r[i].cend; e++)
			;
		p += varint_put(p, e - i);
		le_put64(p, r[i].sum);
		p += 8;
		p += varint_put(p, r[i].cend);
	}
	return p;
}

int run_encode(const pack_record *r, size_t count, int v3, bytebuf *b)
{
	/* Header: 4 varints; each entry at most 1 + 10 + 10 + 8 + 10 + 10. */
	if (buf_reserve(b, 40 + count * 49))
		return STRATA_ENOMEM;
	uint8_t *p = b->p + b->len, *start = p;
	p += varint_put(p, r[0].group);
	p += varint_put(p, r[0].n);
	p += varint_put(p, count);
	p += varint_put(p, r[0].off);
	if (v3 && uniform(r, count)) {
		p = encode_uniform(r, count, p);
		b->len += (size_t)(p - start);
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		int size = r[i].size != r[i].len, cend = i == 0 || r[i].cend != r[i - 1].cend;
		/* A record that shares its sum with the next carries none. */
		int shares = r[i].rcount > 1 && r[i].rpos + 1 < r[i].rcount;
		*p++ = (uint8_t)(r[i].enc | (size ? F_SIZE : 0) | (cend ? F_CEND : 0) | (shares ? F_SHARE : 0));
		p += varint_put(p, r[i].len);
		if (size)
			p += varint_put(p, r[i].size);
		if (!shares) {
			le_put64(p, r[i].sum);
			p += 8;
		}
		if (cend)
			p += varint_put(p, r[i].cend);
		if (has_base(r[i].enc))
			p += varint_put(p, r[i].n - r[i].base);
	}
	b->len += (size_t)(p - start);
	return 0;
}

size_t run_head_decode(const uint8_t *p, size_t len, run_head *h)
{
	uint64_t g;
	size_t at = 0, k;
	if (!(k = varint_get(p, len, &g)) || g > UINT32_MAX)
		return 0;
	h->group = (uint32_t)g;
	at += k;
	if (!(k = varint_get(p + at, len - at, &h->first)) || h->first == 0)
		return 0;
	at += k;
	if (!(k = varint_get(p + at, len - at, &h->count)) || h->count == 0 || h->count > RUN_MAX ||
	    h->first > UINT64_MAX - h->count)
		return 0;
	at += k;
	if (!(k = varint_get(p + at, len - at, &h->off)))
		return 0;
	return at + k;
}

/* The rest of a uniform run, from p[at] (its flags) on. */
static int decode_uniform(const uint8_t *p, size_t len, size_t at, const run_head *h, uint32_t key, uint64_t unit,
			  pack_record *out, const char *what)
{
	uint64_t rlen, blocks, done = 0, off = h->off, prev_cend = 0;
	size_t k;
	if (p[at++] != F_UNIFORM)
		return err_set(STRATA_ECORRUPT, "%s: uniform record run malformed", what);
	if (!(k = varint_get(p + at, len - at, &rlen)))
		return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
	at += k;
	if (!(k = varint_get(p + at, len - at, &blocks)) || blocks == 0 || blocks > h->count)
		return err_set(STRATA_ECORRUPT, "%s: uniform record run malformed", what);
	at += k;
	for (uint64_t b = 0; b < blocks; b++) {
		uint64_t n, cend;
		if (!(k = varint_get(p + at, len - at, &n)) || n == 0 || n > h->count - done)
			return err_set(STRATA_ECORRUPT, "%s: uniform record run malformed", what);
		at += k;
		if (len - at < 8)
			return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
		uint64_t sum = le_get64(p + at);
		at += 8;
		if (!(k = varint_get(p + at, len - at, &cend)) || (b > 0 && cend <= prev_cend))
			return err_set(STRATA_ECORRUPT, "%s: uniform record run malformed", what);
		at += k;
		prev_cend = cend;
		for (uint64_t j = 0; j < n; j++, done++) {
			if (rlen > UINT64_MAX - off)
				return err_set(STRATA_ECORRUPT, "%s: record run overflows its group", what);
			out[done] = (pack_record){ .key = key, .group = h->group, .n = h->first + done, .off = off,
						   .len = rlen, .size = rlen, .sum = sum, .cend = cend, .unit = unit,
						   .enc = ENC_LITERAL, .rcount = (uint16_t)(n > 1 ? n : 0),
						   .rpos = (uint16_t)(n > 1 ? j : 0) };
			off += rlen;
		}
	}
	if (done != h->count)
		return err_set(STRATA_ECORRUPT, "%s: uniform record run holds %" PRIu64 " records, not %" PRIu64, what,
			       done, h->count);
	if (at != len)
		return err_set(STRATA_ECORRUPT, "%s: record run has %zu bytes too many", what, len - at);
	return 0;
}

int run_is_uniform(const uint8_t *p, size_t len)
{
	run_head h;
	size_t at = run_head_decode(p, len, &h);
	return at && at < len && (p[at] & F_UNIFORM);
}

int run_decode(const uint8_t *p, size_t len, uint32_t key, uint64_t unit, pack_record *out, size_t *nout,
	       const char *what)
{
	run_head h;
	size_t at = run_head_decode(p, len, &h), k;
	if (!at)
		return err_set(STRATA_ECORRUPT, "%s: record run header malformed", what);
	if (at < len && (p[at] & F_UNIFORM)) {
		int rc = decode_uniform(p, len, at, &h, key, unit, out, what);
		if (!rc)
			*nout = (size_t)h.count;
		return rc;
	}
	uint64_t off = h.off, cend = 0, shared = 0; /* shared: entries since the last sum */
	for (uint64_t i = 0; i < h.count; i++) {
		pack_record *r = &out[i];
		if (at >= len)
			return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
		uint8_t f = p[at++];
		*r = (pack_record){ .key = key, .group = h.group, .n = h.first + i, .off = off, .unit = unit,
				    .enc = f & F_ENC };
		if ((f & F_ZERO) || (((f & F_SHARE) || shared) && r->enc != ENC_LITERAL))
			return err_set(STRATA_ECORRUPT, "%s: record run entry malformed", what);
		if (r->enc > ENC_MAX)
			return err_set(STRATA_EFORMAT, "%s: record encoding %u is not supported", what, r->enc);
		if (!(k = varint_get(p + at, len - at, &r->len)))
			return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
		at += k;
		r->size = r->len;
		if (f & F_SIZE) {
			if (!(k = varint_get(p + at, len - at, &r->size)))
				return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
			at += k;
		}
		if (f & F_SHARE) {
			shared++;
		} else {
			if (len - at < 8)
				return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
			r->sum = le_get64(p + at);
			at += 8;
			for (uint64_t j = 0; shared && j <= shared; j++) {
				out[i - shared + j].sum = r->sum;
				out[i - shared + j].rcount = (uint16_t)(shared + 1);
				out[i - shared + j].rpos = (uint16_t)j;
			}
			shared = 0;
		}
		if (f & F_CEND) {
			if (!(k = varint_get(p + at, len - at, &cend)))
				return err_set(STRATA_ECORRUPT, "%s: record run truncated", what);
			at += k;
		} else if (i == 0) {
			return err_set(STRATA_ECORRUPT, "%s: record run lacks its first prefix", what);
		}
		r->cend = cend;
		if (has_base(r->enc)) {
			uint64_t back;
			if (!(k = varint_get(p + at, len - at, &back)) || back == 0 || back >= r->n)
				return err_set(STRATA_ECORRUPT, "%s: record base reference is malformed", what);
			at += k;
			r->base = r->n - back;
		}
		if (r->enc == ENC_LITERAL && r->len != r->size)
			return err_set(STRATA_ECORRUPT, "%s: literal record length differs from its size", what);
		if (r->len > UINT64_MAX - off)
			return err_set(STRATA_ECORRUPT, "%s: record run overflows its group", what);
		off += r->len;
	}
	if (shared)
		return err_set(STRATA_ECORRUPT, "%s: record run ends in a shared checksum", what);
	if (at != len)
		return err_set(STRATA_ECORRUPT, "%s: record run has %zu bytes too many", what, len - at);
	*nout = (size_t)h.count;
	return 0;
}
