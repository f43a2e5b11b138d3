/* agent_publish: the only writer of this node's readiness. A thread owns the
 * API side: it takes the newest wanted state (labels + status), GETs the
 * Node, computes the merge patch with the pure core and PATCHes only when
 * something other than observedAt changed; while the API is down it retries
 * with exponential backoff and, once back, publishes the newest state. It
 * also posts Kubernetes Events on the Node for refused profiles.
 * Trust boundary: the Node read back is API data, parsed by agent_node.
 * No globals; one thread per publisher. */
#ifndef ARMORGATE_AGENT_PUBLISH_H
#define ARMORGATE_AGENT_PUBLISH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "agent_node.h"
#include "err.h"
#include "kube.h"
#include "metrics.h"

enum { AGENT_PUBLISH_EVENTS_MAX = 64 };

typedef struct agent_publisher agent_publisher;

/* client, node_name, m are borrowed and must outlive the publisher. */
agent_publisher *agent_publisher_start(kube_client *client, const char *node_name, metrics *m, ag_err *err);
/* Wakes the thread (the kube client's stop flag must already be set), joins, frees. */
void agent_publisher_stop(agent_publisher *p);
/* Hands over a new wanted state (copied). Every submit triggers a GET and a
 * comparison, so it doubles as drift repair; a PATCH only on a difference. */
void agent_publisher_submit(agent_publisher *p, const cJSON *labels, const agent_status *st);
/* Queues an Event (reason, message) on the Node; bounded queue, oldest dropped. */
void agent_publisher_event(agent_publisher *p, const char *type, const char *reason, const char *message);
/* The API is known to be back (e.g. a watch reconnected): retry now instead
 * of at the end of the current backoff. */
void agent_publisher_kick(agent_publisher *p);
/* Waits until the state submitted so far has been published, up to ms. */
bool agent_publisher_wait(agent_publisher *p, long ms);
/* Number of PATCH requests sent (tests/bench). */
unsigned long agent_publisher_patches(agent_publisher *p);

#endif
