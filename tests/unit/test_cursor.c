/* test_cursor.c - the prefetching sequential reader (strata_cursor). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "strata.h"
#include "testutil.h"

/* Record n of key k: deterministic content of varying size. */
static size_t make_record(char *buf, size_t cap, int k, uint64_t n)
{
	size_t len = (size_t)((n * 7919 + (uint64_t)k * 104729) % 6000);
	int w = snprintf(buf, cap, "key %d record %llu:", k, (unsigned long long)n);
	for (size_t i = (size_t)w; i < len && i < cap; i++)
		buf[i] = (char)('a' + (i * n + (size_t)k) % 26);
	return len > (size_t)w ? len : (size_t)w;
}

static void fill(const char *dir, int keys, uint64_t units)
{
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, NULL), 0);
	char buf[8192];
	for (uint64_t u = 1; u <= units; u++) {
		for (int k = 0; k < keys; k++) {
			size_t len = make_record(buf, sizeof buf, k, u);
			char key[32];
			snprintf(key, sizeof key, "stream%d", k);
			void *copy = malloc(len);
			memcpy(copy, buf, len);
			assert_int_equal(strata_put(s, key, strlen(key), copy, len, strata_release_free, NULL, NULL), 0);
		}
		assert_int_equal(strata_commit(s, NULL, NULL), 0);
	}
	strata_close(s);
}

/* Every record comes back in order, with the right content, at any depth. */
static void test_order_and_content(void **state)
{
	char *dir = tu_mkdtemp();
	fill(dir, 3, 120);
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	unsigned depths[] = { 1, 2, 16, 500 };
	char want[8192];
	for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
		strata_cursor *c;
		assert_int_equal(strata_cursor_open(&c, s, "stream1", 7, 1, 0, depths[d]), 0);
		uint64_t expect = 1, n;
		void *data;
		size_t len;
		int rc;
		while ((rc = strata_cursor_next(c, &data, &len, &n)) == 0) {
			assert_int_equal(n, expect);
			size_t wl = make_record(want, sizeof want, 1, n);
			assert_int_equal(len, wl);
			assert_memory_equal(data, want, len);
			strata_buf_free(data);
			expect++;
		}
		assert_int_equal(rc, STRATA_ENOTFOUND);
		assert_int_equal(expect, 121);
		/* Past the end it stays at the end. */
		assert_int_equal(strata_cursor_next(c, &data, &len, &n), STRATA_ENOTFOUND);
		strata_cursor_close(c);
	}
	strata_close(s);
	tu_rmrf(dir);
	free(dir);
}

/* A window from..from+count-1, and a window running past the end. */
static void test_window(void **state)
{
	char *dir = tu_mkdtemp();
	fill(dir, 2, 50);
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "stream0", 7, 10, 5, 4), 0);
	uint64_t got = 0, n, first = 0;
	void *data;
	size_t len;
	while (strata_cursor_next(c, &data, &len, &n) == 0) {
		if (!got)
			first = n;
		got++;
		strata_buf_free(data);
	}
	assert_int_equal(first, 10);
	assert_int_equal(got, 5);
	strata_cursor_close(c);
	assert_int_equal(strata_cursor_open(&c, s, "stream0", 7, 45, 100, 4), 0);
	for (got = 0; strata_cursor_next(c, &data, &len, &n) == 0; got++)
		strata_buf_free(data);
	assert_int_equal(got, 6);
	strata_cursor_close(c);
	/* An unknown key has no records. */
	assert_int_equal(strata_cursor_open(&c, s, "nokey", 5, 1, 0, 4), 0);
	assert_int_equal(strata_cursor_next(c, &data, &len, &n), STRATA_ENOTFOUND);
	strata_cursor_close(c);
	strata_close(s);
	tu_rmrf(dir);
	free(dir);
}

/* Several ranges in one cursor: each range's records in order, then the
 * next range's, a key asked twice, a range past its key's end and an
 * unknown key giving none; no batch mixes two ranges, and
 * strata_cursor_range names the range a batch came from. */
