/* test_pack.c - pack writer and reader (src/pack.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bytes.h"
#include "group.h"
#include "os.h"
#include "pack.h"
#include "strata.h"
#include "testutil.h"

#include <xxhash.h>

/* ---- a model pack: what the test writes and expects back */

typedef struct mrec {
	int key;        /* index into KEYS */
	uint64_t n;
	size_t size;
	uint64_t seed;
	int text;       /* compressible content */
} mrec;

typedef struct mgroup {
	int codec;
	int level;
	int first, count; /* records [first, first+count) of RECS */
} mgroup;

static const struct { const char *p; size_t len; } KEYS[] = {
	{ "alpha", 5 },
	{ "beta", 4 },
	{ "\x00\xff" "bin\x00", 6 },
};
#define NKEYS 3

static const mrec RECS[] = {
	{ 0, 1, 1000, 1, 1 }, { 0, 2, 2000, 2, 1 }, { 1, 5, 300, 3, 0 },   /* group 0, zstd */
	{ 1, 6, 4000, 4, 0 }, { 2, 1, 0, 5, 0 },   { 2, 2, 10, 6, 1 },     /* group 1, none */
	{ 0, 3, 0, 7, 0 },                                                /* group 2, none, empty */
	{ 0, 4, 200000, 8, 1 },                                           /* group 3, zstd */
};
#define NRECS 8

static const mgroup GROUPS[] = {
	{ CODEC_ZSTD, 3, 0, 3 },
	{ CODEC_NONE, 0, 3, 3 },
	{ CODEC_NONE, 0, 6, 1 },
	{ CODEC_ZSTD, 9, 7, 1 },
};
#define NGROUPS 4

static const char LABEL[] = "a label\0with a NUL and \xc3\xa9";
#define LABEL_LEN (sizeof LABEL - 1)

static uint8_t *rec_data(const mrec *r)
{
	uint8_t *p = tu_alloc(r->size);
	if (r->text)
		tu_fill_text(p, r->size, r->seed);
	else
		tu_fill_random(p, r->size, r->seed);
	return p;
}

typedef struct written {
	char *path;
	uint64_t size;
	pack_group groups[NGROUPS];
	uint8_t *bodies[NGROUPS];
	uint64_t blens[NGROUPS];
} written;

/* Write the model pack as unit `unit` into dir; record what was written. */
static void write_model(const char *dir, uint64_t unit, int64_t time, written *w)
{
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, dir, unit, time), 0);
	/* The temporary file exists, the final one not yet. */
	assert_int_equal(tu_count_names(dir, "tmp-", ".pack"), 1);
	assert_int_equal(pack_writer_bytes(pw), PACK_HEADER_SIZE);
	for (int k = 0; k < NKEYS; k++) {
		uint32_t idx;
		assert_int_equal(pack_writer_add_key(pw, KEYS[k].p, KEYS[k].len, &idx), 0);
		assert_int_equal(idx, (uint32_t)k);
	}
	for (int g = 0; g < NGROUPS; g++) {
		const mgroup *mg = &GROUPS[g];
		group_piece pc[4];
		uint8_t *data[4];
		uint64_t blen = 0;
		for (int i = 0; i < mg->count; i++) {
			data[i] = rec_data(&RECS[mg->first + i]);
			pc[i] = (group_piece){ data[i], RECS[mg->first + i].size };
			blen += pc[i].len;
		}
		w->bodies[g] = tu_alloc(blen);
		w->blens[g] = blen;
		uint64_t off = 0;
		for (int i = 0; i < mg->count; i++) {
			memcpy(w->bodies[g] + off, data[i], pc[i].len);
			off += pc[i].len;
		}
		uint64_t before = pack_writer_bytes(pw);
		uint32_t gidx;
		assert_int_equal(pack_writer_add_group(pw, c, mg->codec, mg->level, pc, (size_t)mg->count, &gidx), 0);
		assert_int_equal(gidx, (uint32_t)g);
		const pack_footer *f = pack_writer_footer(pw);
		assert_int_equal(f->ngroups, (size_t)g + 1);
		w->groups[g] = f->groups[g];
		assert_int_equal(w->groups[g].offset, before);
		assert_int_equal(pack_writer_bytes(pw), before + w->groups[g].clen);
		off = 0;
		for (int i = 0; i < mg->count; i++) {
			const mrec *r = &RECS[mg->first + i];
			pack_record pr = { (uint32_t)r->key, (uint32_t)g, r->n, off, r->size, r->size,
					   XXH3_64bits(data[i], r->size), ENC_LITERAL };
			assert_int_equal(pack_writer_add_record(pw, &pr), 0);
			off += r->size;
			free(data[i]);
		}
	}
	uint64_t size = 0;
	assert_int_equal(pack_writer_finish(pw, LABEL, LABEL_LEN, &size), 0);
	char name[32];
	pack_name(name, sizeof name, unit);
	w->path = tu_join(dir, name);
	assert_string_equal(pack_writer_path(pw), w->path);
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
	free(w->path);
}

