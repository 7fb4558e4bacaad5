/* test_versions.c - the version store through the public API
 * (include/strata.h): many versions of a few keys, delta coded within
 * groups and against earlier units, read back byte for byte within the
 * read-cost and chain caps; repacking (newest first and oldest first),
 * automatic repacking, and the calls repack refuses.
 *
 * Read-cost slack. The writer closes a group before a record whose read
 * would pass read_cost_max * max(size, 4 KiB) bytes, counting for the
 * record's own group the bytes emitted so far plus the body bytes up to the
 * next block end plus 32 (unitw.c, prefix_bound), and adding its base's
 * cost; for a record longer than a block, when that passes the cap, its
 * size under zstd's fastest level alone, plus an eighth, stands for its raw length
 * (group_enc_estimate: an estimate, which check_all holds to the same
 * cap). What that leaves out is zstd framing: a block header of 3 bytes per
 * 128 KiB block the record spans, and a frame header of at most 18 bytes
 * for the group's first record. A record that opens a group is never
 * refused (it must go somewhere), so an incompressible record alone in its
 * group reads its size plus that framing. Hence the slack allowed per group
 * a get touches: 64 + 3 * (size / 128 KiB + 2) bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "strata.h"
#include "testutil.h"

/* ------------------------------------------------------------ a corpus */

/* A key and every version put to it, in order (version n is record n). */
typedef struct doc {
	char key[32];
	size_t keylen;
	int binary;
	uint8_t **ver;
	size_t *vlen;
	size_t nver, cap;
} doc;

typedef struct corpus {
	doc d[8];
	int n;
	uint64_t rng;
	uint64_t raw;      /* content bytes put */
	uint64_t records;
} corpus;

static int doc_of(corpus *c, const char *key, size_t keylen, int binary)
{
	for (int i = 0; i < c->n; i++)
		if (c->d[i].keylen == keylen && !memcmp(c->d[i].key, key, keylen))
			return i;
	assert_true(c->n < 8 && keylen <= sizeof c->d[0].key);
	doc *d = &c->d[c->n];
	memset(d, 0, sizeof *d);
	memcpy(d->key, key, keylen);
	d->keylen = keylen;
	d->binary = binary;
	return c->n++;
}

/* The next version of a document: its first is fresh text (or bytes); each
 * later one is the previous with a small edit (a line inserted, a span
 * deleted or overwritten; bytes flipped or inserted for binary data). */
static uint8_t *next_version(corpus *c, doc *d, size_t first_len, size_t *len)
{
	uint64_t r = tu_rand(&c->rng);
	if (d->nver == 0) {
		uint8_t *p = tu_alloc(first_len);
		if (d->binary)
			tu_fill_random(p, first_len, r);
		else
			tu_fill_text(p, first_len, r);
		*len = first_len;
		return p;
	}
	const uint8_t *prev = d->ver[d->nver - 1];
	size_t plen = d->vlen[d->nver - 1];
	uint8_t *p = tu_alloc(plen + 128);
	size_t at = plen ? (size_t)(r % plen) : 0;
	uint64_t what = (r >> 32) % 3;
	memcpy(p, prev, at);
	size_t n = at;
	if (what == 0 || plen < 200) { /* insert */
		char ins[128];
		int k = d->binary ? 16 : snprintf(ins, sizeof ins, "inserted in version %zu: %llx\n", d->nver + 1,
						  (unsigned long long)r);
		if (d->binary)
			tu_fill_random(ins, 16, r);
		memcpy(p + n, ins, (size_t)k);
		n += (size_t)k;
		memcpy(p + n, prev + at, plen - at);
		n += plen - at;
	} else if (what == 1) { /* delete */
		size_t del = 10 + (size_t)(r >> 40) % 50;
		if (del > plen - at)
			del = plen - at;
		memcpy(p + n, prev + at + del, plen - at - del);
		n += plen - at - del;
	} else { /* overwrite */
		memcpy(p + n, prev + at, plen - at);
		n = plen;
		size_t span = 20 < plen - at ? 20 : plen - at;
		for (size_t i = 0; i < span; i++)
			p[at + i] = d->binary ? (uint8_t)(p[at + i] ^ 0x5a) : (uint8_t)('a' + (r >> (i % 32)) % 26);
	}
	*len = n;
	return p;
}

