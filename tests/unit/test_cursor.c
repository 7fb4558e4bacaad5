/* test_cursor.c - the prefetching sequential reader (strata_cursor). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_content),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_close_early),
		cmocka_unit_test(test_damage_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
