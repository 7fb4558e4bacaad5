/* test_chunks.c - large records as chunk lists (docs/FORMAT.md, "Chunks"):
 * the chunker's boundaries survive insertions and deletions; sketches of
 * similar chunks meet and of unrelated ones do not; through the public API,
 * chunks already stored are not stored again (same key, other key, same
 * unit), changed chunks are coded against similar earlier ones, with and
 * without the write pipeline; the chunk indexes lost and rebuilt from the
 * packs give the same bytes for the next unit; repack keeps chunk lists;
 * a damaged chunk is reported, never returned; reserved keys are refused;
 * verify --since; fork isolation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cdc.h"
#include "os.h"
#include "pack.h"
#include "store.h"
#include "strata.h"
#include "tree.h"
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>

#define MIB (1u << 20)

/* --------------------------------------------------------------- chunker */

/* Boundaries (end offsets) of data cut with avg. */
static size_t cut(const uint8_t *p, size_t len, size_t avg, size_t *ends, size_t cap)
{
	cdc_params cp;
	cdc_params_init(&cp, avg);
	size_t n = 0;
	for (size_t off = 0; off < len;) {
		size_t c = cdc_next(&cp, p + off, len - off);
		assert_true(c >= 1);
		if (off + c < len) { /* only the last chunk may be short or cut by the end */
			assert_true(c >= cp.min);
			assert_true(c <= cp.max);
		}
		off += c;
		assert_true(n < cap);
		ends[n++] = off;
	}
	return n;
}

