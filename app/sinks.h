/*
 * The relay's sinks as configured: one sink runner (publishers/sink_runner) per
 * Kafka cluster, webhook endpoint and file, each on its own thread reading the
 * outbox from its own cursor, so a failing endpoint never stalls the others. Every
 * engine sits behind a probe (app/sink_probe.h) that measures delivery latency and
 * sees stalls.
 *
 * Contract (everything but stop/destroy on the loop thread, which is also the
 * outbox's writer):
 *  - relay_sinks_create() builds every engine (bad settings fail here, with errstr
 *    naming the sink) and forgets sinks that an earlier run had and the configuration
 *    no longer has (outbox_unregister_sink), so they stop holding back pruning. The
 *    names of the configured sinks are kept in the outbox's metadata for that.
 *  - relay_sinks_start() starts their threads.
 *  - relay_sinks_reload() applies the sinks section of a newly loaded configuration:
 *    new sinks start, removed ones stop (draining for up to shutdown.grace on a thread
 *    of their own, then forgotten by the outbox), changed ones are replaced by a new
 *    engine that takes over the same cursor once the old one has stopped. Every new
 *    engine is built before anything changes, so a bad setting changes nothing.
 *  - relay_sinks_service() finishes that work; call it from the loop's timer.
 *  - relay_sinks_stop() lets each deliver what is committed for up to grace_ms (or
 *    until *abort_flag goes above 1: a second signal) and joins them, including sinks
 *    still stopping after a reload.
 *  - The status functions read runner metrics and engine statistics through the
 *    thread-safe accessors only.
 */
#ifndef CRELAY_APP_SINKS_H
#define CRELAY_APP_SINKS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/metrics.h"
#include "config/config.h"
#include "publishers/outbox.h"
#include "util/strbuf.h"

/* A sink with records outstanding and no delivery confirmed for this long is not
 * delivering. */
#define RELAY_SINKS_STALL_MS 5000

struct relay_sinks;

struct relay_sinks *relay_sinks_create(const struct relay_config *config, struct outbox *outbox,
                                       const struct metrics_receipts *receipts, char *errstr,
                                       size_t errstr_size);
int relay_sinks_start(struct relay_sinks *sinks);
/* Appends a human summary of what changed ("webhook:b added, file replaced") to
 * changes. Returns 0, or -1 with errstr (nothing changed). config must stay alive
 * until the next successful reload or destroy. */
int relay_sinks_reload(struct relay_sinks *sinks, const struct relay_config *config,
                       struct strbuf *changes, char *errstr, size_t errstr_size);
void relay_sinks_service(struct relay_sinks *sinks);
void relay_sinks_stop(struct relay_sinks *sinks, int64_t grace_ms, atomic_int *abort_flag);
void relay_sinks_destroy(struct relay_sinks *sinks);
size_t relay_sinks_count(const struct relay_sinks *sinks);

/* Readiness: true when every sink is delivering. Otherwise appends one line per sink
 * that is not ("sink kafka: no delivery confirmed for 6.1 s, 12 event(s)
 * outstanding"). */
bool relay_sinks_delivering(struct relay_sinks *sinks, int64_t now_mono_ms,
                            struct strbuf *report);
/* The per-sink families of /metrics. */
void relay_sinks_write_metrics(struct relay_sinks *sinks, struct strbuf *out);
/* Calls fn once for every webhook endpoint newly disabled by a 410 Gone. */
void relay_sinks_take_disabled(struct relay_sinks *sinks,
                               void (*fn)(void *ctx, const char *sink, const char *url),
                               void *ctx);
/* The lowest cursor over the sinks (the outbox depth is committed seq minus this);
 * -1 without sinks. */
int64_t relay_sinks_min_cursor(struct relay_sinks *sinks);

#endif
