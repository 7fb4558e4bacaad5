/*
 * group.h - the unit of compression (docs/FORMAT.md, "Groups").
 *
 * A group body is a run of record encodings laid end to end; the group is
 * that body compressed as one stream by one codec. This module turns pieces
 * of a body into compressed bytes, and reads any byte range of a body back
 * by decompressing only the prefix that ends with it. It knows nothing of
 * files: bytes leave through a sink and arrive through a positioned reader,
 * so the pack module (local files) or a later remote backend supplies them.
 */
#ifndef STRATA_GROUP_H
#define STRATA_GROUP_H

#include <stddef.h>
#include <stdint.h>

/* Codec ids, as stored in a pack's group entries (docs/FORMAT.md, "Groups"). */
enum { CODEC_NONE = 0, CODEC_ZSTD = 1, CODEC_LZ4 = 2, CODEC_ZLIB = 3, CODEC_XZ = 4, CODEC_MAX = 4 };

/* A codec's name ("none", "zstd", "lz4", "zlib", "xz"), or NULL for an id
 * this build does not know. */
const char *group_codec_name(int codec);
/* The id of the codec named by the `len` bytes at `name`, or -1. */
int group_codec_id(const char *name, size_t len);
/* The levels a codec accepts and its usual level (none: 0..0). Returns 0, or
 * -1 for an unknown codec. */
int group_codec_levels(int codec, int *min, int *max, int *dflt);
/* The most body bytes a codec's stream can yield per compressed byte (a
 * bound, not a typical ratio): a group entry claiming more is a lie. 0 for
 * an unknown codec; 1 for none (whose body is its compressed bytes). */
uint64_t group_codec_max_ratio(int codec);
/* At most how many compressed bytes a block end plus the stream's end add
 * to the body bytes since the previous block end (0 for an unknown codec). */
uint64_t group_codec_slack(int codec);

/* Per-thread coding state (compression and decompression contexts, scratch
 * memory), reused across groups. Not shared between threads. */
typedef struct group_coder group_coder;

int group_coder_new(group_coder **out);
void group_coder_free(group_coder *c);

/* A zstd compression context (ZSTD_CCtx; free with ZSTD_freeCCtx) whose
 * tables of 2 MiB and more are asked for in huge pages (os_alloc_big):
 * zstd clears its match tables as it starts, one page fault per 4 KiB
 * otherwise. NULL when out of memory. */
struct ZSTD_CCtx_s *group_zstd_cctx_new(void);

/* Counters of the work done by reads through this coder since it was made. */
typedef struct group_read_cost {
	uint64_t bytes_read;    /* compressed bytes fetched from the reader */
	uint64_t bytes_decoded; /* body bytes produced by the codec */
	uint64_t groups;        /* group reads started */
} group_read_cost;

void group_coder_cost(const group_coder *c, group_read_cost *out);

/* Where compressed bytes go: returns 0 or a STRATA_E* code (error set). */
typedef int group_sink_fn(void *ctx, const void *p, size_t n);

/* One piece of a group body (a record's encoding). Borrowed. */
typedef struct group_piece {
	const void *p;
	size_t len;
} group_piece;

/* What encoding a group produced. */
typedef struct group_out {
	uint64_t clen;  /* compressed length */
	uint64_t blen;  /* body length */
	uint64_t sum;   /* XXH3-64 of the compressed bytes */
} group_out;

/* Body bytes after which the coder ends a block at the next piece boundary,
 * so that a piece's compressed prefix ends close to it: GROUP_FLUSH_MIN
 * unless group_enc_flush_min says otherwise for the group. */
#define GROUP_FLUSH_MIN 4096
#define GROUP_FLUSH_MAX (64u << 10)

