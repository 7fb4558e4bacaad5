/* group.c - compress group bodies and read byte ranges back (group.h).
 *
 * Every codec but none is a stream behind the same three steps: encode
 * input (run on, end a block at a record boundary, or end the stream), and
 * decode some input into some output. The streams are documented exactly in
 * docs/FORMAT.md ("Groups"): one zstd frame, one LZ4 frame, one gzip member,
 * one .xz stream. The code below drives them alike; each codec's own part is
 * a begin and a step in each direction.
 */
#include "group.h"
#include "err.h"
#include "os.h"

#include <limits.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>
/* For ZSTD_customMem and ZSTD_createCCtx_advanced: experimental in zstd's
 * header, exported by the shared library since 1.4. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#define GROUP_IO_CHUNK (128 * 1024)
#define LZ4_IN_CHUNK (64 * 1024)    /* input per LZ4F_compressUpdate call */
#define ZLIB_IN_CHUNK (1u << 30)    /* input per deflate call (avail_in is a uInt) */
#define DEC_OUT_MAX (1u << 30)      /* output per decoder step (zlib's avail_out is a uInt) */
/* The most memory an xz stream may ask of the decoder: preset 9's 64 MiB
 * dictionary plus slack. Nothing strata writes needs more, so a header that
 * asks for more is damage, not data. */
#define XZ_MEMLIMIT (80u << 20)

enum { ENC_RUN, ENC_FLUSH, ENC_END }; /* what an encoder step does after its input */

struct group_coder {
	uint8_t *in;     /* GROUP_IO_CHUNK bytes: compressed input being read */
	uint8_t *out;    /* GROUP_IO_CHUNK bytes: output staging / skipped body */
	group_read_cost cost;
	/* codec states, each made on first use */
	ZSTD_CCtx *zstd_c;
	ZSTD_CCtx *zstd_trial; /* group_enc_estimate's */
	ZSTD_DCtx *zstd_d;
	LZ4F_cctx *lz4_c;
	LZ4F_dctx *lz4_d;
	uint8_t *lz4_out;   /* LZ4F_compressBound(LZ4_IN_CHUNK) bytes */
	size_t lz4_cap;
	int lz4_level;      /* of the frame being encoded */
	int lz4_begun;      /* its header was written */
	z_stream zlib_c, zlib_d;
	int zlib_c_level;   /* level zlib_c was made for; 0: not made */
	int zlib_d_on;      /* zlib_d is made */
	lzma_stream xz_c, xz_d;
	/* the group being encoded (group_enc_*) */
	int codec;
	group_sink_fn *sink;
	void *sink_ctx;
	XXH3_state_t *xs;  /* checksum of the compressed bytes */
	uint64_t emitted;  /* compressed bytes passed to the sink */
	uint64_t pending;  /* body bytes since the last flush */
	uint64_t flush_min; /* the group's block length (group_enc_flush_min) */
	uint64_t body;     /* body bytes added */
};

/* A decoder step: decode from in[*ip, in_n) into out[*op, out_n), advancing
 * both; *ended set once the stream's end (and its checksum) was decoded.
 * Returns 0 or a STRATA_E* code (error set). */
typedef int dec_step_fn(group_coder *c, const uint8_t *in, size_t *ip, size_t in_n, uint8_t *out, size_t *op,
			size_t out_n, int *ended);

typedef struct codec_ops {
	const char *name;
	int lmin, lmax, ldflt;   /* levels */
	uint64_t max_ratio;      /* body bytes per compressed byte, at most */
	uint64_t slack;          /* bytes a block end and the stream end add, at most */
	int (*enc_begin)(group_coder *c, int level);
	/* Take all of p[0, n), then end a block (ENC_FLUSH) or the stream (ENC_END). */
	int (*enc_step)(group_coder *c, const uint8_t *p, size_t n, int mode);
	int (*dec_begin)(group_coder *c);
	dec_step_fn *dec_step;
} codec_ops;

