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
#include <xxhash.h>

/* ---- footers */

/* A record entry (designated, so fields added later stay zero). */
#define REC(k_, g_, n_, off_, len_, sum_, cend_, unit_)                                             \
	((pack_record){ .key = (k_), .group = (g_), .n = (n_), .off = (off_), .len = (len_),      \
			.size = (len_), .sum = (sum_), .cend = (cend_), .unit = (unit_), .enc = ENC_LITERAL })

typedef struct fbuild {
	pack_footer f;
	pack_unit u[4];
	pack_group g[4];
	pack_key k[4];
	pack_record r[16];
} fbuild;

/* Unit 1: keys "b" (n 1..3) and "a\0x" (n 1), two groups.
 * Unit 2: keys "a\0x" (n 2..3; 3 is a base delta against 2), "c" (n 1), one
 * group; label "second". */
static void footer_unit1(fbuild *b)
{
	memset(b, 0, sizeof *b);
	b->u[0] = (pack_unit){ 1, 1700000001, NULL, 0 };
	b->k[0] = (pack_key){ (const uint8_t *)"b", 1 };
	b->k[1] = (pack_key){ (const uint8_t *)"a\0x", 3 };
	b->g[0] = (pack_group){ 64, 500, 700, 0x1111222233334444ull, 1, 3 };
	b->g[1] = (pack_group){ 564, 30, 30, 0xfedcba9876543210ull, 0, 0 };
	b->r[0] = REC(0, 0, 1, 0, 100, 0x8000000000000001ull, 100, 1);
	b->r[1] = REC(0, 0, 2, 100, 600, 2, 500, 1);
	b->r[2] = REC(0, 1, 3, 0, 0, 3, 30, 1);
	b->r[3] = REC(1, 1, 1, 0, 30, 0xffffffffffffffffull, 30, 1);
	b->f = (pack_footer){ 1, 1, 1700000001, b->u, 1, b->g, 2, b->k, 2, b->r, 4, NULL, 0 };
}

static void footer_unit2(fbuild *b)
{
	memset(b, 0, sizeof *b);
	b->u[0] = (pack_unit){ 2, 1700000002, (const uint8_t *)"second", 6 };
	b->k[0] = (pack_key){ (const uint8_t *)"a\0x", 3 };
	b->k[1] = (pack_key){ (const uint8_t *)"c", 1 };
	b->g[0] = (pack_group){ 64, 77, 560, 0xabcdull, 1, 19 };
	b->r[0] = REC(0, 0, 2, 0, 400, 21, 40, 2);
	b->r[1] = REC(0, 0, 3, 400, 60, 22, 77, 2);
	b->r[1].size = 500;
	b->r[1].enc = ENC_BASE;
	b->r[1].base = 2;
	b->r[2] = REC(1, 0, 1, 460, 100, 23, 77, 2);
	b->f = (pack_footer){ 2, 2, 1700000002, b->u, 1, b->g, 1, b->k, 2, b->r, 3, NULL, 0 };
}

/* Units 1..2 repacked: every record of both, regrouped into one group of a
 * pack of their range (as strata_repack writes it); labels and times kept. */
static void footer_units12(fbuild *b)
{
	memset(b, 0, sizeof *b);
	b->u[0] = (pack_unit){ 1, 1700000001, NULL, 0 };
	b->u[1] = (pack_unit){ 2, 1700000002, (const uint8_t *)"second", 6 };
	b->k[0] = (pack_key){ (const uint8_t *)"a\0x", 3 };
	b->k[1] = (pack_key){ (const uint8_t *)"b", 1 };
	b->k[2] = (pack_key){ (const uint8_t *)"c", 1 };
	b->g[0] = (pack_group){ 64, 300, 1730, 0x5151ull, 1, 19 };
	b->r[0] = REC(0, 0, 1, 0, 30, 0xffffffffffffffffull, 50, 1);
	b->r[1] = REC(0, 0, 2, 30, 400, 21, 100, 2);
	b->r[2] = REC(0, 0, 3, 430, 500, 22, 150, 2);
	b->r[3] = REC(1, 0, 1, 930, 100, 0x8000000000000001ull, 180, 1);
	b->r[4] = REC(1, 0, 2, 1030, 600, 2, 250, 1);
	b->r[5] = REC(1, 0, 3, 1630, 0, 3, 250, 1);
	b->r[6] = REC(2, 0, 1, 1630, 100, 23, 300, 2);
	b->f = (pack_footer){ 1, 2, 1700000100, b->u, 2, b->g, 1, b->k, 3, b->r, 7, NULL, 0 };
}

static catalog *open_new(const char *dir)
{
	char *p = tu_join(dir, "catalog.db");
	catalog *c = NULL;
	assert_int_equal(catalog_open(&c, p, 1), 0);
	free(p);
	return c;
}

