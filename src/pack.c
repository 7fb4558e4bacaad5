/* pack.c - pack files: the writer, the reader and the footer codec.
 * Layout: docs/FORMAT.md, "Pack file (format 1)". */
#include "pack.h"
#include "bytes.h"
#include "err.h"
#include "os.h"
#include "runs.h"
#include "delta.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static const char HEADER_MAGIC[8] = { 'S', 'T', 'R', 'A', 'T', 'A', 'p', 'k' };
static const char TRAILER_MAGIC[8] = { 'S', 'T', 'R', 'A', 'T', 'A', 'e', 'n' };
#define FOOTER_FIXED 24
#define UNIT_ENTRY_FIXED 20
#define FOOTER_VERSION 3
/* The fewest bytes a record takes in a footer of version 2 (flags, length
 * and checksum); in version 3 a uniform run of up to RUN_MAX records takes
 * at least RUN_UNIFORM_MIN bytes with its header (runs.h). */
#define RUN_ENTRY_MIN 10
#define RUN_UNIFORM_MIN 20

void pack_name(char *buf, size_t cap, uint64_t first, uint64_t last)
{
	if (first == last)
		snprintf(buf, cap, "%010" PRIu64 ".pack", last);
	else
		snprintf(buf, cap, "%010" PRIu64 "-%010" PRIu64 ".pack", first, last);
}

/* Ten digits, a positive number. */
static int parse10(const char *p, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < 10; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		*v = *v * 10 + (uint64_t)(p[i] - '0');
	}
	return *v != 0;
}

int pack_name_parse(const char *name, uint64_t *first, uint64_t *last)
{
	size_t n = strlen(name);
	uint64_t a, b;
	int ok = (n == 15 && !strcmp(name + 10, ".pack") && parse10(name, &b) && (a = b, 1)) ||
		 (n == 26 && name[10] == '-' && !strcmp(name + 21, ".pack") && parse10(name, &a) &&
		  parse10(name + 11, &b) && a < b);
	if (ok) { /* outputs change only for a pack's name */
		*first = a;
		*last = b;
	}
	return ok;
}

/* ------------------------------------------------------------- writer */

struct pack_writer {
	int fd;              /* -1 for a piece in memory */
	bytebuf mem;         /* a piece in memory: its group bytes */
	char *dir;
	char tmp_path[4096];
	char final_path[4096];
	char name[32];
	uint64_t pos;        /* bytes written */
	int finished;
	int footer_version;  /* FOOTER_VERSION, or 1 for tests */
	pack_footer f;
	size_t cap_groups, cap_keys, cap_records, cap_units, cap_runs;
	/* A file writer of footer version 2 or 3 keeps only the records of
	 * the run still open; the runs before it are encoded in `runs`
	 * (f.runs[].off counting from its start until the footer is laid
	 * out). Memory grows by a few bytes a record, not 80. */
	pack_record *open;
	size_t nopen, cap_open;
	bytebuf runs, scratch;
};

static int streams_runs(const pack_writer *w)
{
	return w->dir && w->footer_version >= 2;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *p = realloc(*arr, nc * elem);
	if (!p)
		return ERR_NOMEM();
	*arr = p;
	*cap = nc;
	return 0;
}

static void header_encode(uint8_t *h, uint64_t first, uint64_t last, int64_t time)
{
	memset(h, 0, PACK_HEADER_SIZE);
	memcpy(h, HEADER_MAGIC, 8);
	le_put32(h + 8, PACK_VERSION);
	le_put32(h + 12, PACK_HEADER_SIZE);
	le_put64(h + 16, last);
	le_put64(h + 24, (uint64_t)time);
	le_put64(h + 32, first);
	le_put64(h + 56, XXH3_64bits(h, 56));
}

