/* test_group.c - group_encode / group_read (src/group.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "group.h"
#include "strata.h"
#include "testutil.h"

#include <xxhash.h>
#include <zstd.h>

/* ---- an in-memory sink and positioned reader */

typedef struct memsink {
	uint8_t *p;
	size_t len, cap;
	int calls;
	int fail_at; /* fail the fail_at-th call (1-based); 0 = never */
} memsink;

static int mem_sink(void *ctx, const void *p, size_t n)
{
	memsink *m = ctx;
	m->calls++;
	if (m->fail_at && m->calls == m->fail_at)
		return STRATA_ENOSPC;
	if (m->len + n > m->cap) {
		size_t nc = m->cap ? m->cap : 4096;
		while (nc < m->len + n)
			nc *= 2;
		uint8_t *np = realloc(m->p, nc);
		assert_non_null(np);
		m->p = np;
		m->cap = nc;
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

typedef struct memsrc {
	const uint8_t *p;
	size_t len;
	int fail;        /* return STRATA_EIO from every read */
	int out_of_range;/* set when a read went past len */
} memsrc;

static int mem_pread(void *ctx, void *dst, size_t n, uint64_t off)
{
	memsrc *s = ctx;
	if (s->fail)
		return STRATA_EIO;
	if (off > s->len || n > s->len - off) {
		s->out_of_range = 1;
		return STRATA_EIO;
	}
	memcpy(dst, s->p + off, n);
	return 0;
}

/* A body made of pieces of different kinds and sizes. */
#define NPIECES 7
typedef struct body {
	uint8_t *buf[NPIECES];
	group_piece pc[NPIECES];
	uint8_t *all;  /* concatenation */
	size_t blen;
} body;

static void body_make(body *b, uint64_t seed)
{
	static const size_t sizes[NPIECES] = { 100, 0, 70000, 1, 300000, 0, 5000 };
	b->blen = 0;
	for (int i = 0; i < NPIECES; i++) {
		b->buf[i] = tu_alloc(sizes[i]);
		if (i % 2)
			tu_fill_random(b->buf[i], sizes[i], seed + (uint64_t)i);
		else
			tu_fill_text(b->buf[i], sizes[i], seed + (uint64_t)i);
		b->pc[i] = (group_piece){ b->buf[i], sizes[i] };
		b->blen += sizes[i];
	}
	b->all = tu_alloc(b->blen);
	size_t off = 0;
	for (int i = 0; i < NPIECES; i++) {
		memcpy(b->all + off, b->buf[i], sizes[i]);
		off += sizes[i];
	}
}

static void body_free(body *b)
{
	for (int i = 0; i < NPIECES; i++)
		free(b->buf[i]);
	free(b->all);
}

static void check_roundtrip(int codec)
{
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	body b;
	body_make(&b, 42);
	memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, codec, 3, b.pc, NPIECES, mem_sink, &ms, &go), 0);

	assert_int_equal(go.blen, b.blen);
	assert_int_equal(go.clen, ms.len);
	assert_int_equal(go.sum, XXH3_64bits(ms.p, ms.len));
	if (codec == CODEC_NONE) {
		assert_int_equal(go.clen, go.blen);
		assert_memory_equal(ms.p, b.all, b.blen);
	} else {
		/* One zstd frame with the content size recorded (FORMAT.md) that any
		 * zstd decoder turns back into the body. */
		assert_true(go.clen < go.blen);
		assert_int_equal(ZSTD_getFrameContentSize(ms.p, ms.len), b.blen);
		assert_int_equal(ZSTD_findFrameCompressedSize(ms.p, ms.len), ms.len);
		uint8_t *plain = tu_alloc(b.blen);
		size_t r = ZSTD_decompress(plain, b.blen, ms.p, ms.len);
		assert_false(ZSTD_isError(r));
		assert_int_equal(r, b.blen);
		assert_memory_equal(plain, b.all, b.blen);
		free(plain);
	}

	memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc loc = { codec, go.clen, go.blen };
	/* Every piece, in an order that is not the body's. */
	static const int order[NPIECES] = { 4, 0, 6, 2, 1, 5, 3 };
	for (int k = 0; k < NPIECES; k++) {
		int i = order[k];
		size_t off = 0;
		for (int j = 0; j < i; j++)
			off += b.pc[j].len;
		uint8_t *dst = tu_alloc(b.pc[i].len);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, off, dst, b.pc[i].len), 0);
		assert_memory_equal(dst, b.buf[i], b.pc[i].len);
		free(dst);
	}
	/* Arbitrary ranges that straddle pieces, and the whole body. */
	const size_t ranges[][2] = { { 50, 200 }, { 69990, 300020 }, { 0, b.blen }, { b.blen - 1, 1 }, { b.blen, 0 } };
	for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
		uint8_t *dst = tu_alloc(ranges[k][1]);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, ranges[k][0], dst, ranges[k][1]), 0);
		assert_memory_equal(dst, b.all + ranges[k][0], ranges[k][1]);
		free(dst);
	}
	assert_int_equal(src.out_of_range, 0);
	free(ms.p);
	body_free(&b);
	group_coder_free(c);
}