int group_coder_new(group_coder **out)
{
	group_coder *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM();
	c->in = malloc(GROUP_IO_CHUNK);
	c->out = malloc(GROUP_IO_CHUNK);
	c->xs = XXH3_createState();
	c->xz_c = (lzma_stream)LZMA_STREAM_INIT;
	c->xz_d = (lzma_stream)LZMA_STREAM_INIT;
	if (!c->in || !c->out || !c->xs) {
		group_coder_free(c);
		return ERR_NOMEM();
	}
	*out = c;
	return 0;
}

void group_coder_free(group_coder *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->zstd_c);
	ZSTD_freeCCtx(c->zstd_trial);
	ZSTD_freeDCtx(c->zstd_d);
	LZ4F_freeCompressionContext(c->lz4_c);
	LZ4F_freeDecompressionContext(c->lz4_d);
	free(c->lz4_out);
	if (c->zlib_c_level)
		deflateEnd(&c->zlib_c);
	if (c->zlib_d_on)
		inflateEnd(&c->zlib_d);
	lzma_end(&c->xz_c);
	lzma_end(&c->xz_d);
	XXH3_freeState(c->xs);
	free(c->in);
	free(c->out);
	free(c);
}

void group_coder_cost(const group_coder *c, group_read_cost *out)
{
	*out = c->cost;
}

/* Pass compressed bytes on, counting and checksumming them. */
static int enc_emit(group_coder *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	XXH3_64bits_update(c->xs, p, n);
	c->emitted += n;
	return c->sink(c->sink_ctx, p, n);
}

static int dec_corrupt(const char *codec, const char *what)
{
	return err_set(STRATA_ECORRUPT, "%s stream: %s", codec, what);
}

/* ---------------------------------------------------------------- zstd
 * One zstd frame with the frame checksum flag set; a flush ends a block. */

static void *zstd_alloc(void *opaque, size_t n)
{
	(void)opaque;
	return os_alloc_big(n, NULL);
}

static void zstd_free(void *opaque, void *p)
{
	(void)opaque;
	free(p);
}

ZSTD_CCtx *group_zstd_cctx_new(void)
{
	return ZSTD_createCCtx_advanced((ZSTD_customMem){ zstd_alloc, zstd_free, NULL });
}

