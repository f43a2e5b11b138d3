/* admission_problems: one denial message from many problems (see
 * admission_problems.h). */
#include "admission_problems.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admission.h"

enum { ADMISSION_PROBLEMS_SOFT = ADMISSION_MESSAGE_MAX - 1024 }; /* room left for "... and N more" */

void admission_problems_init(admission_problems *m, size_t extra)
{
	memset(m, 0, sizeof(*m));
	buf_init(&m->b, ADMISSION_MESSAGE_MAX + extra);
}

void admission_problems_cleanup(admission_problems *m)
{
	buf_cleanup(&m->b);
}

void admission_problems_add(admission_problems *m, const char *fmt, ...)
{
	va_list ap;
	char tmp[1024];
	int n;

	m->count++;
	if (m->b.len > ADMISSION_PROBLEMS_SOFT) {
		m->dropped++;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (m->b.len)
		m->rc |= buf_appends(&m->b, "; ");
	m->rc |= buf_appends(&m->b, tmp);
}

char *admission_problems_finish(const admission_problems *m)
{
	buf out;

	buf_init(&out, ADMISSION_MESSAGE_MAX + 128);
	if (buf_appends(&out, "armorgate: ") != 0 || buf_append(&out, m->b.data ? m->b.data : "", m->b.len) != 0)
		goto fail;
	if (m->dropped && buf_appendf(&out, "; ... and %zu more problem(s)", m->dropped) != 0)
		goto fail;
	if (m->rc)
		goto fail;
	return buf_steal(&out);
fail:
	buf_cleanup(&out);
	return NULL;
}