static void test_roundtrip_zstd(void **state)
{
	(void)state;
	check_roundtrip(CODEC_ZSTD);
}

static void test_roundtrip_none(void **state)
{
	(void)state;
	check_roundtrip(CODEC_NONE);
}

/* An empty body (no pieces, or only empty ones) encodes and reads back. */
static void test_empty_body(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	for (int codec = CODEC_NONE; codec <= CODEC_ZSTD; codec++) {
		group_piece empty = { "", 0 };
		memsink ms = { 0 };
		group_out go;
		assert_int_equal(group_encode(c, codec, 3, &empty, 1, mem_sink, &ms, &go), 0);
		assert_int_equal(go.blen, 0);
		assert_int_equal(go.clen, ms.len);
		memsrc src = { ms.p, ms.len, 0, 0 };
		group_loc loc = { codec, go.clen, go.blen };
		uint8_t dst[1];
		assert_int_equal(group_read(c, &loc, mem_pread, &src, 0, dst, 0), 0);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, 0, dst, 1), STRATA_ECORRUPT);
		free(ms.p);
	}
	group_coder_free(c);
}

/* A large group whose first record is small: reading that record fetches and
 * decodes only a prefix of the group; reading the last record needs it all. */
static void test_prefix_read(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	const size_t first = 1000, bulk = 4u << 20, last = 2000;
	uint8_t *a = tu_alloc(first), *m = tu_alloc(bulk), *z = tu_alloc(last);
	tu_fill_text(a, first, 1);
	tu_fill_random(m, bulk, 2); /* incompressible: clen ~ 4 MiB */
	tu_fill_text(z, last, 3);
	group_piece pc[3] = { { a, first }, { m, bulk }, { z, last } };
	memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, pc, 3, mem_sink, &ms, &go), 0);
	assert_true(go.clen > bulk);
	memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc loc = { CODEC_ZSTD, go.clen, go.blen };

	group_read_cost c0, c1, c2;
	group_coder_cost(c, &c0);
	uint8_t *dst = tu_alloc(last > first ? last : first);
	assert_int_equal(group_read(c, &loc, mem_pread, &src, 0, dst, first), 0);
	assert_memory_equal(dst, a, first);
	group_coder_cost(c, &c1);
	uint64_t read1 = c1.bytes_read - c0.bytes_read, dec1 = c1.bytes_decoded - c0.bytes_decoded;
	assert_int_equal(c1.groups - c0.groups, 1);
	assert_true(read1 > 0);
	assert_true(read1 < go.clen / 8);
	assert_true(dec1 >= first);
	assert_true(dec1 < go.blen / 8);

	assert_int_equal(group_read(c, &loc, mem_pread, &src, first + bulk, dst, last), 0);
	assert_memory_equal(dst, z, last);
	group_coder_cost(c, &c2);
	assert_true(c2.bytes_read - c1.bytes_read <= go.clen);
	assert_true(c2.bytes_read - c1.bytes_read >= go.clen - 64);
	assert_true(c2.bytes_decoded - c1.bytes_decoded >= go.blen);

	free(dst);
	free(a);
	free(m);
	free(z);
	free(ms.p);
	group_coder_free(c);
}

/* A partial read leaves the decoder mid-frame; the next read (of another
 * group, or of the same one) must start clean. */
static void test_coder_reuse_after_partial_read(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	body b1, b2;
	body_make(&b1, 100);
	body_make(&b2, 200);
	memsink m1 = { 0 }, m2 = { 0 };
	group_out o1, o2;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 5, b1.pc, NPIECES, mem_sink, &m1, &o1), 0);
	assert_int_equal(group_encode(c, CODEC_ZSTD, 1, b2.pc, NPIECES, mem_sink, &m2, &o2), 0);
	memsrc s1 = { m1.p, m1.len, 0, 0 }, s2 = { m2.p, m2.len, 0, 0 };
	group_loc l1 = { CODEC_ZSTD, o1.clen, o1.blen }, l2 = { CODEC_ZSTD, o2.clen, o2.blen };
	uint8_t *dst = tu_alloc(b1.blen > b2.blen ? b1.blen : b2.blen);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(group_read(c, &l1, mem_pread, &s1, 10, dst, 20), 0);
		assert_memory_equal(dst, b1.all + 10, 20);
		assert_int_equal(group_read(c, &l2, mem_pread, &s2, 0, dst, b2.blen), 0);
		assert_memory_equal(dst, b2.all, b2.blen);
		assert_int_equal(group_read(c, &l1, mem_pread, &s1, 70100, dst, 1000), 0);
		assert_memory_equal(dst, b1.all + 70100, 1000);
	}
	free(dst);
	free(m1.p);
	free(m2.p);
	body_free(&b1);
	body_free(&b2);
	group_coder_free(c);
}

