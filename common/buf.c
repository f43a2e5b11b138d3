/* buf: bounded growable buffer. */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Doubling from cur until need fits; need itself when doubling would overflow. */
static size_t buf_next_cap(size_t cur, size_t need)
{
	size_t ncap = cur ? cur : 1;

	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	return ncap;
}

int buf_grow_items(void *items, size_t *cap, size_t need, size_t elem, size_t first)
{
	void **pp = items;
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = buf_next_cap(*cap ? *cap : first, need);
	if (elem == 0 || ncap > SIZE_MAX / elem) {
		errno = ENOMEM;
		return -1;
	}
	p = realloc(*pp, ncap * elem);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	*pp = p;
	*cap = ncap;
	return 0;
}

int buf_reserve(buf *b, size_t extra)
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
	ncap = buf_next_cap(b->cap ? b->cap : 1024, need);
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
