/* test_catalog.c - the SQLite catalog (src/catalog.h). Footers are built in
 * memory: the catalog only files what a footer says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "catalog.h"
#include "strata.h"
#include "testutil.h"

#include <sqlite3.h>

/* ---- footers */

/* A literal record entry (designated, so fields added later stay zero). */
#define REC(k_, g_, n_, off_, len_, sum_)                                                          \
	((pack_record){ .key = (k_), .group = (g_), .n = (n_), .off = (off_), .len = (len_),     \
			.size = (len_), .sum = (sum_), .enc = ENC_LITERAL })

typedef struct fbuild {
	pack_footer f;
	pack_group g[4];
	pack_key k[4];
	pack_record r[16];
} fbuild;

/* Unit 1: keys "b" (n 1..3) and "a\0x" (n 1), two groups.
 * Unit 2: keys "a\0x" (n 2..3), "c" (n 1), one group; label "second". */
static void footer_unit1(fbuild *b)
{
	memset(b, 0, sizeof *b);
	b->k[0] = (pack_key){ (const uint8_t *)"b", 1 };
	b->k[1] = (pack_key){ (const uint8_t *)"a\0x", 3 };
	b->g[0] = (pack_group){ 64, 500, 700, 0x1111222233334444ull, 1, 3 };
	b->g[1] = (pack_group){ 564, 30, 30, 0xfedcba9876543210ull, 0, 0 };
	b->r[0] = REC(0, 0, 1, 0, 100, 0x8000000000000001ull);
	b->r[1] = REC(0, 0, 2, 100, 600, 2);
	b->r[2] = REC(0, 1, 3, 0, 0, 3);
	b->r[3] = REC(1, 1, 1, 0, 30, 0xffffffffffffffffull);
	b->f = (pack_footer){ 1, 1700000001, NULL, 0, b->g, 2, b->k, 2, b->r, 4 };
}

static void footer_unit2(fbuild *b)
{
	memset(b, 0, sizeof *b);
	b->k[0] = (pack_key){ (const uint8_t *)"a\0x", 3 };
	b->k[1] = (pack_key){ (const uint8_t *)"c", 1 };
	b->g[0] = (pack_group){ 64, 77, 1000, 0xabcdull, 1, 19 };
	b->r[0] = REC(0, 0, 2, 0, 400, 21);
	b->r[1] = REC(0, 0, 3, 400, 500, 22);
	b->r[2] = REC(1, 0, 1, 900, 100, 23);
	b->f = (pack_footer){ 2, 1700000002, (const uint8_t *)"second", 6, b->g, 1, b->k, 2, b->r, 3 };
}

static catalog *open_new(const char *dir)
{
	char *p = tu_join(dir, "catalog.db");
	catalog *c = NULL;
	assert_int_equal(catalog_open(&c, p, 1), 0);
	free(p);
	return c;
}

static void add_both(catalog *c)
{
	fbuild b1, b2;
	footer_unit1(&b1);
	assert_int_equal(catalog_add_unit(c, &b1.f, "packs/0000000001.pack", 1000), 0);
	footer_unit2(&b2);
	assert_int_equal(catalog_add_unit(c, &b2.f, "packs/0000000002.pack", 2000), 0);
}

/* ---- iteration collectors */

typedef struct keys_seen {
	int n;
	char name[8][8];
	size_t len[8];
	uint64_t records[8];
	int stop_after;
} keys_seen;

static int key_cb(void *ctx, const strata_key_info *k)
{
	keys_seen *s = ctx;
	assert_true(s->n < 8);
	assert_true(k->keylen < 8);
	memcpy(s->name[s->n], k->key, k->keylen);
	s->len[s->n] = k->keylen;
	s->records[s->n] = k->records;
	s->n++;
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

typedef struct recs_seen {
	int n;
	strata_record_info r[8];
} recs_seen;

static int rec_cb(void *ctx, const strata_record_info *r)
{
	recs_seen *s = ctx;
	assert_true(s->n < 8);
	s->r[s->n++] = *r;
	return 0;
}

typedef struct units_seen {
	int n;
	strata_unit_info u[8];
	char label[8][32];
	char pack[8][64];
} units_seen;

static int unit_cb(void *ctx, const strata_unit_info *u)
{
	units_seen *s = ctx;
	assert_true(s->n < 8);
	s->u[s->n] = *u;
	snprintf(s->label[s->n], sizeof s->label[0], "%s", u->label);
	snprintf(s->pack[s->n], sizeof s->pack[0], "%s", u->pack);
	s->n++;
	return 0;
}

/* ---- tests */

static void test_open_missing_and_empty(void **state)
{
	const char *dir = *state;
	char *p = tu_join(dir, "catalog.db");
	catalog *c = NULL;
	assert_int_equal(catalog_open(&c, p, 0), STRATA_ENOTFOUND);
	assert_false(tu_exists(p));
	assert_int_equal(catalog_open(&c, p, 1), 0);
	uint64_t v = 99;
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 0);
	int has = 1;
	assert_int_equal(catalog_has_unit(c, 1, &has), 0);
	assert_int_equal(has, 0);
	assert_int_equal(catalog_key_count(c, "a", 1, &v), 0);
	assert_int_equal(v, 0);
	strata_stats st;
	memset(&st, 0xff, sizeof st);
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units + st.records + st.keys + st.raw_bytes + st.pack_bytes + st.groups, 0);
	catalog_loc loc;
	assert_int_equal(catalog_lookup(c, "a", 1, 1, &loc), STRATA_ENOTFOUND);
	catalog_close(c);
	/* Reopen an existing one without create. */
	assert_int_equal(catalog_open(&c, p, 0), 0);
	catalog_close(c);
	free(p);
}

