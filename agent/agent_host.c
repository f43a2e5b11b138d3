/* agent_host: node reads/writes under configurable roots (see agent_host.h). */
#include "agent_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_sha256.h"
#include "buf.h"
#include "buf_file.h"
#include "contract.h"

enum { AGENT_HOST_PATH_MAX = 4096, AGENT_HOST_SMALL_MAX = 4096 };

bool agent_host_apparmor_enabled(const agent_host *h, ag_err *why)
{
	char path[AGENT_HOST_PATH_MAX];
	char *v = NULL;
	size_t len = 0;
	ag_err e;

	err_clear(why);
	snprintf(path, sizeof(path), "%s/module/apparmor/parameters/enabled", h->sysfs_root);
	if (buf_read_file_dup(path, 64, &v, &len, &e) != 0) {
		err_set(why, e.code, "AppArmor is not in this kernel (%s)", e.msg);
		return false;
	}
	bool on = len > 0 && v[0] == 'Y';
	free(v);
	if (!on) {
		err_set(why, ENOSYS, "AppArmor is disabled (%s is not Y)", path);
		return false;
	}
	snprintf(path, sizeof(path), "%s/apparmor/profiles", h->securityfs_root);
	if (access(path, R_OK) != 0) {
		err_set(why, errno, "securityfs is not readable at %s: %s (mount securityfs there)", path,
			strerror(errno));
		return false;
	}
	return true;
}

int agent_host_kernel_list(const agent_host *h, agent_klist *out, ag_err *err)
{
	char path[AGENT_HOST_PATH_MAX];
	char *t = NULL;
	size_t len = 0;

	out->items = NULL;
	out->n = 0;
	snprintf(path, sizeof(path), "%s/apparmor/profiles", h->securityfs_root);
	if (buf_read_file_dup(path, AGENT_KLIST_MAX_BYTES, &t, &len, err) != 0)
		return -1;
	int rc = agent_kernel_parse_list(t, len, out, err);
	free(t);
	return rc;
}

int agent_host_replace_policy(const agent_host *h, const void *data, size_t len, ag_err *err)
{
	char path[AGENT_HOST_PATH_MAX];
	ssize_t w;
	int fd;

	snprintf(path, sizeof(path), "%s/apparmor/.replace", h->securityfs_root);
	/* No O_CREAT: on a fake root without the interface this must fail, not
	 * create a file that swallows policy. */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "cannot open %s: %s", path, strerror(errno));
	do
		w = write(fd, data, len);
	while (w < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (w < 0)
		return err_set(err, e, "the kernel refused the policy: %s", strerror(e));
	if ((size_t)w != len)
		return err_set(err, EIO, "the kernel took %zd of %zu policy bytes", w, len);
	return 0;
}

typedef struct agent_host_counts {
	agent_confined *v;
	size_t n, cap;
	int oom;
} agent_host_counts;

static void agent_host_count_one(void *ud, const char *name, size_t len)
{
	agent_host_counts *c = ud;
	char nm[AGENT_NAME_CAP];

	if (len >= sizeof(nm))
		return;
	memcpy(nm, name, len);
	nm[len] = '\0';
	if (!contract_profile_name_valid(nm))
		return;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].name, nm) == 0) {
			c->v[i].count++;
			return;
		}
	if (buf_grow_items(&c->v, &c->cap, c->n + 1, sizeof(*c->v), 16) != 0) {
		c->oom = 1;
		return;
	}
	char *dup = strdup(nm);
	if (!dup) {
		c->oom = 1;
		return;
	}
	c->v[c->n].name = dup;
	c->v[c->n].count = 1;
	c->n++;
}

int agent_host_confined(const agent_host *h, agent_confined **out, size_t *n, ag_err *err)
{
	agent_host_counts c = { NULL, 0, 0, 0 };
	DIR *d = opendir(h->proc_root);
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (!d)
		return err_set(err, errno, "cannot list %s: %s (the agent needs the host's /proc: hostPID)",
			       h->proc_root, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char path[AGENT_HOST_PATH_MAX], label[AGENT_KNAME_MAX], *t = NULL;
		size_t len = 0;
		ag_err e;
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    strspn(de->d_name, "0123456789") != strlen(de->d_name))
			continue;
		/* The LSM-specific file first: attr/current belongs to whichever
		 * LSM is "displayed" when several are stacked. */
		snprintf(path, sizeof(path), "%s/%s/attr/apparmor/current", h->proc_root, de->d_name);
		if (buf_read_file_dup(path, AGENT_HOST_SMALL_MAX, &t, &len, &e) != 0) {
			snprintf(path, sizeof(path), "%s/%s/attr/current", h->proc_root, de->d_name);
			if (buf_read_file_dup(path, AGENT_HOST_SMALL_MAX, &t, &len, &e) != 0)
				continue; /* the process exited, or no LSM attr */
		}
		if (agent_kernel_parse_attr(t, len, label, sizeof(label), NULL, 0) == 0)
			agent_kernel_label_each(label, agent_host_count_one, &c);
		free(t);
		if (c.oom)
			break;
	}
	closedir(d);
	if (c.oom) {
		agent_host_confined_free(c.v, c.n);
		return err_set(err, ENOMEM, "out of memory scanning %s", h->proc_root);
	}
	*out = c.v;
	*n = c.n;
	return 0;
}