int pack_writer_new(pack_writer **out, const char *dir, uint64_t first, uint64_t last, int64_t time)
{
	pack_writer *w = calloc(1, sizeof *w);
	if (w)
		w->footer_version = FOOTER_VERSION;
	if (!w || !(w->dir = strdup(dir))) {
		free(w);
		return ERR_NOMEM();
	}
	w->fd = -1;
	w->f.first = first;
	w->f.last = last;
	w->f.time = time;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(w->tmp_path, sizeof w->tmp_path, "%s/tmp-%ld-%lx.pack", dir, (long)getpid(),
		 (unsigned long)(ts.tv_nsec ^ (long)last));
	pack_name(w->name, sizeof w->name, first, last);
	snprintf(w->final_path, sizeof w->final_path, "%s/%s", dir, w->name);
	int rc = os_open(&w->fd, w->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0444);
	if (rc) {
		pack_writer_free(w);
		return rc;
	}
	uint8_t h[PACK_HEADER_SIZE];
	header_encode(h, first, last, time);
	rc = os_write(w->fd, h, sizeof h, w->tmp_path);
	if (rc) {
		pack_writer_free(w);
		return rc;
	}
	w->pos = PACK_HEADER_SIZE;
	*out = w;
	return 0;
}

int pack_writer_new_mem(pack_writer **out)
{
	pack_writer *w = calloc(1, sizeof *w);
	if (w)
		w->footer_version = FOOTER_VERSION;
	if (!w)
		return ERR_NOMEM();
	w->fd = -1;
	*out = w;
	return 0;
}

int pack_writer_add_unit(pack_writer *w, uint64_t unit, int64_t time, const void *label, size_t len)
{
	if (unit != w->f.first + w->f.nunits || unit > w->f.last || len > UINT32_MAX)
		return err_set(STRATA_EINVAL, "unit %" PRIu64 " does not continue the pack's range", unit);
	int rc = grow((void **)&w->f.units, &w->cap_units, w->f.nunits + 1, sizeof *w->f.units);
	if (rc)
		return rc;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return ERR_NOMEM();
	if (len)
		memcpy(copy, label, len);
	w->f.units[w->f.nunits++] = (pack_unit){ unit, time, copy, (uint32_t)len };
	return 0;
}

int pack_writer_add_key(pack_writer *w, const void *key, size_t len, uint32_t *idx)
{
	if (len == 0 || len > PACK_KEY_MAX)
		return err_set(STRATA_EINVAL, "key length %zu is outside 1..%d", len, PACK_KEY_MAX);
	int rc = grow((void **)&w->f.keys, &w->cap_keys, w->f.nkeys + 1, sizeof *w->f.keys);
	if (rc)
		return rc;
	uint8_t *copy = malloc(len);
	if (!copy)
		return ERR_NOMEM();
	memcpy(copy, key, len);
	w->f.keys[w->f.nkeys] = (pack_key){ copy, (uint16_t)len };
	*idx = (uint32_t)w->f.nkeys++;
	return 0;
}

int pack_writer_sink(void *ctx, const void *p, size_t n)
{
	pack_writer *w = ctx;
	int rc = w->dir ? os_write(w->fd, p, n, w->tmp_path) : buf_append(&w->mem, p, n);
	if (!rc)
		w->pos += n;
	return rc;
}

int pack_writer_add_group(pack_writer *w, group_coder *c, int codec, int level,
			  const group_piece *pieces, size_t npieces, uint32_t *gidx, uint64_t *cends)
{
	int rc;
	uint64_t start = w->pos;
	group_out go;
	rc = group_encode(c, codec, level, pieces, npieces, pack_writer_sink, w, &go, cends);
	return rc ? rc : pack_writer_end_group(w, start, codec, level, &go, gidx);
}

int pack_writer_end_group(pack_writer *w, uint64_t start, int codec, int level, const group_out *go,
			  uint32_t *gidx)
{
	int rc = grow((void **)&w->f.groups, &w->cap_groups, w->f.ngroups + 1, sizeof *w->f.groups);
	if (rc)
		return rc;
	w->f.groups[w->f.ngroups] = (pack_group){ start, go->clen, go->blen, go->sum, (uint8_t)codec, (int8_t)level };
	*gidx = (uint32_t)w->f.ngroups++;
	return 0;
}

/* Encode the open run after the runs before it (footer versions 2 and 3:
 * key index, unit, length, then the run encoding). */
