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

/* Length of the UTF-8 sequence a lead byte starts (1 for ASCII and for stray
 * bytes, which are copied as they are). */
static size_t log_utf8_len(unsigned char c)
{
	if (c >= 0xF0 && c < 0xF8)
		return 4;
	if (c >= 0xE0)
		return c < 0xF0 ? 3 : 1;
	if (c >= 0xC0)
		return 2;
	return 1;
}

size_t log_json_escape(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;

	if (cap == 0)
		return 0;
	while (*p) {
		char tmp[8];
		size_t n;
		size_t step = 1;

		switch (*p) {
		case '"': memcpy(tmp, "\\\"", 3); break;
		case '\\': memcpy(tmp, "\\\\", 3); break;
		case '\n': memcpy(tmp, "\\n", 3); break;
		case '\r': memcpy(tmp, "\\r", 3); break;
		case '\t': memcpy(tmp, "\\t", 3); break;
		default:
			if (*p < 0x20) {
				snprintf(tmp, sizeof(tmp), "\\u%04x", *p);
			} else {
				/* A multi-byte character is copied whole or not at all, so
				 * truncation never leaves half a character behind. */
				step = log_utf8_len(*p);
				for (size_t i = 1; i < step; i++)
					if ((p[i] & 0xC0) != 0x80)
						step = 1;
				memcpy(tmp, p, step);
				tmp[step] = '\0';
			}
		}
		n = strlen(tmp);
		if (o + n >= cap)
			break;
		memcpy(out + o, tmp, n);
		o += n;
		p += step;
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
	/* ,"key":"value" plus the line's closing }\n must fit: the value is
	 * escaped into what is left, so the quotes are never cut off. */
	size_t overhead = strlen(key) + 6 + 2;
	int n;

	if (o + overhead + 1 >= LOG_LINE_MAX)
		return o;
	log_json_escape(esc, LOG_LINE_MAX - o - overhead, val ? val : "");
	n = snprintf(line + o, LOG_LINE_MAX - o - 2, ",\"%s\":\"%s\"", key, esc);
	if (n < 0 || (size_t)n >= LOG_LINE_MAX - o - 2)
		return o;
	return o + (size_t)n;
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
