/*
 * make_pack_seeds.c - write small real packs for the fuzz_pack seed corpus.
 *
 *   make_pack_seeds OUTDIR
 *
 * Writes OUTDIR/0000000001.pack ... with the library's own pack writer, each
 * covering a different shape: no groups, one zstd group, an uncompressed
 * group, several groups and keys, an empty record, an empty group. Built
 * only on request (cmake --build B --target make_pack_seeds); the packs it
 * made are kept in corpus/pack/.
 */
#include "group.h"
#include "pack.h"
#include "strata.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

typedef struct rec {
	const char *key;
	size_t keylen;
	const char *data;
	size_t len;
} rec;

typedef struct grp {
	int codec;
	int level;
	const rec *recs;
	size_t nrecs;
} grp;

#define MAXKEYS 16

static int die(const char *what, int rc)
{
	fprintf(stderr, "make_pack_seeds: %s: %s (%s)\n", what, strata_errmsg(), strata_strerror(rc));
	return 1;
}

/* One pack for `unit` made of `ngroups` groups. */
static int make(group_coder *c, const char *dir, uint64_t unit, const char *label, const grp *groups,
		size_t ngroups)
{
	pack_writer *w;
	int rc = pack_writer_new(&w, dir, unit, 1700000000 + (int64_t)unit);
	if (rc)
		return die("pack_writer_new", rc);
	const char *keys[MAXKEYS];
	size_t keylens[MAXKEYS];
	uint64_t counts[MAXKEYS];
	uint32_t nkeys = 0;
	for (size_t g = 0; g < ngroups && !rc; g++) {
		group_piece pieces[16];
		uint64_t off = 0;
		for (size_t i = 0; i < groups[g].nrecs; i++)
			pieces[i] = (group_piece){ groups[g].recs[i].data, groups[g].recs[i].len };
		uint32_t gidx;
		rc = pack_writer_add_group(w, c, groups[g].codec, groups[g].level, pieces, groups[g].nrecs, &gidx);
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
			pack_record pr = { .key = k, .group = gidx, .n = ++counts[k], .off = off, .len = r->len,
					   .size = r->len, .sum = XXH3_64bits(r->data, r->len), .enc = ENC_LITERAL };
			rc = pack_writer_add_record(w, &pr);
			off += r->len;
		}
	}
	if (!rc)
		rc = pack_writer_finish(w, label, strlen(label), NULL);
	pack_writer_free(w);
	return rc ? die("writing a pack", rc) : 0;
}

#define R(k, d) { k, sizeof k - 1, d, sizeof d - 1 }
#define N(a) (sizeof a / sizeof a[0])

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

	const grp g_one[] = { { CODEC_ZSTD, 3, one, N(one) } };
	const grp g_plain[] = { { CODEC_NONE, 0, plain, N(plain) } };
	const grp g_multi[] = { { CODEC_ZSTD, 3, text, N(text) }, { CODEC_NONE, 0, bin, N(bin) } };
	const grp g_gap[] = { { CODEC_NONE, 0, NULL, 0 }, { CODEC_ZSTD, 1, one, N(one) },
			      { CODEC_ZSTD, 3, NULL, 0 } };
	const grp g_rep[] = { { CODEC_ZSTD, 19, rep, N(rep) } };
	const grp g_empty[] = { { CODEC_ZSTD, 3, empty_only, N(empty_only) } };

	int rc = make(c, dir, 1, "", NULL, 0) || make(c, dir, 2, "first", g_one, N(g_one)) ||
		 make(c, dir, 3, "plain", g_plain, N(g_plain)) ||
		 make(c, dir, 4, "two groups, binary key", g_multi, N(g_multi)) ||
		 make(c, dir, 5, "", g_gap, N(g_gap)) || make(c, dir, 6, "zstd -19", g_rep, N(g_rep)) ||
		 make(c, dir, 7, "empty record", g_empty, N(g_empty));
	group_coder_free(c);
	return rc;
}
