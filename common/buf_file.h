/* buf_file: reading whole files into bounded buffers (I/O; kept out of buf.h
 * so the pure cores, which link only the pure part of common/, cannot read
 * files). */
#ifndef ARMORGATE_BUF_FILE_H
#define ARMORGATE_BUF_FILE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

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
