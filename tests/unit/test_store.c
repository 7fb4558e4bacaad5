/* test_store.c - the public API of include/strata.h, used as an application
 * would: nothing here includes an internal header.
 *
 *   test_store        every test but the 100 MiB record
 *   test_store huge   the 100 MiB record only (CTest label "slow")
 *   test_store PATTERN  the tests whose names match PATTERN (cmocka filter)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "strata.h"
#include "testutil.h"

#include <pthread.h>
#include <time.h>
#include <xxhash.h>

/* ------------------------------------------------------------ helpers */

typedef tu_fixture fixture;

static strata_store *open_store(const char *path, int flags)
{
	strata_store *s = NULL;
	int rc = strata_open(&s, path, flags, NULL);
	if (rc != 0)
		fail_msg("strata_open(%s, %d): %d %s", path, flags, rc, strata_errmsg());
	assert_non_null(s);
	return s;
}

/* Put a malloc'd copy of data, released with strata_release_free. */
static uint64_t put_copy(strata_store *s, const void *key, size_t keylen, const void *data, size_t len)
{
	void *p = tu_alloc(len);
	if (len)
		memcpy(p, data, len);
	uint64_t n = 0;
	int rc = strata_put(s, key, keylen, p, len, strata_release_free, NULL, &n);
	if (rc != 0)
		fail_msg("strata_put: %d %s", rc, strata_errmsg());
	return n;
}

static uint64_t put_str(strata_store *s, const char *key, const char *data)
{
	return put_copy(s, key, strlen(key), data, strlen(data));
}

static uint64_t commit(strata_store *s, const char *label)
{
	uint64_t u = 0;
	int rc = strata_commit(s, label, &u);
	if (rc != 0)
		fail_msg("strata_commit: %d %s", rc, strata_errmsg());
	return u;
}

/* Record n of key equals data. */
static void expect_record(strata_store *s, const void *key, size_t keylen, uint64_t n, const void *data,
			  size_t len)
{
	void *out = NULL;
	size_t got = 12345;
	int rc = strata_get(s, key, keylen, n, &out, &got);
	if (rc != 0)
		fail_msg("strata_get(%.*s, %llu): %d %s", (int)keylen, (const char *)key, (unsigned long long)n,
			 rc, strata_errmsg());
	assert_non_null(out);
	assert_int_equal(got, len);
	if (len)
		assert_memory_equal(out, data, len);
	strata_buf_free(out);
}

static void expect_str(strata_store *s, const char *key, uint64_t n, const char *data)
{
	expect_record(s, key, strlen(key), n, data, strlen(data));
}

static uint64_t count_of(strata_store *s, const void *key, size_t keylen)
{
	uint64_t c = 999999;
	assert_int_equal(strata_record_count(s, key, keylen, &c), 0);
	return c;
}

static strata_stats stats_of(strata_store *s)
{
	strata_stats st;
	memset(&st, 0xab, sizeof st);
	assert_int_equal(strata_stats_get(s, &st), 0);
	return st;
}

/* Release tracking: each put gets its own tracker as ctx. */
typedef struct tracked {
	void *ptr;
	size_t len;
	int calls;
	int mismatched;
} tracked;

static void track_release(void *ctx, void *ptr, size_t len)
{
	tracked *t = ctx;
	t->calls++;
	if (ptr != t->ptr || len != t->len)
		t->mismatched++;
	free(ptr);
}

static int put_tracked(strata_store *s, const void *key, size_t keylen, size_t len, uint64_t seed, tracked *t)
{
	t->ptr = tu_alloc(len);
	t->len = len;
	t->calls = t->mismatched = 0;
	tu_fill_text(t->ptr, len, seed);
	return strata_put(s, key, keylen, t->ptr, len, track_release, t, NULL);
}

/* ------------------------------------------------------------ round trips */

static void test_small_records(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	static const char bin[] = { 0, 1, 2, (char)0xff, 0, 'x' };
	uint64_t n;
	assert_int_equal(strata_put(s, "empty", 5, NULL, 0, NULL, NULL, &n), 0); /* no data, no buffer */
	assert_int_equal(n, 1);
	assert_int_equal(put_copy(s, "empty", 5, "", 0), 2);
	assert_int_equal(put_str(s, "one", "x"), 1);
	assert_int_equal(put_str(s, "text", "hello, world\n"), 1);
	assert_int_equal(put_copy(s, "bin\0key", 7, bin, sizeof bin), 1);
	assert_int_equal(put_copy(s, "bin\0key", 7, bin, 3), 2);
	/* Before the commit nothing is visible, not even to the writer. */
	assert_int_equal(count_of(s, "one", 3), 0);
	assert_int_equal(commit(s, "first"), 1);
	/* A unit of empty records only: an empty group body. */
	assert_int_equal(put_copy(s, "empty", 5, "", 0), 3);
	assert_int_equal(put_copy(s, "zero", 4, "", 0), 1);
	assert_int_equal(commit(s, NULL), 2);

	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(count_of(s, "empty", 5), 3);
		expect_record(s, "empty", 5, 1, "", 0);
		expect_record(s, "empty", 5, 2, "", 0);
		expect_record(s, "empty", 5, 3, "", 0);
		expect_record(s, "zero", 4, 1, "", 0);
		assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
		expect_str(s, "one", 1, "x");
		expect_str(s, "text", 1, "hello, world\n");
		expect_record(s, "bin\0key", 7, 1, bin, sizeof bin);
		expect_record(s, "bin\0key", 7, 2, bin, 3);
		assert_int_equal(count_of(s, "bin", 3), 0); /* the key is 7 bytes */
		strata_close(s);
		s = open_store(f->store, STRATA_OPEN_READ); /* and after reopening */
	}
	strata_close(s);
}

