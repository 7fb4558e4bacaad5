/* archive.c - directory trees in and out of a store (strata_import,
 * strata_export), the packs to ship offsite, and forks. */
#include "chunk.h"
#include "err.h"
#include "os.h"
#include "read.h"
#include "store.h"
#include "tree.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "a/b" of a directory and a relative path (relative empty: a itself). */
static char *path_join(const char *a, const char *rel)
{
	size_t n = strlen(a) + strlen(rel) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, *rel ? "%s/%s" : "%s%s", a, rel);
	return p;
}

/* ------------------------------------------------------- put from a file */

typedef struct fd_src {
	int fd;
	const char *what;
} fd_src;

static int fd_read(void *ctx, uint8_t *dst, size_t cap, size_t *got)
{
	const fd_src *f = ctx;
	return os_read_some(f->fd, dst, cap, got, f->what);
}

/* strata_put_fd; with `reused` (else NULL), chunked content equal to the
 * key's latest record is not put again (chunk_put_stream). */
static int put_fd(strata_store *s, const void *key, size_t keylen, int fd, const char *what, uint64_t *n_out,
		  uint64_t *size_out, int *reused)
{
	if (reused)
		*reused = 0;
	int rc = store_check_key(key, keylen);
	if (rc)
		return rc;
	fd_src src = { fd, what ? what : "the input" };
	/* Read up to the chunking threshold: a record smaller than that is
	 * put whole; a larger one is chunked from there on as it is read. */
	uint64_t above = s->opts.chunk_above;
	size_t cap = 1 << 16, have = 0;
	uint8_t *buf = malloc(cap);
	rc = buf ? 0 : ERR_NOMEM();
	for (size_t got = 1; !rc && got > 0 && (!above || have < above);) {
		if (have == cap) {
			size_t nc = cap * 2;
			uint8_t *nb = realloc(buf, nc);
			if (!nb) {
				rc = ERR_NOMEM();
				break;
			}
			buf = nb;
			cap = nc;
		}
		size_t want = cap - have;
		if (above && want > above - have)
			want = (size_t)(above - have);
		rc = fd_read(&src, buf + have, want, &got);
		have += got;
	}
	if (rc) {
		free(buf);
		return rc;
	}
	if (!above || have < above) {
		if (size_out)
			*size_out = have;
		return strata_put(s, key, keylen, buf, have, strata_release_free, NULL, n_out);
	}
	rc = chunk_put_stream(s, key, keylen, buf, have, fd_read, &src, n_out, size_out, reused);
	free(buf);
	return rc;
}

int strata_put_fd(strata_store *s, const void *key, size_t keylen, int fd, const char *what, uint64_t *n_out,
		  uint64_t *size_out)
{
	err_clear();
	if (!s || !key || fd < 0)
		return err_set(STRATA_EINVAL, "strata_put_fd needs a store, a key and a descriptor");
	return put_fd(s, key, keylen, fd, what, n_out, size_out, NULL);
}

/* ------------------------------------------------------------- import */

