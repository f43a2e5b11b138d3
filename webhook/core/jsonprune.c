/* jsonprune: schema-pruned JSON parse over cJSON. See jsonprune.h for the
 * accepted subset and why it matters. */
#include "jsonprune.h"

#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "jsondepth.h"

/* Numbers cJSON reads whole: it copies at most 63 characters before strtod. */
enum { JP_NUMBER_MAX = 63 };

typedef struct jp_scan {
	const unsigned char *s;
	size_t n;
	size_t i;
	int depth;
	int max_depth;
	bool nul;        /* a \u0000 escape was seen */
	size_t blk;      /* offset (a multiple of 64) of the block in quotes/stops */
	uint64_t quotes; /* bit k: s[blk + k] is '"' */
	uint64_t stops;  /* bit k: s[blk + k] is '"', '\\' or NUL */
} jp_scan;

static bool jp_at(const jp_scan *p, unsigned char c)
{
	return p->i < p->n && p->s[p->i] == c;
}

/* JSON whitespace; the first test settles every other byte. */
static inline bool jp_is_ws(unsigned char c)
{
	return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

static void jp_ws(jp_scan *p)
{
	while (p->i < p->n && jp_is_ws(p->s[p->i]))
		p->i++;
}

static int jp_hex(unsigned char c)
{
	unsigned char lower = c | 0x20; /* 'A'..'F' -> 'a'..'f'; digits unchanged */

	if (c >= '0' && c <= '9')
		return c - '0';
	return lower >= 'a' && lower <= 'f' ? lower - 'a' + 10 : -1;
}

/* Bits k of *quotes and *stops: byte k of the 64 at b is '"', and is '"',
 * '\\' or NUL. */
static void jp_masks64(const unsigned char *b, uint64_t *quotes, uint64_t *stops)
{
#if defined(__SSE2__)
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i zero = _mm_setzero_si128();
	uint64_t q = 0;
	uint64_t x = 0;

	for (unsigned k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * k));

		q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) << (16 * k);
		x |= (uint64_t)(unsigned)_mm_movemask_epi8(
			     _mm_or_si128(_mm_cmpeq_epi8(v, bslash), _mm_cmpeq_epi8(v, zero)))
			<< (16 * k);
	}
	*quotes = q;
	*stops = q | x;
#else
	uint64_t q = 0;
	uint64_t x = 0;

	for (unsigned k = 0; k < 64; k++) {
		q |= (uint64_t)(b[k] == '"') << k;
		x |= (uint64_t)(b[k] == '\\' || !b[k]) << k;
	}
	*quotes = q;
	*stops = q | x;
#endif
}

/* The last block, shorter than 64 bytes, into p's masks: out of line, so
 * the common path needs no buffer on its stack. */
__attribute__((noinline)) static void jp_masks_tail(jp_scan *p, size_t base)
{
	unsigned char tail[64] = { 0 };
	size_t len = p->n - base;
	uint64_t keep = (UINT64_C(1) << len) - 1;

	memcpy(tail, p->s + base, len);
	jp_masks64(tail, &p->quotes, &p->stops);
	/* the padding's NULs are no stops */
	p->stops &= keep;
}

/* The block at base (a multiple of 64) into p's masks. */
static inline __attribute__((always_inline)) void jp_load_block(jp_scan *p, size_t base)
{
	if (p->n - base >= 64)
		jp_masks64(p->s + base, &p->quotes, &p->stops);
	else
		jp_masks_tail(p, base);
	p->blk = base;
}

/* A string at p->i (its opening quote). Raw control bytes pass: cJSON takes
 * them too. *esc tells whether it held an escape or a raw NUL byte: either
 * way its bytes are not its value as cJSON's C string has it. */
