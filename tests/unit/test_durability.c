/* test_durability.c - damage, crashes and failures: what the store promises
 * when things go wrong (docs/FORMAT.md "Commit protocol" and "Recovery").
 *
 *   corruption   damaged packs give STRATA_ECORRUPT, never wrong bytes, and
 *                strata_verify names the pack, key and record
 *   recovery     a pack the catalog lacks is filed by the next open;
 *                temporary packs are removed; garbage is set aside
 *   rebuild      the catalog recreated from the packs alone
 *   faults       a commit failing at any write-side call leaves the store
 *                exactly as it was (os_fault_set from src/os.h)
 *   cloexec      a child started with fork+exec inherits no descriptor
 *   repack       the crash points of the repack protocol (FORMAT.md,
 *                "Repack protocol", "Recovery") recreated by copying packs
 *                around; rebuild with overlapping packs on disk; a repack
 *                (and an automatic one) failing at any write-side call
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "os.h"
#include "pack.h"
#include "runs.h"
#include "strata.h"
#include "testutil.h"

#include <limits.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <xxhash.h>

/* ------------------------------------------------------------ helpers */

typedef struct fixture {
	char *dir;
	char *store;   /* dir/store */
	char *packs;   /* dir/store/packs */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->dir = tu_mkdtemp();
	f->store = tu_join(f->dir, "store");
	f->packs = tu_join(f->store, "packs");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	os_fault_set(0, 0);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->store);
	free(f->packs);
	free(f);
	return 0;
}

static strata_store *open_store(const char *path, int flags)
{
	strata_store *s = NULL;
	int rc = strata_open(&s, path, flags, NULL);
	if (rc != 0)
		fail_msg("strata_open(%s, %d): %d %s", path, flags, rc, strata_errmsg());
	return s;
}

/* Turn the write pipeline off: puts code and write on this thread, as
 * the tests of write-side faults and of the temporary pack need. */
static void direct(strata_store *s)
{
	const strata_pipeline_options po = { .workers = -1 };
	assert_int_equal(strata_pipeline_set(s, &po), 0);
}

static uint64_t commit(strata_store *s, const char *label)
{
	uint64_t u = 0;
	int rc = strata_commit(s, label, &u);
	if (rc != 0)
		fail_msg("strata_commit: %d %s", rc, strata_errmsg());
	return u;
}

/* Kinds of content: text, random bytes, or a version of the key's text. */
enum { TEXT = 0, RANDOM = 1, VERSION = 2 };

/* Deterministic content of record `n` of `key`, `len` bytes. A VERSION is
 * the key's text with n small edits, each version one edit on from the
 * last (so versions delta well against each other). */
static uint8_t *content(const char *key, uint64_t n, size_t len, int random)
{
	uint8_t *p = tu_alloc(len);
	uint64_t kseed = XXH3_64bits(key, strlen(key));
	uint64_t seed = kseed ^ (n * 0x9E3779B97F4A7C15ull);
	if (random == VERSION) {
		tu_fill_text(p, len, kseed);
		for (uint64_t i = 1; i <= n && len >= 64; i++) {
			uint64_t es = kseed + i;
			uint64_t r = tu_rand(&es);
			size_t at = (size_t)(r % (len - 40));
			int k = snprintf((char *)p + at, 40, "<edit %llu of %llu>", (unsigned long long)i,
					 (unsigned long long)(r % 1000));
			p[at + (size_t)k] = ' '; /* no NUL left behind */
		}
	} else if (random) {
		tu_fill_random(p, len, seed);
	} else {
		tu_fill_text(p, len, seed);
	}
	return p;
}

static void put_content(strata_store *s, const char *key, uint64_t n, size_t len, int random)
{
	uint8_t *p = content(key, n, len, random);
	uint64_t got = 0;
	int rc = strata_put(s, key, strlen(key), p, len, strata_release_free, NULL, &got);
	if (rc != 0)
		fail_msg("strata_put(%s): %d %s", key, rc, strata_errmsg());
	assert_int_equal(got, n);
}

static void expect_content(strata_store *s, const char *key, uint64_t n, size_t len, int random)
{
	uint8_t *want = content(key, n, len, random);
	void *out = NULL;
	size_t got = 0;
	int rc = strata_get(s, key, strlen(key), n, &out, &got);
	if (rc != 0)
		fail_msg("strata_get(%s, %llu): %d %s", key, (unsigned long long)n, rc, strata_errmsg());
	assert_int_equal(got, len);
	assert_memory_equal(out, want, len);
	strata_buf_free(out);
	free(want);
}

static uint64_t count_of(strata_store *s, const char *key)
{
	uint64_t c = 999;
	assert_int_equal(strata_record_count(s, key, strlen(key), &c), 0);
	return c;
}

/* ---- a text dump of everything a store shows, for before/after compares */

typedef struct strbuf {
	char *p;
	size_t len, cap;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		while (nc < b->len + (size_t)n + 1)
			nc *= 2;
		b->p = realloc(b->p, nc);
		assert_non_null(b->p);
		b->cap = nc;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

typedef struct keyvec {
	int n, cap;
	char **key;
	size_t *len;
	strbuf *out;
} keyvec;

static int dump_key(void *ctx, const strata_key_info *k)
{
	keyvec *v = ctx;
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 16;
		v->key = realloc(v->key, (size_t)v->cap * sizeof *v->key);
		v->len = realloc(v->len, (size_t)v->cap * sizeof *v->len);
		assert_non_null(v->key);
		assert_non_null(v->len);
	}
	v->key[v->n] = malloc(k->keylen);
	memcpy(v->key[v->n], k->key, k->keylen);
	v->len[v->n] = k->keylen;
	v->n++;
	sb_printf(v->out, "key %.*s records %llu\n", (int)k->keylen, (const char *)k->key,
		  (unsigned long long)k->records);
	return 0;
}

static int dump_record(void *ctx, const strata_record_info *r)
{
	sb_printf(ctx, "  n %llu unit %llu size %llu stored %llu sum %016llx\n", (unsigned long long)r->n,
		  (unsigned long long)r->unit, (unsigned long long)r->size, (unsigned long long)r->stored,
		  (unsigned long long)r->checksum);
	return 0;
}

static int dump_unit(void *ctx, const strata_unit_info *u)
{
	sb_printf(ctx, "unit %llu label '%s' time %lld records %llu raw %llu pack %llu %s\n",
		  (unsigned long long)u->unit, u->label, (long long)u->time, (unsigned long long)u->records,
		  (unsigned long long)u->raw_bytes, (unsigned long long)u->pack_bytes, u->pack);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_dir(strbuf *b, const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	char *names[4096];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 4096)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof *names, cmp_str);
	for (int i = 0; i < n; i++) {
		sb_printf(b, "file %s\n", names[i]);
		free(names[i]);
	}
}

/* Everything visible through the API (every record read back and checked
 * against its checksum) plus the names in packs/. Caller frees. */
static char *dump_store(strata_store *s, const char *packs)
{
	strbuf b = { 0 };
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	sb_printf(&b, "stats records %llu keys %llu units %llu raw %llu pack %llu groups %llu\n",
		  (unsigned long long)st.records, (unsigned long long)st.keys, (unsigned long long)st.units,
		  (unsigned long long)st.raw_bytes, (unsigned long long)st.pack_bytes,
		  (unsigned long long)st.groups);
	assert_int_equal(strata_foreach_unit(s, dump_unit, &b), 0);
	keyvec kv = { 0, 0, NULL, NULL, &b };
	assert_int_equal(strata_foreach_key(s, dump_key, &kv), 0);
	for (int i = 0; i < kv.n; i++) {
		sb_printf(&b, "records of %.*s\n", (int)kv.len[i], kv.key[i]);
		assert_int_equal(strata_foreach_record(s, kv.key[i], kv.len[i], dump_record, &b), 0);
		uint64_t c;
		assert_int_equal(strata_record_count(s, kv.key[i], kv.len[i], &c), 0);
		for (uint64_t n = 1; n <= c; n++) {
			void *out;
			size_t len;
			int rc = strata_get(s, kv.key[i], kv.len[i], n, &out, &len);
			if (rc != 0)
				fail_msg("get %.*s@%llu: %d %s", (int)kv.len[i], kv.key[i], (unsigned long long)n,
					 rc, strata_errmsg());
			sb_printf(&b, "  content %llu %zu %016llx\n", (unsigned long long)n, len,
				  (unsigned long long)XXH3_64bits(out, len));
			strata_buf_free(out);
		}
		free(kv.key[i]);
	}
	free(kv.key);
	free(kv.len);
	dump_dir(&b, packs);
	return b.p;
}

/* ---- problem collection for verify and rebuild */

typedef struct problem {
	char pack[128];
	char key[64];
	size_t keylen;
	int has_key;
	uint64_t n;
	int code;
	char message[256];
} problem;

typedef struct problems {
	int n;
	problem p[256];
} problems;

static void on_problem(void *ctx, const strata_problem *p)
{
	problems *ps = ctx;
	assert_non_null(p->message);
	assert_true(strlen(p->message) > 0);
	if (ps->n == 256)
		return;
	problem *q = &ps->p[ps->n++];
	memset(q, 0, sizeof *q);
	snprintf(q->pack, sizeof q->pack, "%s", p->pack ? p->pack : "");
	q->has_key = p->key != NULL;
	if (p->key) {
		q->keylen = p->keylen < sizeof q->key ? p->keylen : sizeof q->key;
		memcpy(q->key, p->key, q->keylen);
	}
	q->n = p->n;
	q->code = p->code;
	snprintf(q->message, sizeof q->message, "%s", p->message);
}

