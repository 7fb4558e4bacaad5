/* test_delta.c - the delta codec and its match index (src/delta.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "delta.h"
#include "strata.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

typedef struct op {
	int copy;
	size_t len, off; /* off: source offset of a copy, encoding offset of an insert's bytes */
} op;

/* Parse a well-formed delta into its instructions (asserting well-formedness). */
static size_t parse_ops(const uint8_t *d, size_t dlen, op **ops_out, uint64_t *clen)
{
	size_t pos = varint_get(d, dlen, clen), n = 0, cap = 16;
	assert_true(pos > 0);
	op *ops = malloc(cap * sizeof *ops);
	assert_non_null(ops);
	while (pos < dlen) {
		uint64_t v, off;
		size_t k = varint_get(d + pos, dlen - pos, &v);
		assert_true(k > 0);
		pos += k;
		assert_true(v >> 1 > 0);
		if (n == cap) {
			cap *= 2;
			ops = realloc(ops, cap * sizeof *ops);
			assert_non_null(ops);
		}
		ops[n].copy = (int)(v & 1);
		ops[n].len = (size_t)(v >> 1);
		if (v & 1) {
			k = varint_get(d + pos, dlen - pos, &off);
			assert_true(k > 0);
			pos += k;
			ops[n].off = (size_t)off;
		} else {
			ops[n].off = pos;
			pos += ops[n].len;
			assert_true(pos <= dlen);
		}
		n++;
	}
	*ops_out = ops;
	return n;
}

/* Index src in one go, encode tgt, check the round trip; returns the delta size. */
static size_t roundtrip(const uint8_t *src, size_t srclen, const uint8_t *tgt, size_t tgtlen)
{
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 64u << 20), 0);
	assert_int_equal(delta_index_add(ix, src, 0, srclen), 0);
	bytebuf out = { 0 };
	assert_int_equal(delta_encode(ix, src, srclen, tgt, tgtlen, SIZE_MAX, &out, NULL), 0);
	uint64_t declared;
	assert_int_equal(delta_target_length(out.p, out.len, &declared), 0);
	assert_int_equal(declared, tgtlen);
	uint8_t *dst = tu_alloc(tgtlen);
	assert_int_equal(delta_apply(src, srclen, out.p, out.len, dst, tgtlen), 0);
	assert_memory_equal(dst, tgt, tgtlen);
	/* Every copy lies inside the source and is at least 16 bytes long. */
	op *ops;
	uint64_t clen;
	size_t n = parse_ops(out.p, out.len, &ops, &clen);
	for (size_t i = 0; i < n; i++)
		if (ops[i].copy) {
			assert_true(ops[i].len >= 16);
			assert_true(ops[i].off + ops[i].len <= srclen);
		}
	free(ops);
	size_t size = out.len;
	free(dst);
	buf_free(&out);
	delta_index_free(ix);
	return size;
}

/* A text with edits: inserted, deleted, moved and repeated blocks. */
static uint8_t *edited(const uint8_t *src, size_t srclen, size_t *len, uint64_t seed)
{
	size_t cap = 2 * srclen + 65536, n = 0, i = 0;
	uint8_t *p = tu_alloc(cap);
	uint64_t s = seed;
	while (i < srclen) {
		size_t run = 500 + tu_rand(&s) % 4000;
		if (run > srclen - i)
			run = srclen - i;
		memcpy(p + n, src + i, run);
		n += run;
		i += run;
		uint64_t r = tu_rand(&s);
		size_t l = 1 + (r >> 8) % 300;
		switch (r % 4) {
		case 0: /* insertion of new text */
			tu_fill_text(p + n, l, r);
			n += l;
			break;
		case 1: /* deletion */
			i += l < srclen - i ? l : srclen - i;
			break;
		case 2: { /* a block moved or repeated from elsewhere */
			size_t from = (size_t)(tu_rand(&s) % srclen);
			l = l < srclen - from ? l : srclen - from;
			memcpy(p + n, src + from, l);
			n += l;
			break;
		}
		default: /* a changed byte */
			p[n - 1] ^= 0x55;
		}
	}
	*len = n;
	return p;
}

/* ------------------------------------------------------------ varints */

