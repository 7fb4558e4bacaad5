/*
 * deltabench.c - speed and size of the delta codec (src/delta.h).
 *
 *   deltabench OLD NEW        encode NEW against OLD
 *   deltabench [-s MIB]       generated text of MIB MiB (default 8) and an
 *                             edited version of it (insertions, deletions,
 *                             moved and repeated blocks, changed lines)
 *   deltabench -b [-s MIB]    the same on generated binary records
 *   deltabench -u [-s MIB]    unrelated text (the worst case for the scan)
 *   deltabench -e FILE        FILE and an edited version of it
 *
 * Prints the index speed (MB/s of source), encode speed (MB/s of target,
 * index excluded, and including it), apply speed (MB/s of target), the
 * delta's size and, for scale, zstd -3 sizes of the delta and the target.
 * Each timing is the best of at least 5 runs (and 0.5 s in total), measured
 * in CPU time of the process, so that other load on the machine matters less.
 */
#include "delta.h"
#include "strata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

/* CPU time of this process: the figures then hold on a busy machine too. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "deltabench: %s: %s\n", what, strata_errmsg());
	exit(1);
}

static uint64_t rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	size_t cap = 1 << 20, n = 0;
	uint8_t *p = malloc(cap);
	for (;;) {
		if (!p) {
			fprintf(stderr, "deltabench: out of memory\n");
			exit(1);
		}
		n += fread(p + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		p = realloc(p, cap);
	}
	fclose(f);
	*len = n;
	return p;
}

/* Source-code-like text: lines of identifiers and numbers. */
static void gen_text(uint8_t *p, size_t n, uint64_t seed)
{
	static const char *const w[] = { "int", "return", "if", "else", "for", "while", "size_t", "buf", "len",
					 "err_set", "STRATA_EINVAL", "struct", "const", "uint8_t", "out", "ix",
					 "memcpy", "(", ")", "{", "}", ";", "=", "+", "->", "0", "1", "NULL" };
	uint64_t s = seed;
	size_t pos = 0;
	char line[256];
	while (pos < n) {
		uint64_t r = rng(&s);
		int ind = (int)(r & 3), nw = 2 + (int)((r >> 2) % 9), k = 0;
		for (int i = 0; i < ind; i++)
			line[k++] = '\t';
		for (int i = 0; i < nw; i++) {
			uint64_t x = rng(&s);
			k += snprintf(line + k, sizeof line - (size_t)k, "%s%s", i ? " " : "",
				      w[x % (sizeof w / sizeof *w)]);
			if (x % 7 == 0)
				k += snprintf(line + k, sizeof line - (size_t)k, "_%u", (unsigned)(x >> 40) % 1000);
		}
		line[k++] = '\n';
		size_t take = (size_t)k < n - pos ? (size_t)k : n - pos;
		memcpy(p + pos, line, take);
		pos += take;
	}
}

/* Binary records: 64-byte structs of counters, ids and random bytes. */
static void gen_binary(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	for (size_t pos = 0; pos < n; pos += 64) {
		uint8_t rec[64];
		uint64_t id = pos / 64, r = rng(&s);
		memcpy(rec, &id, 8);
		memset(rec + 8, 0, 24);
		memcpy(rec + 8, &r, 3);
		for (int i = 32; i < 64; i += 8) {
			uint64_t x = rng(&s);
			memcpy(rec + i, &x, 8);
		}
		memcpy(p + pos, rec, n - pos < 64 ? n - pos : 64);
	}
}

/* An edited copy of old: every ~4 KiB an edit (changed bytes, inserted new
 * material, a deletion, a block moved from elsewhere, a repeated block). */
static uint8_t *edit(const uint8_t *old, size_t oldlen, int binary, size_t *newlen, uint64_t seed)
{
	size_t cap = 2 * oldlen + 8192, n = 0, i = 0; /* each step adds at most run + 1000 */
	uint8_t *p = malloc(cap);
	uint8_t fresh[512];
	uint64_t s = seed;
	while (i < oldlen) {
		size_t run = 1024 + rng(&s) % 6144;
		if (run > oldlen - i)
			run = oldlen - i;
		memcpy(p + n, old + i, run);
		n += run;
		i += run;
		uint64_t r = rng(&s);
		size_t len = 1 + (r >> 8) % 200;
		switch (r % 5) {
		case 0: /* change some bytes */
			if (binary)
				gen_binary(fresh, len, r);
			else
				gen_text(fresh, len, r);
			memcpy(p + n, fresh, len);
			n += len;
			i += len;
			break;
		case 1: /* insert new material */
			if (binary)
				gen_binary(fresh, len, r);
			else
				gen_text(fresh, len, r);
			memcpy(p + n, fresh, len);
			n += len;
			break;
		case 2: /* delete */
			i += len;
			break;
		case 3: { /* a block moved or repeated from elsewhere */
			size_t from = (size_t)(rng(&s) % oldlen), l = 200 + r % 800;
			if (l > oldlen - from)
				l = oldlen - from;
			memcpy(p + n, old + from, l);
			n += l;
			break;
		}
		default: /* one byte changed */
			p[n - 1] ^= 0x20;
			break;
		}
	}
	*newlen = n;
	return p;
}

