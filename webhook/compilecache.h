/* compilecache: the results of apparmor_parser compile checks by content
 * (SHA-256 of key, a NUL and the profile text), so a repeated profiles
 * ConfigMap costs no parser run. Bounded: at most cap entries, the least
 * recently used one goes first. An entry may expire (results that depend on
 * load, such as a timeout); the others stay until evicted — the parser and
 * its options do not change while the webhook runs.
 * Threads: any; one mutex. Trust boundary: none (hashes and our own
 * messages). */
#ifndef ARMORGATE_WEBHOOK_COMPILECACHE_H
#define ARMORGATE_WEBHOOK_COMPILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum { COMPILECACHE_HASH_LEN = 32 };

typedef struct compilecache compilecache;

/* cap >= 1. NULL when out of memory. */
compilecache *compilecache_new(size_t cap);
void compilecache_free(compilecache *c);

/* SHA-256 over key, "\0", text[0..len): the entry's name. */
void compilecache_hash(const char *key, const char *text, size_t len, unsigned char out[COMPILECACHE_HASH_LEN]);

/* The result for h, unless missing or expired at now_ms: true with *ok and
 * (refused) the message copied into msg[0..cap). Marks it recently used. */
bool compilecache_get(compilecache *c, const unsigned char h[COMPILECACHE_HASH_LEN], int64_t now_ms, bool *ok,
		      char *msg, size_t cap);

/* Stores (or replaces) the result for h at now_ms (mono_ms()); msg may be
 * NULL when ok. ttl_ms > 0: it counts as missing that long after; 0: kept
 * until evicted. */
void compilecache_put(compilecache *c, const unsigned char h[COMPILECACHE_HASH_LEN], bool ok, const char *msg,
		      int64_t now_ms, int64_t ttl_ms);

/* Entries held now. */
size_t compilecache_size(compilecache *c);

#endif
