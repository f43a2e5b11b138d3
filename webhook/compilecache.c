/* compilecache: results of compile checks by content hash (see
 * compilecache.h). A linear table: a few hundred entries, looked up only by
 * profiles-ConfigMap reviews, so a scan of 32-byte keys beats the upkeep of
 * an index. Recency is a counter stamped on each use; eviction takes the
 * lowest stamp (or an expired entry). */
#include "compilecache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

typedef struct compilecache_entry {
	unsigned char ce_hash[COMPILECACHE_HASH_LEN];
	uint64_t ce_used; /* recency stamp; 0 = free slot */
	int64_t ce_expires_ms;
	bool ce_ok;
	char ce_message[AG_ERR_MSG_MAX];
} compilecache_entry;

struct compilecache {
	pthread_mutex_t cc_lock;
	compilecache_entry *cc_entries; /* cc_cap slots, owned */
	size_t cc_cap;
	size_t cc_len;
	uint64_t cc_clock;
};

compilecache *compilecache_new(size_t cap)
{
	compilecache *c;

	if (cap == 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cc_entries = calloc(cap, sizeof(*c->cc_entries));
	if (!c->cc_entries || pthread_mutex_init(&c->cc_lock, NULL) != 0) {
		free(c->cc_entries);
		free(c);
		return NULL;
	}
	c->cc_cap = cap;
	return c;
}

void compilecache_free(compilecache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->cc_lock);
	free(c->cc_entries);
	free(c);
}

void compilecache_hash(const char *key, const char *text, size_t len, unsigned char out[COMPILECACHE_HASH_LEN])
{
	gnutls_hash_hd_t h;

	/* The key is part of the name: the same text under another key is
	 * another check (the parser must see a profile named like its key). */
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) != 0) {
		/* Cannot happen with a working GnuTLS; an all-zero name is then
		 * never stored (compilecache_put refuses it), so nothing is shared. */
		memset(out, 0, COMPILECACHE_HASH_LEN);
		return;
	}
	(void)gnutls_hash(h, key, strlen(key) + 1);
	(void)gnutls_hash(h, text, len);
	gnutls_hash_deinit(h, out);
}

static bool compilecache_null(const unsigned char h[COMPILECACHE_HASH_LEN])
{
	for (size_t i = 0; i < COMPILECACHE_HASH_LEN; i++)
		if (h[i])
			return false;
	return true;
}

/* The entry named h, or NULL. Caller holds the lock. */
static compilecache_entry *compilecache_find(compilecache *c, const unsigned char h[COMPILECACHE_HASH_LEN])
{
	for (size_t i = 0; i < c->cc_len; i++)
		if (memcmp(c->cc_entries[i].ce_hash, h, COMPILECACHE_HASH_LEN) == 0)
			return &c->cc_entries[i];
	return NULL;
}

static bool compilecache_expired(const compilecache_entry *e, int64_t now_ms)
{
	return e->ce_expires_ms && now_ms >= e->ce_expires_ms;
}

bool compilecache_get(compilecache *c, const unsigned char h[COMPILECACHE_HASH_LEN], int64_t now_ms, bool *ok,
		      char *msg, size_t cap)
{
	compilecache_entry *e;
	bool hit = false;

	if (!c)
		return false;
	pthread_mutex_lock(&c->cc_lock);
	e = compilecache_find(c, h);
	if (e && !compilecache_expired(e, now_ms)) {
		e->ce_used = ++c->cc_clock;
		*ok = e->ce_ok;
		if (msg && cap)
			snprintf(msg, cap, "%s", e->ce_message);
		hit = true;
	}
	pthread_mutex_unlock(&c->cc_lock);
	return hit;
}

/* The slot for a new entry: a free one, else an expired one, else the least
 * recently used. Caller holds the lock. */
static compilecache_entry *compilecache_slot(compilecache *c, int64_t now_ms)
{
	compilecache_entry *lru = &c->cc_entries[0];

	if (c->cc_len < c->cc_cap)
		return &c->cc_entries[c->cc_len++];
	for (size_t i = 0; i < c->cc_len; i++) {
		compilecache_entry *e = &c->cc_entries[i];

		if (compilecache_expired(e, now_ms))
			return e;
		if (e->ce_used < lru->ce_used)
			lru = e;
	}
	return lru;
}

void compilecache_put(compilecache *c, const unsigned char h[COMPILECACHE_HASH_LEN], bool ok, const char *msg,
		      int64_t now_ms, int64_t ttl_ms)
{
	compilecache_entry *e;

	if (!c || compilecache_null(h))
		return;
	pthread_mutex_lock(&c->cc_lock);
	e = compilecache_find(c, h);
	if (!e)
		e = compilecache_slot(c, now_ms);
	memcpy(e->ce_hash, h, COMPILECACHE_HASH_LEN);
	e->ce_used = ++c->cc_clock;
	e->ce_expires_ms = ttl_ms > 0 ? now_ms + ttl_ms : 0;
	e->ce_ok = ok;
	snprintf(e->ce_message, sizeof(e->ce_message), "%s", ok || !msg ? "" : msg);
	pthread_mutex_unlock(&c->cc_lock);
}

size_t compilecache_size(compilecache *c)
{
	size_t n;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->cc_lock);
	n = c->cc_len;
	pthread_mutex_unlock(&c->cc_lock);
	return n;
}
