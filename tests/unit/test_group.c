/* test_group.c - group_encode, the incremental encoder, compressed prefixes
 * and group_read (src/group.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "group.h"
#include "strata.h"
#include "testutil.h"

#include <xxhash.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

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
	tu_memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, codec, 3, b.pc, NPIECES, tu_mem_sink, &ms, &go, NULL), 0);

	assert_int_equal(go.blen, b.blen);
	assert_int_equal(go.clen, ms.len);
	assert_int_equal(go.sum, XXH3_64bits(ms.p, ms.len));
	if (codec == CODEC_NONE) {
		assert_int_equal(go.clen, go.blen);
		assert_memory_equal(ms.p, b.all, b.blen);
	} else {
		/* One zstd frame with the frame checksum flag set (FORMAT.md) that
		 * any zstd decoder turns back into the body. The content size need
		 * not be recorded (the frame is streamed), but if it is, it is
		 * right. */
		assert_true(go.clen < go.blen);
		unsigned long long fcs = ZSTD_getFrameContentSize(ms.p, ms.len);
		assert_true(fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == b.blen);
		/* Frame magic, then the frame header descriptor: bit 2 is the
		 * content checksum flag (RFC 8878, 3.1.1.1.1). */
		assert_true(ms.len > 5);
		assert_int_equal(ms.p[0] | ms.p[1] << 8 | ms.p[2] << 16 | (uint32_t)ms.p[3] << 24, ZSTD_MAGICNUMBER);
		assert_int_equal((ms.p[4] >> 2) & 1, 1);
		assert_int_equal(ZSTD_findFrameCompressedSize(ms.p, ms.len), ms.len);
		uint8_t *plain = tu_alloc(b.blen);
		size_t r = ZSTD_decompress(plain, b.blen, ms.p, ms.len);
		assert_false(ZSTD_isError(r));
		assert_int_equal(r, b.blen);
		assert_memory_equal(plain, b.all, b.blen);
		free(plain);
	}

	tu_memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc loc = { codec, go.clen, go.blen };
	/* Every piece, in an order that is not the body's. */
	static const int order[NPIECES] = { 4, 0, 6, 2, 1, 5, 3 };
	for (int k = 0; k < NPIECES; k++) {
		int i = order[k];
		size_t off = 0;
		for (int j = 0; j < i; j++)
			off += b.pc[j].len;
		uint8_t *dst = tu_alloc(b.pc[i].len);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, off, dst, b.pc[i].len), 0);
		assert_memory_equal(dst, b.buf[i], b.pc[i].len);
		free(dst);
	}
	/* Arbitrary ranges that straddle pieces, and the whole body. */
	const size_t ranges[][2] = { { 50, 200 }, { 69990, 300020 }, { 0, b.blen }, { b.blen - 1, 1 }, { b.blen, 0 } };
	for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
		uint8_t *dst = tu_alloc(ranges[k][1]);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, ranges[k][0], dst, ranges[k][1]), 0);
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
		tu_memsink ms = { 0 };
		group_out go;
		assert_int_equal(group_encode(c, codec, 3, &empty, 1, tu_mem_sink, &ms, &go, NULL), 0);
		assert_int_equal(go.blen, 0);
		assert_int_equal(go.clen, ms.len);
		tu_memsrc src = { ms.p, ms.len, 0, 0 };
		group_loc loc = { codec, go.clen, go.blen };
		uint8_t dst[1];
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, 0), 0);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, 1), STRATA_ECORRUPT);
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
	tu_memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, pc, 3, tu_mem_sink, &ms, &go, NULL), 0);
	assert_true(go.clen > bulk);
	tu_memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc loc = { CODEC_ZSTD, go.clen, go.blen };

	group_read_cost c0, c1, c2;
	group_coder_cost(c, &c0);
	uint8_t *dst = tu_alloc(last > first ? last : first);
	assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, first), 0);
	assert_memory_equal(dst, a, first);
	group_coder_cost(c, &c1);
	uint64_t read1 = c1.bytes_read - c0.bytes_read, dec1 = c1.bytes_decoded - c0.bytes_decoded;
	assert_int_equal(c1.groups - c0.groups, 1);
	assert_true(read1 > 0);
	assert_true(read1 < go.clen / 8);
	assert_true(dec1 >= first);
	assert_true(dec1 < go.blen / 8);

	assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, first + bulk, dst, last), 0);
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
	tu_memsink m1 = { 0 }, m2 = { 0 };
	group_out o1, o2;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 5, b1.pc, NPIECES, tu_mem_sink, &m1, &o1, NULL), 0);
	assert_int_equal(group_encode(c, CODEC_ZSTD, 1, b2.pc, NPIECES, tu_mem_sink, &m2, &o2, NULL), 0);
	tu_memsrc s1 = { m1.p, m1.len, 0, 0 }, s2 = { m2.p, m2.len, 0, 0 };
	group_loc l1 = { CODEC_ZSTD, o1.clen, o1.blen }, l2 = { CODEC_ZSTD, o2.clen, o2.blen };
	uint8_t *dst = tu_alloc(b1.blen > b2.blen ? b1.blen : b2.blen);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(group_read(c, &l1, tu_mem_pread, &s1, 10, dst, 20), 0);
		assert_memory_equal(dst, b1.all + 10, 20);
		assert_int_equal(group_read(c, &l2, tu_mem_pread, &s2, 0, dst, b2.blen), 0);
		assert_memory_equal(dst, b2.all, b2.blen);
		assert_int_equal(group_read(c, &l1, tu_mem_pread, &s1, 70100, dst, 1000), 0);
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
	tu_memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, b.pc, NPIECES, tu_mem_sink, &ms, &go, NULL), 0);
	group_loc loc = { CODEC_ZSTD, go.clen, go.blen };
	uint8_t *dst = tu_alloc(b.blen);
	uint8_t *bad = tu_alloc(ms.len);

	/* Frame magic: nothing decodes. */
	for (size_t off = 0; off < 4; off++) {
		memcpy(bad, ms.p, ms.len);
		bad[off] ^= 0x5a;
		tu_memsrc src = { bad, ms.len, 0, 0 };
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, 10), STRATA_ECORRUPT);
		assert_true(strlen(strata_errmsg()) > 0);
	}
	/* Bytes all over the frame, reading the whole body: an error, and it is
	 * STRATA_ECORRUPT; never success with different bytes. */
	int detected = 0;
	for (size_t k = 0; k < 64; k++) {
		size_t off = 4 + (ms.len - 5) * k / 63;
		memcpy(bad, ms.p, ms.len);
		bad[off] ^= 0x01;
		tu_memsrc src = { bad, ms.len, 0, 0 };
		int rc = group_read(c, &loc, tu_mem_pread, &src, 0, dst, b.blen);
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
	tu_memsrc src = { bad, ms.len, 0, 0 };
	assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, b.blen), STRATA_ECORRUPT);

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
	tu_memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, b.pc, NPIECES, tu_mem_sink, &ms, &go, NULL), 0);
	uint8_t *dst = tu_alloc(b.blen);
	/* Compressed bytes cut short, losing body-bearing bytes. */
	const uint64_t cuts[] = { 1, 10, go.clen / 2, go.clen - 200 };
	for (size_t k = 0; k < 4; k++) {
		tu_memsrc src = { ms.p, (size_t)cuts[k], 0, 0 };
		group_loc loc = { CODEC_ZSTD, cuts[k], go.blen };
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, b.blen), STRATA_ECORRUPT);
		assert_int_equal(src.out_of_range, 0);
	}
	/* Losing only the 4-byte frame checksum: the body is complete, so the
	 * read may succeed (group_read stops once it has the range), but then
	 * with the right bytes. */
	for (uint64_t cut = go.clen - 4; cut < go.clen; cut++) {
		tu_memsrc src = { ms.p, (size_t)cut, 0, 0 };
		group_loc loc = { CODEC_ZSTD, cut, go.blen };
		memset(dst, 0, b.blen);
		int rc = group_read(c, &loc, tu_mem_pread, &src, 0, dst, b.blen);
		if (rc == 0)
			assert_memory_equal(dst, b.all, b.blen);
		else
			assert_int_equal(rc, STRATA_ECORRUPT);
		assert_int_equal(src.out_of_range, 0);
	}
	/* A footer that claims a longer body than the frame holds. */
	tu_memsrc src = { ms.p, ms.len, 0, 0 };
	group_loc big = { CODEC_ZSTD, go.clen, go.blen + 100 };
	uint8_t *dst2 = tu_alloc(b.blen + 100);
	assert_int_equal(group_read(c, &big, tu_mem_pread, &src, 0, dst2, b.blen + 100), STRATA_ECORRUPT);
	assert_int_equal(group_read(c, &big, tu_mem_pread, &src, b.blen + 50, dst2, 10), STRATA_ECORRUPT);
	/* One that claims a shorter body: a read of all of it finds more; a
	 * read of a prefix is fine. */
	group_loc small = { CODEC_ZSTD, go.clen, go.blen - 100 };
	assert_int_equal(group_read(c, &small, tu_mem_pread, &src, 0, dst2, b.blen - 100), STRATA_ECORRUPT);
	assert_int_equal(group_read(c, &small, tu_mem_pread, &src, 0, dst2, 1000), 0);
	assert_memory_equal(dst2, b.all, 1000);
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
		tu_memsink ms = { 0 };
		group_out go;
		assert_int_equal(group_encode(c, codec, 3, b.pc, NPIECES, tu_mem_sink, &ms, &go, NULL), 0);
		tu_memsrc src = { ms.p, ms.len, 0, 0 };
		group_loc loc = { codec, go.clen, go.blen };
		uint8_t dst[64];
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, go.blen, dst, 1), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, go.blen - 10, dst, 11), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, go.blen + 1, dst, 0), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, UINT64_MAX - 2, dst, 8), STRATA_ECORRUPT);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 5, dst, SIZE_MAX - 2), STRATA_ECORRUPT);
		assert_true(strlen(strata_errmsg()) > 0);
		/* The last byte is inside. */
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, go.blen - 1, dst, 1), 0);
		assert_int_equal(dst[0], b.all[b.blen - 1]);
		assert_int_equal(src.out_of_range, 0);
		free(ms.p);
	}
	body_free(&b);
	group_coder_free(c);
}

