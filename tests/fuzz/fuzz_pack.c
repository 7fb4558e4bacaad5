/*
 * fuzz_pack.c - fuzz target for the pack reader (src/pack.h, src/runs.h)
 * and the decoding of the records it describes (src/group.h, src/delta.h,
 * src/patch.h, src/chunk.h).
 *
 * The input is a pack file. It is written to a memfd and opened with
 * pack_open_fd; if that succeeds, the parsed footer is checked against the
 * file and against what pack.c's validation promises (the unit table
 * covers the header's range, groups tile the space between header and
 * footer, every key, label and record lies where it should, every
 * record's unit and compressed prefix are in bounds, a base only on base
 * deltas and patches, shared checksums only on stretches of literals of
 * one run of footer version 3) and every group is decoded with
 * pack_read_group. Each record is then decoded from its group body as
 * src/read.c decodes it, with what the pack alone holds:
 *
 *   0 literal      its range of the body
 *   1 delta        delta_apply to the body before it
 *   2 base delta   delta_apply to its base record's content
 *   3 chunk list   chunk_list_decode, each chunk a record of the chunk key
 *                  (length and SHA-256 checked)
 *   4 base patch   patch_decode with its base record's content as prefix
 *   5 pooled       varint m: a copy of record m of the pool key, of the
 *                  record's size
 *
 * A record whose base, pooled record or chunks are not in the pack is
 * skipped; one whose are come later in the pack (a pooled record is
 * grouped after the references to it, a repack lists a key newest first)
 * is decoded once they are. Every failure must be STRATA_ECORRUPT with a
 * message. Records sharing a checksum are checked together with
 * run_check, and each record's range is also read through group_read
 * with only its compressed prefix, as strata_get reads it.
 *
 * Checksums (XXH3-64) are out of a fuzzer's reach, so each input is tried
 * twice: as given, which exercises the checksum checks, and then, if that
 * changes anything, with the header, group and footer checksums recomputed
 * (walking the footer as format 1 lays it out: fixed part, unit entries,
 * group entries), which lets the mutations reach the footer parser, the
 * codecs and the delta decoder.
 */
#include "bytes.h"
#include "chunk.h"
#include "delta.h"
#include "group.h"
#include "pack.h"
#include "patch.h"
#include "repeat.h"
#include "runs.h"
#include "strata.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "fuzz_pack: invariant failed at line %d: %s\n", __LINE__, \
				#cond);                                                          \
			abort();                                                                 \
		}                                                                                \
	} while (0)

/* Largest record content worth decoding. */
#define MAX_CONTENT (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether [p, p+len) lies within [base, base+cap). */
static int within(const uint8_t *p, size_t len, const uint8_t *base, size_t cap)
{
	return p >= base && (size_t)(p - base) <= cap && len <= cap - (size_t)(p - base);
}

static void check_error(int rc)
{
	CHECK(rc <= STRATA_EINVAL && rc >= STRATA_EREADONLY);
	CHECK(strata_errmsg()[0] != '\0');
}

/* Records sharing a checksum (footer version 3): a stretch of literals
 * of one run, each knowing its place in it. */
static void check_shared(const pack_footer *f, size_t i, int version)
{
	const pack_record *rec = &f->records[i];
	if (rec->rcount == 0) {
		CHECK(rec->rpos == 0);
		return;
	}
	CHECK(version >= 3 && rec->enc == ENC_LITERAL);
	CHECK(rec->rcount >= 2 && rec->rpos < rec->rcount && rec->rpos <= i);
	size_t first = i - rec->rpos;
	CHECK(rec->rcount <= f->nrecords - first);
	const pack_record *r0 = &f->records[first];
	CHECK(rec->key == r0->key && rec->group == r0->group && rec->unit == r0->unit && rec->sum == r0->sum);
	CHECK(rec->rcount == r0->rcount && rec->n == r0->n + rec->rpos);
}

