/* hello.c - the README's example: put two versions of a file, commit, read
 * the first back. Build: cc hello.c -lstrata -lzstd -lsqlite3 -lxxhash */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strata.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "hello-store";
	strata_store *s;
	if (strata_open(&s, path, STRATA_OPEN_CREATE, NULL) != 0) {
		fprintf(stderr, "open: %s\n", strata_errmsg());
		return 1;
	}
	/* put takes ownership: the store calls free() when done with it. */
	for (int v = 1; v <= 2; v++) {
		char *text = malloc(64);
		int len = snprintf(text, 64, "version %d of the README\n", v);
		if (strata_put(s, "README", 6, text, (size_t)len, strata_release_free, NULL, NULL) != 0) {
			fprintf(stderr, "put: %s\n", strata_errmsg());
			return 1;
		}
	}
	uint64_t unit;
	if (strata_commit(s, "first commit", &unit) != 0) { /* durable on return */
		fprintf(stderr, "commit: %s\n", strata_errmsg());
		return 1;
	}
	void *buf;
	size_t len;
	if (strata_get(s, "README", 6, 1, &buf, &len) != 0) { /* record 1 */
		fprintf(stderr, "get: %s\n", strata_errmsg());
		return 1;
	}
	printf("unit %llu; README@1 = %.*s", (unsigned long long)unit, (int)len, (char *)buf);
	strata_buf_free(buf);
	strata_close(s);
	return 0;
}
