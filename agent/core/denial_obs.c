/* denial_obs: bounded per-profile observations and their annotation JSON
 * (see denial_obs.h). */
#include "denial_obs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"

/* JSON costs of the fixed parts (an item's comma included): the document
 * with the longest bootID/time we write, and a profile with the longest
 * mode and "false". */
#define DENIAL_OBS_DOC "{\"bootID\":\"\",\"observedAt\":\"\",\"profiles\":{}}"
#define DENIAL_OBS_PROFILE                                                                                             \
	"\"\":{\"mode\":\"complain\",\"files\":{},\"capabilities\":[],\"network\":[],\"exec\":[],\"truncated\":false},"
enum { DENIAL_OBS_DOC_VALUES = 64 + 32 };

void denial_obs_init(denial_obs *o, size_t max_bytes)
{
	memset(o, 0, sizeof(*o));
	o->max_bytes = max_bytes;
	o->bytes = strlen(DENIAL_OBS_DOC) + DENIAL_OBS_DOC_VALUES;
}

static void denial_obs_set_cleanup(denial_obs_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i]);
	free(s->items);
	free(s->masks);
	memset(s, 0, sizeof(*s));
}

void denial_obs_cleanup(denial_obs *o)
{
	for (size_t i = 0; i < o->n; i++) {
		denial_obs_profile *p = &o->profiles[i];

		denial_obs_set_cleanup(&p->files);
		denial_obs_set_cleanup(&p->caps);
		denial_obs_set_cleanup(&p->net);
		denial_obs_set_cleanup(&p->exec);
	}
	free(o->profiles);
	o->profiles = NULL;
	o->n = o->cap = 0;
}

/* Bytes s takes as a JSON string body the way cJSON prints it. */
static size_t denial_obs_esc_cost(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
			n += 2;
		else if (c < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t denial_obs_utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A heap copy with every byte outside valid UTF-8 replaced by '?': the
 * annotation is JSON inside JSON and must stay valid text. */
static char *denial_obs_text(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(len + 1);
	size_t i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		size_t n = denial_obs_utf8_len((const unsigned char *)s + i);

		if (n == 0) {
			out[i++] = '?';
			continue;
		}
		memcpy(out + i, s + i, n);
		i += n;
	}
	out[len] = '\0';
	return out;
}

static long denial_obs_find_item(const denial_obs_set *s, const char *item)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i], item) == 0)
			return (long)i;
	return -1;
}

/* Room for cost more bytes? Marks the profile truncated when not. */
static bool denial_obs_room(denial_obs *o, denial_obs_profile *p, size_t cost)
{
	if (o->bytes + cost <= o->max_bytes)
		return true;
	if (p && !p->truncated) {
		p->truncated = true;
		o->changed = true;
	}
	o->dropped++;
	return false;
}

/* Mask letters in the order people write them; unknown letters last. */
static void denial_obs_mask_union(char *mask, const char *add, size_t *grew)
{
	static const char order[] = "rwacdxmlk";
	char all[DENIAL_MASK_MAX * 2], out[DENIAL_MASK_MAX];
	size_t n = 0;

	snprintf(all, sizeof(all), "%s%s", mask, add);
	for (const char *c = order; *c; c++)
		if (strchr(all, *c) && n + 1 < sizeof(out))
			out[n++] = *c;
	for (const char *c = all; *c; c++)
		if (!strchr(order, *c) && !memchr(out, *c, n) && n + 1 < sizeof(out))
			out[n++] = *c;
	out[n] = '\0';
	*grew = n > strlen(mask) ? n - strlen(mask) : 0;
	memcpy(mask, out, n + 1);
}

/* Adds item (and for files, mask letters) to s within the bound. */
static bool denial_obs_set_add(denial_obs *o, denial_obs_profile *p, denial_obs_set *s, const char *item,
			       const char *mask)
{
	char *copy = NULL;
	long at = denial_obs_find_item(s, item);
	size_t grew;

	if (at >= 0) {
		char m[DENIAL_MASK_MAX];

		if (!mask)
			return false;
		memcpy(m, s->masks[at], sizeof(m));
		denial_obs_mask_union(m, mask, &grew);
		if (grew == 0 || !denial_obs_room(o, p, grew))
			return false;
		memcpy(s->masks[at], m, sizeof(m));
		o->bytes += grew;
		return true;
	}
	size_t cost = denial_obs_esc_cost(item) + (mask ? strlen(mask) + 6 : 3);
	if (!denial_obs_room(o, p, cost))
		return false;
	if (buf_grow_items(&s->items, &s->cap, s->n + 1, sizeof(*s->items), 8) != 0 ||
	    (mask && buf_grow_items(&s->masks, &s->mask_cap, s->n + 1, sizeof(*s->masks), 8) != 0) ||
	    !(copy = denial_obs_text(item)))
		return false;
	if (mask) {
		s->masks[s->n][0] = '\0';
		denial_obs_mask_union(s->masks[s->n], mask, &grew);
	}
	s->items[s->n++] = copy;
	o->bytes += cost;
	return true;
}

static denial_obs_profile *denial_obs_profile_get(denial_obs *o, const char *name)
{
	denial_obs_profile *p;
	size_t cost = strlen(DENIAL_OBS_PROFILE) + strlen(name);

	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->profiles[i].name, name) == 0)
			return &o->profiles[i];
	if (!denial_obs_room(o, NULL, cost) ||
	    buf_grow_items(&o->profiles, &o->cap, o->n + 1, sizeof(*o->profiles), 4) != 0)
		return NULL;
	p = &o->profiles[o->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	o->bytes += cost;
	return p;
}

