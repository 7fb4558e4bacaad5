/* unitw.c - the unit in progress (unitw.h). */
#include "unitw.h"
#include "bytes.h"
#include "delta.h"
#include "err.h"
#include "keymap.h"
#include "patch.h"
#include "read.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define SMALL_RECORD 4096 /* records under this count as this for read cost */

/* Where a record sits in its chain of bases. */
typedef struct chain_rec {
	uint64_t n;
	uint64_t base;     /* 0 unless a base delta */
	uint64_t cost;     /* bytes read to reconstruct it (an upper bound) */
	int depth;         /* groups touched to reconstruct it */
} chain_rec;

/* A key's codec and level, asked once per unit. */
typedef struct key_codec {
	int codec, level;
} key_codec;

/* A record chosen for the open group. */
typedef struct choice {
	int enc;
	const uint8_t *p;  /* the encoding: the caller's data or u->enc */
	size_t len;
	uint64_t base;     /* ENC_BASE: base record number */
	uint64_t base_cost;/* ENC_BASE: bytes read to reconstruct the base */
	int base_depth;    /* ENC_BASE: groups touched to reconstruct the base */
} choice;

struct unitw {
	unitw_config cfg;
	pack_writer *pw;
	keymap *keys;
	/* the open group */
	int open;
	int codec, level;       /* its codec and level (or the next group's) */
	uint64_t gstart;        /* pack offset where it began */
	uint64_t group_seq;     /* groups begun so far (the open one's number) */
	uint64_t blen;          /* its body's length so far */
	bytebuf body;           /* its body so far, kept only with ix (the
				 * codecs keep their own window) */
	delta_index *ix;        /* over the body's new bytes; NULL when no
				 * record is delta-coded against its group
				 * (delta_above 0, chain_max 1) */
	pack_record *recs;      /* its records (group index set at close) */
	size_t nrecs, cap_recs;
	size_t first_open;      /* recs[first_open..] await a compressed prefix */
	/* scratch */
	bytebuf enc;            /* a delta being built */
	delta_lits lits;        /* where its inserts lie */
	delta_index *bix;       /* over a base record's content */
	patch_coder *pc;        /* base patches (made on first use) */
	bytebuf penc;           /* a patch being built */
	/* records written for the key being repacked (repack goes key by key) */
	uint32_t run_key;
	chain_rec *run;
	size_t nrun, cap_run;
	key_codec *kcodec;      /* each key's, by footer key index */
	size_t cap_kcodec;
	int failed;             /* an earlier write failed; the unit is lost */
	int base_ok;            /* unitw_put_numbered: the record's say on
				 * base deltas; -1 otherwise */
	uint64_t expect;        /* bytes of records still to come in this
				 * piece (unitw_expect), 0: unknown */
	unitw_base *pre;        /* unitw_put_numbered: the record coded
				 * against its base ahead, or NULL */
};

int unitw_new(unitw **out, const unitw_config *cfg)
{
	unitw *u = calloc(1, sizeof *u);
	if (!u)
		return ERR_NOMEM();
	u->cfg = *cfg;
	u->base_ok = -1;
	int rc = keymap_new(&u->keys);
	if (!rc && (cfg->delta_above || cfg->chain_max > 1))
		rc = delta_index_new(&u->ix, (size_t)cfg->group_cap);
	if (!rc)
		rc = delta_index_new(&u->bix, (size_t)cfg->group_cap);
	if (!rc)
		rc = cfg->packs_dir ? pack_writer_new(&u->pw, cfg->packs_dir, cfg->first, cfg->last, (int64_t)time(NULL))
				    : pack_writer_new_mem(&u->pw);
	if (rc) {
		unitw_free(u);
		return rc;
	}
	*out = u;
	return 0;
}

/* Body bytes between block ends: a quarter of what a small record's read
 * may cost, within GROUP_FLUSH_MIN..GROUP_FLUSH_MAX (versions, read cost 4:
 * 4 KiB; archive, 8: 8 KiB; trace, 64: 64 KiB). Longer blocks compress
 * better: on bench/trace, 64 KiB rather than 4 stored 3.5% less (54.11 ->
 * 52.20 MB) and loaded in 23% less time. */
