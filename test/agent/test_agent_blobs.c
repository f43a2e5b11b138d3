/* Integration: the binary policy store (agent_blobs), its environment id
 * (agent_blobenv) and the loader's use of them, in temp dirs with a fake
 * securityfs (a regular .replace file stands in for the kernel interface)
 * and a recording stand-in for apparmor_parser. What must hold: a blob is
 * served only for the exact text it was compiled from (same file name, new
 * content, old mtime -> compile path), a damaged or foreign blob is never
 * used, and a hit runs no parser at all. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "agent_blobenv.h"
#include "agent_blobs.h"
#include "agent_host.h"
#include "agent_loader.h"
#include "agent_sha256.h"

static char tmpdir[64];
static char path_buf[512];

static const char *at(const char *rel)
{
	snprintf(path_buf, sizeof(path_buf), "%s/%s", tmpdir, rel);
	return path_buf;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void mk(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/agent-blobs.XXXXXX");
	cr_assert(mkdtemp(tmpdir));
}

static void rm(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *rel, const char *text)
{
	FILE *f = fopen(at(rel), "w");

	cr_assert(f, "%s", path_buf);
	fputs(text, f);
	fclose(f);
}

/* The whole file (at most 4 KiB) into out; its length, -1 when missing. */
static long read_file(const char *rel, char *out, size_t cap)
{
	FILE *f = fopen(at(rel), "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	fclose(f);
	return (long)n;
}

static void sha_of(const char *text, char out[AGENT_SHA256_HEX])
{
	agent_sha256_hex(text, strlen(text), out);
}

static const char env_a[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static agent_blobs open_store(void)
{
	agent_blobs b;
	ag_err e;

	mkdir(at("store"), 0700);
	cr_assert_eq(agent_blobs_open(&b, at("store"), env_a, NULL, &e), 0, "%s", e.msg);
	return b;
}

TestSuite(blobs, .init = mk, .fini = rm);

Test(blobs, put_get_and_one_blob_per_name)
{
	agent_blobs b = open_store();
	char s1[AGENT_SHA256_HEX], s2[AGENT_SHA256_HEX];
	char *out = NULL;
	size_t len = 0;
	ag_err e;

	sha_of("text one", s1);
	sha_of("text two", s2);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 0, "empty store: a miss");
	cr_assert_eq(agent_blobs_put(&b, "custom.a", s1, "BLOB1", 5, &e), 0, "%s", e.msg);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 1);
	cr_assert_eq(len, 5);
	cr_assert_eq(memcmp(out, "BLOB1", 5), 0);
	free(out);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s2, &out, &len, &e), 0, "another text: a miss");
	cr_assert_eq(agent_blobs_get(&b, "custom.b", s1, &out, &len, &e), 0, "another name: a miss");
	/* A new text replaces the old blob: one per name. */
	cr_assert_eq(agent_blobs_put(&b, "custom.a", s2, "BLOB2", 5, &e), 0, "%s", e.msg);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 0, "the old text's blob is gone");
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s2, &out, &len, &e), 1);
	free(out);
	agent_blobs_drop(&b, "custom.a", NULL);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s2, &out, &len, &e), 0, "dropped");
	cr_assert_eq(agent_blobs_get(&b, "../x", s2, &out, &len, &e), -1, "not a profile name");
}

/* Overwrites the blob file of (name, sha) with content. */
static void tamper(const agent_blobs *b, const char *name, const char *sha, const char *content, size_t len)
{
	char p[AGENT_BLOBS_PATH_MAX + 200];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s.%s", b->dir, name, sha);
	f = fopen(p, "w");
	cr_assert(f);
	fwrite(content, 1, len, f);
	fclose(f);
}