static void test_ranges(void **state)
{
	char *dir = tu_mkdtemp();
	fill(dir, 3, 120);
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	const strata_range r[] = { { "stream2", 7, 100, 0 }, { "nokey", 5, 1, 0 },  { "stream0", 7, 0, 30 },
				   { "stream2", 7, 500, 0 }, { "stream1", 7, 119, 9 }, { "stream2", 7, 3, 2 } };
	const int key[] = { 2, -1, 0, 2, 1, 2 };
	const uint64_t first[] = { 100, 0, 1, 0, 119, 3 }, count[] = { 21, 0, 30, 0, 2, 2 };
	unsigned depths[] = { 1, 4 };
	char want[8192];
	for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
		strata_cursor *c;
		assert_int_equal(strata_cursor_open_ranges(&c, s, r, sizeof r / sizeof *r, depths[d]), 0);
		size_t ri = 0;
		uint64_t seen = 0, total = 0;
		strata_slice v[7];
		size_t got;
		uint64_t n;
		int rc;
		while ((rc = strata_cursor_batch(c, v, 7, &got, &n)) == 0) {
			size_t at = strata_cursor_range(c);
			assert_true(at >= ri);
			if (at != ri) { /* every record of the range before came */
				assert_int_equal(seen, count[ri]);
				ri = at;
				seen = 0;
			}
			assert_true(count[ri] > 0);
			for (size_t i = 0; i < got; i++, n++, seen++) {
				assert_int_equal(n, first[ri] + seen);
				size_t wl = make_record(want, sizeof want, key[ri], n);
				assert_int_equal(v[i].len, wl);
				assert_memory_equal(v[i].data, want, wl);
			}
			assert_true(seen <= count[ri]);
			total += got;
		}
		assert_int_equal(rc, STRATA_ENOTFOUND);
		assert_int_equal(ri, 5);
		assert_int_equal(seen, 2);
		assert_int_equal(total, 21 + 30 + 2 + 2);
		strata_cursor_close(c);
	}
	/* A range without a key is refused before anything starts. */
	strata_cursor *c = NULL;
	const strata_range bad[] = { { "stream0", 7, 1, 0 }, { NULL, 0, 1, 0 } };
	assert_int_equal(strata_cursor_open_ranges(&c, s, bad, 2, 4), STRATA_EINVAL);
	assert_null(c);
	assert_int_equal(strata_cursor_open_ranges(&c, s, bad, 0, 4), STRATA_EINVAL);
	strata_close(s);
	tu_rmrf(dir);
	free(dir);
}

/* Closing with work in flight, and closing the parent handle first. */
static void test_close_early(void **state)
{
	char *dir = tu_mkdtemp();
	fill(dir, 1, 200);
	for (int round = 0; round < 20; round++) {
		strata_store *s;
		assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
		strata_cursor *c;
		assert_int_equal(strata_cursor_open(&c, s, "stream0", 7, 1, 0, 8), 0);
		if (round % 2)
			strata_close(s); /* the cursor has its own handle */
		void *data;
		size_t len;
		for (int i = 0; i < round; i++) {
			assert_int_equal(strata_cursor_next(c, &data, &len, NULL), 0);
			strata_buf_free(data);
		}
		strata_cursor_close(c);
		if (!(round % 2))
			strata_close(s);
	}
	tu_rmrf(dir);
	free(dir);
}

/* Damage reaches the caller as an error, not as data. */
static void test_damage_is_an_error(void **state)
{
	char *dir = tu_mkdtemp();
	fill(dir, 1, 3);
	char path[4096];
	snprintf(path, sizeof path, "%s/packs/0000000002.pack", dir);
	tu_flip_byte(path, 70, 0x5a);
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "stream0", 7, 1, 0, 4), 0);
	void *data;
	size_t len;
	uint64_t n;
	assert_int_equal(strata_cursor_next(c, &data, &len, &n), 0);
	assert_int_equal(n, 1);
	strata_buf_free(data);
	int rc = strata_cursor_next(c, &data, &len, &n);
	assert_int_equal(rc, STRATA_ECORRUPT);
	assert_non_null(strstr(strata_errmsg(), "0000000002.pack"));
	assert_int_equal(strata_cursor_next(c, &data, &len, &n), STRATA_ENOTFOUND);
	strata_cursor_close(c);
	strata_close(s);
	tu_rmrf(dir);
	free(dir);
}

/* Spans: many records in few groups, small incompressible literals that
 * share checksums with their block's neighbours, and near copies of a
 * large record, delta-coded in their group. */
enum { SPAN_N = 3000 };

static size_t span_record(uint8_t *buf, uint64_t n)
{
	if (n % 10 == 0) { /* 2000 bytes of one text, a few bytes changed */
		tu_fill_text(buf, 2000, 7);
		memcpy(buf + (n * 13) % 1900, &n, sizeof n);
		return 2000;
	}
	tu_fill_random(buf, 100, n);
	return 100;
}

