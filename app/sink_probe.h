/*
 * A probe between a sink runner and its engine: a struct sink_ops that forwards every
 * call to the real engine and watches what comes back, so the relay can measure and
 * judge any engine (Kafka, webhook, file) the same way.
 *
 * What it observes, on the runner's thread: which seqs were submitted and not yet
 * done, when the oldest of them was submitted, and when the engine last reported
 * progress; for every record the engine reports done (and did not dead-letter), the
 * time from its receipt (app/metrics.h receipts) to the done report goes into the
 * sink's latency histogram. A replay (needs_replay) forgets what was outstanding.
 *
 * Contract:
 *  - sink_probe_create() comes first (its dead-letter function is what the engine
 *    gets), then the engine, then sink_probe_attach(), then
 *    sink_runner_start(runner, &sink_probe_ops, probe).
 *  - The runner owns the engine through the probe: the probe's destroy op destroys the
 *    engine. The probe itself outlives that and is freed with sink_probe_free() once
 *    the runner is destroyed.
 *  - sink_probe_status(), sink_probe_with_engine() and the histogram may be used from
 *    any thread; with_engine runs its function under the probe's lock, only while the
 *    engine is alive (use it for the engines' thread-safe stats calls).
 */
#ifndef CRELAY_APP_SINK_PROBE_H
#define CRELAY_APP_SINK_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/metrics.h"
#include "publishers/sink.h"
#include "publishers/sink_runner.h"

struct sink_probe;

struct sink_probe_status {
    size_t outstanding;         /* submitted, not yet done */
    int64_t oldest_submit_ms;   /* monotonic; 0 when nothing is outstanding */
    int64_t last_progress_ms;   /* monotonic time of the last done report; 0 if none */
    bool engine_alive;
};

struct sink_probe *sink_probe_create(const struct metrics_receipts *receipts);
/* The engine's dead-letter callback (opaque: the probe): marks the record and
 * forwards to the runner's sink_runner_dead_letter(). */
void sink_probe_dead_letter(void *opaque, int64_t seq, const struct relay_event *event,
                            const char *reason);
void sink_probe_attach(struct sink_probe *probe, struct sink_runner *runner,
                       const struct sink_ops *ops, void *engine);
void sink_probe_free(struct sink_probe *probe);

void sink_probe_status(struct sink_probe *probe, struct sink_probe_status *out);
/* Calls fn(ctx, engine) under the lock while the engine is alive; false otherwise. */
bool sink_probe_with_engine(struct sink_probe *probe, void (*fn)(void *ctx, void *engine),
                            void *ctx);
const struct metrics_histogram *sink_probe_latency(const struct sink_probe *probe);

/* The forwarding operations; the engine pointer is the struct sink_probe. */
extern const struct sink_ops sink_probe_ops;

#endif
