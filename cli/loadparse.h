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
 */
#ifndef STRATA_LOADPARSE_H
#define STRATA_LOADPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LOAD_KEY_MAX 65535
#define LOAD_LINE_MAX (LOAD_KEY_MAX + 64)

typedef enum load_kind { LOAD_PUT, LOAD_COMMIT, LOAD_END } load_kind;

typedef struct load_cmd {
	load_kind kind;
	char *key;        /* LOAD_PUT: key bytes (borrowed from the parser until the next call) */
	size_t keylen;
	void *data;       /* LOAD_PUT: malloc'd record bytes; the caller owns and frees them */
	size_t len;
	char *label;      /* LOAD_COMMIT: label, NUL-terminated, or NULL (borrowed) */
	uint64_t offset;  /* byte offset where the command started */
} load_cmd;

typedef struct load_parser {
	FILE *in;          /* borrowed */
	uint64_t offset;   /* bytes consumed so far */
	char *line;        /* LOAD_LINE_MAX + 1 bytes, owned */
	char err[512];     /* the last error */
	uint64_t max_len;  /* largest record accepted (bytes) */
} load_parser;

/* Set up a parser on `in`; returns 0 or -1 (out of memory). */
int load_init(load_parser *p, FILE *in);
void load_free(load_parser *p);

/* Next command. Returns 0 with *cmd filled, or -1 with p->err set, e.g.
 * "byte 1234: expected 'put' or 'commit', got 'pot 3 a'". A clean end of
 * input is LOAD_END. */
int load_next(load_parser *p, load_cmd *cmd);

#endif
