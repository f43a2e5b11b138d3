/* denial_cgroup and denial_pods: attribution of a process to its pod from
 * real /proc/<pid>/cgroup samples (cgroup v1 and v2, kubelet's cgroupfs and
 * systemd drivers, containerd and CRI-O, the test node VM's layout and the
 * view from inside a cgroup namespace) and the node's pod table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "denial_cgroup.h"
#include "denial_pods.h"

#define UID "7b8c1d2e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
#define UID_ "7b8c1d2e_3f4a_4b5c_8d9e_0f1a2b3c4d5e"
#define CID "4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b"

static void expect(const char *text, const char *uid, const char *cid)
{
	denial_cgroup_id id;

	cr_assert(denial_cgroup_parse(text, strlen(text), &id), "no pod in: %s", text);
	cr_assert_str_eq(id.pod_uid, uid, "%s", text);
	cr_assert_str_eq(id.container_id, cid, "%s", text);
}

static void expect_none(const char *text)
{
	denial_cgroup_id id;

	cr_assert_not(denial_cgroup_parse(text, strlen(text), &id), "a pod in: %s", text);
	cr_assert_str_eq(id.pod_uid, "");
}

Test(denial_cgroup, v1_cgroupfs)
{
	expect("12:pids:/kubepods/burstable/pod" UID "/" CID "\n"
	       "11:memory:/kubepods/burstable/pod" UID "/" CID "\n"
	       "4:cpu,cpuacct:/kubepods/burstable/pod" UID "/" CID "\n"
	       "1:name=systemd:/kubepods/burstable/pod" UID "/" CID "\n"
	       "0::/\n",
	       UID, CID);
	/* Guaranteed pods sit right under kubepods. */
	expect("3:memory:/kubepods/pod" UID "/" CID "\n", UID, CID);
}

Test(denial_cgroup, v1_systemd)
{
	expect("10:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	       ".slice/cri-containerd-" CID ".scope\n"
	       "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
	       ".slice/cri-containerd-" CID ".scope\n",
	       UID, CID);
}

Test(denial_cgroup, v2_systemd_containerd_crio_docker)
{
	expect("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID
	       ".scope\n",
	       UID, CID);
	expect("0::/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope\n", UID, CID);
	expect("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-" CID
	       ".scope\n",
	       UID, CID);
	expect("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/docker-" CID
	       ".scope\n",
	       UID, CID);
	/* CRI-O's monitor: the pod, no container. */
	expect("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-conmon-" CID
	       ".scope\n",
	       UID, "");
}

/* test/cluster/start --nodes: containerd, kubelet cgroupDriver cgroupfs,
 * cgroup v2 (test/node-vm/guest/init-node). Seen from the host cgroup
 * namespace, and from the agent's own (containerd gives each container one
 * with nsdelegate: other pods' paths are relative, "/.." first). */
Test(denial_cgroup, node_vm_v2_cgroupfs)
{
	expect("0::/kubepods/besteffort/pod" UID "/" CID "\n", UID, CID);
	expect("0::/../../besteffort/pod" UID "/" CID "\n", UID, CID);
	expect("0::/../pod" UID "/" CID "\n", UID, CID);
	/* The pod's own cgroup (the sandbox was torn down meanwhile). */
	expect("0::/kubepods/besteffort/pod" UID "\n", UID, "");
	/* Upper-case hex from a hand-made cgroup: normalised. */
	expect("0::/kubepods/pod7B8C1D2E-3F4A-4B5C-8D9E-0F1A2B3C4D5E/" CID "\n", UID, CID);
}

Test(denial_cgroup, nested_cgroups_cannot_claim_another_pod)
{
	/* A process allowed to create cgroups inside its container names one
	 * like another pod: only the first pod segment counts. */
	expect("0::/kubepods/besteffort/pod" UID "/" CID "/podaaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/ffff0000ffff\n", UID,
	       CID);
	/* A nested cgroup right under the container: still that container. */
	expect("0::/kubepods/burstable/pod" UID "/" CID "/init.scope\n", UID, CID);
}

Test(denial_cgroup, not_a_pod)
{
	expect_none("0::/system.slice/containerd.service\n");
	expect_none("0::/init.scope\n");
	expect_none("0::/\n");
	expect_none("12:pids:/user.slice/user-0.slice/session-1.scope\n");
	expect_none("0::/kubepods/besteffort/pod1234\n");
	expect_none("0::/kubepods/besteffort/podzzzzzzzz-3f4a-4b5c-8d9e-0f1a2b3c4d5e/" CID "\n");
	expect_none("0::/kubepods.slice/kubepods-besteffort.slice\n");
	expect_none("garbage without colons\n");
	expect_none("");
}

