/* test_codecs.c - the group codecs (none, zstd, lz4, zlib, xz) behind
 * src/group.h, and per-key codecs and store profiles through the public API.
 *
 *   test_codecs                 every test
 *   test_codecs PATTERN         the tests whose names match PATTERN
 *   test_codecs measure FILE..  no test: for each codec and level, the
 *                               ratio of FILE's bytes in 4 MiB groups with
 *                               a block end every 4 KiB of body (as a store
 *                               writes them) and without, and the speeds
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "group.h"
#include "pack.h"
#include "strata.h"
#include "testutil.h"

#include <fnmatch.h>
#include <time.h>
#include <xxhash.h>

static const int ALL_CODECS[] = { CODEC_NONE, CODEC_ZSTD, CODEC_LZ4, CODEC_ZLIB, CODEC_XZ };
#define NCODECS 5

/* ---- bodies made of pieces */

enum { BODY_TEXT, BODY_BINARY, BODY_MIXED };

typedef struct body {
	uint8_t *all;       /* the body */
	size_t blen;
	group_piece *pc;    /* pieces into `all` */
	size_t *end;        /* body offset where piece i ends */
	size_t n;
} body;

/* n pieces of sizes drawn from `sizes` (cycled), of the given kind. */
static void body_make(body *b, int kind, const size_t *sizes, size_t nsizes, size_t n, uint64_t seed)
{
	b->n = n;
	b->blen = 0;
	for (size_t i = 0; i < n; i++)
		b->blen += sizes[i % nsizes];
	b->all = tu_alloc(b->blen);
	b->pc = calloc(n ? n : 1, sizeof *b->pc);
	b->end = calloc(n ? n : 1, sizeof *b->end);
	assert_true(b->pc && b->end);
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = sizes[i % nsizes];
		int text = kind == BODY_TEXT || (kind == BODY_MIXED && i % 3 != 1);
		if (text)
			tu_fill_text(b->all + pos, len, seed + i);
		else
			tu_fill_random(b->all + pos, len, seed + i);
		b->pc[i] = (group_piece){ b->all + pos, len };
		pos += len;
		b->end[i] = pos;
	}
}

static void body_free(body *b)
{
	free(b->all);
	free(b->pc);
	free(b->end);
}

/* Encode b with codec/level into ms (with each piece's compressed prefix). */
static void encode(group_coder *c, int codec, int level, const body *b, tu_memsink *ms, group_out *go, uint64_t *cends)
{
	*ms = (tu_memsink){ 0 };
	int rc = group_encode(c, codec, level, b->pc, b->n, tu_mem_sink, ms, go, cends);
	if (rc)
		fail_msg("group_encode(%s:%d): %d %s", group_codec_name(codec), level, rc, strata_errmsg());
	assert_int_equal(go->clen, ms->len);
	assert_int_equal(go->blen, b->blen);
	assert_true(go->sum == XXH3_64bits(ms->p, ms->len));
}

/* Every piece back from its own compressed prefix, the whole body from the
 * whole stream, never reading outside the prefix given. */
static void check_reads(group_coder *c, int codec, const body *b, const tu_memsink *ms, const group_out *go,
			const uint64_t *cends)
{
	tu_memsrc src = { ms->p, ms->len, 0, 0 };
	uint8_t *dst = tu_alloc(b->blen);
	group_loc whole = { codec, go->clen, go->blen };
	int rc = group_read(c, &whole, tu_mem_pread, &src, 0, dst, b->blen);
	if (rc)
		fail_msg("%s: whole body: %d %s", group_codec_name(codec), rc, strata_errmsg());
	if (b->blen)
		assert_memory_equal(dst, b->all, b->blen);
	for (size_t i = 0; i < b->n; i++) {
		size_t start = b->end[i] - b->pc[i].len;
		assert_true(cends[i] <= go->clen);
		assert_true(i == 0 || cends[i] >= cends[i - 1]);
		tu_memsrc psrc = { ms->p, (size_t)cends[i], 0, 0 };
		group_loc loc = { codec, cends[i], go->blen };
		group_read_cost before, after;
		group_coder_cost(c, &before);
		rc = group_read(c, &loc, tu_mem_pread, &psrc, start, dst, b->pc[i].len);
		if (rc)
			fail_msg("%s: piece %zu from its %llu-byte prefix: %d %s", group_codec_name(codec), i,
				 (unsigned long long)cends[i], rc, strata_errmsg());
		group_coder_cost(c, &after);
		assert_true(after.bytes_read - before.bytes_read <= cends[i]);
		if (b->pc[i].len)
			assert_memory_equal(dst, b->pc[i].p, b->pc[i].len);
		assert_int_equal(psrc.out_of_range, 0);
	}
	assert_int_equal(src.out_of_range, 0);
	free(dst);
}

static void levels_of(int codec, int lv[3])
{
	int lmin, lmax, dflt;
	assert_int_equal(group_codec_levels(codec, &lmin, &lmax, &dflt), 0);
	lv[0] = lmin;
	lv[1] = dflt;
	/* the top levels of zstd and xz are slow and prove nothing more here */
	lv[2] = codec == CODEC_ZSTD ? 19 : codec == CODEC_XZ ? 7 : lmax;
}

/* ------------------------------------------------------------ the codecs */