static size_t flush_len(const unitw *u)
{
	uint64_t b = (uint64_t)SMALL_RECORD * (uint64_t)u->cfg.read_cost_max / 4;
	return b < GROUP_FLUSH_MIN ? GROUP_FLUSH_MIN : b > GROUP_FLUSH_MAX ? GROUP_FLUSH_MAX : (size_t)b;
}

/* Most compressed bytes a get of a record of `size` bytes may read. */
static uint64_t cost_cap(const unitw *u, size_t size)
{
	uint64_t s = size < SMALL_RECORD ? SMALL_RECORD : size;
	return s * (uint64_t)u->cfg.read_cost_max;
}

static int begin_group(unitw *u)
{
	int rc = group_enc_begin(u->cfg.coder, u->codec, u->level, pack_writer_sink, u->pw);
	if (rc)
		return rc;
	group_enc_flush_min(u->cfg.coder, flush_len(u));
	if (u->expect)
		group_enc_size_hint(u->cfg.coder, u->expect < u->cfg.group_cap ? u->expect : u->cfg.group_cap);
	u->gstart = pack_writer_bytes(u->pw);
	u->blen = u->body.len = 0;
	u->nrecs = u->first_open = 0;
	delta_index_reset(u->ix);
	u->group_seq++;
	u->open = 1;
	return 0;
}

static int close_group(unitw *u)
{
	if (!u->open)
		return 0;
	u->open = 0;
	group_out go;
	uint32_t g;
	int rc = group_enc_end(u->cfg.coder, &go);
	if (!rc)
		rc = pack_writer_end_group(u->pw, u->gstart, u->codec, u->level, &go, &g);
	for (size_t i = 0; !rc && i < u->nrecs; i++) {
		u->recs[i].group = g;
		if (i >= u->first_open)
			u->recs[i].cend = go.clen;
		rc = pack_writer_add_record(u->pw, &u->recs[i]);
	}
	u->nrecs = u->first_open = 0;
	return rc;
}

/* Record n's place in its chain: from this repack's own records of the key,
 * else from the catalog (walking its bases). */
static int chain_info(unitw *u, uint32_t key_idx, const void *key, size_t keylen, uint64_t n, chain_rec *out)
{
	if (u->cfg.repack && u->nrun && u->run_key == key_idx)
		for (size_t i = u->nrun; i-- > 0;)
			if (u->run[i].n == n) {
				*out = u->run[i];
				return 0;
			}
	*out = (chain_rec){ n, 0, 0, 0 };
	for (uint64_t m = n; m && out->depth <= u->cfg.chain_max;) {
		catalog_loc loc;
		int rc = catalog_lookup(u->cfg.cat, key, keylen, m, &loc);
		if (rc)
			return rc;
		if (m == n)
			out->base = loc.enc == ENC_BASE || loc.enc == ENC_PATCH ? loc.base : 0;
		out->depth++;
		out->cost += loc.cend;
		m = loc.enc == ENC_BASE || loc.enc == ENC_PATCH ? loc.base : 0;
	}
	return 0;
}

/* The base for a new record: `from` (record n - 1, or the caller's hint) if
 * its chain has room, else the nearest of its bases that has (so full texts
 * stay rare while chains stay within chain_max, as sparse snapshots do). */
static int pick_base(unitw *u, uint32_t key_idx, const void *key, size_t keylen, uint64_t from, chain_rec *b)
{
	int rc = chain_info(u, key_idx, key, keylen, from, b);
	while (!rc && b->depth >= u->cfg.chain_max && b->base)
		rc = chain_info(u, key_idx, key, keylen, b->base, b);
	if (!rc && b->depth >= u->cfg.chain_max)
		b->n = 0; /* no room anywhere */
	return rc;
}

/* The zstd level of base patches for the open codec, or 0 for none: only
 * where the caller asks (hint->patch), and only for zstd and xz keys (a
 * patch costs zstd's time, which a key of lz4 or none did not choose). */
