/* profile: the profile rules of DESIGN.md "Profiles", shared by the webhook
 * (ConfigMap admission) and the agent (before loading).
 * Trust boundary: key and text are untrusted ConfigMap bytes. The text rules
 * are a small structural lexer over AppArmor syntax (comments, strings,
 * path alternations, blocks) — not a full parser: apparmor_parser
 * compile-only (aaparser_compile_check, common/aaparser.h) is the second gate.
 * Decisions beyond DESIGN.md (tested in test/profile):
 *  - attachment paths in the header (`profile custom.x /usr/bin/foo {`) are
 *    refused: Pods select the profile by name, and an attachment would confine
 *    every matching program started on every node;
 *  - include paths containing a ".." component are refused: they would make
 *    the parser read (and echo into error messages) files outside its dirs;
 *  - NUL bytes are refused. */
#include "profile.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

/* Untrusted bytes quoted in a message: printable ASCII only, capped. */
const char *profile_shown(char *out, size_t outsz, const char *p, size_t n)
{
	size_t cap = outsz - 1;
	size_t j = 0;

	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n && j < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		out[j++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
	}
	if (j == cap && j > 3)
		memcpy(out + j - 3, "...", 3);
	out[j] = '\0';
	return out;
}

/* ---- lexer ---- */

enum { PROFILE_ALT_MAX = 1024 };

typedef enum {
	TK_EOF,
	TK_WORD,
	TK_STRING,
	TK_LBRACE,
	TK_RBRACE,
	TK_LPAREN,
	TK_RPAREN,
	TK_COMMA,
	TK_EQ,
	TK_HASHINCLUDE, /* "#include" (a plain "include" is a TK_WORD) */
	TK_ERROR,
} profile_tk;

typedef struct profile_tok {
	profile_tk kind;
	const char *p;
	size_t n;
	int line;
} profile_tok;

typedef struct profile_lex {
	const char *s;
	size_t len;
	size_t pos;
	int line;
	const char *error; /* set with TK_ERROR */
} profile_lex;

static bool profile_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool profile_word_char(char c)
{
	return c && !profile_space(c) && c != ',' && c != '(' && c != ')' && c != '=' && c != '"' && c != '{' &&
		c != '}';
}

/* An alternation `{a,b}` (path glob, `@{VAR}`) closes on the same line with
 * no whitespace inside; a block `{` does not. Returns the index just past
 * the matching '}', or 0 when the brace at i is not an alternation. */
static size_t profile_alternation_end(const profile_lex *lx, size_t i)
{
	int depth = 0;
	/* Real alternations are short; the cap keeps hostile input (long runs of
	 * braces without blanks) linear. */
	size_t end = lx->len - i > PROFILE_ALT_MAX ? i + PROFILE_ALT_MAX : lx->len;

	if (i + 1 < lx->len && lx->s[i + 1] == '}')
		return 0; /* `{}`: an empty block, never an alternation */
	for (size_t j = i; j < end; j++) {
		char c = lx->s[j];

		if (c == '\\') {
			j++; /* escaped: never a brace, never a blank */
			continue;
		}
		if (c == '{')
			depth++;
		else if (c == '}') {
			if (--depth == 0)
				return j + 1;
		} else if (profile_space(c) || c == '\0') {
			return 0;
		}
	}
	return 0;
}

