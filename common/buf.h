/* buf: growable byte buffer with a hard ceiling (curl's dynbuf idea).
 * Every buffer fed by untrusted bytes gets a named maximum; going past it is an
 * error (E2BIG), never a silent truncation. The caller owns the struct;
 * buf_cleanup() frees the storage. data is always NUL-terminated when non-NULL. */
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
int buf_appends(buf *b, const char *s) AG_WARN_UNUSED;
int buf_appendf(buf *b, const char *fmt, ...) AG_PRINTF(2, 3) AG_WARN_UNUSED;
/* Always a valid C string ("" when empty). */
const char *buf_cstr(const buf *b);
/* Hands the storage to the caller (free() it); the buf is left empty. */
char *buf_steal(buf *b);
/* Drops the first n bytes. */
void buf_consume(buf *b, size_t n);
/* Appends the whole content of the regular file at path, within b->max.
 * Reads straight into b's storage (sized from fstat), so a secret file leaves
 * no copy in a stack buffer; the caller wipes b when it holds a secret.
 * Errors name the path: "cannot read P: why", "P is larger than the N byte limit". */
int buf_read_file(buf *b, const char *path, ag_err *err) AG_WARN_UNUSED;
/* The same into a fresh NUL-terminated heap string: *out is the caller's to
 * free (wipe it first when it holds a secret); len may be NULL. A partial
 * read is wiped before it is freed. */
int buf_read_file_dup(const char *path, size_t max, char **out, size_t *len, ag_err *err) AG_WARN_UNUSED;

#endif
