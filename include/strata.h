/*
 * strata.h - the public API of libstrata.
 *
 * strata stores streams of related records, compressed against each other,
 * durably, and gives any record back reading a bounded amount of data.
 *
 *   store   a directory of immutable packs plus a catalog (see docs/FORMAT.md)
 *   key     a byte string (1..65535 bytes) naming a sequence of records
 *   record  one entry of a key, numbered 1, 2, ... in the order put
 *   unit    the records put between two commits; durable once committed
 *
 * Conventions used throughout:
 *   - Every function that can fail returns 0 on success or a negative
 *     STRATA_E* code. The detail of the last failure on the calling thread is
 *     available from strata_errmsg().
 *   - Output parameters come first. What comes back through `**out` belongs
 *     to the caller, who frees it with the matching strata_*_free (all of
 *     which accept NULL).
 *   - Threads: a strata_store handle is used by one thread at a time, save
 *     that several threads may call strata_put() at once. Any
 *     number of processes may open a store to read; one at a time may open
 *     it to write (a lock), and readers see committed units only. See
 *     docs/threading.md.
 *   - The library never prints, never exits and never aborts on bad input.
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_VERSION_STRING "0.1.0"

/* Error codes. Stable: new codes are only ever added. */
enum {
	STRATA_OK = 0,
	STRATA_EINVAL = -1,    /* bad argument or bad option value */
	STRATA_ENOTFOUND = -2, /* no such store, key or record */
	STRATA_EEXIST = -3,    /* store already exists */
	STRATA_ELOCKED = -4,   /* another process holds the writer lock */
	STRATA_ECORRUPT = -5,  /* stored data failed a checksum or is malformed */
	STRATA_EFORMAT = -6,   /* a format version this build does not know */
	STRATA_EIO = -7,       /* an operating-system I/O error */
	STRATA_ENOSPC = -8,    /* out of disk space or quota */
	STRATA_ENOMEM = -9,    /* out of memory */
	STRATA_EREADONLY = -10 /* a write call on a store opened read-only */
};

/* Name of an error code ("not found", ...). Static string, never NULL. */
const char *strata_strerror(int code);

/*
 * Message describing the last failure of a strata call on this thread (for
 * example "pack packs/0000000003.pack: group 2 checksum mismatch"). The
 * string belongs to the library and stays valid until the next strata call
 * on the same thread. Empty string if nothing failed yet.
 */
const char *strata_errmsg(void);

/* ---------------------------------------------------------------- open */

typedef struct strata_store strata_store;

#define STRATA_OPEN_READ 0x0    /* read-only; never blocks a writer */
#define STRATA_OPEN_WRITE 0x1   /* take the writer lock (STRATA_ELOCKED if held) */
#define STRATA_OPEN_CREATE 0x2  /* create the store if missing (implies WRITE) */
#define STRATA_OPEN_EXCL 0x4    /* with CREATE: fail with STRATA_EEXIST if it exists */

/*
 * Options for creating a store. They are written into the store at creation
 * and read back by every later open; passing options when opening an existing
 * store has no effect. Initialize with STRATA_OPTIONS_INIT (or
 * strata_options_profile()) and change fields.
 *
 * Codecs. Each group of records is compressed by one codec, chosen by the
 * key of its records: the first of `codec_rules` whose pattern matches the
 * key, else `codec`. A codec is written "CODEC" or "CODEC:LEVEL":
 *   none            stored as is (streams not worth compressing)
 *   zstd:1..22      zstd (a bare "zstd" takes zstd_level)
 *   lz4:1..12       LZ4 frame; 1-2 fast (default 1), 3-12 LZ4 HC
 *   zlib:1..9       deflate in a gzip stream (default 6)
 *   xz:0..9         LZMA2 in an .xz stream, at an xz preset (default 6;
 *                   like xz, 7..9 take 190..680 MiB to compress)
 * docs/FORMAT.md ("Groups") gives each stream exactly. A group holds records
 * of one codec and level, so keys of different codecs put in turn make
 * small groups: put each codec's keys in runs where that matters.
 */
