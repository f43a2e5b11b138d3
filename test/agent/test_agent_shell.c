/* Integration: the agent shell against the real apparmor_parser in
 * compile-only mode (-Q -K, nothing touches a kernel) and real temp dirs:
 * batched load with per-profile fallback, host file writes, the ConfigMap
 * directory reader (kubelet ..data layout, hidden entries, empty/missing). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_host.h"
#include "agent_loader.h"
#include "agent_sha256.h"
#include "agent_source.h"

static char tmpdir[64];

static void mk(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/agent-shell.XXXXXX");
	cr_assert(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *dir, const char *name, const char *text)
{
	ag_err e;
	cr_assert_eq(agent_host_write_atomic(dir, name, text, strlen(text), &e), 0, "%s", e.msg);
}

static const char *good(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "#include <tunables/global>\nprofile %s {\n  #include <abstractions/base>\n  file,\n}\n", name);
	return out;
}

TestSuite(shell, .init = mk, .fini = rm);

/* A compile-only loader over files in tmpdir (nothing touches a kernel). */
static agent_loader loader(const char *parser, long timeout_ms, bool check)
{
	agent_loader l;

	memset(&l, 0, sizeof(l));
	l.parser.parser_path = parser;
	l.parser.timeout_ms = timeout_ms;
	l.stub_dir = tmpdir;
	l.check = check;
	l.compile_only = true;
	return l;
}

/* Jobs for keys[0..n) in tmpdir, and the pointer list the loader takes. */
static void jobs_for(const char *const *keys, size_t n, agent_load_job *jobs, agent_load_job **list)
{
	for (size_t i = 0; i < n; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].key = keys[i];
		jobs[i].dir = tmpdir;
		list[i] = &jobs[i];
	}
}

Test(shell, batch_ok_and_fallback_isolates_the_bad_one)
{
	char t[512];
	agent_loader l = loader(agent_loader_find_parser(NULL), 60000, false);
	agent_load_job jobs[3], *list[3];
	agent_load_stats st;
	ag_err e;

	put(tmpdir, "custom.a", good("custom.a", t, sizeof(t)));
	put(tmpdir, "custom.b", "profile custom.b { garbage }\n");
	put(tmpdir, "custom.c", good("custom.c", t, sizeof(t)));
	const char *two[] = { "custom.a", "custom.c" };
	jobs_for(two, 2, jobs, list);
	cr_assert_eq(agent_loader_load(&l, list, 2, &st, &e), 0, "%s", e.msg);
	cr_assert(st.batch_ok);
	cr_assert_eq(st.parser_runs, 1);
	cr_assert(jobs[0].outcome == AGENT_LOAD_OK && jobs[1].outcome == AGENT_LOAD_OK);

	const char *three[] = { "custom.a", "custom.b", "custom.c" };
	jobs_for(three, 3, jobs, list);
	cr_assert_eq(agent_loader_load(&l, list, 3, &st, &e), 0, "%s", e.msg);
	cr_assert_not(st.batch_ok);
	cr_assert_eq(st.parser_runs, 4);
	cr_assert_eq(jobs[0].outcome, AGENT_LOAD_OK);
	cr_assert_eq(jobs[1].outcome, AGENT_LOAD_FAILED);
	cr_assert_eq(jobs[2].outcome, AGENT_LOAD_OK);
	cr_assert(strstr(jobs[1].message, "syntax error"), "%s", jobs[1].message);
	cr_assert_null(strstr(jobs[1].message, "Cache read/write"));
}

/* The pre-load gate: happy path = one -N run + one load run; a profile the
 * webhook's check refuses (syntax, a child profile) is refused with that
 * check's own message and never loaded; the others still load. */
