/*
 * test_pipeline.c - the write pipeline (src/pipe.c, docs/threading.md).
 *
 *   producers     4 threads put at once, each to keys of its own and all to
 *                 one shared key, tiny to 3 MiB records: every record comes
 *                 back byte for byte under the number its put returned, each
 *                 thread's records of the shared key in its put order
 *   back-pressure a 1 MiB cap: puts block (the store's count says so) and
 *                 the bytes in flight never pass the cap
 *   commit        after N puts, commit returns only when all N are durable:
 *                 a second, read-only handle sees every one at once
 *   async         commit_async returns at once; closing the handle with work
 *                 in flight keeps every async-committed unit whole and drops
 *                 the records put after the last commit
 *   durable       durable_bytes commits 'auto' units on its own
 *   threads       1, 2 and 3 workers and no pipeline store the same records
 *   failure       a pipeline failure fails later puts and commits until
 *                 rollback, and loses nothing committed before it
 *   cloexec       a fork+exec'd child inherits no descriptor of a store whose
 *                 pipeline is writing
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strata.h"
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static strata_store *create(const char *dir, uint64_t group_cap, const strata_pipeline_options *po)
{
	strata_options o = STRATA_OPTIONS_INIT;
	o.group_cap = group_cap;
	o.repack_after = 0;
	strata_store *s = NULL;
	if (strata_open(&s, dir, STRATA_OPEN_CREATE, &o))
		fail_msg("strata_open(%s): %s", dir, strata_errmsg());
	if (po)
		assert_int_equal(strata_pipeline_set(s, po), 0);
	return s;
}

/* The content of record n of a key: its size and bytes follow from
 * (seed, n), text or random. */
static size_t content_size(uint64_t seed, uint64_t n)
{
	uint64_t r = seed * 1000003 + n;
	switch (tu_rand(&r) % 8) {
	case 0: return 0;
	case 1: return 1 + tu_rand(&r) % 16;
	case 2: return 3 << 20;
	default: return 100 + tu_rand(&r) % 60000;
	}
}

static uint8_t *content(uint64_t seed, uint64_t n, size_t *len)
{
	*len = content_size(seed, n);
	uint8_t *p = tu_alloc(*len);
	if (n % 3)
		tu_fill_text(p, *len, seed * 7 + n);
	else
		tu_fill_random(p, *len, seed * 7 + n);
	return p;
}

static void put_rec(strata_store *s, const char *key, uint64_t seed, uint64_t n, uint64_t *got_n)
{
	size_t len;
	uint8_t *p = content(seed, n, &len);
	int rc = strata_put(s, key, strlen(key), p, len, strata_release_free, NULL, got_n);
	if (rc)
		fail_msg("put %s: %s", key, strata_errmsg());
}

static void expect_rec(strata_store *s, const char *key, uint64_t n, uint64_t seed, uint64_t cn)
{
	size_t want_len, len;
	uint8_t *want = content(seed, cn, &want_len);
	void *out;
	int rc = strata_get(s, key, strlen(key), n, &out, &len);
	if (rc)
		fail_msg("get %s@%llu: %s", key, (unsigned long long)n, strata_errmsg());
	assert_int_equal(len, want_len);
	assert_memory_equal(out, want, len);
	strata_buf_free(out);
	free(want);
}

static uint64_t count(strata_store *s, const char *key)
{
	uint64_t c;
	assert_int_equal(strata_record_count(s, key, strlen(key), &c), 0);
	return c;
}

/* ------------------------------------------------------------ producers */

#define PRODUCERS 4
#define PER_KEY 12
#define KEYS_EACH 3
#define SHARED 10

typedef struct producer {
	strata_store *s;
	int id;
	uint64_t shared_n[SHARED]; /* numbers its shared-key puts got */
	char failure[256];         /* cmocka asserts only on the main thread */
} producer;

static void *produce(void *arg)
{
	producer *p = arg;
	char key[32];
	for (int i = 0; i < PER_KEY && !p->failure[0]; i++) {
		for (int k = 0; k < KEYS_EACH; k++) {
			snprintf(key, sizeof key, "p%d/k%d", p->id, k);
			size_t len;
			uint64_t n = 0;
			uint8_t *d = content((uint64_t)(p->id * 10 + k), (uint64_t)i + 1, &len);
			if (strata_put(p->s, key, strlen(key), d, len, strata_release_free, NULL, &n) || n != (uint64_t)i + 1)
				snprintf(p->failure, sizeof p->failure, "put %s: n %llu, %s", key, (unsigned long long)n,
					 strata_errmsg());
		}
		if (i < SHARED) {
			/* content of the shared key: seed 1000 + id, record i + 1 */
			size_t len;
			uint8_t *d = content(1000 + (uint64_t)p->id, (uint64_t)i + 1, &len);
			if (strata_put(p->s, "shared", 6, d, len, strata_release_free, NULL, &p->shared_n[i]))
				snprintf(p->failure, sizeof p->failure, "put shared: %s", strata_errmsg());
		}
	}
	return NULL;
}