static void test_varint_edges(void **state)
{
	(void)state;
	static const struct {
		uint64_t v;
		size_t len;
	} cases[] = { { 0, 1 },		{ 1, 1 },	 { 127, 1 },	       { 128, 2 },
		      { 16383, 2 },	{ 16384, 3 },	 { UINT32_MAX, 5 },    { UINT64_C(1) << 63, 10 },
		      { UINT64_MAX, 10 }, { (UINT64_C(1) << 56) - 1, 8 } };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint8_t b[16];
		memset(b, 0xEE, sizeof b);
		size_t n = varint_put(b, cases[i].v);
		assert_int_equal(n, cases[i].len);
		assert_int_equal(b[n], 0xEE); /* nothing written past */
		for (size_t k = 0; k + 1 < n; k++)
			assert_true(b[k] & 0x80);
		assert_false(b[n - 1] & 0x80);
		uint64_t v = 12345;
		assert_int_equal(varint_get(b, n, &v), n);
		assert_true(v == cases[i].v);
		/* Extra bytes after it are not read. */
		assert_int_equal(varint_get(b, sizeof b, &v), n);
		/* Every truncation is rejected. */
		for (size_t k = 0; k < n; k++)
			assert_int_equal(varint_get(b, k, &v), 0);
	}
	/* Exact bytes. */
	uint8_t b[16];
	assert_int_equal(varint_put(b, 0), 1);
	assert_int_equal(b[0], 0);
	assert_int_equal(varint_put(b, 127), 1);
	assert_int_equal(b[0], 0x7f);
	assert_int_equal(varint_put(b, 128), 2);
	assert_int_equal(b[0], 0x80);
	assert_int_equal(b[1], 0x01);
	assert_int_equal(varint_put(b, UINT64_MAX), 10);
	for (int k = 0; k < 9; k++)
		assert_int_equal(b[k], 0xff);
	assert_int_equal(b[9], 0x01);
	assert_int_equal(varint_put(b, UINT64_C(1) << 63), 10);
	for (int k = 0; k < 9; k++)
		assert_int_equal(b[k], 0x80);
	assert_int_equal(b[9], 0x01);

	uint64_t v;
	/* 11 bytes: ten with the continuation bit, then one more. */
	uint8_t eleven[11];
	memset(eleven, 0x80, 10);
	eleven[10] = 0x00;
	assert_int_equal(varint_get(eleven, sizeof eleven, &v), 0);
	/* Ten bytes whose last carries more than bit 63: overflow. */
	uint8_t over[10];
	memset(over, 0xff, 9);
	over[9] = 0x02;
	assert_int_equal(varint_get(over, sizeof over, &v), 0);
	over[9] = 0x7f;
	assert_int_equal(varint_get(over, sizeof over, &v), 0);
	/* A lone continuation byte, and nothing at all. */
	uint8_t cont = 0x80;
	assert_int_equal(varint_get(&cont, 1, &v), 0);
	assert_int_equal(varint_get(NULL, 0, &v), 0);
	/* A non-minimal but well-formed encoding is accepted. */
	uint8_t nonmin[2] = { 0x80, 0x00 };
	assert_int_equal(varint_get(nonmin, 2, &v), 2);
	assert_true(v == 0);
}

/* ------------------------------------------------------------ round trips */

static void test_roundtrip_random(void **state)
{
	(void)state;
	uint64_t s = 42;
	/* Sizes around the block length and a few larger ones. */
	for (int iter = 0; iter < 300; iter++) {
		size_t srclen = iter < 100 ? (size_t)iter : (size_t)(tu_rand(&s) % 20000);
		size_t tgtlen = iter < 100 ? (size_t)(tu_rand(&s) % 100) : (size_t)(tu_rand(&s) % 20000);
		uint8_t *src = tu_alloc(srclen), *tgt = tu_alloc(tgtlen);
		tu_fill_random(src, srclen, tu_rand(&s));
		/* Target: pieces of the source, random bytes, and repeats. */
		size_t n = 0;
		while (n < tgtlen) {
			uint64_t r = tu_rand(&s);
			size_t l = 1 + (size_t)(r >> 16) % 200;
			if (l > tgtlen - n)
				l = tgtlen - n;
			if ((r & 1) && srclen >= l) {
				memcpy(tgt + n, src + (size_t)(tu_rand(&s) % (srclen - l + 1)), l);
			} else if ((r & 2) && n >= l) {
				memmove(tgt + n, tgt + (size_t)(tu_rand(&s) % (n - l + 1)), l);
			} else {
				tu_fill_random(tgt + n, l, r);
			}
			n += l;
		}
		roundtrip(src, srclen, tgt, tgtlen);
		free(src);
		free(tgt);
	}
}

static void test_roundtrip_edited_text(void **state)
{
	(void)state;
	size_t srclen = 1 << 20;
	uint8_t *src = tu_alloc(srclen);
	tu_fill_text(src, srclen, 7);
	size_t tgtlen;
	uint8_t *tgt = edited(src, srclen, &tgtlen, 8);
	size_t size = roundtrip(src, srclen, tgt, tgtlen);
	/* A few hundred edits of at most 300 bytes each: the delta is a few % of the text. */
	assert_true(size < tgtlen / 20);

	/* A block moved: the first half and the second half swapped. */
	uint8_t *sw = tu_alloc(srclen);
	memcpy(sw, src + srclen / 2 + 5, srclen - srclen / 2 - 5);
	memcpy(sw + srclen - srclen / 2 - 5, src, srclen / 2 + 5);
	size = roundtrip(src, srclen, sw, srclen);
	assert_true(size < 64);

	/* One insertion and one deletion in the middle. */
	uint8_t *id = tu_alloc(srclen + 100);
	memcpy(id, src, 1000);
	memcpy(id + 1000, "INSERTED TEXT\n", 14);
	memcpy(id + 1014, src + 1000, 300000);
	memcpy(id + 301014, src + 400000, srclen - 400000); /* deleted [301000, 400000) */
	size_t idlen = 301014 + srclen - 400000;
	size = roundtrip(src, srclen, id, idlen);
	assert_true(size < 64);

	/* A block repeated many times. */
	uint8_t *rep = tu_alloc(100 * 4096);
	for (int i = 0; i < 100; i++)
		memcpy(rep + i * 4096, src + 12345, 4096);
	size = roundtrip(src, srclen, rep, 100 * 4096);
	assert_true(size < 100 * 16);
	free(rep);
	free(id);
	free(sw);
	free(tgt);
	free(src);
}

