/* admission_reply: writes an admission_result: the AdmissionReview answer
 * (allowed, patch, warning, denial), or a one-line text answer for a request
 * that is not a review (400) or could not be answered (500), plus the log
 * reason and the verdict. Pure: no I/O, no globals. */
#ifndef ARMORGATE_ADMISSION_REPLY_H
#define ARMORGATE_ADMISSION_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "admission.h"

/* A text answer with the given HTTP status; the line is also the reason. */
void admission_reply_text(admission_result *res, int status, const char *fmt, ...) AG_PRINTF(3, 4);
/* 500: the answer could not be built. */
void admission_reply_oom(admission_result *res);
/* The AdmissionReview answer for uid. patch (RFC 6902 JSON text, may be
 * NULL), warning and message (may be NULL) are copied. The reason is the
 * caller's. */
void admission_reply_review(admission_result *res, const char *uid, bool allowed, const buf *patch, const char *warning,
			    const char *message);
/* A denial whose message (also the reason) was built on the heap; NULL
 * (it could not be built) answers 500. */
void admission_reply_deny(admission_result *res, const char *uid, const char *message);
/* Allowed with a warning for the user; the warning is also the reason. */
void admission_reply_allow_warn(admission_result *res, const char *uid, const char *fmt, ...) AG_PRINTF(3, 4);
/* The log reason, cut to fit. No printf: the allow and patch paths use it. */
void admission_reply_reason(admission_result *res, const char *text);
/* "<head><count><tail>" as the log reason; head and tail short literals. */
void admission_reply_reason_count(admission_result *res, const char *head, size_t count, const char *tail);

#endif