static void check_producers(strata_store *s, producer *pr)
{
	char key[32];
	for (int id = 0; id < PRODUCERS; id++)
		for (int k = 0; k < KEYS_EACH; k++) {
			snprintf(key, sizeof key, "p%d/k%d", id, k);
			assert_int_equal(count(s, key), PER_KEY);
			for (uint64_t n = 1; n <= PER_KEY; n++)
				expect_rec(s, key, n, (uint64_t)(id * 10 + k), n);
		}
	assert_int_equal(count(s, "shared"), PRODUCERS * SHARED);
	int seen[PRODUCERS * SHARED + 1] = { 0 };
	for (int id = 0; id < PRODUCERS; id++)
		for (int i = 0; i < SHARED; i++) {
			uint64_t n = pr[id].shared_n[i];
			assert_true(n >= 1 && n <= PRODUCERS * SHARED);
			assert_int_equal(seen[n]++, 0);
			if (i)
				assert_true(n > pr[id].shared_n[i - 1]); /* its own order kept */
			expect_rec(s, "shared", n, 1000 + (uint64_t)id, (uint64_t)i + 1);
		}
}

static void test_producers(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	strata_store *s = create(path, 1 << 20, NULL);
	producer pr[PRODUCERS];
	pthread_t th[PRODUCERS];
	for (int i = 0; i < PRODUCERS; i++) {
		pr[i] = (producer){ s, i, { 0 }, "" };
		assert_int_equal(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < PRODUCERS; i++)
		if (pr[i].failure[0])
			fail_msg("producer %d: %s", i, pr[i].failure);
	uint64_t unit;
	assert_int_equal(strata_commit(s, "many", &unit), 0);
	assert_int_equal(unit, 1);
	strata_pipeline_stats ps;
	assert_int_equal(strata_pipeline_stats_get(s, &ps), 0);
	assert_true(ps.workers >= 1);
	assert_int_equal(ps.inflight_bytes, 0);
	assert_int_equal(ps.units_durable, 1);
	assert_true(ps.groups_written > 1);
	check_producers(s, pr);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
	/* and the same from a fresh handle */
	assert_int_equal(strata_open(&s, path, STRATA_OPEN_READ, NULL), 0);
	check_producers(s, pr);
	strata_close(s);
	free(path);
}

/* ------------------------------------------------------------ back-pressure */

typedef struct watcher {
	strata_store *s;
	volatile int stop;
	uint64_t most;   /* the most in flight it saw */
} watcher;

static void test_back_pressure(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	const uint64_t cap = 1 << 20;
	const strata_pipeline_options po = { .workers = 1, .queue_bytes = cap };
	strata_store *s = create(path, 256 << 10, &po);
	const int nrec = 400;
	uint64_t most = 0;
	for (int i = 1; i <= nrec; i++) {
		uint8_t *p = tu_alloc(48 << 10);
		tu_fill_random(p, 48 << 10, (uint64_t)i);
		assert_int_equal(strata_put(s, "k", 1, p, 48 << 10, strata_release_free, NULL, NULL), 0);
		strata_pipeline_stats ps;
		assert_int_equal(strata_pipeline_stats_get(s, &ps), 0);
		assert_true(ps.inflight_bytes <= cap);
		if (ps.inflight_bytes > most)
			most = ps.inflight_bytes;
	}
	strata_pipeline_stats ps;
	assert_int_equal(strata_pipeline_stats_get(s, &ps), 0);
	/* 400 incompressible 48 KiB records (18.75 MiB) through a 1 MiB queue
	 * with one worker: producers had to wait, and the cap held. */
	assert_true(ps.blocked_puts > 0);
	assert_true(ps.inflight_peak <= cap);
	assert_true(ps.inflight_peak >= most);
	assert_int_equal(ps.queue_bytes, cap);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	/* The worker compressed and the writer wrote 18.75 MiB: both took
	 * CPU time, which together is part of the process's. */
	assert_int_equal(strata_pipeline_stats_get(s, &ps), 0);
	struct timespec proc;
	assert_int_equal(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &proc), 0);
	assert_true(ps.coding_cpu_s > 0);
	assert_true(ps.writing_cpu_s > 0);
	assert_true(ps.coding_cpu_s + ps.writing_cpu_s <= (double)proc.tv_sec + (double)proc.tv_nsec / 1e9);
	assert_int_equal(count(s, "k"), nrec);
	for (int i = 1; i <= nrec; i += 37) {
		void *out;
		size_t len;
		uint8_t *want = tu_alloc(48 << 10);
		tu_fill_random(want, 48 << 10, (uint64_t)i);
		assert_int_equal(strata_get(s, "k", 1, (uint64_t)i, &out, &len), 0);
		assert_int_equal(len, 48 << 10);
		assert_memory_equal(out, want, len);
		strata_buf_free(out);
		free(want);
	}
	/* A record larger than the cap alone passes. */
	uint8_t *big = tu_alloc(3 << 20);
	tu_fill_text(big, 3 << 20, 5);
	assert_int_equal(strata_put(s, "big", 3, big, 3 << 20, strata_release_free, NULL, NULL), 0);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	assert_int_equal(count(s, "big"), 1);
	strata_close(s);
	free(path);
}