int main(int argc, char **argv)
{
	size_t mib = 8;
	int binary = 0, unrelated = 0, ai = 1;
	const char *edit_file = NULL;
	for (; ai < argc && argv[ai][0] == '-' && argv[ai][1]; ai++) {
		if (!strcmp(argv[ai], "-s") && ai + 1 < argc)
			mib = (size_t)strtoul(argv[++ai], NULL, 10);
		else if (!strcmp(argv[ai], "-b"))
			binary = 1;
		else if (!strcmp(argv[ai], "-u"))
			unrelated = 1;
		else if (!strcmp(argv[ai], "-e") && ai + 1 < argc)
			edit_file = argv[++ai];
		else {
			fprintf(stderr, "usage: deltabench [-b|-u] [-s MIB] | -e FILE | OLD NEW\n");
			return 2;
		}
	}
	uint8_t *src, *tgt;
	size_t srclen, tgtlen;
	if (argc - ai == 2) {
		src = read_file(argv[ai], &srclen);
		tgt = read_file(argv[ai + 1], &tgtlen);
		printf("files: %s (%zu bytes) -> %s (%zu bytes)\n", argv[ai], srclen, argv[ai + 1], tgtlen);
	} else if (edit_file) {
		src = read_file(edit_file, &srclen);
		tgt = edit(src, srclen, 0, &tgtlen, 3);
		printf("%s (%zu bytes) and an edited version (%zu bytes)\n", edit_file, srclen, tgtlen);
	} else {
		srclen = mib << 20;
		src = malloc(srclen ? srclen : 1);
		if (binary)
			gen_binary(src, srclen, 1);
		else
			gen_text(src, srclen, 1);
		if (unrelated) {
			tgtlen = srclen;
			tgt = malloc(tgtlen ? tgtlen : 1);
			gen_text(tgt, tgtlen, 2);
		} else {
			tgt = edit(src, srclen, binary, &tgtlen, 3);
		}
		printf("generated %s: %zu -> %zu bytes\n", unrelated ? "unrelated text" : binary ? "binary" : "text",
		       srclen, tgtlen);
	}

	delta_index *ix;
	bytebuf out = { 0 };
	double t_index = 1e9, t_enc = 1e9, t_app = 1e9, total = 0;
	if (delta_index_new(&ix, srclen > (64u << 20) ? srclen : (64u << 20)))
		die("index");
	for (int r = 0; r < 100 && (r < 5 || total < 0.5); r++) {
		double t0 = now();
		delta_index_reset(ix);
		if (delta_index_add(ix, src, 0, srclen))
			die("index");
		double t1 = now();
		out.len = 0;
		if (delta_encode(ix, src, srclen, tgt, tgtlen, SIZE_MAX, &out, NULL))
			die("encode");
		double t2 = now();
		if (t1 - t0 < t_index)
			t_index = t1 - t0;
		if (t2 - t1 < t_enc)
			t_enc = t2 - t1;
		total += t2 - t0;
	}
	uint8_t *dst = malloc(tgtlen ? tgtlen : 1);
	total = 0;
	for (int r = 0; r < 1000 && (r < 5 || total < 0.5); r++) {
		double t0 = now();
		if (delta_apply(src, srclen, out.p, out.len, dst, tgtlen))
			die("apply");
		double t1 = now();
		if (t1 - t0 < t_app)
			t_app = t1 - t0;
		total += t1 - t0;
	}
	if (memcmp(dst, tgt, tgtlen)) {
		fprintf(stderr, "deltabench: round trip mismatch\n");
		return 1;
	}

	/* Count the instructions. */
	size_t copies = 0, inserts = 0, ins_bytes = 0, pos;
	uint64_t v, off;
	pos = varint_get(out.p, out.len, &v);
	while (pos < out.len) {
		pos += varint_get(out.p + pos, out.len - pos, &v);
		if (v & 1) {
			copies++;
			pos += varint_get(out.p + pos, out.len - pos, &off);
		} else {
			inserts++;
			ins_bytes += (size_t)(v >> 1);
			pos += (size_t)(v >> 1);
		}
	}
	size_t zcap = ZSTD_compressBound(tgtlen > out.len ? tgtlen : out.len);
	void *z = malloc(zcap);
	size_t zd = ZSTD_compress(z, zcap, out.p, out.len, 3);
	size_t zt = ZSTD_compress(z, zcap, tgt, tgtlen, 3);

	double mb = 1e6;
	printf("index   %8.1f MB/s of source (%.2f ms)\n", (double)srclen / mb / t_index, t_index * 1e3);
	printf("encode  %8.1f MB/s of target (%.2f ms); with index %.1f MB/s\n", (double)tgtlen / mb / t_enc,
	       t_enc * 1e3, (double)tgtlen / mb / (t_enc + t_index));
	printf("apply   %8.1f MB/s of target (%.2f ms)\n", (double)tgtlen / mb / t_app, t_app * 1e3);
	printf("delta   %zu bytes (%.3f%% of target): %zu copies, %zu inserts of %zu bytes\n", out.len,
	       100.0 * (double)out.len / (double)(tgtlen ? tgtlen : 1), copies, inserts, ins_bytes);
	printf("zstd-3  delta %zu bytes, target alone %zu bytes\n", zd, zt);
	free(z);
	free(dst);
	buf_free(&out);
	delta_index_free(ix);
	free(src);
	free(tgt);
	return 0;
}
