/*
 * loadparse.h - parser of the bulk load stream read by `strata load`:
 *
 *   put <length> <key>\n<length raw bytes>\n    a new record of <key>
 *   commit [<label>]\n                          end of a unit
 *   # comment\n                                 between commands
 *
 * <length> is decimal digits. <key> is the rest of the line (1..65535
 * bytes, spaces allowed). The parser pulls bytes from a FILE and reports
 * every malformation with the byte offset where it was found and what was
 * expected there.
 *
 * Records of up to LOAD_SLAB_REC bytes are read into slabs, one being
 * filled per key (keys hashed into LOAD_SLABS places): a malloc for many
 * records rather than one each, and a key's records, released together
 * when its group is coded, free their slabs together. A slab is freed when
 * its last record is released, from whichever thread releases it.
 */
#ifndef STRATA_LOADPARSE_H
#define STRATA_LOADPARSE_H

#include "strata.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LOAD_KEY_MAX 65535
#define LOAD_LINE_MAX (LOAD_KEY_MAX + 64)
#define LOAD_SLABS 16
#define LOAD_SLAB_BYTES (256u << 10)
#define LOAD_SLAB_REC (16u << 10)
#define LOAD_BUF_BYTES (1u << 20) /* read-ahead; more than a command line */

struct load_slab;

typedef enum load_kind { LOAD_PUT, LOAD_COMMIT, LOAD_END } load_kind;

typedef struct load_cmd {
	load_kind kind;
	char *key;        /* LOAD_PUT: key bytes (borrowed from the parser until the next call) */
	size_t keylen;
	void *data;       /* LOAD_PUT: the record's bytes; the caller owns them and
			   * gives them back with release(release_ctx, data, len) */
	size_t len;
	strata_release_fn *release;
	void *release_ctx;
	char *label;      /* LOAD_COMMIT: label, NUL-terminated, or NULL (borrowed) */
	uint64_t offset;  /* byte offset where the command started */
} load_cmd;

typedef struct load_parser {
	FILE *in;          /* borrowed; nothing read from it before load_init */
	int fd;            /* in's descriptor, read directly (what it has ready,
			    * up to LOAD_BUF_BYTES); -1: read through `in` */
	int read_errno;    /* a read error, or 0 */
	uint64_t offset;   /* bytes consumed so far */
	char *line;        /* LOAD_LINE_MAX + 1 bytes, owned */
	unsigned char *buf; /* LOAD_BUF_BYTES of read-ahead, owned */
	size_t pos, end;   /* buf[pos, end) is read and not consumed */
	int at_end;        /* the input gave its end (or an error): not read again */
	char err[512];     /* the last error */
	uint64_t max_len;  /* largest record accepted (bytes) */
	struct load_slab *slab[LOAD_SLABS]; /* being filled, one reference each */
} load_parser;

/* Set up a parser on `in`; returns 0 or -1 (out of memory). */
int load_init(load_parser *p, FILE *in);
/* Free the parser; records it handed out stay valid until released. */
void load_free(load_parser *p);

/* Next command. Returns 0 with *cmd filled, or -1 with p->err set, e.g.
 * "byte 1234: expected 'put' or 'commit', got 'pot 3 a'". A clean end of
 * input is LOAD_END. */
int load_next(load_parser *p, load_cmd *cmd);

#endif