/* Names, ids and level ranges agree; unknown ids and names are refused. */
static void test_codec_table(void **state)
{
	(void)state;
	static const char *const names[] = { "none", "zstd", "lz4", "zlib", "xz" };
	for (int i = 0; i < NCODECS; i++) {
		assert_string_equal(group_codec_name(ALL_CODECS[i]), names[i]);
		assert_int_equal(group_codec_id(names[i], strlen(names[i])), ALL_CODECS[i]);
		int lmin, lmax, dflt;
		assert_int_equal(group_codec_levels(ALL_CODECS[i], &lmin, &lmax, &dflt), 0);
		assert_true(lmin <= dflt && dflt <= lmax);
		assert_true(group_codec_max_ratio(ALL_CODECS[i]) >= 1);
	}
	assert_int_equal(CODEC_MAX, 4);
	assert_null(group_codec_name(CODEC_MAX + 1));
	assert_null(group_codec_name(-1));
	assert_int_equal(group_codec_id("lz5", 3), -1);
	assert_int_equal(group_codec_id("zst", 3), -1);
	assert_int_equal(group_codec_id("zstd", 3), -1); /* "zst" */
	int a, b, d;
	assert_int_equal(group_codec_levels(CODEC_MAX + 1, &a, &b, &d), -1);
	assert_int_equal(group_codec_max_ratio(CODEC_MAX + 1), 0);
	/* Levels outside a codec's range are refused at begin; none takes any. */
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	tu_memsink ms = { 0 };
	const struct { int codec, level, rc; } cases[] = {
		{ CODEC_LZ4, 0, STRATA_EINVAL }, { CODEC_LZ4, 13, STRATA_EINVAL }, { CODEC_ZLIB, 0, STRATA_EINVAL },
		{ CODEC_ZLIB, 10, STRATA_EINVAL }, { CODEC_XZ, -1, STRATA_EINVAL }, { CODEC_XZ, 10, STRATA_EINVAL },
		{ CODEC_ZSTD, 23, STRATA_EINVAL }, { CODEC_NONE, 99, 0 }, { 5, 1, STRATA_EINVAL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(group_enc_begin(c, cases[i].codec, cases[i].level, tu_mem_sink, &ms), cases[i].rc);
		if (cases[i].rc)
			assert_true(strlen(strata_errmsg()) > 0);
	}
	group_coder_free(c);
}

/* Text, binary and mixed bodies of many pieces (some empty), and empty
 * bodies, round-trip through every codec at its lowest, usual and a high
 * level; every piece decodes from its own compressed prefix. */
static void test_roundtrip(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	static const size_t sizes[] = { 100, 0, 7000, 1, 300, 65536 + 17, 2000, 4096, 0, 150000 };
	for (int k = 0; k < NCODECS; k++) {
		int codec = ALL_CODECS[k], lv[3];
		levels_of(codec, lv);
		for (int l = 0; l < 3; l++) {
			for (int kind = BODY_TEXT; kind <= BODY_MIXED; kind++) {
				body b;
				body_make(&b, kind, sizes, 10, 10, (uint64_t)(100 * k + 10 * l + kind));
				tu_memsink ms;
				group_out go;
				uint64_t cends[10];
				encode(c, codec, lv[l], &b, &ms, &go, cends);
				if (kind == BODY_TEXT && codec != CODEC_NONE)
					assert_true(go.clen < b.blen / 2);
				check_reads(c, codec, &b, &ms, &go, cends);
				free(ms.p);
				body_free(&b);
			}
		}
		/* An empty body: no pieces, or one empty piece. */
		for (size_t npieces = 0; npieces < 2; npieces++) {
			body b;
			static const size_t zero[] = { 0 };
			body_make(&b, BODY_TEXT, zero, 1, npieces, 1);
			tu_memsink ms;
			group_out go;
			uint64_t cends[1] = { 0 };
			encode(c, codec, lv[1], &b, &ms, &go, cends);
			assert_int_equal(go.blen, 0);
			assert_true(codec == CODEC_NONE ? go.clen == 0 : go.clen > 0);
			check_reads(c, codec, &b, &ms, &go, cends);
			/* Nothing of the body to read, but the range check still holds. */
			tu_memsrc src = { ms.p, ms.len, 0, 0 };
			group_loc loc = { codec, go.clen, 0 };
			uint8_t one;
			assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, 0, &one, 1), STRATA_ECORRUPT);
			free(ms.p);
			body_free(&b);
		}
	}
	group_coder_free(c);
}

/* The incremental calls give the same stream as group_encode, and the
 * stream is the documented container: a zstd frame, an LZ4 frame, a gzip
 * member, an .xz stream (by their magic numbers). */
static void test_incremental_and_magic(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	static const size_t sizes[] = { 3000, 10, 5000, 0, 20000 };
	body b;
	body_make(&b, BODY_MIXED, sizes, 5, 5, 42);
	static const struct { int codec; const char *magic; size_t n; } m[] = {
		{ CODEC_ZSTD, "\x28\xb5\x2f\xfd", 4 },
		{ CODEC_LZ4, "\x04\x22\x4d\x18", 4 },
		{ CODEC_ZLIB, "\x1f\x8b\x08", 3 },
		{ CODEC_XZ, "\xfd" "7zXZ\0", 6 },
	};
	for (size_t k = 0; k < 4; k++) {
		int lmin, lmax, dflt;
		group_codec_levels(m[k].codec, &lmin, &lmax, &dflt);
		tu_memsink one, inc = { 0 };
		group_out go, go2;
		uint64_t cends[5];
		encode(c, m[k].codec, dflt, &b, &one, &go, cends);
		assert_memory_equal(one.p, m[k].magic, m[k].n);
		assert_int_equal(group_enc_begin(c, m[k].codec, dflt, tu_mem_sink, &inc), 0);
		assert_int_equal(inc.len, 0); /* begin emits nothing */
		for (size_t i = 0; i < b.n; i++) {
			int flushed;
			assert_int_equal(group_enc_prepare(c, b.pc[i].len, &flushed), 0);
			assert_int_equal(group_enc_add(c, b.pc[i].p, b.pc[i].len, &flushed), 0);
			uint64_t emitted, pending;
			group_enc_pos(c, &emitted, &pending);
			assert_int_equal(emitted, inc.len);
			if (flushed)
				assert_int_equal(pending, 0);
		}
		assert_int_equal(group_enc_end(c, &go2), 0);
		assert_int_equal(go2.clen, go.clen);
		assert_memory_equal(inc.p, one.p, one.len);
		free(one.p);
		free(inc.p);
	}
	body_free(&b);
	group_coder_free(c);
}

/* A record early in a large group decodes from a compressed prefix much
 * shorter than the group, and a read of it fetches only that prefix. */
