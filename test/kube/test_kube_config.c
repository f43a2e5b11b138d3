/* Unit tests: kubeconfig parsing and in-cluster config (no network). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube.h"

/* base64 of "CA-PEM", "CERT-PEM", "KEY-PEM" */
#define B64_CA "Q0EtUEVN"
#define B64_CERT "Q0VSVC1QRU0="
#define B64_KEY "S0VZLVBFTQ"

static const char inline_cfg[] = "apiVersion: v1\n"
				 "kind: Config\n"
				 "clusters:\n"
				 "- name: one\n"
				 "  cluster:\n"
				 "    server: https://10.0.0.1:6443/\n"
				 "    certificate-authority-data: " B64_CA "\n"
				 "- name: two\n"
				 "  cluster:\n"
				 "    server: https://[::1]:7443\n"
				 "    insecure-skip-tls-verify: true\n"
				 "users:\n"
				 "- name: certuser\n"
				 "  user:\n"
				 "    client-certificate-data: " B64_CERT "\n"
				 "    client-key-data: |\n"
				 "      " B64_KEY "\n"
				 "- name: tokuser\n"
				 "  user:\n"
				 "    token: abc.def\n"
				 "    tokenFile: /ignored\n"
				 "- name: fileuser\n"
				 "  user:\n"
				 "    tokenFile: sub/token\n"
				 "contexts:\n"
				 "- name: c1\n"
				 "  context: {cluster: one, user: certuser}\n"
				 "- name: c2\n"
				 "  context:\n"
				 "    cluster: two\n"
				 "    user: tokuser\n"
				 "- name: c3\n"
				 "  context: {cluster: one, user: fileuser}\n"
				 "- name: anon\n"
				 "  context: {cluster: two}\n"
				 "current-context: c1\n";

static int parse(const char *yaml, const char *ctx, kube_config *c, ag_err *e)
{
	return kube_config_from_kubeconfig_text(yaml, strlen(yaml), "/base/dir", ctx, c, e);
}

Test(kubeconfig, inline_data_current_context)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(parse(inline_cfg, NULL, &c, &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.server, "https://10.0.0.1:6443");
	cr_assert_str_eq(c.ca_pem, "CA-PEM");
	cr_assert_null(c.ca_file);
	cr_assert_str_eq(c.cert_pem, "CERT-PEM");
	cr_assert_str_eq(c.key_pem, "KEY-PEM");
	cr_assert_null(c.token);
	cr_assert_not(c.insecure_skip_verify);
	kube_config_cleanup(&c);
	cr_assert_null(c.server);
}

Test(kubeconfig, context_override_token_wins_over_file)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(parse(inline_cfg, "c2", &c, &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.server, "https://[::1]:7443");
	cr_assert(c.insecure_skip_verify);
	cr_assert_str_eq(c.token, "abc.def");
	cr_assert_null(c.token_file);
	cr_assert_null(c.cert_pem);
	kube_config_cleanup(&c);
}

Test(kubeconfig, token_file_relative_to_dir)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(parse(inline_cfg, "c3", &c, &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.token_file, "/base/dir/sub/token");
	cr_assert_null(c.token);
	kube_config_cleanup(&c);
}

Test(kubeconfig, anonymous_context)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(parse(inline_cfg, "anon", &c, &e), 0, "%s", e.msg);
	cr_assert_null(c.token);
	cr_assert_null(c.cert_pem);
	kube_config_cleanup(&c);
}

Test(kubeconfig, missing_current_context)
{
	kube_config c;
	ag_err e;
	const char *y = "clusters: []\ncontexts: []\nusers: []\n";

	cr_assert_eq(parse(y, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "no current-context"), "%s", e.msg);
	cr_assert_null(c.server);
}

Test(kubeconfig, unknown_context_cluster_user)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(parse(inline_cfg, "nope", &c, &e), -1);
	cr_assert(strstr(e.msg, "context \"nope\" not found"), "%s", e.msg);
	cr_assert_eq(parse("contexts:\n- name: x\n  context: {cluster: gone, user: u}\ncurrent-context: x\n", NULL, &c,
			   &e),
		     -1);
	cr_assert(strstr(e.msg, "cluster \"gone\""), "%s", e.msg);
	cr_assert_eq(parse("clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
			   "contexts:\n- name: x\n  context: {cluster: c, user: who}\ncurrent-context: x\n",
			   NULL, &c, &e),
		     -1);
	cr_assert(strstr(e.msg, "user \"who\""), "%s", e.msg);
}

Test(kubeconfig, malformed_yaml)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(parse("clusters: [\n  - name: x\n  bad: : :\n", NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "YAML error at line"), "%s", e.msg);
	cr_assert_eq(parse("- just\n- a list\n", NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "not a kubeconfig"), "%s", e.msg);
	cr_assert_eq(parse("", NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "empty"), "%s", e.msg);
}

