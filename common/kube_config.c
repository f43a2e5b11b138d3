/* kube_config: where the API server is and who we are to it.
 * Sources: a kubeconfig (YAML via libyaml: current context or an override,
 * inline *-data or files relative to the kubeconfig's folder) or the
 * in-cluster service account. Trust boundary: the kubeconfig and the SA files
 * are operator input; every read has a ceiling, secrets are wiped on free. */
#include "kube_internal.h"
#include "buf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void kube_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void kube_config_cleanup(kube_config *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->ca_pem);
	free(c->ca_file);
	free(c->cert_pem);
	kube_secret_free(c->key_pem);
	kube_secret_free(c->token);
	free(c->token_file);
	memset(c, 0, sizeof(*c));
}

static int kube_dup(char **dst, const char *src, ag_err *err)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	if (!*dst)
		return err_set(err, ENOMEM, "out of memory");
	return 0;
}

int kube_config_copy(kube_config *dst, const kube_config *src, ag_err *err)
{
	memset(dst, 0, sizeof(*dst));
	if (kube_dup(&dst->server, src->server, err) < 0 || kube_dup(&dst->ca_pem, src->ca_pem, err) < 0 ||
	    kube_dup(&dst->ca_file, src->ca_file, err) < 0 || kube_dup(&dst->cert_pem, src->cert_pem, err) < 0 ||
	    kube_dup(&dst->key_pem, src->key_pem, err) < 0 || kube_dup(&dst->token, src->token, err) < 0 ||
	    kube_dup(&dst->token_file, src->token_file, err) < 0) {
		kube_config_cleanup(dst);
		return -1;
	}
	dst->insecure_skip_verify = src->insecure_skip_verify;
	return 0;
}

/* ---- base64 (the *-data fields) ---- */

static int kube_b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Decodes standard base64 (whitespace ignored, padding optional) into a heap
 * NUL-terminated string. */
static int kube_b64_decode(const char *in, char **out, ag_err *err)
{
	size_t n = strlen(in);
	char *o = malloc(n / 4 * 3 + 4);
	size_t ol = 0;
	uint32_t acc = 0;
	int bits = 0;
	bool pad = false;

	*out = NULL;
	if (!o)
		return err_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad = true;
			continue;
		}
		v = kube_b64_val(ch);
		if (v < 0 || pad) {
			explicit_bzero(o, ol);
			free(o);
			return err_set(err, EINVAL, "invalid base64 at offset %zu", i);
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[ol++] = (char)((acc >> bits) & 0xffu);
		}
	}
	o[ol] = '\0';
	*out = o;
	return 0;
}

/* ---- kubeconfig via libyaml's document API ---- */

typedef struct kcfg {
	yaml_document_t doc;
	const char *src; /* for messages */
	const char *dir;
} kcfg;

static yaml_node_t *kcfg_get(kcfg *k, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);

		if (kn && kn->type == YAML_SCALAR_NODE && strlen(key) == kn->data.scalar.length &&
		    memcmp(kn->data.scalar.value, key, kn->data.scalar.length) == 0)
			return yaml_document_get_node(&k->doc, p->value);
	}
	return NULL;
}

/* Scalar value of map[key] or NULL (absent, empty, or not a scalar). */
static const char *kcfg_str(kcfg *k, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = kcfg_get(k, map, key);

	if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
		return NULL;
	/* libyaml NUL-terminates scalar values. */
	return (const char *)n->data.scalar.value;
}

/* Finds the entry of a named list (clusters/users/contexts) and returns its
 * inner map (entry[inner]). */
static yaml_node_t *kcfg_find_named(kcfg *k, const char *list, const char *name, const char *inner)
{
	yaml_node_t *seq = kcfg_get(k, yaml_document_get_root_node(&k->doc), list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
		const char *n = kcfg_str(k, e, "name");

		if (n && strcmp(n, name) == 0) {
			yaml_node_t *m = kcfg_get(k, e, inner);
			/* An entry with no fields ("user: {}") is legal. */
			return m ? m : e;
		}
	}
	return NULL;
}

static int kcfg_path(kcfg *k, const char *p, char **out, ag_err *err)
{
	buf b;

	if (p[0] == '/' || !k->dir || !k->dir[0])
		return kube_dup(out, p, err);
	buf_init(&b, KUBE_PATH_MAX);
	if (buf_appendf(&b, "%s/%s", k->dir, p) < 0) {
		buf_cleanup(&b);
		return err_set(err, ENAMETOOLONG, "%s: path %s too long", k->src, p);
	}
	*out = buf_steal(&b);
	return 0;
}

static bool kcfg_bool(kcfg *k, yaml_node_t *map, const char *key)
{
	const char *v = kcfg_str(k, map, key);

	return v &&
		(strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0 || strcmp(v, "yes") == 0);
}

