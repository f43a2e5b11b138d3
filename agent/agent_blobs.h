/* agent_blobs: the agent's binary policy store — each profile as the kernel
 * loads it, compiled once, kept in the node's persistent cache dir, so that
 * a reboot (kernel empty, host dir kept) or a reload loads it without running
 * apparmor_parser. Keyed by content, never by time (apparmor_parser's own
 * cache trusts mtimes and serves a changed text with an old mtime stale):
 *   <root>/v1-<env>/<name>.<sha256 of the profile text>
 * where <env> (agent_blobenv) hashes the kernel features, parser and
 * includes the blob was compiled against. A blob is written only from a
 * compile of exactly that text in this environment (a fresh, private parser
 * cache: agent_blobs_scratch_*), in a file that carries the sha256 and length
 * of its payload; a file that does not match is deleted and never loaded.
 * Trust boundary: the store is root-only on the node and written only here;
 * its bytes are checked all the same before they reach the kernel.
 * No globals; one user at a time. */
#ifndef ARMORGATE_AGENT_BLOBS_H
#define ARMORGATE_AGENT_BLOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_plan.h"
#include "err.h"

enum {
	AGENT_BLOBS_PATH_MAX = 4096,
	AGENT_BLOBS_MAX_BYTES = 64u << 20, /* one blob; a realistic profile is a few KiB */
};

typedef struct agent_blobs {
	char dir[AGENT_BLOBS_PATH_MAX]; /* <root>/v1-<env> */
} agent_blobs;

/* Opens (creates) the store under root for environment env (hex id).
 * Deletes what can never be used again: other environments' dirs (a kernel
 * or parser upgrade), leftover scratch dirs, and blobs whose profile file is
 * gone from keep_dir (the host profiles dir; NULL = keep all). */
int agent_blobs_open(agent_blobs *b, const char *root, const char *env, const char *keep_dir,
		     ag_err *err) AG_WARN_UNUSED;

/* The payload of name's blob for text_sha: 1 with *out (heap, the caller
 * frees) and *len; 0 when there is none or it is damaged (deleted then);
 * -1 with err when the store cannot be read. */
int agent_blobs_get(const agent_blobs *b, const char *name, const char *text_sha, char **out, size_t *len,
		    ag_err *err) AG_WARN_UNUSED;
/* Stores data as name's blob for text_sha (temp file, rename: a reader sees
 * the whole file or none; no fsync: a blob lost or torn by a crash fails
 * its check and costs one compile) and deletes name's other blobs. */
int agent_blobs_put(const agent_blobs *b, const char *name, const char *text_sha, const void *data, size_t len,
		    ag_err *err) AG_WARN_UNUSED;
/* Deletes name's blobs but the one for keep_sha (NULL: all of them). */
void agent_blobs_drop(const agent_blobs *b, const char *name, const char *keep_sha);

/* A private parser cache for one batch: a new empty dir under root
 * (<root>/.compile-XXXXXX) into out. */
int agent_blobs_scratch_new(const char *root, char *out, size_t cap, ag_err *err) AG_WARN_UNUSED;
/* Stores what the parser wrote into scratch for the profile file named name
 * (its cache entry <scratch>/<features dir>/<name>) as name's blob for
 * text_sha. 0 when stored, -1 when there was none (the parser wrote no
 * cache: no kernel interface) or it could not be stored. */
int agent_blobs_take(const agent_blobs *b, const char *scratch, const char *name, const char *text_sha,
		     ag_err *err) AG_WARN_UNUSED;
/* Deletes a scratch dir and what the parser put in it. */
void agent_blobs_scratch_free(const char *scratch);

#endif
