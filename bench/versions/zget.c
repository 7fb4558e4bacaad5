/*
 * zget: time getting one file version back from the "zstd -19 per file"
 * layout (each version compressed alone into a .zst file), in process.
 *
 *   zget LISTFILE
 *
 * LISTFILE has one path of a .zst file per line (the sample, picked by the
 * caller). Each is got once untimed (warm cache), then again timed: open,
 * read the whole compressed file, ZSTD_decompress into a buffer of the
 * frame's content size, close. Prints "name value" lines: gets,
 * get_ns_median/p99/max, read_median (compressed bytes read).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t rank(size_t n, double p)
{
	size_t r = (size_t)(p * (double)n + 0.999999);
	return (r < 1 ? 1 : r > n ? n : r) - 1;
}

static int get_one(const char *path, uint64_t *compressed)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	char *src = malloc(n ? n : 1);
	size_t got = 0;
	while (src && got < n) {
		ssize_t r = read(fd, src + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!src || got != n) {
		free(src);
		return -1;
	}
	unsigned long long size = ZSTD_getFrameContentSize(src, n);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
		free(src);
		return -1;
	}
	char *dst = malloc(size ? size : 1);
	size_t d = dst ? ZSTD_decompress(dst, size, src, n) : 0;
	int bad = !dst || ZSTD_isError(d) || d != size;
	free(src);
	free(dst);
	*compressed = n;
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: zget LISTFILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	char **paths = NULL;
	size_t n = 0, cap = 0;
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (!*line)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			paths = realloc(paths, cap * sizeof *paths);
		}
		paths[n++] = strdup(line);
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "zget: empty list\n");
		return 1;
	}
	uint64_t *ns = malloc(n * sizeof *ns), *rd = malloc(n * sizeof *rd);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			int rc = get_one(paths[i], &rd[i]);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (rc) {
				fprintf(stderr, "zget: cannot decompress %s\n", paths[i]);
				return 1;
			}
			ns[i] = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull +
				(uint64_t)(t1.tv_nsec - t0.tv_nsec);
		}
	qsort(ns, n, sizeof *ns, cmp_u64);
	qsort(rd, n, sizeof *rd, cmp_u64);
	printf("gets %zu\nget_ns_median %llu\nget_ns_p99 %llu\nget_ns_max %llu\nread_median %llu\n",
	       n, (unsigned long long)ns[rank(n, 0.5)], (unsigned long long)ns[rank(n, 0.99)],
	       (unsigned long long)ns[n - 1], (unsigned long long)rd[rank(n, 0.5)]);
	return 0;
}
