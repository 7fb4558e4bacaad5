/*
 * corpus_driver.c - run a fuzz target's LLVMFuzzerTestOneInput over saved
 * inputs, without libFuzzer (any compiler; used by the CTest corpus tests).
 *
 *   fuzz_X_corpus DIR|FILE...
 *
 * Every regular file of each DIR (in name order, not recursive) and every
 * FILE is read into a buffer of exactly its size and given to the target
 * once. The target aborts on a broken invariant; sanitizers, when built in,
 * report memory errors. Exits 1 when no input was run at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file; *buf is malloc'd with exactly *len bytes (1 if empty). */
static int slurp(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap);
	while (p) {
		if (n == cap) {
			uint8_t *q = realloc(p, cap * 2);
			if (!q)
				break;
			p = q;
			cap *= 2;
		}
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = !p || ferror(f);
	fclose(f);
	if (bad) {
		free(p);
		return -1;
	}
	/* Exact-size copy, so that a read past the end is caught by ASan. */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(p);
		return -1;
	}
	memcpy(exact, p, n);
	free(p);
	*buf = exact;
	*len = n;
	return 0;
}

static int run_file(const char *path, unsigned long *count)
{
	uint8_t *buf;
	size_t len;
	if (slurp(path, &buf, &len)) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	(*count)++;
	return 0;
}

static int run_dir(const char *dir, unsigned long *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		if (!rc && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = run_file(path, count);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	unsigned long count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "cannot stat %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count))
			return 1;
	}
	printf("ran %lu input(s)\n", count);
	if (count == 0) {
		fprintf(stderr, "no inputs found: an empty corpus tests nothing\n");
		return 1;
	}
	return 0;
}
