/* repack.c - strata_repack(): merge a run of live packs into one pack of
 * their whole range (docs/FORMAT.md, "Repack protocol"). */
#include "bytes.h"
#include "chunk.h"
#include "delta.h"
#include "err.h"
#include "read.h"
#include "store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_PACK (4u << 20) /* commit packs under this size count towards repack_after */
/* A full repack is where storage gets tight: it compresses zstd groups at
 * least this hard (zstd 19 reads back as fast as 3; it only writes slower).
 * Automatic tail repacks run inside commits and keep the store's levels. */
#define REPACK_LEVEL 19

typedef struct rp {
	strata_store *s;
	unitw *u;
	uint64_t first, last;
	uint64_t next_unit;       /* next unit to describe */
	uint64_t done, total;     /* records */
	strata_progress_cb *progress;
	void *ctx;
} rp;

static int describe_unit(void *ctx, const strata_unit_info *ui)
{
	rp *r = ctx;
	if (ui->unit < r->first || ui->unit > r->last)
		return 0;
	if (ui->unit != r->next_unit)
		return err_set(STRATA_ECORRUPT, "unit %" PRIu64 " is missing from the catalog", r->next_unit);
	r->next_unit++;
	return unitw_add_unit(r->u, ui->unit, ui->time, ui->label, strlen(ui->label));
}

/* One record to move, its key in the arena. */
typedef struct row {
	size_t key_off, keylen;
	uint64_t n, unit;
	unsigned size_class;    /* of its key (see size_classes) */
} row;

typedef struct rows {
	row *v;
	size_t n, cap;
	bytebuf keys;           /* key bytes of every row */
	int newest_first;
} rows;

static int collect_row(void *ctx, const void *key, size_t keylen, uint64_t n, uint64_t unit)
{
	rows *rs = ctx;
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 1024;
		row *nv = realloc(rs->v, nc * sizeof *nv);
		if (!nv)
			return ERR_NOMEM();
		rs->v = nv;
		rs->cap = nc;
	}
	/* Rows of one key arrive together: store its bytes once. */
	row *prev = rs->n ? &rs->v[rs->n - 1] : NULL;
	size_t off = rs->keys.len;
	if (prev && prev->keylen == keylen && !memcmp(rs->keys.p + prev->key_off, key, keylen))
		off = prev->key_off;
	else if (buf_append(&rs->keys, key, keylen))
		return STRATA_ENOMEM;
	rs->v[rs->n++] = (row){ off, keylen, n, unit, 0 };
	return 0;
}

/* Order keys by size class, then so that files likely alike sit together,
 * as git's name hash does: by base name read backwards (extension first),
 * then by path.
 *
 * A record joins the open group only while the group's compressed prefix
 * stays within its own read cost, a multiple of its size: after a large
 * file's history, a small file's first record closes the group. Keys of
 * one power-of-two size class together let groups fill up: on 40 versions
 * of react-dom (60 files), 12 groups of 2.24 MB became 6 of 1.97 MB, and
 * 4 of 1.58 MB with 8 MiB groups. Ordering by size alone did as well there
 * but cost 4% on this repository's own history, where names matter more. */

/* The size class of each key: the bit length of its largest record in the
 * range. Rows of a key are adjacent and their numbers consecutive: one
 * lookup per footer run of them. */
static int size_classes(strata_store *s, rows *rs)
{
	for (size_t i = 0, j; i < rs->n; i = j) {
		uint64_t lo = rs->v[i].n, hi = lo, size = 0;
		for (j = i + 1; j < rs->n && rs->v[j].key_off == rs->v[i].key_off; j++) {
			lo = rs->v[j].n < lo ? rs->v[j].n : lo;
			hi = rs->v[j].n > hi ? rs->v[j].n : hi;
		}
		for (uint64_t n = lo; n <= hi;) {
			catalog_loc loc;
			const pack_record *run;
			size_t nrun;
			int rc = catalog_lookup_run(s->cat, rs->keys.p + rs->v[i].key_off, rs->v[i].keylen, n, &loc, &run,
						    &nrun);
			if (rc)
				return rc;
			for (size_t k = 0; k < nrun && n <= hi; k++, n++)
				size = run[k].size > size ? run[k].size : size;
		}
		unsigned c = 0;
		for (; size; size >>= 1)
			c++;
		for (size_t t = i; t < j; t++)
			rs->v[t].size_class = c;
	}
	return 0;
}

static size_t base_start(const uint8_t *k, size_t len)
{
	while (len > 0 && k[len - 1] != '/')
		len--;
	return len;
}

static int cmp_keys(const uint8_t *kx, size_t lx, const uint8_t *ky, size_t ly)
{
	size_t bx = base_start(kx, lx), by = base_start(ky, ly), i = lx, j = ly;
	for (; i > bx && j > by; i--, j--)
		if (kx[i - 1] != ky[j - 1])
			return kx[i - 1] < ky[j - 1] ? -1 : 1;
	if ((i > bx) != (j > by))
		return i > bx ? 1 : -1;
	int c = memcmp(kx, ky, lx < ly ? lx : ly);
	return c ? c : lx < ly ? -1 : lx > ly;
}

