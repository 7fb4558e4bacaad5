/* conf.c - read and write strata.conf (conf.h). */
#include "conf.h"
#include "err.h"
#include "os.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONF_MAX 4096

int conf_validate(const strata_options *o)
{
	if (o->version != STRATA_OPTIONS_VERSION)
		return err_set(STRATA_EINVAL, "options version %u is not %d (use STRATA_OPTIONS_INIT)",
			       o->version, STRATA_OPTIONS_VERSION);
	if (o->group_cap < 4096 || o->group_cap > (256u << 20))
		return err_set(STRATA_EINVAL, "group cap %" PRIu64 " is outside 4096..268435456", o->group_cap);
	if (o->zstd_level < 1 || o->zstd_level > 22)
		return err_set(STRATA_EINVAL, "zstd level %d is outside 1..22", o->zstd_level);
	if (o->chain_max < 1 || o->chain_max > 16)
		return err_set(STRATA_EINVAL, "chain max %d is outside 1..16", o->chain_max);
	if (o->read_cost_max < 1 || o->read_cost_max > 64)
		return err_set(STRATA_EINVAL, "read cost max %d is outside 1..64", o->read_cost_max);
	if (o->repack_after != 0 && (o->repack_after < 2 || o->repack_after > 1000))
		return err_set(STRATA_EINVAL, "repack-after %d is neither 0 nor within 2..1000", o->repack_after);
	return 0;
}

int conf_write(const char *root, const strata_options *o)
{
	char path[4096], tmp[4096], text[256];
	snprintf(path, sizeof path, "%s/strata.conf", root);
	snprintf(tmp, sizeof tmp, "%s/strata.conf.tmp", root);
	int n = snprintf(text, sizeof text,
			 "strata-store = %d\ngroup-cap = %" PRIu64 "\nzstd-level = %d\nchain-max = %d\n"
			 "read-cost-max = %d\nrepack-after = %d\n",
			 STORE_FORMAT, o->group_cap, o->zstd_level, o->chain_max, o->read_cost_max, o->repack_after);
	int fd, rc = os_open(&fd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (rc)
		return rc;
	rc = os_write(fd, text, (size_t)n, tmp);
	if (!rc)
		rc = os_fsync(fd, tmp);
	os_close(fd);
	if (!rc)
		rc = os_rename(tmp, path);
	if (!rc)
		rc = os_fsync_dir(root);
	if (rc)
		os_unlink(tmp);
	return rc;
}

static int parse_line(char *line, strata_options *o, int *seen_format, const char *path)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return line[strspn(line, " \t\r")] == '\0' ? 0 :
		       err_set(STRATA_ECORRUPT, "%s: malformed line '%s'", path, line);
	*eq = '\0';
	char name[64];
	if (sscanf(line, " %63s", name) != 1)
		return err_set(STRATA_ECORRUPT, "%s: malformed line", path);
	long long v = strtoll(eq + 1, NULL, 10);
	if (!strcmp(name, "strata-store")) {
		if (v != STORE_FORMAT)
			return err_set(STRATA_EFORMAT, "%s: store format %lld is not supported (this build reads %d)",
				       path, v, STORE_FORMAT);
		*seen_format = 1;
	} else if (!strcmp(name, "group-cap")) {
		o->group_cap = (uint64_t)v;
	} else if (!strcmp(name, "zstd-level")) {
		o->zstd_level = (int)v;
	} else if (!strcmp(name, "chain-max")) {
		o->chain_max = (int)v;
	} else if (!strcmp(name, "read-cost-max")) {
		o->read_cost_max = (int)v;
	} else if (!strcmp(name, "repack-after")) {
		o->repack_after = (int)v;
	}
	return 0;
}

int conf_read(const char *root, strata_options *o)
{
	char path[4096], text[CONF_MAX + 1];
	snprintf(path, sizeof path, "%s/strata.conf", root);
	int fd, rc = os_open(&fd, path, O_RDONLY, 0);
	if (rc)
		return rc == STRATA_ENOTFOUND ? err_set(rc, "%s is not a strata store (no strata.conf)", root) : rc;
	size_t got;
	rc = os_pread_some(fd, text, CONF_MAX, 0, &got, path);
	os_close(fd);
	if (rc)
		return rc;
	text[got] = '\0';
	*o = (strata_options)STRATA_OPTIONS_INIT;
	int seen = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save))
		rc = parse_line(line, o, &seen, path);
	if (!rc && !seen)
		rc = err_set(STRATA_ECORRUPT, "%s lacks its strata-store line", path);
	if (!rc && conf_validate(o))
		rc = err_prefix(STRATA_ECORRUPT, "%s: ", path);
	return rc;
}
