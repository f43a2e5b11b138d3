/* kctl_suggest: observed accesses -> AppArmor rules (see kctl_suggest.h).
 *
 * Audit masks -> rule permissions. The kernel writes a file record's
 * requested/denied mask with the letters of aa_file_perm_chrs,
 * "xwracd         km l" (security/apparmor/lib.c), after map_mask_to_chr_mask
 * (security/apparmor/file.c) has folded getattr into r and setattr, chmod and
 * chown into w: x exec, w write, r read, a append, c create, d delete,
 * k lock, m mmap with PROT_EXEC, l link. The profile language has no c or d:
 * its w grants create, delete, append and the attribute changes
 * (map_old_perms, security/apparmor/policy_compat.c), and a grants append
 * only. So, as aa-logprof does (utils/apparmor/rule/file.py,
 * FileRule.hashlog_from_event: "Map c (create) and d (delete) to w"; a is
 * dropped where w is present, "a is a subset of w"): c, d, w -> w; a -> a
 * unless w; r, k, m, l unchanged, written in aa-logprof's order m r w a l k.
 * x needs an exec transition in a rule; ix (run under this same profile) is
 * the one that keeps what runs confined, so it is suggested, in a section of
 * its own with a comment naming the alternatives (px, cx).
 *
 * Paths: apparmor_parser (parser_misc.c processunquoted, lib.c strn_escseq,
 * parser_regex.c) reads \* \? \[ \] \{ \} \^ \, \\ as the literal character,
 * \" as a quote inside "...", and \ooo (octal) as that byte; an unquoted path
 * ends at a blank, '"', '!' or a trailing ','; '#' starts a comment. Escaping
 * '{' also keeps @{...} from reading as a variable. Checked with
 * apparmor_parser 3.0.8 -Q -D rule-exprs. */
#include "kctl_suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"

enum { SG_M = 1, SG_R = 2, SG_W = 4, SG_A = 8, SG_L = 16, SG_K = 32, SG_X = 64 };

typedef enum sg_kind { SG_FILE, SG_EXEC, SG_CAP, SG_NET } sg_kind;

/* One rule being collected: key owned (malloc'd), masks OR'ed across nodes. */
typedef struct sg_item {
	sg_kind kind;
	unsigned mask; /* SG_FILE/SG_EXEC: SG_* bits */
	char *key;     /* path, capability name or "family [type]" */
} sg_item;

/* What one node contributed, for the header (strings borrowed from the Node). */
typedef struct sg_node {
	const char *name;
	const char *mode; /* a static string */
	char at[32];      /* observedAt, copied: the annotation is freed per node */
	size_t files, caps, nets, execs;
	bool truncated, stale;
} sg_node;

/* The merge: items[0..sorted) sorted by (kind, key) and unique, then an
 * unsorted tail; sg_compact merges the tail in. */
typedef struct sg_state {
	sg_item *items;
	size_t n, cap, sorted;
	size_t skipped;   /* entries not a rule: relative paths, bad words, empty masks */
	size_t dropped;   /* new rules beyond KCTL_SUGGEST_RULES_MAX */
	size_t malformed; /* nodes whose annotation is not the documented JSON */
	size_t nodes, observing, truncated, stale, enforce;
	sg_node listed[KCTL_SUGGEST_NODES_LISTED];
	size_t nlisted;
} sg_state;

static int sg_order(sg_kind xk, const char *x, sg_kind yk, const char *y)
{
	if (xk != yk)
		return xk < yk ? -1 : 1;
	return strcmp(x, y);
}

static int sg_cmp(const void *a, const void *b)
{
	const sg_item *x = a;
	const sg_item *y = b;

	return sg_order(x->kind, x->key, y->kind, y->key);
}

/* What bsearch looks for: a rule's identity, borrowed. */
typedef struct sg_probe {
	sg_kind kind;
	const char *key;
} sg_probe;