/* ------------------------------------------------------------ commit, async */

static void test_commit_durable(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	strata_store *s = create(path, 1 << 20, NULL);
	strata_store *r = NULL;
	assert_int_equal(strata_open(&r, path, STRATA_OPEN_READ, NULL), 0);
	for (uint64_t u = 1; u <= 5; u++) {
		for (uint64_t n = 1; n <= 30; n++)
			put_rec(s, n % 2 ? "a" : "b", u, n, NULL);
		uint64_t unit;
		assert_int_equal(strata_commit(s, NULL, &unit), 0);
		assert_int_equal(unit, u);
		/* the moment commit returns, another handle sees all of it */
		assert_int_equal(count(r, "a"), 15 * u);
		assert_int_equal(count(r, "b"), 15 * u);
		for (uint64_t n = 1; n <= 30; n += 7)
			expect_rec(r, n % 2 ? "a" : "b", 15 * (u - 1) + (n + 1) / 2, u, n);
	}
	strata_close(r);
	strata_close(s);
	free(path);
}

static void test_async_and_close(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	strata_store *s = create(path, 256 << 10, NULL);
	for (uint64_t u = 1; u <= 4; u++) {
		for (uint64_t n = 1; n <= 40; n++)
			put_rec(s, "t", u, n, NULL);
		assert_int_equal(strata_commit_async(s, "async"), 0);
	}
	for (uint64_t n = 1; n <= 40; n++)
		put_rec(s, "t", 99, n, NULL); /* never committed */
	strata_close(s); /* work in flight */
	assert_int_equal(strata_open(&s, path, STRATA_OPEN_READ, NULL), 0);
	assert_int_equal(count(s, "t"), 160);
	for (uint64_t u = 1; u <= 4; u++)
		for (uint64_t n = 1; n <= 40; n += 3)
			expect_rec(s, "t", 40 * (u - 1) + n, u, n);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
	/* A writer starts after the four units; no temporary pack is left. */
	s = create(path, 256 << 10, NULL);
	uint64_t n, unit;
	put_rec(s, "t", 5, 1, &n);
	assert_int_equal(n, 161);
	assert_int_equal(strata_commit(s, NULL, &unit), 0);
	assert_int_equal(unit, 5);
	char *packs = tu_join(path, "packs");
	assert_int_equal(tu_count_names(packs, "tmp-", ".pack"), 0);
	assert_int_equal(tu_count_names(packs, "0", ".pack"), 5);
	free(packs);
	strata_close(s);
	free(path);
}

static int count_pack(void *ctx, const char *path, uint64_t first, uint64_t last, uint64_t bytes)
{
	(void)path, (void)first, (void)last, (void)bytes;
	(*(int *)ctx)++;
	return 0;
}

/* A store that repacks on commit (repack_after 4) repacks at every 4th
 * asynchronous commit in a row: 12 of them leave fewer packs than units,
 * and no more than 4 one-unit packs after the last repacked one. */