Test(shell, checked_load_compiles_once_and_refuses_like_the_webhook)
{
	char ta[512], tc[512];
	agent_loader l = loader(agent_loader_find_parser(NULL), 60000, true);
	agent_load_job jobs[4], *list[4];
	agent_load_stats st;
	ag_err e;

	put(tmpdir, "custom.a", good("custom.a", ta, sizeof(ta)));
	put(tmpdir, "custom.b", "profile custom.b { garbage }\n");
	put(tmpdir, "custom.c", good("custom.c", tc, sizeof(tc)));
	put(tmpdir, "custom.d", "profile custom.d {\n  file,\n  profile inner {\n  }\n}\n");
	const char *k2[] = { "custom.a", "custom.c" };
	jobs_for(k2, 2, jobs, list);
	cr_assert_eq(agent_loader_load(&l, list, 2, &st, &e), 0, "%s", e.msg);
	cr_assert(st.batch_ok);
	cr_assert_eq(st.parser_runs, 2);
	cr_assert(jobs[0].outcome == AGENT_LOAD_OK && jobs[1].outcome == AGENT_LOAD_OK);

	const char *k4[] = { "custom.a", "custom.b", "custom.c", "custom.d" };
	jobs_for(k4, 4, jobs, list);
	cr_assert_eq(agent_loader_load(&l, list, 4, &st, &e), 0, "%s", e.msg);
	cr_assert_not(st.batch_ok);
	cr_assert(jobs[0].outcome == AGENT_LOAD_OK && jobs[2].outcome == AGENT_LOAD_OK);
	cr_assert_eq(jobs[1].outcome, AGENT_LOAD_REFUSED);
	cr_assert_eq(jobs[3].outcome, AGENT_LOAD_REFUSED);
	/* The same message as the webhook's check of the text (aaparser_compile_check). */
	cr_assert(strstr(jobs[1].message, "custom.b: does not compile: AppArmor parser error for custom.b in profile "
					  "custom.b"),
		  "%s", jobs[1].message);
	cr_assert(strstr(jobs[3].message, "custom.d//inner"), "%s", jobs[3].message);

	/* A file whose profile is not its key: the names gate sends it to the per-profile check. */
	put(tmpdir, "custom.zz", good("custom.a", ta, sizeof(ta)));
	const char *k1[] = { "custom.zz" };
	jobs_for(k1, 1, jobs, list);
	cr_assert_eq(agent_loader_load(&l, list, 1, &st, &e), 0, "%s", e.msg);
	cr_assert_eq(jobs[0].outcome, AGENT_LOAD_REFUSED, "%s", jobs[0].message);
}

Test(shell, missing_parser_is_an_error)
{
	agent_loader l = loader("/nonexistent/apparmor_parser", 5000, false);
	agent_load_job jobs[1], *list[1];
	const char *one[] = { "x" };
	ag_err e;

	jobs_for(one, 1, jobs, list);
	cr_assert_eq(agent_loader_load(&l, list, 1, NULL, &e), -1);
	cr_assert_neq(jobs[0].outcome, AGENT_LOAD_OK);
	cr_assert(strstr(e.msg, "cannot run /nonexistent/apparmor_parser"), "%s", e.msg);

	l.check = true;
	cr_assert_eq(agent_loader_load(&l, list, 1, NULL, &e), -1, "the names gate cannot run either");
}

