/* kube_http: the client object and the one request primitive over libcurl
 * (GET/CREATE/PATCH/DELETE live here too). Trust boundary: response bodies
 * are untrusted and bounded (KUBE_RESPONSE_MAX, KUBE_ERROR_BODY_MAX); the
 * bearer token is re-read from its file when it rotates and wiped on free.
 * One curl easy handle per call: simple and thread-safe. */
#include "kube_internal.h"
#include "buf_file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

static pthread_once_t kube_curl_once = PTHREAD_ONCE_INIT;
static CURLcode kube_curl_init_rc = CURLE_OK;

static void kube_curl_global_init(void)
{
	kube_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

kube_client *kube_client_new(const kube_config *cfg, ag_err *err)
{
	kube_client *c;

	pthread_once(&kube_curl_once, kube_curl_global_init);
	if (kube_curl_init_rc != CURLE_OK) {
		err_set(err, EIO, "libcurl init failed: %s", curl_easy_strerror(kube_curl_init_rc));
		return NULL;
	}
	if (!cfg || !cfg->server || !cfg->server[0]) {
		err_set(err, EINVAL, "kube client: no API server URL");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (kube_config_copy(&c->cfg, cfg, err) < 0) {
		free(c);
		return NULL;
	}
	snprintf(c->ua, sizeof(c->ua), "armorgate/%s", ARMORGATE_VERSION);
	pthread_mutex_init(&c->tok_lock, NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	return c;
}

void kube_client_free(kube_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	kube_config_cleanup(&c->cfg);
	kube_secret_free(c->tok);
	pthread_mutex_destroy(&c->tok_lock);
	pthread_mutex_destroy(&c->pool_lock);
	free(c);
}

void kube_client_set_stop_flag(kube_client *c, volatile sig_atomic_t *stop)
{
	c->stop = stop;
}

void kube_client_set_user_agent(kube_client *c, const char *ua)
{
	if (ua)
		snprintf(c->ua, sizeof(c->ua), "%s", ua);
}

bool kube_http_stopping(const kube_client *c)
{
	return c->stop && *c->stop;
}

/* ---- query building ---- */

int kube_query_escape(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!in || !out || cap == 0) {
		errno = EINVAL;
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~';
		size_t need = plain ? 1 : 3;

		if (o + need >= cap) {
			out[0] = '\0';
			errno = E2BIG;
			return -1;
		}
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return (int)o;
}

int kube_path_add_query(buf *path, const char *key, const char *value)
{
	size_t cap = strlen(value) * 3 + 1;
	char *esc = malloc(cap);
	int rc;

	if (!esc) {
		errno = ENOMEM;
		return -1;
	}
	if (kube_query_escape(value, esc, cap) < 0) {
		free(esc);
		return -1;
	}
	rc = buf_appendf(path, "%c%s=%s", memchr(path->data ? path->data : "", '?', path->len) ? '&' : '?', key, esc);
	free(esc);
	return rc;
}

/* ---- token (re-read when the file changes: projected SA tokens rotate) ---- */

static int kube_token_refresh(kube_client *c, ag_err *err)
{
	struct stat st;
	char *t = NULL;
	size_t len = 0;
	int rc = 0;

	if (!c->cfg.token_file)
		return 0;
	pthread_mutex_lock(&c->tok_lock);
	if (stat(c->cfg.token_file, &st) < 0) {
		/* Keep the token we have; the file may be mid-swap (..data symlink). */
		if (!c->tok)
			rc = err_set(err, errno, "cannot read token file %s: %s", c->cfg.token_file, strerror(errno));
		goto out;
	}
	if (c->tok && st.st_dev == c->tok_dev && st.st_ino == c->tok_ino && st.st_size == c->tok_size &&
	    st.st_mtim.tv_sec == c->tok_mtime.tv_sec && st.st_mtim.tv_nsec == c->tok_mtime.tv_nsec)
		goto out;
	if (buf_read_file_dup(c->cfg.token_file, KUBE_TOKEN_MAX, &t, &len, err) < 0) {
		if (!c->tok)
			rc = -1;
		goto out;
	}
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
		t[--len] = '\0';
	if (len == 0 || strpbrk(t, "\r\n")) {
		kube_secret_free(t);
		if (!c->tok)
			rc = err_set(err, EINVAL, "token file %s is empty or not one line", c->cfg.token_file);
		goto out;
	}
	kube_secret_free(c->tok);
	c->tok = t;
	c->tok_dev = st.st_dev;
	c->tok_ino = st.st_ino;
	c->tok_size = st.st_size;
	c->tok_mtime = st.st_mtim;
out:
	pthread_mutex_unlock(&c->tok_lock);
	return rc;
}

/* Builds the "Authorization: Bearer ..." header into out (secret). */
static int kube_auth_header(kube_client *c, buf *out, ag_err *err)
{
	int rc = 0;

	if (c->cfg.token) {
		if (buf_appendf(out, "Authorization: Bearer %s", c->cfg.token) < 0)
			return err_set(err, E2BIG, "token too long");
		return 0;
	}
	if (!c->cfg.token_file)
		return 0;
	if (kube_token_refresh(c, err) < 0)
		return -1;
	pthread_mutex_lock(&c->tok_lock);
	if (c->tok && buf_appendf(out, "Authorization: Bearer %s", c->tok) < 0)
		rc = err_set(err, E2BIG, "token too long");
	pthread_mutex_unlock(&c->tok_lock);
	return rc;
}

/* ---- handle pool ---- */

static CURL *kube_handle_get(kube_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->npool > 0)
		h = c->pool[--c->npool];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

static void kube_handle_put(kube_client *c, CURL *h, bool reusable)
{
	if (reusable) {
		/* Drop the options now (they point at this call's stack and
		 * headers); connections and TLS sessions are kept. */
		curl_easy_reset(h);
		pthread_mutex_lock(&c->pool_lock);
		if (c->npool < KUBE_IDLE_HANDLES) {
			c->pool[c->npool++] = h;
			h = NULL;
		}
		pthread_mutex_unlock(&c->pool_lock);
	}
	if (h)
		curl_easy_cleanup(h);
}

/* ---- the request ---- */

typedef struct kube_xfer {
	kube_client *c;
	const kube_req *r;
	CURL *h;
	long status;  /* known once the first body byte arrives */
	buf errbody;  /* non-2xx body, for the Status message */
	bool aborted; /* write_fn or stop flag ended the transfer */
	bool too_big;
} kube_xfer;

static size_t kube_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	kube_xfer *x = ud;
	size_t n = size * nmemb;

	if (x->status == 0)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status < 200 || x->status > 299) {
		/* Keep what fits for the message; the rest is dropped, not an error. */
		size_t room = x->errbody.max - x->errbody.len;

		if (room > 0 && buf_append(&x->errbody, p, n < room ? n : room) < 0)
			return 0;
		return n;
	}
	if (x->r->write_fn) {
		if (!x->r->write_fn(x->r->write_ud, p, n)) {
			x->aborted = true;
			return 0;
		}
		return n;
	}
	if (buf_append(x->r->resp, p, n) < 0) {
		x->too_big = true;
		return 0;
	}
	return n;
}

static size_t kube_header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	kube_xfer *x = ud;
	size_t n = size * nmemb;
	long st = 0;

	/* The blank line ends a header block; 1xx blocks come before the real one. */
	if (x->r->on_connected && (n == 2 || n == 1) && (p[0] == '\r' || p[0] == '\n')) {
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 200 && st <= 299)
			x->r->on_connected(x->r->write_ud);
	}
	return n;
}