/* Damaged compressed bytes never come back as a successful read of wrong
 * data, and plainly malformed streams are STRATA_ECORRUPT. */
static void test_corrupt_zstd(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	body b;
	body_make(&b, 7);
	memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, b.pc, NPIECES, mem_sink, &ms, &go), 0);
	group_loc loc = { CODEC_ZSTD, go.clen, go.blen };
	uint8_t *dst = tu_alloc(b.blen);
	uint8_t *bad = tu_alloc(ms.len);

	/* Frame magic: nothing decodes. */
	for (size_t off = 0; off < 4; off++) {
		memcpy(bad, ms.p, ms.len);
		bad[off] ^= 0x5a;
		memsrc src = { bad, ms.len, 0, 0 };
		assert_int_equal(group_read(c, &loc, mem_pread, &src, 0, dst, 10), STRATA_ECORRUPT);
		assert_true(strlen(strata_errmsg()) > 0);
	}
	/* Bytes all over the frame, reading the whole body: an error, and it is
	 * STRATA_ECORRUPT; never success with different bytes. */
	int detected = 0;
	for (size_t k = 0; k < 64; k++) {
		size_t off = 4 + (ms.len - 5) * k / 63;
		memcpy(bad, ms.p, ms.len);
		bad[off] ^= 0x01;
		memsrc src = { bad, ms.len, 0, 0 };
		int rc = group_read(c, &loc, mem_pread, &src, 0, dst, b.blen);
		if (rc == 0) {
			assert_memory_equal(dst, b.all, b.blen);
		} else {
			assert_int_equal(rc, STRATA_ECORRUPT);
			detected++;
		}
	}
	assert_true(detected >= 60);
	/* Garbage of the right length. */
	tu_fill_random(bad, ms.len, 99);
	memsrc src = { bad, ms.len, 0, 0 };
	assert_int_equal(group_read(c, &loc, mem_pread, &src, 0, dst, b.blen), STRATA_ECORRUPT);

	free(bad);
	free(dst);
	free(ms.p);
	body_free(&b);
	group_coder_free(c);
}

/* A stream cut short, or a body shorter than the footer says. */
static void test_truncated_zstd(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	body b;
	body_make(&b, 8);
	memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, b.pc, NPIECES, mem_sink, &ms, &go), 0);
	uint8_t *dst = tu_alloc(b.blen);
	/* Compressed bytes cut short, losing body-bearing bytes. */
	const uint64_t cuts[] = { 1, 10, go.clen / 2, go.clen - 200 };
	for (size_t k = 0; k < 4; k++) {
		memsrc src = { ms.p, (size_t)cuts[k], 0, 0 };
		group_loc loc = { CODEC_ZSTD, cuts[k], go.blen };
		assert_int_equal(group_read(c, &loc, mem_pread, &src, 0, dst, b.blen), STRATA_ECORRUPT);
		assert_int_equal(src.out_of_range, 0);
	}
	/* Losing only the 4-byte frame checksum: the body is complete, so the
	 * read may succeed (group_read stops once it has the range), but then
	 * with the right bytes. */
	for (uint64_t cut = go.clen - 4; cut < go.clen; cut++) {
		memsrc src = { ms.p, (size_t)cut, 0, 0 };
		group_loc loc = { CODEC_ZSTD, cut, go.blen };
		memset(dst, 0, b.blen);
		int rc = group_read(c, &loc, mem_pread, &src, 0, dst, b.blen);
		if (rc == 0)
			assert_memory_equal(dst, b.all, b.blen);
		else
			assert_int_equal(rc, STRATA_ECORRUPT);
		assert_int_equal(src.out_of_range, 0);
	}
	/* A footer that claims a longer body than the frame holds. */
	memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc big = { CODEC_ZSTD, go.clen, go.blen + 100 };
	uint8_t *dst2 = tu_alloc(b.blen + 100);
	assert_int_equal(group_read(c, &big, mem_pread, &src, 0, dst2, b.blen + 100), STRATA_ECORRUPT);
	assert_int_equal(group_read(c, &big, mem_pread, &src, b.blen + 50, dst2, 10), STRATA_ECORRUPT);
	free(dst2);
	free(dst);
	free(ms.p);
	body_free(&b);
	group_coder_free(c);
}

