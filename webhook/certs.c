/* certs: serving certificate + key with hot reload (see certs.h). GnuTLS
 * (inside libmicrohttpd) does the TLS; OpenSSL checks that the key belongs to
 * the certificate and computes fingerprints. */
#include "certs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "buf.h"
#include "buf_file.h"
#include "log.h"

/* A replaced pair stays allocated this long: a handshake that picked it just
 * before the swap may still be using it (handshakes time out well before). */
#define CERTS_RETIRE_GRACE_S 600

typedef struct certs_gen {
	gnutls_pcert_st cg_pcerts[CERTS_CHAIN_MAX];
	unsigned int cg_npcerts;
	gnutls_privkey_t cg_key;
	char cg_fp[65];
	time_t cg_retired_at;
	struct certs_gen *cg_next; /* retired list */
} certs_gen;

typedef struct certs_fileid {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	bool valid;
} certs_fileid;

struct certs {
	char *c_cert_file;
	char *c_key_file;
	pthread_mutex_t c_lock;
	certs_gen *c_current;
	certs_gen *c_retired;
	certs_fileid c_seen_cert; /* identity at the last load attempt */
	certs_fileid c_seen_key;
	unsigned char c_hash[EVP_MAX_MD_SIZE]; /* content hash of the served pair */
};

static certs *certs_served;

static void certs_gen_free(certs_gen *g)
{
	if (!g)
		return;
	for (unsigned int i = 0; i < g->cg_npcerts; i++)
		gnutls_pcert_deinit(&g->cg_pcerts[i]);
	if (g->cg_key)
		gnutls_privkey_deinit(g->cg_key);
	free(g);
}

static void certs_fileid_get(const char *path, certs_fileid *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st) != 0)
		return;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtim = st.st_mtim;
	id->valid = true;
}