Test(kubeconfig, bad_values)
{
	kube_config c;
	ag_err e;
	const char *nosrv = "clusters:\n- name: c\n  cluster: {}\ncontexts:\n- name: x\n  context: {cluster: c}\n"
			    "current-context: x\n";
	const char *ftp = "clusters:\n- name: c\n  cluster: {server: 'ftp://h'}\ncontexts:\n- name: x\n"
			  "  context: {cluster: c}\ncurrent-context: x\n";
	const char *b64 = "clusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority-data: '!!'}\n"
			  "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";
	const char *exec = "clusters:\n- name: c\n  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user:\n"
			   "    exec: {command: aws}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
			   "current-context: x\n";
	const char *halfcert = "clusters:\n- name: c\n  cluster: {server: 'https://h'}\nusers:\n- name: u\n  user:\n"
			       "    client-certificate-data: " B64_CERT "\ncontexts:\n- name: x\n"
			       "  context: {cluster: c, user: u}\ncurrent-context: x\n";

	cr_assert_eq(parse(nosrv, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "has no server"), "%s", e.msg);
	cr_assert_eq(parse(ftp, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "not an http(s) URL"), "%s", e.msg);
	cr_assert_eq(parse(b64, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "invalid base64"), "%s", e.msg);
	cr_assert_eq(parse(exec, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "exec/auth-provider"), "%s", e.msg);
	cr_assert_eq(parse(halfcert, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "without a key"), "%s", e.msg);
}

static char *mktmp(void)
{
	char *d = strdup("/tmp/armorgate-kcfg-XXXXXX");

	cr_assert_not_null(mkdtemp(d));
	return d;
}

static void wfile(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static void rmtree(const char *dir, const char *const names[])
{
	char p[512];

	for (size_t i = 0; names[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

Test(kubeconfig, files_relative_to_kubeconfig)
{
	char *d = mktmp();
	char kc[512];
	char want[512];
	kube_config c;
	ag_err e;
	const char *names[] = { "ca.crt", "c.pem", "k.pem", "kubeconfig", NULL };

	wfile(d, "ca.crt", "CA FILE");
	wfile(d, "c.pem", "CERT FILE");
	wfile(d, "k.pem", "KEY FILE");
	wfile(d, "kubeconfig",
	      "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n    certificate-authority: ca.crt\n"
	      "users:\n- name: u\n  user:\n    client-certificate: c.pem\n    client-key: k.pem\n"
	      "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n");
	snprintf(kc, sizeof(kc), "%s/kubeconfig", d);
	cr_assert_eq(kube_config_from_kubeconfig(kc, NULL, &c, &e), 0, "%s", e.msg);
	snprintf(want, sizeof(want), "%s/ca.crt", d);
	cr_assert_str_eq(c.ca_file, want);
	cr_assert_null(c.ca_pem);
	cr_assert_str_eq(c.cert_pem, "CERT FILE");
	cr_assert_str_eq(c.key_pem, "KEY FILE");
	kube_config_cleanup(&c);

	/* kube_config_load = the same for a path. */
	cr_assert_eq(kube_config_load(kc, &c, &e), 0, "%s", e.msg);
	kube_config_cleanup(&c);

	/* A missing referenced file is named. */
	unlink(want);
	cr_assert_eq(kube_config_from_kubeconfig(kc, NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "ca.crt") && strstr(e.msg, kc), "%s", e.msg);
	rmtree(d, names);
	free(d);
}

Test(kubeconfig, missing_file_named)
{
	kube_config c;
	ag_err e;

	cr_assert_eq(kube_config_from_kubeconfig("/nonexistent/kc", NULL, &c, &e), -1);
	cr_assert(strstr(e.msg, "/nonexistent/kc") && strstr(e.msg, "No such file"), "%s", e.msg);
}

Test(in_cluster, from_temp_dir)
{
	char *d = mktmp();
	char want[512];
	kube_config c;
	ag_err e;
	const char *names[] = { "token", "ca.crt", NULL };

	wfile(d, "token", "tok\n");
	wfile(d, "ca.crt", "CA");
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cr_assert_eq(kube_config_in_cluster(d, &c, &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.server, "https://10.96.0.1:443");
	snprintf(want, sizeof(want), "%s/token", d);
	cr_assert_str_eq(c.token_file, want);
	snprintf(want, sizeof(want), "%s/ca.crt", d);
	cr_assert_str_eq(c.ca_file, want);
	cr_assert_null(c.token);
	kube_config_cleanup(&c);

	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	cr_assert_eq(kube_config_in_cluster(d, &c, &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.server, "https://[fd00::1]:443");
	kube_config_cleanup(&c);

	setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
	cr_assert_eq(kube_config_in_cluster(d, &c, &e), -1);
	cr_assert(strstr(e.msg, "not a port"), "%s", e.msg);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);

	unlink(want); /* ca.crt */
	cr_assert_eq(kube_config_in_cluster(d, &c, &e), -1);
	cr_assert(strstr(e.msg, "in-cluster CA"), "%s", e.msg);
	snprintf(want, sizeof(want), "%s/token", d);
	unlink(want);
	cr_assert_eq(kube_config_in_cluster(d, &c, &e), -1);
	cr_assert(strstr(e.msg, "token"), "%s", e.msg);

	unsetenv("KUBERNETES_SERVICE_HOST");
	cr_assert_eq(kube_config_in_cluster(d, &c, &e), -1);
	cr_assert(strstr(e.msg, "KUBERNETES_SERVICE_HOST"), "%s", e.msg);
	cr_assert_eq(kube_config_load("", &c, &e), -1);
	cr_assert(strstr(e.msg, "pass --kubeconfig"), "%s", e.msg);
	rmtree(d, names);
	free(d);
}

Test(client, needs_server)
{
	kube_config c;
	ag_err e;

	memset(&c, 0, sizeof(c));
	cr_assert_null(kube_client_new(&c, &e));
	cr_assert(strstr(e.msg, "no API server"), "%s", e.msg);
}
