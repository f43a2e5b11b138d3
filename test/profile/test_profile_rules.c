/* Unit tests of the pure profile rules (common/profile.c): name rule, text
 * rules (table-driven), the fixture files under test/data/profiles, and
 * profile_check_entries without the parser. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "../test_util.h"

#ifndef PROFILE_FIXTURES
#error "PROFILE_FIXTURES must point at test/data/profiles"
#endif

/* ---- names ---- */

static const struct {
	const char *name;
	bool ok;
} name_cases[] = {
	{ "custom.a", true },
	{ "custom.0", true },
	{ "custom.ab", true },
	{ "custom.deny-write-outside-home", true },
	{ "custom.a.b_c-d", true },
	{ "custom.a--b", true },
	{ "custom.a..b", true },
	{ "custom.9lives", true },
	/* 63 characters exactly */
	{ "custom.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123", true },
	/* 64 */
	{ "custom.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz01234", false },
	{ "custom.", false },
	{ "custom", false },
	{ "", false },
	{ "custom.-a", false },
	{ "custom.a-", false },
	{ "custom.a.", false },
	{ "custom._a", false },
	{ "custom.a_", false },
	/* Upper case: label names allow it, and so do kapparmor's profiles. */
	{ "custom.A", true },
	{ "custom.aB", true },
	{ "custom.myValidProfile", true },
	{ "custom.Z9-x.Y_z", true },
	{ "custom.-A", false },
	{ "custom.A_", false },
	{ "Custom.a", false },
	{ "customx.a", false },
	{ "custom..a", false },
	{ "custom.a b", false },
	{ "custom.a/b", false },
	{ "custom.a:b", false },
	{ "custom.a\nb", false },
	{ "custom.é", false },
	{ "other.a", false },
	{ "/usr/bin/foo", false },
	{ "custom.a*", false },
};

Test(profile_name, table)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++)
		cr_expect_eq(contract_profile_name_valid(name_cases[i].name), name_cases[i].ok, "name %s: expected %s",
			     name_cases[i].name, name_cases[i].ok ? "valid" : "invalid");
}

Test(profile_name, null_is_invalid)
{
	cr_assert_not(contract_profile_name_valid(NULL));
}

/* ---- text rules ---- */

