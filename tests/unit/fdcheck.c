/*
 * fdcheck DIR - helper of test_durability: exits 1 if this process has a
 * descriptor open on a file inside DIR (as /proc/self/fd says), 0 if not,
 * 2 if it cannot tell. Prints each offending descriptor.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char root[PATH_MAX];
	if (!realpath(argv[1], root))
		return 2;
	size_t rl = strlen(root);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 2;
	int self = dirfd(d), found = 0, seen = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == self)
			continue;
		seen++;
		char link[64], target[PATH_MAX];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!strncmp(target, root, rl) && (target[rl] == '/' || target[rl] == '\0')) {
			printf("fd %d -> %s\n", fd, target);
			found = 1;
		}
	}
	closedir(d);
	if (seen == 0)
		return 2; /* not even stdin/stdout/stderr: cannot be right */
	return found;
}
