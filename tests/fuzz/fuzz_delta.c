/*
 * fuzz_delta.c - fuzz target for the delta codec (src/delta.h).
 *
 * Each input is used twice:
 *
 * 1. Apply. The first two bytes give a split point; the bytes before it
 *    (after the two) are a source and the rest a delta. Both are copied to
 *    buffers of exactly their size, so a read past either shows under ASan.
 *    delta_apply runs into a buffer of exactly the declared length and must
 *    agree with a plain reference decoder written here: same verdict, same
 *    bytes. It must also reject any other destination length.
 *
 * 2. Round trip. The input's halves are a source and a script that builds a
 *    target from pieces of the source, of itself and of fresh bytes (so that
 *    the target shares content with the source, which random halves would
 *    rarely do). The source is indexed in steps, moving in memory between
 *    steps, the target encoded, and the delta applied: it must give the
 *    target back, its lits must be exactly its insert bytes, and one byte
 *    less of limit must give DELTA_TOO_BIG with the buffer untouched. The
 *    same encoding must come out when it is appended to a buffer that holds
 *    the source itself (and moves), and encoding against a shorter view of
 *    the source must stay inside it.
 *
 * A broken invariant aborts, which libFuzzer (or the corpus driver) reports.
 */
#include "delta.h"
#include "strata.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                               \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz_delta: invariant failed at line %d: %s\n", __LINE__, \
				#cond);                                                           \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

#define MAX_OUT (1u << 20) /* largest declared length worth allocating */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	CHECK(q);
	if (n)
		memcpy(q, p, n);
	return q;
}

