/*
 * make_pack_seeds.c - write small real packs for the fuzz_pack seed corpus.
 *
 *   make_pack_seeds OUTDIR
 *
 * Writes OUTDIR/0000000001.pack ... with the library's own pack writer, each
 * covering a different shape: no groups, one zstd group, an uncompressed
 * group, several groups and keys, an empty record, empty groups, zstd -19,
 * in-group deltas (encoding 1), base deltas (encoding 2) whose base is in
 * the pack or in an older one, and a pack of a range of units (as a repack
 * writes it) mixing all three encodings. Deltas are made with src/delta.h
 * and compressed prefixes come from the group coder, so every pack is one
 * the reader and the decoders accept. Built only on request (cmake --build
 * B --target make_pack_seeds); the packs it made are kept in corpus/pack/.
 */
#include "bytes.h"
#include "delta.h"
#include "group.h"
#include "pack.h"
#include "strata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum { LIT = ENC_LITERAL, DELTA = ENC_DELTA, BASE = ENC_BASE };

typedef struct rec {
	const char *key;
	size_t keylen;
	const char *data;  /* the content */
	size_t len;
	int enc;           /* LIT, DELTA (against the group body before it) or BASE */
	uint64_t base;     /* BASE: the base's record number */
	const char *src;   /* BASE whose base is not in this pack: its content */
	size_t srclen;
	uint64_t n;        /* record number; 0: the key's next (from 1) */
	uint64_t unit;     /* 0: the pack's first unit */
} rec;

typedef struct grp {
	int codec;
	int level;
	const rec *recs;
	size_t nrecs;
} grp;

#define MAXKEYS 16
#define MAXRECS 64

static int die(const char *what, int rc)
{
	fprintf(stderr, "make_pack_seeds: %s: %s (%s)\n", what, strata_errmsg(), strata_strerror(rc));
	return 1;
}

/* The encoding of r: its content, or a delta against `src`. */
static int encode(const rec *r, const uint8_t *src, size_t srclen, bytebuf *out)
{
	out->len = 0;
	if (r->enc == LIT)
		return buf_append(out, r->data, r->len);
	delta_index *ix;
	int rc = delta_index_new(&ix, 1u << 20);
	if (!rc)
		rc = delta_index_add(ix, src, 0, srclen);
	if (!rc)
		rc = delta_encode(ix, src, srclen, (const uint8_t *)r->data, r->len, SIZE_MAX, out, NULL);
	delta_index_free(ix);
	return rc;
}

/* One pack of units first..last (labels[i] for unit first + i) made of
 * `ngroups` groups. */