typedef struct strata_options {
	unsigned version;   /* STRATA_OPTIONS_VERSION */
	uint64_t group_cap; /* group body cap in bytes, 4 KiB..256 MiB (default 16 MiB) */
	int zstd_level;     /* zstd level where none is given, 1..22 (default 3) */
	int chain_max;      /* most groups one get may touch, 1..32 (default 4) */
	int read_cost_max;  /* most compressed bytes one get may read, as a
			     * multiple of the record's size (records under
			     * 4 KiB count as 4 KiB), 1..1024 (default 4) */
	int repack_after;   /* after a commit, repack the newest packs when
			     * this many commit packs under 4 MiB trail the
			     * store; 0 = never, 2..1000 (default 16) */
	/* Since version 2 (a caller built with version 1 leaves them out). */
	const char *codec;  /* codec of keys no rule matches, "CODEC[:LEVEL]";
			     * NULL = "zstd" (at zstd_level). Read during
			     * strata_open() only, as are the rules. */
	const char *const *codec_rules;
			    /* NULL, or a NULL-terminated list of rules
			     * "PATTERN=CODEC[:LEVEL]": keys that match the
			     * fnmatch(3) glob PATTERN (no flags: '*' matches
			     * '/' too; a key holding a NUL byte matches no
			     * rule) get that codec; the first match wins.
			     * The pattern is everything before the last '=',
			     * non-empty, without line breaks, not starting
			     * with a blank; blanks around the '=' are ignored. */
	/* Since version 3. */
	uint64_t chunk_above; /* records of at least this many bytes are cut
			       * into content-defined chunks, each distinct
			       * chunk stored once and delta-coded against a
			       * similar earlier one (docs/FORMAT.md,
			       * "Chunks"); 0 = never, else 64 KiB..1 TiB
			       * (default 4 MiB; a store made before version
			       * 3 never chunks) */
	uint32_t chunk_avg;   /* the chunker's average chunk size, a power of
			       * two 4 KiB..16 MiB (default 64 KiB); chunks are
			       * avg/4..avg*4 bytes */
	uint64_t state_mem;   /* memory cap of the chunk and sketch indexes'
			       * cache, 16 MiB.. (default 1 GiB) */
	/* Since version 4. */
	uint64_t dedup_above; /* records of at least this many bytes whose
			       * content was put before, a quarter of a group
			       * cap of puts or more earlier, are stored once
			       * in the store's pool and referred to
			       * (docs/FORMAT.md, "Repeats"); 0 = never (the
			       * default), else
			       * 64..2^30. A writer remembers the pooled
			       * content (at most 64 MiB, read back at open)
			       * and what it put since it opened the store
			       * (6 MiB of index). */
	/* Since version 5. */
	uint64_t delta_above; /* records of at least this many bytes are
			       * coded as copy/insert deltas against the
			       * bytes of their group so far, where that is
			       * at most half their size (a 64th in groups
			       * of zstd 19 and up); shorter ones only
			       * where a base delta is the alternative. 0 =
			       * only there, else 16..2^30 (default 256) */
} strata_options;

#define STRATA_OPTIONS_VERSION 5
#define STRATA_OPTIONS_INIT \
	{ STRATA_OPTIONS_VERSION, 16u << 20, 3, 4, 4, 16, NULL, NULL, 4u << 20, 64u << 10, 1ull << 30, 0, 256 }