static int close_run(pack_writer *w)
{
	if (!w->nopen)
		return 0;
	int v3 = w->footer_version >= 3;
	if (v3)
		run_share_sums(w->open, w->nopen);
	w->scratch.len = 0;
	uint8_t head[30];
	int rc = run_encode(w->open, w->nopen, v3, &w->scratch);
	if (!rc) {
		size_t k = varint_put(head, w->open[0].key);
		k += varint_put(head + k, w->open[0].unit);
		k += varint_put(head + k, w->scratch.len);
		rc = buf_append(&w->runs, head, k);
	}
	if (!rc)
		rc = grow((void **)&w->f.runs, &w->cap_runs, w->f.nruns + 1, sizeof *w->f.runs);
	if (!rc) {
		pack_run *pr = &w->f.runs[w->f.nruns];
		*pr = (pack_run){ .off = w->runs.len, .len = w->scratch.len,
				  .sum = XXH3_64bits(w->scratch.p, w->scratch.len), .first = w->f.nrecords - w->nopen,
				  .count = w->nopen };
		run_summary(pr, w->open, w->nopen);
		rc = buf_append(&w->runs, w->scratch.p, w->scratch.len);
	}
	if (!rc) {
		w->f.nruns++;
		w->nopen = 0;
	}
	return rc;
}

int pack_writer_add_record(pack_writer *w, const pack_record *r)
{
	if (!streams_runs(w)) {
		int rc = grow((void **)&w->f.records, &w->cap_records, w->f.nrecords + 1, sizeof *w->f.records);
		if (rc)
			return rc;
		w->f.records[w->f.nrecords++] = *r;
		return 0;
	}
	int rc = w->nopen && !run_continues(w->open, w->nopen, r) ? close_run(w) : 0;
	if (!rc)
		rc = grow((void **)&w->open, &w->cap_open, w->nopen + 1, sizeof *w->open);
	if (rc)
		return rc;
	w->open[w->nopen++] = *r;
	w->f.nrecords++;
	return 0;
}

int pack_writer_append(pack_writer *w, const pack_writer *piece, const uint32_t *keys, uint64_t unit)
{
	uint64_t shift = w->pos;
	uint32_t g0 = (uint32_t)w->f.ngroups;
	int rc = pack_writer_sink(w, piece->mem.p, piece->mem.len);
	for (size_t i = 0; !rc && i < piece->f.ngroups; i++) {
		pack_group g = piece->f.groups[i];
		uint32_t idx;
		g.offset += shift;
		group_out go = { g.clen, g.blen, g.sum };
		rc = pack_writer_end_group(w, g.offset, g.codec, g.level, &go, &idx);
	}
	for (size_t i = 0; !rc && i < piece->f.nrecords; i++) {
		pack_record r = piece->f.records[i];
		r.key = keys[r.key];
		r.group += g0;
		r.unit = unit;
		rc = pack_writer_add_record(w, &r);
	}
	return rc;
}

uint64_t pack_writer_bytes(const pack_writer *w)
{
	return w->pos;
}

void pack_writer_footer_version(pack_writer *w, int version)
{
	w->footer_version = version;
}

const pack_footer *pack_writer_footer(const pack_writer *w)
{
	return &w->f;
}

const char *pack_writer_path(const pack_writer *w)
{
	return w->final_path;
}

const char *pack_writer_name(const pack_writer *w)
{
	return w->name;
}

/* Version 1 record entries, 80 bytes each (tests of old packs). */
static int encode_entries(const pack_footer *f, bytebuf *b)
{
	uint8_t *p = buf_extend(b, f->nrecords * PACK_RECORD_ENTRY);
	if (!p)
		return STRATA_ENOMEM;
	for (size_t i = 0; i < f->nrecords; i++, p += PACK_RECORD_ENTRY) {
		const pack_record *r = &f->records[i];
		le_put32(p, r->key);
		le_put32(p + 4, r->group);
		le_put64(p + 8, r->n);
		le_put64(p + 16, r->off);
		le_put64(p + 24, r->len);
		le_put64(p + 32, r->size);
		le_put64(p + 40, r->sum);
		le_put64(p + 48, r->cend);
		le_put64(p + 56, r->base);
		le_put64(p + 64, r->unit);
		p[72] = r->enc;
	}
	return 0;
}

/* Versions 2 and 3: the run count, then the runs, encoded as they closed;
 * their offsets become file offsets, for a footer at file offset `at`. */
static int place_runs(pack_writer *w, uint64_t at, bytebuf *b)
{
	int rc = close_run(w);
	uint8_t *p = rc ? NULL : buf_extend(b, 8);
	if (!p)
		return rc ? rc : STRATA_ENOMEM;
	le_put64(p, w->f.nruns);
	for (size_t i = 0; i < w->f.nruns; i++)
		w->f.runs[i].off += at + b->len;
	rc = buf_append(b, w->runs.p, w->runs.len);
	buf_free(&w->runs);
	return rc;
}

