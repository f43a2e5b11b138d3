/* Integration tests of aaparser_compile_check / aaparser_compile_entries with the
 * real apparmor_parser in compile-only mode (no kernel, no root needed). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aaparser.h"
#include "profile.h"
#include "../test_util.h"

#ifndef PROFILE_FIXTURES
#error "PROFILE_FIXTURES must point at test/data/profiles"
#endif

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(profile_compile, seed_profile_compiles)
{
	size_t len;
	char *text = test_read_file(PROFILE_FIXTURES "/custom.deny-write-outside-home", &len);
	ag_err err;
	double t0 = now_s();

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.deny-write-outside-home", text, len, NULL, &err), 0, "%s", err.msg);
	fprintf(stderr, "compile check of the seed profile: %.1f ms\n", (now_s() - t0) * 1000.0);
	free(text);
}

Test(profile_compile, good_fixtures_compile)
{
	DIR *d = opendir(PROFILE_FIXTURES "/good");
	struct dirent *de;
	int seen = 0;

	cr_assert(d);
	while ((de = readdir(d))) {
		char path[1024];
		size_t len;
		char *text;
		ag_err err;

		if (strncmp(de->d_name, "custom.", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/good/%s", PROFILE_FIXTURES, de->d_name);
		text = test_read_file(path, &len);
		err_clear(&err);
		cr_expect_eq(aaparser_compile_check(de->d_name, text, len, NULL, &err), 0, "%s: %s", path, err.msg);
		free(text);
		seen++;
	}
	closedir(d);
	cr_assert(seen >= 4);
}

/* Fixtures whose first line is `# expect-compile: MSG` pass the text rules
 * and fail in the parser with MSG in the message. */
