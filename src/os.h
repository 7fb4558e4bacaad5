/*
 * os.h - the only module that calls the operating system's file API.
 *
 * Every descriptor is opened with O_CLOEXEC. Every failure sets the error
 * record (err.h) with the path involved and returns a STRATA_E* code. Having
 * one layer makes fault injection possible: os_fault_set() makes the Nth
 * later write-side call fail with a chosen errno, for tests.
 */
#ifndef STRATA_OS_H
#define STRATA_OS_H

#include <stddef.h>
#include <stdint.h>

/* Open `path` with open(2) flags `flags` (O_CLOEXEC added); *fd receives it. */
int os_open(int *fd, const char *path, int flags, int mode);
/* Close a descriptor if it is >= 0. Errors are ignored (read-side use). */
void os_close(int fd);
/* Close a descriptor that was written to, reporting a close error. */
int os_close_checked(int fd, const char *path);

/* Read exactly n bytes at off. A short read is STRATA_ECORRUPT ("truncated"). */
int os_pread(int fd, void *dst, size_t n, uint64_t off, const char *path);
/* Read up to n bytes at off; *got receives the count (0 at end of file). */
int os_pread_some(int fd, void *dst, size_t n, uint64_t off, size_t *got, const char *path);
/* Read up to n bytes at the current position (pipes too); *got = 0 at the
 * end. */
int os_read_some(int fd, void *dst, size_t n, size_t *got, const char *path);
/* Write all n bytes at the current position. */
int os_write(int fd, const void *src, size_t n, const char *path);
int os_fsync(int fd, const char *path);
/* n bytes of zeroes whose pages are already the process's own (mapped and
 * written at allocation, not one fault each at first use); NULL when out
 * of memory. Free with os_zeroed_pages_free(p, n). */
void *os_zeroed_pages(size_t n);
void os_zeroed_pages_free(void *p, size_t n);
/* A buffer of at least n bytes (at least 1), aligned to 64, freed with
 * free(); *cap gets its usable size when cap is not NULL. From OS_HUGE_PAGE
 * on, it is aligned to and rounded up to OS_HUGE_PAGE and advised for
 * transparent huge pages: where the kernel gives them on request
 * (transparent_hugepage "[madvise]"), a first touch maps 2 MiB rather than
 * 4 KiB, one page fault rather than 512. NULL when out of memory. */
#define OS_HUGE_PAGE ((size_t)2 << 20)
void *os_alloc_big(size_t n, size_t *cap);
/* n, or a whole huge page for n from 512 KiB up to one: what to ask
 * os_alloc_big for a buffer that will be written through (a group body
 * being decoded, a list being filled), so that its first touch is one
 * fault rather than up to 512, whether or not malloc uses huge pages. */
size_t os_huge_round(size_t n);
/* fsync a directory so that a rename or unlink inside it is durable. */
int os_fsync_dir(const char *dir);
int os_size(int fd, uint64_t *size, const char *path);

int os_rename(const char *from, const char *to);
/* Rename, failing (STRATA_EEXIST) rather than replacing an existing file. */
int os_rename_noreplace(const char *from, const char *to);
/* Unlink; a missing file is not an error. */
int os_unlink(const char *path);
/* mkdir; an existing directory is not an error. */
int os_mkdir(const char *path);
/* rmdir of an empty directory; a missing one is not an error. */
int os_rmdir(const char *path);
/* 1 if path exists, 0 if not. */
int os_exists(const char *path);

/* Take an exclusive flock on fd without waiting: STRATA_ELOCKED if held. */
int os_lock(int fd, const char *path);
void os_unlock(int fd);

/* List the names in a directory (no "." or ".."), sorted. *names is a
 * malloc'd array of malloc'd strings; free with os_names_free. */
int os_list(const char *dir, char ***names, size_t *count);
void os_names_free(char **names, size_t count);

/* What import needs of a directory entry (lstat: links not followed). */
enum { OS_FILE = 1, OS_DIR = 2, OS_LINK = 3, OS_OTHER = 4 };
typedef struct os_stat {
	int type;           /* OS_* */
	uint32_t mode;      /* permission bits (& 07777) */
	uint64_t size;
	int64_t mtime;      /* seconds since the epoch */
	uint32_t mtime_ns;
	int64_t ctime;      /* change time */
	uint32_t ctime_ns;
	uint64_t ino;
} os_stat;
int os_lstat(const char *path, os_stat *out);
/* The same, following a link when `follow` (a tree's root may be one). */
int os_stat_of(const char *path, int follow, os_stat *out);
/* A symbolic link's target: *target malloc'd (not NUL-terminated), *len. */
int os_readlink(const char *path, char **target, size_t *len);
int os_symlink(const char *target, const char *path);
/* mkdir that fails (STRATA_EEXIST) if path exists. */
int os_mkdir_new(const char *path, int mode);
/* Set permission bits (not of a link) and the modification time (of the
 * link itself for a link). */
int os_set_meta(const char *path, int is_link, uint32_t mode, int64_t mtime, uint32_t mtime_ns);

/* Hard-link `from` as `to`; where the file system refuses (another file
 * system), copy it and fsync the copy, and set *copied. */
int os_link_or_copy(const char *from, const char *to, int *copied);

/* Test hook: make the `after`-th next write-side call (write, fsync,
 * rename; 1 = the very next) fail with `errnum`. after = 0 disarms. */
void os_fault_set(uint64_t after, int errnum);

#endif