/* Put the next version of key (first_len bytes if it is the first). */
static void put_version(strata_store *s, corpus *c, const char *key, size_t keylen, int binary, size_t first_len)
{
	doc *d = &c->d[doc_of(c, key, keylen, binary)];
	size_t len;
	uint8_t *v = next_version(c, d, first_len, &len);
	if (d->nver == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->ver = realloc(d->ver, d->cap * sizeof *d->ver);
		d->vlen = realloc(d->vlen, d->cap * sizeof *d->vlen);
		assert_non_null(d->ver);
		assert_non_null(d->vlen);
	}
	d->ver[d->nver] = v;
	d->vlen[d->nver] = len;
	d->nver++;
	c->raw += len;
	c->records++;
	uint8_t *copy = tu_alloc(len);
	memcpy(copy, v, len);
	uint64_t n = 0;
	int rc = strata_put(s, key, keylen, copy, len, strata_release_free, NULL, &n);
	if (rc)
		fail_msg("put %.*s: %d %s", (int)keylen, key, rc, strata_errmsg());
	assert_int_equal(n, d->nver);
}

/* Put a given content as the next version (for records of set content). */
static void put_exact(strata_store *s, corpus *c, const char *key, size_t keylen, const uint8_t *data, size_t len)
{
	doc *d = &c->d[doc_of(c, key, keylen, 1)];
	if (d->nver == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->ver = realloc(d->ver, d->cap * sizeof *d->ver);
		d->vlen = realloc(d->vlen, d->cap * sizeof *d->vlen);
	}
	d->ver[d->nver] = tu_alloc(len);
	memcpy(d->ver[d->nver], data, len);
	d->vlen[d->nver] = len;
	d->nver++;
	c->raw += len;
	c->records++;
	uint8_t *copy = tu_alloc(len);
	memcpy(copy, data, len);
	uint64_t n = 0;
	assert_int_equal(strata_put(s, key, keylen, copy, len, strata_release_free, NULL, &n), 0);
	assert_int_equal(n, d->nver);
}

static void corpus_free(corpus *c)
{
	for (int i = 0; i < c->n; i++) {
		for (size_t v = 0; v < c->d[i].nver; v++)
			free(c->d[i].ver[v]);
		free(c->d[i].ver);
		free(c->d[i].vlen);
	}
}

/* ------------------------------------------------------------ checks */

typedef struct limits {
	int chain_max;      /* most groups a get may touch */
	int read_cost_max;
	int one_group;      /* every get must touch exactly one group */
} limits;

static uint64_t slack(uint64_t size)
{
	return 64 + 3 * (size / (128 * 1024) + 2);
}

typedef struct seen {
	uint64_t gets;
	uint64_t max_groups;
	double max_ratio;   /* bytes read per max(size, 4 KiB) */
} seen;

/* Every version of every document reads back byte for byte, each get
 * within the caps (see the slack note at the top). */