static int has(const size_t *v, size_t n, size_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

/* An insertion and a deletion move only the boundaries near them: every
 * boundary before the first edit stays, and nearly all after it stay at
 * the same distance from the end. */
static void test_shift_resistance(void **state)
{
	(void)state;
	const size_t len = 8 * MIB, avg = 64 << 10;
	uint8_t *a = tu_alloc(len), *b = tu_alloc(len + 100);
	tu_fill_random(a, len, 1);
	/* b: 100 bytes inserted at 2 MiB, 50 deleted at 6 MiB */
	memcpy(b, a, 2 * MIB);
	tu_fill_random(b + 2 * MIB, 100, 2);
	memcpy(b + 2 * MIB + 100, a + 2 * MIB, 4 * MIB);
	memcpy(b + 6 * MIB + 100, a + 6 * MIB + 50, len - 6 * MIB - 50);
	size_t blen = len + 50;
	size_t ea[1024], eb[1024];
	size_t na = cut(a, len, avg, ea, 1024), nb = cut(b, blen, avg, eb, 1024);
	/* about len / avg chunks */
	assert_true(na > len / avg / 2 && na < len / avg * 2);
	size_t before = 0, kept_mid = 0, mid = 0, kept_end = 0, end = 0;
	for (size_t i = 0; i < na; i++) {
		if (ea[i] < 2 * MIB - 256 * 1024) {
			before++;
			assert_true(has(eb, nb, ea[i]));
		} else if (ea[i] > 2 * MIB + 256 * 1024 && ea[i] < 6 * MIB - 256 * 1024) {
			mid++;
			kept_mid += has(eb, nb, ea[i] + 100);
		} else if (ea[i] > 6 * MIB + 256 * 1024) {
			end++;
			kept_end += has(eb, nb, ea[i] + 100 - 50);
		}
	}
	assert_true(before > 10 && mid > 20 && end > 10);
	assert_int_equal(kept_mid, mid);
	assert_int_equal(kept_end, end);
	/* and the same content always cuts the same way */
	size_t ec[1024];
	assert_int_equal(cut(a, len, avg, ec, 1024), na);
	assert_memory_equal(ec, ea, na * sizeof *ea);
	free(a);
	free(b);
}

static int shared_features(const uint64_t *x, const uint64_t *y)
{
	int n = 0;
	for (int i = 0; i < CDC_FEATURES; i++)
		n += x[i] == y[i];
	return n;
}

/* Chunks with a few bytes changed share most features, chunks with a
 * third rewritten fewer, unrelated ones (text of the same vocabulary)
 * fewer still: the count ranks them. */
static void test_sketches(void **state)
{
	(void)state;
	const size_t len = 64 << 10;
	uint8_t *a = tu_alloc(len), *b = tu_alloc(len), *m = tu_alloc(len), *c = tu_alloc(len);
	int near = 0, mid = 0, far = 0;
	for (int round = 0; round < 20; round++) {
		tu_fill_text(a, len, 100 + (uint64_t)round);
		memcpy(b, a, len);
		for (size_t k = 0; k < 4; k++)
			b[(k * 7919 * (size_t)(round + 1)) % len] ^= 0x5a;
		memcpy(m, a, len);
		for (size_t i = 0; i + 1024 <= len; i += 3072)
			tu_fill_text(m + i, 1024, 5000 + (uint64_t)round * 64 + i);
		tu_fill_text(c, len, 1000 + (uint64_t)round);
		uint64_t sa[CDC_FEATURES], sb[CDC_FEATURES], sm[CDC_FEATURES], sc[CDC_FEATURES];
		assert_int_equal(cdc_sketch(a, len, sa), 1);
		assert_int_equal(cdc_sketch(b, len, sb), 1);
		assert_int_equal(cdc_sketch(m, len, sm), 1);
		assert_int_equal(cdc_sketch(c, len, sc), 1);
		near += shared_features(sa, sb);
		mid += shared_features(sa, sm);
		far += shared_features(sa, sc);
		/* features of different indexes never meet */
		for (int i = 0; i < CDC_FEATURES; i++)
			for (int j = 0; j < CDC_FEATURES; j++)
				assert_true(i == j || sa[i] != sc[j]);
	}
	/* out of 20 * 12 features */
	assert_true(near >= 200);
	assert_true(mid >= 60 && mid < near - 40);
	assert_true(far < mid / 2);
	/* too short to sample: no sketch */
	uint64_t s[CDC_FEATURES];
	assert_int_equal(cdc_sketch(a, 3, s), 0);
	free(a);
	free(b);
	free(m);
	free(c);
}

/* ------------------------------------------------------------- the store */

static strata_store *open_chunked(const char *path, int workers)
{
	strata_options o = STRATA_OPTIONS_INIT;
	o.chunk_above = 256 << 10;
	o.chunk_avg = 16 << 10;
	o.repack_after = 0;
	strata_store *s = NULL;
	int rc = strata_open(&s, path, STRATA_OPEN_CREATE, &o);
	if (rc)
		fail_msg("strata_open: %s", strata_errmsg());
	strata_pipeline_options po = { .workers = workers };
	assert_int_equal(strata_pipeline_set(s, &po), 0);
	return s;
}

static void put_copy(strata_store *s, const char *key, const void *data, size_t len)
{
	uint8_t *p = tu_alloc(len);
	memcpy(p, data, len);
	int rc = strata_put(s, key, strlen(key), p, len, strata_release_free, NULL, NULL);
	if (rc)
		fail_msg("strata_put(%s): %s", key, strata_errmsg());
}

static uint64_t commit(strata_store *s)
{
	uint64_t unit = 0;
	int rc = strata_commit(s, NULL, &unit);
	if (rc)
		fail_msg("strata_commit: %s", strata_errmsg());
	return unit;
}

static void check_get(strata_store *s, const char *key, uint64_t n, const void *want, size_t len)
{
	void *got;
	size_t glen;
	int rc = strata_get(s, key, strlen(key), n, &got, &glen);
	if (rc)
		fail_msg("strata_get(%s@%llu): %s", key, (unsigned long long)n, strata_errmsg());
	assert_int_equal(glen, len);
	assert_memory_equal(got, want, len);
	strata_buf_free(got);
}

static uint64_t pack_size(const char *store, uint64_t unit)
{
	char name[4096];
	snprintf(name, sizeof name, "packs/%010llu.pack", (unsigned long long)unit);
	char *p = tu_join(store, name);
	uint64_t n = tu_file_size(p);
	free(p);
	return n;
}

/* A record like `a` with a byte changed every `every` bytes. */
static uint8_t *speckled(const uint8_t *a, size_t len, size_t every)
{
	uint8_t *b = tu_alloc(len);
	memcpy(b, a, len);
	for (size_t i = every / 2; i < len; i += every)
		b[i] ^= 0xa5;
	return b;
}

static void dedup_and_deltas(const char *dir, int workers)
{
	const size_t len = 2 * MIB;
	uint8_t *a = tu_alloc(len);
	tu_fill_random(a, len, 7);
	strata_store *s = open_chunked(dir, workers);
	put_copy(s, "a", a, len);
	assert_int_equal(commit(s), 1);
	uint64_t first = pack_size(dir, 1);
	assert_true(first > len); /* random bytes: stored once, not compressed */
	assert_true(first < len + len / 20);
	/* the same bytes under another key, and again under "a" */
	put_copy(s, "copy", a, len);
	put_copy(s, "a", a, len);
	assert_int_equal(commit(s), 2);
	assert_true(pack_size(dir, 2) < len / 50);
	/* 100 bytes inserted in the middle: a chunk or two are new */
	uint8_t *b = tu_alloc(len + 100);
	memcpy(b, a, len / 2);
	tu_fill_random(b + len / 2, 100, 8);
	memcpy(b + len / 2 + 100, a + len / 2, len / 2);
	put_copy(s, "a", b, len + 100);
	assert_int_equal(commit(s), 3);
	assert_true(pack_size(dir, 3) < len / 10);
	/* a byte changed in every chunk: nothing dedups, all delta-codes */
	uint8_t *c = speckled(a, len, 8 << 10);
	put_copy(s, "a", c, len);
	assert_int_equal(commit(s), 4);
	assert_true(pack_size(dir, 4) < len / 8);
	/* the same chunk twice in one unit, unseen before */
	uint8_t *d = tu_alloc(len);
	tu_fill_random(d, len / 2, 9);
	memcpy(d + len / 2, d, len / 2);
	put_copy(s, "d", d, len);
	assert_int_equal(commit(s), 5);
	assert_true(pack_size(dir, 5) < len / 2 + len / 10);
	check_get(s, "a", 1, a, len);
	check_get(s, "copy", 1, a, len);
	check_get(s, "a", 2, a, len);
	check_get(s, "a", 3, b, len + 100);
	check_get(s, "a", 4, c, len);
	check_get(s, "d", 1, d, len);
	/* reserved keys are hidden and refused */
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	assert_int_equal(st.keys, 3);
	assert_int_equal(st.records, 6);
	assert_int_equal(st.raw_bytes, 5 * len + 100 + len);
	uint8_t *z = tu_alloc(4);
	assert_int_equal(strata_put(s, "\0chunk", 6, z, 4, strata_release_free, NULL, NULL), STRATA_EINVAL);
	strata_verify_result vr;
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &vr), 0);
	strata_close(s);
	free(a);
	free(b);
	free(c);
	free(d);
}

static void test_dedup_direct(void **state)
{
	dedup_and_deltas(*state, -1);
}

static void test_dedup_pipeline(void **state)
{
	dedup_and_deltas(*state, 2);
}