static void test_add_and_lookup(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	fbuild b1, b2;
	footer_unit1(&b1);
	footer_unit2(&b2);
	/* Every record of both footers comes back with its group's entry. */
	const fbuild *bs[2] = { &b1, &b2 };
	for (int u = 0; u < 2; u++) {
		const pack_footer *f = &bs[u]->f;
		for (size_t i = 0; i < f->nrecords; i++) {
			const pack_record *r = &f->records[i];
			const pack_key *k = &f->keys[r->key];
			const pack_group *g = &f->groups[r->group];
			catalog_loc loc;
			memset(&loc, 0, sizeof loc);
			assert_int_equal(catalog_lookup(c, k->p, k->len, r->n, &loc), 0);
			assert_int_equal(loc.unit, f->unit);
			assert_int_equal(loc.grp, r->group);
			assert_int_equal(loc.off, r->off);
			assert_int_equal(loc.len, r->len);
			assert_int_equal(loc.size, r->size);
			assert_int_equal(loc.sum, r->sum); /* including sums with the top bit set */
			assert_int_equal(loc.enc, r->enc);
			assert_int_equal(loc.group.offset, g->offset);
			assert_int_equal(loc.group.clen, g->clen);
			assert_int_equal(loc.group.blen, g->blen);
			assert_int_equal(loc.group.sum, g->sum);
			assert_int_equal(loc.group.codec, g->codec);
			assert_int_equal(loc.group.level, g->level);
		}
	}
	catalog_loc loc;
	assert_int_equal(catalog_lookup(c, "b", 1, 0, &loc), STRATA_ENOTFOUND);
	assert_int_equal(catalog_lookup(c, "b", 1, 4, &loc), STRATA_ENOTFOUND);
	assert_int_equal(catalog_lookup(c, "a", 1, 1, &loc), STRATA_ENOTFOUND); /* "a" is not "a\0x" */
	assert_int_equal(catalog_lookup(c, "a\0x", 3, 4, &loc), STRATA_ENOTFOUND);
	assert_true(strlen(strata_errmsg()) > 0);
	catalog_close(c);
}

