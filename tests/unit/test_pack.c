/* test_pack.c - pack writer and reader (src/pack.h): packs of a range of
 * units, their unit tables, and record entries of every encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bytes.h"
#include "delta.h"
#include "group.h"
#include "os.h"
#include "pack.h"
#include "runs.h"
#include "strata.h"
#include "testutil.h"

#include <xxhash.h>

/* ---- a model pack: what the test writes and expects back */

typedef struct mrec {
	int key;        /* index into KEYS */
	uint64_t n;
	size_t size;    /* content length */
	uint64_t seed;
	int text;       /* compressible content */
	int enc;        /* ENC_LITERAL, ENC_DELTA (against the group body before
			 * it) or ENC_BASE (against record `base` of its key) */
	uint64_t base;
} mrec;

typedef struct mgroup {
	int codec;
	int level;
	int first, count; /* records [first, first+count) of RECS */
	int streamed;     /* written with group_enc_* + pack_writer_sink */
} mgroup;

static const struct { const char *p; size_t len; } KEYS[] = {
	{ "alpha", 5 },
	{ "beta", 4 },
	{ "\x00\xff" "bin\x00", 6 },
};
#define NKEYS 3

/* A delta record's content is its source's content followed by fresh
 * bytes, so that its delta is mostly one copy. */
static const mrec RECS[] = {
	{ 0, 1, 1000, 1, 1, ENC_LITERAL, 0 }, { 0, 2, 2000, 2, 1, ENC_DELTA, 0 },     /* group 0, zstd */
	{ 1, 5, 300, 3, 0, ENC_LITERAL, 0 },
	{ 1, 6, 4000, 4, 0, ENC_LITERAL, 0 }, { 2, 1, 0, 5, 0, ENC_LITERAL, 0 },     /* group 1, none */
	{ 2, 2, 10, 6, 1, ENC_LITERAL, 0 },
	{ 0, 3, 0, 7, 0, ENC_LITERAL, 0 },                                           /* group 2, none, empty */
	{ 0, 4, 200000, 8, 1, ENC_BASE, 2 },                                         /* group 3, zstd */
};
#define NRECS 8

static const mgroup GROUPS[] = {
	{ CODEC_ZSTD, 3, 0, 3, 0 },
	{ CODEC_NONE, 0, 3, 3, 1 },
	{ CODEC_NONE, 0, 6, 1, 0 },
	{ CODEC_ZSTD, 9, 7, 1, 1 },
};
#define NGROUPS 4

static const char LABEL[] = "a label\0with a NUL and \xc3\xa9";
#define LABEL_LEN (sizeof LABEL - 1)

/* The unit record i was committed in: spread over the range in record
 * order (so each key's units never decrease). */
static uint64_t unit_of(int i, uint64_t first, uint64_t last)
{
	return first + (uint64_t)i * (last - first + 1) / NRECS;
}

/* Label and time of the k-th unit of a range. */
static void unit_label(uint64_t k, char *buf, size_t cap, size_t *len)
{
	if (k == 0) {
		memcpy(buf, LABEL, LABEL_LEN);
		*len = LABEL_LEN;
	} else if (k == 1) {
		*len = 0;
	} else {
		*len = (size_t)snprintf(buf, cap, "unit +%llu", (unsigned long long)k);
	}
}

static int64_t unit_time(int64_t t, uint64_t k)
{
	return t + (int64_t)k * 10;
}

typedef struct written {
	char *path;
	uint64_t first, last;
	int64_t time;
	uint64_t size;
	pack_group groups[NGROUPS];
	uint8_t *bodies[NGROUPS];
	uint64_t blens[NGROUPS];
	uint8_t *content[NRECS];  /* what each record holds */
	size_t enclen[NRECS];     /* length of its encoding */
	uint64_t cend[NRECS];     /* its compressed prefix, as the coder said */
} written;

/* Content of record i (earlier records' content already made). */
static uint8_t *make_content(const written *w, int i)
{
	const mrec *r = &RECS[i];
	uint8_t *p = tu_alloc(r->size);
	const uint8_t *src = NULL;
	size_t srclen = 0;
	if (r->enc == ENC_DELTA) {
		src = w->content[i - 1];
		srclen = RECS[i - 1].size;
	} else if (r->enc == ENC_BASE) {
		for (int j = 0; j < i; j++)
			if (RECS[j].key == r->key && RECS[j].n == r->base) {
				src = w->content[j];
				srclen = RECS[j].size;
			}
		assert_non_null(src);
	}
	assert_true(srclen <= r->size);
	if (srclen)
		memcpy(p, src, srclen);
	if (r->text)
		tu_fill_text(p + srclen, r->size - srclen, r->seed);
	else
		tu_fill_random(p + srclen, r->size - srclen, r->seed);
	return p;
}

/* Encode record i, whose group body so far is body[0, off). */
static uint8_t *make_encoding(const written *w, int i, const uint8_t *body, size_t off, size_t *len)
{
	const mrec *r = &RECS[i];
	if (r->enc == ENC_LITERAL) {
		*len = r->size;
		uint8_t *p = tu_alloc(r->size);
		memcpy(p, w->content[i], r->size);
		return p;
	}
	const uint8_t *src = body;
	size_t srclen = off;
	if (r->enc == ENC_BASE)
		for (int j = 0; j < i; j++)
			if (RECS[j].key == r->key && RECS[j].n == r->base) {
				src = w->content[j];
				srclen = RECS[j].size;
			}
	delta_index *ix;
	assert_int_equal(delta_index_new(&ix, 1u << 20), 0);
	assert_int_equal(delta_index_add(ix, src, 0, srclen), 0);
	bytebuf out = { 0 };
	assert_int_equal(delta_encode(ix, src, srclen, w->content[i], r->size, SIZE_MAX, &out, NULL), 0);
	delta_index_free(ix);
	assert_true(out.len < r->size); /* the copy was found */
	*len = out.len;
	return out.p;
}

/* The footer version the model writers write (tests set it; 2 otherwise). */
static int footer_version = 2;

/* Write the model pack of units first..last into dir; record what was
 * written. */