static const struct {
	const char *key;
	const char *text;
	const char *expect; /* NULL = accepted; else a substring of the message */
} text_cases[] = {
	/* accepted */
	{ "custom.a", "profile custom.a {\n}\n", NULL },
	{ "custom.a", "profile custom.a{\n}\n", NULL },
	{ "custom.a", "profile custom.a { /x r, }", NULL },
	{ "custom.a", "profile custom.a {}", NULL },
	{ "custom.a", "profile custom.a {\n owner {}\n}", NULL },
	{ "custom.a", "profile custom.a flags=(complain) {\n}\n", NULL },
	{ "custom.a", "profile custom.a flags = (complain, attach_disconnected) {\n}\n", NULL },
	{ "custom.a", "profile custom.a (complain) {\n}\n", NULL },
	{ "custom.a", "profile \"custom.a\" {\n}\n", NULL },
	{ "custom.a",
	  "abi <abi/3.0>,\ninclude <tunables/global>\nprofile custom.a {\n include <abstractions/base>\n}\n", NULL },
	{ "custom.a", "#include <tunables/global>\nprofile custom.a {\n #include <abstractions/base>\n}\n", NULL },
	{ "custom.a", "include if exists <x>\nprofile custom.a {\n include if exists <local/custom.a>\n}\n", NULL },
	{ "custom.a", "#include if exists <x>\nprofile custom.a {\n}\n", NULL },
	{ "custom.a", "include\t<x> # trailing comment\nprofile custom.a {\n}\n", NULL },
	{ "custom.a", "@{HOME}=/home/*/ /root/\n@{X}+=/a {b,c}\n$b = true\nprofile custom.a {\n @{HOME}/** rw,\n}\n",
	  NULL },
	{ "custom.a", "# profile custom.b {\n# ^hat {\n# include \"/x\"\nprofile custom.a {\n # profile x {\n}\n",
	  NULL },
	{ "custom.a", "# include </etc/shadow> is a comment: '# include' is not '#include'\nprofile custom.a {\n}\n",
	  NULL },
	{ "custom.a", "profile custom.a {\n /{usr/,}bin/{a,b{c,d}} rix,\n @{PROC}/@{pid}/{stat,status} r,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n {/usr,}/bin/x rix,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n \"/a b/{x,y}\" r,\n \"/c/\\{\" r,\n \"}\" r,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n owner {\n  /x rw,\n }\n audit {\n  /y r,\n }\n audit owner {\n }\n}\n",
	  NULL },
	{ "custom.a", "profile custom.a {\n if $b {\n  /x r,\n } else {\n  /y r,\n }\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n signal (send) set=(term, kill) peer=custom.a,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n change_profile -> ^foo,\n /x/^y r,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n}\n# after\n\n", NULL },
	{ "custom.a", "profile custom.a {\r\n /x r,\r\n}\r\n", NULL },
	{ "custom.a", "profile custom.a {\n /foo#bar r,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n/x r, /y r,\n/z r,}\n", NULL },
	/* name */
	{ "custom.a", "profile custom.b {\n}\n",
	  "custom.a: line 1: profile declares \"custom.b\"; the profile name must equal the key" },
	{ "custom.a", "profile custom.ab {\n}\n", "profile declares \"custom.ab\"" },
	{ "custom.a", "profile custom {\n}\n", "profile declares \"custom\"" },
	{ "custom.a", "profile \"custom.b\" {\n}\n", "profile declares \"custom.b\"" },
	{ "custom.a", "profile {\n}\n", "must be followed by the profile name" },
	{ "custom.a", "profile custom.a\x01 {\n}\n", "profile declares \"custom.a?\"" },
	/* not a `profile <key>` header */
	{ "custom.a", "custom.a {\n}\n", "profile \"custom.a\" must be declared as `profile custom.a" },
	{ "custom.a", "/usr/bin/a {\n}\n", "must be declared as `profile custom.a" },
	{ "custom.a", ":ns:custom.a {\n}\n", "must be declared as" },
	{ "custom.a", "profile custom.a /usr/bin/a {\n}\n", "attachment \"/usr/bin/a\" is not allowed" },
	{ "custom.a", "profile custom.a @{bin}/a {\n}\n", "attachment \"@{bin}/a\" is not allowed" },
	{ "custom.a", "profile custom.a \"/usr/bin/a b\" {\n}\n", "attachment" },
	{ "custom.a", "profile custom.a flags {\n}\n", "expected `flags=(...)`" },
	{ "custom.a", "profile custom.a xattrs=(user.x=1) {\n}\n", "header option \"xattrs\" is not allowed" },
	{ "custom.a", "profile custom.a flags=complain {\n}\n", "expected `flags=(...)`" },
	{ "custom.a", "profile custom.a flags=(complain {\n}\n", "malformed flags list" },
	{ "custom.a", "profile custom.a flags=(complain)\n/x r,\n", "expected `{`" },
	/* exactly one */
	{ "custom.a", "", "no profile declared" },
	{ "custom.a", "# nothing\n", "no profile declared" },
	{ "custom.a", "include <tunables/global>\n", "no profile declared" },
	{ "custom.a", "profile custom.a {\n}\nprofile custom.a {\n}\n", "line 3: a second top-level profile" },
	{ "custom.a", "profile custom.a {\n}\n/x {\n}\n", "must be declared as" },
	{ "custom.a", "profile custom.a {\n", "the profile opened at line 1 is not closed" },
	{ "custom.a", "profile custom.a {\n owner {\n}\n", "not closed" },
	{ "custom.a", "profile custom.a {\n}\n}\n", "line 3: unbalanced `}`" },
	{ "custom.a", "}\n", "unbalanced `}`" },
	{ "custom.a", "{\n}\n", "unexpected `{`" },
	{ "custom.a", "profile custom.a {\n \"/x r,\n}\n", "unterminated string" },
	/* hats and children */
	{ "custom.a", "profile custom.a {\n ^h {\n }\n}\n",
	  "line 2: hat \"^h\" is not allowed (no hats or child profiles)" },
	{ "custom.a", "profile custom.a {\n ^h{\n }\n}\n", "hat \"^h\" is not allowed" },
	{ "custom.a", "profile custom.a {\n hat h {\n }\n}\n", "hat \"h\" is not allowed" },
	{ "custom.a", "profile custom.a {\n /x r,\n  profile inner {\n }\n}\n",
	  "line 3: child profile \"inner\" is not allowed" },
	{ "custom.a", "profile custom.a {\n profile custom.a//x flags=(complain) {\n }\n}\n",
	  "child profile \"custom.a//x\"" },
	{ "custom.a", "profile custom.a {\n owner {\n  profile x {\n  }\n }\n}\n", "child profile \"x\"" },
	{ "custom.a", "profile custom.a {\n /usr/bin/x {\n }\n}\n",
	  "nested block \"/usr/bin/x ... {\" is not allowed" },
	{ "custom.a", "profile custom.a {\n /usr/bin/x cx -> y, y {\n }\n}\n", "nested block \"y ... {\"" },
	{ "custom.a", "^h {\n}\n", "hat \"^h\" is not allowed" },
	{ "custom.a", "hat h {\n}\n", "hat \"h\" is not allowed" },
	/* includes */
	{ "custom.a", "profile custom.a {\n include \"abstractions/base\"\n}\n",
	  "line 2: quoted include paths are not allowed" },
	{ "custom.a", "profile custom.a {\n #include \"/etc/x\"\n}\n", "quoted include paths are not allowed" },
	{ "custom.a", "include if exists \"/etc/x\"\nprofile custom.a {\n}\n", "line 1: quoted include paths" },
	{ "custom.a", "profile custom.a {\n include /etc/apparmor.d/abstractions/base\n}\n",
	  "absolute include paths are not allowed" },
	{ "custom.a", "profile custom.a {\n include </etc/shadow>\n}\n",
	  "absolute include paths are not allowed (</etc/shadow>)" },
	{ "custom.a", "profile custom.a {\n include if exists </etc/shadow>\n}\n", "absolute include paths" },
	{ "custom.a", "profile custom.a {\n include <../x>\n}\n", "leaves the include directories" },
	{ "custom.a", "profile custom.a {\n include <a/../../x>\n}\n", "leaves the include directories" },
	{ "custom.a", "profile custom.a {\n include <a/..>\n}\n", "leaves the include directories" },
	{ "custom.a", "profile custom.a {\n include <>\n}\n", "empty include path" },
	{ "custom.a", "profile custom.a {\n include <a\n}\n", "missing '>'" },
	{ "custom.a", "profile custom.a {\n include <a b>\n}\n", "malformed include path" },
	{ "custom.a", "profile custom.a {\n include <a> /x r,\n}\n", "unexpected text after include" },
	{ "custom.a", "profile custom.a {\n include abstractions/base\n}\n", "malformed include" },
	{ "custom.a", "profile custom.a {\n include if <x>\n}\n", "malformed include" },
	{ "custom.a", "profile custom.a {\n include if exists\n}\n", "malformed include" },
	{ "custom.a", "profile custom.a {\n include\n}\n", "malformed include" },
	/* apparmor_parser reads "#include" + anything as an include */
	{ "custom.a", "profile custom.a {\n #includex <y>\n}\n", "malformed include" },
	{ "custom.a", "profile custom.a {\n #include/etc/shadow\n}\n", "absolute include paths are not allowed" },
	{ "custom.a", "profile custom.a {\n #include\"x\"\n}\n", "quoted include paths" },
	{ "custom.a", "profile custom.a {\n #includes are nice\n}\n", "malformed include" },
	{ "custom.a", "profile custom.a {\n #include\n</etc/shadow>\n}\n", "malformed include" },
	{ "custom.a", "profile custom.a {\n /x r, #include </etc/shadow>\n}\n", "absolute include paths" },
	{ "custom.a", "profile custom.a {\n /x r,#include </etc/shadow>\n}\n", "absolute include paths" },
	{ "custom.a", "abi <abi/3.0>, #include </etc/shadow>\nprofile custom.a {\n}\n", "absolute include paths" },
	{ "custom.a", "@{X}=/a\\\n#include </etc/shadow>\nprofile custom.a {\n}\n", "line 2: absolute include paths" },
	{ "custom.a", "profile custom.a {\n # #include </etc/shadow>\n ##include </etc/shadow>\n}\n", NULL },
	/* an escaped quote does not open a string that could hide an include or a hat */
	{ "custom.a", "profile custom.a {\n /x\\\"y r,\n #include </etc/shadow>\n /z\" r,\n}\n",
	  "absolute include paths" },
	{ "custom.a", "profile custom.a {\n /x\\\"y r,\n ^hat {\n }\n /z\" r,\n}\n", "hat \"^hat\"" },
	{ "custom.a", "profile custom.a {\n \"/x\\\" r,\n #include </etc/shadow>\n /z\" r,\n}\n", NULL },
	{ "custom.a", "profile custom.a {\n /x\\{ r,\n /y\\ z r,\n}\n", NULL },
	/* stray commas do not hide a hat */
	{ "custom.a", "profile custom.a {\n /x r,, ^hat {\n }\n}\n", "hat \"^hat\"" },
	{ "custom.a", "profile custom.a {\n , profile x {\n }\n}\n", "child profile \"x\"" },
	/* other */
	{ "custom.a", "profile custom.a {\n}\n\0", "NUL byte" },
};