static int has_problem(const problems *ps, const char *pack, const char *key, uint64_t n)
{
	for (int i = 0; i < ps->n; i++) {
		const problem *q = &ps->p[i];
		if (pack && strcmp(q->pack, pack) != 0)
			continue;
		if (key && (!q->has_key || q->keylen != strlen(key) || memcmp(q->key, key, q->keylen) != 0))
			continue;
		if (key && q->n != n)
			continue;
		return 1;
	}
	return 0;
}

static void print_problems(const problems *ps)
{
	for (int i = 0; i < ps->n; i++)
		print_message("  problem: pack '%s' key '%.*s' n %llu code %d: %s\n", ps->p[i].pack,
			      (int)ps->p[i].keylen, ps->p[i].key, (unsigned long long)ps->p[i].n, ps->p[i].code,
			      ps->p[i].message);
}

/* Group g of a pack: where it lies. */
static pack_group group_of(const char *path, uint32_t g, size_t *nrecords)
{
	pack_reader *r;
	int rc = pack_open(&r, path);
	if (rc != 0)
		fail_msg("pack_open %s: %s", path, strata_errmsg());
	assert_true(g < r->footer.ngroups);
	pack_group gr = r->footer.groups[g];
	if (nrecords)
		*nrecords = r->footer.nrecords;
	pack_close(r);
	return gr;
}

/* Where record n of key lies in a pack: its group and compressed prefix. */
static void record_place(const char *path, const char *key, uint64_t n, uint32_t *group, uint64_t *cend)
{
	pack_reader *r;
	int rc = pack_open(&r, path);
	if (rc != 0)
		fail_msg("pack_open %s: %s", path, strata_errmsg());
	int found = 0;
	for (size_t i = 0; i < r->footer.nrecords; i++) {
		const pack_record *pr = &r->footer.records[i];
		const pack_key *k = &r->footer.keys[pr->key];
		if (pr->n == n && k->len == strlen(key) && !memcmp(k->p, key, k->len)) {
			*group = pr->group;
			*cend = pr->cend;
			found = 1;
		}
	}
	pack_close(r);
	if (!found)
		fail_msg("%s@%llu is not in %s", key, (unsigned long long)n, path);
}


/* ------------------------------------------------------------ (a) corruption */

#define KREC 6
#define KLEN (20 * 1024)

/* Unit 1: key "k" with 6 incompressible 20 KiB records and key "t" with 3
 * text records; the read-cost cap (default 4) closes a group after a few
 * "k" records, so unit 1 has several groups. Unit 2: more of both. */
static void make_two_units(const char *store)
{
	strata_store *s = open_store(store, STRATA_OPEN_CREATE);
	for (uint64_t n = 1; n <= KREC; n++)
		put_content(s, "k", n, KLEN, 1);
	for (uint64_t n = 1; n <= 3; n++)
		put_content(s, "t", n, 5000, 0);
	assert_int_equal(commit(s, "one"), 1);
	for (uint64_t n = KREC + 1; n <= KREC + 2; n++)
		put_content(s, "k", n, KLEN, 1);
	put_content(s, "t", 4, 5000, 0);
	assert_int_equal(commit(s, "two"), 2);
	strata_close(s);
}

static void test_corrupt_group_byte(void **state)
{
	fixture *f = *state;
	make_two_units(f->store);
	char *pack1 = tu_join(f->packs, "0000000001.pack");
	pack_group g = group_of(pack1, 0, NULL);
	/* Group 0 holds several whole "k" records (incompressible). */
	uint64_t in_g0 = 0;
	for (uint64_t n = 1; n <= KREC; n++) {
		uint32_t grp;
		uint64_t cend;
		record_place(pack1, "k", n, &grp, &cend);
		in_g0 += grp == 0;
	}
	assert_true(in_g0 >= 2);
	assert_true(g.clen > in_g0 * KLEN);
	uint64_t damage = g.clen / 2; /* within group 0, past its first record */

	/* A writer handle that has read from the pack before the damage (its
	 * descriptor cache then holds the file open), and one opened after. */
	strata_store *w = open_store(f->store, STRATA_OPEN_WRITE);
	expect_content(w, "k", 1, KLEN, 1);
	tu_flip_byte(pack1, g.offset + damage, 0x04);
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);

	strata_store *hs[2] = { w, r };
	uint64_t bad_n = 0;
	for (int h = 0; h < 2; h++) {
		int corrupt = 0;
		for (uint64_t n = 1; n <= KREC + 2; n++) {
			uint8_t *want = content("k", n, KLEN, 1);
			/* A get reads its record's compressed prefix only: a record
			 * whose prefix ends before the damage, or that lies in
			 * another group or pack, reads back whole. */
			uint32_t grp = 1;
			uint64_t cend = 0;
			if (n <= KREC)
				record_place(pack1, "k", n, &grp, &cend);
			int must_read = grp != 0 || cend <= damage;
			void *out = NULL;
			size_t len = 0;
			int rc = strata_get(hs[h], "k", 1, n, &out, &len);
			if (rc == 0) {
				/* Records of the damaged prefix may still decode: then exactly. */
				assert_int_equal(len, KLEN);
				assert_memory_equal(out, want, KLEN);
				strata_buf_free(out);
			} else {
				if (rc != STRATA_ECORRUPT)
					fail_msg("get k@%llu: rc %d (%s)", (unsigned long long)n, rc, strata_errmsg());
				if (must_read)
					fail_msg("get k@%llu (group %u, prefix %llu, damage at %llu): %s",
						 (unsigned long long)n, grp, (unsigned long long)cend,
						 (unsigned long long)damage, strata_errmsg());
				assert_true(n <= KREC); /* unit 2 is intact */
				assert_non_null(strstr(strata_errmsg(), "0000000001.pack"));
				corrupt++;
				if (!bad_n)
					bad_n = n;
			}
			free(want);
		}
		/* The middle of group 0 holds one of its "k" records. */
		assert_true(corrupt >= 1);
		expect_content(hs[h], "t", 4, 5000, 0);
		for (uint64_t n = 1; n <= 3; n++)
			expect_content(hs[h], "t", n, 5000, 0); /* another group */
	}
	assert_true(bad_n >= 2 && bad_n <= in_g0);

	problems ps = { 0 };
	strata_verify_result res;
	assert_int_equal(strata_verify(r, on_problem, NULL, &ps, &res), STRATA_ECORRUPT);
	assert_true(res.problems >= 1);
	assert_int_equal(res.problems, (uint64_t)ps.n);
	assert_int_equal(res.packs, 2);
	if (!has_problem(&ps, "packs/0000000001.pack", "k", bad_n)) {
		print_problems(&ps);
		fail_msg("verify named no problem for pack 1, key k, record %llu", (unsigned long long)bad_n);
	}
	/* Every problem is about pack 1. */
	for (int i = 0; i < ps.n; i++) {
		assert_string_equal(ps.p[i].pack, "packs/0000000001.pack");
		assert_int_equal(ps.p[i].code, STRATA_ECORRUPT);
	}
	/* The writer's verify agrees. */
	problems pw = { 0 };
	assert_int_equal(strata_verify(w, on_problem, NULL, &pw, NULL), STRATA_ECORRUPT);
	assert_int_equal(pw.n, ps.n);
	strata_close(w);
	strata_close(r);
	free(pack1);
}

/* Damage that get does not read (the footer) still fails verify; the
 * records read right. */
