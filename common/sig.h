/* sig: signals set a flag and write a self-pipe; the main loop acts.
 * SIGTERM/SIGINT request shutdown; SIGHUP is recorded for reload-style use.
 * Global: the process's one stop flag, HUP flag and self-pipe (signals are
 * per process). */
#ifndef ARMORGATE_SIG_H
#define ARMORGATE_SIG_H

#include <signal.h>
#include <stdbool.h>

#include "err.h"

/* Installs handlers once per process; ignores SIGPIPE. */
int sig_init(ag_err *err) AG_WARN_UNUSED;
/* Readable end of the self-pipe (poll it; drain with sig_drain). */
int sig_fd(void);
void sig_drain(void);
bool sig_stop_requested(void);
/* Returns and clears a pending SIGHUP. */
bool sig_take_hup(void);
/* The stop flag itself, for code that polls a flag (kube_client_set_stop_flag). */
volatile sig_atomic_t *sig_stop_flag(void);
/* Lets tests and other threads request the same shutdown a SIGTERM would. */
void sig_request_stop(void);
/* Sleeps up to ms milliseconds, returning early (true) when a stop is requested. */
bool sig_sleep_ms(long ms);

#endif