/* Codec "none" read past its readable bytes, unknown codecs, failing I/O. */
static void test_bad_codec_and_io(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	uint8_t data[100];
	tu_fill_random(data, sizeof data, 5);
	group_piece pc = { data, sizeof data };
	tu_memsink ms = { 0 };
	group_out go;
	assert_int_equal(group_encode(c, 7, 3, &pc, 1, tu_mem_sink, &ms, &go, NULL), STRATA_EINVAL);
	assert_int_equal(group_encode(c, CODEC_NONE, 0, &pc, 1, tu_mem_sink, &ms, &go, NULL), 0);
	uint8_t dst[100];
	tu_memsrc src = { ms.p, ms.len, 0, 0 };
	/* loc.clen is how many bytes may be read (a record's compressed
	 * prefix): for codec none a range must end within it. (A footer whose
	 * uncompressed group has clen != blen is refused by the pack reader.) */
	group_loc l = { CODEC_NONE, 9, go.blen };
	assert_int_equal(group_read(c, &l, tu_mem_pread, &src, 0, dst, 10), STRATA_ECORRUPT);
	l = (group_loc){ CODEC_NONE, go.clen - 1, go.blen };
	assert_int_equal(group_read(c, &l, tu_mem_pread, &src, 90, dst, 10), STRATA_ECORRUPT);
	assert_int_equal(group_read(c, &l, tu_mem_pread, &src, 0, dst, 10), 0);
	assert_memory_equal(dst, data, 10);
	l = (group_loc){ 9, go.clen, go.blen };
	assert_int_equal(group_read(c, &l, tu_mem_pread, &src, 0, dst, 10), STRATA_EFORMAT);
	/* Reader errors pass through unchanged. */
	tu_memsrc failing = { ms.p, ms.len, 1, 0 };
	l = (group_loc){ CODEC_NONE, go.clen, go.blen };
	assert_int_equal(group_read(c, &l, tu_mem_pread, &failing, 0, dst, 10), STRATA_EIO);
	free(ms.p);

	ms = (tu_memsink){ 0 };
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, &pc, 1, tu_mem_sink, &ms, &go, NULL), 0);
	failing = (tu_memsrc){ ms.p, ms.len, 1, 0 };
	l = (group_loc){ CODEC_ZSTD, go.clen, go.blen };
	assert_int_equal(group_read(c, &l, tu_mem_pread, &failing, 0, dst, 10), STRATA_EIO);
	free(ms.p);

	/* Sink errors pass through unchanged, for both codecs. */
	for (int codec = CODEC_NONE; codec <= CODEC_ZSTD; codec++) {
		ms = (tu_memsink){ 0 };
		ms.fail_at = 1;
		assert_int_equal(group_encode(c, codec, 3, &pc, 1, tu_mem_sink, &ms, &go, NULL), STRATA_ENOSPC);
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
	tu_memsink m1 = { 0 }, m19 = { 0 };
	group_out o1, o19;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 1, &pc, 1, tu_mem_sink, &m1, &o1, NULL), 0);
	assert_int_equal(group_encode(c, CODEC_ZSTD, 19, &pc, 1, tu_mem_sink, &m19, &o19, NULL), 0);
	assert_true(o19.clen < o1.clen);
	assert_true(o1.sum != o19.sum);
	free(m1.p);
	free(m19.p);
	free(t);
	group_coder_free(c);
}