static void test_corrupt_footer(void **state)
{
	fixture *f = *state;
	make_two_units(f->store);
	char *pack2 = tu_join(f->packs, "0000000002.pack");
	uint64_t size = tu_file_size(pack2);
	tu_flip_byte(pack2, size - 48 - 10, 0x20);
	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	expect_content(s, "k", KREC + 1, KLEN, 1);
	problems ps = { 0 };
	assert_int_equal(strata_verify(s, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	if (!has_problem(&ps, "packs/0000000002.pack", NULL, 0)) {
		print_problems(&ps);
		fail_msg("verify did not name packs/0000000002.pack");
	}
	strata_close(s);
	free(pack2);
}

/* A checksum shared by records that disagree with it, while the group and
 * footer checksums hold (a writer's bug, or damage with checksums made
 * anew): every get of those records fails and names them, verify reports
 * each, the others read on. */
static void test_shared_sum_damaged(void **state)
{
	fixture *f = *state;
	enum { N = 100, LEN = 100 };
	char recs[N][LEN];
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	for (int i = 0; i < N; i++) {
		tu_fill_text(recs[i], LEN, 7 + (uint64_t)i);
		char *p = (char *)tu_alloc(LEN);
		memcpy(p, recs[i], LEN);
		assert_int_equal(strata_put(s, "r", 1, p, LEN, strata_release_free, NULL, NULL), 0);
	}
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	strata_close(s);

	/* One run, holding the checksum the records of the last block share:
	 * change it. */
	char *path = tu_join(f->packs, "0000000001.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	assert_int_equal(r->footer.nruns, 1);
	size_t k = r->footer.records[N - 1].rcount;
	assert_true(k >= 2 && k < N);
	uint64_t run_off = r->footer.runs[0].off, run_len = r->footer.runs[0].len, shared = r->footer.records[N - 1].sum;
	pack_close(r);
	size_t size;
	uint8_t *file = tu_read_file(path, &size);
	uint8_t *at = memmem(file + run_off, (size_t)run_len, &shared, 8);
	assert_non_null(at);
	*at ^= 1;
	uint64_t foff, flen, sum; /* the footer's checksum, made anew */
	memcpy(&foff, file + size - 48, 8);
	memcpy(&flen, file + size - 40, 8);
	sum = XXH3_64bits(file + foff, (size_t)flen);
	memcpy(file + size - 32, &sum, 8);
	tu_write_file(path, file, size, 0644);
	free(file);
	tu_remove_catalog(f->store); /* it filed the run as it was */

	s = open_store(f->store, STRATA_OPEN_READ);
	void *out = NULL;
	size_t len;
	char want[64];
	snprintf(want, sizeof want, "checksum mismatch in records %zu..%d", N - k + 1, N);
	for (uint64_t n = 1; n <= N; n++) {
		if (n <= N - k) {
			assert_int_equal(strata_get(s, "r", 1, n, &out, &len), 0);
			assert_int_equal(len, LEN);
			assert_memory_equal(out, recs[n - 1], LEN);
			strata_buf_free(out);
			out = NULL;
			continue;
		}
		assert_int_equal(strata_get(s, "r", 1, n, &out, &len), STRATA_ECORRUPT);
		assert_null(out);
		if (!strstr(strata_errmsg(), want))
			fail_msg("get %llu: %s", (unsigned long long)n, strata_errmsg());
	}
	problems ps = { 0 };
	strata_verify_result res;
	assert_int_equal(strata_verify(s, on_problem, NULL, &ps, &res), STRATA_ECORRUPT);
	assert_int_equal(res.problems, k);
	assert_true(has_problem(&ps, "packs/0000000001.pack", "r", N - k + 1));
	assert_true(has_problem(&ps, "packs/0000000001.pack", "r", N));
	assert_false(has_problem(&ps, "packs/0000000001.pack", "r", N - k));
	assert_int_equal(res.records, N - k);
	strata_close(s);
	free(path);
}

/* A pack cut short or gone: gets of its records are STRATA_ECORRUPT, other
 * packs read on. */
static void test_truncated_and_missing_pack(void **state)
{
	fixture *f = *state;
	make_two_units(f->store);
	char *pack1 = tu_join(f->packs, "0000000001.pack"), *pack2 = tu_join(f->packs, "0000000002.pack");
	pack_group g = group_of(pack1, 0, NULL);
	tu_truncate(pack1, g.offset + g.clen / 3);
	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	void *out;
	size_t len;
	assert_int_equal(strata_get(s, "k", 1, KREC, &out, &len), STRATA_ECORRUPT);
	assert_int_equal(strata_get(s, "t", 1, 3, &out, &len), STRATA_ECORRUPT);
	expect_content(s, "k", KREC + 1, KLEN, 1);
	problems ps = { 0 };
	assert_int_equal(strata_verify(s, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	assert_true(has_problem(&ps, "packs/0000000001.pack", NULL, 0));
	strata_close(s);

	assert_int_equal(unlink(pack2), 0);
	s = open_store(f->store, STRATA_OPEN_READ);
	assert_int_equal(strata_get(s, "k", 1, KREC + 1, &out, &len), STRATA_ECORRUPT);
	assert_int_equal(strata_get(s, "t", 1, 4, &out, &len), STRATA_ECORRUPT);
	assert_true(strlen(strata_errmsg()) > 0);
	problems p2 = { 0 };
	assert_int_equal(strata_verify(s, on_problem, NULL, &p2, NULL), STRATA_ECORRUPT);
	assert_true(has_problem(&p2, "packs/0000000002.pack", NULL, 0));
	strata_close(s);
	free(pack1);
	free(pack2);
}

/* Every record of make_two_units: either its exact bytes or
 * STRATA_ECORRUPT; returns how many were STRATA_ECORRUPT. */
static int read_all_or_corrupt(strata_store *s)
{
	static const struct { const char *key; uint64_t count; size_t len; int random; } keys[] = {
		{ "k", KREC + 2, KLEN, 1 }, { "t", 4, 5000, 0 },
	};
	int corrupt = 0;
	for (int i = 0; i < 2; i++)
		for (uint64_t n = 1; n <= keys[i].count; n++) {
			uint8_t *want = content(keys[i].key, n, keys[i].len, keys[i].random);
			void *out = NULL;
			size_t len = 0;
			int rc = strata_get(s, keys[i].key, 1, n, &out, &len);
			if (rc == 0) {
				assert_int_equal(len, keys[i].len);
				assert_memory_equal(out, want, len);
				strata_buf_free(out);
			} else if (rc == STRATA_ECORRUPT) {
				corrupt++;
			} else {
				fail_msg("get %s@%llu: %d %s", keys[i].key, (unsigned long long)n, rc, strata_errmsg());
			}
			free(want);
		}
	return corrupt;
}

/* Two packs swapped under each other's names: reads find the wrong bytes
 * at the catalogued offsets and must say so. */
static void test_swapped_packs(void **state)
{
	fixture *f = *state;
	make_two_units(f->store);
	char *p1 = tu_join(f->packs, "0000000001.pack"), *p2 = tu_join(f->packs, "0000000002.pack");
	char *tmp = tu_join(f->dir, "swap");
	assert_int_equal(rename(p1, tmp), 0);
	assert_int_equal(rename(p2, p1), 0);
	assert_int_equal(rename(tmp, p2), 0);
	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	assert_true(read_all_or_corrupt(s) >= 10);
	problems ps = { 0 };
	assert_int_equal(strata_verify(s, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	if (!has_problem(&ps, "packs/0000000001.pack", NULL, 0) || !has_problem(&ps, "packs/0000000002.pack", NULL, 0)) {
		print_problems(&ps);
		fail_msg("verify did not name both swapped packs");
	}
	strata_close(s);
	free(p1);
	free(p2);
	free(tmp);
}

/* Give the catalog's run of key t that holds record n a copy of its own
 * (as rows for packs of footer version 1 have), with record n's checksum
 * one off: the record decodes against a checksum its content fails. */
static void bump_catalog_sum(sqlite3 *db, const char *packs, uint64_t n)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT r.rowid, r.foff, r.flen, r.unit, p.name FROM runs r JOIN packs p "
						"ON p.id=r.pack WHERE r.first<=?1 AND r.last>=?1 AND "
						"r.key=(SELECT id FROM keys WHERE name=CAST('t' AS BLOB))", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, (int64_t)n);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t rowid = sqlite3_column_int64(st, 0);
	uint64_t off = (uint64_t)sqlite3_column_int64(st, 1), len = (uint64_t)sqlite3_column_int64(st, 2);
	uint64_t unit = (uint64_t)sqlite3_column_int64(st, 3);
	char *path = tu_join(packs, (const char *)sqlite3_column_text(st, 4));
	sqlite3_finalize(st);
	size_t size;
	uint8_t *file = tu_read_file(path, &size);
	assert_true(len > 0 && off + len <= size);
	pack_record recs[RUN_MAX];
	size_t count;
	assert_int_equal(run_decode(file + off, (size_t)len, 0, unit, recs, &count, "test"), 0);
	/* Record n's checksum, and that of each record sharing it. */
	size_t j = n - recs[0].n, first = j - recs[j].rpos, sharers = recs[j].rcount ? recs[j].rcount : 1;
	for (size_t i = first; i < first + sharers; i++)
		recs[i].sum++;
	bytebuf b = { 0 };
	assert_int_equal(run_encode(recs, count, 1, &b), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE runs SET recs=?1, foff=NULL, flen=NULL, fsum=NULL WHERE rowid=?2",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, b.p, (int)b.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, rowid);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	buf_free(&b);
	free(file);
	free(path);
}

/* The catalog disagreeing with a pack footer: a wrong checksum makes the
 * record unreadable (never wrong bytes) and verify names it; so does a run
 * whose footer bytes differ from those the catalog filed; a row missing
 * from the catalog is reported too. */
static void test_catalog_disagrees(void **state)
{
	fixture *f = *state;
	make_two_units(f->store);
	char *cat = tu_join(f->store, "catalog.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(cat, &db), SQLITE_OK);
	bump_catalog_sum(db, f->packs, 2);
	/* t@4 is the only record of t in unit 2: a run of its own; k@7 and
	 * k@8 are one run of unit 2. */
	assert_int_equal(sqlite3_exec(db,
		"DELETE FROM runs WHERE first = 4 AND key = (SELECT id FROM keys WHERE name = CAST('t' AS BLOB));",
		NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	assert_int_equal(sqlite3_exec(db,
		"UPDATE runs SET fsum = fsum + 1 WHERE first = 7 AND key = (SELECT id FROM keys WHERE name = CAST('k' AS BLOB));",
		NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	free(cat);

	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	void *out;
	size_t len;
	assert_int_equal(strata_get(s, "t", 1, 2, &out, &len), STRATA_ECORRUPT);
	assert_int_equal(strata_get(s, "t", 1, 4, &out, &len), STRATA_ENOTFOUND);
	assert_int_equal(strata_get(s, "k", 1, 8, &out, &len), STRATA_ECORRUPT);
	assert_non_null(strstr(strata_errmsg(), "differs from what the catalog filed"));
	expect_content(s, "t", 1, 5000, 0);
	expect_content(s, "t", 3, 5000, 0);
	expect_content(s, "k", 6, KLEN, 1);
	problems ps = { 0 };
	assert_int_equal(strata_verify(s, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	if (!has_problem(&ps, "packs/0000000001.pack", "t", 2) || !has_problem(&ps, "packs/0000000002.pack", "t", 4) ||
	    !has_problem(&ps, "packs/0000000002.pack", "k", 7)) {
		print_problems(&ps);
		fail_msg("verify did not name t@2 in pack 1, t@4 and k@7 in pack 2");
	}
	strata_close(s);
}

/* ------------------------------------------------------------ (b) recovery */

/* Unit 1 of both stores is the same; store B also has unit 2. */
static void fill_unit1(strata_store *s)
{
	for (uint64_t n = 1; n <= 3; n++)
		put_content(s, "doc", n, 3000, 0);
	put_content(s, "img", 1, 10000, 1);
	assert_int_equal(commit(s, "u1"), 1);
}

static void fill_unit2(strata_store *s)
{
	put_content(s, "doc", 4, 3000, 0);
	put_content(s, "new", 1, 777, 0);
	put_content(s, "new", 2, 0, 0);
	assert_int_equal(commit(s, "u2"), 2);
}

static void check_unit2_visible(strata_store *s)
{
	assert_int_equal(count_of(s, "doc"), 4);
	assert_int_equal(count_of(s, "new"), 2);
	for (uint64_t n = 1; n <= 4; n++)
		expect_content(s, "doc", n, 3000, 0);
	expect_content(s, "img", 1, 10000, 1);
	expect_content(s, "new", 1, 777, 0);
	expect_content(s, "new", 2, 0, 0);
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	assert_int_equal(st.units, 2);
	assert_int_equal(st.records, 7);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
}

/* A crash between the rename of a pack and its catalog transaction leaves
 * a valid pack the catalog lacks. */
static void crash_after_rename(fixture *f)
{
	strata_store *a = open_store(f->store, STRATA_OPEN_CREATE);
	fill_unit1(a);
	strata_close(a);
	char *other = tu_join(f->dir, "other");
	strata_store *b = open_store(other, STRATA_OPEN_CREATE);
	fill_unit1(b);
	fill_unit2(b);
	strata_close(b);
	char *from = tu_join(other, "packs/0000000002.pack"), *to = tu_join(f->packs, "0000000002.pack");
	tu_copy_file(from, to);
	chmod(to, 0444);
	free(from);
	free(to);
	free(other);
}

static void test_recovery_by_reader(void **state)
{
	fixture *f = *state;
	crash_after_rename(f);
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	check_unit2_visible(r);
	strata_close(r);
	/* It stays filed; the writer goes on with unit 3. */
	strata_store *w = open_store(f->store, STRATA_OPEN_WRITE);
	check_unit2_visible(w);
	put_content(w, "doc", 5, 3000, 0);
	assert_int_equal(commit(w, NULL), 3);
	expect_content(w, "doc", 5, 3000, 0);
	strata_close(w);
}

static void test_recovery_by_writer(void **state)
{
	fixture *f = *state;
	crash_after_rename(f);
	strata_store *w = open_store(f->store, STRATA_OPEN_WRITE);
	check_unit2_visible(w);
	put_content(w, "new", 3, 100, 1);
	assert_int_equal(commit(w, NULL), 3);
	strata_close(w);
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	assert_int_equal(count_of(r, "new"), 3);
	expect_content(r, "new", 1, 777, 0);
	expect_content(r, "new", 2, 0, 0);
	expect_content(r, "new", 3, 100, 1);
	expect_content(r, "doc", 4, 3000, 0);
	assert_int_equal(strata_verify(r, NULL, NULL, NULL, NULL), 0);
	strata_close(r);
}

/* A reader that finds the lock taken leaves recovery to the writer: in
 * particular it never deletes the writer's temporary pack. */
static void test_reader_leaves_writers_tmp_alone(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	direct(w);
	fill_unit1(w);
	put_content(w, "doc", 4, 3000, 0);
	assert_int_equal(tu_count_names(f->packs, "tmp-", ".pack"), 1);
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	assert_int_equal(tu_count_names(f->packs, "tmp-", ".pack"), 1);
	assert_int_equal(count_of(r, "doc"), 3);
	put_content(w, "new", 1, 777, 0);
	put_content(w, "new", 2, 0, 0);
	assert_int_equal(commit(w, "u2"), 2);
	check_unit2_visible(r);
	strata_close(r);
	strata_close(w);
}

static void test_tmp_pack_removed(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	fill_unit1(w);
	strata_close(w);
	char *tmp = tu_join(f->packs, "tmp-12345-abcdef.pack");
	uint8_t junk[5000];
	tu_fill_random(junk, sizeof junk, 1);
	tu_write_file(tmp, junk, sizeof junk, 0444);
	/* A half-written pack that looks like a real one inside. */
	char *tmp2 = tu_join(f->packs, "tmp-999-1.pack");
	char *p1 = tu_join(f->packs, "0000000001.pack");
	size_t n;
	uint8_t *whole = tu_read_file(p1, &n);
	tu_write_file(tmp2, whole, n / 2, 0444);
	free(whole);
	/* A reader that finds the lock free recovers too. */
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	assert_false(tu_exists(tmp));
	expect_content(r, "img", 1, 10000, 1);
	strata_close(r);
	tu_write_file(tmp, junk, sizeof junk, 0444);
	/* And the writer. */
	w = open_store(f->store, STRATA_OPEN_WRITE);
	assert_false(tu_exists(tmp));
	assert_false(tu_exists(tmp2));
	assert_int_equal(tu_count_names(f->packs, "", ""), 1);
	strata_stats st;
	assert_int_equal(strata_stats_get(w, &st), 0);
	assert_int_equal(st.units, 1);
	assert_int_equal(strata_verify(w, NULL, NULL, NULL, NULL), 0);
	strata_close(w);
	free(tmp);
	free(tmp2);
	free(p1);
}

static void test_garbage_pack_set_aside(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	fill_unit1(w);
	strata_close(w);
	char *garbage = tu_join(f->packs, "0000000009.pack");
	uint8_t junk[3000];
	tu_fill_random(junk, sizeof junk, 2);
	tu_write_file(garbage, junk, sizeof junk, 0444);

	w = open_store(f->store, STRATA_OPEN_WRITE);
	char *damaged = tu_join(f->packs, "0000000009.pack.damaged");
	assert_false(tu_exists(garbage));
	assert_true(tu_exists(damaged));
	size_t n;
	uint8_t *kept = tu_read_file(damaged, &n); /* set aside untouched */
	assert_int_equal(n, sizeof junk);
	assert_memory_equal(kept, junk, n);
	free(kept);
	problems ps = { 0 };
	assert_int_equal(strata_verify(w, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	if (!has_problem(&ps, "packs/0000000009.pack.damaged", NULL, 0)) {
		print_problems(&ps);
		fail_msg("verify did not report the damaged pack");
	}
	/* The store itself is fine and goes on. */
	expect_content(w, "img", 1, 10000, 1);
	put_content(w, "doc", 4, 3000, 0);
	assert_int_equal(commit(w, NULL), 2);
	strata_close(w);
	free(garbage);
	free(damaged);
	assert_int_equal(tu_fds_into(f->store), 0);
}

/* A valid pack under another unit's name is damaged too. */
static void test_misnamed_pack_set_aside(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	fill_unit1(w);
	strata_close(w);
	char *p1 = tu_join(f->packs, "0000000001.pack"), *p5 = tu_join(f->packs, "0000000005.pack");
	tu_copy_file(p1, p5);
	w = open_store(f->store, STRATA_OPEN_WRITE);
	assert_false(tu_exists(p5));
	assert_int_equal(tu_count_names(f->packs, "0000000005.pack", ".damaged"), 1);
	strata_stats st;
	assert_int_equal(strata_stats_get(w, &st), 0);
	assert_int_equal(st.units, 1);
	assert_int_equal(st.records, 4);
	strata_close(w);
	free(p1);
	free(p5);
	/* Nothing of the store stays open once its handle is closed (the
	 * pack read to validate it included). */
	int left = tu_fds_into(f->store);
	if (left != 0)
		fail_msg("%d descriptor(s) into the store still open after strata_close", left);
}

/* A pack of a newer format (say, written by a later version that crashed
 * before cataloguing it) is left in place by recovery, as FORMAT.md says a
 * reader must not guess. Whatever the writer does next, it must not destroy
 * that durable pack: refuse to open, refuse to commit, or commit under
 * another name. */
static void test_newer_format_pack_kept(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	fill_unit1(w);
	strata_close(w);
	/* Build "format 2" unit 2 from store B's valid unit 2: version fields
	 * set to 2, header checksum recomputed. */
	char *other = tu_join(f->dir, "other");
	strata_store *b = open_store(other, STRATA_OPEN_CREATE);
	fill_unit1(b);
	fill_unit2(b);
	strata_close(b);
	char *src = tu_join(other, "packs/0000000002.pack");
	size_t n;
	uint8_t *p = tu_read_file(src, &n);
	p[8] = 2;                                   /* header: pack format version */
	uint64_t sum = XXH3_64bits(p, 56);
	for (int i = 0; i < 8; i++)
		p[56 + i] = (uint8_t)(sum >> (8 * i));
	p[n - 48 + 32] = 2;                         /* trailer: pack format version */
	char *dst = tu_join(f->packs, "0000000002.pack");
	tu_write_file(dst, p, n, 0444);
	pack_reader *r;
	assert_int_equal(pack_open(&r, dst), STRATA_EFORMAT);

	w = NULL;
	int orc = strata_open(&w, f->store, STRATA_OPEN_WRITE, NULL);
	int crc = -1;
	if (orc == 0) {
		assert_true(tu_exists(dst)); /* not set aside as damaged */
		put_content(w, "doc", 4, 3000, 0);
		uint64_t unit = 0;
		crc = strata_commit(w, NULL, &unit);
		if (crc == 0)
			expect_content(w, "doc", 4, 3000, 0);
		strata_close(w);
	}
	size_t m = 0;
	uint8_t *now = tu_exists(dst) ? tu_read_file(dst, &m) : NULL;
	int kept = now && m == n && memcmp(now, p, n) == 0;
	free(now);
	free(p);
	free(src);
	free(dst);
	free(other);
	if (!kept)
		fail_msg("the newer-format packs/0000000002.pack was destroyed (open rc %d, commit rc %d)", orc, crc);
}

/* ------------------------------------------------------------ (c) rebuild */

/* Keys with their expected counts, tracked while writing. */
typedef struct model {
	char key[16][16];
	uint64_t count[16];
	size_t size[16][64];
	int random[16][64];
	int nkeys;
} model;

static int model_key(model *m, const char *key)
{
	for (int i = 0; i < m->nkeys; i++)
		if (!strcmp(m->key[i], key))
			return i;
	assert_true(m->nkeys < 16);
	snprintf(m->key[m->nkeys], sizeof m->key[0], "%s", key);
	return m->nkeys++;
}

static void model_put(strata_store *s, model *m, const char *key, size_t size, int random)
{
	int k = model_key(m, key);
	uint64_t n = ++m->count[k];
	assert_true(n < 64);
	m->size[k][n] = size;
	m->random[k][n] = random;
	put_content(s, key, n, size, random);
}

static void model_check(strata_store *s, const model *m)
{
	for (int k = 0; k < m->nkeys; k++) {
		assert_int_equal(count_of(s, m->key[k]), m->count[k]);
		for (uint64_t n = 1; n <= m->count[k]; n++)
			expect_content(s, m->key[k], n, m->size[k][n], m->random[k][n]);
	}
}

static void build_model_store(fixture *f, model *m)
{
	memset(m, 0, sizeof *m);
	/* A 1 MiB group cap, so that the 3 MiB record of unit 3 is over it. */
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 1u << 20;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
	for (int u = 1; u <= 6; u++) {
		for (int i = 0; i < 12; i++) {
			char key[16];
			snprintf(key, sizeof key, "key%d", (i * 7 + u) % 9);
			model_put(s, m, key, (size_t)((i * 1237 + u * 311) % 9000), (i + u) % 3 == 0);
		}
		if (u == 3)
			model_put(s, m, "large", 3u << 20, 0); /* over the group cap */
		char label[32];
		snprintf(label, sizeof label, "unit %d", u);
		assert_int_equal(commit(s, label), (uint64_t)u);
	}
	assert_int_equal(commit(s, NULL), 7); /* empty unit */
	strata_close(s);
}

static void test_rebuild(void **state)
{
	fixture *f = *state;
	model m;
	build_model_store(f, &m);
	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	char *before = dump_store(s, f->packs);
	strata_close(s);

	tu_remove_catalog(f->store);
	uint64_t units = 0;
	problems ps = { 0 };
	int rc = strata_rebuild(f->store, on_problem, NULL, &ps, &units);
	if (rc != 0)
		fail_msg("strata_rebuild: %d %s", rc, strata_errmsg());
	assert_int_equal(ps.n, 0);
	assert_int_equal(units, 7);

	s = open_store(f->store, STRATA_OPEN_READ);
	model_check(s, &m);
	char *after = dump_store(s, f->packs);
	assert_string_equal(before, after); /* units, labels, times, sizes, records */
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);

	/* Rebuilding an intact catalog changes nothing either. */
	assert_int_equal(strata_rebuild(f->store, NULL, NULL, NULL, &units), 0);
	assert_int_equal(units, 7);
	s = open_store(f->store, STRATA_OPEN_WRITE);
	char *again = dump_store(s, f->packs);
	assert_string_equal(before, again);
	/* Rebuild needs the writer lock. */
	assert_int_equal(strata_rebuild(f->store, NULL, NULL, NULL, NULL), STRATA_ELOCKED);
	strata_close(s);
	free(before);
	free(after);
	free(again);
}

/* A reader that finds no catalog (and a free lock) recreates it. */
static void test_reader_recreates_missing_catalog(void **state)
{
	fixture *f = *state;
	model m;
	build_model_store(f, &m);
	tu_remove_catalog(f->store);
	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	model_check(s, &m);
	strata_close(s);
}

/* A damaged pack is reported by rebuild and left out; the rest is back. */
static void test_rebuild_with_damaged_pack(void **state)
{
	fixture *f = *state;
	model m;
	build_model_store(f, &m);
	char *p6 = tu_join(f->packs, "0000000006.pack");
	tu_flip_byte(p6, 20, 0x01); /* header */
	tu_remove_catalog(f->store);
	uint64_t units = 0;
	problems ps = { 0 };
	assert_int_equal(strata_rebuild(f->store, on_problem, NULL, &ps, &units), 0);
	assert_int_equal(units, 6);
	if (!has_problem(&ps, "packs/0000000006.pack", NULL, 0)) {
		print_problems(&ps);
		fail_msg("rebuild did not report packs/0000000006.pack");
	}
	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	strata_stats st;
	assert_int_equal(strata_stats_get(s, &st), 0);
	assert_int_equal(st.units, 6);
	/* Units 1..5 read back whole. */
	expect_content(s, "large", 1, 3u << 20, 0);
	for (int k = 0; k < m.nkeys; k++) {
		uint64_t c = count_of(s, m.key[k]);
		for (uint64_t n = 1; n <= c; n++) {
			void *out;
			size_t len;
			int rc = strata_get(s, m.key[k], strlen(m.key[k]), n, &out, &len);
			if (rc == STRATA_ENOTFOUND)
				continue; /* a record of unit 6 */
			assert_int_equal(rc, 0);
			uint8_t *want = content(m.key[k], n, m.size[k][n], m.random[k][n]);
			assert_int_equal(len, m.size[k][n]);
			assert_memory_equal(out, want, len);
			free(want);
			strata_buf_free(out);
		}
	}
	strata_close(s);
	free(p6);
}

/* Progress of a rebuild runs to its end (done == total on the last call),
 * whatever else packs/ holds. */
typedef struct progress_log {
	int calls;
	uint64_t last_done, last_total;
	int backwards;
} progress_log;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	progress_log *l = ctx;
	if (l->calls && (done < l->last_done || total != l->last_total))
		l->backwards = 1;
	if (done > total)
		l->backwards = 1;
	l->calls++;
	l->last_done = done;
	l->last_total = total;
}

static void test_rebuild_progress(void **state)
{
	fixture *f = *state;
	model m;
	build_model_store(f, &m);
	progress_log pl = { 0 };
	assert_int_equal(strata_rebuild(f->store, NULL, on_progress, &pl, NULL), 0);
	assert_true(pl.calls >= 7);
	assert_false(pl.backwards);
	assert_int_equal(pl.last_done, pl.last_total);

	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	progress_log vl = { 0 };
	assert_int_equal(strata_verify(s, NULL, on_progress, &vl, NULL), 0);
	assert_int_equal(vl.calls, 7);
	assert_false(vl.backwards);
	assert_int_equal(vl.last_done, 7);
	assert_int_equal(vl.last_total, 7);
	strata_close(s);

	/* A pack set aside earlier stays in packs/ (and sorts last here). */
	char *aside = tu_join(f->packs, "0000000099.pack.damaged");
	tu_write_file(aside, "junk", 4, 0444);
	free(aside);
	progress_log p2 = { 0 };
	assert_int_equal(strata_rebuild(f->store, NULL, on_progress, &p2, NULL), 0);
	assert_false(p2.backwards);
	if (p2.last_done != p2.last_total)
		fail_msg("rebuild progress ended at %llu of %llu", (unsigned long long)p2.last_done,
			 (unsigned long long)p2.last_total);
}

/* ------------------------------------------------------------ (d) faults */

static void assert_no_tmp(const fixture *f)
{
	assert_int_equal(tu_count_names(f->packs, "tmp-", ""), 0);
}

/* Arm a fault at the k-th write-side call of a commit, for every k: each
 * failing commit returns the injected error and leaves the store as it was,
 * seen by this handle, by a fresh reader, and after reopening the writer
 * (whose recovery would file any pack left behind). */
static void test_commit_faults(void **state)
{
	fixture *f = *state;
	strata_store *s = open_store(f->store, STRATA_OPEN_CREATE);
	direct(s);
	put_content(s, "a", 1, 5000, 0);
	put_content(s, "b", 1, 70000, 1);
	assert_int_equal(commit(s, "base"), 1);
	char *before = dump_store(s, f->packs);

	int failures = 0;
	static char failure[16384];
	failure[0] = '\0';
	uint64_t k;
	for (k = 1; k < 64; k++) {
		/* The unit: two groups' worth of records (the first group is
		 * written during put, before the fault is armed). */
		put_content(s, "a", 2, 600000, 0);
		put_content(s, "a", 3, 600000, 0);
		put_content(s, "b", 2, 30000, 1);
		put_content(s, "c", 1, 100, 0);
		os_fault_set(k, ENOSPC);
		uint64_t unit = 0;
		int rc = strata_commit(s, "faulty", &unit);
		os_fault_set(0, 0);
		char errmsg[512];
		snprintf(errmsg, sizeof errmsg, "%s", strata_errmsg());
		if (rc == 0) {
			assert_int_equal(unit, 2);
			break;
		}
		failures++;
		if (rc != STRATA_ENOSPC)
			fail_msg("commit with a fault at call %llu: rc %d (%s)", (unsigned long long)k, rc,
				 strata_errmsg());
		assert_true(strlen(strata_errmsg()) > 0);
		assert_no_tmp(f);
		/* The store as this handle, a fresh reader and the writer reopened
		 * (whose recovery files any pack left behind) see it. */
		char *now = dump_store(s, f->packs);
		if (strcmp(before, now) != 0)
			snprintf(failure, sizeof failure, "a commit that failed at write-side call %llu (%s) "
				 "changed the store:\n--- before\n%s--- after\n%s", (unsigned long long)k,
				 errmsg, before, now);
		free(now);
		problems ps = { 0 };
		int vrc = strata_verify(s, on_problem, NULL, &ps, NULL);
		if (vrc != 0 && !failure[0]) {
			print_problems(&ps);
			snprintf(failure, sizeof failure, "verify after a commit that failed at write-side call "
				 "%llu: %d", (unsigned long long)k, vrc);
		}
		strata_store *r = open_store(f->store, STRATA_OPEN_READ);
		now = dump_store(r, f->packs);
		if (strcmp(before, now) != 0 && !failure[0])
			snprintf(failure, sizeof failure, "after a commit that failed at write-side call %llu, "
				 "a reader sees:\n--- before\n%s--- after\n%s", (unsigned long long)k, before, now);
		free(now);
		strata_close(r);
		strata_close(s);
		s = open_store(f->store, STRATA_OPEN_WRITE);
		direct(s);
		now = dump_store(s, f->packs);
		if (strcmp(before, now) != 0 && !failure[0])
			snprintf(failure, sizeof failure, "after a commit that failed at write-side call %llu, "
				 "reopening the writer changed the store:\n--- before\n%s--- after\n%s",
				 (unsigned long long)k, before, now);
		free(now);
		if (failure[0])
			break;
	}
	if (failure[0]) {
		strata_close(s);
		free(before);
		fail_msg("%s", failure);
	}
	assert_true(k < 64);
	/* Last group, footer, fsync, rename, directory fsync at least. */
	assert_true(failures >= 5);
	/* The commit without a fault went through whole. */
	expect_content(s, "a", 1, 5000, 0);
	expect_content(s, "a", 2, 600000, 0);
	expect_content(s, "a", 3, 600000, 0);
	expect_content(s, "b", 2, 30000, 1);
	expect_content(s, "c", 1, 100, 0);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	assert_no_tmp(f);
	strata_close(s);
	free(before);
}

/* Faults during put (the header of a new pack, groups written as they
 * fill): every buffer is released once, a put error surfaces, and whatever
 * the commit then says is true. */
typedef struct rel {
	int calls;
} rel;

static void rel_free(void *ctx, void *ptr, size_t len)
{
	(void)len;
	((rel *)ctx)->calls++;
	free(ptr);
}

static void test_put_faults(void **state)
{
	fixture *f = *state;
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 64 * 1024;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
	direct(s);
	put_content(s, "x", 1, 1000, 0);
	assert_int_equal(commit(s, NULL), 1);
	char *before = dump_store(s, f->packs);
	int put_failures = 0;
	uint64_t k;
	for (k = 1; k < 64; k++) {
		enum { NPUT = 6 };
		rel rels[NPUT] = { { 0 } };
		int ok[NPUT];
		os_fault_set(k, ENOSPC);
		int any_failed = 0;
		for (int i = 0; i < NPUT; i++) {
			uint8_t *p = content("y", (uint64_t)i + 1, 40000, i % 2);
			int rc = strata_put(s, "y", 1, p, 40000, rel_free, &rels[i], NULL);
			ok[i] = rc == 0;
			if (rc) {
				any_failed = 1;
				assert_true(rc == STRATA_ENOSPC || rc == STRATA_EIO);
				assert_int_equal(rels[i].calls, 1); /* released before the error returned */
			}
		}
		uint64_t unit = 0;
		int crc = strata_commit(s, NULL, &unit);
		os_fault_set(0, 0);
		for (int i = 0; i < NPUT; i++)
			assert_int_equal(rels[i].calls, 1);
		assert_no_tmp(f);
		if (!any_failed) {
			/* The fault lay beyond the puts (in the commit, which
			 * test_commit_faults covers; a failed commit discards). */
			if (crc == 0)
				for (uint64_t n = 1; n <= NPUT; n++)
					expect_content(s, "y", n, 40000, (int)((n - 1) % 2));
			break;
		}
		put_failures += any_failed;
		if (crc == 0) {
			/* Committed: exactly the records whose put succeeded, numbered
			 * from 1 in put order. */
			uint64_t n = 0;
			for (int i = 0; i < NPUT; i++)
				if (ok[i]) {
					n++;
					uint8_t *want = content("y", (uint64_t)i + 1, 40000, i % 2);
					void *out;
					size_t len;
					assert_int_equal(strata_get(s, "y", 1, n, &out, &len), 0);
					assert_int_equal(len, 40000);
					assert_memory_equal(out, want, len);
					strata_buf_free(out);
					free(want);
				}
			assert_int_equal(count_of(s, "y"), n);
			assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
			strata_close(s);
			/* Start over from the base state. */
			tu_rmrf(f->store);
			assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
			direct(s);
			put_content(s, "x", 1, 1000, 0);
			assert_int_equal(commit(s, NULL), 1);
			free(before);
			before = dump_store(s, f->packs);
			continue;
		}
		/* Failed: nothing changed. */
		char *now = dump_store(s, f->packs);
		assert_string_equal(before, now);
		free(now);
	}
	assert_true(k < 64);
	assert_true(put_failures >= 3);
	strata_close(s);
	free(before);
}

/* ------------------------------------------------------------ (f) repack */

/* Copy a store directory (its files and packs/) while no handle is open. */
static void copy_store(const char *from, const char *to)
{
	assert_int_equal(mkdir(to, 0755), 0);
	DIR *d = opendir(from);
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *a = tu_join(from, e->d_name), *b = tu_join(to, e->d_name);
		struct stat st;
		assert_int_equal(stat(a, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_store(a, b);
		} else {
			tu_copy_file(a, b);
			chmod(b, st.st_mode & 07777);
		}
		free(a);
		free(b);
	}
	closedir(d);
}

/* Copy the pack files (or those named with `prefix`) of one packs/ into another. */
static void copy_packs(const char *from, const char *to, const char *prefix)
{
	DIR *d = opendir(from);
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 5, ".pack") || strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		char *a = tu_join(from, e->d_name), *b = tu_join(to, e->d_name);
		tu_copy_file(a, b);
		chmod(b, 0444);
		free(a);
		free(b);
		n++;
	}
	closedir(d);
	assert_true(n > 0);
}

/* Hold the writer lock as another process would: readers then skip
 * recovery and read what the catalog says. Returns the descriptor. */
static int hold_lock(const char *store)
{
	char *lp = tu_join(store, "lock");
	int fd = open(lp, O_RDWR | O_CLOEXEC);
	free(lp);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	return fd;
}

static void release_lock(int fd)
{
	flock(fd, LOCK_UN);
	close(fd);
}

static int in_dir(const char *dir, const char *name)
{
	char *p = tu_join(dir, name);
	int e = tu_exists(p);
	free(p);
	return e;
}

/* Unit u of the versions store: edits of a few texts (two of one key in the
 * same unit), binary records, an empty record in unit 3 and a record over
 * the group cap in unit 5. */
static void put_versions_unit(strata_store *s, model *m, int u)
{
	model_put(s, m, "doc/a.txt", 6000, VERSION);
	model_put(s, m, "doc/b.txt", 9000, VERSION);
	if (u % 2)
		model_put(s, m, "bin", 3000 + (size_t)u * 100, RANDOM);
	if (u == 3)
		model_put(s, m, "empty", 0, TEXT);
	if (u == 5)
		model_put(s, m, "large", 100000, VERSION); /* over the 64 KiB group cap */
	model_put(s, m, "doc/a.txt", 6000, VERSION);
	char label[32];
	snprintf(label, sizeof label, "unit %d", u);
	assert_int_equal(commit(s, label), (uint64_t)u);
}

static strata_store *open_versions_store(fixture *f)
{
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 64 * 1024;
	o.repack_after = 0;
	strata_store *s = NULL;
	int rc = strata_open(&s, f->store, STRATA_OPEN_CREATE, &o);
	if (rc)
		fail_msg("strata_open: %s", strata_errmsg());
	return s;
}

/* Units first..last of the versions store, then closed. */
static void build_versions(fixture *f, model *m, int first, int last)
{
	if (first == 1)
		memset(m, 0, sizeof *m);
	strata_store *s = open_versions_store(f);
	for (int u = first; u <= last; u++)
		put_versions_unit(s, m, u);
	strata_close(s);
}

/* Repack the whole store; returns the dump a reader then sees. */
static char *repack_all(fixture *f, int flags, uint64_t packs_before)
{
	strata_store *s = open_store(f->store, STRATA_OPEN_WRITE);
	strata_repack_result res;
	int rc = strata_repack(s, flags, NULL, NULL, &res);
	if (rc)
		fail_msg("strata_repack: %d %s", rc, strata_errmsg());
	assert_int_equal(res.packs_before, packs_before);
	assert_int_equal(res.packs_after, 1);
	strata_close(s);
	s = open_store(f->store, STRATA_OPEN_READ);
	char *d = dump_store(s, f->packs);
	strata_close(s);
	return d;
}

static void expect_verify_ok(strata_store *s)
{
	problems ps = { 0 };
	int rc = strata_verify(s, on_problem, NULL, &ps, NULL);
	if (rc != 0) {
		print_problems(&ps);
		fail_msg("verify: %d %s", rc, strata_errmsg());
	}
}

/* Damage in a base record's pack: the records coded against it, in later
 * packs, read as STRATA_ECORRUPT (never wrong bytes), and verify names
 * them under their own pack as well as the damaged one. */
static void test_corrupt_base_record(void **state)
{
	fixture *f = *state;
	model m;
	build_versions(f, &m, 1, 4);
	/* A base delta of unit 2 whose base lies in unit 1's pack. */
	char *p1 = tu_join(f->packs, "0000000001.pack"), *p2 = tu_join(f->packs, "0000000002.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, p2), 0);
	char key[64] = "";
	uint64_t n = 0, base = 0;
	for (size_t i = 0; i < r->footer.nrecords && !n; i++) {
		const pack_record *pr = &r->footer.records[i];
		if (pr->enc != ENC_BASE)
			continue;
		const pack_key *k = &r->footer.keys[pr->key];
		snprintf(key, sizeof key, "%.*s", (int)k->len, (const char *)k->p);
		n = pr->n;
		base = pr->base;
	}
	pack_close(r);
	if (!n)
		fail_msg("unit 2 holds no base delta");
	uint32_t grp;
	uint64_t cend;
	record_place(p1, key, base, &grp, &cend);
	pack_group g = group_of(p1, grp, NULL);
	tu_flip_byte(p1, g.offset + cend / 2, 0x08); /* inside the base's prefix */

	strata_store *s = open_store(f->store, STRATA_OPEN_READ);
	void *out = NULL;
	size_t len;
	int rc = strata_get(s, key, strlen(key), n, &out, &len);
	if (rc != STRATA_ECORRUPT)
		fail_msg("get %s@%llu, whose base %s@%llu is damaged: rc %d", key, (unsigned long long)n, key,
			 (unsigned long long)base, rc);
	assert_non_null(strstr(strata_errmsg(), "0000000001.pack"));
	/* Everything else: exact bytes or STRATA_ECORRUPT. */
	int corrupt = 0;
	for (int k = 0; k < m.nkeys; k++)
		for (uint64_t i = 1; i <= m.count[k]; i++) {
			rc = strata_get(s, m.key[k], strlen(m.key[k]), i, &out, &len);
			if (rc == STRATA_ECORRUPT) {
				corrupt++;
				continue;
			}
			if (rc)
				fail_msg("get %s@%llu: %d %s", m.key[k], (unsigned long long)i, rc, strata_errmsg());
			uint8_t *want = content(m.key[k], i, m.size[k][i], m.random[k][i]);
			assert_int_equal(len, m.size[k][i]);
			assert_memory_equal(out, want, len);
			free(want);
			strata_buf_free(out);
		}
	assert_true(corrupt >= 2); /* the base and what is coded against it */
	problems ps = { 0 };
	assert_int_equal(strata_verify(s, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	if (!has_problem(&ps, "packs/0000000001.pack", NULL, 0) || !has_problem(&ps, "packs/0000000002.pack", key, n)) {
		print_problems(&ps);
		fail_msg("verify did not name pack 1 and %s@%llu of pack 2", key, (unsigned long long)n);
	}
	strata_close(s);
	free(p1);
	free(p2);
}

/* (a) A crash before the catalog switch: the repacked pack is durable under
 * its name, the catalog still lists the unit packs. Readers that find the
 * lock taken read the old packs; the next open that can take the lock
 * files the repacked pack and deletes what it supersedes (and a temporary
 * pack of an earlier crash). Writer and reader opens alike. */
static void test_repack_crash_before_switch(void **state)
{
	fixture *f = *state;
	model m;
	build_versions(f, &m, 1, 8);
	char *pre_w = tu_join(f->dir, "pre-w"), *pre_r = tu_join(f->dir, "pre-r");
	copy_store(f->store, pre_w);
	copy_store(f->store, pre_r);
	char *want = repack_all(f, 0, 8);
	assert_int_equal(tu_count_names(f->packs, "", ""), 1);
	assert_true(in_dir(f->packs, "0000000001-0000000008.pack"));

	const char *stores[2] = { pre_w, pre_r };
	for (int i = 0; i < 2; i++) {
		char *packs = tu_join(stores[i], "packs");
		copy_packs(f->packs, packs, "0000000001-");
		char *p18 = tu_join(packs, "0000000001-0000000008.pack");
		char *tmp = tu_join(packs, "tmp-4242-1.pack");
		tu_copy_file(p18, tmp);
		assert_int_equal(tu_count_names(packs, "", ".pack"), 10);

		/* Throughout: every record reads, from the old packs; verify
		 * takes the new pack for a writer's work in flight while the lock
		 * is held, and names it once it is not. */
		int lk = hold_lock(stores[i]);
		strata_store *r = open_store(stores[i], STRATA_OPEN_READ);
		model_check(r, &m);
		expect_verify_ok(r);
		release_lock(lk);
		problems ps = { 0 };
		assert_int_equal(strata_verify(r, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
		if (ps.n != 1 || !has_problem(&ps, "packs/0000000001-0000000008.pack", NULL, 0)) {
			print_problems(&ps);
			fail_msg("verify did not name the uncatalogued packs/0000000001-0000000008.pack alone");
		}
		strata_close(r);
		assert_int_equal(tu_count_names(packs, "", ".pack"), 10);

		strata_store *s = open_store(stores[i], i == 0 ? STRATA_OPEN_WRITE : STRATA_OPEN_READ);
		assert_false(tu_exists(tmp));
		assert_int_equal(tu_count_names(packs, "", ""), 1);
		assert_true(tu_exists(p18));
		model_check(s, &m);
		char *now = dump_store(s, packs);
		assert_string_equal(want, now); /* labels, times, units, records, files */
		free(now);
		expect_verify_ok(s);
		strata_stats st;
		assert_int_equal(strata_stats_get(s, &st), 0);
		assert_int_equal(st.units, 8);
		strata_close(s);
		free(p18);
		free(tmp);
		free(packs);
	}
	/* The recovered writer goes on. */
	strata_store *s = open_store(pre_w, STRATA_OPEN_WRITE);
	put_versions_unit(s, &m, 9);
	model_check(s, &m);
	strata_close(s);
	free(want);
	free(pre_w);
	free(pre_r);
}

/* (b) A crash between the catalog switch and the deletion: the catalog
 * lists the repacked pack, the unit packs are still on disk. Reads go to
 * the repacked pack; the next open that can take the lock deletes the
 * superseded files, and verify passes. */
static void test_repack_crash_before_delete(void **state)
{
	fixture *f = *state;
	model m;
	build_versions(f, &m, 1, 8);
	char *saved = tu_join(f->dir, "saved");
	copy_store(f->store, saved);
	char *saved_packs = tu_join(saved, "packs");
	char *want = repack_all(f, STRATA_REPACK_OLDEST_FIRST, 8);
	copy_packs(saved_packs, f->packs, "");
	assert_int_equal(tu_count_names(f->packs, "", ".pack"), 9);

	/* While a writer holds the lock, reads are right, and verify takes the
	 * uncatalogued packs for a writer's work in flight. Once no writer
	 * holds it, they are strays and verify names them. */
	int lk = hold_lock(f->store);
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	assert_int_equal(tu_count_names(f->packs, "", ".pack"), 9);
	model_check(r, &m);
	expect_verify_ok(r);
	release_lock(lk);
	problems ps = { 0 };
	assert_int_equal(strata_verify(r, on_problem, NULL, &ps, NULL), STRATA_ECORRUPT);
	for (int u = 1; u <= 8; u++) {
		char name[64];
		snprintf(name, sizeof name, "packs/%010d.pack", u);
		if (!has_problem(&ps, name, NULL, 0)) {
			print_problems(&ps);
			fail_msg("verify did not name the superseded %s", name);
		}
	}
	assert_int_equal(ps.n, 8);
	model_check(r, &m);
	strata_close(r);

	r = open_store(f->store, STRATA_OPEN_READ); /* the lock is free: recovery */
	assert_int_equal(tu_count_names(f->packs, "", ""), 1);
	model_check(r, &m);
	char *now = dump_store(r, f->packs);
	assert_string_equal(want, now);
	free(now);
	expect_verify_ok(r);
	strata_close(r);

	/* And by a writer. */
	copy_packs(saved_packs, f->packs, "");
	strata_store *w = open_store(f->store, STRATA_OPEN_WRITE);
	assert_int_equal(tu_count_names(f->packs, "", ""), 1);
	expect_verify_ok(w);
	model_check(w, &m);
	strata_close(w);
	free(want);
	free(saved_packs);
	free(saved);
}

/* (c) Rebuild with overlapping packs on disk: every valid pack, widest
 * range first; a pack whose range a filed pack contains is deleted, so
 * each record is filed once, and everything reads back. Units 1..4 were
 * repacked once (1-4), then units 5..8 committed and everything repacked
 * again (1-8). */
static void test_rebuild_with_repacked_packs(void **state)
{
	fixture *f = *state;
	model m;
	build_versions(f, &m, 1, 4);
	char *s14 = tu_join(f->dir, "singles-1-4");
	copy_store(f->store, s14);
	char *want14 = repack_all(f, 0, 4);
	build_versions(f, &m, 5, 8);
	char *mid = tu_join(f->dir, "mid"); /* 0000000001-0000000004.pack and units 5..8 */
	copy_store(f->store, mid);
	strata_store *s = open_store(mid, STRATA_OPEN_READ);
	char *mid_packs = tu_join(mid, "packs");
	char *want_mid = dump_store(s, mid_packs);
	strata_close(s);
	char *want18 = repack_all(f, 0, 5);
	free(want14);

	/* Everything on disk: 1-8, 1-4, 1..8. */
	char *s14_packs = tu_join(s14, "packs");
	copy_packs(s14_packs, f->packs, "");
	copy_packs(mid_packs, f->packs, "");
	assert_int_equal(tu_count_names(f->packs, "", ".pack"), 10);
	tu_remove_catalog(f->store);
	uint64_t units = 0;
	problems ps = { 0 };
	int rc = strata_rebuild(f->store, on_problem, NULL, &ps, &units);
	if (rc != 0)
		fail_msg("strata_rebuild: %d %s", rc, strata_errmsg());
	if (ps.n) {
		print_problems(&ps);
		fail_msg("rebuild reported problems");
	}
	assert_int_equal(tu_count_names(f->packs, "", ""), 1);
	assert_true(in_dir(f->packs, "0000000001-0000000008.pack"));
	s = open_store(f->store, STRATA_OPEN_READ);
	model_check(s, &m);
	char *now = dump_store(s, f->packs);
	assert_string_equal(want18, now);
	free(now);
	expect_verify_ok(s);
	strata_close(s);
	uint64_t units18 = units;

	/* Without 1-8: 1-4 wins over 1..4; 5..8 are filed as they are. */
	tu_remove_catalog(f->store);
	char *p18 = tu_join(f->packs, "0000000001-0000000008.pack");
	unlink(p18);
	free(p18);
	copy_packs(s14_packs, f->packs, "");
	copy_packs(mid_packs, f->packs, "");
	assert_int_equal(tu_count_names(f->packs, "", ".pack"), 9);
	ps.n = 0;
	assert_int_equal(strata_rebuild(f->store, on_problem, NULL, &ps, &units), 0);
	assert_int_equal(ps.n, 0);
	assert_int_equal(tu_count_names(f->packs, "", ""), 5);
	s = open_store(f->store, STRATA_OPEN_READ);
	model_check(s, &m);
	now = dump_store(s, f->packs);
	assert_string_equal(want_mid, now);
	free(now);
	expect_verify_ok(s);
	strata_close(s);

	free(want18);
	free(want_mid);
	free(s14_packs);
	free(mid_packs);
	free(s14);
	free(mid);
	/* strata.h: "*units_out receives the number of units catalogued". */
	if (units18 != 8 || units != 8)
		fail_msg("strata_rebuild reported %llu and %llu units catalogued; the store has 8 units both "
			 "times (packs filed: 1, then 5)", (unsigned long long)units18, (unsigned long long)units);
}

/* A repack failing at the k-th write-side call, for every k: it returns the
 * injected error and leaves the store as it was for this handle and a
 * reader, with no temporary pack; a writer reopened (whose recovery files
 * anything durable left behind) finds every record intact and verify
 * passing. The run without a fault gives the clean repack. */
static void check_repack_faults(fixture *f, int flags)
{
	model m;
	build_versions(f, &m, 1, 6);
	char *copy = tu_join(f->dir, "clean");
	copy_store(f->store, copy);
	char *store = f->store, *packs = f->packs;
	f->store = copy;
	f->packs = tu_join(copy, "packs");
	char *want = repack_all(f, flags, 6);
	free(f->packs);
	f->store = store;
	f->packs = packs;

	strata_store *s = open_store(f->store, STRATA_OPEN_WRITE);
	char *before = dump_store(s, f->packs);
	int failures = 0;
	uint64_t k;
	for (k = 1; k < 1000; k++) {
		os_fault_set(k, ENOSPC);
		strata_repack_result res;
		int rc = strata_repack(s, flags, NULL, NULL, &res);
		os_fault_set(0, 0);
		if (rc == 0) {
			assert_int_equal(res.packs_after, 1);
			break;
		}
		failures++;
		if (rc != STRATA_ENOSPC)
			fail_msg("repack with a fault at call %llu: rc %d (%s)", (unsigned long long)k, rc,
				 strata_errmsg());
		assert_true(strlen(strata_errmsg()) > 0);
		assert_no_tmp(f);
		char *now = dump_store(s, f->packs);
		if (strcmp(before, now) != 0)
			fail_msg("a repack that failed at write-side call %llu changed the store:\n--- before\n%s"
				 "--- after\n%s", (unsigned long long)k, before, now);
		free(now);
		expect_verify_ok(s);
		strata_store *r = open_store(f->store, STRATA_OPEN_READ);
		now = dump_store(r, f->packs);
		assert_string_equal(before, now);
		free(now);
		strata_close(r);
		strata_close(s);
		s = open_store(f->store, STRATA_OPEN_WRITE);
		model_check(s, &m);
		expect_verify_ok(s);
		now = dump_store(s, f->packs);
		if (strcmp(now, before) != 0 && strcmp(now, want) != 0)
			fail_msg("after a repack that failed at write-side call %llu, reopening gives neither the "
				 "old store nor the repacked one:\n%s", (unsigned long long)k, now);
		if (strcmp(now, want) == 0) {
			free(now);
			break; /* recovery finished it; nothing left to fail */
		}
		free(now);
	}
	assert_true(k < 1000);
	/* Header, groups, footer, fsync, rename, directory fsync at least. */
	assert_true(failures >= 6);
	model_check(s, &m);
	expect_verify_ok(s);
	char *now = dump_store(s, f->packs);
	assert_string_equal(want, now);
	free(now);
	assert_no_tmp(f);
	strata_close(s);
	free(before);
	free(want);
	free(copy);
}

static void test_repack_faults(void **state)
{
	check_repack_faults(*state, 0);
}

static void test_repack_faults_oldest_first(void **state)
{
	check_repack_faults(*state, STRATA_REPACK_OLDEST_FIRST);
}

/* A commit that triggers an automatic repack, with a fault at the k-th
 * write-side call: a failed commit leaves the store as it was; a commit
 * that succeeded is whole and readable whether or not its repack failed
 * (which it does not report). */
static void test_auto_repack_faults(void **state)
{
	fixture *f = *state;
	model m;
	memset(&m, 0, sizeof m);
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = 64 * 1024;
	o.repack_after = 4;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, f->store, STRATA_OPEN_CREATE, &o), 0);
	direct(s);
	for (int u = 1; u <= 3; u++)
		put_versions_unit(s, &m, u);
	strata_close(s);
	char *base = tu_join(f->dir, "base");
	copy_store(f->store, base);
	model base_m = m;
	s = open_store(f->store, STRATA_OPEN_WRITE);
	direct(s);
	char *before = dump_store(s, f->packs);
	strata_close(s);

	int commit_failures = 0, repack_failures = 0;
	uint64_t k;
	for (k = 1; k < 1000; k++) {
		tu_rmrf(f->store);
		copy_store(base, f->store);
		m = base_m;
		s = open_store(f->store, STRATA_OPEN_WRITE);
		direct(s);
		model_put(s, &m, "doc/a.txt", 6000, VERSION);
		model_put(s, &m, "bin", 5000, RANDOM);
		os_fault_set(k, ENOSPC);
		uint64_t unit = 0;
		int rc = strata_commit(s, "four", &unit);
		os_fault_set(0, 0);
		assert_no_tmp(f);
		if (rc != 0) {
			assert_int_equal(rc, STRATA_ENOSPC);
			commit_failures++;
			char *now = dump_store(s, f->packs);
			assert_string_equal(before, now);
			free(now);
			strata_close(s);
			continue;
		}
		assert_int_equal(unit, 4);
		model_check(s, &m);
		expect_verify_ok(s);
		strata_stats st;
		assert_int_equal(strata_stats_get(s, &st), 0);
		assert_int_equal(st.units, 4);
		strata_close(s);
		s = open_store(f->store, STRATA_OPEN_WRITE);
		direct(s);
		model_check(s, &m);
		expect_verify_ok(s);
		strata_close(s);
		int npacks = tu_count_names(f->packs, "", ".pack");
		if (npacks < 4)
			break; /* the repack went through */
		assert_int_equal(npacks, 4);
		repack_failures++;
	}
	assert_true(k < 1000);
	assert_true(commit_failures >= 5);
	assert_true(repack_failures >= 5);
	free(before);
	free(base);
}

/* ------------------------------------------------------------ (e) O_CLOEXEC */

/* Descriptors of this process that point into dir. */
/* Run fdcheck on dir in a fork+exec'd child; its exit status. */
static int run_fdcheck(const char *dir)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)FDCHECK_PATH, (char *)dir, NULL };
		execv(FDCHECK_PATH, argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_cloexec(void **state)
{
	fixture *f = *state;
	strata_store *w = open_store(f->store, STRATA_OPEN_CREATE);
	for (int u = 0; u < 3; u++) {
		put_content(w, "k", (uint64_t)u + 1, 50000, 0);
		commit(w, NULL);
	}
	for (uint64_t n = 1; n <= 3; n++)
		expect_content(w, "k", n, 50000, 0); /* pack descriptors cached */
	put_content(w, "k", 4, 1000, 0);            /* a temporary pack open */
	strata_store *r = open_store(f->store, STRATA_OPEN_READ);
	expect_content(r, "k", 2, 50000, 0);
	/* The store's descriptors are there to be inherited... */
	int open_fds = tu_fds_into(f->store);
	assert_true(open_fds >= 5); /* lock, catalogs, packs, tmp pack */

	/* ...the checker sees a descriptor without O_CLOEXEC... */
	char *probe = tu_join(f->store, "probe");
	int fd = open(probe, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(run_fdcheck(f->store), 1);
	close(fd);
	unlink(probe);
	free(probe);

	/* ...and the child inherits none of the store's. */
	assert_int_equal(run_fdcheck(f->store), 0);

	/* Still so after a commit, a verify and a rebuild-free reopen. */
	commit(w, NULL);
	assert_int_equal(strata_verify(w, NULL, NULL, NULL, NULL), 0);
	strata_store *r2 = open_store(f->store, STRATA_OPEN_READ);
	expect_content(r2, "k", 4, 1000, 0);
	assert_int_equal(run_fdcheck(f->store), 0);
	strata_close(r2);
	strata_close(r);
	strata_close(w);
	assert_int_equal(tu_fds_into(f->store), 0); /* and close closes them all */
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_corrupt_group_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_footer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_sum_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_missing_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_packs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_disagrees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_by_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery_by_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_leaves_writers_tmp_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_pack_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_pack_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misnamed_pack_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_format_pack_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_recreates_missing_catalog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_with_damaged_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cloexec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_base_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_crash_before_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_crash_before_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_with_repacked_packs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_faults_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_repack_faults, setup, teardown),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]); /* e.g. test_durability 'test_rebuild*' */
	return cmocka_run_group_tests_name("durability", tests, NULL, NULL);
}