static int patch_level(int codec, int level, const unitw_hint *h)
{
	if (!h || !h->patch)
		return 0;
	if (codec == CODEC_ZSTD)
		return level;
	return codec == CODEC_XZ ? 12 : 0;
}

/* The base a record of `len` bytes hinted at `from` is coded against
 * (pick_base) and, where a get of the record through it stays within the
 * read cost cap, its content (*base, the caller's to free; else NULL). */
static int fetch_base(unitw *u, uint32_t key_idx, const void *key, size_t keylen, uint64_t from, size_t len,
		      chain_rec *b, uint8_t **base, size_t *blen)
{
	*base = NULL;
	*blen = 0;
	int rc = pick_base(u, key_idx, key, keylen, from, b);
	if (!rc && b->n && b->cost + flush_len(u) <= cost_cap(u, len))
		rc = read_record(u->cfg.store, key, keylen, b->n, 0, base, blen);
	return rc;
}

/* Try coding the record against an earlier record of the key, from
 * `from`'s chain: a copy/insert delta, and where patch_level allows and no
 * delta of at most half the record was found, a base patch. A delta leaves
 * what it inserts as literals in the group, where the group's codec codes
 * a change that several records share once (the bundles of one release of
 * a package repeat each other's changes); a patch is compressed alone. On
 * the 20 typescript releases of bench/archive at zstd:12, deltas first
 * stored 4.76 MB where patches first (patch only, for records of 256 KiB
 * and up) stored 4.81 MB, in 17% less time. An in-group delta already in c
 * (u->enc) is kept by try_base, which calls this for a key of `codec` and a
 * patch level (0: none). The choice may point into u->enc or u->penc, and
 * u->lits says where a base delta's inserts lie. */
static int code_base(unitw *u, uint32_t key_idx, const void *key, size_t keylen, uint64_t from, int codec,
		     int level, const uint8_t *data, size_t len, choice *c)
{
	chain_rec b;
	uint8_t *base;
	size_t blen;
	int rc = fetch_base(u, key_idx, key, keylen, from, len, &b, &base, &blen);
	/* A damaged base (which get and verify report) is no base: the
	 * record is stored without one rather than the put failing. */
	if (rc == STRATA_ECORRUPT || rc == STRATA_EFORMAT) {
		err_clear();
		return 0;
	}
	if (rc)
		return err_prefix(rc, "reading the base of a new record: ");
	if (!base)
		return 0;
	/* Even alone in a new group, the delta's read adds to its base's. */
	uint64_t room = cost_cap(u, len) - b.cost - flush_len(u) - group_codec_slack(codec);
	/* Sized for this base alone: the delta is the same whichever worker
	 * codes it (unitw_fetch_base), whatever it indexed before. */
	rc = delta_index_reset_for(u->bix, blen);
	u->enc.len = 0;
	if (!rc)
		rc = delta_index_add(u->bix, base, 0, blen);
	if (!rc)
		rc = delta_encode(u->bix, base, blen, data, len, len / 2, &u->enc, &u->lits);
	if (rc == 0 && u->enc.len <= room)
		*c = (choice){ ENC_BASE, u->enc.p, u->enc.len, b.n, b.cost, b.depth };
	rc = rc == DELTA_TOO_BIG ? 0 : rc;
	if (!rc && level && c->enc == ENC_LITERAL && len / 2 > 0) {
		rc = u->pc ? 0 : patch_coder_new(&u->pc);
		if (!rc)
			rc = patch_encode(u->pc, base, blen, data, len, level, len / 2 - 1, &u->penc);
		if (rc == 0 && u->penc.len <= room)
			*c = (choice){ ENC_PATCH, u->penc.p, u->penc.len, b.n, b.cost, b.depth };
		rc = rc == PATCH_TOO_BIG ? 0 : rc;
	}
	free(base);
	return rc;
}