/* ---- compressed prefixes (FORMAT.md, record entry "compressed prefix") */

/* Body bytes a plain zstd decoder gets out of the first `clen` compressed
 * bytes of a group. */
static size_t zstd_prefix_yield(const uint8_t *z, size_t clen, size_t blen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	assert_non_null(d);
	uint8_t *out = tu_alloc(blen + 1);
	ZSTD_inBuffer in = { z, clen, 0 };
	size_t produced = 0;
	for (;;) {
		ZSTD_outBuffer o = { out + produced, blen + 1 - produced, 0 };
		size_t r = ZSTD_decompressStream(d, &o, &in);
		assert_false(ZSTD_isError(r));
		produced += o.pos;
		if (o.pos == 0 && in.pos == in.size)
			break;
		if (r == 0)
			break;
	}
	free(out);
	ZSTD_freeDCtx(d);
	return produced;
}

/* Many pieces of mixed sizes and kinds. */
#define MANY_PIECES 300
typedef struct many {
	uint8_t *buf[MANY_PIECES];
	group_piece pc[MANY_PIECES];
	size_t end[MANY_PIECES]; /* body offset where piece i ends */
	size_t blen;
} many;

static void many_make(many *m, uint64_t seed)
{
	uint64_t s = seed;
	m->blen = 0;
	for (int i = 0; i < MANY_PIECES; i++) {
		uint64_t r = tu_rand(&s);
		size_t len = r % 16 == 0 ? 0 : r % 16 == 1 ? 20000 + r % 90000 : (size_t)(r >> 8) % 3000;
		m->buf[i] = tu_alloc(len);
		if (r & 0x100000)
			tu_fill_random(m->buf[i], len, r);
		else
			tu_fill_text(m->buf[i], len, r);
		m->pc[i] = (group_piece){ m->buf[i], len };
		m->blen += len;
		m->end[i] = m->blen;
	}
}

