#include "app/relay.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libwebsockets.h>

#include "app/sinks.h"
#include "consumer/consumer.h"
#include "consumer/platform_worker.h"
#include "consumer/stream_conn.h"
#include "publishers/audit.h"
#include "publishers/events.h"
#include "publishers/outbox.h"
#include "util/log.h"
#include "util/timeutil.h"

#define COMPONENT "relay"
#define SNAPSHOT_KEY "campaigns"
#define STATE_PREFIX "consumer."
/* The cache snapshot rides along with a commit at most this often: a crash costs at
 * most this much of cache history, which the post-restart reconciliation re-derives
 * (with the same event ids). */
#define SNAPSHOT_INTERVAL_MS 1000
#define TICK_MS 5

struct relay {
    const struct relay_config *config;
    struct lws_context *context;
    struct outbox *outbox;
    struct audit_chain *audit;
    struct events_builder *events;
    struct platform_worker *worker;
    struct consumer *consumer;
    struct relay_sinks *sinks;
    lws_sorted_usec_list_t tick;
    int64_t last_snapshot_ms;
    bool events_refused; /* the outbox refused events: reconcile once it has room */
    bool outbox_failing;
    atomic_int stop_requests;
    bool stopping;
};

/* ---- consumer output: the outbox -------------------------------------------------- */

static int output_emit(void *opaque, struct relay_event *event)
{
    struct relay *r = opaque;
    char errstr[512];
    int rc = outbox_append(r->outbox, event, NULL, NULL, errstr, sizeof errstr);
    relay_event_free(event);
    if (rc == OUTBOX_OK) {
        r->outbox_failing = false;
        return 0;
    }
    if (!r->events_refused)
        log_error(COMPONENT, "outbox refused an event (%s); the stream will be reconciled "
                             "once there is room", errstr);
    r->events_refused = true;
    return -1;
}

static int output_emit_audit(void *opaque, struct relay_event *event)
{
    struct relay *r = opaque;
    char errstr[512];
    cJSON *data = cJSON_Parse(event->data);
    int rc = OUTBOX_ERROR;
    if (data) {
        rc = audit_chain_append(r->audit, event->id, event->type, event->source,
                                event->subject, event->time_ms, data, NULL, errstr,
                                sizeof errstr);
        cJSON_Delete(data);
    } else {
        snprintf(errstr, sizeof errstr, "audit event data is not JSON");
    }
    relay_event_free(event);
    if (rc == OUTBOX_OK)
        return 0;
    if (!r->events_refused)
        log_error(COMPONENT, "outbox refused an audit event (%s)", errstr);
    r->events_refused = true;
    return -1;
}

static char *output_state_get(void *opaque, const char *key)
{
    struct relay *r = opaque;
    char full[128], errstr[256];
    snprintf(full, sizeof full, STATE_PREFIX "%s", key);
    char *value = NULL;
    if (outbox_meta_get(r->outbox, full, &value, errstr, sizeof errstr) != OUTBOX_OK) {
        log_warn(COMPONENT, "cannot read %s from the outbox: %s", full, errstr);
        return NULL;
    }
    return value;
}

static void output_state_set(void *opaque, const char *key, const char *value)
{
    struct relay *r = opaque;
    char full[128], errstr[256];
    snprintf(full, sizeof full, STATE_PREFIX "%s", key);
    if (outbox_meta_set(r->outbox, full, value, errstr, sizeof errstr) != OUTBOX_OK)
        log_warn(COMPONENT, "cannot store %s in the outbox: %s", full, errstr);
}

/* ---- the loop ---------------------------------------------------------------------- */

static void handle_completion(void *ctx, const struct platform_completion *completion)
{
    struct relay *r = ctx;
    if (!r->stopping)
        consumer_on_completion(r->consumer, completion);
}

static int callback_relay(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len)
{
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        struct relay *r = lws_context_user(lws_get_context(wsi));
        if (r && r->worker)
            platform_worker_drain(r->worker, handle_completion, r);
    }
    return 0;
}