/* File a pack that supersedes nothing. */
static void add_plain(catalog *c, const pack_footer *f, const char *name, uint64_t bytes)
{
	catalog_pack *sup = (catalog_pack *)1;
	size_t nsup = 99;
	int rc = catalog_add_pack(c, f, name, bytes, &sup, &nsup);
	if (rc)
		fail_msg("catalog_add_pack %s: %d %s", name, rc, strata_errmsg());
	assert_int_equal(nsup, 0);
	free(sup);
}

static void add_both(catalog *c)
{
	fbuild b1, b2;
	footer_unit1(&b1);
	add_plain(c, &b1.f, "0000000001.pack", 1000);
	footer_unit2(&b2);
	add_plain(c, &b2.f, "0000000002.pack", 2000);
}

/* The live packs, by first unit. */
static size_t live_packs(catalog *c, catalog_pack **out)
{
	size_t n = 0;
	assert_int_equal(catalog_packs_in(c, 1, INT64_MAX, out, &n), 0);
	return n;
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
	int found = 1, covered = 1;
	assert_int_equal(catalog_find_pack(c, "0000000001.pack", &found), 0);
	assert_int_equal(found, 0);
	assert_int_equal(catalog_covering(c, 1, 1, &covered), 0);
	assert_int_equal(covered, 0);
	catalog_pack *packs = (catalog_pack *)1;
	size_t np = 99;
	assert_int_equal(catalog_packs_in(c, 1, INT64_MAX, &packs, &np), 0);
	assert_int_equal(np, 0);
	free(packs);
	assert_int_equal(catalog_key_count(c, "a", 1, &v), 0);
	assert_int_equal(v, 0);
	strata_stats st;
	memset(&st, 0xff, sizeof st);
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units + st.records + st.keys + st.raw_bytes + st.pack_bytes + st.groups, 0);
	assert_int_equal(st.chain_max, 0);
	assert_true(st.read_cost_median == 0 && st.read_cost_p99 == 0 && st.read_cost_max == 0);
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
	catalog_pack *packs;
	assert_int_equal(live_packs(c, &packs), 2);
	/* Every record of both footers comes back with its group's and its
	 * pack's entries. */
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
			assert_int_equal(loc.unit, r->unit);
			assert_int_equal(loc.grp, r->group);
			assert_int_equal(loc.off, r->off);
			assert_int_equal(loc.len, r->len);
			assert_int_equal(loc.size, r->size);
			assert_int_equal(loc.sum, r->sum); /* including sums with the top bit set */
			assert_int_equal(loc.enc, r->enc);
			assert_int_equal(loc.cend, r->cend);
			assert_int_equal(loc.base, r->base);
			assert_int_equal(loc.pack, packs[u].id);
			assert_string_equal(loc.pack_name, u == 0 ? "0000000001.pack" : "0000000002.pack");
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
	/* The base delta keeps its base. */
	assert_int_equal(catalog_lookup(c, "a\0x", 3, 3, &loc), 0);
	assert_int_equal(loc.enc, ENC_BASE);
	assert_int_equal(loc.base, 2);
	free(packs);
	catalog_close(c);
}