/*
 * Set *o to the defaults of a store profile (STRATA_EINVAL for another
 * name):
 *   "versions"  STRATA_OPTIONS_INIT: zstd:3, 16 MiB groups, chains of 4,
 *               read cost 4, repack after 16 small packs
 *   "trace"     zstd:2, 4 MiB groups, no deltas against earlier units
 *               (chain_max 1), read cost 64 (groups fill whatever the
 *               records' sizes), never repack on commit (repack_after 0),
 *               no chunking (a put costs no compression on the caller's
 *               thread), records of 256 bytes and up deduplicated
 *               (dedup_above: such a put hashes its record, XXH3 at
 *               memory speed, on the caller's thread), no deltas
 *               against the group (delta_above 0: zstd's window and the
 *               pool find the repeats)
 *   "archive"   zstd:18, 64 MiB groups, read cost 8, chains of 32, never
 *               repack on commit, records of 512 KiB or more chunked
 *               (8 MiB chunks on average, each a copy/insert delta
 *               against a similar earlier chunk where one is found, or
 *               a zstd patch where no delta of half its size is)
 */
int strata_options_profile(strata_options *o, const char *profile);

/*
 * Set *out to the options of an open store, as its strata.conf holds them.
 * out->codec and out->codec_rules are NULL: the store keeps its codecs
 * resolved (strata.conf lists them as written).
 */
int strata_options_get(strata_store *s, strata_options *out);

/*
 * Open the store at directory `path`. `flags` is a STRATA_OPEN_* mask.
 * `opts` may be NULL (defaults); it is read only when the store is created
 * and is not kept. On success *out is a handle the caller owns and releases
 * with strata_close(). Opening runs crash recovery when the writer lock is
 * free (docs/FORMAT.md, "Recovery").
 */
int strata_open(strata_store **out, const char *path, int flags,
		const strata_options *opts);

/*
 * Close a handle. Records put since the last commit are discarded (they were
 * never part of a unit). Accepts NULL.
 */
void strata_close(strata_store *s);

/* ----------------------------------------------------------------- write */

/*
 * How the store gives back a buffer it took from the caller: called exactly
 * once per accepted buffer, with the `ctx`, pointer and length passed to
 * strata_put(), from the thread that makes the store done with it.
 */
typedef void strata_release_fn(void *ctx, void *ptr, size_t len);

/* A release function that calls free(ptr), for malloc'd buffers. */
void strata_release_free(void *ctx, void *ptr, size_t len);

/*
 * Add a record to key `key` (`keylen` bytes, copied) in the unit in
 * progress. The store takes ownership of `data` (`len` bytes): no copy is
 * made, and `release(ctx, data, len)` is called once the store no longer
 * needs it (`release` may be NULL for memory that outlives the store). The
 * buffer must not be changed until then. Ownership passes even when the call
 * fails: the buffer is released before an error returns.
 * If `n_out` is not NULL it receives the record's number within the key.
 * The record becomes visible and durable with the next strata_commit().
 */
int strata_put(strata_store *s, const void *key, size_t keylen, void *data,
	       size_t len, strata_release_fn *release, void *ctx,
	       uint64_t *n_out);

/*
 * Make every record put since the last commit one durable unit, labelled
 * `label` (may be NULL). Returns after the unit is on stable storage and in
 * the catalog. If `unit_out` is not NULL it receives the unit number. A commit
 * with no records is allowed and creates an empty unit.
 * On failure the unit in progress is discarded and the store is unchanged.
 */
int strata_commit(strata_store *s, const char *label, uint64_t *unit_out);

/* Discard every record put since the last commit. */
int strata_rollback(strata_store *s);

/*
 * The write pipeline. A writable handle runs one unless it is turned off:
 * strata_put() only files the record with the grouping stage (O(1) work
 * under a mutex: no compression, no file I/O, save one catalog look-up the
 * first time a key is put through this handle) and returns; a pool of
 * worker threads codes and compresses groups in parallel; one writer thread
 * appends them, in put order, to the unit's pack. Records of one key stay
 * in put order; several threads may call strata_put() at once (for
 * different keys or the same one). Every other call on the handle must not
 * overlap any other call.
 *
 * Back-pressure: the bytes of records put and not yet written, plus about
 * 100 bytes per record for the store's bookkeeping (the store's own
 * accounting, see strata_pipeline_stats), stay under queue_bytes; a put
 * that would pass it blocks until the writer catches up. One record larger
 * than the cap is let through alone.
 */