/* Add the entries under root/rel (rel "" for root itself) to t. */
static int walk(const char *root, const char *rel, tree *t, strata_tree_result *res)
{
	char *dir = path_join(root, rel);
	char **names = NULL;
	size_t nn = 0;
	int rc = dir ? os_list(dir, &names, &nn) : ERR_NOMEM();
	for (size_t i = 0; !rc && i < nn; i++) {
		tree_entry e = { 0 };
		size_t rl = strlen(rel), nl = strlen(names[i]);
		e.plen = rl ? rl + 1 + nl : nl;
		if (e.plen > PACK_KEY_MAX) {
			rc = err_set(STRATA_EINVAL, "%s/%s: path longer than %d bytes", dir, names[i], PACK_KEY_MAX);
			break;
		}
		if (!(e.path = malloc(e.plen + 1))) {
			rc = ERR_NOMEM();
			break;
		}
		snprintf(e.path, e.plen + 1, rl ? "%s/%s" : "%s%s", rel, names[i]);
		char *full = path_join(root, e.path);
		os_stat st;
		rc = full ? os_lstat(full, &st) : ERR_NOMEM();
		if (!rc && st.type == OS_LINK)
			rc = os_readlink(full, &e.target, &e.tlen);
		free(full);
		if (rc || st.type == OS_OTHER) {
			res->skipped += !rc;
			free(e.path);
			continue;
		}
		e.type = st.type == OS_FILE ? TREE_FILE : st.type == OS_DIR ? TREE_DIR : TREE_LINK;
		e.mode = st.mode;
		e.mtime = st.mtime;
		e.mtime_ns = st.mtime_ns;
		e.ctime = st.ctime;
		e.ctime_ns = st.ctime_ns;
		e.ino = st.ino;
		e.size = st.type == OS_FILE ? st.size : 0;
		int is_dir = e.type == TREE_DIR;
		char *sub = is_dir ? strdup(e.path) : NULL;
		rc = is_dir && !sub ? ERR_NOMEM() : tree_add(t, &e);
		if (!rc && is_dir)
			rc = walk(root, sub, t, res);
		free(sub);
	}
	os_names_free(names, nn);
	free(dir);
	return rc;
}

/* The tree of the latest import, or an empty one. */
static int latest_tree(strata_store *s, tree *t)
{
	*t = (tree){ 0 };
	uint64_t count;
	int rc = catalog_key_count(s->cat, TREE_KEY, TREE_KEYLEN, &count);
	if (rc || count == 0)
		return rc;
	uint8_t *m;
	size_t len;
	rc = read_record(s, TREE_KEY, TREE_KEYLEN, count, 0, &m, &len);
	if (!rc)
		rc = tree_decode(m, len, t);
	if (!rc)
		free(m);
	else
		free(m), err_prefix(rc, "the previous import's manifest: ");
	return rc;
}

/* Store a file's content as the next record of its path, unless its
 * SHA-256 equals that of the previous import's entry `p` (then that record
 * is reused). Its size is what was read: a file that changes while it is
 * read is stored as read. A file of chunk_above bytes or more is streamed
 * into chunks, unhashed (its chunks are): when they are exactly the
 * chunks of the path's latest record, that record is reused. */
static int put_file(strata_store *s, const char *full, tree_entry *e, const tree_entry *p, int *stored)
{
	int fd;
	int rc = os_open(&fd, full, O_RDONLY | O_NOFOLLOW, 0);
	if (rc)
		return rc;
	*stored = 1;
	if (s->opts.chunk_above && e->size >= s->opts.chunk_above) {
		memset(e->sha, 0, 32);
		int reused = 0;
		rc = put_fd(s, e->path, e->plen, fd, full, &e->n, &e->size, &reused);
		*stored = !reused;
		os_close(fd);
		return rc;
	}
	uint8_t *b = malloc(e->size ? (size_t)e->size : 1);
	size_t got = 0;
	uint8_t extra;
	rc = b ? os_pread(fd, b, (size_t)e->size, 0, full) : ERR_NOMEM();
	if (!rc)
		rc = os_pread_some(fd, &extra, 1, e->size, &got, full);
	os_close(fd);
	if (!rc && got)
		rc = err_set(STRATA_EIO, "%s grew while it was read", full);
	if (rc == STRATA_ECORRUPT) /* os_pread's "truncated" */
		rc = err_set(STRATA_EIO, "%s shrank while it was read", full);
	if (!rc)
		rc = chunk_sha256(b, (size_t)e->size, e->sha);
	if (!rc && p && p->type == TREE_FILE && p->size == e->size && !memcmp(p->sha, e->sha, 32)) {
		e->n = p->n;
		*stored = 0;
		free(b);
		return 0;
	}
	if (rc) {
		free(b);
		return rc;
	}
	return strata_put(s, e->path, e->plen, b, (size_t)e->size, strata_release_free, NULL, &e->n);
}

