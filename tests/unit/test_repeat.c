/* test_repeat.c - records that repeat far back (docs/FORMAT.md, "Repeats"):
 * the second far copy of a content is pooled and it and later copies refer
 * to the pool, near copies are left to the group, with and without the
 * write pipeline; a reference crosses units, a reopened writer starts
 * afresh, a rollback forgets the pool of its unit; a damaged pooled record
 * fails its references (through get and through a cursor) and verify names
 * them; repack keeps references; producers on several threads; a cursor
 * hands out pooled contents its reader's cache has let go meanwhile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pack.h"
#include "store.h"
#include "strata.h"
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>

enum { ALEN = 1000, BLEN = 800, FILL = 1024, NFILL = 20 };

typedef struct fixture {
	char *dir, *store;
	uint8_t a[ALEN], b[BLEN];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->store = tu_join(f->dir, "store");
	tu_fill_random(f->a, ALEN, 1);
	tu_fill_random(f->b, BLEN, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->store);
	free(f);
	return 0;
}

/* 64 KiB groups: content put 16 KiB or more after its last copy is far. */
static strata_store *open_store(fixture *f, int flags, const char *codec, int direct)
{
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 64u << 10;
	o.dedup_above = 64;
	o.codec = codec;
	strata_store *s = NULL;
	int rc = strata_open(&s, f->store, flags, &o);
	if (rc)
		fail_msg("strata_open: %s", strata_errmsg());
	if (direct) {
		const strata_pipeline_options po = { .workers = -1 };
		assert_int_equal(strata_pipeline_set(s, &po), 0);
	}
	return s;
}

static void put(strata_store *s, const char *key, const void *p, size_t len)
{
	uint8_t *copy = tu_alloc(len);
	memcpy(copy, p, len);
	if (strata_put(s, key, strlen(key), copy, len, strata_release_free, NULL, NULL))
		fail_msg("strata_put: %s", strata_errmsg());
}

/* 20 KiB of other content, far enough. */
static void fill(strata_store *s, uint64_t seed)
{
	uint8_t buf[FILL];
	for (int i = 0; i < NFILL; i++) {
		tu_fill_random(buf, FILL, seed * 100 + (uint64_t)i);
		put(s, "fill", buf, FILL);
	}
}

/* k: A, 20 KiB of other content, A again (far: pooled, and referred to). */
static void a_far_a(strata_store *s, const fixture *f)
{
	put(s, "k", f->a, ALEN);
	fill(s, 1);
	put(s, "k", f->a, ALEN);
}

static void expect(strata_store *s, const char *key, uint64_t n, const void *want, size_t len)
{
	void *out;
	size_t got;
	if (strata_get(s, key, strlen(key), n, &out, &got))
		fail_msg("get %s %llu: %s", key, (unsigned long long)n, strata_errmsg());
	assert_int_equal(got, len);
	assert_memory_equal(out, want, len);
	strata_buf_free(out);
}

/* Each record's encoding, from every pack's footer: enc[n] for key, and
 * how many records the pool key holds. */
static void encodings(fixture *f, const char *key, int *enc, size_t cap, size_t *pooled)
{
	char *packs = tu_join(f->store, "packs");
	DIR *d = opendir(packs);
	assert_non_null(d);
	*pooled = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 5, ".pack"))
			continue;
		char *path = tu_join(packs, e->d_name);
		pack_reader *r;
		assert_int_equal(pack_open(&r, path), 0);
		for (size_t i = 0; i < r->footer.nrecords; i++) {
			const pack_record *rec = &r->footer.records[i];
			const pack_key *k = &r->footer.keys[rec->key];
			if (k->len == 5 && !memcmp(k->p, "\0pool", 5))
				(*pooled)++;
			else if (k->len == strlen(key) && !memcmp(k->p, key, k->len) && rec->n < cap)
				enc[rec->n] = rec->enc;
		}
		pack_close(r);
		free(path);
	}
	closedir(d);
	free(packs);
}

/* k: A, (fill), A, A, B, B. The second A is far from the first: pooled,
 * and it and the third refer to the pool; the second B is near: left to
 * the group. */