Test(profile_text, table)
{
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		ag_err err;
		const char *t = text_cases[i].text;
		/* the NUL case keeps its embedded byte */
		size_t len = strlen(t) + (strstr(text_cases[i].expect ? text_cases[i].expect : "", "NUL") ? 1 : 0);
		int rc;

		err_clear(&err);
		rc = profile_check_text(text_cases[i].key, t, len, 0, &err);
		if (!text_cases[i].expect) {
			cr_expect_eq(rc, 0, "case %zu should pass: %s\n--- text ---\n%s", i, err.msg, t);
		} else {
			cr_expect_eq(rc, -1, "case %zu should fail (%s)\n--- text ---\n%s", i, text_cases[i].expect, t);
			cr_expect(strstr(err.msg, text_cases[i].expect) != NULL, "case %zu: message [%s] lacks [%s]", i,
				  err.msg, text_cases[i].expect);
			cr_expect(strncmp(err.msg, "custom.a: ", 10) == 0,
				  "case %zu: message [%s] does not name the key", i, err.msg);
		}
	}
}

Test(profile_text, size_limit)
{
	ag_err err;
	const char *head = "profile custom.big {\n";
	size_t max = 4096;
	size_t len = max + 1;
	char *t = malloc(len + 1);

	cr_assert(t);
	memset(t, ' ', len);
	memcpy(t, head, strlen(head));
	t[len - 1] = '}';
	t[len] = '\0';
	err_clear(&err);
	cr_assert_eq(profile_check_text("custom.big", t, len, max, &err), -1);
	cr_assert_str_eq(err.msg, "custom.big: profile is 4097 bytes; the limit is 4096 bytes");
	/* exactly at the limit is fine */
	t[len - 2] = '}';
	cr_assert_eq(profile_check_text("custom.big", t, len - 1, max, &err), 0, "%s", err.msg);
	free(t);
}

