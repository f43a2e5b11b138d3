/* jsondepth: the nesting depth of JSON text checked on its raw bytes, so a
 * recursive parser (cJSON) is never handed text nested deeper than it should
 * recurse. Also notes a \u0000 escape: cJSON silently cuts such a string
 * short. Pure: no I/O, no globals. Trust boundary: untrusted bytes, possibly
 * not JSON at all; the scan reads only s[0..n) and never fails otherwise. */
#ifndef ARMORGATE_JSONDEPTH_H
#define ARMORGATE_JSONDEPTH_H

#include <stdbool.h>
#include <stddef.h>

/* true when no '{' or '[' outside strings opens a level deeper than max;
 * then *has_nul tells whether a string holds a \u0000 escape. Cheap on
 * hostile bodies up to the 3 MiB request ceiling (SSE2 blocks). */
bool jsondepth_ok(const char *s, size_t n, int max, bool *has_nul);

#endif
