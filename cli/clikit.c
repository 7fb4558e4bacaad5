/* clikit.c - shared helpers of the strata commands (clikit.h). */
#include "clikit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "strata %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int fail_lib(const char *cmd, int rc)
{
	const char *m = strata_errmsg();
	fprintf(stderr, "strata %s: %s\n", cmd, *m ? m : strata_strerror(rc));
	return 1;
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "strata %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'strata %s --help'.\n", cmd);
	return EXIT_USAGE;
}

int finish_output(const char *cmd, int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "strata %s: cannot write standard output: %s\n", cmd, strerror(errno));
		return 1;
	}
	return rc;
}

int writev_all(int fd, struct iovec *iov, int n)
{
	for (;;) {
		while (n > 0 && iov->iov_len == 0)
			iov++, n--;
		if (n == 0)
			return 0;
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		size_t done = (size_t)w;
		for (; n > 0 && done >= iov->iov_len; iov++, n--)
			done -= iov->iov_len;
		if (n > 0) { /* a piece written in part: its rest goes next */
			iov->iov_base = (char *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
}

int open_store(strata_store **out, const char *cmd, const char *path, int flags)
{
	int rc = strata_open(out, path, flags, NULL);
	return rc ? fail_lib(cmd, rc) : 0;
}

int parse_key_ref(const char *arg, size_t *keylen, uint64_t *n)
{
	size_t len = strlen(arg);
	const char *at = strrchr(arg, '@');
	*keylen = len;
	*n = 0;
	if (!at || at[1] == '\0' || at == arg)
		return 0;
	for (const char *p = at + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	errno = 0;
	unsigned long long v = strtoull(at + 1, NULL, 10);
	if (errno || v == 0)
		return -1;
	*keylen = (size_t)(at - arg);
	*n = v;
	return 0;
}

const char *human_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, cap, "%.1f %s", v, units[u]);
	return buf;
}

void put_escaped(FILE *f, const void *p, size_t len)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < len; i++) {
		unsigned c = s[i];
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc((int)c, f);
	}
}

void put_json_escaped(FILE *f, const void *p, size_t len)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < len; i++) {
		unsigned c = s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc((int)c, f);
	}
}

int open_input(const char *cmd, const char *path, int *fd)
{
	*fd = 0;
	if (!strcmp(path, "-"))
		return 0;
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return fail(cmd, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(f, &st) != 0 || S_ISDIR(st.st_mode)) {
		int rc = S_ISDIR(st.st_mode) ? fail(cmd, "%s is a directory", path)
					     : fail(cmd, "cannot stat %s: %s", path, strerror(errno));
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

static double clock_seconds(clockid_t id)
{
	struct timespec ts = { 0 };
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_seconds(void)
{
	return clock_seconds(CLOCK_MONOTONIC);
}

double thread_cpu_seconds(void)
{
	return clock_seconds(CLOCK_THREAD_CPUTIME_ID);
}

void progress_init(progress *p)
{
	p->on = isatty(2);
	p->last = 0;
	p->drawn = 0;
}

int progress_due(const progress *p, int force)
{
	return p->on && (force || now_seconds() - p->last >= 0.25);
}

void progress_show(progress *p, int force, const char *fmt, ...)
{
	if (!progress_due(p, force))
		return;
	double t = now_seconds();
	p->last = t;
	va_list ap;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	p->drawn = 1;
}

void progress_done(progress *p)
{
	if (p->on && p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = 0;
}
