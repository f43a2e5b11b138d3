/* Golden AdmissionReviews: test/data/admission/<op>-<case>.json in (op is
 * "mutate" or "validate"; "validate-warn-" and "validate-off-" run with that
 * enforcement mode), <case>.expected.json out:
 *   {"httpStatus": N, "verdict": "...", "response": <AdmissionReview with
 *    the patch base64-decoded into a JSON array>}  or  {..., "text": "..."}
 * For patch answers the patch is applied to request.object by a real RFC
 * 6902 implementation (kubectl patch --local --type=json, run through
 * common/run.h) and compared with <case>.pod.json; then the patched pod is
 * mutated again, which must yield no patch (reinvocation-safe).
 * Nodes: test/data/admission/nodes.json (a NodeList).
 * ARMORGATE_GOLDEN_UPDATE=1 rewrites the expected files (review the diff!). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admission.h"
#include "buf_file.h"
#include "jsonarena.h"
#include "run.h"

static const char *golden_dir(void)
{
	const char *d = getenv("ARMORGATE_GOLDEN_DIR");

	return d ? d : "test/data/admission";
}

/* NULL when the file is missing or unreadable (an expected file may not exist yet). */
static char *slurp(const char *path, size_t *len)
{
	char *t = NULL;
	ag_err e;

	return buf_read_file_dup(path, 16u << 20, &t, len, &e) == 0 ? t : NULL;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "cannot write %s", path);
	fputs(text, f);
	fputc('\n', f);
	fclose(f);
}