void agent_host_confined_free(agent_confined *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		free((char *)(uintptr_t)c[i].name);
	free(c);
}

void agent_host_boot_id(const agent_host *h, char *out, size_t cap)
{
	char path[AGENT_HOST_PATH_MAX], *t = NULL;
	size_t len = 0;
	ag_err e;

	if (cap)
		out[0] = '\0';
	snprintf(path, sizeof(path), "%s/sys/kernel/random/boot_id", h->proc_root);
	if (buf_read_file_dup(path, 128, &t, &len, &e) != 0)
		return;
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == ' '))
		t[--len] = '\0';
	snprintf(out, cap, "%s", t);
	free(t);
}

int agent_host_disk_list(const agent_host *h, agent_ondisk **out, size_t *n, ag_err *err)
{
	agent_ondisk *v = NULL;
	size_t cnt = 0, cap = 0;
	DIR *d = opendir(h->profiles_dir);
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errno, "cannot list %s: %s", h->profiles_dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		char path[AGENT_HOST_PATH_MAX], *t = NULL;
		size_t len = 0;
		struct stat st;
		ag_err e;
		if (!contract_profile_name_valid(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", h->profiles_dir, de->d_name);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (buf_grow_items(&v, &cap, cnt + 1, sizeof(*v), 16) != 0)
			goto nomem;
		char *nm = strdup(de->d_name);
		if (!nm)
			goto nomem;
		v[cnt].name = nm;
		/* An unreadable or oversized file gets an empty hash: it will
		 * never match a desired one, so it is rewritten. */
		v[cnt].sha256[0] = '\0';
		if (buf_read_file_dup(path, h->max_profile_bytes, &t, &len, &e) == 0)
			agent_sha256_hex(t, len, v[cnt].sha256);
		free(t);
		cnt++;
	}
	closedir(d);
	*out = v;
	*n = cnt;
	return 0;
nomem:
	closedir(d);
	agent_host_disk_free(v, cnt);
	return err_set(err, ENOMEM, "out of memory listing %s", h->profiles_dir);
}

void agent_host_disk_free(agent_ondisk *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		free((char *)(uintptr_t)d[i].name);
	free(d);
}

static int agent_host_fsync_dir(const char *dir, ag_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "cannot open directory %s: %s", dir, strerror(errno));
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	if (rc != 0)
		return err_set(err, e, "fsync %s: %s", dir, strerror(e));
	return 0;
}

int agent_host_write_atomic(const char *dir, const char *name, const char *data, size_t len, ag_err *err)
{
	char tmp[AGENT_HOST_PATH_MAX], dst[AGENT_HOST_PATH_MAX];
	int fd = -1;

	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	/* Hidden temp name: never mistaken for a managed profile. */
	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "cannot create a temp file in %s: %s", dir, strerror(errno));
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		err_set(err, errno, "cannot sync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, dst) != 0) {
		err_set(err, errno, "cannot rename %s to %s: %s", tmp, dst, strerror(errno));
		goto fail;
	}
	return agent_host_fsync_dir(dir, err);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int agent_host_move(const char *dir_from, const char *dir_to, const char *name, ag_err *err)
{
	char a[AGENT_HOST_PATH_MAX], b[AGENT_HOST_PATH_MAX];
	snprintf(a, sizeof(a), "%s/%s", dir_from, name);
	snprintf(b, sizeof(b), "%s/%s", dir_to, name);
	if (rename(a, b) != 0)
		return err_set(err, errno, "cannot rename %s to %s: %s", a, b, strerror(errno));
	return agent_host_fsync_dir(dir_to, err);
}

int agent_host_remove_file(const char *dir, const char *name, ag_err *err)
{
	char p[AGENT_HOST_PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (unlink(p) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errno, "cannot remove %s: %s", p, strerror(errno));
	}
	return agent_host_fsync_dir(dir, err);
}

int agent_host_mkdirs(const char *dir, ag_err *err)
{
	char p[AGENT_HOST_PATH_MAX];
	snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			return err_set(err, errno, "cannot create %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		return err_set(err, errno, "cannot create %s: %s", p, strerror(errno));
	return 0;
}