static int footer_encode(pack_writer *w, uint64_t at, bytebuf *b)
{
	const pack_footer *f = &w->f;
	int version = w->footer_version;
	size_t keybytes = 0, unitbytes = 0;
	for (size_t i = 0; i < f->nkeys; i++)
		keybytes += 2 + f->keys[i].len;
	for (size_t i = 0; i < f->nunits; i++)
		unitbytes += UNIT_ENTRY_FIXED + f->units[i].label_len;
	size_t total = FOOTER_FIXED + unitbytes + f->ngroups * PACK_GROUP_ENTRY + keybytes;
	uint8_t *p = buf_extend(b, total);
	if (!p)
		return STRATA_ENOMEM;
	le_put32(p, (uint32_t)version);
	le_put32(p + 4, (uint32_t)f->nkeys);
	le_put32(p + 8, (uint32_t)f->ngroups);
	le_put32(p + 12, (uint32_t)f->nunits);
	le_put64(p + 16, f->nrecords);
	p += FOOTER_FIXED;
	for (size_t i = 0; i < f->nunits; i++) {
		const pack_unit *u = &f->units[i];
		le_put64(p, u->unit);
		le_put64(p + 8, (uint64_t)u->time);
		le_put32(p + 16, u->label_len);
		if (u->label_len)
			memcpy(p + UNIT_ENTRY_FIXED, u->label, u->label_len);
		p += UNIT_ENTRY_FIXED + u->label_len;
	}
	for (size_t i = 0; i < f->ngroups; i++, p += PACK_GROUP_ENTRY) {
		const pack_group *g = &f->groups[i];
		le_put64(p, g->offset);
		le_put64(p + 8, g->clen);
		le_put64(p + 16, g->blen);
		le_put64(p + 24, g->sum);
		p[32] = g->codec;
		p[33] = (uint8_t)g->level;
	}
	for (size_t i = 0; i < f->nkeys; i++) {
		le_put16(p, f->keys[i].len);
		memcpy(p + 2, f->keys[i].p, f->keys[i].len);
		p += 2 + f->keys[i].len;
	}
	return version == 1 ? encode_entries(f, b) : place_runs(w, at, b);
}

static void trailer_encode(uint8_t *t, uint64_t footer_off, uint64_t footer_len, uint64_t sum,
			   uint64_t unit)
{
	memset(t, 0, PACK_TRAILER_SIZE);
	le_put64(t, footer_off);
	le_put64(t + 8, footer_len);
	le_put64(t + 16, sum);
	le_put64(t + 24, unit);
	le_put32(t + 32, PACK_VERSION);
	le_put32(t + 36, PACK_TRAILER_SIZE);
	memcpy(t + 40, TRAILER_MAGIC, 8);
}

int pack_writer_finish(pack_writer *w, uint64_t *size_out)
{
	if (w->f.nunits != w->f.last - w->f.first + 1)
		return err_set(STRATA_EINVAL, "pack %s: %zu of its units described", w->name, w->f.nunits);
	bytebuf b = { 0 };
	int rc = footer_encode(w, w->pos, &b);
	uint8_t *t = rc ? NULL : buf_extend(&b, PACK_TRAILER_SIZE);
	if (!rc && !t)
		rc = STRATA_ENOMEM;
	if (!rc) {
		uint64_t flen = b.len - PACK_TRAILER_SIZE;
		trailer_encode(t, w->pos, flen, XXH3_64bits(b.p, flen), w->f.last);
		rc = os_write(w->fd, b.p, b.len, w->tmp_path);
	}
	if (!rc) {
		w->pos += b.len;
		rc = os_fsync(w->fd, w->tmp_path);
	}
	buf_free(&b);
	if (!rc) {
		rc = os_close_checked(w->fd, w->tmp_path);
		w->fd = -1;
	}
	if (!rc)
		rc = os_rename_noreplace(w->tmp_path, w->final_path);
	if (!rc && (rc = os_fsync_dir(w->dir)) != 0) {
		/* Not durable, so not committed: take the name back, so that no
		 * later recovery files a unit whose commit failed. */
		os_unlink(w->final_path);
	}
	if (!rc) {
		w->finished = 1;
		if (size_out)
			*size_out = w->pos;
	}
	return rc;
}

