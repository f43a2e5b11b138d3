/* nodewatch: the thread that keeps the webhook's Node cache current through a
 * list+watch of /api/v1/nodes (full Nodes: status.nodeInfo.bootID is not
 * metadata; common/kube.h informer: resumes from its resourceVersion,
 * relists on 410 Gone). While the watch is down the cache keeps its last
 * state; that is logged and shown in metrics. */
#ifndef ARMORGATE_WEBHOOK_NODEWATCH_H
#define ARMORGATE_WEBHOOK_NODEWATCH_H

#include <stdbool.h>

#include "err.h"
#include "kube.h"
#include "metrics.h"
#include "nodeset.h"

/* Metric family names nodewatch writes (main defines them). */
#define NODEWATCH_M_NODES "armorgate_webhook_nodes"
#define NODEWATCH_M_ENABLED "armorgate_webhook_nodes_apparmor_enabled"
#define NODEWATCH_M_CONNECTED "armorgate_webhook_node_watch_connected"
#define NODEWATCH_M_SYNCED "armorgate_webhook_node_cache_synced"
#define NODEWATCH_M_RESTARTS "armorgate_webhook_node_watch_restarts_total"
#define NODEWATCH_M_RELISTS "armorgate_webhook_node_relists_total"
#define NODEWATCH_M_EVENTS "armorgate_webhook_node_events_total"

typedef struct nodewatch nodewatch;

/* Starts the thread. client, nodes and m are borrowed and must outlive it. */
nodewatch *nodewatch_start(kube_client *client, nodeset *nodes, metrics *m, ag_err *err);
/* True once the first complete list has been applied. */
bool nodewatch_synced(nodewatch *w);
/* Copies live counters into metrics; call periodically. */
void nodewatch_tick(nodewatch *w);
/* Stops the informer and joins the thread. */
void nodewatch_stop(nodewatch *w);

#endif