static int sg_cmp_probe(const void *probe, const void *item)
{
	const sg_probe *p = probe;
	const sg_item *it = item;

	return sg_order(p->kind, p->key, it->kind, it->key);
}

/* Sorts the tail into the unique prefix, OR-ing the masks of duplicates. */
static void sg_compact(sg_state *s)
{
	size_t w = 0;

	if (s->n == 0)
		return;
	qsort(s->items, s->n, sizeof(s->items[0]), sg_cmp);
	for (size_t r = 1; r < s->n; r++) {
		if (sg_cmp(&s->items[w], &s->items[r]) == 0) {
			s->items[w].mask |= s->items[r].mask;
			free(s->items[r].key);
		} else
			s->items[++w] = s->items[r];
	}
	s->n = s->sorted = w + 1;
}

/* Adds (kind, key, mask), merging with an existing rule. Beyond
 * KCTL_SUGGEST_RULES_MAX distinct rules new ones are counted, not kept, so
 * memory stays bounded whatever the number of nodes. */
static int sg_add(sg_state *s, sg_kind kind, const char *key, unsigned mask)
{
	sg_probe probe = { kind, key };
	sg_item *hit = s->sorted ? bsearch(&probe, s->items, s->sorted, sizeof(s->items[0]), sg_cmp_probe) : NULL;

	if (hit) {
		hit->mask |= mask;
		return 0;
	}
	if (s->n >= 2 * (size_t)KCTL_SUGGEST_RULES_MAX && s->n > s->sorted) {
		sg_compact(s);
		hit = bsearch(&probe, s->items, s->sorted, sizeof(s->items[0]), sg_cmp_probe);
		if (hit) {
			hit->mask |= mask;
			return 0;
		}
	}
	if (s->sorted >= KCTL_SUGGEST_RULES_MAX) {
		s->dropped++;
		return 0;
	}
	if (buf_grow_items(&s->items, &s->cap, s->n + 1, sizeof(s->items[0]), 64) != 0)
		return -1;
	/* The copy belongs to the array from here; sg_free releases it. */
	s->items[s->n].key = strdup(key);
	if (!s->items[s->n].key)
		return -1;
	s->items[s->n].kind = kind;
	s->items[s->n].mask = mask;
	s->n++;
	return 0;
}

static void sg_free(sg_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i].key);
	free(s->items);
}

/* Audit mask letters -> SG_* bits (file comment); unknown letters ignored. */
static unsigned sg_mask(const char *letters)
{
	unsigned m = 0;

	for (const char *p = letters; *p; p++) {
		switch (*p) {
		case 'r': m |= SG_R; break;
		case 'w':
		case 'c':
		case 'd': m |= SG_W; break;
		case 'a': m |= SG_A; break;
		case 'l': m |= SG_L; break;
		case 'k': m |= SG_K; break;
		case 'm': m |= SG_M; break;
		case 'x': m |= SG_X; break;
		default: break;
		}
	}
	return m;
}