/* The footer of an open pack agrees with the file it came from, as
 * pack.c's validation promises: base references on base deltas and
 * patches only (never on literals, deltas, chunk lists or pool
 * references), shared checksums on stretches of literals of footer
 * version 3 only. */
static void check_footer(const pack_reader *r, size_t size)
{
	const pack_footer *f = &r->footer;
	CHECK(r->size == size);
	CHECK(r->footer_off >= PACK_HEADER_SIZE && r->footer_off <= size - PACK_TRAILER_SIZE);
	size_t flen = size - PACK_TRAILER_SIZE - (size_t)r->footer_off;
	CHECK(flen >= 4);
	int version = (int)le_get32(r->footer_mem);
	CHECK(version >= 1 && version <= 3);
	CHECK((version == 1) == (f->runs == NULL));
	CHECK(f->first >= 1 && f->first <= f->last);
	CHECK(f->nunits == f->last - f->first + 1);
	for (size_t i = 0; i < f->nunits; i++) {
		CHECK(f->units[i].unit == f->first + i);
		CHECK(f->units[i].label_len == 0 ||
		      within(f->units[i].label, f->units[i].label_len, r->footer_mem, flen));
	}
	for (size_t i = 0; i < f->nkeys; i++)
		CHECK(f->keys[i].len >= 1 && within(f->keys[i].p, f->keys[i].len, r->footer_mem, flen));
	uint64_t pos = PACK_HEADER_SIZE;
	for (size_t g = 0; g < f->ngroups; g++) {
		CHECK(f->groups[g].offset == pos && f->groups[g].clen <= r->footer_off - pos);
		CHECK(f->groups[g].codec <= CODEC_MAX);
		CHECK(f->groups[g].codec != CODEC_NONE || f->groups[g].blen == f->groups[g].clen);
		pos += f->groups[g].clen;
	}
	CHECK(pos == r->footer_off);
	for (size_t i = 0; i < f->nrecords; i++) {
		const pack_record *rec = &f->records[i];
		CHECK(rec->key < f->nkeys && rec->group < f->ngroups && rec->n >= 1);
		CHECK(i == 0 || rec->group >= f->records[i - 1].group);
		CHECK(rec->enc <= ENC_MAX);
		CHECK(rec->unit >= f->first && rec->unit <= f->last);
		CHECK((rec->enc == ENC_BASE || rec->enc == ENC_PATCH) == (rec->base != 0) && rec->base < rec->n);
		CHECK(rec->enc != ENC_LITERAL || rec->len == rec->size);
		CHECK(rec->cend <= f->groups[rec->group].clen);
		uint64_t blen = f->groups[rec->group].blen;
		CHECK(rec->off <= blen && rec->len <= blen - rec->off);
		check_shared(f, i, version);
	}
}

/* Decoding the records of a pack from the pack alone. A record whose base,
 * pooled record or chunks are not in the pack (or not decodable) is
 * skipped. */
enum { REC_TODO, REC_NEED, REC_DONE, REC_FAILED };

typedef struct decoder {
	const pack_footer *f;
	uint8_t **done;          /* each record's content once decoded */
	uint8_t *state;          /* REC_* */
	uint8_t **enc;           /* copies of the encodings of REC_NEED records */
	size_t *by_key;          /* record indexes sorted by key and n */
	uint32_t pool_key;       /* index of the reserved keys, or UINT32_MAX */
	uint32_t chunk_key;
	patch_decoder *pd;
	int missing;             /* a chunk list's fetch met a chunk not decoded */
} decoder;

static const pack_footer *sort_footer;

