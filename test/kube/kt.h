/* kt: helpers shared by the kube client's integration tests (not unit tests):
 * the cluster from ARMORGATE_TEST_KUBECONFIG, kubectl by execve, temp dirs. */
#ifndef ARMORGATE_TEST_KT_H
#define ARMORGATE_TEST_KT_H

#include <stdbool.h>
#include <stddef.h>

#include "kube.h"

/* Directory of the kubeconfig named by ARMORGATE_TEST_KUBECONFIG (the cluster dir). */
const char *kt_kubeconfig(void);
const char *kt_cluster_dir(void);
/* Client for the admin kubeconfig; aborts the test on failure. */
kube_client *kt_admin_client(void);
/* Runs kubectl (from the cluster's env PATH) with --kubeconfig; returns the
 * exit status (or -1), stdout into out (heap, may be NULL). */
int kt_kubectl(char **out, const char *const args[]);
/* Runs a program (argv[0] in PATH or absolute) with the caller's PATH plus the peers' bin dir. */
int kt_run(char **out, const char *const argv[], long timeout_ms);
/* Same with extra "K=V" environment entries (NULL-terminated list). */
int kt_run_env(char **out, const char *const argv[], const char *const extra_env[], long timeout_ms);
/* Cluster scripts: test/cluster/<verb> DIR (ARMORGATE_SOURCE_DIR locates them). */
int kt_cluster(const char *verb, const char *dir, const char *const extra_env[]);
/* Writes text into path (mode 0600). */
void kt_write_file(const char *path, const char *text);
/* mkdtemp under TMPDIR; caller frees; kt_rm_rf removes. */
char *kt_tempdir(const char *tag);
void kt_rm_rf(const char *dir);
/* Monotonic seconds. */
double kt_now(void);
/* Sleeps ms. */
void kt_sleep_ms(long ms);

#endif