Test(profile_compile, bad_fixtures_fail_with_key_and_reason)
{
	DIR *d = opendir(PROFILE_FIXTURES "/bad");
	struct dirent *de;
	int seen = 0;
	const char *tag = "# expect-compile: ";

	cr_assert(d);
	while ((de = readdir(d))) {
		char path[1024];
		char want[400];
		size_t len;
		char *text;
		ag_err err;

		if (strncmp(de->d_name, "custom.", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/bad/%s", PROFILE_FIXTURES, de->d_name);
		text = test_read_file(path, &len);
		if (strncmp(text, tag, strlen(tag)) != 0) {
			free(text);
			continue;
		}
		snprintf(want, sizeof(want), "%.*s", (int)strcspn(text + strlen(tag), "\n"), text + strlen(tag));
		err_clear(&err);
		cr_expect_eq(profile_check_text(de->d_name, text, len, 0, &err), 0, "%s: %s", path, err.msg);
		err_clear(&err);
		cr_expect_eq(aaparser_compile_check(de->d_name, text, len, NULL, &err), -1, "%s compiled", path);
		cr_expect(strstr(err.msg, want) != NULL, "%s: [%s] lacks [%s]", path, err.msg, want);
		cr_expect(strncmp(err.msg, de->d_name, strlen(de->d_name)) == 0, "%s: [%s] lacks the key", path,
			  err.msg);
		cr_expect(strstr(err.msg, "Cache read/write") == NULL, "noise in [%s]", err.msg);
		cr_expect(strstr(err.msg, "/tmp") == NULL, "temp path in [%s]", err.msg);
		free(text);
		seen++;
	}
	closedir(d);
	cr_assert(seen >= 3);
}

/* kapparmor's public samples with the real parser: its chart's profile and
 * custom.myValidProfile compile; custom.deny-network (a "positive" sample
 * there) does not, and the message names the key and the line. */
Test(profile_compile, kapparmor_samples)
{
	static const char *const good[] = { "custom.myValidProfile", "custom.deny-write-outside-home" };
	char path[512];
	size_t len;
	ag_err err;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(path, sizeof(path), "%s/kapparmor/%s", PROFILE_FIXTURES, good[i]);
		char *text = test_read_file(path, &len);
		err_clear(&err);
		cr_expect_eq(aaparser_compile_check(good[i], text, len, NULL, &err), 0, "%s: %s", good[i], err.msg);
		free(text);
	}
	char *bad = test_read_file(PROFILE_FIXTURES "/kapparmor/custom.deny-network", &len);
	err_clear(&err);
	cr_expect_eq(aaparser_compile_check("custom.deny-network", bad, len, NULL, &err), -1);
	cr_expect_str_eq(err.msg,
			 "custom.deny-network: does not compile: AppArmor parser error for custom.deny-network "
			 "in profile custom.deny-network at line 8: syntax error, unexpected TOK_CLOSE, "
			 "expecting TOK_ID or TOK_MODE or TOK_SET_VAR");
	free(bad);
}

Test(profile_compile, syntax_error_names_key_and_line)
{
	const char *t = "profile custom.syn {\n  /tmp/** rw,\n  /etc/foo rw\n}\n";
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.syn", t, strlen(t), NULL, &err), -1);
	cr_assert_str_eq(err.msg,
			 "custom.syn: does not compile: AppArmor parser error for custom.syn in profile "
			 "custom.syn at line 4: syntax error, unexpected TOK_CLOSE, expecting TOK_END_OF_RULE");
}

Test(profile_compile, missing_include)
{
	const char *t = "profile custom.inc {\n  include <abstractions/armorgate-nope>\n}\n";
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.inc", t, strlen(t), NULL, &err), -1);
	cr_assert(strstr(err.msg, "custom.inc: does not compile:"), "%s", err.msg);
	cr_assert(strstr(err.msg, "Could not open 'abstractions/armorgate-nope'"), "%s", err.msg);
}

Test(profile_compile, explicit_parser_options)
{
	const char *t = "include <tunables/global>\nprofile custom.opt {\n  include <abstractions/base>\n}\n";
	aaparser_opts o = {
		.parser_path = "/usr/sbin/apparmor_parser",
		.features_file = "/usr/share/apparmor-features/features",
		.base_dir = "/etc/apparmor.d",
		.timeout_ms = 20000,
	};
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.opt", t, strlen(t), &o, &err), 0, "%s", err.msg);
	/* a features file that does not exist */
	o.features_file = "/nonexistent/features";
	cr_assert_eq(aaparser_compile_check("custom.opt", t, strlen(t), &o, &err), -1);
	cr_assert(strstr(err.msg, "custom.opt: does not compile:"), "%s", err.msg);
}

Test(profile_compile, missing_parser)
{
	const char *t = "profile custom.x {\n}\n";
	aaparser_opts o = { .parser_path = "/nonexistent/apparmor_parser" };
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.x", t, strlen(t), &o, &err), -1);
	cr_assert(strstr(err.msg, "custom.x: cannot compile-check: cannot run /nonexistent/apparmor_parser"), "%s",
		  err.msg);
}

Test(profile_compile, parser_timeout)
{
	const char *t = "profile custom.x {\n}\n";
	/* a stand-in parser that never finishes */
	aaparser_opts o = { .parser_path = PROFILE_FIXTURES "/../../profile/hang-parser", .timeout_ms = 200 };
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.x", t, strlen(t), &o, &err), -1);
	cr_assert(strstr(err.msg, "custom.x: apparmor_parser did not finish within 200 ms"), "%s", err.msg);
}

/* The parser's own view of the names is checked too (hats brought in by an
 * include, or anything the text rules' lexer missed). */
Test(profile_compile, parser_names_must_be_exactly_the_key)
{
	const char *t = "profile custom.x {\n}\n";
	aaparser_opts o = { .parser_path = PROFILE_FIXTURES "/../../profile/names-parser" };
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.x", t, strlen(t), &o, &err), -1);
	cr_assert_str_eq(err.msg,
			 "custom.x: apparmor_parser sees profile \"custom.x//sneaky\"; exactly one profile, "
			 "\"custom.x\", without hats or child profiles is allowed (includes count too)");
}

/* What the text rules refuse, the parser would accept: the names pass is a
 * real second gate (checked with the real parser). */
Test(profile_compile, parser_names_catch_a_hat)
{
	const char *t = "profile custom.h {\n ^hat {\n }\n}\n";
	ag_err err;

	err_clear(&err);
	cr_assert_eq(aaparser_compile_check("custom.h", t, strlen(t), NULL, &err), -1);
	cr_assert(strstr(err.msg, "custom.h: apparmor_parser sees profile \"custom.h//hat\""), "%s", err.msg);
}

static void make_entries(profile_entry *e, char **texts, char (*keys)[64], size_t n, const char *seed, size_t seed_len)
{
	for (size_t i = 0; i < n; i++) {
		const char *decl = "profile custom.deny-write-outside-home ";
		const char *at = strstr(seed, decl);
		size_t cap = seed_len + 64;

		cr_assert(at);
		snprintf(keys[i], 64, "custom.p%03zu", i);
		texts[i] = malloc(cap);
		cr_assert(texts[i]);
		snprintf(texts[i], cap, "%.*sprofile %s %s", (int)(at - seed), seed, keys[i], at + strlen(decl));
		e[i].key = keys[i];
		e[i].text = texts[i];
		e[i].len = strlen(texts[i]);
		e[i].ok = false;
		e[i].message[0] = '\0';
	}
}

Test(profile_compile, validate_all_200_with_parser, .timeout = 240)
{
	enum { N = 200 };
	static profile_entry e[N];
	static char *texts[N];
	static char keys[N][64];
	size_t len;
	char *seed = test_read_file(PROFILE_FIXTURES "/custom.deny-write-outside-home", &len);
	ag_err cerr;
	double t0;
	double dt;
	size_t refused;

	make_entries(e, texts, keys, N, seed, len);
	/* two broken ones among them: each gets its own message */
	free(texts[17]);
	texts[17] = strdup("profile custom.p017 {\n  /x r\n}\n");
	e[17].text = texts[17];
	e[17].len = strlen(texts[17]);
	free(texts[150]);
	texts[150] = strdup("profile custom.p150 {\n  ^hat {\n  }\n}\n");
	e[150].text = texts[150];
	e[150].len = strlen(texts[150]);

	err_clear(&cerr);
	t0 = now_s();
	refused = profile_check_entries(e, N, NULL, &cerr);
	refused += aaparser_compile_entries(e, N, NULL);
	dt = now_s() - t0;
	fprintf(stderr,
		"profile_check_entries + aaparser_compile_entries: %d profiles with compile check in %.2f s (%.1f ms/profile)\n",
		N, dt, dt * 1000.0 / N);
	cr_assert_eq(refused, 2);
	cr_assert_not(e[17].ok);
	cr_assert(strstr(e[17].message, "custom.p017: does not compile: AppArmor parser error for custom.p017"), "%s",
		  e[17].message);
	cr_assert_not(e[150].ok);
	cr_assert(strstr(e[150].message, "custom.p150: line 2: hat \"^hat\""), "%s", e[150].message);
	for (size_t i = 0; i < N; i++) {
		if (i != 17 && i != 150)
			cr_expect(e[i].ok, "%s: %s", e[i].key, e[i].message);
		free(texts[i]);
	}
	free(seed);
}
