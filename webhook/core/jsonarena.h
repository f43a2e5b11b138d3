/* jsonarena: a per-thread bump allocator for the cJSON tree of one admission
 * review, so parsing a Pod costs a pointer bump per node instead of a
 * malloc/free pair (the allocator was the largest cost of a review;
 * bench/webhook/README.md).
 *
 * Globals, the only process-wide state of webhook_core: jsonarena_install()
 * sets cJSON's allocation hooks (cJSON_InitHooks) for the whole process, and
 * a thread-local arena per thread that enters a section (freed when the
 * thread exits). A program opts in by calling jsonarena_install() once
 * while it has one thread (armorgate-webhook's main, the benchmark, the
 * tests); without it every section is off and cJSON uses malloc, with the
 * same results. After it, threads outside a section, and allocations that do
 * not fit the arena, go to plain malloc/free as before; the free hook
 * recognises arena pointers of the calling thread and ignores them. A tree
 * built inside a section must not outlive the section or leave its thread.
 * Sanitizer builds never use the arena (ASan must see every allocation). */
#ifndef ARMORGATE_JSONARENA_H
#define ARMORGATE_JSONARENA_H

#include <stdbool.h>
#include <stddef.h>

enum { JSONARENA_SIZE = 256u << 10 }; /* per thread; bigger trees spill to malloc */

/* Installs the cJSON hooks for the process. Call before any other thread
 * exists (a thread inside cJSON must not see them change); later calls do
 * nothing. No-op in sanitizer builds. */
void jsonarena_install(void);

/* Starts a section on this thread. true when the arena is in use (false:
 * not installed, sanitizer build or out of memory; cJSON then uses malloc as
 * usual). */
bool jsonarena_enter(void);
/* true when nothing allocated in this section spilled to malloc, so the
 * tree may be dropped without cJSON_Delete. */
bool jsonarena_clean(void);
/* Ends the section and recycles the arena (call after cJSON_Delete, if any). */
void jsonarena_leave(void);

#endif
