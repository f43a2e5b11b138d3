/* agent_loader: batch load / per-profile fallback / removal (see agent_loader.h). */
#include "agent_loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_sha256.h"
#include "buf_file.h"
#include "log.h"
#include "mono.h"

/* Ceiling for reading a profile file to hash it (the source's ceiling,
 * --max-profile-bytes, is far below; a bigger file is simply a miss). */
enum { AGENT_LOADER_TEXT_MAX = 16u << 20, AGENT_LOADER_PATH_MAX = 4200 };

const char *agent_loader_find_parser(const char *flag)
{
	if (flag && *flag)
		return flag;
	if (access("/sbin/apparmor_parser", X_OK) == 0)
		return "/sbin/apparmor_parser";
	if (access("/usr/sbin/apparmor_parser", X_OK) == 0)
		return "/usr/sbin/apparmor_parser";
	return "apparmor_parser";
}

/* compile_only: every run compiles and nothing else (no kernel, no cache). */
static aaparser_mode agent_loader_mode(const agent_loader *l, aaparser_mode mode)
{
	return l->compile_only ? AAPARSER_COMPILE : mode;
}

/* One parser run; err gets the parser's message. */
static int agent_loader_exec(const agent_loader *l, aaparser_mode mode, const char *const *files, size_t n,
			     aaparser_outcome *outcome, ag_err *err)
{
	aaparser_result res;
	int rc = aaparser_run(&l->parser, agent_loader_mode(l, mode), files, n, &res, err);

	*outcome = res.outcome;
	aaparser_result_cleanup(&res);
	return rc;
}

/* The paths and keys of a batch, in one allocation (store) plus two views. */
typedef struct agent_loader_batch {
	const char **files;
	const char **keys;
	char *store;
} agent_loader_batch;

static void agent_loader_batch_cleanup(agent_loader_batch *b)
{
	free(b->files);
	free(b->keys);
	free(b->store);
	b->files = NULL;
	b->keys = NULL;
	b->store = NULL;
}

static int agent_loader_batch_init(agent_loader_batch *b, agent_load_job *const *jobs, size_t n, ag_err *err)
{
	size_t total = 0;
	char *p;

	for (size_t i = 0; i < n; i++)
		total += strlen(jobs[i]->dir) + strlen(jobs[i]->key) + 2;
	b->files = calloc(n, sizeof(*b->files));
	b->keys = calloc(n, sizeof(*b->keys));
	b->store = malloc(total ? total : 1);
	if (!b->files || !b->keys || !b->store) {
		agent_loader_batch_cleanup(b);
		err_set(err, ENOMEM, "cannot run apparmor_parser: out of memory");
		return -1;
	}
	p = b->store;
	for (size_t i = 0; i < n; i++) {
		size_t room = total - (size_t)(p - b->store);
		int w = snprintf(p, room, "%s/%s", jobs[i]->dir, jobs[i]->key);

		b->files[i] = p;
		b->keys[i] = jobs[i]->key;
		p += w + 1;
	}
	return 0;
}

/* The batched gate: 1 when `-N` over all files reports exactly the keys,
 * each once; 0 otherwise (each profile then goes through the per-profile
 * check); -1 when the parser cannot run. */
static int agent_loader_names_ok(const agent_loader *l, const agent_loader_batch *b, size_t n, ag_err *err)
{
	aaparser_result res;
	ag_err ne;
	int rc = 0;

	if (aaparser_run(&l->parser, AAPARSER_NAMES, b->files, n, &res, err) == 0)
		rc = aaparser_names_check(b->keys, n, buf_cstr(&res.out), &ne) == 0 ? 1 : 0;
	else if (res.outcome == AAPARSER_NOT_RUN)
		rc = -1;
	aaparser_result_cleanup(&res);
	return rc;
}

/* The batch: gate (with check), compile into the cache (with check, a cache
 * and a kernel), load. true when every job loaded. */