static profile_tok profile_next(profile_lex *lx)
{
	profile_tok t = { TK_EOF, NULL, 0, 0 };
	const char *s = lx->s;

	for (;;) {
		while (lx->pos < lx->len && profile_space(s[lx->pos])) {
			if (s[lx->pos] == '\n')
				lx->line++;
			lx->pos++;
		}
		/* Like apparmor_parser: "#include" followed by anything at all is an
		 * include ("#includex" includes "x"); any other '#' starts a comment. */
		if (lx->pos < lx->len && s[lx->pos] == '#' &&
		    !(lx->len - lx->pos >= 8 && memcmp(s + lx->pos, "#include", 8) == 0)) {
			while (lx->pos < lx->len && s[lx->pos] != '\n')
				lx->pos++;
			continue;
		}
		break;
	}
	t.line = lx->line;
	t.p = s + lx->pos;
	if (lx->pos >= lx->len)
		return t;
	switch (s[lx->pos]) {
	case '#':
		t.kind = TK_HASHINCLUDE;
		t.n = 8;
		lx->pos += 8;
		return t;
	case '"': {
		size_t i = lx->pos + 1;

		while (i < lx->len && s[i] != '"') {
			if (s[i] == '\\' && i + 1 < lx->len)
				i++;
			if (s[i] == '\n')
				lx->line++;
			i++;
		}
		if (i >= lx->len) {
			t.kind = TK_ERROR;
			lx->error = "unterminated string";
			return t;
		}
		t.kind = TK_STRING;
		t.n = i + 1 - lx->pos;
		lx->pos = i + 1;
		return t;
	}
	case '{':
		if (profile_alternation_end(lx, lx->pos) == 0) {
			t.kind = TK_LBRACE;
			t.n = 1;
			lx->pos++;
			return t;
		}
		break; /* a word that starts with an alternation */
	case '}':
		t.kind = TK_RBRACE;
		t.n = 1;
		lx->pos++;
		return t;
	case '(':
	case ')':
	case ',':
	case '=':
		t.kind = s[lx->pos] == '('  ? TK_LPAREN
			: s[lx->pos] == ')' ? TK_RPAREN
			: s[lx->pos] == ',' ? TK_COMMA
					    : TK_EQ;
		t.n = 1;
		lx->pos++;
		return t;
	default: break;
	}
	/* A word: runs of word characters and alternations. */
	{
		size_t i = lx->pos;

		while (i < lx->len) {
			if (s[i] == '\\' && i + 1 < lx->len) {
				/* an escaped character, even a quote or a blank, stays in the
				 * word (apparmor_parser reads `/x\\"y` as one path) */
				if (s[i + 1] == '\n')
					lx->line++;
				i += 2;
			} else if (s[i] == '{') {
				size_t e = profile_alternation_end(lx, i);

				if (e == 0)
					break;
				i = e;
			} else if (profile_word_char(s[i])) {
				i++;
			} else {
				break;
			}
		}
		t.kind = TK_WORD;
		t.n = i - lx->pos;
		lx->pos = i;
	}
	return t;
}

static bool profile_tok_is(const profile_tok *t, const char *w)
{
	return t->kind == TK_WORD && t->n == strlen(w) && memcmp(t->p, w, t->n) == 0;
}

/* ---- the text rules ---- */