static int kube_xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	kube_xfer *x = ud;

	if (kube_http_stopping(x->c)) {
		x->aborted = true;
		return 1;
	}
	return 0;
}

static const char *kube_reason(long st)
{
	switch (st) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Request Entity Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "HTTP error";
	}
}

static int kube_status_errno(long st)
{
	switch (st) {
	case 401:
	case 403: return EACCES;
	case 404: return ENOENT;
	case 409: return EEXIST;
	case 410: return ESTALE;
	case 413: return E2BIG;
	case 422:
	case 400: return EINVAL;
	case 429:
	case 503: return EAGAIN;
	default: return EIO;
	}
}

/* Copies at most cap-1 printable bytes of s (untrusted) into out. */
static void kube_printable(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[o++] = (ch >= 0x20 && ch != 0x7f) ? (char)ch : ' ';
	}
	out[o] = '\0';
}

static int kube_http_error(kube_xfer *x, ag_err *err)
{
	long st = x->status;
	char msg[300] = "";
	const char *hint = "";
	cJSON *j = NULL;

	if (x->errbody.len > 0) {
		cJSON *m;

		j = cJSON_ParseWithLength(x->errbody.data, x->errbody.len);
		m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
		if (m && cJSON_IsString(m) && m->valuestring)
			kube_printable(msg, sizeof(msg), m->valuestring, strlen(m->valuestring));
		else
			kube_printable(msg, sizeof(msg), x->errbody.data, x->errbody.len < 200 ? x->errbody.len : 200);
	}
	if (!msg[0])
		snprintf(msg, sizeof(msg), "%s %s", x->r->method, x->r->path);
	if (st == 401)
		hint = ": check the token or client certificate";
	else if (st == 403)
		hint = ": check the RBAC rules for this identity";
	err_set(err, kube_status_errno(st), "%ld %s: %s%s", st, kube_reason(st), msg, hint);
	if (err)
		err->http_status = st;
	cJSON_Delete(j);
	return -1;
}