static void write_model(const char *dir, uint64_t first, uint64_t last, int64_t time, written *w)
{
	memset(w, 0, sizeof *w);
	w->first = first;
	w->last = last;
	w->time = time;
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, dir, first, last, time), 0);
	pack_writer_footer_version(pw, footer_version);
	/* The temporary file exists, the final one not yet. */
	assert_int_equal(tu_count_names(dir, "tmp-", ".pack"), 1);
	assert_int_equal(tu_count_names(dir, "", ""), 1);
	assert_int_equal(pack_writer_bytes(pw), PACK_HEADER_SIZE);
	char name[32];
	pack_name(name, sizeof name, first, last);
	assert_string_equal(pack_writer_name(pw), name);
	for (uint64_t k = 0; k <= last - first; k++) {
		char label[64];
		size_t len;
		unit_label(k, label, sizeof label, &len);
		assert_int_equal(pack_writer_add_unit(pw, first + k, unit_time(time, k), label, len), 0);
	}
	for (int k = 0; k < NKEYS; k++) {
		uint32_t idx;
		assert_int_equal(pack_writer_add_key(pw, KEYS[k].p, KEYS[k].len, &idx), 0);
		assert_int_equal(idx, (uint32_t)k);
	}
	for (int i = 0; i < NRECS; i++)
		w->content[i] = make_content(w, i);
	for (int g = 0; g < NGROUPS; g++) {
		const mgroup *mg = &GROUPS[g];
		bytebuf body = { 0 };
		group_piece pc[4];
		uint8_t *enc[4];
		for (int i = 0; i < mg->count; i++) {
			int ri = mg->first + i;
			enc[i] = make_encoding(w, ri, body.p, body.len, &w->enclen[ri]);
			assert_int_equal(buf_append(&body, enc[i], w->enclen[ri]), 0);
			pc[i] = (group_piece){ enc[i], w->enclen[ri] };
		}
		w->bodies[g] = body.len ? body.p : tu_alloc(0);
		if (!body.len)
			free(body.p);
		w->blens[g] = body.len;
		uint64_t before = pack_writer_bytes(pw);
		uint32_t gidx;
		uint64_t cends[4];
		if (!mg->streamed) {
			assert_int_equal(pack_writer_add_group(pw, c, mg->codec, mg->level, pc, (size_t)mg->count,
							       &gidx, cends), 0);
		} else {
			/* The streaming path unitw uses: the coder's sink is the writer. */
			assert_int_equal(group_enc_begin(c, mg->codec, mg->level, pack_writer_sink, pw), 0);
			int open = 0;
			for (int i = 0; i < mg->count; i++) {
				int flushed;
				uint64_t emitted, pending;
				assert_int_equal(group_enc_prepare(c, pc[i].len, &flushed), 0);
				group_enc_pos(c, &emitted, &pending);
				for (; flushed && open < i; open++)
					cends[open] = emitted;
				assert_int_equal(group_enc_add(c, pc[i].p, pc[i].len, &flushed), 0);
				group_enc_pos(c, &emitted, &pending);
				assert_int_equal(pack_writer_bytes(pw), before + emitted);
				for (; flushed && open <= i; open++)
					cends[open] = emitted;
			}
			group_out go;
			assert_int_equal(group_enc_end(c, &go), 0);
			for (; open < mg->count; open++)
				cends[open] = go.clen;
			assert_int_equal(pack_writer_end_group(pw, before, mg->codec, mg->level, &go, &gidx), 0);
		}
		assert_int_equal(gidx, (uint32_t)g);
		const pack_footer *f = pack_writer_footer(pw);
		assert_int_equal(f->ngroups, (size_t)g + 1);
		w->groups[g] = f->groups[g];
		assert_int_equal(w->groups[g].offset, before);
		assert_int_equal(pack_writer_bytes(pw), before + w->groups[g].clen);
		uint64_t off = 0;
		for (int i = 0; i < mg->count; i++) {
			int ri = mg->first + i;
			const mrec *r = &RECS[ri];
			w->cend[ri] = cends[i];
			assert_true(cends[i] <= w->groups[g].clen);
			pack_record pr = { .key = (uint32_t)r->key, .group = (uint32_t)g, .n = r->n, .off = off,
					   .len = w->enclen[ri], .size = r->size,
					   .sum = XXH3_64bits(w->content[ri], r->size), .cend = cends[i],
					   .base = r->base, .unit = unit_of(ri, first, last), .enc = (uint8_t)r->enc };
			assert_int_equal(pack_writer_add_record(pw, &pr), 0);
			off += w->enclen[ri];
			free(enc[i]);
		}
	}
	uint64_t size = 0;
	assert_int_equal(pack_writer_finish(pw, &size), 0);
	w->path = tu_join(dir, name);
	assert_string_equal(pack_writer_path(pw), w->path);
	assert_string_equal(pack_writer_name(pw), name);
	pack_writer_free(pw);
	group_coder_free(c);
	w->size = size;
	assert_int_equal(tu_file_size(w->path), size);
	assert_int_equal(tu_count_names(dir, "tmp-", ""), 0);
	/* Packs are written read-only. */
	struct stat st;
	assert_int_equal(stat(w->path, &st), 0);
	assert_int_equal(st.st_mode & 0222, 0);
}

static void written_free(written *w)
{
	for (int g = 0; g < NGROUPS; g++)
		free(w->bodies[g]);
	for (int i = 0; i < NRECS; i++)
		free(w->content[i]);
	free(w->path);
}

/* The parsed footer equals what was written, field by field. */
static void check_footer(const pack_reader *r, const written *w)
{
	const pack_footer *f = &r->footer;
	assert_int_equal(f->first, w->first);
	assert_int_equal(f->last, w->last);
	assert_int_equal(f->time, w->time);
	assert_int_equal(f->nunits, w->last - w->first + 1);
	for (uint64_t k = 0; k < f->nunits; k++) {
		char label[64];
		size_t len;
		unit_label(k, label, sizeof label, &len);
		assert_int_equal(f->units[k].unit, w->first + k);
		assert_int_equal(f->units[k].time, unit_time(w->time, k));
		assert_int_equal(f->units[k].label_len, len);
		if (len)
			assert_memory_equal(f->units[k].label, label, len);
	}
	assert_int_equal(f->nkeys, NKEYS);
	for (int k = 0; k < NKEYS; k++) {
		assert_int_equal(f->keys[k].len, KEYS[k].len);
		assert_memory_equal(f->keys[k].p, KEYS[k].p, KEYS[k].len);
	}
	assert_int_equal(f->ngroups, NGROUPS);
	uint64_t pos = PACK_HEADER_SIZE;
	for (int g = 0; g < NGROUPS; g++) {
		const pack_group *a = &f->groups[g], *b = &w->groups[g];
		assert_int_equal(a->offset, b->offset);
		assert_int_equal(a->offset, pos);
		assert_int_equal(a->clen, b->clen);
		assert_int_equal(a->blen, b->blen);
		assert_int_equal(a->blen, w->blens[g]);
		assert_int_equal(a->sum, b->sum);
		assert_int_equal(a->codec, GROUPS[g].codec);
		assert_int_equal(a->level, GROUPS[g].level);
		pos += a->clen;
	}
	assert_int_equal(r->footer_off, pos);
	assert_int_equal(r->size, w->size);
	assert_int_equal(f->nrecords, NRECS);
	int g = 0;
	uint64_t off = 0;
	for (int i = 0; i < NRECS; i++) {
		while (i >= GROUPS[g].first + GROUPS[g].count) {
			g++;
			off = 0;
		}
		const pack_record *pr = &f->records[i];
		assert_int_equal(pr->key, (uint32_t)RECS[i].key);
		assert_int_equal(pr->group, (uint32_t)g);
		assert_int_equal(pr->n, RECS[i].n);
		assert_int_equal(pr->off, off);
		assert_int_equal(pr->len, w->enclen[i]);
		assert_int_equal(pr->size, RECS[i].size);
		assert_int_equal(pr->enc, RECS[i].enc);
		assert_int_equal(pr->base, RECS[i].base);
		assert_int_equal(pr->cend, w->cend[i]);
		assert_int_equal(pr->unit, unit_of(i, w->first, w->last));
		assert_int_equal(pr->sum, XXH3_64bits(w->content[i], RECS[i].size));
		if (pr->enc == ENC_LITERAL)
			assert_memory_equal(w->bodies[g] + off, w->content[i], RECS[i].size);
		off += w->enclen[i];
	}
}

/* Decode record i of an open pack from its group body: literal, in-group
 * delta or base delta (whose base is decoded first, from `decoded`). */
static uint8_t *decode_record(const pack_reader *r, int i, const uint8_t *body, uint8_t *const *decoded)
{
	const pack_record *pr = &r->footer.records[i];
	uint8_t *dst = tu_alloc(pr->size);
	switch (pr->enc) {
	case ENC_LITERAL:
		memcpy(dst, body + pr->off, pr->size);
		break;
	case ENC_DELTA:
		assert_int_equal(delta_apply(body, pr->off, body + pr->off, pr->len, dst, pr->size), 0);
		break;
	case ENC_BASE: {
		int b = -1;
		for (int j = 0; j < i; j++)
			if (r->footer.records[j].key == pr->key && r->footer.records[j].n == pr->base)
				b = j;
		assert_true(b >= 0);
		assert_int_equal(delta_apply(decoded[b], r->footer.records[b].size, body + pr->off, pr->len, dst,
					     pr->size), 0);
		break;
	}
	default:
		fail_msg("encoding %d", pr->enc);
	}
	assert_int_equal(XXH3_64bits(dst, pr->size), pr->sum);
	return dst;
}