typedef struct strata_pipeline_options {
	int workers;            /* coding threads: 0 = one per core; -1 = no
				 * pipeline (put codes and writes on the
				 * caller's thread, as before) */
	uint64_t queue_bytes;   /* most bytes in flight; 0 = a group cap per
				 * worker and two more, within 64..256 MiB */
	uint64_t durable_bytes; /* commit a unit labelled "auto" on its own
				 * (strata_commit_async) once this many bytes
				 * were put since the last commit; 0 = never */
	uint32_t durable_ms;    /* ... or once this many milliseconds passed
				 * since the last commit, checked at each put;
				 * 0 = never */
} strata_pipeline_options;

/*
 * Restart the handle's pipeline with these options (NULL: the defaults).
 * Waits for work in flight to be durable first; needs no records pending
 * (commit or roll back first).
 */
int strata_pipeline_set(strata_store *s, const strata_pipeline_options *o);

/*
 * Make every record put since the last commit one unit, like
 * strata_commit(), but return at once: the writer thread writes, syncs and
 * catalogs the unit behind the caller's back. A later strata_commit() or
 * strata_pipeline_wait() returns after it is durable. If writing it fails,
 * the unit is lost and every later put and commit fails with
 * STRATA_EIO naming the cause until strata_rollback(). In a store that
 * repacks on commit (repack_after N), every Nth commit in a row made this
 * way is synchronous, as strata_commit(), and repacks when due.
 */
int strata_commit_async(strata_store *s, const char *label);

/* Wait until every commit issued so far is durable (or failed: then the
 * error). *unit_out (may be NULL): the last durable unit, 0 if none. */
int strata_pipeline_wait(strata_store *s, uint64_t *unit_out);

typedef struct strata_pipeline_stats {
	int workers;               /* coding threads running (0: no pipeline) */
	uint64_t queue_bytes;      /* the cap */
	uint64_t inflight_bytes;   /* put and not yet written to the pack */
	uint64_t inflight_peak;    /* the most ever in flight */
	uint64_t blocked_puts;     /* puts that had to wait for room */
	uint64_t groups_written;   /* groups the writer thread appended */
	uint64_t units_durable;    /* units the pipeline made durable */
	uint64_t last_durable;     /* the last of them, 0 if none */
	uint64_t bases_ahead;      /* records coded against their hinted base
				    * (an archive's changed chunks) ahead of
				    * their turn, by a worker waiting for work */
	double coding_cpu_s;       /* CPU seconds the coding threads used, all
				    * together, since the pipeline started, as
				    * of the last item each finished (0 where
				    * the system cannot tell) */
	double writing_cpu_s;      /* the same for the writer thread */
} strata_pipeline_stats;

int strata_pipeline_stats_get(strata_store *s, strata_pipeline_stats *out);

/* *pending = 1 when records were put through s since its last commit (the
 * pipeline's own durable points count as commits), else 0: whether a
 * strata_commit() now would make a unit holding records rather than an
 * empty one. */
int strata_pending(strata_store *s, int *pending);

/* ------------------------------------------------------------------ read */

/*
 * Read record `n` (1-based) of `key`. On success *out points to a buffer of
 * *len bytes that the caller owns and frees with strata_buf_free(); for a
 * zero-length record *out is a valid pointer to zero bytes. The content is
 * checked against its stored checksum: damaged data gives STRATA_ECORRUPT,
 * never wrong bytes. Unknown key or n out of range gives STRATA_ENOTFOUND.
 */
int strata_get(strata_store *s, const void *key, size_t keylen, uint64_t n,
	       void **out, size_t *len);

