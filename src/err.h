/*
 * err.h - the last error of the calling thread.
 *
 * Every failing path inside the library sets a code and a message here and
 * returns the code; strata_errmsg() reads the message back. Nothing else in
 * the library formats error text.
 */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

#include "strata.h"

/* Record `code` with a printf-style message; returns `code`. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record an errno failure: the code follows errnum (ENOSPC -> STRATA_ENOSPC,
 * ENOENT -> STRATA_ENOTFOUND, ENOMEM -> STRATA_ENOMEM, else STRATA_EIO) and
 * the message ends with strerror(errnum). Returns the code. */
int err_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with more context ("pack X: " + message). */
int err_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget the last error (at the start of each public call). */
void err_clear(void);

/* Out-of-memory shorthand. */
#define ERR_NOMEM() err_set(STRATA_ENOMEM, "out of memory")

#endif