void pack_writer_free(pack_writer *w)
{
	if (!w)
		return;
	os_close(w->fd);
	if (w->dir && !w->finished)
		os_unlink(w->tmp_path);
	buf_free(&w->mem);
	for (size_t i = 0; i < w->f.nkeys; i++)
		free((void *)w->f.keys[i].p);
	free(w->f.keys);
	free(w->f.groups);
	free(w->f.records);
	free(w->f.runs);
	free(w->open);
	buf_free(&w->runs);
	buf_free(&w->scratch);
	for (size_t i = 0; i < w->f.nunits; i++)
		free((void *)w->f.units[i].label);
	free(w->f.units);
	free(w->dir);
	free(w);
}

/* ------------------------------------------------------------- reader */

static int corrupt(const char *path, const char *what)
{
	return err_set(STRATA_ECORRUPT, "pack %s: %s", path, what);
}

static int check_header(const uint8_t *h, const char *path, pack_footer *f)
{
	if (memcmp(h, HEADER_MAGIC, 8) != 0)
		return corrupt(path, "not a strata pack (bad header magic)");
	if (le_get64(h + 56) != XXH3_64bits(h, 56))
		return corrupt(path, "header checksum mismatch");
	if (le_get32(h + 8) != PACK_VERSION)
		return err_set(STRATA_EFORMAT, "pack %s: format version %u is not supported (this build reads %d)",
			       path, le_get32(h + 8), PACK_VERSION);
	if (le_get32(h + 12) != PACK_HEADER_SIZE)
		return corrupt(path, "header size field is wrong");
	f->last = le_get64(h + 16);
	f->time = (int64_t)le_get64(h + 24);
	f->first = le_get64(h + 32);
	if (f->first == 0 || f->first > f->last || f->last - f->first >= (1u << 30))
		return corrupt(path, "header unit range is malformed");
	return 0;
}

/* Parse the footer's fixed part, label, groups and keys. Arrays are
 * allocated into f; key and label pointers point into `p`. */
static int footer_parse_tables(pack_footer *f, const uint8_t *p, uint64_t len, const char *path,
			       const uint8_t **rest, int *version)
{
	if (len < FOOTER_FIXED)
		return corrupt(path, "footer too short");
	uint32_t v = le_get32(p);
	if (v < 1 || v > FOOTER_VERSION)
		return err_set(STRATA_EFORMAT, "pack %s: footer version %u is not supported", path, v);
	*version = (int)v;
	uint64_t nkeys = le_get32(p + 4), ngroups = le_get32(p + 8), nunits = le_get32(p + 12);
	uint64_t nrec = le_get64(p + 16);
	const uint8_t *end = p + len;
	p += FOOTER_FIXED;
	/* Every count is bounded by the bytes that must hold it. */
	uint64_t bytes = (uint64_t)(end - p);
	uint64_t max_rec = v == 1 ? bytes / PACK_RECORD_ENTRY : v == 2 ? bytes / RUN_ENTRY_MIN
								  : bytes / RUN_UNIFORM_MIN * RUN_MAX;
	if (nunits != f->last - f->first + 1 || nunits > bytes / UNIT_ENTRY_FIXED ||
	    ngroups > bytes / PACK_GROUP_ENTRY || nkeys > bytes / 3 || nrec > max_rec)
		return corrupt(path, "footer counts exceed its size or disagree with the header");
	f->units = calloc(nunits, sizeof *f->units);
	f->groups = calloc(ngroups ? ngroups : 1, sizeof *f->groups);
	f->keys = calloc(nkeys ? nkeys : 1, sizeof *f->keys);
	f->records = calloc(nrec ? nrec : 1, sizeof *f->records);
	if (!f->units || !f->groups || !f->keys || !f->records)
		return ERR_NOMEM();
	for (size_t i = 0; i < nunits; i++) {
		if (end - p < UNIT_ENTRY_FIXED)
			return corrupt(path, "footer unit table truncated");
		pack_unit *u = &f->units[i];
		*u = (pack_unit){ le_get64(p), (int64_t)le_get64(p + 8), p + UNIT_ENTRY_FIXED, le_get32(p + 16) };
		if (u->unit != f->first + i || (uint64_t)(end - p) - UNIT_ENTRY_FIXED < u->label_len)
			return corrupt(path, "footer unit entry malformed");
		p += UNIT_ENTRY_FIXED + u->label_len;
	}
	f->nunits = (size_t)nunits;
	if ((uint64_t)(end - p) < ngroups * PACK_GROUP_ENTRY)
		return corrupt(path, "footer group table truncated");
	for (size_t i = 0; i < ngroups; i++, p += PACK_GROUP_ENTRY)
		f->groups[i] = (pack_group){ le_get64(p), le_get64(p + 8), le_get64(p + 16),
					     le_get64(p + 24), p[32], (int8_t)p[33] };
	f->ngroups = (size_t)ngroups;
	for (size_t i = 0; i < nkeys; i++) {
		if (end - p < 2)
			return corrupt(path, "footer key table truncated");
		uint16_t kl = le_get16(p);
		if (kl == 0 || end - p - 2 < kl)
			return corrupt(path, "footer key entry malformed");
		f->keys[i] = (pack_key){ p + 2, kl };
		p += 2 + kl;
	}
	f->nkeys = (size_t)nkeys;
	if (v == 1 && (uint64_t)(end - p) != nrec * PACK_RECORD_ENTRY)
		return corrupt(path, "footer record table size mismatch");
	f->nrecords = (size_t)nrec;
	*rest = p;
	return 0;
}

