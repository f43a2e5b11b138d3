/* admission: AdmissionReview v1 in, AdmissionReview v1 (or a 400 line) out.
 * Trust boundary: the request body is untrusted. It is depth-checked before
 * cJSON sees it, every lookup is type-checked, and any object we do not
 * understand is allowed with a warning instead of being guessed at. The
 * decisions are pure; nodes come from the borrowed nodeset and profile rules
 * from common/profile.h.
 * Decisions beyond DESIGN.md (tested in test/webhook-core):
 *  - "agrees" compares the annotation with the container's effective setting
 *    (its own field, else the pod-level one), as the API server does;
 *  - an empty annotation value means "no setting" (Kubernetes accepts it);
 *  - a pod-level custom profile gets its nodeSelector even when every
 *    container overrides it, and validation checks it the same way;
 *  - validation also checks profiles named only by annotations (the mutating
 *    webhook may not have run) and refuses annotations for absent containers;
 *  - pods/ephemeralcontainers UPDATE checks only the ephemeral containers
 *    that are new compared with oldObject (the others already run);
 *  - a pod with more than 4096 containers is refused by validate (fail
 *    closed) and left alone by mutate;
 *  - a profiles ConfigMap UPDATE runs apparmor_parser only on new or changed
 *    profiles (the rules still run on all); one with a \u0000 escape is
 *    refused, since cJSON would cut the text short. */
#include "admission.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "jsonarena.h"
#include "jsonprune.h"

#define ADM_API_VERSION "admission.k8s.io/v1"
#define ADM_CT_JSON "application/json"
#define ADM_CT_TEXT "text/plain; charset=utf-8"

enum {
	ADM_CONTAINERS_MAX = 4096,  /* more than any real pod; beyond it we refuse to reason */
	ADM_ANNOTATIONS_MAX = 4096, /* AppArmor annotations looked at per pod */
	ADM_MESSAGE_SOFT = ADMISSION_MESSAGE_MAX - 1024, /* room left for "... and N more" */
};

/* An AppArmor setting as written in a field or an annotation. */
typedef enum { AA_NONE, AA_RUNTIME_DEFAULT, AA_LOCALHOST, AA_UNCONFINED, AA_INVALID } aa_type;

typedef struct aa_ref {
	aa_type type;
	const char *profile; /* AA_LOCALHOST: the profile name (borrowed) */
	const char *bad;     /* AA_INVALID: why, a static string */
} aa_ref;

typedef struct adm_ctr {
	const char *list; /* "containers", "initContainers", "ephemeralContainers" */
	const char *what; /* "container", "init container", "ephemeral container" */
	size_t index;
	const char *name;
	const cJSON *sc;    /* securityContext when an object, else NULL */
	aa_ref own;         /* securityContext.appArmorProfile */
	const cJSON *ann;   /* its AppArmor annotation item, or NULL */
	size_t ann_idx;     /* index of ann in adm_pod.anns */
	aa_ref annref;      /* the annotation parsed (AA_NONE when empty) */
	bool is_new;        /* ephemeral container not in oldObject */
} adm_ctr;

typedef struct adm_pod {
	const cJSON *spec;
	const cJSON *annotations; /* object or NULL */
	const cJSON *node_selector;
	const char *node_name;    /* spec.nodeName or NULL */
	aa_ref pod;               /* spec.securityContext.appArmorProfile */
	bool pod_sc;              /* spec.securityContext is an object */
	adm_ctr *ctrs;
	size_t n;
	const cJSON **anns;       /* AppArmor annotations (items of annotations) */
	bool *ann_used;
	size_t nanns;
} adm_pod;

/* A message of problems joined by "; " with a ceiling. */
typedef struct adm_msg {
	buf b;
	size_t count;
	size_t dropped;
	int rc;
} adm_msg;

/* ---- small JSON helpers ---- */

/* cJSON_GetObjectItemCaseSensitive's answer (the first member named k; the
 * search ends at a member without a name), with the first byte compared
 * before calling strcmp: a review's rules make about 40 lookups in objects
 * whose names mostly differ at once. */
static const cJSON *jget(const cJSON *o, const char *k)
{
	const cJSON *c;

	if (!cJSON_IsObject(o) || !k)
		return NULL;
	for (c = o->child; c && c->string; c = c->next)
		if (c->string[0] == k[0] && strcmp(c->string, k) == 0)
			return c;
	return NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Every member the rules below read of an AdmissionReview (Pod or
 * ConfigMap); the rest of a review is skipped unparsed (jsonprune.h). A
 * member read below must be listed here: the golden and unit tests run
 * through this path. */
#define ADM_NODE(members) { (members), sizeof(members) / sizeof((members)[0]), NULL }
/* Of a securityContext only its presence and appArmorProfile matter: the
 * rest (capabilities, user ids, seccomp) is skipped, not built. */
static const jsonprune_member adm_sc_members[] = {
	JSONPRUNE_MEMBER("appArmorProfile", NULL),
};
static const jsonprune_node adm_sc_node = ADM_NODE(adm_sc_members);
static const jsonprune_member adm_ctr_members[] = {
	JSONPRUNE_MEMBER("name", NULL),
	JSONPRUNE_MEMBER("securityContext", &adm_sc_node),
};
static const jsonprune_node adm_ctr_node = ADM_NODE(adm_ctr_members);
static const jsonprune_node adm_ctrs_node = { NULL, 0, &adm_ctr_node };
static const jsonprune_member adm_spec_members[] = {
	JSONPRUNE_MEMBER("containers", &adm_ctrs_node),
	JSONPRUNE_MEMBER("initContainers", &adm_ctrs_node),
	JSONPRUNE_MEMBER("ephemeralContainers", &adm_ctrs_node),
	JSONPRUNE_MEMBER("securityContext", &adm_sc_node),
	JSONPRUNE_MEMBER("nodeName", NULL),
	JSONPRUNE_MEMBER("nodeSelector", NULL),
};
static const jsonprune_node adm_spec_node = ADM_NODE(adm_spec_members);
static const jsonprune_member adm_meta_members[] = {
	JSONPRUNE_MEMBER("name", NULL),
	JSONPRUNE_MEMBER("annotations", NULL),
};
static const jsonprune_node adm_meta_node = ADM_NODE(adm_meta_members);
static const jsonprune_member adm_obj_members[] = {
	JSONPRUNE_MEMBER("metadata", &adm_meta_node),
	JSONPRUNE_MEMBER("spec", &adm_spec_node),
	JSONPRUNE_MEMBER("data", NULL),
	JSONPRUNE_MEMBER("binaryData", NULL),
};
static const jsonprune_node adm_obj_node = ADM_NODE(adm_obj_members);
static const jsonprune_member adm_req_members[] = {
	JSONPRUNE_MEMBER("uid", NULL),
	JSONPRUNE_MEMBER("operation", NULL),
	JSONPRUNE_MEMBER("resource", NULL),
	JSONPRUNE_MEMBER("kind", NULL),
	JSONPRUNE_MEMBER("subResource", NULL),
	JSONPRUNE_MEMBER("namespace", NULL),
	JSONPRUNE_MEMBER("name", NULL),
	JSONPRUNE_MEMBER("object", &adm_obj_node),
	JSONPRUNE_MEMBER("oldObject", &adm_obj_node),
};
static const jsonprune_node adm_req_node = ADM_NODE(adm_req_members);
static const jsonprune_member adm_review_members[] = {
	JSONPRUNE_MEMBER("apiVersion", NULL),
	JSONPRUNE_MEMBER("kind", NULL),
	JSONPRUNE_MEMBER("request", &adm_req_node),
};
static const jsonprune_node adm_review_node = ADM_NODE(adm_review_members);

/* State of the depth scan between chunks. */
typedef struct adm_depth {
	int depth;
	bool in_str;
	bool has_nul;
} adm_depth;

/* The byte-by-byte scan over s[i..end) (an escape may carry it to end + 1;
 * s + n bounds every read). Returns the position reached, or SIZE_MAX when
 * the nesting passed max. */
static size_t adm_depth_bytes(const char *s, size_t i, size_t end, size_t n, int max, adm_depth *st)
{
	for (; i < end; i++) {
		char c = s[i];

		if (st->in_str) {
			if (c == '\\') {
				if (i + 5 < n && memcmp(s + i + 1, "u0000", 5) == 0)
					st->has_nul = true;
				i++;
			} else if (c == '"') {
				st->in_str = false;
			}
			continue;
		}
		if (c == '"') {
			st->in_str = true;
		} else if (c == '{' || c == '[') {
			if (++st->depth > max)
				return SIZE_MAX;
		} else if (c == '}' || c == ']') {
			st->depth--;
		}
	}
	return i;
}

#if defined(__SSE2__)
/* Set bits of x; inline (the builtin is a libgcc call without -mpopcnt). */
static int adm_popcount(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555u);
	x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
	return (int)((x * 0x0101010101010101u) >> 56);
}

