/*
 * The relay's sinks as configured: one sink runner (publishers/sink_runner) per
 * Kafka cluster, webhook endpoint and file, each on its own thread reading the
 * outbox from its own cursor, so a failing endpoint never stalls the others.
 *
 * Contract: relay_sinks_create() builds every engine (bad settings fail here, with
 * errstr naming the sink); relay_sinks_start() starts their threads;
 * relay_sinks_stop() lets each deliver what is committed for up to grace_ms (or
 * until *abort_flag goes above 1: a second signal) and joins them.
 */
#ifndef CRELAY_APP_SINKS_H
#define CRELAY_APP_SINKS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "publishers/outbox.h"

struct relay_sinks;

struct relay_sinks *relay_sinks_create(const struct relay_config *config, struct outbox *outbox,
                                       char *errstr, size_t errstr_size);
int relay_sinks_start(struct relay_sinks *sinks);
void relay_sinks_stop(struct relay_sinks *sinks, int64_t grace_ms, atomic_int *abort_flag);
void relay_sinks_destroy(struct relay_sinks *sinks);
size_t relay_sinks_count(const struct relay_sinks *sinks);

#endif