static void many_free(many *m)
{
	for (int i = 0; i < MANY_PIECES; i++)
		free(m->buf[i]);
}

/* Every piece decodes from its compressed prefix, which ends at most
 * GROUP_FLUSH_MIN body bytes past the piece; reading a piece through
 * group_read with only its prefix fetches no more than that prefix. */
static void check_cends(int codec)
{
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	many m;
	many_make(&m, 77 + (uint64_t)codec);
	tu_memsink ms = { 0 };
	group_out go;
	uint64_t *cends = calloc(MANY_PIECES, sizeof *cends);
	assert_non_null(cends);
	assert_int_equal(group_encode(c, codec, 3, m.pc, MANY_PIECES, tu_mem_sink, &ms, &go, cends), 0);
	assert_int_equal(go.blen, m.blen);
	assert_int_equal(go.clen, ms.len);
	tu_memsrc src = { ms.p, ms.len, 0, 0 };
	for (int i = 0; i < MANY_PIECES; i++) {
		size_t start = m.end[i] - m.pc[i].len;
		assert_true(cends[i] <= go.clen);
		if (i > 0)
			assert_true(cends[i] >= cends[i - 1]);
		if (codec == CODEC_NONE) {
			assert_int_equal(cends[i], m.end[i]);
		} else {
			size_t got = zstd_prefix_yield(ms.p, (size_t)cends[i], m.blen);
			if (got < m.end[i] || got - m.end[i] > GROUP_FLUSH_MIN)
				fail_msg("piece %d ends at body byte %zu; its prefix of %llu bytes decodes to %zu", i,
					 m.end[i], (unsigned long long)cends[i], got);
		}
		group_loc loc = { codec, cends[i], go.blen };
		uint8_t *dst = tu_alloc(m.pc[i].len);
		group_read_cost before, after;
		group_coder_cost(c, &before);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, start, dst, m.pc[i].len), 0);
		group_coder_cost(c, &after);
		assert_memory_equal(dst, m.buf[i], m.pc[i].len);
		assert_true(after.bytes_read - before.bytes_read <= cends[i]);
		free(dst);
	}
	/* A prefix that stops short of a piece does not give it: the first
	 * piece that needs bytes past the previous piece's prefix. */
	int tried = 0;
	for (int i = 1; i < MANY_PIECES && !tried; i++) {
		if (codec != CODEC_ZSTD || m.pc[i].len < 1000 || cends[i - 1] == cends[i] ||
		    zstd_prefix_yield(ms.p, (size_t)cends[i - 1], m.blen) >= m.end[i])
			continue;
		group_loc loc = { codec, cends[i - 1], go.blen };
		uint8_t *dst = tu_alloc(m.pc[i].len);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, m.end[i] - m.pc[i].len, dst, m.pc[i].len),
				 STRATA_ECORRUPT);
		free(dst);
		tried = 1;
	}
	assert_true(codec != CODEC_ZSTD || tried);
	assert_int_equal(src.out_of_range, 0);
	free(cends);
	free(ms.p);
	many_free(&m);
	group_coder_free(c);
}

