/*
 * bytes.h - little-endian encoding helpers and a growable byte buffer.
 * All on-disk integers go through these (docs/FORMAT.md: little-endian).
 */
#ifndef STRATA_BYTES_H
#define STRATA_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void le_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void le_put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void le_put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t le_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t le_get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
	return v;
}
static inline uint64_t le_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
	return v;
}

/* A growable byte buffer. Zero-initialize; release with buf_free(). */
typedef struct bytebuf {
	uint8_t *p;   /* owned storage, or NULL */
	size_t len;   /* bytes in use */
	size_t cap;   /* bytes allocated */
} bytebuf;

/* Make room for `extra` more bytes; returns 0 or STRATA_ENOMEM (error set). */
int buf_reserve(bytebuf *b, size_t extra);
/* Append bytes; returns 0 or STRATA_ENOMEM. */
int buf_append(bytebuf *b, const void *src, size_t n);
/* Append `n` zeroed bytes and return a pointer to them, or NULL (error set). */
uint8_t *buf_extend(bytebuf *b, size_t n);
void buf_free(bytebuf *b);

#endif
