/* bytes.c - the growable byte buffer of bytes.h. */
#include "bytes.h"
#include "err.h"

#include <stdlib.h>

int buf_reserve(bytebuf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return ERR_NOMEM();
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return ERR_NOMEM();
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_append(bytebuf *b, const void *src, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
	return 0;
}

uint8_t *buf_extend(bytebuf *b, size_t n)
{
	if (buf_reserve(b, n))
		return NULL;
	uint8_t *p = b->p + b->len;
	memset(p, 0, n);
	b->len += n;
	return p;
}

void buf_free(bytebuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
