/* read.c - reconstruct records (read.h). */
#include "read.h"
#include "chunk.h"
#include "runs.h"
#include "delta.h"
#include "patch.h"
#include "repeat.h"
#include "err.h"
#include "os.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static int check_sum(const read_rec *r, const uint8_t *content)
{
	if (XXH3_64bits(content, (size_t)r->size) != r->sum)
		return err_set(STRATA_ECORRUPT, "content checksum mismatch");
	return 0;
}

/* Pooled records' content, kept by record number: the records that refer
 * to them are many (on bench/trace's syscalls, 16,700 references to 1,200
 * pooled records), and a reference read in turn with its neighbours would
 * otherwise make the catalog look up a run of another key each time. At
 * most POOL_CACHE_SLOTS records and POOL_CACHE_BYTES; a full cache is
 * emptied. Pooled records never change, so nothing goes stale. Handles
 * may share one cache (a cursor's workers do, read_pool_join), so it has
 * a mutex, and an entry is counted: the cache holds one reference and
 * each reader one while it uses the content (a cursor's span until it is
 * given back, read_pool_share), so an entry the cache lets go lives until
 * its last reader is done. */
#define POOL_CACHE_SLOTS 4096
#define POOL_CACHE_BYTES (16u << 20)

struct read_pooled {
	atomic_size_t refs;
	uint8_t *bytes;         /* malloc'd */
	size_t len;
	uint64_t sum;           /* XXH3_64bits of bytes (hashed here: a pooled
				 * record in a run of shared checksums has no
				 * hash of its own) */
};

struct pool_cache {
	pthread_mutex_t mu;     /* guards all below */
	size_t users;           /* handles sharing it */
	struct {
		uint64_t n;     /* 0: free */
		read_pooled *e;
	} slot[POOL_CACHE_SLOTS];
	size_t used, bytes;
};

void read_pool_release(read_pooled *e)
{
	if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
		free(e->bytes);
		free(e);
	}
}

static struct pool_cache *pool_cache_of(strata_store *s)
{
	if (!s->pool_cache && (s->pool_cache = calloc(1, sizeof *s->pool_cache)) != NULL) {
		pthread_mutex_init(&s->pool_cache->mu, NULL);
		s->pool_cache->users = 1;
	}
	return s->pool_cache;
}

int read_pool_join(strata_store *from, strata_store *to)
{
	struct pool_cache *c = pool_cache_of(from);
	if (!c)
		return ERR_NOMEM();
	read_pool_clear(to);
	pthread_mutex_lock(&c->mu);
	c->users++;
	pthread_mutex_unlock(&c->mu);
	to->pool_cache = c;
	return 0;
}