static void test_counts(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	uint64_t v;
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 2);
	int has;
	for (uint64_t u = 0; u <= 3; u++) {
		assert_int_equal(catalog_has_unit(c, u, &has), 0);
		assert_int_equal(has, u == 1 || u == 2);
	}
	static const struct { const char *k; size_t len; uint64_t n; } want[] = {
		{ "b", 1, 3 }, { "a\0x", 3, 3 }, { "c", 1, 1 }, { "a", 1, 0 }, { "d", 1, 0 }, { "a\0xy", 4, 0 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(catalog_key_count(c, want[i].k, want[i].len, &v), 0);
		assert_int_equal(v, want[i].n);
	}
	assert_int_equal(catalog_unit_record_count(c, 1, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(catalog_unit_record_count(c, 2, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(catalog_unit_record_count(c, 3, &v), 0);
	assert_int_equal(v, 0);
	catalog_close(c);
}

static void test_foreach_and_stats(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);

	/* Keys in byte order: "a\0x" < "b" < "c". */
	keys_seen ks = { 0 };
	assert_int_equal(catalog_foreach_key(c, key_cb, &ks), 0);
	assert_int_equal(ks.n, 3);
	assert_int_equal(ks.len[0], 3);
	assert_memory_equal(ks.name[0], "a\0x", 3);
	assert_int_equal(ks.records[0], 3);
	assert_int_equal(ks.len[1], 1);
	assert_memory_equal(ks.name[1], "b", 1);
	assert_int_equal(ks.records[1], 3);
	assert_memory_equal(ks.name[2], "c", 1);
	assert_int_equal(ks.records[2], 1);
	/* A callback's nonzero return stops the walk and is returned. */
	keys_seen stop = { 0 };
	stop.stop_after = 2;
	assert_int_equal(catalog_foreach_key(c, key_cb, &stop), 42);
	assert_int_equal(stop.n, 2);

	/* Records of one key, in number order, across units. */
	recs_seen rs = { 0 };
	assert_int_equal(catalog_foreach_record(c, "a\0x", 3, rec_cb, &rs), 0);
	assert_int_equal(rs.n, 3);
	const uint64_t units[3] = { 1, 2, 2 }, sizes[3] = { 30, 400, 500 }, sums[3] = { 0xffffffffffffffffull, 21, 22 };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rs.r[i].n, (uint64_t)i + 1);
		assert_int_equal(rs.r[i].unit, units[i]);
		assert_int_equal(rs.r[i].size, sizes[i]);
		assert_int_equal(rs.r[i].stored, sizes[i]);
		assert_int_equal(rs.r[i].checksum, sums[i]);
	}
	recs_seen none = { 0 };
	assert_int_equal(catalog_foreach_record(c, "zz", 2, rec_cb, &none), 0);
	assert_int_equal(none.n, 0);

	/* Units in order, with label, time, pack, sizes. */
	units_seen us = { 0 };
	assert_int_equal(catalog_foreach_unit(c, unit_cb, &us), 0);
	assert_int_equal(us.n, 2);
	assert_int_equal(us.u[0].unit, 1);
	assert_string_equal(us.label[0], "");
	assert_int_equal(us.u[0].time, 1700000001);
	assert_int_equal(us.u[0].records, 4);
	assert_int_equal(us.u[0].raw_bytes, 100 + 600 + 0 + 30);
	assert_int_equal(us.u[0].pack_bytes, 1000);
	assert_string_equal(us.pack[0], "packs/0000000001.pack");
	assert_int_equal(us.u[1].unit, 2);
	assert_string_equal(us.label[1], "second");
	assert_int_equal(us.u[1].time, 1700000002);
	assert_int_equal(us.u[1].records, 3);
	assert_int_equal(us.u[1].raw_bytes, 1000);
	assert_int_equal(us.u[1].pack_bytes, 2000);
	assert_string_equal(us.pack[1], "packs/0000000002.pack");

	strata_stats st;
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units, 2);
	assert_int_equal(st.records, 7);
	assert_int_equal(st.keys, 3);
	assert_int_equal(st.raw_bytes, 730 + 1000);
	assert_int_equal(st.pack_bytes, 3000);
	assert_int_equal(st.groups, 3);
	catalog_close(c);
}

/* Filing the same unit twice fails and changes nothing; so does a footer
 * whose (key, n) collides with a filed record. */
static void test_add_failure_is_atomic(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	strata_stats before, after;
	assert_int_equal(catalog_stats(c, &before), 0);

	fbuild b2;
	footer_unit2(&b2);
	assert_true(catalog_add_unit(c, &b2.f, "packs/0000000002.pack", 2000) < 0);
	assert_true(strlen(strata_errmsg()) > 0);

	/* Unit 3 with a new key "d" and a record "b"@2 that already exists. */
	fbuild b3;
	footer_unit2(&b3);
	b3.k[0] = (pack_key){ (const uint8_t *)"d", 1 };
	b3.k[1] = (pack_key){ (const uint8_t *)"b", 1 };
	b3.r[0].n = 1;
	b3.r[1].n = 2;
	b3.r[2].n = 2;
	b3.f.unit = 3;
	assert_true(catalog_add_unit(c, &b3.f, "packs/0000000003.pack", 5) < 0);

	assert_int_equal(catalog_stats(c, &after), 0);
	assert_memory_equal(&before, &after, sizeof before);
	uint64_t v;
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(catalog_key_count(c, "d", 1, &v), 0);
	assert_int_equal(v, 0);
	catalog_loc loc;
	assert_int_equal(catalog_lookup(c, "d", 1, 1, &loc), STRATA_ENOTFOUND);
	/* The catalog still takes a good unit afterwards. */
	b3.r[2].n = 4;
	assert_int_equal(catalog_add_unit(c, &b3.f, "packs/0000000003.pack", 5), 0);
	assert_int_equal(catalog_key_count(c, "b", 1, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(catalog_key_count(c, "d", 1, &v), 0);
	assert_int_equal(v, 2);
	catalog_close(c);
}

/* An empty unit (no keys, groups or records) is a unit. */
static void test_empty_unit(void **state)
{
	catalog *c = open_new(*state);
	pack_footer f = { 1, 5, (const uint8_t *)"empty", 5, NULL, 0, NULL, 0, NULL, 0 };
	assert_int_equal(catalog_add_unit(c, &f, "packs/0000000001.pack", 136), 0);
	strata_stats st;
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units, 1);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.pack_bytes, 136);
	units_seen us = { 0 };
	assert_int_equal(catalog_foreach_unit(c, unit_cb, &us), 0);
	assert_int_equal(us.n, 1);
	assert_string_equal(us.label[0], "empty");
	assert_int_equal(us.u[0].records, 0);
	catalog_close(c);
}

