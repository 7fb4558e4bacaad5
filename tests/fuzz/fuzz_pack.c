/*
 * fuzz_pack.c - fuzz target for the pack reader (src/pack.h).
 *
 * The input is a pack file. It is written to a memfd and opened with
 * pack_open_fd; if that succeeds, the parsed footer is checked against the
 * file (groups tile the space between header and footer, every key, label
 * and record lies where it should) and every group is decoded with
 * pack_read_group, each record's range being checked to lie within the
 * body and read in full.
 *
 * Checksums (XXH3-64) are out of a fuzzer's reach, so each input is tried
 * twice: as given, which exercises the checksum checks, and then, if that
 * changes anything, with the header, group and footer checksums recomputed,
 * which lets the mutations reach the footer parser and the codecs.
 */
#include "bytes.h"
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
	CHECK(f->label_len == 0 || within(f->label, f->label_len, r->footer_mem, flen));
	for (size_t i = 0; i < f->nkeys; i++)
		CHECK(f->keys[i].len >= 1 && within(f->keys[i].p, f->keys[i].len, r->footer_mem, flen));
	uint64_t pos = PACK_HEADER_SIZE;
	for (size_t g = 0; g < f->ngroups; g++) {
		CHECK(f->groups[g].offset == pos && f->groups[g].clen <= r->footer_off - pos);
		CHECK(f->groups[g].codec <= CODEC_MAX);
		pos += f->groups[g].clen;
	}
	CHECK(pos == r->footer_off);
	for (size_t i = 0; i < f->nrecords; i++) {
		const pack_record *rec = &f->records[i];
		CHECK(rec->key < f->nkeys && rec->group < f->ngroups && rec->n >= 1);
		CHECK(i == 0 || rec->group >= f->records[i - 1].group);
		CHECK(rec->enc <= ENC_MAX);
		uint64_t blen = f->groups[rec->group].blen;
		CHECK(rec->off <= blen && rec->len <= blen - rec->off);
	}
}

/* Decode every group and read every record's bytes from its body. */
static void read_groups(pack_reader *r)
{
	group_coder *c;
	if (group_coder_new(&c) != 0)
		return;
	const pack_footer *f = &r->footer;
	size_t ri = 0;
	volatile uint64_t sink = 0;
	for (uint32_t g = 0; g < f->ngroups; g++) {
		uint8_t *body = NULL;
		int rc = pack_read_group(r, c, g, &body);
		if (rc != 0) {
			check_error(rc);
			CHECK(body == NULL);
		}
		uint64_t blen = f->groups[g].blen;
		for (; ri < f->nrecords && f->records[ri].group == g; ri++) {
			const pack_record *rec = &f->records[ri];
			CHECK(rec->off <= blen && rec->len <= blen - rec->off);
			if (body) /* every byte of the range is read: ASan checks it */
				sink += XXH3_64bits(body + rec->off, (size_t)rec->len) == rec->sum;
		}
		free(body);
	}
	CHECK(ri == f->nrecords);
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
		uint64_t ngroups = le_get32(f + 8), llen = le_get32(f + 12);
		uint64_t room = flen - 24;
		if (llen <= room) {
			uint8_t *ge = f + 24 + llen;
			room -= llen;
			for (uint64_t g = 0; g < ngroups && room >= PACK_GROUP_ENTRY;
			     g++, ge += PACK_GROUP_ENTRY, room -= PACK_GROUP_ENTRY) {
				uint64_t off = le_get64(ge), clen = le_get64(ge + 8);
				if (off <= size && clen <= size - off)
					le_put64(ge + 24, XXH3_64bits(m + off, (size_t)clen));
			}
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
