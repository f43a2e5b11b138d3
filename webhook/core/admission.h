/* admission: the pure AdmissionReview core of armorgate-webhook.
 * Bytes in (the request body, already size-checked by the server), a
 * response out: no sockets, no files, no program runs. Globals: none of its
 * own. It allocates through cJSON's hooks, which are process-wide: after
 * jsonarena_install() (jsonarena.h) a review's tree lives in a per-thread
 * arena; without it, in malloc. Either gives the same answers. Threads: any
 * number of reviews may run at once (the nodeset has its own lock). Trust boundary: the body is
 * untrusted; parsing is bounded (ADMISSION_JSON_DEPTH_MAX nesting) and no
 * input makes it crash. The ConfigMap compile check is the caller's
 * (admission_env.compile).
 *
 * Mutate (Pod CREATE): AppArmor annotations -> securityContext.appArmorProfile
 * and spec.nodeSelector["profiles.armorgate.io/<p>"]="loaded" for every
 * custom.* profile used, as one RFC 6902 JSONPatch; no patch when nothing to
 * do (reinvocation-safe).
 * Validate (Pod CREATE, pods/ephemeralcontainers UPDATE, profiles ConfigMap
 * CREATE/UPDATE): denials with status.code 403 and a message naming the
 * profile, the container and the fix. */
#ifndef ARMORGATE_ADMISSION_H
#define ARMORGATE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "nodeset.h"
#include "contract.h"
#include "profile.h"

enum {
	ADMISSION_JSON_DEPTH_MAX = 64,     /* deepest accepted JSON nesting */
	ADMISSION_RESPONSE_MAX = 8u << 20, /* ceiling on the response body */
	ADMISSION_REASON_MAX = 256,
	ADMISSION_MESSAGE_MAX = 32u << 10, /* ceiling on one denial message */
};

#define ADMISSION_ANNOTATION_PREFIX "container.apparmor.security.beta.kubernetes.io/"
/* Why a pod whose review holds a \u0000 escape is refused (and not mutated). */
#define ADMISSION_NUL_PROBLEM                                                                                          \
	"the pod holds a NUL character (\\u0000) in a string; a profile name or annotation would be read cut short "   \
	"there, so armorgate refuses it: remove the NUL"

typedef enum { ADMISSION_MUTATE, ADMISSION_VALIDATE } admission_op;

/* What a pod validation does with the problems it finds (DESIGN.md
 * "enforcement mode", per namespace): deny them, admit with a warning that
 * names them, or not look. Mutation and the profiles ConfigMap ignore it. */
typedef enum {
	ADMISSION_ENFORCE_DENY, /* the zero value: fail closed */
	ADMISSION_ENFORCE_WARN,
	ADMISSION_ENFORCE_OFF,
} admission_enforcement;

/* The compile check, injected so the core runs no program itself (the
 * webhook passes its cache lookup, webhook/compilepool.h): checks the
 * entries still ok, marks refused ones (ok=false, message) and returns how
 * many it refused. */
typedef size_t (*admission_compile_fn)(void *ctx, profile_entry *entries, size_t n);

typedef struct admission_env {
	nodeset *nodes; /* borrowed; NULL behaves like an empty set (fails closed) */
	const char *
		profiles_namespace; /* the profiles ConfigMap (--profiles-configmap NS/NAME), borrowed; NULL = DESIGN.md default */
	const char *profiles_name;
	profile_limits limits;             /* common/profile.h text rules */
	admission_compile_fn compile;      /* NULL: text rules only (no parser run) */
	void *compile_ctx;                 /* passed to compile */
	admission_enforcement enforcement; /* pod validation only */
	/* Optional gate of the full cJSON parse a review falls back to when the
	 * pruning parse refuses it (tens of bytes of tree per byte of text):
	 * called with begin=true and the text's size before it (false: the
	 * review is answered 503, busy), and with begin=false once its tree is
	 * freed. NULL: no gate. */
	bool (*full_parse)(void *ctx, size_t n, bool begin);
	void *full_parse_ctx;
} admission_env;

/* What the answer says. ERROR: no AdmissionReview answer (400, 500). */
typedef enum {
	ADMISSION_VERDICT_ERROR,
	ADMISSION_VERDICT_ALLOW,
	ADMISSION_VERDICT_DENY,
	ADMISSION_VERDICT_PATCH, /* allowed with a JSONPatch */
} admission_verdict;

enum { ADMISSION_VERDICT_COUNT = ADMISSION_VERDICT_PATCH + 1 };

typedef struct admission_result {
	int http_status; /* 200 for any AdmissionReview answer; 400 malformed; 500 out of memory; 503 full parse refused */
	buf body;        /* AdmissionReview JSON (200) or one line of text (else); caller buf_cleanup */
	const char *content_type; /* static: "application/json" or "text/plain; charset=utf-8" */
	admission_verdict verdict;
	bool profile_check; /* the profiles ConfigMap was checked (rules + compile); verdict ALLOW or DENY */
	bool warned;        /* enforcement warn: allowed, would have been denied */
	char reason[ADMISSION_REASON_MAX]; /* one line for logs */
} admission_result;

/* Pure: bytes in, response out. Never crashes on any input. body need not be
 * NUL-terminated. env may be NULL (no nodes, default ConfigMap). res is always
 * initialised (call buf_cleanup(&res->body)). */
void admission_handle(admission_op op, const char *body, size_t len, const admission_env *env, admission_result *res);

/* For metrics labels and logs only: "mutate" / "validate". */
const char *admission_op_name(admission_op op);
/* For metrics labels and logs only: "error", "allow", "deny", "patch". */
const char *admission_verdict_name(admission_verdict v);
/* "deny", "warn", "off" -> *out: 0, or -1 for anything else (NULL too). */
int admission_enforcement_parse(const char *s, admission_enforcement *out) AG_WARN_UNUSED;
const char *admission_enforcement_name(admission_enforcement e);

#endif