void unitw_fetch_base(unitw *u, const void *key, size_t keylen, const unitw_hint *h, const void *data, size_t len,
		      unitw_base *out)
{
	*out = (unitw_base){ .from = h->base };
	int codec = 0, level = 0;
	choice c = { ENC_LITERAL, data, len, 0, 0, 0 };
	int rc = u->cfg.codec_of(u->cfg.codec_ctx, key, keylen, &codec, &level);
	out->codec = codec;
	out->level = patch_level(codec, level, h);
	if (!rc)
		rc = code_base(u, UINT32_MAX, key, keylen, h->base, codec, out->level, data, len, &c);
	if (!rc && c.enc != ENC_LITERAL) {
		out->p = malloc(c.len ? c.len : 1);
		rc = out->p ? 0 : ERR_NOMEM();
	}
	if (!rc && c.enc != ENC_LITERAL) {
		memcpy(out->p, c.p, c.len);
		out->enc = c.enc;
		out->len = c.len;
		out->base = c.base;
		out->cost = c.base_cost;
		out->depth = c.base_depth;
		if (c.enc == ENC_BASE) { /* its inserts, for the group's index */
			out->lits = u->lits;
			u->lits = (delta_lits){ 0 };
		}
	}
	out->rc = rc;
	err_clear(); /* a failure is the put's to meet and report */
}

void unitw_base_clear(unitw_base *b)
{
	free(b->p);
	b->p = NULL;
	delta_lits_free(&b->lits);
}

static int try_base(unitw *u, uint32_t key_idx, const void *key, size_t keylen, uint64_t from,
		    const unitw_hint *h, const uint8_t *data, size_t len, choice *c)
{
	if (c->enc == ENC_DELTA)
		return 0;
	int level = patch_level(u->codec, u->level, h);
	unitw_base *pre = u->pre;
	if (!pre || pre->rc || pre->from != from || pre->codec != u->codec || pre->level != level || u->cfg.repack)
		return code_base(u, key_idx, key, keylen, from, u->codec, level, data, len, c);
	if (pre->enc) {
		*c = (choice){ pre->enc, pre->p, pre->len, pre->base, pre->cost, pre->depth };
		delta_lits t = u->lits; /* u->lits is scratch: pre frees it */
		u->lits = pre->lits;
		pre->lits = t;
	}
	return 0;
}

/* Whether an in-group delta of dlen bytes (at most half the record, as
 * Bazaar keeps) is worth keeping for a record of len bytes. Under zstd's
 * strongest parsers (level 19 and up, as a full repack writes) only when it
 * is a 64th of the record or less: those find in a literal, within their
 * window, what a copy/insert delta would copy, and code it more tightly. On
 * 40 versions of react-dom (bench/versions), with groups of 8 MiB, packs
 * after a repack of 1.36 with a 32nd against 1.58 MB with half (a 50th:
 * 1.33, a 20th: 1.39); with groups of 16 MiB, 1.186 with a 64th against
 * 1.210 with a 32nd (a 48th: 1.197, a 96th: 1.186, a 256th: 1.177 but
 * 1.256 with a 128th, as group ends fall). On this repository's history,
 * 538.4 KB with a 64th, 538.2 with a 32nd, 540.1 with a 96th. At zstd:3,
 * a 50th stored 9% more than half. */
static int keep_delta(const unitw *u, size_t dlen, size_t len)
{
	return !(u->codec == CODEC_ZSTD && u->level >= 19) || dlen <= len / 64;
}

/* Records shorter than cfg.delta_above are delta-coded against their group
 * only where the alternative is a base delta (which costs a read of another
 * group): against a literal, the codec finds their repeats about as well,
 * from fewer bytes. On the syscall trace of bench/trace (1.1 million
 * records, most under 256 bytes, no base deltas), before the repeat pool,
 * 256 rather than 16 stored 1.7% less for 16% less CPU: the default. */