Test(blobs, damaged_torn_or_foreign_blobs_are_never_used)
{
	agent_blobs b = open_store();
	char s1[AGENT_SHA256_HEX], s2[AGENT_SHA256_HEX], p[AGENT_BLOBS_PATH_MAX + 200], good[400];
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	size_t n;
	ag_err e;

	sha_of("text one", s1);
	sha_of("text two", s2);
	cr_assert_eq(agent_blobs_put(&b, "custom.a", s1, "PAYLOAD-BYTES", 13, &e), 0, "%s", e.msg);
	snprintf(p, sizeof(p), "%s/custom.a.%s", b.dir, s1);
	f = fopen(p, "r");
	cr_assert(f);
	n = fread(good, 1, sizeof(good) - 1, f);
	fclose(f);
	good[n] = '\0';

	/* One payload byte flipped. */
	good[n - 1] ^= 1;
	tamper(&b, "custom.a", s1, good, n);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 0, "damaged payload used");
	cr_assert_neq(access(p, F_OK), 0, "a damaged blob is deleted");
	good[n - 1] ^= 1;

	/* Torn: the header promises more than the file holds. */
	tamper(&b, "custom.a", s1, good, n - 4);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 0, "torn blob used");
	/* Empty (a crash right after rename on some filesystems). */
	tamper(&b, "custom.a", s1, "", 0);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 0, "empty blob used");
	/* Raw policy without our header (e.g. a parser cache entry copied in). */
	tamper(&b, "custom.a", s1, "PAYLOAD-BYTES", 13);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 0, "headerless blob used");
	/* A valid blob of text one renamed to text two's name. */
	tamper(&b, "custom.a", s2, good, n);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s2, &out, &len, &e), 0, "renamed blob used");
	/* And the intact original still works. */
	tamper(&b, "custom.a", s1, good, n);
	cr_assert_eq(agent_blobs_get(&b, "custom.a", s1, &out, &len, &e), 1);
	cr_assert_eq(len, 13);
	free(out);
}

Test(blobs, open_prunes_other_environments_scratch_and_orphans)
{
	agent_blobs b = open_store();
	char s1[AGENT_SHA256_HEX], scratch[AGENT_BLOBS_PATH_MAX];
	char *out = NULL;
	size_t len = 0;
	ag_err e;

	sha_of("x", s1);
	cr_assert_eq(agent_blobs_put(&b, "custom.kept", s1, "K", 1, &e), 0, "%s", e.msg);
	cr_assert_eq(agent_blobs_put(&b, "custom.gone", s1, "G", 1, &e), 0, "%s", e.msg);
	cr_assert_eq(agent_blobs_scratch_new(at("store"), scratch, sizeof(scratch), &e), 0, "%s", e.msg);
	mkdir(at("store/unrelated"), 0700);
	mkdir(at("host"), 0700);
	write_file("host/custom.kept", "x");
	/* Reopened in the same environment: orphans and scratch go. */
	char store[256], host[256];
	snprintf(store, sizeof(store), "%s/store", tmpdir);
	snprintf(host, sizeof(host), "%s/host", tmpdir);
	cr_assert_eq(agent_blobs_open(&b, store, env_a, host, &e), 0, "%s", e.msg);
	cr_assert_eq(agent_blobs_get(&b, "custom.kept", s1, &out, &len, &e), 1);
	free(out);
	cr_assert_eq(agent_blobs_get(&b, "custom.gone", s1, &out, &len, &e), 0, "orphan kept");
	cr_assert_neq(access(scratch, F_OK), 0, "leftover scratch kept");
	cr_assert_eq(access(at("store/unrelated"), F_OK), 0, "a stranger's dir is left alone");
	/* Another environment (kernel or parser upgrade): the old one goes. */
	char old[AGENT_BLOBS_PATH_MAX];
	snprintf(old, sizeof(old), "%s", b.dir);
	cr_assert_eq(agent_blobs_open(&b, store, "bbbb", host, &e), 0, "%s", e.msg);
	cr_assert_neq(access(old, F_OK), 0, "old environment kept");
	cr_assert_eq(agent_blobs_get(&b, "custom.kept", s1, &out, &len, &e), 0, "served across environments");
}

/* The paths of fake_env (the env borrows them). */
static char env_paths[5][256];

