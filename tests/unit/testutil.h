/*
 * testutil.h - helpers shared by the cmocka unit tests: temporary
 * directories, a seeded PRNG, small file operations. Header-only (static
 * inline) so that every test binary stays a single .c file.
 *
 * Include after <cmocka.h> and its prerequisites.
 */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata.h"

/* ------------------------------------------------------------ tmp dirs */

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path. */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	size_t n = strlen(base) + 32;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/strata-ut-XXXXXX", base);
	assert_non_null(mkdtemp(p));
	return p;
}

static inline int tu_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* rm -rf path (does nothing for NULL). */
static inline void tu_rmrf(const char *path)
{
	if (path)
		nftw(path, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* malloc'd "a/b". */
static inline char *tu_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);
	assert_non_null(p);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* cmocka setup/teardown that give each test its own directory in *state. */
static inline int tu_setup_dir(void **state)
{
	*state = tu_mkdtemp();
	return 0;
}

static inline int tu_teardown_dir(void **state)
{
	tu_rmrf(*state);
	free(*state);
	return 0;
}

/* Delete a store's catalog (with its WAL files), as a crash or an admin
 * might. */
static inline void tu_remove_catalog(const char *store)
{
	const char *names[] = { "catalog.db", "catalog.db-wal", "catalog.db-shm" };
	for (int i = 0; i < 3; i++) {
		char *p = tu_join(store, names[i]);
		unlink(p);
		free(p);
	}
}

/* How many of this process's descriptors point into dir (or are dir). */
static inline int tu_fds_into(const char *dir)
{
	char root[PATH_MAX];
	assert_non_null(realpath(dir, root));
	size_t rl = strlen(root);
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char link[64], target[PATH_MAX];
		snprintf(link, sizeof link, "/proc/self/fd/%d", atoi(e->d_name));
		ssize_t l = e->d_name[0] == '.' ? -1 : readlink(link, target, sizeof target - 1);
		if (l < 0)
			continue;
		target[l] = '\0';
		n += !strncmp(target, root, rl) && (target[rl] == '/' || target[rl] == '\0');
	}
	closedir(d);
	return n;
}

/* ------------------------------------------------------------- PRNG */

/* splitmix64: deterministic, seeded. */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline void tu_fill_random(void *dst, size_t n, uint64_t seed)
{
	uint8_t *p = dst;
	uint64_t s = seed;
	while (n >= 8) {
		uint64_t v = tu_rand(&s);
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = tu_rand(&s);
		memcpy(p, &v, n);
	}
}

/* Compressible text with variation: numbered lines with a few random words. */
static inline void tu_fill_text(void *dst, size_t n, uint64_t seed)
{
	static const char *const words[] = { "alpha", "bravo", "charlie", "delta", "echo",
					     "foxtrot", "golf", "hotel", "india", "juliet" };
	uint8_t *p = dst;
	uint64_t s = seed;
	size_t pos = 0;
	char line[128];
	for (uint64_t ln = 1; pos < n; ln++) {
		uint64_t r = tu_rand(&s);
		int k = snprintf(line, sizeof line, "line %llu: %s %s %s value=%u\n", (unsigned long long)ln,
				 words[r % 10], words[(r >> 8) % 10], words[(r >> 16) % 10],
				 (unsigned)((r >> 24) % 100000));
		size_t take = (size_t)k < n - pos ? (size_t)k : n - pos;
		memcpy(p + pos, line, take);
		pos += take;
	}
}

/* malloc'd buffer of n bytes (at least 1 allocated). */
static inline uint8_t *tu_alloc(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	return p;
}

/* ------------------------------------------------------------- files */

static inline uint64_t tu_file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Read a whole file; malloc'd. */
static inline uint8_t *tu_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *p = tu_alloc((size_t)st.st_size);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, p + got, (size_t)st.st_size - got, (off_t)got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return p;
}

