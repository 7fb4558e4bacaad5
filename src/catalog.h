/*
 * catalog.h - the SQLite index of a store (docs/FORMAT.md, "Catalog").
 *
 * The only module that includes sqlite3.h. The catalog is derived from the
 * packs: catalog_add_pack() files a pack's footer, and that is the only way
 * rows are written, whether by a commit, a repack, recovery or a rebuild.
 * A row stands for a run of records (runs.h) and, for packs of footer
 * version 2, points at the run's bytes in the footer: lookups and scans read
 * them from the pack (the store's packs/ directory, beside the catalog
 * file), through one descriptor the handle keeps.
 */
#ifndef STRATA_CATALOG_H
#define STRATA_CATALOG_H

#include "pack.h"
#include "strata.h"

typedef struct catalog catalog;

/* Open the catalog file at `path`. With `create`, make it and its schema if
 * missing. A file without the schema, or of an unknown schema version, is
 * STRATA_ECORRUPT / STRATA_EFORMAT. */
int catalog_open(catalog **out, const char *path, int create);
void catalog_close(catalog *c);

/* A live pack. */
typedef struct catalog_pack {
	int64_t id;
	char name[32];          /* file name in packs/ */
	uint64_t first, last;   /* its range of units */
	uint64_t bytes;         /* file size */
} catalog_pack;

/* Largest catalogued unit number (0 when none). */
int catalog_max_unit(catalog *c, uint64_t *max);
/* Whether a pack of this file name is live. */
int catalog_find_pack(catalog *c, const char *name, int *found);
/* Whether a live pack's range contains [first, last]. */
int catalog_covering(catalog *c, uint64_t first, uint64_t last, int *covered);
/* Live packs whose ranges lie inside [first, last], by first unit. *out is
 * malloc'd (caller frees). */
int catalog_packs_in(catalog *c, uint64_t first, uint64_t last, catalog_pack **out, size_t *n);
/* Committed records of a key (0 if unknown). */
int catalog_key_count(catalog *c, const void *key, size_t len, uint64_t *count);
/* Records filed under a pack. */
int catalog_pack_record_count(catalog *c, int64_t pack, uint64_t *count);

/* File a pack (its footer) in one transaction. The live packs whose ranges
 * its range contains are dropped from the catalog; *superseded (may be NULL)
 * receives them, malloc'd, for the caller to delete. A range that partly
 * overlaps a live pack, or a pack lacking records of those it replaces, is
 * STRATA_ECORRUPT and changes nothing. */
int catalog_add_pack(catalog *c, const pack_footer *f, const char *name, uint64_t bytes,
		     catalog_pack **superseded, size_t *nsuperseded);

/* Every record committed in units [first, last], by key, then by number
 * (descending when newest_first). Returns what the callback returns. */
typedef int catalog_repack_cb(void *ctx, const void *key, size_t keylen, uint64_t n, uint64_t unit);
int catalog_foreach_in_range(catalog *c, uint64_t first, uint64_t last, int newest_first,
			     catalog_repack_cb *cb, void *ctx);

/* Everything a read needs to find a record. */
typedef struct catalog_loc {
	uint64_t unit;      /* unit it was committed in */
	uint32_t grp;       /* group index in the pack */
	pack_group group;   /* the group's footer entry */
	uint64_t off, len;  /* encoding range in the group body */
	uint64_t size, sum; /* content length and checksum (shared: of the records sharing it) */
	uint64_t cend;      /* compressed prefix of the group to read */
	const pack_record *shared; /* the records that share its checksum
				    * (shared->rcount of them; owner: the
				    * catalog, valid until the next lookup);
				    * NULL when it has its own */
	uint64_t base;      /* ENC_BASE: base record number */
	int enc;
	int64_t pack;       /* live pack holding it */
	char pack_name[32]; /* its file name in packs/ */
} catalog_loc;

/* Find record n of key: STRATA_ENOTFOUND when there is none. */
int catalog_lookup(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out);
/* catalog_lookup, and the records of the run it found from n on: *rest
 * (*nrest of them, all in loc's group; owner: the catalog, valid until the
 * next lookup). */
int catalog_lookup_run(catalog *c, const void *key, size_t len, uint64_t n, catalog_loc *out,
		       const pack_record **rest, size_t *nrest);
/* With `on`, lookups within the run the last lookup found are answered
 * from memory, without a query: for a reader going through a key in order
 * (a run's records never change; a repack that supersedes its pack leaves
 * the pack readable through descriptors already open). */
void catalog_sequential(catalog *c, int on);
/* Drop the run kept for sequential lookups (its pack is gone). */
void catalog_forget(catalog *c);

int catalog_foreach_key(catalog *c, strata_key_cb *cb, void *ctx);
int catalog_foreach_record(catalog *c, const void *key, size_t len, strata_record_cb *cb, void *ctx);
int catalog_foreach_unit(catalog *c, strata_unit_cb *cb, void *ctx);
int catalog_stats(catalog *c, strata_stats *out);

/* ------------------------------------------ compressor state (format 1.1)
 * The chunk index (SHA-256 -> chunk record number) and the sketch index
 * (feature -> chunk record numbers), derived from the chunk key's
 * records (docs/FORMAT.md, "Catalog"). */

#define CATALOG_FEATURES 12 /* cdc.h's CDC_FEATURES */

typedef struct catalog_chunk {
	uint8_t hash[32];   /* SHA-256 of the chunk */
	uint64_t n;         /* its record number in the chunk key */
	uint64_t feat[CATALOG_FEATURES]; /* its sketch */
	int has_sketch;     /* 0: too short for one */
} catalog_chunk;

/* A writer: create the state tables if missing and let SQLite's page cache
 * hold up to cache_bytes. */
int catalog_state_open(catalog *c, uint64_t cache_bytes);
/* The chunk of this SHA-256: 0 and *n, or STRATA_ENOTFOUND. */
int catalog_chunk_find(catalog *c, const uint8_t hash[32], uint64_t *n);
/* Up to cap chunks sharing feature f, newest first. */
int catalog_sketch_find(catalog *c, uint64_t f, uint64_t *ns, size_t cap, size_t *got);
/* Units up to which every chunk is in the indexes (0: none). */
int catalog_state_upto(catalog *c, uint64_t *upto);
/* Add chunks in one transaction and raise the mark to upto (0: leave it). */
int catalog_state_add(catalog *c, const catalog_chunk *v, size_t n, uint64_t upto);

/* Write a consistent copy of the whole catalog to a new file (fork). */
int catalog_copy_to(catalog *c, const char *path);

/* Rewrite the catalog file without its free and half-empty pages (SQLite's
 * VACUUM, in one transaction: a crash leaves the old file). After a full
 * repack, which deletes and re-adds nearly every row: on this repository's
 * history, 120 -> 110 KB. */
int catalog_compact(catalog *c);

/* Records of a key committed after `unit`, by number: cb(ctx, n, unit). */
typedef int catalog_n_cb(void *ctx, uint64_t n, uint64_t unit);
int catalog_foreach_since(catalog *c, const void *key, size_t len, uint64_t unit, catalog_n_cb *cb, void *ctx);

#endif