static void check_written(const char *dir, uint64_t first, uint64_t last, const char *want_name)
{
	written w;
	const int64_t t = 1700000000;
	write_model(dir, first, last, t, &w);
	assert_non_null(strstr(w.path, want_name));

	pack_reader *r;
	assert_int_equal(pack_open(&r, w.path), 0);
	check_footer(r, &w);

	/* Every group decodes to its body, and every record from it. */
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	uint8_t *decoded[NRECS] = { 0 };
	int ri = 0;
	for (uint32_t g = 0; g < NGROUPS; g++) {
		uint8_t *body = NULL;
		assert_int_equal(pack_read_group(r, c, g, &body), 0);
		assert_non_null(body);
		assert_memory_equal(body, w.bodies[g], w.blens[g]);
		for (; ri < NRECS && r->footer.records[ri].group == g; ri++) {
			decoded[ri] = decode_record(r, ri, body, decoded);
			assert_memory_equal(decoded[ri], w.content[ri], RECS[ri].size);
		}
		free(body);
	}
	assert_int_equal(ri, NRECS);
	/* And each record's encoding through pack_src_pread + group_read,
	 * reading no more than its compressed prefix. */
	for (int i = 0; i < NRECS; i++) {
		const pack_record *pr = &r->footer.records[i];
		const pack_group *gr = &r->footer.groups[pr->group];
		pack_src src = { r->fd, gr->offset, w.path };
		group_loc gl = { gr->codec, pr->cend, gr->blen };
		uint8_t *dst = tu_alloc(pr->len);
		group_read_cost before, after;
		group_coder_cost(c, &before);
		assert_int_equal(group_read(c, &gl, pack_src_pread, &src, pr->off, dst, pr->len), 0);
		group_coder_cost(c, &after);
		assert_true(after.bytes_read - before.bytes_read <= pr->cend);
		assert_memory_equal(dst, w.bodies[pr->group] + pr->off, pr->len);
		free(dst);
		free(decoded[i]);
	}
	group_coder_free(c);
	pack_close(r);

	/* The same through pack_open_fd. */
	int fd = open(w.path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pack_open_fd(&r, fd, w.path), 0);
	check_footer(r, &w);
	pack_close(r);
	written_free(&w);
}

/* ---- record runs (src/runs.h) */

static void test_run_codec(void **state)
{
	(void)state;
	enum { N = 1200 };
	pack_record *r = (void *)tu_alloc(N * sizeof *r);
	uint64_t off = 0;
	for (size_t i = 0; i < N; i++) {
		/* Breaks: key at 100, unit at 200, group at 300, n gap at 400;
		 * then a long stretch that RUN_MAX cuts. */
		uint32_t group = i >= 300;
		if (i == 300)
			off = 0;
		r[i] = (pack_record){ .key = i >= 100 && i < 150, .group = group, .n = 1000 + i + (i >= 400),
				      .off = off, .len = i % 3 ? i * 37 : 0, .sum = i * 0x9e3779b97f4a7c15ull,
				      .cend = off / 100, .unit = 5 + (i >= 200), .enc = (uint8_t)(i % 5) };
		r[i].size = r[i].enc == ENC_LITERAL ? r[i].len : r[i].len * 2 + i;
		r[i].base = r[i].enc == ENC_BASE || r[i].enc == ENC_PATCH ? r[i].n - 1 - i % 9 : 0;
		off += r[i].len;
	}
	size_t want_ends[] = { 100, 150, 200, 300, 400, 912, N };
	size_t start = 0, k = 0;
	pack_record out[RUN_MAX];
	while (start < N) {
		size_t e = run_end(r, N, start);
		assert_true(k < sizeof want_ends / sizeof want_ends[0]);
		assert_int_equal(e, want_ends[k++]);
		bytebuf b = { 0 };
		assert_int_equal(run_encode(r + start, e - start, 0, &b), 0);
		size_t n = 0;
		assert_int_equal(run_decode(b.p, b.len, r[start].key, r[start].unit, out, &n, "t"), 0);
		assert_int_equal(n, e - start);
		for (size_t i = 0; i < n; i++)
			assert_memory_equal(&out[i], &r[start + i], sizeof out[i]);
		/* Every cut short of the end is malformed, never a shorter run. */
		for (size_t cut = 0; cut < b.len; cut++)
			assert_int_equal(run_decode(b.p, cut, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
		/* A byte past the end too. */
		assert_int_equal(buf_append(&b, "", 1), 0);
		assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
		buf_free(&b);
		start = e;
	}
	assert_int_equal(k, sizeof want_ends / sizeof want_ends[0]);
	free(r);
}

/* Shared checksums (footer version 3): which records of a run share one,
 * their encoding, and the check of their content against it. */
static void test_run_shared_sums(void **state)
{
	(void)state;
	enum { N = 20, LEN = 10 };
	pack_record r[N], own[N];
	uint8_t body[N * LEN];
	tu_fill_text(body, sizeof body, 3);
	for (size_t i = 0; i < N; i++) {
		/* Blocks end after records 5, 6 and 19; record 12 is a delta. */
		r[i] = (pack_record){ .group = 0, .n = 1 + i, .off = i * LEN, .len = LEN, .size = LEN,
				      .sum = XXH3_64bits(body + i * LEN, LEN), .cend = i < 6 ? 100 : i < 7 ? 150 : 300,
				      .unit = 1, .enc = i == 12 ? ENC_DELTA : ENC_LITERAL };
		if (i == 12)
			r[i].size = 99;
	}
	memcpy(own, r, sizeof r);
	assert_int_equal(run_end(r, N, 0), N);
	run_share_sums(r, N);
	/* Sharing: 0..5, 7..11, 13..19; 6 is alone in its block, 12 a delta. */
	const struct { size_t first, count; } want[] = { { 0, 6 }, { 6, 0 }, { 7, 5 }, { 12, 0 }, { 13, 7 } };
	for (size_t w = 0; w < 5; w++)
		for (size_t i = want[w].first; i < want[w].first + (want[w].count ? want[w].count : 1); i++) {
			assert_int_equal(r[i].rcount, want[w].count);
			assert_int_equal(r[i].rpos, want[w].count ? i - want[w].first : 0);
			if (!want[w].count)
				assert_int_equal(r[i].sum, own[i].sum);
			else
				assert_int_equal(r[i].sum, r[want[w].first].sum);
		}
	assert_true(r[0].sum != r[7].sum && r[0].sum != own[0].sum);
	bytebuf b = { 0 };
	assert_int_equal(run_encode(r, N, 1, &b), 0);
	/* 17 records carry no checksum: 136 bytes fewer than version 2's. */
	bytebuf b2 = { 0 };
	assert_int_equal(run_encode(own, N, 0, &b2), 0);
	assert_int_equal(b2.len - b.len, 8 * (N - 3 - 2));
	pack_record out[RUN_MAX];
	size_t n = 0;
	for (size_t cut = 0; cut < b.len; cut++)
		assert_int_equal(run_decode(b.p, cut, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), 0);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++)
		assert_memory_equal(&out[i], &r[i], sizeof out[i]);
	/* The check: each sharing stretch against its content, and a changed
	 * byte of its last record fails it. */
	for (size_t w = 0; w < 5; w += 2) {
		const pack_record *first = &out[want[w].first];
		assert_int_equal(run_check(first, body + first->off, first->off), 0);
		uint8_t copy[N * LEN];
		memcpy(copy, body, sizeof copy);
		copy[first->off + want[w].count * LEN - 1] ^= 1;
		assert_int_equal(run_check(first, copy + first->off, first->off), STRATA_ECORRUPT);
	}
	/* A run that ends in a shared checksum, or shares one with a delta,
	 * is malformed: flip bit 5 of record 19's flags, then of 11's. */
	run_head h;
	size_t at = run_head_decode(b.p, b.len, &h);
	assert_true(at > 0);
	size_t flag_at[N];
	for (size_t i = 0; i < N; i++) { /* walk the entries: flags, len, [size], [sum], [cend] */
		flag_at[i] = at;
		uint8_t f = b.p[at++];
		uint64_t v;
		at += varint_get(b.p + at, b.len - at, &v);
		if (f & 8)
			at += varint_get(b.p + at, b.len - at, &v);
		if (!(f & 32))
			at += 8;
		if (f & 16)
			at += varint_get(b.p + at, b.len - at, &v);
	}
	assert_int_equal(at, b.len);
	b.p[flag_at[19]] |= 0x20;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	b.p[flag_at[19]] &= (uint8_t)~0x20;
	b.p[flag_at[11]] |= 0x20;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	buf_free(&b);
	buf_free(&b2);
}

/* Uniform runs (footer version 3): literals of one length listed by
 * block; which runs are written so, their size, round trip, damage. */
static void test_run_uniform(void **state)
{
	(void)state;
	enum { N = 20, LEN = 10 };
	pack_record r[N];
	uint8_t body[N * LEN];
	tu_fill_text(body, sizeof body, 5);
	for (size_t i = 0; i < N; i++) /* blocks end after records 5, 6 and 19 */
		r[i] = (pack_record){ .n = 7 + i, .off = 40 + i * LEN, .len = LEN, .size = LEN,
				      .sum = XXH3_64bits(body + i * LEN, LEN), .cend = i < 6 ? 100 : i < 7 ? 150 : 300,
				      .unit = 1, .enc = ENC_LITERAL };
	bytebuf plain = { 0 }, b = { 0 };
	/* Without shared checksums the blocks of several records do not fit:
	 * written record by record. */
	assert_int_equal(run_encode(r, N, 1, &plain), 0);
	assert_false(run_is_uniform(plain.p, plain.len));
	run_share_sums(r, N);
	assert_int_equal(r[6].rcount, 0); /* alone in its block: its own */
	/* Version 2 footers never hold one. */
	assert_int_equal(run_encode(r, N, 0, &plain), 0);
	assert_int_equal(run_encode(r, N, 1, &b), 0);
	assert_true(run_is_uniform(b.p, b.len));
	/* header (4), flags, length, blocks, then 3 blocks of count, sum,
	 * prefix (100 takes one byte, 150 and 300 two) */
	assert_int_equal(b.len, 4 + 3 + (1 + 8 + 1) + 2 * (1 + 8 + 2));
	pack_record out[RUN_MAX];
	size_t n;
	for (size_t cut = 0; cut < b.len; cut++)
		assert_int_equal(run_decode(b.p, cut, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), 0);
	assert_int_equal(n, N);
	for (size_t i = 0; i < N; i++)
		assert_memory_equal(&out[i], &r[i], sizeof out[i]);
	assert_int_equal(run_check(&out[7], body + 7 * LEN, out[7].off), 0);
	/* Flags other than F_UNIFORM alone, a block count of 0, a block that
	 * holds more records than the run, prefixes out of order: malformed. */
	run_head h;
	size_t at = run_head_decode(b.p, b.len, &h);
	assert_int_equal(b.p[at], 0x40);
	b.p[at] = 0x41;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	b.p[at] = 0x40;
	b.p[at + 2] = 0;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	b.p[at + 2] = 3;
	b.p[at + 3] = 21;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	b.p[at + 3] = 6;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), 0);
	/* the second block's prefix (after count and sum): 150 -> 99 */
	size_t second = at + 3 + 10;
	assert_int_equal(b.p[second + 9], (150 & 0x7f) | 0x80);
	b.p[second + 9] = 99;
	b.p[second + 10] = 0;
	assert_int_equal(run_decode(b.p, b.len, 0, 1, out, &n, "t"), STRATA_ECORRUPT);
	/* A record of another length: written record by record. */
	r[3].len = r[3].size = LEN + 1;
	bytebuf other = { 0 };
	assert_int_equal(run_encode(r, N, 1, &other), 0);
	assert_false(run_is_uniform(other.p, other.len));
	buf_free(&plain);
	buf_free(&b);
	buf_free(&other);
}