void read_pool_clear(strata_store *s)
{
	struct pool_cache *c = s->pool_cache;
	if (!c)
		return;
	s->pool_cache = NULL;
	pthread_mutex_lock(&c->mu);
	int last = --c->users == 0;
	pthread_mutex_unlock(&c->mu);
	if (!last)
		return;
	for (size_t i = 0; i < POOL_CACHE_SLOTS; i++)
		read_pool_release(c->slot[i].e);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static size_t pool_home(uint64_t m)
{
	return (size_t)(m * 0x9e3779b97f4a7c15ull >> 52) & (POOL_CACHE_SLOTS - 1);
}

/* The entry of record m, counted for the caller, or NULL (under c->mu). */
static read_pooled *pool_find(struct pool_cache *c, uint64_t m)
{
	for (size_t k = 0, i = pool_home(m); k < 8; k++) {
		size_t j = (i + k) & (POOL_CACHE_SLOTS - 1);
		if (c->slot[j].n == m) {
			atomic_fetch_add_explicit(&c->slot[j].e->refs, 1, memory_order_relaxed);
			return c->slot[j].e;
		}
	}
	return NULL;
}

/* Keep e as record m's entry, the cache's own count on it (under c->mu). */
static void pool_keep(struct pool_cache *c, uint64_t m, read_pooled *e)
{
	if (c->used >= POOL_CACHE_SLOTS / 2 || c->bytes + e->len > POOL_CACHE_BYTES) {
		for (size_t j = 0; j < POOL_CACHE_SLOTS; j++) {
			read_pool_release(c->slot[j].e);
			c->slot[j].e = NULL;
			c->slot[j].n = 0;
		}
		c->used = c->bytes = 0;
	}
	size_t i = pool_home(m), j = i;
	for (size_t k = 0; k < 8 && c->slot[j].n; k++)
		j = (i + k + 1) & (POOL_CACHE_SLOTS - 1);
	if (c->slot[j].n) { /* all 8 taken: the last probed goes */
		c->bytes -= c->slot[j].e->len;
		read_pool_release(c->slot[j].e);
	} else {
		c->used++;
	}
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	c->slot[j].n = m;
	c->slot[j].e = e;
	c->bytes += e->len;
}

/* Record m of the pool key, checked, read on a miss: *out is counted for
 * the caller (read_pool_release). */
static int pool_record(strata_store *s, uint64_t m, int depth, read_pooled **out)
{
	struct pool_cache *c = pool_cache_of(s);
	if (!c)
		return ERR_NOMEM();
	pthread_mutex_lock(&c->mu);
	read_pooled *e = pool_find(c, m);
	pthread_mutex_unlock(&c->mu);
	if (e) {
		*out = e;
		return 0;
	}
	uint8_t *p;
	size_t len;
	int rc = read_record(s, POOL_KEY, POOL_KEYLEN, m, depth + 1, &p, &len);
	if (rc)
		return err_prefix(rc, "pooled record %" PRIu64 ": ", m);
	if (!(e = malloc(sizeof *e))) {
		free(p);
		return ERR_NOMEM();
	}
	atomic_init(&e->refs, 1);
	e->bytes = p;
	e->len = len;
	e->sum = XXH3_64bits(p, len);
	pthread_mutex_lock(&c->mu);
	read_pooled *had = pool_find(c, m); /* another reader of the cache read it meanwhile */
	if (had) {
		read_pool_release(e);
		e = had;
	} else {
		pool_keep(c, m, e);
	}
	pthread_mutex_unlock(&c->mu);
	*out = e;
	return 0;
}

/* The pooled record a reference names (its encoding enc, r->len bytes),
 * counted for the caller. */
static int pool_ref(strata_store *s, const read_rec *r, const uint8_t *enc, int depth, read_pooled **out)
{
	uint64_t m = 0; /* an empty encoding leaves it unset: malformed */
	if (varint_get(enc, (size_t)r->len, &m) != r->len || m == 0)
		return err_set(STRATA_ECORRUPT, "malformed reference to a pooled record");
	int rc = pool_record(s, m, depth, out);
	if (!rc && (*out)->len != r->size) {
		rc = err_set(STRATA_ECORRUPT, "pooled record %" PRIu64 " has %zu bytes, not %" PRIu64, m,
			     (*out)->len, r->size);
		read_pool_release(*out);
	}
	return rc;
}

int read_pool_share(strata_store *s, const read_rec *r, const uint8_t *enc, const uint8_t **bytes,
		    read_pooled **hold)
{
	read_pooled *e;
	if (r->enc != ENC_POOL || pool_ref(s, r, enc, 0, &e) != 0)
		return -1;
	if (e->sum != r->sum) {
		read_pool_release(e);
		return -1;
	}
	*bytes = e->bytes;
	*hold = e;
	return 0;
}

/* Decode a base delta or patch into *dst, or, when *dst is NULL, into
 * memory allocated once the base is read (the caller's to free, also on
 * failure): a chain of N bases then holds two contents at a time, not N. */
static int on_base(strata_store *s, const read_rec *r, const uint8_t *enc, int depth, uint8_t **dst)
{
	/* Reading the base may reuse the memory `enc` lies in (a cached group
	 * body is evicted by a long chain): keep a copy. */
	uint8_t *delta = malloc(r->len ? (size_t)r->len : 1), *base = NULL;
	size_t base_len = 0;
	if (!delta)
		return ERR_NOMEM();
	memcpy(delta, enc, (size_t)r->len);
	int rc = read_record(s, r->key, r->keylen, r->base, depth + 1, &base, &base_len);
	if (rc)
		err_prefix(rc, "base record %" PRIu64 ": ", r->base);
	else if (!*dst && !(*dst = malloc(r->size ? (size_t)r->size : 1)))
		rc = ERR_NOMEM();
	else if (r->enc == ENC_BASE)
		rc = delta_apply(base, base_len, delta, (size_t)r->len, *dst, (size_t)r->size);
	else
		rc = patch_decode(&s->patch_dec, base, base_len, delta, (size_t)r->len, *dst, (size_t)r->size);
	free(base);
	free(delta);
	return rc;
}

/* Decode r into *dst (r->size bytes), allocated here when NULL (the
 * caller's to free, also on failure). */
static int decode(strata_store *s, const read_rec *r, const uint8_t *prefix, const uint8_t *enc, int depth,
		  uint8_t **out)
{
	int rc = 0, checked = r->shared_checked;
	int on = r->enc == ENC_BASE || r->enc == ENC_PATCH;
	if (!on && !*out && !(*out = malloc(r->size ? (size_t)r->size : 1)))
		return ERR_NOMEM();
	uint8_t *dst = *out;
	switch (r->enc) {
	case ENC_BASE:
	case ENC_PATCH:
		rc = on_base(s, r, enc, depth, out);
		dst = *out;
		break;
	case ENC_LITERAL:
		if (r->len != r->size)
			rc = err_set(STRATA_ECORRUPT, "literal length differs from its size");
		else if (r->size)
			memcpy(dst, enc, (size_t)r->size);
		break;
	case ENC_DELTA:
		rc = delta_apply(prefix, (size_t)r->off, enc, (size_t)r->len, dst, (size_t)r->size);
		break;
	case ENC_POOL: { /* the content of a record of the pool key */
		read_pooled *e;
		rc = pool_ref(s, r, enc, depth, &e);
		if (rc)
			break;
		if (r->size)
			memcpy(dst, e->bytes, e->len);
		/* The cache hashed those bytes once: a matching sum is the
		 * check, without hashing each copy again. */
		checked |= e->sum == r->sum;
		read_pool_release(e);
		break;
	}
	case ENC_CHUNKS: /* on a copy of enc, which the chunks' reads may evict */
		rc = chunk_decode_list(s, enc, (size_t)r->len, dst, r->size, depth);
		break;
	default:
		rc = err_set(STRATA_EFORMAT, "record encoding %d is not supported", r->enc);
	}
	if (!rc && !checked)
		rc = check_sum(r, dst);
	return rc;
}

int read_decode_to(strata_store *s, const read_rec *r, const uint8_t *prefix, const uint8_t *enc, int depth,
		   uint8_t *dst)
{
	return decode(s, r, prefix, enc, depth, &dst);
}

int read_decode(strata_store *s, const read_rec *r, const uint8_t *prefix, const uint8_t *enc, int depth,
		uint8_t **out)
{
	uint8_t *dst = NULL;
	int rc = decode(s, r, prefix, enc, depth, &dst);
	if (rc) {
		free(dst);
		return rc;
	}
	*out = dst;
	return 0;
}

/* A descriptor for a live pack, from the small cache, and its path (the
 * cache's: valid until the next pack_fd, which a base's read may make).
 * STRATA_ENOTFOUND when the pack is gone: the callers say what that means. */
static int pack_fd(strata_store *s, const catalog_loc *loc, int *fd, const char **path)
{
	for (int i = 0; i < STORE_FD_CACHE; i++)
		if (s->fds[i].fd >= 0 && s->fds[i].pack == loc->pack) {
			*fd = s->fds[i].fd;
			*path = s->fds[i].path;
			return 0;
		}
	unsigned slot = s->fd_next++ % STORE_FD_CACHE;
	os_close(s->fds[slot].fd);
	s->fds[slot].fd = -1;
	snprintf(s->fds[slot].path, sizeof s->fds[slot].path, "%s/%s", s->packs, loc->pack_name);
	*path = s->fds[slot].path;
	int rc = os_open(fd, *path, O_RDONLY, 0);
	if (rc)
		return rc;
	s->fds[slot].pack = loc->pack;
	s->fds[slot].fd = *fd;
	return 0;
}

/* Decode body bytes [from, from+len) of loc's group into dst, from its
 * first cend compressed bytes in the pack open at fd. */
static int group_into(strata_store *s, const catalog_loc *loc, int fd, const char *path, uint64_t cend,
		      uint64_t from, uint8_t *dst, size_t len)
{
	pack_src src = { fd, loc->group.offset, path };
	group_loc gl = { loc->group.codec, cend, loc->group.blen };
	return group_read(s->coder, &gl, pack_src_pread, &src, from, dst, len);
}

/* pack_fd for a record the catalog lists: its pack gone is damage. */
static int listed_pack_fd(strata_store *s, const catalog_loc *loc, int *fd, const char **path)
{
	int rc = pack_fd(s, loc, fd, path);
	return rc == STRATA_ENOTFOUND ? err_set(STRATA_ECORRUPT, "pack %s is missing", *path) : rc;
}

/* Read body bytes [from, end) of the record's group into *mem (malloc'd),
 * decompressing its first cend bytes. */
static int fetch(strata_store *s, const catalog_loc *loc, int fd, const char *path, uint64_t from, uint64_t end,
		 uint64_t cend, uint8_t **mem)
{
	uint64_t n = end - from;
	if (n > SIZE_MAX - 1)
		return err_set(STRATA_ENOMEM, "record too large for this machine");
	uint8_t *m = malloc(n ? (size_t)n : 1);
	if (!m)
		return ERR_NOMEM();
	int rc = group_into(s, loc, fd, path, cend, from, m, (size_t)n);
	if (rc) {
		free(m);
		return rc;
	}
	*mem = m;
	return 0;
}

int read_body(strata_store *s, const catalog_loc *loc, uint64_t cend, uint8_t *dst, size_t len)
{
	const char *path;
	int fd;
	int rc = listed_pack_fd(s, loc, &fd, &path);
	return rc ? rc : group_into(s, loc, fd, path, cend, 0, dst, len);
}

/* The body bytes a record needs: its own range for a literal or a base
 * delta, the whole prefix up to its end for an in-group delta. *mem holds
 * body bytes [from, off+len), where from is 0 for an in-group delta and off
 * otherwise. */
static int fetch_record(strata_store *s, const catalog_loc *loc, int fd, const char *path, uint8_t **mem)
{
	uint64_t from = loc->enc == ENC_DELTA ? 0 : loc->off;
	return fetch(s, loc, fd, path, from, loc->off + loc->len, loc->cend, mem);
}

/* Whole decoded group bodies, kept while s->body_cache_on (repack reads
 * every record of a group, in an order of its own; a chunked record's
 * chunks sit in few groups, and an export's chunked files share them). At
 * most READ_CACHE_SLOTS bodies, and beyond the newest at most
 * READ_CACHE_BYTES in all: four of the versions profile's 16 MiB groups,
 * one of the archive profile's 64 MiB, or many small ones. Sixteen slots
 * rather than four: a file whose chunks lie in more groups than there are
 * slots reads them in turn, and the least recently used body was always
 * the next one needed. */
#define READ_CACHE_SLOTS 16
#define READ_CACHE_BYTES (64u << 20)

struct read_cache {
	struct {
		int64_t pack;
		uint32_t grp;
		uint8_t *body;    /* NULL when the slot is free */
		uint64_t len;
		size_t cap;       /* bytes body can hold */
		uint64_t used;    /* tick of the last use */
	} slot[READ_CACHE_SLOTS];
	uint64_t tick;
	/* The records sharing a checksum last checked in a cached body
	 * (ok_pack 0: none): reading the others need not hash them again. */
	int64_t ok_pack;
	uint32_t ok_grp;
	uint64_t ok_off;
};

void read_cache_clear(strata_store *s)
{
	if (!s->cache)
		return;
	for (int i = 0; i < READ_CACHE_SLOTS; i++)
		free(s->cache->slot[i].body);
	free(s->cache);
	s->cache = NULL;
	s->body_cache_on = 0;
}

/* The whole body of the record's group, from the cache or decoded into it.
 * The pointer stays valid until the cache is cleared or the slot reused. */
static int cached_body(strata_store *s, const catalog_loc *loc, int fd, const char *path, const uint8_t **body)
{
	if (!s->cache && !(s->cache = calloc(1, sizeof *s->cache)))
		return ERR_NOMEM();
	struct read_cache *c = s->cache;
	int victim = 0;
	for (int i = 0; i < READ_CACHE_SLOTS; i++) {
		if (c->slot[i].body && c->slot[i].pack == loc->pack && c->slot[i].grp == loc->grp) {
			c->slot[i].used = ++c->tick;
			*body = c->slot[i].body;
			return 0;
		}
		if (!c->slot[i].body || (c->slot[victim].body && c->slot[i].used < c->slot[victim].used))
			victim = i;
	}
	/* The victim's memory is reused when large enough: its pages are
	 * already mapped. */
	uint8_t *b = c->slot[victim].body;
	if (b && c->slot[victim].cap < loc->group.blen) {
		free(b);
		b = NULL;
	}
	c->slot[victim].body = NULL;
	if (!b && !(b = os_alloc_big(os_huge_round((size_t)loc->group.blen), &c->slot[victim].cap)))
		return ERR_NOMEM();
	c->ok_pack = 0; /* a body decoded anew is checked anew */
	int rc = group_into(s, loc, fd, path, loc->group.clen, 0, b, (size_t)loc->group.blen);
	if (rc) {
		free(b);
		return rc;
	}
	c->slot[victim].pack = loc->pack;
	c->slot[victim].grp = loc->grp;
	c->slot[victim].body = b;
	c->slot[victim].len = loc->group.blen;
	c->slot[victim].used = ++c->tick;
	/* Drop the least recently used others while the bodies pass the cap. */
	for (;;) {
		uint64_t total = 0;
		int lru = -1;
		for (int i = 0; i < READ_CACHE_SLOTS; i++) {
			if (!c->slot[i].body)
				continue;
			total += c->slot[i].cap;
			if (i != victim && (lru < 0 || c->slot[i].used < c->slot[lru].used))
				lru = i;
		}
		if (total <= READ_CACHE_BYTES || lru < 0)
			break;
		free(c->slot[lru].body);
		c->slot[lru].body = NULL;
	}
	*body = b;
	return 0;
}

/* A record that shares its checksum (a literal): fetch it with those
 * sharing it, or find them in a cached body, and check them. *enc points at the record's encoding, in
 * *mem (malloc'd) or in the cache. */
static int shared_fetch(strata_store *s, const catalog_loc *loc, int fd, const char *path, uint8_t **mem,
			const uint8_t **enc)
{
	const pack_record *run = loc->shared, *last = &run[run->rcount - 1];
	uint64_t from = run->off;
	if (s->body_cache_on) {
		const uint8_t *body;
		int rc = cached_body(s, loc, fd, path, &body);
		struct read_cache *c = s->cache;
		if (!rc && !(c->ok_pack == loc->pack && c->ok_grp == loc->grp && c->ok_off == from)) {
			if (last->off + last->len > loc->group.blen)
				return err_set(STRATA_ECORRUPT, "record run lies past its group's end");
			if (!(rc = run_check(run, body + from, from)))
				c->ok_pack = loc->pack, c->ok_grp = loc->grp, c->ok_off = from;
		}
		if (!rc)
			*enc = body + loc->off;
		return rc;
	}
	/* The last record's prefix: the run ends in one block, whose end
	 * every record's prefix reaches. */
	int rc = fetch(s, loc, fd, path, from, last->off + last->len, last->cend, mem);
	if (!rc && (rc = run_check(run, *mem, from)) != 0) {
		free(*mem);
		*mem = NULL;
	}
	if (!rc)
		*enc = *mem + (loc->off - from);
	return rc;
}

int read_record(strata_store *s, const void *key, size_t keylen, uint64_t n, int depth, uint8_t **out,
		size_t *len)
{
	if (depth > READ_MAX_DEPTH)
		return err_set(STRATA_ECORRUPT, "chain of base records longer than %d", READ_MAX_DEPTH);
	catalog_loc loc;
	const char *path;
	int fd, rc;
	/* A pack gone between the lookup and the open was superseded by a
	 * repack in between (or is damage): look again. */
	for (int tries = 0;; tries++) {
		if ((rc = catalog_lookup(s->cat, key, keylen, n, &loc)) != 0)
			return rc;
		rc = pack_fd(s, &loc, &fd, &path);
		if (rc != STRATA_ENOTFOUND)
			break;
		if (tries == 3)
			return err_set(STRATA_ECORRUPT, "pack %s is missing", path);
		catalog_forget(s->cat);
	}
	if (rc)
		return rc;
	if ((loc.enc == ENC_BASE || loc.enc == ENC_PATCH) && (loc.base == 0 || loc.base >= n))
		return err_set(STRATA_ECORRUPT, "record %" PRIu64 " has a malformed base reference", n);
	uint8_t *mem = NULL;
	const uint8_t *prefix = NULL, *enc = NULL;
	if (loc.shared) {
		rc = shared_fetch(s, &loc, fd, path, &mem, &enc);
	} else if (s->body_cache_on) {
		rc = cached_body(s, &loc, fd, path, &prefix);
		enc = prefix ? prefix + loc.off : NULL;
	} else if (!(rc = fetch_record(s, &loc, fd, path, &mem))) {
		prefix = loc.enc == ENC_DELTA ? mem : NULL;
		enc = loc.enc == ENC_DELTA ? mem + loc.off : mem;
	}
	if (!rc) {
		read_rec r = { key, keylen, n, loc.enc, loc.off, loc.len, loc.size, loc.sum, loc.base, loc.shared != NULL };
		rc = read_decode(s, &r, prefix, enc, depth, out);
	}
	free(mem);
	if (rc) {
		/* A reserved key starts with a NUL byte: show it as "\0...". */
		const char *k = key;
		int reserved = keylen && k[0] == '\0';
		/* `path` may name another pack by now (a base's read): loc's. */
		return err_prefix(rc, "pack %s/%s, key '%s%.*s', record %" PRIu64 ": ", s->packs, loc.pack_name,
				  reserved ? "\\0" : "",
				  (int)(keylen > 200 ? 200 : keylen) - reserved, k + reserved, n);
	}
	*len = (size_t)loc.size;
	return 0;
}

int read_encoding(strata_store *s, const catalog_loc *loc, uint8_t **out)
{
	const char *path;
	int fd;
	uint8_t *mem = NULL;
	int rc = listed_pack_fd(s, loc, &fd, &path);
	if (!rc)
		rc = fetch_record(s, loc, fd, path, &mem);
	if (rc)
		return err_prefix(rc, "pack %s: ", path);
	if (loc->enc == ENC_DELTA) /* fetch kept the prefix before it */
		memmove(mem, mem + loc->off, (size_t)loc->len);
	*out = mem;
	return 0;
}
