/* buf: bounded growable buffer. */
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void buf_init(buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_cleanup(buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int buf_reserve(buf *b, size_t extra)
{
	size_t need;
	size_t ncap;
	char *p;

	if (extra > b->max || b->len > b->max - extra) {
		errno = E2BIG;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	/* Most buffers (a review's answer and patch, messages) fit 1 KiB: one
	 * malloc instead of a chain of reallocs from 256 bytes. */
	ncap = b->cap ? b->cap : 1024;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	p = realloc(b->data, ncap);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

int buf_append(buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_appends(buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_appendf(buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) != 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

const char *buf_cstr(const buf *b)
{
	return b->data ? b->data : "";
}

char *buf_steal(buf *b)
{
	char *p = b->data;

	if (!p)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void buf_consume(buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

int buf_read_file(buf *b, const char *path, ag_err *err)
{
	struct stat st;
	int fd;
	int rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_set(err, EINVAL, "cannot read %s: not a regular file", path);
		goto out;
	}
	/* One allocation for files that report their size; /proc and sysfs say 0. */
	if (st.st_size > 0 && buf_reserve(b, (size_t)st.st_size <= b->max - b->len ? (size_t)st.st_size : b->max - b->len) != 0)
		goto too_big;
	for (;;) {
		ssize_t n;

		if (b->len == b->max) {
			char probe;

			n = read(fd, &probe, 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0) {
				errno = E2BIG;
				goto too_big;
			}
		} else {
			size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;

			if (room == 0) {
				if (buf_reserve(b, b->max - b->len < 4096 ? b->max - b->len : 4096) != 0)
					goto too_big;
				room = b->cap - b->len - 1;
			}
			if (room > b->max - b->len)
				room = b->max - b->len;
			n = read(fd, b->data + b->len, room);
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0) {
				b->len += (size_t)n;
				b->data[b->len] = '\0';
				continue;
			}
		}
		if (n < 0) {
			err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		break;
	}
	rc = 0;
	goto out;
too_big:
	if (errno == ENOMEM)
		err_set(err, ENOMEM, "cannot read %s: out of memory", path);
	else
		err_set(err, E2BIG, "%s is larger than the %zu byte limit", path, b->max);
out:
	close(fd);
	return rc;
}

int buf_read_file_dup(const char *path, size_t max, char **out, size_t *len, ag_err *err)
{
	buf b;

	buf_init(&b, max);
	*out = NULL;
	if (len)
		*len = 0;
	if (buf_read_file(&b, path, err) != 0) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		buf_cleanup(&b);
		return -1;
	}
	if (len)
		*len = b.len;
	*out = buf_steal(&b);
	if (!*out)
		return err_set(err, ENOMEM, "cannot read %s: out of memory", path);
	return 0;
}
