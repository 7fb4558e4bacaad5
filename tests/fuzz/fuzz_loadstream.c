/*
 * fuzz_loadstream.c - fuzz target for the load stream parser
 * (cli/loadparse.h).
 *
 * The input is the stream. It is parsed with load_next until LOAD_END or an
 * error, and every command returned is checked against the input bytes:
 * offsets increase and stay within the input, only comment lines lie between
 * commands, a put's key and data are exactly the bytes of the stream and its
 * length is the declared one, a commit's label is the rest of its line.
 * A broken invariant aborts, which libFuzzer (or the corpus driver) reports.
 */
#include "loadparse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                 \
	do {                                                                                        \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "fuzz_loadstream: invariant failed at line %d: %s\n", __LINE__, \
				#cond);                                                             \
			abort();                                                                    \
		}                                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether d[from, to) is made only of whole lines starting with '#'. */
static int only_comments(const uint8_t *d, size_t from, size_t to)
{
	while (from < to) {
		if (d[from] != '#')
			return 0;
		const uint8_t *nl = memchr(d + from, '\n', to - from);
		if (!nl)
			return 0;
		from = (size_t)(nl - d) + 1;
	}
	return 1;
}

/* Check a put returned at cmd->offset; returns where it ends in the input. */
static size_t check_put(const uint8_t *d, size_t size, const load_cmd *c)
{
	size_t at = (size_t)c->offset;
	CHECK(size - at >= 4 && memcmp(d + at, "put ", 4) == 0);
	size_t i = at + 4;
	uint64_t declared = 0;
	int big = 0;
	for (; i < size && d[i] >= '0' && d[i] <= '9'; i++) {
		if (declared > (UINT64_MAX - 9) / 10)
			big = 1;
		declared = declared * 10 + (uint64_t)(d[i] - '0');
	}
	CHECK(i > at + 4);
	CHECK(!big && declared == c->len);
	CHECK(i < size && d[i] == ' ');
	size_t k = i + 1;
	CHECK(c->key != NULL && c->keylen >= 1 && c->keylen <= 65535);
	CHECK(c->keylen < size - k && d[k + c->keylen] == '\n');
	CHECK(memchr(d + k, '\n', c->keylen) == NULL);
	CHECK(memcmp(d + k, c->key, c->keylen) == 0);
	size_t ds = k + c->keylen + 1;
	CHECK(c->data != NULL);
	CHECK(c->len < size - ds && d[ds + c->len] == '\n');
	CHECK(c->len == 0 || memcmp(d + ds, c->data, c->len) == 0);
	return ds + c->len + 1;
}

/* Check a commit returned at cmd->offset; returns where it ends. */
static size_t check_commit(const uint8_t *d, size_t size, const load_cmd *c)
{
	size_t at = (size_t)c->offset;
	CHECK(c->data == NULL);
	CHECK(size - at >= 6 && memcmp(d + at, "commit", 6) == 0);
	const uint8_t *nl = memchr(d + at, '\n', size - at);
	CHECK(nl != NULL);
	size_t linelen = (size_t)(nl - (d + at));
	if (linelen == 6) {
		CHECK(c->label == NULL);
	} else {
		CHECK(d[at + 6] == ' ');
		CHECK(c->label != NULL && strlen(c->label) == linelen - 7);
		CHECK(memcmp(c->label, d + at + 7, linelen - 7) == 0);
	}
	return at + linelen + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char empty[1]; /* glibc takes size 0, but not with a NULL buffer */
	FILE *f = fmemopen(size ? (void *)data : empty, size, "r");
	if (!f)
		return 0;
	load_parser p;
	if (load_init(&p, f)) {
		fclose(f);
		return 0;
	}
	/* A record can never be longer than the whole input; without this cap
	 * "put 1099511627776 k\n" makes the parser malloc 1 TiB before reading
	 * any data (reported separately), which libFuzzer's malloc limit flags
	 * on every such input. */
	p.max_len = size;

	size_t prev_end = 0;      /* where the previous command ended */
	uint64_t prev_off = 0;    /* offset of the previous command */
	int first = 1;
	for (;;) {
		load_cmd c;
		memset(&c, 0xA5, sizeof c); /* load_next must fill every field it uses */
		if (load_next(&p, &c) != 0) {
			/* "byte N: ..." with N at or after the last good command's end. */
			CHECK(c.data == NULL);
			CHECK(strncmp(p.err, "byte ", 5) == 0);
			char *end;
			unsigned long long at = strtoull(p.err + 5, &end, 10);
			CHECK(end != p.err + 5 && *end == ':');
			CHECK(at >= prev_end && at <= size);
			CHECK(p.offset <= size);
			break;
		}
		CHECK(c.offset <= size && p.offset <= size);
		CHECK(first || c.offset > prev_off);
		CHECK(c.offset >= prev_end);
		CHECK(only_comments(data, prev_end, (size_t)c.offset));
		if (c.kind == LOAD_END) {
			CHECK(c.offset == size && p.offset == size);
			/* The end is sticky. */
			load_cmd again;
			CHECK(load_next(&p, &again) == 0 && again.kind == LOAD_END);
			break;
		}
		size_t end;
		if (c.kind == LOAD_PUT) {
			end = check_put(data, size, &c);
			c.release(c.release_ctx, c.data, c.len);
		} else {
			CHECK(c.kind == LOAD_COMMIT);
			end = check_commit(data, size, &c);
		}
		CHECK(p.offset == end);
		prev_end = end;
		prev_off = c.offset;
		first = 0;
	}
	load_free(&p);
	fclose(f);
	return 0;
}
