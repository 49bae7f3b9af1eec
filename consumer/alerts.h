/*
 * Campaign alerts: transitions stuck past their dialing mode's tolerance, transitions
 * the lifecycle forbids, campaigns entering FAILED, and the org's count of active
 * campaigns near the platform's cap. The catalogue (types, severities, dedup keys,
 * resolutions, data fields) is docs/alerts.md.
 *
 * Contract (one thread: the stream loop; nothing here blocks):
 *  - alerts_on_change() sees every cache change the consumer applied, right after
 *    the change's own events, and emits what it implies at once: transition_invalid
 *    for a STATE_TRANSITION the graph forbids, campaign_failed on entering FAILED
 *    (also at first sight) and its resolution on leaving. Duplicate and stale
 *    notifications never reach it (the cache drops them), so each fires once.
 *  - A campaign in a transient state (STARTING, PAUSING, STOPPING, or the raw
 *    statuses "stopping"/"forced_stopping" whatever the map says) is watched from the
 *    time it entered that canonical state. At entered + tolerance(dialing mode) one
 *    timer on the lws loop fires (no polling); the module then looks for the cause
 *    over REST through the port (GET campaign, its contact list's import status,
 *    diagnostics; at most ALERTS_MAX_LOOKUPS campaigns at a time, the platform
 *    worker's budget applies) and raises alert.transition_stuck with what it found
 *    once every lookup answered or lookup_timeout_ms passed. When the campaign
 *    leaves the state (or is removed) a raised alert is resolved: the same type and
 *    dedup key with details.resolved = true. A campaign that leaves before its
 *    deadline raises nothing.
 *  - Persistence: each watch is a small record under the state key
 *    "alerts.stuck.<campaign id>" (state, entered time, raised time), written in the
 *    same outbox transaction as the events it goes with. After a restart a raised
 *    alert is not raised again and an unraised one fires at entered + tolerance, also
 *    when the cache snapshot lagged behind the record. Event ids derive from the
 *    campaign id and the entered time, so an at-least-once replay has the same ids.
 *  - alert.active_limit: the count of campaigns in RUNNING, STARTING, PAUSING or
 *    STOPPING is kept on every change; reaching active_warn raises a warning,
 *    active_limit a critical alert, dropping below active_warn resolves it. Its level
 *    is persisted under "alerts.active_limit".
 *  - Nothing is judged before alerts_start(): the consumer calls it once the first
 *    discovery brought the (possibly restored) cache up to date. Until then changes
 *    are tracked, stuck deadlines and the active count wait.
 *  - alerts_sync() re-derives watches and the active count from the whole cache
 *    (after every listing): watches of campaigns no longer in their state end.
 */
#ifndef CRELAY_CONSUMER_ALERTS_H
#define CRELAY_CONSUMER_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "config/config.h"
#include "consumer/cache.h"
#include "consumer/platform_worker.h"
#include "publishers/event.h"
#include "publishers/events.h"

/* Tags of the module's REST lookups carry this bit. */
#define ALERTS_TAG (1ULL << 61)
#define ALERTS_MAX_LOOKUPS 8
#define ALERTS_DEFAULT_LOOKUP_TIMEOUT_MS 10000
#define ALERTS_STATE_PREFIX "alerts.stuck."
#define ALERTS_ACTIVE_LIMIT_KEY "alerts.active_limit"

struct alerts_port {
    /* Takes the event (ownership passes). */
    void (*emit)(void *opaque, struct relay_event *event);
    /* Persistent key/value state; both optional. A cleared record is stored as "". */
    char *(*state_get)(void *opaque, const char *key); /* caller frees; NULL if absent */
    void (*state_set)(void *opaque, const char *key, const char *value);
    /* Queues GET path on the platform worker; 0, or -1 when it was refused. The
     * completion must come back through alerts_on_completion() with the tag. */
    int (*submit_get)(void *opaque, const char *path, uint64_t tag);
    void *opaque;
};

struct alerts_options {
    const struct config_lifecycle *lifecycle; /* tolerances and limits; borrowed */
    const struct events_builder *events;
    const struct cache *cache; /* the consumer's; read only */
    struct alerts_port port;
    /* The loop whose timer fires deadlines; NULL in tests, which call
     * alerts_run_due() themselves. */
    struct lws_context *context;
    int64_t (*now_ms)(void); /* wall clock; NULL means time_now_ms */
    int64_t lookup_timeout_ms; /* 0: ALERTS_DEFAULT_LOOKUP_TIMEOUT_MS */
};

struct alerts_counters {
    uint64_t stuck_raised;
    uint64_t stuck_resolved;
    uint64_t invalid_raised;
    uint64_t failed_raised;
    uint64_t active_limit_raised;
    uint64_t lookups_submitted;
    uint64_t lookups_failed; /* refused, or answered with an error */
    uint64_t lookups_timed_out;
};

struct alerts;

struct alerts *alerts_create(const struct alerts_options *options, char *errstr,
                             size_t errstr_size);
void alerts_destroy(struct alerts *alerts);

/* Starts judging: loads persisted records, syncs with the cache, arms the timer.
 * Idempotent. */
void alerts_start(struct alerts *alerts);
/* Cancels the timer; nothing fires afterwards. */
void alerts_stop(struct alerts *alerts);

void alerts_on_change(struct alerts *alerts, const struct cache_change *change);
/* Call before cache_remove(): a raised stuck alert is resolved, the count drops. */
void alerts_on_removed(struct alerts *alerts, const struct cache_entry *entry);
void alerts_sync(struct alerts *alerts);
void alerts_on_completion(struct alerts *alerts, const struct platform_completion *completion);

/* Fires every deadline that has passed by now (the timer calls it). */
void alerts_run_due(struct alerts *alerts);
/* The earliest pending deadline (wall ms), or 0 when nothing waits. */
int64_t alerts_next_due_ms(const struct alerts *alerts);
/* Campaigns watched in a transient state, and the current active count. */
size_t alerts_watch_count(const struct alerts *alerts);
int alerts_active_count(const struct alerts *alerts);
void alerts_get_counters(const struct alerts *alerts, struct alerts_counters *out);

#endif
