/* agent_blobenv: the identity of everything a compiled profile depends on
 * besides its own text — the running kernel's AppArmor features, the
 * apparmor_parser binary, its parser.conf, a -M features file, and every
 * file the parser could include (the include base directory). The binary
 * policy store (agent_blobs) files blobs under this id, so a kernel upgrade,
 * a parser upgrade or a changed abstraction never serves a blob compiled
 * against something else. Contents are hashed, never mtimes. Computed once
 * per agent start (in a container all of it is fixed for the process's
 * life; the kernel's features are fixed for the boot). No globals. */
#ifndef ARMORGATE_AGENT_BLOBENV_H
#define ARMORGATE_AGENT_BLOBENV_H

#include "agent_plan.h"
#include "err.h"

enum {
	AGENT_BLOBENV_SKIP = 2,               /* directories left out of the base tree */
	AGENT_BLOBENV_MAX_BYTES = 256u << 20, /* all hashed bytes together */
	AGENT_BLOBENV_MAX_FILES = 20000,      /* all hashed files together */
	AGENT_BLOBENV_MAX_DEPTH = 12,         /* directory nesting followed */
};

typedef struct agent_blobenv {
	const char *securityfs_root; /* "/sys/kernel/security": <root>/apparmor/features must exist */
	const char *parser_path;     /* as run; a bare name is looked up in PATH */
	const char *parser_conf;     /* NULL = "/etc/apparmor/parser.conf" (missing is fine) */
	const char *features_file;   /* -M FILE; NULL = none */
	const char *base_dir;        /* include base; NULL = "/etc/apparmor.d" (missing is fine) */
	/* Left out of the base tree: the host profiles dir and the store, which
	 * change with every profile and are never included (an included managed
	 * profile would add a second profile name: the names gate refuses it). */
	const char *skip[AGENT_BLOBENV_SKIP];
} agent_blobenv;

/* The id: lower-case hex sha256 of all of the above, in a fixed order
 * (names sorted, each file's path, size and bytes). -1 with err when the
 * kernel's features or the parser cannot be read, or a bound is hit: the
 * caller then runs without a store. */
int agent_blobenv_id(const agent_blobenv *env, char out[AGENT_SHA256_HEX], ag_err *err) AG_WARN_UNUSED;

#endif