static inline __attribute__((always_inline)) bool jp_string(jp_scan *p, bool *esc)
{
	size_t i = p->i + 1;

	*esc = false;
	/* The ends of one 64-byte block are found at once and kept in p: most
	 * strings are short names and values, and a search per string
	 * mispredicted its exit for every length. Which stop comes first is told
	 * by the masks, not by loading the byte. */
	while (i < p->n) {
		size_t sh = i - p->blk;
		uint64_t m;
		unsigned char c;

		if (sh >= 64) {
			jp_load_block(p, i & ~(size_t)63);
			sh = i & 63;
		}
		m = p->stops >> sh;
		if (!m) {
			i = p->blk + 64;
			continue;
		}
		sh += (size_t)__builtin_ctzll(m);
		i = p->blk + sh;
		if (p->quotes >> sh & 1) {
			p->i = i + 1;
			return true;
		}
		*esc = true;
		if (!p->s[i]) {
			i++;
			continue;
		}
		if (p->n - i < 2)
			return false;
		c = p->s[i + 1];
		if (c == 'u') {
			unsigned v = 0;

			if (p->n - i < 6)
				return false;
			for (size_t k = 2; k < 6; k++) {
				int h = jp_hex(p->s[i + k]);

				if (h < 0)
					return false;
				v = v << 4 | (unsigned)h;
			}
			/* Surrogate pairs have their own rules in cJSON; leave them to it. */
			if (v >= 0xD800 && v <= 0xDFFF)
				return false;
			if (!v)
				p->nul = true;
			i += 6;
		} else if (c && strchr("\"\\/bfnrt", c)) {
			i += 2;
		} else {
			return false;
		}
	}
	return false;
}

static inline __attribute__((always_inline)) bool jp_digits(jp_scan *p)
{
	size_t start = p->i;

	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	return p->i > start;
}