/* Records larger than the group cap: compressible text with variation, and
 * incompressible bytes. */
static void check_large(fixture *f, size_t text_len, size_t rand_len)
{
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	uint8_t *text = tu_alloc(text_len), *rnd = tu_alloc(rand_len);
	tu_fill_text(text, text_len, 1234);
	tu_fill_random(rnd, rand_len, 5678);
	put_str(s, "small", "before");
	put_copy(s, "big-text", 8, text, text_len);
	put_copy(s, "big-random", 10, rnd, rand_len);
	put_str(s, "small", "after");
	commit(s, "large");
	strata_close(s);

	s = open_store(f->store, STRATA_OPEN_READ);
	expect_record(s, "big-text", 8, 1, text, text_len);
	expect_record(s, "big-random", 10, 1, rnd, rand_len);
	expect_str(s, "small", 1, "before");
	expect_str(s, "small", 2, "after");
	strata_stats st = stats_of(s);
	assert_int_equal(st.raw_bytes, text_len + rand_len + 11);
	/* Text compresses; random bytes do not grow much. */
	assert_true(st.pack_bytes < text_len / 3 + rand_len + rand_len / 50 + 65536);
	assert_true(st.pack_bytes > rand_len);
	strata_close(s);
	free(text);
	free(rnd);
}

static void test_large_records(void **state)
{
	check_large(*state, 24u << 20, 8u << 20);
}

static void test_huge_record(void **state)
{
	check_large(*state, 100u << 20, 8u << 20);
}

static void test_max_key(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	static uint8_t key[65536];
	tu_fill_random(key, sizeof key, 3);
	put_copy(s, key, 65535, "max", 3);
	assert_int_equal(strata_put(s, key, 65536, NULL, 0, NULL, NULL, NULL), STRATA_EINVAL);
	assert_int_equal(strata_put(s, key, 0, NULL, 0, NULL, NULL, NULL), STRATA_EINVAL);
	commit(s, NULL);
	expect_record(s, key, 65535, 1, "max", 3);
	assert_int_equal(count_of(s, key, 65534), 0);
	strata_close(s);
}

/* 5000 keys with 1..3 records each, in two units. */
static void test_many_keys(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	const int nkeys = 5000;
	char key[32], val[128];
	for (int unit = 0; unit < 2; unit++) {
		for (int i = 0; i < nkeys; i++) {
			int recs = unit == 0 ? 1 + i % 2 : i % 3 == 0;
			for (int r = 0; r < recs; r++) {
				int kl = snprintf(key, sizeof key, "key-%05d", i);
				int vl = snprintf(val, sizeof val, "value of key %d, unit %d, record %d, %s", i, unit, r,
						  i % 7 ? "seven" : "none");
				put_copy(s, key, (size_t)kl, val, (size_t)vl);
			}
		}
		commit(s, NULL);
	}
	strata_close(s);
	s = open_store(f->store, STRATA_OPEN_READ);
	uint64_t total = 0;
	for (int i = 0; i < nkeys; i++) {
		int kl = snprintf(key, sizeof key, "key-%05d", i);
		uint64_t want = (uint64_t)(1 + i % 2) + (i % 3 == 0);
		assert_int_equal(count_of(s, key, (size_t)kl), want);
		total += want;
		uint64_t n = 1;
		for (int unit = 0; unit < 2; unit++) {
			int recs = unit == 0 ? 1 + i % 2 : i % 3 == 0;
			for (int r = 0; r < recs; r++, n++) {
				int vl = snprintf(val, sizeof val, "value of key %d, unit %d, record %d, %s", i, unit, r,
						  i % 7 ? "seven" : "none");
				expect_record(s, key, (size_t)kl, n, val, (size_t)vl);
			}
		}
	}
	strata_stats st = stats_of(s);
	assert_int_equal(st.keys, (uint64_t)nkeys);
	assert_int_equal(st.records, total);
	assert_int_equal(st.units, 2);
	strata_close(s);
}

/* 500 commits: record numbers run on across units; latest = count. */
static void test_many_units(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	const int units = 500;
	char val[64], label[32];
	for (int u = 1; u <= units; u++) {
		snprintf(val, sizeof val, "log line %d", u);
		assert_int_equal(put_str(s, "log", val), (uint64_t)u);
		if (u % 10 == 0) {
			snprintf(val, sizeof val, "every tenth %d", u);
			assert_int_equal(put_str(s, "tenth", val), (uint64_t)u / 10);
		}
		snprintf(label, sizeof label, "commit %d", u);
		assert_int_equal(commit(s, label), (uint64_t)u);
	}
	assert_int_equal(count_of(s, "log", 3), (uint64_t)units);
	assert_int_equal(count_of(s, "tenth", 5), (uint64_t)units / 10);
	/* Latest record, via the count. */
	uint64_t latest = count_of(s, "log", 3);
	snprintf(val, sizeof val, "log line %d", units);
	expect_str(s, "log", latest, val);
	/* Every record, more packs than the descriptor cache holds. */
	for (int u = 1; u <= units; u++) {
		snprintf(val, sizeof val, "log line %d", u);
		expect_str(s, "log", (uint64_t)u, val);
	}
	for (int u = 10; u <= units; u += 10) {
		snprintf(val, sizeof val, "every tenth %d", u);
		expect_str(s, "tenth", (uint64_t)u / 10, val);
	}
	strata_stats st = stats_of(s);
	assert_int_equal(st.units, (uint64_t)units);
	assert_int_equal(st.records, (uint64_t)units + units / 10);
	assert_int_equal(st.keys, 2);
	strata_close(s);
	/* A new unit after reopening continues the numbering. */
	s = open_store(f->store, STRATA_OPEN_WRITE);
	assert_int_equal(put_str(s, "log", "after reopen"), (uint64_t)units + 1);
	assert_int_equal(commit(s, NULL), (uint64_t)units + 1);
	expect_str(s, "log", units + 1, "after reopen");
	strata_close(s);
}