/* A capability or network word: lower-case letters, digits, '_', 1..32. */
static bool sg_word(const char *s, size_t n)
{
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* "family" or "family type", as `network family type,` takes them. */
static bool sg_net_ok(const char *s)
{
	const char *sp = strchr(s, ' ');

	if (!sp)
		return sg_word(s, strlen(s));
	return sg_word(s, (size_t)(sp - s)) && sg_word(sp + 1, strlen(sp + 1));
}

static bool sg_path_ok(const char *p)
{
	return p[0] == '/' && strlen(p) <= KCTL_SUGGEST_PATH_MAX;
}

static const cJSON *sg_get(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const char *sg_str(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = sg_get(o, a, b);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A JSON \u0000 would cut a path short in cJSON's C string: refuse the
 * whole annotation rather than suggest a shorter, wider path. */
static bool sg_has_nul_escape(const char *json)
{
	for (const char *p = strstr(json, "\\u"); p; p = strstr(p + 2, "\\u"))
		if (strncmp(p + 2, "0000", 4) == 0)
			return true;
	return false;
}

/* The node's files, exec, capabilities and network into s; counts into nd. */
static int sg_collect(sg_state *s, const cJSON *prof, sg_node *nd)
{
	const cJSON *it;

	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(prof, "files")) {
		unsigned m = cJSON_IsString(it) ? sg_mask(it->valuestring) : 0;

		if (!it->string || !sg_path_ok(it->string) || m == 0) {
			s->skipped++;
			continue;
		}
		nd->files++;
		if ((m & ~(unsigned)SG_X) && sg_add(s, SG_FILE, it->string, m & ~(unsigned)SG_X) != 0)
			return -1;
		if ((m & SG_X) && sg_add(s, SG_EXEC, it->string, SG_X) != 0)
			return -1;
	}
	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(prof, "exec")) {
		if (!cJSON_IsString(it) || !sg_path_ok(it->valuestring)) {
			s->skipped++;
			continue;
		}
		nd->execs++;
		if (sg_add(s, SG_EXEC, it->valuestring, SG_X) != 0)
			return -1;
	}
	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(prof, "capabilities")) {
		if (!cJSON_IsString(it) || !sg_word(it->valuestring, strlen(it->valuestring))) {
			s->skipped++;
			continue;
		}
		nd->caps++;
		if (sg_add(s, SG_CAP, it->valuestring, 0) != 0)
			return -1;
	}
	cJSON_ArrayForEach (it, cJSON_GetObjectItemCaseSensitive(prof, "network")) {
		if (!cJSON_IsString(it) || !sg_net_ok(it->valuestring)) {
			s->skipped++;
			continue;
		}
		nd->nets++;
		if (sg_add(s, SG_NET, it->valuestring, 0) != 0)
			return -1;
	}
	return 0;
}

/* observedAt for a header comment: only what an RFC 3339 time holds, so no
 * newline can start a rule line inside the comment. */
static void sg_timestamp(char *to, size_t cap, const char *from)
{
	size_t n = 0;

	for (; from && *from && n + 1 < cap; from++)
		to[n++] = strchr("0123456789TZtz:.+-", *from) ? *from : '?';
	if (n == 0)
		to[n++] = '?';
	to[n] = '\0';
}

/* One Node: its annotation parsed, the profile's observations merged. */
static int sg_node_add(sg_state *s, const cJSON *node, const char *profile)
{
	const char *ann = sg_str(sg_get(node, "metadata", "annotations"), KCTL_ANNOTATION_OBSERVED, NULL);
	const char *boot = sg_str(sg_get(node, "status", "nodeInfo"), "bootID", NULL);
	sg_node nd = { .name = sg_str(node, "metadata", "name") };
	const cJSON *prof;
	cJSON *obs = NULL;
	int rc = 0;

	s->nodes++;
	if (!ann)
		return 0;
	obs = sg_has_nul_escape(ann) ? NULL : cJSON_Parse(ann);
	if (!cJSON_IsObject(obs) || (sg_get(obs, "profiles", NULL) && !cJSON_IsObject(sg_get(obs, "profiles", NULL)))) {
		s->malformed++;
		goto out;
	}
	prof = sg_get(obs, "profiles", profile);
	if (!cJSON_IsObject(prof))
		goto out;
	if (sg_collect(s, prof, &nd) != 0) {
		rc = -1;
		goto out;
	}
	s->observing++;
	nd.mode = sg_str(prof, "mode", NULL);
	nd.truncated = cJSON_IsTrue(sg_get(prof, "truncated", NULL));
	nd.stale = boot && sg_str(obs, "bootID", NULL) && strcmp(boot, sg_str(obs, "bootID", NULL)) != 0;
	s->truncated += nd.truncated;
	s->stale += nd.stale;
	s->enforce += nd.mode && strcmp(nd.mode, "complain") != 0;
	if (s->nlisted < KCTL_SUGGEST_NODES_LISTED) {
		/* The strings live in obs, freed below: keep only what the Node holds. */
		nd.mode = !nd.mode                         ? "?"
			: strcmp(nd.mode, "complain") == 0 ? "complain"
			: strcmp(nd.mode, "enforce") == 0  ? "enforce"
			: strcmp(nd.mode, "mixed") == 0    ? "mixed"
							   : "?";
		sg_timestamp(nd.at, sizeof(nd.at), sg_str(obs, "observedAt", NULL));
		s->listed[s->nlisted++] = nd;
	}
out:
	cJSON_Delete(obs);
	return rc;
}