/* Version 1: 80-byte entries. */
static void footer_read_entries(pack_footer *f, const uint8_t *p)
{
	for (size_t i = 0; i < f->nrecords; i++, p += PACK_RECORD_ENTRY)
		f->records[i] = (pack_record){ .key = le_get32(p), .group = le_get32(p + 4), .n = le_get64(p + 8),
					       .off = le_get64(p + 16), .len = le_get64(p + 24),
					       .size = le_get64(p + 32), .sum = le_get64(p + 40),
					       .cend = le_get64(p + 48), .base = le_get64(p + 56),
					       .unit = le_get64(p + 64), .enc = p[72] };
}

/* Versions 2 and 3: runs, from p to end, of a footer read from file
 * offset `at` (whose first byte is `start`); shared checksums in version 3
 * only. */
static int footer_read_runs(pack_footer *f, const uint8_t *start, const uint8_t *p, const uint8_t *end,
			    uint64_t at, int version, const char *path)
{
	if (end - p < 8)
		return corrupt(path, "footer run table truncated");
	uint64_t nruns = le_get64(p), key, unit, len;
	p += 8;
	/* Each run takes at least 3 bytes of header and RUN_ENTRY_MIN (its
	 * last entry carries a checksum). */
	if (nruns > (uint64_t)(end - p) / (3 + RUN_ENTRY_MIN) || nruns > f->nrecords)
		return corrupt(path, "footer run count exceeds its size");
	f->runs = calloc(nruns ? nruns : 1, sizeof *f->runs);
	if (!f->runs)
		return ERR_NOMEM();
	size_t done = 0;
	char what[4200];
	snprintf(what, sizeof what, "pack %s", path);
	for (uint64_t i = 0; i < nruns; i++) {
		size_t k1 = varint_get(p, (size_t)(end - p), &key);
		size_t k2 = k1 ? varint_get(p + k1, (size_t)(end - p) - k1, &unit) : 0;
		size_t k3 = k2 ? varint_get(p + k1 + k2, (size_t)(end - p) - k1 - k2, &len) : 0;
		if (!k3 || key >= f->nkeys || len > (uint64_t)(end - p) - k1 - k2 - k3)
			return corrupt(path, "footer run entry malformed");
		p += k1 + k2 + k3;
		run_head h;
		if (!run_head_decode(p, (size_t)len, &h) || h.count > f->nrecords - done)
			return corrupt(path, "footer runs hold more records than the footer counts");
		size_t got;
		int rc = run_decode(p, (size_t)len, (uint32_t)key, unit, f->records + done, &got, what);
		if (rc)
			return rc;
		/* What version 3 added has no place in a footer of version 2. */
		int v3 = version < 3 && run_is_uniform(p, (size_t)len);
		for (size_t j = done; version < 3 && !v3 && j < done + got; j++)
			v3 = f->records[j].rcount != 0;
		if (v3)
			return corrupt(path, "record run of footer version 3 in a footer of version 2");
		f->runs[f->nruns] = (pack_run){ .off = at + (uint64_t)(p - start), .len = len,
						.sum = XXH3_64bits(p, (size_t)len), .first = done, .count = got };
		run_summary(&f->runs[f->nruns++], f->records + done, got);
		done += got;
		p += len;
	}
	if (p != end || done != f->nrecords)
		return corrupt(path, "footer runs do not add up to its record count");
	return 0;
}