static void far_and_near(void **state, int direct)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, direct);
	a_far_a(s, f);
	put(s, "k", f->a, ALEN);
	put(s, "k", f->b, BLEN);
	put(s, "k", f->b, BLEN);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	expect(s, "k", 1, f->a, ALEN);
	expect(s, "k", 2, f->a, ALEN);
	expect(s, "k", 3, f->a, ALEN);
	expect(s, "k", 4, f->b, BLEN);
	expect(s, "k", 5, f->b, BLEN);
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	assert_int_equal(st.keys, 2); /* the pool is not a key of the caller's */
	assert_int_equal(st.records, 5 + NFILL);
	assert_int_equal(st.raw_bytes, 3 * ALEN + 2 * BLEN + NFILL * FILL);
	strata_verify_result res;
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, &res), 0);
	assert_int_equal(res.problems, 0);
	strata_close(s);
	int enc[6] = { -1, -1, -1, -1, -1, -1 };
	size_t pooled;
	encodings(f, "k", enc, 6, &pooled);
	assert_int_equal(pooled, 1);
	assert_int_equal(enc[1], ENC_LITERAL);
	assert_int_equal(enc[2], ENC_POOL);
	assert_int_equal(enc[3], ENC_POOL);
	assert_int_equal(enc[4], ENC_LITERAL);
	assert_true(enc[5] != ENC_POOL && enc[5] >= 0);
}

static void test_far_and_near(void **state)
{
	far_and_near(state, 0);
}

static void test_far_and_near_direct(void **state)
{
	far_and_near(state, 1);
}

/* A later unit refers to a pooled record of an earlier one, and so does a
 * writer that reopens the store (it reads the pooled records back). */
static void test_units_and_reopen(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, 0);
	a_far_a(s, f);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	put(s, "k", f->a, ALEN); /* 3: near, but pooled already */
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	strata_close(s);
	s = open_store(f, STRATA_OPEN_WRITE, NULL, 0);
	put(s, "k", f->a, ALEN); /* 4: pooled before this writer */
	put(s, "k", f->b, BLEN); /* 5: new */
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	for (uint64_t n = 1; n <= 4; n++)
		expect(s, "k", n, f->a, ALEN);
	expect(s, "k", 5, f->b, BLEN);
	strata_close(s);
	int enc[6];
	size_t pooled;
	encodings(f, "k", enc, 6, &pooled);
	assert_int_equal(pooled, 1);
	assert_int_equal(enc[3], ENC_POOL);
	assert_int_equal(enc[4], ENC_POOL);
	assert_int_not_equal(enc[5], ENC_POOL);
}

/* A rollback drops the pooled record of its unit: what follows neither
 * refers to it nor loses anything; the committed pooled records are still
 * referred to after a rollback. */
static void test_rollback(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, 0);
	a_far_a(s, f); /* pooled, then rolled back */
	assert_int_equal(strata_rollback(s), 0);
	put(s, "k", f->b, BLEN); /* pooled: the number the pooled A had */
	fill(s, 2);
	put(s, "k", f->b, BLEN);
	put(s, "k", f->a, ALEN);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	put(s, "k", f->b, BLEN); /* 4: refers to the committed pool record */
	assert_int_equal(strata_rollback(s), 0);
	put(s, "k", f->b, BLEN); /* 4 again: so does it, after the rollback */
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	expect(s, "k", 1, f->b, BLEN);
	expect(s, "k", 2, f->b, BLEN);
	expect(s, "k", 3, f->a, ALEN);
	expect(s, "k", 4, f->b, BLEN);
	strata_close(s);
	int enc[5];
	size_t pooled;
	encodings(f, "k", enc, 5, &pooled);
	assert_int_equal(pooled, 1);
	assert_int_equal(enc[2], ENC_POOL);
	assert_int_equal(enc[3], ENC_LITERAL);
	assert_int_equal(enc[4], ENC_POOL);
}

/* Bits of what verify reported: 1 the pooled record, 2 and 4 records 2
 * and 3 of k, 8 record 1 of k. */
static void note_problem(void *ctx, const strata_problem *p)
{
	int *seen = ctx;
	if (p->key && p->keylen == 5 && !memcmp(p->key, "\0pool", 5) && p->n == 1)
		*seen |= 1;
	if (p->key && p->keylen == 1 && !memcmp(p->key, "k", 1) && p->n >= 1 && p->n <= 3)
		*seen |= p->n == 1 ? 8 : p->n == 2 ? 2 : 4;
}

/* A changed byte in the pooled record (codec none: the pack holds it as
 * is): the records that refer to it fail, the first copy reads on, and
 * verify reports the pooled record and each reference (and the rest of the
 * group it lies in, whose checksum fails). */