/* The catalog persists across close/open, and a second connection sees
 * what the first committed. */
static void test_persistence_and_second_connection(void **state)
{
	const char *dir = *state;
	catalog *c = open_new(dir);
	char *p = tu_join(dir, "catalog.db");
	catalog *r = NULL;
	assert_int_equal(catalog_open(&r, p, 0), 0);
	uint64_t v;
	assert_int_equal(catalog_max_unit(r, &v), 0);
	assert_int_equal(v, 0);
	add_both(c);
	assert_int_equal(catalog_max_unit(r, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(catalog_key_count(r, "b", 1, &v), 0);
	assert_int_equal(v, 3);
	catalog_close(c);
	catalog_close(r);
	assert_int_equal(catalog_open(&r, p, 0), 0);
	strata_stats st;
	assert_int_equal(catalog_stats(r, &st), 0);
	assert_int_equal(st.records, 7);
	catalog_close(r);
	free(p);
}

/* Not a database: STRATA_ECORRUPT. A database without the schema, opened
 * without create: STRATA_ECORRUPT. An unknown schema version: STRATA_EFORMAT. */
static void test_bad_files(void **state)
{
	const char *dir = *state;
	char *p = tu_join(dir, "catalog.db");
	uint8_t junk[8192];
	tu_fill_random(junk, sizeof junk, 3);
	tu_write_file(p, junk, sizeof junk, 0644);
	catalog *c = NULL;
	assert_int_equal(catalog_open(&c, p, 0), STRATA_ECORRUPT);
	assert_int_equal(catalog_open(&c, p, 1), STRATA_ECORRUPT);
	assert_true(strlen(strata_errmsg()) > 0);
	unlink(p);

	sqlite3 *db;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE other(x);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(catalog_open(&c, p, 0), STRATA_ECORRUPT);

	tu_rmrf(p);
	char *wal = tu_join(dir, "catalog.db-wal"), *shm = tu_join(dir, "catalog.db-shm");
	unlink(wal);
	unlink(shm);
	c = open_new(dir);
	catalog_close(c);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value=2 WHERE name='schema';", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(catalog_open(&c, p, 0), STRATA_EFORMAT);
	assert_int_equal(catalog_open(&c, p, 1), STRATA_EFORMAT);
	free(wal);
	free(shm);
	free(p);
}

/* Many units and keys: counts add up, and the largest n wins as the count
 * even if units are filed out of order (recovery files what it finds). */
static void test_many_units_out_of_order(void **state)
{
	catalog *c = open_new(*state);
	const int units = 60;
	for (int i = 0; i < units; i++) {
		int u = i % 2 ? units - i / 2 : i / 2 + 1; /* 1, 60, 2, 59, ... */
		pack_key k[2] = { { (const uint8_t *)"shared", 6 }, { (const uint8_t *)"own", 3 } };
		char own[16];
		int ol = snprintf(own, sizeof own, "own-%03d", u);
		k[1] = (pack_key){ (const uint8_t *)own, (uint16_t)ol };
		pack_group g = { 64, 10, 30, (uint64_t)u, 1, 3 };
		pack_record r[2] = { REC(0, 0, (uint64_t)u, 0, 10, 1), REC(1, 0, 1, 10, 20, 2) };
		pack_footer f = { (uint64_t)u, u, NULL, 0, &g, 1, k, 2, r, 2 };
		char pack[64];
		snprintf(pack, sizeof pack, "packs/%010d.pack", u);
		assert_int_equal(catalog_add_unit(c, &f, pack, 100), 0);
	}
	uint64_t v;
	assert_int_equal(catalog_key_count(c, "shared", 6, &v), 0);
	assert_int_equal(v, (uint64_t)units);
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, (uint64_t)units);
	strata_stats st;
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units, (uint64_t)units);
	assert_int_equal(st.records, 2 * (uint64_t)units);
	assert_int_equal(st.keys, 1 + (uint64_t)units);
	assert_int_equal(st.raw_bytes, 30 * (uint64_t)units);
	assert_int_equal(st.groups, (uint64_t)units);
	for (int n = 1; n <= units; n++) {
		catalog_loc loc;
		assert_int_equal(catalog_lookup(c, "shared", 6, (uint64_t)n, &loc), 0);
		assert_int_equal(loc.unit, (uint64_t)n);
		assert_int_equal(loc.group.sum, (uint64_t)n);
	}
	catalog_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_missing_and_empty, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_add_and_lookup, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_counts, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_foreach_and_stats, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_add_failure_is_atomic, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_empty_unit, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_persistence_and_second_connection, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_files, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_many_units_out_of_order, tu_setup_dir, tu_teardown_dir),
	};
	return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
