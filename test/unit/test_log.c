/* Unit tests: JSON-lines logging and its escaping (common/log.c). */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"

static char *read_all(int fd)
{
	static char got[65536];
	ssize_t n = read(fd, got, sizeof(got) - 1);

	got[n > 0 ? n : 0] = '\0';
	return got;
}

Test(log, escape_specials)
{
	char out[128];

	cr_assert_eq(log_json_escape(out, sizeof(out), "a\"b\\c\nd\re\tf\x01g"), 23);
	cr_assert_str_eq(out, "a\\\"b\\\\c\\nd\\re\\tf\\u0001g");
}

Test(log, escape_truncates_on_sequence_boundary)
{
	char out[5];

	/* "ab" fits, "\n" would need 2 more bytes than the 2 left: stop before it. */
	cr_assert_eq(log_json_escape(out, sizeof(out), "abc\n"), 3);
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(log_json_escape(out, sizeof(out), "\x01"), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(log_json_escape(out, 0, "x"), 0);
}

Test(log, lines_are_valid_json_with_fields)
{
	int p[2];
	cJSON *j;
	const char *hostile = "quote\" backslash\\ newline\n ctl\x02 end";

	cr_assert_eq(pipe(p), 0);
	log_init("test", LOG_LVL_INFO);
	log_set_fd(p[1]);
	log_kv(LOG_LVL_WARN, "profile \"x\" failed", "profile", hostile, "node", "n1", (char *)NULL);
	j = cJSON_Parse(read_all(p[0]));
	cr_assert_not_null(j, "not JSON");
	cr_assert_str_eq(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
	cr_assert_str_eq(cJSON_GetObjectItem(j, "component")->valuestring, "test");
	cr_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "profile \"x\" failed");
	cr_assert_str_eq(cJSON_GetObjectItem(j, "profile")->valuestring, hostile);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "node")->valuestring, "n1");
	cr_assert_not_null(strstr(cJSON_GetObjectItem(j, "ts")->valuestring, "Z"));
	cJSON_Delete(j);

	/* Below the level: nothing written. */
	log_debug("hidden");
	log_info("shown %d", 42);
	j = cJSON_Parse(read_all(p[0]));
	cr_assert_not_null(j);
	cr_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "shown 42");
	cJSON_Delete(j);
	log_set_fd(2);
	close(p[0]);
	close(p[1]);
}

/* A field longer than the line is cut inside its value, never its quotes. */
Test(log, huge_field_stays_one_valid_line)
{
	int p[2];
	static char big[20000];
	char *got;
	cJSON *j;

	memset(big, '"', sizeof(big) - 1);
	cr_assert_eq(pipe(p), 0);
	log_init("test", LOG_LVL_DEBUG);
	log_set_fd(p[1]);
	log_kv(LOG_LVL_ERROR, "big", "v", big, (char *)NULL);
	got = read_all(p[0]);
	cr_assert_leq(strlen(got), 4096);
	cr_assert_eq(got[strlen(got) - 1], '\n');
	cr_assert_null(strchr(got, '\n') == got + strlen(got) - 1 ? NULL : "x", "more than one line");
	j = cJSON_Parse(got);
	cr_assert_not_null(j, "truncated line is not JSON: %.80s", got);
	cJSON_Delete(j);
	log_set_fd(2);
	close(p[0]);
	close(p[1]);
}

Test(log, level_parse)
{
	log_level l;

	cr_assert_eq(log_level_parse("debug", &l), 0);
	cr_assert_eq(l, LOG_LVL_DEBUG);
	cr_assert_eq(log_level_parse("error", &l), 0);
	cr_assert_eq(l, LOG_LVL_ERROR);
	cr_assert_eq(log_level_parse("verbose", &l), -1);
	cr_assert_eq(log_level_parse("", &l), -1);
}

Test(log, escape_never_splits_utf8)
{
	char out[6];

	/* "aé€" = 61 c3a9 e282ac: with room for 5 bytes the euro sign (3 bytes)
	 * does not fit after "aé" (3 bytes) and must be dropped whole. */
	cr_assert_eq(log_json_escape(out, sizeof(out), "a\xc3\xa9\xe2\x82\xac"), 3);
	cr_assert_str_eq(out, "a\xc3\xa9");
	/* A stray continuation byte or a cut sequence is copied byte by byte. */
	cr_assert_eq(log_json_escape(out, sizeof(out), "\xe2\x82"), 2);
}