/* A range outside the body is STRATA_ECORRUPT, whatever the codec, and the
 * reader is not called outside the compressed bytes. */
static void test_range_outside_body(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	body b;
	body_make(&b, 9);
	for (int codec = CODEC_NONE; codec <= CODEC_ZSTD; codec++) {
		memsink ms = { 0 };
		group_out go;
		assert_int_equal(group_encode(c, codec, 3, b.pc, NPIECES, mem_sink, &ms, &go), 0);
		memsrc src = { ms.p, ms.len, 0, 0 };
		group_loc loc = { codec, go.clen, go.blen };
		uint8_t dst[64];
		assert_int_equal(group_read(c, &loc, mem_pread, &src, go.blen, dst, 1), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, go.blen - 10, dst, 11), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, go.blen + 1, dst, 0), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, UINT64_MAX - 2, dst, 8), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, mem_pread, &src, 5, dst, SIZE_MAX - 2), STRATA_ECORRUPT);
		assert_true(strlen(strata_errmsg()) > 0);
		/* The last byte is inside. */
		assert_int_equal(group_read(c, &loc, mem_pread, &src, go.blen - 1, dst, 1), 0);
		assert_int_equal(dst[0], b.all[b.blen - 1]);
		assert_int_equal(src.out_of_range, 0);
		free(ms.p);
	}
	body_free(&b);
	group_coder_free(c);
}

/* Codec "none" whose lengths disagree, unknown codecs, failing I/O. */
static void test_bad_codec_and_io(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	uint8_t data[100];
	tu_fill_random(data, sizeof data, 5);
	group_piece pc = { data, sizeof data };
	memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, 7, 3, &pc, 1, mem_sink, &ms, &go), STRATA_EINVAL);
	assert_int_equal(group_encode(c, CODEC_NONE, 0, &pc, 1, mem_sink, &ms, &go), 0);
	uint8_t dst[100];
	memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc l = { CODEC_NONE, go.clen - 1, go.blen };
	assert_int_equal(group_read(c, &l, mem_pread, &src, 0, dst, 10), STRATA_ECORRUPT);
	l = (group_loc){ 9, go.clen, go.blen };
	assert_int_equal(group_read(c, &l, mem_pread, &src, 0, dst, 10), STRATA_EFORMAT);
	/* Reader errors pass through unchanged. */
	memsrc failing = { ms.p, ms.len, 1, 0 };
	l = (group_loc){ CODEC_NONE, go.clen, go.blen };
	assert_int_equal(group_read(c, &l, mem_pread, &failing, 0, dst, 10), STRATA_EIO);
	free(ms.p);

	ms = (memsink){ 0 };
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, &pc, 1, mem_sink, &ms, &go), 0);
	failing = (memsrc){ ms.p, ms.len, 1, 0 };
	l = (group_loc){ CODEC_ZSTD, go.clen, go.blen };
	assert_int_equal(group_read(c, &l, mem_pread, &failing, 0, dst, 10), STRATA_EIO);
	free(ms.p);

	/* Sink errors pass through unchanged, for both codecs. */
	for (int codec = CODEC_NONE; codec <= CODEC_ZSTD; codec++) {
		ms = (memsink){ 0 };
		ms.fail_at = 1;
		assert_int_equal(group_encode(c, codec, 3, &pc, 1, mem_sink, &ms, &go), STRATA_ENOSPC);
		free(ms.p);
	}
	group_coder_free(c);
}

/* The compression level is honoured: a higher level does not compress
 * worse on text, and the output differs from level 1. */
static void test_levels(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	size_t n = 1u << 20;
	uint8_t *t = tu_alloc(n);
	tu_fill_text(t, n, 11);
	group_piece pc = { t, n };
	memsink m1 = { 0 }, m19 = { 0 };
	group_out o1, o19;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 1, &pc, 1, mem_sink, &m1, &o1), 0);
	assert_int_equal(group_encode(c, CODEC_ZSTD, 19, &pc, 1, mem_sink, &m19, &o19), 0);
	assert_true(o19.clen < o1.clen);
	assert_true(o1.sum != o19.sum);
	free(m1.p);
	free(m19.p);
	free(t);
	group_coder_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_zstd),
		cmocka_unit_test(test_roundtrip_none),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_prefix_read),
		cmocka_unit_test(test_coder_reuse_after_partial_read),
		cmocka_unit_test(test_corrupt_zstd),
		cmocka_unit_test(test_truncated_zstd),
		cmocka_unit_test(test_range_outside_body),
		cmocka_unit_test(test_bad_codec_and_io),
		cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