static void test_write_read_footer(void **state)
{
	footer_version = 2;
	check_written(*state, 7, 7, "/0000000007.pack");
}

/* A pack of a range of units (a repack's): one unit entry per unit, each
 * record in its own unit. */
static void test_write_read_range(void **state)
{
	const char *dir = *state;
	footer_version = 2;
	check_written(dir, 3, 6, "/0000000003-0000000006.pack");
	char *sub = tu_join(dir, "wide");
	mkdir(sub, 0755);
	check_written(sub, 1, 40, "/0000000001-0000000040.pack");
	free(sub);
}

/* Packs of builds before format 1.2 (footer version 1) still read. */
static void test_write_read_footer_v1(void **state)
{
	footer_version = 1;
	check_written(*state, 3, 5, "/0000000003-0000000005.pack");
	footer_version = 2;
}

/* The on-disk bytes follow FORMAT.md: header fields, footer tables (units,
 * groups, keys, then record entries of 80 bytes in version 1, runs in
 * version 2), trailer fields. *recs is where the records start. */
static void check_layout(const char *dir, int version, written *w, uint8_t **file, const uint8_t **recs,
			 const uint8_t **fend)
{
	footer_version = version;
	write_model(dir, 3, 5, 12345, w);
	footer_version = 2;
	written *wp = w;
#define w (*wp)
	assert_non_null(strstr(w.path, "/0000000003-0000000005.pack"));
	size_t n;
	uint8_t *p = tu_read_file(w.path, &n);
	assert_memory_equal(p, "STRATApk", 8);
	assert_int_equal(le_get32(p + 8), 1);
	assert_int_equal(le_get32(p + 12), 64);
	assert_int_equal(le_get64(p + 16), 5);     /* last unit */
	assert_int_equal(le_get64(p + 24), 12345); /* creation time */
	assert_int_equal(le_get64(p + 32), 3);     /* first unit */
	for (int i = 40; i < 56; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(le_get64(p + 56), XXH3_64bits(p, 56));
	const uint8_t *t = p + n - 48;
	uint64_t foff = le_get64(t), flen = le_get64(t + 8);
	assert_int_equal(foff + flen + 48, n);
	assert_int_equal(le_get64(t + 16), XXH3_64bits(p + foff, flen));
	assert_int_equal(le_get64(t + 24), 5);
	assert_int_equal(le_get32(t + 32), 1);
	assert_int_equal(le_get32(t + 36), 48);
	assert_memory_equal(t + 40, "STRATAen", 8);
	const uint8_t *f = p + foff;
	assert_int_equal(le_get32(f), version);
	assert_int_equal(le_get32(f + 4), NKEYS);
	assert_int_equal(le_get32(f + 8), NGROUPS);
	assert_int_equal(le_get32(f + 12), 3); /* units 3..5 */
	assert_int_equal(le_get64(f + 16), NRECS);
	/* Unit entries: u64 unit, u64 time, u32 label length, label. */
	const uint8_t *q = f + 24;
	size_t unitbytes = 0;
	for (uint64_t k = 0; k < 3; k++) {
		char label[64];
		size_t len;
		unit_label(k, label, sizeof label, &len);
		assert_int_equal(le_get64(q), 3 + k);
		assert_int_equal((int64_t)le_get64(q + 8), unit_time(12345, k));
		assert_int_equal(le_get32(q + 16), len);
		if (len)
			assert_memory_equal(q + 20, label, len);
		q += 20 + len;
		unitbytes += 20 + len;
	}
	/* Group entries, 48 bytes. */
	for (int g = 0; g < NGROUPS; g++, q += 48) {
		assert_int_equal(le_get64(q), w.groups[g].offset);
		assert_int_equal(le_get64(q + 8), w.groups[g].clen);
		assert_int_equal(le_get64(q + 16), w.groups[g].blen);
		assert_int_equal(le_get64(q + 24), w.groups[g].sum);
		assert_int_equal(q[32], GROUPS[g].codec);
		assert_int_equal((int8_t)q[33], GROUPS[g].level);
		for (int i = 34; i < 48; i++)
			assert_int_equal(q[i], 0);
	}
	size_t keybytes = 0;
	for (int k = 0; k < NKEYS; k++, q += 2 + KEYS[k - 1].len) {
		assert_int_equal(le_get16(q), KEYS[k].len);
		assert_memory_equal(q + 2, KEYS[k].p, KEYS[k].len);
		keybytes += 2 + KEYS[k].len;
	}
	assert_ptr_equal(q, f + 24 + unitbytes + NGROUPS * 48 + keybytes);
#undef w
	*file = p;
	*recs = q;
	*fend = f + flen;
}

static void test_layout_bytes(void **state)
{
	written w;
	uint8_t *p;
	const uint8_t *q, *fend;
	check_layout(*state, 1, &w, &p, &q, &fend);
	/* Record entries, 80 bytes. */
	uint64_t off = 0;
	int g = 0;
	for (int i = 0; i < NRECS; i++, q += 80) {
		while (i >= GROUPS[g].first + GROUPS[g].count) {
			g++;
			off = 0;
		}
		assert_int_equal(le_get32(q), RECS[i].key);
		assert_int_equal(le_get32(q + 4), g);
		assert_int_equal(le_get64(q + 8), RECS[i].n);
		assert_int_equal(le_get64(q + 16), off);
		assert_int_equal(le_get64(q + 24), w.enclen[i]);
		assert_int_equal(le_get64(q + 32), RECS[i].size);
		assert_int_equal(le_get64(q + 40), XXH3_64bits(w.content[i], RECS[i].size));
		assert_int_equal(le_get64(q + 48), w.cend[i]);
		assert_int_equal(le_get64(q + 56), RECS[i].base);
		assert_int_equal(le_get64(q + 64), unit_of(i, 3, 5));
		assert_int_equal(q[72], RECS[i].enc);
		for (int b = 73; b < 80; b++)
			assert_int_equal(q[b], 0);
		off += w.enclen[i];
	}
	assert_ptr_equal(q, fend);
	free(p);
	written_free(&w);
}

static uint64_t get_varint(const uint8_t **q)
{
	uint64_t v = 0;
	for (int shift = 0;; shift += 7) {
		uint8_t b = *(*q)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
}

/* Footer version 2: runs of records as FORMAT.md, "Record runs", lays them
 * out, read here without the library's decoder. */
static void test_layout_bytes_v2(void **state)
{
	written w;
	uint8_t *p;
	const uint8_t *q, *fend;
	check_layout(*state, 2, &w, &p, &q, &fend);
	uint64_t nruns = le_get64(q);
	q += 8;
	int i = 0, g = 0;
	uint64_t off = 0;
	for (uint64_t run = 0; run < nruns; run++) {
		uint64_t key = get_varint(&q), unit = get_varint(&q), len = get_varint(&q);
		const uint8_t *end = q + len;
		uint64_t grp = get_varint(&q), first = get_varint(&q), count = get_varint(&q);
		uint64_t first_off = get_varint(&q), cend = 0;
		assert_true(count >= 1 && count <= 512);
		for (uint64_t k = 0; k < count; k++, i++) {
			assert_true(i < NRECS);
			while (i >= GROUPS[g].first + GROUPS[g].count) {
				g++;
				off = 0;
			}
			if (k == 0)
				assert_int_equal(first_off, off);
			assert_int_equal(key, RECS[i].key);
			assert_int_equal(grp, g);
			assert_int_equal(first + k, RECS[i].n);
			assert_int_equal(unit, unit_of(i, 3, 5));
			uint8_t flags = *q++;
			assert_int_equal(flags & 7, RECS[i].enc);
			assert_int_equal(flags & 0xe0, 0);
			assert_int_equal(get_varint(&q), w.enclen[i]);
			uint64_t size = flags & 8 ? get_varint(&q) : w.enclen[i];
			assert_int_equal(size, RECS[i].size);
			assert_int_equal(le_get64(q), XXH3_64bits(w.content[i], RECS[i].size));
			q += 8;
			assert_true(k > 0 || (flags & 16));
			if (flags & 16)
				cend = get_varint(&q);
			assert_int_equal(cend, w.cend[i]);
			if (RECS[i].enc == ENC_BASE)
				assert_int_equal(RECS[i].n - get_varint(&q), RECS[i].base);
			off += w.enclen[i];
		}
		assert_ptr_equal(q, end);
	}
	assert_int_equal(i, NRECS);
	assert_ptr_equal(q, fend);
	free(p);
	written_free(&w);
}

/* Flip every byte of the header, the footer and the trailer in turn: the
 * pack never opens. Everything but the trailer's version fields is covered
 * by a checksum or a cross-check, so that is STRATA_ECORRUPT; a changed
 * trailer version is "a format this build does not know" (STRATA_EFORMAT),
 * which FORMAT.md allows. */
static void test_flip_every_metadata_byte(void **state)
{
	const char *dir = *state;
	written w;
	footer_version = 2;
	write_model(dir, 1, 2, 99, &w);
	pack_reader *r;
	uint64_t foff = w.groups[NGROUPS - 1].offset + w.groups[NGROUPS - 1].clen;
	uint64_t tstart = w.size - PACK_TRAILER_SIZE;
	int checked = 0;
	for (uint64_t off = 0; off < w.size; off++) {
		if (off == PACK_HEADER_SIZE)
			off = foff; /* skip the groups */
		static const uint8_t masks[] = { 0x01, 0x80, 0xff };
		for (int m = 0; m < 3; m++) {
			tu_flip_byte(w.path, off, masks[m]);
			int rc = pack_open(&r, w.path);
			tu_flip_byte(w.path, off, masks[m]);
			int in_trailer_version = off >= tstart + 32 && off < tstart + 40;
			if (rc == 0)
				fail_msg("pack opened with byte %llu ^ 0x%02x", (unsigned long long)off, masks[m]);
			if (in_trailer_version)
				assert_true(rc == STRATA_ECORRUPT || rc == STRATA_EFORMAT);
			else if (rc != STRATA_ECORRUPT)
				fail_msg("byte %llu ^ 0x%02x: rc %d, not STRATA_ECORRUPT (%s)",
					 (unsigned long long)off, masks[m], rc, strata_errmsg());
			assert_non_null(strstr(strata_errmsg(), w.path));
			checked++;
		}
	}
	assert_int_equal(checked, 3 * (64 + (w.size - foff)));
	/* Restored: opens again. */
	assert_int_equal(pack_open(&r, w.path), 0);
	pack_close(r);
	written_free(&w);
}

/* A flipped byte inside a group: the pack opens (groups are not read at
 * open) but that group's check fails, and the other groups are fine. */
static void test_flip_group_byte(void **state)
{
	const char *dir = *state;
	written w;
	write_model(dir, 2, 2, 99, &w);
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	for (int g = 0; g < NGROUPS; g++) {
		if (w.groups[g].clen == 0)
			continue;
		const uint64_t offs[] = { 0, w.groups[g].clen / 2, w.groups[g].clen - 1 };
		for (int k = 0; k < 3; k++) {
			uint64_t at = w.groups[g].offset + offs[k];
			tu_flip_byte(w.path, at, 0x10);
			pack_reader *r;
			assert_int_equal(pack_open(&r, w.path), 0);
			for (int h = 0; h < NGROUPS; h++) {
				uint8_t *body = NULL;
				int rc = pack_read_group(r, c, (uint32_t)h, &body);
				if (h == g) {
					assert_int_equal(rc, STRATA_ECORRUPT);
					assert_null(body);
					assert_non_null(strstr(strata_errmsg(), "checksum"));
				} else {
					assert_int_equal(rc, 0);
					assert_memory_equal(body, w.bodies[h], w.blens[h]);
				}
				free(body);
			}
			pack_close(r);
			tu_flip_byte(w.path, at, 0x10);
		}
	}
	group_coder_free(c);
	written_free(&w);
}

/* A file cut anywhere, or with bytes appended, is not a valid pack. */
static void test_truncated_and_extended(void **state)
{
	const char *dir = *state;
	written w;
	write_model(dir, 4, 4, 99, &w);
	size_t n;
	uint8_t *orig = tu_read_file(w.path, &n);
	const uint64_t cuts[] = { 0, 1, 63, 64, 111, 112, 200, n / 2, n - 49, n - 48, n - 47, n - 1 };
	for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
		tu_write_file(w.path, orig, (size_t)cuts[k], 0644);
		pack_reader *r;
		int rc = pack_open(&r, w.path);
		if (rc != STRATA_ECORRUPT)
			fail_msg("pack cut to %llu bytes: rc %d", (unsigned long long)cuts[k], rc);
	}
	uint8_t *more = tu_alloc(n + 100);
	memcpy(more, orig, n);
	memset(more + n, 0, 100);
	for (size_t extra = 1; extra <= 100; extra += 33) {
		tu_write_file(w.path, more, n + extra, 0644);
		pack_reader *r;
		assert_int_equal(pack_open(&r, w.path), STRATA_ECORRUPT);
	}
	/* The trailer copied to the end of a longer file (footer position now
	 * disagrees with the file size). */
	memcpy(more, orig, n - 48);
	memset(more + n - 48, 0, 16);
	memcpy(more + n - 32, orig + n - 48, 48);
	tu_write_file(w.path, more, n + 16, 0644);
	pack_reader *r;
	assert_int_equal(pack_open(&r, w.path), STRATA_ECORRUPT);
	/* Whole again. */
	tu_write_file(w.path, orig, n, 0644);
	assert_int_equal(pack_open(&r, w.path), 0);
	pack_close(r);
	/* Missing file. */
	char *missing = tu_join(dir, "0000000099.pack");
	assert_int_equal(pack_open(&r, missing), STRATA_ENOTFOUND);
	free(missing);
	free(more);
	free(orig);
	written_free(&w);
}

/* ---- footers that pass their checksum but describe an impossible layout.
 * The writer does not police record entries, so it can produce them. */

typedef enum {
	BAD_GAP, BAD_PAST_BODY, BAD_SHORT, BAD_GROUP_IDX, BAD_KEY_IDX, BAD_N0, BAD_ENC, BAD_ENC_NEXT,
	BAD_LITERAL_LEN, BAD_ORDER, BAD_UNIT_OUTSIDE, BAD_UNIT_ZERO, BAD_BASE_ZERO, BAD_BASE_NOT_EARLIER,
	BAD_BASE_ON_LITERAL, BAD_BASE_ON_DELTA, BAD_CEND, BAD_NONE_LENGTHS, BAD_ZSTD_BLEN, GOOD_CONTROL,
	BAD_CASES
} bad_case;

static int write_bad(const char *dir, bad_case which)
{
	char sub[400];
	snprintf(sub, sizeof sub, "%s/bad%d", dir, (int)which);
	mkdir(sub, 0755);
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, sub, 1, 1, 1), 0);
	pack_writer_footer_version(pw, footer_version);
	assert_int_equal(pack_writer_add_unit(pw, 1, 1, NULL, 0), 0);
	uint32_t k;
	assert_int_equal(pack_writer_add_key(pw, "k", 1, &k), 0);
	uint8_t a[100], b[100];
	tu_fill_text(a, sizeof a, 1);
	tu_fill_text(b, sizeof b, 2);
	group_piece pc[2] = { { a, 100 }, { b, 100 } };
	uint32_t g0, g1;
	uint64_t cends[2], cend1;
	assert_int_equal(pack_writer_add_group(pw, c, CODEC_ZSTD, 3, pc, 2, &g0, cends), 0);
	uint64_t g1len = 100;
	if (which == BAD_NONE_LENGTHS || which == BAD_ZSTD_BLEN) {
		/* A group whose entry lies about its body: 100 bytes written,
		 * another body length claimed. */
		uint64_t start = pack_writer_bytes(pw);
		assert_int_equal(pack_writer_sink(pw, a, 100), 0);
		g1len = which == BAD_NONE_LENGTHS ? 99 : 101 * 32768;
		group_out go = { 100, g1len, XXH3_64bits(a, 100) };
		int codec = which == BAD_NONE_LENGTHS ? CODEC_NONE : CODEC_ZSTD;
		assert_int_equal(pack_writer_end_group(pw, start, codec, 0, &go, &g1), 0);
		cend1 = 100;
	} else {
		assert_int_equal(pack_writer_add_group(pw, c, CODEC_NONE, 0, pc, 1, &g1, &cend1), 0);
	}
	pack_record r[3] = {
		{ .key = 0, .group = 0, .n = 1, .off = 0, .len = 100, .size = 100, .sum = XXH3_64bits(a, 100),
		  .cend = cends[0], .unit = 1, .enc = ENC_LITERAL },
		{ .key = 0, .group = 0, .n = 2, .off = 100, .len = 100, .size = 100, .sum = XXH3_64bits(b, 100),
		  .cend = cends[1], .unit = 1, .enc = ENC_LITERAL },
		{ .key = 0, .group = 1, .n = 3, .off = 0, .len = g1len, .size = g1len, .sum = XXH3_64bits(a, 100),
		  .cend = cend1, .unit = 1, .enc = ENC_LITERAL },
	};
	int nrec = 3;
	switch (which) {
	case BAD_GAP: r[1].off = 101; break;
	case BAD_PAST_BODY: r[1].len = r[1].size = 101; break;
	case BAD_SHORT: nrec = 2; break; /* group 1's body has no record */
	case BAD_GROUP_IDX: r[2].group = 2; break;
	case BAD_KEY_IDX: r[2].key = 1; break;
	case BAD_N0: r[0].n = 0; break;
	case BAD_ENC: r[2].enc = 7; break;
	case BAD_ENC_NEXT: r[2].enc = ENC_MAX + 1; break;
	case BAD_LITERAL_LEN: r[2].size = 99; break;
	case BAD_ORDER: { pack_record t = r[1]; r[1] = r[2]; r[2] = t; } break;
	case BAD_UNIT_OUTSIDE: r[1].unit = 2; break;
	case BAD_UNIT_ZERO: r[0].unit = 0; break;
	case BAD_BASE_ZERO: r[2].enc = ENC_BASE; break;                     /* base 0 */
	case BAD_BASE_NOT_EARLIER: r[2].enc = ENC_BASE; r[2].base = 3; break; /* base == n */
	case BAD_BASE_ON_LITERAL: r[1].base = 1; break;
	case BAD_BASE_ON_DELTA: r[1].enc = ENC_DELTA; r[1].base = 1; break;
	case BAD_CEND: r[0].cend = r[1].cend = 1u << 20; break;           /* past the group */
	default: break;
	}
	for (int i = 0; i < nrec; i++)
		assert_int_equal(pack_writer_add_record(pw, &r[i]), 0);
	assert_int_equal(pack_writer_finish(pw, NULL), 0);
	char path[450];
	snprintf(path, sizeof path, "%s/0000000001.pack", sub);
	pack_writer_free(pw);
	group_coder_free(c);
	pack_reader *rd;
	int rc = pack_open(&rd, path);
	if (rc == 0)
		pack_close(rd);
	return rc;
}