static void test_roundtrip_binary(void **state)
{
	(void)state;
	/* Records: an id, zero padding, random payload; a few records changed. */
	size_t n = 20000, srclen = n * 48;
	uint8_t *src = tu_alloc(srclen), *tgt = tu_alloc(srclen);
	memset(src, 0, srclen);
	for (size_t i = 0; i < n; i++) {
		uint32_t id = (uint32_t)i;
		memcpy(src + i * 48, &id, 4);
		tu_fill_random(src + i * 48 + 24, 24, i);
	}
	memcpy(tgt, src, srclen);
	uint64_t s = 9;
	for (int k = 0; k < 200; k++)
		tgt[tu_rand(&s) % srclen] ^= 0xA5;
	size_t size = roundtrip(src, srclen, tgt, srclen);
	assert_true(size < 200 * 48);
	free(src);
	free(tgt);
}

static void test_empty(void **state)
{
	(void)state;
	uint8_t src[100];
	tu_fill_random(src, sizeof src, 1);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1 << 20), 0);
	assert_int_equal(delta_index_add(ix, src, 0, sizeof src), 0);

	/* Empty target: the header alone. */
	bytebuf out = { 0 };
	delta_lits lits = { 0 };
	assert_int_equal(delta_encode(ix, src, sizeof src, NULL, 0, SIZE_MAX, &out, &lits), 0);
	assert_int_equal(out.len, 1);
	assert_int_equal(out.p[0], 0);
	assert_int_equal(lits.n, 0);
	assert_int_equal(delta_apply(src, sizeof src, out.p, out.len, NULL, 0), 0);
	assert_int_equal(delta_apply(NULL, 0, out.p, out.len, NULL, 0), 0);

	/* Empty source: one insert of the whole target. */
	uint8_t tgt[300];
	tu_fill_text(tgt, sizeof tgt, 2);
	delta_index *empty;
	assert_int_equal(delta_index_new(&empty, 1 << 20), 0);
	assert_int_equal(delta_index_add(empty, NULL, 0, 0), 0);
	out.len = 0;
	assert_int_equal(delta_encode(empty, NULL, 0, tgt, sizeof tgt, SIZE_MAX, &out, &lits), 0);
	assert_int_equal(out.len, 2 + 2 + sizeof tgt); /* varint(300), varint(600), bytes */
	assert_int_equal(lits.n, 1);
	assert_int_equal(lits.v[0].off, 4);
	assert_int_equal(lits.v[0].len, sizeof tgt);
	uint8_t dst[300];
	assert_int_equal(delta_apply(NULL, 0, out.p, out.len, dst, sizeof dst), 0);
	assert_memory_equal(dst, tgt, sizeof tgt);
	/* No index at all: the same. */
	out.len = 0;
	assert_int_equal(delta_encode(NULL, src, sizeof src, tgt, sizeof tgt, SIZE_MAX, &out, NULL), 0);
	assert_int_equal(out.len, 4 + sizeof tgt);
	/* An index that was reset has nothing in it either. */
	tu_fill_random(tgt, sizeof tgt, 1); /* same bytes as src for 100 bytes */
	memcpy(tgt, src, sizeof src);
	delta_index_reset(ix);
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, sizeof src, tgt, sizeof tgt, SIZE_MAX, &out, NULL), 0);
	assert_int_equal(out.len, 4 + sizeof tgt);
	/* Indexed again, the source is found. */
	assert_int_equal(delta_index_add(ix, src, 0, sizeof src), 0);
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, sizeof src, tgt, sizeof tgt, SIZE_MAX, &out, NULL), 0);
	assert_true(out.len < 4 + sizeof tgt - 90);
	assert_int_equal(delta_apply(src, sizeof src, out.p, out.len, dst, sizeof dst), 0);
	assert_memory_equal(dst, tgt, sizeof tgt);

	delta_lits_free(&lits);
	delta_lits_free(&lits); /* twice is fine */
	buf_free(&out);
	delta_index_free(empty);
	delta_index_free(ix);
	delta_index_free(NULL);

	assert_int_equal(delta_index_new(&ix, 0), STRATA_EINVAL);
	assert_null(ix);
	assert_true(strata_errmsg()[0] != '\0');
}