static void test_cends_zstd(void **state)
{
	(void)state;
	check_cends(CODEC_ZSTD);
}

static void test_cends_none(void **state)
{
	(void)state;
	check_cends(CODEC_NONE);
}

/* group_enc_begin/prepare/add/end: the same bytes as group_encode;
 * group_enc_pos follows the sink; when a call says it flushed, everything
 * added so far decodes from what was emitted. */
static void test_incremental(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	many m;
	many_make(&m, 5);
	tu_memsink one = { 0 }, inc = { 0 };
	group_out go1, go2;
	assert_int_equal(group_encode(c, CODEC_ZSTD, 3, m.pc, MANY_PIECES, tu_mem_sink, &one, &go1, NULL), 0);

	assert_int_equal(group_enc_begin(c, CODEC_ZSTD, 3, tu_mem_sink, &inc), 0);
	uint64_t emitted = 99, pending = 99;
	group_enc_pos(c, &emitted, &pending);
	assert_int_equal(emitted, 0);
	assert_int_equal(pending, 0);
	int flushed = 7;
	/* Nothing added yet: nothing to flush. */
	assert_int_equal(group_enc_prepare(c, 1u << 20, &flushed), 0);
	assert_int_equal(flushed, 0);
	size_t since = 0; /* body bytes since the last flush */
	int flushes = 0;
	for (int i = 0; i < MANY_PIECES; i++) {
		assert_int_equal(group_enc_prepare(c, m.pc[i].len, &flushed), 0);
		group_enc_pos(c, &emitted, &pending);
		assert_int_equal(emitted, inc.len);
		if (flushed) {
			flushes++;
			assert_int_equal(pending, 0);
			assert_true(since + m.pc[i].len > GROUP_FLUSH_MIN);
			since = 0;
			if (i % 7 == 0) /* spot-check: the body so far decodes */
				assert_true(zstd_prefix_yield(inc.p, inc.len, m.blen) >= m.end[i] - m.pc[i].len);
		}
		assert_int_equal(group_enc_add(c, m.pc[i].p, m.pc[i].len, &flushed), 0);
		group_enc_pos(c, &emitted, &pending);
		assert_int_equal(emitted, inc.len);
		since += m.pc[i].len;
		if (flushed) {
			flushes++;
			assert_int_equal(pending, 0);
			assert_true(since >= GROUP_FLUSH_MIN);
			since = 0;
			if (i % 5 == 0)
				assert_true(zstd_prefix_yield(inc.p, inc.len, m.blen) >= m.end[i]);
		} else {
			assert_int_equal(pending, since);
		}
	}
	assert_int_equal(group_enc_end(c, &go2), 0);
	assert_true(flushes > 10);
	assert_int_equal(go2.clen, inc.len);
	assert_int_equal(go2.blen, m.blen);
	assert_int_equal(go2.sum, XXH3_64bits(inc.p, inc.len));
	/* group_encode is built on these calls: the same stream. */
	assert_int_equal(go1.clen, go2.clen);
	assert_int_equal(go1.sum, go2.sum);
	assert_memory_equal(one.p, inc.p, one.len);

	/* A sink error during add or end comes back unchanged. */
	tu_memsink bad = { 0 };
	bad.fail_at = 1;
	assert_int_equal(group_enc_begin(c, CODEC_NONE, 0, tu_mem_sink, &bad), 0);
	assert_int_equal(group_enc_add(c, "abc", 3, &flushed), STRATA_ENOSPC);
	/* The coder starts clean after a failed group. */
	tu_memsink again = { 0 };
	assert_int_equal(group_enc_begin(c, CODEC_ZSTD, 3, tu_mem_sink, &again), 0);
	assert_int_equal(group_enc_add(c, "abc", 3, &flushed), 0);
	assert_int_equal(group_enc_end(c, &go2), 0);
	assert_int_equal(go2.blen, 3);
	tu_memsrc src = { again.p, again.len, 0, 0 };
	group_loc loc = { CODEC_ZSTD, go2.clen, go2.blen };
	uint8_t dst[3];
	assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, dst, 3), 0);
	assert_memory_equal(dst, "abc", 3);
	assert_int_equal(group_enc_begin(c, 9, 3, tu_mem_sink, &again), STRATA_EINVAL);
	free(bad.p);
	free(again.p);
	free(one.p);
	free(inc.p);
	many_free(&m);
	group_coder_free(c);
}