static int kube_transport_error(kube_xfer *x, CURLcode cc, const char *ebuf, ag_err *err)
{
	const char *srv = x->c->cfg.server;
	const char *detail = ebuf[0] ? ebuf : curl_easy_strerror(cc);
	long oserr = 0;

	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(x->h, CURLINFO_OS_ERRNO, &oserr);
		return err_set(err, ECONNREFUSED, "cannot reach %s: %s (%s)", srv,
			       oserr ? strerror((int)oserr) : "connection failed", detail);
	case CURLE_COULDNT_RESOLVE_HOST:
		return err_set(err, EHOSTUNREACH, "cannot reach %s: host name does not resolve (%s)", srv, detail);
	case CURLE_OPERATION_TIMEDOUT: return err_set(err, ETIMEDOUT, "timed out talking to %s: %s", srv, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
	case CURLE_SSL_CACERT:
#endif
	case CURLE_SSL_CACERT_BADFILE:
		return err_set(err, EPROTO,
			       "TLS: certificate verify failed for %s: check the CA in the kubeconfig (%s)", srv,
			       detail);
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return err_set(err, EPROTO,
			       "TLS: client certificate/key rejected locally for %s: check the kubeconfig user (%s)",
			       srv, detail);
	case CURLE_SSL_CONNECT_ERROR: return err_set(err, EPROTO, "TLS handshake with %s failed: %s", srv, detail);
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE: return err_set(err, ECONNRESET, "connection to %s broken: %s", srv, detail);
	default: return err_set(err, EIO, "%s %s%s: %s", x->r->method, srv, x->r->path, detail);
	}
}

/* The request's header list (*hdrs, the caller frees it and wipes it: it
 * holds the token). auth is the Authorization header, built here. */