/* Numbering within and across units, and per key. */
static void test_numbering(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	assert_int_equal(put_str(s, "a", "a1"), 1);
	assert_int_equal(put_str(s, "b", "b1"), 1);
	assert_int_equal(put_str(s, "a", "a2"), 2);
	assert_int_equal(put_str(s, "a", "a3"), 3);
	assert_int_equal(commit(s, NULL), 1);
	assert_int_equal(put_str(s, "b", "b2"), 2);
	assert_int_equal(put_str(s, "a", "a4"), 4);
	assert_int_equal(put_str(s, "c", "c1"), 1);
	assert_int_equal(commit(s, NULL), 2);
	assert_int_equal(commit(s, NULL), 3); /* an empty unit is a unit */
	assert_int_equal(put_str(s, "b", "b3"), 3);
	assert_int_equal(commit(s, NULL), 4);
	const char *a[] = { "a1", "a2", "a3", "a4" }, *b[] = { "b1", "b2", "b3" };
	for (int i = 0; i < 4; i++)
		expect_str(s, "a", (uint64_t)i + 1, a[i]);
	for (int i = 0; i < 3; i++)
		expect_str(s, "b", (uint64_t)i + 1, b[i]);
	expect_str(s, "c", 1, "c1");
	assert_int_equal(count_of(s, "a", 1), 4);
	assert_int_equal(count_of(s, "b", 1), 3);
	assert_int_equal(count_of(s, "c", 1), 1);
	assert_int_equal(count_of(s, "d", 1), 0);
	strata_close(s);
}

static void test_not_found(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	void *out = (void *)1;
	size_t len = 7;
	assert_int_equal(strata_get(s, "k", 1, 1, &out, &len), STRATA_ENOTFOUND); /* empty store */
	assert_true(strlen(strata_errmsg()) > 0);
	put_str(s, "k", "v1");
	put_str(s, "k", "v2");
	assert_int_equal(strata_get(s, "k", 1, 1, &out, &len), STRATA_ENOTFOUND); /* not committed */
	commit(s, NULL);
	assert_int_equal(strata_get(s, "nope", 4, 1, &out, &len), STRATA_ENOTFOUND);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(strata_get(s, "k", 1, 0, &out, &len), STRATA_ENOTFOUND);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(strata_get(s, "k", 1, 3, &out, &len), STRATA_ENOTFOUND);
	assert_int_equal(strata_get(s, "k", 1, UINT64_MAX, &out, &len), STRATA_ENOTFOUND);
	assert_int_equal(strata_get(s, "k", 1, (uint64_t)1 << 63, &out, &len), STRATA_ENOTFOUND);
	assert_int_equal(strata_get(s, "K", 1, 1, &out, &len), STRATA_ENOTFOUND);
	assert_int_equal(strata_get(s, "k\0", 2, 1, &out, &len), STRATA_ENOTFOUND);
	int rc = strata_get(s, "k", 0, 1, &out, &len);
	assert_true(rc == STRATA_ENOTFOUND || rc == STRATA_EINVAL);
	expect_str(s, "k", 2, "v2");
	/* Arguments. */
	assert_int_equal(strata_get(s, NULL, 1, 1, &out, &len), STRATA_EINVAL);
	assert_int_equal(strata_get(s, "k", 1, 1, NULL, &len), STRATA_EINVAL);
	assert_int_equal(strata_get(NULL, "k", 1, 1, &out, &len), STRATA_EINVAL);
	uint64_t c;
	assert_int_equal(strata_record_count(s, "zz", 2, &c), 0);
	assert_int_equal(c, 0);
	strata_close(s);
	strata_close(NULL); /* accepted */
	strata_buf_free(NULL);
}

/* ------------------------------------------------------------ ownership */

static void test_release_exactly_once(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	tracked t[16];
	/* Committed records. Small and large (a record over the group cap is
	 * written, and can be released, during put). */
	assert_int_equal(put_tracked(s, "a", 1, 100, 1, &t[0]), 0);
	assert_int_equal(put_tracked(s, "a", 1, 3u << 20, 2, &t[1]), 0);
	assert_int_equal(put_tracked(s, "b", 1, 0, 3, &t[2]), 0);
	commit(s, NULL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].mismatched, 0);
	}
	/* Rolled back. */
	assert_int_equal(put_tracked(s, "a", 1, 100, 4, &t[3]), 0);
	assert_int_equal(strata_rollback(s), 0);
	assert_int_equal(t[3].calls, 1);
	/* Failing puts release before they return. */
	assert_int_equal(put_tracked(s, "", 0, 50, 5, &t[4]), STRATA_EINVAL);
	assert_int_equal(t[4].calls, 1);
	static char big[65536];
	assert_int_equal(put_tracked(s, big, sizeof big, 50, 6, &t[5]), STRATA_EINVAL);
	assert_int_equal(t[5].calls, 1);
	assert_int_equal(put_tracked(s, NULL, 3, 50, 7, &t[6]), STRATA_EINVAL);
	assert_int_equal(t[6].calls, 1);
	/* ...and the unit in progress survives a rejected put. */
	assert_int_equal(put_tracked(s, "c", 1, 10, 8, &t[7]), 0);
	assert_int_equal(put_tracked(s, "", 0, 10, 9, &t[8]), STRATA_EINVAL);
	assert_int_equal(t[8].calls, 1);
	commit(s, NULL);
	assert_int_equal(t[7].calls, 1);
	assert_int_equal(count_of(s, "c", 1), 1);
	/* Discarded by close. */
	assert_int_equal(put_tracked(s, "d", 1, 1000, 10, &t[9]), 0);
	assert_int_equal(put_tracked(s, "d", 1, 10, 11, &t[10]), 0);
	strata_close(s);
	assert_int_equal(t[9].calls, 1);
	assert_int_equal(t[10].calls, 1);
	/* Read-only store. */
	s = open_store(f->store, STRATA_OPEN_READ);
	assert_int_equal(put_tracked(s, "e", 1, 10, 12, &t[11]), STRATA_EREADONLY);
	assert_int_equal(t[11].calls, 1);
	strata_close(s);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].mismatched, 0);
	}
}

