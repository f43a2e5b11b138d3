/* probe: the plain-HTTP probe port both daemons serve (own small server,
 * one thread): GET /healthz (alive), /readyz (ready_fn says), /metrics. */
#ifndef ARMORGATE_PROBE_H
#define ARMORGATE_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "metrics.h"

/* Returns true when ready; otherwise writes a short reason into why. */
typedef bool (*probe_ready_fn)(void *ud, char *why, size_t cap);

typedef struct probe_server probe_server;

/* listen: "ADDR:PORT" or ":PORT" (port 0 = ephemeral, see probe_server_port).
 * m and ud are borrowed and must outlive the server. */
probe_server *probe_server_start(const char *listen, metrics *m, probe_ready_fn ready, void *ud, ag_err *err);
int probe_server_port(const probe_server *p);
void probe_server_stop(probe_server *p);

#endif
