/* jsonarena: a per-thread bump allocator for the cJSON tree of one admission
 * review, so parsing a Pod costs a pointer bump per node instead of a
 * malloc/free pair (about 40% of a review's CPU time otherwise).
 *
 * The one process-wide effect of webhook_core, documented here: a
 * constructor (run at program load, before any thread exists) installs cJSON
 * hooks (cJSON_InitHooks) for the whole process of any program that links
 * this file. Threads outside an arena section, and allocations that do not fit
 * the arena, go to plain malloc/free as before; the free hook recognises
 * arena pointers of the calling thread and ignores them. A tree built inside
 * a section must not outlive the section or leave its thread.
 * Sanitizer builds never use the arena (ASan must see every allocation). */
#ifndef ARMORGATE_JSONARENA_H
#define ARMORGATE_JSONARENA_H

#include <stdbool.h>
#include <stddef.h>

enum { JSONARENA_SIZE = 256u << 10 }; /* per thread; bigger trees spill to malloc */

/* Starts a section on this thread. true when the arena is in use (false:
 * sanitizer build or out of memory; cJSON then uses malloc as usual). */
bool jsonarena_enter(void);
/* true when nothing allocated in this section spilled to malloc, so the
 * tree may be dropped without cJSON_Delete. */
bool jsonarena_clean(void);
/* Ends the section and recycles the arena (call after cJSON_Delete, if any). */
void jsonarena_leave(void);

#endif
