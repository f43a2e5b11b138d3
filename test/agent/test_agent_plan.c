/* Unit tests: the reconcile plan, table-driven. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_plan.h"

#define SHA_A "aaaa"
#define SHA_B "bbbb"

typedef struct plan_case {
	const char *what;
	const char *desired;  /* "name=sha[!]" space separated, "!" = refused */
	const char *disk;     /* "name=sha" */
	const char *kernel;   /* profiles file text */
	const char *confined; /* "name=count" */
	const char *expect;   /* "name:action[:w]" space separated, in name order */
} plan_case;

static const plan_case plan_cases[] = {
	{ "new profile is written and loaded", "custom.a=aaaa", "", "", "", "custom.a:load:w" },
	{ "unchanged profile is skipped", "custom.a=aaaa", "custom.a=aaaa", "custom.a (enforce)\n", "",
	  "custom.a:skip" },
	{ "changed profile is rewritten and reloaded", "custom.a=bbbb", "custom.a=aaaa", "custom.a (enforce)\n", "",
	  "custom.a:load:w" },
	{ "after reboot: on disk, not in kernel -> load, no write", "custom.a=aaaa", "custom.a=aaaa", "", "",
	  "custom.a:load" },
	{ "removed, nothing confined -> remove", "", "custom.a=aaaa", "custom.a (enforce)\n", "", "custom.a:remove" },
	{ "removed, confined -> deferred", "", "custom.a=aaaa", "custom.a (enforce)\n", "custom.a=3",
	  "custom.a:removal-deferred" },
	{ "removed from kernel only (no file)", "", "", "custom.k (complain)\n", "", "custom.k:remove" },
	{ "stale file, not in kernel, confined count ignored", "", "custom.a=aaaa", "", "custom.a=2",
	  "custom.a:remove" },
	{ "refused keeps the last good version", "custom.a=bbbb!", "custom.a=aaaa", "custom.a (enforce)\n", "",
	  "custom.a:refused" },
	{ "refused new profile", "custom.n=bbbb!", "", "", "", "custom.n:refused" },
	{ "outside custom.* never touched", "", "",
	  "/usr/bin/man (enforce)\ndocker-default (enforce)\ncustomx (enforce)\n"
	  "custom.B!d (enforce)\ncustom.x y (enforce)\n",
	  "", "" },
	{ "upper case is a valid name (kapparmor's custom.myValidProfile)", "custom.myValidProfile=aaaa", "", "", "",
	  "custom.myValidProfile:load:w" },
	{ "names follow the contract's rule (contract_profile_name_valid), up to 63 characters", "", "",
	  "custom. (enforce)\ncustom.-a (enforce)\ncustom.a- (enforce)\ncustom.a/b (enforce)\n"
	  "custom.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (enforce)\ncustom.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (enforce)\n",
	  "", "custom.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:remove" },
	{ "mixed", "custom.a=aaaa custom.b=bbbb custom.c=aaaa!", "custom.a=aaaa custom.d=aaaa custom.e=aaaa",
	  "custom.a (enforce)\ncustom.d (enforce)\ncustom.e (complain)\nfoo (enforce)\n", "custom.e=1",
	  "custom.a:skip custom.b:load:w custom.c:refused custom.d:remove custom.e:removal-deferred" },
};

/* Splits s at spaces into up to max tokens in storage. */
static size_t split(const char *s, char tok[][128], size_t max)
{
	size_t n = 0;
	while (*s && n < max) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		size_t l = strcspn(s, " ");
		memcpy(tok[n], s, l);
		tok[n][l] = '\0';
		n++;
		s += l;
	}
	return n;
}

static void run_case(const plan_case *c)
{
	char dt[8][128], kt[8][128], ct[8][128], et[8][128];
	agent_desired d[8];
	agent_ondisk k[8];
	agent_confined cf[8];
	size_t nd = split(c->desired, dt, 8), nk = split(c->disk, kt, 8), nc = split(c->confined, ct, 8);
	size_t ne = split(c->expect, et, 8);

	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < nd; i++) {
		char *eq = strchr(dt[i], '=');
		*eq = '\0';
		d[i].name = dt[i];
		d[i].text = "profile";
		d[i].len = 7;
		d[i].ok = eq[strlen(eq + 1)] != '!';
		if (!d[i].ok)
			eq[strlen(eq + 1)] = '\0';
		snprintf(d[i].sha256, sizeof(d[i].sha256), "%s", eq + 1);
		d[i].message = d[i].ok ? NULL : "custom.x: syntax error";
	}
	for (size_t i = 0; i < nk; i++) {
		char *eq = strchr(kt[i], '=');
		*eq = '\0';
		k[i].name = kt[i];
		snprintf(k[i].sha256, sizeof(k[i].sha256), "%s", eq + 1);
	}
	for (size_t i = 0; i < nc; i++) {
		char *eq = strchr(ct[i], '=');
		*eq = '\0';
		cf[i].name = ct[i];
		cf[i].count = strtoul(eq + 1, NULL, 10);
	}
	agent_klist kl;
	ag_err e;
	cr_assert_eq(agent_kernel_parse_list(c->kernel, strlen(c->kernel), &kl, &e), 0);
	agent_plan p;
	cr_assert_eq(agent_plan_build(d, nd, k, nk, &kl, cf, nc, &p, &e), 0, "%s", c->what);
	cr_assert_eq(p.n, ne, "%s: %zu items, want %zu", c->what, p.n, ne);
	for (size_t i = 0; i < ne; i++) {
		char got[160];
		snprintf(got, sizeof(got), "%s:%s%s", p.items[i].name, agent_plan_action_name(p.items[i].action),
			 p.items[i].write ? ":w" : "");
		cr_expect_str_eq(got, et[i], "%s", c->what);
	}
	const agent_plan_item *def = agent_plan_find(&p, "custom.e");
	if (def && def->action == AGENT_ACT_DEFER)
		cr_expect_eq(def->confined, 1);
	const agent_plan_item *ref = agent_plan_find(&p, "custom.c");
	if (ref)
		cr_expect_str_eq(ref->message, "custom.x: syntax error");
	agent_plan_cleanup(&p);
	agent_kernel_list_cleanup(&kl);
}

/* One loop, not a Criterion parameterized test: its parameters cross a
 * process boundary and string pointers would not survive. */
Test(plan, table)
{
	for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++)
		run_case(&plan_cases[i]);
}