/* data field (base64) wins over the file field (path resolved, read). */
static int kcfg_pem(kcfg *k, yaml_node_t *map, const char *data_key, const char *file_key, char **out, ag_err *err)
{
	const char *data = kcfg_str(k, map, data_key);
	const char *file = kcfg_str(k, map, file_key);
	char *path = NULL;
	int rc;

	*out = NULL;
	if (data) {
		if (kube_b64_decode(data, out, err) < 0)
			return err_wrap(err, "%s: %s", k->src, data_key);
		return 0;
	}
	if (!file)
		return 0;
	if (kcfg_path(k, file, &path, err) < 0)
		return -1;
	rc = buf_read_file_dup(path, KUBE_PEM_FILE_MAX, out, NULL, err);
	if (rc < 0)
		err_wrap(err, "%s: %s", k->src, file_key);
	free(path);
	return rc;
}

static int kcfg_resolve(kcfg *k, const char *context_override, kube_config *out, ag_err *err)
{
	yaml_node_t *root = yaml_document_get_root_node(&k->doc);
	const char *ctx_name = context_override;
	const char *cluster_name;
	const char *user_name;
	const char *server;
	const char *v;
	yaml_node_t *ctx;
	yaml_node_t *cl;
	yaml_node_t *us;
	size_t sl;

	if (!root || root->type != YAML_MAPPING_NODE)
		return err_set(err, EINVAL, "%s: not a kubeconfig (top level is not a mapping)", k->src);
	if (!ctx_name || !ctx_name[0])
		ctx_name = kcfg_str(k, root, "current-context");
	if (!ctx_name)
		return err_set(
			err, EINVAL,
			"%s: no current-context set: set one (kubectl config use-context NAME) or pass a context",
			k->src);
	ctx = kcfg_find_named(k, "contexts", ctx_name, "context");
	if (!ctx)
		return err_set(err, ENOENT, "%s: context \"%s\" not found", k->src, ctx_name);
	cluster_name = kcfg_str(k, ctx, "cluster");
	user_name = kcfg_str(k, ctx, "user");
	if (!cluster_name)
		return err_set(err, EINVAL, "%s: context \"%s\" names no cluster", k->src, ctx_name);
	cl = kcfg_find_named(k, "clusters", cluster_name, "cluster");
	if (!cl)
		return err_set(err, ENOENT, "%s: cluster \"%s\" (context \"%s\") not found", k->src, cluster_name,
			       ctx_name);
	server = kcfg_str(k, cl, "server");
	if (!server)
		return err_set(err, EINVAL, "%s: cluster \"%s\" has no server", k->src, cluster_name);
	if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
		return err_set(err, EINVAL, "%s: cluster \"%s\" server \"%s\" is not an http(s) URL", k->src,
			       cluster_name, server);
	if (kube_dup(&out->server, server, err) < 0)
		return -1;
	sl = strlen(out->server);
	while (sl > 0 && out->server[sl - 1] == '/')
		out->server[--sl] = '\0';
	out->insecure_skip_verify = kcfg_bool(k, cl, "insecure-skip-tls-verify");
	v = kcfg_str(k, cl, "certificate-authority-data");
	if (v) {
		if (kube_b64_decode(v, &out->ca_pem, err) < 0)
			return err_wrap(err, "%s: cluster \"%s\" certificate-authority-data", k->src, cluster_name);
	} else if ((v = kcfg_str(k, cl, "certificate-authority"))) {
		if (kcfg_path(k, v, &out->ca_file, err) < 0)
			return -1;
		if (access(out->ca_file, R_OK) < 0)
			return err_set(err, errno, "%s: cluster \"%s\" certificate-authority %s: %s", k->src,
				       cluster_name, out->ca_file, strerror(errno));
	}
	if (!user_name)
		return 0; /* anonymous */
	us = kcfg_find_named(k, "users", user_name, "user");
	if (!us)
		return err_set(err, ENOENT, "%s: user \"%s\" (context \"%s\") not found", k->src, user_name, ctx_name);
	if (kcfg_get(k, us, "exec") || kcfg_get(k, us, "auth-provider"))
		return err_set(err, ENOTSUP,
			       "%s: user \"%s\" uses exec/auth-provider, which armorgate does not support: use a token "
			       "or a client certificate",
			       k->src, user_name);
	if (kcfg_pem(k, us, "client-certificate-data", "client-certificate", &out->cert_pem, err) < 0 ||
	    kcfg_pem(k, us, "client-key-data", "client-key", &out->key_pem, err) < 0)
		return -1;
	if (!out->cert_pem != !out->key_pem)
		return err_set(err, EINVAL, "%s: user \"%s\" has a client certificate without a key or the reverse",
			       k->src, user_name);
	v = kcfg_str(k, us, "token");
	if (v) {
		/* client-go: an inline token wins over tokenFile. */
		if (strlen(v) > KUBE_TOKEN_MAX)
			return err_set(err, E2BIG, "%s: user \"%s\" token longer than %u bytes", k->src, user_name,
				       (unsigned)KUBE_TOKEN_MAX);
		if (kube_dup(&out->token, v, err) < 0)
			return -1;
	} else if ((v = kcfg_str(k, us, "tokenFile"))) {
		if (kcfg_path(k, v, &out->token_file, err) < 0)
			return -1;
	}
	return 0;
}

