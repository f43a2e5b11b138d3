/* reviewlog: the metrics labels and the log line of an answered admission
 * review (server.c). Literal label sets, so the hot path formats nothing. */
#include "reviewlog.h"

#include "log.h"

/* The requests counter's labels for an answered review: literals, so the hot
 * path formats nothing. */
const char *reviewlog_labels(admission_op op, admission_verdict v)
{
#define REVIEWLOG_L(ep, v) "endpoint=\"" ep "\",verdict=\"" v "\""
	static const char *const mutate[ADMISSION_VERDICT_COUNT] = {
		[ADMISSION_VERDICT_ERROR] = REVIEWLOG_L("mutate", "error"),
		[ADMISSION_VERDICT_ALLOW] = REVIEWLOG_L("mutate", "allow"),
		[ADMISSION_VERDICT_DENY] = REVIEWLOG_L("mutate", "deny"),
		[ADMISSION_VERDICT_PATCH] = REVIEWLOG_L("mutate", "patch"),
	};
	static const char *const validate[ADMISSION_VERDICT_COUNT] = {
		[ADMISSION_VERDICT_ERROR] = REVIEWLOG_L("validate", "error"),
		[ADMISSION_VERDICT_ALLOW] = REVIEWLOG_L("validate", "allow"),
		[ADMISSION_VERDICT_DENY] = REVIEWLOG_L("validate", "deny"),
		[ADMISSION_VERDICT_PATCH] = REVIEWLOG_L("validate", "patch"),
	};
#undef REVIEWLOG_L
	if ((unsigned)v >= ADMISSION_VERDICT_COUNT)
		v = ADMISSION_VERDICT_ERROR;
	return op == ADMISSION_MUTATE ? mutate[v] : validate[v];
}

/* The log line of an answered review: refusals warn, denials inform. */
void reviewlog_line(const char *ep, const admission_result *res)
{
	if (res->http_status != 200)
		log_kv(LOG_LVL_WARN, "review refused", "endpoint", ep, "status",
		       res->http_status == 400 ? "400" : "500", "reason", res->reason, (char *)NULL);
	else if (res->verdict == ADMISSION_VERDICT_DENY)
		log_kv(LOG_LVL_INFO, "review denied", "endpoint", ep, "reason", res->reason, (char *)NULL);
	else
		log_kv(LOG_LVL_DEBUG, "review answered", "endpoint", ep, "verdict",
		       admission_verdict_name(res->verdict), "reason", res->reason, (char *)NULL);
}