/* The buffer is not copied: what the store writes is what the buffer holds
 * when the store is done with it, and release comes with the caller's ctx. */
static int releases_seen;
static void count_release(void *ctx, void *ptr, size_t len)
{
	assert_ptr_equal(ctx, &releases_seen);
	releases_seen++;
	(void)ptr;
	(void)len;
}

static void test_release_static_and_null(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	static char stat1[] = "static data one", stat2[] = "static data two";
	releases_seen = 0;
	assert_int_equal(strata_put(s, "s", 1, stat1, strlen(stat1), count_release, &releases_seen, NULL), 0);
	assert_int_equal(strata_put(s, "s", 1, stat2, strlen(stat2), NULL, NULL, NULL), 0);
	commit(s, NULL);
	assert_int_equal(releases_seen, 1);
	expect_str(s, "s", 1, stat1);
	expect_str(s, "s", 2, stat2);
	strata_close(s);
	assert_int_equal(releases_seen, 1);
}

/* ------------------------------------------------------------ units */

static void test_rollback(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	put_str(s, "k", "committed");
	commit(s, NULL);
	char *packs = tu_join(f->store, "packs");
	assert_int_equal(put_str(s, "k", "gone 1"), 2);
	assert_int_equal(put_str(s, "j", "gone 2"), 1);
	assert_int_equal(strata_rollback(s), 0);
	assert_int_equal(tu_count_names(packs, "tmp-", ""), 0);
	assert_int_equal(strata_rollback(s), 0); /* nothing to roll back */
	assert_int_equal(count_of(s, "k", 1), 1);
	assert_int_equal(count_of(s, "j", 1), 0);
	/* Numbers are handed out again; the unit number is not used up. */
	assert_int_equal(put_str(s, "k", "kept"), 2);
	assert_int_equal(commit(s, NULL), 2);
	expect_str(s, "k", 1, "committed");
	expect_str(s, "k", 2, "kept");
	assert_int_equal(count_of(s, "j", 1), 0);
	strata_stats st = stats_of(s);
	assert_int_equal(st.units, 2);
	assert_int_equal(st.records, 2);
	assert_int_equal(tu_count_names(packs, "", ".pack"), 2);
	strata_close(s);
	free(packs);
}

static void test_close_without_commit(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	put_str(s, "k", "one");
	commit(s, NULL);
	put_str(s, "k", "lost");
	put_str(s, "new", "lost too");
	strata_close(s);
	char *packs = tu_join(f->store, "packs");
	assert_int_equal(tu_count_names(packs, "tmp-", ""), 0);
	assert_int_equal(tu_count_names(packs, "", ".pack"), 1);
	s = open_store(f->store, STRATA_OPEN_WRITE);
	assert_int_equal(count_of(s, "k", 1), 1);
	assert_int_equal(count_of(s, "new", 3), 0);
	assert_int_equal(stats_of(s).units, 1);
	assert_int_equal(put_str(s, "k", "two"), 2);
	assert_int_equal(commit(s, NULL), 2);
	expect_str(s, "k", 2, "two");
	strata_close(s);
	free(packs);
}

/* ------------------------------------------------------------ open, locking */

static void test_writer_lock_and_readers(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	put_str(w, "k", "v1");
	commit(w, NULL);

	strata_store *w2 = (strata_store *)1;
	assert_int_equal(strata_open(&w2, f->store, STRATA_OPEN_WRITE, NULL), STRATA_ELOCKED);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(strata_open(&w2, f->store, STRATA_OPEN_CREATE, NULL), STRATA_ELOCKED);

	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	assert_int_equal(count_of(r, "k", 1), 1);
	/* Uncommitted records are invisible to readers. */
	put_str(w, "k", "v2");
	put_str(w, "other", "x");
	assert_int_equal(count_of(r, "k", 1), 1);
	assert_int_equal(count_of(r, "other", 5), 0);
	void *out;
	size_t len;
	assert_int_equal(strata_get(r, "k", 1, 2, &out, &len), STRATA_ENOTFOUND);
	strata_store *r2 = open_store(f->store, STRATA_OPEN_READ); /* opened mid-unit */
	assert_int_equal(count_of(r2, "k", 1), 1);
	assert_int_equal(stats_of(r2).units, 1);
	/* After the commit: the same readers and a new one see it. */
	commit(w, NULL);
	assert_int_equal(count_of(r, "k", 1), 2);
	expect_str(r, "k", 2, "v2");
	expect_str(r2, "other", 1, "x");
	strata_store *r3 = open_store(f->store, STRATA_OPEN_READ);
	expect_str(r3, "k", 2, "v2");
	assert_int_equal(stats_of(r3).units, 2);
	/* Readers cannot write. */
	assert_int_equal(strata_put(r, "k", 1, NULL, 0, NULL, NULL, NULL), STRATA_EREADONLY);
	assert_int_equal(strata_commit(r, NULL, NULL), STRATA_EREADONLY);
	/* The lock goes with the writer. */
	strata_close(w);
	w = open_store(f->store, STRATA_OPEN_WRITE);
	put_str(w, "k", "v3");
	commit(w, NULL);
	expect_str(r, "k", 3, "v3");
	strata_close(w);
	strata_close(r);
	strata_close(r2);
	strata_close(r3);
}

