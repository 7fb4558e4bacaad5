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
#include <sys/mman.h>
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

void *os_zeroed_pages(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void os_zeroed_pages_free(void *p, size_t n)
{
	if (p)
		munmap(p, n);
}

void *os_alloc_big(size_t n, size_t *cap)
{
	size_t align = n >= OS_HUGE_PAGE ? OS_HUGE_PAGE : 64;
	if (n > SIZE_MAX - align)
		return NULL;
	n = n ? (n + align - 1) & ~(align - 1) : align;
	void *p = aligned_alloc(align, n);
#ifdef MADV_HUGEPAGE
	if (p && align == OS_HUGE_PAGE)
		(void)madvise(p, n, MADV_HUGEPAGE); /* advice: nothing to do if refused */
#endif
	if (p && cap)
		*cap = n;
	return p;
}

size_t os_huge_round(size_t n)
{
	return n >= OS_HUGE_PAGE / 4 && n < OS_HUGE_PAGE ? OS_HUGE_PAGE : n;
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

int os_rmdir(const char *path)
{
	if (rmdir(path) != 0 && errno != ENOENT)
		return err_errno(errno, "cannot remove directory %s", path);
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

/* ------------------------------------------------------ trees (import, export) */

int os_lstat(const char *path, os_stat *out)
{
	return os_stat_of(path, 0, out);
}

int os_stat_of(const char *path, int follow, os_stat *out)
{
	struct stat st;
	if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
		return err_errno(errno, "cannot stat %s", path);
	out->type = S_ISREG(st.st_mode) ? OS_FILE : S_ISDIR(st.st_mode) ? OS_DIR : S_ISLNK(st.st_mode) ? OS_LINK : OS_OTHER;
	out->mode = (uint32_t)(st.st_mode & 07777);
	out->size = (uint64_t)st.st_size;
	out->mtime = (int64_t)st.st_mtim.tv_sec;
	out->mtime_ns = (uint32_t)st.st_mtim.tv_nsec;
	out->ctime = (int64_t)st.st_ctim.tv_sec;
	out->ctime_ns = (uint32_t)st.st_ctim.tv_nsec;
	out->ino = (uint64_t)st.st_ino;
	return 0;
}

int os_readlink(const char *path, char **target, size_t *len)
{
	for (size_t cap = 256;; cap *= 2) {
		char *b = malloc(cap);
		if (!b)
			return ERR_NOMEM();
		ssize_t n = readlink(path, b, cap);
		if (n < 0) {
			int e = errno;
			free(b);
			return err_errno(e, "cannot read link %s", path);
		}
		if ((size_t)n < cap) {
			*target = b;
			*len = (size_t)n;
			return 0;
		}
		free(b);
		if (cap > (1u << 20))
			return err_set(STRATA_EIO, "link %s: target too long", path);
	}
}

int os_symlink(const char *target, const char *path)
{
	if (symlink(target, path) != 0)
		return err_errno(errno, "cannot create symbolic link %s", path);
	return 0;
}

int os_mkdir_new(const char *path, int mode)
{
	if (mkdir(path, (mode_t)mode) != 0)
		return err_errno(errno, "cannot create directory %s", path);
	return 0;
}

int os_set_meta(const char *path, int is_link, uint32_t mode, int64_t mtime, uint32_t mtime_ns)
{
	if (!is_link && chmod(path, (mode_t)mode) != 0)
		return err_errno(errno, "cannot set the mode of %s", path);
	struct timespec ts[2] = { { .tv_sec = 0, .tv_nsec = UTIME_OMIT }, { .tv_sec = mtime, .tv_nsec = mtime_ns } };
	if (utimensat(AT_FDCWD, path, ts, is_link ? AT_SYMLINK_NOFOLLOW : 0) != 0)
		return err_errno(errno, "cannot set the time of %s", path);
	return 0;
}

int os_link_or_copy(const char *from, const char *to, int *copied)
{
	*copied = 0;
	if (link(from, to) == 0)
		return 0;
	if (errno != EXDEV && errno != EPERM && errno != EMLINK)
		return err_errno(errno, "cannot link %s to %s", from, to);
	/* Another file system (or links refused): copy, durably. */
	enum { BUF = 1 << 20 };
	char *buf = malloc(BUF);
	int in = -1, out = -1, rc = buf ? os_open(&in, from, O_RDONLY, 0) : ERR_NOMEM();
	if (!rc)
		rc = os_open(&out, to, O_WRONLY | O_CREAT | O_EXCL, 0644);
	uint64_t off = 0;
	for (size_t got = 1; !rc && got > 0; off += got) {
		rc = os_pread_some(in, buf, BUF, off, &got, from);
		if (!rc && got)
			rc = os_write(out, buf, got, to);
	}
	if (!rc)
		rc = os_fsync(out, to);
	os_close(in);
	if (out >= 0 && !rc)
		rc = os_close_checked(out, to);
	else
		os_close(out);
	free(buf);
	if (rc)
		unlink(to);
	*copied = 1;
	return rc;
}

int os_read_some(int fd, void *dst, size_t n, size_t *got, const char *path)
{
	ssize_t r;
	do
		r = read(fd, dst, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return err_errno(errno, "cannot read %s", path);
	*got = (size_t)r;
	return 0;
}