static void check_all(strata_store *s, const corpus *c, const limits *lim, seen *result)
{
	seen sn = { 0 };
	for (int i = 0; i < c->n; i++) {
		const doc *d = &c->d[i];
		uint64_t count = 0;
		assert_int_equal(strata_record_count(s, d->key, d->keylen, &count), 0);
		assert_int_equal(count, d->nver);
		for (size_t v = 0; v < d->nver; v++) {
			void *out = NULL;
			size_t len = 0;
			int rc = strata_get(s, d->key, d->keylen, v + 1, &out, &len);
			if (rc)
				fail_msg("get %.*s@%zu: %d %s", (int)d->keylen, d->key, v + 1, rc, strata_errmsg());
			if (len != d->vlen[v] || (len && memcmp(out, d->ver[v], len)))
				fail_msg("get %.*s@%zu: %zu bytes, not the %zu put", (int)d->keylen, d->key, v + 1, len,
					 d->vlen[v]);
			strata_buf_free(out);
			strata_read_cost cost;
			assert_int_equal(strata_read_cost_get(s, &cost), 0);
			uint64_t unit = len < 4096 ? 4096 : len;
			if (cost.groups < 1 || cost.groups > (uint64_t)lim->chain_max || (lim->one_group && cost.groups != 1))
				fail_msg("get %.*s@%zu touched %llu groups (chain_max %d%s)", (int)d->keylen, d->key,
					 v + 1, (unsigned long long)cost.groups, lim->chain_max,
					 lim->one_group ? ", one expected" : "");
			uint64_t cap = (uint64_t)lim->read_cost_max * unit + cost.groups * slack(len);
			if (cost.bytes_read > cap)
				fail_msg("get %.*s@%zu (%zu bytes) read %llu bytes over %llu groups; the cap is %d x %llu "
					 "+ slack = %llu", (int)d->keylen, d->key, v + 1, len,
					 (unsigned long long)cost.bytes_read, (unsigned long long)cost.groups,
					 lim->read_cost_max, (unsigned long long)unit, (unsigned long long)cap);
			assert_true(cost.bytes_decoded >= len);
			sn.gets++;
			if (cost.groups > sn.max_groups)
				sn.max_groups = cost.groups;
			double ratio = (double)cost.bytes_read / (double)unit;
			if (ratio > sn.max_ratio)
				sn.max_ratio = ratio;
		}
	}
	if (result)
		*result = sn;
}

static strata_stats stats_of(strata_store *s)
{
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	return st;
}

static void expect_verify_ok(strata_store *s)
{
	strata_verify_result res;
	int rc = strata_verify(s, NULL, NULL, NULL, &res);
	if (rc)
		fail_msg("verify: %d %s", rc, strata_errmsg());
	assert_int_equal(res.problems, 0);
}

/* Units as the store lists them. */
typedef struct unit_row {
	uint64_t unit;
	char label[32];
	int64_t time;
	uint64_t records, raw;
	char pack[64];
} unit_row;

typedef struct unit_list {
	int n;
	unit_row u[64];
} unit_list;

static int unit_cb(void *ctx, const strata_unit_info *u)
{
	unit_list *l = ctx;
	assert_true(l->n < 64);
	unit_row *r = &l->u[l->n++];
	r->unit = u->unit;
	snprintf(r->label, sizeof r->label, "%s", u->label);
	r->time = u->time;
	r->records = u->records;
	r->raw = u->raw_bytes;
	snprintf(r->pack, sizeof r->pack, "%s", u->pack);
	return 0;
}

static unit_list units_of(strata_store *s)
{
	unit_list l;
	memset(&l, 0, sizeof l);
	assert_int_equal(strata_foreach_unit(s, unit_cb, &l), 0);
	return l;
}

/* Distinct packs the units live in. */
static int distinct_packs(const unit_list *l)
{
	int n = 0;
	for (int i = 0; i < l->n; i++) {
		int seen_before = 0;
		for (int j = 0; j < i; j++)
			seen_before |= !strcmp(l->u[i].pack, l->u[j].pack);
		n += !seen_before;
	}
	return n;
}

/* ------------------------------------------------------------ fixtures */

typedef struct fixture {
	char *dir;
	char *store;
	char *packs;
	corpus c;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->store = tu_join(f->dir, "store");
	f->packs = tu_join(f->store, "packs");
	f->c.rng = 0x5eed;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	corpus_free(&f->c);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->store);
	free(f->packs);
	free(f);
	return 0;
}

static strata_store *create(fixture *f, const strata_options *o)
{
	strata_store *s = NULL;
	int rc = strata_open(&s, f->store, STRATA_OPEN_CREATE, o);
	if (rc)
		fail_msg("strata_open: %d %s", rc, strata_errmsg());
	return s;
}