/* The records of a footer read from file offset `at` into `start`; p is
 * where they begin. */
static int footer_parse_records(pack_footer *f, const uint8_t *start, const uint8_t *p, const uint8_t *end,
				uint64_t at, int version, const char *path)
{
	if (version == 1)
		footer_read_entries(f, p);
	else {
		int rc = footer_read_runs(f, start, p, end, at, version, path);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < f->nrecords; i++) {
		pack_record *r = &f->records[i];
		if (r->unit < f->first || r->unit > f->last)
			return corrupt(path, "record unit lies outside the pack's range");
		if (r->key >= f->nkeys || r->group >= f->ngroups || r->n == 0)
			return corrupt(path, "record entry refers outside the footer");
		if (r->enc > ENC_MAX)
			return err_set(STRATA_EFORMAT, "pack %s: record encoding %u is not supported", path, r->enc);
		if (r->enc == ENC_LITERAL && r->len != r->size)
			return corrupt(path, "literal record length differs from its size");
		if ((r->enc == ENC_BASE || r->enc == ENC_PATCH) != (r->base != 0) || r->base >= r->n)
			return corrupt(path, "record base reference is malformed");
		if (r->cend > f->groups[r->group].clen)
			return corrupt(path, "record compressed prefix exceeds its group");
	}
	return 0;
}

/* Groups lie in order between header and footer; each group's records tile
 * its body from 0 in order. */
static int footer_check_layout(const pack_footer *f, uint64_t footer_off, const char *path)
{
	uint64_t pos = PACK_HEADER_SIZE;
	for (size_t g = 0; g < f->ngroups; g++) {
		const pack_group *gr = &f->groups[g];
		if (gr->offset != pos || gr->clen > footer_off - pos)
			return corrupt(path, "group table does not tile the pack");
		if (gr->codec > CODEC_MAX)
			return err_set(STRATA_EFORMAT, "pack %s: codec id %u is not supported", path, gr->codec);
		/* No stream yields more body per byte than its codec's bound
		 * (group_codec_max_ratio), so a larger body is a lie, not data. */
		if (gr->codec == CODEC_NONE ? gr->blen != gr->clen : gr->blen / group_codec_max_ratio(gr->codec) > gr->clen)
			return corrupt(path, "group body length is impossible for its compressed length");
		pos += gr->clen;
	}
	if (pos != footer_off)
		return corrupt(path, "groups do not end where the footer starts");
	uint64_t body_pos = 0;
	uint32_t cur = 0;
	for (size_t i = 0; i < f->nrecords; i++) {
		const pack_record *r = &f->records[i];
		if (r->group != cur) {
			if (r->group < cur || body_pos != f->groups[cur].blen)
				return corrupt(path, "records do not tile their group");
			for (cur++; cur < r->group; cur++)
				if (f->groups[cur].blen != 0)
					return corrupt(path, "records do not tile their group");
			body_pos = 0;
		}
		if (r->off != body_pos || r->len > f->groups[cur].blen - body_pos)
			return corrupt(path, "records do not tile their group");
		body_pos += r->len;
	}
	for (size_t g = cur; g < f->ngroups; g++)
		if ((g == cur ? body_pos : 0) != f->groups[g].blen)
			return corrupt(path, "records do not tile their group");
	return 0;
}