static void test_bad_layouts(void **state)
{
	char dir[300];
	for (footer_version = 1; footer_version <= 2; footer_version++) {
		snprintf(dir, sizeof dir, "%s/v%d", (const char *)*state, footer_version);
		mkdir(dir, 0755);
		for (int i = 0; i < BAD_CASES; i++) {
			/* Version 2 writes no offset after a run's first record and
			 * no base for encodings without one: it cannot say these. */
			int mute = i == BAD_GAP || i == BAD_BASE_ON_LITERAL || i == BAD_BASE_ON_DELTA;
			int rc = write_bad(dir, (bad_case)i);
			int want = i == GOOD_CONTROL || (footer_version == 2 && mute) ? 0
				 : i == BAD_ENC || i == BAD_ENC_NEXT ? STRATA_EFORMAT : STRATA_ECORRUPT;
			if (rc != want)
				fail_msg("footer v%d, bad layout case %d: rc %d, want %d (%s)", footer_version, i, rc,
					 want, strata_errmsg());
		}
	}
	footer_version = 2;
}

/* Re-encode a pack's footer in place with its checksum fixed, after
 * `edit` changed it. */
static void refooter(const char *path, void (*edit)(uint8_t *f, uint64_t flen, uint8_t *file))
{
	size_t n;
	uint8_t *p = tu_read_file(path, &n);
	uint8_t *t = p + n - 48;
	uint64_t foff = le_get64(t), flen = le_get64(t + 8);
	edit(p + foff, flen, p);
	le_put64(t + 16, XXH3_64bits(p + foff, flen));
	le_put64(p + 56, XXH3_64bits(p, 56));
	tu_write_file(path, p, n, 0444);
	free(p);
}