/* A reference LEB128 reader: a byte at a time, no cleverness. */
static int ref_varint(const uint8_t *d, size_t dlen, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;
	for (int i = 0; i < 10; i++) {
		if (*pos >= dlen)
			return -1;
		uint8_t b = d[(*pos)++];
		if (i == 9 && b > 1)
			return -1;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* The reference decoder: 0 and the content in out (malloc'd), or -1. */
static int ref_apply(const uint8_t *src, size_t srclen, const uint8_t *d, size_t dlen, uint8_t **out,
		     uint64_t *outlen)
{
	size_t pos = 0;
	uint64_t clen, v, off;
	*out = NULL;
	if (ref_varint(d, dlen, &pos, &clen) || clen > MAX_OUT)
		return -1;
	uint8_t *o = malloc(clen ? (size_t)clen : 1);
	CHECK(o);
	uint64_t done = 0;
	while (pos < dlen) {
		if (ref_varint(d, dlen, &pos, &v))
			goto bad;
		uint64_t len = v >> 1;
		if (len == 0 || len > clen - done)
			goto bad;
		if (v & 1) {
			if (ref_varint(d, dlen, &pos, &off))
				goto bad;
			if (off > srclen || len > srclen - off)
				goto bad;
			for (uint64_t i = 0; i < len; i++)
				o[done + i] = src[off + i];
		} else {
			if (len > dlen - pos)
				goto bad;
			for (uint64_t i = 0; i < len; i++)
				o[done + i] = d[pos + i];
			pos += (size_t)len;
		}
		done += len;
	}
	if (done != clen)
		goto bad;
	*out = o;
	*outlen = clen;
	return 0;
bad:
	free(o);
	return -1;
}

static void check_error(int rc)
{
	CHECK(rc == STRATA_ECORRUPT);
	CHECK(strata_errmsg()[0] != '\0');
}

static void fuzz_apply(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	size_t split = ((size_t)data[0] | (size_t)data[1] << 8) % (size - 1);
	uint8_t *src = dup_exact(data + 2, split);
	uint8_t *d = dup_exact(data + 2 + split, size - 2 - split);
	size_t srclen = split, dlen = size - 2 - split;

	uint8_t *ref;
	uint64_t reflen = 0;
	int ref_ok = ref_apply(src, srclen, d, dlen, &ref, &reflen) == 0;

	uint64_t declared;
	int rc = delta_target_length(d, dlen, &declared);
	if (rc) {
		check_error(rc);
		CHECK(!ref_ok);
	} else if (declared <= MAX_OUT) {
		uint8_t *dst = malloc(declared ? (size_t)declared : 1);
		CHECK(dst);
		rc = delta_apply(src, srclen, d, dlen, dst, (size_t)declared);
		if (rc)
			check_error(rc);
		CHECK((rc == 0) == ref_ok);
		if (ref_ok) {
			CHECK(reflen == declared);
			CHECK(declared == 0 || memcmp(dst, ref, (size_t)declared) == 0);
		}
		free(dst);
		/* Any other destination length is refused. */
		size_t other = (size_t)declared + 1 + data[0] % 7;
		dst = malloc(other);
		CHECK(dst);
		check_error(delta_apply(src, srclen, d, dlen, dst, other));
		if (declared > 0)
			check_error(delta_apply(src, srclen, d, dlen, dst, (size_t)declared - 1));
		free(dst);
	} else {
		uint8_t one;
		check_error(delta_apply(src, srclen, d, dlen, &one, 1));
	}
	free(ref);
	free(src);
	free(d);
}

/* Target from a script: each step takes a byte b and its followers:
 * b % 4 == 0: copy of src, 1: copy of the target so far, 2: fresh bytes from
 * the script, 3: a single changed byte. */
static size_t build_target(const uint8_t *src, size_t srclen, const uint8_t *s, size_t slen, uint8_t *tgt,
			   size_t cap)
{
	size_t n = 0, i = 0;
	while (i + 3 <= slen && n < cap) {
		uint8_t op = s[i];
		size_t a = (size_t)s[i + 1] << 8 | s[i + 2];
		size_t len = 1 + (size_t)(op >> 2) * 8; /* up to 505 */
		i += 3;
		if (len > cap - n)
			len = cap - n;
		switch (op & 3) {
		case 0:
			if (srclen == 0)
				break;
			a = a * 37 % srclen;
			if (len > srclen - a)
				len = srclen - a;
			memcpy(tgt + n, src + a, len);
			n += len;
			break;
		case 1:
			if (n == 0)
				break;
			a %= n;
			if (len > n - a)
				len = n - a;
			memmove(tgt + n, tgt + a, len);
			n += len;
			break;
		case 2:
			len = len < slen - i ? len : slen - i;
			memcpy(tgt + n, s + i, len);
			n += len;
			i += len;
			break;
		default:
			if (n)
				tgt[a % n] ^= (uint8_t)(op | 1);
			break;
		}
	}
	return n;
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
	size_t half = size / 2;
	const uint8_t *script = data + half;
	size_t slen = size - half;
	size_t srclen = half;

	/* Index the source in up to four steps, moving it every time. */
	delta_index *ix;
	CHECK(delta_index_new(&ix, size && data[0] & 1 ? 64 : 1u << 20) == 0);
	uint8_t *src = NULL;
	size_t have = 0;
	for (int step = 0; step < 4 && have < srclen; step++) {
		size_t to = step == 3 ? srclen : have + (srclen - have) / 2 + 1;
		if (to > srclen)
			to = srclen;
		uint8_t *ns = dup_exact(data, to);
		if (src)
			memset(src, 0xAA, have);
		free(src);
		src = ns;
		CHECK(delta_index_add(ix, src, have, to) == 0);
		have = to;
	}
	if (!src)
		src = dup_exact(data, 0);

	size_t cap = 4 * size + 64;
	uint8_t *tbuf = malloc(cap);
	CHECK(tbuf);
	size_t tgtlen = build_target(src, srclen, script, slen, tbuf, cap);
	uint8_t *tgt = dup_exact(tbuf, tgtlen);
	free(tbuf);

	bytebuf out = { 0 };
	CHECK(buf_append(&out, "pre", 3) == 0);
	delta_lits lits = { 0 };
	CHECK(delta_encode(ix, src, srclen, tgt, tgtlen, SIZE_MAX, &out, &lits) == 0);
	const uint8_t *enc = out.p + 3;
	size_t enclen = out.len - 3;
	/* Never worse than one insert: every copy covers at least 32 bytes
	 * and costs less than that, even with the insert header it adds. */
	CHECK(enclen <= tgtlen + 20);

	uint8_t *dst = malloc(tgtlen ? tgtlen : 1);
	CHECK(dst);
	CHECK(delta_apply(src, srclen, enc, enclen, dst, tgtlen) == 0);
	CHECK(tgtlen == 0 || memcmp(dst, tgt, tgtlen) == 0);

	/* The lits are the insert bytes, in order; the rest are copies. */
	size_t pos = 0, li = 0, tpos = 0;
	uint64_t v, off, clen;
	size_t k = varint_get(enc, enclen, &clen);
	CHECK(k > 0 && clen == tgtlen);
	pos = k;
	while (pos < enclen) {
		k = varint_get(enc + pos, enclen - pos, &v);
		CHECK(k > 0);
		pos += k;
		size_t len = (size_t)(v >> 1);
		if (v & 1) {
			k = varint_get(enc + pos, enclen - pos, &off);
			CHECK(k > 0);
			pos += k;
			CHECK(len >= 16 && off + len <= srclen);
		} else {
			CHECK(li < lits.n && lits.v[li].off == pos && lits.v[li].len == len);
			CHECK(memcmp(enc + pos, tgt + tpos, len) == 0);
			li++;
			pos += len;
		}
		tpos += len;
	}
	CHECK(li == lits.n && tpos == tgtlen);

	/* One byte less of room: too big, the buffer as it was. */
	size_t before = out.len;
	CHECK(delta_encode(ix, src, srclen, tgt, tgtlen, enclen - 1, &out, &lits) == DELTA_TOO_BIG);
	CHECK(out.len == before && lits.n == 0);
	CHECK(memcmp(out.p, "pre", 3) == 0);
	enc = out.p + 3; /* the failed call may have moved out */

	/* Appending to a buffer that holds the source itself (the in-group
	 * pattern), with no spare room so that it moves: the same encoding. */
	bytebuf body = { 0 };
	CHECK(buf_append(&body, src, srclen) == 0);
	if (body.p) {
		uint8_t *tight = realloc(body.p, srclen ? srclen : 1);
		CHECK(tight);
		body.p = tight;
		body.cap = srclen ? srclen : 1;
	}
	CHECK(delta_encode(ix, body.p, srclen, tgt, tgtlen, SIZE_MAX, &body, NULL) == 0);
	CHECK(body.len - srclen == enclen && memcmp(body.p + srclen, enc, enclen) == 0);
	CHECK(srclen == 0 || memcmp(body.p, src, srclen) == 0);
	buf_free(&body);

	/* Encoding against a shorter view of the source stays inside it. */
	size_t view = srclen / 2;
	out.len = 0;
	CHECK(delta_encode(ix, src, view, tgt, tgtlen, SIZE_MAX, &out, NULL) == 0);
	CHECK(delta_apply(src, view, out.p, out.len, dst, tgtlen) == 0);
	CHECK(tgtlen == 0 || memcmp(dst, tgt, tgtlen) == 0);

	free(dst);
	delta_lits_free(&lits);
	buf_free(&out);
	free(tgt);
	free(src);
	delta_index_free(ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_apply(data, size);
	fuzz_roundtrip(data, size);
	return 0;
}