static void span_fill(const char *dir, const char *codec)
{
	strata_options o = STRATA_OPTIONS_INIT;
	o.codec = codec;
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, &o), 0);
	uint8_t buf[2000];
	for (uint64_t n = 1; n <= SPAN_N; n++) {
		size_t len = span_record(buf, n);
		void *copy = malloc(len);
		memcpy(copy, buf, len);
		assert_int_equal(strata_put(s, "r", 1, copy, len, strata_release_free, NULL, NULL), 0);
		if (n == SPAN_N / 2)
			assert_int_equal(strata_commit(s, NULL, NULL), 0);
	}
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	strata_close(s);
}

static int count_cb(void *ctx, const strata_record_info *r)
{
	uint64_t *k = ctx; /* [0] shared, [1] stored as deltas (shorter than their content) */
	k[0] += r->shared_checksum != 0;
	k[1] += r->stored < r->size;
	return 0;
}

/* Windows that start and end inside a stretch of records sharing a
 * checksum, read with view and with next, at several depths. */
static void test_span_windows(void **state)
{
	char *dir = tu_mkdtemp();
	span_fill(dir, NULL);
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	uint64_t kinds[2] = { 0, 0 };
	assert_int_equal(strata_foreach_record(s, "r", 1, count_cb, kinds), 0);
	assert_true(kinds[0] > SPAN_N / 2); /* the cases below are there */
	assert_true(kinds[1] > SPAN_N / 20);
	static const uint64_t win[][2] = { { 1, 0 }, { 2, 5 }, { 17, 1 }, { 1499, 3 }, { 333, 2222 }, { 2990, 0 } };
	uint8_t want[2000];
	for (size_t w = 0; w < sizeof win / sizeof *win; w++) {
		for (unsigned depth = 1; depth <= 9; depth += 4) {
			strata_cursor *c;
			assert_int_equal(strata_cursor_open(&c, s, "r", 1, win[w][0], win[w][1], depth), 0);
			uint64_t expect = win[w][0], n;
			int rc;
			for (;;) {
				const void *p;
				void *copy = NULL;
				size_t len;
				if (expect % 2)
					rc = strata_cursor_view(c, &p, &len, &n);
				else
					rc = strata_cursor_next(c, &copy, &len, &n), p = copy;
				if (rc)
					break;
				assert_int_equal(n, expect);
				assert_int_equal(len, span_record(want, n));
				assert_memory_equal(p, want, len);
				strata_buf_free(copy);
				expect++;
			}
			assert_int_equal(rc, STRATA_ENOTFOUND);
			uint64_t last = win[w][1] ? win[w][0] + win[w][1] - 1 : SPAN_N;
			assert_int_equal(expect, last + 1);
			strata_cursor_close(c);
		}
	}
	strata_close(s);
	tu_rmrf(dir);
	free(dir);
}

/* A changed byte in the middle of a group: the records before it come back
 * right, then the error; never a wrong record. With zstd the group's frame
 * checksum fails; with codec none only the records' checksums can tell. */
static void span_damage(const char *codec, uint64_t least)
{
	char *dir = tu_mkdtemp();
	span_fill(dir, codec);
	uint8_t want[2000];
	span_record(want, 701);
	char *pack = tu_join(dir, "packs/0000000001.pack");
	size_t size;
	uint8_t *file = tu_read_file(pack, &size);
	uint8_t *at = memmem(file, size, want, 100); /* incompressible: kept verbatim */
	assert_non_null(at);
	tu_flip_byte(pack, (uint64_t)(at - file) + 50, 0x10);
	free(file);
	free(pack);
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_READ, NULL), 0);
	for (unsigned depth = 1; depth <= 8; depth *= 8) {
		strata_cursor *c;
		assert_int_equal(strata_cursor_open(&c, s, "r", 1, 1, 0, depth), 0);
		const void *p;
		size_t len;
		uint64_t n, got = 0;
		int rc;
		while ((rc = strata_cursor_view(c, &p, &len, &n)) == 0) {
			assert_int_equal(n, got + 1);
			assert_int_equal(len, span_record(want, n));
			assert_memory_equal(p, want, len);
			got++;
		}
		assert_int_equal(rc, STRATA_ECORRUPT);
		assert_non_null(strstr(strata_errmsg(), "0000000001.pack"));
		assert_true(got < 701 && got >= least);
		assert_int_equal(strata_cursor_view(c, &p, &len, &n), STRATA_ENOTFOUND);
		strata_cursor_close(c);
	}
	/* The second unit's pack is whole: a cursor there reads all of it. */
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "r", 1, SPAN_N / 2 + 1, 0, 4), 0);
	const void *p;
	size_t len;
	uint64_t n, got = 0;
	while (strata_cursor_view(c, &p, &len, &n) == 0)
		got++;
	assert_int_equal(got, SPAN_N / 2);
	strata_cursor_close(c);
	strata_close(s);
	tu_rmrf(dir);
	free(dir);
}