Test(profile_text, default_size_limit)
{
	ag_err err;
	size_t len = CONTRACT_PROFILE_MAX_BYTES + 1;
	char *t = malloc(len);

	cr_assert(t);
	memset(t, '#', len);
	t[len - 1] = '\n';
	err_clear(&err);
	cr_assert_eq(profile_check_text("custom.big", t, len, 0, &err), -1);
	cr_assert(strstr(err.msg, "the limit is 262144 bytes"), "%s", err.msg);
	free(t);
}

Test(profile_text, null_text)
{
	ag_err err;

	err_clear(&err);
	cr_assert_eq(profile_check_text("custom.a", NULL, 0, 0, &err), -1);
	cr_assert(strstr(err.msg, "custom.a: empty profile"), "%s", err.msg);
}

/* Deep nesting and long garbage must stay linear and bounded. */
Test(profile_text, adversarial_input)
{
	ag_err err;
	size_t len = 200000;
	char *t = malloc(len);

	cr_assert(t);
	memset(t, '{', len);
	err_clear(&err);
	cr_assert_eq(profile_check_text("custom.a", t, len, 0, &err), -1);
	memset(t, '"', len);
	cr_assert_eq(profile_check_text("custom.a", t, len, 0, &err), -1);
	for (size_t i = 0; i < len; i++)
		t[i] = "{a,}"[i % 4];
	cr_assert_eq(profile_check_text("custom.a", t, len, 0, &err), -1);
	/* qualifier blocks glued together: every '{' starts a blank-free run */
	memcpy(t, "profile custom.a {\n", 19);
	for (size_t i = 19; i < len; i++)
		t[i] = "owner{"[(i - 19) % 6];
	cr_assert_eq(profile_check_text("custom.a", t, len, 0, &err), -1);
	cr_assert(strstr(err.msg, "not closed"), "%s", err.msg);
	free(t);
}

