/* Unit tests: kernel profile list and attr/current parsing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "agent_kernel.h"

Test(agent_kernel, parses_modes_and_odd_names)
{
	const char *t = "custom.x (enforce)\n"
			"/usr/bin/man (complain)\n"
			"name with spaces (and parens) (kill)\n"
			"custom.u (unconfined)\n"
			"\n"
			"nomode\n"
			"weird (Enforce)\n";
	agent_klist l;
	ag_err e;
	cr_assert_eq(agent_kernel_parse_list(t, strlen(t), &l, &e), 0);
	cr_assert_eq(l.n, 6);
	const agent_kprofile *p = agent_kernel_find(&l, "custom.x");
	cr_assert(p);
	cr_assert_str_eq(p->mode, "enforce");
	p = agent_kernel_find(&l, "name with spaces (and parens)");
	cr_assert(p);
	cr_assert_str_eq(p->mode, "kill");
	cr_assert_str_eq(agent_kernel_find(&l, "/usr/bin/man")->mode, "complain");
	cr_assert_str_eq(agent_kernel_find(&l, "custom.u")->mode, "unconfined");
	cr_assert_str_eq(agent_kernel_find(&l, "nomode")->mode, "");
	/* Upper case is not a mode word: the whole line is the name. */
	cr_assert(agent_kernel_find(&l, "weird (Enforce)"));
	cr_assert_null(agent_kernel_find(&l, "custom.y"));
	agent_kernel_list_cleanup(&l);
}

Test(agent_kernel, empty_and_no_trailing_newline)
{
	agent_klist l;
	ag_err e;
	cr_assert_eq(agent_kernel_parse_list("", 0, &l, &e), 0);
	cr_assert_eq(l.n, 0);
	cr_assert_null(agent_kernel_find(&l, "x"));
	agent_kernel_list_cleanup(&l);
	cr_assert_eq(agent_kernel_parse_list("b (enforce)\na (complain)", 24, &l, &e), 0);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.items[0].name, "a");
	cr_assert_str_eq(l.items[0].mode, "complain");
	agent_kernel_list_cleanup(&l);
}

Test(agent_kernel, ceiling)
{
	agent_klist l;
	ag_err e;
	err_clear(&e);
	cr_assert_eq(agent_kernel_parse_list("x", (size_t)AGENT_KLIST_MAX_BYTES + 1, &l, &e), -1);
	cr_assert_neq(strstr(e.msg, "ceiling"), NULL);
}

Test(agent_kernel, attr_current)
{
	char label[256], mode[32];
	cr_assert_eq(agent_kernel_parse_attr("custom.x (enforce)\n", 19, label, sizeof(label), mode, sizeof(mode)), 0);
	cr_assert_str_eq(label, "custom.x");
	cr_assert_str_eq(mode, "enforce");
	cr_assert_eq(agent_kernel_parse_attr("unconfined\n", 11, label, sizeof(label), mode, sizeof(mode)), 0);
	cr_assert_str_eq(label, "unconfined");
	cr_assert_str_eq(mode, "");
	cr_assert_eq(agent_kernel_parse_attr("custom.a (complain)\n\0\0", 22, label, sizeof(label), NULL, 0), 0);
	cr_assert_str_eq(label, "custom.a");
	cr_assert_eq(agent_kernel_parse_attr("\n", 1, label, sizeof(label), mode, sizeof(mode)), -1);
	cr_assert_eq(agent_kernel_parse_attr("custom.toolong", 14, label, 5, mode, sizeof(mode)), -1);
}

Test(agent_kernel, label_has)
{
	cr_assert(agent_kernel_label_has("custom.x", "custom.x"));
	cr_assert(agent_kernel_label_has("custom.x//hat", "custom.x"));
	cr_assert(agent_kernel_label_has("docker-default//&custom.x", "custom.x"));
	cr_assert(agent_kernel_label_has("custom.x//&docker-default", "custom.x"));
	cr_assert_not(agent_kernel_label_has("custom.xy", "custom.x"));
	cr_assert_not(agent_kernel_label_has("custom.x/", "custom.x"));
	cr_assert_not(agent_kernel_label_has("unconfined", "custom.x"));
	cr_assert_not(agent_kernel_label_has("a.custom.x", "custom.x"));
}

static void collect(void *ud, const char *name, size_t len)
{
	char *out = ud;
	size_t o = strlen(out);
	snprintf(out + o, 256 - o, "%.*s|", (int)len, name);
}

Test(agent_kernel, label_each)
{
	char out[256] = "";
	agent_kernel_label_each("custom.a//hat//&docker-default//&custom.b", collect, out);
	cr_assert_str_eq(out, "custom.a|docker-default|custom.b|");
	out[0] = '\0';
	agent_kernel_label_each("unconfined", collect, out);
	cr_assert_str_eq(out, "unconfined|");
}