static void wake_loop(void *opaque)
{
    struct relay *r = opaque;
    if (r->context)
        lws_cancel_service(r->context);
}

static void save_snapshot(struct relay *r, int64_t now)
{
    struct strbuf json;
    strbuf_init(&json);
    consumer_snapshot(r->consumer, &json);
    char errstr[512];
    if (outbox_snapshot_put(r->outbox, SNAPSHOT_KEY, strbuf_cstr(&json), errstr, sizeof errstr))
        log_warn(COMPONENT, "cannot store the cache snapshot: %s", errstr);
    strbuf_free(&json);
    r->last_snapshot_ms = now;
}

static void tick(lws_sorted_usec_list_t *sul)
{
    struct relay *r = lws_container_of(sul, struct relay, tick);
    int64_t now = time_mono_ms();
    if (atomic_load(&r->stop_requests) > 0 && !r->stopping) {
        r->stopping = true;
        log_info(COMPONENT, "stopping: closing the stream");
        consumer_stop(r->consumer);
        lws_cancel_service(r->context);
        return;
    }
    if (consumer_snapshot_dirty(r->consumer) && now - r->last_snapshot_ms >= SNAPSHOT_INTERVAL_MS)
        save_snapshot(r, now);
    char errstr[512];
    if (outbox_flush_due(r->outbox, now, errstr, sizeof errstr) != OUTBOX_OK) {
        if (!r->outbox_failing)
            log_error(COMPONENT, "outbox commit failed: %s", errstr);
        r->outbox_failing = true;
        r->events_refused = true;
    }
    if (r->events_refused && !outbox_full(r->outbox) && outbox_pending(r->outbox) == 0) {
        /* Events were lost on the way in: the cache moved on without them reaching
         * the outbox. A reconciliation re-derives what consumers missed. */
        r->events_refused = false;
        log_info(COMPONENT, "outbox has room again; reconciling");
        consumer_resync(r->consumer);
    }
    lws_sul_schedule(r->context, 0, &r->tick, tick, TICK_MS * LWS_US_PER_MS);
}

/* ---- create / run / destroy --------------------------------------------------------- */