static void test_open_flags(void **state)
{
	fixture *f = *state;
	strata_store *s = NULL;
	/* Nothing there. */
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_READ, NULL), STRATA_ENOTFOUND);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_WRITE, NULL), STRATA_ENOTFOUND);
	assert_false(tu_exists(f->store));
	/* A directory that is not a store. */
	char *plain = tu_join(f->dir, "plain");
	assert_int_equal(mkdir(plain, 0755), 0);
	assert_int_equal(strata_open(&s, plain, STRATA_OPEN_READ, NULL), STRATA_ENOTFOUND);
	assert_true(strlen(strata_errmsg()) > 0);
	/* ...and not empty: not made into one either. */
	char *junk = tu_join(plain, "file.txt");
	tu_write_file(junk, "hello", 5, 0644);
	assert_int_equal(strata_open(&s, plain, STRATA_OPEN_CREATE, NULL), STRATA_EEXIST);
	assert_int_equal(tu_count_names(plain, "", ""), 1);
	/* Create, then create exclusively again. */
	s = open_store(f->store, STRATA_OPEN_CREATE | STRATA_OPEN_EXCL);
	put_str(s, "k", "v");
	commit(s, NULL);
	strata_close(s);
	strata_store *s2 = NULL;
	assert_int_equal(strata_open(&s2, f->store, STRATA_OPEN_CREATE | STRATA_OPEN_EXCL, NULL), STRATA_EEXIST);
	assert_true(strlen(strata_errmsg()) > 0);
	/* Plain CREATE opens the existing store, data intact. */
	s = open_store(f->store, STRATA_OPEN_CREATE);
	expect_str(s, "k", 1, "v");
	strata_close(s);
	/* Bad arguments. */
	assert_int_equal(strata_open(NULL, f->store, STRATA_OPEN_READ, NULL), STRATA_EINVAL);
	assert_int_equal(strata_open(&s, NULL, STRATA_OPEN_READ, NULL), STRATA_EINVAL);
	assert_int_equal(strata_open(&s, "", STRATA_OPEN_READ, NULL), STRATA_EINVAL);
	free(junk);
	free(plain);
}

static void test_options(void **state)
{
	fixture *f = *state;
	strata_store *s = NULL;
	strata_options o = STRATA_OPTIONS_INIT;
	/* Bad values are refused and create nothing. */
	o.group_cap = 100;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), STRATA_EINVAL);
	o = (strata_options)STRATA_OPTIONS_INIT;
	o.zstd_level = 0;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), STRATA_EINVAL);
	o = (strata_options)STRATA_OPTIONS_INIT;
	o.zstd_level = 23;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), STRATA_EINVAL);
	o = (strata_options)STRATA_OPTIONS_INIT;
	o.version = 99;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), STRATA_EINVAL);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_false(tu_exists(f->store));

	/* A small group cap is kept by the store: 64 records of 1 KiB then make
	 * many groups, even when a later open passes other options. */
	o = (strata_options)STRATA_OPTIONS_INIT;
	o.group_cap = 4096;
	s = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
	char buf[1024];
	for (int i = 0; i < 64; i++) {
		tu_fill_text(buf, sizeof buf, (uint64_t)i);
		put_copy(s, "k", 1, buf, sizeof buf);
	}
	commit(s, NULL);
	uint64_t g1 = stats_of(s).groups;
	assert_true(g1 >= 64 / 4);
	strata_close(s);
	o.group_cap = 256u << 20;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_WRITE, &o), 0);
	for (int i = 0; i < 64; i++) {
		tu_fill_text(buf, sizeof buf, (uint64_t)i + 100);
		put_copy(s, "k", 1, buf, sizeof buf);
	}
	commit(s, NULL);
	assert_true(stats_of(s).groups - g1 >= 64 / 4);
	for (int i = 0; i < 64; i++) {
		tu_fill_text(buf, sizeof buf, (uint64_t)i + 100);
		expect_record(s, "k", 1, 65 + (uint64_t)i, buf, sizeof buf);
	}
	strata_close(s);

	/* The default cap puts the same data in far fewer groups. */
	char *other = tu_join(f->dir, "other");
	s = open_store(other, STRATA_OPEN_CREATE);
	for (int i = 0; i < 64; i++) {
		tu_fill_text(buf, sizeof buf, (uint64_t)i);
		put_copy(s, "k", 1, buf, sizeof buf);
	}
	commit(s, NULL);
	uint64_t g0 = stats_of(s).groups;
	assert_true(g0 >= 1 && g0 * 2 <= g1);
	strata_close(s);
	free(other);
}

/* ------------------------------------------------------------ iteration */

typedef struct keylist {
	int n;
	uint8_t key[16][16];
	size_t len[16];
	uint64_t records[16];
	int stop_at;
} keylist;

static int key_cb(void *ctx, const strata_key_info *k)
{
	keylist *l = ctx;
	assert_true(l->n < 16);
	assert_true(k->keylen <= 16);
	memcpy(l->key[l->n], k->key, k->keylen);
	l->len[l->n] = k->keylen;
	l->records[l->n] = k->records;
	l->n++;
	return l->n == l->stop_at ? -77 : 0;
}