/* The bytes of a pack's groups (from the header to the footer). */
static uint8_t *pack_groups(const char *store, uint64_t unit, size_t *len)
{
	char name[4096];
	snprintf(name, sizeof name, "packs/%010llu.pack", (unsigned long long)unit);
	char *p = tu_join(store, name);
	size_t n;
	uint8_t *b = tu_read_file(p, &n);
	free(p);
	assert_true(n > 64 + 48);
	uint64_t foot = 0;
	for (int i = 7; i >= 0; i--)
		foot = foot << 8 | b[n - 48 + i];
	assert_true(foot >= 64 && foot < n);
	memmove(b, b + 64, foot - 64);
	*len = foot - 64;
	return b;
}

/* Stores with the same first units; one loses its catalog (and so its
 * chunk indexes) and rebuilds them from the packs on open, one by
 * strata_rebuild, one has the sketch index of an older format. All then
 * write the same next unit as the one that kept its state, byte for byte. */
static void test_state_rebuilt(void **state)
{
	const char *dir = *state;
	char *s1 = tu_join(dir, "kept"), *s2 = tu_join(dir, "lost"), *s3 = tu_join(dir, "rebuilt"),
	     *s4 = tu_join(dir, "dropped");
	const size_t len = MIB;
	uint8_t *a = tu_alloc(len);
	tu_fill_text(a, len, 3);
	uint8_t *b = speckled(a, len, 6000), *c = speckled(b, len, 7001);
	char *st[4] = { s1, s2, s3, s4 };
	for (int i = 0; i < 4; i++) {
		strata_store *s = open_chunked(st[i], -1);
		put_copy(s, "f", a, len);
		commit(s);
		put_copy(s, "f", b, len);
		put_copy(s, "g", a, len);
		commit(s);
		strata_close(s);
	}
	tu_remove_catalog(s2);
	tu_remove_catalog(s3);
	/* s4 keeps its catalog and chunk index, but a build of format 1.2 wrote
	 * to it since: its super-feature table is back, and the features table
	 * fell behind the mark. A writer replaces both. */
	char *cp = tu_join(s4, "catalog.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(cp, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "DELETE FROM features; CREATE TABLE sketches(sf INTEGER NOT NULL, n INTEGER "
				      "NOT NULL, PRIMARY KEY(sf, n)) WITHOUT ROWID; INSERT INTO sketches VALUES(7, 1);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	uint64_t units = 0;
	assert_int_equal(strata_rebuild(s3, NULL, NULL, NULL, &units), 0);
	assert_int_equal(units, 2);
	for (int i = 0; i < 4; i++) {
		strata_store *s = open_chunked(st[i], -1);
		put_copy(s, "f", c, len);
		put_copy(s, "h", b, len);
		assert_int_equal(commit(s), 3);
		check_get(s, "f", 3, c, len);
		check_get(s, "h", 1, b, len);
		strata_close(s);
	}
	size_t l1, l2, l3, l4;
	uint8_t *g1 = pack_groups(s1, 3, &l1), *g2 = pack_groups(s2, 3, &l2), *g3 = pack_groups(s3, 3, &l3),
		*g4 = pack_groups(s4, 3, &l4);
	/* s4's feature index is whole again, and the old table gone */
	int64_t rows[2];
	for (int i = 0; i < 2; i++) {
		char *p = tu_join(i ? s4 : s1, "catalog.db");
		assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
		sqlite3_stmt *q;
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM features), (SELECT count(*) "
							"FROM sqlite_master WHERE name='sketches')", -1, &q, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		rows[i] = sqlite3_column_int64(q, 0);
		assert_int_equal(sqlite3_column_int64(q, 1), 0);
		sqlite3_finalize(q);
		sqlite3_close(db);
		free(p);
	}
	assert_true(rows[0] > 0);
	assert_int_equal(rows[1], rows[0]);
	free(cp);
	assert_int_equal(l4, l1);
	assert_memory_equal(g4, g1, l1);
	free(g4);
	free(s4);
	assert_true(l1 < len / 4); /* deduplicated and delta-coded */
	assert_int_equal(l2, l1);
	assert_memory_equal(g2, g1, l1);
	assert_int_equal(l3, l1);
	assert_memory_equal(g3, g1, l1);
	free(g1);
	free(g2);
	free(g3);
	free(a);
	free(b);
	free(c);
	free(s1);
	free(s2);
	free(s3);
}

static size_t count_packs(const char *store)
{
	char *p = tu_join(store, "packs");
	DIR *d = opendir(p);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".pack") != NULL;
	closedir(d);
	free(p);
	return n;
}

/* Repack keeps chunk lists (the store stays about as small), every record
 * reads back, and a damaged chunk is reported rather than returned. */
static void test_repack_and_damage(void **state)
{
	const char *dir = *state;
	const size_t len = MIB;
	uint8_t *v[4];
	v[0] = tu_alloc(len);
	tu_fill_text(v[0], len, 11);
	strata_store *s = open_chunked(dir, -1);
	uint64_t before = 0;
	for (int i = 0; i < 4; i++) {
		if (i)
			v[i] = speckled(v[i - 1], len, 9000 + 1000 * (size_t)i);
		put_copy(s, "f", v[i], len);
		before += pack_size(dir, commit(s));
	}
	strata_repack_result rr;
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &rr), 0);
	assert_int_equal(rr.packs_after, 1);
	assert_true(rr.bytes_after < before + before / 4);
	for (int i = 0; i < 4; i++)
		check_get(s, "f", (uint64_t)i + 1, v[i], len);
	strata_close(s);
	assert_int_equal(count_packs(dir), 1);
	/* flip a byte in the middle of the groups */
	char *pp = tu_join(dir, "packs/0000000001-0000000004.pack");
	size_t plen;
	uint8_t *pk = tu_read_file(pp, &plen);
	pk[64 + (plen - 64) / 3] ^= 0x01;
	chmod(pp, 0644);
	tu_write_file(pp, pk, plen, 0444);
	free(pk);
	free(pp);
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		void *got = NULL;
		size_t glen;
		int rc = strata_get(s, "f", 1, (uint64_t)i + 1, &got, &glen);
		if (rc) {
			assert_int_equal(rc, STRATA_ECORRUPT);
			bad++;
		} else {
			assert_int_equal(glen, len);
			assert_memory_equal(got, v[i], len);
			strata_buf_free(got);
		}
	}
	assert_true(bad > 0);
	/* strata_get_fd streams the same records: the damaged ones fail with
	 * at most a true prefix written, never a wrong byte */
	char *out = tu_join(dir, "out");
	int streamed_bad = 0;
	for (int i = 0; i < 4; i++) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		uint64_t size = 0;
		int rc = strata_get_fd(s, "f", 1, (uint64_t)i + 1, fd, out, &size);
		assert_int_equal(close(fd), 0);
		size_t olen;
		uint8_t *o = tu_read_file(out, &olen);
		if (rc) {
			assert_int_equal(rc, STRATA_ECORRUPT);
			assert_true(olen < len);
			assert_memory_equal(o, v[i], olen);
			streamed_bad++;
		} else {
			assert_int_equal(size, len);
			assert_int_equal(olen, len);
			assert_memory_equal(o, v[i], len);
		}
		free(o);
	}
	assert_int_equal(streamed_bad, bad);
	free(out);
	strata_close(s);
	for (int i = 0; i < 4; i++)
		free(v[i]);
}

