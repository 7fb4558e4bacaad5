/* test_keymap.c - the hash map of src/keymap.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keymap.h"
#include "testutil.h"

#define MANY 100000

static size_t key_of(int i, char *buf)
{
	return (size_t)sprintf(buf, "key/%d", i);
}

/* 100k keys: every value comes back after all the growth, absent keys stay
 * absent. */
static void test_many_keys(void **state)
{
	(void)state;
	keymap *m;
	assert_int_equal(keymap_new(&m), 0);
	char k[32];
	for (int i = 0; i < MANY; i++) {
		size_t len = key_of(i, k);
		assert_null(keymap_get(m, k, len));
		keymap_val *v = NULL;
		keymap_val val = { (uint32_t)i, (uint64_t)i * 3 + 1, (uint64_t)i * 7 };
		assert_int_equal(keymap_put(m, k, len, val, &v), 0);
		assert_non_null(v);
		assert_int_equal(v->idx, (uint32_t)i);
		assert_int_equal(v->next_n, (uint64_t)i * 3 + 1);
		assert_int_equal(v->group, (uint64_t)i * 7);
		/* Spot-check earlier keys while the table grows. */
		if ((i & (i - 1)) == 0) {
			for (int j = 0; j <= i; j += 1 + i / 50) {
				size_t l = key_of(j, k);
				keymap_val *g = keymap_get(m, k, l);
				assert_non_null(g);
				assert_int_equal(g->idx, (uint32_t)j);
			}
		}
	}
	for (int i = 0; i < MANY; i++) {
		size_t len = key_of(i, k);
		keymap_val *v = keymap_get(m, k, len);
		assert_non_null(v);
		assert_int_equal(v->idx, (uint32_t)i);
		assert_int_equal(v->next_n, (uint64_t)i * 3 + 1);
		assert_int_equal(v->group, (uint64_t)i * 7);
	}
	for (int i = MANY; i < MANY + 1000; i++) {
		size_t len = key_of(i, k);
		assert_null(keymap_get(m, k, len));
	}
	keymap_free(m);
}

/* Values are updated in place through the pointer get returns. */
static void test_update_in_place(void **state)
{
	(void)state;
	keymap *m;
	assert_int_equal(keymap_new(&m), 0);
	keymap_val *v;
	assert_int_equal(keymap_put(m, "a", 1, (keymap_val){ 0, 1, 0 }, &v), 0);
	v->next_n = 10;
	v->group = 3;
	keymap_get(m, "a", 1)->next_n++;
	keymap_get(m, "a", 1)->group++;
	/* Force growth after the update. */
	char k[32];
	for (int i = 0; i < 1000; i++) {
		size_t len = key_of(i, k);
		assert_int_equal(keymap_put(m, k, len, (keymap_val){ 1, 0, 0 }, &v), 0);
	}
	v = keymap_get(m, "a", 1);
	assert_non_null(v);
	assert_int_equal(v->idx, 0);
	assert_int_equal(v->next_n, 11);
	assert_int_equal(v->group, 4);
	keymap_free(m);
}

/* Keys are bytes: prefixes, embedded NULs, the same bytes with another
 * length, and bytes >= 0x80 are all distinct keys. */
static void test_binary_keys(void **state)
{
	(void)state;
	keymap *m;
	assert_int_equal(keymap_new(&m), 0);
	static const struct { const char *p; size_t len; } keys[] = {
		{ "a", 1 }, { "a\0", 2 }, { "a\0\0", 3 }, { "ab", 2 }, { "\0", 1 }, { "\0a", 2 },
		{ "\xff", 1 }, { "\xff\xfe", 2 }, { "A", 1 }, { "", 0 },
	};
	size_t n = sizeof keys / sizeof keys[0];
	for (size_t i = 0; i < n; i++) {
		keymap_val *v;
		assert_null(keymap_get(m, keys[i].p, keys[i].len));
		assert_int_equal(keymap_put(m, keys[i].p, keys[i].len, (keymap_val){ (uint32_t)i, i, 0 }, &v), 0);
	}
	for (size_t i = 0; i < n; i++) {
		keymap_val *v = keymap_get(m, keys[i].p, keys[i].len);
		assert_non_null(v);
		assert_int_equal(v->idx, (uint32_t)i);
	}
	/* The map keeps its own copy of the key bytes. */
	char buf[8] = "zz";
	keymap_val *v;
	assert_int_equal(keymap_put(m, buf, 2, (keymap_val){ 99, 0, 0 }, &v), 0);
	memcpy(buf, "yy", 2);
	assert_null(keymap_get(m, buf, 2));
	v = keymap_get(m, "zz", 2);
	assert_non_null(v);
	assert_int_equal(v->idx, 99);
	keymap_free(m);
}

/* Long keys (up to the pack limit) and keys whose hashes share low bits. */
static void test_long_and_colliding_keys(void **state)
{
	(void)state;
	keymap *m;
	assert_int_equal(keymap_new(&m), 0);
	static uint8_t big[65535];
	for (int i = 0; i < 64; i++) {
		memset(big, 'x', sizeof big);
		big[sizeof big - 1 - (size_t)i] = 'y';
		keymap_val *v;
		assert_int_equal(keymap_put(m, big, sizeof big, (keymap_val){ (uint32_t)i, 0, 0 }, &v), 0);
	}
	for (int i = 0; i < 64; i++) {
		memset(big, 'x', sizeof big);
		big[sizeof big - 1 - (size_t)i] = 'y';
		keymap_val *v = keymap_get(m, big, sizeof big);
		assert_non_null(v);
		assert_int_equal(v->idx, (uint32_t)i);
		assert_null(keymap_get(m, big, sizeof big - 1));
	}
	keymap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_update_in_place),
		cmocka_unit_test(test_binary_keys),
		cmocka_unit_test(test_long_and_colliding_keys),
	};
	return cmocka_run_group_tests_name("keymap", tests, NULL, NULL);
}