static void test_identical(void **state)
{
	(void)state;
	size_t sizes[] = { 16, 17, 100, 4096, 1 << 20, 5u << 20 };
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		size_t n = sizes[k];
		uint8_t *a = tu_alloc(n);
		if (k % 2)
			tu_fill_random(a, n, k);
		else
			tu_fill_text(a, n, k);
		size_t size = roundtrip(a, n, a, n);
		assert_true(size < n / 100 + 32);
		free(a);
	}
	/* All zeros (one hot bucket) too. */
	size_t n = 3u << 20;
	uint8_t *z = calloc(1, n);
	assert_non_null(z);
	assert_true(roundtrip(z, n, z, n) < n / 100 + 32);
	free(z);
}

static void test_unrelated(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	uint8_t *a = tu_alloc(n), *b = tu_alloc(n);
	tu_fill_random(a, n, 1);
	tu_fill_random(b, n, 2);
	size_t size = roundtrip(a, n, b, n);
	assert_true(size >= n);
	assert_true(size <= n + 16);
	/* Unrelated text of the same vocabulary: short coincidences may be
	 * copied, but the delta stays about the size of the target. */
	tu_fill_text(a, n, 1);
	tu_fill_text(b, n, 2);
	size = roundtrip(a, n, b, n);
	assert_true(size <= n + n / 50);
	free(a);
	free(b);
}

/* ------------------------------------------------------------ limit, lits */

static void test_limit(void **state)
{
	(void)state;
	size_t n = 200000;
	uint8_t *src = tu_alloc(n);
	tu_fill_text(src, n, 3);
	size_t tgtlen;
	uint8_t *tgt = edited(src, n, &tgtlen, 4);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1 << 20), 0);
	assert_int_equal(delta_index_add(ix, src, 0, n), 0);

	bytebuf out = { 0 };
	assert_int_equal(buf_append(&out, "prefix", 6), 0);
	delta_lits lits = { 0 };
	assert_int_equal(delta_encode(ix, src, n, tgt, tgtlen, SIZE_MAX, &out, &lits), 0);
	size_t full = out.len - 6;
	assert_true(full > 100);
	uint8_t *ref = tu_alloc(full);
	memcpy(ref, out.p + 6, full);
	assert_true(lits.n > 0);

	/* One byte short, much shorter, zero: too big, out and lits as before. */
	size_t limits[] = { full - 1, full / 2, 10, 1, 0 };
	for (size_t k = 0; k < sizeof limits / sizeof *limits; k++) {
		out.len = 6;
		lits.n = 3; /* garbage the call must clear */
		assert_int_equal(delta_encode(ix, src, n, tgt, tgtlen, limits[k], &out, &lits), DELTA_TOO_BIG);
		assert_int_equal(out.len, 6);
		assert_memory_equal(out.p, "prefix", 6);
		assert_int_equal(lits.n, 0);
	}
	/* Exactly the size: fits, same bytes. */
	out.len = 6;
	assert_int_equal(delta_encode(ix, src, n, tgt, tgtlen, full, &out, &lits), 0);
	assert_int_equal(out.len, 6 + full);
	assert_memory_equal(out.p + 6, ref, full);
	/* An all-insert delta against its limit. */
	out.len = 0;
	assert_int_equal(delta_encode(NULL, NULL, 0, tgt, 1000, 1000 + 2 + 2 - 1, &out, NULL), DELTA_TOO_BIG);
	assert_int_equal(out.len, 0);
	assert_int_equal(delta_encode(NULL, NULL, 0, tgt, 1000, 1000 + 2 + 2, &out, NULL), 0);
	assert_int_equal(out.len, 1004);

	free(ref);
	delta_lits_free(&lits);
	buf_free(&out);
	delta_index_free(ix);
	free(tgt);
	free(src);
}

static void test_lits(void **state)
{
	(void)state;
	size_t n = 300000;
	uint8_t *src = tu_alloc(n);
	tu_fill_text(src, n, 5);
	size_t tgtlen;
	uint8_t *tgt = edited(src, n, &tgtlen, 6);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1 << 20), 0);
	assert_int_equal(delta_index_add(ix, src, 0, n), 0);

	bytebuf out = { 0 };
	assert_int_equal(buf_append(&out, "0123456789", 10), 0); /* offsets are relative to the encoding */
	delta_lits lits = { 0 };
	assert_int_equal(delta_encode(ix, src, n, tgt, tgtlen, SIZE_MAX, &out, &lits), 0);
	const uint8_t *enc = out.p + 10;
	size_t enclen = out.len - 10;

	/* The lits are exactly the insert instructions' bytes, in order. */
	op *ops;
	uint64_t clen;
	size_t nops = parse_ops(enc, enclen, &ops, &clen);
	size_t ni = 0, tpos = 0, litbytes = 0;
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].copy) {
			assert_memory_equal(src + ops[i].off, tgt + tpos, ops[i].len);
		} else {
			assert_true(ni < lits.n);
			assert_int_equal(lits.v[ni].off, ops[i].off);
			assert_int_equal(lits.v[ni].len, ops[i].len);
			/* The bytes there are the target's bytes at this point. */
			assert_memory_equal(enc + lits.v[ni].off, tgt + tpos, lits.v[ni].len);
			litbytes += lits.v[ni].len;
			ni++;
		}
		tpos += ops[i].len;
	}
	assert_int_equal(ni, lits.n);
	assert_int_equal(tpos, tgtlen);
	/* Reconstruct the target from the lits and the copies alone. */
	uint8_t *re = tu_alloc(tgtlen);
	size_t li = 0;
	tpos = 0;
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].copy)
			memcpy(re + tpos, src + ops[i].off, ops[i].len);
		else {
			memcpy(re + tpos, enc + lits.v[li].off, lits.v[li].len);
			li++;
		}
		tpos += ops[i].len;
	}
	assert_memory_equal(re, tgt, tgtlen);
	/* Inserts are a small part of an edited text; lits are ordered and disjoint. */
	assert_true(litbytes < tgtlen / 10);
	for (size_t i = 1; i < lits.n; i++)
		assert_true(lits.v[i].off >= lits.v[i - 1].off + lits.v[i - 1].len);

	/* A second encode clears the old lits. */
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, n, src, 1000, SIZE_MAX, &out, &lits), 0);
	assert_int_equal(lits.n, 0);

	free(re);
	free(ops);
	delta_lits_free(&lits);
	buf_free(&out);
	delta_index_free(ix);
	free(tgt);
	free(src);
}