/*
 * Write record `n` of `key` to descriptor fd (a file, a pipe), without
 * holding a chunked record whole in memory: a chunk list is written chunk
 * by chunk (memory stays at a chunk and a group, where strata_get needs
 * the whole record). Each chunk is checked against its SHA-256 before it
 * is written, and the whole content against its checksum at the end, so
 * damaged data gives STRATA_ECORRUPT, never wrong bytes; but after a
 * failure a prefix of the record may have been written, which the caller
 * must discard. A record that is not chunked is checked whole before any
 * byte is written. `what` names the output in errors (may be NULL).
 * *size_out (may be NULL) receives the record's size. fd is written, never
 * closed. strata_read_cost_get() then tells what the read cost.
 */
int strata_get_fd(strata_store *s, const void *key, size_t keylen, uint64_t n, int fd, const char *what,
		  uint64_t *size_out);

/* What one read cost: filled by strata_read_cost() for the handle's last
 * strata_get() or strata_get_fd(). bytes_read counts compressed bytes
 * fetched from packs. */
typedef struct strata_read_cost {
	uint64_t bytes_read;    /* bytes read from pack files */
	uint64_t bytes_decoded; /* group body bytes decompressed */
	uint64_t groups;        /* groups touched */
} strata_read_cost;

/* The cost of the last successful strata_get() on this handle (zeros if
 * there was none). */
int strata_read_cost_get(strata_store *s, strata_read_cost *out);

/* Free a buffer returned by strata_get(). Accepts NULL. */
void strata_buf_free(void *buf);

/*
 * A sequential reader over a run of a key's records, for replay. Records
 * from..from+count-1 (count 0: to the key's last record at open) are cut
 * into spans, the key's records in one group; background threads (one per
 * core, at most `prefetch`) decode up to `prefetch` spans ahead, each
 * group's body once, while the caller consumes them in order. At most
 * 64 MiB of decoded spans wait, beyond the one being decoded, and at most
 * 32 MiB of buffers are kept for reuse. The cursor
 * opens read-only handles of its own on the store's directory, so it does
 * not share `s` with its threads; `s` is only used to find the path and
 * may be closed while the cursor lives. A cursor is used by one thread at
 * a time.
 */
typedef struct strata_cursor strata_cursor;

int strata_cursor_open(strata_cursor **out, strata_store *s, const void *key, size_t keylen, uint64_t from,
		       uint64_t count, unsigned prefetch);

/* Records from..from+count-1 of a key (from 0 is 1; count 0: to the
 * key's last record at open), for strata_cursor_open_ranges. */
typedef struct strata_range {
	const void *key;  /* borrowed for the call; the cursor keeps a copy */
	size_t keylen;
	uint64_t from, count;
} strata_range;

/*
 * A cursor over several ranges, handed out one after another: ranges[0]'s
 * records, then ranges[1]'s, and so on (a range past its key's last record
 * gives none; a key may come more than once). One set of threads, handles
 * and buffers serves them all, and decoding runs ahead across a range's
 * end into the next. A call hands out records of one range only;
 * strata_cursor_range says which. strata_cursor_open is this with one
 * range.
 */
int strata_cursor_open_ranges(strata_cursor **out, strata_store *s, const strata_range *ranges, size_t nranges,
			      unsigned prefetch);

/* The index in the ranges given at open of the range whose records the
 * last call that handed out records gave (0 before any). */
size_t strata_cursor_range(const strata_cursor *c);

/*
 * The next record, without a copy: *data (borrowed from the cursor, valid
 * until the next call on it) and *len, and its number in *n (may be NULL).
 * Returns STRATA_ENOTFOUND after the last record, or the error that reading
 * the record met (the cursor is then done).
 */
int strata_cursor_view(strata_cursor *c, const void **data, size_t *len, uint64_t *n);

/* A record as strata_cursor_batch hands it out: borrowed. */
typedef struct strata_slice {
	const void *data;
	size_t len;
} strata_slice;

/*
 * The next records, at most cap of them, without copies: v[0..*got), the
 * first numbered *first (may be NULL), the others following it; borrowed
 * from the cursor, valid until the next call on it. Records whose contents
 * lie side by side in memory are next to each other in v (a writer may
 * join them). Returns STRATA_ENOTFOUND after the last record, or the error
 * that reading the next record met (the cursor is then done); *got is 0
 * then.
 */