static int kube_http_headers(kube_client *c, const kube_req *r, buf *auth, struct curl_slist **hdrs, ag_err *err)
{
	const char *lines[4];
	size_t n = 0;
	buf hb;
	int rc = -1;

	buf_init(&hb, KUBE_PATH_MAX);
	if (buf_appendf(&hb, "Accept: %s", r->accept ? r->accept : "application/json") < 0 ||
	    buf_append(&hb, "", 1) < 0 ||
	    (r->body &&
	     buf_appendf(&hb, "Content-Type: %s", r->content_type ? r->content_type : "application/json") < 0)) {
		err_set(err, E2BIG, "Accept or Content-Type header too long");
		goto out;
	}
	if (kube_auth_header(c, auth, err) < 0)
		goto out;
	/* hb holds "Accept: ...\0Content-Type: ..." */
	lines[n++] = hb.data;
	if (r->body)
		lines[n++] = hb.data + strlen(hb.data) + 1;
	if (auth->len > 0)
		lines[n++] = buf_cstr(auth);
	lines[n++] = "Expect:"; /* no 100-continue round trip on POST/PATCH */
	for (size_t i = 0; i < n; i++) {
		struct curl_slist *tmp = curl_slist_append(*hdrs, lines[i]);

		if (!tmp) {
			err_set(err, ENOMEM, "out of memory");
			goto out;
		}
		*hdrs = tmp;
	}
	rc = 0;
out:
	buf_cleanup(&hb);
	return rc;
}

/* Blobs curl reads during the transfer (CURL_BLOB_NOCOPY): they live in the caller's frame. */
typedef struct kube_tls_blobs {
	struct curl_blob ca;
	struct curl_blob cert;
	struct curl_blob key;
} kube_tls_blobs;

/* TLS: the kubeconfig's CA only (no system bundle), client cert/key from memory. */
static void kube_http_tls_opts(CURL *h, const kube_client *c, kube_tls_blobs *b)
{
	if (c->cfg.ca_pem) {
		b->ca.data = c->cfg.ca_pem;
		b->ca.len = strlen(c->cfg.ca_pem);
		b->ca.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b->ca);
	} else if (c->cfg.ca_file) {
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
	}
	if (c->cfg.cert_pem && c->cfg.key_pem) {
		b->cert.data = c->cfg.cert_pem;
		b->cert.len = strlen(c->cfg.cert_pem);
		b->cert.flags = CURL_BLOB_NOCOPY;
		b->key.data = c->cfg.key_pem;
		b->key.len = strlen(c->cfg.key_pem);
		b->key.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b->cert);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b->key);
	}
	if (c->cfg.insecure_skip_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static void kube_http_opts(CURL *h, const kube_client *c, const kube_req *r, kube_xfer *x, const char *url,
			   struct curl_slist *hdrs, char *ebuf)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->ua);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)KUBE_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
	if (r->idle_timeout_s > 0) {
		/* A watch is long by design: no total timeout, but a stream that
		 * sends nothing (not even a bookmark) for this long is dead. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, r->idle_timeout_s);
	} else {
		curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)KUBE_REQUEST_TIMEOUT_S);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, kube_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, kube_xferinfo_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(r->idle_timeout_s > 0 ? 0 : KUBE_RESPONSE_MAX));
	if (strcmp(r->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->body));
	}
}

/* The outcome of a finished transfer as 0 or an error. */
static int kube_http_outcome(const kube_client *c, const kube_req *r, kube_xfer *x, CURLcode cc, const char *ebuf,
			     ag_err *err)
{
	if (x->aborted && kube_http_stopping(c))
		return err_set(err, ECANCELED, "stopping");
	if (x->aborted)
		return err_set(err, ECANCELED, "%s %s: stream ended by the reader", r->method, r->path);
	if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED)
		return err_set(err, E2BIG, "%s %s: response larger than the %zu byte limit", r->method, r->path,
			       r->resp ? r->resp->max : (size_t)KUBE_RESPONSE_MAX);
	if (x->status >= 300 || (cc == CURLE_OK && x->status < 200)) {
		/* An HTTP error wins over a transport error after it (the body is the Status). */
		kube_http_error(x, err);
		return -1;
	}
	if (cc != CURLE_OK) {
		kube_transport_error(x, cc, ebuf, err);
		return -1;
	}
	return 0;
}

