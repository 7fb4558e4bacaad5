/* hugepages.c - transparent huge pages for malloc's memory (hugepages.h). */
#include "hugepages.h"

#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THP_MODE "/sys/kernel/mm/transparent_hugepage/enabled"
#define TUNABLE "glibc.malloc.hugetlb"

/* 1 if the kernel gives huge pages to memory that asks (madvise mode). */
static int thp_on_request(void)
{
	char mode[128];
	int fd = open(THP_MODE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, mode, sizeof mode - 1);
	close(fd);
	if (n <= 0)
		return 0;
	mode[n] = 0;
	return strstr(mode, "[madvise]") != NULL;
}

#ifdef __GLIBC__
/* Execute again with TUNABLE=1 added, unless GLIBC_TUNABLES names it or
 * the kernel gives huge pages on its own or not at all; returns when it
 * does not execute. */
static void reexec(char **argv)
{
	const char *was = getenv("GLIBC_TUNABLES");
	if ((was && strstr(was, TUNABLE)) || !thp_on_request())
		return;
	char *saved = was ? strdup(was) : NULL;
	size_t n = (was ? strlen(was) + 1 : 0) + sizeof TUNABLE "=1";
	char *set = malloc(n);
	if (!set || (was && !saved)) {
		free(set);
		free(saved);
		return;
	}
	snprintf(set, n, "%s%s" TUNABLE "=1", was ? was : "", was ? ":" : "");
	if (setenv("GLIBC_TUNABLES", set, 1) == 0) {
		execv("/proc/self/exe", argv);
		/* not executed (no /proc, say): go on as we are */
		if (saved)
			setenv("GLIBC_TUNABLES", saved, 1);
		else
			unsetenv("GLIBC_TUNABLES");
	}
	free(set);
	free(saved);
}
#endif

void hugepages_setup(char **argv)
{
#ifdef __GLIBC__
	const char *off = getenv("STRATA_HUGEPAGES");
	if (off && !strcmp(off, "0"))
		return;
	reexec(argv);
	(void)mallopt(M_TOP_PAD, HUGEPAGES_PAD);
#else
	(void)argv;
#endif
}
