/* certs: the webhook's serving certificate and private key, the only module
 * that holds the key. Loaded from files (a mounted Secret: cert-manager and
 * kubelet swap them through a `..data` symlink) and reloaded when they change,
 * without a restart: every TLS handshake picks the current pair through the
 * GnuTLS retrieve callback, so connections already open keep their session.
 * A new pair that does not parse or does not match is refused with a log line
 * and the previous pair stays in use. Key bytes are wiped after import. */
#ifndef ARMORGATE_WEBHOOK_CERTS_H
#define ARMORGATE_WEBHOOK_CERTS_H

#include <stdbool.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "err.h"

enum {
	CERTS_FILE_MAX = 1u << 20, /* ceiling on one PEM file */
	CERTS_CHAIN_MAX = 16,      /* certificates in the chain file */
};

typedef struct certs certs;

/* Loads both files; NULL with err naming the file and the problem when they
 * cannot be read, do not parse or do not belong together. Paths are copied. */
certs *certs_new(const char *cert_file, const char *key_file, ag_err *err);
void certs_free(certs *c);

/* Re-reads the files when their identity (inode, size, mtime) or content
 * changed. Returns 1 when a new pair is now served, 0 when nothing changed,
 * -1 when a changed pair was refused (err says why; the old pair is kept).
 * A refused pair is not retried until the files change again. */
int certs_reload(certs *c, ag_err *err);

/* SHA-256 of the served leaf certificate (DER), hex, for logs and tests. */
void certs_fingerprint(certs *c, char *out, size_t cap);

/* The GnuTLS callback for MHD_OPTION_HTTPS_CERT_CALLBACK. GnuTLS gives no
 * user pointer, so the served pair is process-wide: certs_install makes c
 * the one the callback serves (NULL to stop). */
void certs_install(certs *c);
int certs_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
		   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
		   unsigned int *pcert_length, gnutls_privkey_t *pkey);

#endif
