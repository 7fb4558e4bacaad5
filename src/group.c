/* group.c - compress group bodies and read byte ranges back (group.h). */
#include "group.h"
#include "err.h"

#include <stdlib.h>
#include <xxhash.h>
#include <zstd.h>

#define GROUP_IO_CHUNK (128 * 1024)

struct group_coder {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *in;     /* GROUP_IO_CHUNK bytes: compressed input being read */
	uint8_t *out;    /* GROUP_IO_CHUNK bytes: output staging / skipped body */
	group_read_cost cost;
	/* the group being encoded (group_enc_*) */
	int codec;
	group_sink_fn *sink;
	void *sink_ctx;
	XXH3_state_t *xs;  /* checksum of the compressed bytes */
	uint64_t emitted;  /* compressed bytes passed to the sink */
	uint64_t pending;  /* body bytes since the last flush */
	uint64_t body;     /* body bytes added */
};

int group_coder_new(group_coder **out)
{
	group_coder *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM();
	c->in = malloc(GROUP_IO_CHUNK);
	c->out = malloc(GROUP_IO_CHUNK);
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	c->xs = XXH3_createState();
	if (!c->in || !c->out || !c->cctx || !c->dctx || !c->xs) {
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
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	XXH3_freeState(c->xs);
	free(c->in);
	free(c->out);
	free(c);
}

void group_coder_cost(const group_coder *c, group_read_cost *out)
{
	*out = c->cost;
}

static int zstd_fail(size_t r, const char *what)
{
	return err_set(STRATA_EIO, "zstd %s failed: %s", what, ZSTD_getErrorName(r));
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

/* Run the zstd stream over `in` with `mode` until it is consumed (continue)
 * or fully flushed (flush, end). */
static int enc_zstd(group_coder *c, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	size_t left;
	do {
		ZSTD_outBuffer out = { c->out, GROUP_IO_CHUNK, 0 };
		left = ZSTD_compressStream2(c->cctx, &out, in, mode);
		if (ZSTD_isError(left))
			return zstd_fail(left, "compression");
		int rc = enc_emit(c, c->out, out.pos);
		if (rc)
			return rc;
	} while (mode == ZSTD_e_continue ? in->pos < in->size : left != 0);
	return 0;
}

int group_enc_begin(group_coder *c, int codec, int level, group_sink_fn *sink, void *sink_ctx)
{
	if (codec != CODEC_ZSTD && codec != CODEC_NONE)
		return err_set(STRATA_EINVAL, "unknown codec %d", codec);
	c->codec = codec;
	c->sink = sink;
	c->sink_ctx = sink_ctx;
	c->emitted = c->pending = c->body = 0;
	XXH3_64bits_reset(c->xs);
	if (codec == CODEC_ZSTD) {
		ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_and_parameters);
		ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
	}
	return 0;
}

int group_enc_prepare(group_coder *c, size_t n, int *flushed)
{
	*flushed = 0;
	if (c->codec != CODEC_ZSTD || c->pending == 0 || c->pending + n <= GROUP_FLUSH_MIN)
		return 0;
	ZSTD_inBuffer in = { NULL, 0, 0 };
	int rc = enc_zstd(c, &in, ZSTD_e_flush);
	if (!rc) {
		c->pending = 0;
		*flushed = 1;
	}
	return rc;
}

int group_enc_add(group_coder *c, const void *p, size_t n, int *flushed)
{
	int rc;
	c->body += n;
	*flushed = 0;
	if (c->codec == CODEC_NONE) {
		*flushed = 1;
		return enc_emit(c, p, n);
	}
	c->pending += n;
	ZSTD_inBuffer in = { p, n, 0 };
	int flush = c->pending >= GROUP_FLUSH_MIN;
	if ((rc = enc_zstd(c, &in, flush ? ZSTD_e_flush : ZSTD_e_continue)) != 0)
		return rc;
	if (flush) {
		c->pending = 0;
		*flushed = 1;
	}
	return 0;
}

void group_enc_pos(const group_coder *c, uint64_t *emitted, uint64_t *pending)
{
	*emitted = c->emitted;
	*pending = c->pending;
}

int group_enc_end(group_coder *c, group_out *out)
{
	if (c->codec == CODEC_ZSTD) {
		ZSTD_inBuffer in = { NULL, 0, 0 };
		int rc = enc_zstd(c, &in, ZSTD_e_end);
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

static int read_none(group_coder *c, const group_loc *loc, group_pread_fn *rd, void *rc_ctx,
		     uint64_t off, void *dst, size_t len)
{
	int rc = rd(rc_ctx, dst, len, off);
	if (!rc) {
		c->cost.bytes_read += len;
		c->cost.bytes_decoded += len;
	}
	return rc;
}

static int read_zstd(group_coder *c, const group_loc *loc, group_pread_fn *rd, void *rd_ctx,
		     uint64_t off, uint8_t *dst, size_t len)
{
	ZSTD_DCtx_reset(c->dctx, ZSTD_reset_session_only);
	uint64_t in_off = 0, produced = 0, end = off + len;
	ZSTD_inBuffer in = { c->in, 0, 0 };
	int out_full = 0; /* the last call filled its output: zstd may hold more */
	while (produced < end) {
		if (in.pos == in.size && !out_full) {
			if (in_off == loc->clen)
				return err_set(STRATA_ECORRUPT, "group body ends at byte %llu, before %llu",
					       (unsigned long long)produced, (unsigned long long)end);
			size_t n = loc->clen - in_off < GROUP_IO_CHUNK ? (size_t)(loc->clen - in_off) : GROUP_IO_CHUNK;
			int rc = rd(rd_ctx, c->in, n, in_off);
			if (rc)
				return rc;
			c->cost.bytes_read += n;
			in_off += n;
			in.size = n;
			in.pos = 0;
		}
		/* Before `off` the body goes to scratch; from `off` on, into dst. */
		ZSTD_outBuffer out;
		if (produced < off) {
			uint64_t skip = off - produced;
			out = (ZSTD_outBuffer){ c->out, skip < GROUP_IO_CHUNK ? (size_t)skip : GROUP_IO_CHUNK, 0 };
		} else {
			out = (ZSTD_outBuffer){ dst + (produced - off), (size_t)(end - produced), 0 };
		}
		size_t r = ZSTD_decompressStream(c->dctx, &out, &in);
		if (ZSTD_isError(r))
			return err_set(STRATA_ECORRUPT, "zstd decompression failed at body byte %llu: %s",
				       (unsigned long long)produced, ZSTD_getErrorName(r));
		produced += out.pos;
		c->cost.bytes_decoded += out.pos;
		out_full = out.pos == out.size;
		if (r == 0 && produced < end)
			return err_set(STRATA_ECORRUPT, "group body ends at byte %llu, before %llu",
				       (unsigned long long)produced, (unsigned long long)end);
	}
	return 0;
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
	switch (loc->codec) {
	case CODEC_NONE:
		if (off + len > loc->clen)
			return err_set(STRATA_ECORRUPT, "uncompressed group: range ends past its %llu readable bytes",
				       (unsigned long long)loc->clen);
		return read_none(c, loc, rd, rd_ctx, off, dst, len);
	case CODEC_ZSTD:
		return read_zstd(c, loc, rd, rd_ctx, off, dst, len);
	default:
		return err_set(STRATA_EFORMAT, "unknown codec id %d", loc->codec);
	}
}