static int make(group_coder *c, const char *dir, uint64_t first, uint64_t last, const char *const *labels,
		const grp *groups, size_t ngroups)
{
	pack_writer *w;
	int rc = pack_writer_new(&w, dir, first, last, 1700000000 + (int64_t)last);
	if (rc)
		return die("pack_writer_new", rc);
	for (uint64_t u = first; !rc && u <= last; u++) {
		const char *l = labels[u - first];
		rc = pack_writer_add_unit(w, u, 1700000000 + (int64_t)u, l, strlen(l));
	}
	const char *keys[MAXKEYS];
	size_t keylens[MAXKEYS];
	uint64_t counts[MAXKEYS];
	uint32_t nkeys = 0;
	const rec *done[MAXRECS]; /* records written so far, for base lookups */
	size_t ndone = 0;
	uint64_t done_n[MAXRECS];
	for (size_t g = 0; g < ngroups && !rc; g++) {
		group_piece pieces[16];
		bytebuf enc[16] = { { 0 } }, body = { 0 };
		uint64_t cends[16];
		for (size_t i = 0; i < groups[g].nrecs && !rc; i++) {
			const rec *r = &groups[g].recs[i];
			const uint8_t *src = body.p;
			size_t srclen = body.len;
			if (r->enc == BASE) {
				src = (const uint8_t *)r->src;
				srclen = r->srclen;
				for (size_t j = 0; j < ndone; j++)
					if (done[j]->keylen == r->keylen && !memcmp(done[j]->key, r->key, r->keylen) &&
					    done_n[j] == r->base) {
						src = (const uint8_t *)done[j]->data;
						srclen = done[j]->len;
					}
			}
			rc = encode(r, src, srclen, &enc[i]);
			if (!rc)
				rc = buf_append(&body, enc[i].p, enc[i].len);
			pieces[i] = (group_piece){ enc[i].p, enc[i].len };
		}
		uint32_t gidx = 0;
		if (!rc)
			rc = pack_writer_add_group(w, c, groups[g].codec, groups[g].level, pieces, groups[g].nrecs, &gidx,
						   cends);
		uint64_t off = 0;
		for (size_t i = 0; i < groups[g].nrecs && !rc; i++) {
			const rec *r = &groups[g].recs[i];
			uint32_t k = 0;
			while (k < nkeys && !(keylens[k] == r->keylen && !memcmp(keys[k], r->key, r->keylen)))
				k++;
			if (k == nkeys) {
				rc = pack_writer_add_key(w, r->key, r->keylen, &k);
				if (rc)
					break;
				keys[k] = r->key;
				keylens[k] = r->keylen;
				counts[k] = 0;
				nkeys++;
			}
			counts[k] = r->n ? r->n : counts[k] + 1;
			pack_record pr = { .key = k, .group = gidx, .n = counts[k], .off = off, .len = enc[i].len,
					   .size = r->len, .sum = XXH3_64bits(r->data, r->len), .cend = cends[i],
					   .base = r->enc == BASE ? r->base : 0, .unit = r->unit ? r->unit : first,
					   .enc = (uint8_t)r->enc };
			rc = pack_writer_add_record(w, &pr);
			off += enc[i].len;
			done[ndone] = r;
			done_n[ndone++] = counts[k];
		}
		for (size_t i = 0; i < 16; i++)
			buf_free(&enc[i]);
		buf_free(&body);
	}
	if (!rc)
		rc = pack_writer_finish(w, NULL);
	pack_writer_free(w);
	return rc ? die("writing a pack", rc) : 0;
}

#define R(k, d) { k, sizeof k - 1, d, sizeof d - 1, LIT, 0, NULL, 0, 0, 0 }
#define D(k, d) { k, sizeof k - 1, d, sizeof d - 1, DELTA, 0, NULL, 0, 0, 0 }
#define B(k, d, b) { k, sizeof k - 1, d, sizeof d - 1, BASE, b, NULL, 0, 0, 0 }
#define N(a) (sizeof a / sizeof a[0])