static void test_span_damage_zstd(void **state)
{
	span_damage(NULL, 0);
}

static void test_span_damage_none(void **state)
{
	span_damage("none", 600); /* only the records of the changed byte's block fail */
}

/* Forty versions of a 1 MiB text, each a delta of a few bytes in one
 * group: a span stops before its decoded contents pass 16 MiB, and the
 * next one starts where it stopped. */
static void test_span_large_contents(void **state)
{
	enum { V = 40, LEN = 1 << 20 };
	char *dir = tu_mkdtemp();
	strata_store *s;
	assert_int_equal(strata_open(&s, dir, STRATA_OPEN_CREATE, NULL), 0);
	/* Coded on this thread, in one batch: the pipeline would cut a
	 * group per batch of 4 MiB put. */
	const strata_pipeline_options po = { .workers = -1 };
	assert_int_equal(strata_pipeline_set(s, &po), 0);
	uint8_t *text = tu_alloc(LEN);
	tu_fill_text(text, LEN, 11);
	for (uint64_t v = 1; v <= V; v++) {
		uint8_t *copy = tu_alloc(LEN);
		memcpy(copy, text, LEN);
		memcpy(copy + v * 20000, &v, sizeof v);
		assert_int_equal(strata_put(s, "f", 1, copy, LEN, strata_release_free, NULL, NULL), 0);
	}
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	uint64_t stored[V + 1] = { 0 };
	assert_int_equal(strata_foreach_record(s, "f", 1, tu_stored_cb, stored), 0);
	assert_true(stored[V] < 1000); /* a delta in the first version's group */
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "f", 1, 1, 0, 4), 0);
	const void *p;
	size_t len;
	uint64_t n, got = 0;
	while (strata_cursor_view(c, &p, &len, &n) == 0) {
		assert_int_equal(n, ++got);
		assert_int_equal(len, LEN);
		uint64_t mark;
		memcpy(&mark, (const uint8_t *)p + n * 20000, sizeof mark);
		assert_int_equal(mark, n);
		assert_memory_equal(p, text, n * 20000);
		assert_memory_equal((const uint8_t *)p + n * 20000 + 8, text + n * 20000 + 8, LEN - n * 20000 - 8);
	}
	assert_int_equal(got, V);
	strata_cursor_close(c);
	strata_close(s);
	free(text);
	tu_rmrf(dir);
	free(dir);
}

/* os_alloc_big, which holds the spans' bodies and arenas: aligned, at
 * least what was asked, whole huge pages from 2 MiB on, every byte of its
 * capacity writable (ASan would see a byte past it). */
static void test_alloc_big(void **state)
{
	(void)state;
	const size_t sizes[] = { 0, 1, 63, 64, 65, 100000, OS_HUGE_PAGE - 1, OS_HUGE_PAGE,
				 OS_HUGE_PAGE + 1, 5 * OS_HUGE_PAGE / 2 + 3 };
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = sizes[i], cap = 0;
		unsigned char *p = os_alloc_big(n, &cap);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 64, 0);
		assert_true(cap >= n && cap >= 1);
		if (n >= OS_HUGE_PAGE) {
			assert_int_equal((uintptr_t)p % OS_HUGE_PAGE, 0);
			assert_int_equal(cap % OS_HUGE_PAGE, 0);
			assert_true(cap < n + OS_HUGE_PAGE);
		} else {
			assert_true(cap < n + 64 + (n == 0) * 64);
		}
		memset(p, 0xa5, cap);
		assert_int_equal(p[cap - 1], 0xa5);
		free(p);
	}
	assert_null(os_alloc_big(SIZE_MAX - 100, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_content),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_close_early),
		cmocka_unit_test(test_damage_is_an_error),
		cmocka_unit_test(test_span_windows),
		cmocka_unit_test(test_span_damage_zstd),
		cmocka_unit_test(test_span_damage_none),
		cmocka_unit_test(test_span_large_contents),
		cmocka_unit_test(test_alloc_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