/* ------------------------------------------------------------ index usage */

static void test_growing_source(void **state)
{
	(void)state;
	size_t total = 2u << 20;
	uint8_t *all = tu_alloc(total);
	tu_fill_text(all, total, 11);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 16u << 20), 0);

	/* The source grows in uneven steps, moving in memory at each step; the
	 * old copy is wiped so a stale pointer would show. */
	uint8_t *src = NULL;
	size_t len = 0;
	uint64_t s = 12;
	while (len < total) {
		size_t step = 1 + (size_t)(tu_rand(&s) % 100000);
		if (step > total - len)
			step = total - len;
		uint8_t *ns = tu_alloc(len + step);
		if (len)
			memcpy(ns, src, len);
		memcpy(ns + len, all + len, step);
		if (src)
			memset(src, 0xCC, len);
		free(src);
		src = ns;
		assert_int_equal(delta_index_add(ix, src, len, len + step), 0);
		len += step;
	}
	size_t tgtlen;
	uint8_t *tgt = edited(src, len, &tgtlen, 13);
	bytebuf out = { 0 };
	assert_int_equal(delta_encode(ix, src, len, tgt, tgtlen, SIZE_MAX, &out, NULL), 0);
	uint8_t *dst = tu_alloc(tgtlen);
	assert_int_equal(delta_apply(src, len, out.p, out.len, dst, tgtlen), 0);
	assert_memory_equal(dst, tgt, tgtlen);
	/* As good as indexing the whole source at once (within 1%). */
	size_t whole = roundtrip(src, len, tgt, tgtlen);
	assert_true(out.len <= whole + whole / 100);

	/* Encoding against a prefix of what was indexed: copies stay inside it. */
	size_t pre = len / 3;
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, pre, tgt, tgtlen, SIZE_MAX, &out, NULL), 0);
	assert_int_equal(delta_apply(src, pre, out.p, out.len, dst, tgtlen), 0);
	assert_memory_equal(dst, tgt, tgtlen);
	assert_true(out.len < tgtlen - pre / 2); /* the prefix was used */

	/* Ranges with gaps (say, only the insert bytes of a body). */
	delta_index_reset(ix);
	for (size_t from = 0; from < len; from += 20000)
		assert_int_equal(delta_index_add(ix, src, from, from + 10000 < len ? from + 10000 : len), 0);
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, len, src, len, SIZE_MAX, &out, NULL), 0);
	assert_int_equal(delta_apply(src, len, out.p, out.len, dst, len), 0);
	assert_memory_equal(dst, src, len);
	assert_true(out.len < 64); /* one copy, found in an indexed range */

	assert_int_equal(delta_index_add(ix, src, 10, 5), STRATA_EINVAL);
	assert_int_equal(delta_index_add(ix, NULL, 0, 5), STRATA_EINVAL);

	buf_free(&out);
	free(dst);
	free(tgt);
	free(src);
	free(all);
	delta_index_free(ix);
}

