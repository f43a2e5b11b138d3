/* Unit tests of webhook/core/jsonprune: what it keeps, and every input it must
 * hand back to the full cJSON parse (NULL) instead of deciding itself. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonprune.h"

static const jsonprune_member item_members[] = { JSONPRUNE_MEMBER("name", NULL) };
static const jsonprune_node item_node = { item_members, 1, NULL };
static const jsonprune_node items_node = { NULL, 0, &item_node };
static const jsonprune_member root_members[] = {
	JSONPRUNE_MEMBER("keep", NULL),
	JSONPRUNE_MEMBER("list", &items_node),
	JSONPRUNE_MEMBER("obj", &item_node),
};
static const jsonprune_node root_node = { root_members, 3, NULL };

/* Parses an exact-size heap copy (no NUL after it: ASan sees over-reads). */
static cJSON *prune(const char *text, bool *nul)
{
	size_t n = strlen(text);
	char *copy = malloc(n ? n : 1);
	bool dummy;
	cJSON *j;

	memcpy(copy, text, n);
	j = jsonprune_parse(copy, n, &root_node, 8, nul ? nul : &dummy);
	free(copy);
	return j;
}

static char *printed(const char *text)
{
	cJSON *j = prune(text, NULL);
	char *s;

	cr_assert_not_null(j, "refused: %s", text);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

static void expect_pruned(const char *text, const char *want)
{
	char *got = printed(text);

	cr_expect_str_eq(got, want, "for %s", text);
	free(got);
}

static void expect_refused(const char *text)
{
	cJSON *j = prune(text, NULL);

	cr_expect_null(j, "accepted: %s", text);
	cJSON_Delete(j);
}

Test(jsonprune, keeps_only_listed_members)
{
	expect_pruned("{\"skip\":{\"a\":[1,2,{\"b\":null}]},\"keep\":{\"x\":[true,false]},\"more\":\"s\"}",
		      "{\"keep\":{\"x\":[true,false]}}");
	expect_pruned(" \t\r\n{}\n ", "{}");
	expect_pruned("{\"list\":[{\"name\":\"a\",\"image\":\"i\"},7,{\"env\":[]}],\"obj\":{\"name\":\"o\",\"z\":1}}",
		      "{\"list\":[{\"name\":\"a\"},7,{}],\"obj\":{\"name\":\"o\"}}");
}

Test(jsonprune, mismatched_types_are_kept_whole)
{
	expect_pruned("{\"list\":{\"name\":1,\"y\":2},\"obj\":[1,{\"a\":2}]}",
		      "{\"list\":{\"name\":1,\"y\":2},\"obj\":[1,{\"a\":2}]}");
	expect_pruned("{\"list\":null,\"obj\":\"x\"}", "{\"list\":null,\"obj\":\"x\"}");
}

/* Duplicates stay in document order, so the first wins a lookup as in cJSON. */
Test(jsonprune, duplicates_keep_document_order)
{
	cJSON *j = prune("{\"keep\":1,\"x\":0,\"keep\":2}", NULL);

	cr_assert_not_null(j);
	cr_expect_eq(cJSON_GetObjectItemCaseSensitive(j, "keep")->valueint, 1);
	cr_expect_eq(cJSON_GetArraySize(j), 2);
	cJSON_Delete(j);
}

Test(jsonprune, skipped_parts_are_still_checked)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"skip\":}",
		"{\"skip\":[1,]}",
		"{\"skip\":{\"a\"}}",
		"{\"skip\":{\"a\":1,}}",
		"{\"skip\":tru}",
		"{\"skip\":nul}",
		"{\"skip\":01}",
		"{\"skip\":1.}",
		"{\"skip\":.5}",
		"{\"skip\":+1}",
		"{\"skip\":1e}",
		"{\"skip\":-}",
		"{\"skip\":\"abc}",
		"{\"skip\":\"\\x\"}",
		"{\"skip\":\"\\u12g4\"}",
		"{\"skip\":\"\\u12\"}",
		"{} {}",
		"{}x",
		"\xef\xbb\xbf{}", /* BOM: cJSON's business */
		"\x01{}",
		"[[[[[[[[[[]]]]]]]]]]", /* deeper than 8 */
		"{\"skip\":[[[[[[[[[]]]]]]]]]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i]);
}

/* Compact JSON takes the fast paths; whitespace between any two tokens, in
 * skipped and kept parts, must give the same tree (and none elsewhere). */
Test(jsonprune, whitespace_between_any_tokens)
{
	static const char compact[] =
		"{\"skip\":{\"a\":[1,{\"b\":null},\"s\",[]],\"c\":{}},\"keep\":{\"x\":[true,-2.5]},"
		"\"list\":[{\"name\":\"n\",\"i\":[0]},{}],\"obj\":{\"z\":false,\"name\":\"o\"}}";
	static const char *const ws[] = { " ", "\t", "\r\n", " \n\t " };
	char *want = printed(compact);

	for (size_t w = 0; w < sizeof(ws) / sizeof(ws[0]); w++) {
		char spaced[1024];
		size_t o = 0;
		bool in_str = false;

		for (const char *c = compact; *c; c++) {
			if (*c == '"')
				in_str = !in_str;
			if (!in_str && *c != '"' && strchr("{}[]:,", *c)) {
				o += (size_t)snprintf(spaced + o, sizeof(spaced) - o, "%s%c%s", ws[w], *c, ws[w]);
				continue;
			}
			spaced[o++] = *c;
		}
		spaced[o] = '\0';
		expect_pruned(spaced, want);
	}
	free(want);
	expect_refused("{\"skip\":[1 2]}");
	expect_refused("{\"skip\":{\"a\" \"b\":1}}");
	expect_refused("{\"skip\":{\"a\":1 \"b\":2}}");
	expect_refused("{\"skip\":[1 , ]}");
	expect_refused("{\"skip\":{ , }}");
	expect_refused("{\"skip\":t rue}");
	expect_refused("{\"skip\":[\"a\" x]}");
	expect_refused("{\"skip\":\f1}"); /* form feed is no JSON whitespace */
}