static int cmp_rows(const void *a, const void *b, void *ctx)
{
	const row *x = a, *y = b;
	const rows *rs = ctx;
	if (x->size_class != y->size_class)
		return x->size_class < y->size_class ? -1 : 1;
	if (x->key_off != y->key_off) {
		int c = cmp_keys(rs->keys.p + x->key_off, x->keylen, rs->keys.p + y->key_off, y->keylen);
		if (c)
			return c;
	}
	if (x->n == y->n)
		return 0;
	/* Chunks go oldest first, so that each finds the similar chunk it
	 * was coded against already moved (see move_records). */
	int newest_first = rs->newest_first && !(x->keylen == CHUNK_KEYLEN &&
						 !memcmp(rs->keys.p + x->key_off, CHUNK_KEY, CHUNK_KEYLEN));
	return (x->n < y->n) != newest_first ? -1 : 1;
}

static int move_records(rp *r, rows *rs)
{
	if (rs->n > 1)
		qsort_r(rs->v, rs->n, sizeof *rs->v, cmp_rows, rs);
	int rc = 0;
	for (size_t i = 0; !rc && i < rs->n; i++) {
		const row *w = &rs->v[i];
		const uint8_t *key = rs->keys.p + w->key_off;
		uint8_t *data;
		size_t len;
		catalog_loc loc;
		unitw_hint h = { .chunk_list = 1 };
		rc = catalog_lookup(r->s->cat, key, w->keylen, w->n, &loc);
		if (!rc && loc.enc == ENC_CHUNKS) {
			/* A chunk list moves as it is: its chunks move as
			 * records of the chunk key. */
			h.size = loc.size;
			h.sum = loc.sum;
			len = (size_t)loc.len;
			rc = read_encoding(r->s, &loc, &data);
		} else if (!rc && loc.enc == ENC_POOL) {
			/* A reference to a pooled record stays one. */
			uint8_t *ref = NULL;
			uint64_t m = 0;
			rc = read_encoding(r->s, &loc, &ref);
			if (!rc && (varint_get(ref, (size_t)loc.len, &m) != loc.len || m == 0))
				rc = err_set(STRATA_ECORRUPT, "malformed reference to a pooled record");
			free(ref);
			h = (unitw_hint){ .pool = m };
			if (!rc)
				rc = read_record(r->s, key, w->keylen, w->n, 0, &data, &len);
		} else if (!rc) {
			/* A chunk keeps its similar base, when it had one. */
			h = (unitw_hint){ .base = (loc.enc == ENC_BASE || loc.enc == ENC_PATCH) && w->keylen == CHUNK_KEYLEN &&
							  !memcmp(key, CHUNK_KEY, CHUNK_KEYLEN) ? loc.base : 0,
					    .patch = loc.enc == ENC_PATCH };
			rc = read_record(r->s, key, w->keylen, w->n, 0, &data, &len);
		}
		if (!rc)
			rc = unitw_put_at(r->u, key, w->keylen, w->n, w->unit, &h, data, len, strata_release_free, NULL);
		if (!rc && r->progress)
			r->progress(r->ctx, ++r->done, r->total);
	}
	return rc;
}

/* A full repack's codecs: the store's, zstd at REPACK_LEVEL at least.
 * Other codecs keep their level: whoever chose lz4 or none chose speed. */
static int full_repack_codec_of(void *ctx, const void *key, size_t keylen, int *codec, int *level)
{
	int rc = store_codec_of(ctx, key, keylen, codec, level);
	if (!rc && *codec == CODEC_ZSTD && *level < REPACK_LEVEL)
		*level = REPACK_LEVEL;
	return rc;
}

static int repack_range(strata_store *s, uint64_t first, uint64_t last, uint64_t records, int flags,
			strata_progress_cb *progress, void *ctx)
{
	unitw_config cfg = { .packs_dir = s->packs, .first = first, .last = last, .repack = 1,
			     .repack_bases = (flags & STRATA_REPACK_OLDEST_FIRST) != 0,
			     .group_cap = s->opts.group_cap,
			     .codec_of = flags & STRATA_REPACK_TAIL ? store_codec_of : full_repack_codec_of,
			     .codec_ctx = s, .chain_max = s->opts.chain_max, .read_cost_max = s->opts.read_cost_max,
			     .delta_above = s->opts.delta_above,
			     .store = s, .cat = s->cat, .coder = s->coder };
	rp r = { s, NULL, first, last, first, 0, records, progress, ctx };
	int rc = unitw_new(&r.u, &cfg);
	if (!rc)
		rc = catalog_foreach_unit(s->cat, describe_unit, &r);
	if (!rc && r.next_unit != last + 1)
		rc = err_set(STRATA_ECORRUPT, "units %" PRIu64 "..%" PRIu64 " are not all in the catalog", first, last);
	rows rs = { .newest_first = !(flags & STRATA_REPACK_OLDEST_FIRST) };
	if (!rc)
		rc = catalog_foreach_in_range(s->cat, first, last, rs.newest_first, collect_row, &rs);
	if (!rc)
		rc = size_classes(s, &rs);
	s->body_cache_on = 1;
	if (!rc)
		rc = move_records(&r, &rs);
	read_cache_clear(s);
	free(rs.v);
	buf_free(&rs.keys);
	unitw_result res;
	if (!rc)
		rc = unitw_finish(r.u, NULL, &res);
	if (!rc)
		rc = store_file_pack(s, res.footer, res.name, res.bytes);
	unitw_free(r.u);
	return rc ? err_prefix(rc, "repacking units %" PRIu64 "..%" PRIu64 ": ", first, last) : 0;
}