static uint64_t commit(strata_store *s, const char *label)
{
	uint64_t u = 0;
	int rc = strata_commit(s, label, &u);
	if (rc)
		fail_msg("strata_commit: %d %s", rc, strata_errmsg());
	return u;
}

static const char BINKEY[] = "bin\0key\xff";
#define BINKEY_LEN (sizeof BINKEY - 1)

/* Unit u of the history: an edit of the main source in every unit, the
 * README every third, the binary logo every other, three versions of the
 * notes in one unit every fifth, an empty record in unit 7. */
static void history_unit(strata_store *s, corpus *c, int u)
{
	put_version(s, c, "src/main.c", 10, 0, 20000);
	if (u % 3 == 1)
		put_version(s, c, "README.md", 9, 0, 5000);
	if (u % 2)
		put_version(s, c, "logo.bin", 8, 1, 8000);
	if (u % 5 == 0)
		for (int i = 0; i < 3; i++)
			put_version(s, c, "notes.txt", 9, 0, 3000);
	if (u == 7)
		put_exact(s, c, BINKEY, BINKEY_LEN, (const uint8_t *)"", 0);
	if (u % 4 == 0)
		put_version(s, c, BINKEY, BINKEY_LEN, 1, 600);
	char label[32];
	snprintf(label, sizeof label, "rev %d", u);
	assert_int_equal(commit(s, label), (uint64_t)u);
}

#define UNITS 40

/* The 40-unit history in a store without automatic repacking. */
static strata_store *build_history(fixture *f, const strata_options *opts)
{
	strata_options o = opts ? *opts : (strata_options)STRATA_OPTIONS_INIT;
	o.repack_after = 0;
	strata_store *s = create(f, &o);
	for (int u = 1; u <= UNITS; u++)
		history_unit(s, &f->c, u);
	return s;
}

/* ------------------------------------------------------------ tests */

/* 40 units of small edits: every version reads back, each get within the
 * caps; the store is far smaller than the content; stats agree. */
static void test_history(void **state)
{
	fixture *f = *state;
	strata_store *s = build_history(f, NULL);
	const limits lim = { 4, 4, 0 };
	seen sn;
	check_all(s, &f->c, &lim, &sn);
	assert_true(sn.gets == f->c.records);
	/* Deltas against earlier units: some get follows a base. */
	assert_true(sn.max_groups >= 2);
	strata_stats st = stats_of(s);
	assert_int_equal(st.records, f->c.records);
	assert_int_equal(st.units, UNITS);
	assert_int_equal(st.keys, 5);
	assert_int_equal(st.raw_bytes, f->c.raw);
	/* Each unit's pack costs a few hundred bytes of header, footer and
	 * trailer on its own; the content is mostly deltas. */
	if (st.pack_bytes * 10 > st.raw_bytes)
		fail_msg("%llu content bytes take %llu bytes of packs (less than 10x smaller)",
			 (unsigned long long)st.raw_bytes, (unsigned long long)st.pack_bytes);
	/* The stats' read costs: within the cap; the chain within chain_max. */
	assert_true(st.read_cost_max <= 4.0);
	assert_true(st.read_cost_median <= st.read_cost_p99 && st.read_cost_p99 <= st.read_cost_max);
	assert_true(st.read_cost_max > 0);
	assert_true(st.chain_max >= 2 && st.chain_max <= 4);
	assert_true(st.chain_max >= sn.max_groups);
	/* What a get reads agrees with the stats' view of it. */
	assert_true(sn.max_ratio <= st.read_cost_max + 0.05);
	expect_verify_ok(s);
	strata_close(s);

	/* A reader sees the same. */
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_READ, NULL), 0);
	check_all(s, &f->c, &lim, NULL);
	strata_close(s);
}

/* Tighter caps are kept too: one group per get at most 2 deep, 2 bytes
 * read per byte returned. */