/* The rest of an include line, after the include keyword: `[if exists] <path>`. */
static int profile_check_include(const char *key, profile_lex *lx, int line, ag_err *err)
{
	const char *s = lx->s;
	size_t i = lx->pos;
	size_t start;
	char shown[80];

	while (i < lx->len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (lx->len - i >= 2 && memcmp(s + i, "if", 2) == 0 && i + 2 < lx->len &&
	    (s[i + 2] == ' ' || s[i + 2] == '\t')) {
		i += 2;
		while (i < lx->len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (!(lx->len - i >= 6 && memcmp(s + i, "exists", 6) == 0))
			return err_set(err, EINVAL,
				       "%s: line %d: malformed include (expected `include if exists <...>`)", key,
				       line);
		i += 6;
		while (i < lx->len && (s[i] == ' ' || s[i] == '\t'))
			i++;
	}
	if (i < lx->len && s[i] == '"')
		return err_set(
			err, EINVAL,
			"%s: line %d: quoted include paths are not allowed; use `include <...>` (a path relative "
			"to the parser's include directories)",
			key, line);
	if (i < lx->len && s[i] == '/')
		return err_set(err, EINVAL,
			       "%s: line %d: absolute include paths are not allowed; use `include <...>` (a path "
			       "relative to the parser's include directories)",
			       key, line);
	if (i >= lx->len || s[i] != '<')
		return err_set(
			err, EINVAL,
			"%s: line %d: malformed include; only `include <...>` and `include if exists <...>` are allowed",
			key, line);
	start = ++i;
	while (i < lx->len && s[i] != '>' && s[i] != '\n')
		i++;
	if (i >= lx->len || s[i] != '>')
		return err_set(err, EINVAL, "%s: line %d: malformed include: missing '>'", key, line);
	if (i == start)
		return err_set(err, EINVAL, "%s: line %d: empty include path", key, line);
	if (s[start] == '/')
		return err_set(err, EINVAL,
			       "%s: line %d: absolute include paths are not allowed (<%s>); use a path relative to the "
			       "parser's include directories",
			       key, line, profile_shown(shown, sizeof(shown), s + start, i - start));
	for (size_t j = start; j < i; j++) {
		/* a ".." component: j at a component start and the component is ".." */
		if ((j == start || s[j - 1] == '/') && j + 1 < i && s[j] == '.' && s[j + 1] == '.' &&
		    (j + 2 == i || s[j + 2] == '/'))
			return err_set(err, EINVAL,
				       "%s: line %d: include path <%s> leaves the include directories (\"..\")", key,
				       line, profile_shown(shown, sizeof(shown), s + start, i - start));
		if (profile_space(s[j]))
			return err_set(err, EINVAL, "%s: line %d: malformed include path <%s>", key, line,
				       profile_shown(shown, sizeof(shown), s + start, i - start));
	}
	i++;
	/* Only blanks or a comment may follow on the line. */
	while (i < lx->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i < lx->len && s[i] != '\n' && s[i] != '#')
		return err_set(err, EINVAL, "%s: line %d: unexpected text after include <%s>", key, line,
			       profile_shown(shown, sizeof(shown), s + start, i - start));
	lx->pos = i;
	return 0;
}

/* Statement-level words allowed to open a block inside a profile: qualifier
 * blocks (`owner { ... }`, `audit deny { ... }`) and conditionals. */
static bool profile_qualifier(const profile_tok *t)
{
	static const char *const q[] = { "audit", "owner", "deny", "allow", "quiet", "kill", "other", NULL };

	for (size_t i = 0; q[i]; i++)
		if (profile_tok_is(t, q[i]))
			return true;
	return false;
}

/* Parses a top-level header `profile NAME [flags=(...)|(...)] {` starting
 * at the `profile` token already consumed. */
static int profile_check_header(const char *key, profile_lex *lx, const profile_tok *kw, ag_err *err)
{
	char shown[80];
	profile_tok name = profile_next(lx);
	profile_tok t;
	const char *nm = name.p;
	size_t nlen = name.n;

	if (name.kind == TK_STRING) {
		nm = name.p + 1;
		nlen = name.n - 2;
	} else if (name.kind != TK_WORD) {
		return err_set(err, EINVAL, "%s: line %d: `profile` must be followed by the profile name \"%s\"", key,
			       kw->line, key);
	}
	if (nlen != strlen(key) || memcmp(nm, key, nlen) != 0)
		return err_set(err, EINVAL, "%s: line %d: profile declares \"%s\"; the profile name must equal the key",
			       key, name.line, profile_shown(shown, sizeof(shown), nm, nlen));
	t = profile_next(lx);
	if (t.kind == TK_WORD && !profile_tok_is(&t, "flags")) {
		profile_lex peek = *lx;

		if (profile_next(&peek).kind == TK_EQ)
			return err_set(err, EINVAL,
				       "%s: line %d: header option \"%s\" is not allowed; only flags=(...)", key,
				       t.line, profile_shown(shown, sizeof(shown), t.p, t.n));
	}
	if (t.kind == TK_WORD && !profile_tok_is(&t, "flags"))
		return err_set(
			err, EINVAL,
			"%s: line %d: attachment \"%s\" is not allowed; declare `profile %s [flags=(...)] {` (Pods "
			"select the profile by name)",
			key, t.line, profile_shown(shown, sizeof(shown), t.p, t.n), key);
	if (t.kind == TK_STRING)
		return err_set(err, EINVAL,
			       "%s: line %d: attachment %s is not allowed; declare `profile %s [flags=(...)] {`", key,
			       t.line, profile_shown(shown, sizeof(shown), t.p, t.n), key);
	if (profile_tok_is(&t, "flags")) {
		t = profile_next(lx);
		if (t.kind != TK_EQ)
			return err_set(err, EINVAL, "%s: line %d: expected `flags=(...)`", key, t.line);
		t = profile_next(lx);
		if (t.kind != TK_LPAREN)
			return err_set(err, EINVAL, "%s: line %d: expected `flags=(...)`", key, t.line);
	}
	if (t.kind == TK_LPAREN) {
		do {
			t = profile_next(lx);
		} while (t.kind == TK_WORD || t.kind == TK_COMMA || t.kind == TK_EQ);
		if (t.kind != TK_RPAREN)
			return err_set(err, EINVAL, "%s: line %d: malformed flags list", key, t.line);
		t = profile_next(lx);
	}
	if (t.kind != TK_LBRACE)
		return err_set(err, EINVAL, "%s: line %d: expected `{` after `profile %s [flags=(...)]`", key, t.line,
			       key);
	return 0;
}

/* Where the walk over a profile's tokens stands. */
typedef struct profile_walk {
	const char *key;
	profile_lex lx;
	int depth;
	int profiles;
	int first_line;
	bool stmt_start;
	profile_tok first; /* first token of the current statement */
	bool all_qualifiers;
} profile_walk;

/* A word at the start of a statement may be an include, a variable, the
 * profile header, a child profile or a hat. -1 refused, 1 consumed, 0 an
 * ordinary word. */
static int profile_check_word(profile_walk *w, const profile_tok *t, ag_err *err)
{
	char shown[80];
	const char *key = w->key;

	if (!w->stmt_start)
		return 0;
	if (profile_tok_is(t, "include"))
		return profile_check_include(key, &w->lx, t->line, err) != 0 ? -1 : 1;
	if (w->depth == 0 && (t->p[0] == '@' || t->p[0] == '$')) {
		/* variable / tunable assignment: runs to the end of the line */
		while (w->lx.pos < w->lx.len && w->lx.s[w->lx.pos] != '\n')
			w->lx.pos++;
		return 1;
	}
	if (w->depth == 0 && profile_tok_is(t, "profile")) {
		if (w->profiles > 0)
			return err_set(
				err, EINVAL,
				"%s: line %d: a second top-level profile; the text must declare exactly one profile, "
				"\"%s\"",
				key, t->line, key);
		if (profile_check_header(key, &w->lx, t, err) != 0)
			return -1;
		w->profiles++;
		w->first_line = t->line;
		w->depth = 1;
		w->stmt_start = true;
		return 1;
	}
	if (w->depth > 0 && profile_tok_is(t, "profile")) {
		profile_lex peek = w->lx;
		profile_tok nm = profile_next(&peek);

		return err_set(err, EINVAL,
			       "%s: line %d: child profile \"%s\" is not allowed (no hats or child profiles)", key,
			       t->line, profile_shown(shown, sizeof(shown), nm.p, nm.n));
	}
	if (t->p[0] == '^' || profile_tok_is(t, "hat")) {
		profile_tok nm = *t;

		if (t->p[0] != '^') {
			profile_lex peek = w->lx;

			nm = profile_next(&peek);
		}
		return err_set(err, EINVAL, "%s: line %d: hat \"%s\" is not allowed (no hats or child profiles)", key,
			       t->line, profile_shown(shown, sizeof(shown), nm.p, nm.n));
	}
	return 0;
}

/* `{` is allowed only after the profile header and in conditionals or
 * qualifier blocks (`audit {`), never as a hat or child block. */
static int profile_check_lbrace(profile_walk *w, const profile_tok *t, ag_err *err)
{
	char shown[80];
	const char *key = w->key;
	const profile_tok *first = &w->first;

	if (w->stmt_start)
		return err_set(err, EINVAL, "%s: line %d: unexpected `{`", key, t->line);
	if (w->depth == 0)
		return err_set(err, EINVAL,
			       "%s: line %d: profile \"%s\" must be declared as `profile %s [flags=(...)] {`", key,
			       first->line, profile_shown(shown, sizeof(shown), first->p, first->n), key);
	if (!w->all_qualifiers && !profile_tok_is(first, "if") && !profile_tok_is(first, "else"))
		return err_set(err, EINVAL,
			       "%s: line %d: nested block \"%s ... {\" is not allowed (no hats or child profiles)", key,
			       first->line, profile_shown(shown, sizeof(shown), first->p, first->n));
	w->depth++;
	w->stmt_start = true;
	return 0;
}

static int profile_check_eof(const profile_walk *w, ag_err *err)
{
	if (w->depth > 0)
		return err_set(err, EINVAL, "%s: unbalanced braces: the profile opened at line %d is not closed",
			       w->key, w->first_line);
	if (w->profiles == 0)
		return err_set(err, EINVAL, "%s: no profile declared; the text must declare `profile %s {...}`", w->key,
			       w->key);
	return 0;
}

int profile_check_text(const char *key, const char *text, size_t len, size_t max_bytes, ag_err *err)
{
	profile_walk w;

	if (!key)
		key = "(no key)";
	if (max_bytes == 0)
		max_bytes = CONTRACT_PROFILE_MAX_BYTES;
	if (!text)
		return err_set(err, EINVAL, "%s: empty profile; declare `profile %s {...}`", key, key);
	if (len > max_bytes)
		return err_set(err, E2BIG, "%s: profile is %zu bytes; the limit is %zu bytes", key, len, max_bytes);
	if (memchr(text, '\0', len))
		return err_set(err, EINVAL, "%s: profile contains a NUL byte", key);

	memset(&w, 0, sizeof(w));
	w.key = key;
	w.lx.s = text;
	w.lx.len = len;
	w.lx.line = 1;
	w.stmt_start = true;
	w.first.kind = TK_EOF;
	w.all_qualifiers = true;
	for (;;) {
		profile_tok t = profile_next(&w.lx);
		int r;

		switch (t.kind) {
		case TK_EOF: return profile_check_eof(&w, err);
		case TK_ERROR: return err_set(err, EINVAL, "%s: line %d: %s", key, t.line, w.lx.error);
		case TK_HASHINCLUDE:
			if (profile_check_include(key, &w.lx, t.line, err) != 0)
				return -1;
			w.stmt_start = true;
			continue;
		case TK_WORD:
			r = profile_check_word(&w, &t, err);
			if (r < 0)
				return -1;
			if (r > 0)
				continue;
			break;
		case TK_LBRACE:
			if (profile_check_lbrace(&w, &t, err) != 0)
				return -1;
			continue;
		case TK_RBRACE:
			if (w.depth == 0)
				return err_set(err, EINVAL, "%s: line %d: unbalanced `}`", key, t.line);
			w.depth--;
			w.stmt_start = true;
			continue;
		case TK_COMMA:
			w.stmt_start = true; /* also after a stray ",": a hat cannot hide behind ",," */
			continue;
		case TK_STRING:
		case TK_LPAREN:
		case TK_RPAREN:
		case TK_EQ: break;
		}
		if (w.stmt_start) {
			w.first = t;
			w.all_qualifiers = true;
			w.stmt_start = false;
		}
		if (t.kind != TK_WORD || !profile_qualifier(&t))
			w.all_qualifiers = false;
	}
}

/* ---- all entries ---- */

size_t profile_check_entries(profile_entry *entries, size_t n, const profile_limits *lim, ag_err *count_err)
{
	static const profile_limits defaults = { 0, 0 };
	size_t max_count;
	size_t refused = 0;

	if (!lim)
		lim = &defaults;
	max_count = lim->max_count ? lim->max_count : CONTRACT_PROFILE_MAX_COUNT;
	if (n > max_count) {
		err_set(count_err, E2BIG, "the ConfigMap holds %zu profiles; the limit is %zu", n, max_count);
		/* Nothing is checked, so nothing may be used. */
		for (size_t i = 0; i < n; i++) {
			entries[i].ok = false;
			snprintf(entries[i].message, sizeof(entries[i].message),
				 "not checked: the ConfigMap holds %zu profiles; the limit is %zu", n, max_count);
		}
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		profile_entry *e = &entries[i];
		ag_err terr;
		char shown[80];
		const char *key = e->key ? e->key : "";

		e->ok = false;
		e->message[0] = '\0';
		err_clear(&terr);
		if (strncmp(key, CONTRACT_PROFILE_PREFIX, sizeof(CONTRACT_PROFILE_PREFIX) - 1) != 0) {
			snprintf(e->message, sizeof(e->message),
				 "%s: key does not start with \"" CONTRACT_PROFILE_PREFIX
				 "\"; the ConfigMap holds only profiles named "
				 "custom.<name>",
				 profile_shown(shown, sizeof(shown), key, strlen(key)));
			continue;
		}
		if (!contract_profile_name_valid(key)) {
			snprintf(e->message, sizeof(e->message),
				 "%s: invalid profile name; it must match " CONTRACT_PROFILE_NAME_RULE
				 " and be at most %d characters",
				 profile_shown(shown, sizeof(shown), key, strlen(key)), CONTRACT_PROFILE_NAME_MAX);
			continue;
		}
		if (profile_check_text(key, e->text, e->len, lim->max_bytes, &terr) != 0) {
			snprintf(e->message, sizeof(e->message), "%s", terr.msg);
			continue;
		}
		e->ok = true;
	}
	for (size_t i = 0; i < n; i++)
		if (!entries[i].ok)
			refused++;
	return refused;
}
