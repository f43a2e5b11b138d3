/* admission_reply: the answers of the admission core (see admission_reply.h). */
#include "admission_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jsonout.h"

#define ADMISSION_REPLY_API_VERSION "admission.k8s.io/v1"
#define ADMISSION_REPLY_CT_JSON "application/json"
#define ADMISSION_REPLY_CT_TEXT "text/plain; charset=utf-8"

static void admission_reply_vtext(admission_result *res, int status, const char *fmt, va_list ap) AG_PRINTF(3, 0);

static void admission_reply_vtext(admission_result *res, int status, const char *fmt, va_list ap)
{
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	res->http_status = status;
	res->verdict = ADMISSION_VERDICT_ERROR;
	res->content_type = ADMISSION_REPLY_CT_TEXT;
	buf_reset(&res->body);
	if (buf_appendf(&res->body, "armorgate: %s\n", res->reason) != 0)
		buf_reset(&res->body);
}

void admission_reply_text(admission_result *res, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	admission_reply_vtext(res, status, fmt, ap);
	va_end(ap);
}

void admission_reply_oom(admission_result *res)
{
	admission_reply_text(res, 500, "out of memory while building the response");
}

void admission_reply_reason(admission_result *res, const char *text)
{
	size_t n = strlen(text);

	if (n >= sizeof(res->reason))
		n = sizeof(res->reason) - 1;
	memcpy(res->reason, text, n);
	res->reason[n] = '\0';
}

void admission_reply_reason_count(admission_result *res, const char *head, size_t count, const char *tail)
{
	char num[JSONOUT_DECIMAL_MAX];
	const char *d = jsonout_decimal(num + sizeof(num), count);
	size_t nd = (size_t)(num + sizeof(num) - d);
	size_t h = strlen(head);
	size_t t = strlen(tail);

	if (h + nd + t >= sizeof(res->reason)) {
		admission_reply_reason(res, head);
		return;
	}
	memcpy(res->reason, head, h);
	memcpy(res->reason + h, d, nd);
	memcpy(res->reason + h + nd, tail, t + 1);
}

void admission_reply_review(admission_result *res, const char *uid, bool allowed, const buf *patch, const char *warning,
			    const char *message)
{
	buf *b = &res->body;
	int rc = 0;

	buf_reset(b);
	rc |= buf_appends(b,
			  "{\"apiVersion\":\"" ADMISSION_REPLY_API_VERSION
			  "\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"");
	rc |= jsonout_esc(b, uid);
	rc |= buf_appends(b, allowed ? "\",\"allowed\":true" : "\",\"allowed\":false");
	if (patch) {
		rc |= buf_appends(b, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
		rc |= jsonout_base64(b, patch->data, patch->len);
		rc |= buf_appends(b, "\"");
	}
	if (warning) {
		rc |= buf_appends(b, ",\"warnings\":[\"");
		rc |= jsonout_esc(b, warning);
		rc |= buf_appends(b, "\"]");
	}
	if (!allowed) {
		rc |= buf_appends(b, ",\"status\":{\"code\":403,\"reason\":\"Forbidden\",\"message\":\"");
		rc |= jsonout_esc(b, message ? message : "armorgate: denied");
		rc |= buf_appends(b, "\"}");
	}
	rc |= buf_appends(b, "}}");
	if (rc) {
		admission_reply_oom(res);
		return;
	}
	res->http_status = 200;
	res->content_type = ADMISSION_REPLY_CT_JSON;
	res->verdict = !allowed ? ADMISSION_VERDICT_DENY : patch ? ADMISSION_VERDICT_PATCH : ADMISSION_VERDICT_ALLOW;
}

void admission_reply_deny(admission_result *res, const char *uid, const char *message)
{
	if (!message) {
		admission_reply_oom(res);
		return;
	}
	admission_reply_reason(res, message);
	admission_reply_review(res, uid, false, NULL, NULL, message);
}

void admission_reply_allow_warn(admission_result *res, const char *uid, const char *fmt, ...)
{
	char w[ADMISSION_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w, sizeof(w), fmt, ap);
	va_end(ap);
	admission_reply_reason(res, w);
	admission_reply_review(res, uid, true, NULL, w, NULL);
}