static int choose(unitw *u, const void *key, size_t keylen, const keymap_val *kv, const unitw_hint *h,
		  const uint8_t *data, size_t len, choice *c)
{
	*c = (choice){ ENC_LITERAL, data, len, 0, 0, 0 };
	/* A base must be filed already (committed, or repacked before it). */
	int hint_base = h && h->base && h->base < kv->next_n && u->base_ok != 0 && len >= 16;
	int base_ok = u->base_ok >= 0 ? u->base_ok : u->cfg.repack ? u->cfg.repack_bases : kv->group == 0;
	int prev_base = base_ok && kv->next_n > 1 && len >= 16;
	int in_group = 0; /* a delta against the group was found, not kept */
	int rc;
	if (u->ix && u->open && u->blen > 0 && len >= 16 &&
	    ((u->cfg.delta_above && len >= u->cfg.delta_above) || (u->cfg.chain_max > 1 && (hint_base || prev_base)))) {
		u->enc.len = 0;
		rc = delta_encode(u->ix, u->body.p, u->body.len, data, len, len / 2, &u->enc, &u->lits);
		if (rc == 0 && keep_delta(u, u->enc.len, len))
			*c = (choice){ ENC_DELTA, u->enc.p, u->enc.len, 0, 0, 0 };
		else if (rc == 0)
			in_group = 1;
		else if (rc != DELTA_TOO_BIG)
			return rc;
	}
	if (hint_base)
		return try_base(u, kv->idx, key, keylen, h->base, h, data, len, c);
	/* A literal the group's window matches needs no base either. */
	if (c->enc != ENC_DELTA && !in_group && prev_base)
		return try_base(u, kv->idx, key, keylen, kv->next_n - 1, h, data, len, c);
	return 0;
}

/* An upper bound on the compressed prefix through a record of `len`
 * encoded bytes added now: what was emitted, plus what the next block end
 * will carry (the coder ends a block within flush_len body bytes, or
 * right after a larger piece), plus the codec's block and stream slack. */
static uint64_t prefix_bound(const unitw *u, size_t len)
{
	uint64_t emitted = 0, pending = 0;
	if (u->open)
		group_enc_pos(u->cfg.coder, &emitted, &pending);
	uint64_t tail = pending + len > flush_len(u) ? pending + len : flush_len(u);
	return emitted + tail + group_codec_slack(u->codec);
}

/* Whether adding the choice to the open group would make a get of it read
 * more than the read-cost cap allows, or the group too large. A piece past
 * the block length ends a block of its own: when its raw length would
 * break the cap, the codec's estimate of its compressed length, and an
 * eighth more as a margin, decides (on react-dom the margin changed no
 * group).
 * Counting raw lengths closed groups early: on 40 versions of react-dom
 * (bench/versions), full repacks of 16 MiB groups (keeping in-group deltas
 * of a 32nd) stored 1.36 MB in 4 groups counting raw lengths and 1.21 MB
 * in 3 with the estimate, whose reads cost at most 3.55 times the record
 * (cap 4). */
static int group_full_for(unitw *u, const choice *c, size_t size, int *full)
{
	*full = 0;
	if (!u->open || u->nrecs == 0)
		return 0;
	uint64_t cap = cost_cap(u, size);
	if (u->blen + c->len > u->cfg.group_cap || c->base_cost >= cap) {
		*full = 1;
		return 0;
	}
	if (prefix_bound(u, c->len) <= cap - c->base_cost)
		return 0;
	*full = 1;
	if (c->len <= flush_len(u))
		return 0;
	/* Not prefix_bound: the piece ends its block, so no flush_len floor
	 * (with it, this repository's history stored 1.2% more). */
	uint64_t emitted, pending, own;
	group_enc_pos(u->cfg.coder, &emitted, &pending);
	int rc = group_enc_estimate(u->cfg.coder, u->codec, u->level, c->p, c->len, &own);
	if (!rc)
		*full = emitted + pending + own + own / 8 + group_codec_slack(u->codec) > cap - c->base_cost;
	return rc;
}

static int add_rec(unitw *u, const pack_record *r)
{
	if (u->nrecs == u->cap_recs) {
		size_t nc = u->cap_recs ? u->cap_recs * 2 : 64;
		pack_record *nr = realloc(u->recs, nc * sizeof *nr);
		if (!nr)
			return ERR_NOMEM();
		u->recs = nr;
		u->cap_recs = nc;
	}
	u->recs[u->nrecs++] = *r;
	return 0;
}

/* A block just ended: every record so far decodes from what was emitted. */
static void mark_flushed(unitw *u)
{
	uint64_t emitted, pending;
	group_enc_pos(u->cfg.coder, &emitted, &pending);
	for (; u->first_open < u->nrecs; u->first_open++)
		u->recs[u->first_open].cend = emitted;
}