static const char *env_path(int i, const char *rel)
{
	snprintf(env_paths[i], sizeof(env_paths[i]), "%s/%s", tmpdir, rel);
	return env_paths[i];
}

/* A fake node: securityfs with features, the include base, a parser file. */
static agent_blobenv fake_env(void)
{
	agent_blobenv env;

	mkdir(at("sfs"), 0755);
	mkdir(at("sfs/apparmor"), 0755);
	mkdir(at("sfs/apparmor/features"), 0755);
	mkdir(at("sfs/apparmor/features/file"), 0755);
	write_file("sfs/apparmor/features/file/mask", "create read write exec\n");
	mkdir(at("base"), 0755);
	mkdir(at("base/abstractions"), 0755);
	write_file("base/abstractions/base", "/etc/ld.so.cache r,\n");
	mkdir(at("base/host"), 0755);
	write_file("base/host/custom.a", "profile custom.a {}\n");
	write_file("parser", "parser v1");
	memset(&env, 0, sizeof(env));
	env.securityfs_root = env_path(0, "sfs");
	env.parser_path = env_path(1, "parser");
	env.parser_conf = env_path(2, "parser.conf");
	env.base_dir = env_path(3, "base");
	env.skip[0] = env_path(4, "base/host");
	return env;
}

static void env_id(const agent_blobenv *env, char out[AGENT_SHA256_HEX])
{
	ag_err e;

	cr_assert_eq(agent_blobenv_id(env, out, &e), 0, "%s", e.msg);
	cr_assert_eq(strlen(out), 64);
}

Test(blobs, environment_id_follows_every_input_but_the_managed_files)
{
	agent_blobenv env = fake_env();
	char a[AGENT_SHA256_HEX], b[AGENT_SHA256_HEX];
	ag_err e;

	env_id(&env, a);
	env_id(&env, b);
	cr_assert_str_eq(a, b, "not deterministic");
	write_file("base/host/custom.a", "profile custom.a { file, }\n");
	env_id(&env, b);
	cr_assert_str_eq(a, b, "a managed profile changed the environment");
	write_file("base/abstractions/base", "/etc/ld.so.cache rm,\n");
	env_id(&env, b);
	cr_assert_str_neq(a, b, "an abstraction changed, same id");
	env_id(&env, a);
	write_file("base/abstractions/new", "");
	env_id(&env, b);
	cr_assert_str_neq(a, b, "a new include file, same id");
	env_id(&env, a);
	write_file("sfs/apparmor/features/file/mask", "create read write exec append\n");
	env_id(&env, b);
	cr_assert_str_neq(a, b, "kernel features changed, same id");
	env_id(&env, a);
	write_file("parser", "parser v2");
	env_id(&env, b);
	cr_assert_str_neq(a, b, "parser changed, same id");
	env_id(&env, a);
	write_file("parser.conf", "policy-features=/x\n");
	env_id(&env, b);
	cr_assert_str_neq(a, b, "parser.conf appeared, same id");
	rm_one(at("sfs/apparmor/features/file/mask"), NULL, 0, NULL);
	rm_one(at("sfs/apparmor/features/file"), NULL, 0, NULL);
	rm_one(at("sfs/apparmor/features"), NULL, 0, NULL);
	cr_assert_eq(agent_blobenv_id(&env, a, &e), -1, "no kernel features: no store");
}

/* A stand-in parser: records each run's argv in LOG; with a --cache-loc it
 * writes each file's bytes as its "binary" where apparmor_parser writes its
 * cache entries (<cache>/<features dir>/<file name>). */
static const char fake_parser[] =
	"#!/bin/sh\n"
	"echo \"$*\" >>\"$(dirname \"$0\")/parser.log\"\n"
	"cache=\n"
	"for a in \"$@\"; do case \"$a\" in --cache-loc=*) cache=${a#--cache-loc=} ;; esac; done\n"
	"ends=no\n"
	"for a in \"$@\"; do\n"
	"  if [ $ends = yes ] && [ -n \"$cache\" ]; then\n"
	"    mkdir -p \"$cache/0123abcd.0\" && cat \"$a\" >\"$cache/0123abcd.0/$(basename \"$a\")\"\n"
	"  fi\n"
	"  [ \"$a\" = -- ] && ends=yes\n"
	"done\n"
	"exit 0\n";

