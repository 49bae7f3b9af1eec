/*
 * The consumer: discovery, subscriptions, the notification stream and
 * reconciliation, feeding the campaign cache and turning every change into events.
 *
 * Contract (everything on the lws service loop thread):
 *  - consumer_start() discovers every selected campaign over REST (paged), emits
 *    first-sight events, shards the wanted topics over channels and connects them.
 *    Rediscovery runs every subscriptions.rediscover_interval: new campaigns appear,
 *    removed ones are unsubscribed and reported.
 *  - Every decoded notification goes through the cache: stale and duplicate
 *    versions are dropped and counted; a state transition yields one
 *    campaign.state_changed, a configuration change campaign.config_changed, first
 *    sight origin "snapshot". Every non-heartbeat notification is also audited.
 *  - Whenever a channel's coverage starts or comes back, the consumer reconciles
 *    against REST (origin "reconcile") and, after a loss, emits one
 *    alert.stream_gap saying when coverage was lost and regained and what the
 *    reconciliation found.
 *  - Every applied change also goes to the alerts module (consumer/alerts.h):
 *    transition_invalid, campaign_failed, transition_stuck (timers on the loop, cause
 *    lookups over REST, records kept through output.state_get/state_set) and
 *    active_limit. Alerts judge deadlines only after the first discovery.
 *  - Events leave through the output interface in the order they are produced; the
 *    relay puts them in the outbox.
 *  - REST runs on the platform worker: the relay hands every completion to
 *    consumer_on_completion().
 */
#ifndef CRELAY_CONSUMER_CONSUMER_H
#define CRELAY_CONSUMER_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "config/config.h"
#include "consumer/alerts.h"
#include "consumer/cache.h"
#include "consumer/control.h"
#include "consumer/platform_worker.h"
#include "publishers/event.h"
#include "publishers/events.h"

struct consumer_output {
    /* Takes the event (ownership passes). Returns 0, or -1 when it could not be
     * stored (the outbox is full); the consumer then counts it and reconciles once
     * the relay reports space again. */
    int (*emit)(void *opaque, struct relay_event *event);
    /* Seals an audit event into the relay's hash chain and stores it. The event is
     * borrowed: the caller frees it. An audit event of a frame stays with the frame,
     * which the decode thread frees along with everything else it allocated for it. */
    int (*emit_audit)(void *opaque, const struct relay_event *event);
    /* Small persistent key/value state (channel ids for reuse after restart). */
    char *(*state_get)(void *opaque, const char *key); /* caller frees; NULL if absent */
    void (*state_set)(void *opaque, const char *key, const char *value);
    /* One row of the cache snapshot (json NULL deletes it), written in the same
     * outbox transaction as the events of the change it records, so a restart
     * restores exactly the picture the delivered events describe. */
    void (*snapshot_put)(void *opaque, const char *key, const char *json);
    /* Optional: called with a frame's receipt time (monotonic µs) before the events of
     * that frame are emitted, and with 0 after. */
    void (*frame_context)(void *opaque, int64_t received_us);
    void *opaque;
};

struct consumer_options {
    const struct relay_config *config;
    struct lws_context *context;
    struct platform_worker *worker;
    const struct events_builder *events;
    struct consumer_output output;
    /* Optional wall clock for tests; NULL means time_now_ms. */
    int64_t (*now_ms)(void);
};

struct consumer_counters {
    uint64_t notifications[NOTIFY_KIND_COUNT];
    uint64_t decode_errors;
    uint64_t stale_dropped;
    uint64_t duplicate_dropped;
    uint64_t state_transitions;
    uint64_t invalid_transitions;
    uint64_t config_changes;
    uint64_t events_emitted;
    uint64_t events_refused; /* the outbox was full */
    uint64_t discoveries;
    uint64_t reconciliations;
    uint64_t reconcile_changes;
    uint64_t gaps;
    uint64_t rest_failures;
    uint64_t stats_throttled;
};

struct consumer;

struct consumer *consumer_create(const struct consumer_options *options, char *errstr,
                                 size_t errstr_size);
void consumer_destroy(struct consumer *consumer);

/* Restores the cache from a snapshot saved by an earlier run (before start). */
int consumer_restore(struct consumer *consumer, const char *snapshot, size_t len, char *errstr,
                     size_t errstr_size);
/* Restores from the rows written through output.snapshot_put: feed every row, then
 * finish (all or nothing, like consumer_restore). Rows with other keys are ignored. */
void consumer_restore_row(struct consumer *consumer, const char *key, const char *json);
int consumer_restore_finish(struct consumer *consumer, char *errstr, size_t errstr_size);

void consumer_start(struct consumer *consumer);
/* With stream.decode_thread, frames are decoded on a thread of their own and handled
 * (cache, events, audit) only here, in arrival order: the loop calls this after every
 * service pass (the decode thread wakes the loop with lws_cancel_service when a frame is
 * ready). It waits for the decode thread when it has fallen far behind, or until every
 * frame received so far is handled when all is true (before stopping). Returns the number of
 * frames handled; 0 without a decode thread, where frames are handled as they arrive. */
size_t consumer_deliver_frames(struct consumer *consumer, bool all);
/* Stops reconnecting and closes every socket. */
void consumer_stop(struct consumer *consumer);
void consumer_on_completion(struct consumer *consumer,
                            const struct platform_completion *completion);
/* The outbox has room again after refusing events: reconcile to recover. */
void consumer_resync(struct consumer *consumer);

/* Readiness: every channel connected and the last (re)connection reconciled. */
bool consumer_ready(const struct consumer *consumer, char *why, size_t why_size);
const struct cache *consumer_cache(const struct consumer *consumer);
void consumer_get_counters(const struct consumer *consumer, struct consumer_counters *out);
void consumer_get_alert_counters(const struct consumer *consumer, struct alerts_counters *out);
/* Channel and topic figures for metrics. */
size_t consumer_channels_connected(const struct consumer *consumer);
size_t consumer_channel_count(const struct consumer *consumer);
size_t consumer_topic_count(const struct consumer *consumer);
const struct channel_manager *consumer_channels(const struct consumer *consumer);
/* Campaign control (start/stop commands), for the admin API. */
struct control *consumer_control(struct consumer *consumer);

#endif