static void test_counts(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	uint64_t v;
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 2);
	int covered, found;
	for (uint64_t u = 0; u <= 3; u++) {
		assert_int_equal(catalog_covering(c, u, u, &covered), 0);
		assert_int_equal(covered, u == 1 || u == 2);
	}
	assert_int_equal(catalog_covering(c, 1, 2, &covered), 0);
	assert_int_equal(covered, 0); /* no one pack holds both */
	const char *names[] = { "0000000001.pack", "0000000002.pack", "0000000003.pack", "0000000001-0000000002.pack" };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(catalog_find_pack(c, names[i], &found), 0);
		assert_int_equal(found, i < 2);
	}
	catalog_pack *packs;
	assert_int_equal(live_packs(c, &packs), 2);
	assert_string_equal(packs[0].name, "0000000001.pack");
	assert_int_equal(packs[0].first, 1);
	assert_int_equal(packs[0].last, 1);
	assert_int_equal(packs[0].bytes, 1000);
	assert_string_equal(packs[1].name, "0000000002.pack");
	assert_int_equal(packs[1].first, 2);
	assert_int_equal(packs[1].last, 2);
	assert_int_equal(packs[1].bytes, 2000);
	assert_true(packs[1].id != packs[0].id);
	static const struct { const char *k; size_t len; uint64_t n; } want[] = {
		{ "b", 1, 3 }, { "a\0x", 3, 3 }, { "c", 1, 1 }, { "a", 1, 0 }, { "d", 1, 0 }, { "a\0xy", 4, 0 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(catalog_key_count(c, want[i].k, want[i].len, &v), 0);
		assert_int_equal(v, want[i].n);
	}
	assert_int_equal(catalog_pack_record_count(c, packs[0].id, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(catalog_pack_record_count(c, packs[1].id, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(catalog_pack_record_count(c, packs[1].id + 100, &v), 0);
	assert_int_equal(v, 0);
	/* packs_in takes the packs whose ranges lie inside its range. */
	catalog_pack *some;
	size_t n;
	assert_int_equal(catalog_packs_in(c, 2, 2, &some, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(some[0].name, "0000000002.pack");
	free(some);
	assert_int_equal(catalog_packs_in(c, 3, 10, &some, &n), 0);
	assert_int_equal(n, 0);
	free(some);
	free(packs);
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
	const uint64_t stored[3] = { 30, 400, 60 }; /* record 3 is a 60-byte base delta */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rs.r[i].n, (uint64_t)i + 1);
		assert_int_equal(rs.r[i].unit, units[i]);
		assert_int_equal(rs.r[i].size, sizes[i]);
		assert_int_equal(rs.r[i].stored, stored[i]);
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
	/* Read costs: a record costs its compressed prefix plus its base's;
	 * records under 4 KiB count as 4 KiB. Costs here: b 100, 500, 30;
	 * a\0x 30, 40, 77 + 40; c 77. Percentiles are nearest rank: of the
	 * seven, the median is the 4th (77) and p99 the 7th (500). */
	assert_true(st.read_cost_median == 77.0 / 4096);
	assert_true(st.read_cost_p99 == 500.0 / 4096);
	assert_true(st.read_cost_max == 500.0 / 4096);
	assert_int_equal(st.chain_max, 2);
	catalog_close(c);
}

/* Fails and changes nothing (catalog.h): a footer whose (key, n) collides
 * with a record of a live pack it does not replace, a range that partly
 * overlaps a live pack, and a range pack lacking records of those it
 * replaces. Filing a pack under the name of a live pack must not hand that
 * pack back as superseded (the caller would delete the file just filed). */
static void expect_unchanged(catalog *c, const strata_stats *before, int npacks)
{
	strata_stats after;
	assert_int_equal(catalog_stats(c, &after), 0);
	assert_memory_equal(before, &after, sizeof after);
	catalog_pack *p;
	assert_int_equal(live_packs(c, &p), (size_t)npacks);
	free(p);
}

static void test_refile_same_name(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	strata_stats before;
	assert_int_equal(catalog_stats(c, &before), 0);

	fbuild b2;
	footer_unit2(&b2);
	catalog_pack *sup = NULL;
	size_t nsup = 0;
	int rc = catalog_add_pack(c, &b2.f, "0000000002.pack", 2000, &sup, &nsup);
	int handed_back = 0;
	for (size_t i = 0; rc == 0 && i < nsup; i++)
		handed_back |= !strcmp(sup[i].name, "0000000002.pack");
	free(sup);
	if (rc != 0) {
		assert_true(strlen(strata_errmsg()) > 0);
		expect_unchanged(c, &before, 2);
	}
	catalog_close(c);
	if (handed_back)
		fail_msg("filing 0000000002.pack again handed the live 0000000002.pack back as "
			 "superseded: its caller (store_file_pack) deletes the file it just filed");
}

static void test_add_failure_is_atomic(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	strata_stats before;
	assert_int_equal(catalog_stats(c, &before), 0);

	/* Unit 3 with a new key "d" and a record "b"@2 that unit 1 holds. */
	fbuild b3;
	footer_unit2(&b3);
	b3.k[0] = (pack_key){ (const uint8_t *)"d", 1 };
	b3.k[1] = (pack_key){ (const uint8_t *)"b", 1 };
	b3.r[0].n = 1;
	b3.r[1] = REC(0, 0, 2, 400, 500, 22, 77, 3);
	b3.r[2].n = 2;
	for (int i = 0; i < 3; i++)
		b3.r[i].unit = 3;
	b3.u[0].unit = 3;
	b3.f.first = b3.f.last = 3;
	int rc = catalog_add_pack(c, &b3.f, "0000000003.pack", 5, NULL, NULL);
	if (rc == 0) {
		catalog_loc loc;
		assert_int_equal(catalog_lookup(c, "b", 1, 2, &loc), 0);
		catalog_close(c);
		fail_msg("a unit-3 pack whose record b@2 collides with unit 1's was filed (rc 0): b@2 now "
			 "points to unit %llu, pack %s; unit 1's pack still holds it",
			 (unsigned long long)loc.unit, loc.pack_name);
	}
	assert_true(rc < 0);
	expect_unchanged(c, &before, 2);
	uint64_t v;
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(catalog_key_count(c, "d", 1, &v), 0);
	assert_int_equal(v, 0);
	catalog_loc loc;
	assert_int_equal(catalog_lookup(c, "d", 1, 1, &loc), STRATA_ENOTFOUND);
	/* The catalog still takes a good unit afterwards. */
	b3.r[2].n = 4;
	add_plain(c, &b3.f, "0000000003.pack", 5);
	assert_int_equal(catalog_key_count(c, "b", 1, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(catalog_key_count(c, "d", 1, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(catalog_stats(c, &before), 0);

	catalog_close(c);
}

static void test_range_refusals(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	strata_stats before;
	assert_int_equal(catalog_stats(c, &before), 0);
	/* Units 1..2 repacked, but one record short: refused. */
	fbuild r12;
	footer_units12(&r12);
	r12.f.nrecords = 6;
	catalog_pack *sup = (catalog_pack *)1;
	size_t nsup = 99;
	assert_int_equal(catalog_add_pack(c, &r12.f, "0000000001-0000000002.pack", 700, &sup, &nsup),
			 STRATA_ECORRUPT);
	assert_null(sup);
	assert_int_equal(nsup, 0);
	expect_unchanged(c, &before, 2);
	/* Whole, it is filed; then a range that partly overlaps it (2..3) is
	 * refused. */
	r12.f.nrecords = 7;
	assert_int_equal(catalog_add_pack(c, &r12.f, "0000000001-0000000002.pack", 700, &sup, &nsup), 0);
	assert_int_equal(nsup, 2);
	free(sup);
	assert_int_equal(catalog_stats(c, &before), 0);
	fbuild r23;
	footer_unit2(&r23);
	r23.u[1] = (pack_unit){ 3, 5, NULL, 0 };
	r23.f.last = 3;
	r23.f.nunits = 2;
	assert_int_equal(catalog_add_pack(c, &r23.f, "0000000002-0000000003.pack", 800, NULL, NULL),
			 STRATA_ECORRUPT);
	assert_true(strlen(strata_errmsg()) > 0);
	expect_unchanged(c, &before, 1);
	catalog_close(c);
}

/* A pack of a range supersedes the live packs its range contains, in one
 * transaction: they are handed back for deletion, every record points into
 * the new pack, units keep their labels and times, and pack ids are never
 * reused. */
static void test_supersede(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	catalog_pack *old;
	assert_int_equal(live_packs(c, &old), 2);
	fbuild r12;
	footer_units12(&r12);
	catalog_pack *sup = NULL;
	size_t nsup = 0;
	assert_int_equal(catalog_add_pack(c, &r12.f, "0000000001-0000000002.pack", 700, &sup, &nsup), 0);
	assert_int_equal(nsup, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(sup[i].id, old[i].id);
		assert_string_equal(sup[i].name, old[i].name);
		assert_int_equal(sup[i].first, old[i].first);
		assert_int_equal(sup[i].last, old[i].last);
		assert_int_equal(sup[i].bytes, old[i].bytes);
	}
	free(sup);
	catalog_pack *now;
	assert_int_equal(live_packs(c, &now), 1);
	assert_string_equal(now[0].name, "0000000001-0000000002.pack");
	assert_int_equal(now[0].first, 1);
	assert_int_equal(now[0].last, 2);
	assert_int_equal(now[0].bytes, 700);
	assert_true(now[0].id > old[0].id && now[0].id > old[1].id);
	int found, covered;
	assert_int_equal(catalog_find_pack(c, "0000000001.pack", &found), 0);
	assert_int_equal(found, 0);
	assert_int_equal(catalog_find_pack(c, "0000000001-0000000002.pack", &found), 0);
	assert_int_equal(found, 1);
	const uint64_t ranges[][3] = { { 1, 1, 1 }, { 2, 2, 1 }, { 1, 2, 1 }, { 2, 3, 0 }, { 3, 3, 0 } };
	for (int i = 0; i < 5; i++) {
		assert_int_equal(catalog_covering(c, ranges[i][0], ranges[i][1], &covered), 0);
		assert_int_equal(covered, ranges[i][2]);
	}
	uint64_t v;
	assert_int_equal(catalog_pack_record_count(c, now[0].id, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(catalog_pack_record_count(c, old[0].id, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(catalog_pack_record_count(c, old[1].id, &v), 0);
	assert_int_equal(v, 0);
	for (size_t i = 0; i < r12.f.nrecords; i++) {
		const pack_record *r = &r12.f.records[i];
		const pack_key *k = &r12.f.keys[r->key];
		catalog_loc loc;
		assert_int_equal(catalog_lookup(c, k->p, k->len, r->n, &loc), 0);
		assert_int_equal(loc.pack, now[0].id);
		assert_string_equal(loc.pack_name, "0000000001-0000000002.pack");
		assert_int_equal(loc.unit, r->unit);
		assert_int_equal(loc.off, r->off);
		assert_int_equal(loc.cend, r->cend);
		assert_int_equal(loc.enc, ENC_LITERAL);
		assert_int_equal(loc.base, 0);
		assert_int_equal(loc.group.clen, 300);
	}
	units_seen us = { 0 };
	assert_int_equal(catalog_foreach_unit(c, unit_cb, &us), 0);
	assert_int_equal(us.n, 2);
	assert_string_equal(us.label[0], "");
	assert_int_equal(us.u[0].time, 1700000001);
	assert_int_equal(us.u[0].records, 4);
	assert_int_equal(us.u[0].raw_bytes, 730);
	assert_string_equal(us.label[1], "second");
	assert_int_equal(us.u[1].time, 1700000002);
	assert_int_equal(us.u[1].records, 3);
	assert_int_equal(us.u[1].raw_bytes, 1000);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(us.pack[i], "packs/0000000001-0000000002.pack");
		assert_int_equal(us.u[i].pack_bytes, 700);
	}
	strata_stats st;
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units, 2);
	assert_int_equal(st.records, 7);
	assert_int_equal(st.keys, 3);
	assert_int_equal(st.raw_bytes, 1730);
	assert_int_equal(st.pack_bytes, 700);
	assert_int_equal(st.groups, 1);
	assert_int_equal(st.chain_max, 1);
	assert_true(st.read_cost_max == 300.0 / 4096);

	/* A later unit, then everything repacked again: the range pack and the
	 * unit's pack are superseded; a new id again. */
	fbuild b3;
	memset(&b3, 0, sizeof b3);
	b3.u[0] = (pack_unit){ 3, 1700000003, (const uint8_t *)"third", 5 };
	b3.k[0] = (pack_key){ (const uint8_t *)"b", 1 };
	b3.g[0] = (pack_group){ 64, 10, 10, 1, 0, 0 };
	b3.r[0] = REC(0, 0, 4, 0, 10, 44, 10, 3);
	b3.f = (pack_footer){ 3, 3, 1700000003, b3.u, 1, b3.g, 1, b3.k, 1, b3.r, 1, NULL, 0 };
	add_plain(c, &b3.f, "0000000003.pack", 150);
	fbuild r13 = r12;
	r13.u[2] = b3.u[0];
	r13.k[1] = r12.k[1];
	r13.r[7] = REC(1, 0, 4, 1730, 10, 44, 300, 3);
	r13.g[0].blen = 1740;
	r13.f = (pack_footer){ 1, 3, 1700000200, r13.u, 3, r13.g, 1, r13.k, 3, r13.r, 8, NULL, 0 };
	assert_int_equal(catalog_add_pack(c, &r13.f, "0000000001-0000000003.pack", 800, &sup, &nsup), 0);
	assert_int_equal(nsup, 2);
	assert_string_equal(sup[0].name, "0000000001-0000000002.pack");
	assert_string_equal(sup[1].name, "0000000003.pack");
	free(sup);
	catalog_pack *last;
	assert_int_equal(live_packs(c, &last), 1);
	assert_string_equal(last[0].name, "0000000001-0000000003.pack");
	assert_true(last[0].id > now[0].id);
	assert_int_equal(catalog_key_count(c, "b", 1, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 3);
	free(last);
	free(now);
	free(old);
	catalog_close(c);
}

/* Rows for a repack: every record committed in a range of units, by key,
 * then by number, ascending or newest first; the callback can stop it. */
typedef struct rows_seen {
	int n;
	char key[16][8];
	uint64_t rn[16], unit[16];
	int stop_after;
} rows_seen;

static int row_cb(void *ctx, const void *key, size_t keylen, uint64_t n, uint64_t unit)
{
	rows_seen *s = ctx;
	assert_true(s->n < 16 && keylen < 8);
	memset(s->key[s->n], 0, 8);
	memcpy(s->key[s->n], key, keylen);
	s->rn[s->n] = n;
	s->unit[s->n] = unit;
	s->n++;
	return s->stop_after && s->n == s->stop_after ? 9 : 0;
}

static void test_foreach_in_range(void **state)
{
	catalog *c = open_new(*state);
	add_both(c);
	static const struct { const char *key; uint64_t n, unit; } asc[] = {
		{ "a", 1, 1 }, { "a", 2, 2 }, { "a", 3, 2 }, { "b", 1, 1 }, { "b", 2, 1 }, { "b", 3, 1 }, { "c", 1, 2 },
	};
	rows_seen rs = { 0 };
	assert_int_equal(catalog_foreach_in_range(c, 1, 2, 0, row_cb, &rs), 0);
	assert_int_equal(rs.n, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(rs.key[i][0], asc[i].key[0]); /* "a" stands for "a\0x" */
		assert_int_equal(rs.rn[i], asc[i].n);
		assert_int_equal(rs.unit[i], asc[i].unit);
	}
	assert_memory_equal(rs.key[0], "a\0x", 3);
	rows_seen desc = { 0 };
	assert_int_equal(catalog_foreach_in_range(c, 1, 2, 1, row_cb, &desc), 0);
	assert_int_equal(desc.n, 7);
	static const int order[7] = { 2, 1, 0, 5, 4, 3, 6 };
	for (int i = 0; i < 7; i++) {
		assert_int_equal(desc.key[i][0], asc[order[i]].key[0]);
		assert_int_equal(desc.rn[i], asc[order[i]].n);
	}
	rows_seen two = { 0 };
	assert_int_equal(catalog_foreach_in_range(c, 2, 2, 0, row_cb, &two), 0);
	assert_int_equal(two.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(two.unit[i], 2);
	rows_seen none = { 0 };
	assert_int_equal(catalog_foreach_in_range(c, 3, 9, 0, row_cb, &none), 0);
	assert_int_equal(none.n, 0);
	rows_seen stop = { 0 };
	stop.stop_after = 3;
	assert_int_equal(catalog_foreach_in_range(c, 1, 2, 0, row_cb, &stop), 9);
	assert_int_equal(stop.n, 3);
	catalog_close(c);
}

/* An empty unit (no keys, groups or records) is a unit. */
static void test_empty_unit(void **state)
{
	catalog *c = open_new(*state);
	pack_unit u = { 1, 5, (const uint8_t *)"empty", 5 };
	pack_footer f = { 1, 1, 5, &u, 1, NULL, 0, NULL, 0, NULL, 0, NULL, 0 };
	add_plain(c, &f, "0000000001.pack", 161);
	strata_stats st;
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units, 1);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.pack_bytes, 161);
	units_seen us = { 0 };
	assert_int_equal(catalog_foreach_unit(c, unit_cb, &us), 0);
	assert_int_equal(us.n, 1);
	assert_string_equal(us.label[0], "empty");
	assert_int_equal(us.u[0].records, 0);
	assert_int_equal(us.u[0].time, 5);
	/* A repack of empty units: three units, no records. */
	pack_unit us3[3] = { { 2, 6, NULL, 0 }, { 3, 7, (const uint8_t *)"x", 1 }, { 4, 8, NULL, 0 } };
	pack_footer f3 = { 2, 4, 9, us3, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0 };
	add_plain(c, &f3, "0000000002-0000000004.pack", 200);
	assert_int_equal(catalog_stats(c, &st), 0);
	assert_int_equal(st.units, 4);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.pack_bytes, 361);
	units_seen all = { 0 };
	assert_int_equal(catalog_foreach_unit(c, unit_cb, &all), 0);
	assert_int_equal(all.n, 4);
	assert_string_equal(all.label[2], "x");
	assert_int_equal(all.u[3].time, 8);
	assert_string_equal(all.pack[3], "packs/0000000002-0000000004.pack");
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
	/* A new catalog is made of 1 KiB pages (docs/FORMAT.md, "Catalog"). */
	sqlite3 *db;
	sqlite3_stmt *ps;
	assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &ps, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(ps), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(ps, 0), 1024);
	sqlite3_finalize(ps);
	sqlite3_close(db);
	free(p);
}

/* Not a database: STRATA_ECORRUPT. A database without the schema, opened
 * without create: STRATA_ECORRUPT. An unknown schema version: STRATA_EFORMAT. */
static int schema_of(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name='schema'", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

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
	/* Schema 2 (before shared checksums) is read as it is, and a writer marks
	 * it 3; a schema from a later build is refused. */
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value=2 WHERE name='schema';", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(catalog_open(&c, p, 0), 0);
	catalog_close(c);
	assert_int_equal(schema_of(db), 2);
	assert_int_equal(catalog_open(&c, p, 1), 0);
	catalog_close(c);
	assert_int_equal(schema_of(db), 3);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value=4 WHERE name='schema';", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(catalog_open(&c, p, 0), STRATA_EFORMAT);
	assert_int_equal(catalog_open(&c, p, 1), STRATA_EFORMAT);
	free(wal);
	free(shm);
	free(p);
}

/* ---- runs: the catalog holds a row per run of records (docs/FORMAT.md,
 * "Record runs") */

#define LONG_S 1300

/* Unit `unit`: key "s" records first..first+count-1 in group 0, then key
 * "t" 1..3 and "s" continuing (10 more) in group 1; record `skip` of s is
 * left out (0: none). Returns the footer; records malloc'd in *recs. */
static pack_footer long_footer(uint64_t first_unit, uint64_t last_unit, pack_unit *u, pack_group *g, pack_key *k,
			       pack_record **recs, uint64_t skip)
{
	pack_record *r = (void *)tu_alloc((LONG_S + 13) * sizeof *r);
	size_t n = 0;
	uint64_t off = 0;
	for (uint64_t i = 1; i <= LONG_S; i++) {
		if (i == skip)
			continue;
		uint64_t len = 50 + i % 97;
		r[n] = REC(0, 0, i, off, len, XXH3_64bits(&i, sizeof i), 1000 + off / 4000 * 300, first_unit);
		if (i % 7 == 0) {
			r[n].enc = ENC_BASE;
			r[n].size = len * 3;
			r[n].base = i - 1 - i % 5;
		}
		off += len;
		n++;
	}
	g[0] = (pack_group){ 64, 1000 + off / 4000 * 300, off, 1, 1, 3 };
	uint64_t off1 = 0;
	for (uint64_t i = 1; i <= 3; i++, off1 += 10)
		r[n++] = REC(1, 1, i, off1, 10, i, 20, last_unit);
	for (uint64_t i = LONG_S + 1; i <= LONG_S + 10; i++, off1 += 20)
		r[n++] = REC(0, 1, i, off1, 20, i * 3, 40 + i, last_unit);
	g[1] = (pack_group){ g[0].offset + g[0].clen, 40 + LONG_S + 10, off1, 2, 1, 3 };
	k[0] = (pack_key){ (const uint8_t *)"s", 1 };
	k[1] = (pack_key){ (const uint8_t *)"t", 1 };
	for (uint64_t i = first_unit; i <= last_unit; i++)
		u[i - first_unit] = (pack_unit){ i, 1700000000 + (int64_t)i, NULL, 0 };
	*recs = r;
	return (pack_footer){ first_unit, last_unit, 1700000000, u, last_unit - first_unit + 1, g, 2, k, 2, r, n, NULL, 0 };
}

/* Units 1..2 repacked: long_footer's records, with t 4 (of unit 2) after
 * t 3 in group 1; s `skip` left out. */
static pack_footer repacked(pack_unit *u, pack_group *g, pack_key *k, pack_record **recs, uint64_t skip)
{
	pack_record *r;
	pack_footer f = long_footer(1, 2, u, g, k, &r, skip);
	pack_record *all = (void *)tu_alloc((f.nrecords + 1) * sizeof *all);
	size_t at = 0;
	uint64_t off = 0;
	for (size_t i = 0; i < f.nrecords; i++) {
		all[at++] = r[i];
		if (r[i].key == 1)
			all[at - 1].unit = 1;
		if (r[i].key == 1 && r[i].n == 3)
			all[at++] = REC(1, 1, 4, 0, 10, 1, 20, 2);
	}
	for (size_t i = 0; i < at; i++)
		if (all[i].group == 1) {
			all[i].off = off;
			off += all[i].len;
		}
	g[1].blen = off;
	free(r);
	f.records = *recs = all;
	f.nrecords = at;
	return f;
}

static int64_t count_rows(const char *dir, const char *sql)
{
	char *p = tu_join(dir, "catalog.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(p);
	return v;
}

typedef struct recs_list {
	size_t n;
	strata_record_info v[LONG_S + 10];
} recs_list;

static int list_cb(void *ctx, const strata_record_info *r)
{
	recs_list *l = ctx;
	assert_true(l->n < LONG_S + 10);
	l->v[l->n++] = *r;
	return 0;
}

/* Every record of a footer reads back from the catalog as the footer says. */
static void expect_footer(catalog *c, const pack_footer *f, const char *pack_name)
{
	for (size_t i = 0; i < f->nrecords; i++) {
		const pack_record *r = &f->records[i];
		catalog_loc loc;
		assert_int_equal(catalog_lookup(c, f->keys[r->key].p, f->keys[r->key].len, r->n, &loc), 0);
		assert_string_equal(loc.pack_name, pack_name);
		assert_int_equal(loc.grp, r->group);
		assert_int_equal(loc.group.clen, f->groups[r->group].clen);
		assert_int_equal(loc.off, r->off);
		assert_int_equal(loc.len, r->len);
		assert_int_equal(loc.size, r->size);
		assert_int_equal(loc.sum, r->sum);
		assert_int_equal(loc.cend, r->cend);
		assert_int_equal(loc.base, r->base);
		assert_int_equal(loc.enc, r->enc);
		assert_int_equal(loc.unit, r->unit);
	}
}

static void test_long_runs(void **state)
{
	const char *dir = *state;
	catalog *c = open_new(dir);
	pack_unit u[2];
	pack_group g[2];
	pack_key k[2];
	pack_record *r;
	pack_footer f = long_footer(1, 1, u, g, k, &r, 0);
	add_plain(c, &f, "0000000001.pack", 5000);
	/* s: 512 + 512 + 276 in group 0, then 10 in group 1; t: one run. */
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM runs"), 5);
	expect_footer(c, &f, "0000000001.pack");
	/* Out of order lookups go through other runs and back. */
	catalog_loc loc;
	const uint64_t order[] = { 1300, 1, 513, 512, 1310, 1024, 1025, 2 };
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		assert_int_equal(catalog_lookup(c, "s", 1, order[i], &loc), 0);
		assert_int_equal(loc.sum, order[i] <= LONG_S ? XXH3_64bits(&order[i], 8) : order[i] * 3);
	}
	assert_int_equal(catalog_lookup(c, "s", 1, 0, &loc), STRATA_ENOTFOUND);
	assert_int_equal(catalog_lookup(c, "s", 1, LONG_S + 11, &loc), STRATA_ENOTFOUND);
	assert_int_equal(catalog_lookup(c, "t", 1, 4, &loc), STRATA_ENOTFOUND);
	uint64_t v;
	assert_int_equal(catalog_key_count(c, "s", 1, &v), 0);
	assert_int_equal(v, LONG_S + 10);
	recs_list *l = (void *)tu_alloc(sizeof *l);
	l->n = 0;
	assert_int_equal(catalog_foreach_record(c, "s", 1, list_cb, l), 0);
	assert_int_equal(l->n, LONG_S + 10);
	for (size_t i = 0; i < l->n; i++) {
		const pack_record *want = &r[i < LONG_S ? i : i + 3]; /* t's 3 come between */
		assert_int_equal(l->v[i].n, i + 1);
		assert_int_equal(l->v[i].checksum, want->sum);
		assert_int_equal(l->v[i].size, want->size);
		assert_int_equal(l->v[i].stored, want->len);
	}

	/* A record of unit 1 filed again by a pack of unit 2: refused. */
	pack_unit u2[1] = { { 2, 5, NULL, 0 } };
	pack_group g2[1] = { { 64, 10, 10, 1, 0, 0 } };
	pack_key k2[1] = { { (const uint8_t *)"s", 1 } };
	pack_record r2[1] = { REC(0, 0, 700, 0, 10, 1, 10, 2) };
	pack_footer f2 = { 2, 2, 5, u2, 1, g2, 1, k2, 1, r2, 1, NULL, 0 };
	assert_int_equal(catalog_add_pack(c, &f2, "0000000002.pack", 100, NULL, NULL), STRATA_ECORRUPT);

	/* Unit 2 (t 4), then a pack of units 1..2 that lacks s 700 in the
	 * middle of a run: refused, nothing changed. */
	r2[0] = REC(0, 0, 4, 0, 10, 1, 10, 2);
	k2[0] = (pack_key){ (const uint8_t *)"t", 1 };
	add_plain(c, &f2, "0000000002.pack", 100);
	pack_unit u12[2];
	pack_group g12[2];
	pack_key k12[2];
	pack_record *r12;
	pack_footer f12 = repacked(u12, g12, k12, &r12, 700);
	strata_stats before;
	assert_int_equal(catalog_stats(c, &before), 0);
	assert_int_equal(catalog_add_pack(c, &f12, "0000000001-0000000002.pack", 7000, NULL, NULL), STRATA_ECORRUPT);
	assert_non_null(strstr(strata_errmsg(), "lacks 1 records"));
	expect_footer(c, &f, "0000000001.pack");
	/* With s 700 back in place, it files and supersedes both. */
	free(r12);
	f12 = repacked(u12, g12, k12, &r12, 0);
	size_t nsup = 0;
	catalog_pack *sup = NULL;
	assert_int_equal(catalog_add_pack(c, &f12, "0000000001-0000000002.pack", 7000, &sup, &nsup), 0);
	assert_int_equal(nsup, 2);
	free(sup);
	expect_footer(c, &f12, "0000000001-0000000002.pack");
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM runs WHERE pack NOT IN (SELECT id FROM packs)"), 0);
	free(l);
	free(r);
	free(r12);
	catalog_close(c);
}

/* A catalog of schema 1 (a row per record): a writer's open drops it for
 * the current schema (recovery then files the packs); a reader's open says
 * what to do. */
static void test_schema1_replaced(void **state)
{
	const char *dir = *state;
	char *p = tu_join(dir, "catalog.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
		"CREATE TABLE packs(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, first INTEGER,"
		" last INTEGER, bytes INTEGER);"
		"CREATE TABLE records(key INTEGER, n INTEGER, unit INTEGER, pack INTEGER, grp INTEGER,"
		" offset INTEGER, len INTEGER, size INTEGER, sum INTEGER, cend INTEGER, enc INTEGER,"
		" base INTEGER, PRIMARY KEY(key, n)) WITHOUT ROWID;"
		"INSERT INTO packs(name, first, last, bytes) VALUES('0000000001.pack', 1, 1, 100);"
		"INSERT INTO meta VALUES('schema', 1);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	catalog *c = NULL;
	assert_int_equal(catalog_open(&c, p, 0), STRATA_EFORMAT);
	assert_non_null(strstr(strata_errmsg(), "rebuild"));
	assert_int_equal(catalog_open(&c, p, 1), 0);
	uint64_t v = 9;
	assert_int_equal(catalog_max_unit(c, &v), 0);
	assert_int_equal(v, 0);
	fbuild b1;
	footer_unit1(&b1);
	add_plain(c, &b1.f, "0000000001.pack", 1000);
	expect_footer(c, &b1.f, "0000000001.pack");
	catalog_close(c);
	assert_int_equal(count_rows(dir, "SELECT count(*) FROM sqlite_master WHERE name='records'"), 0);
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
		pack_record r[2] = { REC(0, 0, (uint64_t)u, 0, 10, 1, 10, (uint64_t)u),
				     REC(1, 0, 1, 10, 20, 2, 10, (uint64_t)u) };
		pack_unit pu = { (uint64_t)u, u, NULL, 0 };
		pack_footer f = { (uint64_t)u, (uint64_t)u, u, &pu, 1, &g, 1, k, 2, r, 2, NULL, 0 };
		char pack[64];
		snprintf(pack, sizeof pack, "%010d.pack", u);
		add_plain(c, &f, pack, 100);
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
		cmocka_unit_test_setup_teardown(test_refile_same_name, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_add_failure_is_atomic, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_range_refusals, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_supersede, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_foreach_in_range, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_empty_unit, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_persistence_and_second_connection, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_files, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_long_runs, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_schema1_replaced, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_many_units_out_of_order, tu_setup_dir, tu_teardown_dir),
	};
	return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