typedef struct fake_node {
	agent_host host;
	agent_blobs blobs;
	agent_loader l;
	char sfs[256], parser[256], store[256], dir[256];
} fake_node;

static void fake_node_init(fake_node *f)
{
	ag_err e;

	memset(f, 0, sizeof(*f));
	snprintf(f->sfs, sizeof(f->sfs), "%s/sfs", tmpdir);
	snprintf(f->parser, sizeof(f->parser), "%s/apparmor_parser", tmpdir);
	snprintf(f->store, sizeof(f->store), "%s/store", tmpdir);
	snprintf(f->dir, sizeof(f->dir), "%s/host", tmpdir);
	mkdir(at("sfs"), 0755);
	mkdir(at("sfs/apparmor"), 0755);
	write_file("sfs/apparmor/.replace", "");
	mkdir(f->store, 0700);
	mkdir(f->dir, 0755);
	write_file("apparmor_parser", fake_parser);
	chmod(f->parser, 0755);
	f->host.securityfs_root = f->sfs;
	cr_assert_eq(agent_blobs_open(&f->blobs, f->store, env_a, NULL, &e), 0, "%s", e.msg);
	f->l.parser.parser_path = f->parser;
	f->l.parser.timeout_ms = 10000;
	f->l.parser.cache_dir = f->store;
	f->l.stub_dir = f->dir;
	f->l.blobs = &f->blobs;
	f->l.host = &f->host;
}

/* Loads dir/name alone; returns the parser runs it took. */
static unsigned load_one(const fake_node *f, const char *name)
{
	agent_load_job job;
	agent_load_job *list[1] = { &job };
	agent_load_stats st;
	ag_err e;

	memset(&job, 0, sizeof(job));
	job.key = name;
	job.dir = f->dir;
	cr_assert_eq(agent_loader_load(&f->l, list, 1, &st, &e), 0, "%s", e.msg);
	cr_assert_eq(job.outcome, AGENT_LOAD_OK, "%s", job.message);
	return st.parser_runs;
}

Test(blobs, loader_serves_a_blob_only_for_its_exact_text)
{
	static const char text_a[] = "profile custom.a { file, }\n";
	static const char text_b[] = "profile custom.a { deny file, }\n";
	fake_node f;
	char got[4096], sha_a[AGENT_SHA256_HEX];
	struct utimbuf old = { 946684800, 946684800 }; /* 2000-01-01: older than any blob */

	fake_node_init(&f);
	/* First load: a miss, compiled by the parser, its output stored. */
	write_file("host/custom.a", text_a);
	cr_assert_eq(load_one(&f, "custom.a"), 1, "one --replace run");
	cr_assert_eq(read_file(".replace", got, sizeof(got)), -1);
	sha_of(text_a, sha_a);
	char *out = NULL;
	size_t len = 0;
	ag_err e;
	cr_assert_eq(agent_blobs_get(&f.blobs, "custom.a", sha_a, &out, &len, &e), 1, "not stored after compile");
	free(out);

	/* Reboot: same text -> loaded from the blob, no parser run. */
	rm_one(at("parser.log"), NULL, 0, NULL);
	cr_assert_eq(load_one(&f, "custom.a"), 0, "a store hit ran the parser");
	cr_assert_eq(read_file("parser.log", got, sizeof(got)), -1, "parser ran: %s", got);
	cr_assert_eq(read_file("sfs/apparmor/.replace", got, sizeof(got)), (long)strlen(text_a));
	cr_assert_str_eq(got, text_a, "the kernel got something else than the blob");

	/* Same name, new content, old mtime: never the old blob. */
	write_file("sfs/apparmor/.replace", "");
	write_file("host/custom.a", text_b);
	cr_assert_eq(utime(at("host/custom.a"), &old), 0);
	cr_assert_eq(load_one(&f, "custom.a"), 1, "a changed text must compile");
	cr_assert_eq(read_file("sfs/apparmor/.replace", got, sizeof(got)), 0, "stale blob served: %s", got);
	/* ... and its own blob is served next time. */
	cr_assert_eq(load_one(&f, "custom.a"), 0);
	cr_assert_eq(read_file("sfs/apparmor/.replace", got, sizeof(got)), (long)strlen(text_b));
	cr_assert_str_eq(got, text_b);
	cr_assert_eq(agent_blobs_get(&f.blobs, "custom.a", sha_a, &out, &len, &e), 0, "old text's blob kept");
}

