/* Unit tests: AppArmor audit record parsing (denial_record) on records the
 * node VM's kernel wrote (test/data/audit), crafted edge cases, and the pure
 * helpers of denial_source that cut the payload out of a netlink message or
 * a /dev/kmsg record. */
#include <criterion/criterion.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "denial_record.h"
#include "denial_source.h"

static denial_parse_result parse(const char *s, denial_record *r)
{
	return denial_record_parse(s, strlen(s), r);
}

/* What each non-comment fixture line parses to, in file order; op NULL:
 * IGNORED. */
typedef struct expect {
	const char *op, *profile, *name, *req, *comm, *capname, *family, *sock_type;
	denial_mode mode;
	bool child;
	int pid, cap;
} expect;

#define ENF DENIAL_ENFORCE
#define CMP DENIAL_COMPLAIN
static const expect fixture_expect[] = {
	{ "mknod", "custom.tap-enf", "/etc/newfile", "c", "touch", "", "", "", ENF, false, 152, -1 },
	{ "create", "custom.tap-enf", "", "create", "ping", "", "inet", "raw", ENF, false, 153, -1 },
	{ "open", "custom.tap-enf", "/root/", "r", "ls", "", "", "", ENF, false, 154, -1 },
	{ "open", "custom.tap-enf", "/etc/shadow", "r", "cat", "", "", "", ENF, false, 162, -1 },
	{ "mknod", "custom.tap-enf", "/etc/a b", "c", "touch", "", "", "", ENF, false, 166, -1 },
	{ "exec", "custom.tap-enf", "/usr/bin/armorgate-agent", "x", "sh", "", "", "", ENF, false, 163, -1 },
	{ "open", "custom.tap-cmp", "/etc/shadow", "r", "cat", "", "", "", CMP, false, 168, -1 },
	{ "open", "custom.tap-cmp", "/etc/xq", "wrc", "touch", "", "", "", CMP, false, 170, -1 },
	{ "capable", "custom.tap-cmp", "", "", "chown", "chown", "", "", CMP, false, 172, 0 },
	{ "exec", "custom.tap-cmp", "/usr/bin/armorgate-agent", "x", "sh", "", "", "", CMP, false, 173, -1 },
	{ "file_inherit", "custom.tap-cmp", "/dev/null", "w", "armorgate-agent", "", "", "", CMP, true, 173, -1 },
	{ NULL }, /* STATUS profile_replace */
	{ NULL }, /* STATUS profile_load */
	{ "capable", "custom.tap-enf", "", "", "touch", "fowner", "", "", ENF, false, 182, 3 },
	{ "capable", "custom.tap-enf", "", "", "chown", "chown", "", "", ENF, false, 183, 0 },
	{ "signal", "custom.tap-enf", "", "send", "sh", "", "", "", ENF, false, 181, -1 },
	{ "create", "custom.tap-enf", "", "create", "nc", "", "inet6", "stream", ENF, false, 186, -1 },
	{ "create", "custom.tap-enf", "", "create", "ping6", "", "inet6", "raw", ENF, false, 181, -1 },
};

static void check_expect(const expect *e, const denial_record *r, size_t line)
{
	cr_assert_str_eq(r->operation, e->op, "line %zu", line);
	cr_assert_str_eq(r->profile, e->profile, "line %zu", line);
	cr_assert_eq(r->child, e->child, "line %zu", line);
	cr_assert_eq(r->mode, e->mode, "line %zu", line);
	cr_assert_str_eq(r->name, e->name, "line %zu", line);
	cr_assert_not(r->name_truncated);
	cr_assert_str_eq(r->requested, e->req, "line %zu", line);
	cr_assert_str_eq(r->denied, e->req, "line %zu", line);
	cr_assert_str_eq(r->comm, e->comm, "line %zu", line);
	cr_assert_str_eq(r->capname, e->capname, "line %zu", line);
	cr_assert_str_eq(r->family, e->family, "line %zu", line);
	cr_assert_str_eq(r->sock_type, e->sock_type, "line %zu", line);
	cr_assert_eq(r->pid, e->pid, "line %zu", line);
	cr_assert_eq(r->capability, e->cap, "line %zu", line);
}

/* Each dmesg line of the fixture, also wrapped as the /dev/kmsg record the
 * fallback reads: both ways must give the same payload. */