static void test_damaged_pool(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, "none", 0);
	a_far_a(s, f);
	put(s, "k", f->a, ALEN);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	strata_close(s);
	char *path = tu_join(f->store, "packs/0000000001.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	uint64_t at = 0;
	for (size_t i = 0; i < r->footer.nrecords; i++) {
		const pack_record *rec = &r->footer.records[i];
		const pack_key *k = &r->footer.keys[rec->key];
		if (k->len == 5 && !memcmp(k->p, "\0pool", 5))
			at = r->footer.groups[rec->group].offset + rec->off + rec->len / 2;
	}
	pack_close(r);
	assert_true(at > 0);
	tu_flip_byte(path, at, 0x01);
	free(path);
	s = open_store(f, STRATA_OPEN_READ, NULL, 0);
	expect(s, "k", 1, f->a, ALEN);
	void *out = NULL;
	size_t len;
	for (uint64_t n = 2; n <= 3; n++) {
		assert_int_equal(strata_get(s, "k", 1, n, &out, &len), STRATA_ECORRUPT);
		assert_null(out);
		assert_non_null(strstr(strata_errmsg(), "pooled record 1"));
	}
	/* A cursor gives record 1, then the error, never the damaged bytes. */
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "k", 1, 1, 0, 4), 0);
	const void *v;
	size_t vlen;
	uint64_t vn;
	assert_int_equal(strata_cursor_view(c, &v, &vlen, &vn), 0);
	assert_int_equal(vn, 1);
	assert_int_equal(vlen, ALEN);
	assert_memory_equal(v, f->a, ALEN);
	assert_int_equal(strata_cursor_view(c, &v, &vlen, &vn), STRATA_ECORRUPT);
	assert_non_null(strstr(strata_errmsg(), "pooled record 1"));
	strata_cursor_close(c);
	int seen = 0;
	assert_int_equal(strata_verify(s, note_problem, NULL, &seen, NULL), STRATA_ECORRUPT);
	/* k's records are a small batch at the commit, the fill's a large one:
	 * k's share the pooled record's group, which fails its checksum */
	assert_int_equal(seen, 1 | 2 | 4 | 8);
	strata_close(s);
	/* A writer still opens the store (the damaged record is left out of
	 * its index) and adds A again to k: its base would be k's latest, a
	 * reference to the damaged record, so it is stored without a base. */
	s = open_store(f, STRATA_OPEN_WRITE, "none", 0);
	put(s, "k", f->a, ALEN);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	expect(s, "k", 4, f->a, ALEN);
	strata_close(s);
	int enc[5];
	size_t pooled;
	encodings(f, "k", enc, 5, &pooled);
	assert_int_equal(enc[4], ENC_LITERAL);
}

/* A reference whose record checksum disagrees with the pooled record it
 * names (a writer's bug, or a pack crafted so): the pooled bytes are never
 * handed out as that record, by get, by a cursor, or past verify. */
static void test_reference_mismatch(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, 0);
	a_far_a(s, f); /* k@2 refers to pooled record 1, A */
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	/* k@3: A with one bit changed, stored as a reference to A */
	uint8_t *b = tu_alloc(ALEN);
	memcpy(b, f->a, ALEN);
	b[ALEN / 2] ^= 0x10;
	const unitw_hint h = { .pool = 1 };
	uint64_t n = 0;
	assert_int_equal(store_put_hinted(s, "k", 1, &h, b, ALEN, strata_release_free, NULL, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	int enc[4];
	size_t pooled;
	encodings(f, "k", enc, 4, &pooled);
	assert_int_equal(enc[3], ENC_POOL);
	expect(s, "k", 2, f->a, ALEN);
	void *out = NULL;
	size_t len;
	assert_int_equal(strata_get(s, "k", 1, 3, &out, &len), STRATA_ECORRUPT);
	assert_null(out);
	/* A cursor over k (its workers read the pooled record once for both
	 * references) gives records 1 and 2, then the error. */
	strata_cursor *c;
	assert_int_equal(strata_cursor_open(&c, s, "k", 1, 1, 0, 4), 0);
	const void *v;
	size_t vlen;
	uint64_t vn;
	for (uint64_t want = 1; want <= 2; want++) {
		assert_int_equal(strata_cursor_view(c, &v, &vlen, &vn), 0);
		assert_int_equal(vn, want);
		assert_int_equal(vlen, ALEN);
		assert_memory_equal(v, f->a, ALEN);
	}
	assert_int_equal(strata_cursor_view(c, &v, &vlen, &vn), STRATA_ECORRUPT);
	strata_cursor_close(c);
	int seen = 0;
	assert_int_equal(strata_verify(s, note_problem, NULL, &seen, NULL), STRATA_ECORRUPT);
	assert_int_equal(seen, 4); /* k@3, and nothing else */
	strata_close(s);
}

/* Repack moves the pooled record and keeps the references. */
static void test_repack(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, 0);
	a_far_a(s, f);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	put(s, "k", f->a, ALEN);
	put(s, "k", f->b, BLEN);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	strata_repack_result res;
	assert_int_equal(strata_repack(s, 0, NULL, NULL, &res), 0);
	assert_int_equal(res.packs_after, 1);
	for (uint64_t n = 1; n <= 3; n++)
		expect(s, "k", n, f->a, ALEN);
	expect(s, "k", 4, f->b, BLEN);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
	int enc[5];
	size_t pooled;
	encodings(f, "k", enc, 5, &pooled);
	assert_int_equal(pooled, 1);
	assert_int_equal(enc[2], ENC_POOL);
	assert_int_equal(enc[3], ENC_POOL);
}