static void test_tight_caps(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.chain_max = 2;
	o.read_cost_max = 2;
	o.group_cap = 64 * 1024;
	strata_store *s = build_history(f, &o);
	const limits lim = { 2, 2, 0 };
	check_all(s, &f->c, &lim, NULL);
	strata_stats st = stats_of(s);
	assert_true(st.chain_max <= 2);
	assert_true(st.read_cost_max <= 2.0);
	expect_verify_ok(s);
	/* chain_max 1: no base deltas at all, every get one group. */
	strata_close(s);
	corpus_free(&f->c);
	memset(&f->c, 0, sizeof f->c);
	f->c.rng = 7;
	tu_rmrf(f->store);
	o.chain_max = 1;
	s = build_history(f, &o);
	const limits one = { 1, 2, 1 };
	check_all(s, &f->c, &one, NULL);
	assert_int_equal(stats_of(s).chain_max, 1);
	strata_close(s);
}

/* Several keys in one unit and several records of one key in one unit;
 * text and binary, keys with NUL bytes, an empty record. */
static void test_one_unit_many_records(void **state)
{
	fixture *f = *state;
	strata_store *s = create(f, NULL);
	for (int i = 0; i < 12; i++)
		put_version(s, &f->c, "a.txt", 5, 0, 7000);
	for (int i = 0; i < 5; i++)
		put_version(s, &f->c, BINKEY, BINKEY_LEN, 1, 9000);
	put_exact(s, &f->c, "empty", 5, (const uint8_t *)"", 0);
	for (int i = 0; i < 12; i++)
		put_version(s, &f->c, "b.txt", 5, 0, 300);
	assert_int_equal(commit(s, "one"), 1);
	const limits lim = { 4, 4, 0 };
	seen sn;
	check_all(s, &f->c, &lim, &sn);
	/* Versions within one unit are coded against their group: one group
	 * per get. */
	assert_int_equal(sn.max_groups, 1);
	strata_stats st = stats_of(s);
	assert_int_equal(st.units, 1);
	assert_int_equal(st.records, 30);
	assert_true(st.pack_bytes * 4 < st.raw_bytes);
	/* A second unit of the same keys. */
	for (int i = 0; i < 3; i++)
		put_version(s, &f->c, "a.txt", 5, 0, 7000);
	put_version(s, &f->c, BINKEY, BINKEY_LEN, 1, 9000);
	assert_int_equal(commit(s, "two"), 2);
	check_all(s, &f->c, &lim, NULL);
	expect_verify_ok(s);
	strata_close(s);
}

/* A record past the block length ends a block of its own, and what it
 * adds to its group's read is its compressed length: counting its raw
 * length instead closes the group while the record's read stays well
 * within the cap. Records of 64 KiB of fresh text, about a quarter of that
 * compressed, under read cost 4 (256 KiB): counting raw lengths, 13 such
 * records fit a group (the 14th would find 13 x 16 KiB emitted plus its
 * own 64 KiB over the cap); with the estimate 16 do. */
#define REC_COUNT 15
static void test_compressed_length_counts(void **state)
{
	fixture *f = *state;
	strata_store *s = create(f, NULL);
	uint8_t *text = tu_alloc(64 * 1024);
	for (int i = 0; i < REC_COUNT; i++) {
		tu_fill_text(text, 64 * 1024, 1000 + (uint64_t)i);
		put_exact(s, &f->c, "log", 3, text, 64 * 1024);
	}
	free(text);
	assert_int_equal(commit(s, NULL), 1);
	const limits lim = { 1, 4, 1 };
	check_all(s, &f->c, &lim, NULL);
	strata_stats st = stats_of(s);
	assert_int_equal(st.groups, 1);
	assert_true(st.read_cost_max <= 4.0);
	assert_true(st.pack_bytes * 2 < st.raw_bytes);
	strata_close(s);
}

/* Records of the group cap or more: stored (a group of their own) and read
 * back, between small records, with edits of them in later units. */
