/* err: the one error convention of common/ and both daemons.
 * A failing function returns -1 (or NULL) and fills an ag_err the caller owns;
 * the message is one line an operator can act on. No heap: safe anywhere.
 * The one exception: primitives whose only failure is running out of room
 * (buf_*, metrics_*) return -1 with errno ENOMEM or E2BIG, as libc does —
 * their caller knows what it was building and says so.
 * Kinds of failure a caller must tell apart are ag_err.code values (errno
 * names), never prefixes of the message. */
#ifndef ARMORGATE_ERR_H
#define ARMORGATE_ERR_H

#include <stddef.h>

#define AG_WARN_UNUSED __attribute__((warn_unused_result))
#define AG_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum { AG_ERR_MSG_MAX = 512 };

typedef struct ag_err {
	int code;         /* errno-style value, 0 when unset */
	long http_status; /* HTTP status when the error came from a server, else 0 */
	char msg[AG_ERR_MSG_MAX];
} ag_err;

void err_clear(ag_err *e);
/* Sets code and a formatted message; returns -1 so callers can `return err_set(...)`.
 * e may be NULL. */
int err_set(ag_err *e, int code, const char *fmt, ...) AG_PRINTF(3, 4);
/* Prepends "prefix: " to an existing message (context while unwinding). */
int err_wrap(ag_err *e, const char *fmt, ...) AG_PRINTF(2, 3);

#endif