static int import_files(strata_store *s, const char *dir, tree *cur, const tree *prev, int flags,
			strata_progress_cb *progress, void *ctx, strata_tree_result *res)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < cur->n; i++) {
		tree_entry *e = &cur->v[i];
		res->files += e->type == TREE_FILE;
		res->dirs += e->type == TREE_DIR;
		res->links += e->type == TREE_LINK;
		if (e->type != TREE_FILE)
			continue;
		const tree_entry *p = tree_find(prev, e->path, e->plen);
		if (p && p->type == TREE_FILE && p->size == e->size && p->mtime == e->mtime &&
		    p->mtime_ns == e->mtime_ns && p->ctime == e->ctime && p->ctime_ns == e->ctime_ns &&
		    p->ino == e->ino && !(flags & STRATA_IMPORT_REREAD)) {
			e->n = p->n;
			memcpy(e->sha, p->sha, 32);
		} else {
			char *full = path_join(dir, e->path);
			int stored = 0;
			rc = full ? put_file(s, full, e, p, &stored) : ERR_NOMEM();
			free(full);
			if (rc == STRATA_ENOTFOUND) { /* deleted since it was listed */
				err_clear();
				rc = 0;
				e->type = 0;
				res->files--;
				res->vanished++;
				continue;
			}
			res->changed += (uint64_t)stored;
			res->new_bytes += stored ? e->size : 0;
		}
		res->bytes += e->size;
		if (progress)
			progress(ctx, res->files, 0);
	}
	return rc;
}

int strata_import(strata_store *s, const char *dir, const char *label, int flags, strata_progress_cb *progress,
		  void *ctx, strata_tree_result *res)
{
	err_clear();
	strata_tree_result r = { 0 };
	if (!s || !dir)
		return err_set(STRATA_EINVAL, "strata_import needs a store and a directory");
	if (!s->writable)
		return err_set(STRATA_EREADONLY, "store %s is open read-only", s->root);
	if (s->unit || (s->pipe && pipe_pending(s->pipe)))
		return err_set(STRATA_EINVAL, "commit or roll back the unit in progress first");
	os_stat st;
	int rc = os_stat_of(dir, 1, &st);
	if (!rc && st.type != OS_DIR)
		rc = err_set(STRATA_EINVAL, "%s is not a directory", dir);
	tree cur = { 0 }, prev = { 0 };
	if (!rc)
		rc = walk(dir, "", &cur, &r);
	tree_sort(&cur);
	if (!rc)
		rc = latest_tree(s, &prev);
	if (!rc)
		rc = import_files(s, dir, &cur, &prev, flags, progress, ctx, &r);
	bytebuf m = { 0 };
	if (!rc)
		rc = tree_encode(&cur, &m);
	if (!rc) {
		rc = store_put_hinted(s, TREE_KEY, TREE_KEYLEN, NULL, m.p, m.len, strata_release_free, NULL, NULL);
		m = (bytebuf){ 0 };
	}
	if (!rc)
		rc = strata_commit(s, label, &r.unit);
	buf_free(&m);
	tree_free(&cur);
	tree_free(&prev);
	if (rc) {
		/* Keep the first error: the rollback's own is secondary. */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", strata_errmsg());
		strata_rollback(s);
		err_set(rc, "%s", msg);
		return rc;
	}
	if (res)
		*res = r;
	return 0;
}

/* ------------------------------------------------------------- export */

typedef struct find_unit {
	uint64_t unit;   /* wanted (0: the latest) */
	uint64_t n;      /* the manifest record found, or 0 */
	uint64_t found_unit;
} find_unit;

static int find_manifest(void *ctx, const strata_record_info *ri)
{
	find_unit *f = ctx;
	if (f->unit == 0 || ri->unit == f->unit) {
		f->n = ri->n;
		f->found_unit = ri->unit;
	}
	return 0;
}