typedef struct reclist {
	int n;
	strata_record_info r[16];
	int stop_at;
} reclist;

static int rec_cb(void *ctx, const strata_record_info *r)
{
	reclist *l = ctx;
	assert_true(l->n < 16);
	l->r[l->n++] = *r;
	return l->n == l->stop_at ? 5 : 0;
}

typedef struct unitlist {
	int n;
	strata_unit_info u[16];
	char label[16][64];
	char pack[16][64];
} unitlist;

static int unit_cb(void *ctx, const strata_unit_info *u)
{
	unitlist *l = ctx;
	assert_true(l->n < 16);
	assert_non_null(u->label);
	assert_non_null(u->pack);
	l->u[l->n] = *u;
	snprintf(l->label[l->n], sizeof l->label[0], "%s", u->label);
	snprintf(l->pack[l->n], sizeof l->pack[0], "%s", u->pack);
	l->n++;
	return 0;
}

static void test_foreach(void **state)
{
	fixture *f = *state;
	int64_t t0 = (int64_t)time(NULL);
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	/* Keys put out of order; byte order is: "B" < "a" < "a\0" < "ab" < "\xff". */
	put_copy(s, "\xff", 1, "hi", 2);
	put_copy(s, "ab", 2, "ab1", 3);
	put_copy(s, "a", 1, "a1", 2);
	put_copy(s, "a\0", 2, "nul", 3);
	put_copy(s, "B", 1, "", 0);
	commit(s, "one");
	put_copy(s, "a", 1, "a2 longer", 9);
	put_copy(s, "a", 1, "a3", 2);
	commit(s, NULL);
	commit(s, "empty unit");
	int64_t t1 = (int64_t)time(NULL);

	keylist kl = { 0 };
	assert_int_equal(strata_foreach_key(s, key_cb, &kl), 0);
	assert_int_equal(kl.n, 5);
	static const struct { const char *k; size_t len; uint64_t recs; } want[] = {
		{ "B", 1, 1 }, { "a", 1, 3 }, { "a\0", 2, 1 }, { "ab", 2, 1 }, { "\xff", 1, 1 },
	};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(kl.len[i], want[i].len);
		assert_memory_equal(kl.key[i], want[i].k, want[i].len);
		assert_int_equal(kl.records[i], want[i].recs);
	}
	keylist stop = { 0 };
	stop.stop_at = 2;
	assert_int_equal(strata_foreach_key(s, key_cb, &stop), -77);
	assert_int_equal(stop.n, 2);

	reclist rl = { 0 };
	assert_int_equal(strata_foreach_record(s, "a", 1, rec_cb, &rl), 0);
	assert_int_equal(rl.n, 3);
	static const char *const content[] = { "a1", "a2 longer", "a3" };
	static const uint64_t unit_of[] = { 1, 2, 2 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rl.r[i].n, (uint64_t)i + 1);
		assert_int_equal(rl.r[i].unit, unit_of[i]);
		assert_int_equal(rl.r[i].size, strlen(content[i]));
		/* a2 and a3, small literals of one block, share a checksum */
		assert_int_equal(rl.r[i].shared_checksum, i > 0);
		assert_int_equal(rl.r[i].checksum, i > 0 ? 0 : XXH3_64bits(content[i], strlen(content[i])));
		assert_true(rl.r[i].stored > 0);
	}
	reclist r1 = { 0 };
	r1.stop_at = 1;
	assert_int_equal(strata_foreach_record(s, "a", 1, rec_cb, &r1), 5);
	assert_int_equal(r1.n, 1);
	reclist none = { 0 };
	assert_int_equal(strata_foreach_record(s, "zzz", 3, rec_cb, &none), 0);
	assert_int_equal(none.n, 0);
	reclist empty = { 0 };
	assert_int_equal(strata_foreach_record(s, "B", 1, rec_cb, &empty), 0);
	assert_int_equal(empty.n, 1);
	assert_int_equal(empty.r[0].size, 0);
	assert_int_equal(empty.r[0].checksum, XXH3_64bits("", 0));

	unitlist ul = { 0 };
	assert_int_equal(strata_foreach_unit(s, unit_cb, &ul), 0);
	assert_int_equal(ul.n, 3);
	static const char *const labels[] = { "one", "", "empty unit" };
	static const uint64_t recs[] = { 5, 2, 0 }, raw[] = { 2 + 3 + 2 + 3 + 0, 9 + 2, 0 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ul.u[i].unit, (uint64_t)i + 1);
		assert_string_equal(ul.label[i], labels[i]);
		assert_true(ul.u[i].time >= t0 && ul.u[i].time <= t1);
		assert_int_equal(ul.u[i].records, recs[i]);
		assert_int_equal(ul.u[i].raw_bytes, raw[i]);
		char rel[64];
		snprintf(rel, sizeof rel, "packs/%010d.pack", i + 1);
		assert_string_equal(ul.pack[i], rel);
		char *abs = tu_join(f->store, rel);
		assert_int_equal(ul.u[i].pack_bytes, tu_file_size(abs));
		free(abs);
	}
	/* Bad arguments. */
	assert_int_equal(strata_foreach_key(s, NULL, NULL), STRATA_EINVAL);
	assert_int_equal(strata_foreach_unit(NULL, unit_cb, &ul), STRATA_EINVAL);
	strata_close(s);
}

/* A long label comes back whole. */
typedef struct label_seen {
	char *label;
	int units;
} label_seen;

static int label_cb(void *ctx, const strata_unit_info *u)
{
	label_seen *l = ctx;
	free(l->label);
	l->label = strdup(u->label);
	l->units++;
	return 0;
}

