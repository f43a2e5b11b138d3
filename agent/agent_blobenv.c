/* agent_blobenv: hashing the compile environment (see agent_blobenv.h). */
#include "agent_blobenv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

enum { AGENT_BLOBENV_PATH_MAX = 4096, AGENT_BLOBENV_CHUNK = 65536 };

/* Format of the hashed stream; bump it when the material changes. */
#define AGENT_BLOBENV_FORMAT "armorgate-blobenv/1 agent " ARMORGATE_VERSION

/* One walk: the digest, the bounds spent, the skipped directories. */
typedef struct agent_blobenv_walk {
	EVP_MD_CTX *md;
	size_t bytes, files;
	dev_t skip_dev[AGENT_BLOBENV_SKIP];
	ino_t skip_ino[AGENT_BLOBENV_SKIP];
	bool skip_set[AGENT_BLOBENV_SKIP];
	char *chunk; /* AGENT_BLOBENV_CHUNK bytes */
} agent_blobenv_walk;

/* A record of the stream: tag, NUL, value, NUL. Separators make the
 * stream unambiguous (a name cannot run into its content). */
static void agent_blobenv_tag(agent_blobenv_walk *w, const char *tag, const char *value)
{
	(void)EVP_DigestUpdate(w->md, tag, strlen(tag) + 1);
	(void)EVP_DigestUpdate(w->md, value, strlen(value) + 1);
}

/* Hashes the bytes of path under label, streamed (securityfs files report
 * size 0, the parser binary is MBs). A missing file when optional hashes as
 * "missing" (its later appearance changes the id). */
static int agent_blobenv_file(agent_blobenv_walk *w, const char *label, const char *path, bool optional, ag_err *err)
{
	char len[32];
	size_t total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = -1;

	if (fd < 0) {
		if (optional && errno == ENOENT) {
			agent_blobenv_tag(w, label, "missing");
			return 0;
		}
		return err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
	}
	if (++w->files > AGENT_BLOBENV_MAX_FILES) {
		err_set(err, E2BIG, "more than %u files to hash for the binary policy store", AGENT_BLOBENV_MAX_FILES);
		goto cleanup;
	}
	agent_blobenv_tag(w, label, "file");
	for (;;) {
		ssize_t r = read(fd, w->chunk, AGENT_BLOBENV_CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		total += (size_t)r;
		w->bytes += (size_t)r;
		if (w->bytes > AGENT_BLOBENV_MAX_BYTES) {
			err_set(err, E2BIG, "more than %u bytes to hash for the binary policy store",
				AGENT_BLOBENV_MAX_BYTES);
			goto cleanup;
		}
		(void)EVP_DigestUpdate(w->md, w->chunk, (size_t)r);
	}
	/* The length closes the record: content cannot run into the next tag. */
	snprintf(len, sizeof(len), "%zu", total);
	agent_blobenv_tag(w, "len", len);
	rc = 0;
cleanup:
	close(fd);
	return rc;
}

static bool agent_blobenv_skipped(const agent_blobenv_walk *w, const struct stat *st)
{
	for (size_t i = 0; i < AGENT_BLOBENV_SKIP; i++)
		if (w->skip_set[i] && w->skip_dev[i] == st->st_dev && w->skip_ino[i] == st->st_ino)
			return true;
	return false;
}

static int agent_blobenv_dirent_filter(const struct dirent *d)
{
	/* Hidden entries are never included by name (and hold temp files). */
	return d->d_name[0] != '.';
}

/* Every file under dir (symlinks followed, as the parser follows them), names
 * sorted, each as its path relative to the walk's root. */
static int agent_blobenv_tree(agent_blobenv_walk *w, const char *dir, const char *rel, int depth, ag_err *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, agent_blobenv_dirent_filter, alphasort);
	int rc = 0;

	if (n < 0)
		return err_set(err, errno, "cannot list %s: %s", dir, strerror(errno));
	for (int i = 0; i < n && rc == 0; i++) {
		char path[AGENT_BLOBENV_PATH_MAX], sub[AGENT_BLOBENV_PATH_MAX];
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >= sizeof(path) ||
		    (size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]->d_name) >=
			    sizeof(sub)) {
			rc = err_set(err, ENAMETOOLONG, "path too long under %s", dir);
			break;
		}
		if (stat(path, &st) != 0) {
			/* A dangling symlink is a file the parser cannot include either. */
			agent_blobenv_tag(w, sub, "dangling");
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (agent_blobenv_skipped(w, &st))
				continue;
			if (depth >= AGENT_BLOBENV_MAX_DEPTH) {
				rc = err_set(err, ELOOP, "%s: more than %d directory levels", path,
					     AGENT_BLOBENV_MAX_DEPTH);
				break;
			}
			agent_blobenv_tag(w, sub, "dir");
			rc = agent_blobenv_tree(w, path, sub, depth + 1, err);
		} else if (S_ISREG(st.st_mode)) {
			rc = agent_blobenv_file(w, sub, path, false, err);
		}
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* The parser as execve finds it: a bare name through PATH. */
static int agent_blobenv_parser(const char *parser, char *out, size_t cap, ag_err *err)
{
	const char *path = getenv("PATH");

	if (strchr(parser, '/')) {
		snprintf(out, cap, "%s", parser);
		return 0;
	}
	for (const char *p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin"; *p;) {
		size_t len = strcspn(p, ":");

		if ((size_t)snprintf(out, cap, "%.*s/%s", (int)len, p, parser) < cap && access(out, X_OK) == 0)
			return 0;
		p += len;
		if (*p == ':')
			p++;
	}
	return err_set(err, ENOENT, "apparmor_parser %s not found in PATH", parser);
}

