/* denial_cgroup: /proc/<pid>/cgroup -> pod UID + container ID (see denial_cgroup.h). */
#include "denial_cgroup.h"

#include <string.h>

static bool denial_cgroup_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char denial_cgroup_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool denial_cgroup_has_prefix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && memcmp(s, p, n) == 0;
}

static bool denial_cgroup_has_suffix(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && memcmp(s + len - n, p, n) == 0;
}

/* 36 characters 8-4-4-4-12 with '-' (cgroupfs) or '_' (systemd escapes '-'). */
static bool denial_cgroup_uid(const char *s, char *out)
{
	for (size_t i = 0; i < DENIAL_UID_LEN; i++) {
		bool sep = i == 8 || i == 13 || i == 18 || i == 23;

		if (sep ? (s[i] != '-' && s[i] != '_') : !denial_cgroup_hex(s[i]))
			return false;
		out[i] = sep ? '-' : denial_cgroup_lower(s[i]);
	}
	out[DENIAL_UID_LEN] = '\0';
	return true;
}

/* "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid>.slice" (systemd). */
static bool denial_cgroup_pod_segment(const char *seg, size_t len, char *uid)
{
	if (len == 3 + DENIAL_UID_LEN && denial_cgroup_has_prefix(seg, len, "pod"))
		return denial_cgroup_uid(seg + 3, uid);
	/* "-pod" + uid + ".slice" at the end of a kubepods slice name. */
	if (len < 8 + 4 + DENIAL_UID_LEN + 6 || !denial_cgroup_has_prefix(seg, len, "kubepods") ||
	    !denial_cgroup_has_suffix(seg, len, ".slice"))
		return false;
	const char *p = seg + len - 6 - DENIAL_UID_LEN - 4;
	return memcmp(p, "-pod", 4) == 0 && denial_cgroup_uid(p + 4, uid);
}

/* "<hex>" (cgroupfs) or "<runtime>-<hex>.scope" (systemd); conmon's scope is
 * CRI-O's monitor, not a container. */
static bool denial_cgroup_container_segment(const char *seg, size_t len, char *out)
{
	static const char *const prefixes[] = { "cri-containerd-", "crio-", "docker-", "cri-o-" };

	if (denial_cgroup_has_suffix(seg, len, ".scope")) {
		size_t i;

		len -= 6;
		for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
			if (denial_cgroup_has_prefix(seg, len, prefixes[i])) {
				seg += strlen(prefixes[i]);
				len -= strlen(prefixes[i]);
				break;
			}
		}
		if (i == sizeof(prefixes) / sizeof(prefixes[0]))
			return false;
	}
	/* Short IDs are no IDs (a nested cgroup named "app", "init.scope"). */
	if (len < 12 || len >= DENIAL_CID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!denial_cgroup_hex(seg[i]))
			return false;
		out[i] = denial_cgroup_lower(seg[i]);
	}
	out[len] = '\0';
	return true;
}

/* One cgroup path: the first pod segment and the segment right after it. */
static bool denial_cgroup_path(const char *p, size_t len, denial_cgroup_id *out)
{
	const char *end = p + len;

	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *seg_end = slash ? slash : end;

		if (denial_cgroup_pod_segment(p, (size_t)(seg_end - p), out->pod_uid)) {
			if (slash) {
				const char *c = slash + 1;
				const char *c_end = memchr(c, '/', (size_t)(end - c));

				if (!c_end)
					c_end = end;
				if (!denial_cgroup_container_segment(c, (size_t)(c_end - c), out->container_id))
					out->container_id[0] = '\0';
			}
			return true;
		}
		p = seg_end + 1;
	}
	return false;
}

bool denial_cgroup_parse(const char *text, size_t len, denial_cgroup_id *out)
{
	const char *p = text, *end;

	memset(out, 0, sizeof(*out));
	if (len > DENIAL_CGROUP_MAX)
		len = DENIAL_CGROUP_MAX;
	end = text + len;
	/* "hierarchy-ID:controllers:path" per line; v1 has one line per
	 * hierarchy (all name the same pod), v2 one "0::path" line. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		const char *c1 = memchr(p, ':', (size_t)(line_end - p));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(line_end - c1 - 1)) : NULL;

		if (c2 && denial_cgroup_path(c2 + 1, (size_t)(line_end - c2 - 1), out))
			return true;
		p = line_end + 1;
	}
	memset(out, 0, sizeof(*out));
	return false;
}

bool denial_cgroup_container_id(const char *status_id, char *out, size_t cap)
{
	const char *sep = strstr(status_id, "://");
	const char *h = sep ? sep + 3 : NULL;
	size_t n = h ? strlen(h) : 0;

	if (!h || n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!denial_cgroup_hex(h[i]))
			return false;
		out[i] = denial_cgroup_lower(h[i]);
	}
	out[n] = '\0';
	return true;
}