int pack_open_fd(pack_reader **out, int fd, const char *path)
{
	pack_reader *r = calloc(1, sizeof *r);
	if (!r || !(r->path = strdup(path))) {
		free(r);
		os_close(fd);
		return ERR_NOMEM();
	}
	r->fd = fd;
	uint8_t h[PACK_HEADER_SIZE], t[PACK_TRAILER_SIZE];
	int rc = os_size(fd, &r->size, path);
	if (!rc && r->size < PACK_HEADER_SIZE + PACK_TRAILER_SIZE)
		rc = corrupt(path, "file too short to be a pack");
	if (!rc)
		rc = os_pread(fd, h, sizeof h, 0, path);
	if (!rc)
		rc = check_header(h, path, &r->footer);
	if (!rc)
		rc = os_pread(fd, t, sizeof t, r->size - PACK_TRAILER_SIZE, path);
	if (!rc && memcmp(t + 40, TRAILER_MAGIC, 8) != 0)
		rc = corrupt(path, "bad trailer magic (truncated or not a pack)");
	if (!rc && le_get32(t + 32) != PACK_VERSION)
		rc = err_set(STRATA_EFORMAT, "pack %s: trailer version %u is not supported", path, le_get32(t + 32));
	if (!rc && le_get32(t + 36) != PACK_TRAILER_SIZE)
		rc = corrupt(path, "trailer size field is wrong");
	uint64_t foff = le_get64(t), flen = le_get64(t + 8);
	if (!rc && (le_get64(t + 24) != r->footer.last))
		rc = corrupt(path, "trailer and header disagree on the unit number");
	if (!rc && (foff < PACK_HEADER_SIZE || flen > r->size || foff > r->size - flen ||
		    foff + flen + PACK_TRAILER_SIZE != r->size))
		rc = corrupt(path, "trailer's footer position does not match the file size");
	if (!rc && !(r->footer_mem = malloc(flen ? flen : 1)))
		rc = ERR_NOMEM();
	if (!rc)
		rc = os_pread(fd, r->footer_mem, flen, foff, path);
	if (!rc && XXH3_64bits(r->footer_mem, flen) != le_get64(t + 16))
		rc = corrupt(path, "footer checksum mismatch");
	const uint8_t *rest = NULL;
	int version = 0;
	if (!rc)
		rc = footer_parse_tables(&r->footer, r->footer_mem, flen, path, &rest, &version);
	if (!rc)
		rc = footer_parse_records(&r->footer, r->footer_mem, rest, r->footer_mem + flen, foff, version, path);
	if (!rc)
		rc = footer_check_layout(&r->footer, foff, path);
	if (rc) {
		pack_close(r);
		return rc;
	}
	r->footer_off = foff;
	*out = r;
	return 0;
}

int pack_open(pack_reader **out, const char *path)
{
	int fd, rc = os_open(&fd, path, O_RDONLY, 0);
	if (rc)
		return rc;
	return pack_open_fd(out, fd, path);
}

void pack_close(pack_reader *r)
{
	if (!r)
		return;
	os_close(r->fd);
	free(r->footer.units);
	free(r->footer.groups);
	free(r->footer.keys);
	free(r->footer.records);
	free(r->footer.runs);
	free(r->footer_mem);
	free(r->path);
	free(r);
}

int pack_src_pread(void *ctx, void *dst, size_t n, uint64_t off)
{
	const pack_src *s = ctx;
	return os_pread(s->fd, dst, n, s->base + off, s->path);
}

typedef struct mem_src {
	const uint8_t *p;
} mem_src;

static int mem_pread(void *ctx, void *dst, size_t n, uint64_t off)
{
	memcpy(dst, ((const mem_src *)ctx)->p + off, n);
	return 0;
}

int pack_read_group(pack_reader *r, group_coder *c, uint32_t g, uint8_t **body)
{
	const pack_group *gr = &r->footer.groups[g];
	uint8_t *raw = malloc(gr->clen ? gr->clen : 1);
	uint8_t *b = malloc(gr->blen ? gr->blen : 1);
	int rc = raw && b ? 0 : ERR_NOMEM();
	if (!rc)
		rc = os_pread(r->fd, raw, gr->clen, gr->offset, r->path);
	if (!rc && XXH3_64bits(raw, gr->clen) != gr->sum)
		rc = err_set(STRATA_ECORRUPT, "pack %s: group %u checksum mismatch", r->path, g);
	if (!rc) {
		mem_src src = { raw };
		group_loc loc = { gr->codec, gr->clen, gr->blen };
		rc = group_read(c, &loc, mem_pread, &src, 0, b, gr->blen);
		if (rc)
			err_prefix(rc, "pack %s: group %u: ", r->path, g);
	}
	free(raw);
	if (rc) {
		free(b);
		return rc;
	}
	*body = b;
	return 0;
}