/* Bit j set when byte j of the 16 at s equals c. */
static uint64_t adm_eq16(__m128i v, char c)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}
#endif

/* Nesting depth check on raw bytes, so cJSON never recurses deeply. Also
 * notes a \u0000 escape: cJSON would silently cut that string short, so a
 * profile text could hide bytes from the checks.
 * Speed (it runs only when jsonprune hands a body back: unusual or hostile
 * bodies up to 3 MiB, which must stay cheap to refuse): 64-byte blocks
 * without a backslash are done with bit masks, giving exactly the byte scan's
 * result: a block's quotes toggle the in-string state (the prefix XOR of the
 * quote mask marks the bytes inside strings), brackets outside strings count,
 * and the running depth inside the block can only exceed max if the depth
 * before it plus the block's opening brackets does, in which case the block
 * is rescanned byte by byte. A block with a backslash goes byte by byte. */
static bool adm_depth_ok(const char *s, size_t n, int max, bool *has_nul)
{
	adm_depth st = { 0, false, false };
	size_t i = 0;

#if defined(__SSE2__)
	const __m128i low = _mm_set1_epi8(0x20);

	while (i < n && n - i >= 64) {
		uint64_t q = 0, bs = 0, op = 0, cl = 0, inside;

		for (unsigned k = 0; k < 4; k++) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16 * k));
			/* '{' | 0x20 == '{' == '[' | 0x20; likewise '}' and ']'; no other byte. */
			__m128i l = _mm_or_si128(v, low);

			q |= adm_eq16(v, '"') << (16 * k);
			bs |= adm_eq16(v, '\\') << (16 * k);
			op |= adm_eq16(l, '{') << (16 * k);
			cl |= adm_eq16(l, '}') << (16 * k);
		}
		if (bs) {
			i = adm_depth_bytes(s, i, i + 64, n, max, &st);
			if (i == SIZE_MAX)
				return false;
			continue;
		}
		inside = q;
		inside ^= inside << 1;
		inside ^= inside << 2;
		inside ^= inside << 4;
		inside ^= inside << 8;
		inside ^= inside << 16;
		inside ^= inside << 32;
		if (st.in_str)
			inside = ~inside;
		op &= ~inside;
		cl &= ~inside;
		if (st.depth + adm_popcount(op) > max) {
			i = adm_depth_bytes(s, i, i + 64, n, max, &st);
			if (i == SIZE_MAX)
				return false;
			continue;
		}
		st.depth += adm_popcount(op) - adm_popcount(cl);
		/* the state after the block's last byte */
		st.in_str = (inside >> 63) != 0;
		i += 64;
	}
#endif
	if (adm_depth_bytes(s, i, n, n, max, &st) == SIZE_MAX)
		return false;
	*has_nul = st.has_nul;
	return true;
}

/* Appends the n bytes at s as the inside of a JSON string. */
static int json_escn(buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	const char *end = s + n;
	int rc = 0;

	for (; s < end; s++) {
		unsigned char c;
		char e[7];

#if defined(__SSE2__)
		/* Sixteen bytes at a time to the next byte that needs escaping:
		 * denial messages run to hundreds of bytes with none. */
		while (end - s >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
			/* bytes < 0x20: min(v, 0x1f) == v, unsigned */
			__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
				ctl, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
						  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));

			if (m) {
				s += __builtin_ctz(m);
				break;
			}
			s += 16;
		}
		if (s == end)
			break;
#endif
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc |= buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		e[0] = '\\';
		switch (c) {
		case '"': e[1] = '"'; rc |= buf_append(b, e, 2); break;
		case '\\': e[1] = '\\'; rc |= buf_append(b, e, 2); break;
		case '\n': e[1] = 'n'; rc |= buf_append(b, e, 2); break;
		case '\r': e[1] = 'r'; rc |= buf_append(b, e, 2); break;
		case '\t': e[1] = 't'; rc |= buf_append(b, e, 2); break;
		default:
			e[1] = 'u'; e[2] = '0'; e[3] = '0';
			e[4] = hex[c >> 4]; e[5] = hex[c & 15];
			rc |= buf_append(b, e, 6);
		}
	}
	rc |= buf_append(b, run, (size_t)(s - run));
	return rc ? -1 : 0;
}