/* The parsed footer equals what was written, field by field. */
static void check_footer(const pack_reader *r, const written *w, uint64_t unit, int64_t time)
{
	const pack_footer *f = &r->footer;
	assert_int_equal(f->unit, unit);
	assert_int_equal(f->time, time);
	assert_int_equal(f->label_len, LABEL_LEN);
	assert_memory_equal(f->label, LABEL, LABEL_LEN);
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
		assert_int_equal(pr->len, RECS[i].size);
		assert_int_equal(pr->size, RECS[i].size);
		assert_int_equal(pr->enc, ENC_LITERAL);
		assert_int_equal(pr->sum, XXH3_64bits(w->bodies[g] + off, RECS[i].size));
		off += RECS[i].size;
	}
}

static void test_write_read_footer(void **state)
{
	const char *dir = *state;
	written w;
	const int64_t t = 1700000000;
	write_model(dir, 7, t, &w);
	assert_non_null(strstr(w.path, "/0000000007.pack"));

	pack_reader *r;
	assert_int_equal(pack_open(&r, w.path), 0);
	check_footer(r, &w, 7, t);

	/* Every group decodes to its body. */
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	for (uint32_t g = 0; g < NGROUPS; g++) {
		uint8_t *body = NULL;
		assert_int_equal(pack_read_group(r, c, g, &body), 0);
		assert_non_null(body);
		assert_memory_equal(body, w.bodies[g], w.blens[g]);
		free(body);
	}
	/* And single records read through pack_src_pread + group_read. */
	for (int i = 0; i < NRECS; i++) {
		const pack_record *pr = &r->footer.records[i];
		const pack_group *gr = &r->footer.groups[pr->group];
		pack_src src = { r->fd, gr->offset, w.path };
		group_loc gl = { gr->codec, gr->clen, gr->blen };
		uint8_t *dst = tu_alloc(pr->len);
		assert_int_equal(group_read(c, &gl, pack_src_pread, &src, pr->off, dst, pr->len), 0);
		assert_memory_equal(dst, w.bodies[pr->group] + pr->off, pr->len);
		free(dst);
	}
	group_coder_free(c);
	pack_close(r);

	/* The same through pack_open_fd. */
	int fd = open(w.path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pack_open_fd(&r, fd, w.path), 0);
	check_footer(r, &w, 7, t);
	pack_close(r);
	written_free(&w);
}

