/* bench_admission_core: how many AdmissionReviews per second the pure core
 * answers on one thread (and on N threads sharing one nodeset), for a
 * realistic 3-container pod, with 5,000 Nodes in the nodeset.
 * Usage: bench_admission_core [seconds-per-case (default 2)] [threads (default 1)] [only case N] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admission.h"
#include "jsonarena.h"

#define AN "container.apparmor.security.beta.kubernetes.io/"

static const char pod_fmt[] =
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
	"\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	"\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},\"requestKind\":{\"group\":\"\","
	"\"version\":\"v1\",\"kind\":\"Pod\"},\"requestResource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"pods\"},"
	"\"namespace\":\"shop\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"system:serviceaccount:kube-system:"
	"replicaset-controller\",\"uid\":\"1b1b3d53-0c2e-4d8b-9a0e-2d0c3b6c9d10\",\"groups\":[\"system:serviceaccounts\","
	"\"system:serviceaccounts:kube-system\",\"system:authenticated\"]},\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
	"\"metadata\":{\"generateName\":\"web-7d9c8b6f5-\",\"namespace\":\"shop\",\"labels\":{\"app\":\"web\","
	"\"pod-template-hash\":\"7d9c8b6f5\",\"tier\":\"frontend\"},\"annotations\":{%s\"kubectl.kubernetes.io/"
	"default-container\":\"web\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":"
	"\"web-7d9c8b6f5\",\"uid\":\"2c2d9a1e-1111-4a4a-9c9c-0a0a0a0a0a0a\",\"controller\":true,\"blockOwnerDeletion\":true}]},"
	"\"spec\":{\"volumes\":[{\"name\":\"kube-api-access-abcde\",\"projected\":{\"sources\":[{\"serviceAccountToken\":{"
	"\"expirationSeconds\":3607,\"path\":\"token\"}},{\"configMap\":{\"name\":\"kube-root-ca.crt\",\"items\":[{\"key\":"
	"\"ca.crt\",\"path\":\"ca.crt\"}]}}],\"defaultMode\":420}}],"
	"\"initContainers\":[{\"name\":\"migrate\",\"image\":\"registry.example.com/shop/migrate:1.4.2\",\"command\":["
	"\"/migrate\",\"--up\"],\"resources\":{\"limits\":{\"memory\":\"128Mi\"},\"requests\":{\"cpu\":\"50m\",\"memory\":"
	"\"64Mi\"}},\"terminationMessagePath\":\"/dev/termination-log\",\"imagePullPolicy\":\"IfNotPresent\"%s}],"
	"\"containers\":[{\"name\":\"web\",\"image\":\"registry.example.com/shop/web:2.8.0\",\"ports\":[{\"containerPort\":"
	"8080,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"},{\"name\":\"POD_IP\",\"valueFrom\":{"
	"\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"status.podIP\"}}}],\"resources\":{\"limits\":{\"memory\":"
	"\"512Mi\"},\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"}},\"volumeMounts\":[{\"name\":\"kube-api-access-abcde\","
	"\"readOnly\":true,\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\"}],\"livenessProbe\":{\"httpGet\":{"
	"\"path\":\"/healthz\",\"port\":8080,\"scheme\":\"HTTP\"},\"periodSeconds\":10},\"terminationMessagePath\":"
	"\"/dev/termination-log\",\"imagePullPolicy\":\"IfNotPresent\"%s},"
	"{\"name\":\"sidecar\",\"image\":\"registry.example.com/shop/envoy:1.31\",\"args\":[\"-c\",\"/etc/envoy.yaml\"],"
	"\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}},\"imagePullPolicy\":\"IfNotPresent\"%s}],"
	"\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
	"\"serviceAccountName\":\"default\",\"securityContext\":{\"runAsNonRoot\":true,\"runAsUser\":1000},"
	"\"schedulerName\":\"default-scheduler\",\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":"
	"\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],\"priority\":0,\"enableServiceLinks\":true,"
	"\"preemptionPolicy\":\"PreemptLowerPriority\"%s}},\"oldObject\":null,\"dryRun\":false,\"options\":{\"kind\":"
	"\"CreateOptions\",\"apiVersion\":\"meta.k8s.io/v1\"}}}";

typedef struct bench_case {
	const char *name;
	admission_op op;
	char *body;
	size_t len;
	admission_verdict verdict;
} bench_case;

typedef struct bench_thread {
	const bench_case *c;
	const admission_env *env;
	double seconds;
	unsigned long done;
	double cpu; /* thread CPU seconds used: the figure that does not depend on machine load */
	pthread_t th;
} bench_thread;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *make(const char *ann, const char *sc_init, const char *sc_web, const char *sc_side, const char *sel,
		  size_t *len)
{
	size_t cap = sizeof(pod_fmt) + 1024;
	char *s = malloc(cap);
	int n = snprintf(s, cap, pod_fmt, ann, sc_init, sc_web, sc_side, sel);

	*len = (size_t)n;
	return s;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	bench_thread *t = arg;
	double end = now() + t->seconds;
	double c0 = cpu_now();

	while (now() < end) {
		for (int i = 0; i < 256; i++) {
			admission_result r;

			admission_handle(t->c->op, t->c->body, t->c->len, t->env, &r);
			buf_cleanup(&r.body);
		}
		t->done += 256;
	}
	t->cpu = cpu_now() - c0;
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;
	long nthreads = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
	long only = argc > 3 ? strtol(argv[3], NULL, 10) : -1;
	nodeset *ns = nodeset_new();
	cJSON *items = cJSON_CreateArray();
	admission_env env;
	bench_case cases[4];
	bench_thread th[64];

	jsonarena_install(); /* the webhook's allocation path, before any thread */
	if (secs <= 0 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: bench_admission_core [seconds>0] [threads 1..64]\n");
		return 2;
	}
	for (int i = 0; i < 5000; i++) {
		char name[32], key[64];
		cJSON *n = cJSON_CreateObject();
		cJSON *meta = cJSON_AddObjectToObject(n, "metadata");
		cJSON *labels = cJSON_AddObjectToObject(meta, "labels");

		snprintf(name, sizeof(name), "node-%05d", i);
		cJSON_AddStringToObject(meta, "name", name);
		cJSON_AddStringToObject(labels, "armorgate.io/apparmor", "enabled");
		cJSON_AddStringToObject(labels, "kubernetes.io/hostname", name);
		for (int p = 0; p < 3; p++) {
			snprintf(key, sizeof(key), "profiles.armorgate.io/custom.p%d", (i + p) % 50);
			cJSON_AddStringToObject(labels, key, "loaded");
		}
		snprintf(key, sizeof(key), "profiles.armorgate.io/custom.web");
		cJSON_AddStringToObject(labels, key, "loaded");
		cJSON_AddItemToArray(items, n);
	}
	nodeset_replace(ns, items);
	cJSON_Delete(items);
	memset(&env, 0, sizeof(env));
	env.nodes = ns;
	env.profiles_namespace = "armorgate-system";
	env.profiles_name = "armorgate-profiles";

#define LH(p) ",\"securityContext\":{\"appArmorProfile\":{\"type\":\"Localhost\",\"localhostProfile\":\"" p "\"}}"
#define SEL ",\"nodeSelector\":{\"profiles.armorgate.io/custom.web\":\"loaded\",\"profiles.armorgate.io/custom.p7\":\"loaded\"}"
	cases[0] = (bench_case){ "mutate (3 annotations -> patch)", ADMISSION_MUTATE, NULL, 0, ADMISSION_VERDICT_PATCH };
	cases[0].body = make("\"" AN "migrate\":\"runtime/default\",\"" AN "web\":\"localhost/custom.web\",\"" AN
			     "sidecar\":\"localhost/custom.p7\",",
			     "", "", "", "", &cases[0].len);
	cases[1] = (bench_case){ "mutate (already mutated -> allow)", ADMISSION_MUTATE, NULL, 0, ADMISSION_VERDICT_ALLOW };
	cases[1].body = make("", ",\"securityContext\":{\"appArmorProfile\":{\"type\":\"RuntimeDefault\"}}",
			     LH("custom.web"), LH("custom.p7"), SEL, &cases[1].len);
	cases[2] = (bench_case){ "validate (fields, allowed)", ADMISSION_VALIDATE, NULL, 0, ADMISSION_VERDICT_ALLOW };
	cases[2].body = make("", ",\"securityContext\":{\"appArmorProfile\":{\"type\":\"RuntimeDefault\"}}",
			     LH("custom.web"), LH("custom.p7"), SEL, &cases[2].len);
	cases[3] = (bench_case){ "validate (unloaded profile, denied)", ADMISSION_VALIDATE, NULL, 0, ADMISSION_VERDICT_DENY };
	cases[3].body = make("", "", LH("custom.web"), LH("custom.missing"), "", &cases[3].len);

	printf("nodes=%zu threads=%ld seconds/case=%.1f\n", nodeset_size(ns), nthreads, secs);
	for (size_t c = 0; c < 4; c++) {
		admission_result r;
		unsigned long total = 0;
		double cpu = 0;
		double t0;
		double el;

		if (only >= 0 && (size_t)only != c)
			continue;
		admission_handle(cases[c].op, cases[c].body, cases[c].len, &env, &r);
		if (r.verdict != cases[c].verdict) {
			fprintf(stderr, "case %s: verdict %s, expected %s: %s\n", cases[c].name,
				admission_verdict_name(r.verdict), admission_verdict_name(cases[c].verdict), buf_cstr(&r.body));
			return 1;
		}
		buf_cleanup(&r.body);
		t0 = now();
		for (long i = 0; i < nthreads; i++) {
			th[i] = (bench_thread){ &cases[c], &env, secs, 0, 0, 0 };
			pthread_create(&th[i].th, NULL, worker, &th[i]);
		}
		for (long i = 0; i < nthreads; i++) {
			pthread_join(th[i].th, NULL);
			total += th[i].done;
			cpu += th[i].cpu;
		}
		el = now() - t0;
		printf("%-38s body=%5zu B  wall %8.0f reviews/s  cpu %6.1f us/review = %7.0f reviews/s per core\n",
		       cases[c].name, cases[c].len, (double)total / el, cpu * 1e6 / (double)total, (double)total / cpu);
	}
	for (size_t c = 0; c < 4; c++)
		free(cases[c].body);
	nodeset_free(ns);
	return 0;
}