/* Append the chosen encoding to the open group and index its new bytes. */
static int append(unitw *u, const choice *c, pack_record *r)
{
	int rc = u->open ? 0 : begin_group(u);
	size_t off = (size_t)u->blen;
	if (!rc && u->ix)
		rc = buf_append(&u->body, c->p, c->len);
	if (!rc && u->ix && c->enc == ENC_LITERAL)
		rc = delta_index_add(u->ix, u->body.p, off, off + c->len);
	for (size_t i = 0; !rc && u->ix && (c->enc == ENC_DELTA || c->enc == ENC_BASE) && i < u->lits.n; i++)
		rc = delta_index_add(u->ix, u->body.p, off + u->lits.v[i].off,
				     off + u->lits.v[i].off + u->lits.v[i].len);
	int flushed = 0;
	if (!rc)
		rc = group_enc_prepare(u->cfg.coder, c->len, &flushed);
	if (!rc && flushed)
		mark_flushed(u);
	if (!rc)
		rc = group_enc_add(u->cfg.coder, c->p, c->len, &flushed);
	if (!rc)
		u->blen += c->len;
	r->off = off;
	r->len = c->len;
	r->enc = (uint8_t)c->enc;
	r->base = c->base;
	if (!rc)
		rc = add_rec(u, r);
	if (!rc && flushed)
		mark_flushed(u);
	if (!rc && u->blen >= u->cfg.group_cap)
		rc = close_group(u);
	return rc;
}

/* A record too large to share a group: a group of its own, no copy, its
 * encoding `enc` (a literal, or a chunk list given). */
static int put_large(unitw *u, pack_record *r, int enc, const uint8_t *data, size_t len)
{
	int rc = close_group(u);
	uint32_t g = 0;
	uint64_t cend = 0;
	group_piece pc = { data, len };
	if (!rc)
		rc = pack_writer_add_group(u->pw, u->cfg.coder, u->codec, u->level, &pc, 1, &g, &cend);
	r->group = g;
	r->off = 0;
	r->len = len;
	r->cend = cend;
	r->enc = (uint8_t)enc;
	r->base = 0;
	u->group_seq++;
	return rc ? rc : pack_writer_add_record(u->pw, r);
}

/* Remember a repacked record's chain place, for later records of its key. */
static int note_run(unitw *u, uint32_t key_idx, const chain_rec *cr)
{
	if (u->run_key != key_idx)
		u->nrun = 0;
	u->run_key = key_idx;
	if (u->nrun == u->cap_run) {
		size_t nc = u->cap_run ? u->cap_run * 2 : 64;
		chain_rec *nr = realloc(u->run, nc * sizeof *nr);
		if (!nr)
			return ERR_NOMEM();
		u->run = nr;
		u->cap_run = nc;
	}
	u->run[u->nrun++] = *cr;
	return 0;
}

/* A group holds records of one codec and level: close the open group
 * before a record of another. */
static int use_codec(unitw *u, const key_codec *kc)
{
	int rc = 0;
	if (u->open && (kc->codec != u->codec || kc->level != u->level))
		rc = close_group(u);
	u->codec = kc->codec;
	u->level = kc->level;
	return rc;
}