typedef struct fd_dst {
	int fd;
	const char *path;
	uint64_t written;
} fd_dst;

static int to_fd(void *ctx, const uint8_t *p, size_t len)
{
	fd_dst *d = ctx;
	d->written += len;
	return os_write(d->fd, p, len, d->path);
}

/* Write record n of key to d: a chunk list chunk by chunk, in bounded
 * memory; another record once read whole and checked. */
static int write_record(strata_store *s, const void *key, size_t keylen, uint64_t n, fd_dst *d)
{
	int chunked = 0;
	int rc = chunk_write_record(s, key, keylen, n, to_fd, d, &chunked);
	if (!rc && !chunked) {
		void *data;
		size_t len;
		rc = strata_get(s, key, keylen, n, &data, &len);
		if (!rc) {
			rc = to_fd(d, data, len);
			strata_buf_free(data);
		}
	}
	return rc;
}

int strata_get_fd(strata_store *s, const void *key, size_t keylen, uint64_t n, int fd, const char *what,
		  uint64_t *size_out)
{
	err_clear();
	if (!s || !key || keylen == 0 || fd < 0)
		return err_set(STRATA_EINVAL, "strata_get_fd needs a store, a key and a descriptor");
	group_read_cost before;
	group_coder_cost(s->coder, &before);
	fd_dst d = { fd, what ? what : "the output", 0 };
	int rc = write_record(s, key, keylen, n, &d);
	store_note_cost(s, &before);
	if (!rc && size_out)
		*size_out = d.written;
	return rc;
}