/* Read cost statistics count a chunked record as its chunks: 100 keys of
 * the same random megabyte (100 lists, one set of chunks) read at least a
 * byte per byte, not the sliver a list's own read is. */
static void test_stats_chunked(void **state)
{
	const char *dir = *state;
	strata_store *s = open_chunked(dir, -1);
	const size_t len = MIB;
	uint8_t *a = tu_alloc(len);
	tu_fill_random(a, len, 101);
	char key[16];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%03d", i);
		put_copy(s, key, a, len);
	}
	commit(s);
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	assert_int_equal(st.records, 100);
	/* each chunk reads its group's prefix: between its size and the
	 * read-cost cap of 4 times it */
	assert_true(st.read_cost_median >= 0.9 && st.read_cost_max <= 4.5);
	assert_true(st.read_cost_max >= st.read_cost_median);
	check_get(s, "k042", 1, a, len);
	strata_close(s);
	free(a);
}

/* strata_get_fd writes records whole: a chunked one (several chunks, as
 * strata_get returns it) and a small one; a missing one writes nothing. */
static void test_get_fd(void **state)
{
	const char *dir = *state;
	strata_store *s = open_chunked(dir, 2);
	const size_t len = 3 * MIB + 12345;
	uint8_t *big = tu_alloc(len);
	tu_fill_text(big, len, 81);
	put_copy(s, "big", big, len);
	put_copy(s, "small", "tiny record", 11);
	commit(s);
	char *out = tu_join(dir, "out");
	const struct {
		const char *key;
		const void *want;
		size_t len;
	} cases[] = { { "big", big, len }, { "small", "tiny record", 11 } };
	for (size_t i = 0; i < 2; i++) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		uint64_t size = 0;
		assert_int_equal(strata_get_fd(s, cases[i].key, strlen(cases[i].key), 1, fd, NULL, &size), 0);
		assert_int_equal(close(fd), 0);
		assert_int_equal(size, cases[i].len);
		size_t olen;
		uint8_t *o = tu_read_file(out, &olen);
		assert_int_equal(olen, cases[i].len);
		assert_memory_equal(o, cases[i].want, olen);
		free(o);
		/* the read cost is the stream's */
		strata_read_cost cost;
		assert_int_equal(strata_read_cost_get(s, &cost), 0);
		assert_true(cost.bytes_read > 0 && cost.bytes_decoded >= cases[i].len);
	}
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(strata_get_fd(s, "big", 3, 2, fd, NULL, NULL), STRATA_ENOTFOUND);
	assert_int_equal(strata_get_fd(s, "none", 4, 1, fd, NULL, NULL), STRATA_ENOTFOUND);
	assert_int_equal(strata_get_fd(s, "big", 3, 1, -1, NULL, NULL), STRATA_EINVAL);
	assert_int_equal(close(fd), 0);
	assert_int_equal(tu_file_size(out), 0);
	free(out);
	free(big);
	strata_close(s);
}

/* verify --since checks fewer packs; a fork shares the packs (hard links),
 * dedups against its parent's chunks, and leaves the parent as it was. */
