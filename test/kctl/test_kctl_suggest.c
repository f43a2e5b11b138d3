/* kctl_suggest: `kubectl armorgate suggest` on Node lists like those the API
 * server returns, with armorgate.io/observed annotations as the agents write
 * them (DESIGN.md "Operator tools"). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kctl_suggest.h"

/* A Node named name (boot b1) whose observed annotation is the JSON text obs. */
static cJSON *node(const char *name, const char *obs)
{
	cJSON *n = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(n, "metadata");
	cJSON *ni = cJSON_AddObjectToObject(cJSON_AddObjectToObject(n, "status"), "nodeInfo");

	cJSON_AddStringToObject(md, "name", name);
	if (obs)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "annotations"), KCTL_ANNOTATION_OBSERVED, obs);
	cJSON_AddStringToObject(ni, "bootID", "b1");
	return n;
}

static cJSON *list(void)
{
	cJSON *l = cJSON_CreateObject();

	cJSON_AddArrayToObject(l, "items");
	return l;
}

static void add(cJSON *l, cJSON *n)
{
	cJSON_AddItemToArray(cJSON_GetObjectItem(l, "items"), n);
}

/* Renders and frees l; the caller frees the text. */
static char *render(cJSON *l, const char *profile, bool *found)
{
	buf b;

	buf_init(&b, 16u << 20);
	cr_assert_eq(kctl_suggest(l, profile, &b, found), 0);
	cJSON_Delete(l);
	return buf_steal(&b);
}

#define OBS1                                                                                                                \
	"{\"bootID\":\"b1\",\"observedAt\":\"2026-12-07T23:00:00Z\",\"profiles\":{\"custom.learn\":{\"mode\":\"complain\"," \
	"\"files\":{\"/etc/passwd\":\"r\",\"/tmp/out\":\"wc\",\"/var/log/app.log\":\"a\",\"/bin/busybox\":\"mrx\"},"        \
	"\"capabilities\":[\"net_raw\"],\"network\":[\"inet stream\"],\"exec\":[\"/bin/cat\"],\"truncated\":false},"        \
	"\"custom.other\":{\"mode\":\"enforce\",\"files\":{\"/secret\":\"r\"}}}}"
#define OBS2                                                                                                                \
	"{\"bootID\":\"b1\",\"observedAt\":\"2026-12-07T23:00:05Z\",\"profiles\":{\"custom.learn\":{\"mode\":\"complain\"," \
	"\"files\":{\"/etc/passwd\":\"k\",\"/tmp/out\":\"d\",\"/var/log/app.log\":\"ac\",\"/etc/group\":\"r\"},"            \
	"\"capabilities\":[\"net_raw\",\"chown\"],\"network\":[\"inet stream\",\"netlink raw\"],\"truncated\":false}}}"

Test(kctl_suggest, merges_nodes_into_sorted_rules)
{
	cJSON *l = list();
	bool found;
	char *s;

	add(l, node("node-1", OBS1));
	add(l, node("node-2", OBS2));
	add(l, node("node-3", NULL));
	s = render(l, "custom.learn", &found);
	cr_expect(found);
	cr_expect(strstr(s, "from 2 of 3 nodes:\n") != NULL, "%s", s);
	cr_expect(strstr(s,
			 "#   node-1: complain mode, at 2026-12-07T23:00:00Z; 4 files, 1 exec, 1 capabilities, "
			 "1 network\n") != NULL,
		  "%s", s);
	/* c/d -> w, a dropped beside w, letters in m r w a l k order, sorted,
	 * each path once; exec after the plain file rules. */
	cr_expect(strstr(s,
			 "profiles ConfigMap.\n"
			 "  /etc/group r,\n"
			 "  /etc/passwd rk,\n"
			 "  /tmp/out w,\n"
			 "  /var/log/app.log w,\n"
			 "  # exec: ix runs the program under this same profile;") != NULL,
		  "%s", s);
	cr_expect(strstr(s,
			 "own\n  /bin/busybox mrix,\n  /bin/cat ix,\n"
			 "  capability chown,\n  capability net_raw,\n"
			 "  network inet stream,\n  network netlink raw,\n") != NULL,
		  "%s", s);
	cr_expect(strstr(s, "/secret") == NULL, "another profile's observations leaked: %s", s);
	cr_expect(strstr(s, "profile custom.learn flags=(complain) {   ->   profile custom.learn {") != NULL, "%s", s);
	cr_expect(strstr(s, "TRUNCATED") == NULL && strstr(s, "WARNING") == NULL && strstr(s, "enforce mode:") == NULL,
		  "%s", s);
	free(s);
}