static void test_aliased_output(void **state)
{
	(void)state;
	/* The in-group pattern: the source is the body that the encoding is
	 * appended to, and the body grows (moves) while the delta is written. */
	size_t n = 100000;
	bytebuf body = { 0 };
	uint8_t *text = tu_alloc(n);
	tu_fill_text(text, n, 51);
	assert_int_equal(buf_append(&body, text, n), 0);
	body.cap = body.len; /* no room: the first append reallocates */
	uint8_t *tight = realloc(body.p, body.cap);
	assert_non_null(tight);
	body.p = tight;
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1 << 20), 0);
	assert_int_equal(delta_index_add(ix, body.p, 0, body.len), 0);
	size_t tgtlen;
	uint8_t *tgt = edited(text, n, &tgtlen, 52);
	delta_lits lits = { 0 };
	assert_int_equal(delta_encode(ix, body.p, n, tgt, tgtlen, SIZE_MAX, &body, &lits), 0);
	assert_true(body.len > n);
	uint8_t *dst = tu_alloc(tgtlen);
	assert_int_equal(delta_apply(body.p, n, body.p + n, body.len - n, dst, tgtlen), 0);
	assert_memory_equal(dst, tgt, tgtlen);
	assert_memory_equal(body.p, text, n);
	/* The target inside the body too (re-encoding a stored record). */
	size_t before = body.len;
	body.cap = body.len;
	tight = realloc(body.p, body.cap);
	assert_non_null(tight);
	body.p = tight;
	assert_int_equal(delta_encode(ix, body.p, n, body.p + 5000, 20000, SIZE_MAX, &body, NULL), 0);
	assert_int_equal(delta_apply(body.p, n, body.p + before, body.len - before, dst, 20000), 0);
	assert_memory_equal(dst, text + 5000, 20000);
	/* A source reaching into the unused capacity is refused. */
	assert_int_equal(buf_reserve(&body, 100), 0);
	size_t len = body.len;
	assert_int_equal(delta_encode(ix, body.p, body.len + 10, tgt, 100, SIZE_MAX, &body, NULL), STRATA_EINVAL);
	assert_int_equal(body.len, len);
	free(dst);
	free(tgt);
	free(text);
	delta_lits_free(&lits);
	buf_free(&body);
	delta_index_free(ix);
}

static void test_max_bytes(void **state)
{
	(void)state;
	/* A source far beyond max_bytes is still sampled across its whole length. */
	size_t n = 8u << 20;
	uint8_t *src = tu_alloc(n);
	tu_fill_text(src, n, 21);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 256u << 10), 0);
	for (size_t from = 0; from < n; from += 1u << 20)
		assert_int_equal(delta_index_add(ix, src, from, from + (1u << 20)), 0);
	/* Pieces of 4 KiB from all over the source. */
	size_t tgtlen = 256 * 4096;
	uint8_t *tgt = tu_alloc(tgtlen);
	uint64_t s = 22;
	for (size_t i = 0; i < 256; i++)
		memcpy(tgt + i * 4096, src + (size_t)(tu_rand(&s) % (n - 4096)), 4096);
	bytebuf out = { 0 };
	assert_int_equal(delta_encode(ix, src, n, tgt, tgtlen, SIZE_MAX, &out, NULL), 0);
	uint8_t *dst = tu_alloc(tgtlen);
	assert_int_equal(delta_apply(src, n, out.p, out.len, dst, tgtlen), 0);
	assert_memory_equal(dst, tgt, tgtlen);
	assert_true(out.len < tgtlen / 20);
	/* Identical to the source: one copy. */
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, n, src, n, SIZE_MAX, &out, NULL), 0);
	assert_true(out.len < 32);
	buf_free(&out);
	free(dst);
	free(tgt);
	free(src);
	delta_index_free(ix);
}

static void test_prefers_recent(void **state)
{
	(void)state;
	/* The same 64 bytes at 1024 and 4096 (both sampled positions), random
	 * elsewhere; the target is those 64 bytes: the later copy is taken. */
	uint8_t src[8192], blk[64];
	tu_fill_random(src, sizeof src, 31);
	tu_fill_random(blk, sizeof blk, 32);
	memcpy(src + 1024, blk, 64);
	memcpy(src + 4096, blk, 64);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1 << 20), 0);
	assert_int_equal(delta_index_add(ix, src, 0, sizeof src), 0);
	bytebuf out = { 0 };
	assert_int_equal(delta_encode(ix, src, sizeof src, blk, 64, SIZE_MAX, &out, NULL), 0);
	op *ops;
	uint64_t clen;
	assert_int_equal(parse_ops(out.p, out.len, &ops, &clen), 1);
	assert_true(ops[0].copy);
	assert_int_equal(ops[0].off, 4096);
	assert_int_equal(ops[0].len, 64);
	free(ops);
	/* But a longer match wins over a more recent one. */
	uint8_t tgt[80];
	memcpy(tgt, blk, 64);
	memcpy(tgt + 64, src + 1024 + 64, 16);
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, sizeof src, tgt, sizeof tgt, SIZE_MAX, &out, NULL), 0);
	assert_int_equal(parse_ops(out.p, out.len, &ops, &clen), 1);
	assert_int_equal(ops[0].off, 1024);
	assert_int_equal(ops[0].len, 80);
	free(ops);
	/* Backward extension: a match found at a sampled block grows back into
	 * bytes before it that would otherwise be inserted. */
	uint8_t t2[100];
	memcpy(t2, src + 3000, 100); /* 3000 is not a multiple of 16 */
	out.len = 0;
	delta_lits lits = { 0 };
	assert_int_equal(delta_encode(ix, src, sizeof src, t2, sizeof t2, SIZE_MAX, &out, &lits), 0);
	assert_int_equal(parse_ops(out.p, out.len, &ops, &clen), 1);
	assert_int_equal(ops[0].off, 3000);
	assert_int_equal(ops[0].len, 100);
	assert_int_equal(lits.n, 0);
	free(ops);

	/* A run is entered once, at its start; but the same run again after a
	 * gap in the indexed ranges is a new occurrence, and the more recent. */
	memset(src, 0, 64);
	memset(src + 4096, 0, 64);
	delta_index_reset(ix);
	assert_int_equal(delta_index_add(ix, src, 0, 64), 0);
	assert_int_equal(delta_index_add(ix, src, 4096, 4160), 0);
	uint8_t zeros[64] = { 0 };
	out.len = 0;
	assert_int_equal(delta_encode(ix, src, sizeof src, zeros, sizeof zeros, SIZE_MAX, &out, NULL), 0);
	assert_int_equal(parse_ops(out.p, out.len, &ops, &clen), 1);
	assert_true(ops[0].copy);
	assert_int_equal(ops[0].off, 4096);
	free(ops);

	delta_lits_free(&lits);
	buf_free(&out);
	delta_index_free(ix);
}