/* Producers on four threads put the same contents to keys of their own:
 * every record reads back, and some refer to the pool (ThreadSanitizer
 * runs this too). */
typedef struct producer {
	strata_store *s;
	const fixture *f;
	char key[8];
} producer;

static void *produce(void *arg)
{
	producer *p = arg;
	for (int round = 0; round < 3; round++) {
		put(p->s, p->key, p->f->a, ALEN);
		put(p->s, p->key, p->f->b, BLEN);
		fill(p->s, (uint64_t)(p->key[1] * 10 + round));
	}
	return NULL;
}

static void test_threads(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, 0);
	producer p[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (producer){ s, f, { 't', (char)('0' + i), 0 } };
		assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	for (int i = 0; i < 4; i++)
		for (uint64_t n = 1; n <= 6; n++)
			expect(s, p[i].key, n, n % 2 ? f->a : f->b, n % 2 ? ALEN : BLEN);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
	int refs = 0;
	for (int i = 0; i < 4; i++) {
		int enc[7];
		size_t pooled;
		encodings(f, p[i].key, enc, 7, &pooled);
		assert_true(pooled >= 2 && pooled <= 8); /* A and B, pooled once or more by racing threads */
		for (int n = 3; n <= 6; n++)
			refs += enc[n] == ENC_POOL;
	}
	assert_true(refs >= 8);
}

/* NPOOL distinct contents put twice over: the second round is NPOOL
 * references to as many pooled records, more than a reader's cache of
 * them keeps (it empties itself at 2,048), so a cursor's spans point into
 * entries the cache has dropped while they are handed out. Each record
 * read through the cursor must be the one put. */
enum { NPOOL = 3000, PLEN = 100 };

static void pool_content(uint8_t *p, int i)
{
	tu_fill_random(p, PLEN, 1000 + (uint64_t)i);
}

static void test_cursor_shares_pool(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f, STRATA_OPEN_CREATE, NULL, 0);
	uint8_t buf[PLEN];
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NPOOL; i++) {
			pool_content(buf, i);
			put(s, "k", buf, PLEN);
		}
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	for (unsigned prefetch = 1; prefetch <= 4; prefetch += 3) {
		strata_cursor *c;
		assert_int_equal(strata_cursor_open(&c, s, "k", 1, 1, 0, prefetch), 0);
		const void *v;
		size_t len;
		uint64_t n, want = 1;
		int rc;
		while ((rc = strata_cursor_view(c, &v, &len, &n)) == 0) {
			assert_int_equal(n, want);
			pool_content(buf, (int)((n - 1) % NPOOL));
			assert_int_equal(len, PLEN);
			assert_memory_equal(v, buf, PLEN);
			want++;
		}
		assert_int_equal(rc, STRATA_ENOTFOUND);
		assert_int_equal(want, 2 * NPOOL + 1);
		strata_cursor_close(c);
	}
	strata_close(s);
	static int enc[2 * NPOOL + 1];
	size_t pooled, refs = 0;
	encodings(f, "k", enc, 2 * NPOOL + 1, &pooled);
	for (int n = NPOOL + 1; n <= 2 * NPOOL; n++)
		refs += enc[n] == ENC_POOL;
	assert_int_equal(pooled, NPOOL);
	assert_int_equal(refs, NPOOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_far_and_near, setup, teardown),
		cmocka_unit_test_setup_teardown(test_far_and_near_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_units_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_pool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor_shares_pool, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