Test(shell, sha256_hex)
{
	char h[AGENT_SHA256_HEX];

	agent_sha256_hex("abc", 3, h);
	cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(shell, disk_list_hashes_managed_files_only)
{
	agent_host h = { "/sys", "/sys/kernel/security", "/proc", tmpdir, 1024 };
	agent_ondisk *d = NULL;
	size_t n = 0;
	ag_err e;
	put(tmpdir, "custom.a", "abc");
	put(tmpdir, "README", "x");
	put(tmpdir, ".custom.a.tmp", "x");
	cr_assert_eq(agent_host_disk_list(&h, &d, &n, &e), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(d[0].name, "custom.a");
	cr_assert_str_eq(d[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	agent_host_disk_free(d, n);
	cr_assert_eq(agent_host_remove_file(tmpdir, "custom.a", &e), 0);
	cr_assert_eq(agent_host_remove_file(tmpdir, "custom.a", &e), 0, "missing is fine");
}

Test(shell, dir_source_kubelet_layout)
{
	char p[256], q[256];
	agent_snapshot s;
	agent_dir_state st;
	ag_err e;

	snprintf(p, sizeof(p), "%s/..2026_01", tmpdir);
	cr_assert_eq(mkdir(p, 0755), 0);
	put(p, "custom.a", "A");
	put(p, "custom.big", "0123456789");
	snprintf(q, sizeof(q), "%s/..data", tmpdir);
	cr_assert_eq(symlink("..2026_01", q), 0);
	snprintf(q, sizeof(q), "%s/custom.a", tmpdir);
	cr_assert_eq(symlink("..data/custom.a", q), 0);
	cr_assert_eq(agent_source_dir_read(tmpdir, 5, 10, false, &s, &st, &e), 0);
	cr_assert_eq(st, AGENT_DIR_OK);
	cr_assert_eq(s.n, 2);
	for (size_t i = 0; i < s.n; i++) {
		const agent_snapshot_entry *x = &s.items[i];

		if (strcmp(x->key, "custom.a") == 0) {
			cr_assert_str_eq(x->text, "A");
			cr_assert_null(x->refusal);
		} else {
			cr_assert_str_eq(x->key, "custom.big");
			cr_assert(x->refusal && strstr(x->refusal, "over the limit"));
		}
	}
	agent_snapshot_free(&s);

	/* Count ceiling. */
	cr_assert_eq(agent_source_dir_read(tmpdir, 100, 1, false, &s, &st, &e), 0);
	cr_assert(s.over_count);
	agent_snapshot_free(&s);

	/* A confirmed swap to an empty ..data dir means "no profiles". */
	snprintf(p, sizeof(p), "%s/..2026_02", tmpdir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(q, sizeof(q), "%s/..data_tmp", tmpdir);
	cr_assert_eq(symlink("..2026_02", q), 0);
	snprintf(p, sizeof(p), "%s/..data", tmpdir);
	cr_assert_eq(rename(q, p), 0);
	cr_assert_eq(agent_source_dir_read(tmpdir, 100, 10, false, &s, &st, &e), 0);
	cr_assert_eq(st, AGENT_DIR_OK);
	cr_assert_eq(s.n, 0);
	agent_snapshot_free(&s);
}

Test(shell, dir_source_plain_empty_and_missing)
{
	char p[256];
	agent_snapshot s;
	agent_dir_state st;
	ag_err e;

	put(tmpdir, ".hidden", "x");
	cr_assert_eq(agent_source_dir_read(tmpdir, 100, 10, false, &s, &st, &e), 0);
	cr_assert_eq(st, AGENT_DIR_EMPTY, "an empty plain dir needs confirmation");
	agent_snapshot_free(&s);
	cr_assert_eq(agent_source_dir_read(tmpdir, 100, 10, true, &s, &st, &e), 0);
	cr_assert_eq(st, AGENT_DIR_OK);
	cr_assert_eq(s.n, 0);
	agent_snapshot_free(&s);
	snprintf(p, sizeof(p), "%s/nope", tmpdir);
	cr_assert_eq(agent_source_dir_read(p, 100, 10, true, &s, &st, &e), 0);
	cr_assert_eq(st, AGENT_DIR_MISSING);
	agent_snapshot_free(&s);
}

Test(shell, fake_roots_apparmor_detection_and_confined_scan)
{
	char p[256];
	ag_err why;
	agent_host h = { NULL, NULL, NULL, tmpdir, 1024 };
	char sys[128], sec[128], proc[128];
	snprintf(sys, sizeof(sys), "%s/sys", tmpdir);
	snprintf(sec, sizeof(sec), "%s/sec", tmpdir);
	snprintf(proc, sizeof(proc), "%s/proc", tmpdir);
	h.sysfs_root = sys;
	h.securityfs_root = sec;
	h.proc_root = proc;
	cr_assert_not(agent_host_apparmor_enabled(&h, &why));
	ag_err e;
	snprintf(p, sizeof(p), "%s/module/apparmor/parameters", sys);
	cr_assert_eq(agent_host_mkdirs(p, &e), 0);
	put(p, "enabled", "N\n");
	cr_assert_not(agent_host_apparmor_enabled(&h, &why));
	put(p, "enabled", "Y\n");
	cr_assert_not(agent_host_apparmor_enabled(&h, &why), "no securityfs yet");
	cr_assert(strstr(why.msg, "securityfs"));
	snprintf(p, sizeof(p), "%s/apparmor", sec);
	cr_assert_eq(agent_host_mkdirs(p, &e), 0);
	put(p, "profiles", "custom.a (enforce)\n");
	cr_assert(agent_host_apparmor_enabled(&h, &why));

	const char *labels[] = { "custom.a (enforce)\n", "custom.a (enforce)\n", "docker-default//&custom.b (mixed)\n",
				 "unconfined\n" };
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%d/attr", proc, 100 + i);
		cr_assert_eq(agent_host_mkdirs(p, &e), 0);
		put(p, "current", labels[i]);
	}
	snprintf(p, sizeof(p), "%s/self", proc);
	cr_assert_eq(agent_host_mkdirs(p, &e), 0);
	agent_confined *c = NULL;
	size_t n = 0;
	cr_assert_eq(agent_host_confined(&h, &c, &n, &e), 0);
	unsigned long a = 0, b = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(c[i].name, "custom.a") == 0)
			a = c[i].count;
		if (strcmp(c[i].name, "custom.b") == 0)
			b = c[i].count;
	}
	cr_assert_eq(a, 2);
	cr_assert_eq(b, 1);
	cr_assert_eq(n, 2, "unmanaged names are not counted");
	agent_host_confined_free(c, n);
}
