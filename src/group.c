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
	if (!c->in || !c->out || !c->cctx || !c->dctx) {
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
	free(c->in);
	free(c->out);
	free(c);
}

void group_coder_cost(const group_coder *c, group_read_cost *out)
{
	*out = c->cost;
}

/* Sink wrapper that counts and checksums what passes through. */
typedef struct counted_sink {
	group_sink_fn *sink;
	void *ctx;
	XXH3_state_t *xs;
	uint64_t n;
} counted_sink;

static int counted_put(counted_sink *cs, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	XXH3_64bits_update(cs->xs, p, n);
	cs->n += n;
	return cs->sink(cs->ctx, p, n);
}

static int zstd_fail(size_t r, const char *what)
{
	return err_set(STRATA_EIO, "zstd %s failed: %s", what, ZSTD_getErrorName(r));
}

static int encode_zstd(group_coder *c, int level, const group_piece *pieces, size_t np,
		       uint64_t blen, counted_sink *cs)
{
	ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setPledgedSrcSize(c->cctx, blen);
	for (size_t i = 0; i <= np; i++) {
		int last = i == np;
		ZSTD_inBuffer in = { last ? NULL : pieces[i].p, last ? 0 : pieces[i].len, 0 };
		ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
		size_t left;
		do {
			ZSTD_outBuffer out = { c->out, GROUP_IO_CHUNK, 0 };
			left = ZSTD_compressStream2(c->cctx, &out, &in, mode);
			if (ZSTD_isError(left))
				return zstd_fail(left, "compression");
			int rc = counted_put(cs, c->out, out.pos);
			if (rc)
				return rc;
		} while (last ? left != 0 : in.pos < in.size);
	}
	return 0;
}

int group_encode(group_coder *c, int codec, int level, const group_piece *pieces,
		 size_t npieces, group_sink_fn *sink, void *sink_ctx, group_out *out)
{
	uint64_t blen = 0;
	for (size_t i = 0; i < npieces; i++)
		blen += pieces[i].len;
	XXH3_state_t *xs = XXH3_createState();
	if (!xs)
		return ERR_NOMEM();
	XXH3_64bits_reset(xs);
	counted_sink cs = { sink, sink_ctx, xs, 0 };
	int rc = 0;
	if (codec == CODEC_ZSTD) {
		rc = encode_zstd(c, level, pieces, npieces, blen, &cs);
	} else if (codec == CODEC_NONE) {
		for (size_t i = 0; i < npieces && !rc; i++)
			rc = counted_put(&cs, pieces[i].p, pieces[i].len);
	} else {
		rc = err_set(STRATA_EINVAL, "unknown codec %d", codec);
	}
	if (!rc) {
		out->clen = cs.n;
		out->blen = blen;
		out->sum = XXH3_64bits_digest(xs);
	}
	XXH3_freeState(xs);
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
		if (loc->clen != loc->blen)
			return err_set(STRATA_ECORRUPT, "uncompressed group has %llu bytes, body %llu",
				       (unsigned long long)loc->clen, (unsigned long long)loc->blen);
		return read_none(c, loc, rd, rd_ctx, off, dst, len);
	case CODEC_ZSTD:
		return read_zstd(c, loc, rd, rd_ctx, off, dst, len);
	default:
		return err_set(STRATA_EFORMAT, "unknown codec id %d", loc->codec);
	}
}