static void test_prefix_read(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	static const size_t sizes[] = { 1500, 2600, 900, 5000 };
	body b;
	body_make(&b, BODY_TEXT, sizes, 4, 400, 7); /* about 1 MiB */
	for (int k = 1; k < NCODECS; k++) {
		int codec = ALL_CODECS[k], lmin, lmax, dflt;
		group_codec_levels(codec, &lmin, &lmax, &dflt);
		tu_memsink ms;
		group_out go;
		uint64_t *cends = calloc(b.n, sizeof *cends);
		assert_non_null(cends);
		encode(c, codec, dflt, &b, &ms, &go, cends);
		size_t i = 10;
		assert_true(cends[i] * 10 < go.clen);
		tu_memsrc src = { ms.p, ms.len, 0, 0 };
		group_loc loc = { codec, cends[i], go.blen };
		uint8_t *dst = tu_alloc(b.pc[i].len);
		group_read_cost before, after;
		group_coder_cost(c, &before);
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, b.end[i] - b.pc[i].len, dst, b.pc[i].len), 0);
		group_coder_cost(c, &after);
		assert_memory_equal(dst, b.pc[i].p, b.pc[i].len);
		assert_true(after.bytes_read - before.bytes_read <= cends[i]);
		assert_true(after.bytes_read - before.bytes_read < go.clen / 10);
		/* It decodes at most a block (GROUP_FLUSH_MIN, or the next piece)
		 * past the piece: far from the whole body. */
		assert_true(after.bytes_decoded - before.bytes_decoded <= b.end[i] + GROUP_FLUSH_MIN + 5000);
		/* The prefix of the piece before stops short of this one. */
		loc.clen = cends[i - 1];
		if (cends[i - 1] < cends[i])
			assert_int_equal(group_read(c, &loc, tu_mem_pread, &src, b.end[i] - b.pc[i].len, dst, b.pc[i].len),
					 STRATA_ECORRUPT);
		assert_int_equal(src.out_of_range, 0);
		free(dst);
		free(cends);
		free(ms.p);
	}
	body_free(&b);
	group_coder_free(c);
}

/* Damage is STRATA_ECORRUPT, never a crash and never wrong bytes: flipped
 * bytes all over the stream, cut streams, garbage, bytes appended, a body
 * length the stream does not hold. Reading the whole body checks the
 * stream's own checksum, so every flip of a body-bearing byte is found. */
static void test_corrupt(void **state)
{
	(void)state;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	static const size_t sizes[] = { 5000, 300, 9000, 20000, 1 };
	body b;
	body_make(&b, BODY_MIXED, sizes, 5, 5, 3);
	uint8_t *dst = tu_alloc(b.blen + 100);
	for (int k = 1; k < NCODECS; k++) {
		int codec = ALL_CODECS[k], lmin, lmax, dflt;
		group_codec_levels(codec, &lmin, &lmax, &dflt);
		tu_memsink ms;
		group_out go;
		uint64_t cends[5];
		encode(c, codec, dflt, &b, &ms, &go, cends);
		uint8_t *bad = tu_alloc(ms.len + 16);
		group_loc loc = { codec, go.clen, go.blen };
		int detected = 0, tries = 0;
		for (size_t off = 0; off < ms.len; off += 1 + ms.len / 97, tries++) {
			for (uint8_t mask = 0x01; mask; mask <<= 3) {
				memcpy(bad, ms.p, ms.len);
				bad[off] ^= mask;
				tu_memsrc src = { bad, ms.len, 0, 0 };
				int rc = group_read(c, &loc, tu_mem_pread, &src, 0, dst, b.blen);
				if (rc == 0) {
					assert_memory_equal(dst, b.all, b.blen);
				} else {
					if (rc != STRATA_ECORRUPT)
						fail_msg("%s: flip at %zu: %d %s", group_codec_name(codec), off, rc,
							 strata_errmsg());
					detected++;
				}
				assert_int_equal(src.out_of_range, 0);
				/* A record's prefix read never fails otherwise either. */
				tu_memsrc psrc = { bad, (size_t)cends[1], 0, 0 };
				group_loc ploc = { codec, cends[1], go.blen };
				rc = group_read(c, &ploc, tu_mem_pread, &psrc, b.end[0], dst, b.pc[1].len);
				assert_true(rc == 0 || rc == STRATA_ECORRUPT);
			}
		}
		/* Nearly all: a few header bytes go unchecked (gzip's time and
		 * OS bytes, a zstd window size that still fits). */
		if (detected < tries * 3 * 95 / 100)
			fail_msg("%s: only %d of %d flips detected", group_codec_name(codec), detected, tries * 3);
		/* Cut short: every cut that loses body-bearing bytes fails. */
		for (uint64_t cut = 0; cut < go.clen; cut += 1 + go.clen / 50) {
			tu_memsrc src = { ms.p, (size_t)cut, 0, 0 };
			group_loc cl = { codec, cut, go.blen };
			int rc = group_read(c, &cl, tu_mem_pread, &src, 0, dst, b.blen);
			if (rc == 0)
				assert_memory_equal(dst, b.all, b.blen);
			else
				assert_int_equal(rc, STRATA_ECORRUPT);
			assert_int_equal(src.out_of_range, 0);
		}
		tu_memsrc half = { ms.p, ms.len / 2, 0, 0 };
		group_loc hl = { codec, ms.len / 2, go.blen };
		assert_int_equal(group_read(c, &hl, tu_mem_pread, &half, 0, dst, b.blen), STRATA_ECORRUPT);
		/* Garbage of the right length. */
		tu_fill_random(bad, ms.len, 99);
		tu_memsrc g = { bad, ms.len, 0, 0 };
		assert_int_equal(group_read(c, &loc, tu_mem_pread, &g, 0, dst, b.blen), STRATA_ECORRUPT);
		/* Bytes after the stream's end. */
		memcpy(bad, ms.p, ms.len);
		memset(bad + ms.len, 0, 16);
		tu_memsrc tail = { bad, ms.len + 16, 0, 0 };
		group_loc tl = { codec, go.clen + 16, go.blen };
		assert_int_equal(group_read(c, &tl, tu_mem_pread, &tail, 0, dst, b.blen), STRATA_ECORRUPT);
		/* A body longer, or shorter, than the stream holds. */
		tu_memsrc src = { ms.p, ms.len, 0, 0 };
		group_loc big = { codec, go.clen, go.blen + 100 };
		assert_int_equal(group_read(c, &big, tu_mem_pread, &src, 0, dst, b.blen + 100), STRATA_ECORRUPT);
		group_loc small = { codec, go.clen, go.blen - 1 };
		assert_int_equal(group_read(c, &small, tu_mem_pread, &src, 0, dst, b.blen - 1), STRATA_ECORRUPT);
		assert_int_equal(src.out_of_range, 0);
		free(bad);
		free(ms.p);
	}
	free(dst);
	body_free(&b);
	group_coder_free(c);
}

/* ---------------------------------------------------- through the store */

typedef tu_fixture fixture;

static strata_store *open_store(const char *path, int flags, const strata_options *o)
{
	strata_store *s = NULL;
	int rc = strata_open(&s, path, flags, o);
	if (rc != 0)
		fail_msg("strata_open(%s, %d): %d %s", path, flags, rc, strata_errmsg());
	return s;
}