static void agent_blobenv_skips(agent_blobenv_walk *w, const agent_blobenv *env)
{
	for (size_t i = 0; i < AGENT_BLOBENV_SKIP; i++) {
		struct stat st;

		if (env->skip[i] && stat(env->skip[i], &st) == 0) {
			w->skip_dev[i] = st.st_dev;
			w->skip_ino[i] = st.st_ino;
			w->skip_set[i] = true;
		}
	}
}

/* Every section in a fixed order. */
static int agent_blobenv_material(agent_blobenv_walk *w, const agent_blobenv *env, ag_err *err)
{
	char path[AGENT_BLOBENV_PATH_MAX];
	const char *base = env->base_dir ? env->base_dir : "/etc/apparmor.d";
	struct stat st;

	agent_blobenv_tag(w, "format", AGENT_BLOBENV_FORMAT);
	snprintf(path, sizeof(path), "%s/apparmor/features", env->securityfs_root);
	agent_blobenv_tag(w, "section", "kernel-features");
	if (agent_blobenv_tree(w, path, "", 0, err) != 0)
		return err_wrap(err, "kernel AppArmor features");
	agent_blobenv_tag(w, "section", "parser");
	if (agent_blobenv_parser(env->parser_path ? env->parser_path : "apparmor_parser", path, sizeof(path), err) !=
		    0 ||
	    agent_blobenv_file(w, "parser", path, false, err) != 0)
		return -1;
	agent_blobenv_tag(w, "section", "config");
	if (agent_blobenv_file(w, "parser.conf", env->parser_conf ? env->parser_conf : "/etc/apparmor/parser.conf",
			       true, err) != 0)
		return -1;
	if (env->features_file && agent_blobenv_file(w, "features-file", env->features_file, false, err) != 0)
		return -1;
	agent_blobenv_tag(w, "section", "includes");
	agent_blobenv_tag(w, "base", base);
	if (stat(base, &st) != 0 || !S_ISDIR(st.st_mode)) {
		agent_blobenv_tag(w, "base", "missing");
		return 0;
	}
	return agent_blobenv_tree(w, base, "", 0, err);
}

int agent_blobenv_id(const agent_blobenv *env, char out[AGENT_SHA256_HEX], ag_err *err)
{
	static const char hex[] = "0123456789abcdef";
	agent_blobenv_walk w;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = -1;

	out[0] = '\0';
	memset(&w, 0, sizeof(w));
	w.md = EVP_MD_CTX_new();
	w.chunk = malloc(AGENT_BLOBENV_CHUNK);
	if (!w.md || !w.chunk || EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1) {
		err_set(err, ENOMEM, "cannot hash the compile environment: out of memory");
		goto cleanup;
	}
	agent_blobenv_skips(&w, env);
	if (agent_blobenv_material(&w, env, err) != 0)
		goto cleanup;
	if (EVP_DigestFinal_ex(w.md, md, &mdlen) != 1 || mdlen != 32) {
		err_set(err, EIO, "cannot hash the compile environment: libcrypto failed");
		goto cleanup;
	}
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	rc = 0;
cleanup:
	EVP_MD_CTX_free(w.md);
	free(w.chunk);
	return rc;
}
