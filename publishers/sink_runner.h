/*
 * The sink runner: one thread per sink engine (publishers/sink.h) that moves events
 * from the outbox to the engine and the sink's cursor after them.
 *
 * The loop: read committed events after the cursor, in seq order (no more than
 * max_in_flight ahead of it); drop those the filter does not want (they count as done
 * at once); submit the rest in order; poll the engine; move the cursor to the highest
 * seq below which everything is done. The cursor never passes a record that is not
 * done: a record is done when the engine's done-seq reached it or the filter dropped
 * it, and every record before it is done too. Cursor writes are batched (at most every
 * cursor_interval_ms or cursor_max_events).
 *
 * SINK_BUSY: the same record is offered again after a short wait. SINK_FAILED: logged
 * once per streak of failures, then offered again after a full-jitter backoff that
 * grows until the cursor moves again. needs_replay(): everything after the done point
 * is offered again, with the same ids. Dead letters reported by the engine are stored
 * in the outbox with the sink name and reason, and an alert.dead_letter event is
 * appended for each (id derived from sink and event id).
 *
 * Contract: create, hand the engine its dead-letter callback
 * (sink_runner_dead_letter with the runner as opaque), start, and finally stop. The
 * runner owns the engine from sink_runner_start() on: it destroys it on its own
 * thread when it stops. Metrics may be read from any thread.
 */
#ifndef CRELAY_PUBLISHERS_SINK_RUNNER_H
#define CRELAY_PUBLISHERS_SINK_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publishers/outbox.h"
#include "publishers/sink.h"

/* Engine-independent event filter; false means the sink does not want the event. */
typedef bool (*sink_runner_wants_fn)(void *ctx, const struct relay_event *event);

struct sink_runner_options {
    const char *name;          /* the sink's name: its cursor and dead letters use it */
    sink_runner_wants_fn wants; /* NULL: every event */
    void *wants_ctx;
    const char *type_prefix;   /* of the alert.dead_letter type; NULL: "cx.outbound." */
    const char *alert_source;  /* CloudEvents source of alerts; NULL: "campaign-relay" */
    int fetch_batch;           /* records read per outbox query; 0: 512 */
    int max_in_flight;         /* records submitted but not done; 0: 10000 */
    int cursor_interval_ms;    /* 0: 50 */
    int cursor_max_events;     /* 0: 1000 */
    int busy_wait_ms;          /* poll timeout after SINK_BUSY; 0: 20 */
    int backoff_base_ms;       /* after SINK_FAILED; 0: 200 */
    int backoff_max_ms;        /* 0: 30000 */
};

struct sink_runner_metrics {
    int64_t delivered;      /* records the engine reported done */
    int64_t filtered;       /* records the filter dropped */
    int64_t submit_busy;    /* SINK_BUSY answers */
    int64_t submit_failed;  /* SINK_FAILED answers */
    int64_t dead_lettered;
    int64_t replays;        /* needs_replay rewinds */
    int64_t cursor;         /* done point (posted cursor) */
    int64_t lag;            /* committed max seq - cursor */
    uint64_t read_from_memory, read_from_disk; /* records fetched from each (outbox.h) */
    bool failing;           /* inside a streak of failures */
};

struct sink_runner;

struct sink_runner *sink_runner_create(struct outbox *ob,
                                       const struct sink_runner_options *options,
                                       char *errstr, size_t errstr_size);
/* The engine's dead-letter callback; opaque is the runner. */
void sink_runner_dead_letter(void *opaque, int64_t seq, const struct relay_event *event,
                             const char *reason);
/* Takes ownership of the engine (also on failure) and starts the thread. */
int sink_runner_start(struct sink_runner *runner, const struct sink_ops *ops, void *engine,
                      char *errstr, size_t errstr_size);
/* Keeps delivering until caught up with what is committed or grace_ms passed, then
 * posts the final cursor, destroys the engine and joins the thread. */
void sink_runner_stop(struct sink_runner *runner, int grace_ms);
/* Stops (grace 0) if still running and frees. Tolerates NULL. */
void sink_runner_destroy(struct sink_runner *runner);

void sink_runner_get_metrics(struct sink_runner *runner, struct sink_runner_metrics *out);
const char *sink_runner_name(const struct sink_runner *runner);

#endif