static bool agent_loader_batch_run(const agent_loader *l, const agent_loader_batch *b, agent_load_job *const *jobs,
				   size_t n, agent_load_stats *st, aaparser_outcome *oc, ag_err *err)
{
	if (l->check && l->parser.cache_dir && !l->compile_only) {
		/* The compile check as its own step, nothing loaded: the load
		 * below then reads the cache (a hit: same files, fresh entries),
		 * so nothing is compiled twice. */
		st->parser_runs++;
		if (agent_loader_exec(l, AAPARSER_COMPILE_CACHE, b->files, n, oc, err) != 0)
			return false;
	}
	st->parser_runs++;
	if (agent_loader_exec(l, AAPARSER_REPLACE, b->files, n, oc, err) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		jobs[i]->outcome = AGENT_LOAD_OK;
	return true;
}

/* One profile alone: the webhook's check (with check), then the load. */
static void agent_loader_one(const agent_loader *l, agent_load_job *job, const char *file, agent_load_stats *st,
			     bool *not_run)
{
	aaparser_outcome oc;
	ag_err e;

	err_clear(&e);
	if (l->check) {
		st->parser_runs += 2;
		if (aaparser_check_file(job->key, job->dir, &l->parser, &e) != 0) {
			job->outcome = AGENT_LOAD_REFUSED;
			snprintf(job->message, sizeof(job->message), "%s", e.msg);
			return;
		}
	}
	st->parser_runs++;
	if (agent_loader_exec(l, AAPARSER_REPLACE, &file, 1, &oc, &e) == 0) {
		job->outcome = AGENT_LOAD_OK;
		return;
	}
	snprintf(job->message, sizeof(job->message), "%s", e.msg);
	if (oc == AAPARSER_NOT_RUN)
		*not_run = true;
}

/* The parser path for jobs (see agent_loader.h); counts into *st. */
static int agent_loader_compile_load(const agent_loader *l, agent_load_job *const *jobs, size_t n, agent_load_stats *st,
				     ag_err *err)
{
	agent_loader_batch b = { NULL, NULL, NULL };
	bool not_run = false;
	bool batch = true;
	aaparser_outcome oc = AAPARSER_OK;
	ag_err e;
	int rc = 0;

	err_clear(&e);
	if (agent_loader_batch_init(&b, jobs, n, err) != 0) {
		rc = -1;
		goto done;
	}
	if (l->check) {
		int names;

		st->parser_runs++;
		names = agent_loader_names_ok(l, &b, n, &e);
		if (names < 0) {
			for (size_t i = 0; i < n; i++)
				snprintf(jobs[i]->message, sizeof(jobs[i]->message), "%s", e.msg);
			rc = err_set(err, ENOENT, "%s", e.msg);
			goto done;
		}
		batch = names == 1;
	}
	if (batch) {
		st->batch_ok = agent_loader_batch_run(l, &b, jobs, n, st, &oc, &e);
		if (st->batch_ok)
			goto done;
		if (n == 1 && !l->check) {
			/* Nothing to isolate: the batch was this profile's own run. */
			snprintf(jobs[0]->message, sizeof(jobs[0]->message), "%s", e.msg);
			not_run = oc == AAPARSER_NOT_RUN;
			goto report;
		}
	}
	/* One bad profile must not block the others: decide and load each alone. */
	for (size_t i = 0; i < n; i++)
		agent_loader_one(l, jobs[i], b.files[i], st, &not_run);
report:
	/* The parser could not be started at all: say so once for the caller. */
	if (not_run && jobs[0]->outcome != AGENT_LOAD_OK)
		rc = err_set(err, ENOENT, "%s", jobs[0]->message);
done:
	agent_loader_batch_cleanup(&b);
	return rc;
}

/* The sha256 of the file dir/key, the bytes the parser reads; "" when it
 * cannot be read (then it is a miss and is never stored). */
static void agent_loader_text_sha(const agent_load_job *job, char out[AGENT_SHA256_HEX])
{
	char path[AGENT_LOADER_PATH_MAX];
	char *t = NULL;
	size_t n = 0;
	ag_err e;

	out[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", job->dir, job->key) >= sizeof(path) ||
	    buf_read_file_dup(path, AGENT_LOADER_TEXT_MAX, &t, &n, &e) != 0)
		return;
	agent_sha256_hex(t, n, out);
	free(t);
}

/* The jobs whose exact text has a blob load from it; misses[] gets the jobs
 * left for the parser and shas[] their text hashes (same index). Returns how
 * many miss. */
static size_t agent_loader_from_store(const agent_loader *l, agent_load_job *const *jobs, size_t n,
				      char (*shas)[AGENT_SHA256_HEX], agent_load_job **misses)
{
	size_t nm = 0, hits = 0;
	bool kernel = true;
	double t0 = mono_sec();
	ag_err e;

	for (size_t i = 0; i < n; i++) {
		char *blob = NULL;
		size_t len = 0;

		agent_loader_text_sha(jobs[i], shas[nm]);
		if (!kernel || !shas[nm][0] ||
		    agent_blobs_get(l->blobs, jobs[i]->key, shas[nm], &blob, &len, &e) != 1) {
			misses[nm++] = jobs[i];
			continue;
		}
		if (agent_host_replace_policy(l->host, blob, len, &e) == 0) {
			jobs[i]->outcome = AGENT_LOAD_OK;
			hits++;
		} else {
			/* No interface (a fake root) or no right to it: the parser
			 * path says why. Otherwise the kernel refused this blob:
			 * never offer it again. */
			if (e.code == ENOENT || e.code == EACCES || e.code == EPERM)
				kernel = false;
			else
				agent_blobs_drop(l->blobs, jobs[i]->key, NULL);
			misses[nm++] = jobs[i];
		}
		free(blob);
	}
	if (hits > 0) {
		char h[24], took[32];

		snprintf(h, sizeof(h), "%zu", hits);
		snprintf(took, sizeof(took), "%.3f", mono_sec() - t0);
		log_kv(LOG_LVL_INFO, "loaded from the binary policy store, no parser run", "profiles", h, "seconds",
		       took, (char *)NULL);
	}
	return nm;
}

/* Stores the blob of every miss that loaded, from the batch's private cache,
 * under the hash of the text it was compiled from — only when the file still
 * has that text (nothing else writes there, but a blob must never be filed
 * under a text it was not compiled from). */
static void agent_loader_keep(const agent_loader *l, const char *scratch, agent_load_job *const *misses,
			      char (*shas)[AGENT_SHA256_HEX], size_t nm)
{
	for (size_t i = 0; i < nm; i++) {
		char now[AGENT_SHA256_HEX];
		ag_err e;

		if (misses[i]->outcome != AGENT_LOAD_OK || !shas[i][0])
			continue;
		agent_loader_text_sha(misses[i], now);
		if (strcmp(now, shas[i]) != 0)
			continue;
		if (agent_blobs_take(l->blobs, scratch, misses[i]->key, shas[i], &e) != 0) {
			if (e.code == ENOENT) /* the parser writes no cache here: none will come */
				return;
			log_kv(LOG_LVL_WARN, "cannot store the compiled profile; its next load compiles again",
			       "profile", misses[i]->key, "error", e.msg, (char *)NULL);
		}
	}
}

int agent_loader_load(const agent_loader *l, agent_load_job *const *jobs, size_t n, agent_load_stats *stats,
		      ag_err *err)
{
	agent_load_stats st = { 0, false, 0 };
	double t0 = mono_sec();
	agent_load_job **misses = NULL;
	char(*shas)[AGENT_SHA256_HEX] = NULL;
	char scratch[AGENT_LOADER_PATH_MAX] = "";
	agent_loader lc = *l; /* the parser path's copy, with the batch's cache */
	bool store = l->blobs && l->host && !l->compile_only;
	size_t nm = n;
	ag_err e;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		jobs[i]->outcome = AGENT_LOAD_FAILED;
		jobs[i]->message[0] = '\0';
	}
	if (n == 0)
		goto done;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	misses = calloc(n, sizeof(*misses));
	shas = calloc(n, sizeof(*shas));
	if (!misses || !shas) {
		rc = err_set(err, ENOMEM, "cannot load profiles: out of memory");
		goto done;
	}
	if (store) {
		nm = agent_loader_from_store(l, jobs, n, shas, misses);
	} else {
		for (size_t i = 0; i < n; i++)
			misses[i] = jobs[i];
	}
	if (nm == 0) {
		st.batch_ok = true; /* nothing for the parser */
		goto done;
	}
	lc.parser.cache_dir = NULL;
	if (l->parser.cache_dir && !l->compile_only &&
	    agent_blobs_scratch_new(l->parser.cache_dir, scratch, sizeof(scratch), &e) == 0)
		lc.parser.cache_dir = scratch;
	rc = agent_loader_compile_load(&lc, misses, nm, &st, err);
	if (store && scratch[0])
		agent_loader_keep(l, scratch, misses, shas, nm);
done:
	agent_blobs_scratch_free(scratch);
	st.seconds = mono_sec() - t0;
	if (stats)
		*stats = st;
	free(shas);
	free(misses);
	return rc;
}

int agent_loader_remove(const agent_loader *l, const char *name, ag_err *err)
{
	char stub[AGENT_NAME_CAP + 32], path[4200], fname[AGENT_NAME_CAP + 16];
	const char *files[1] = { path };
	aaparser_outcome oc;
	ag_err e;
	int n;
	int rc;

	/* --remove only needs the profile's name; a stub avoids depending on the
	 * last file being present or still compiling. */
	n = snprintf(stub, sizeof(stub), "profile %s {\n}\n", name);
	snprintf(fname, sizeof(fname), ".remove.%s", name);
	if (agent_host_write_atomic(l->stub_dir, fname, stub, (size_t)n, err) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", l->stub_dir, fname);
	rc = agent_loader_exec(l, AAPARSER_REMOVE, files, 1, &oc, &e);
	(void)unlink(path);
	if (rc != 0)
		return err_set(err, EIO, "unloading %s failed: %s", name, e.msg);
	if (l->blobs)
		agent_blobs_drop(l->blobs, name, NULL);
	return 0;
}