Test(denial_record, real_kernel_records)
{
	const char *src = getenv("ARMORGATE_SOURCE_DIR");
	char path[4096], line[2048], rec[2200];
	size_t n = 0, lineno = 0;
	FILE *f;

	cr_assert(src);
	snprintf(path, sizeof(path), "%s/test/data/audit/kernel-6.1-avc.txt", src);
	f = fopen(path, "r");
	cr_assert(f, "%s", path);
	while (fgets(line, sizeof(line), f)) {
		const char *msg, *text, *ktext;
		size_t tlen, klen;
		denial_record r;

		lineno++;
		if (line[0] == '#')
			continue;
		line[strcspn(line, "\n")] = '\0';
		msg = strstr(line, "] ");
		cr_assert(msg);
		msg += 2;
		cr_assert_eq(strncmp(msg, "audit: type=1400 ", 17), 0);
		cr_assert(denial_source_avc_text(msg + 17, strlen(msg + 17), &text, &tlen));
		snprintf(rec, sizeof(rec), "5,%zu,%zu,-;%s\n SUBSYSTEM=x\n", lineno, lineno * 1000, msg);
		cr_assert(denial_source_kmsg_text(rec, strlen(rec), &ktext, &klen), "line %zu", lineno);
		cr_assert_eq(klen, tlen);
		cr_assert_eq(memcmp(ktext, text, tlen), 0);

		cr_assert_lt(n, sizeof(fixture_expect) / sizeof(fixture_expect[0]));
		const expect *e = &fixture_expect[n++];
		if (!e->op) {
			cr_assert_eq(denial_record_parse(text, tlen, &r), DENIAL_PARSE_IGNORED, "line %zu", lineno);
			continue;
		}
		cr_assert_eq(denial_record_parse(text, tlen, &r), DENIAL_PARSE_OK, "line %zu", lineno);
		check_expect(e, &r, lineno);
	}
	fclose(f);
	cr_assert_eq(n, sizeof(fixture_expect) / sizeof(fixture_expect[0]));
}

Test(denial_record, ignores_what_is_not_ours)
{
	static const char *const not_ours[] = {
		"apparmor=\"AUDIT\" operation=\"open\" profile=\"custom.a\" name=\"/x\" pid=1 comm=\"c\"",
		"apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"custom.a\"",
		"apparmor=\"HINT\" operation=\"open\" profile=\"custom.a\"",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/bin/man\" name=\"/x\"",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"customs.a\" name=\"/x\"",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.-a\" name=\"/x\"",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.\" name=\"/x\"",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"unconfined\" target=\"custom.a\"",
		/* a profile in a policy namespace, or a stacked label */
		"apparmor=\"DENIED\" operation=\"open\" namespace=\"root//lxd\" profile=\"custom.a\" name=\"/x\"",
		"apparmor=\"DENIED\" operation=\"open\" label=\"custom.a//&custom.b\" profile=\"custom.a\"",
		/* no operation, no mode, no profile */
		"apparmor=\"DENIED\" profile=\"custom.a\" name=\"/x\"",
		"operation=\"open\" profile=\"custom.a\" name=\"/x\"",
		"apparmor=\"DENIED\" operation=\"open\" name=\"/x\" target=\"custom.a\"",
		/* malformed values */
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=\"/x",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=2F7",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=2G",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=2F0078",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=",
		"apparmor=DENIED operation=\"open\" profile=\"custom.a\"",
		"apparmor=\"DENIED\" operation=\"this_operation_name_is_far_too_long_for_a_kernel_op\" profile=\"custom.a\"",
		/* a key twice */
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" profile=\"custom.b\"",
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=\"/x\" name=\"/y\"",
		"",
		"apparmor=\"",
		"profile=\"custom.",
	};
	denial_record r;

	for (size_t i = 0; i < sizeof(not_ours) / sizeof(not_ours[0]); i++) {
		cr_assert_eq(parse(not_ours[i], &r), DENIAL_PARSE_IGNORED, "%s", not_ours[i]);
		cr_assert_str_eq(r.profile, "");
		cr_assert_eq(r.capability, -1);
	}
	cr_assert_eq(denial_record_parse(NULL, 0, &r), DENIAL_PARSE_IGNORED);
}

