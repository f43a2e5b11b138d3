/* reviewlog: how an answered admission review is counted and logged (the
 * HTTPS server's part, kept apart from its connection handling). */
#ifndef ARMORGATE_WEBHOOK_REVIEWLOG_H
#define ARMORGATE_WEBHOOK_REVIEWLOG_H

#include "admission.h"

/* The requests counter's labels: endpoint="mutate|validate",verdict="...";
 * a static string. */
const char *reviewlog_labels(admission_op op, admission_verdict v);
/* The log line: refusals warn, denials inform, the rest is debug. */
void reviewlog_line(const char *ep, const admission_result *res);

#endif