/* Create or overwrite (even a read-only file, such as a pack) path. */
static inline void tu_write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	chmod(path, 0644); /* packs are 0444; fails harmlessly if path is new */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const uint8_t *)p + done, n - done);
		assert_true(w > 0);
		done += (size_t)w;
	}
	assert_int_equal(close(fd), 0);
}

static inline void tu_copy_file(const char *from, const char *to)
{
	size_t n;
	uint8_t *p = tu_read_file(from, &n);
	tu_write_file(to, p, n, 0644);
	free(p);
}

/* XOR one byte of a file in place with `mask` (making it writable first). */
static inline void tu_flip_byte(const char *path, uint64_t off, uint8_t mask)
{
	chmod(path, 0644);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= mask;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	assert_int_equal(close(fd), 0);
}

static inline void tu_truncate(const char *path, uint64_t size)
{
	chmod(path, 0644);
	assert_int_equal(truncate(path, (off_t)size), 0);
}

/* Number of entries of `dir` whose name starts with `prefix` and ends with
 * `suffix` (either may be ""). */
static inline int tu_count_names(const char *dir, const char *prefix, const char *suffix)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	size_t pl = strlen(prefix), sl = strlen(suffix);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (l >= pl + sl && !strncmp(e->d_name, prefix, pl) && !strcmp(e->d_name + l - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

static inline int tu_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* strata_foreach_record callback: stored[n] = record n's stored bytes
 * (ctx: a uint64_t array indexed by record number). */
static inline int tu_stored_cb(void *ctx, const strata_record_info *r)
{
	uint64_t *stored = ctx;
	stored[r->n] = r->stored;
	return 0;
}

/* An in-memory sink (group_sink_fn): appends to p, growing it. */
typedef struct tu_memsink {
	uint8_t *p;
	size_t len, cap;
	int calls;
	int fail_at; /* fail the fail_at-th call (1-based) with STRATA_ENOSPC; 0 = never */
} tu_memsink;

static inline int tu_mem_sink(void *ctx, const void *p, size_t n)
{
	tu_memsink *m = ctx;
	m->calls++;
	if (m->fail_at && m->calls == m->fail_at)
		return STRATA_ENOSPC;
	if (m->len + n > m->cap) {
		size_t nc = m->cap ? m->cap : 4096;
		while (nc < m->len + n)
			nc *= 2;
		uint8_t *np = realloc(m->p, nc);
		if (!np)
			abort();
		m->p = np;
		m->cap = nc;
	}
	memcpy(m->p + m->len, p, n);
	m->len += n;
	return 0;
}

/* A positioned reader over memory (group_pread_fn). */
typedef struct tu_memsrc {
	const uint8_t *p;
	size_t len;
	int fail;         /* return STRATA_EIO from every read */
	int out_of_range; /* set when a read went past len */
} tu_memsrc;

static inline int tu_mem_pread(void *ctx, void *dst, size_t n, uint64_t off)
{
	tu_memsrc *s = ctx;
	if (s->fail)
		return STRATA_EIO;
	if (off > s->len || n > s->len - off) {
		s->out_of_range = 1;
		return STRATA_EIO;
	}
	memcpy(dst, s->p + off, n);
	return 0;
}

/* A temporary directory and the path of a store in it, for cmocka's
 * setup and teardown. */
typedef struct tu_fixture {
	char *dir;   /* temporary directory */
	char *store; /* dir/store */
} tu_fixture;

static inline int tu_fixture_setup(void **state)
{
	tu_fixture *f = calloc(1, sizeof *f);
	if (!f)
		abort();
	f->dir = tu_mkdtemp();
	f->store = tu_join(f->dir, "store");
	*state = f;
	return 0;
}

static inline int tu_fixture_teardown(void **state)
{
	tu_fixture *f = *state;
	tu_rmrf(f->dir);
	free(f->dir);
	free(f->store);
	free(f);
	return 0;
}

#endif