int strata_cursor_batch(strata_cursor *c, strata_slice *v, size_t cap, size_t *got, uint64_t *first);

/* strata_cursor_view, with *data a copy owned by the caller (freed with
 * strata_buf_free). */
int strata_cursor_next(strata_cursor *c, void **data, size_t *len, uint64_t *n);

/* Stop the background threads (work in flight is discarded) and free the
 * cursor. Accepts NULL. */
void strata_cursor_close(strata_cursor *c);

/* Number of committed records of `key` (0 if the key is unknown). */
int strata_record_count(strata_store *s, const void *key, size_t keylen,
			uint64_t *count);

/* What the iteration calls below pass to their callback. Borrowed: the
 * pointers are valid only during the callback. */
typedef struct strata_key_info {
	const void *key;   /* key bytes */
	size_t keylen;
	uint64_t records;  /* committed records of the key */
} strata_key_info;

typedef struct strata_record_info {
	uint64_t n;        /* record number */
	uint64_t unit;     /* unit that holds it */
	uint64_t size;     /* content length */
	uint64_t stored;   /* length of its encoding in the group body */
	uint64_t checksum; /* XXH3-64 of the content; 0 when shared_checksum */
	int shared_checksum; /* 1: the record shares one checksum with its
			      * neighbours in the pack (docs/FORMAT.md, "Record
			      * runs"); reads check it all the same */
} strata_record_info;

typedef struct strata_unit_info {
	uint64_t unit;       /* unit number */
	const char *label;   /* NUL-terminated; "" when none */
	int64_t time;        /* commit time, seconds since the epoch */
	uint64_t records;    /* records in the unit */
	uint64_t raw_bytes;  /* sum of their content lengths */
	uint64_t pack_bytes; /* size of the unit's pack file */
	const char *pack;    /* pack path relative to the store */
} strata_unit_info;

/*
 * Iterators. The callback returns 0 to go on; any other value stops the
 * iteration, and the iterator returns that value. Keys come in byte order,
 * records and units in increasing number.
 */
typedef int strata_key_cb(void *ctx, const strata_key_info *info);
typedef int strata_record_cb(void *ctx, const strata_record_info *info);
typedef int strata_unit_cb(void *ctx, const strata_unit_info *info);

int strata_foreach_key(strata_store *s, strata_key_cb *cb, void *ctx);
int strata_foreach_record(strata_store *s, const void *key, size_t keylen,
			  strata_record_cb *cb, void *ctx);
int strata_foreach_unit(strata_store *s, strata_unit_cb *cb, void *ctx);

/* ----------------------------------------------------------- maintenance */

typedef struct strata_stats {
	uint64_t records;     /* committed records */
	uint64_t keys;        /* keys with at least one record */
	uint64_t units;       /* committed units */
	uint64_t raw_bytes;   /* sum of record content lengths */
	uint64_t pack_bytes;  /* sum of pack file sizes */
	uint64_t groups;      /* groups in all packs */
	/* Read cost over all records: compressed bytes a get may read (through
	 * every base it needs) per byte returned, records under 4 KiB counted
	 * as 4 KiB; a chunked record counts as its chunks (records of the chunk
	 * key), not as its list. Computed from the catalog: each record's bound is the
	 * group prefix that decodes past its end; a get reads at most that and
	 * may stop short of it when the prefix spans several reads. A reference
	 * to a pooled record (a repeat, see strata_options.dedup_above) counts
	 * its own prefix only: which pooled record it names is written inside
	 * its group, where the catalog does not look; the pooled record's own
	 * read cost is counted as the pool key's record. */
	double read_cost_median;
	double read_cost_p99;
	double read_cost_max;
	uint64_t chain_max;   /* most groups any get touches */
} strata_stats;

/* Fill *out with the store's totals, from the catalog alone (one pass over
 * its records; no pack is read). */
