/*
 * unitw.h - the unit in progress: numbers records, chooses each record's
 * encoding, forms groups and streams them into the unit's pack.
 *
 * Encoding, per record (docs/FORMAT.md, "Encodings"): an in-group delta
 * against the open group's body when one is at most half the record; else a
 * base delta against the key's latest committed record when the chain and
 * read-cost caps allow and the delta is at most half the record; else the
 * literal. Records of group_cap bytes or more get a group of their own and
 * are stored as literals.
 *
 * Groups close when the body reaches group_cap, before a record whose read
 * (the compressed prefix through it, plus its base's) would pass the
 * read-cost cap for its size, and before a record whose key has another
 * codec or level (each key's comes from codec_of). The group's match index
 * holds only bytes the group has not seen before (literals, and the inserts
 * of deltas). Caller buffers are copied into the group body and released
 * at once, so memory stays near one group plus one record.
 */
#ifndef STRATA_UNITW_H
#define STRATA_UNITW_H

#include "catalog.h"
#include "delta.h"
#include "strata.h"

typedef struct unitw unitw;

/* The codec (CODEC_*) and level for the groups of a key's records. Returns
 * 0 or a STRATA_E* code (error set). */
typedef int unitw_codec_fn(void *ctx, const void *key, size_t keylen, int *codec, int *level);

typedef struct unitw_config {
	const char *packs_dir;  /* where the pack goes (borrowed); NULL: pieces
				 * in memory (unitw_put_numbered) */
	uint64_t first, last;   /* the pack's range of units (a commit: one) */
	int repack;             /* records come with their numbers (unitw_put_at),
				 * key by key */
	int repack_bases;       /* repack: records may be base deltas against
				 * earlier records of their key (oldest first) */
	uint64_t group_cap;     /* group size cap in bytes */
	unitw_codec_fn *codec_of; /* each key's codec and level (asked once
				   * per key per unit); a group holds records
				   * of one codec and level */
	void *codec_ctx;
	int chain_max;          /* most groups a get may touch */
	int read_cost_max;      /* most bytes read per byte returned */
	uint64_t delta_above;   /* strata_options.delta_above */
	strata_store *store;    /* to read base records (borrowed) */
	catalog *cat;           /* for the record numbers of known keys (borrowed) */
	group_coder *coder;     /* borrowed */
} unitw_config;

int unitw_new(unitw **out, const unitw_config *cfg);

typedef struct unitw_base unitw_base;

/* What a caller knows of a record beyond its bytes (the puts take NULL for
 * none). */
typedef struct unitw_hint {
	uint64_t base;     /* > 0: a committed record of the key to try a base
			    * delta against (a similar chunk), instead of
			    * the key's latest */
	int patch;         /* try a base patch (ENC_PATCH) too, keys of zstd
			    * or xz only */
	int chunk_list;    /* the data is a chunk list (ENC_CHUNKS) standing
			    * for `size` content bytes of XXH3-64 `sum`; it
			    * is stored as given */
	uint64_t pool;     /* > 0: the data is the content of that record of
			    * the pool key (repeat.h): stored as a reference
			    * to it (ENC_POOL) */
	int sum_given;     /* `sum` is the data's XXH3-64, computed already */
	uint64_t size, sum;
} unitw_hint;

/* Add a record; takes ownership of data as strata_put() documents. */
int unitw_put(unitw *u, const void *key, size_t keylen, const unitw_hint *hint, void *data, size_t len,
	      strata_release_fn *release, void *ctx, uint64_t *n_out);

/* Repack: add a record with its number and unit. Ownership as unitw_put. */
int unitw_put_at(unitw *u, const void *key, size_t keylen, uint64_t n, uint64_t unit, const unitw_hint *hint,
		 void *data, size_t len, strata_release_fn *release, void *ctx);

/* A piece (packs_dir NULL: the unitw writes into memory, see
 * pack_writer_new_mem): add record n of a key, saying whether it may be a
 * base delta against record n - 1's chain (it must be filed already). The
 * record's unit is left 0 for the pack it is appended to. Ownership of data
 * as unitw_put. */
int unitw_put_numbered(unitw *u, const void *key, size_t keylen, uint64_t n, int base_ok, const unitw_hint *hint,
		       void *data, size_t len, strata_release_fn *release, void *ctx, unitw_base *pre);

/* A record coded against its hinted base ahead of its put (by
 * unitw_fetch_base), perhaps by another thread's unitw of the same store,
 * so that the one coding the record into its group only appends it.
 * unitw_put_numbered takes it (pre, or NULL) where it was made for the
 * record's hint, key codec and patch level, and then frees it;
 * unitw_base_clear frees one not used. */
struct unitw_base {
	int rc;             /* the coding failed: the put codes for itself */
	uint64_t from;      /* the hint it was made for */
	int codec, level;   /* the key's codec, the patch level used */
	int enc;            /* ENC_BASE, ENC_PATCH, or ENC_LITERAL: none fits */
	uint8_t *p;         /* the encoding (owned) */
	size_t len;
	uint64_t base, cost;
	int depth;          /* the base picked and its chain */
	delta_lits lits;    /* ENC_BASE: where its inserts lie (owned) */
};
/* Code `data` against the base its hint names (h->base), as the put would:
 * the record itself or the nearest base of its chain with room, as a
 * copy/insert delta or a patch. u must have a store (cfg.store); it may be
 * between two puts of its own piece. */
void unitw_fetch_base(unitw *u, const void *key, size_t keylen, const unitw_hint *h, const void *data, size_t len,
		      unitw_base *out);
void unitw_base_clear(unitw_base *b);

/* The records about to be put into this piece hold `bytes` in all (0:
 * unknown). A group begun then sizes its codec to what is left of them, up
 * to the group cap: a unit's last group, or a small unit's only one, does
 * not make zstd allocate and clear its level's full tables. The piece
 * forgets it when taken. */
void unitw_expect(unitw *u, uint64_t bytes);

/* A piece: close the open group and hand the piece over (*out, the
 * caller's to free); the unitw goes on with an empty piece and no keys. */
int unitw_take_piece(unitw *u, pack_writer **out);

/* Describe the next unit of the range (see pack_writer_add_unit). A commit
 * need not: unitw_finish describes its one unit. */
int unitw_add_unit(unitw *u, uint64_t unit, int64_t time, const void *label, size_t len);

/* What a finished unit wrote; borrowed from the unitw (valid until free). */
typedef struct unitw_result {
	const pack_footer *footer;
	const char *path;       /* the pack's path */
	const char *name;       /* its file name */
	uint64_t bytes;         /* its size */
} unitw_result;

/* Write the last group, the footer and the trailer, and make the pack
 * durable. `label` labels a commit's unit (ignored when units were added). */
int unitw_finish(unitw *u, const char *label, unitw_result *out);

/* Discard the unit (releasing held buffers, removing the temporary pack). */
void unitw_free(unitw *u);

#endif