Test(blobs, loader_compiles_when_the_blob_is_damaged_or_there_is_no_kernel_interface)
{
	static const char text[] = "profile custom.c { file, }\n";
	fake_node f;
	char got[4096], sha[AGENT_SHA256_HEX];

	fake_node_init(&f);
	write_file("host/custom.c", text);
	cr_assert_eq(load_one(&f, "custom.c"), 1);
	sha_of(text, sha);
	tamper(&f.blobs, "custom.c", sha, "AGBLOB1 garbage\n", 16);
	write_file("sfs/apparmor/.replace", "");
	cr_assert_eq(load_one(&f, "custom.c"), 1, "a damaged blob must not load");
	cr_assert_eq(read_file("sfs/apparmor/.replace", got, sizeof(got)), 0, "damaged blob reached the kernel");
	/* Re-stored by that compile: a hit again. */
	cr_assert_eq(load_one(&f, "custom.c"), 0);
	/* No kernel interface (a fake root): the parser path, not an error. */
	rm_one(at("sfs/apparmor/.replace"), NULL, 0, NULL);
	cr_assert_eq(load_one(&f, "custom.c"), 1);
	/* compile_only never touches the store or the kernel. */
	write_file("sfs/apparmor/.replace", "");
	f.l.compile_only = true;
	cr_assert_eq(load_one(&f, "custom.c"), 1);
	cr_assert_eq(read_file("sfs/apparmor/.replace", got, sizeof(got)), 0);
}

Test(blobs, loader_mixed_batch_loads_hits_and_stores_the_misses)
{
	static const char text_d[] = "profile custom.d { file, }\n";
	static const char text_e[] = "profile custom.e { file, }\n";
	fake_node f;
	agent_load_job d, e2;
	agent_load_job *list[2] = { &d, &e2 };
	agent_load_stats st;
	char sha_e[AGENT_SHA256_HEX];
	char *out = NULL;
	size_t len = 0;
	ag_err e;

	fake_node_init(&f);
	write_file("host/custom.d", text_d);
	write_file("host/custom.e", text_e);
	cr_assert_eq(load_one(&f, "custom.d"), 1, "custom.d compiled and stored");
	memset(&d, 0, sizeof(d));
	memset(&e2, 0, sizeof(e2));
	d.key = "custom.d";
	d.dir = f.dir;
	e2.key = "custom.e";
	e2.dir = f.dir;
	/* custom.d from its blob, custom.e through the parser: one run. */
	cr_assert_eq(agent_loader_load(&f.l, list, 2, &st, &e), 0, "%s", e.msg);
	cr_assert_eq(d.outcome, AGENT_LOAD_OK);
	cr_assert_eq(e2.outcome, AGENT_LOAD_OK, "%s", e2.message);
	cr_assert_eq(st.parser_runs, 1, "only the miss goes to the parser");
	/* The miss is stored under its own text's hash. */
	sha_of(text_e, sha_e);
	cr_assert_eq(agent_blobs_get(&f.blobs, "custom.e", sha_e, &out, &len, &e), 1, "miss not stored");
	cr_assert_eq(len, strlen(text_e));
	cr_assert_eq(memcmp(out, text_e, len), 0);
	free(out);
}