int kctl_suggest_path(buf *out, const char *path)
{
	bool quote = false;
	int rc = 0;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("\"#!", *p))
			quote = true;
	if (quote)
		rc |= buf_appends(out, "\"");
	for (const unsigned char *p = (const unsigned char *)path; *p && rc == 0; p++) {
		if (*p < ' ' || *p >= 0x7f)
			rc |= buf_appendf(out, "\\%03o", *p);
		else if (strchr("*?[]{}^,\\\"", *p))
			rc |= buf_appendf(out, "\\%c", *p);
		else
			rc |= buf_append(out, p, 1);
	}
	if (quote)
		rc |= buf_appends(out, "\"");
	return rc ? -1 : 0;
}

/* m r w a l k (aa-logprof's order), a only without w. */
static int sg_perms(buf *out, unsigned m)
{
	static const struct {
		unsigned bit;
		char c;
	} order[] = { { SG_M, 'm' }, { SG_R, 'r' }, { SG_W, 'w' }, { SG_A, 'a' }, { SG_L, 'l' }, { SG_K, 'k' } };
	int rc = 0;

	if (m & SG_W)
		m &= ~(unsigned)SG_A;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (m & order[i].bit)
			rc |= buf_append(out, &order[i].c, 1);
	return rc;
}

/* A path both read (say) and run gets one rule in the exec section,
 * `/bin/busybox mrix,`, rather than two rules the reader has to add up. */
static void sg_fold_exec(sg_state *s)
{
	for (size_t i = 0; i < s->n; i++) {
		sg_probe probe = { SG_FILE, s->items[i].key };
		sg_item *f;

		if (s->items[i].kind != SG_EXEC)
			continue;
		f = bsearch(&probe, s->items, s->n, sizeof(s->items[0]), sg_cmp_probe);
		if (f) {
			s->items[i].mask |= f->mask;
			f->mask = 0; /* printed with the exec rule */
		}
	}
}

static int sg_header(const sg_state *s, const char *profile, buf *out)
{
	int rc = buf_appendf(out,
			     "# kubectl armorgate suggest %s: rules that would have allowed what the armorgate\n"
			     "# agents observed of %s (AppArmor audit records), from %zu of %zu nodes:\n",
			     profile, profile, s->observing, s->nodes);

	for (size_t i = 0; i < s->nlisted; i++) {
		const sg_node *nd = &s->listed[i];

		rc |= buf_appendf(out,
				  "#   %s: %s mode, at %s; %zu files, %zu exec, %zu capabilities, %zu network%s%s\n",
				  nd->name ? nd->name : "?", nd->mode, nd->at, nd->files, nd->execs, nd->caps, nd->nets,
				  nd->truncated ? "; TRUNCATED" : "", nd->stale ? "; from before its last boot" : "");
	}
	if (s->observing > s->nlisted)
		rc |= buf_appendf(out, "#   ... and %zu more nodes\n", s->observing - s->nlisted);
	if (s->truncated)
		rc |= buf_appendf(out,
				  "# WARNING: %zu node(s) hit the agent's size bound and dropped further paths of %s:\n"
				  "# this list is incomplete. Apply it, keep complain mode, and run suggest again.\n",
				  s->truncated, profile);
	if (s->enforce)
		rc |= buf_appendf(out,
				  "# NOTE: on %zu node(s) %s was (also) in enforce mode: those accesses were DENIED,\n"
				  "# and these rules would allow them. Add only the ones the workload needs.\n",
				  s->enforce, profile);
	if (s->dropped)
		rc |= buf_appendf(out,
				  "# WARNING: more distinct rules were observed than the %d printed (%zu left out).\n",
				  KCTL_SUGGEST_RULES_MAX, s->dropped);
	if (s->skipped || s->malformed)
		rc |= buf_appendf(out,
				  "# Skipped: %zu observations that are not absolute paths or valid names, %zu nodes\n"
				  "# whose armorgate.io/observed annotation is not valid JSON.\n",
				  s->skipped, s->malformed);
	rc |= buf_appendf(out,
			  "# Each rule allows exactly the path seen (no globs added): review, then paste the\n"
			  "# indented lines into the body of profile %s in the profiles ConfigMap.\n",
			  profile);
	return rc;
}