/* Code `n` bytes of b at level 18 with the size hint `hint`; decode them
 * back; return the window the frame asks a decoder for. */
static unsigned long long hinted_window(group_coder *c, const uint8_t *b, size_t n, uint64_t hint)
{
	tu_memsink out = { 0 };
	group_out go;
	int flushed;
	assert_int_equal(group_enc_begin(c, CODEC_ZSTD, 18, tu_mem_sink, &out), 0);
	group_enc_size_hint(c, hint);
	for (size_t off = 0; off < n; off += 5000) /* pieces, as unitw adds records */
		assert_int_equal(group_enc_add(c, b + off, n - off < 5000 ? n - off : 5000, &flushed), 0);
	assert_int_equal(group_enc_end(c, &go), 0);
	assert_int_equal(go.blen, n);
	uint8_t *back = malloc(n);
	tu_memsrc src = { out.p, out.len, 0, 0 };
	group_loc loc = { CODEC_ZSTD, go.clen, go.blen };
	assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, back, n), 0);
	assert_memory_equal(back, b, n);
	ZSTD_frameHeader fh;
	assert_int_equal(ZSTD_getFrameHeader(&fh, out.p, out.len), 0);
	free(back);
	free(out.p);
	return fh.windowSize;
}

/* group_enc_size_hint: a small group's frame asks for a small window (zstd
 * sized its tables alike); without a hint, or after a group with one, the
 * level's own; a body larger than its hint still decodes. */
static void test_size_hint(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	size_t n = 3u << 20;
	uint8_t *b = malloc(n);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) { /* text-like: a few words at random */
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b[i] = (uint8_t)"abcdefgh \n"[x % 10];
	}
	unsigned long long plain = hinted_window(c, b, 20000, 0);
	assert_true(plain >= (1u << 22)); /* level 18's window, not the body's */
	unsigned long long small = hinted_window(c, b, 20000, 20000);
	assert_true(small < plain);
	assert_true(small >= 20000 && small <= 32768);
	assert_int_equal(hinted_window(c, b, 20000, 0), plain); /* the hint lasts one group */
	assert_true(hinted_window(c, b, n, 20000) <= 32768);  /* outgrown: still decodes */
	free(b);
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
		cmocka_unit_test(test_cends_zstd),
		cmocka_unit_test(test_cends_none),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_size_hint),
	};
	return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
