/* agent_sha256: the content hash the agent compares profiles by (desired
 * text vs the file on disk), lower-case hex. Outside the pure core so that
 * agent_core links no crypto library. No globals; thread-safe. */
#ifndef ARMORGATE_AGENT_SHA256_H
#define ARMORGATE_AGENT_SHA256_H

#include <stddef.h>

#include "agent_plan.h"

/* Lower-case hex SHA-256 of data into out (AGENT_SHA256_HEX bytes); "" if
 * libcrypto fails. */
void agent_sha256_hex(const void *data, size_t len, char out[AGENT_SHA256_HEX]);

#endif