static int sg_rules(const sg_state *s, buf *out)
{
	sg_kind last = SG_FILE;
	int rc = 0;

	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const sg_item *it = &s->items[i];

		if (it->kind == SG_EXEC && (i == 0 || last != SG_EXEC))
			rc |= buf_appends(out,
					  "  # exec: ix runs the program under this same profile; px or cx would"
					  " give it a profile of its own\n");
		last = it->kind;
		if (it->kind == SG_FILE && it->mask == 0)
			continue;
		switch (it->kind) {
		case SG_FILE:
		case SG_EXEC:
			rc |= buf_appends(out, "  ");
			rc |= kctl_suggest_path(out, it->key);
			rc |= buf_appends(out, " ");
			rc |= sg_perms(out, it->mask);
			rc |= buf_appends(out, (it->mask & SG_X) ? "ix,\n" : ",\n");
			break;
		case SG_CAP: rc |= buf_appendf(out, "  capability %s,\n", it->key); break;
		case SG_NET: rc |= buf_appendf(out, "  network %s,\n", it->key); break;
		}
	}
	return rc;
}

static int sg_enforce_howto(const char *profile, buf *out)
{
	return buf_appendf(out,
			   "# To enforce %s in the same ConfigMap edit, drop complain from its flags:\n"
			   "#   profile %s flags=(complain) {   ->   profile %s {\n"
			   "#   (or remove just complain from a longer flags=(...) list)\n"
			   "#   kubectl -n " CONTRACT_NAMESPACE_DEFAULT
			   " edit configmap " CONTRACT_CONFIGMAP_DEFAULT_NAME "   (the chart's default ConfigMap)\n",
			   profile, profile, profile);
}

int kctl_suggest(const cJSON *nodes, const char *profile, buf *out, bool *found)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(nodes, "items");
	const cJSON *array = cJSON_IsArray(items) ? items : NULL;
	sg_state s = { .items = NULL };
	const cJSON *node;
	int rc = -1;

	*found = false;
	cJSON_ArrayForEach (node, array) {
		if (sg_node_add(&s, node, profile) != 0)
			goto out;
	}
	sg_compact(&s);
	/* sg_add kept at most twice the bound between compactions: cut to it. */
	while (s.n > KCTL_SUGGEST_RULES_MAX) {
		free(s.items[--s.n].key);
		s.dropped++;
	}
	if (s.observing == 0 || s.n == 0) {
		rc = buf_appendf(out,
				 "No observations of %s on any of %zu nodes (annotation " KCTL_ANNOTATION_OBSERVED
				 ")%s. Run the workload under the profile in complain mode (flags=(complain)); each "
				 "node's armorgate agent reports what it saw within a minute.\n",
				 profile, s.nodes, s.malformed ? "; some annotations were not valid JSON" : "");
		goto out;
	}
	*found = true;
	sg_fold_exec(&s);
	rc = sg_header(&s, profile, out) | sg_rules(&s, out) | sg_enforce_howto(profile, out);
out:
	sg_free(&s);
	return rc ? -1 : 0;
}