static void edit_unit_number(uint8_t *f, uint64_t flen, uint8_t *file)
{
	le_put64(f + 24, 9); /* first unit entry: unit 2 -> 9 */
}

static void edit_unit_count(uint8_t *f, uint64_t flen, uint8_t *file)
{
	le_put32(f + 12, 1); /* two units in the range, one claimed */
}

static void edit_label_len(uint8_t *f, uint64_t flen, uint8_t *file)
{
	le_put32(f + 24 + 16, (uint32_t)flen); /* first label runs past the footer */
}

static void edit_header_first0(uint8_t *f, uint64_t flen, uint8_t *file)
{
	le_put64(file + 32, 0);
}

static void edit_header_first_after_last(uint8_t *f, uint64_t flen, uint8_t *file)
{
	le_put64(file + 32, 4); /* first 4 > last 3 */
}

/* The unit table is checked against the header's range. */
static void test_unit_table_checked(void **state)
{
	const char *dir = *state;
	void (*const edits[])(uint8_t *, uint64_t, uint8_t *) = { edit_unit_number, edit_unit_count, edit_label_len,
								   edit_header_first0,
								   edit_header_first_after_last };
	for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
		char sub[300];
		snprintf(sub, sizeof sub, "%s/e%zu", dir, e);
		mkdir(sub, 0755);
		written w;
		write_model(sub, 2, 3, 5, &w);
		pack_reader *r;
		assert_int_equal(pack_open(&r, w.path), 0);
		pack_close(r);
		refooter(w.path, edits[e]);
		int rc = pack_open(&r, w.path);
		if (rc != STRATA_ECORRUPT)
			fail_msg("footer edit %zu: rc %d (%s)", e, rc, strata_errmsg());
		written_free(&w);
	}
}

/* Units are described in order, each once, within the range, and all of
 * them before finish. */