/* ---- fixtures ---- */

static void check_fixture_dir(const char *sub, bool expect_ok)
{
	char dir[512];
	DIR *d;
	struct dirent *de;
	int seen = 0;

	snprintf(dir, sizeof(dir), "%s/%s", PROFILE_FIXTURES, sub);
	d = opendir(dir);
	cr_assert(d, "cannot open %s", dir);
	while ((de = readdir(d))) {
		char path[1024];
		size_t len;
		char *text;
		ag_err err;
		int rc;

		if (strncmp(de->d_name, "custom.", 7) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		text = test_read_file(path, &len);
		err_clear(&err);
		rc = profile_check_text(de->d_name, text, len, 0, &err);
		if (expect_ok || strncmp(text, "# expect-compile: ", 18) == 0) {
			cr_expect_eq(rc, 0, "%s should pass the text rules: %s", path, err.msg);
		} else {
			const char *tag = "# expect-text: ";
			char want[400];
			size_t n;

			cr_assert(strncmp(text, tag, strlen(tag)) == 0, "%s lacks a `# expect-...:` first line", path);
			n = strcspn(text + strlen(tag), "\n");
			snprintf(want, sizeof(want), "%.*s", (int)n, text + strlen(tag));
			cr_expect_eq(rc, -1, "%s should be refused", path);
			cr_expect(strstr(err.msg, want) != NULL, "%s: message [%s] lacks [%s]", path, err.msg, want);
			cr_expect(strncmp(err.msg, de->d_name, strlen(de->d_name)) == 0,
				  "%s: message [%s] lacks the key", path, err.msg);
		}
		free(text);
		seen++;
	}
	closedir(d);
	cr_assert(seen >= 4, "only %d fixtures in %s", seen, dir);
}

Test(profile_fixtures, good)
{
	check_fixture_dir("good", true);
}

Test(profile_fixtures, bad)
{
	check_fixture_dir("bad", false);
}

Test(profile_fixtures, seed_profile)
{
	size_t len;
	char *text = test_read_file(PROFILE_FIXTURES "/custom.deny-write-outside-home", &len);
	ag_err err;

	err_clear(&err);
	cr_assert(contract_profile_name_valid("custom.deny-write-outside-home"));
	cr_assert_eq(profile_check_text("custom.deny-write-outside-home", text, len, 0, &err), 0, "%s", err.msg);
	free(text);
}

/* kapparmor's public samples (test/data/profiles/kapparmor, headers say
 * where from): a kapparmor ConfigMap passes the text rules unchanged, upper
 * case name included; custom.deny-network fails only in the parser. */
Test(profile_fixtures, kapparmor_samples)
{
	static const char *const keys[] = { "custom.myValidProfile", "custom.deny-write-outside-home",
					    "custom.deny-network" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char path[512];
		size_t len;
		ag_err err;

		snprintf(path, sizeof(path), "%s/kapparmor/%s", PROFILE_FIXTURES, keys[i]);
		char *text = test_read_file(path, &len);
		err_clear(&err);
		cr_expect(contract_profile_name_valid(keys[i]), "%s", keys[i]);
		cr_expect_eq(profile_check_text(keys[i], text, len, 0, &err), 0, "%s: %s", keys[i], err.msg);
		free(text);
	}
}

/* ---- validate_all without the parser ---- */

Test(profile_check_entries, every_bad_key_gets_its_message)
{
	const char *good = "profile custom.good {\n}\n";
	const char *good2 = "profile custom.good2 {\n}\n";
	const char *wrong = "profile custom.other {\n}\n";
	profile_entry e[] = {
		{ "custom.good", good, strlen(good), false, "" },
		{ "custom.wrong", wrong, strlen(wrong), false, "" },
		{ "plain", good, strlen(good), false, "" },
		{ "custom.bad!", good, strlen(good), false, "" },
		{ "custom.good2", good2, strlen(good2), false, "" },
		{ "custom.big", good, strlen(good), false, "" },
	};
	profile_limits lim = { .max_bytes = 10, .max_count = 0 };
	ag_err cerr;
	size_t refused;

	/* only custom.big is over a 10-byte limit: check others with the default */
	err_clear(&cerr);
	lim.max_bytes = 0;
	e[5].len = CONTRACT_PROFILE_MAX_BYTES + 1; /* never read past strlen: size is checked first */
	refused = profile_check_entries(e, 6, &lim, &cerr);
	cr_assert_eq(refused, 4);
	cr_assert_eq(cerr.msg[0], '\0');
	cr_assert(e[0].ok);
	cr_assert_str_eq(e[0].message, "");
	cr_assert_not(e[1].ok);
	cr_assert(strstr(e[1].message, "custom.wrong: line 1: profile declares \"custom.other\""), "%s", e[1].message);
	cr_assert_not(e[2].ok);
	cr_assert(strstr(e[2].message, "plain: key does not start with \"custom.\""), "%s", e[2].message);
	cr_assert_not(e[3].ok);
	cr_assert(strstr(e[3].message, "custom.bad!: invalid profile name"), "%s", e[3].message);
	cr_assert(e[4].ok);
	cr_assert_not(e[5].ok);
	cr_assert(strstr(e[5].message, "custom.big: profile is 262145 bytes"), "%s", e[5].message);
}

Test(profile_check_entries, count_limit)
{
	const char *good = "profile custom.good {\n}\n";
	profile_entry e[3] = {
		{ "custom.good", good, strlen(good), true, "" },
		{ "custom.good", good, strlen(good), true, "" },
		{ "custom.good", good, strlen(good), true, "" },
	};
	profile_limits lim = { .max_count = 2 };
	ag_err cerr;

	err_clear(&cerr);
	cr_assert_eq(profile_check_entries(e, 3, &lim, &cerr), 1);
	cr_assert_str_eq(cerr.msg, "the ConfigMap holds 3 profiles; the limit is 2");
	for (int i = 0; i < 3; i++)
		cr_assert_not(e[i].ok);
	/* at the limit: fine */
	err_clear(&cerr);
	cr_assert_eq(profile_check_entries(e, 2, &lim, &cerr), 0);
	cr_assert(e[0].ok && e[1].ok);
}

Test(profile_check_entries, default_count_limit)
{
	size_t n = CONTRACT_PROFILE_MAX_COUNT + 1;
	profile_entry *e = calloc(n, sizeof(*e));
	ag_err cerr;

	cr_assert(e);
	for (size_t i = 0; i < n; i++) {
		e[i].key = "custom.x";
		e[i].text = "profile custom.x {}";
		e[i].len = strlen(e[i].text);
	}
	err_clear(&cerr);
	cr_assert_eq(profile_check_entries(e, n, NULL, &cerr), 1);
	cr_assert(strstr(cerr.msg, "the limit is 200"), "%s", cerr.msg);
	err_clear(&cerr);
	cr_assert_eq(profile_check_entries(e, n - 1, NULL, &cerr), 0);
	free(e);
}

Test(profile_check_entries, empty)
{
	ag_err cerr;

	err_clear(&cerr);
	cr_assert_eq(profile_check_entries(NULL, 0, NULL, &cerr), 0);
}