Test(kctl_suggest, append_alone_stays_append)
{
	cJSON *l = list();
	bool found;
	char *s;

	add(l, node("n", "{\"profiles\":{\"custom.a\":{\"mode\":\"complain\",\"files\":{\"/log\":\"a\"}}}}"));
	s = render(l, "custom.a", &found);
	cr_expect(strstr(s, "\n  /log a,\n") != NULL, "%s", s);
	free(s);
}

Test(kctl_suggest, warns_truncated_enforce_stale)
{
	cJSON *l = list();
	bool found;
	char *s;

	add(l,
	    node("n1",
		 "{\"bootID\":\"old\",\"observedAt\":\"\\n  /** rwx,\",\"profiles\":{\"custom.p\":{\"mode\":\"enforce\",\"files\":"
		 "{\"/x\":\"r\"},\"truncated\":true}}}"));
	add(l,
	    node("n2",
		 "{\"bootID\":\"b1\",\"profiles\":{\"custom.p\":{\"mode\":\"complain\",\"files\":"
		 "{\"/y\":\"r\"}}}}"));
	s = render(l, "custom.p", &found);
	cr_expect(strstr(s,
			 "#   n1: enforce mode, at ???????????; 1 files, 0 exec, 0 capabilities, 0 network; TRUNCATED; "
			 "from before its last boot\n") != NULL,
		  "%s", s);
	cr_expect(strstr(s, "# WARNING: 1 node(s) hit the agent's size bound") != NULL, "%s", s);
	cr_expect(strstr(s, "# NOTE: on 1 node(s) custom.p was (also) in enforce mode") != NULL, "%s", s);
	cr_expect(strstr(s, "  /x r,\n  /y r,\n") != NULL, "%s", s);
	free(s);
}

Test(kctl_suggest, nothing_observed)
{
	cJSON *l = list();
	bool found = true;
	char *s;

	add(l, node("n1", OBS1));
	add(l, node("n2", NULL));
	s = render(l, "custom.none", &found);
	cr_expect(!found);
	cr_expect(strncmp(s, "No observations of custom.none on any of 2 nodes", 48) == 0, "%s", s);
	free(s);
	s = render(list(), "custom.none", &found);
	cr_expect(!found && strstr(s, "any of 0 nodes") != NULL, "%s", s);
	free(s);
}

static char *path(const char *p)
{
	buf b;

	buf_init(&b, 1u << 16);
	cr_assert_eq(kctl_suggest_path(&b, p), 0);
	return buf_steal(&b);
}