static void test_large_records(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 256 * 1024;
	strata_store *s = create(f, &o);
	put_version(s, &f->c, "small", 5, 0, 1000);
	put_version(s, &f->c, "big.txt", 7, 0, 1u << 20);        /* 4x the cap */
	put_version(s, &f->c, "small", 5, 0, 1000);
	put_version(s, &f->c, "big.bin", 7, 1, 256 * 1024);      /* exactly the cap */
	put_version(s, &f->c, "small", 5, 0, 1000);
	assert_int_equal(commit(s, NULL), 1);
	for (int u = 2; u <= 3; u++) {
		put_version(s, &f->c, "big.txt", 7, 0, 0);
		put_version(s, &f->c, "big.bin", 7, 1, 0);
		put_version(s, &f->c, "small", 5, 0, 0);
		assert_int_equal(commit(s, NULL), (uint64_t)u);
	}
	const limits lim = { 4, 4, 0 };
	check_all(s, &f->c, &lim, NULL);
	/* The large records are read in one group each. */
	void *out;
	size_t len;
	strata_read_cost cost;
	assert_int_equal(strata_get(s, "big.txt", 7, 1, &out, &len), 0);
	assert_int_equal(len, 1u << 20);
	strata_buf_free(out);
	assert_int_equal(strata_read_cost_get(s, &cost), 0);
	assert_int_equal(cost.groups, 1);
	assert_true(cost.bytes_read < len); /* text: compressed */
	assert_int_equal(strata_get(s, "big.bin", 7, 1, &out, &len), 0);
	strata_buf_free(out);
	assert_int_equal(strata_read_cost_get(s, &cost), 0);
	assert_int_equal(cost.groups, 1);
	assert_true(cost.bytes_read >= len && cost.bytes_read <= len + slack(len));
	expect_verify_ok(s);
	/* And after a repack. */
	strata_repack_result res;
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.packs_after, 1);
	check_all(s, &f->c, &lim, NULL);
	expect_verify_ok(s);
	strata_close(s);
}

/* Progress of a repack counts records up to the total. */
typedef struct progress_log {
	uint64_t calls, last_done, last_total;
	int backwards;
} progress_log;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	progress_log *l = ctx;
	if (l->calls && (done <= l->last_done || total != l->last_total))
		l->backwards = 1;
	if (done > total)
		l->backwards = 1;
	l->calls++;
	l->last_done = done;
	l->last_total = total;
}

/* A repack keeps every record, every unit's number, label and time; the
 * store is one pack; verify passes; and the store goes on. */