/* The on-disk bytes follow FORMAT.md: header fields, trailer fields. */
static void test_layout_bytes(void **state)
{
	const char *dir = *state;
	written w;
	write_model(dir, 3, 12345, &w);
	size_t n;
	uint8_t *p = tu_read_file(w.path, &n);
	assert_memory_equal(p, "STRATApk", 8);
	assert_int_equal(le_get32(p + 8), 1);
	assert_int_equal(le_get32(p + 12), 64);
	assert_int_equal(le_get64(p + 16), 3);
	assert_int_equal(le_get64(p + 24), 12345);
	for (int i = 32; i < 56; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(le_get64(p + 56), XXH3_64bits(p, 56));
	const uint8_t *t = p + n - 48;
	uint64_t foff = le_get64(t), flen = le_get64(t + 8);
	assert_int_equal(foff + flen + 48, n);
	assert_int_equal(le_get64(t + 16), XXH3_64bits(p + foff, flen));
	assert_int_equal(le_get64(t + 24), 3);
	assert_int_equal(le_get32(t + 32), 1);
	assert_int_equal(le_get32(t + 36), 48);
	assert_memory_equal(t + 40, "STRATAen", 8);
	const uint8_t *f = p + foff;
	assert_int_equal(le_get32(f), 1);
	assert_int_equal(le_get32(f + 4), NKEYS);
	assert_int_equal(le_get32(f + 8), NGROUPS);
	assert_int_equal(le_get32(f + 12), LABEL_LEN);
	assert_int_equal(le_get64(f + 16), NRECS);
	assert_memory_equal(f + 24, LABEL, LABEL_LEN);
	size_t keybytes = 0;
	for (int k = 0; k < NKEYS; k++)
		keybytes += 2 + KEYS[k].len;
	assert_int_equal(flen, 24 + LABEL_LEN + NGROUPS * 48 + keybytes + NRECS * 56);
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
	write_model(dir, 1, 99, &w);
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
	assert_true(checked > 3 * (64 + 48 + 500));
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
	write_model(dir, 2, 99, &w);
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
	write_model(dir, 4, 99, &w);
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

typedef enum { BAD_GAP, BAD_PAST_BODY, BAD_SHORT, BAD_GROUP_IDX, BAD_KEY_IDX, BAD_N0, BAD_ENC,
	       BAD_LITERAL_LEN, BAD_ORDER, BAD_CASES } bad_case;

static int write_bad(const char *dir, bad_case which)
{
	char sub[64];
	snprintf(sub, sizeof sub, "%s/bad%d", dir, (int)which);
	mkdir(sub, 0755);
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, sub, 1, 1), 0);
	uint32_t k;
	assert_int_equal(pack_writer_add_key(pw, "k", 1, &k), 0);
	uint8_t a[100], b[100];
	tu_fill_text(a, sizeof a, 1);
	tu_fill_text(b, sizeof b, 2);
	group_piece pc[2] = { { a, 100 }, { b, 100 } };
	uint32_t g0, g1;
	assert_int_equal(pack_writer_add_group(pw, c, CODEC_ZSTD, 3, pc, 2, &g0), 0);
	assert_int_equal(pack_writer_add_group(pw, c, CODEC_NONE, 0, pc, 1, &g1), 0);
	pack_record r[3] = {
		{ 0, 0, 1, 0, 100, 100, XXH3_64bits(a, 100), ENC_LITERAL },
		{ 0, 0, 2, 100, 100, 100, XXH3_64bits(b, 100), ENC_LITERAL },
		{ 0, 1, 3, 0, 100, 100, XXH3_64bits(a, 100), ENC_LITERAL },
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
	case BAD_LITERAL_LEN: r[2].size = 99; break;
	case BAD_ORDER: { pack_record t = r[1]; r[1] = r[2]; r[2] = t; } break;
	default: break;
	}
	for (int i = 0; i < nrec; i++)
		assert_int_equal(pack_writer_add_record(pw, &r[i]), 0);
	assert_int_equal(pack_writer_finish(pw, NULL, 0, NULL), 0);
	char path[300];
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
	const char *dir = *state;
	for (int i = 0; i < BAD_CASES; i++) {
		int rc = write_bad(dir, (bad_case)i);
		int want = i == BAD_ENC ? STRATA_EFORMAT : STRATA_ECORRUPT;
		if (rc != want)
			fail_msg("bad layout case %d: rc %d, want %d", i, rc, want);
	}
}

/* A writer freed before finish leaves nothing behind; a finished pack with
 * no groups, keys or records (an empty unit) is valid. */
static void test_abandon_and_empty(void **state)
{
	const char *dir = *state;
	pack_writer *pw;
	group_coder *c;
	assert_int_equal(group_coder_new(&c), 0);
	assert_int_equal(pack_writer_new(&pw, dir, 5, 1), 0);
	uint8_t data[1000];
	tu_fill_random(data, sizeof data, 1);
	group_piece pc = { data, sizeof data };
	uint32_t g;
	assert_int_equal(pack_writer_add_group(pw, c, CODEC_ZSTD, 3, &pc, 1, &g), 0);
	assert_int_equal(tu_count_names(dir, "", ""), 1);
	pack_writer_free(pw);
	assert_int_equal(tu_count_names(dir, "", ""), 0);

	assert_int_equal(pack_writer_new(&pw, dir, 6, 2), 0);
	uint64_t size = 0;
	assert_int_equal(pack_writer_finish(pw, NULL, 0, &size), 0);
	pack_writer_free(pw);
	assert_int_equal(size, 64 + 24 + 48);
	char *path = tu_join(dir, "0000000006.pack");
	pack_reader *r;
	assert_int_equal(pack_open(&r, path), 0);
	assert_int_equal(r->footer.unit, 6);
	assert_int_equal(r->footer.ngroups, 0);
	assert_int_equal(r->footer.nkeys, 0);
	assert_int_equal(r->footer.nrecords, 0);
	assert_int_equal(r->footer.label_len, 0);
	pack_close(r);
	free(path);
	group_coder_free(c);
}

