/*
 * Campaign control through the live cache: state-gated start and stop commands.
 *
 * Contract (everything on the lws service loop thread; time comes in as arguments):
 *  - control_submit() answers at once. It refuses (with an HTTP-style status and a
 *    reason naming the campaign's state) a command for an unknown campaign, for a
 *    campaign in a transient state (STARTING, STOPPING, PAUSING, raw stopping or
 *    forced_stopping) or with a command already in flight; it succeeds without any
 *    platform call when the command is already satisfied (start of an `on`
 *    campaign); it refuses what the pre-flight checks forbid (contact list
 *    importing, the org at the active-campaign limit, the dialer without line
 *    headroom) unless the request overrides that check with a recorded reason.
 *    Otherwise it queues the command and returns its id.
 *  - Commands are grouped by dialer (edge group, else site) with at most
 *    max_concurrent_per_dialer in flight per group; the others wait in priority
 *    order (campaign priority, highest first; then arrival). Never more than one
 *    command per campaign.
 *  - The platform call is POST …/start|stop; where that answers 404, GET the
 *    campaign and PUT it back with the new campaignStatus and its version, re-GETting
 *    on 409 up to max_put_retries times. 429s are the platform client's business
 *    (Retry-After through the shared budget): they delay, never fail, a command.
 *  - Completion is seen on the stream (control_on_campaign()): `succeeded` when the
 *    campaign reaches the target (start: on; stop: off, forced_off or complete),
 *    `failed` when it goes invalid or the platform refuses, `timed_out` after the
 *    dialing mode's tolerance. Only while the stream is down does control_tick()
 *    poll the campaign with budgeted, jittered GETs.
 *  - Every accepted or refused command and every outcome is an audit.action event
 *    (who, why, what was checked, what the platform answered, how long it took).
 */
#ifndef CRELAY_CONSUMER_CONTROL_H
#define CRELAY_CONSUMER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "consumer/cache.h"
#include "publishers/event.h"
#include "publishers/events.h"
#include "util/strbuf.h"

/* Tags of control's REST jobs carry this bit (the consumer routes them here). */
#define CONTROL_TAG (1ULL << 60)

enum control_action { CONTROL_START = 0, CONTROL_STOP };

/* Pre-flight checks a request may override (with a reason that is audited). */
enum control_check {
    CONTROL_CHECK_IMPORT = 1 << 0,       /* the contact list is not importing */
    CONTROL_CHECK_ACTIVE_LIMIT = 1 << 1, /* the org stays under the active limit */
    CONTROL_CHECK_HEADROOM = 1 << 2,     /* the dialer has line headroom */
};

struct control_request {
    const char *campaign_id;
    enum control_action action;
    const char *reason;       /* optional */
    const char *requested_by; /* optional */
    unsigned overrides;       /* enum control_check bits */
    const char *override_reason;
};

struct control_answer {
    int http_status;      /* 202 accepted, 200 already satisfied, 404, 409, 422 */
    char command_id[40];  /* set for 200 and 202 */
    char reason[512];     /* why it was refused, or what was decided */
};

struct control_port {
    /* Queues a REST call (the platform worker); its completion comes back through
     * control_on_completion() with the same tag. Returns 0 or -1. */
    int (*submit)(void *opaque, const char *method, const char *path, const char *body,
                  uint64_t tag);
    /* Seals an audit event into the relay's chain; borrowed (the caller frees it). */
    int (*emit_audit)(void *opaque, const struct relay_event *event);
    /* True while every channel is connected (completion is then seen on the stream). */
    bool (*stream_healthy)(void *opaque);
    void *opaque;
};

struct control_options {
    const struct relay_config *config; /* control.*, lifecycle tolerances and limits */
    const struct cache *cache;
    const struct events_builder *events; /* type prefix and source domain */
    struct control_port port;
    int64_t poll_interval_ms; /* fallback GETs while the stream is down; 0: 10000 */
    size_t keep_finished;     /* finished commands kept for GET /v1/commands; 0: 1000 */
};

struct control;

struct control *control_create(const struct control_options *options, char *errstr,
                               size_t errstr_size);
void control_destroy(struct control *control);

void control_submit(struct control *control, const struct control_request *request,
                    int64_t now_ms, struct control_answer *answer);

/* A cache entry changed (any accepted update): commands waiting for it advance. */
void control_on_campaign(struct control *control, const struct cache_entry *entry,
                         int64_t now_ms);
/* Dialer statistics: lines utilisation of a campaign (0..1). */
void control_on_lines_utilization(struct control *control, const char *campaign_id,
                                  double utilization, int64_t now_ms);
void control_on_completion(struct control *control, uint64_t tag, long status,
                           const char *body, const char *error, int64_t now_ms);
/* Timeouts, queued commands, fallback polling. Call every few hundred ms. */
void control_tick(struct control *control, int64_t now_ms);

/* The command as JSON (GET /v1/commands/{id}); false when unknown. */
bool control_command_json(const struct control *control, const char *command_id,
                          struct strbuf *out);
/* Commands in flight or queued. */
size_t control_active_count(const struct control *control);

const char *control_action_name(enum control_action action);

#endif
