/*
 * clikit.h - helpers shared by the strata commands: error reporting, store
 * opening, size formatting, key@N parsing, escaping, progress lines.
 * The CLI uses only the public header strata.h.
 */
#ifndef STRATA_CLIKIT_H
#define STRATA_CLIKIT_H

#include "strata.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses: 0 success, 1 failure (error, damage found), 2 bad usage. */
#define EXIT_USAGE 2

/* Print "strata CMD: <fmt>" to stderr; returns 1 (use: return fail(...)). */
int fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "strata CMD: <message of the last library error>"; returns 1. */
int fail_lib(const char *cmd, int rc);
/* Print a usage error and the hint to run --help; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Flush standard output and report a write error on it (a full disk, a
 * closed pipe) as a failure of `cmd`; returns rc, or 1 on such an error. */
int finish_output(const char *cmd, int rc);

/* Write the n pieces of iov to fd in order, again after EINTR and short
 * writes (which change iov); 0, or -1 with errno set. */
struct iovec;
int writev_all(int fd, struct iovec *iov, int n);

/* Open a store, reporting failure on stderr; returns 0 or 1. */
int open_store(strata_store **out, const char *cmd, const char *path, int flags);

/* Split "KEY@N": *n = N, or 0 when there is no trailing @digits. The key is
 * everything before the last '@' followed only by digits. Returns 0, or -1
 * for "@0" or a number that does not fit. */
int parse_key_ref(const char *arg, size_t *keylen, uint64_t *n);

/* "1.5 MiB" style; buf of at least 32 bytes. */
const char *human_bytes(uint64_t n, char *buf, size_t cap);

/* Write bytes with C-style escapes for control characters and backslash. */
void put_escaped(FILE *f, const void *p, size_t len);
/* Same, as JSON string content (without the quotes). */
void put_json_escaped(FILE *f, const void *p, size_t len);

/* Open a file to read ("-": *fd = 0, standard input), or say why not and
 * return 1 (a directory is refused). */
int open_input(const char *cmd, const char *path, int *fd);


/* Seconds since an arbitrary start, monotonic. */
double now_seconds(void);
/* CPU seconds the calling thread has used. */
double thread_cpu_seconds(void);

/* A progress line on stderr, redrawn at most every 0.25 s, only when stderr
 * is a terminal. */
typedef struct progress {
	int on;          /* stderr is a terminal */
	double last;     /* when it was last drawn */
	int drawn;       /* something is on the line */
} progress;

void progress_init(progress *p);
/* Whether progress_show would draw now: callers whose arguments cost
 * something to format ask first. */
int progress_due(const progress *p, int force);
/* Redraw with printf-style text if enough time passed (or force). */
void progress_show(progress *p, int force, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Clear the line. */
void progress_done(progress *p);

#endif