static void test_verify_since_and_fork(void **state)
{
	const char *dir = *state;
	char *src = tu_join(dir, "src"), *fk = tu_join(dir, "fork");
	const size_t len = MIB;
	uint8_t *a = tu_alloc(len);
	tu_fill_random(a, len, 21);
	uint8_t *b = speckled(a, len, 50000);
	strata_store *s = open_chunked(src, -1);
	put_copy(s, "x", a, len);
	commit(s);
	put_copy(s, "x", b, len);
	commit(s);
	strata_verify_result all, since;
	assert_int_equal(strata_verify_since(s, 1, NULL, NULL, NULL, &all), 0);
	assert_int_equal(strata_verify_since(s, 2, NULL, NULL, NULL, &since), 0);
	assert_int_equal(all.packs, 2);
	assert_int_equal(since.packs, 1);
	assert_true(since.records < all.records);
	strata_close(s);
	uint64_t copied = 9;
	assert_int_equal(strata_fork(src, fk, &copied), 0);
	assert_int_equal(copied, 0);
	char *p1 = tu_join(src, "packs/0000000001.pack"), *p2 = tu_join(fk, "packs/0000000001.pack");
	struct stat st1, st2;
	assert_int_equal(stat(p1, &st1), 0);
	assert_int_equal(stat(p2, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	free(p1);
	free(p2);
	s = open_chunked(fk, -1);
	check_get(s, "x", 1, a, len);
	put_copy(s, "y", b, len);
	assert_int_equal(commit(s), 3);
	assert_true(pack_size(fk, 3) < len / 20);
	check_get(s, "y", 1, b, len);
	strata_close(s);
	assert_int_equal(count_packs(src), 2);
	assert_int_equal(strata_open(&s, src, STRATA_OPEN_READ, NULL), 0);
	uint64_t n = 9;
	assert_int_equal(strata_record_count(s, "y", 1, &n), 0);
	assert_int_equal(n, 0);
	strata_stats ss;
	assert_int_equal(strata_stats_get(s, &ss), 0);
	assert_int_equal(ss.units, 2);
	strata_close(s);
	/* a fork into a non-empty directory is refused */
	assert_int_equal(strata_fork(src, fk, NULL), STRATA_EEXIST);
	free(a);
	free(b);
	free(src);
	free(fk);
}

/* A fork that fails midway (each write-side call in turn fails) leaves
 * no store, and the next fork into the same directory clears what it left
 * and succeeds; a directory holding the marker and anything a fork does not
 * make, or a finished store, is never cleared. */
static void test_fork_interrupted(void **state)
{
	const char *dir = *state;
	char *src = tu_join(dir, "src"), *fk = tu_join(dir, "fork");
	strata_store *s = open_chunked(src, -1);
	const size_t len = MIB;
	uint8_t *a = tu_alloc(len);
	tu_fill_text(a, len, 91);
	put_copy(s, "f", a, len);
	commit(s);
	strata_close(s);
	int failed = 0, cleared = 0, done = 0;
	for (uint64_t k = 1; k < 64 && !done; k++) {
		os_fault_set(k, ENOSPC);
		int rc = strata_fork(src, fk, NULL);
		os_fault_set(0, 0);
		if (rc == 0) {
			done = 1;
			break;
		}
		failed++;
		strata_store *x = NULL;
		char *mark = tu_join(fk, "fork-incomplete");
		if (strata_open(&x, fk, STRATA_OPEN_READ, NULL) == 0) {
			/* failed after strata.conf was in place (syncing the
			 * directory): a whole store, which no fork clears */
			check_get(x, "f", 1, a, len);
			strata_close(x);
			assert_int_equal(strata_fork(src, fk, NULL), STRATA_EEXIST);
			free(mark);
			tu_rmrf(fk);
			continue;
		}
		/* failed before it made NEW (opening the source), or NEW holds
		 * the marker */
		assert_true(!os_exists(fk) || os_exists(mark));
		cleared += os_exists(mark);
		uint64_t copied = 99;
		if ((rc = strata_fork(src, fk, &copied)) != 0)
			fail_msg("fork after one that failed at write %llu: %s", (unsigned long long)k, strata_errmsg());
		assert_int_equal(copied, 0); /* hard links again */
		assert_int_equal(strata_open(&x, fk, STRATA_OPEN_READ, NULL), 0);
		check_get(x, "f", 1, a, len);
		strata_close(x);
		assert_false(os_exists(mark));
		free(mark);
		tu_rmrf(fk);
	}
	assert_true(done);
	assert_true(failed >= 3 && cleared >= 2);
	/* a finished store with a stray marker: refused, kept */
	char *mark = tu_join(fk, "fork-incomplete");
	tu_write_file(mark, "x", 1, 0644);
	assert_int_equal(strata_fork(src, fk, NULL), STRATA_EEXIST);
	assert_int_equal(strata_open(&s, fk, STRATA_OPEN_READ, NULL), 0);
	check_get(s, "f", 1, a, len);
	strata_close(s);
	/* the marker beside a file no fork makes: refused, kept */
	tu_rmrf(fk);
	assert_int_equal(mkdir(fk, 0755), 0);
	tu_write_file(mark, "x", 1, 0644);
	char *mine = tu_join(fk, "notes.txt");
	tu_write_file(mine, "mine", 4, 0644);
	assert_int_equal(strata_fork(src, fk, NULL), STRATA_EEXIST);
	assert_true(os_exists(mine));
	/* once it is gone, the fork clears its own leftovers */
	assert_int_equal(unlink(mine), 0);
	assert_int_equal(strata_fork(src, fk, NULL), 0);
	assert_false(os_exists(mark));
	free(mine);
	free(mark);
	free(a);
	free(src);
	free(fk);
}

/* A record read from a descriptor is chunked as it is read: the same
 * chunks as strata_put of the same bytes makes (so the second costs
 * nothing), and a small one is put whole. */
static void test_put_fd(void **state)
{
	const char *dir = *state;
	char *st = tu_join(dir, "s"), *f = tu_join(dir, "big"), *g = tu_join(dir, "small");
	const size_t len = 3 * MIB + 12345;
	uint8_t *a = tu_alloc(len);
	tu_fill_random(a, len, 31);
	tu_write_file(f, a, len, 0644);
	tu_write_file(g, a, 1000, 0644);
	strata_store *s = open_chunked(st, 2);
	int fd = open(f, O_RDONLY);
	assert_true(fd >= 0);
	uint64_t n = 0, size = 0;
	assert_int_equal(strata_put_fd(s, "big", 3, fd, f, &n, &size), 0);
	close(fd);
	assert_int_equal(n, 1);
	assert_int_equal(size, len);
	assert_int_equal(commit(s), 1);
	put_copy(s, "again", a, len);
	assert_int_equal(commit(s), 2);
	assert_true(pack_size(st, 2) < len / 50);
	fd = open(g, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(strata_put_fd(s, "small", 5, fd, g, &n, &size), 0);
	close(fd);
	assert_int_equal(size, 1000);
	assert_int_equal(commit(s), 3);
	check_get(s, "big", 1, a, len);
	check_get(s, "again", 1, a, len);
	check_get(s, "small", 1, a, 1000);
	strata_close(s);
	free(a);
	free(st);
	free(f);
	free(g);
}

/* Manifests round-trip, and one naming an unsafe path (or out of order,
 * or truncated) is refused. */
static tree one_entry_tree(const char *path)
{
	tree t = { 0 };
	tree_entry e = { .type = TREE_FILE, .mode = 0640, .mtime = -5, .mtime_ns = 7, .path = strdup(path),
			 .plen = strlen(path), .size = 3, .n = 2, .ctime = 1, .ctime_ns = 2, .ino = 99 };
	e.sha[0] = 0xab;
	assert_int_equal(tree_add(&t, &e), 0);
	return t;
}

/* The manifest of t (freed here) is written, and refused when read. */
static void expect_refused(tree *t)
{
	bytebuf e = { 0 };
	assert_int_equal(tree_encode(t, &e), 0);
	tree y;
	assert_int_equal(tree_decode(e.p, e.len, &y), STRATA_ECORRUPT);
	tree_free(t);
	buf_free(&e);
}

static void test_manifest(void **state)
{
	(void)state;
	tree t = one_entry_tree("dir/file");
	tree_entry l = { .type = TREE_LINK, .mode = 0777, .path = strdup("dir/link"), .plen = 8,
			 .target = strdup("../x"), .tlen = 4 };
	tree_entry d = { .type = TREE_DIR, .mode = 01777, .mtime = 1LL << 40, .path = strdup("dir"), .plen = 3 };
	assert_int_equal(tree_add(&t, &l), 0);
	assert_int_equal(tree_add(&t, &d), 0);
	tree_sort(&t);
	bytebuf b = { 0 };
	assert_int_equal(tree_encode(&t, &b), 0);
	tree u;
	assert_int_equal(tree_decode(b.p, b.len, &u), 0);
	assert_int_equal(u.n, 3);
	assert_string_equal(u.v[0].path, "dir");
	assert_int_equal(u.v[0].mtime, 1LL << 40);
	const tree_entry *f = tree_find(&u, "dir/file", 8);
	assert_non_null(f);
	assert_int_equal(f->mtime, -5);
	assert_int_equal(f->ino, 99);
	assert_int_equal(f->sha[0], 0xab);
	assert_int_equal(f->n, 2);
	assert_memory_equal(tree_find(&u, "dir/link", 8)->target, "../x", 4);
	assert_null(tree_find(&u, "dir/fil", 7));
	/* every truncation is refused */
	for (size_t cut = 0; cut < b.len; cut++) {
		tree v;
		assert_int_not_equal(tree_decode(b.p, cut, &v), 0);
	}
	tree_free(&u);
	tree_free(&t);
	buf_free(&b);
	const char *bad[] = { "../x", "a/../b", "/abs", "a//b", "a/", ".", "a/./b", "" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		tree x = one_entry_tree(bad[i]);
		expect_refused(&x);
	}
	/* out of order */
	tree o = one_entry_tree("b");
	tree_entry a = { .type = TREE_DIR, .path = strdup("a"), .plen = 1 };
	assert_int_equal(tree_add(&o, &a), 0);
	expect_refused(&o);
}

/* A text like `a` with a span of new text written every `every` bytes. */
static uint8_t *rewritten(const uint8_t *a, size_t len, size_t every, uint64_t seed)
{
	uint8_t *b = tu_alloc(len);
	memcpy(b, a, len);
	for (size_t i = every / 3; i + 2048 < len; i += every)
		tu_fill_text(b + i, 2048, seed + i);
	return b;
}

/* A text like `a` with every `every`-th byte changed, from byte `from`. */
static uint8_t *perturbed(const uint8_t *a, size_t len, size_t every, size_t from)
{
	uint8_t *b = tu_alloc(len);
	memcpy(b, a, len);
	for (size_t i = from % every; i < len; i += every)
		b[i] ^= 0x20;
	return b;
}

/* Six versions of a 6 MiB text, each made from the one before by `edit`,
 * one unit each: every later unit's pack is far smaller than the first,
 * every version reads back and verifies. Counts the encodings of the
 * records of the third unit's pack into `encs`. */
static void edited_versions(const char *dir, uint8_t *(*edit)(const uint8_t *, size_t, int), size_t encs[ENC_MAX + 1])
{
	strata_options o;
	assert_int_equal(strata_options_profile(&o, "archive"), 0);
	o.repack_after = 0;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, &o), 0);
	const size_t len = 6 * MIB;
	uint8_t *v[6];
	v[0] = tu_alloc(len);
	tu_fill_text(v[0], len, 41);
	for (int i = 0; i < 6; i++) {
		if (i)
			v[i] = edit(v[i - 1], len, i);
		put_copy(s, "book.txt", v[i], len);
		assert_int_equal(commit(s), (uint64_t)i + 1);
	}
	uint64_t first = pack_size(dir, 1);
	for (int i = 2; i <= 6; i++)
		assert_true(pack_size(dir, (uint64_t)i) < first / 4);
	char *p = tu_join(dir, "packs/0000000003.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, p), 0);
	memset(encs, 0, (ENC_MAX + 1) * sizeof *encs);
	for (size_t i = 0; i < r->footer.nrecords; i++)
		encs[r->footer.records[i].enc]++;
	pack_close(r);
	free(p);
	for (int i = 0; i < 6; i++) {
		check_get(s, "book.txt", (uint64_t)i + 1, v[i], len);
		free(v[i]);
	}
	strata_verify_result vr;
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &vr), 0);
	strata_close(s);
}