static void put_copy(strata_store *s, const void *key, size_t keylen, const void *data, size_t len)
{
	void *p = tu_alloc(len);
	if (len)
		memcpy(p, data, len);
	int rc = strata_put(s, key, keylen, p, len, strata_release_free, NULL, NULL);
	if (rc != 0)
		fail_msg("strata_put: %d %s", rc, strata_errmsg());
}

static void commit(strata_store *s)
{
	int rc = strata_commit(s, NULL, NULL);
	if (rc != 0)
		fail_msg("strata_commit: %d %s", rc, strata_errmsg());
}

/* What the test expects of a key, by the same rules it gave the store. */
typedef struct expect {
	const char *pattern;
	int codec, level;
} expect;

static void expected_codec(const expect *rules, size_t n, int dcodec, int dlevel, const uint8_t *key, size_t len,
			   int *codec, int *level)
{
	*codec = dcodec;
	*level = dlevel;
	if (memchr(key, 0, len))
		return;
	char k[512];
	assert_true(len < sizeof k);
	memcpy(k, key, len);
	k[len] = '\0';
	for (size_t i = 0; i < n; i++)
		if (fnmatch(rules[i].pattern, k, 0) == 0) {
			*codec = rules[i].codec;
			*level = rules[i].level;
			return;
		}
}

/* Every record of every pack of the store lies in a group of its key's
 * expected codec and level; returns how many records were seen, and counts
 * the groups of each codec in ngroups (may be NULL). */
static size_t check_packs(const char *store, const expect *rules, size_t nrules, int dcodec, int dlevel,
			  size_t ngroups[NCODECS])
{
	char *packs = tu_join(store, "packs");
	DIR *d = opendir(packs);
	assert_non_null(d);
	size_t seen = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 5, ".pack"))
			continue;
		char *path = tu_join(packs, e->d_name);
		pack_reader *r;
		int rc = pack_open(&r, path);
		if (rc)
			fail_msg("pack_open(%s): %d %s", path, rc, strata_errmsg());
		const pack_footer *f = &r->footer;
		for (size_t i = 0; i < f->nrecords; i++) {
			const pack_record *rec = &f->records[i];
			const pack_key *k = &f->keys[rec->key];
			const pack_group *g = &f->groups[rec->group];
			int codec, level;
			expected_codec(rules, nrules, dcodec, dlevel, k->p, k->len, &codec, &level);
			if (g->codec != codec || g->level != level)
				fail_msg("%s: key '%.*s' record %llu is in a %s:%d group, not %s:%d", e->d_name, (int)k->len,
					 (const char *)k->p, (unsigned long long)rec->n, group_codec_name(g->codec),
					 g->level, group_codec_name(codec), level);
			seen++;
		}
		for (size_t g = 0; ngroups && g < f->ngroups; g++)
			ngroups[f->groups[g].codec]++;
		pack_close(r);
		free(path);
	}
	closedir(d);
	free(packs);
	return seen;
}

/* Keys of four kinds, put in turn so codecs alternate; contents alike
 * within a key (so deltas happen) and unlike between keys. */
static const char *const KEYS[] = { "events/cpu0", "events/cpu1", "data/main", "raw/blob", "logs/build.log",
				    "archive/2024.tar", "misc" };
#define NKEYS 7

static void fill_record(uint8_t *buf, size_t len, int key, int unit, int i)
{
	tu_fill_text(buf, len, (uint64_t)key * 1000 + (uint64_t)i);
	if (!strncmp(KEYS[key], "raw/", 4))
		tu_fill_random(buf, len, (uint64_t)key * 1000 + (uint64_t)(unit * 10 + i));
	else if (len > 64)
		snprintf((char *)buf, 64, "unit %d record %d of key %d.........", unit, i, key);
}

static size_t record_len(int key, int i)
{
	return 500 + (size_t)((key * 7919 + i * 104729) % 30000);
}

static void put_unit(strata_store *s, int unit, int per_key)
{
	uint8_t *buf = tu_alloc(40000);
	for (int i = 0; i < per_key; i++)
		for (int k = 0; k < NKEYS; k++) {
			size_t len = record_len(k, i);
			fill_record(buf, len, k, unit, i);
			put_copy(s, KEYS[k], strlen(KEYS[k]), buf, len);
		}
	free(buf);
	commit(s);
}

/* Every record of every unit reads back. */
static void check_records(strata_store *s, int units, int per_key)
{
	uint8_t *buf = tu_alloc(40000);
	for (int u = 1; u <= units; u++)
		for (int i = 0; i < per_key; i++)
			for (int k = 0; k < NKEYS; k++) {
				size_t len = record_len(k, i);
				fill_record(buf, len, k, u, i);
				void *got;
				size_t n;
				uint64_t num = (uint64_t)((u - 1) * per_key + i + 1);
				int rc = strata_get(s, KEYS[k], strlen(KEYS[k]), num, &got, &n);
				if (rc)
					fail_msg("get %s@%llu: %d %s", KEYS[k], (unsigned long long)num, rc, strata_errmsg());
				assert_int_equal(n, len);
				assert_memory_equal(got, buf, len);
				strata_buf_free(got);
			}
	free(buf);
}

static const char *const RULES[] = { "events/*=lz4:9", "raw/* = none", "logs/*.log=zlib", "archive/*=xz:1",
				     "data/*=zstd", NULL };
static const expect EXPECT[] = { { "events/*", CODEC_LZ4, 9 },  { "raw/*", CODEC_NONE, 0 },
				 { "logs/*.log", CODEC_ZLIB, 6 }, { "archive/*", CODEC_XZ, 1 },
				 { "data/*", CODEC_ZSTD, 5 } };

/* A store with rules gives each key's groups its codec (checked in the
 * pack files), every record reads back and verifies, and the store keeps
 * its rules when reopened. */
