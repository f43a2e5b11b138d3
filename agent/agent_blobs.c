/* agent_blobs: the binary policy store (see agent_blobs.h). */
#include "agent_blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_sha256.h"
#include "buf_file.h"
#include "contract.h"

/* A blob file: "AGBLOB1 <text sha256> <payload sha256> <len>\n", then
 * exactly <len> payload bytes. The text hash repeats the file's name, so a
 * blob copied or renamed under another text's name is refused too. */
#define AGENT_BLOBS_MAGIC "AGBLOB1 "
enum { AGENT_BLOBS_HEADER_MAX = 200, AGENT_BLOBS_SHA_LEN = AGENT_SHA256_HEX - 1 };

static bool agent_blobs_is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0' || s[n] == ' ';
}

/* "<name>.<sha>" into name (AGENT_NAME_CAP) and sha; false for anything else
 * (temp files, strangers: left alone or cleaned by their own rule). */
static bool agent_blobs_split(const char *entry, char *name, const char **sha)
{
	size_t len = strlen(entry);
	size_t nlen;

	if (len < AGENT_BLOBS_SHA_LEN + 2 || entry[len - AGENT_BLOBS_SHA_LEN - 1] != '.')
		return false;
	nlen = len - AGENT_BLOBS_SHA_LEN - 1;
	if (nlen >= AGENT_NAME_CAP || !agent_blobs_is_hex(entry + nlen + 1, AGENT_BLOBS_SHA_LEN))
		return false;
	memcpy(name, entry, nlen);
	name[nlen] = '\0';
	*sha = entry + nlen + 1;
	return contract_profile_name_valid(name);
}