/* Incremental encoding: one group at a time per coder. Begin, add the body
 * piece by piece, end. group_enc_begin emits nothing (so the group starts
 * where the sink stood after it); it refuses (STRATA_EINVAL) an unknown
 * codec or a level outside the codec's range (none ignores the level).
 * group_enc_add ends a block (a flush of the codec's stream) after a piece once
 * GROUP_FLUSH_MIN body bytes have passed since the last one, and says so in
 * *flushed: every piece added so far then decodes from the compressed bytes
 * emitted so far. */
int group_enc_begin(group_coder *c, int codec, int level, group_sink_fn *sink, void *sink_ctx);
/* After group_enc_begin: end blocks every `bytes` body bytes rather than
 * GROUP_FLUSH_MIN, for this group (GROUP_FLUSH_MIN..GROUP_FLUSH_MAX).
 * Longer blocks compress better and a read of a piece decodes up to that
 * many more bytes. */
void group_enc_flush_min(group_coder *c, size_t bytes);
/* After group_enc_begin, before the first add: the body will hold about
 * `bytes` (0: unknown, the default). zstd sizes its window and tables to it
 * rather than to its level's defaults, which it would otherwise allocate and
 * clear for a group of a few KiB. A body that outgrows the hint still codes
 * and decodes correctly, perhaps less tightly. Other codecs ignore it. */
void group_enc_size_hint(group_coder *c, uint64_t bytes);
int group_enc_add(group_coder *c, const void *p, size_t n, int *flushed);
/* Before adding a piece of n bytes: end a block first if the piece would
 * take the bytes since the last block end past GROUP_FLUSH_MIN, so that what
 * was added before gets a compressed prefix that stops short of the piece.
 * *flushed says whether it did. */
int group_enc_prepare(group_coder *c, size_t n, int *flushed);
/* Compressed bytes emitted so far, and body bytes added since the last flush. */
void group_enc_pos(const group_coder *c, uint64_t *emitted, uint64_t *pending);
int group_enc_end(group_coder *c, group_out *out);
/* An estimate, never above n, of the compressed bytes a piece of n body
 * bytes adds to a group of `codec` at `level` (a block of its own, as a
 * piece past the block length gets): for zstd at level 3 and up, its size
 * under zstd's fastest level alone, which the group's stronger level with
 * the group's earlier bytes as its window beats in practice; n otherwise.
 * May run between the steps of an encoding on the same coder. */
int group_enc_estimate(group_coder *c, int codec, int level, const void *p, size_t n, uint64_t *out);

/* One-shot encoding (built on the calls above): compress the body made of `pieces` (in order) with `codec` at `level`,
 * streaming the compressed bytes to `sink`. If `cends` is not NULL it
 * receives, for each piece, how many compressed bytes from the group's
 * start decode at least to the piece's end. */
int group_encode(group_coder *c, int codec, int level, const group_piece *pieces,
		 size_t npieces, group_sink_fn *sink, void *sink_ctx, group_out *out,
		 uint64_t *cends);

/* Reads `n` bytes at `off` of a group's compressed bytes (off + n <= clen).
 * Returns 0 or a STRATA_E* code (error set). */
typedef int group_pread_fn(void *ctx, void *dst, size_t n, uint64_t off);

/* Where a group is and how it was coded. */
typedef struct group_loc {
	int codec;
	uint64_t clen;   /* compressed bytes that may be read (a record's
			  * compressed prefix, or the whole group) */
	uint64_t blen;   /* body length */
} group_loc;

/* Copy body bytes [off, off+len) into dst, reading at most loc->clen
 * compressed bytes and decompressing only the prefix of the body that ends
 * at off+len. Malformed compressed data, or too few compressed bytes to
 * reach off+len, gives STRATA_ECORRUPT. When the range ends at the body's
 * end, the readable bytes left (the stream's epilogue) are decoded too: a
 * stream end that fails its checksum, or any body or bytes past it, is
 * STRATA_ECORRUPT; readable bytes that stop before the stream ends are a
 * prefix and are fine. */
int group_read(group_coder *c, const group_loc *loc, group_pread_fn *rd, void *rd_ctx,
	       uint64_t off, void *dst, size_t len);

#endif
