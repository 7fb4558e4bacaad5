/* loadparse.c - the load stream parser (loadparse.h). */
#include "loadparse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int load_init(load_parser *p, FILE *in)
{
	memset(p, 0, sizeof *p);
	p->in = in;
	p->fd = fileno(in);
	p->max_len = (uint64_t)1 << 40;
	p->line = malloc(LOAD_LINE_MAX + 1);
	p->buf = malloc(LOAD_BUF_BYTES);
	if (!p->line || !p->buf) {
		load_free(p);
		return -1;
	}
	return 0;
}

struct load_slab {
	atomic_size_t refs;  /* records not yet released, + 1 while being filled */
	size_t used;
	unsigned char bytes[LOAD_SLAB_BYTES];
};

static void slab_unref(struct load_slab *sl)
{
	if (sl && atomic_fetch_sub_explicit(&sl->refs, 1, memory_order_acq_rel) == 1)
		free(sl);
}

static void slab_release(void *ctx, void *ptr, size_t len)
{
	(void)ptr;
	(void)len;
	slab_unref(ctx);
}

/* Room for a record of len bytes of this key: cmd's data and release. */
static int record_room(load_parser *p, load_cmd *cmd, size_t len)
{
	if (len > LOAD_SLAB_REC) {
		cmd->data = malloc(len);
		cmd->release = strata_release_free;
		cmd->release_ctx = NULL;
		return cmd->data ? 0 : -1;
	}
	size_t h = 0;
	for (size_t i = 0; i < cmd->keylen; i++)
		h = h * 31 + (unsigned char)cmd->key[i];
	struct load_slab **at = &p->slab[h % LOAD_SLABS];
	if (!*at || (*at)->used + len > LOAD_SLAB_BYTES) {
		slab_unref(*at);
		if (!(*at = malloc(sizeof **at)))
			return -1;
		atomic_init(&(*at)->refs, 1);
		(*at)->used = 0;
	}
	struct load_slab *sl = *at;
	cmd->data = sl->bytes + sl->used;
	sl->used += (len + 15) & ~(size_t)15;
	atomic_fetch_add_explicit(&sl->refs, 1, memory_order_relaxed);
	cmd->release = slab_release;
	cmd->release_ctx = sl;
	return 0;
}

void load_free(load_parser *p)
{
	free(p->line);
	p->line = NULL;
	free(p->buf);
	p->buf = NULL;
	for (int i = 0; i < LOAD_SLABS; i++) {
		slab_unref(p->slab[i]);
		p->slab[i] = NULL;
	}
}