Test(denial_cgroup, short_or_odd_container_segments)
{
	expect("0::/kubepods/pod" UID "/abc\n", UID, "");
	expect("0::/kubepods.slice/kubepods-pod" UID_ ".slice/something-" CID ".scope\n", UID, "");
	expect("0::/kubepods/pod" UID "/" CID "xyz\n", UID, "");
}

Test(denial_cgroup, status_container_id)
{
	char out[DENIAL_CID_MAX];

	cr_assert(denial_cgroup_container_id("containerd://" CID, out, sizeof(out)));
	cr_assert_str_eq(out, CID);
	cr_assert(denial_cgroup_container_id("cri-o://ABCDEF0123456789", out, sizeof(out)));
	cr_assert_str_eq(out, "abcdef0123456789");
	cr_assert_not(denial_cgroup_container_id(CID, out, sizeof(out)));
	cr_assert_not(denial_cgroup_container_id("containerd://", out, sizeof(out)));
	cr_assert_not(denial_cgroup_container_id("containerd://not-hex", out, sizeof(out)));
}

static cJSON *pod(const char *uid, const char *ns, const char *name, const char *extra_status)
{
	char text[2048];

	snprintf(
		text, sizeof(text),
		"{\"metadata\":{\"uid\":\"%s\",\"namespace\":\"%s\",\"name\":\"%s\",\"labels\":{\"a\":\"b\"},"
		"\"annotations\":{\"big\":\"xxxxxxxxxxxxxxxx\"}},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":"
		"\"app\",\"image\":\"busybox\"}]},\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":"
		"\"app\",\"containerID\":\"containerd://" CID "\",\"image\":\"busybox\",\"ready\":true}]%s}}",
		uid, ns, name, extra_status);
	return cJSON_Parse(text);
}

Test(denial_pods, slim_keeps_only_what_attribution_reads)
{
	cJSON *p = pod(UID, "ns1", "web-1",
		       ",\"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":\"containerd://"
		       "aaaaaaaaaaaaaaaa\",\"state\":{}}]");
	cJSON *s = denial_pods_slim(p);
	char *text = cJSON_PrintUnformatted(s);

	cr_assert_str_eq(text,
			 "{\"metadata\":{\"namespace\":\"ns1\",\"name\":\"web-1\",\"uid\":\"" UID "\"},"
			 "\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://" CID
			 "\"}],\"initContainerStatuses\":[{\"name\":\"init\",\"containerID\":\"containerd://"
			 "aaaaaaaaaaaaaaaa\"}]}}");
	free(text);
	cJSON_Delete(s);
	cJSON_Delete(p);
}

Test(denial_pods, lookup_replace_upsert_delete)
{
	denial_pods t;
	cJSON *items = cJSON_CreateArray();
	const denial_pod *p;

	denial_pods_init(&t);
	cJSON_AddItemToArray(items,
			     pod(UID, "ns1", "web-1",
				 ",\"ephemeralContainerStatuses\":[{\"name\":\"debug\",\"containerID\":"
				 "\"containerd://bbbbbbbbbbbbbbbb\"}]"));
	cJSON_AddItemToArray(items, pod("11111111-2222-3333-4444-555555555555", "ns2", "db-0", ""));
	cJSON_AddItemToArray(items, cJSON_Parse("{\"metadata\":{\"name\":\"no-uid\"}}"));
	cr_assert_eq(denial_pods_replace(&t, items), 0);
	cr_assert_eq(t.n, 2);
	p = denial_pods_find(&t, UID);
	cr_assert_not_null(p);
	cr_assert_str_eq(p->ns, "ns1");
	cr_assert_str_eq(p->name, "web-1");
	cr_assert_str_eq(denial_pods_container(p, CID), "app");
	cr_assert_str_eq(denial_pods_container(p, "bbbbbbbbbbbbbbbb"), "debug");
	cr_assert_null(denial_pods_container(p, ""));
	cr_assert_null(denial_pods_container(p, "cccccccccccccccc"));

	cJSON *renamed = pod(UID, "ns1", "web-1b", "");
	cr_assert_eq(denial_pods_upsert(&t, renamed), 0);
	cr_assert_eq(t.n, 2);
	cr_assert_str_eq(denial_pods_find(&t, UID)->name, "web-1b");
	denial_pods_delete(&t, renamed);
	cr_assert_null(denial_pods_find(&t, UID));
	cr_assert_not_null(denial_pods_find(&t, "11111111-2222-3333-4444-555555555555"));
	cJSON_Delete(renamed);
	cJSON_Delete(items);
	denial_pods_cleanup(&t);
}