/* ------------------------------------------------------------ corruption */

static void expect_corrupt(const uint8_t *src, size_t srclen, const uint8_t *d, size_t dlen, size_t dstlen)
{
	uint8_t *dst = tu_alloc(dstlen);
	assert_int_equal(delta_apply(src, srclen, d, dlen, dst, dstlen), STRATA_ECORRUPT);
	assert_non_null(strstr(strata_errmsg(), "delta"));
	free(dst);
}

/* Encode tgt against src with ix after delta_index_reset_for(src): the
 * encoding (copied into *out). */
static void encode_after_reset_for(delta_index *ix, const uint8_t *src, size_t srclen, const uint8_t *tgt,
				   size_t tgtlen, bytebuf *out)
{
	assert_int_equal(delta_index_reset_for(ix, srclen), 0);
	assert_int_equal(delta_index_add(ix, src, 0, srclen), 0);
	out->len = 0;
	assert_int_equal(delta_encode(ix, src, srclen, tgt, tgtlen, SIZE_MAX, out, NULL), 0);
}

/* delta_index_reset_for: what an index finds depends on the source alone,
 * not on what it indexed before, so that two workers code a record alike.
 * A small source after a large one, and a large one after a small one (the
 * table grows), give the encodings a new index gives. */
static void test_reset_for(void **state)
{
	(void)state;
	size_t big = 8 << 20, small = 3 << 20;
	uint8_t *bsrc = tu_alloc(big), *ssrc = tu_alloc(small);
	tu_fill_text(bsrc, big, 31);
	tu_fill_text(ssrc, small, 32);
	size_t btlen, stlen;
	uint8_t *btgt = edited(bsrc, big, &btlen, 33), *stgt = edited(ssrc, small, &stlen, 34);
	bytebuf fresh_s = { 0 }, fresh_b = { 0 }, out = { 0 };
	delta_index *f, *ix;
	assert_int_equal(delta_index_new(&f, 64 << 20), 0);
	encode_after_reset_for(f, ssrc, small, stgt, stlen, &fresh_s);
	delta_index_free(f);
	assert_int_equal(delta_index_new(&f, 64 << 20), 0);
	encode_after_reset_for(f, bsrc, big, btgt, btlen, &fresh_b);
	delta_index_free(f);
	assert_true(fresh_s.len < stlen / 4 && fresh_b.len < btlen / 4); /* the sources were found */

	assert_int_equal(delta_index_new(&ix, 64 << 20), 0);
	encode_after_reset_for(ix, bsrc, big, btgt, btlen, &out);
	assert_int_equal(out.len, fresh_b.len);
	assert_memory_equal(out.p, fresh_b.p, out.len);
	encode_after_reset_for(ix, ssrc, small, stgt, stlen, &out); /* after the large one */
	assert_int_equal(out.len, fresh_s.len);
	assert_memory_equal(out.p, fresh_s.p, out.len);
	encode_after_reset_for(ix, bsrc, big, btgt, btlen, &out); /* and the large one again */
	assert_int_equal(out.len, fresh_b.len);
	assert_memory_equal(out.p, fresh_b.p, out.len);
	delta_index_free(ix);
	buf_free(&fresh_s);
	buf_free(&fresh_b);
	buf_free(&out);
	free(bsrc);
	free(ssrc);
	free(btgt);
	free(stgt);
}