static int json_esc(buf *b, const char *s)
{
	return json_escn(b, s, strlen(s));
}

/* Appends s as one RFC 6901 reference token inside a JSON string:
 * '~' -> "~0", '/' -> "~1", then JSON escaping. */
static int ptr_tok(buf *b, const char *s)
{
	int rc = 0;

	while (*s) {
		size_t run = strcspn(s, "~/");

		rc |= json_escn(b, s, run);
		s += run;
		if (*s) {
			rc |= buf_append(b, *s == '~' ? "~0" : "~1", 2);
			s++;
		}
	}
	return rc ? -1 : 0;
}

static int base64_append(buf *b, const char *in, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	char out[1024];
	size_t o = 0;
	int rc = 0;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = tbl[(v >> 6) & 63];
		out[o++] = tbl[v & 63];
		if (o == sizeof(out)) {
			rc |= buf_append(b, out, o);
			o = 0;
		}
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0u);

		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	rc |= buf_append(b, out, o);
	return rc ? -1 : 0;
}

/* ---- AppArmor settings ---- */

static bool aa_padded(const char *s)
{
	static const char ws[] = " \t\n\v\f\r";
	size_t n = strlen(s);

	return n && (strchr(ws, s[0]) || strchr(ws, s[n - 1]));
}

/* securityContext.appArmorProfile (absent or null = AA_NONE). */
static aa_ref aa_from_field(const cJSON *f)
{
	aa_ref r = { AA_INVALID, NULL, NULL };
	const cJSON *lp;
	const char *type;

	if (!f || cJSON_IsNull(f)) {
		r.type = AA_NONE;
		return r;
	}
	if (!cJSON_IsObject(f)) {
		r.bad = "is not an object";
		return r;
	}
	type = jstr(f, "type");
	lp = jget(f, "localhostProfile");
	if (!type) {
		r.bad = "has no type (use RuntimeDefault, Localhost or Unconfined)";
		return r;
	}
	if (strcmp(type, "Localhost") == 0) {
		if (!cJSON_IsString(lp) || !lp->valuestring[0]) {
			r.bad = "has type Localhost but no localhostProfile";
			return r;
		}
		if (aa_padded(lp->valuestring)) {
			r.bad = "has a localhostProfile padded with whitespace";
			return r;
		}
		r.type = AA_LOCALHOST;
		r.profile = lp->valuestring;
		return r;
	}
	if (lp && !cJSON_IsNull(lp)) {
		r.bad = "sets localhostProfile, which is only allowed with type Localhost";
		return r;
	}
	if (strcmp(type, "RuntimeDefault") == 0)
		r.type = AA_RUNTIME_DEFAULT;
	else if (strcmp(type, "Unconfined") == 0)
		r.type = AA_UNCONFINED;
	else
		r.bad = "has an unknown type (use RuntimeDefault, Localhost or Unconfined)";
	return r;
}

/* The deprecated annotation value; "" means no setting (Kubernetes accepts it). */
static aa_ref aa_from_annotation(const cJSON *a)
{
	aa_ref r = { AA_INVALID, NULL, "is not one of runtime/default, unconfined, localhost/<profile>" };
	const char *v;

	if (!a) {
		r.type = AA_NONE;
		return r;
	}
	if (!cJSON_IsString(a)) {
		r.bad = "is not a string";
		return r;
	}
	v = a->valuestring;
	if (!v[0])
		r.type = AA_NONE;
	else if (strcmp(v, "runtime/default") == 0)
		r.type = AA_RUNTIME_DEFAULT;
	else if (strcmp(v, "unconfined") == 0)
		r.type = AA_UNCONFINED;
	else if (strncmp(v, "localhost/", 10) == 0 && v[10] && !aa_padded(v + 10)) {
		r.type = AA_LOCALHOST;
		r.profile = v + 10;
	}
	return r;
}

static bool aa_valid(aa_ref r)
{
	return r.type != AA_NONE && r.type != AA_INVALID;
}

static bool aa_agree(aa_ref a, aa_ref b)
{
	if (a.type != b.type)
		return false;
	return a.type != AA_LOCALHOST || strcmp(a.profile, b.profile) == 0;
}

static bool aa_is_custom(const char *p)
{
	return strncmp(p, CONTRACT_PROFILE_PREFIX, strlen(CONTRACT_PROFILE_PREFIX)) == 0;
}

static const char *aa_type_name(aa_type t)
{
	switch (t) {
	case AA_RUNTIME_DEFAULT: return "RuntimeDefault";
	case AA_LOCALHOST: return "Localhost";
	case AA_UNCONFINED: return "Unconfined";
	default: return "";
	}
}

/* ---- pod model ---- */

static void pod_cleanup(adm_pod *p)
{
	free(p->ctrs);
	free(p->anns);
	free(p->ann_used);
	memset(p, 0, sizeof(*p));
}

static bool ann_matches(const cJSON *a, const char *name)
{
	return strcmp(a->string + strlen(ADMISSION_ANNOTATION_PREFIX), name) == 0;
}

/* pod_load outcomes besides 0 (ok). */
enum { POD_ODD = 1, POD_TOO_BIG, POD_OOM };

/* Reads the parts of a Pod we reason about. 0 ok; else POD_* with why set
 * (static text). old (may be NULL) marks which ephemeral containers are new.
 * pod_cleanup(p) in every case. */
