/* log: structured JSON-lines logging. Lines are capped at LOG_LINE_MAX so a
 * hostile string in a field can never make a log call allocate or block long. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LOG_LINE_MAX = 4096 };

static const char *log_component = "armorgate";
static atomic_int log_min = LOG_LVL_INFO;
static atomic_int log_fd = 2;

static const char *const log_names[] = { "debug", "info", "warn", "error" };

void log_init(const char *component, log_level min)
{
	log_component = component;
	atomic_store(&log_min, (int)min);
}

void log_set_level(log_level min)
{
	atomic_store(&log_min, (int)min);
}

log_level log_get_level(void)
{
	return (log_level)atomic_load(&log_min);
}

void log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

int log_level_parse(const char *s, log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (log_level)i;
			return 0;
		}
	}
	return -1;
}

size_t log_json_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char tmp[8];
		size_t n;

		switch (*p) {
		case '"': memcpy(tmp, "\\\"", 3); break;
		case '\\': memcpy(tmp, "\\\\", 3); break;
		case '\n': memcpy(tmp, "\\n", 3); break;
		case '\r': memcpy(tmp, "\\r", 3); break;
		case '\t': memcpy(tmp, "\\t", 3); break;
		default:
			if (*p < 0x20)
				snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
			else {
				tmp[0] = (char)*p;
				tmp[1] = '\0';
			}
		}
		n = strlen(tmp);
		if (o + n >= cap)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return o;
}

static size_t log_header(char *line, log_level lvl)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	size_t o;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	o = (size_t)snprintf(line, LOG_LINE_MAX, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"%s\"", stamp,
			     ts.tv_nsec / 1000000, log_names[lvl], log_component);
	return o < LOG_LINE_MAX ? o : LOG_LINE_MAX - 1;
}

static size_t log_field(char *line, size_t o, const char *key, const char *val)
{
	char esc[LOG_LINE_MAX];
	int n;

	/* Leave room for the closing "}\n". */
	if (o + 8 >= LOG_LINE_MAX)
		return o;
	log_json_escape(esc, LOG_LINE_MAX - o - 8, val ? val : "");
	n = snprintf(line + o, LOG_LINE_MAX - o - 2, ",\"%s\":\"%s\"", key, esc);
	if (n < 0)
		return o;
	o += (size_t)n;
	return o < LOG_LINE_MAX - 2 ? o : LOG_LINE_MAX - 3;
}

static void log_finish(char *line, size_t o)
{
	ssize_t w;

	line[o++] = '}';
	line[o++] = '\n';
	w = write(atomic_load(&log_fd), line, o);
	(void)w; /* nowhere left to report a failed log write */
}

void log_kv(log_level lvl, const char *msg, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	size_t o;

	if ((int)lvl < atomic_load(&log_min))
		return;
	o = log_header(line, lvl);
	o = log_field(line, o, "msg", msg);
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		const char *v;

		if (!k)
			break;
		v = va_arg(ap, const char *);
		o = log_field(line, o, k, v);
	}
	va_end(ap);
	log_finish(line, o);
}

void log_msg(log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char msg[LOG_LINE_MAX];
	va_list ap;
	size_t o;

	if ((int)lvl < atomic_load(&log_min))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = log_header(line, lvl);
	o = log_field(line, o, "msg", msg);
	log_finish(line, o);
}