/* What cJSON treats its own way goes back to cJSON. */
Test(jsonprune, cjson_corner_cases_go_back)
{
	/* surrogates, valid pair or not */
	expect_refused("{\"skip\":\"\\ud83d\\ude00\"}");
	expect_refused("{\"skip\":\"\\udc00\"}");
	/* a 64-character number: cJSON reads only 63 */
	expect_refused("{\"skip\":1234567890123456789012345678901234567890123456789012345678901234}");
	/* an escaped name might spell a kept one */
	expect_refused("{\"k\\u0065ep\":1}");
}

Test(jsonprune, accepted_corner_cases)
{
	bool nul = true;
	cJSON *j;

	j = prune("{\"keep\":123456789012345678901234567890123456789012345678901234567890123}", NULL);
	cr_expect(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "keep")));
	cJSON_Delete(j);
	expect_pruned("{\"skip\":{\"s\\u0041\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"},\"keep\":-0.5E+3}", "{\"keep\":-500}");
	/* raw control bytes in strings: cJSON takes them, so does the scan */
	expect_pruned("{\"skip\":\"a\tb\",\"keep\":\"c\"}", "{\"keep\":\"c\"}");
	j = prune("{\"keep\":\"x\"}", &nul);
	cr_expect_not(nul);
	cJSON_Delete(j);
	j = prune("{\"skip\":\"a\\u0000b\"}", &nul);
	cr_assert_not_null(j);
	cr_expect(nul);
	cJSON_Delete(j);
}

/* Strings longer than a SIMD block, with the stop byte at every offset. */
Test(jsonprune, long_strings_at_every_offset)
{
	char text[200];

	for (int len = 0; len < 70; len++) {
		for (int esc = 0; esc < 2; esc++) {
			char *got;
			int n = snprintf(text, sizeof(text), "{\"skip\":\"");

			for (int i = 0; i < len; i++)
				text[n++] = (char)('a' + i % 26);
			if (esc)
				n += snprintf(text + n, sizeof(text) - (size_t)n, "\\\"");
			snprintf(text + n, sizeof(text) - (size_t)n, "\",\"keep\":%d}", len);
			got = printed(text);
			cr_expect(strstr(got, "\"keep\":") != NULL, "%s", text);
			free(got);
		}
	}
}

/* Kept numbers are built without cJSON's parse: the same double (bit for
 * bit) and the same saturated valueint as its parse gives. */
Test(jsonprune, numbers_as_cjson_parses_them)
{
	static const char *const nums[] = {
		"0", "-0", "1", "-1", "1000", "3607", "0.5", "-0.5E+3", "1e308", "1e309", "-1e309", "2147483647",
		"2147483648", "-2147483648", "-2147483649", "4.9e-324", "123456789012345678901234567890",
		"0.1000000000000000055511151231257827021181583404541015625", "999999999999999", "-999999999999999",
		"9999999999999999", "9007199254740993", "-0.0", "1E2", "120",
	};

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char text[256];
		cJSON *j;
		cJSON *full;
		const cJSON *a;
		const cJSON *b;

		snprintf(text, sizeof(text), "{\"keep\":%s,\"obj\":{\"name\":[%s]}}", nums[i], nums[i]);
		j = prune(text, NULL);
		full = cJSON_Parse(text);
		cr_assert_not_null(j, "%s", text);
		cr_assert_not_null(full);
		a = cJSON_GetObjectItemCaseSensitive(full, "keep");
		b = cJSON_GetObjectItemCaseSensitive(j, "keep");
		cr_assert(cJSON_IsNumber(b), "%s", text);
		cr_expect(memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) == 0, "%s", text);
		cr_expect_eq(a->valueint, b->valueint, "%s", text);
		a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(full, "obj"), "name")->child;
		b = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "obj"), "name")->child;
		cr_expect(memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) == 0, "%s", text);
		cJSON_Delete(j);
		cJSON_Delete(full);
	}
}

/* The scan finds string ends a 64-byte block at a time: names, values and
 * escapes on both sides of every block edge, and in the short last block. */
Test(jsonprune, strings_across_block_edges)
{
	char text[256];

	for (int pad = 0; pad < 70; pad++) {
		char *got;
		int n = 0;

		for (int i = 0; i < pad; i++)
			text[n++] = ' ';
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "{\"skip\":{\"aaaaaaaaaaaaa\":\"b\\\"bbbbbbbbbbb\",\"c\":[\"dddddddddd\",\"\\\\\",\"\"]},"
			      "\"keep\":\"v%d\",\"skip2\":\"eeeeeeeeeeeeeeeeeeeeeeeee\"}",
			      pad);
		got = printed(text);
		snprintf(text, sizeof(text), "{\"keep\":\"v%d\"}", pad);
		cr_expect_str_eq(got, text);
		free(got);
	}
}