static void test_store_rules(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.zstd_level = 5;     /* the bare "zstd" of the data rule takes it */
	o.codec = "zlib:2";   /* the default */
	o.codec_rules = RULES;
	o.repack_after = 0;
	o.chunk_above = 0; /* the big record stays whole (test_chunks chunks) */
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
	put_unit(s, 1, 6);
	/* A key with a NUL byte matches no rule; a record of group_cap bytes
	 * or more gets a group of its own, still in its key's codec. */
	uint8_t *big = tu_alloc(5u << 20);
	tu_fill_text(big, 5u << 20, 77);
	put_copy(s, "events\0nul", 10, "some bytes some bytes some bytes", 32);
	put_copy(s, "archive/big", 11, big, 5u << 20);
	commit(s);
	size_t ngroups[NCODECS] = { 0 };
	size_t seen = check_packs(f->store, EXPECT, 5, CODEC_ZLIB, 2, ngroups);
	assert_int_equal(seen, NKEYS * 6 + 2);
	for (int k = 0; k < NCODECS; k++)
		assert_true(ngroups[k] > 0);
	check_records(s, 1, 6);
	void *got;
	size_t n;
	assert_int_equal(strata_get(s, "archive/big", 11, 1, &got, &n), 0);
	assert_int_equal(n, 5u << 20);
	assert_memory_equal(got, big, n);
	strata_buf_free(got);
	strata_verify_result vr;
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &vr), 0);
	assert_int_equal(vr.problems, 0);
	strata_close(s);

	/* strata.conf says it all, with explicit levels. */
	char *conf = tu_join(f->store, "strata.conf");
	size_t clen;
	char *text = (char *)tu_read_file(conf, &clen);
	text = realloc(text, clen + 1);
	text[clen] = '\0';
	assert_non_null(strstr(text, "\ncodec = zlib:2\n"));
	assert_non_null(strstr(text, "\ncodec-rule = events/* = lz4:9\n"));
	assert_non_null(strstr(text, "\ncodec-rule = raw/* = none\n"));
	assert_non_null(strstr(text, "\ncodec-rule = logs/*.log = zlib:6\n"));
	assert_non_null(strstr(text, "\ncodec-rule = data/* = zstd:5\n"));
	free(text);
	free(conf);

	/* Reopened (options passed again are ignored), the rules still hold. */
	strata_options other = STRATA_OPTIONS_INIT;
	s = open_store(f->store, STRATA_OPEN_WRITE, &other);
	put_unit(s, 2, 3);
	assert_int_equal(check_packs(f->store, EXPECT, 5, CODEC_ZLIB, 2, NULL), NKEYS * 9 + 2);
	strata_close(s);
	s = open_store(f->store, STRATA_OPEN_READ, NULL);
	for (int k = 0; k < NKEYS; k++) {
		uint64_t count;
		assert_int_equal(strata_record_count(s, KEYS[k], strlen(KEYS[k]), &count), 0);
		assert_int_equal(count, 9);
	}
	uint8_t *buf = tu_alloc(40000);
	for (int k = 0; k < NKEYS; k++)
		for (int i = 0; i < 3; i++) {
			size_t len = record_len(k, i);
			fill_record(buf, len, k, 2, i);
			assert_int_equal(strata_get(s, KEYS[k], strlen(KEYS[k]), (uint64_t)(7 + i), &got, &n), 0);
			assert_int_equal(n, len);
			assert_memory_equal(got, buf, len);
			strata_buf_free(got);
		}
	free(buf);
	strata_close(s);
	free(big);
}

/* A full repack keeps each key's codec; zstd groups go to level 19 at
 * least, other codecs keep their levels. */
static void test_repack_codecs(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.zstd_level = 5;
	o.codec = "zlib:2";
	o.codec_rules = RULES;
	o.repack_after = 0;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
	for (int u = 1; u <= 3; u++)
		put_unit(s, u, 2);
	strata_repack_result rr;
	int rc = strata_repack(s, 0, NULL, NULL, &rr);
	if (rc)
		fail_msg("repack: %d %s", rc, strata_errmsg());
	assert_int_equal(rr.packs_after, 1);
	expect ex[5];
	memcpy(ex, EXPECT, sizeof ex);
	ex[4].level = 19; /* the data rule is zstd */
	assert_int_equal(check_packs(f->store, ex, 5, CODEC_ZLIB, 2, NULL), NKEYS * 6);
	check_records(s, 3, 2);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
}

/* Bad codecs, levels and rules are STRATA_EINVAL with a message, and
 * create nothing. */
static void test_bad_options(void **state)
{
	fixture *f = *state;
	static const char *const bad_codecs[] = { "lz5", "zstd:0", "zstd:23", "lz4:0", "lz4:13", "zlib:0", "zlib:10",
						  "xz:-1", "xz:10", "none:1", "zstd:", "zstd:3x", "zstd:+", ":3", "",
						  "zstd:99999999999999999999", "ZSTD" };
	for (size_t i = 0; i < sizeof bad_codecs / sizeof bad_codecs[0]; i++) {
		strata_options o = STRATA_OPTIONS_INIT;
		o.codec = bad_codecs[i];
		strata_store *s = NULL;
		int rc = strata_open(&s, f->store, STRATA_OPEN_CREATE, &o);
		if (rc != STRATA_EINVAL)
			fail_msg("codec '%s' gave %d", bad_codecs[i], rc);
		assert_null(s);
		assert_true(strlen(strata_errmsg()) > 0);
		assert_false(tu_exists(f->store));
	}
	static const char *const bad_rules[] = { "a*", "=lz4", " a=lz4", "a\nb=lz4", "a\rb=lz4", "a=lz5",
						 "a=zstd:30", "a=none:0", "a=", "  =zstd" };
	for (size_t i = 0; i < sizeof bad_rules / sizeof bad_rules[0]; i++) {
		const char *rules[] = { "ok/*=lz4", bad_rules[i], NULL };
		strata_options o = STRATA_OPTIONS_INIT;
		o.codec_rules = rules;
		strata_store *s = NULL;
		int rc = strata_open(&s, f->store, STRATA_OPEN_CREATE, &o);
		if (rc != STRATA_EINVAL)
			fail_msg("rule '%s' gave %d", bad_rules[i], rc);
		assert_non_null(strstr(strata_errmsg(), "rule"));
		assert_false(tu_exists(f->store));
	}
	/* Rules that would not fit in strata.conf. */
	char pat[200];
	memset(pat, 'x', sizeof pat);
	memcpy(pat + sizeof pat - 6, "*=lz4", 6);
	const char *many[30];
	for (int i = 0; i < 29; i++)
		many[i] = pat;
	many[29] = NULL;
	strata_options o = STRATA_OPTIONS_INIT;
	o.codec_rules = many;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), STRATA_EINVAL);
	assert_false(tu_exists(f->store));
	/* Good edge cases: blanks around '=', '=' inside the pattern, a
	 * pattern of just "*", level bounds. */
	static const char *const fine[] = { "a = lz4", "k=v=zstd:22", "*=xz:0", "b\t=\tnone", "c=lz4:12", NULL };
	o.codec_rules = fine;
	o.codec = "zlib:9";
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
	put_copy(s, "k=v", 3, "0123456789abcdef0123456789abcdef", 32);
	put_copy(s, "a", 1, "0123456789abcdef0123456789abcdef", 32);
	put_copy(s, "b", 1, "0123456789abcdef0123456789abcdef", 32);
	put_copy(s, "other", 5, "0123456789abcdef0123456789abcdef", 32);
	commit(s);
	static const expect ex[] = { { "a", CODEC_LZ4, 1 }, { "k=v", CODEC_ZSTD, 22 }, { "*", CODEC_XZ, 0 } };
	assert_int_equal(check_packs(f->store, ex, 3, CODEC_ZLIB, 9, NULL), 4);
	strata_close(s);
}

