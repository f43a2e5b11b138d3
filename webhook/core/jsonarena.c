/* jsonarena: per-thread bump arena behind cJSON's allocation hooks. See
 * jsonarena.h for the process-wide effect and the lifetime rule. */
#include "jsonarena.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#if defined(__SANITIZE_ADDRESS__)
#define JSONARENA_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSONARENA_OFF 1
#endif
#endif
#ifndef JSONARENA_OFF
#define JSONARENA_OFF 0
#endif

typedef struct jsonarena {
	char *ja_base;
	size_t ja_used;
	bool ja_active;
	bool ja_spilled;
} jsonarena;

static pthread_once_t jsonarena_once = PTHREAD_ONCE_INIT;
static pthread_key_t jsonarena_key;
static bool jsonarena_ok;
/* The calling thread's arena (also kept under jsonarena_key so it is freed
 * when the thread exits). */
static _Thread_local jsonarena *jsonarena_tl;

static void *jsonarena_malloc(size_t n)
{
	jsonarena *a = jsonarena_tl;

	if (a && a->ja_active) {
		size_t need = (n + 15u) & ~(size_t)15u;

		if (need >= n && JSONARENA_SIZE - a->ja_used >= need) {
			void *p = a->ja_base + a->ja_used;

			a->ja_used += need;
			return p;
		}
		a->ja_spilled = true;
	}
	return malloc(n);
}

static bool jsonarena_owns(const jsonarena *a, const void *p)
{
	uintptr_t b = (uintptr_t)a->ja_base;
	uintptr_t q = (uintptr_t)p;

	return q >= b && q < b + JSONARENA_SIZE;
}

static void jsonarena_free(void *p)
{
	jsonarena *a = jsonarena_tl;

	if (a && a->ja_base && jsonarena_owns(a, p))
		return; /* recycled wholesale by jsonarena_leave */
	free(p);
}

static void jsonarena_destroy(void *arg)
{
	jsonarena *a = arg;

	if (!a)
		return;
	free(a->ja_base);
	free(a);
}

static void jsonarena_init(void)
{
	cJSON_Hooks hooks = { jsonarena_malloc, jsonarena_free };

	if (pthread_key_create(&jsonarena_key, jsonarena_destroy) != 0)
		return;
	cJSON_InitHooks(&hooks);
	jsonarena_ok = true;
}

void jsonarena_install(void)
{
	if (!JSONARENA_OFF)
		pthread_once(&jsonarena_once, jsonarena_init);
}

bool jsonarena_enter(void)
{
	jsonarena *a;

	/* Set once by jsonarena_install before any other thread existed. */
	if (JSONARENA_OFF || !jsonarena_ok)
		return false;
	a = jsonarena_tl;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return false;
		a->ja_base = malloc(JSONARENA_SIZE);
		if (!a->ja_base || pthread_setspecific(jsonarena_key, a) != 0) {
			free(a->ja_base);
			free(a);
			return false;
		}
		jsonarena_tl = a;
	}
	a->ja_used = 0;
	a->ja_spilled = false;
	a->ja_active = true;
	return true;
}

bool jsonarena_clean(void)
{
	const jsonarena *a = jsonarena_tl;

	return a && a->ja_active && !a->ja_spilled;
}

void jsonarena_leave(void)
{
	jsonarena *a = jsonarena_tl;

	if (!a)
		return;
	a->ja_active = false;
	a->ja_used = 0;
}
