/* err.c - thread-local last-error record behind strata_errmsg(). */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MSG_MAX 1024

static _Thread_local char err_msg[ERR_MSG_MAX];

const char *strata_errmsg(void)
{
	return err_msg;
}

const char *strata_strerror(int code)
{
	switch (code) {
	case STRATA_OK: return "success";
	case STRATA_EINVAL: return "invalid argument";
	case STRATA_ENOTFOUND: return "not found";
	case STRATA_EEXIST: return "already exists";
	case STRATA_ELOCKED: return "store is locked by another writer";
	case STRATA_ECORRUPT: return "data is corrupt";
	case STRATA_EFORMAT: return "unknown format version";
	case STRATA_EIO: return "I/O error";
	case STRATA_ENOSPC: return "no space left on device";
	case STRATA_ENOMEM: return "out of memory";
	case STRATA_EREADONLY: return "store is open read-only";
	default: return "unknown error";
	}
}

void err_clear(void)
{
	err_msg[0] = '\0';
}

int err_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof err_msg, fmt, ap);
	va_end(ap);
	return code;
}

static int code_of_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT: return STRATA_ENOSPC;
	case ENOENT: return STRATA_ENOTFOUND;
	case ENOMEM: return STRATA_ENOMEM;
	case EEXIST: return STRATA_EEXIST;
	default: return STRATA_EIO;
	}
}

int err_errno(int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err_msg, sizeof err_msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof err_msg)
		snprintf(err_msg + n, sizeof err_msg - (size_t)n, ": %s", strerror(errnum));
	return code_of_errno(errnum);
}

int err_prefix(int code, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	memcpy(old, err_msg, sizeof old);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err_msg, sizeof err_msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof err_msg)
		snprintf(err_msg + n, sizeof err_msg - (size_t)n, "%s", old);
	return code;
}
