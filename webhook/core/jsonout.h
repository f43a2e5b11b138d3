/* jsonout: appending JSON text to a buf: string escaping, RFC 6901 pointer
 * tokens, base64 and decimal numbers, the pieces of the AdmissionReview
 * answer and its JSONPatch. Pure: no I/O, no globals. Every function returns
 * 0, or -1 when the buf refused the bytes (its ceiling or out of memory; buf.h
 * sets errno): callers OR the results of a run of appends and check once. */
#ifndef ARMORGATE_JSONOUT_H
#define ARMORGATE_JSONOUT_H

#include <stddef.h>

#include "buf.h"

/* The n bytes at s as the inside of a JSON string. */
int jsonout_escn(buf *b, const char *s, size_t n) AG_WARN_UNUSED;
/* The C string s as the inside of a JSON string. */
int jsonout_esc(buf *b, const char *s) AG_WARN_UNUSED;
/* s as one RFC 6901 reference token inside a JSON string: '~' -> "~0",
 * '/' -> "~1", then JSON escaping. */
int jsonout_ptr_token(buf *b, const char *s) AG_WARN_UNUSED;
/* The n bytes at in, base64 (RFC 4648, padded). */
int jsonout_base64(buf *b, const char *in, size_t n) AG_WARN_UNUSED;
enum { JSONOUT_DECIMAL_MAX = 24 }; /* room for any size_t in decimal */

/* v in decimal. */
int jsonout_size(buf *b, size_t v) AG_WARN_UNUSED;
/* v in decimal, written backwards so it ends just before end (which has
 * JSONOUT_DECIMAL_MAX bytes before it); returns its first digit. No NUL. */
char *jsonout_decimal(char *end, size_t v);

#endif