static void test_long_label(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	char label[3001];
	for (int i = 0; i < 3000; i++)
		label[i] = (char)('a' + i % 26);
	label[3000] = '\0';
	commit(s, label);
	label_seen ls = { NULL, 0 };
	assert_int_equal(strata_foreach_unit(s, label_cb, &ls), 0);
	assert_int_equal(ls.units, 1);
	assert_non_null(ls.label);
	size_t got = strlen(ls.label);
	int same = strcmp(ls.label, label) == 0;
	free(ls.label);
	strata_close(s);
	if (!same)
		fail_msg("a %zu-byte label came back as %zu bytes", strlen(label), got);
}

/* strata_unit_info.time is "commit time": a unit whose records were put
 * well before the commit carries the time of the commit. */
static int time_cb(void *ctx, const strata_unit_info *u)
{
	*(int64_t *)ctx = u->time;
	return 0;
}

static void test_unit_time_is_commit_time(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	put_str(s, "k", "put long before the commit");
	int64_t put_time = (int64_t)time(NULL);
	while ((int64_t)time(NULL) < put_time + 2)
		usleep(50 * 1000);
	int64_t before = (int64_t)time(NULL);
	commit(s, NULL);
	int64_t after = (int64_t)time(NULL), t = 0;
	assert_int_equal(strata_foreach_unit(s, time_cb, &t), 0);
	strata_close(s);
	if (t < before || t > after)
		fail_msg("unit time %lld is not the commit time (%lld..%lld); the first put was at %lld",
			 (long long)t, (long long)before, (long long)after, (long long)put_time);
}

/* strata_errmsg() belongs to the calling thread. */
typedef struct thread_arg {
	const char *path;
	int rc;
	char msg[256];
} thread_arg;

static void *failing_thread(void *p)
{
	thread_arg *a = p;
	strata_store *s = NULL;
	a->rc = strata_open(&s, a->path, STRATA_OPEN_READ, NULL);
	snprintf(a->msg, sizeof a->msg, "%s", strata_errmsg());
	return NULL;
}

static void test_errmsg_per_thread(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	uint64_t c;
	assert_int_equal(strata_record_count(s, "k", 1, &c), 0);
	assert_string_equal(strata_errmsg(), "");
	char *missing = tu_join(f->dir, "missing");
	thread_arg a = { missing, 0, "" };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, failing_thread, &a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.rc, STRATA_ENOTFOUND);
	assert_true(strlen(a.msg) > 0);
	assert_string_equal(strata_errmsg(), ""); /* this thread's is untouched */
	free(missing);
	strata_close(s);
}

/* ------------------------------------------------------------ stats, verify, cost */

static int file_size_cb(void *ctx, const strata_unit_info *u)
{
	const char *store = ((void **)ctx)[0];
	uint64_t *sum = ((void **)ctx)[1];
	char *abs = tu_join(store, u->pack);
	*sum += tu_file_size(abs);
	free(abs);
	return 0;
}

static void test_stats_and_verify(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	strata_stats st = stats_of(s);
	assert_int_equal(st.records + st.keys + st.units + st.raw_bytes + st.pack_bytes + st.groups, 0);
	uint64_t raw = 0, records = 0;
	char key[16], val[4096];
	for (int u = 0; u < 5; u++) {
		for (int i = 0; i < 20; i++) {
			snprintf(key, sizeof key, "k%d", i % 7);
			size_t len = (size_t)(i * 97 + u * 13) % sizeof val;
			tu_fill_text(val, len, (uint64_t)(u * 100 + i));
			put_copy(s, key, strlen(key), val, len);
			raw += len;
			records++;
		}
		commit(s, NULL);
	}
	commit(s, "empty");
	st = stats_of(s);
	assert_int_equal(st.records, records);
	assert_int_equal(st.keys, 7);
	assert_int_equal(st.units, 6);
	assert_int_equal(st.raw_bytes, raw);
	assert_true(st.groups >= 5);
	uint64_t sizes = 0;
	void *ctx[2] = { f->store, &sizes };
	assert_int_equal(strata_foreach_unit(s, file_size_cb, ctx), 0);
	assert_int_equal(st.pack_bytes, sizes);
	assert_true(st.pack_bytes < raw);

	strata_verify_result res;
	memset(&res, 0xff, sizeof res);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &res), 0);
	assert_int_equal(res.packs, 6);
	assert_int_equal(res.records, records);
	assert_int_equal(res.bytes, raw);
	assert_int_equal(res.groups, st.groups);
	assert_int_equal(res.problems, 0);
	strata_close(s);
	/* Readers get the same. */
	s = open_store(f->store, STRATA_OPEN_READ);
	strata_stats st2 = stats_of(s);
	assert_memory_equal(&st, &st2, sizeof st);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
}

static int shared_cb(void *ctx, const strata_record_info *r)
{
	uint64_t *sums = ctx; /* [0]: records sharing a checksum, then each record's own */
	if (r->shared_checksum) {
		assert_int_equal(r->checksum, 0);
		sums[0]++;
	} else {
		assert_int_equal(r->checksum, sums[r->n]);
	}
	return 0;
}

/* Small literals that end in one block share one checksum (footer version
 * 3): listed as such, read back, and a changed byte in one of them fails
 * the read of every one, by get, cursor and verify. */
