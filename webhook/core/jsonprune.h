/* jsonprune: parses JSON text into a cJSON tree that holds only the members a
 * fixed schema names; everything else is skipped by a validating scan that
 * allocates nothing. A Pod AdmissionReview is mostly env, volumes, probes,
 * managedFields and status that the admission rules never read, and building
 * cJSON items for them was the largest cost of a review after allocation
 * (bench/webhook/README.md).
 *
 * Trust boundary: the text is untrusted request bytes. The scan accepts a
 * strict subset of what cJSON accepts (the RFC 8259 grammar; no \u escape in
 * the surrogate range; numbers of at most 63 characters, cJSON's own limit;
 * no escapes or raw NUL bytes in member names of a pruned object), so when it accepts, a full
 * cJSON parse of the same text accepts too and holds the same value at every
 * kept path (test/webhook-core: unit tests and a differential fuzz target);
 * kept values are built directly when they are plain (strings without
 * escapes, numbers, objects and arrays of those, true/false/null), by cJSON
 * otherwise.
 * Anything else gives NULL from jsonprune_parse; jsonprune_load then parses
 * the whole text with cJSON (after a depth check on the raw bytes), which
 * gives the verdict and the error position.
 * Globals: none of its own; trees are allocated through cJSON's hooks
 * (process-wide, see jsonarena.h) and numbers read with the C locale's
 * decimal point, as cJSON does. */
#ifndef ARMORGATE_JSONPRUNE_H
#define ARMORGATE_JSONPRUNE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

typedef struct jsonprune_node jsonprune_node;

/* One member of an object to keep. */
typedef struct jsonprune_member {
	const char *jm_name;
	size_t jm_len;                 /* strlen(jm_name) */
	const jsonprune_node *jm_node; /* NULL: the whole value, as cJSON parses it */
} jsonprune_member;

/* A member from a string literal: JSONPRUNE_MEMBER("spec", &spec_node). */
#define JSONPRUNE_MEMBER(name, node)                                                                                   \
	{                                                                                                              \
		(name), sizeof(name) - 1, (node)                                                                       \
	}

/* An object node keeps jn_members (in document order, duplicates included, so
 * the first one wins lookups as in a full parse); an array node keeps every
 * item, pruned by jn_items. A value whose JSON type does not match its node is
 * kept whole. */
struct jsonprune_node {
	const jsonprune_member *jn_members;
	size_t jn_nmembers;
	const jsonprune_node *jn_items;
};

/* The pruned tree of s[0..n) (surrounding JSON whitespace allowed), allocated
 * through cJSON's hooks; the caller frees it with cJSON_Delete. NULL when the
 * text is outside the accepted subset, nests deeper than max_depth, or memory
 * ran out: then parse it fully with cJSON. On success *nul_escape tells
 * whether any string, kept or skipped, held a \u0000 escape (cJSON cuts such
 * a string short). Kept member names point at the schema's strings (cJSON's
 * "const string" items), so the schema must outlive the tree. */
cJSON *jsonprune_parse(const char *s, size_t n, const jsonprune_node *schema, int max_depth, bool *nul_escape);

/* The one call for untrusted text: jsonprune_parse, else the whole text
 * through cJSON once jsondepth.h has found it nested at most max_depth deep.
 * 0 with *root (the caller frees it with cJSON_Delete; pruned or whole, every
 * kept path holds the same value) and *nul_escape; or -1 with *root NULL and
 * err->msg one line saying why the text is refused (malformed and where,
 * nested too deep, trailing bytes), fit for a 400 answer. */
int jsonprune_load(const char *s, size_t n, const jsonprune_node *schema, int max_depth, cJSON **root, bool *nul_escape,
		   ag_err *err) AG_WARN_UNUSED;

#endif