/* Keys count only at a token boundary outside quotes: a value cannot
 * contribute a key, and "xprofile=" or "target=" is not "profile=". */
Test(denial_record, keys_only_at_token_boundaries)
{
	denial_record r;

	cr_assert_eq(
		parse("apparmor=\"DENIED\" operation=\"open\" profile=\"/bin/x\" name=\"a profile=\"custom.y\"", &r),
		DENIAL_PARSE_IGNORED);
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" xprofile=\"custom.y\" profile=\"/bin/x\"", &r),
		     DENIAL_PARSE_IGNORED);
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=\"b apparmor=\" "
			   "comm=\"x pid=7\" peer=\"custom.z\" target=\"custom.t\"",
			   &r),
		     DENIAL_PARSE_OK);
	cr_assert_str_eq(r.profile, "custom.a");
	cr_assert_str_eq(r.name, "b apparmor=");
	cr_assert_str_eq(r.comm, "x pid=7");
	cr_assert_eq(r.pid, 0);
	/* The "audit(...): " prefix, if a caller leaves it on, is a token
	 * without '=' and skipped. */
	cr_assert_eq(parse("audit(1796681674.007:4): apparmor=\"ALLOWED\" operation=\"open\" profile=\"custom.a\"", &r),
		     DENIAL_PARSE_OK);
	cr_assert_eq(r.mode, DENIAL_COMPLAIN);
}

Test(denial_record, hex_values)
{
	denial_record r;

	/* "/tmp/a\"b\n" and comm "my cat" as audit_log_untrustedstring prints them */
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=2F746D702F6122620A "
			   "pid=12 comm=6D7920636174 requested_mask=\"r\" denied_mask=\"r\"",
			   &r),
		     DENIAL_PARSE_OK);
	cr_assert_str_eq(r.name, "/tmp/a\"b\n");
	cr_assert_str_eq(r.comm, "my cat");
	cr_assert_eq(r.pid, 12);
	/* Hex profile= (the kernel prints only a child's name that way, in
	 * upper case: the cheap check looks for exactly that). */
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=637573746F6D2E61 name=2f78", &r),
		     DENIAL_PARSE_OK);
	cr_assert_str_eq(r.profile, "custom.a");
	cr_assert_str_eq(r.name, "/x");
	/* "custom.web//null-/tmp/a b" */
	cr_assert_eq(parse("apparmor=\"ALLOWED\" operation=\"open\" "
			   "profile=637573746F6D2E7765622F2F6E756C6C2D2F746D702F612062 name=\"/etc/x\"",
			   &r),
		     DENIAL_PARSE_OK);
	cr_assert_str_eq(r.profile, "custom.web");
	cr_assert(r.child);
}

Test(denial_record, children_attributed_to_the_parent)
{
	char text[1200], longname[700];
	denial_record r;

	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=\"custom.web//hat\" name=\"/x\"", &r),
		     DENIAL_PARSE_OK);
	cr_assert_str_eq(r.profile, "custom.web");
	cr_assert(r.child);
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=\"custom.web\" name=\"/x\"", &r),
		     DENIAL_PARSE_OK);
	cr_assert_not(r.child);
	/* The parent must be valid itself. */
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=\"custom.-//hat\"", &r),
		     DENIAL_PARSE_IGNORED);
	cr_assert_eq(parse("apparmor=\"DENIED\" operation=\"open\" profile=\"/bin/x//custom.a\"", &r),
		     DENIAL_PARSE_IGNORED);
	/* A 63-character parent with a very long child name. */
	memset(longname, 'b', sizeof(longname));
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "apparmor=\"ALLOWED\" operation=\"open\" profile=\"custom.%.56s//null-/%s\" name=\"/x\"", longname,
		 longname);
	cr_assert_eq(parse(text, &r), DENIAL_PARSE_OK);
	cr_assert_eq(strlen(r.profile), 63);
	cr_assert(r.child);
	/* One character more is not a profile name. */
	snprintf(text, sizeof(text), "apparmor=\"ALLOWED\" operation=\"open\" profile=\"custom.%.57s//x\"", longname);
	cr_assert_eq(parse(text, &r), DENIAL_PARSE_IGNORED);
	snprintf(text, sizeof(text), "apparmor=\"ALLOWED\" operation=\"open\" profile=\"custom.%.57s\"", longname);
	cr_assert_eq(parse(text, &r), DENIAL_PARSE_IGNORED);
}