static bool certs_fileid_eq(const certs_fileid *a, const certs_fileid *b)
{
	return a->valid == b->valid && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

static int certs_read_file(const char *path, const char *what, buf *out, ag_err *err)
{
	if (buf_read_file(out, path, err) != 0)
		return err_wrap(err, "TLS %s", what);
	if (out->len == 0)
		return err_set(err, EINVAL, "TLS %s %s is empty", what, path);
	return 0;
}

/* OpenSSL: does the key belong to the first certificate? Also the leaf's
 * fingerprint and an expiry warning. */
static int certs_check_pair(const certs *c, const buf *cert, const buf *key, char *fp, size_t fpcap, ag_err *err)
{
	BIO *cb = BIO_new_mem_buf(cert->data, (int)cert->len);
	BIO *kb = BIO_new_mem_buf(key->data, (int)key->len);
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc = -1;

	if (!cb || !kb) {
		err_set(err, ENOMEM, "TLS pair check: out of memory");
		goto out;
	}
	x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	if (!x) {
		err_set(err, EINVAL, "TLS certificate %s: no PEM certificate found", c->c_cert_file);
		goto out;
	}
	pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	if (!pk) {
		err_set(err, EINVAL, "TLS key %s: no unencrypted PEM private key found", c->c_key_file);
		goto out;
	}
	if (X509_check_private_key(x, pk) != 1) {
		err_set(err, EINVAL, "TLS key %s does not belong to certificate %s", c->c_key_file, c->c_cert_file);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_kv(LOG_LVL_WARN, "serving certificate has expired; the API server will refuse it: renew it", "file",
		       c->c_cert_file, (char *)NULL);
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
		size_t o = 0;

		for (unsigned int i = 0; i < mdlen && o + 3 <= fpcap; i++)
			o += (size_t)snprintf(fp + o, fpcap - o, "%02x", md[i]);
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	ERR_clear_error();
	return rc;
}

static certs_gen *certs_gen_build(const certs *c, const buf *cert, const buf *key, ag_err *err)
{
	certs_gen *g = calloc(1, sizeof(*g));
	gnutls_datum_t d;
	unsigned int n = CERTS_CHAIN_MAX;
	int gr;

	if (!g) {
		err_set(err, ENOMEM, "TLS: out of memory");
		return NULL;
	}
	if (certs_check_pair(c, cert, key, g->cg_fp, sizeof(g->cg_fp), err) != 0)
		goto fail;
	d.data = (unsigned char *)cert->data;
	d.size = (unsigned int)cert->len;
	gr = gnutls_pcert_list_import_x509_raw(g->cg_pcerts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	if (gr < 0) {
		err_set(err, EINVAL, "TLS certificate %s: %s (at most %d certificates)", c->c_cert_file,
			gnutls_strerror(gr), CERTS_CHAIN_MAX);
		goto fail;
	}
	g->cg_npcerts = n;
	if (gnutls_privkey_init(&g->cg_key) < 0) {
		err_set(err, ENOMEM, "TLS: out of memory");
		goto fail;
	}
	d.data = (unsigned char *)key->data;
	d.size = (unsigned int)key->len;
	gr = gnutls_privkey_import_x509_raw(g->cg_key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (gr < 0) {
		err_set(err, EINVAL, "TLS key %s: %s", c->c_key_file, gnutls_strerror(gr));
		goto fail;
	}
	return g;
fail:
	certs_gen_free(g);
	return NULL;
}

static void certs_hash(const buf *cert, const buf *key, unsigned char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;

	memset(out, 0, EVP_MAX_MD_SIZE);
	if (!ctx)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(ctx, cert->data, cert->len) == 1 &&
	    EVP_DigestUpdate(ctx, "\n--\n", 4) == 1 && EVP_DigestUpdate(ctx, key->data, key->len) == 1)
		(void)EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
}

/* Reads and, when the content differs from what is served, builds a new
 * generation. *out NULL with 0 = same content. */
static int certs_load(certs *c, certs_gen **out, unsigned char *hash, ag_err *err)
{
	buf cert;
	buf key;
	int rc = -1;

	*out = NULL;
	buf_init(&cert, CERTS_FILE_MAX);
	buf_init(&key, CERTS_FILE_MAX);
	if (certs_read_file(c->c_cert_file, "certificate", &cert, err) != 0 ||
	    certs_read_file(c->c_key_file, "key", &key, err) != 0)
		goto out;
	certs_hash(&cert, &key, hash);
	if (c->c_current && memcmp(hash, c->c_hash, EVP_MAX_MD_SIZE) == 0) {
		rc = 0;
		goto out;
	}
	*out = certs_gen_build(c, &cert, &key, err);
	rc = *out ? 0 : -1;
out:
	if (key.data)
		explicit_bzero(key.data, key.cap);
	buf_cleanup(&key);
	buf_cleanup(&cert);
	return rc;
}

certs *certs_new(const char *cert_file, const char *key_file, ag_err *err)
{
	certs *c;
	certs_gen *g = NULL;
	unsigned char hash[EVP_MAX_MD_SIZE];

	if (!cert_file || !*cert_file || !key_file || !*key_file)
		return err_set(err, EINVAL, "--tls-cert and --tls-key are required"), NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(err, ENOMEM, "TLS: out of memory"), NULL;
	pthread_mutex_init(&c->c_lock, NULL);
	c->c_cert_file = strdup(cert_file);
	c->c_key_file = strdup(key_file);
	if (!c->c_cert_file || !c->c_key_file) {
		err_set(err, ENOMEM, "TLS: out of memory");
		goto fail;
	}
	certs_fileid_get(cert_file, &c->c_seen_cert);
	certs_fileid_get(key_file, &c->c_seen_key);
	if (certs_load(c, &g, hash, err) != 0)
		goto fail;
	c->c_current = g;
	memcpy(c->c_hash, hash, sizeof(hash));
	return c;
fail:
	certs_free(c);
	return NULL;
}

void certs_free(certs *c)
{
	if (!c)
		return;
	if (certs_served == c)
		certs_served = NULL;
	certs_gen_free(c->c_current);
	while (c->c_retired) {
		certs_gen *n = c->c_retired->cg_next;

		certs_gen_free(c->c_retired);
		c->c_retired = n;
	}
	pthread_mutex_destroy(&c->c_lock);
	free(c->c_cert_file);
	free(c->c_key_file);
	free(c);
}

static void certs_sweep(certs *c, time_t now)
{
	certs_gen **pp = &c->c_retired;

	while (*pp) {
		certs_gen *g = *pp;

		if (now - g->cg_retired_at >= CERTS_RETIRE_GRACE_S) {
			*pp = g->cg_next;
			certs_gen_free(g);
		} else {
			pp = &g->cg_next;
		}
	}
}

int certs_reload(certs *c, ag_err *err)
{
	certs_fileid idc;
	certs_fileid idk;
	certs_gen *g = NULL;
	unsigned char hash[EVP_MAX_MD_SIZE];
	time_t now = time(NULL);

	pthread_mutex_lock(&c->c_lock);
	certs_sweep(c, now);
	pthread_mutex_unlock(&c->c_lock);
	certs_fileid_get(c->c_cert_file, &idc);
	certs_fileid_get(c->c_key_file, &idk);
	if (certs_fileid_eq(&idc, &c->c_seen_cert) && certs_fileid_eq(&idk, &c->c_seen_key))
		return 0;
	c->c_seen_cert = idc;
	c->c_seen_key = idk;
	if (certs_load(c, &g, hash, err) != 0)
		return -1;
	if (!g)
		return 0; /* touched, same bytes */
	pthread_mutex_lock(&c->c_lock);
	c->c_current->cg_retired_at = now;
	c->c_current->cg_next = c->c_retired;
	c->c_retired = c->c_current;
	c->c_current = g;
	memcpy(c->c_hash, hash, sizeof(hash));
	pthread_mutex_unlock(&c->c_lock);
	return 1;
}

void certs_fingerprint(certs *c, char *out, size_t cap)
{
	if (cap == 0)
		return;
	pthread_mutex_lock(&c->c_lock);
	snprintf(out, cap, "%s", c->c_current ? c->c_current->cg_fp : "");
	pthread_mutex_unlock(&c->c_lock);
}

void certs_install(certs *c)
{
	certs_served = c;
}

int certs_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
		   unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	certs *c = certs_served;

	(void)session;
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (!c)
		return -1;
	pthread_mutex_lock(&c->c_lock);
	*pcert = c->c_current->cg_pcerts;
	*pcert_length = c->c_current->cg_npcerts;
	*pkey = c->c_current->cg_key;
	pthread_mutex_unlock(&c->c_lock);
	return 0;
}