static void test_shared_checksum(void **state)
{
	fixture *f = *state;
	enum { N = 100, LEN = 100 };
	uint8_t recs[N][LEN];
	uint64_t sums[N + 1] = { 0 };
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	for (int i = 0; i < N; i++) {
		tu_fill_random(recs[i], LEN, 100 + (uint64_t)i); /* incompressible: zstd keeps the bytes raw */
		sums[i + 1] = XXH3_64bits(recs[i], LEN);
		put_copy(s, "r", 1, recs[i], LEN);
	}
	commit(s, NULL);
	assert_int_equal(strata_foreach_record(s, "r", 1, shared_cb, sums), 0);
	assert_int_equal(sums[0], N); /* three blocks of up to 4 KiB, a checksum each */
	for (int i = 0; i < N; i++)
		expect_record(s, "r", 1, (uint64_t)i + 1, recs[i], LEN);
	strata_verify_result res;
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &res), 0);
	assert_int_equal(res.problems, 0);
	assert_int_equal(res.records, N);
	strata_close(s);

	/* Change one byte of record 3, where the pack holds it verbatim. */
	char *pack = tu_join(f->store, "packs/0000000001.pack");
	size_t size;
	uint8_t *file = tu_read_file(pack, &size);
	uint8_t *at = memmem(file, size, recs[2], LEN);
	assert_non_null(at);
	tu_flip_byte(pack, (uint64_t)(at - file) + 10, 0x40);
	free(file);
	free(pack);
	s = open_store(f->store, STRATA_OPEN_READ);
	void *out = NULL;
	size_t len;
	/* Every record of the first block fails; those of the second read
	 * back. (The third block's records fail too, by
	 * zstd's frame checksum: their read decodes the stream to its end.) */
	uint64_t bad = 0, good = 0;
	int rc;
	while ((rc = strata_get(s, "r", 1, bad + 1, &out, &len)) == STRATA_ECORRUPT) {
		assert_null(out);
		if (!strstr(strata_errmsg(), "checksum mismatch in records 1.."))
			fail_msg("get %llu: %s", (unsigned long long)bad + 1, strata_errmsg());
		bad++;
	}
	assert_true(bad >= 4);
	for (uint64_t n = bad + 1; rc == 0; good++) {
		assert_int_equal(len, LEN);
		assert_memory_equal(out, recs[n - 1], LEN);
		strata_buf_free(out);
		out = NULL;
		if (++n > N)
			break;
		rc = strata_get(s, "r", 1, n, &out, &len);
	}
	assert_true(good >= 4 && bad + good < N);
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "r", 1, 1, 0, 8), 0);
	assert_int_equal(strata_cursor_next(c, &out, &len, NULL), STRATA_ECORRUPT);
	strata_cursor_close(c);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &res), STRATA_ECORRUPT);
	assert_int_equal(res.problems, N + 1); /* the group checksum fails first: every record lies in it */
	strata_close(s);
}

/* A small record at the start of a big group is read without fetching the
 * whole group. */
static void test_read_cost(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 16u << 20; /* a key's commit batch under a quarter group shares it */
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
	strata_read_cost c;
	assert_int_equal(strata_read_cost_get(s, &c), 0);
	assert_int_equal(c.bytes_read + c.bytes_decoded + c.groups, 0);
	put_str(s, "first", "a small record at the start of the group");
	size_t n = 2u << 20;
	uint8_t *rnd = tu_alloc(n);
	tu_fill_random(rnd, n, 9);
	put_copy(s, "bulk", 4, rnd, n);
	commit(s, NULL);
	assert_int_equal(stats_of(s).groups, 1);
	expect_str(s, "first", 1, "a small record at the start of the group");
	assert_int_equal(strata_read_cost_get(s, &c), 0);
	assert_int_equal(c.groups, 1);
	assert_true(c.bytes_read > 0 && c.bytes_read < n / 4);
	assert_true(c.bytes_decoded >= 40 && c.bytes_decoded < n / 4);
	expect_record(s, "bulk", 4, 1, rnd, n);
	assert_int_equal(strata_read_cost_get(s, &c), 0);
	assert_true(c.bytes_read >= n);
	assert_true(c.bytes_decoded >= n);
	free(rnd);
	strata_close(s);
}

static void test_strerror(void **state)
{
	(void)state;
	const int codes[] = { STRATA_OK, STRATA_EINVAL, STRATA_ENOTFOUND, STRATA_EEXIST, STRATA_ELOCKED,
			      STRATA_ECORRUPT, STRATA_EFORMAT, STRATA_EIO, STRATA_ENOSPC, STRATA_ENOMEM,
			      STRATA_EREADONLY };
	size_t n = sizeof codes / sizeof codes[0];
	for (size_t i = 0; i < n; i++) {
		const char *a = strata_strerror(codes[i]);
		assert_non_null(a);
		assert_true(strlen(a) > 0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(a, strata_strerror(codes[j]));
	}
	assert_non_null(strata_strerror(-12345));
	assert_non_null(strata_strerror(12345));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_records, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_large_records, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_max_key, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_many_keys, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_many_units, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_numbering, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_not_found, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_release_exactly_once, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_release_static_and_null, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rollback, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_close_without_commit, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_writer_lock_and_readers, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_open_flags, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_options, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_foreach, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_long_label, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_shared_checksum, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unit_time_is_commit_time, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_errmsg_per_thread, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stats_and_verify, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_read_cost, tu_fixture_setup, tu_fixture_teardown),
		cmocka_unit_test(test_strerror),
	};
	const struct CMUnitTest huge[] = {
		cmocka_unit_test_setup_teardown(test_huge_record, tu_fixture_setup, tu_fixture_teardown),
	};
	if (argc > 1 && !strcmp(argv[1], "huge"))
		return cmocka_run_group_tests_name("store (100 MiB record)", huge, NULL, NULL);
	if (argc > 1)
		cmocka_set_test_filter(argv[1]); /* e.g. test_store 'test_many_*' */
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
