/* denial_record: parses one AppArmor audit record (pure; see the header).
 * Trust boundary: the text comes from the kernel, but name=, comm= and the
 * names of child profiles embed bytes a confined process chose. The kernel
 * prints those with audit_log_untrustedstring: "quoted" when plain, else
 * unquoted upper-case hex. A quoted value therefore never holds '"', so a
 * key is only ever looked for at a token boundary outside quotes and a value
 * cannot smuggle a second "profile=" in.
 * Decisions:
 * - profile= must be a valid custom.* name, or "custom.<p>//<child>" (a hat,
 *   a child profile, or the "//null-..." learning profile complain mode
 *   creates for an exec the parent had no rule for): attributed to the parent
 *   with child = true, because the operator manages only the parent and its
 *   complain-mode learning children are what the parent would need with ix.
 * - label= (a stack) or namespace= (a profile in a policy namespace, which a
 *   container may own) is never ours: ignored.
 * - A value the kernel would never produce (unterminated quote, odd or
 *   non-hex unquoted string, NUL inside) makes the record IGNORED.
 * - name= longer than the buffer is cut and flagged; masks are cut at the
 *   last whole word (network masks are space-separated words); comm= is cut
 *   like the kernel's own TASK_COMM_LEN. */
#include "denial_record.h"

#include <limits.h>
#include <string.h>

/* How a key's value is stored. */
typedef enum denial_kind {
	DENIAL_K_MODE,
	DENIAL_K_PROFILE,
	DENIAL_K_REFUSE, /* presence alone makes the record not ours */
	DENIAL_K_WORD,   /* short kernel word: too long = malformed */
	DENIAL_K_MASK,   /* cut at a word boundary */
	DENIAL_K_TEXT,   /* cut, flagged for name= */
	DENIAL_K_INT,
} denial_kind;

typedef struct denial_key {
	const char *key;
	denial_kind kind;
	size_t off; /* offset of the destination in denial_record */
	size_t cap; /* its size in bytes */
} denial_key;

#define DENIAL_FIELD(k, kind, member)                                                                                  \
	{                                                                                                              \
		k, kind, offsetof(denial_record, member), sizeof(((denial_record *)0)->member)                         \
	}

static const denial_key denial_keys[] = {
	DENIAL_FIELD("apparmor", DENIAL_K_MODE, mode),
	DENIAL_FIELD("profile", DENIAL_K_PROFILE, profile),
	{ "namespace", DENIAL_K_REFUSE, 0, 0 },
	{ "label", DENIAL_K_REFUSE, 0, 0 },
	DENIAL_FIELD("operation", DENIAL_K_WORD, operation),
	DENIAL_FIELD("name", DENIAL_K_TEXT, name),
	DENIAL_FIELD("requested_mask", DENIAL_K_MASK, requested),
	DENIAL_FIELD("denied_mask", DENIAL_K_MASK, denied),
	DENIAL_FIELD("pid", DENIAL_K_INT, pid),
	DENIAL_FIELD("comm", DENIAL_K_TEXT, comm),
	DENIAL_FIELD("capability", DENIAL_K_INT, capability),
	DENIAL_FIELD("capname", DENIAL_K_WORD, capname),
	DENIAL_FIELD("family", DENIAL_K_WORD, family),
	DENIAL_FIELD("sock_type", DENIAL_K_WORD, sock_type),
};

enum {
	DENIAL_KEY_COUNT = sizeof(denial_keys) / sizeof(denial_keys[0]),
	/* The longest mask text accepted before the word cut: the kernel's
	 * longest ("send receive connect ... setopt") is about 90. */
	DENIAL_MASK_TEXT_MAX = 160,
};

/* One value as it appears in the text: quoted values are taken verbatim,
 * unquoted ones are either a number or the kernel's hex encoding. */
typedef struct denial_value {
	const char *p;
	size_t n;
	bool quoted;
} denial_value;

/* The parse state: which fields were seen (a key twice is malformed). */
typedef struct denial_state {
	bool seen[DENIAL_KEY_COUNT];
	/* Enough of profile= to see a parent of the longest valid name and the
	 * "//" after it; a longer child name is cut (only the parent counts). */
	char profile[CONTRACT_PROFILE_NAME_MAX + 3];
	bool profile_seen;
	bool mode_seen;
} denial_state;