static void test_add_unit_rules(void **state)
{
	const char *dir = *state;
	pack_writer *pw;
	assert_int_equal(pack_writer_new(&pw, dir, 4, 6, 1), 0);
	assert_int_equal(pack_writer_add_unit(pw, 5, 1, "x", 1), STRATA_EINVAL); /* 4 comes first */
	assert_int_equal(pack_writer_add_unit(pw, 3, 1, "x", 1), STRATA_EINVAL);
	assert_int_equal(pack_writer_add_unit(pw, 4, 1, "x", 1), 0);
	assert_int_equal(pack_writer_add_unit(pw, 4, 1, "x", 1), STRATA_EINVAL); /* twice */
	assert_int_equal(pack_writer_add_unit(pw, 5, 2, NULL, 0), 0);
	/* Unit 6 not described yet: no pack. */
	assert_int_equal(pack_writer_finish(pw, NULL), STRATA_EINVAL);
	assert_true(strlen(strata_errmsg()) > 0);
	assert_int_equal(pack_writer_add_unit(pw, 6, 3, "six", 3), 0);
	assert_int_equal(pack_writer_add_unit(pw, 7, 3, "x", 1), STRATA_EINVAL); /* past the range */
	uint64_t size = 0;
	assert_int_equal(pack_writer_finish(pw, &size), 0);
	pack_writer_free(pw);
	char *path = tu_join(dir, "0000000004-0000000006.pack");
	assert_int_equal(tu_file_size(path), size);
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	assert_int_equal(r->footer.nunits, 3);
	assert_int_equal(r->footer.units[2].label_len, 3);
	assert_memory_equal(r->footer.units[2].label, "six", 3);
	assert_int_equal(r->footer.units[1].time, 2);
	pack_close(r);
	free(path);
	assert_int_equal(tu_count_names(dir, "", ""), 1);
}

/* A writer freed before finish leaves nothing behind; a finished pack with
 * no groups, keys or records (an empty unit) is valid. */
static void test_abandon_and_empty(void **state)
{
	const char *dir = *state;
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, dir, 5, 5, 1), 0);
	uint8_t data[1000];
	tu_fill_random(data, sizeof data, 1);
	group_piece pc = { data, sizeof data };
	uint32_t g;
	assert_int_equal(pack_writer_add_group(pw, c, CODEC_ZSTD, 3, &pc, 1, &g, NULL), 0);
	assert_int_equal(tu_count_names(dir, "", ""), 1);
	pack_writer_free(pw);
	assert_int_equal(tu_count_names(dir, "", ""), 0);

	assert_int_equal(pack_writer_new(&pw, dir, 6, 6, 2), 0);
	assert_int_equal(pack_writer_add_unit(pw, 6, 2, NULL, 0), 0);
	uint64_t size = 0;
	assert_int_equal(pack_writer_finish(pw, &size), 0);
	pack_writer_free(pw);
	/* header, footer, one unit entry, no runs, trailer */
	assert_int_equal(size, 64 + 24 + 20 + 8 + 48);
	char *path = tu_join(dir, "0000000006.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	assert_int_equal(r->footer.first, 6);
	assert_int_equal(r->footer.last, 6);
	assert_int_equal(r->footer.ngroups, 0);
	assert_int_equal(r->footer.nkeys, 0);
	assert_int_equal(r->footer.nrecords, 0);
	assert_int_equal(r->footer.nunits, 1);
	assert_int_equal(r->footer.units[0].unit, 6);
	assert_int_equal(r->footer.units[0].time, 2);
	assert_int_equal(r->footer.units[0].label_len, 0);
	pack_close(r);
	free(path);
	group_coder_free(c);
}