static void check_repack(fixture *f, int flags)
{
	strata_store *s = build_history(f, NULL);
	unit_list before = units_of(s);
	assert_int_equal(before.n, UNITS);
	assert_int_equal(distinct_packs(&before), UNITS);
	strata_stats st0 = stats_of(s);
	progress_log pl = { 0 };
	strata_repack_result res;
	memset(&res, 0xff, sizeof res);
	int rc = strata_repack(s, flags, on_progress, &pl, &res);
	if (rc)
		fail_msg("strata_repack: %d %s", rc, strata_errmsg());
	assert_int_equal(res.packs_before, UNITS);
	assert_int_equal(res.packs_after, 1);
	assert_int_equal(res.bytes_before, st0.pack_bytes);
	assert_true(res.bytes_after <= res.bytes_before);
	assert_int_equal(pl.calls, f->c.records);
	assert_int_equal(pl.last_done, f->c.records);
	assert_int_equal(pl.last_total, f->c.records);
	assert_false(pl.backwards);
	assert_int_equal(tu_count_names(f->packs, "", ""), 1);
	char name[64];
	snprintf(name, sizeof name, "0000000001-%010d.pack", UNITS);
	char *path = tu_join(f->packs, name);
	assert_true(tu_exists(path));
	assert_int_equal(tu_file_size(path), res.bytes_after);
	free(path);

	/* Records: byte for byte; with the default order each get touches its
	 * own group only. */
	const limits lim = { 4, 4, !(flags & STRATA_REPACK_OLDEST_FIRST) };
	seen sn;
	check_all(s, &f->c, &lim, &sn);
	strata_stats st = stats_of(s);
	assert_int_equal(st.records, st0.records);
	assert_int_equal(st.raw_bytes, st0.raw_bytes);
	assert_int_equal(st.keys, st0.keys);
	assert_int_equal(st.units, UNITS);
	assert_int_equal(st.pack_bytes, res.bytes_after);
	assert_true(st.read_cost_max <= 4.0);
	if (!(flags & STRATA_REPACK_OLDEST_FIRST))
		assert_int_equal(st.chain_max, 1);
	else
		assert_true(st.chain_max <= 4);
	if (st.pack_bytes * 20 > st.raw_bytes)
		fail_msg("repacked: %llu content bytes in %llu bytes (less than 20x smaller)",
			 (unsigned long long)st.raw_bytes, (unsigned long long)st.pack_bytes);
	/* Units: the same numbers, labels, times and contents, one pack. */
	unit_list after = units_of(s);
	assert_int_equal(after.n, UNITS);
	for (int i = 0; i < UNITS; i++) {
		assert_int_equal(after.u[i].unit, before.u[i].unit);
		assert_string_equal(after.u[i].label, before.u[i].label);
		assert_int_equal(after.u[i].time, before.u[i].time);
		assert_int_equal(after.u[i].records, before.u[i].records);
		assert_int_equal(after.u[i].raw, before.u[i].raw);
		char want[80];
		snprintf(want, sizeof want, "packs/%s", name);
		assert_string_equal(after.u[i].pack, want);
	}
	expect_verify_ok(s);
	/* Repacking one pack does nothing. */
	assert_int_equal(strata_repack(s, flags, NULL, NULL, &res), 0);
	assert_int_equal(res.packs_before, 1);
	assert_int_equal(res.packs_after, 1);
	assert_int_equal(res.bytes_after, res.bytes_before);
	strata_close(s);

	/* A reader, then a writer that goes on: new versions code against the
	 * repacked ones. */
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_READ, NULL), 0);
	check_all(s, &f->c, &lim, NULL);
	strata_close(s);
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_WRITE, NULL), 0);
	for (int u = UNITS + 1; u <= UNITS + 3; u++)
		history_unit(s, &f->c, u);
	const limits any = { 4, 4, 0 };
	check_all(s, &f->c, &any, NULL);
	assert_int_equal(stats_of(s).units, UNITS + 3);
	expect_verify_ok(s);
	strata_close(s);
}

static void test_repack_newest_first(void **state)
{
	check_repack(*state, 0);
}

static void test_repack_oldest_first(void **state)
{
	check_repack(*state, STRATA_REPACK_OLDEST_FIRST);
}

/* repack_after = 4: ten commits leave fewer packs than units (the newest
 * packs are merged as they pile up), and every record reads back. */
static void test_auto_repack(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.repack_after = 4;
	strata_store *s = create(f, &o);
	int repacked_at = 0;
	for (int u = 1; u <= 10; u++) {
		history_unit(s, &f->c, u);
		unit_list l = units_of(s);
		if (!repacked_at && distinct_packs(&l) < u)
			repacked_at = u;
		/* Never more than repack_after fresh commit packs pile up. */
		assert_true(tu_count_names(f->packs, "", ".pack") < u || u < 4);
	}
	assert_int_equal(repacked_at, 4);
	unit_list l = units_of(s);
	assert_int_equal(l.n, 10);
	int packs = distinct_packs(&l);
	assert_true(packs < 10);
	assert_int_equal(tu_count_names(f->packs, "", ".pack"), packs);
	assert_int_equal(tu_count_names(f->packs, "tmp-", ""), 0);
	for (int i = 0; i < 10; i++) {
		char label[32];
		snprintf(label, sizeof label, "rev %d", i + 1);
		assert_string_equal(l.u[i].label, label);
	}
	const limits lim = { 4, 4, 0 };
	check_all(s, &f->c, &lim, NULL);
	strata_stats st = stats_of(s);
	assert_int_equal(st.units, 10);
	assert_int_equal(st.records, f->c.records);
	expect_verify_ok(s);
	strata_close(s);
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_READ, NULL), 0);
	check_all(s, &f->c, &lim, NULL);
	strata_close(s);
}