/* Restore one file: a chunked one chunk by chunk, in bounded memory. */
static int write_file(strata_store *s, const char *path, const tree_entry *e)
{
	int fd;
	int rc = os_open(&fd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (rc)
		return rc;
	fd_dst d = { fd, path, 0 };
	rc = write_record(s, e->path, e->plen, e->n, &d);
	if (!rc && d.written != e->size)
		rc = err_set(STRATA_ECORRUPT, "record %" PRIu64 " has %" PRIu64 " bytes, the manifest says %" PRIu64,
			     e->n, d.written, e->size);
	int rc2 = os_close_checked(fd, path);
	rc = rc ? rc : rc2;
	if (rc) {
		os_unlink(path); /* never leave a partial file behind */
		return err_prefix(rc, "%s: ", e->path);
	}
	return 0;
}

static int empty_dir(const char *dir)
{
	os_stat st;
	if (os_stat_of(dir, 1, &st)) {
		err_clear();
		return os_mkdir_new(dir, 0700);
	}
	char **names = NULL;
	size_t n = 0;
	int rc = st.type == OS_DIR ? os_list(dir, &names, &n) : err_set(STRATA_EEXIST, "%s exists and is not a directory", dir);
	os_names_free(names, n);
	if (!rc && n)
		rc = err_set(STRATA_EEXIST, "%s is not empty", dir);
	return rc;
}

int strata_export(strata_store *s, uint64_t unit, const char *dir, strata_progress_cb *progress, void *ctx,
		  strata_tree_result *res)
{
	err_clear();
	strata_tree_result r = { 0 };
	if (!s || !dir)
		return err_set(STRATA_EINVAL, "strata_export needs a store and a directory");
	find_unit f = { unit, 0, 0 };
	int rc = catalog_foreach_record(s->cat, TREE_KEY, TREE_KEYLEN, find_manifest, &f);
	uint64_t last = 0;
	if (!rc && !f.n && unit && !(rc = catalog_max_unit(s->cat, &last)) && unit > last)
		rc = err_set(STRATA_ENOTFOUND, "there is no unit %" PRIu64 " (the store's last unit is %" PRIu64 ")",
			     unit, last);
	if (!rc && !f.n)
		rc = unit ? err_set(STRATA_ENOTFOUND, "unit %" PRIu64 " holds no imported tree", unit)
			  : err_set(STRATA_ENOTFOUND, "the store holds no imported tree");
	tree t = { 0 };
	uint8_t *m = NULL;
	size_t len;
	if (!rc)
		rc = read_record(s, TREE_KEY, TREE_KEYLEN, f.n, 0, &m, &len);
	if (!rc)
		rc = tree_decode(m, len, &t);
	free(m);
	if (!rc)
		rc = empty_dir(dir);
	/* The chunked files of a tree share groups: bodies once decoded stay
	 * (read.c's cache, bounded) for the next. */
	s->body_cache_keep = 1;
	/* Directories first, then files and links (links last, so that no
	 * file is written through one), then modes and times, deepest first. */
	for (int pass = 0; !rc && pass < 2; pass++)
		for (size_t i = 0; !rc && i < t.n; i++) {
			const tree_entry *e = &t.v[i];
			if ((pass == 0) != (e->type == TREE_DIR))
				continue;
			char *full = path_join(dir, e->path);
			if (!full) {
				rc = ERR_NOMEM();
				break;
			}
			if (e->type == TREE_DIR) {
				rc = os_mkdir_new(full, 0700);
				r.dirs++;
			} else if (e->type == TREE_FILE) {
				rc = write_file(s, full, e);
				r.files++;
				r.bytes += e->size;
				if (progress)
					progress(ctx, r.files, 0);
			} else {
				char *target = malloc(e->tlen + 1);
				rc = target ? 0 : ERR_NOMEM();
				if (!rc) {
					memcpy(target, e->target, e->tlen);
					target[e->tlen] = '\0';
					rc = os_symlink(target, full);
				}
				free(target);
				r.links++;
			}
			free(full);
		}
	for (size_t i = t.n; !rc && i-- > 0;) {
		const tree_entry *e = &t.v[i];
		char *full = path_join(dir, e->path);
		rc = full ? os_set_meta(full, e->type == TREE_LINK, e->mode, e->mtime, e->mtime_ns) : ERR_NOMEM();
		free(full);
	}
	s->body_cache_keep = 0;
	read_cache_clear(s);
	tree_free(&t);
	r.unit = f.found_unit;
	if (!rc && res)
		*res = r;
	return rc;
}

/* -------------------------------------------------------- packs, forks */

int strata_foreach_pack(strata_store *s, uint64_t since, strata_pack_cb *cb, void *ctx)
{
	err_clear();
	if (!s || !cb)
		return err_set(STRATA_EINVAL, "missing argument");
	catalog_pack *v = NULL;
	size_t n = 0;
	int rc = catalog_packs_in(s->cat, 1, INT64_MAX, &v, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "packs/%s", v[i].name);
		if (v[i].last >= since)
			rc = cb(ctx, path, v[i].first, v[i].last, v[i].bytes);
	}
	free(v);
	return rc;
}

/* A fork writes this file into NEW first and removes it last, after
 * strata.conf: a fork that stopped midway (a crash, a full disk) leaves it
 * beside what it made, so that the next fork into NEW may clear that. */
#define FORK_MARK "fork-incomplete"

static int is_fork_file(const char *name)
{
	static const char *const made[] = { FORK_MARK, "packs", "catalog.db", "catalog.db-wal", "catalog.db-shm",
					    "catalog.db-journal", "strata.conf.tmp" };
	for (size_t i = 0; i < sizeof made / sizeof *made; i++)
		if (!strcmp(name, made[i]))
			return 1;
	return 0;
}

/* Empty `to` (a directory holding the marker) of an unfinished fork: no
 * strata.conf, nothing but what a fork makes (packs/ of regular files, the
 * catalog); else `to` is refused as not empty, and left as it is. */