static void test_add_key_limits(void **state)
{
	const char *dir = *state;
	pack_writer *pw;
	assert_int_equal(pack_writer_new(&pw, dir, 1, 1, 1), 0);
	assert_int_equal(pack_writer_add_unit(pw, 1, 1, NULL, 0), 0);
	uint32_t idx;
	static uint8_t big[PACK_KEY_MAX + 1];
	memset(big, 'k', sizeof big);
	assert_int_equal(pack_writer_add_key(pw, big, 0, &idx), STRATA_EINVAL);
	assert_int_equal(pack_writer_add_key(pw, big, PACK_KEY_MAX + 1, &idx), STRATA_EINVAL);
	assert_int_equal(pack_writer_add_key(pw, big, PACK_KEY_MAX, &idx), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(pack_writer_finish(pw, NULL), 0);
	pack_writer_free(pw);
	char *path = tu_join(dir, "0000000001.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	assert_int_equal(r->footer.nkeys, 1);
	assert_int_equal(r->footer.keys[0].len, PACK_KEY_MAX);
	assert_memory_equal(r->footer.keys[0].p, big, PACK_KEY_MAX);
	pack_close(r);
	free(path);
}

/* A pack file named for one unit that holds another is caught by recovery;
 * here: the header's and the trailer's last unit must agree, which only a
 * spliced file can break. */
/* A file writer encodes each run as it closes and keeps no record list:
 * its runs say the same as the reader's parse of the footer it wrote. */
static void test_runs_streamed(void **state)
{
	const char *dir = *state;
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, dir, 1, 2, 1), 0);
	uint32_t ka, kb;
	assert_int_equal(pack_writer_add_key(pw, "a", 1, &ka), 0);
	assert_int_equal(pack_writer_add_key(pw, "b", 1, &kb), 0);
	/* key a: 1..1100 in unit 1 (runs of 512, 512, 76); key b: 1..300 in
	 * unit 1; key a: 1101..1200 in unit 2. One group each, records of
	 * 1..7 bytes. */
	const struct { uint32_t *key; uint64_t first, count, unit; } SECT[] = {
		{ &ka, 1, 1100, 1 }, { &kb, 1, 300, 1 }, { &ka, 1101, 100, 2 },
	};
	uint8_t body[1100 * 7];
	tu_fill_random(body, sizeof body, 9);
	size_t closed[] = { 2, 3, 4 }; /* runs closed once a section is in */
	for (size_t sct = 0; sct < 3; sct++) {
		size_t len = 0;
		for (uint64_t i = 0; i < SECT[sct].count; i++)
			len += 1 + i % 7;
		group_piece pc = { body, len };
		uint32_t g;
		uint64_t cend;
		assert_int_equal(pack_writer_add_group(pw, c, CODEC_NONE, 0, &pc, 1, &g, &cend), 0);
		uint64_t off = 0;
		for (uint64_t i = 0; i < SECT[sct].count; i++) {
			size_t rl = 1 + i % 7;
			pack_record r = { .key = *SECT[sct].key, .group = g, .n = SECT[sct].first + i, .off = off,
					  .len = rl, .size = rl, .sum = XXH3_64bits(body + off, rl), .cend = cend,
					  .unit = SECT[sct].unit, .enc = ENC_LITERAL };
			assert_int_equal(pack_writer_add_record(pw, &r), 0);
			off += rl;
		}
		const pack_footer *f = pack_writer_footer(pw);
		assert_null(f->records);
		assert_int_equal(f->nruns, closed[sct]);
	}
	assert_int_equal(pack_writer_add_unit(pw, 1, 1, NULL, 0), 0);
	assert_int_equal(pack_writer_add_unit(pw, 2, 1, NULL, 0), 0);
	assert_int_equal(pack_writer_finish(pw, NULL), 0);
	const pack_footer *wf = pack_writer_footer(pw);
	assert_int_equal(wf->nrecords, 1500);
	assert_int_equal(wf->nruns, 5);

	char *path = tu_join(dir, "0000000001-0000000002.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	const pack_footer *rf = &r->footer;
	assert_int_equal(rf->nrecords, 1500);
	assert_int_equal(rf->nruns, wf->nruns);
	static const uint64_t counts[] = { 512, 512, 76, 300, 100 }, ns[] = { 1, 513, 1025, 1, 1101 };
	for (size_t i = 0; i < rf->nruns; i++) {
		const pack_run *a = &wf->runs[i], *b = &rf->runs[i];
		assert_int_equal(a->count, counts[i]);
		assert_int_equal(a->n, ns[i]);
		assert_int_equal(a->off, b->off);
		assert_int_equal(a->len, b->len);
		assert_int_equal(a->sum, b->sum);
		assert_int_equal(a->first, b->first);
		assert_int_equal(a->count, b->count);
		assert_int_equal(a->key, b->key);
		assert_int_equal(a->group, b->group);
		assert_int_equal(a->unit, b->unit);
		assert_int_equal(a->n, b->n);
		assert_int_equal(a->size, b->size);
		uint64_t size = 0;
		for (size_t j = 0; j < b->count; j++)
			size += rf->records[b->first + j].size;
		assert_int_equal(b->size, size);
	}
	pack_close(r);
	free(path);
	pack_writer_free(pw);
	group_coder_free(c);
}

static void test_unit_mismatch(void **state)
{
	const char *dir = *state;
	char *d1 = tu_join(dir, "u1"), *d2 = tu_join(dir, "u2");
	mkdir(d1, 0755);
	mkdir(d2, 0755);
	pack_writer *pw;
	assert_int_equal(pack_writer_new(&pw, d1, 1, 1, 5), 0);
	assert_int_equal(pack_writer_add_unit(pw, 1, 5, NULL, 0), 0);
	assert_int_equal(pack_writer_finish(pw, NULL), 0);
	pack_writer_free(pw);
	assert_int_equal(pack_writer_new(&pw, d2, 2, 2, 5), 0);
	assert_int_equal(pack_writer_add_unit(pw, 2, 5, NULL, 0), 0);
	assert_int_equal(pack_writer_finish(pw, NULL), 0);
	pack_writer_free(pw);
	char *p1 = tu_join(d1, "0000000001.pack"), *p2 = tu_join(d2, "0000000002.pack");
	size_t n1, n2;
	uint8_t *a = tu_read_file(p1, &n1), *b = tu_read_file(p2, &n2);
	assert_int_equal(n1, n2);
	memcpy(a + n1 - 48, b + n2 - 48, 48); /* header of unit 1, trailer of unit 2 */
	tu_write_file(p1, a, n1, 0644);
	pack_reader *r;
	assert_int_equal(pack_open(&r, p1), STRATA_ECORRUPT);
	free(a);
	free(b);
	free(p1);
	free(p2);
	free(d1);
	free(d2);
}

static void test_pack_name(void **state)
{
	(void)state;
	char buf[32];
	uint64_t a = 0, z = 0;
	pack_name(buf, sizeof buf, 42, 42);
	assert_string_equal(buf, "0000000042.pack");
	pack_name(buf, sizeof buf, 1, 1);
	assert_string_equal(buf, "0000000001.pack");
	pack_name(buf, sizeof buf, 9999999999ull, 9999999999ull);
	assert_string_equal(buf, "9999999999.pack");
	pack_name(buf, sizeof buf, 1, 40);
	assert_string_equal(buf, "0000000001-0000000040.pack");
	pack_name(buf, sizeof buf, 12345, 9999999999ull);
	assert_string_equal(buf, "0000012345-9999999999.pack");
	const uint64_t units[][2] = { { 1, 1 }, { 2, 2 }, { 10, 10 }, { 12345, 12345 }, { 4294967296ull, 4294967296ull },
				      { 9999999999ull, 9999999999ull }, { 1, 2 }, { 1, 40 }, { 17, 4294967296ull },
				      { 9999999998ull, 9999999999ull } };
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		pack_name(buf, sizeof buf, units[i][0], units[i][1]);
		assert_int_equal(pack_name_parse(buf, &a, &z), 1);
		assert_int_equal(a, units[i][0]);
		assert_int_equal(z, units[i][1]);
	}
	const char *bad[] = { "0000000000.pack", "42.pack", "000000004a.pack", "0000000042.pack.damaged",
			      "tmp-1-2.pack", "00000000042.pack", "000000042.pack", "0000000042.pac",
			      "0000000042.PACK", "-000000042.pack", " 000000042.pack", "", "catalog.db",
			      /* ranges: first < last, both ten digits, both > 0 */
			      "0000000003-0000000003.pack", "0000000005-0000000003.pack", "0000000000-0000000003.pack",
			      "0000000001-0000000000.pack", "0000000001-000000003.pack", "000000001-0000000003.pack",
			      "0000000001_0000000003.pack", "0000000001-0000000003.pack.damaged",
			      "0000000001-0000000003.pac", "0000000001-00000000x3.pack", "0000000001--000000003.pack",
			      "tmp-0000000001-0000000003.pack" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (pack_name_parse(bad[i], &a, &z) != 0)
			fail_msg("'%s' parsed as a pack name", bad[i]);
}

/* "Returns 1 and sets the range if it is one" (pack.h): a name that is not
 * a pack's leaves the outputs alone, as the unit-only parser did. */
static void test_pack_name_parse_leaves_outputs(void **state)
{
	(void)state;
	const char *bad[] = { "0000000000.pack", "000000004a.pack", "0000000003-0000000003.pack",
			      "0000000005-0000000003.pack", "0000000001-00000000x3.pack", "0000000001-0000000000.pack" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t a = 777, z = 888;
		assert_int_equal(pack_name_parse(bad[i], &a, &z), 0);
		if (a != 777 || z != 888)
			fail_msg("pack_name_parse(\"%s\") returned 0 but changed its outputs to %llu, %llu", bad[i],
				 (unsigned long long)a, (unsigned long long)z);
	}
}

/* A failing write while the pack is built: the call fails with the
 * injected error and the temporary file is removed. A failure of the final
 * directory fsync comes after the rename: the writer then takes the name
 * back (pack.c), and whatever it leaves must at least be a valid pack.
 * (Whether a commit may leave it is tested in test_durability.) Fault
 * points are counted by os.h: write, fsync, rename. */
static void test_finish_faults(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "0000000001-0000000002.pack");
	int failures = 0;
	for (uint64_t k = 1; k < 20; k++) {
		pack_writer *pw;
		group_coder *c;
		assert_int_equal(group_coder_new(&c), 0);
		assert_int_equal(pack_writer_new(&pw, dir, 1, 2, (int64_t)k), 0);
		uint8_t data[5000];
		tu_fill_text(data, sizeof data, k);
		group_piece pc = { data, sizeof data };
		uint32_t g;
		uint64_t cend;
		os_fault_set(k, ENOSPC);
		uint32_t kidx;
		assert_int_equal(pack_writer_add_unit(pw, 1, 1, "x", 1), 0);
		assert_int_equal(pack_writer_add_unit(pw, 2, 2, "y", 1), 0);
		assert_int_equal(pack_writer_add_key(pw, "key", 3, &kidx), 0);
		int rc = pack_writer_add_group(pw, c, CODEC_ZSTD, 3, &pc, 1, &g, &cend);
		pack_record rec = { .key = kidx, .group = 0, .n = 1, .off = 0, .len = sizeof data, .size = sizeof data,
				    .sum = XXH3_64bits(data, sizeof data), .cend = cend, .unit = 2, .enc = ENC_LITERAL };
		if (!rc)
			rc = pack_writer_add_record(pw, &rec);
		if (!rc)
			rc = pack_writer_finish(pw, NULL);
		os_fault_set(0, 0);
		pack_writer_free(pw);
		group_coder_free(c);
		if (rc == 0) {
			pack_reader *r;
			assert_int_equal(pack_open(&r, path), 0);
			pack_close(r);
			break;
		}
		failures++;
		assert_int_equal(rc, STRATA_ENOSPC);
		assert_true(strlen(strata_errmsg()) > 0);
		assert_int_equal(tu_count_names(dir, "tmp-", ""), 0);
		if (tu_exists(path)) {
			pack_reader *r;
			int orc = pack_open(&r, path);
			if (orc != 0)
				fail_msg("fault at write-side call %llu: finish failed (%s) and left an invalid pack",
					 (unsigned long long)k, strata_errmsg());
			pack_close(r);
			unlink(path);
		}
	}
	/* group write, footer write, fsync, rename, directory fsync */
	assert_true(failures >= 5);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read_footer, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_write_read_range, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test(test_run_codec),
		cmocka_unit_test(test_run_shared_sums),
		cmocka_unit_test(test_run_uniform),
		cmocka_unit_test_setup_teardown(test_write_read_footer_v1, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_layout_bytes, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_layout_bytes_v2, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_flip_every_metadata_byte, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_flip_group_byte, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_truncated_and_extended, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_layouts, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_unit_table_checked, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_add_unit_rules, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_abandon_and_empty, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_add_key_limits, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_unit_mismatch, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_runs_streamed, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test(test_pack_name),
		cmocka_unit_test(test_pack_name_parse_leaves_outputs),
		cmocka_unit_test_setup_teardown(test_finish_faults, tu_setup_dir, tu_teardown_dir),
	};
	return cmocka_run_group_tests_name("pack", tests, NULL, NULL);
}