Test(denial_record, truncation)
{
	char text[2000], path[600];
	denial_record r;

	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(
		text, sizeof(text),
		"apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=\"%s\" comm=\"a_comm_longer_than_16\" "
		"requested_mask=\"send receive connect\" denied_mask=\"receive_a_very_long_word\"",
		path);
	cr_assert_eq(parse(text, &r), DENIAL_PARSE_OK);
	cr_assert(r.name_truncated);
	cr_assert_eq(strlen(r.name), DENIAL_NAME_MAX - 1);
	cr_assert_eq(strncmp(r.name, path, DENIAL_NAME_MAX - 1), 0);
	cr_assert_str_eq(r.comm, "a_comm_longer_th");
	cr_assert_str_eq(r.requested, "send receive");
	cr_assert_str_eq(r.denied, "");
	/* Exactly full is not truncated. */
	path[DENIAL_NAME_MAX - 1] = '\0';
	snprintf(text, sizeof(text), "apparmor=\"DENIED\" operation=\"open\" profile=\"custom.a\" name=\"%s\"", path);
	cr_assert_eq(parse(text, &r), DENIAL_PARSE_OK);
	cr_assert_not(r.name_truncated);
	cr_assert_eq(strlen(r.name), DENIAL_NAME_MAX - 1);
}

Test(denial_record, numbers_and_length_bound)
{
	const char *t = "apparmor=\"DENIED\" operation=\"capable\" profile=\"custom.a\" pid=99999999999 comm=\"x\" "
			"capability=21  capname=\"sys_admin\" TRAILING_GARBAGE name=\"/after\"";
	denial_record r;

	cr_assert_eq(parse(t, &r), DENIAL_PARSE_OK);
	cr_assert_eq(r.pid, 0); /* out of range: dropped, not fatal */
	cr_assert_eq(r.capability, 21);
	cr_assert_str_eq(r.capname, "sys_admin");
	cr_assert_str_eq(r.name, "/after");
	/* Only len bytes are read: the text need not end in a NUL. */
	cr_assert_eq(denial_record_parse(t, strlen(t) - strlen(" name=\"/after\""), &r), DENIAL_PARSE_OK);
	cr_assert_str_eq(r.name, "");
	cr_assert_eq(denial_record_parse(t, strlen(t) - 3, &r), DENIAL_PARSE_IGNORED); /* cut inside a quote */
}