static int pod_load(const cJSON *obj, const cJSON *old, adm_pod *p, const char **why)
{
	static const struct {
		const char *list, *what;
	} lists[] = {
		{ "containers", "container" },
		{ "initContainers", "init container" },
		{ "ephemeralContainers", "ephemeral container" },
	};
	const cJSON *meta = jget(obj, "metadata");
	const cJSON *sc;
	const cJSON *it;
	const size_t plen = strlen(ADMISSION_ANNOTATION_PREFIX);
	size_t total = 0;

	memset(p, 0, sizeof(*p));
	p->spec = jget(obj, "spec");
	if (!cJSON_IsObject(p->spec)) {
		*why = "the Pod has no spec object";
		return POD_ODD;
	}
	for (size_t l = 0; l < 3; l++) {
		const cJSON *arr = jget(p->spec, lists[l].list);

		if (arr && !cJSON_IsArray(arr) && !cJSON_IsNull(arr)) {
			*why = "a container list of the Pod is not an array";
			return POD_ODD;
		}
		total += (size_t)cJSON_GetArraySize(arr);
	}
	if (total > ADM_CONTAINERS_MAX) {
		*why = "the Pod has more containers than armorgate checks (4096)";
		return POD_TOO_BIG;
	}
	p->ctrs = calloc(total ? total : 1, sizeof(*p->ctrs));
	if (!p->ctrs) {
		*why = "out of memory";
		return POD_OOM;
	}
	sc = jget(p->spec, "securityContext");
	p->pod_sc = cJSON_IsObject(sc);
	p->pod = aa_from_field(jget(sc, "appArmorProfile"));
	p->node_name = jstr(p->spec, "nodeName");
	if (p->node_name && !p->node_name[0])
		p->node_name = NULL;
	p->node_selector = jget(p->spec, "nodeSelector");

	p->annotations = jget(meta, "annotations");
	if (!cJSON_IsObject(p->annotations))
		p->annotations = NULL;
	cJSON_ArrayForEach(it, p->annotations)
	{
		if (it->string && strncmp(it->string, ADMISSION_ANNOTATION_PREFIX, plen) == 0)
			p->nanns++;
	}
	if (p->nanns > ADM_ANNOTATIONS_MAX) {
		*why = "the Pod has more AppArmor annotations than armorgate checks (4096)";
		return POD_TOO_BIG;
	}
	if (p->nanns) {
		size_t i = 0;

		p->anns = calloc(p->nanns, sizeof(const cJSON *));
		p->ann_used = calloc(p->nanns, sizeof(*p->ann_used));
		if (!p->anns || !p->ann_used) {
			*why = "out of memory";
			return POD_OOM;
		}
		cJSON_ArrayForEach(it, p->annotations)
		{
			if (it->string && strncmp(it->string, ADMISSION_ANNOTATION_PREFIX, plen) == 0)
				p->anns[i++] = it;
		}
	}

	for (size_t l = 0; l < 3; l++) {
		const cJSON *arr = jget(p->spec, lists[l].list);
		const cJSON *olds = jget(jget(old, "spec"), lists[l].list);
		size_t idx = 0;

		cJSON_ArrayForEach(it, arr)
		{
			adm_ctr *c = &p->ctrs[p->n];
			const char *name = jstr(it, "name");

			idx++;
			/* Unnamed containers are refused by the API server itself. */
			if (!name)
				continue;
			c->list = lists[l].list;
			c->what = lists[l].what;
			c->index = idx - 1;
			c->name = name;
			c->sc = jget(it, "securityContext");
			if (!cJSON_IsObject(c->sc))
				c->sc = NULL;
			c->own = aa_from_field(jget(c->sc, "appArmorProfile"));
			c->annref.type = AA_NONE;
			for (size_t a = 0; a < p->nanns; a++)
				if (ann_matches(p->anns[a], name)) {
					c->ann = p->anns[a];
					c->ann_idx = a;
					c->annref = aa_from_annotation(c->ann);
					p->ann_used[a] = true;
					break;
				}
			c->is_new = true;
			if (l == 2 && old) {
				const cJSON *o;

				cJSON_ArrayForEach(o, olds)
				{
					const char *on = jstr(o, "name");

					if (on && strcmp(on, name) == 0)
						c->is_new = false;
				}
			}
			p->n++;
		}
	}
	return 0;
}

/* The setting that applies to c: its own, else the pod's. */
static aa_ref ctr_effective(const adm_pod *p, const adm_ctr *c)
{
	return c->own.type != AA_NONE ? c->own : p->pod;
}

/* ---- response ---- */

static void res_text(admission_result *res, int status, const char *verdict, const char *fmt, ...)
	AG_PRINTF(4, 5);

static void res_text(admission_result *res, int status, const char *verdict, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	res->http_status = status;
	res->verdict = verdict;
	res->content_type = ADM_CT_TEXT;
	buf_reset(&res->body);
	if (buf_appendf(&res->body, "armorgate: %s\n", res->reason) != 0)
		buf_reset(&res->body);
}

/* Log reasons on the allow and patch paths without snprintf, whose setup
 * cost ~1 % of a review (callgrind). text is cut to fit, as snprintf would. */
static void res_reason(admission_result *res, const char *text)
{
	size_t n = strlen(text);

	if (n >= sizeof(res->reason))
		n = sizeof(res->reason) - 1;
	memcpy(res->reason, text, n);
	res->reason[n] = '\0';
}

/* "<head><count><tail>" into the reason; head and tail are short literals. */
static void res_reason_count(admission_result *res, const char *head, size_t count, const char *tail)
{
	char num[24];
	size_t k = sizeof(num);
	size_t h = strlen(head);
	size_t t = strlen(tail);

	do {
		num[--k] = (char)('0' + count % 10);
		count /= 10;
	} while (count);
	if (h + (sizeof(num) - k) + t >= sizeof(res->reason)) {
		res_reason(res, head);
		return;
	}
	memcpy(res->reason, head, h);
	memcpy(res->reason + h, num + k, sizeof(num) - k);
	memcpy(res->reason + h + (sizeof(num) - k), tail, t + 1);
}

static void res_oom(admission_result *res)
{
	res_text(res, 500, "error", "out of memory while building the response");
}

/* Writes the AdmissionReview answer. patch (JSON text, may be NULL),
 * warning and message (may be NULL) are copied. */
