/*
 * fuzz_pack.c - fuzz target for the pack reader (src/pack.h) and the
 * decoding of the records it describes (src/group.h, src/delta.h).
 *
 * The input is a pack file. It is written to a memfd and opened with
 * pack_open_fd; if that succeeds, the parsed footer is checked against the
 * file (the unit table covers the header's range, groups tile the space
 * between header and footer, every key, label and record lies where it
 * should, every record's unit, base and compressed prefix are in bounds)
 * and every group is decoded with pack_read_group. Each record is then
 * decoded from its group body as a reader would: a literal is its range of
 * the body, an in-group delta is applied to the body before it, a base
 * delta to the content of its base record when that record is in the pack.
 * Each record's range is also read through group_read with only its
 * compressed prefix, as strata_get reads it.
 *
 * Checksums (XXH3-64) are out of a fuzzer's reach, so each input is tried
 * twice: as given, which exercises the checksum checks, and then, if that
 * changes anything, with the header, group and footer checksums recomputed
 * (walking the footer as format 1 lays it out: fixed part, unit entries,
 * group entries), which lets the mutations reach the footer parser, the
 * codecs and the delta decoder.
 */
#include "bytes.h"
#include "delta.h"
#include "group.h"
#include "pack.h"
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

/* The footer of an open pack agrees with the file it came from. */
static void check_footer(const pack_reader *r, size_t size)
{
	const pack_footer *f = &r->footer;
	CHECK(r->size == size);
	CHECK(r->footer_off >= PACK_HEADER_SIZE && r->footer_off <= size - PACK_TRAILER_SIZE);
	size_t flen = size - PACK_TRAILER_SIZE - (size_t)r->footer_off;
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
		CHECK((rec->enc == ENC_BASE) == (rec->base != 0) && rec->base < rec->n);
		CHECK(rec->enc != ENC_LITERAL || rec->len == rec->size);
		CHECK(rec->cend <= f->groups[rec->group].clen);
		uint64_t blen = f->groups[rec->group].blen;
		CHECK(rec->off <= blen && rec->len <= blen - rec->off);
	}
}

/* The record of the same key numbered n, decoded earlier (index < i), or -1. */
static long find_base(const pack_footer *f, size_t i, uint64_t n)
{
	for (size_t j = 0; j < i; j++)
		if (f->records[j].key == f->records[i].key && f->records[j].n == n)
			return (long)j;
	return -1;
}

/* Decode record i from its group body; returns its content (malloc'd) or
 * NULL when it cannot be decoded (then with STRATA_ECORRUPT). */
static uint8_t *decode(const pack_footer *f, size_t i, const uint8_t *body, uint8_t *const *done)
{
	const pack_record *rec = &f->records[i];
	if (rec->size > MAX_CONTENT)
		return NULL;
	uint8_t *dst = malloc(rec->size ? (size_t)rec->size : 1);
	CHECK(dst);
	int rc;
	if (rec->enc == ENC_LITERAL) {
		memcpy(dst, body + rec->off, (size_t)rec->size);
		rc = 0;
	} else if (rec->enc == ENC_DELTA) {
		rc = delta_apply(body, (size_t)rec->off, body + rec->off, (size_t)rec->len, dst, (size_t)rec->size);
	} else {
		long b = find_base(f, i, rec->base);
		if (b < 0 || !done[b]) {
			free(dst);
			return NULL;
		}
		rc = delta_apply(done[b], (size_t)f->records[b].size, body + rec->off, (size_t)rec->len, dst,
				 (size_t)rec->size);
	}
	if (rc) {
		CHECK(rc == STRATA_ECORRUPT);
		check_error(rc);
		free(dst);
		return NULL;
	}
	return dst;
}

/* Decode every group, every record from its body, and read each record's
 * encoding through its compressed prefix. */
static void read_groups(pack_reader *r)
{
	group_coder *c;
	if (group_coder_new(&c) != 0)
		return;
	const pack_footer *f = &r->footer;
	uint8_t **done = calloc(f->nrecords ? f->nrecords : 1, sizeof *done);
	CHECK(done);
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
				done[ri] = decode(f, ri, body, done);
				if (done[ri])
					sink += XXH3_64bits(done[ri], (size_t)rec->size) == rec->sum;
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
	for (size_t i = 0; i < f->nrecords; i++)
		free(done[i]);
	free(done);
	(void)sink;
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