/* Options of version 1 (built before codecs) are taken without their
 * codec fields; an unknown version is refused. */
static void test_options_versions(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.version = 1;
	o.zstd_level = 7;
	o.codec = "nonsense"; /* not part of a version 1 struct: never read */
	o.codec_rules = (const char *const *)(uintptr_t)1;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
	put_copy(s, "k", 1, "0123456789abcdef0123456789abcdef", 32);
	commit(s);
	assert_int_equal(check_packs(f->store, NULL, 0, CODEC_ZSTD, 7, NULL), 1);
	strata_close(s);
	tu_rmrf(f->store);
	o.version = STRATA_OPTIONS_VERSION + 1;
	o.codec = NULL;
	o.codec_rules = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), STRATA_EINVAL);
	assert_false(tu_exists(f->store));
}

/* delta_above: a near copy of 2000 bytes is a delta against its group at
 * the default (256) and at 2000, stored whole at 0 and 2001; options of
 * version 4 mean the default. The value is kept in strata.conf. */
static void test_delta_above(void **state)
{
	fixture *f = *state;
	static const struct {
		unsigned version;
		uint64_t above;
		int delta;
	} cases[] = { { STRATA_OPTIONS_VERSION, 256, 1 }, { STRATA_OPTIONS_VERSION, 2000, 1 },
		      { STRATA_OPTIONS_VERSION, 0, 0 }, { STRATA_OPTIONS_VERSION, 2001, 0 }, { 4, 0, 1 } };
	uint8_t a[2000], b[2000];
	tu_fill_text(a, sizeof a, 3);
	memcpy(b, a, sizeof b);
	b[1000] ^= 1;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		strata_options o = STRATA_OPTIONS_INIT;
		o.codec = "none"; /* the stored length is the encoding's */
		o.version = cases[i].version;
		o.delta_above = cases[i].above;
		o.chain_max = 1; /* no deltas against earlier units to weigh */
		strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
		uint64_t stored[5] = { 0 };
		for (int unit = 0; unit < 2; unit++) {
			if (unit) /* its options from strata.conf */
				s = open_store(f->store, STRATA_OPEN_WRITE, NULL);
			put_copy(s, "k", 1, a, sizeof a);
			put_copy(s, "k", 1, b, sizeof b);
			commit(s);
			assert_int_equal(strata_foreach_record(s, "k", 1, tu_stored_cb, stored), 0);
			strata_close(s);
		}
		for (int n = 1; n <= 4; n++)
			if (n % 2 || !cases[i].delta)
				assert_int_equal(stored[n], sizeof a);
			else
				assert_true(stored[n] < 100);
		tu_rmrf(f->store);
	}
}

/* Release that scribbles over a record before freeing it: a codec that
 * still read a record's bytes after taking them would code the scribble. */
static void release_scribbled(void *ctx, void *p, size_t len)
{
	(void)ctx;
	memset(p, 0x5a, len);
	free(p);
}

/* Where no record is delta-coded against its group (delta-above 0, chain
 * max 1: the trace profile), a group's body is not kept: each codec reads a
 * record once, as it is put, and keeps its own window. Records that repeat
 * earlier ones (every codec's matches reach back into records released
 * since), across many blocks and groups, through the pipeline and
 * without it, read back byte for byte. */
static void test_no_body_copy(void **state)
{
	fixture *f = *state;
	static const char *const codecs[] = { "none", "zstd:2", "lz4", "lz4:9", "zlib", "xz:1" };
	enum { NREC = 400, SMALL = 1500, LARGE = 70000 }; /* LARGE: above an lz4 block */
	size_t off[NREC + 1] = { 0 };
	for (int i = 0; i < NREC; i++)
		off[i + 1] = off[i] + (i % 9 == 4 ? LARGE : SMALL);
	uint8_t *want = tu_alloc(off[NREC]);
	for (int i = 0; i < NREC; i++) { /* 40 kinds of record, each changed a little */
		size_t len = off[i + 1] - off[i];
		tu_fill_text(want + off[i], len, (uint64_t)(i % 40));
		want[off[i] + (size_t)i % len] ^= 0x20;
	}
	for (size_t c = 0; c < sizeof codecs / sizeof *codecs; c++) {
		for (int piped = 0; piped < 2; piped++) {
			strata_options o = STRATA_OPTIONS_INIT;
			assert_int_equal(strata_options_profile(&o, "trace"), 0);
			o.codec = codecs[c];
			o.group_cap = 256u << 10; /* many groups */
			strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
			strata_pipeline_options po = { .workers = piped ? 2 : -1 };
			assert_int_equal(strata_pipeline_set(s, &po), 0);
			for (int i = 0; i < NREC; i++) {
				size_t len = off[i + 1] - off[i];
				uint8_t *p = tu_alloc(len);
				memcpy(p, want + off[i], len);
				assert_int_equal(strata_put(s, "k", 1, p, len, release_scribbled, NULL, NULL), 0);
				if (i % 150 == 149)
					commit(s);
			}
			commit(s);
			strata_stats st;
			assert_int_equal(strata_stats_get(s, &st), 0);
			assert_true(st.groups >= 10);
			for (int i = 0; i < NREC; i++) {
				void *got = NULL;
				size_t len = 0;
				int rc = strata_get(s, "k", 1, (uint64_t)i + 1, &got, &len);
				if (rc != 0)
					fail_msg("%s, pipeline %d: get k@%d: %d %s", codecs[c], piped, i + 1, rc, strata_errmsg());
				if (len != off[i + 1] - off[i] || memcmp(got, want + off[i], len) != 0)
					fail_msg("%s, pipeline %d: k@%d reads back wrong", codecs[c], piped, i + 1);
				strata_buf_free(got);
			}
			strata_close(s);
			tu_rmrf(f->store);
		}
	}
	free(want);
}

