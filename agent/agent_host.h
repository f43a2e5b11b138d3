/* agent_host: everything the agent reads from or writes to the node itself —
 * the AppArmor switch in sysfs, the kernel profile list in securityfs,
 * /proc/PID/attr labels, the boot id, and the managed profile files in the
 * host profiles directory. Roots are configurable so tests can point them at
 * temp dirs. Trust boundary: file contents are bounded and parsed by the
 * pure core; the host dir holds only files we wrote. No globals. */
#ifndef ARMORGATE_AGENT_HOST_H
#define ARMORGATE_AGENT_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "agent_kernel.h"
#include "agent_plan.h"
#include "err.h"

typedef struct agent_host {
	const char *sysfs_root;      /* "/sys" */
	const char *securityfs_root; /* "/sys/kernel/security" */
	const char *proc_root;       /* "/proc" */
	const char *profiles_dir;    /* --host-profiles-dir */
	size_t max_profile_bytes;    /* ceiling for reading managed files */
} agent_host;

/* AppArmor usable: <sysfs>/module/apparmor/parameters/enabled starts with
 * 'Y' and <securityfs>/apparmor/profiles is readable. why gets the reason
 * when not. */
bool agent_host_apparmor_enabled(const agent_host *h, ag_err *why);
int agent_host_kernel_list(const agent_host *h, agent_klist *out, ag_err *err) AG_WARN_UNUSED;
/* Loads (adds or replaces) compiled binary policy: one write of all of it to
 * <securityfs>/apparmor/.replace, as libapparmor and apparmor_parser do (the
 * kernel takes a policy only whole, in one write). -1 with err (code: the
 * errno; ENOENT when there is no such interface, e.g. a fake root). */
int agent_host_replace_policy(const agent_host *h, const void *data, size_t len, ag_err *err) AG_WARN_UNUSED;
/* Counts, per managed profile name, the processes whose label includes it.
 * *out is a heap array (names heap too); free with agent_host_confined_free. */
int agent_host_confined(const agent_host *h, agent_confined **out, size_t *n, ag_err *err) AG_WARN_UNUSED;
void agent_host_confined_free(agent_confined *c, size_t n);
/* <proc>/sys/kernel/random/boot_id, "" when unreadable. */
void agent_host_boot_id(const agent_host *h, char *out, size_t cap);

/* Managed files (valid profile names, regular files) in the profiles dir with
 * their sha256. A missing dir is an empty list. Free with agent_host_disk_free. */
int agent_host_disk_list(const agent_host *h, agent_ondisk **out, size_t *n, ag_err *err) AG_WARN_UNUSED;
void agent_host_disk_free(agent_ondisk *d, size_t n);

/* Writes dir/name atomically: temp file in dir, fsync, rename, fsync dir. */
int agent_host_write_atomic(const char *dir, const char *name, const char *data, size_t len,
			    ag_err *err) AG_WARN_UNUSED;
/* Moves dir_from/name to dir_to/name (same filesystem) and fsyncs dir_to. */
int agent_host_move(const char *dir_from, const char *dir_to, const char *name, ag_err *err) AG_WARN_UNUSED;
/* Unlinks dir/name (missing is fine) and fsyncs dir. */
int agent_host_remove_file(const char *dir, const char *name, ag_err *err) AG_WARN_UNUSED;
/* mkdir -p for one or two levels, mode 0755. */
int agent_host_mkdirs(const char *dir, ag_err *err) AG_WARN_UNUSED;

#endif