#define CFG1 "[main]\nname = strata\nlevel = 3\npath = /var/lib/strata\nretries = 5\n"
#define CFG2 "[main]\nname = strata\nlevel = 4\npath = /var/lib/strata\nretries = 5\n"
#define CFG3 "[main]\nname = strata\nlevel = 4\npath = /var/lib/strata\nretries = 7\n[extra]\n"
#define LOG1 "2024-01-01 00:00:01 start ok ok ok ok ok ok ok ok ok ok ok ok ok\n"
#define LOG2 LOG1 "2024-01-01 00:00:02 step ok ok ok ok ok ok ok ok ok ok ok ok ok\n"
#define LOG3 LOG2 "2024-01-01 00:00:03 done ok ok ok ok ok ok ok ok ok ok ok ok ok\n"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_pack_seeds OUTDIR\n");
		return 2;
	}
	const char *dir = argv[1];
	group_coder *c;
	if (group_coder_new(&c))
		return 1;

	static const rec one[] = { R("greeting", "hello, world\n") };
	static const rec plain[] = { R("a", "alpha"), R("b", "bravo"), R("a", "again") };
	static const rec text[] = {
		R("config/app.ini", "[main]\nname = strata\nlevel = 3\n[main]\nname = strata\nlevel = 4\n"),
		R("config/app.ini", "[main]\nname = strata\nlevel = 4\n"),
		R("key with spaces", ""),
	};
	static const rec bin[] = { R("bin\x01\xff", "\x00\x01\x02\x03\xfe\xff\x00\x00"), R("a", "") };
	static const rec rep[] = {
		R("log", "2024-01-01 00:00:01 ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok\n"
			 "2024-01-01 00:00:02 ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok\n"
			 "2024-01-01 00:00:03 ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok\n"),
		R("log", "2024-01-01 00:00:04 ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok\n"),
	};
	static const rec empty_only[] = { R("e", "") };
	/* In-group deltas: later versions copy from the body before them. */
	static const rec deltas[] = { R("app.ini", CFG1), D("app.ini", CFG2), D("app.ini", CFG3), D("other.ini", CFG3) };
	static const rec deltas_none[] = { R("log", LOG1), D("log", LOG2), D("log", LOG3) };
	/* Base deltas: against a record of an earlier group of this pack, and
	 * against one of an older pack (key "old", records 5 and 6). */
	static const rec base_g0[] = { R("app.ini", CFG1), R("log", LOG2) };
	static const rec base_g1[] = {
		B("app.ini", CFG3, 1),
		{ "old", 3, CFG2, sizeof CFG2 - 1, BASE, 4, CFG1, sizeof CFG1 - 1, 5, 0 },
		D("log", LOG3),
	};
	static const rec base_g2[] = { B("old", CFG3, 5) };
	/* A repacked range 3..6, as strata_repack writes one: "app.ini" newest
	 * first (record 3 literal, then in-group deltas down to record 1),
	 * "log" oldest first (record 1 literal, record 2 a base delta on it in
	 * the next group). */
	static const rec range_g0[] = {
		{ "app.ini", 7, CFG3, sizeof CFG3 - 1, LIT, 0, NULL, 0, 3, 6 },
		{ "app.ini", 7, CFG2, sizeof CFG2 - 1, DELTA, 0, NULL, 0, 2, 4 },
		{ "app.ini", 7, CFG1, sizeof CFG1 - 1, DELTA, 0, NULL, 0, 1, 3 },
		{ "log", 3, LOG1, sizeof LOG1 - 1, LIT, 0, NULL, 0, 1, 3 },
	};
	static const rec range_g1[] = {
		{ "log", 3, LOG3, sizeof LOG3 - 1, BASE, 1, NULL, 0, 2, 5 },
	};

	const grp g_one[] = { { CODEC_ZSTD, 3, one, N(one) } };
	const grp g_plain[] = { { CODEC_NONE, 0, plain, N(plain) } };
	const grp g_multi[] = { { CODEC_ZSTD, 3, text, N(text) }, { CODEC_NONE, 0, bin, N(bin) } };
	const grp g_gap[] = { { CODEC_NONE, 0, NULL, 0 }, { CODEC_ZSTD, 1, one, N(one) },
			      { CODEC_ZSTD, 3, NULL, 0 } };
	const grp g_rep[] = { { CODEC_ZSTD, 19, rep, N(rep) } };
	const grp g_empty[] = { { CODEC_ZSTD, 3, empty_only, N(empty_only) } };
	const grp g_deltas[] = { { CODEC_ZSTD, 3, deltas, N(deltas) }, { CODEC_NONE, 0, deltas_none, N(deltas_none) } };
	const grp g_base[] = { { CODEC_ZSTD, 3, base_g0, N(base_g0) }, { CODEC_NONE, 0, base_g1, N(base_g1) },
			       { CODEC_ZSTD, 19, base_g2, N(base_g2) } };
	const grp g_range[] = { { CODEC_ZSTD, 19, range_g0, N(range_g0) }, { CODEC_ZSTD, 19, range_g1, N(range_g1) } };

	const char *const unlabelled[] = { "" };
	const char *const first[] = { "first" };
	const char *const plain_l[] = { "plain" };
	const char *const multi_l[] = { "two groups, binary key" };
	const char *const z19[] = { "zstd -19" };
	const char *const er[] = { "empty record" };
	const char *const dl[] = { "in-group deltas" };
	const char *const bl[] = { "base deltas" };
	const char *const rl[] = { "unit 3", "", "unit \xc3\xa9 5", "unit 6\0hidden" };

	int rc = make(c, dir, 1, 1, unlabelled, NULL, 0) || make(c, dir, 2, 2, first, g_one, N(g_one)) ||
		 make(c, dir, 3, 3, plain_l, g_plain, N(g_plain)) ||
		 make(c, dir, 4, 4, multi_l, g_multi, N(g_multi)) ||
		 make(c, dir, 5, 5, unlabelled, g_gap, N(g_gap)) || make(c, dir, 6, 6, z19, g_rep, N(g_rep)) ||
		 make(c, dir, 7, 7, er, g_empty, N(g_empty)) ||
		 make(c, dir, 8, 8, dl, g_deltas, N(g_deltas)) || make(c, dir, 9, 9, bl, g_base, N(g_base)) ||
		 make(c, dir, 3, 6, rl, g_range, N(g_range));
	group_coder_free(c);
	return rc;
}