/* RFC 8259 number, at most JP_NUMBER_MAX characters. */
static inline __attribute__((always_inline)) bool jp_number(jp_scan *p)
{
	size_t start = p->i;

	if (jp_at(p, '-'))
		p->i++;
	if (jp_at(p, '0'))
		p->i++;
	else if (!(p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9') || !jp_digits(p))
		return false;
	if (jp_at(p, '.')) {
		p->i++;
		if (!jp_digits(p))
			return false;
	}
	if (jp_at(p, 'e') || jp_at(p, 'E')) {
		p->i++;
		if (jp_at(p, '+') || jp_at(p, '-'))
			p->i++;
		if (!jp_digits(p))
			return false;
	}
	return p->i - start <= JP_NUMBER_MAX;
}

static bool jp_word(jp_scan *p, const char *w, size_t len)
{
	if (p->n - p->i < len || memcmp(p->s + p->i, w, len) != 0)
		return false;
	p->i += len;
	return true;
}

/* Past the opening bracket of a container: 1 when it is empty (closed),
 * 0 when members follow, -1 when too deep. */
static int jp_open(jp_scan *p, unsigned char close)
{
	if (++p->depth > p->max_depth)
		return -1;
	p->i++;
	jp_ws(p);
	if (!jp_at(p, close))
		return 0;
	p->i++;
	p->depth--;
	return 1;
}

/* A member name and its colon; [*k, *k + *len) is the raw name. */
static bool jp_name(jp_scan *p, size_t *k, size_t *len, bool *esc)
{
	*k = p->i + 1;
	if (!jp_at(p, '"') || !jp_string(p, esc))
		return false;
	*len = p->i - 1 - *k;
	if (!jp_at(p, ':')) {
		jp_ws(p);
		if (!jp_at(p, ':'))
			return false;
	}
	p->i++;
	jp_ws(p);
	return true;
}

/* After a member or item: 0 past a comma, 1 past the closing bracket, -1 else. */
static int jp_next(jp_scan *p, unsigned char close)
{
	/* compact JSON: the whitespace scan only when neither byte is next */
	if (!jp_at(p, ',') && !jp_at(p, close))
		jp_ws(p);
	if (jp_at(p, ',')) {
		p->i++;
		jp_ws(p);
		return 0;
	}
	if (!jp_at(p, close))
		return -1;
	p->i++;
	p->depth--;
	return 1;
}

/* Deepest nesting one jp_skip follows on its own stack; deeper (but within
 * max_depth) gives false, so cJSON decides. */
enum { JP_SKIP_LEVELS = 128 };

/* Any value at p->i (callers have skipped the whitespace before it), skipped: the grammar above
 * in one loop with an explicit stack of open containers, since the skipped
 * members (env, volumes, probes, managedFields...) are most of a review and a
 * call per token cost more than the token. */
static bool jp_skip(jp_scan *p)
{
	const unsigned char *s = p->s;
	const size_t n = p->n;
	size_t i = p->i;
	unsigned char object[JP_SKIP_LEVELS]; /* per open level: 1 object, 0 array */
	int open = 0;
	unsigned char c;

value:
	if (i >= n)
		return false;
	c = s[i];
	switch (c) {
	case ' ':
	case '\t':
	case '\n':
	case '\r': i++; goto value;
	case '"': {
		bool esc;

		p->i = i;
		if (!jp_string(p, &esc))
			return false;
		i = p->i;
		goto after;
	}
	case '{':
	case '[':
		if (open >= JP_SKIP_LEVELS || p->depth + open + 1 > p->max_depth)
			return false;
		object[open++] = c == '{';
		i++;
		while (i < n && jp_is_ws(s[i]))
			i++;
		if (i < n && s[i] == (c == '{' ? '}' : ']')) {
			i++;
			open--;
			goto after;
		}
		if (c == '{')
			goto key;
		goto value;
	case 't':
	case 'f':
	case 'n':
		p->i = i;
		if (!(c == 't' ? jp_word(p, "true", 4) : c == 'f' ? jp_word(p, "false", 5) : jp_word(p, "null", 4)))
			return false;
		i = p->i;
		goto after;
	default:
		p->i = i;
		if (!jp_number(p))
			return false;
		i = p->i;
		goto after;
	}
key:
	/* jp_name's steps, on the local position: a call here costs more than
	 * the scan around it (bench/webhook/README.md). Whitespace is looked
	 * for only where the expected byte is not: the API server sends compact
	 * JSON. */
	if (i >= n)
		return false;
	if (s[i] != '"') {
		if (!jp_is_ws(s[i]))
			return false;
		i++;
		goto key;
	}
	{
		bool esc;

		p->i = i;
		if (!jp_string(p, &esc))
			return false;
		i = p->i;
	}
	if (i < n && s[i] == ':') {
		i++;
		goto value;
	}
	while (i < n && jp_is_ws(s[i]))
		i++;
	if (i >= n || s[i] != ':')
		return false;
	i++;
	goto value;
after:
	if (open == 0) {
		p->i = i;
		return true;
	}
after_ws:
	if (i >= n)
		return false;
	c = s[i];
	if (c == ',') {
		i++;
		if (object[open - 1])
			goto key;
		goto value;
	}
	if (c == (object[open - 1] ? '}' : ']')) {
		i++;
		open--;
		goto after;
	}
	if (!jp_is_ws(c))
		return false;
	i++;
	goto after_ws;
}

/* The value at p->i kept whole: cJSON parses exactly its span. */
static cJSON *jp_whole(jp_scan *p)
{
	size_t start = p->i;

	if (!jp_skip(p))
		return NULL;
	return cJSON_ParseWithLength((const char *)p->s + start, p->i - start);
}

/* Bytes [s, s + len) as a NUL-terminated copy from cJSON's allocator. */
static char *jp_copy(const unsigned char *s, size_t len)
{
	char *c = cJSON_malloc(len + 1);

	if (c) {
		memcpy(c, s, len);
		c[len] = '\0';
	}
	return c;
}

/* Building kept values directly, not through a second parse by cJSON: most
 * are short strings and small objects of strings, and cJSON's per-call setup
 * and literal probing cost more than the value. Covers strings without
 * escapes or NUL bytes (the bytes are the value), numbers (jp_build_number),
 * objects and arrays of those, true, false and null; anything else (escapes)
 * gives NULL and jp_value hands the span to cJSON. The value each gives is what
 * cJSON's parse gives (the differential fuzz target checks). */
static cJSON *jp_build(jp_scan *p);
static cJSON *jp_container(jp_scan *p, const jsonprune_node *node, bool object);

static cJSON *jp_build_string(jp_scan *p)
{
	size_t start = p->i + 1;
	bool esc;
	char *str;
	cJSON *v;

	if (!jp_string(p, &esc) || esc)
		return NULL;
	str = jp_copy(p->s + start, p->i - 1 - start);
	/* cJSON has no "string item from an owned buffer": a bare item, retyped. */
	v = str ? cJSON_CreateNull() : NULL;
	if (!v) {
		cJSON_free(str);
		return NULL;
	}
	v->type = cJSON_String;
	v->valuestring = str;
	return v;
}

/* A number as cJSON's parse makes it: the text, with '.' replaced by the
 * locale's decimal point, through strtod (jp_number has bounded it to the
 * 63 characters cJSON copies), then cJSON_CreateNumber's saturated valueint,
 * which is its parse's too. Integers of up to 15 digits (ports, user ids,
 * seconds: most numbers in a Pod) are exact doubles, so they skip strtod:
 * its correctly rounded result is their value. */
static cJSON *jp_build_number(jp_scan *p)
{
	char num[JP_NUMBER_MAX + 1];
	const unsigned char *d = p->s + p->i;
	const struct lconv *lc;
	char point;
	size_t len;
	size_t k;
	uint64_t u = 0;

	if (!jp_number(p))
		return NULL;
	len = (size_t)(p->s + p->i - d);
	k = d[0] == '-';
	if (len - k <= 15) {
		while (k < len && d[k] >= '0' && d[k] <= '9')
			u = u * 10 + (uint64_t)(d[k++] - '0');
		if (k == len)
			return cJSON_CreateNumber(d[0] == '-' ? -(double)u : (double)u);
	}
	lc = localeconv();
	point = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.';
	memcpy(num, d, len);
	num[len] = '\0';
	for (k = 0; k < len; k++)
		if (num[k] == '.')
			num[k] = point;
	return cJSON_CreateNumber(strtod(num, NULL));
}

static cJSON *jp_build(jp_scan *p)
{
	if (p->i >= p->n)
		return NULL;
	switch (p->s[p->i]) {
	case '"': return jp_build_string(p);
	case '{': return jp_container(p, NULL, true);
	case '[': return jp_container(p, NULL, false);
	case 't': return jp_word(p, "true", 4) ? cJSON_CreateTrue() : NULL;
	case 'f': return jp_word(p, "false", 5) ? cJSON_CreateFalse() : NULL;
	case 'n': return jp_word(p, "null", 4) ? cJSON_CreateNull() : NULL;
	default: return jp_build_number(p);
	}
}

static const jsonprune_member *jp_member(const jsonprune_node *node, const unsigned char *k, size_t len)
{
	for (size_t m = 0; m < node->jn_nmembers; m++) {
		const jsonprune_member *jm = &node->jn_members[m];

		if (jm->jm_len == len && (!len || (unsigned char)jm->jm_name[0] == k[0]) &&
		    memcmp(jm->jm_name, k, len) == 0)
			return jm;
	}
	return NULL;
}

static cJSON *jp_value(jp_scan *p, const jsonprune_node *node);

/* An object or array at p->i, pruned by node (an object node when object),
 * or with node NULL built whole by jp_build's rules. */
static cJSON *jp_container(jp_scan *p, const jsonprune_node *node, bool object)
{
	const unsigned char close = object ? '}' : ']';
	cJSON *c = object ? cJSON_CreateObject() : cJSON_CreateArray();
	int st;

	if (!c)
		return NULL;
	for (st = jp_open(p, close); st == 0; st = jp_next(p, close)) {
		const jsonprune_member *m = NULL;
		char *key = NULL;
		cJSON *v;
		bool ok;

		if (object) {
			size_t k;
			size_t len;
			bool esc;

			/* An escaped name, or one cut short by a raw NUL in cJSON,
			 * could spell a kept one: cJSON decides. */
			if (!jp_name(p, &k, &len, &esc) || esc)
				goto fail;
			if (!node) {
				if (!(key = jp_copy(p->s + k, len)))
					goto fail;
			} else if (!(m = jp_member(node, p->s + k, len))) {
				if (!jp_skip(p))
					goto fail;
				continue;
			}
		}
		v = m ? jp_value(p, m->jm_node) : node ? jp_value(p, node->jn_items) : jp_build(p);
		if (!v) {
			cJSON_free(key);
			goto fail;
		}
		if (m) {
			ok = cJSON_AddItemToObjectCS(c, m->jm_name, v);
		} else {
			/* For a built object, what cJSON_AddItemToObject does with the
			 * name already copied. */
			v->string = key;
			ok = cJSON_AddItemToArray(c, v);
		}
		if (!ok) {
			cJSON_Delete(v);
			goto fail;
		}
	}
	if (st == 1)
		return c;
fail:
	cJSON_Delete(c);
	return NULL;
}

static cJSON *jp_value(jp_scan *p, const jsonprune_node *node)
{
	size_t start = p->i;
	int depth = p->depth;
	cJSON *v;

	if (node && node->jn_members && jp_at(p, '{'))
		return jp_container(p, node, true);
	if (node && node->jn_items && jp_at(p, '['))
		return jp_container(p, node, false);
	v = jp_build(p);
	if (v)
		return v;
	p->i = start;
	p->depth = depth;
	return jp_whole(p);
}

cJSON *jsonprune_parse(const char *s, size_t n, const jsonprune_node *schema, int max_depth, bool *nul_escape)
{
	jp_scan p = { (const unsigned char *)s, n, 0, 0, max_depth, false, 0, 0, 0 };
	cJSON *root;

	if (!s)
		return NULL;
	jp_load_block(&p, 0);
	jp_ws(&p);
	root = jp_value(&p, schema);
	if (!root)
		return NULL;
	jp_ws(&p);
	if (p.i != p.n) {
		cJSON_Delete(root);
		return NULL;
	}
	*nul_escape = p.nul;
	return root;
}

/* The whole text through cJSON, which words the error for a malformed one. */
static int jsonprune_full(const char *s, size_t n, cJSON **root, ag_err *err)
{
	const char *end = NULL;

	*root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	if (!*root) {
		size_t off = end && end >= s && end <= s + n ? (size_t)(end - s) : 0;

		return err_set(err, EINVAL, "malformed JSON near byte %zu", off);
	}
	/* cJSON's own "require NUL" mode refuses any text not followed by a
	 * NUL, so trailing bytes are checked here. */
	if (end >= s && end <= s + n) {
		while (end < s + n && strchr(" \t\r\n", *end) && *end)
			end++;
		if (end < s + n) {
			cJSON_Delete(*root);
			*root = NULL;
			return err_set(err, EINVAL, "trailing bytes after the JSON object at byte %zu",
				       (size_t)(end - s));
		}
	}
	return 0;
}

int jsonprune_load(const char *s, size_t n, const jsonprune_node *schema, int max_depth, cJSON **root, bool *nul_escape,
		   ag_err *err)
{
	*nul_escape = false;
	*root = jsonprune_parse(s, n, schema, max_depth, nul_escape);
	if (*root)
		return 0;
	/* cJSON recurses: the depth is checked on raw bytes first. */
	if (s && !jsondepth_ok(s, n, max_depth, nul_escape))
		return err_set(err, EINVAL, "request JSON nested deeper than %d levels", max_depth);
	return jsonprune_full(s, n, root, err);
}
