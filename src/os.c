/* os.c - file operations behind os.h, with a fault-injection point. */
#include "os.h"
#include "err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local uint64_t fault_countdown;
static _Thread_local int fault_errno;

void os_fault_set(uint64_t after, int errnum)
{
	fault_countdown = after;
	fault_errno = errnum;
}

/* Returns the injected errno if this write-side call is the one to fail. */
static int fault_hit(void)
{
	if (fault_countdown == 0)
		return 0;
	if (--fault_countdown == 0)
		return fault_errno;
	return 0;
}

int os_open(int *fd, const char *path, int flags, int mode)
{
	int f;
	do
		f = open(path, flags | O_CLOEXEC, mode);
	while (f < 0 && errno == EINTR);
	if (f < 0)
		return err_errno(errno, "cannot open %s", path);
	*fd = f;
	return 0;
}

void os_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

int os_close_checked(int fd, const char *path)
{
	if (close(fd) != 0 && errno != EINTR)
		return err_errno(errno, "cannot close %s", path);
	return 0;
}

int os_pread_some(int fd, void *dst, size_t n, uint64_t off, size_t *got, const char *path)
{
	ssize_t r;
	do
		r = pread(fd, dst, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return err_errno(errno, "cannot read %s at offset %llu", path, (unsigned long long)off);
	*got = (size_t)r;
	return 0;
}

int os_pread(int fd, void *dst, size_t n, uint64_t off, const char *path)
{
	uint8_t *p = dst;
	while (n > 0) {
		size_t got = 0;
		int rc = os_pread_some(fd, p, n, off, &got, path);
		if (rc)
			return rc;
		if (got == 0)
			return err_set(STRATA_ECORRUPT, "%s is truncated: %zu bytes missing at offset %llu",
				       path, n, (unsigned long long)off);
		p += got;
		n -= got;
		off += got;
	}
	return 0;
}

int os_write(int fd, const void *src, size_t n, const char *path)
{
	int fe = fault_hit();
	if (fe)
		return err_errno(fe, "cannot write %s", path);
	const uint8_t *p = src;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_errno(errno, "cannot write %s", path);
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int os_fsync(int fd, const char *path)
{
	int fe = fault_hit();
	if (fe)
		return err_errno(fe, "cannot fsync %s", path);
	if (fsync(fd) != 0)
		return err_errno(errno, "cannot fsync %s", path);
	return 0;
}

int os_fsync_dir(const char *dir)
{
	int fd = -1, rc = os_open(&fd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (rc)
		return rc;
	rc = os_fsync(fd, dir);
	os_close(fd);
	return rc;
}

int os_size(int fd, uint64_t *size, const char *path)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return err_errno(errno, "cannot stat %s", path);
	*size = (uint64_t)st.st_size;
	return 0;
}

int os_rename(const char *from, const char *to)
{
	int fe = fault_hit();
	if (fe)
		return err_errno(fe, "cannot rename %s to %s", from, to);
	if (rename(from, to) != 0)
		return err_errno(errno, "cannot rename %s to %s", from, to);
	return 0;
}

int os_rename_noreplace(const char *from, const char *to)
{
	int fe = fault_hit();
	if (fe)
		return err_errno(fe, "cannot rename %s to %s", from, to);
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0)
		return err_errno(errno, "cannot rename %s to %s", from, to);
	return 0;
}

int os_unlink(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return err_errno(errno, "cannot remove %s", path);
	return 0;
}

int os_mkdir(const char *path)
{
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		return err_errno(errno, "cannot create directory %s", path);
	return 0;
}

int os_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int os_lock(int fd, const char *path)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return err_set(STRATA_ELOCKED, "%s is held by another writer", path);
	return err_errno(errno, "cannot lock %s", path);
}

void os_unlock(int fd)
{
	flock(fd, LOCK_UN);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int os_list(const char *dir, char ***names, size_t *count)
{
	int fd = -1, rc = os_open(&fd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (rc)
		return rc;
	DIR *d = fdopendir(fd);
	if (!d) {
		rc = err_errno(errno, "cannot list %s", dir);
		os_close(fd);
		return rc;
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	rc = 0;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(v, cap * sizeof *v);
			if (!nv) { rc = ERR_NOMEM(); break; }
			v = nv;
		}
		if (!(v[n] = strdup(e->d_name))) { rc = ERR_NOMEM(); break; }
		n++;
	}
	closedir(d);
	if (rc) {
		os_names_free(v, n);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof *v, cmp_names);
	*names = v;
	*count = n;
	return 0;
}

void os_names_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}