static uint8_t *spans_rewritten(const uint8_t *a, size_t len, int i)
{
	return rewritten(a, len, 50000 + 7919 * (size_t)i, 100 * (uint64_t)i);
}

static uint8_t *bytes_flipped(const uint8_t *a, size_t len, int i)
{
	return perturbed(a, len, 31, 5 * (size_t)i);
}

/* Two versions of a 6 MiB text in chunks of about 256 KiB, one unit each,
 * through a pipeline of `workers`: the second unit's pack size, and the
 * pipeline's count of chunks coded against their bases ahead of their
 * turn. Both versions read back. */
static uint64_t two_versions(const char *dir, int workers, uint64_t *ahead)
{
	strata_options o;
	assert_int_equal(strata_options_profile(&o, "archive"), 0);
	o.chunk_avg = 256 << 10;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, &o), 0);
	strata_pipeline_options po = { .workers = workers };
	assert_int_equal(strata_pipeline_set(s, &po), 0);
	const size_t len = 6 * MIB;
	uint8_t *v1 = tu_alloc(len);
	tu_fill_text(v1, len, 71);
	uint8_t *v2 = rewritten(v1, len, 100000, 72);
	put_copy(s, "book.txt", v1, len);
	assert_int_equal(commit(s), 1);
	put_copy(s, "book.txt", v2, len);
	assert_int_equal(commit(s), 2);
	strata_pipeline_stats ps;
	assert_int_equal(strata_pipeline_stats_get(s, &ps), 0);
	*ahead = ps.bases_ahead;
	check_get(s, "book.txt", 1, v1, len);
	check_get(s, "book.txt", 2, v2, len);
	strata_close(s);
	free(v1);
	free(v2);
	uint64_t second = pack_size(dir, 2);
	assert_true(second < pack_size(dir, 1) / 4); /* coded against the first */
	return second;
}