static int perr(load_parser *p, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int perr(load_parser *p, uint64_t at, const char *fmt, ...)
{
	int n = snprintf(p->err, sizeof p->err, "byte %llu: ", (unsigned long long)at);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof p->err - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Up to `want` bytes of input into dst, as many as the input has ready: a
 * pipe gives what has been written so far, so a command is parsed as soon
 * as it has come (`load -v` fed by a process that waits for "committed
 * unit N"), not once a MiB has. Returns 0 at the end of the input or on a
 * read error (p->read_errno). */
static size_t pull(load_parser *p, void *dst, size_t want)
{
	if (p->fd < 0) { /* no descriptor (fmemopen): stdio's own read */
		size_t got = fread_unlocked(dst, 1, want, p->in);
		if (!got && ferror(p->in))
			p->read_errno = errno ? errno : EIO;
		return got;
	}
	for (;;) {
		ssize_t got = read(p->fd, dst, want);
		if (got >= 0)
			return (size_t)got;
		if (errno != EINTR) {
			p->read_errno = errno;
			return 0;
		}
	}
}

/* Read more input after the bytes not yet consumed (moved to the front).
 * Returns how many bytes came; 0 at the end of input or on a read error
 * (p->read_errno tells which), after which the input is not read again. */
static size_t fill(load_parser *p)
{
	if (p->at_end)
		return 0;
	if (p->pos) {
		memmove(p->buf, p->buf + p->pos, p->end - p->pos);
		p->end -= p->pos;
		p->pos = 0;
	}
	size_t got = pull(p, p->buf + p->end, LOAD_BUF_BYTES - p->end);
	p->end += got;
	p->at_end = got == 0;
	return got;
}

/* Read one line without its '\n' into p->line. Returns its length, -2 at a
 * clean end of input (nothing read), -1 on error (set). */
static long read_line(load_parser *p)
{
	uint64_t start = p->offset;
	for (size_t seen = 0;;) {
		const unsigned char *from = p->buf + p->pos;
		size_t have = p->end - p->pos;
		const unsigned char *nl = memchr(from + seen, '\n', have - seen);
		size_t n = nl ? (size_t)(nl - from) : have;
		if (n > LOAD_LINE_MAX) {
			p->offset = start + LOAD_LINE_MAX + 1;
			return perr(p, start, "command line longer than %d bytes", LOAD_LINE_MAX);
		}
		if (nl) {
			memcpy(p->line, from, n);
			p->line[n] = '\0';
			p->pos += n + 1;
			p->offset += n + 1;
			return (long)n;
		}
		seen = have;
		if (fill(p))
			continue;
		p->offset += have;
		p->pos = p->end;
		if (p->read_errno)
			return perr(p, p->offset, "read error: %s", strerror(p->read_errno));
		if (have == 0)
			return -2;
		return perr(p, p->offset, "unexpected end of input: expected a newline to end the line "
			    "that starts at byte %llu", (unsigned long long)start);
	}
}

/* Read len bytes into dst; returns how many came (fewer only at the end of
 * the input). A long stretch is read straight into dst. */
static size_t read_bytes(load_parser *p, unsigned char *dst, size_t len)
{
	size_t done = 0;
	while (done < len) {
		size_t have = p->end - p->pos, want = len - done;
		if (have) {
			size_t k = have < want ? have : want;
			memcpy(dst + done, p->buf + p->pos, k);
			p->pos += k;
			done += k;
		} else if (want >= LOAD_BUF_BYTES / 2 && !p->at_end) {
			size_t got = pull(p, dst + done, want);
			if (!got) {
				p->at_end = 1;
				break;
			}
			done += got;
		} else if (!fill(p)) {
			break;
		}
	}
	p->offset += done;
	return done;
}

/* The next byte, consumed, or EOF (then nothing is consumed). */
static int next_byte(load_parser *p)
{
	if (p->pos == p->end && !fill(p))
		return EOF;
	p->offset++;
	return p->buf[p->pos++];
}

/* A shown excerpt of the offending line, for messages. */
static const char *excerpt(const char *line, char *buf, size_t cap)
{
	size_t i = 0;
	for (; line[i] && i + 4 < cap && i < 40; i++)
		buf[i] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
	buf[i] = '\0';
	if (line[i])
		strcat(buf, "...");
	return buf;
}

static int parse_put(load_parser *p, load_cmd *cmd, size_t linelen)
{
	char *s = p->line + 4, *end;
	uint64_t at = cmd->offset + 4;
	if (*s < '0' || *s > '9')
		return perr(p, at, "expected a decimal length after 'put '");
	errno = 0;
	unsigned long long len = strtoull(s, &end, 10);
	if (errno || len > p->max_len)
		return perr(p, at, "record length %s is too large", s);
	if (*end != ' ')
		return perr(p, at + (uint64_t)(end - s), "expected a space and a key after the length");
	cmd->key = end + 1;
	cmd->keylen = linelen - (size_t)(cmd->key - p->line);
	if (cmd->keylen == 0)
		return perr(p, at + (uint64_t)(end - s) + 1, "expected a key after the length");
	if (cmd->keylen > LOAD_KEY_MAX)
		return perr(p, at, "key longer than %d bytes", LOAD_KEY_MAX);
	cmd->len = (size_t)len;
	if (record_room(p, cmd, (size_t)len))
		return perr(p, p->offset, "cannot allocate %llu bytes for the record", len);
	size_t got = read_bytes(p, cmd->data, (size_t)len);
	int c = got == len ? next_byte(p) : EOF;
	if (got != len || c != '\n') {
		cmd->release(cmd->release_ctx, cmd->data, (size_t)len);
		cmd->data = NULL;
		if (got != len)
			return perr(p, p->offset, "unexpected end of input: expected %llu bytes of data for "
				    "key '%.*s', got %zu", len, (int)(cmd->keylen > 60 ? 60 : cmd->keylen),
				    cmd->key, got);
		/* the offset of the byte that is not a newline */
		return perr(p, p->offset - (c != EOF), c == EOF ? "unexpected end of input: expected a newline "
				"after the record's data" : "expected a newline after the record's data");
	}
	cmd->kind = LOAD_PUT;
	return 0;
}

int load_next(load_parser *p, load_cmd *cmd)
{
	memset(cmd, 0, sizeof *cmd);
	for (;;) {
		cmd->offset = p->offset;
		long n = read_line(p);
		if (n == -2) {
			cmd->kind = LOAD_END;
			return 0;
		}
		if (n < 0)
			return -1;
		if (p->line[0] == '#')
			continue;
		if (!strncmp(p->line, "put ", 4))
			return parse_put(p, cmd, (size_t)n);
		if ((n == 6 && !memcmp(p->line, "commit", 6)) || !strncmp(p->line, "commit ", 7)) {
			cmd->kind = LOAD_COMMIT;
			cmd->label = n > 6 ? p->line + 7 : NULL;
			if (cmd->label && strlen(cmd->label) != (size_t)n - 7)
				return perr(p, cmd->offset, "label contains a NUL byte");
			return 0;
		}
		char ex[64];
		return perr(p, cmd->offset, "expected 'put <length> <key>', 'commit [<label>]' or '#', got '%s'",
			    excerpt(p->line, ex, sizeof ex));
	}
}