static void test_add_key_limits(void **state)
{
	const char *dir = *state;
	pack_writer *pw;
	assert_int_equal(pack_writer_new(&pw, dir, 1, 1), 0);
	uint32_t idx;
	static uint8_t big[PACK_KEY_MAX + 1];
	memset(big, 'k', sizeof big);
	assert_int_equal(pack_writer_add_key(pw, big, 0, &idx), STRATA_EINVAL);
	assert_int_equal(pack_writer_add_key(pw, big, PACK_KEY_MAX + 1, &idx), STRATA_EINVAL);
	assert_int_equal(pack_writer_add_key(pw, big, PACK_KEY_MAX, &idx), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(pack_writer_finish(pw, NULL, 0, NULL), 0);
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
 * here: the header's and the trailer's unit must agree, which only a
 * spliced file can break. */
static void test_unit_mismatch(void **state)
{
	const char *dir = *state;
	char *d1 = tu_join(dir, "u1"), *d2 = tu_join(dir, "u2");
	mkdir(d1, 0755);
	mkdir(d2, 0755);
	pack_writer *pw;
	assert_int_equal(pack_writer_new(&pw, d1, 1, 5), 0);
	assert_int_equal(pack_writer_finish(pw, NULL, 0, NULL), 0);
	pack_writer_free(pw);
	assert_int_equal(pack_writer_new(&pw, d2, 2, 5), 0);
	assert_int_equal(pack_writer_finish(pw, NULL, 0, NULL), 0);
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
	uint64_t u = 0;
	pack_name(buf, sizeof buf, 42);
	assert_string_equal(buf, "0000000042.pack");
	pack_name(buf, sizeof buf, 1);
	assert_string_equal(buf, "0000000001.pack");
	pack_name(buf, sizeof buf, 9999999999ull);
	assert_string_equal(buf, "9999999999.pack");
	const uint64_t units[] = { 1, 2, 10, 12345, 4294967296ull, 9999999999ull };
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		pack_name(buf, sizeof buf, units[i]);
		assert_int_equal(pack_name_parse(buf, &u), 1);
		assert_int_equal(u, units[i]);
	}
	const char *bad[] = { "0000000000.pack", "42.pack", "000000004a.pack", "0000000042.pack.damaged",
			      "tmp-1-2.pack", "00000000042.pack", "000000042.pack", "0000000042.pac",
			      "0000000042.PACK", "-000000042.pack", " 000000042.pack", "", "catalog.db" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		u = 777;
		if (pack_name_parse(bad[i], &u) != 0)
			fail_msg("'%s' parsed as a pack name", bad[i]);
		assert_int_equal(u, 777);
	}
}

/* A failing write while the pack is built: the call fails with the
 * injected error and the temporary file is removed. (A failure of the final
 * directory fsync comes after the rename; pack.h leaves the renamed pack in
 * place then, so here it must at least be a valid pack. Whether a commit
 * may leave it is tested in test_durability.) Fault points are counted by
 * os.h: write, fsync, rename. */
static void test_finish_faults(void **state)
{
	const char *dir = *state;
	char *path = tu_join(dir, "0000000001.pack");
	int failures = 0;
	for (uint64_t k = 1; k < 20; k++) {
		pack_writer *pw;
		group_coder *c;
		assert_int_equal(group_coder_new(&c), 0);
		assert_int_equal(pack_writer_new(&pw, dir, 1, 1), 0);
		uint8_t data[5000];
		tu_fill_text(data, sizeof data, k);
		group_piece pc = { data, sizeof data };
		uint32_t g;
		os_fault_set(k, ENOSPC);
		uint32_t kidx;
		assert_int_equal(pack_writer_add_key(pw, "key", 3, &kidx), 0);
		int rc = pack_writer_add_group(pw, c, CODEC_ZSTD, 3, &pc, 1, &g);
		pack_record rec = { kidx, 0, 1, 0, sizeof data, sizeof data, XXH3_64bits(data, sizeof data),
				    ENC_LITERAL };
		if (!rc)
			rc = pack_writer_add_record(pw, &rec);
		if (!rc)
			rc = pack_writer_finish(pw, "x", 1, NULL);
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
		cmocka_unit_test_setup_teardown(test_layout_bytes, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_flip_every_metadata_byte, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_flip_group_byte, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_truncated_and_extended, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_bad_layouts, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_abandon_and_empty, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_add_key_limits, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test_setup_teardown(test_unit_mismatch, tu_setup_dir, tu_teardown_dir),
		cmocka_unit_test(test_pack_name),
		cmocka_unit_test_setup_teardown(test_finish_faults, tu_setup_dir, tu_teardown_dir),
	};
	return cmocka_run_group_tests_name("pack", tests, NULL, NULL);
}