static void test_async_repacks(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	strata_options o = STRATA_OPTIONS_INIT;
	o.repack_after = 4;
	strata_store *s = NULL;
	assert_int_equal(strata_open(&s, path, STRATA_OPEN_CREATE, &o), 0);
	const strata_pipeline_options po = { .workers = 2 };
	assert_int_equal(strata_pipeline_set(s, &po), 0);
	for (uint64_t u = 1; u <= 12; u++) {
		for (uint64_t n = 1; n <= 5; n++)
			put_rec(s, "t", u, n, NULL);
		assert_int_equal(strata_commit_async(s, "async"), 0);
	}
	uint64_t last = 0;
	assert_int_equal(strata_pipeline_wait(s, &last), 0);
	assert_int_equal(last, 12);
	int packs = 0, tail = 0;
	assert_int_equal(strata_foreach_pack(s, 1, count_pack, &packs), 0);
	assert_int_equal(strata_foreach_pack(s, 10, count_pack, &tail), 0);
	assert_true(packs < 12);
	assert_true(tail <= 4);
	for (uint64_t u = 1; u <= 12; u += 5)
		for (uint64_t n = 1; n <= 5; n += 2)
			expect_rec(s, "t", 5 * (u - 1) + n, u, n);
	strata_close(s);
	free(path);
}