bool denial_obs_add(denial_obs *o, const denial_record *r)
{
	denial_obs_profile *p = denial_obs_profile_get(o, r->profile);
	const char *mask = r->denied[0] ? r->denied : r->requested;
	bool added = false;
	char net[2 * DENIAL_WORD_MAX + 1];

	if (!p)
		return false;
	if (r->mode == DENIAL_ENFORCE ? !p->enforce : !p->complain) {
		*(r->mode == DENIAL_ENFORCE ? &p->enforce : &p->complain) = true;
		added = true;
	}
	if (strcmp(r->operation, "capable") == 0 && r->capname[0]) {
		added |= denial_obs_set_add(o, p, &p->caps, r->capname, NULL);
	} else if (r->family[0]) {
		snprintf(net, sizeof(net), "%s%s%s", r->family, r->sock_type[0] ? " " : "", r->sock_type);
		added |= denial_obs_set_add(o, p, &p->net, net, NULL);
	} else if (r->name[0] == '/' && !r->name_truncated) {
		/* A truncated path would become a rule for another path. */
		if (strcmp(r->operation, "exec") == 0)
			added |= denial_obs_set_add(o, p, &p->exec, r->name, NULL);
		else if (mask[0])
			added |= denial_obs_set_add(o, p, &p->files, r->name, mask);
	}
	if (added)
		o->changed = true;
	return added;
}

static bool denial_obs_render_set(cJSON *into, const char *key, const denial_obs_set *s, bool files)
{
	cJSON *v = files ? cJSON_AddObjectToObject(into, key) : cJSON_AddArrayToObject(into, key);

	if (!v)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		if (files) {
			if (!cJSON_AddStringToObject(v, s->items[i], s->masks[i]))
				return false;
			continue;
		}
		cJSON *str = cJSON_CreateString(s->items[i]);
		if (!str)
			return false;
		cJSON_AddItemToArray(v, str);
	}
	return true;
}

static const char *denial_obs_mode(const denial_obs_profile *p)
{
	if (p->enforce && p->complain)
		return "mixed";
	return p->enforce ? "enforce" : "complain";
}

char *denial_obs_render(denial_obs *o, const char *boot_id, const char *observed_at)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *profiles = NULL;
	char *out = NULL;
	bool ok = doc && cJSON_AddStringToObject(doc, "bootID", boot_id) &&
		cJSON_AddStringToObject(doc, "observedAt", observed_at) &&
		(profiles = cJSON_AddObjectToObject(doc, "profiles")) != NULL;

	for (size_t i = 0; ok && i < o->n; i++) {
		const denial_obs_profile *p = &o->profiles[i];
		cJSON *jp = cJSON_AddObjectToObject(profiles, p->name);

		ok = jp && cJSON_AddStringToObject(jp, "mode", denial_obs_mode(p)) &&
			denial_obs_render_set(jp, "files", &p->files, true) &&
			denial_obs_render_set(jp, "capabilities", &p->caps, false) &&
			denial_obs_render_set(jp, "network", &p->net, false) &&
			denial_obs_render_set(jp, "exec", &p->exec, false) &&
			cJSON_AddBoolToObject(jp, "truncated", p->truncated);
	}
	if (ok)
		out = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (out)
		o->changed = false;
	return out;
}

/* The records a loaded profile stands for, fed through the same bounded adds. */
static void denial_obs_load_set(denial_obs *o, denial_obs_profile *p, denial_obs_set *s, const cJSON *v)
{
	const cJSON *it;

	cJSON_ArrayForEach (it, v) {
		if (s == &p->files) {
			if (cJSON_IsString(it) && it->string && it->string[0] == '/' &&
			    strlen(it->valuestring) < DENIAL_MASK_MAX)
				denial_obs_set_add(o, p, s, it->string, it->valuestring);
		} else if (cJSON_IsString(it) && strlen(it->valuestring) < DENIAL_NAME_MAX) {
			denial_obs_set_add(o, p, s, it->valuestring, NULL);
		}
	}
}

void denial_obs_load(denial_obs *o, const char *json, const char *boot_id)
{
	cJSON *doc = json ? cJSON_Parse(json) : NULL;
	const cJSON *boot = cJSON_GetObjectItemCaseSensitive(doc, "bootID");
	const cJSON *jp;
	bool changed = o->changed;

	if (!cJSON_IsString(boot) || strcmp(boot->valuestring, boot_id) != 0)
		goto out;
	cJSON_ArrayForEach (jp, cJSON_GetObjectItemCaseSensitive(doc, "profiles")) {
		const cJSON *mode = cJSON_GetObjectItemCaseSensitive(jp, "mode");
		denial_obs_profile *p;

		if (!contract_profile_name_valid(jp->string) || !cJSON_IsString(mode) ||
		    !(p = denial_obs_profile_get(o, jp->string)))
			continue;
		p->enforce |= strcmp(mode->valuestring, "complain") != 0;
		p->complain |= strcmp(mode->valuestring, "enforce") != 0;
		p->truncated |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jp, "truncated"));
		denial_obs_load_set(o, p, &p->files, cJSON_GetObjectItemCaseSensitive(jp, "files"));
		denial_obs_load_set(o, p, &p->caps, cJSON_GetObjectItemCaseSensitive(jp, "capabilities"));
		denial_obs_load_set(o, p, &p->net, cJSON_GetObjectItemCaseSensitive(jp, "network"));
		denial_obs_load_set(o, p, &p->exec, cJSON_GetObjectItemCaseSensitive(jp, "exec"));
	}
out:
	o->changed = changed;
	cJSON_Delete(doc);
}