Test(denial_source, avc_and_kmsg_text)
{
	const char *t;
	size_t n;

	cr_assert(denial_source_avc_text("audit(1.2:3): a=b", 17, &t, &n));
	cr_assert_eq(n, 3);
	cr_assert_eq(strncmp(t, "a=b", 3), 0);
	cr_assert_not(denial_source_avc_text("audit(1.2:3) a=b", 16, &t, &n));
	cr_assert_not(denial_source_avc_text("x audit(1.2:3): a=b", 19, &t, &n));

	const char *ok = "5,10,20,-;audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"\n";
	cr_assert(denial_source_kmsg_text(ok, strlen(ok), &t, &n));
	cr_assert_eq(n, strlen("apparmor=\"DENIED\""));
	/* facility 1 (user space writes to /dev/kmsg), another audit type, the
	 * prefix not at the start, no ';', no PRI */
	static const char *const bad[] = {
		"13,10,20,-;audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"\n",
		"8,10,20,-;audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"\n",
		"5,10,20,-;audit: type=1300 audit(1.2:3): apparmor=\"DENIED\"\n",
		"5,10,20,-;x audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"\n",
		"5,10,20,-;audit: type=1400 \n audit(1.2:3): apparmor=\"DENIED\"\n",
		"5,10,20,- audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"\n",
		",10,20,-;audit: type=1400 audit(1.2:3): apparmor=\"DENIED\"\n",
		"99999999999999999999,10,20,-;audit: type=1400 audit(1.2:3): x\n",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(denial_source_kmsg_text(bad[i], strlen(bad[i]), &t, &n), "%s", bad[i]);
	cr_assert_str_eq(denial_source_kind_name(DENIAL_SOURCE_KMSG), "kmsg");
	cr_assert_str_eq(denial_source_kind_name(DENIAL_SOURCE_NETLINK), "netlink");
}

/* A source opened as NONE never reads; close is idempotent. */
Test(denial_source, none_and_close)
{
	static denial_source s;
	ag_err e;

	err_clear(&e);
	cr_assert_eq(denial_source_open(&s, DENIAL_SOURCE_NONE, &e), 0);
	cr_assert_eq(denial_source_fd(&s), -1);
	cr_assert_eq(denial_source_read(&s, NULL, NULL, 10), 0);
	denial_source_close(&s);
	denial_source_close(&s);
	cr_assert_eq(s.kind, DENIAL_SOURCE_NONE);
}

typedef struct collect {
	int n;
	char last[256];
} collect;

static void collect_cb(void *ctx, const char *text, size_t len)
{
	collect *c = ctx;
	c->n++;
	snprintf(c->last, sizeof(c->last), "%.*s", (int)len, text);
}

/* Appends one netlink message (type, payload) at *off of buf, aligned as
 * the kernel lays them out; len_adj skews nlmsg_len for malformed ones. */
#define put_msg(buf, off, type, lit, adj) put_msg_n(buf, off, type, lit, sizeof(lit) - 1, adj)
static void put_msg_n(char *buf, size_t *off, unsigned short type, const char *payload, size_t n, int len_adj)
{
	struct nlmsghdr h = { 0 };

	h.nlmsg_len = (unsigned)((int)(NLMSG_HDRLEN + n) + len_adj);
	h.nlmsg_type = type;
	memcpy(buf + *off, &h, sizeof(h));
	memcpy(buf + *off + NLMSG_HDRLEN, payload, n);
	*off += NLMSG_ALIGN(NLMSG_HDRLEN + n);
}

/* The walk over a datagram: lengths that are not multiples of 4 (the
 * kernel's are not), several messages, other types, a non-kernel sender,
 * lengths that lie. */
Test(denial_source, netlink_datagram)
{
	static denial_source s;
	static _Alignas(8) char buf[1024];
	collect c = { 0 };
	size_t off = 0;
	ag_err e;

	err_clear(&e);
	cr_assert_eq(denial_source_open(&s, DENIAL_SOURCE_NONE, &e), 0);
	memset(buf, 0x7f, sizeof(buf));
	put_msg(buf, &off, AUDIT_AVC, "audit(1.2:3): apparmor=\"DENIED\" x=1", 0);
	cr_assert_eq(denial_source_netlink_datagram(&s, buf, NLMSG_HDRLEN + 35, 0, collect_cb, &c), 1);
	cr_assert_str_eq(c.last, "apparmor=\"DENIED\" x=1");
	cr_assert_eq(denial_source_netlink_datagram(&s, buf, NLMSG_HDRLEN + 35, 4242, collect_cb, &c), 0);
	cr_assert_eq(s.ignored, 1);
	put_msg(buf, &off, 1300, "audit(1.2:3): arch=c000003e syscall=2", 0);
	put_msg(buf, &off, AUDIT_AVC, "audit(1.2:4): b=2\0\0", 0);
	put_msg(buf, &off, AUDIT_AVC, "no prefix", 0);
	cr_assert_eq(denial_source_netlink_datagram(&s, buf, off, 0, collect_cb, &c), 2);
	cr_assert_str_eq(c.last, "b=2"); /* not the NUL padding */
	cr_assert_eq(s.records, 3);
	cr_assert_eq(s.ignored, 3);
	/* a length past the datagram, one under the header */
	off = 0;
	put_msg(buf, &off, AUDIT_AVC, "audit(1.2:3): c=3", 100);
	cr_assert_eq(denial_source_netlink_datagram(&s, buf, off, 0, collect_cb, &c), 0);
	off = 0;
	put_msg(buf, &off, AUDIT_AVC, "audit(1.2:3): c=3", -30);
	cr_assert_eq(denial_source_netlink_datagram(&s, buf, off, 0, collect_cb, &c), 0);
	cr_assert_eq(denial_source_netlink_datagram(&s, buf, 3, 0, collect_cb, &c), 0);
	cr_assert_eq(c.n, 3);
}