/* Changed chunks are coded against their bases by whichever worker is
 * free, ahead of their turn in their group (src/pipe.c, fetches); the
 * result is the same whichever worker coded which chunk: with one worker
 * and with two, the second unit's pack has one size. */
static void test_bases_ahead(void **state)
{
	char *a = tu_join(*state, "a"), *b = tu_join(*state, "b");
	uint64_t ahead1, ahead2;
	uint64_t one = two_versions(a, 1, &ahead1), two = two_versions(b, 2, &ahead2);
	assert_true(ahead2 >= 1);
	assert_int_equal(one, two);
	free(a);
	free(b);
}

/* Large chunks of a text with spans rewritten are stored as copy/insert
 * deltas against their previous versions (encoding 2), which leave the
 * new text to the group's codec, not as patches. */
static void test_chunk_deltas(void **state)
{
	size_t encs[ENC_MAX + 1];
	edited_versions(*state, spans_rewritten, encs);
	assert_true(encs[ENC_BASE] >= 1);
	assert_int_equal(encs[ENC_PATCH], 0);
}

/* Where no copy/insert delta of at most half a chunk exists (a byte of
 * every 31 changed: no unchanged run reaches the delta's shortest copy of
 * 32 bytes), the chunk is a zstd patch against its previous version
 * (encoding 4), whose matches may be a few bytes long; a chain of them
 * reads back. */
static void test_patches(void **state)
{
	size_t encs[ENC_MAX + 1];
	edited_versions(*state, bytes_flipped, encs);
	assert_true(encs[ENC_PATCH] >= 1);
	assert_int_equal(encs[ENC_BASE], 0);
}

/* A new chunk's base is the earlier chunk sharing the most features of its
 * sketch: with a quarter of its text rewritten, a chunk shares 8 of 12 with
 * its original (and no super-feature of 4 of them, as format 1.2 indexed),
 * an unrelated chunk of the same vocabulary none. Without a match the base
 * would be the chunk key's previous record, the unrelated one. */
static void test_similar_base(void **state)
{
	const char *dir = *state;
	strata_options o;
	assert_int_equal(strata_options_profile(&o, "archive"), 0);
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, &o), 0);
	const size_t len = MIB;
	uint8_t *x = tu_alloc(len), *y = tu_alloc(len);
	tu_fill_text(x, len, 61);
	tu_fill_text(y, len, 62);
	uint8_t *z = rewritten(y, len, 8192, 63);
	put_copy(s, "y", y, len); /* chunk 1 */
	put_copy(s, "x", x, len); /* chunk 2 */
	assert_int_equal(commit(s), 1);
	put_copy(s, "z", z, len); /* a new key: no previous version to fall back on */
	assert_int_equal(commit(s), 2);
	char *p = tu_join(dir, "packs/0000000002.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, p), 0);
	int found = 0;
	for (size_t i = 0; i < r->footer.nrecords; i++) {
		const pack_record *rec = &r->footer.records[i];
		if (rec->size != len || rec->enc == ENC_CHUNKS)
			continue;
		assert_int_equal(rec->enc, ENC_BASE);
		assert_int_equal(rec->base, 1);
		assert_true(rec->len < len / 3);
		found = 1;
	}
	assert_true(found);
	pack_close(r);
	free(p);
	check_get(s, "z", 1, z, len);
	strata_close(s);
	free(x);
	free(y);
	free(z);
}

/* Chains of patches reach the archive profile's chain_max of 32, and stop
 * there: every version still reads back. */