static const struct lws_protocols relay_protocols[] = {
    {"campaign-relay", callback_relay, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void restore_snapshot(void *opaque, const char *key, const char *json)
{
    struct relay *r = opaque;
    if (strcmp(key, SNAPSHOT_KEY) != 0)
        return;
    char errstr[256];
    if (consumer_restore(r->consumer, json, strlen(json), errstr, sizeof errstr))
        log_warn(COMPONENT, "ignoring the stored cache snapshot: %s", errstr);
    else
        log_info(COMPONENT, "restored %zu campaign(s) from the outbox",
                 cache_count(consumer_cache(r->consumer)));
}

struct relay *relay_create(const struct relay_config *config, char *errstr, size_t errstr_size)
{
    struct relay *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->config = config;

    struct outbox_options ob = {
        .path = config->outbox.path,
        .max_bytes = config->outbox.max_bytes,
        .high_water = config->outbox.high_water,
        .commit_interval_ms = config->outbox.commit_interval_ms,
        .commit_max_events = config->outbox.commit_max_events,
        .synchronous_full = config->outbox.synchronous_full,
    };
    r->outbox = outbox_create(&ob, errstr, errstr_size);
    if (!r->outbox)
        goto fail;
    r->audit = audit_chain_create(r->outbox, errstr, errstr_size);
    if (!r->audit)
        goto fail;
    r->events = events_builder_create(config->events.type_prefix, config->events.source_domain);
    if (!r->events) {
        snprintf(errstr, errstr_size, "cannot create the event builder");
        goto fail;
    }

    r->sinks = relay_sinks_create(config, r->outbox, errstr, errstr_size);
    if (!r->sinks)
        goto fail;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = relay_protocols;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = r;
    info.gid = -1;
    info.uid = -1;
    static const struct lws_protocols *pprotocols[] = {&relay_protocols[0],
                                                       &stream_conn_protocol, NULL};
    info.pprotocols = pprotocols;
    info.protocols = NULL;
    lws_set_log_level(LLL_ERR, NULL);
    r->context = lws_create_context(&info);
    if (!r->context) {
        snprintf(errstr, errstr_size, "cannot create the libwebsockets context");
        goto fail;
    }

    struct platform_worker_options wo;
    memset(&wo, 0, sizeof wo);
    wo.platform.api_url = config->platform.api_url;
    wo.platform.login_url = config->platform.login_url;
    wo.platform.client_id = config->platform.client_id;
    wo.platform.client_secret = config->platform.client_secret;
    wo.platform.request_timeout_ms = (int)config->platform.request_timeout_ms;
    wo.platform.token_refresh_margin_s = (int)(config->platform.token_refresh_margin_ms / 1000);
    wo.platform.budget_per_minute = config->platform.rest_budget_per_minute;
    wo.wake = wake_loop;
    wo.wake_opaque = r;
    r->worker = platform_worker_create(&wo, errstr, errstr_size);
    if (!r->worker)
        goto fail;

    struct consumer_options co = {
        .config = config,
        .context = r->context,
        .worker = r->worker,
        .events = r->events,
        .output = {
            .emit = output_emit,
            .emit_audit = output_emit_audit,
            .state_get = output_state_get,
            .state_set = output_state_set,
            .opaque = r,
        },
    };
    r->consumer = consumer_create(&co, errstr, errstr_size);
    if (!r->consumer)
        goto fail;
    char snap_err[256];
    if (outbox_snapshot_load(r->outbox, restore_snapshot, r, snap_err, sizeof snap_err))
        log_warn(COMPONENT, "cannot read the stored cache snapshot: %s", snap_err);
    return r;

fail:
    relay_destroy(r);
    return NULL;
}

void relay_request_stop(struct relay *r)
{
    atomic_fetch_add(&r->stop_requests, 1);
}

int relay_run(struct relay *r)
{
    log_info(COMPONENT, "starting: platform %s, outbox %s", r->config->platform.api_url,
             r->config->outbox.path);
    if (relay_sinks_start(r->sinks) != 0)
        return 1;
    consumer_start(r->consumer);
    lws_sul_schedule(r->context, 0, &r->tick, tick, TICK_MS * LWS_US_PER_MS);

    while (!r->stopping) {
        if (lws_service(r->context, 0) < 0)
            break;
        if (atomic_load(&r->stop_requests) > 0 && !r->stopping)
            tick(&r->tick);
    }
    if (atomic_load(&r->stop_requests) > 1)
        return 1;
    /* Let the sockets close cleanly and the last REST results arrive. */
    int64_t until = time_mono_ms() + 200;
    while (time_mono_ms() < until && atomic_load(&r->stop_requests) < 2)
        lws_service(r->context, 0);
    lws_sul_cancel(&r->tick);

    char errstr[512];
    if (consumer_snapshot_dirty(r->consumer))
        save_snapshot(r, time_mono_ms());
    if (outbox_flush(r->outbox, errstr, sizeof errstr) != OUTBOX_OK)
        log_error(COMPONENT, "final outbox commit failed: %s", errstr);
    int64_t committed = outbox_committed_seq(r->outbox);
    log_info(COMPONENT, "draining sinks up to event %lld (grace %lld ms)", (long long)committed,
             (long long)r->config->shutdown.grace_ms);
    relay_sinks_stop(r->sinks, r->config->shutdown.grace_ms, &r->stop_requests);
    log_info(COMPONENT, "stopped");
    return 0;
}

void relay_destroy(struct relay *r)
{
    if (!r)
        return;
    if (r->worker)
        platform_worker_stop(r->worker, 1000);
    consumer_destroy(r->consumer);
    if (r->context)
        lws_context_destroy(r->context);
    platform_worker_destroy(r->worker);
    relay_sinks_destroy(r->sinks);
    audit_chain_destroy(r->audit);
    events_builder_destroy(r->events);
    outbox_destroy(r->outbox);
    free(r);
}