static int cmp_key_n(const void *a, const void *b)
{
	const pack_record *x = &sort_footer->records[*(const size_t *)a];
	const pack_record *y = &sort_footer->records[*(const size_t *)b];
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* A decoded record numbered n of key `key`, or -1. */
static long find_done(const decoder *d, uint32_t key, uint64_t n)
{
	size_t lo = 0, hi = d->f->nrecords;
	while (lo < hi) { /* the first entry not below (key, n) */
		size_t mid = lo + (hi - lo) / 2;
		const pack_record *m = &d->f->records[d->by_key[mid]];
		if (m->key < key || (m->key == key && m->n < n))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < d->f->nrecords; lo++) {
		size_t j = d->by_key[lo];
		if (d->f->records[j].key != key || d->f->records[j].n != n)
			break;
		if (d->done[j])
			return (long)j;
	}
	return -1;
}

/* The index of the key of `len` bytes at p, or UINT32_MAX. */
static uint32_t key_index(const pack_footer *f, const char *p, size_t len)
{
	for (size_t i = 0; i < f->nkeys; i++)
		if (f->keys[i].len == len && memcmp(f->keys[i].p, p, len) == 0)
			return (uint32_t)i;
	return UINT32_MAX;
}

/* chunk_list_decode's fetch: a chunk decoded from this pack. */
static int fetch_chunk(void *ctx, uint64_t n, uint8_t **p, size_t *len)
{
	decoder *d = ctx;
	long j = d->chunk_key == UINT32_MAX ? -1 : find_done(d, d->chunk_key, n);
	if (j < 0) {
		d->missing = 1;
		return STRATA_ENOTFOUND;
	}
	*len = (size_t)d->f->records[j].size;
	*p = malloc(*len ? *len : 1);
	CHECK(*p);
	memcpy(*p, d->done[j], *len);
	return 0;
}

static int to_memory(void *ctx, const uint8_t *p, size_t len)
{
	uint8_t **dst = ctx;
	memcpy(*dst, p, len);
	*dst += len;
	return 0;
}

/* Decode record i into dst (rec->size bytes) as src/read.c does: from its
 * encoding `enc` and, for an in-group delta, the body before it (`body`:
 * the group body, or NULL when only the encoding is at hand). Returns
 * REC_DONE, REC_NEED (a record it refers to is not decoded) or
 * REC_FAILED. */
static int decode_into(decoder *d, size_t i, const uint8_t *body, const uint8_t *enc, uint8_t *dst)
{
	const pack_footer *f = d->f;
	const pack_record *rec = &f->records[i];
	size_t len = (size_t)rec->len, size = (size_t)rec->size;
	int rc = 0;
	long b;
	uint64_t m = 0; /* as src/read.c: an empty encoding is malformed */
	switch (rec->enc) {
	case ENC_LITERAL:
		memcpy(dst, enc, size);
		break;
	case ENC_DELTA:
		CHECK(body);
		rc = delta_apply(body, (size_t)rec->off, enc, len, dst, size);
		break;
	case ENC_BASE:
	case ENC_PATCH:
		if ((b = find_done(d, rec->key, rec->base)) < 0)
			return REC_NEED;
		if (rec->enc == ENC_BASE)
			rc = delta_apply(d->done[b], (size_t)f->records[b].size, enc, len, dst, size);
		else
			rc = patch_decode(&d->pd, d->done[b], (size_t)f->records[b].size, enc, len, dst, size);
		break;
	case ENC_POOL: /* varint m: record m of the pool key, of this size */
		if (varint_get(enc, len, &m) != len || m == 0)
			return REC_FAILED;
		if (d->pool_key == UINT32_MAX || (b = find_done(d, d->pool_key, m)) < 0)
			return REC_NEED;
		if (f->records[b].size != rec->size)
			return REC_FAILED;
		memcpy(dst, d->done[b], size);
		break;
	case ENC_CHUNKS:
		d->missing = 0;
		rc = chunk_list_decode(enc, len, rec->size, fetch_chunk, d, to_memory, &dst);
		if (rc && d->missing)
			return REC_NEED;
		break;
	default:
		CHECK(0); /* pack_open_fd refuses other encodings */
	}
	if (rc) {
		CHECK(rc == STRATA_ECORRUPT);
		check_error(rc);
		return REC_FAILED;
	}
	return REC_DONE;
}

/* Try to decode record i; on REC_NEED keep a copy of its encoding for a
 * later try (its base, pooled record or chunks may come later in the
 * pack: pooled records are grouped after the references the same unit
 * puts, and a repack lists a key newest first). */
static void decode(decoder *d, size_t i, const uint8_t *body, const uint8_t *enc)
{
	const pack_record *rec = &d->f->records[i];
	if (rec->size > MAX_CONTENT) {
		d->state[i] = REC_FAILED;
		return;
	}
	uint8_t *dst = malloc(rec->size ? (size_t)rec->size : 1);
	CHECK(dst);
	int st = decode_into(d, i, body, enc, dst);
	if (st == REC_DONE)
		d->done[i] = dst;
	else
		free(dst);
	if (st == REC_NEED && !d->enc[i]) {
		d->enc[i] = malloc(rec->len ? (size_t)rec->len : 1);
		CHECK(d->enc[i]);
		memcpy(d->enc[i], enc, (size_t)rec->len);
	}
	d->state[i] = (uint8_t)st;
}

/* Decode the records left waiting, as long as that gets further: passes
 * back and forth, so that a chain listed newest first takes one. */
static void decode_waiting(decoder *d)
{
	size_t n = d->f->nrecords;
	for (int progress = 1, back = 1; progress; back = !back) {
		progress = 0;
		for (size_t k = 0; k < n; k++) {
			size_t i = back ? n - 1 - k : k;
			if (d->state[i] != REC_NEED)
				continue;
			decode(d, i, NULL, d->enc[i]);
			progress |= d->state[i] != REC_NEED;
		}
	}
}

static void decoder_init(decoder *d, const pack_footer *f)
{
	size_t n = f->nrecords ? f->nrecords : 1;
	*d = (decoder){ .f = f, .done = calloc(n, sizeof *d->done), .state = calloc(n, 1),
			.enc = calloc(n, sizeof *d->enc), .by_key = malloc(n * sizeof *d->by_key),
			.pool_key = key_index(f, POOL_KEY, POOL_KEYLEN),
			.chunk_key = key_index(f, CHUNK_KEY, CHUNK_KEYLEN) };
	CHECK(d->done && d->state && d->enc && d->by_key);
	for (size_t i = 0; i < f->nrecords; i++)
		d->by_key[i] = i;
	sort_footer = f;
	qsort(d->by_key, f->nrecords, sizeof *d->by_key, cmp_key_n);
}

static void decoder_free(decoder *d)
{
	for (size_t i = 0; i < d->f->nrecords; i++) {
		free(d->done[i]);
		free(d->enc[i]);
	}
	free(d->done);
	free(d->state);
	free(d->enc);
	free(d->by_key);
	patch_decoder_free(d->pd);
}

/* Decode every group, every record from its body (and the records that
 * refer to others once those are decoded), check shared checksums, and
 * read each record's encoding through its compressed prefix. */
static void read_groups(pack_reader *r)
{
	group_coder *c;
	if (group_coder_new(&c) != 0)
		return;
	const pack_footer *f = &r->footer;
	decoder d;
	decoder_init(&d, f);
	size_t ri = 0;
	volatile uint64_t sink = 0;
	for (uint32_t g = 0; g < f->ngroups; g++) {
		uint8_t *body = NULL;
		int rc = pack_read_group(r, c, g, &body);
		if (rc != 0) {
			check_error(rc);
			CHECK(body == NULL);
		}
		const pack_group *gr = &f->groups[g];
		for (; ri < f->nrecords && f->records[ri].group == g; ri++) {
			const pack_record *rec = &f->records[ri];
			CHECK(rec->off <= gr->blen && rec->len <= gr->blen - rec->off);
			if (body) { /* every byte of the range is read: ASan checks it */
				decode(&d, ri, body, body + rec->off);
				if (rec->rcount && rec->rpos == 0) {
					rc = run_check(rec, body + rec->off, rec->off);
					if (rc) {
						CHECK(rc == STRATA_ECORRUPT);
						check_error(rc);
					}
				}
			}
			/* As a get reads it: only the compressed prefix. */
			if (rec->len <= MAX_CONTENT) {
				uint8_t *enc = malloc(rec->len ? (size_t)rec->len : 1);
				CHECK(enc);
				pack_src src = { r->fd, gr->offset, r->path };
				group_loc gl = { gr->codec, rec->cend, gr->blen };
				rc = group_read(c, &gl, pack_src_pread, &src, rec->off, enc, (size_t)rec->len);
				if (rc)
					check_error(rc);
				else if (body) /* the same bytes, decoded only further */
					CHECK(rec->len == 0 || memcmp(enc, body + rec->off, (size_t)rec->len) == 0);
				free(enc);
			}
		}
		free(body);
	}
	CHECK(ri == f->nrecords);
	decode_waiting(&d);
	for (size_t i = 0; i < f->nrecords; i++)
		if (d.done[i])
			sink += XXH3_64bits(d.done[i], (size_t)f->records[i].size) == f->records[i].sum;
	(void)sink;
	decoder_free(&d);
	group_coder_free(c);
}

static void run_pack(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_pack", MFD_CLOEXEC);
	if (fd < 0) {
		perror("fuzz_pack: memfd_create");
		abort();
	}
	for (size_t done = 0; done < size;) {
		ssize_t w = write(fd, data + done, size - done);
		if (w <= 0) {
			perror("fuzz_pack: write to memfd");
			abort();
		}
		done += (size_t)w;
	}
	pack_reader *r = NULL;
	int rc = pack_open_fd(&r, fd, "fuzz.pack"); /* takes the descriptor over */
	if (rc != 0) {
		check_error(rc);
		return;
	}
	check_footer(r, size);
	read_groups(r);
	pack_close(r);
}

/* A copy of the input with its checksums made to hold, as far as the
 * structure found at the places the trailer and footer point to allows.
 * NULL if the input is too short to be a pack. */
static uint8_t *with_checksums(const uint8_t *data, size_t size)
{
	if (size < PACK_HEADER_SIZE + PACK_TRAILER_SIZE)
		return NULL;
	uint8_t *m = malloc(size);
	if (!m)
		return NULL;
	memcpy(m, data, size);
	le_put64(m + 56, XXH3_64bits(m, 56));
	uint8_t *t = m + size - PACK_TRAILER_SIZE;
	uint64_t foff = le_get64(t), flen = le_get64(t + 8);
	size_t space = size - PACK_TRAILER_SIZE;
	if (foff > space || flen > space - foff)
		return m;
	uint8_t *f = m + foff;
	if (flen >= 24) {
		/* Fixed part: version, keys, groups, units, records; then the
		 * unit entries (20 bytes and a label each), then the groups. */
		uint64_t ngroups = le_get32(f + 8), nunits = le_get32(f + 12);
		uint64_t room = flen - 24;
		uint8_t *p = f + 24;
		int ok = 1;
		for (uint64_t u = 0; ok && u < nunits; u++) {
			if (room < 20) {
				ok = 0;
				break;
			}
			uint64_t llen = le_get32(p + 16);
			if (llen > room - 20) {
				ok = 0;
				break;
			}
			p += 20 + llen;
			room -= 20 + llen;
		}
		for (uint64_t g = 0; ok && g < ngroups && room >= PACK_GROUP_ENTRY;
		     g++, p += PACK_GROUP_ENTRY, room -= PACK_GROUP_ENTRY) {
			uint64_t off = le_get64(p), clen = le_get64(p + 8);
			if (off <= size && clen <= size - off)
				le_put64(p + 24, XXH3_64bits(m + off, (size_t)clen));
		}
	}
	le_put64(t + 16, XXH3_64bits(f, (size_t)flen));
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_pack(data, size);
	uint8_t *fixed = with_checksums(data, size);
	if (fixed && memcmp(fixed, data, size) != 0)
		run_pack(fixed, size);
	free(fixed);
	return 0;
}