int kube_config_from_kubeconfig_text(const char *yaml, size_t len, const char *dir, const char *context_override,
				     kube_config *out, ag_err *err)
{
	yaml_parser_t parser;
	kcfg k;
	int rc = -1;
	bool have_doc = false;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	k.src = "kubeconfig";
	k.dir = dir;
	if (!yaml_parser_initialize(&parser))
		return err_set(err, ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &k.doc)) {
		err_set(err, EINVAL, "kubeconfig: YAML error at line %zu column %zu: %s", parser.problem_mark.line + 1,
			parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown");
		goto out;
	}
	have_doc = true;
	if (!yaml_document_get_root_node(&k.doc)) {
		err_set(err, EINVAL, "kubeconfig: empty document");
		goto out;
	}
	rc = kcfg_resolve(&k, context_override, out, err);
out:
	if (have_doc) {
		/* Scalars hold inline keys and tokens: wipe before libyaml frees them. */
		for (yaml_node_t *n = k.doc.nodes.start; n && n < k.doc.nodes.top; n++)
			if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
				explicit_bzero(n->data.scalar.value, n->data.scalar.length);
		yaml_document_delete(&k.doc);
	}
	yaml_parser_delete(&parser);
	if (rc < 0)
		kube_config_cleanup(out);
	return rc;
}

int kube_config_from_kubeconfig(const char *path, const char *context_override, kube_config *out, ag_err *err)
{
	char *text = NULL;
	char *dir = NULL;
	char *slash;
	size_t len = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (buf_read_file_dup(path, KUBE_KUBECONFIG_MAX, &text, &len, err) < 0)
		return err_wrap(err, "kubeconfig");
	dir = strdup(path);
	if (!dir) {
		err_set(err, ENOMEM, "out of memory");
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else {
		free(dir);
		dir = strdup(".");
		if (!dir) {
			err_set(err, ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = kube_config_from_kubeconfig_text(text, len, dir, context_override, out, err);
	if (rc < 0 && err && strncmp(err->msg, "kubeconfig", 10) == 0) {
		/* Name the file instead of the generic "kubeconfig". */
		char tail[AG_ERR_MSG_MAX];

		memcpy(tail, err->msg + 10, sizeof(tail) - 10);
		tail[sizeof(tail) - 11] = '\0';
		err_set(err, err->code, "kubeconfig %s%s", path, tail);
	}
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	free(dir);
	return rc;
}

int kube_config_in_cluster(const char *sa_dir, kube_config *out, ag_err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *tok = NULL;
	buf b;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	buf_init(&b, KUBE_PATH_MAX);
	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;
	if (!host || !host[0] || !port || !port[0])
		return err_set(err, ENOENT,
			       "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): pass --kubeconfig");
	if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
		return err_set(err, EINVAL, "KUBERNETES_SERVICE_PORT \"%s\" is not a port number", port);
	if (strchr(host, ':') && host[0] != '[') {
		if (buf_appendf(&b, "https://[%s]:%s", host, port) < 0)
			goto nomem;
	} else if (buf_appendf(&b, "https://%s:%s", host, port) < 0) {
		goto nomem;
	}
	out->server = buf_steal(&b);
	if (buf_appendf(&b, "%s/token", sa_dir) < 0)
		goto nomem;
	out->token_file = buf_steal(&b);
	if (buf_appendf(&b, "%s/ca.crt", sa_dir) < 0)
		goto nomem;
	out->ca_file = buf_steal(&b);
	/* Fail at start, not at the first request, when the mount is missing. */
	if (buf_read_file_dup(out->token_file, KUBE_TOKEN_MAX, &tok, NULL, err) < 0) {
		err_wrap(err, "in-cluster service account token");
		goto out;
	}
	if (access(out->ca_file, R_OK) < 0) {
		err_set(err, errno, "in-cluster CA %s: %s", out->ca_file, strerror(errno));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	err_set(err, ENAMETOOLONG, "in-cluster config: host or path too long");
out:
	kube_secret_free(tok);
	buf_cleanup(&b);
	if (rc < 0)
		kube_config_cleanup(out);
	return rc;
}

int kube_config_load(const char *kubeconfig_path, kube_config *out, ag_err *err)
{
	if (!kubeconfig_path || !kubeconfig_path[0])
		return kube_config_in_cluster(NULL, out, err);
	return kube_config_from_kubeconfig(kubeconfig_path, NULL, out, err);
}
