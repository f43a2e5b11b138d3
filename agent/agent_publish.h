/* agent_publish: the only writer of this node's readiness. A thread owns the
 * API side: it takes the newest wanted state (labels + status), computes the
 * merge patch with the pure core against the Node as the API last returned
 * it (the PATCH response, or a GET) and PATCHes only when something other
 * than observedAt changed, with that resourceVersion as a precondition: a
 * change is one request, and a Node changed by anyone else meanwhile is a
 * 409, then read again. It GETs the Node first at start, after a PATCH
 * failed, after the API came back (kick) and when its copy is older than
 * verify_s (drift repair). While the API is down it retries with
 * exponential backoff and, once back, publishes the newest state. It also
 * records aggregated Kubernetes Events (agent_events) on the Node and on the
 * profiles ConfigMap for refused and failed profiles.
 * Trust boundary: the Node read back is API data, parsed by agent_node.
 * No globals; one thread per publisher. */
#ifndef ARMORGATE_AGENT_PUBLISH_H
#define ARMORGATE_AGENT_PUBLISH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "agent_events.h"
#include "agent_node.h"
#include "err.h"
#include "kube.h"
#include "metrics.h"

typedef struct agent_publisher agent_publisher;

/* client, node_name, m are borrowed and must outlive the publisher.
 * verify_s: the age after which the Node is read again before a write or
 * a no-op (the poll interval: drift is repaired as often as before). */
agent_publisher *agent_publisher_start(kube_client *client, const char *node_name, long verify_s, metrics *m,
				       ag_err *err);
/* Wakes the thread (the kube client's stop flag must already be set), joins, frees. */
void agent_publisher_stop(agent_publisher *p);
/* Hands over a new wanted state (copied): a PATCH only on a difference from
 * the Node as last seen (read again when older than verify_s). */
void agent_publisher_submit(agent_publisher *p, const cJSON *labels, const agent_status *st);
/* One occurrence of an Event about profile key ("" = the whole source) on
 * the Node and, when set, the profiles ConfigMap: aggregated per (object,
 * reason, key), at most one write per key per minute (agent_events.h). */
void agent_publisher_event(agent_publisher *p, const char *type, const char *reason, const char *key,
			   const char *message);
/* The profiles ConfigMap the Events also go to (copied; uid may be ""). */
void agent_publisher_configmap(agent_publisher *p, const char *ns, const char *name, const char *uid);
/* The API is known to be back (e.g. a watch reconnected): retry now instead
 * of at the end of the current backoff. */
void agent_publisher_kick(agent_publisher *p);
/* Waits until the state submitted so far has been published, up to ms. */
bool agent_publisher_wait(agent_publisher *p, long ms);
/* Number of Node PATCH requests sent (tests/bench). */
unsigned long agent_publisher_patches(agent_publisher *p);

#endif