static bool denial_is_sep(char c)
{
	return c == ' ' || c == '\n' || c == '\0';
}

static int denial_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes v into dst (NUL-terminated, at most cap-1 bytes). Returns the
 * decoded length (which may exceed cap-1: the caller decides about the cut),
 * or -1 when v is not something the kernel prints or decodes to a NUL. */
static long denial_decode(const denial_value *v, char *dst, size_t cap)
{
	size_t out = 0;

	if (v->quoted) {
		if (memchr(v->p, '\0', v->n))
			return -1;
		out = v->n;
		size_t k = out < cap ? out : cap - 1;
		memcpy(dst, v->p, k);
		dst[k] = '\0';
		return (long)out;
	}
	if (v->n == 0 || v->n % 2 != 0)
		return -1;
	for (size_t i = 0; i < v->n; i += 2) {
		int hi = denial_hexval(v->p[i]), lo = denial_hexval(v->p[i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -1;
		if (out + 1 < cap)
			dst[out] = (char)(hi << 4 | lo);
		out++;
	}
	dst[out < cap ? out : cap - 1] = '\0';
	return (long)out;
}

/* A mask into dst, cut at the last whole word that fits (network masks are
 * words: "send receive"). False when the value is not a kernel mask. */
static bool denial_store_mask(const denial_value *v, char *dst, size_t cap)
{
	char tmp[DENIAL_MASK_TEXT_MAX];
	long full = denial_decode(v, tmp, sizeof(tmp));
	size_t keep;

	if (full < 0 || (size_t)full >= sizeof(tmp))
		return false;
	keep = (size_t)full;
	if (keep >= cap) {
		keep = cap - 1;
		while (keep > 0 && tmp[keep] != ' ')
			keep--;
		while (keep > 0 && tmp[keep - 1] == ' ')
			keep--;
	}
	memcpy(dst, tmp, keep);
	dst[keep] = '\0';
	return true;
}

/* A kernel word (operation, capname, family): one that does not fit is not
 * one the kernel prints, so the record is malformed rather than cut. */
static bool denial_store_word(const denial_value *v, char *dst, size_t cap)
{
	long full = denial_decode(v, dst, cap);
	return full >= 0 && (size_t)full < cap;
}

static bool denial_parse_int(const denial_value *v, int *out)
{
	long n = 0;
	bool neg = false;
	size_t i = 0;

	if (v->quoted || v->n == 0)
		return false;
	if (v->p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == v->n)
		return false;
	for (; i < v->n; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return false;
		n = n * 10 + (v->p[i] - '0');
		if (n > INT_MAX)
			return false;
	}
	*out = (int)(neg ? -n : n);
	return true;
}

/* "custom.web" or "custom.web//child..." into the record; else false. */
static bool denial_set_profile(denial_record *out, const char *full)
{
	const char *sl = strstr(full, "//");
	size_t n = sl ? (size_t)(sl - full) : strlen(full);

	if (n > CONTRACT_PROFILE_NAME_MAX)
		return false;
	memcpy(out->profile, full, n);
	out->profile[n] = '\0';
	if (!contract_profile_name_valid(out->profile))
		return false;
	out->child = sl != NULL;
	return true;
}

/* Stores one key's value. False: the record is not ours or malformed. */
static bool denial_store(denial_record *out, denial_state *st, const denial_key *k, const denial_value *v)
{
	char *dst = (char *)out + k->off;
	long full;

	switch (k->kind) {
	case DENIAL_K_MODE:
		st->mode_seen = true;
		if (v->quoted && v->n == 6 && memcmp(v->p, "DENIED", 6) == 0)
			out->mode = DENIAL_ENFORCE;
		else if (v->quoted && v->n == 7 && memcmp(v->p, "ALLOWED", 7) == 0)
			out->mode = DENIAL_COMPLAIN;
		else
			return false;
		return true;
	case DENIAL_K_PROFILE:
		full = denial_decode(v, st->profile, sizeof(st->profile));
		st->profile_seen = true;
		return full >= 0 && denial_set_profile(out, st->profile);
	case DENIAL_K_REFUSE: return false;
	case DENIAL_K_WORD: return denial_store_word(v, dst, k->cap);
	case DENIAL_K_MASK: return denial_store_mask(v, dst, k->cap);
	case DENIAL_K_TEXT:
		full = denial_decode(v, dst, k->cap);
		if (full < 0)
			return false;
		if (k->off == offsetof(denial_record, name))
			out->name_truncated = (size_t)full >= k->cap;
		return true;
	case DENIAL_K_INT: {
		int n;
		/* A number the kernel did not print is dropped, not fatal: the
		 * record still tells which profile denied what. */
		if (denial_parse_int(v, &n))
			*(int *)(void *)dst = n;
		return true;
	}
	}
	return false;
}

static const denial_key *denial_find_key(const char *key, size_t n, size_t *idx)
{
	for (size_t i = 0; i < DENIAL_KEY_COUNT; i++) {
		if (strlen(denial_keys[i].key) == n && memcmp(denial_keys[i].key, key, n) == 0) {
			*idx = i;
			return &denial_keys[i];
		}
	}
	return NULL;
}

/* Cheap rejection: most audit records on a node are not AppArmor denials of
 * our profiles; two memmem calls settle that before any tokenising. A
 * custom.* name never needs hex, but a child's name may ("custom." in hex). */
static bool denial_maybe_ours(const char *text, size_t len)
{
	static const char aa[] = "apparmor=\"", p_q[] = "profile=\"custom.", p_h[] = "profile=637573746F6D2E";

	if (!memmem(text, len, aa, sizeof(aa) - 1))
		return false;
	return memmem(text, len, p_q, sizeof(p_q) - 1) || memmem(text, len, p_h, sizeof(p_h) - 1);
}

/* Reads the key=value token at text[*pos..len); advances *pos past it.
 * Returns 1 with key/value set, 0 for a token without '=' (skipped), -1
 * for an unterminated quote. */
static int denial_next(const char *text, size_t len, size_t *pos, denial_value *key, denial_value *val)
{
	size_t i = *pos, ks = i;

	while (i < len && text[i] != '=' && text[i] != '"' && !denial_is_sep(text[i]))
		i++;
	if (i >= len || text[i] != '=') {
		/* Not a key: skip to the next space outside quotes. */
		while (i < len && !denial_is_sep(text[i])) {
			if (text[i] == '"') {
				const char *q = memchr(text + i + 1, '"', len - i - 1);
				if (!q)
					return -1;
				i = (size_t)(q - text);
			}
			i++;
		}
		*pos = i;
		return 0;
	}
	*key = (denial_value){ text + ks, i - ks, false };
	i++;
	if (i < len && text[i] == '"') {
		const char *q = memchr(text + i + 1, '"', len - i - 1);
		if (!q)
			return -1;
		*val = (denial_value){ text + i + 1, (size_t)(q - text) - i - 1, true };
		i = (size_t)(q - text) + 1;
	} else {
		size_t vs = i;
		while (i < len && !denial_is_sep(text[i]))
			i++;
		*val = (denial_value){ text + vs, i - vs, false };
	}
	*pos = i;
	return 1;
}

denial_parse_result denial_record_parse(const char *text, size_t len, denial_record *out)
{
	denial_state st;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	out->capability = -1;
	if (!text || !denial_maybe_ours(text, len))
		return DENIAL_PARSE_IGNORED;
	memset(&st, 0, sizeof(st));
	while (pos < len) {
		denial_value key, val;
		size_t idx;
		int r;

		if (denial_is_sep(text[pos])) {
			pos++;
			continue;
		}
		r = denial_next(text, len, &pos, &key, &val);
		if (r < 0)
			goto ignored;
		if (r == 0)
			continue;
		const denial_key *k = denial_find_key(key.p, key.n, &idx);
		if (!k)
			continue;
		if (st.seen[idx] || !denial_store(out, &st, k, &val))
			goto ignored;
		st.seen[idx] = true;
	}
	if (!st.mode_seen || !st.profile_seen || out->operation[0] == '\0')
		goto ignored;
	return DENIAL_PARSE_OK;
ignored:
	memset(out, 0, sizeof(*out));
	out->capability = -1;
	return DENIAL_PARSE_IGNORED;
}