static int put_record(unitw *u, const void *key, size_t keylen, keymap_val *kv, uint64_t unit,
		      const unitw_hint *h, const uint8_t *data, size_t len)
{
	int given = h && h->chunk_list;
	pack_record r = { .key = kv->idx, .n = kv->next_n, .size = given ? h->size : len,
			  .sum = given || (h && h->sum_given) ? h->sum : XXH3_64bits(data, len), .unit = unit };
	int rc = use_codec(u, &u->kcodec[kv->idx]);
	if (!rc && h && h->pool) { /* a repeat: a reference to its pool record */
		uint8_t ref[10];
		choice c = { ENC_POOL, ref, varint_put(ref, h->pool), 0, 0, 0 };
		int full;
		rc = group_full_for(u, &c, len, &full);
		if (!rc && full)
			rc = close_group(u);
		uint64_t own = prefix_bound(u, c.len);
		if (!rc)
			rc = append(u, &c, &r);
		if (!rc && u->cfg.repack)
			rc = note_run(u, kv->idx, &(chain_rec){ r.n, 0, own, 1 });
		return rc;
	}
	choice c = { given ? ENC_CHUNKS : ENC_LITERAL, data, len, 0, 0, 0 };
	/* A record of group_cap bytes or more is stored whole in a group of
	 * its own, unless coded against a base it names (a large chunk). */
	if (!rc && len >= u->cfg.group_cap && !given && h && h->base)
		rc = try_base(u, kv->idx, key, keylen, h->base, h, data, len, &c);
	if (rc || (len >= u->cfg.group_cap && (given || c.enc == ENC_LITERAL)))
		return rc ? rc : put_large(u, &r, given ? ENC_CHUNKS : ENC_LITERAL, data, len);
	if (!given && len < u->cfg.group_cap)
		rc = choose(u, key, keylen, kv, h, data, len, &c);
	/* A chunk list's own read is what the cap bounds, not its content's. */
	int full = 0;
	if (!rc)
		rc = group_full_for(u, &c, len, &full);
	if (!rc && full) {
		rc = close_group(u);
		if (!rc && c.enc == ENC_DELTA) /* it referred to the closed group */
			rc = choose(u, key, keylen, kv, h, data, len, &c);
	}
	/* What a get of it will read, bounded before its block ends. */
	uint64_t own = prefix_bound(u, c.len);
	if (!rc)
		rc = append(u, &c, &r);
	if (!rc && u->cfg.repack) {
		int based = c.enc == ENC_BASE || c.enc == ENC_PATCH;
		chain_rec cr = { r.n, c.base, own + (based ? c.base_cost : 0), based ? c.base_depth + 1 : 1 };
		rc = note_run(u, kv->idx, &cr);
	}
	return rc;
}

/* Note key idx's codec (keys get indexes 0, 1, ... in order). */
static int add_key_codec(unitw *u, uint32_t idx, const key_codec *kc)
{
	if (idx >= u->cap_kcodec) {
		size_t nc = u->cap_kcodec ? u->cap_kcodec : 64;
		while (nc <= idx)
			nc *= 2;
		key_codec *n = realloc(u->kcodec, nc * sizeof *n);
		if (!n)
			return ERR_NOMEM();
		u->kcodec = n;
		u->cap_kcodec = nc;
	}
	u->kcodec[idx] = *kc;
	return 0;
}

/* The key's slot, adding the key (numbered after its catalogued records
 * unless the caller numbers them, with its codec) on first use in this
 * unit. */
static int key_slot(unitw *u, const void *key, size_t keylen, int numbered, keymap_val **v)
{
	if ((*v = keymap_get(u->keys, key, keylen)) != NULL)
		return 0;
	uint64_t count = 0;
	uint32_t idx;
	key_codec kc;
	int rc = numbered ? 0 : catalog_key_count(u->cfg.cat, key, keylen, &count);
	if (!rc)
		rc = u->cfg.codec_of(u->cfg.codec_ctx, key, keylen, &kc.codec, &kc.level);
	if (!rc)
		rc = pack_writer_add_key(u->pw, key, keylen, &idx);
	if (!rc)
		rc = add_key_codec(u, idx, &kc);
	if (!rc)
		rc = keymap_put(u->keys, key, keylen, (keymap_val){ idx, count + 1, 0 }, v);
	return rc;
}

/* Put with the record number given (n > 0) or the key's next (n == 0). */
static int put_common(unitw *u, const void *key, size_t keylen, uint64_t n, uint64_t unit, const unitw_hint *h,
		      void *data, size_t len, strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	keymap_val *kv = NULL;
	int rc = u->failed ? err_set(STRATA_EIO, "an earlier write of this unit failed; roll back") : 0;
	if (!rc && (keylen == 0 || keylen > PACK_KEY_MAX))
		rc = err_set(STRATA_EINVAL, "key length %zu is outside 1..%d", keylen, PACK_KEY_MAX);
	if (!rc)
		rc = key_slot(u, key, keylen, n != 0, &kv);
	if (!rc && n)
		kv->next_n = n;
	if (!rc)
		rc = put_record(u, key, keylen, kv, unit, h, data, len);
	u->expect -= len < u->expect ? len : u->expect;
	if (release)
		release(ctx, data, len);
	if (rc) {
		if (rc != STRATA_EINVAL)
			u->failed = 1;
		return rc;
	}
	if (n_out)
		*n_out = kv->next_n;
	kv->next_n++;
	kv->group = u->open ? u->group_seq : (uint64_t)-1;
	return 0;
}

