/* err: fixed-size error messages, no allocation. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_clear(ag_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->http_status = 0;
	e->msg[0] = '\0';
}

int err_set(ag_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int err_wrap(ag_err *e, const char *fmt, ...)
{
	char old[AG_ERR_MSG_MAX];
	va_list ap;
	int n;
	size_t used;

	if (!e)
		return -1;
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	used = n < 0 ? 0 : (size_t)n;
	if (used >= sizeof(e->msg) - 3)
		return -1;
	/* Manual copy: snprintf("%s: %s") trips -Wformat-truncation for no gain. */
	memcpy(e->msg + used, ": ", 2);
	used += 2;
	for (size_t i = 0; old[i] && used < sizeof(e->msg) - 1; i++)
		e->msg[used++] = old[i];
	e->msg[used] = '\0';
	return -1;
}