/* The run of live packs to merge, as the index of its first pack in p (n
 * when none): all adjacent packs, or for a tail repack the newest packs
 * plus each older one no larger than twice what is merged so far. The
 * geometric rule keeps pack sizes tiered, so each byte is rewritten about
 * log(units) times over the life of a store, not once per repack. */
static size_t pick_run(const catalog_pack *p, size_t n, int tail)
{
	size_t i = n;
	uint64_t merged = 0;
	while (i > 0 && (i == n || p[i - 1].last + 1 == p[i].first)) {
		if (tail && n - i >= 2 && p[i - 1].bytes > 2 * merged)
			break;
		merged += p[i - 1].bytes;
		i--;
	}
	return i;
}

/* Trailing packs written by commits and never repacked. */
static size_t fresh_tail(const catalog_pack *p, size_t n)
{
	size_t k = 0;
	while (k < n && p[n - 1 - k].first == p[n - 1 - k].last && p[n - 1 - k].bytes < SMALL_PACK)
		k++;
	return k;
}

static int records_in(strata_store *s, const catalog_pack *p, size_t n, uint64_t *records)
{
	*records = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t c;
		int rc = catalog_pack_record_count(s->cat, p[i].id, &c);
		if (rc)
			return rc;
		*records += c;
	}
	return 0;
}

int strata_repack(strata_store *s, int flags, strata_progress_cb *progress, void *ctx, strata_repack_result *res)
{
	err_clear();
	if (!s)
		return err_set(STRATA_EINVAL, "strata_repack needs a store");
	if (!s->writable)
		return err_set(STRATA_EREADONLY, "store %s is open read-only", s->root);
	if (s->unit || (s->pipe && pipe_pending(s->pipe)))
		return err_set(STRATA_EINVAL, "commit or roll back the unit in progress before repacking");
	int rc = s->pipe ? pipe_wait(s->pipe, NULL) : 0; /* every commit filed */
	if (rc)
		return rc;
	if (s->codecs.unknown[0])
		return err_set(STRATA_EFORMAT, "%s/strata.conf names codec '%s', which this build does not know: "
			       "it cannot repack this store", s->root, s->codecs.unknown);
	catalog_pack *p;
	size_t n;
	strata_repack_result r = { 0 };
	rc = catalog_packs_in(s->cat, 1, INT64_MAX, &p, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		r.bytes_before += p[i].bytes;
	r.packs_before = r.packs_after = n;
	r.bytes_after = r.bytes_before;
	size_t from = pick_run(p, n, flags & STRATA_REPACK_TAIL);
	uint64_t records;
	if (n - from >= 2 && !(rc = records_in(s, p + from, n - from, &records)))
		rc = repack_range(s, p[from].first, p[n - 1].last, records, flags, progress, ctx);
	/* A full repack replaced nearly every row: the catalog's pages are
	 * left half full. Compacting them is worth a rewrite here, not after
	 * the tail repacks that run inside commits. It is only a saving: the
	 * repack stands if it fails (say, no room for SQLite's temporary
	 * copy). */
	if (!rc && n - from >= 2 && !(flags & STRATA_REPACK_TAIL) && catalog_compact(s->cat))
		err_clear();
	free(p);
	if (!rc && (rc = catalog_packs_in(s->cat, 1, INT64_MAX, &p, &n)) == 0) {
		r.packs_after = n;
		r.bytes_after = 0;
		for (size_t i = 0; i < n; i++)
			r.bytes_after += p[i].bytes;
		free(p);
	}
	if (res)
		*res = r;
	return rc;
}

int store_auto_repack(strata_store *s)
{
	if (s->opts.repack_after == 0)
		return 0;
	catalog_pack *p;
	size_t n;
	int rc = catalog_packs_in(s->cat, 1, INT64_MAX, &p, &n);
	if (rc)
		return rc;
	size_t fresh = fresh_tail(p, n);
	free(p);
	return fresh >= (size_t)s->opts.repack_after ? strata_repack(s, STRATA_REPACK_TAIL, NULL, NULL, NULL) : 0;
}