static int clear_unfinished_fork(const char *to)
{
	char **names = NULL, **pn = NULL;
	size_t n = 0, np = 0;
	char *conf = path_join(to, "strata.conf"), *packs = path_join(to, "packs");
	int rc = conf && packs ? 0 : ERR_NOMEM();
	int unfinished = !rc && !os_exists(conf);
	if (!rc && unfinished)
		rc = os_list(to, &names, &n);
	for (size_t i = 0; !rc && unfinished && i < n; i++)
		unfinished = is_fork_file(names[i]);
	if (!rc && unfinished && os_exists(packs) && !(rc = os_list(packs, &pn, &np)))
		for (size_t i = 0; unfinished && i < np; i++) {
			os_stat st;
			char *p = path_join(packs, pn[i]);
			unfinished = p && !os_lstat(p, &st) && st.type == OS_FILE;
			err_clear();
			free(p);
		}
	if (!rc && !unfinished)
		rc = err_set(STRATA_EEXIST, "%s is not empty", to);
	for (size_t i = 0; !rc && i < np; i++) {
		char *p = path_join(packs, pn[i]);
		rc = p ? os_unlink(p) : ERR_NOMEM();
		free(p);
	}
	if (!rc)
		rc = os_rmdir(packs);
	for (size_t i = 0; !rc && i < n; i++) {
		char *p = strcmp(names[i], "packs") && strcmp(names[i], FORK_MARK) ? path_join(to, names[i]) : NULL;
		rc = p ? os_unlink(p) : 0;
		free(p);
	}
	os_names_free(names, n);
	os_names_free(pn, np);
	free(conf);
	free(packs);
	return rc;
}

/* Write the fork's marker `mark` into `to` (empty, or cleared). */
static int mark_fork(const char *to, const char *mark, const char *from)
{
	int fd, rc = os_open(&fd, mark, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!rc) {
		rc = os_write(fd, from, strlen(from), mark);
		int rc2 = os_close_checked(fd, mark);
		rc = rc ? rc : rc2;
	}
	return rc ? rc : os_fsync_dir(to);
}

int strata_fork(const char *from, const char *to, uint64_t *copied_out)
{
	err_clear();
	if (!from || !to)
		return err_set(STRATA_EINVAL, "strata_fork needs two paths");
	strata_store *s;
	int rc = strata_open(&s, from, STRATA_OPEN_WRITE, NULL);
	if (rc)
		return rc;
	char *packs = path_join(to, "packs"), *cat = path_join(to, "catalog.db"), *mark = path_join(to, FORK_MARK);
	rc = empty_dir(to);
	if (rc == STRATA_EEXIST && mark && os_exists(mark)) {
		err_clear();
		rc = clear_unfinished_fork(to);
	}
	if (!rc && (!packs || !cat || !mark))
		rc = ERR_NOMEM();
	if (!rc)
		rc = mark_fork(to, mark, from);
	if (!rc)
		rc = os_mkdir_new(packs, 0755);
	if (!rc)
		rc = catalog_copy_to(s->cat, cat);
	catalog_pack *v = NULL;
	size_t n = 0;
	uint64_t copied = 0;
	if (!rc)
		rc = catalog_packs_in(s->cat, 1, INT64_MAX, &v, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		int c = 0;
		char *a = path_join(s->packs, v[i].name), *b = path_join(packs, v[i].name);
		rc = a && b ? os_link_or_copy(a, b, &c) : ERR_NOMEM();
		free(a);
		free(b);
		copied += (uint64_t)c;
	}
	free(v);
	if (!rc)
		rc = os_fsync_dir(packs);
	/* strata.conf last: until it is there, `to` is not a store; then the
	 * marker goes. */
	if (!rc)
		rc = conf_write(to, &s->opts, &s->codecs);
	if (!rc)
		rc = os_unlink(mark);
	if (!rc)
		rc = os_fsync_dir(to);
	strata_close(s);
	free(packs);
	free(cat);
	free(mark);
	if (!rc && copied_out)
		*copied_out = copied;
	return rc;
}