static void test_durable_bytes(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	const strata_pipeline_options po = { .workers = 2, .durable_bytes = 1 << 20 };
	strata_store *s = create(path, 256 << 10, &po);
	const size_t rl = 64 << 10;
	uint64_t n;
	for (n = 1; n <= 81; n++) { /* 81 records of 64 KiB: past 5 MiB */
		uint8_t *p = tu_alloc(rl);
		tu_fill_text(p, rl, n);
		assert_int_equal(strata_put(s, "trace", 5, p, rl, strata_release_free, NULL, NULL), 0);
	}
	uint64_t last;
	assert_int_equal(strata_pipeline_wait(s, &last), 0);
	/* 5 MiB put with a durable point each MiB: at least 4 units, all
	 * filed before any commit was asked for. */
	assert_true(last >= 4);
	strata_store *r = NULL;
	assert_int_equal(strata_open(&r, path, STRATA_OPEN_READ, NULL), 0);
	uint64_t filed = count(r, "trace");
	assert_true(filed > 0 && filed < n);
	for (uint64_t m = 1; m <= filed; m += 5) {
		void *out;
		size_t len;
		uint8_t *want = tu_alloc(rl);
		tu_fill_text(want, rl, m);
		assert_int_equal(strata_get(r, "trace", 5, m, &out, &len), 0);
		assert_int_equal(len, rl);
		assert_memory_equal(out, want, rl);
		strata_buf_free(out);
		free(want);
	}
	strata_close(r);
	int pending = 0;
	assert_int_equal(strata_pending(s, &pending), 0);
	assert_int_equal(pending, 1); /* 81 * 64 KiB is not a whole number of MiB */
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	assert_int_equal(strata_pending(s, &pending), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(count(s, "trace"), n - 1);
	/* 16 more records: exactly a MiB, so the durable point takes them all */
	for (uint64_t m = 0; m < 16; m++) {
		uint8_t *p = tu_alloc(rl);
		tu_fill_text(p, rl, n + m);
		assert_int_equal(strata_put(s, "trace", 5, p, rl, strata_release_free, NULL, NULL), 0);
	}
	assert_int_equal(strata_pending(s, &pending), 0);
	assert_int_equal(pending, 0);
	assert_int_equal(strata_pipeline_wait(s, NULL), 0);
	assert_int_equal(count(s, "trace"), n - 1 + 16);
	assert_int_equal(strata_pending(NULL, &pending), STRATA_EINVAL);
	strata_close(s);
	free(path);
}

/* ------------------------------------------------------------ threads */

/* The pack bytes of a store made of the same records. */
static void fill_versions(strata_store *s)
{
	for (uint64_t u = 1; u <= 3; u++) {
		for (uint64_t n = 1; n <= 25; n++)
			put_rec(s, n % 3 ? "doc" : "bin", u * 100 + n % 4, u, NULL);
		assert_int_equal(strata_commit(s, NULL, NULL), 0);
	}
}

static void test_thread_counts(void **state)
{
	const char *dir = *state;
	const int workers[] = { -1, 1, 2, 3 };
	for (size_t i = 0; i < sizeof workers / sizeof *workers; i++) {
		char name[16];
		snprintf(name, sizeof name, "w%d", workers[i]);
		char *path = tu_join(dir, name);
		const strata_pipeline_options po = { .workers = workers[i] };
		strata_store *s = create(path, 128 << 10, &po);
		fill_versions(s);
		strata_pipeline_stats ps;
		assert_int_equal(strata_pipeline_stats_get(s, &ps), 0);
		assert_int_equal(ps.workers, workers[i] < 0 ? 0 : workers[i]);
		assert_int_equal(count(s, "doc"), 3 * 16 + 3);
		for (uint64_t u = 1; u <= 3; u++)
			for (uint64_t n = 1, d = 0, b = 0; n <= 25; n++) {
				int isdoc = n % 3 != 0;
				uint64_t at = isdoc ? (u - 1) * 17 + ++d : (u - 1) * 8 + ++b;
				expect_rec(s, isdoc ? "doc" : "bin", at, u * 100 + n % 4, u);
			}
		assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
		strata_close(s);
		free(path);
	}
}

/* ------------------------------------------------------------ failure */

static void test_failure(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	strata_store *s = create(path, 1 << 20, NULL);
	put_rec(s, "k", 1, 1, NULL);
	assert_int_equal(strata_commit(s, "kept", NULL), 0);
	/* Take the packs directory away: the writer thread cannot create the
	 * unit's pack. */
	char *packs = tu_join(path, "packs"), *moved = tu_join(path, "packs.away");
	assert_int_equal(rename(packs, moved), 0);
	/* Some 2 MiB: groups reach the writer (or a worker finds the base pack
	 * gone first); once the failure is known, puts fail too. */
	for (uint64_t n = 2; n <= 80; n++) {
		size_t len;
		uint8_t *d = content(1, n, &len);
		int rc = strata_put(s, "k", 1, d, len, strata_release_free, NULL, NULL);
		assert_true(rc == 0 || rc == STRATA_EIO);
	}
	uint64_t unit = 0;
	assert_int_not_equal(strata_commit(s, "lost", &unit), 0);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(unit, 0);
	assert_int_equal(rename(moved, packs), 0);
	/* The failed commit rolled back: the store is as it was, and goes on. */
	assert_int_equal(count(s, "k"), 1);
	uint64_t n;
	put_rec(s, "k", 1, 2, &n);
	assert_int_equal(n, 2);
	assert_int_equal(strata_commit(s, "after", &unit), 0);
	assert_int_equal(unit, 2);
	expect_rec(s, "k", 1, 1, 1);
	expect_rec(s, "k", 2, 1, 2);

	/* An async commit that fails makes later calls fail until rollback. */
	assert_int_equal(rename(packs, moved), 0);
	put_rec(s, "k", 1, 3, NULL);
	assert_int_equal(strata_commit_async(s, "lost"), 0);
	assert_int_not_equal(strata_pipeline_wait(s, NULL), 0);
	uint8_t *p = tu_alloc(10);
	assert_int_equal(strata_put(s, "k", 1, p, 10, strata_release_free, NULL, NULL), STRATA_EIO);
	assert_non_null(strstr(strata_errmsg(), "roll back"));
	assert_int_equal(rename(moved, packs), 0);
	assert_int_equal(strata_rollback(s), 0);
	put_rec(s, "k", 1, 3, &n);
	assert_int_equal(n, 3);
	assert_int_equal(strata_commit(s, NULL, &unit), 0);
	assert_int_equal(unit, 3);
	assert_int_equal(strata_verify(s, NULL, NULL, NULL, NULL), 0);
	strata_close(s);
	free(packs);
	free(moved);
	free(path);
}

/* ------------------------------------------------------------ cloexec */

static void test_cloexec(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "s");
	const strata_pipeline_options po = { .workers = 2 };
	strata_store *s = create(path, 128 << 10, &po);
	put_rec(s, "k", 1, 1, NULL);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	/* Enough for whole groups to reach the writer: its pack is open. */
	for (uint64_t n = 2; n <= 40; n++)
		put_rec(s, "k", 1, n, NULL);
	char *packs = tu_join(path, "packs");
	for (int i = 0; i < 500 && tu_count_names(packs, "tmp-", ".pack") == 0; i++)
		usleep(10000);
	assert_int_equal(tu_count_names(packs, "tmp-", ".pack"), 1);
	assert_true(tu_fds_into(path) >= 4); /* lock, catalog connections, tmp pack */
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)FDCHECK_PATH, (char *)path, NULL };
		execv(FDCHECK_PATH, argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(strata_commit(s, NULL, NULL), 0);
	strata_close(s);
	assert_int_equal(tu_fds_into(path), 0);
	free(packs);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_producers, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_back_pressure, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_commit_durable, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_async_and_close, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_async_repacks, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_durable_bytes, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_thread_counts, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_failure, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_cloexec, tu_setup_dir, tu_teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