/* Blocks end every quarter of a small record's read cost (4 KiB..64 KiB):
 * the first of many small records decodes at most 4 KiB of its group at
 * read cost 4, many times that at 64; both read back. */
static void test_block_length(void **state)
{
	fixture *f = *state;
	enum { N = 3000, LEN = 100 };
	static const int costs[] = { 4, 64 };
	uint64_t decoded[2];
	for (int i = 0; i < 2; i++) {
		strata_options o = STRATA_OPTIONS_INIT;
		o.read_cost_max = costs[i];
		strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
		uint8_t rec[LEN];
		for (int n = 0; n < N; n++) {
			tu_fill_random(rec, LEN, (uint64_t)n); /* incompressible */
			put_copy(s, "k", 1, rec, LEN);
		}
		commit(s);
		void *out;
		size_t len;
		assert_int_equal(strata_get(s, "k", 1, 1, &out, &len), 0);
		tu_fill_random(rec, LEN, 0);
		assert_int_equal(len, LEN);
		assert_memory_equal(out, rec, LEN);
		strata_buf_free(out);
		strata_read_cost c;
		assert_int_equal(strata_read_cost_get(s, &c), 0);
		decoded[i] = c.bytes_decoded;
		assert_int_equal(strata_get(s, "k", 1, N, &out, &len), 0);
		tu_fill_random(rec, LEN, N - 1);
		assert_memory_equal(out, rec, LEN);
		strata_buf_free(out);
		strata_close(s);
		tu_rmrf(f->store);
	}
	/* A read decodes through the records that share the first one's
	 * checksum: those that end in its block (at most a run's 512). */
	assert_true(decoded[0] > 3000 && decoded[0] <= 4096);
	assert_true(decoded[1] > 10 * 4096);
}

static void write_conf(const char *store, const char *text)
{
	char *conf = tu_join(store, "strata.conf");
	tu_write_file(conf, text, strlen(text), 0644);
	free(conf);
}

/* A store of zstd at zstd-level writes strata.conf as before codecs, and
 * strata.conf of a store made before codecs means zstd at its zstd-level. One
 * that names a codec this build does not know: readable, not writable. A
 * malformed codec line: STRATA_ECORRUPT. */
static void test_conf_compat(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.codec = "zstd:3"; /* the same as no codec: no codec line */
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE, &o);
	put_copy(s, "k", 1, "0123456789abcdef0123456789abcdef", 32);
	commit(s);
	strata_close(s);
	char *conf = tu_join(f->store, "strata.conf");
	size_t clen;
	uint8_t *made = tu_read_file(conf, &clen);
	static const char plain[] = "strata-store = 1\ngroup-cap = 16777216\nzstd-level = 3\nchain-max = 4\n"
				    "read-cost-max = 4\nrepack-after = 16\nchunk-above = 4194304\n"
				    "chunk-avg = 65536\nstate-mem = 1073741824\n";
	assert_int_equal(clen, sizeof plain - 1);
	assert_memory_equal(made, plain, clen);
	free(made);
	free(conf);
	write_conf(f->store, "strata-store = 1\ngroup-cap = 4194304\nzstd-level = 9\nchain-max = 4\n"
			     "read-cost-max = 4\nrepack-after = 16\n");
	s = open_store(f->store, STRATA_OPEN_WRITE, NULL);
	put_copy(s, "j", 1, "0123456789abcdef0123456789abcdef", 32);
	commit(s);
	strata_close(s);
	static const expect ex[] = { { "k", CODEC_ZSTD, 3 } };
	assert_int_equal(check_packs(f->store, ex, 1, CODEC_ZSTD, 9, NULL), 2);

	write_conf(f->store, "strata-store = 1\nzstd-level = 9\ncodec = lz4:3\n"
			     "codec-rule = x/* = brotli:5\nfuture-option = 12\n");
	s = open_store(f->store, STRATA_OPEN_READ, NULL);
	void *got;
	size_t n;
	assert_int_equal(strata_get(s, "k", 1, 1, &got, &n), 0);
	assert_int_equal(n, 32);
	strata_buf_free(got);
	strata_close(s);
	s = open_store(f->store, STRATA_OPEN_WRITE, NULL);
	void *p = strdup("data");
	assert_int_equal(strata_put(s, "k", 1, p, 4, strata_release_free, NULL, NULL), STRATA_EFORMAT);
	assert_non_null(strstr(strata_errmsg(), "brotli"));
	assert_int_equal(strata_repack(s, 0, NULL, NULL, NULL), STRATA_EFORMAT);
	strata_close(s);

	static const char *const broken[] = { "codec = zstd:99\n", "codec = none:1\n", "codec-rule = lz4\n",
					      "codec-rule = = lz4\n" };
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		char text[256];
		snprintf(text, sizeof text, "strata-store = 1\n%s", broken[i]);
		write_conf(f->store, text);
		s = NULL;
		int rc = strata_open(&s, f->store, STRATA_OPEN_READ, NULL);
		if (rc != STRATA_ECORRUPT)
			fail_msg("'%s' gave %d", broken[i], rc);
		assert_non_null(strstr(strata_errmsg(), "strata.conf"));
	}
	/* Longer than any build may read: refused, not cut. */
	char *longtext = (char *)tu_alloc(5000);
	memset(longtext, '#', 4999);
	longtext[4999] = '\0';
	memcpy(longtext, "strata-store = 1\n", 17);
	write_conf(f->store, longtext);
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_READ, NULL), STRATA_ECORRUPT);
	free(longtext);
}

/* The profiles: the documented values, stores made with them work; an
 * unknown profile is STRATA_EINVAL. */
