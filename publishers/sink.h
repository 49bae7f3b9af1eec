/*
 * The delivery-engine interface every sink implements (Kafka, webhooks, file).
 *
 * A sink runner (publishers/sink_runner.h) owns one thread per sink: it reads
 * committed events from the outbox after the sink's cursor, offers them to the
 * engine in sequence order with submit(), and moves the cursor to what poll()
 * reports. The engine's one promise: poll() returns a sequence number S such that
 * every record submitted with seq <= S is done, meaning delivered with proof (Kafka
 * delivery report without error, webhook 2xx, file written and flushed) or handed
 * to the dead-letter callback. A later success never acknowledges an earlier
 * pending record.
 *
 * Contract:
 *  - submit() copies what it keeps; the event is only borrowed for the call.
 *    It returns SINK_ACCEPTED, SINK_BUSY (back-pressure: the runner waits and
 *    offers the same record again) or SINK_FAILED (errstr says why; the runner
 *    logs it and offers the record again after a backoff).
 *  - poll() serves the engine for at most timeout_ms and returns the highest done
 *    sequence, or -1 when nothing has been done since the engine was created.
 *  - needs_replay() returns true once after the engine dropped everything in
 *    flight (for example a fatal idempotent-producer error rebuilt the Kafka
 *    producer): the runner then offers again everything after the cursor, with
 *    the same event ids.
 *  - All calls for one engine come from its runner thread, except where an
 *    engine documents otherwise.
 */
#ifndef CRELAY_PUBLISHERS_SINK_H
#define CRELAY_PUBLISHERS_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publishers/event.h"

enum sink_submit_result { SINK_ACCEPTED = 0, SINK_BUSY = 1, SINK_FAILED = -1 };

/* Called by an engine, on its runner's thread, when a record will never be
 * delivered (attempts exhausted, endpoint gone): the runner stores it in the
 * dead-letter table and raises alert.dead_letter. The record then counts as done. */
typedef void (*sink_dead_letter_fn)(void *opaque, int64_t seq, const struct relay_event *event,
                                    const char *reason);

struct sink_ops {
    const char *kind; /* "kafka", "webhook", "file" */
    enum sink_submit_result (*submit)(void *engine, int64_t seq, const struct relay_event *event,
                                      char *errstr, size_t errstr_size);
    int64_t (*poll)(void *engine, int timeout_ms);
    bool (*needs_replay)(void *engine);
    void (*destroy)(void *engine);
};

#endif
