/* buf: growable byte buffer with a hard ceiling (curl's dynbuf idea).
 * Every buffer fed by untrusted bytes gets a named maximum; going past it is an
 * error (E2BIG), never a silent truncation. The caller owns the struct;
 * buf_cleanup() frees the storage. data is always NUL-terminated when non-NULL.
 * Pure (no I/O): reading files into a buf is buf_file.h. */
#ifndef ARMORGATE_BUF_H
#define ARMORGATE_BUF_H

#include <stddef.h>

#include "err.h"

typedef struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* ceiling on len */
} buf;

void buf_init(buf *b, size_t max);
void buf_cleanup(buf *b);
void buf_reset(buf *b); /* len = 0, storage kept */
/* 0 on success, -1 with errno E2BIG (ceiling) or ENOMEM. */
int buf_append(buf *b, const void *p, size_t n) AG_WARN_UNUSED;
/* Room for extra more bytes (and the NUL) without another allocation. */
int buf_reserve(buf *b, size_t extra) AG_WARN_UNUSED;
int buf_appends(buf *b, const char *s) AG_WARN_UNUSED;
int buf_appendf(buf *b, const char *fmt, ...) AG_PRINTF(2, 3) AG_WARN_UNUSED;
/* Always a valid C string ("" when empty). */
const char *buf_cstr(const buf *b);
/* Hands the storage to the caller (free() it); the buf is left empty. */
char *buf_steal(buf *b);
/* Drops the first n bytes. */
void buf_consume(buf *b, size_t n);
/* The one growth policy for arrays too: makes *items (a pointer to an array
 * of elem-byte items, realloc'd, caller frees) hold at least need items,
 * doubling *cap from first. 0, or -1 with errno ENOMEM (*items untouched).
 * Call as buf_grow_items(&v, &cap, n + 1, sizeof(*v), 16). */
int buf_grow_items(void *items, size_t *cap, size_t need, size_t elem, size_t first) AG_WARN_UNUSED;

#endif