static cJSON *load_json(const char *path)
{
	char *t = slurp(path, NULL);
	cJSON *j = t ? cJSON_Parse(t) : NULL;

	free(t);
	return j;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static char *b64dec(const char *s)
{
	size_t n = strlen(s);
	char *out = calloc(n / 4 * 3 + 4, 1);
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	cr_assert_eq(n % 4, 0, "base64 length %zu", n);
	for (size_t i = 0; i < n && s[i] != '='; i++) {
		int v = b64val(s[i]);

		cr_assert_geq(v, 0, "bad base64 char");
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	return out;
}

/* The webhook's own allocation path (jsonarena.h), as main sets it up. */
__attribute__((constructor)) static void golden_arena_install(void)
{
	jsonarena_install();
}

/* {"httpStatus","verdict","response"|"text"}; *patch_out gets the decoded patch text. */
static cJSON *result_json(const admission_result *r, char **patch_out)
{
	cJSON *j = cJSON_CreateObject();

	*patch_out = NULL;
	cJSON_AddNumberToObject(j, "httpStatus", r->http_status);
	cJSON_AddStringToObject(j, "verdict", admission_verdict_name(r->verdict));
	if (r->http_status == 200) {
		cJSON *resp = cJSON_Parse(buf_cstr(&r->body));
		cJSON *inner;
		cJSON *patch;

		cr_assert_not_null(resp, "response is not JSON: %s", buf_cstr(&r->body));
		cr_assert_str_eq(r->content_type, "application/json");
		inner = cJSON_GetObjectItemCaseSensitive(resp, "response");
		patch = cJSON_GetObjectItemCaseSensitive(inner, "patch");
		if (cJSON_IsString(patch)) {
			char *dec = b64dec(patch->valuestring);
			cJSON *arr = cJSON_Parse(dec);

			cr_assert_not_null(arr, "patch is not JSON: %s", dec);
			cJSON_ReplaceItemInObjectCaseSensitive(inner, "patch", arr);
			*patch_out = dec;
		}
		cJSON_AddItemToObject(j, "response", resp);
	} else {
		cJSON_AddStringToObject(j, "text", buf_cstr(&r->body));
	}
	return j;
}

static const char *kubectl_path(void)
{
	static char path[4096];
	const char *cache = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (cache && cache[0])
		snprintf(path, sizeof(path), "%s/armorgate/bin/kubectl", cache);
	else
		snprintf(path, sizeof(path), "%s/.cache/armorgate/bin/kubectl", home ? home : "/nonexistent");
	if (access(path, X_OK) == 0)
		return path;
	return "kubectl"; /* run_program looks it up in PATH */
}

/* Applies patch to obj with kubectl; NULL (test failure logged) when it fails. */
static cJSON *kubectl_patch(const cJSON *obj, const char *patch)
{
	char path[] = "/tmp/armorgate-golden-XXXXXX";
	char *text = cJSON_Print(obj);
	int fd = mkstemp(path);
	const char *argv[] = { kubectl_path(), "patch", "--local", "-f",   path, "--type=json",
			       "-p",           patch,   "-o",      "json", NULL };
	const char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", NULL };
	run_result rr;
	ag_err err;
	cJSON *out = NULL;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (run_program(argv, envp, NULL, 0, 60000, &rr, &err) != 0) {
		cr_log_warn("kubectl not runnable (%s): patch not applied", err.msg);
		run_result_cleanup(&rr);
		goto out;
	}
	if (!rr.exited || rr.status != 0)
		cr_expect(0, "kubectl patch failed (status %d): %s\npatch: %s", rr.status, buf_cstr(&rr.errout), patch);
	else
		out = cJSON_Parse(buf_cstr(&rr.out));
	run_result_cleanup(&rr);
out:
	unlink(path);
	free(text);
	return out;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

static admission_env golden_env(nodeset *ns)
{
	admission_env env;

	memset(&env, 0, sizeof(env));
	env.nodes = ns;
	env.profiles_namespace = "armorgate-system";
	env.profiles_name = "armorgate-profiles";
	/* env.compile stays NULL: deterministic; the compile gate has its own tests in test/profile */
	return env;
}

static nodeset *golden_nodes(void)
{
	char p[4096];
	cJSON *list;
	nodeset *ns = nodeset_new();

	snprintf(p, sizeof(p), "%s/nodes.json", golden_dir());
	list = load_json(p);
	cr_assert_not_null(list, "cannot read %s", p);
	nodeset_replace(ns, cJSON_GetObjectItemCaseSensitive(list, "items"));
	cJSON_Delete(list);
	return ns;
}

/* Mutating the patched pod again must change nothing. */
static void check_reinvocation(const char *name, const cJSON *review, const cJSON *pod, const admission_env *env)
{
	cJSON *again = cJSON_Duplicate(review, 1);
	cJSON *req = cJSON_GetObjectItemCaseSensitive(again, "request");
	char *text;
	admission_result r;

	cJSON_ReplaceItemInObjectCaseSensitive(req, "object", cJSON_Duplicate(pod, 1));
	text = cJSON_PrintUnformatted(again);
	admission_handle(ADMISSION_MUTATE, text, strlen(text), env, &r);
	cr_expect_eq(r.verdict, ADMISSION_VERDICT_ALLOW, "%s: second mutation was not a no-op: %s", name,
		     buf_cstr(&r.body));
	buf_cleanup(&r.body);
	free(text);
	cJSON_Delete(again);
}

static void run_case(const char *dir, const char *file, const admission_env *env, bool update, int *ncases)
{
	char in[4096], exp[4096], podp[4096], name[1024];
	size_t len = 0;
	char *body;
	char *patch = NULL;
	admission_result r;
	admission_op op;
	admission_env envm = *env;
	cJSON *got;
	cJSON *want;

	if (strncmp(file, "validate-warn-", 14) == 0)
		envm.enforcement = ADMISSION_ENFORCE_WARN;
	else if (strncmp(file, "validate-off-", 13) == 0)
		envm.enforcement = ADMISSION_ENFORCE_OFF;
	if (strncmp(file, "mutate-", 7) == 0)
		op = ADMISSION_MUTATE;
	else if (strncmp(file, "validate-", 9) == 0)
		op = ADMISSION_VALIDATE;
	else
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(strlen(file) - 5), file);
	snprintf(in, sizeof(in), "%s/%s", dir, file);
	snprintf(exp, sizeof(exp), "%s/%s.expected.json", dir, name);
	snprintf(podp, sizeof(podp), "%s/%s.pod.json", dir, name);
	body = slurp(in, &len);
	cr_assert_not_null(body, "%s", in);
	admission_handle(op, body, len, &envm, &r);
	got = result_json(&r, &patch);
	(*ncases)++;
	if (update) {
		char *t = cJSON_Print(got);

		spit(exp, t);
		free(t);
	}
	want = load_json(exp);
	cr_expect_not_null(want, "%s: missing or bad %s", name, exp);
	if (want && !cJSON_Compare(got, want, 1)) {
		char *g = cJSON_Print(got);

		cr_expect(0, "%s: response differs from %s; got:\n%s", name, exp, g);
		free(g);
	}
	if (patch) {
		cJSON *review = cJSON_ParseWithLength(body, len);
		const cJSON *obj =
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(review, "request"), "object");
		cJSON *pod = kubectl_patch(obj, patch);

		if (pod) {
			cJSON *want_pod;

			if (update) {
				char *t = cJSON_Print(pod);

				spit(podp, t);
				free(t);
			}
			want_pod = load_json(podp);
			cr_expect_not_null(want_pod, "%s: missing %s", name, podp);
			if (want_pod && !cJSON_Compare(pod, want_pod, 1)) {
				char *g = cJSON_Print(pod);

				cr_expect(0, "%s: patched pod differs from %s; got:\n%s", name, podp, g);
				free(g);
			}
			check_reinvocation(name, review, pod, env);
			cJSON_Delete(want_pod);
			cJSON_Delete(pod);
		}
		cJSON_Delete(review);
	}
	free(patch);
	cJSON_Delete(want);
	cJSON_Delete(got);
	buf_cleanup(&r.body);
	free(body);
}

Test(golden, admission_reviews, .timeout = 300)
{
	const char *dir = golden_dir();
	bool update = getenv("ARMORGATE_GOLDEN_UPDATE") && strcmp(getenv("ARMORGATE_GOLDEN_UPDATE"), "1") == 0;
	nodeset *ns = golden_nodes();
	admission_env env = golden_env(ns);
	struct dirent **list = NULL;
	int n = scandir(dir, &list, NULL, alphasort);
	int ncases = 0;

	cr_assert_geq(n, 0, "cannot read %s: %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *f = list[i]->d_name;

		if (ends_with(f, ".json") && !ends_with(f, ".expected.json") && !ends_with(f, ".pod.json"))
			run_case(dir, f, &env, update, &ncases);
		free(list[i]);
	}
	free(list);
	cr_log_info("%d golden cases", ncases);
	cr_expect_gt(ncases, 20, "too few golden cases found in %s", dir);
	nodeset_free(ns);
}
