/* agent_kernel: kernel profile list and attr/current parsing (pure). */
#include "agent_kernel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static int agent_kernel_cmp(const void *a, const void *b)
{
	return strcmp(((const agent_kprofile *)a)->name, ((const agent_kprofile *)b)->name);
}

/* Splits "name (mode)" at the last " (" whose tail is "word)". */
static size_t agent_kernel_split_mode(const char *s, size_t n, char *mode, size_t mcap)
{
	if (mode && mcap)
		mode[0] = '\0';
	if (n < 4 || s[n - 1] != ')')
		return n;
	for (size_t i = n - 1; i-- > 1;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '(') {
			if (s[i - 1] != ' ' || i + 1 == n - 1)
				return n;
			size_t ml = n - 1 - (i + 1);
			if (mode && mcap) {
				if (ml >= mcap)
					ml = mcap - 1;
				memcpy(mode, s + i + 1, ml);
				mode[ml] = '\0';
			}
			return i - 1;
		}
		if (!((c >= 'a' && c <= 'z') || c == '_' || c == '-'))
			return n;
	}
	return n;
}

int agent_kernel_parse_list(const char *text, size_t len, agent_klist *out, ag_err *err)
{
	size_t cap = 0;

	out->items = NULL;
	out->n = 0;
	if (len > AGENT_KLIST_MAX_BYTES)
		return err_set(err, E2BIG, "kernel profile list is %zu bytes, over the %u byte ceiling", len,
			       (unsigned)AGENT_KLIST_MAX_BYTES);
	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		pos += ll + (nl ? 1 : 0);
		if (ll == 0)
			continue;
		if (out->n >= AGENT_KLIST_MAX_ENTRIES) {
			err_set(err, E2BIG, "kernel profile list has more than %u entries",
				(unsigned)AGENT_KLIST_MAX_ENTRIES);
			goto fail;
		}
		if (buf_grow_items(&out->items, &cap, out->n + 1, sizeof(*out->items), 32) != 0) {
			err_set(err, ENOMEM, "out of memory parsing the kernel profile list");
			goto fail;
		}
		agent_kprofile *p = &out->items[out->n];
		size_t nl2 = agent_kernel_split_mode(line, ll, p->mode, sizeof(p->mode));
		if (nl2 > AGENT_KNAME_MAX) {
			err_set(err, E2BIG, "kernel profile name of %zu bytes is over the ceiling", nl2);
			goto fail;
		}
		p->name = strndup(line, nl2);
		if (!p->name) {
			err_set(err, ENOMEM, "out of memory parsing the kernel profile list");
			goto fail;
		}
		out->n++;
	}
	if (out->n > 1)
		qsort(out->items, out->n, sizeof(*out->items), agent_kernel_cmp);
	return 0;
fail:
	agent_kernel_list_cleanup(out);
	return -1;
}

void agent_kernel_list_cleanup(agent_klist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].name);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

const agent_kprofile *agent_kernel_find(const agent_klist *l, const char *name)
{
	size_t lo = 0, hi = l ? l->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, l->items[mid].name);
		if (c == 0)
			return &l->items[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int agent_kernel_parse_attr(const char *text, size_t len, char *label, size_t cap, char *mode, size_t mcap)
{
	/* attr/current may end in "\n" and/or NUL bytes. */
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\0'))
		len--;
	const char *nul = memchr(text, '\0', len);
	if (nul)
		len = (size_t)(nul - text);
	if (len == 0 || cap == 0)
		return -1;
	size_t n = agent_kernel_split_mode(text, len, mode, mcap);
	if (n == 0 || n >= cap)
		return -1;
	memcpy(label, text, n);
	label[n] = '\0';
	return 0;
}

bool agent_kernel_label_has(const char *label, const char *profile)
{
	size_t pl = strlen(profile);
	const char *p = label;

	if (pl == 0)
		return false;
	for (;;) {
		const char *end = strstr(p, "//&");
		size_t cl = end ? (size_t)(end - p) : strlen(p);
		/* A stack component may carry a namespace prefix ":ns:name"; ours
		 * live in the root namespace, so compare the component itself. */
		if (cl >= pl && memcmp(p, profile, pl) == 0 &&
		    (cl == pl || (cl > pl + 1 && p[pl] == '/' && p[pl + 1] == '/')))
			return true;
		if (!end)
			return false;
		p = end + 3;
	}
}

void agent_kernel_label_each(const char *label, void (*fn)(void *ud, const char *name, size_t len), void *ud)
{
	const char *p = label;

	for (;;) {
		const char *end = strstr(p, "//&");
		size_t cl = end ? (size_t)(end - p) : strlen(p);
		const char *child = NULL;
		for (size_t i = 0; i + 1 < cl; i++)
			if (p[i] == '/' && p[i + 1] == '/') {
				child = p + i;
				break;
			}
		size_t nl = child ? (size_t)(child - p) : cl;
		if (nl > 0)
			fn(ud, p, nl);
		if (!end)
			return;
		p = end + 3;
	}
}