static void res_review(admission_result *res, const char *uid, bool allowed, const buf *patch, const char *warning,
		       const char *message)
{
	buf *b = &res->body;
	int rc = 0;

	buf_reset(b);
	rc |= buf_appends(b, "{\"apiVersion\":\"" ADM_API_VERSION "\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":\"");
	rc |= json_esc(b, uid);
	rc |= buf_appends(b, allowed ? "\",\"allowed\":true" : "\",\"allowed\":false");
	if (patch) {
		rc |= buf_appends(b, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
		rc |= base64_append(b, patch->data, patch->len);
		rc |= buf_appends(b, "\"");
	}
	if (warning) {
		rc |= buf_appends(b, ",\"warnings\":[\"");
		rc |= json_esc(b, warning);
		rc |= buf_appends(b, "\"]");
	}
	if (!allowed) {
		rc |= buf_appends(b, ",\"status\":{\"code\":403,\"reason\":\"Forbidden\",\"message\":\"");
		rc |= json_esc(b, message ? message : "armorgate: denied");
		rc |= buf_appends(b, "\"}");
	}
	rc |= buf_appends(b, "}}");
	if (rc) {
		res_oom(res);
		return;
	}
	res->http_status = 200;
	res->content_type = ADM_CT_JSON;
	res->verdict = !allowed ? "deny" : patch ? "patch" : "allow";
}

/* A denial whose message was built on the heap (NULL: it could not be). */
static void res_deny(admission_result *res, const char *uid, const char *text)
{
	if (!text) {
		res_oom(res);
		return;
	}
	res_reason(res, text);
	res_review(res, uid, false, NULL, NULL, text);
}

/* Allowed, with a warning for the user and the same line as the log reason. */
static void res_allow_warn(admission_result *res, const char *uid, const char *fmt, ...) AG_PRINTF(3, 4);

static void res_allow_warn(admission_result *res, const char *uid, const char *fmt, ...)
{
	char w[ADMISSION_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w, sizeof(w), fmt, ap);
	va_end(ap);
	snprintf(res->reason, sizeof(res->reason), "%s", w);
	res_review(res, uid, true, NULL, w, NULL);
}

/* ---- messages ---- */

static void msg_add(adm_msg *m, const char *fmt, ...) AG_PRINTF(2, 3);

static void msg_add(adm_msg *m, const char *fmt, ...)
{
	va_list ap;
	char tmp[1024];
	int n;

	m->count++;
	if (m->b.len > ADM_MESSAGE_SOFT) {
		m->dropped++;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (m->b.len)
		m->rc |= buf_appends(&m->b, "; ");
	m->rc |= buf_appends(&m->b, tmp);
}

/* Finishes the message as "armorgate: ..." into out (heap, caller frees). */
static char *msg_finish(adm_msg *m)
{
	buf out;

	buf_init(&out, ADMISSION_MESSAGE_MAX + 128);
	if (buf_appends(&out, "armorgate: ") != 0 || buf_append(&out, m->b.data ? m->b.data : "", m->b.len) != 0)
		goto fail;
	if (m->dropped && buf_appendf(&out, "; ... and %zu more problem(s)", m->dropped) != 0)
		goto fail;
	if (m->rc)
		goto fail;
	return buf_steal(&out);
fail:
	buf_cleanup(&out);
	return NULL;
}

/* ---- mutate ---- */

/* Appends v in decimal (printf's %zu without its per-call cost: two per
 * patched container on every mutated pod). */
static int adm_append_size(buf *b, size_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_append(b, d + i, sizeof(d) - i);
}

static int patch_op(buf *ops, const char *op)
{
	int rc = 0;

	if (ops->len)
		rc |= buf_appends(ops, ",");
	rc |= buf_appends(ops, "{\"op\":\"");
	rc |= buf_appends(ops, op);
	rc |= buf_appends(ops, "\",\"path\":\"");
	return rc ? -1 : 0;
}

static int patch_aa_value(buf *ops, aa_ref r)
{
	int rc = 0;

	rc |= buf_appends(ops, "{\"type\":\"");
	rc |= buf_appends(ops, aa_type_name(r.type));
	if (r.type == AA_LOCALHOST) {
		rc |= buf_appends(ops, "\",\"localhostProfile\":\"");
		rc |= json_esc(ops, r.profile);
	}
	rc |= buf_appends(ops, "\"}");
	return rc ? -1 : 0;
}

/* Collects distinct custom profiles worth a nodeSelector. */
static void used_add(const char **used, size_t *n, size_t cap, aa_ref r)
{
	if (r.type != AA_LOCALHOST || !aa_is_custom(r.profile) || !contract_profile_name_valid(r.profile))
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(used[i], r.profile) == 0)
			return;
	if (*n < cap)
		used[(*n)++] = r.profile;
}

static void mutate_pod(const char *uid, const cJSON *obj, admission_result *res)
{
	adm_pod p;
	const char *why = NULL;
	const char **used = NULL;
	size_t nused = 0;
	buf ops;
	int rc = 0;

	buf_init(&ops, ADMISSION_RESPONSE_MAX / 2);
	rc = pod_load(obj, NULL, &p, &why);
	if (rc == POD_OOM) {
		res_oom(res);
		goto out;
	}
	if (rc != 0) {
		res_allow_warn(res, uid, "armorgate: pod not mutated: %s", why);
		goto out;
	}
	used = calloc(p.n + 1, sizeof(*used));
	if (!used) {
		res_oom(res);
		goto out;
	}
	/* ann_used now means "removal already in the patch". */
	if (p.nanns)
		memset(p.ann_used, 0, p.nanns * sizeof(*p.ann_used));
	for (size_t i = 0; i < p.n; i++) {
		adm_ctr *c = &p.ctrs[i];
		aa_ref eff = ctr_effective(&p, c);

		if (!aa_valid(c->annref))
			continue; /* no annotation, empty, or invalid: validation's job */
		if (eff.type == AA_NONE) {
			rc |= patch_op(&ops, "add");
			rc |= buf_appends(&ops, "/spec/");
			rc |= buf_appends(&ops, c->list);
			rc |= buf_appends(&ops, "/");
			rc |= adm_append_size(&ops, c->index);
			rc |= buf_appends(&ops, "/securityContext");
			if (c->sc) {
				rc |= buf_appends(&ops, "/appArmorProfile\",\"value\":");
			} else {
				rc |= buf_appends(&ops, "\",\"value\":{\"appArmorProfile\":");
			}
			rc |= patch_aa_value(&ops, c->annref);
			rc |= buf_appends(&ops, c->sc ? "}" : "}}");
			c->own = c->annref;
		} else if (!aa_valid(eff) || !aa_agree(eff, c->annref)) {
			continue; /* conflict: both stay so validation can refuse the pod */
		}
		/* Duplicate container names (refused later by the API server) share
		 * one annotation: remove it once, or the whole patch would fail. */
		if (p.ann_used[c->ann_idx])
			continue;
		p.ann_used[c->ann_idx] = true;
		rc |= patch_op(&ops, "remove");
		rc |= buf_appends(&ops, "/metadata/annotations/");
		rc |= ptr_tok(&ops, c->ann->string);
		rc |= buf_appends(&ops, "\"}");
	}
	used_add(used, &nused, p.n + 1, p.pod);
	for (size_t i = 0; i < p.n; i++)
		used_add(used, &nused, p.n + 1, p.ctrs[i].own);

	if (nused && (!p.node_selector || cJSON_IsNull(p.node_selector))) {
		rc |= patch_op(&ops, "add");
		rc |= buf_appends(&ops, "/spec/nodeSelector\",\"value\":{");
		for (size_t i = 0; i < nused; i++) {
			rc |= buf_appends(&ops, i ? ",\"" CONTRACT_LABEL_PROFILE_PREFIX : "\"" CONTRACT_LABEL_PROFILE_PREFIX);
			rc |= json_esc(&ops, used[i]);
			rc |= buf_appends(&ops, "\":\"" CONTRACT_PROFILE_LOADED "\"");
		}
		rc |= buf_appends(&ops, "}}");
	} else if (nused && cJSON_IsObject(p.node_selector)) {
		for (size_t i = 0; i < nused; i++) {
			char key[sizeof(CONTRACT_LABEL_PROFILE_PREFIX) + CONTRACT_PROFILE_NAME_MAX + 1];
			const char *have;

			snprintf(key, sizeof(key), CONTRACT_LABEL_PROFILE_PREFIX "%s", used[i]);
			have = jstr(p.node_selector, key);
			if (have && strcmp(have, CONTRACT_PROFILE_LOADED) == 0)
				continue;
			rc |= patch_op(&ops, "add");
			rc |= buf_appends(&ops, "/spec/nodeSelector/");
			rc |= ptr_tok(&ops, key);
			rc |= buf_appends(&ops, "\",\"value\":\"" CONTRACT_PROFILE_LOADED "\"}");
		}
	}
	if (rc) {
		res_oom(res);
		goto out;
	}
	if (!ops.len) {
		snprintf(res->reason, sizeof(res->reason), "nothing to mutate");
		res_review(res, uid, true, NULL, NULL, NULL);
		goto out;
	}
	{
		buf patch;

		buf_init(&patch, ADMISSION_RESPONSE_MAX / 2 + 2);
		if (buf_appends(&patch, "[") != 0 || buf_append(&patch, ops.data, ops.len) != 0 ||
		    buf_appends(&patch, "]") != 0) {
			buf_cleanup(&patch);
			res_oom(res);
			goto out;
		}
		res_reason_count(res, "patched: ", nused, " custom profile(s) pinned by nodeSelector");
		res_review(res, uid, true, &patch, NULL, NULL);
		buf_cleanup(&patch);
	}
out:
	free(used);
	buf_cleanup(&ops);
	pod_cleanup(&p);
}

/* ---- validate pods ---- */

static void check_profile(const admission_env *env, const adm_pod *p, adm_msg *m, const char *what,
			  const char *name, const char *profile)
{
	char why[64];

	if (!aa_is_custom(profile))
		return;
	if (!contract_profile_name_valid(profile)) {
		msg_add(m,
			"%s \"%.253s\" uses AppArmor profile \"%.253s\", which is not a valid armorgate profile name "
			"(custom.<name>: lower-case letters, digits, '-', '.', '_', at most 63 characters)",
			what, name, profile);
		return;
	}
	if (p->node_name) {
		if (env->nodes && nodeset_node_has(env->nodes, p->node_name, profile, why, sizeof(why)))
			return;
		if (!env->nodes)
			snprintf(why, sizeof(why), "unknown node");
		if (strcmp(why, "profile not loaded") == 0)
			msg_add(m,
				"%s \"%.253s\" uses AppArmor profile \"%s\", but node \"%.253s\" cannot run it (%s). Add "
				"the key \"%s\" to ConfigMap %s/%s and wait until the node reports it: kubectl get nodes -L "
				CONTRACT_LABEL_PROFILE_PREFIX "%s",
				what, name, profile, p->node_name, why, profile, env->profiles_namespace,
				env->profiles_name, profile);
		else
			/* Loading the profile would not help: another node is needed. */
			msg_add(m,
				"%s \"%.253s\" uses AppArmor profile \"%s\", but node \"%.253s\" cannot run it (%s). Pick a "
				"node that has AppArmor and the profile: kubectl get nodes -L " CONTRACT_LABEL_APPARMOR
				"," CONTRACT_LABEL_PROFILE_PREFIX "%s",
				what, name, profile, p->node_name, why, profile);
		return;
	}
	if (env->nodes && nodeset_any_has(env->nodes, profile))
		return;
	msg_add(m,
		"%s \"%.253s\" uses AppArmor profile \"%s\", which no node has loaded. Add the key \"%s\" to "
		"ConfigMap %s/%s and wait until a node reports it: kubectl get nodes -L " CONTRACT_LABEL_PROFILE_PREFIX "%s",
		what, name, profile, profile, env->profiles_namespace, env->profiles_name, profile);
}

/* ephemeral_only: pods/ephemeralcontainers UPDATE, where only the new
 * ephemeral containers are being admitted. */
static void validate_pod(const char *uid, const cJSON *obj, const cJSON *old, bool ephemeral_only,
			 const admission_env *env, admission_result *res)
{
	adm_pod p;
	adm_msg m;
	const char *why = NULL;
	bool pod_checked = false;
	char *text = NULL;
	const char *pod_name = jstr(jget(obj, "metadata"), "name");

	memset(&m, 0, sizeof(m));
	buf_init(&m.b, ADMISSION_MESSAGE_MAX);
	switch (pod_load(obj, old, &p, &why)) {
	case 0:
		break;
	case POD_TOO_BIG:
		/* A real pod could be this big: fail closed rather than skip checks. */
		snprintf(res->reason, sizeof(res->reason), "armorgate: %s", why);
		res_review(res, uid, false, NULL, NULL, res->reason);
		goto out;
	case POD_OOM:
		res_oom(res);
		goto out;
	default:
		res_allow_warn(res, uid, "armorgate: pod not validated: %s", why);
		goto out;
	}
	if (p.pod.type == AA_INVALID && !ephemeral_only)
		msg_add(&m, "pod securityContext.appArmorProfile %s", p.pod.bad);
	for (size_t i = 0; i < p.n; i++) {
		const adm_ctr *c = &p.ctrs[i];
		aa_ref eff = ctr_effective(&p, c);

		if (ephemeral_only && (strcmp(c->list, "ephemeralContainers") != 0 || !c->is_new))
			continue;
		if (c->own.type == AA_INVALID)
			msg_add(&m, "%s \"%.253s\": securityContext.appArmorProfile %s", c->what, c->name, c->own.bad);
		if (c->annref.type == AA_INVALID && !ephemeral_only)
			msg_add(&m, "%s \"%.253s\": annotation \"%.300s\" %s", c->what, c->name, c->ann->string,
				c->annref.bad);
		if (aa_valid(eff) && aa_valid(c->annref) && !aa_agree(eff, c->annref) && !ephemeral_only)
			msg_add(&m,
				"%s \"%.253s\": the AppArmor annotation \"%.300s\" and securityContext.appArmorProfile "
				"disagree; remove the annotation or make them match",
				c->what, c->name, c->ann->string);
		if (eff.type == AA_LOCALHOST) {
			check_profile(env, &p, &m, c->what, c->name, eff.profile);
			if (c->own.type == AA_NONE)
				pod_checked = true;
		}
		if (c->annref.type == AA_LOCALHOST && !ephemeral_only &&
		    (eff.type != AA_LOCALHOST || strcmp(eff.profile, c->annref.profile) != 0))
			check_profile(env, &p, &m, c->what, c->name, c->annref.profile);
	}
	if (!ephemeral_only) {
		for (size_t a = 0; a < p.nanns; a++)
			if (!p.ann_used[a])
				msg_add(&m, "annotation \"%.300s\" names a container the pod does not have",
					p.anns[a]->string);
		if (p.pod.type == AA_LOCALHOST && !pod_checked)
			check_profile(env, &p, &m, "pod (spec.securityContext)", pod_name ? pod_name : "",
				      p.pod.profile);
	}
	if (!m.count) {
		snprintf(res->reason, sizeof(res->reason), "pod AppArmor profiles available");
		res_review(res, uid, true, NULL, NULL, NULL);
		goto out;
	}
	text = msg_finish(&m);
	res_deny(res, uid, text);
out:
	free(text);
	buf_cleanup(&m.b);
	pod_cleanup(&p);
}

/* ---- validate the profiles ConfigMap ---- */

/* Rules for every entry; apparmor_parser only for entries that are new or
 * changed since oldObject: an unchanged profile was compiled when it was
 * admitted, and the agent compiles again before loading anyway. Keeps the
 * update of a large ConfigMap inside the webhook timeout. */
static void cm_check(profile_entry *entries, size_t n, const cJSON *old_data, const admission_env *env, ag_err *cerr)
{
	profile_entry *sub = NULL;
	size_t *idx = NULL;
	size_t m = 0;

	if (profile_check_entries(entries, n, &env->limits, cerr) > 0 && cerr->msg[0])
		return; /* over the count limit: nothing was checked */
	if (!env->compile || !n)
		return;
	sub = calloc(n, sizeof(*sub));
	idx = calloc(n, sizeof(*idx));
	for (size_t i = 0; i < n; i++) {
		const char *was;

		if (!entries[i].ok)
			continue;
		was = jstr(old_data, entries[i].key);
		if (was && strcmp(was, entries[i].text) == 0)
			continue;
		if (!sub || !idx) {
			/* Fail closed: what could not be compiled is not admitted. */
			entries[i].ok = false;
			snprintf(entries[i].message, sizeof(entries[i].message), "not compiled: out of memory");
			continue;
		}
		sub[m] = entries[i];
		idx[m++] = i;
	}
	if (m && env->compile(env->compile_ctx, sub, m) > 0) {
		for (size_t j = 0; j < m; j++) {
			if (sub[j].ok)
				continue;
			entries[idx[j]].ok = false;
			memcpy(entries[idx[j]].message, sub[j].message, sizeof(sub[j].message));
		}
	}
	free(sub);
	free(idx);
}

static void validate_configmap(const char *uid, const cJSON *obj, const cJSON *old, const admission_env *env,
			       admission_result *res)
{
	const cJSON *data = jget(obj, "data");
	const cJSON *bin = jget(obj, "binaryData");
	const cJSON *it;
	profile_entry *entries = NULL;
	size_t n = 0;
	adm_msg m;
	ag_err cerr;
	char *text = NULL;

	memset(&m, 0, sizeof(m));
	buf_init(&m.b, ADMISSION_MESSAGE_MAX);
	err_clear(&cerr);
	if (data && !cJSON_IsNull(data) && !cJSON_IsObject(data))
		msg_add(&m, "data is not an object");
	if (!cJSON_IsObject(bin))
		bin = NULL;
	cJSON_ArrayForEach(it, bin)
	{
		msg_add(&m, "\"%.253s\": binaryData is not allowed, put the profile text under data", it->string);
	}
	if (cJSON_IsObject(data)) {
		size_t total = (size_t)cJSON_GetArraySize(data);

		entries = calloc(total ? total : 1, sizeof(*entries));
		if (!entries) {
			res_oom(res);
			goto out;
		}
		cJSON_ArrayForEach(it, data)
		{
			if (!it->string)
				continue;
			if (!cJSON_IsString(it)) {
				msg_add(&m, "\"%.253s\": value is not a string", it->string);
				continue;
			}
			entries[n].key = it->string;
			entries[n].text = it->valuestring;
			entries[n].len = strlen(it->valuestring);
			n++;
		}
		cm_check(entries, n, jget(old, "data"), env, &cerr);
		/* Over the count limit nothing was checked: one line says so. */
		if (cerr.msg[0])
			msg_add(&m, "%s", cerr.msg);
		for (size_t i = 0; i < n && !cerr.msg[0]; i++) {
			if (entries[i].ok)
				continue;
			if (strstr(entries[i].message, entries[i].key))
				msg_add(&m, "%s", entries[i].message);
			else
				msg_add(&m, "\"%.253s\": %s", entries[i].key, entries[i].message);
		}
	}
	if (!m.count) {
		snprintf(res->reason, sizeof(res->reason), "profiles ConfigMap accepted (%zu profile(s))", n);
		res_review(res, uid, true, NULL, NULL, NULL);
		goto out;
	}
	{
		char head[512];
		adm_msg full;

		memset(&full, 0, sizeof(full));
		buf_init(&full.b, ADMISSION_MESSAGE_MAX + 1024);
		snprintf(head, sizeof(head), "ConfigMap %s/%s refused, %zu problem(s): ", env->profiles_namespace,
			 env->profiles_name, m.count);
		full.rc |= buf_appends(&full.b, head);
		full.rc |= buf_append(&full.b, m.b.data ? m.b.data : "", m.b.len);
		full.dropped = m.dropped;
		full.rc |= m.rc;
		text = msg_finish(&full);
		buf_cleanup(&full.b);
	}
	res_deny(res, uid, text);
out:
	free(text);
	free(entries);
	buf_cleanup(&m.b);
}

/* ---- entry point ---- */

/* The whole body through cJSON: the fallback of jsonprune, and the one that
 * words the 400 for a malformed body. */
static int adm_parse_full(const char *body, size_t len, cJSON **root, admission_result *res)
{
	const char *end = NULL;

	*root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!*root) {
		size_t off = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;

		res_text(res, 400, "error", "malformed JSON near byte %zu", off);
		return -1;
	}
	/* cJSON's own "require NUL" mode refuses any body not followed by a NUL,
	 * so trailing bytes are checked here. */
	if (end >= body && end <= body + len) {
		while (end < body + len && strchr(" \t\r\n", *end) && *end)
			end++;
		if (end < body + len) {
			res_text(res, 400, "error", "trailing bytes after the JSON object at byte %zu", (size_t)(end - body));
			return -1;
		}
	}
	return 0;
}

