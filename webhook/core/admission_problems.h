/* admission_problems: the problems a review found, joined by "; " into one
 * denial message with a ceiling (ADMISSION_MESSAGE_MAX): past it problems are
 * counted, not written, and the message ends "... and N more problem(s)".
 * Pure: no I/O, no globals. The caller owns the struct. */
#ifndef ARMORGATE_ADMISSION_PROBLEMS_H
#define ARMORGATE_ADMISSION_PROBLEMS_H

#include <stddef.h>

#include "buf.h"

typedef struct admission_problems {
	buf b;
	size_t count;   /* problems added */
	size_t dropped; /* of them, not written (over the ceiling) */
	int rc;         /* -1 once an append failed */
} admission_problems;

/* extra: bytes the message may hold beyond ADMISSION_MESSAGE_MAX (a head). */
void admission_problems_init(admission_problems *m, size_t extra);
void admission_problems_cleanup(admission_problems *m);
void admission_problems_add(admission_problems *m, const char *fmt, ...) AG_PRINTF(2, 3);
/* "armorgate: " + the problems, on the heap (caller frees); NULL when
 * memory ran out. */
char *admission_problems_finish(const admission_problems *m);

#endif
