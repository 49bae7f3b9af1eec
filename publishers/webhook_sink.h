/*
 * The webhook sink engine: delivers events to one HTTP endpoint as signed CloudEvents.
 *
 * One engine per configured endpoint, driven by its own sink runner thread through
 * webhook_sink_ops (publishers/sink.h), so a failing endpoint never stalls other sinks.
 *
 * Contract:
 *  - Each event is POSTed as CloudEvents structured JSON (application/cloudevents+json)
 *    signed per Standard Webhooks (publishers/webhook_sign.h): webhook-id is the event id
 *    (stable across retries), webhook-timestamp the unix seconds of the attempt.
 *  - Ordering: an event is never sent while an earlier event with the same subject is in
 *    flight or waiting to retry; other subjects proceed, up to `concurrency` requests.
 *  - Outcomes: 2xx is delivered. 408, 429, other 5xx, 1xx/3xx, timeouts and transport
 *    errors are retried with full-jitter exponential backoff
 *      delay = random(0, min(backoff_max, backoff_min * 2^(failures-1)))
 *    but never sooner than a Retry-After header asks (seconds or HTTP date). Any other 4xx
 *    goes to the dead-letter callback at once. 410 Gone disables the endpoint: every
 *    pending record, and every record submitted afterwards, is dead-lettered with reason
 *    "endpoint gone (410)", and webhook_sink_take_gone_alert() reports it once. A record
 *    that failed max_attempts times is dead-lettered with its last error as reason.
 *  - poll() returns the highest seq S with every submitted record <= S delivered or
 *    dead-lettered (-1 before the first); it returns early once S advances. Dead-letter
 *    and latency callbacks run inside poll(), on the runner thread.
 *  - submit() requires strictly increasing seq and answers SINK_BUSY while the engine
 *    holds max_pending records not yet acknowledged by poll().
 *  - webhook_sink_get_stats() and webhook_sink_take_gone_alert() may be called from any
 *    thread; everything else from the runner thread. Destroying an engine abandons what
 *    is pending (the runner replays it from its cursor).
 */
#ifndef CRELAY_PUBLISHERS_WEBHOOK_SINK_H
#define CRELAY_PUBLISHERS_WEBHOOK_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "publishers/sink.h"

#define WEBHOOK_SINK_DEFAULT_TIMEOUT_MS     10000
#define WEBHOOK_SINK_DEFAULT_CONCURRENCY    4
#define WEBHOOK_SINK_DEFAULT_MAX_ATTEMPTS   10
#define WEBHOOK_SINK_DEFAULT_BACKOFF_MIN_MS 500
#define WEBHOOK_SINK_DEFAULT_BACKOFF_MAX_MS 60000
#define WEBHOOK_SINK_DEFAULT_MAX_PENDING    10000

/* Called on the runner thread when a record got its 2xx; latency is submit to 2xx. */
typedef void (*webhook_latency_fn)(void *opaque, int64_t seq, int64_t latency_ms);

struct webhook_sink_options {
    const char *name;                /* for logs and metrics labels */
    const char *url;                 /* http:// or https:// */
    const char *const *secrets;      /* "whsec_<base64>" keys; several while rotating */
    size_t secret_count;
    const char *const *headers;      /* extra request headers, "Name: value" */
    size_t header_count;
    int request_timeout_ms;          /* whole request, connect included */
    int concurrency;                 /* requests in flight at most */
    int max_attempts;                /* attempts per record before dead-lettering */
    int backoff_min_ms;
    int backoff_max_ms;
    size_t max_pending;              /* records held before submit() says SINK_BUSY */
    sink_dead_letter_fn dead_letter; /* required */
    void *dead_letter_opaque;
    webhook_latency_fn on_latency;   /* optional */
    void *latency_opaque;
};

struct webhook_sink_stats {
    uint64_t delivered;        /* records acknowledged with 2xx */
    uint64_t retried;          /* retries scheduled */
    uint64_t failed_attempts;  /* attempts that did not end in 2xx */
    uint64_t dead_lettered;
    uint64_t in_flight;        /* requests currently open */
    uint64_t pending;          /* records held, not yet acknowledged */
    int last_status;           /* HTTP status of the last completed attempt, 0 for none */
    bool disabled;             /* the endpoint answered 410 Gone */
    int64_t last_latency_ms;   /* submit to 2xx of the latest delivery */
    int64_t max_latency_ms;
};

/* Fills the defaults above; name, url, secrets and dead_letter are left for the caller. */
void webhook_sink_options_init(struct webhook_sink_options *options);

/* Copies everything it keeps from options. Returns NULL with errstr saying which option is
 * wrong (bad URL, malformed secret or header, non-positive limit). */
struct webhook_sink *webhook_sink_create(const struct webhook_sink_options *options,
                                         char *errstr, size_t errstr_size);
void webhook_sink_destroy(struct webhook_sink *sink);

enum sink_submit_result webhook_sink_submit(struct webhook_sink *sink, int64_t seq,
                                            const struct relay_event *event, char *errstr,
                                            size_t errstr_size);
int64_t webhook_sink_poll(struct webhook_sink *sink, int timeout_ms);

void webhook_sink_get_stats(struct webhook_sink *sink, struct webhook_sink_stats *out);
/* True once after the endpoint was disabled by a 410, so the alert is raised once. */
bool webhook_sink_take_gone_alert(struct webhook_sink *sink);

/* The sink_ops table; the engine pointer is a struct webhook_sink *. */
extern const struct sink_ops webhook_sink_ops;

#endif