int strata_stats_get(strata_store *s, strata_stats *out);

/* One problem found by strata_verify(). Borrowed, valid during the callback. */
typedef struct strata_problem {
	const char *pack;   /* pack path relative to the store, or NULL */
	const void *key;    /* key involved, or NULL */
	size_t keylen;
	uint64_t n;         /* record number involved, or 0 */
	int code;           /* STRATA_E* */
	const char *message;/* what is wrong */
} strata_problem;

typedef void strata_problem_cb(void *ctx, const strata_problem *p);

/*
 * Progress of long operations: `done` of `total` items (packs for verify and
 * rebuild). Called from the calling thread. May be NULL.
 */
typedef void strata_progress_cb(void *ctx, uint64_t done, uint64_t total);

typedef struct strata_verify_result {
	uint64_t packs;     /* packs checked */
	uint64_t groups;    /* groups decoded */
	uint64_t records;   /* records whose content checksum was checked */
	uint64_t bytes;     /* content bytes checked */
	uint64_t problems;  /* problems reported */
} strata_verify_result;

/*
 * Check the whole store: every pack's header, trailer, footer and group
 * checksums, every record's content checksum, the catalog against the
 * footers, and packs present on disk but not catalogued. Each problem goes to
 * `on_problem` (may be NULL). Returns 0 when nothing is wrong,
 * STRATA_ECORRUPT when at least one problem was found, or another error if
 * the check itself could not run. `res` (may be NULL) receives the counts.
 */
int strata_verify(strata_store *s, strata_problem_cb *on_problem,
		  strata_progress_cb *progress, void *ctx,
		  strata_verify_result *res);

typedef struct strata_repack_result {
	uint64_t packs_before, packs_after;  /* live packs */
	uint64_t bytes_before, bytes_after;  /* their total size */
} strata_repack_result;

#define STRATA_REPACK_OLDEST_FIRST 0x1  /* order each key's records oldest
					 * first (default: newest first) */
#define STRATA_REPACK_TAIL 0x2          /* only the newest packs, each older
					 * one taken if at most twice the size
					 * of those after it (automatic repack) */

/*
 * Rewrite the records of the store's live packs into one new pack of their
 * whole range of units: each key's records together, keys in byte order,
 * every record coded against its group only, so a get touches one group.
 * The new pack is durable and catalogued before the old packs are deleted;
 * a crash at any moment leaves every committed record readable (recovery
 * finishes or discards the repack). Needs a writable handle with no unit in
 * progress. `progress` (may be NULL) counts records.
 */
int strata_repack(strata_store *s, int flags, strata_progress_cb *progress, void *ctx,
		  strata_repack_result *res);

/*
 * Recreate the catalog of the store at `path` from its packs alone. Takes the
 * writer lock. Damaged packs are reported to `on_problem` and left out;
 * `*units_out` (may be NULL) receives the number of units catalogued.
 */
int strata_rebuild(const char *path, strata_problem_cb *on_problem,
		   strata_progress_cb *progress, void *ctx,
		   uint64_t *units_out);

/*
 * strata_rebuild, where `path` may be a directory holding only packs/
 * (copies of another store's packs): it gets a strata.conf of `opts` (NULL:
 * the defaults), which steer later writes only, so give the options the
 * store was made with (its profile: an archive's must not repack). A store
 * that has a strata.conf keeps it: `opts` must then be NULL (STRATA_EINVAL,
 * nothing changed, otherwise). `opts` is read only during the call.
 */
int strata_rebuild_opts(const char *path, const strata_options *opts,
			strata_problem_cb *on_problem, strata_progress_cb *progress,
			void *ctx, uint64_t *units_out);

/* --------------------------------------------------- archives: trees, packs */

/*
 * Put the bytes read from descriptor fd (a file, a pipe) up to its end as
 * one record of key, as strata_put does. A record of chunk_above bytes or
 * more is chunked as it is read, so memory stays at a few chunks however
 * large it is (strata_put needs the whole record in memory). `what` names
 * the source in errors (may be NULL). *size_out (may be NULL) receives the
 * record's size. fd is read, never closed.
 */