Test(kctl_suggest, path_escaping)
{
	static const char *const cases[][2] = {
		{ "/etc/shadow", "/etc/shadow" },
		{ "/tmp/with space", "\"/tmp/with space\"" },
		{ "/a*b?c[d]e{f}g^h,i\\j", "/a\\*b\\?c\\[d\\]e\\{f\\}g\\^h\\,i\\\\j" },
		{ "/at@{HOME}", "/at@\\{HOME\\}" },
		{ "/q\"uote", "\"/q\\\"uote\"" },
		{ "/hash#x", "\"/hash#x\"" },
		{ "/bang!x", "\"/bang!x\"" },
		{ "/nl\nx", "\"/nl\\012x\"" },
		{ "/tab\tx", "\"/tab\\011x\"" },
		{ "/caf\xc3\xa9", "\"/caf\\303\\251\"" },
		{ "/del\x7f", "\"/del\\177\"" },
		{ "/a->b", "/a->b" },
		{ "/x r,\n  /** rwx", "\"/x r\\,\\012  /\\*\\* rwx\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = path(cases[i][0]);

		cr_expect_str_eq(s, cases[i][1], "path %zu", i);
		free(s);
	}
}

Test(kctl_suggest, hostile_entries_skipped)
{
	cJSON *l = list();
	bool found;
	char *s;

	add(l,
	    node("n1",
		 "{\"profiles\":{\"custom.p\":{\"mode\":\"complain\",\"files\":{\"relative\":\"r\","
		 "\"/ok\":\"r\",\"/nomask\":\"\",\"/badmask\":\"QZ\",\"/num\":7},"
		 "\"capabilities\":[\"net_raw,\\n  /** rwx\",\"SYS_ADMIN\",7,\"\"],"
		 "\"network\":[\"inet  stream\",\"inet stream dgram\",\"inet\",\"unix stream\"],"
		 "\"exec\":[\"bin/x\",5]}}}"));
	add(l, node("n2", "{\"profiles\":{\"custom.p\":{\"files\":{\"/cut\\u0000/etc\":\"r\"}}}}"));
	add(l, node("n3", "not json"));
	add(l, node("n4", "{\"profiles\":[1,2]}"));
	s = render(l, "custom.p", &found);
	cr_expect(found);
	cr_expect(strstr(s, "  /ok r,\n  network inet,\n  network unix stream,\n") != NULL, "%s", s);
	cr_expect(strstr(s, "/cut") == NULL && strstr(s, "rwx") == NULL && strstr(s, "capability") == NULL, "%s", s);
	cr_expect(strstr(s, "# Skipped: 12 observations that are not absolute paths or valid names, 3 nodes") != NULL,
		  "%s", s);
	free(s);
}

Test(kctl_suggest, tolerates_garbage_lists)
{
	static const char *const inputs[] = {
		"{}",
		"{\"items\":7}",
		"{\"items\":[1,\"x\",null,{}]}",
		"{\"items\":[{\"metadata\":{\"annotations\":{\"armorgate.io/observed\":7}}}]}",
		"{\"items\":[{\"metadata\":{\"annotations\":{\"armorgate.io/observed\":\"{\\\"profiles\\\":"
		"{\\\"custom.p\\\":{\\\"files\\\":[1],\\\"exec\\\":{},\\\"mode\\\":7}}}\"}}}]}",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		cJSON *l = cJSON_Parse(inputs[i]);
		bool found;

		cr_assert_not_null(l);
		free(render(l, "custom.p", &found));
	}
}

/* More distinct paths than the bound, from three nodes (enough for the
 * merge to compact on the way): the output stops at the bound and says how
 * many were left out. */
Test(kctl_suggest, bounded_rules)
{
	cJSON *l = list();
	bool found;
	size_t rules = 0;
	char *s;

	for (int k = 0; k < 3; k++) {
		cJSON *o = cJSON_CreateObject();
		cJSON *files = cJSON_AddObjectToObject(
			cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "profiles"), "custom.big"), "files");
		char p[32];
		char *text;

		for (int i = 0; i < KCTL_SUGGEST_RULES_MAX * 3 / 4; i++) {
			snprintf(p, sizeof(p), "/f/%d/%06d", k, i);
			cJSON_AddStringToObject(files, p, "r");
		}
		text = cJSON_PrintUnformatted(o);
		snprintf(p, sizeof(p), "n%d", k);
		add(l, node(p, text));
		free(text);
		cJSON_Delete(o);
	}
	s = render(l, "custom.big", &found);
	for (const char *p = strstr(s, "\n  /f/"); p; p = strstr(p + 1, "\n  /f/"))
		rules++;
	cr_expect_eq(rules, KCTL_SUGGEST_RULES_MAX);
	cr_expect(strstr(s, "# WARNING: more distinct rules were observed than the 20000 printed (25000 left out).") !=
			  NULL,
		  "%.2000s", s);
	free(s);
}