static int zstd_enc_begin(group_coder *c, int level)
{
	if (!c->zstd_c && !(c->zstd_c = group_zstd_cctx_new()))
		return ERR_NOMEM();
	ZSTD_CCtx_reset(c->zstd_c, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(c->zstd_c, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(c->zstd_c, ZSTD_c_checksumFlag, 1);
	return 0;
}

static int zstd_enc_step(group_coder *c, const uint8_t *p, size_t n, int mode)
{
	static const ZSTD_EndDirective ends[] = { ZSTD_e_continue, ZSTD_e_flush, ZSTD_e_end };
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;
	do {
		ZSTD_outBuffer out = { c->out, GROUP_IO_CHUNK, 0 };
		left = ZSTD_compressStream2(c->zstd_c, &out, &in, ends[mode]);
		if (ZSTD_isError(left))
			return err_set(STRATA_EIO, "zstd compression failed: %s", ZSTD_getErrorName(left));
		int rc = enc_emit(c, c->out, out.pos);
		if (rc)
			return rc;
	} while (mode == ENC_RUN ? in.pos < in.size : left != 0);
	return 0;
}

static int zstd_dec_begin(group_coder *c)
{
	if (!c->zstd_d && !(c->zstd_d = ZSTD_createDCtx()))
		return ERR_NOMEM();
	ZSTD_DCtx_reset(c->zstd_d, ZSTD_reset_session_only);
	return 0;
}

static int zstd_dec_step(group_coder *c, const uint8_t *in, size_t *ip, size_t in_n, uint8_t *out, size_t *op,
			 size_t out_n, int *ended)
{
	ZSTD_inBuffer ib = { in, in_n, *ip };
	ZSTD_outBuffer ob = { out, out_n, *op };
	size_t r = ZSTD_decompressStream(c->zstd_d, &ob, &ib);
	*ip = ib.pos;
	*op = ob.pos;
	if (ZSTD_isError(r))
		return dec_corrupt("zstd", ZSTD_getErrorName(r));
	*ended = r == 0;
	return 0;
}

/* ----------------------------------------------------------------- lz4
 * One LZ4 frame: linked blocks of at most 64 KiB, block checksums and the
 * content checksum; a flush (LZ4F_flush) ends a block. */

static const LZ4F_preferences_t LZ4_PREFS = {
	{ LZ4F_max64KB, LZ4F_blockLinked, LZ4F_contentChecksumEnabled, LZ4F_frame, 0, 0, LZ4F_blockChecksumEnabled },
	0, 0, 0, { 0, 0, 0 }
};

/* After an error the context's state is undefined: drop it. */
static int lz4_fail(group_coder *c, size_t r)
{
	LZ4F_freeCompressionContext(c->lz4_c);
	c->lz4_c = NULL;
	return err_set(STRATA_EIO, "lz4 compression failed: %s", LZ4F_getErrorName(r));
}

static int lz4_enc_begin(group_coder *c, int level)
{
	if (!c->lz4_c && LZ4F_isError(LZ4F_createCompressionContext(&c->lz4_c, LZ4F_VERSION)))
		return ERR_NOMEM();
	if (!c->lz4_out) {
		c->lz4_cap = LZ4F_compressBound(LZ4_IN_CHUNK, &LZ4_PREFS);
		if (c->lz4_cap < LZ4F_HEADER_SIZE_MAX)
			c->lz4_cap = LZ4F_HEADER_SIZE_MAX;
		if (!(c->lz4_out = malloc(c->lz4_cap)))
			return ERR_NOMEM();
	}
	c->lz4_level = level;
	c->lz4_begun = 0;
	return 0;
}

static int lz4_enc_step(group_coder *c, const uint8_t *p, size_t n, int mode)
{
	size_t r;
	int rc = 0;
	if (!c->lz4_begun) { /* the header: begin emits nothing (group.h) */
		LZ4F_preferences_t prefs = LZ4_PREFS;
		prefs.compressionLevel = c->lz4_level;
		r = LZ4F_compressBegin(c->lz4_c, c->lz4_out, c->lz4_cap, &prefs);
		rc = LZ4F_isError(r) ? lz4_fail(c, r) : enc_emit(c, c->lz4_out, r);
		c->lz4_begun = !rc;
	}
	while (!rc && n > 0) {
		size_t k = n < LZ4_IN_CHUNK ? n : LZ4_IN_CHUNK;
		r = LZ4F_compressUpdate(c->lz4_c, c->lz4_out, c->lz4_cap, p, k, NULL);
		rc = LZ4F_isError(r) ? lz4_fail(c, r) : enc_emit(c, c->lz4_out, r);
		p += k;
		n -= k;
	}
	if (rc || mode == ENC_RUN)
		return rc;
	r = mode == ENC_FLUSH ? LZ4F_flush(c->lz4_c, c->lz4_out, c->lz4_cap, NULL)
			      : LZ4F_compressEnd(c->lz4_c, c->lz4_out, c->lz4_cap, NULL);
	return LZ4F_isError(r) ? lz4_fail(c, r) : enc_emit(c, c->lz4_out, r);
}

static int lz4_dec_begin(group_coder *c)
{
	if (!c->lz4_d && LZ4F_isError(LZ4F_createDecompressionContext(&c->lz4_d, LZ4F_VERSION)))
		return ERR_NOMEM();
	LZ4F_resetDecompressionContext(c->lz4_d);
	return 0;
}

static int lz4_dec_step(group_coder *c, const uint8_t *in, size_t *ip, size_t in_n, uint8_t *out, size_t *op,
			size_t out_n, int *ended)
{
	size_t src = in_n - *ip, dst = out_n - *op;
	size_t r = LZ4F_decompress(c->lz4_d, out + *op, &dst, in + *ip, &src, NULL);
	*ip += src;
	*op += dst;
	if (LZ4F_isError(r))
		return dec_corrupt("lz4", LZ4F_getErrorName(r));
	*ended = r == 0;
	return 0;
}

/* ---------------------------------------------------------------- zlib
 * One gzip member (RFC 1952: deflate, CRC-32 and length trailer) as zlib
 * writes it with windowBits 15 + 16; a flush is Z_SYNC_FLUSH (an empty
 * stored block). */

static int zlib_enc_begin(group_coder *c, int level)
{
	if (c->zlib_c_level == level)
		return deflateReset(&c->zlib_c) == Z_OK ? 0 : err_set(STRATA_EIO, "zlib deflateReset failed");
	if (c->zlib_c_level)
		deflateEnd(&c->zlib_c);
	c->zlib_c_level = 0;
	c->zlib_c = (z_stream){ 0 };
	int r = deflateInit2(&c->zlib_c, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (r != Z_OK)
		return r == Z_MEM_ERROR ? ERR_NOMEM() : err_set(STRATA_EIO, "zlib deflateInit2 failed (%d)", r);
	c->zlib_c_level = level;
	return 0;
}

static int zlib_enc_step(group_coder *c, const uint8_t *p, size_t n, int mode)
{
	z_stream *z = &c->zlib_c;
	size_t done = 0;
	do {
		uInt k = n - done < ZLIB_IN_CHUNK ? (uInt)(n - done) : ZLIB_IN_CHUNK;
		int last = done + k == n;
		int flush = !last || mode == ENC_RUN ? Z_NO_FLUSH : mode == ENC_FLUSH ? Z_SYNC_FLUSH : Z_FINISH;
		z->next_in = k ? (Bytef *)p + done : NULL;
		z->avail_in = k;
		int r;
		do {
			z->next_out = c->out;
			z->avail_out = GROUP_IO_CHUNK;
			r = deflate(z, flush);
			if (r == Z_STREAM_ERROR)
				return err_set(STRATA_EIO, "zlib compression failed");
			int rc = enc_emit(c, c->out, GROUP_IO_CHUNK - z->avail_out);
			if (rc)
				return rc;
		} while (z->avail_in > 0 || (flush == Z_SYNC_FLUSH && z->avail_out == 0) ||
			 (flush == Z_FINISH && r != Z_STREAM_END));
		done += k;
	} while (done < n);
	return 0;
}

static int zlib_dec_begin(group_coder *c)
{
	if (c->zlib_d_on)
		return inflateReset(&c->zlib_d) == Z_OK ? 0 : err_set(STRATA_EIO, "zlib inflateReset failed");
	c->zlib_d = (z_stream){ 0 };
	int r = inflateInit2(&c->zlib_d, 15 + 16); /* gzip only */
	if (r != Z_OK)
		return r == Z_MEM_ERROR ? ERR_NOMEM() : err_set(STRATA_EIO, "zlib inflateInit2 failed (%d)", r);
	c->zlib_d_on = 1;
	return 0;
}

static int zlib_dec_step(group_coder *c, const uint8_t *in, size_t *ip, size_t in_n, uint8_t *out, size_t *op,
			 size_t out_n, int *ended)
{
	z_stream *z = &c->zlib_d;
	/* Spans fit a uInt: input comes in GROUP_IO_CHUNK pieces, output in
	 * DEC_OUT_MAX ones at most. */
	uInt ni = (uInt)(in_n - *ip), no = (uInt)(out_n - *op);
	z->next_in = (Bytef *)in + *ip;
	z->avail_in = ni;
	z->next_out = out + *op;
	z->avail_out = no;
	int r = inflate(z, Z_NO_FLUSH);
	*ip += ni - z->avail_in;
	*op += no - z->avail_out;
	switch (r) {
	case Z_STREAM_END:
		*ended = 1;
		return 0;
	case Z_OK:
	case Z_BUF_ERROR: /* no progress possible now: the caller sees it */
		return 0;
	case Z_MEM_ERROR:
		return ERR_NOMEM();
	default:
		return dec_corrupt("gzip", z->msg ? z->msg : "invalid data");
	}
}

/* ------------------------------------------------------------------ xz
 * One .xz stream (xz-utils' format 1.0.4): one block, LZMA2 at a preset
 * level, CRC-64 check; a flush is LZMA_SYNC_FLUSH (ends an LZMA2 chunk). */

static int xz_fail(lzma_ret r, const char *what)
{
	return r == LZMA_MEM_ERROR ? ERR_NOMEM() : err_set(STRATA_EIO, "xz %s failed (liblzma error %d)", what, (int)r);
}

static int xz_enc_begin(group_coder *c, int level)
{
	lzma_ret r = lzma_easy_encoder(&c->xz_c, (uint32_t)level, LZMA_CHECK_CRC64);
	return r == LZMA_OK ? 0 : xz_fail(r, "encoder set-up");
}

static int xz_enc_step(group_coder *c, const uint8_t *p, size_t n, int mode)
{
	static const lzma_action actions[] = { LZMA_RUN, LZMA_SYNC_FLUSH, LZMA_FINISH };
	lzma_stream *x = &c->xz_c;
	x->next_in = p;
	x->avail_in = n;
	lzma_ret r;
	do {
		x->next_out = c->out;
		x->avail_out = GROUP_IO_CHUNK;
		r = lzma_code(x, actions[mode]);
		if (r != LZMA_OK && r != LZMA_STREAM_END)
			return xz_fail(r, "compression");
		int rc = enc_emit(c, c->out, GROUP_IO_CHUNK - x->avail_out);
		if (rc)
			return rc;
	} while (x->avail_in > 0 || (mode != ENC_RUN && r != LZMA_STREAM_END));
	return 0;
}

static int xz_dec_begin(group_coder *c)
{
	lzma_ret r = lzma_stream_decoder(&c->xz_d, XZ_MEMLIMIT, 0);
	return r == LZMA_OK ? 0 : xz_fail(r, "decoder set-up");
}

static int xz_dec_step(group_coder *c, const uint8_t *in, size_t *ip, size_t in_n, uint8_t *out, size_t *op,
		       size_t out_n, int *ended)
{
	lzma_stream *x = &c->xz_d;
	x->next_in = in + *ip;
	x->avail_in = in_n - *ip;
	x->next_out = out + *op;
	x->avail_out = out_n - *op;
	lzma_ret r = lzma_code(x, LZMA_RUN);
	*ip = in_n - x->avail_in;
	*op = out_n - x->avail_out;
	switch (r) {
	case LZMA_STREAM_END:
		*ended = 1;
		return 0;
	case LZMA_OK:
	case LZMA_BUF_ERROR: /* no progress possible now: the caller sees it */
		return 0;
	case LZMA_MEM_ERROR:
		return ERR_NOMEM();
	case LZMA_MEMLIMIT_ERROR:
		return dec_corrupt("xz", "asks for more decoder memory than any strata writer uses");
	case LZMA_FORMAT_ERROR:
		return dec_corrupt("xz", "not an .xz stream");
	default:
		return dec_corrupt("xz", "invalid data or check mismatch");
	}
}

/* ---------------------------------------------------------------- table */

/* Bounds of what a stream can yield per byte: zstd's RLE block (3 bytes of
 * header and 1 of data for 128 KiB); an LZ4 sequence at most 255 bytes per
 * byte of match length; deflate 258 bytes per 2 bits (1032:1); LZMA2 at
 * most 2 MiB per chunk of at least 10 bytes (so under 2^18 per byte).
 * Slack: a block end and the stream end add, at most: zstd a block header
 * and the frame checksum; lz4 a block header and checksum, the end mark and
 * the content checksum (16); gzip an empty stored block and the trailer
 * (about 15); xz an LZMA2 chunk header and range coder flush (11), then the
 * end mark, block padding, CRC-64, index and stream footer (about 40). */
static const codec_ops CODECS[CODEC_MAX + 1] = {
	[CODEC_NONE] = { "none", 0, 0, 0, 1, 0, NULL, NULL, NULL, NULL },
	[CODEC_ZSTD] = { "zstd", 1, 22, 3, 32768, 32, zstd_enc_begin, zstd_enc_step, zstd_dec_begin, zstd_dec_step },
	[CODEC_LZ4] = { "lz4", 1, 12, 1, 256, 32, lz4_enc_begin, lz4_enc_step, lz4_dec_begin, lz4_dec_step },
	[CODEC_ZLIB] = { "zlib", 1, 9, 6, 1032, 32, zlib_enc_begin, zlib_enc_step, zlib_dec_begin, zlib_dec_step },
	[CODEC_XZ] = { "xz", 0, 9, 6, 1u << 18, 64, xz_enc_begin, xz_enc_step, xz_dec_begin, xz_dec_step },
};

static const codec_ops *codec_get(int codec)
{
	return codec >= 0 && codec <= CODEC_MAX ? &CODECS[codec] : NULL;
}

const char *group_codec_name(int codec)
{
	const codec_ops *ops = codec_get(codec);
	return ops ? ops->name : NULL;
}

int group_codec_id(const char *name, size_t len)
{
	for (int i = 0; i <= CODEC_MAX; i++)
		if (strlen(CODECS[i].name) == len && !memcmp(CODECS[i].name, name, len))
			return i;
	return -1;
}

int group_codec_levels(int codec, int *min, int *max, int *dflt)
{
	const codec_ops *ops = codec_get(codec);
	if (!ops)
		return -1;
	*min = ops->lmin;
	*max = ops->lmax;
	*dflt = ops->ldflt;
	return 0;
}

uint64_t group_codec_max_ratio(int codec)
{
	const codec_ops *ops = codec_get(codec);
	return ops ? ops->max_ratio : 0;
}

uint64_t group_codec_slack(int codec)
{
	const codec_ops *ops = codec_get(codec);
	return ops ? ops->slack : 0;
}

/* ------------------------------------------------------------- encoding */

int group_enc_begin(group_coder *c, int codec, int level, group_sink_fn *sink, void *sink_ctx)
{
	const codec_ops *ops = codec_get(codec);
	if (!ops)
		return err_set(STRATA_EINVAL, "unknown codec %d", codec);
	if (codec != CODEC_NONE && (level < ops->lmin || level > ops->lmax))
		return err_set(STRATA_EINVAL, "level %d is outside %d..%d for codec %s", level, ops->lmin, ops->lmax,
			       ops->name);
	c->codec = codec;
	c->sink = sink;
	c->sink_ctx = sink_ctx;
	c->emitted = c->pending = c->body = 0;
	c->flush_min = GROUP_FLUSH_MIN;
	XXH3_64bits_reset(c->xs);
	return ops->enc_begin ? ops->enc_begin(c, level) : 0;
}

void group_enc_flush_min(group_coder *c, size_t bytes)
{
	c->flush_min = bytes < GROUP_FLUSH_MIN ? GROUP_FLUSH_MIN : bytes > GROUP_FLUSH_MAX ? GROUP_FLUSH_MAX : bytes;
}

void group_enc_size_hint(group_coder *c, uint64_t bytes)
{
	if (c->codec == CODEC_ZSTD && bytes)
		ZSTD_CCtx_setParameter(c->zstd_c, ZSTD_c_srcSizeHint, bytes > INT_MAX ? INT_MAX : (int)bytes);
}

int group_enc_prepare(group_coder *c, size_t n, int *flushed)
{
	*flushed = 0;
	if (c->codec == CODEC_NONE || c->pending == 0 || c->pending + n <= c->flush_min)
		return 0;
	int rc = CODECS[c->codec].enc_step(c, NULL, 0, ENC_FLUSH);
	if (!rc) {
		c->pending = 0;
		*flushed = 1;
	}
	return rc;
}

int group_enc_add(group_coder *c, const void *p, size_t n, int *flushed)
{
	c->body += n;
	*flushed = 0;
	if (c->codec == CODEC_NONE) {
		*flushed = 1;
		return enc_emit(c, p, n);
	}
	c->pending += n;
	int flush = c->pending >= c->flush_min;
	int rc = CODECS[c->codec].enc_step(c, p, n, flush ? ENC_FLUSH : ENC_RUN);
	if (!rc && flush) {
		c->pending = 0;
		*flushed = 1;
	}
	return rc;
}

/* zstd's fastest positive level on the piece alone: the group's level, at
 * least TRIAL_MIN_LEVEL and with the group's earlier bytes in its window,
 * does better on any piece worth compressing. */
#define TRIAL_LEVEL 1
#define TRIAL_MIN_LEVEL 3

int group_enc_estimate(group_coder *c, int codec, int level, const void *p, size_t n, uint64_t *out)
{
	*out = n;
	if (codec != CODEC_ZSTD || level < TRIAL_MIN_LEVEL)
		return 0;
	if (!c->zstd_trial && !(c->zstd_trial = group_zstd_cctx_new()))
		return ERR_NOMEM();
	ZSTD_CCtx_reset(c->zstd_trial, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(c->zstd_trial, ZSTD_c_compressionLevel, TRIAL_LEVEL);
	ZSTD_inBuffer in = { p, n, 0 };
	uint64_t total = 0;
	size_t left;
	do { /* c->out is free between encoder steps */
		ZSTD_outBuffer o = { c->out, GROUP_IO_CHUNK, 0 };
		left = ZSTD_compressStream2(c->zstd_trial, &o, &in, ZSTD_e_end);
		if (ZSTD_isError(left))
			return err_set(STRATA_EIO, "zstd compression failed: %s", ZSTD_getErrorName(left));
		total += o.pos;
	} while (left != 0);
	*out = total < n ? total : n;
	return 0;
}

void group_enc_pos(const group_coder *c, uint64_t *emitted, uint64_t *pending)
{
	*emitted = c->emitted;
	*pending = c->pending;
}

int group_enc_end(group_coder *c, group_out *out)
{
	if (c->codec != CODEC_NONE) {
		int rc = CODECS[c->codec].enc_step(c, NULL, 0, ENC_END);
		if (rc)
			return rc;
	}
	out->clen = c->emitted;
	out->blen = c->body;
	out->sum = XXH3_64bits_digest(c->xs);
	return 0;
}

int group_encode(group_coder *c, int codec, int level, const group_piece *pieces,
		 size_t npieces, group_sink_fn *sink, void *sink_ctx, group_out *out,
		 uint64_t *cends)
{
	int rc = group_enc_begin(c, codec, level, sink, sink_ctx);
	size_t first_open = 0; /* pieces [first_open, i] await a flush */
	for (size_t i = 0; !rc && i < npieces; i++) {
		int flushed;
		rc = group_enc_prepare(c, pieces[i].len, &flushed);
		for (; !rc && flushed && cends && first_open < i; first_open++)
			cends[first_open] = c->emitted;
		if (!rc)
			rc = group_enc_add(c, pieces[i].p, pieces[i].len, &flushed);
		for (; !rc && flushed && cends && first_open <= i; first_open++)
			cends[first_open] = c->emitted;
	}
	if (!rc)
		rc = group_enc_end(c, out);
	for (; !rc && cends && first_open < npieces; first_open++)
		cends[first_open] = c->emitted;
	return rc;
}

/* ------------------------------------------------------------- decoding */

static int read_none(group_coder *c, const group_loc *loc, group_pread_fn *rd, void *rc_ctx,
		     uint64_t off, void *dst, size_t len)
{
	if (off + len > loc->clen)
		return err_set(STRATA_ECORRUPT, "uncompressed group: range ends past its %llu readable bytes",
			       (unsigned long long)loc->clen);
	int rc = rd(rc_ctx, dst, len, off);
	if (!rc) {
		c->cost.bytes_read += len;
		c->cost.bytes_decoded += len;
	}
	return rc;
}

/* A stream being decoded: its readable compressed bytes come in chunks. */
typedef struct dec_run {
	group_coder *c;
	const codec_ops *ops;
	const group_loc *loc;
	group_pread_fn *rd;
	void *rd_ctx;
	uint64_t in_off;   /* compressed bytes fetched */
	size_t in_pos, in_size; /* of the chunk in c->in */
	int out_full;      /* the last step filled its output: the codec may hold more */
	int ended;         /* the stream's end was decoded */
} dec_run;

/* Fetch the next chunk of compressed bytes; *none set when all readable
 * bytes were fetched already. */
static int dec_fetch(dec_run *d, int *none)
{
	*none = d->in_off == d->loc->clen;
	if (*none)
		return 0;
	uint64_t left = d->loc->clen - d->in_off;
	size_t n = left < GROUP_IO_CHUNK ? (size_t)left : GROUP_IO_CHUNK;
	int rc = d->rd(d->rd_ctx, d->c->in, n, d->in_off);
	if (rc)
		return rc;
	d->c->cost.bytes_read += n;
	d->in_off += n;
	d->in_size = n;
	d->in_pos = 0;
	return 0;
}

/* One decoder step into out[0, n): *got receives the bytes produced. A step
 * that could move (input at hand, room for output) but did not is damage. */
static int dec_once(dec_run *d, uint8_t *out, size_t n, size_t *got)
{
	size_t ip0 = d->in_pos;
	*got = 0;
	int rc = d->ops->dec_step(d->c, d->c->in, &d->in_pos, d->in_size, out, got, n, &d->ended);
	if (rc)
		return rc;
	d->c->cost.bytes_decoded += *got;
	d->out_full = *got == n;
	if (*got == 0 && d->in_pos == ip0 && ip0 < d->in_size && !d->ended)
		return dec_corrupt(d->ops->name, "the decoder makes no progress");
	return 0;
}

static int body_ends_early(uint64_t produced, uint64_t end)
{
	return err_set(STRATA_ECORRUPT, "group body ends at byte %llu, before %llu", (unsigned long long)produced,
		       (unsigned long long)end);
}

/* After the whole body: decode what is left of the readable bytes (the
 * stream's epilogue and checksum). Nothing may decode to body bytes, and
 * nothing may follow the stream's end. */
static int dec_drain(dec_run *d, uint64_t blen)
{
	while (!d->ended) {
		if (d->in_pos == d->in_size && !d->out_full) {
			int none, rc = dec_fetch(d, &none);
			if (rc || none)
				return rc; /* a prefix of the stream: fine */
		}
		size_t got;
		int rc = dec_once(d, d->c->out, GROUP_IO_CHUNK, &got);
		if (rc)
			return rc;
		if (got)
			return err_set(STRATA_ECORRUPT, "the stream holds more than the %llu-byte group body",
				       (unsigned long long)blen);
	}
	if (d->in_pos < d->in_size || d->in_off < d->loc->clen)
		return dec_corrupt(d->ops->name, "bytes follow the end of the stream");
	return 0;
}

static int read_stream(group_coder *c, const codec_ops *ops, const group_loc *loc, group_pread_fn *rd,
		       void *rd_ctx, uint64_t off, uint8_t *dst, size_t len)
{
	dec_run d = { c, ops, loc, rd, rd_ctx, 0, 0, 0, 0, 0 };
	uint64_t produced = 0, end = off + len;
	int rc = ops->dec_begin(c);
	while (!rc && produced < end) {
		if (d.ended)
			return body_ends_early(produced, end);
		if (d.in_pos == d.in_size && !d.out_full) {
			int none;
			if ((rc = dec_fetch(&d, &none)) != 0)
				return rc;
			if (none)
				return body_ends_early(produced, end);
		}
		/* Before `off` the body goes to scratch; from `off` on, into dst. */
		uint8_t *out = c->out;
		size_t n, got;
		if (produced < off) {
			uint64_t skip = off - produced;
			n = skip < GROUP_IO_CHUNK ? (size_t)skip : GROUP_IO_CHUNK;
		} else {
			out = dst + (produced - off);
			n = end - produced < DEC_OUT_MAX ? (size_t)(end - produced) : DEC_OUT_MAX;
		}
		rc = dec_once(&d, out, n, &got);
		produced += got;
	}
	if (rc)
		return err_prefix(rc, "at group body byte %llu: ", (unsigned long long)produced);
	return end == loc->blen ? dec_drain(&d, loc->blen) : 0;
}

int group_read(group_coder *c, const group_loc *loc, group_pread_fn *rd, void *rd_ctx,
	       uint64_t off, void *dst, size_t len)
{
	if (off > loc->blen || len > loc->blen - off)
		return err_set(STRATA_ECORRUPT, "range %llu+%zu lies outside a %llu-byte group body",
			       (unsigned long long)off, len, (unsigned long long)loc->blen);
	c->cost.groups++;
	if (len == 0)
		return 0;
	const codec_ops *ops = codec_get(loc->codec);
	if (!ops)
		return err_set(STRATA_EFORMAT, "unknown codec id %d", loc->codec);
	if (loc->codec == CODEC_NONE)
		return read_none(c, loc, rd, rd_ctx, off, dst, len);
	return read_stream(c, ops, loc, rd, rd_ctx, off, dst, len);
}
