/* log: JSON lines on stderr, one write(2) per line so threads never interleave.
 * {"ts":"2026-11-22T10:00:00.123Z","level":"info","component":"agent","msg":"...", k: v...} */
#ifndef ARMORGATE_LOG_H
#define ARMORGATE_LOG_H

#include "err.h"

typedef enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR } log_level;

/* component is borrowed and must outlive logging (a string literal). */
void log_init(const char *component, log_level min);
void log_set_level(log_level min);
log_level log_get_level(void);
/* "debug"|"info"|"warn"|"error" -> 0, else -1. */
int log_level_parse(const char *s, log_level *out);
/* Redirect output (tests); fd 2 by default. */
void log_set_fd(int fd);

/* Message plus string fields: key, value pairs terminated by NULL.
 * log_kv(LOG_LVL_INFO, "profile loaded", "profile", name, "mode", "enforce", (char *)NULL); */
void log_kv(log_level lvl, const char *msg, ...) __attribute__((sentinel));
/* printf-style message, no extra fields. */
void log_msg(log_level lvl, const char *fmt, ...) AG_PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* Appends s as a JSON string body (no quotes) to out; shared with metrics/status writers.
 * Returns bytes written, truncating at cap-1 on a character boundary. */
size_t log_json_escape(char *out, size_t cap, const char *s);

#endif