const char *admission_op_name(admission_op op)
{
	return op == ADMISSION_MUTATE ? "mutate" : "validate";
}

void admission_handle(admission_op op, const char *body, size_t len, const admission_env *env,
		      admission_result *res)
{
	cJSON *root = NULL;
	const cJSON *req;
	const cJSON *res_kind;
	const char *uid;
	const char *operation;
	const char *resource = NULL;
	const char *group = NULL;
	const char *sub;
	const cJSON *obj;
	admission_env envd;
	bool has_nul = false;
	bool arena = false;

	memset(res, 0, sizeof(*res));
	buf_init(&res->body, ADMISSION_RESPONSE_MAX);
	/* Defaults of DESIGN.md for a caller that left fields out. */
	memset(&envd, 0, sizeof(envd));
	if (env)
		envd = *env;
	if (!envd.profiles_namespace || !envd.profiles_name) {
		envd.profiles_namespace = CONTRACT_NAMESPACE_DEFAULT;
		envd.profiles_name = CONTRACT_CONFIGMAP_DEFAULT_NAME;
	}
	env = &envd;
	if (!body || !len) {
		res_text(res, 400, "error", "empty request body: expected an AdmissionReview");
		return;
	}
	arena = jsonarena_enter();
	root = jsonprune_parse(body, len, &adm_review_node, ADMISSION_JSON_DEPTH_MAX, &has_nul);
	if (!root) {
		/* cJSON recurses: the depth is checked on raw bytes first. */
		if (!adm_depth_ok(body, len, ADMISSION_JSON_DEPTH_MAX, &has_nul)) {
			res_text(res, 400, "error", "request JSON nested deeper than %d levels", ADMISSION_JSON_DEPTH_MAX);
			goto out;
		}
		if (adm_parse_full(body, len, &root, res) != 0)
			goto out;
	}
	if (!cJSON_IsObject(root)) {
		res_text(res, 400, "error", "request body is not a JSON object");
		goto out;
	}
	if (!jstr(root, "apiVersion") || strcmp(jstr(root, "apiVersion"), ADM_API_VERSION) != 0) {
		res_text(res, 400, "error", "apiVersion must be " ADM_API_VERSION);
		goto out;
	}
	if (!jstr(root, "kind") || strcmp(jstr(root, "kind"), "AdmissionReview") != 0) {
		res_text(res, 400, "error", "kind must be AdmissionReview");
		goto out;
	}
	req = jget(root, "request");
	if (!cJSON_IsObject(req)) {
		res_text(res, 400, "error", "AdmissionReview has no request object");
		goto out;
	}
	uid = jstr(req, "uid");
	if (!uid || !uid[0]) {
		res_text(res, 400, "error", "request.uid is missing");
		goto out;
	}
	if (strlen(uid) > 128) {
		res_text(res, 400, "error", "request.uid is longer than 128 bytes");
		goto out;
	}

	operation = jstr(req, "operation");
	res_kind = jget(req, "resource");
	if (cJSON_IsObject(res_kind)) {
		resource = jstr(res_kind, "resource");
		group = jstr(res_kind, "group");
	} else {
		/* No resource: fall back to the kind (hand-written reviews). */
		const char *k = jstr(jget(req, "kind"), "kind");

		group = jstr(jget(req, "kind"), "group");
		resource = !k ? NULL : strcmp(k, "Pod") == 0 ? "pods" : strcmp(k, "ConfigMap") == 0 ? "configmaps" : NULL;
	}
	sub = jstr(req, "subResource");
	if (sub && !sub[0])
		sub = NULL;
	obj = jget(req, "object");
	if (!operation || !resource || (group && group[0])) {
		res_allow_warn(res, uid, "armorgate: %s does not handle this request (resource %.60s%s%.60s); allowed",
			       admission_op_name(op), resource ? resource : "?", sub ? "/" : "", sub ? sub : "");
		goto out;
	}

	if (op == ADMISSION_MUTATE) {
		if (strcmp(resource, "pods") == 0 && !sub && strcmp(operation, "CREATE") == 0 && cJSON_IsObject(obj))
			mutate_pod(uid, obj, res);
		else
			res_allow_warn(res, uid, "armorgate: mutate handles only Pod CREATE (got %.20s %.60s%s%.60s); allowed",
				       operation, resource, sub ? "/" : "", sub ? sub : "");
		goto out;
	}

	if (strcmp(resource, "pods") == 0 && !sub && strcmp(operation, "CREATE") == 0 && cJSON_IsObject(obj)) {
		validate_pod(uid, obj, NULL, false, env, res);
	} else if (strcmp(resource, "pods") == 0 && sub && strcmp(sub, "ephemeralcontainers") == 0 &&
		   strcmp(operation, "UPDATE") == 0 && cJSON_IsObject(obj)) {
		validate_pod(uid, obj, jget(req, "oldObject"), true, env, res);
	} else if (strcmp(resource, "configmaps") == 0 && !sub) {
		const char *ns = jstr(req, "namespace");
		const char *name = jstr(req, "name");

		if (!name || !name[0])
			name = jstr(jget(obj, "metadata"), "name");
		if (!ns || !name || strcmp(ns, env->profiles_namespace) != 0 || strcmp(name, env->profiles_name) != 0) {
			snprintf(res->reason, sizeof(res->reason), "not the profiles ConfigMap");
			res_review(res, uid, true, NULL, NULL, NULL);
		} else if (has_nul && (strcmp(operation, "CREATE") == 0 || strcmp(operation, "UPDATE") == 0)) {
			snprintf(res->reason, sizeof(res->reason),
				 "armorgate: ConfigMap %s/%s refused: it contains a NUL character (\\u0000); profiles are "
				 "plain text",
				 env->profiles_namespace, env->profiles_name);
			res_review(res, uid, false, NULL, NULL, res->reason);
		} else if ((strcmp(operation, "CREATE") == 0 || strcmp(operation, "UPDATE") == 0) &&
			   cJSON_IsObject(obj)) {
			validate_configmap(uid, obj, strcmp(operation, "UPDATE") == 0 ? jget(req, "oldObject") : NULL, env,
					   res);
		} else {
			snprintf(res->reason, sizeof(res->reason), "profiles ConfigMap %.20s needs no check", operation);
			res_review(res, uid, true, NULL, NULL, NULL);
		}
	} else {
		res_allow_warn(res, uid, "armorgate: validate does not handle %.20s %.60s%s%.60s; allowed", operation,
			       resource, sub ? "/" : "", sub ? sub : "");
	}
out:
	/* An arena-only tree is dropped with the arena: no walk, no frees. */
	if (root && (!arena || !jsonarena_clean()))
		cJSON_Delete(root);
	if (arena)
		jsonarena_leave();
}