static int agent_blobs_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* Deletes a directory tree (symlinks are removed, never followed). */
static void agent_blobs_rmtree(const char *path)
{
	(void)nftw(path, agent_blobs_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static bool agent_blobs_starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Other environments and scratch dirs left by a crash: never usable again. */
static void agent_blobs_prune_root(const char *root, const char *mine)
{
	DIR *d = opendir(root);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char p[AGENT_BLOBS_PATH_MAX];

		if (strcmp(de->d_name, mine) == 0 ||
		    !(agent_blobs_starts(de->d_name, "v1-") || agent_blobs_starts(de->d_name, ".compile-")))
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", root, de->d_name) < sizeof(p))
			agent_blobs_rmtree(p);
	}
	closedir(d);
}

/* Blobs of profiles gone from keep_dir, and torn temp files. */
static void agent_blobs_prune_dir(const agent_blobs *b, const char *keep_dir)
{
	DIR *d = opendir(b->dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char name[AGENT_NAME_CAP], p[AGENT_BLOBS_PATH_MAX];
		const char *sha;
		bool drop = agent_blobs_starts(de->d_name, ".tmp-");

		if (!drop && keep_dir && agent_blobs_split(de->d_name, name, &sha)) {
			snprintf(p, sizeof(p), "%s/%s", keep_dir, name);
			drop = access(p, F_OK) != 0 && errno == ENOENT;
		}
		if (drop && (size_t)snprintf(p, sizeof(p), "%s/%s", b->dir, de->d_name) < sizeof(p))
			(void)unlink(p);
	}
	closedir(d);
}

int agent_blobs_open(agent_blobs *b, const char *root, const char *env, const char *keep_dir, ag_err *err)
{
	char mine[AGENT_SHA256_HEX + 8];

	snprintf(mine, sizeof(mine), "v1-%s", env);
	if ((size_t)snprintf(b->dir, sizeof(b->dir), "%s/%s", root, mine) >= sizeof(b->dir)) {
		b->dir[0] = '\0';
		return err_set(err, ENAMETOOLONG, "binary policy store path too long under %s", root);
	}
	if (mkdir(b->dir, 0700) != 0 && errno != EEXIST) {
		err_set(err, errno, "cannot create %s: %s", b->dir, strerror(errno));
		b->dir[0] = '\0';
		return -1;
	}
	agent_blobs_prune_root(root, mine);
	agent_blobs_prune_dir(b, keep_dir);
	return 0;
}

static int agent_blobs_path(const agent_blobs *b, const char *name, const char *sha, char *out, size_t cap, ag_err *err)
{
	if (!contract_profile_name_valid(name) || strlen(sha) != AGENT_BLOBS_SHA_LEN ||
	    !agent_blobs_is_hex(sha, AGENT_BLOBS_SHA_LEN))
		return err_set(err, EINVAL, "binary policy store: bad key %s.%s", name, sha);
	if ((size_t)snprintf(out, cap, "%s/%s.%s", b->dir, name, sha) >= cap)
		return err_set(err, ENAMETOOLONG, "binary policy store: path too long");
	return 0;
}

/* The payload of a blob file's bytes v[0..n) when its header matches it:
 * offset into v and length; false for a torn, damaged or foreign file. */
static bool agent_blobs_verify(const char *v, size_t n, const char *text_sha, size_t *off, size_t *len)
{
	const char *nl = memchr(v, '\n', n < AGENT_BLOBS_HEADER_MAX ? n : AGENT_BLOBS_HEADER_MAX);
	const size_t ml = strlen(AGENT_BLOBS_MAGIC);
	char want[AGENT_SHA256_HEX], got[AGENT_SHA256_HEX];
	unsigned long long declared;
	char *end;

	const char *p = v + ml;

	if (!nl || (size_t)(nl - v) < ml + 2 * (AGENT_BLOBS_SHA_LEN + 1) + 1 || memcmp(v, AGENT_BLOBS_MAGIC, ml) != 0 ||
	    memcmp(p, text_sha, AGENT_BLOBS_SHA_LEN) != 0 || p[AGENT_BLOBS_SHA_LEN] != ' ')
		return false;
	p += AGENT_BLOBS_SHA_LEN + 1;
	if (!agent_blobs_is_hex(p, AGENT_BLOBS_SHA_LEN) || p[AGENT_BLOBS_SHA_LEN] != ' ')
		return false;
	memcpy(want, p, AGENT_BLOBS_SHA_LEN);
	want[AGENT_BLOBS_SHA_LEN] = '\0';
	errno = 0;
	declared = strtoull(p + AGENT_BLOBS_SHA_LEN + 1, &end, 10);
	*off = (size_t)(nl - v) + 1;
	if (errno != 0 || end != nl || declared != n - *off)
		return false;
	*len = (size_t)declared;
	agent_sha256_hex(v + *off, *len, got);
	return strcmp(want, got) == 0;
}

int agent_blobs_get(const agent_blobs *b, const char *name, const char *text_sha, char **out, size_t *len, ag_err *err)
{
	char path[AGENT_BLOBS_PATH_MAX];
	char *v = NULL;
	size_t n = 0, off = 0, plen = 0;
	ag_err re;

	*out = NULL;
	*len = 0;
	if (agent_blobs_path(b, name, text_sha, path, sizeof(path), err) != 0)
		return -1;
	if (buf_read_file_dup(path, AGENT_BLOBS_MAX_BYTES + AGENT_BLOBS_HEADER_MAX, &v, &n, &re) != 0) {
		if (re.code == ENOENT)
			return 0;
		/* Unreadable or oversized: useless; a compile replaces it. */
		(void)unlink(path);
		return 0;
	}
	if (!agent_blobs_verify(v, n, text_sha, &off, &plen)) {
		free(v);
		(void)unlink(path);
		return 0;
	}
	memmove(v, v + off, plen);
	*out = v;
	*len = plen;
	return 1;
}

static int agent_blobs_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int agent_blobs_put(const agent_blobs *b, const char *name, const char *text_sha, const void *data, size_t len,
		    ag_err *err)
{
	char path[AGENT_BLOBS_PATH_MAX], tmp[AGENT_BLOBS_PATH_MAX], head[AGENT_BLOBS_HEADER_MAX];
	char sha[AGENT_SHA256_HEX];
	int hl;
	int fd;

	if (agent_blobs_path(b, name, text_sha, path, sizeof(path), err) != 0)
		return -1;
	if (len > AGENT_BLOBS_MAX_BYTES)
		return err_set(err, E2BIG, "%s: compiled policy larger than %u bytes; not stored", name,
			       AGENT_BLOBS_MAX_BYTES);
	agent_sha256_hex(data, len, sha);
	hl = snprintf(head, sizeof(head), "%s%s %s %zu\n", AGENT_BLOBS_MAGIC, text_sha, sha, len);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s.XXXXXX", b->dir, name) >= sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "binary policy store: path too long");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "cannot create a temp file in %s: %s", b->dir, strerror(errno));
	if (agent_blobs_write_all(fd, head, (size_t)hl) != 0 || agent_blobs_write_all(fd, data, len) != 0) {
		err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		err_set(err, errno, "cannot rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	agent_blobs_drop(b, name, text_sha);
	return 0;
fail:
	(void)unlink(tmp);
	return -1;
}

void agent_blobs_drop(const agent_blobs *b, const char *name, const char *keep_sha)
{
	DIR *d = opendir(b->dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char n[AGENT_NAME_CAP], p[AGENT_BLOBS_PATH_MAX];
		const char *sha;

		if (!agent_blobs_split(de->d_name, n, &sha) || strcmp(n, name) != 0 ||
		    (keep_sha && strcmp(sha, keep_sha) == 0))
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", b->dir, de->d_name) < sizeof(p))
			(void)unlink(p);
	}
	closedir(d);
}

int agent_blobs_scratch_new(const char *root, char *out, size_t cap, ag_err *err)
{
	if ((size_t)snprintf(out, cap, "%s/.compile-XXXXXX", root) >= cap)
		return err_set(err, ENAMETOOLONG, "scratch cache path too long under %s", root);
	if (!mkdtemp(out))
		return err_set(err, errno, "cannot create a scratch cache under %s: %s", root, strerror(errno));
	return 0;
}

/* The parser's features dir in a scratch cache: <scratch>/<8 hex>.<n>, the
 * only non-hidden directory (the cache was empty before this batch). */
static int agent_blobs_scratch_sub(const char *scratch, char *out, size_t cap)
{
	DIR *d = opendir(scratch);
	struct dirent *de;
	int rc = -1;

	if (!d)
		return -1;
	while (rc != 0 && (de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' || (size_t)snprintf(out, cap, "%s/%s", scratch, de->d_name) >= cap)
			continue;
		if (lstat(out, &st) == 0 && S_ISDIR(st.st_mode))
			rc = 0;
	}
	closedir(d);
	return rc;
}

int agent_blobs_take(const agent_blobs *b, const char *scratch, const char *name, const char *text_sha, ag_err *err)
{
	char sub[AGENT_BLOBS_PATH_MAX], path[AGENT_BLOBS_PATH_MAX];
	char *v = NULL;
	size_t n = 0;
	int rc;

	if (agent_blobs_scratch_sub(scratch, sub, sizeof(sub)) != 0)
		return err_set(err, ENOENT, "the parser wrote no binary policy (no kernel cache interface)");
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", sub, name) >= sizeof(path))
		return err_set(err, ENAMETOOLONG, "scratch cache path too long");
	if (buf_read_file_dup(path, AGENT_BLOBS_MAX_BYTES, &v, &n, err) != 0)
		return -1;
	rc = agent_blobs_put(b, name, text_sha, v, n, err);
	free(v);
	return rc;
}

void agent_blobs_scratch_free(const char *scratch)
{
	if (scratch && *scratch)
		agent_blobs_rmtree(scratch);
}