int kube_http_perform(kube_client *c, const kube_req *r, bool *aborted, ag_err *err)
{
	CURL *h = NULL;
	struct curl_slist *hdrs = NULL;
	kube_tls_blobs blobs;
	char ebuf[CURL_ERROR_SIZE] = "";
	buf url;
	buf auth;
	kube_xfer x;
	CURLcode cc;
	int rc = -1;

	buf_init(&url, KUBE_PATH_MAX + 512);
	buf_init(&auth, KUBE_TOKEN_MAX + 64);
	memset(&x, 0, sizeof(x));
	memset(&blobs, 0, sizeof(blobs));
	x.c = c;
	x.r = r;
	buf_init(&x.errbody, KUBE_ERROR_BODY_MAX);
	if (aborted)
		*aborted = false;
	err_clear(err);
	if (kube_http_stopping(c)) {
		x.aborted = true;
		err_set(err, ECANCELED, "stopping");
		goto out;
	}
	if (!r->path || r->path[0] != '/') {
		err_set(err, EINVAL, "API path must start with '/'");
		goto out;
	}
	if (buf_appendf(&url, "%s%s", c->cfg.server, r->path) < 0) {
		err_set(err, E2BIG, "API path too long");
		goto out;
	}
	if (kube_http_headers(c, r, &auth, &hdrs, err) < 0)
		goto out;
	h = kube_handle_get(c);
	if (!h) {
		err_set(err, ENOMEM, "curl_easy_init failed");
		goto out;
	}
	x.h = h;
	kube_http_opts(h, c, r, &x, buf_cstr(&url), hdrs, ebuf);
	kube_http_tls_opts(h, c, &blobs);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x.status);
	rc = kube_http_outcome(c, r, &x, cc, ebuf, err);
out:
	if (aborted)
		*aborted = x.aborted;
	if (h)
		kube_handle_put(c, h, !x.aborted);
	/* curl copied the Authorization header into the list: wipe it too. */
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	if (auth.data)
		explicit_bzero(auth.data, auth.cap);
	buf_cleanup(&auth);
	buf_cleanup(&url);
	buf_cleanup(&x.errbody);
	return rc;
}

/* ---- the verbs ---- */

static int kube_json_call(kube_client *c, const char *method, const char *path, const char *ctype, const char *body,
			  cJSON **out, ag_err *err)
{
	kube_req r = { .method = method, .path = path, .content_type = ctype, .body = body };
	buf resp;
	int rc = -1;

	if (out)
		*out = NULL;
	buf_init(&resp, KUBE_RESPONSE_MAX);
	r.resp = &resp;
	if (kube_http_perform(c, &r, NULL, err) < 0)
		goto out;
	if (out) {
		*out = cJSON_ParseWithLength(buf_cstr(&resp), resp.len);
		if (!*out) {
			err_set(err, EBADMSG, "%s %s: response is not JSON", method, path);
			goto out;
		}
	}
	rc = 0;
out:
	buf_cleanup(&resp);
	return rc;
}

int kube_get(kube_client *c, const char *path, cJSON **out, ag_err *err)
{
	return kube_json_call(c, "GET", path, NULL, NULL, out, err);
}

int kube_create(kube_client *c, const char *path, const char *body, cJSON **out, ag_err *err)
{
	return kube_json_call(c, "POST", path, "application/json", body ? body : "", out, err);
}

int kube_patch(kube_client *c, const char *path, kube_patch_type type, const char *body, cJSON **out, ag_err *err)
{
	const char *ct;

	switch (type) {
	case KUBE_PATCH_MERGE: ct = "application/merge-patch+json"; break;
	case KUBE_PATCH_STRATEGIC: ct = "application/strategic-merge-patch+json"; break;
	case KUBE_PATCH_JSON: ct = "application/json-patch+json"; break;
	default: return err_set(err, EINVAL, "unknown patch type %d", (int)type);
	}
	return kube_json_call(c, "PATCH", path, ct, body ? body : "", out, err);
}

int kube_delete(kube_client *c, const char *path, ag_err *err)
{
	return kube_json_call(c, "DELETE", path, NULL, NULL, NULL, err);
}