int unitw_put(unitw *u, const void *key, size_t keylen, const unitw_hint *hint, void *data, size_t len,
	      strata_release_fn *release, void *ctx, uint64_t *n_out)
{
	return put_common(u, key, keylen, 0, u->cfg.last, hint, data, len, release, ctx, n_out);
}

int unitw_put_at(unitw *u, const void *key, size_t keylen, uint64_t n, uint64_t unit, const unitw_hint *hint,
		 void *data, size_t len, strata_release_fn *release, void *ctx)
{
	if (n == 0 || unit < u->cfg.first || unit > u->cfg.last) {
		if (release)
			release(ctx, data, len);
		return err_set(STRATA_EINVAL, "record %" PRIu64 " of unit %" PRIu64 " does not fit this pack", n, unit);
	}
	return put_common(u, key, keylen, n, unit, hint, data, len, release, ctx, NULL);
}

int unitw_put_numbered(unitw *u, const void *key, size_t keylen, uint64_t n, int base_ok, const unitw_hint *hint,
		       void *data, size_t len, strata_release_fn *release, void *ctx, unitw_base *pre)
{
	u->base_ok = base_ok;
	u->pre = pre;
	int rc = put_common(u, key, keylen, n, 0, hint, data, len, release, ctx, NULL);
	u->base_ok = -1;
	u->pre = NULL;
	if (pre)
		unitw_base_clear(pre);
	return rc;
}

void unitw_expect(unitw *u, uint64_t bytes)
{
	u->expect = bytes;
}

int unitw_take_piece(unitw *u, pack_writer **out)
{
	u->expect = 0;
	keymap *fresh = NULL;
	pack_writer *pw = NULL;
	int rc = u->failed ? err_set(STRATA_EIO, "an earlier write of this piece failed") : close_group(u);
	if (!rc)
		rc = keymap_new(&fresh);
	if (!rc)
		rc = pack_writer_new_mem(&pw);
	if (rc) {
		keymap_free(fresh);
		return rc;
	}
	keymap_free(u->keys);
	u->keys = fresh;
	*out = u->pw;
	u->pw = pw;
	return 0;
}

int unitw_add_unit(unitw *u, uint64_t unit, int64_t time, const void *label, size_t len)
{
	return pack_writer_add_unit(u->pw, unit, time, label, len);
}

int unitw_finish(unitw *u, const char *label, unitw_result *out)
{
	if (u->failed)
		return err_set(STRATA_EIO, "an earlier write of this unit failed");
	int rc = close_group(u);
	const pack_footer *f = pack_writer_footer(u->pw);
	if (!rc && f->nunits == 0)
		rc = pack_writer_add_unit(u->pw, u->cfg.last, (int64_t)time(NULL), label, label ? strlen(label) : 0);
	if (!rc)
		rc = pack_writer_finish(u->pw, &out->bytes);
	if (rc) {
		u->failed = 1;
		return rc;
	}
	out->footer = f;
	out->path = pack_writer_path(u->pw);
	out->name = pack_writer_name(u->pw);
	return 0;
}

void unitw_free(unitw *u)
{
	if (!u)
		return;
	free(u->recs);
	free(u->run);
	free(u->kcodec);
	buf_free(&u->body);
	buf_free(&u->enc);
	buf_free(&u->penc);
	patch_coder_free(u->pc);
	delta_lits_free(&u->lits);
	delta_index_free(u->ix);
	delta_index_free(u->bix);
	keymap_free(u->keys);
	pack_writer_free(u->pw);
	free(u);
}