static void test_profiles(void **state)
{
	fixture *f = *state;
	strata_options o, def = STRATA_OPTIONS_INIT;
	assert_int_equal(strata_options_profile(&o, "versions"), 0);
	assert_int_equal(o.version, def.version);
	assert_int_equal(o.group_cap, def.group_cap);
	assert_int_equal(o.zstd_level, def.zstd_level);
	assert_int_equal(o.chain_max, def.chain_max);
	assert_int_equal(o.read_cost_max, def.read_cost_max);
	assert_int_equal(o.repack_after, def.repack_after);
	assert_int_equal(o.dedup_above, 0);
	assert_int_equal(o.delta_above, 256);
	assert_null(o.codec);
	assert_null(o.codec_rules);
	assert_int_equal(strata_options_profile(&o, "trace"), 0);
	assert_string_equal(o.codec, "zstd:2");
	assert_int_equal(o.chain_max, 1);
	assert_int_equal(o.read_cost_max, 64);
	assert_int_equal(o.dedup_above, 256);
	assert_int_equal(o.delta_above, 0);
	assert_int_equal(o.repack_after, 0);
	assert_int_equal(o.group_cap, 4u << 20);
	assert_int_equal(strata_options_profile(&o, "archive"), 0);
	assert_string_equal(o.codec, "zstd:18");
	assert_true(o.group_cap > def.group_cap);
	assert_int_equal(o.dedup_above, 0);
	assert_int_equal(strata_options_profile(&o, "fast"), STRATA_EINVAL);
	assert_non_null(strstr(strata_errmsg(), "fast"));
	assert_int_equal(strata_options_profile(NULL, "trace"), STRATA_EINVAL);

	static const char *const profiles[] = { "trace", "versions", "archive" };
	static const int codecs[] = { CODEC_ZSTD, CODEC_ZSTD, CODEC_ZSTD }, levels[] = { 2, 3, 18 };
	for (int i = 0; i < 3; i++) {
		char *path = tu_join(f->dir, profiles[i]);
		assert_int_equal(strata_options_profile(&o, profiles[i]), 0);
		strata_store *s = open_store(path, STRATA_OPEN_CREATE, &o);
		put_unit(s, 1, 2);
		put_unit(s, 2, 2);
		assert_int_equal(check_packs(path, NULL, 0, codecs[i], levels[i], NULL), NKEYS * 4);
		check_records(s, 2, 2);
		strata_close(s);
		/* the store keeps the profile's options: reopened, it says so */
		s = open_store(path, STRATA_OPEN_WRITE, NULL);
		strata_options got;
		assert_int_equal(strata_options_get(s, &got), 0);
		assert_int_equal(got.group_cap, o.group_cap);
		assert_int_equal(got.chain_max, o.chain_max);
		assert_int_equal(got.read_cost_max, o.read_cost_max);
		assert_int_equal(got.repack_after, o.repack_after);
		assert_int_equal(got.chunk_above, o.chunk_above);
		assert_int_equal(got.dedup_above, o.dedup_above);
		assert_int_equal(got.delta_above, o.delta_above);
		assert_null(got.codec);
		assert_null(got.codec_rules);
		assert_int_equal(strata_options_get(s, NULL), STRATA_EINVAL);
		strata_close(s);
		free(path);
	}
}

/* ------------------------------------------------------------ measure */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int count_sink(void *ctx, const void *p, size_t n)
{
	(void)p;
	*(uint64_t *)ctx += n;
	return 0;
}

static int measure(int argc, char **argv)
{
	static const struct { int codec, level; } runs[] = {
		{ CODEC_LZ4, 1 }, { CODEC_LZ4, 9 }, { CODEC_ZSTD, 1 }, { CODEC_ZSTD, 3 }, { CODEC_ZSTD, 19 },
		{ CODEC_ZLIB, 1 }, { CODEC_ZLIB, 6 }, { CODEC_XZ, 1 }, { CODEC_XZ, 6 },
	};
	const size_t gcap = 4u << 20, piece = 512;
	group_coder *c;
	if (group_coder_new(&c))
		return 1;
	for (int a = 2; a < argc; a++) {
		FILE *fp = fopen(argv[a], "rb");
		if (!fp) {
			perror(argv[a]);
			return 1;
		}
		fseek(fp, 0, SEEK_END);
		size_t len = (size_t)ftell(fp);
		rewind(fp);
		uint8_t *data = malloc(len ? len : 1), *out = malloc(gcap);
		if (!data || !out || fread(data, 1, len, fp) != len)
			return 1;
		fclose(fp);
		size_t npc = gcap / piece;
		group_piece *pc = malloc(npc * sizeof *pc);
		printf("%s: %zu bytes, 4 MiB groups, block ends every 4 KiB of body vs none\n", argv[a], len);
		printf("%-8s %12s %8s %12s %8s %7s %10s %10s\n", "codec", "no flush", "ratio", "flush 4K", "ratio",
		       "cost", "enc MB/s", "dec MB/s");
		for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
			uint64_t whole = 0, flushed = 0;
			double tenc = 0, tdec = 0;
			for (size_t off = 0; off < len; off += gcap) {
				size_t g = len - off < gcap ? len - off : gcap, n = 0;
				for (size_t p = 0; p < g; p += piece)
					pc[n++] = (group_piece){ data + off + p, g - p < piece ? g - p : piece };
				group_piece one = { data + off, g };
				group_out go;
				if (group_encode(c, runs[r].codec, runs[r].level, &one, 1, count_sink, &whole, &go, NULL))
					return 1;
				tu_memsink ms = { 0 };
				double t0 = now();
				if (group_encode(c, runs[r].codec, runs[r].level, pc, n, tu_mem_sink, &ms, &go, NULL))
					return 1;
				double t1 = now();
				tu_memsrc src = { ms.p, ms.len, 0, 0 };
				group_loc loc = { runs[r].codec, go.clen, go.blen };
				if (group_read(c, &loc, tu_mem_pread, &src, 0, out, g) || memcmp(out, data + off, g))
					return 1;
				tdec += now() - t1;
				tenc += t1 - t0;
				flushed += ms.len;
				free(ms.p);
			}
			char name[16];
			snprintf(name, sizeof name, "%s:%d", group_codec_name(runs[r].codec), runs[r].level);
			printf("%-8s %12llu %8.2f %12llu %8.2f %6.2f%% %10.0f %10.0f\n", name, (unsigned long long)whole,
			       (double)len / (double)whole, (unsigned long long)flushed, (double)len / (double)flushed,
			       100.0 * ((double)flushed - (double)whole) / (double)whole, (double)len / 1e6 / tenc,
			       (double)len / 1e6 / tdec);
			fflush(stdout);
		}
		free(pc);
		free(data);
		free(out);
	}
	group_coder_free(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "measure"))
		return measure(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delta_above, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_block_length, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_body_copy, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test(test_codec_table),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_incremental_and_magic),
		cmocka_unit_test(test_prefix_read),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test_setup_teardown(test_store_rules, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_repack_codecs, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_options_versions, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_conf_compat, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_profiles, tu_fixture_setup, tu_fixture_teardown),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("codecs", tests, NULL, NULL);
}