int strata_put_fd(strata_store *s, const void *key, size_t keylen, int fd, const char *what,
		  uint64_t *n_out, uint64_t *size_out);

typedef struct strata_tree_result {
	uint64_t unit;      /* the unit imported or exported */
	uint64_t files, dirs, links;
	uint64_t skipped;   /* import: entries that are none of those
			     * (sockets, fifos, devices), not stored */
	uint64_t vanished;  /* import: files deleted between listing and
			     * reading them, left out of the unit */
	uint64_t changed;   /* import: files stored anew; the others cost only
			     * their manifest entry */
	uint64_t bytes;     /* content bytes of all the files */
	uint64_t new_bytes; /* import: content bytes of the files stored anew */
} strata_tree_result;

#define STRATA_IMPORT_REREAD 0x1 /* read every file, even one whose size and
				  * modification time match the previous
				  * import's (taken as unchanged otherwise) */

/*
 * Store a snapshot of the directory tree at `dir` as one committed unit
 * labelled `label` (may be NULL): each regular file a record of the key
 * equal to its path relative to `dir` when it changed since the previous
 * import (large files are chunked, see strata_options.chunk_above), and a
 * manifest of the whole tree (paths, types, permission bits, modification
 * times, symbolic link targets, which record holds each file) as a record
 * of a reserved key. Needs a writable handle with no unit in progress; on
 * failure nothing is committed. `progress` counts files.
 */
int strata_import(strata_store *s, const char *dir, const char *label, int flags,
		  strata_progress_cb *progress, void *ctx, strata_tree_result *res);

/*
 * Restore the tree imported in unit `unit` (0: the latest import) into
 * directory `dir`, which must not exist or be empty: directories, files,
 * symbolic links, permission bits and modification times. Reads only the
 * records that tree needs. STRATA_ENOTFOUND when that unit holds no tree.
 */
int strata_export(strata_store *s, uint64_t unit, const char *dir,
		  strata_progress_cb *progress, void *ctx, strata_tree_result *res);

/* A live pack: its path relative to the store ("packs/NAME"), its range of
 * units and its size. Borrowed, valid during the callback. */
typedef int strata_pack_cb(void *ctx, const char *path, uint64_t first,
			   uint64_t last, uint64_t bytes);

/*
 * Call cb for each live pack holding units `since` and later (1: all), by
 * first unit: the files to copy offsite after unit since - 1 was copied.
 * A store rebuilt (strata_rebuild) from copies of all its packs restores
 * every unit. Stops at a callback's non-zero return and returns it.
 */
int strata_foreach_pack(strata_store *s, uint64_t since, strata_pack_cb *cb, void *ctx);

/*
 * Verify as strata_verify does, only the packs holding units `since` and
 * later (and everything their records need: a record of those units
 * whose chunks or base lie in older packs is decoded in full).
 */
int strata_verify_since(strata_store *s, uint64_t since, strata_problem_cb *on_problem,
			strata_progress_cb *progress, void *ctx, strata_verify_result *res);

/*
 * Make a new store at `to` (must not exist or be empty) that starts with
 * the history and compressor state of the store at `from`: its packs are
 * hard links (copies where the file system refuses links), its catalog a
 * copy. Units committed to either store afterwards are the other's
 * business: packs are immutable, so neither sees the other's. Takes the
 * writer lock of `from` meanwhile. *copied_out (may be NULL) receives the
 * number of packs copied rather than linked. A fork that stopped midway (a
 * crash, a full disk) leaves `to` no store but marked (docs/FORMAT.md,
 * "Store directory"): the next fork into it clears what it left, and only
 * that.
 */
int strata_fork(const char *from, const char *to, uint64_t *copied_out);

#ifdef __cplusplus
}
#endif

#endif /* STRATA_H */