static void test_corrupt(void **state)
{
	(void)state;
	uint8_t src[256], longer[257];
	tu_fill_random(src, sizeof src, 41);
	memcpy(longer, src, sizeof src);
	longer[256] = 0;
	uint8_t dst[64];

	/* A valid delta: 40 bytes = insert 8 "abcdefgh" + copy 32 from 100. */
	const uint8_t good[] = { 40, 16, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 65, 100 };
	assert_int_equal(delta_apply(src, sizeof src, good, sizeof good, dst, 40), 0);
	assert_memory_equal(dst, "abcdefgh", 8);
	assert_memory_equal(dst + 8, src + 100, 32);
	uint64_t tl;
	assert_int_equal(delta_target_length(good, sizeof good, &tl), 0);
	assert_int_equal(tl, 40);

	/* Every truncation. */
	for (size_t k = 0; k < sizeof good; k++)
		expect_corrupt(src, sizeof src, good, k, 40);
	/* dstlen other than the declared length. */
	expect_corrupt(src, sizeof src, good, sizeof good, 39);
	expect_corrupt(src, sizeof src, good, sizeof good, 41);
	/* Trailing garbage: one byte, or a whole extra instruction. */
	uint8_t tr[sizeof good + 3];
	memcpy(tr, good, sizeof good);
	tr[sizeof good] = 0x00;
	expect_corrupt(src, sizeof src, tr, sizeof good + 1, 40);
	tr[sizeof good] = 2;
	tr[sizeof good + 1] = 'x';
	expect_corrupt(src, sizeof src, tr, sizeof good + 2, 40);
	/* Copy past the end of the source, or starting beyond it. */
	const uint8_t past[] = { 40, 16, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 65, 0xE1, 0x01 }; /* off 225+32 > 256 */
	expect_corrupt(src, sizeof src, past, sizeof past, 40);
	assert_int_equal(delta_apply(longer, sizeof longer, past, sizeof past, dst, 40), 0); /* fits a longer source */
	assert_memory_equal(dst + 8, longer + 225, 32);
	const uint8_t far[] = { 16, 33, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	expect_corrupt(src, sizeof src, far, sizeof far, 16);
	expect_corrupt(NULL, 0, good + 10, 0, 0); /* empty delta: no header */
	/* Overlong lengths: the header, an insert, a copy. */
	const uint8_t hdr_long[] = { 41, 16, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 65, 100 };
	expect_corrupt(src, sizeof src, hdr_long, sizeof hdr_long, 41);
	const uint8_t ins_long[] = { 4, 10, 'a', 'b', 'c', 'd', 'e' };
	expect_corrupt(src, sizeof src, ins_long, sizeof ins_long, 4);
	const uint8_t ins_trunc[] = { 8, 16, 'a', 'b', 'c' };
	expect_corrupt(src, sizeof src, ins_trunc, sizeof ins_trunc, 8);
	const uint8_t copy_long[] = { 8, 33, 0 };
	expect_corrupt(src, sizeof src, copy_long, sizeof copy_long, 8);
	/* A huge length that would wrap a size computation. */
	const uint8_t huge[] = { 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0 };
	expect_corrupt(src, sizeof src, huge, sizeof huge, 8);
	/* Zero-length instructions. */
	const uint8_t zins[] = { 4, 0, 8, 'a', 'b', 'c', 'd' };
	expect_corrupt(src, sizeof src, zins, sizeof zins, 4);
	const uint8_t zcopy[] = { 4, 1, 0, 8, 'a', 'b', 'c', 'd' };
	expect_corrupt(src, sizeof src, zcopy, sizeof zcopy, 4);
	/* Bad varints: eleven bytes, 64-bit overflow, in each position. */
	uint8_t bad[32];
	size_t k = 0;
	memset(bad, 0x80, 10);
	bad[10] = 0;
	expect_corrupt(src, sizeof src, bad, 11, 0); /* header */
	assert_int_equal(delta_target_length(bad, 11, &tl), STRATA_ECORRUPT);
	bad[k++] = 4;
	memset(bad + k, 0x80, 10);
	k += 10;
	bad[k++] = 0;
	expect_corrupt(src, sizeof src, bad, k, 4); /* instruction */
	const uint8_t badoff[] = { 4, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	expect_corrupt(src, sizeof src, badoff, sizeof badoff, 4); /* copy offset overflows */
	/* The header alone for a non-empty content. */
	const uint8_t only_hdr[] = { 5 };
	expect_corrupt(src, sizeof src, only_hdr, 1, 5);

	/* Every single-byte change of a real delta either fails cleanly or
	 * yields exactly dstlen bytes (checked by the sanitizers). */
	size_t n = 4096;
	uint8_t *a = tu_alloc(n), *b = tu_alloc(n), *o = tu_alloc(n);
	tu_fill_text(a, n, 1);
	memcpy(b, a, n);
	memcpy(b + 2000, "changed", 7);
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1 << 20), 0);
	assert_int_equal(delta_index_add(ix, a, 0, n), 0);
	bytebuf out = { 0 };
	assert_int_equal(delta_encode(ix, a, n, b, n, SIZE_MAX, &out, NULL), 0);
	int failed = 0;
	for (size_t i = 0; i < out.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			out.p[i] ^= (uint8_t)(1 << bit);
			int rc = delta_apply(a, n, out.p, out.len, o, n);
			assert_true(rc == 0 || rc == STRATA_ECORRUPT);
			failed += rc != 0;
			out.p[i] ^= (uint8_t)(1 << bit);
		}
	}
	assert_true(failed > 0);
	buf_free(&out);
	delta_index_free(ix);
	free(a);
	free(b);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_edges),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_roundtrip_edited_text),
		cmocka_unit_test(test_roundtrip_binary),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_unrelated),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_lits),
		cmocka_unit_test(test_growing_source),
		cmocka_unit_test(test_aliased_output),
		cmocka_unit_test(test_max_bytes),
		cmocka_unit_test(test_prefers_recent),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_reset_for),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