static void test_deep_chains(void **state)
{
	const char *dir = *state;
	strata_options o;
	assert_int_equal(strata_options_profile(&o, "archive"), 0);
	assert_int_equal(o.chain_max, 32);
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, &o), 0);
	const size_t len = 600 << 10;
	enum { VERSIONS = 36 };
	uint8_t *v[VERSIONS];
	v[0] = tu_alloc(len);
	tu_fill_text(v[0], len, 71);
	for (int i = 0; i < VERSIONS; i++) {
		if (i)
			v[i] = rewritten(v[i - 1], len, 200000 + 997 * (size_t)i, 1000 * (uint64_t)i);
		put_copy(s, "f", v[i], len);
		assert_int_equal(commit(s), (uint64_t)i + 1);
	}
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	assert_int_equal(st.chain_max, 32);
	for (int i = 0; i < VERSIONS; i++) {
		check_get(s, "f", (uint64_t)i + 1, v[i], len);
		free(v[i]);
	}
	strata_verify_result vr;
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &vr), 0);
	strata_close(s);
}

/* A file deleted after the tree was listed is left out of the unit and
 * counted, the rest imported. */
static void delete_later(void *ctx, uint64_t done, uint64_t total)
{
	(void)total;
	if (done == 1)
		unlink((const char *)ctx);
}

static void test_import_vanished(void **state)
{
	const char *dir = *state;
	char *tr = tu_join(dir, "tree"), *st = tu_join(dir, "s"), *out = tu_join(dir, "out");
	assert_int_equal(mkdir(tr, 0755), 0);
	char *a = tu_join(tr, "a"), *b = tu_join(tr, "b"), *c = tu_join(tr, "c");
	tu_write_file(a, "aaa", 3, 0644);
	tu_write_file(b, "bbbb", 4, 0644);
	tu_write_file(c, "cc", 2, 0644);
	strata_store *s = open_chunked(st, -1);
	strata_tree_result r;
	assert_int_equal(strata_import(s, tr, "day", 0, delete_later, c, &r), 0);
	assert_int_equal(r.files, 2);
	assert_int_equal(r.vanished, 1);
	assert_int_equal(r.bytes, 7);
	assert_int_equal(strata_export(s, r.unit, out, NULL, NULL, &r), 0);
	assert_int_equal(r.files, 2);
	char *oc = tu_join(out, "c"), *ob = tu_join(out, "b");
	assert_false(tu_exists(oc));
	size_t n;
	uint8_t *got = tu_read_file(ob, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(got, "bbbb", 4);
	free(got);
	strata_close(s);
	free(oc);
	free(ob);
	free(a);
	free(b);
	free(c);
	free(tr);
	free(st);
	free(out);
}

/* Group body bytes the store's reads have decoded so far. */
static uint64_t decoded(strata_store *s)
{
	group_read_cost c;
	group_coder_cost(s->coder, &c);
	return c.bytes_decoded;
}

/* Export one unit into a fresh directory under dir; returns the bytes of
 * group bodies decoded for it. */
static uint64_t export_decoded(strata_store *s, const char *dir, const char *name, uint64_t unit, uint64_t files)
{
	char *out = tu_join(dir, name);
	strata_tree_result r;
	uint64_t before = decoded(s);
	assert_int_equal(strata_export(s, unit, out, NULL, NULL, &r), 0);
	assert_int_equal(r.files, files);
	free(out);
	return decoded(s) - before;
}

/* The chunked files of one export share the group bodies they decode
 * (read.c's cache, kept across files and dropped after): a tree of four
 * copies of a chunked file decodes hardly more than a tree of one, and
 * every copy comes back whole. */
static void test_export_shares_bodies(void **state)
{
	const char *dir = *state;
	char *one = tu_join(dir, "one"), *four = tu_join(dir, "four"), *st = tu_join(dir, "s");
	assert_int_equal(mkdir(one, 0755), 0);
	assert_int_equal(mkdir(four, 0755), 0);
	const size_t len = 1500 << 10;
	uint8_t *data = tu_alloc(len);
	tu_fill_text(data, len, 5);
	char name[4096];
	snprintf(name, sizeof name, "%s/f", one);
	tu_write_file(name, data, len, 0644);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "%s/f%d", four, i);
		tu_write_file(name, data, len, 0644);
	}
	strata_store *s = open_chunked(st, -1);
	strata_tree_result r1, r4;
	assert_int_equal(strata_import(s, one, "one", 0, NULL, NULL, &r1), 0);
	assert_int_equal(strata_import(s, four, "four", 0, NULL, NULL, &r4), 0);
	strata_close(s);
	s = open_chunked(st, -1);
	uint64_t d1 = export_decoded(s, dir, "out1", r1.unit, 1);
	uint64_t d4 = export_decoded(s, dir, "out4", r4.unit, 4);
	assert_true(d1 >= len / 2); /* the chunks were read from groups */
	if (d4 > d1 + d1 / 2)
		fail_msg("four copies decoded %llu body bytes, one copy %llu", (unsigned long long)d4,
			 (unsigned long long)d1);
	assert_null(s->cache); /* dropped after the export */
	assert_int_equal(s->body_cache_keep, 0);
	assert_int_equal(s->body_cache_on, 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof name, "%s/out4/f%d", dir, i);
		size_t n;
		uint8_t *got = tu_read_file(name, &n);
		assert_int_equal(n, len);
		assert_memory_equal(got, data, len);
		free(got);
	}
	strata_close(s);
	free(data);
	free(one);
	free(four);
	free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shift_resistance),
		cmocka_unit_test(test_sketches),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test_setup_teardown(test_export_shares_bodies, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_dedup_direct, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_dedup_pipeline, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_state_rebuilt, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_put_fd, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_get_fd, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_stats_chunked, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_chunk_deltas, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_bases_ahead, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_patches, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_similar_base, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_deep_chains, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_import_vanished, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_repack_and_damage, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_verify_since_and_fork, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_fork_interrupted, tu_setup_dir, tu_teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