/* repack needs a writable handle with no unit in progress; a refused call
 * leaves the unit in progress as it was. */
static void test_repack_refusals(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.repack_after = 0;
	strata_store *s = create(f, &o);
	for (int u = 1; u <= 3; u++)
		history_unit(s, &f->c, u);
	put_version(s, &f->c, "src/main.c", 10, 0, 0);
	strata_repack_result res;
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &res), STRATA_EINVAL);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(tu_count_names(f->packs, "0", ".pack"), 3);
	assert_true(tu_count_names(f->packs, "tmp-", ".pack") <= 1); /* the unit in progress, once written */
	assert_int_equal(commit(s, "after a refused repack"), 4);
	const limits lim = { 4, 4, 0 };
	check_all(s, &f->c, &lim, NULL);
	/* After a rollback the unit is gone and repack runs. */
	uint8_t *junk = tu_alloc(10);
	memset(junk, 'j', 10);
	assert_int_equal(strata_put(s, "junk", 4, junk, 10, strata_release_free, NULL, NULL), 0);
	assert_int_equal(strata_repack(s, STRATA_REPACK_OLDEST_FIRST, NULL, NULL, &res), STRATA_EINVAL);
	assert_int_equal(strata_rollback(s), 0);
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.packs_before, 4);
	assert_int_equal(res.packs_after, 1);
	strata_close(s);

	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_READ, NULL), 0);
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &res), STRATA_EREADONLY);
	assert_true(strlen(strata_errmsg()) > 0);
	check_all(s, &f->c, &lim, NULL);
	strata_close(s);
	assert_int_equal(strata_repack(NULL, 0, NULL, NULL, &res), STRATA_EINVAL);

	/* An empty store has nothing to repack. */
	char *other = tu_join(f->dir, "empty");
	assert_int_equal(strata_open(&s, other, STRATA_OPEN_CREATE, NULL), 0);
	memset(&res, 0xff, sizeof res);
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.packs_before, 0);
	assert_int_equal(res.packs_after, 0);
	assert_int_equal(res.bytes_after, 0);
	strata_close(s);
	free(other);
}

/* strata_read_cost_get: zeros before any get, the last successful get's
 * cost after, unchanged by a failing get; bad arguments refused. */
static void test_read_cost_calls(void **state)
{
	fixture *f = *state;
	strata_store *s = create(f, NULL);
	strata_read_cost c;
	memset(&c, 0xff, sizeof c);
	assert_int_equal(strata_read_cost_get(s, &c), 0);
	assert_int_equal(c.bytes_read + c.bytes_decoded + c.groups, 0);
	for (int i = 0; i < 3; i++)
		put_version(s, &f->c, "k", 1, 0, 50000);
	assert_int_equal(commit(s, NULL), 1);
	void *out;
	size_t len;
	assert_int_equal(strata_get(s, "k", 1, 3, &out, &len), 0);
	strata_buf_free(out);
	strata_read_cost last;
	assert_int_equal(strata_read_cost_get(s, &last), 0);
	assert_true(last.groups == 1 && last.bytes_read > 0 && last.bytes_decoded >= len);
	assert_int_equal(strata_get(s, "k", 1, 4, &out, &len), STRATA_ENOTFOUND);
	assert_int_equal(strata_read_cost_get(s, &c), 0);
	assert_memory_equal(&c, &last, sizeof c);
	assert_int_equal(strata_read_cost_get(NULL, &c), STRATA_EINVAL);
	assert_int_equal(strata_read_cost_get(s, NULL), STRATA_EINVAL);
	strata_close(s);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tight_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_unit_many_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compressed_length_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_newest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_repack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cost_calls, setup, teardown),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests_name("versions", tests, NULL, NULL);
}
