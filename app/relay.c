#include "app/relay.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <libwebsockets.h>

#include "app/admin.h"
#include "app/metrics.h"
#include "app/reload.h"
#include "app/sinks.h"
#include "app/views.h"
#include "consumer/consumer.h"
#include "consumer/platform_worker.h"
#include "consumer/stream_conn.h"
#include "publishers/audit.h"
#include "publishers/events.h"
#include "publishers/outbox.h"
#include "util/log.h"
#include "util/timeutil.h"

#define COMPONENT "relay"
/* The single-row snapshot of earlier versions: read once for upgrades, then dropped. */
#define LEGACY_SNAPSHOT_KEY "campaigns"
#define STATE_PREFIX "consumer."
#define TICK_MS 5
/* Webhooks disabled by a 410 are looked for this often. */
#define GONE_CHECK_MS 250
/* Receive times kept for end-to-end latency: a sink further behind than this many
 * events is not measured (its deliveries are not in the histogram). */
#define RECEIPTS_CAPACITY 65536
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_CONTENT_TYPE "application/json"

enum pressure_news { PRESSURE_NONE = 0, PRESSURE_RAISED, PRESSURE_CLEARED };

struct relay {
    const struct relay_config *config;   /* as started: what everything but the sinks uses */
    struct relay_config *reloaded;       /* the last configuration applied by a reload */
    char *config_path;
    int64_t grace_ms;
    struct lws_context *context;
    const struct lws_protocols *pprotocols[3];
    struct admin_server *admin;
    struct metrics_receipts *receipts;
    int64_t frame_received_us; /* while a stream frame is being handled; else 0 (set
                                * through the consumer's frame_context) */
    struct outbox *outbox;
    struct audit_chain *audit;
    struct events_builder *events;
    struct platform_worker *worker;
    struct consumer *consumer;
    struct relay_sinks *sinks;
    lws_sorted_usec_list_t tick;
    lws_sorted_usec_list_t commit_timer; /* armed while a batch is open: its due time */
    int64_t commit_timer_due_ms;         /* when it fires (monotonic); 0: not armed */
    bool events_refused; /* the outbox refused events: reconcile once it has room */
    bool outbox_failing;
    atomic_int stop_requests;
    atomic_int reload_requests;
    int reloads_seen;
    bool stopping;
    /* Outbox pressure news from whichever thread saw the flag change. */
    atomic_int pressure_news;
    _Atomic int64_t pressure_used_bytes;
    int64_t last_gone_check_ms;
    int64_t started_wall_ms;
    uint64_t alerts_raised;
    uint64_t reloads_ok, reloads_failed;
};

/* ---- consumer output: the outbox -------------------------------------------------- */

static int output_emit(void *opaque, struct relay_event *event)
{
    struct relay *r = opaque;
    char errstr[512];
    int64_t seq = 0;
    int rc = outbox_append(r->outbox, event, NULL, &seq, errstr, sizeof errstr);
    relay_event_free(event);
    if (rc == OUTBOX_OK) {
        r->outbox_failing = false;
        if (r->frame_received_us > 0)
            metrics_receipts_record(r->receipts, seq, r->frame_received_us);
        return 0;
    }
    if (!r->events_refused)
        log_error(COMPONENT, "outbox refused an event (%s); the stream will be reconciled "
                             "once there is room", errstr);
    r->events_refused = true;
    return -1;
}

static void output_frame_context(void *opaque, int64_t received_us)
{
    struct relay *r = opaque;
    r->frame_received_us = received_us;
}

static int output_emit_audit(void *opaque, const struct relay_event *event)
{
    struct relay *r = opaque;
    char errstr[512];
    int64_t seq = 0;
    /* Sealed from the builder's text: the canonical form is computed without parsing
     * the data back into a tree. */
    int rc = audit_chain_append_event(r->audit, event, &seq, errstr, sizeof errstr);
    if (rc == OUTBOX_OK) {
        if (r->frame_received_us > 0)
            metrics_receipts_record(r->receipts, seq, r->frame_received_us);
        return 0;
    }
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

/* One cache row per campaign (or contact list), in the same transaction as the events
 * of the change: after a crash the restored cache is exactly what the committed events
 * say, so reconciliation finds every change made while the relay was down. */
static void output_snapshot_put(void *opaque, const char *key, const char *json)
{
    struct relay *r = opaque;
    char errstr[512];
    if (outbox_snapshot_put(r->outbox, key, json, errstr, sizeof errstr) != OUTBOX_OK) {
        if (!r->events_refused)
            log_error(COMPONENT, "cannot store the cache row %s (%s); the stream will be "
                                 "reconciled once there is room", key, errstr);
        r->events_refused = true;
    }
}

/* ---- alerts the relay raises itself ---------------------------------------------- */

static void raise_alert(struct relay *r, const char *name, enum events_severity severity,
                        const char *dedup_key, const char *occurrence, const char *summary,
                        const char *details_json)
{
    struct events_alert alert = {
        .name = name,
        .severity = severity,
        .dedup_key = dedup_key,
        .occurrence = occurrence,
        .summary = summary,
        .details_json = details_json,
        .raised_ms = time_now_ms(),
    };
    char errstr[512];
    struct relay_event *event = events_alert(r->events, &alert, errstr, sizeof errstr);
    if (!event) {
        log_error(COMPONENT, "cannot build alert.%s: %s", name, errstr);
        return;
    }
    int rc = outbox_append(r->outbox, event, NULL, NULL, errstr, sizeof errstr);
    relay_event_free(event);
    if (rc != OUTBOX_OK) {
        log_error(COMPONENT, "cannot store alert.%s (%s): %s", name, summary, errstr);
        return;
    }
    r->alerts_raised++;
    log_warn(COMPONENT, "alert.%s: %s", name, summary);
}

/* Outbox maintenance or the writer saw the pressure flag change: note it for the loop,
 * which raises the alert (the callback may run inside an outbox call). */
static void on_outbox_pressure(void *opaque, bool pressured, int64_t used_bytes,
                               int64_t max_bytes)
{
    struct relay *r = opaque;
    atomic_store(&r->pressure_used_bytes, used_bytes);
    atomic_store(&r->pressure_news, pressured ? PRESSURE_RAISED : PRESSURE_CLEARED);
}

static void report_pressure(struct relay *r)
{
    int news = atomic_exchange(&r->pressure_news, PRESSURE_NONE);
    if (news == PRESSURE_NONE)
        return;
    int64_t used = atomic_load(&r->pressure_used_bytes);
    int64_t max = r->config->outbox.max_bytes;
    double percent = max > 0 ? 100.0 * (double)used / (double)max : 0.0;
    char occurrence[32], summary[256], details[256];
    snprintf(occurrence, sizeof occurrence, "%llu%s",
             (unsigned long long)outbox_pressure_episodes(r->outbox),
             news == PRESSURE_RAISED ? "" : "-resolved");
    snprintf(details, sizeof details,
             "{\"state\":\"%s\",\"usedBytes\":%lld,\"maxBytes\":%lld,\"highWater\":%g}",
             news == PRESSURE_RAISED ? "raised" : "resolved", (long long)used, (long long)max,
             r->config->outbox.high_water);
    if (news == PRESSURE_RAISED)
        snprintf(summary, sizeof summary,
                 "Outbox at %.0f%% of its disk budget (high-water mark %.0f%%): a sink is "
                 "behind", percent, r->config->outbox.high_water * 100.0);
    else
        snprintf(summary, sizeof summary, "Outbox back below its high-water mark (%.0f%%)",
                 percent);
    raise_alert(r, "outbox_pressure",
                news == PRESSURE_RAISED ? EVENTS_SEVERITY_CRITICAL : EVENTS_SEVERITY_INFO,
                "outbox_pressure", occurrence, summary, details);
}

static void report_webhook_disabled(void *ctx, const char *sink, const char *url)
{
    struct relay *r = ctx;
    char summary[512], occurrence[32];
    struct strbuf details;
    strbuf_init(&details);
    strbuf_append(&details, "{\"sink\":");
    strbuf_append_json_string(&details, sink);
    strbuf_append(&details, ",\"url\":");
    strbuf_append_json_string(&details, url);
    strbuf_append(&details, ",\"status\":410}");
    snprintf(summary, sizeof summary,
             "Webhook %s answered 410 Gone: the endpoint is disabled and its events are "
             "dead-lettered until the configuration is fixed and reloaded", sink);
    snprintf(occurrence, sizeof occurrence, "%lld", (long long)time_now_ms());
    raise_alert(r, "webhook_disabled", EVENTS_SEVERITY_CRITICAL, sink, occurrence, summary,
                strbuf_cstr(&details));
    strbuf_free(&details);
}

/* ---- readiness and the admin endpoints ---------------------------------------------- */

static bool check_ready(struct relay *r, struct strbuf *report)
{
    bool ready = true;
    char why[256];
    if (r->stopping) {
        strbuf_append(report, "relay: shutting down\n");
        ready = false;
    }
    if (consumer_ready(r->consumer, why, sizeof why)) {
        strbuf_appendf(report, "stream: ok (%zu channel(s) connected, %zu topic(s))\n",
                       consumer_channels_connected(r->consumer),
                       consumer_topic_count(r->consumer));
    } else {
        strbuf_appendf(report, "stream: %s\n", why);
        ready = false;
    }
    if (!relay_sinks_delivering(r->sinks, time_mono_ms(), report))
        ready = false;
    int64_t used = outbox_used_bytes(r->outbox);
    int64_t max = r->config->outbox.max_bytes;
    double percent = max > 0 ? 100.0 * (double)used / (double)max : 0.0;
    if (r->outbox_failing) {
        strbuf_append(report, "outbox: commits are failing (see the log)\n");
        ready = false;
    } else if (outbox_full(r->outbox)) {
        strbuf_appendf(report, "outbox: full (%.0f%% of max_bytes): events are refused\n",
                       percent);
        ready = false;
    } else if (outbox_pressure(r->outbox)) {
        strbuf_appendf(report, "outbox: above its high-water mark (%.0f%% of max_bytes)\n",
                       percent);
        ready = false;
    } else {
        strbuf_appendf(report, "outbox: ok (%.0f%% of max_bytes)\n", percent);
    }
    return ready;
}

static void serve_healthz(void *opaque, const struct admin_request *request,
                          struct admin_response *response)
{
    strbuf_append(&response->body, "ok\n");
}

static void serve_readyz(void *opaque, const struct admin_request *request,
                         struct admin_response *response)
{
    struct relay *r = opaque;
    struct strbuf report;
    strbuf_init(&report);
    bool ready = check_ready(r, &report);
    response->status = ready ? 200 : 503;
    strbuf_append(&response->body, ready ? "ready\n" : "not ready\n");
    strbuf_append(&response->body, strbuf_cstr(&report));
    strbuf_free(&report);
}

static void serve_metrics(void *opaque, const struct admin_request *request,
                          struct admin_response *response)
{
    struct relay *r = opaque;
    struct strbuf ignored;
    strbuf_init(&ignored);
    struct views_sources sources = {
        .consumer = r->consumer,
        .worker = r->worker,
        .outbox = r->outbox,
        .outbox_max_bytes = r->config->outbox.max_bytes,
        .sinks = r->sinks,
        .ready = check_ready(r, &ignored),
        .alerts_raised = r->alerts_raised,
        .reloads_ok = r->reloads_ok,
        .reloads_failed = r->reloads_failed,
        .started_wall_ms = r->started_wall_ms,
    };
    strbuf_free(&ignored);
    response->content_type = METRICS_CONTENT_TYPE;
    views_metrics(&sources, &response->body);
}

static void serve_campaigns(void *opaque, const struct admin_request *request,
                            struct admin_response *response)
{
    struct relay *r = opaque;
    static const char prefix[] = "/v1/campaigns/";
    const char *id = strncmp(request->path, prefix, sizeof prefix - 1) == 0
                         ? request->path + sizeof prefix - 1
                         : NULL;
    response->content_type = JSON_CONTENT_TYPE;
    if (id && !id[0])
        id = NULL;
    if (!views_campaigns(consumer_cache(r->consumer), id, &response->body))
        response->status = 404;
}

static void json_error(struct admin_response *response, int status, const char *message)
{
    response->status = status;
    response->content_type = JSON_CONTENT_TYPE;
    strbuf_reset(&response->body);
    strbuf_append(&response->body, "{\"error\":");
    strbuf_append_json_string(&response->body, message);
    strbuf_append(&response->body, "}\n");
}

static unsigned parse_overrides(const cJSON *list, char *bad, size_t bad_size)
{
    unsigned overrides = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        const char *name = cJSON_IsString(item) ? item->valuestring : "";
        if (strcmp(name, "contact_list_import") == 0)
            overrides |= CONTROL_CHECK_IMPORT;
        else if (strcmp(name, "active_limit") == 0)
            overrides |= CONTROL_CHECK_ACTIVE_LIMIT;
        else if (strcmp(name, "dialer_headroom") == 0)
            overrides |= CONTROL_CHECK_HEADROOM;
        else if (!bad[0])
            snprintf(bad, bad_size, "%s", name[0] ? name : "(not a string)");
    }
    return overrides;
}

/* POST /v1/campaigns/{id}/start|stop {"reason","requestedBy","overrides":[…],"overrideReason"} */
static void serve_command(void *opaque, const struct admin_request *request,
                          struct admin_response *response)
{
    struct relay *r = opaque;
    static const char prefix[] = "/v1/campaigns/";
    char id[128];
    char verb[16];
    const char *rest = request->path + sizeof prefix - 1;
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) >= sizeof id || slash == rest ||
        strlen(slash + 1) >= sizeof verb) {
        json_error(response, 404, "use POST /v1/campaigns/{id}/start or /v1/campaigns/{id}/stop");
        return;
    }
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    snprintf(verb, sizeof verb, "%s", slash + 1);
    enum control_action action;
    if (strcmp(verb, "start") == 0)
        action = CONTROL_START;
    else if (strcmp(verb, "stop") == 0)
        action = CONTROL_STOP;
    else {
        json_error(response, 404, "use POST /v1/campaigns/{id}/start or /v1/campaigns/{id}/stop");
        return;
    }
    cJSON *body = request->body_len ? cJSON_ParseWithLength(request->body, request->body_len)
                                    : cJSON_CreateObject();
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        json_error(response, 400,
                   "the body must be a JSON object: {\"reason\":…,\"requestedBy\":…,"
                   "\"overrides\":[…],\"overrideReason\":…}");
        return;
    }
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(body, "requestedBy");
    const cJSON *overrides = cJSON_GetObjectItemCaseSensitive(body, "overrides");
    const cJSON *override_reason = cJSON_GetObjectItemCaseSensitive(body, "overrideReason");
    char bad[64] = "";
    struct control_request req = {
        .campaign_id = id,
        .action = action,
        .reason = cJSON_IsString(reason) ? reason->valuestring : NULL,
        .requested_by = cJSON_IsString(by) ? by->valuestring : NULL,
        .overrides = parse_overrides(overrides, bad, sizeof bad),
        .override_reason = cJSON_IsString(override_reason) ? override_reason->valuestring : NULL,
    };
    if (bad[0]) {
        char message[160];
        snprintf(message, sizeof message, "unknown override \"%s\": use contact_list_import, "
                                          "active_limit or dialer_headroom", bad);
        json_error(response, 400, message);
        cJSON_Delete(body);
        return;
    }
    struct control_answer answer;
    control_submit(consumer_control(r->consumer), &req, time_now_ms(), &answer);
    cJSON_Delete(body);
    response->status = answer.http_status;
    response->content_type = JSON_CONTENT_TYPE;
    strbuf_append(&response->body, "{");
    if (answer.command_id[0]) {
        strbuf_append(&response->body, "\"commandId\":");
        strbuf_append_json_string(&response->body, answer.command_id);
        strbuf_append_char(&response->body, ',');
    }
    strbuf_append(&response->body, "\"reason\":");
    strbuf_append_json_string(&response->body, answer.reason);
    const struct cache_entry *e = cache_get(consumer_cache(r->consumer), id);
    if (e) {
        strbuf_appendf(&response->body, ",\"state\":\"%s\",\"status\":",
                       lifecycle_state_name(e->state));
        strbuf_append_json_string(&response->body, e->raw_status);
    }
    strbuf_append(&response->body, "}\n");
}

static void serve_command_status(void *opaque, const struct admin_request *request,
                                 struct admin_response *response)
{
    struct relay *r = opaque;
    static const char prefix[] = "/v1/commands/";
    const char *id = request->path + sizeof prefix - 1;
    response->content_type = JSON_CONTENT_TYPE;
    if (!control_command_json(consumer_control(r->consumer), id, &response->body)) {
        json_error(response, 404, "no such command (finished commands are kept for a while)");
        return;
    }
    strbuf_append_char(&response->body, '\n');
}

static const struct admin_route admin_routes[] = {
    {"/healthz", false, true, serve_healthz, false},
    {"/readyz", false, true, serve_readyz, false},
    {"/metrics", false, false, serve_metrics, false},
    {"/v1/campaigns", false, false, serve_campaigns, false},
    {"/v1/campaigns/", true, false, serve_campaigns, false},
    {"/v1/campaigns/", true, false, serve_command, true},
    {"/v1/commands/", true, false, serve_command_status, false},
};

/* ---- reload --------------------------------------------------------------------------- */

static void reload_configuration(struct relay *r)
{
    char errstr[8192];
    struct relay_config *loaded = config_load_file(r->config_path, errstr, sizeof errstr);
    if (!loaded) {
        r->reloads_failed++;
        log_error(COMPONENT, "reload: %s does not load; still running with the previous "
                             "configuration:\n%s", r->config_path, errstr);
        return;
    }
    struct strbuf changes, restart;
    strbuf_init(&changes);
    strbuf_init(&restart);
    if (relay_sinks_reload(r->sinks, loaded, &changes, errstr, sizeof errstr) != 0) {
        r->reloads_failed++;
        log_error(COMPONENT, "reload: %s; still running with the previous configuration",
                  errstr);
        config_destroy(loaded);
        strbuf_free(&changes);
        strbuf_free(&restart);
        return;
    }
    r->reloads_ok++;
    log_set_level(loaded->log.level);
    log_set_format(loaded->log.format);
    r->grace_ms = loaded->shutdown.grace_ms;
    log_info(COMPONENT, "reload: applied %s (sinks: %s; log level %s, shutdown grace %lld ms)",
             r->config_path, changes.len ? strbuf_cstr(&changes) : "unchanged",
             log_level_name(loaded->log.level), (long long)r->grace_ms);
    if (reload_restart_keys(r->config, loaded, &restart) > 0)
        log_warn(COMPONENT, "reload: these settings changed but need a restart to take "
                            "effect (the old values stay in use): %s", strbuf_cstr(&restart));
    config_destroy(r->reloaded);
    r->reloaded = loaded;
    strbuf_free(&changes);
    strbuf_free(&restart);
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

static void commit_if_due(struct relay *r, int64_t now)
{
    char errstr[512];
    if (outbox_flush_due(r->outbox, now, errstr, sizeof errstr) != OUTBOX_OK) {
        if (!r->outbox_failing)
            log_error(COMPONENT, "outbox commit failed: %s", errstr);
        r->outbox_failing = true;
        r->events_refused = true;
    }
}

static void commit_timer_fired(lws_sorted_usec_list_t *sul)
{
    struct relay *r = lws_container_of(sul, struct relay, commit_timer);
    r->commit_timer_due_ms = 0;
    commit_if_due(r, time_mono_ms());
}

/* After each service pass: commits a due batch, or arms a timer for the moment the open
 * batch falls due, so a batch waits commit_interval and not up to a tick more. A batch's
 * due time does not move, so the timer is only touched when it changes (service passes
 * come thousands of times a second under load). */
static void schedule_commit(struct relay *r)
{
    int64_t now = time_mono_ms();
    int64_t due_in = outbox_commit_due_in_ms(r->outbox, now);
    if (due_in == 0) {
        commit_if_due(r, now);
        due_in = outbox_commit_due_in_ms(r->outbox, now);
    }
    if (due_in > 0 && r->commit_timer_due_ms != now + due_in) {
        r->commit_timer_due_ms = now + due_in;
        lws_sul_schedule(r->context, 0, &r->commit_timer, commit_timer_fired,
                         due_in * LWS_US_PER_MS);
    }
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
    int reloads = atomic_load(&r->reload_requests);
    if (reloads != r->reloads_seen) {
        r->reloads_seen = reloads;
        reload_configuration(r);
    }
    relay_sinks_service(r->sinks);
    report_pressure(r);
    if (now - r->last_gone_check_ms >= GONE_CHECK_MS) {
        r->last_gone_check_ms = now;
        relay_sinks_take_disabled(r->sinks, report_webhook_disabled, r);
    }
    commit_if_due(r, now);
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

struct restore_state {
    struct relay *relay;
    char *legacy;
};

static void restore_row(void *opaque, const char *key, const char *json)
{
    struct restore_state *rs = opaque;
    if (strcmp(key, LEGACY_SNAPSHOT_KEY) == 0) {
        free(rs->legacy);
        rs->legacy = strdup(json);
        return;
    }
    consumer_restore_row(rs->relay->consumer, key, json);
}

static void restore_snapshot(struct relay *r)
{
    struct restore_state rs = {.relay = r};
    char errstr[512];
    if (outbox_snapshot_load(r->outbox, restore_row, &rs, errstr, sizeof errstr)) {
        log_warn(COMPONENT, "cannot read the stored cache snapshot: %s", errstr);
    } else if (consumer_restore_finish(r->consumer, errstr, sizeof errstr)) {
        log_warn(COMPONENT, "ignoring the stored cache snapshot: %s", errstr);
    } else if (rs.legacy && cache_count(consumer_cache(r->consumer)) == 0 &&
               consumer_restore(r->consumer, rs.legacy, strlen(rs.legacy), errstr,
                                sizeof errstr)) {
        log_warn(COMPONENT, "ignoring the stored cache snapshot: %s", errstr);
    }
    if (rs.legacy) {
        /* Rows replace the single snapshot; the first changes rewrite what matters. */
        outbox_snapshot_put(r->outbox, LEGACY_SNAPSHOT_KEY, NULL, errstr, sizeof errstr);
        free(rs.legacy);
    }
    if (cache_count(consumer_cache(r->consumer)) > 0)
        log_info(COMPONENT, "restored %zu campaign(s) from the outbox",
                 cache_count(consumer_cache(r->consumer)));
}

static int start_admin(struct relay *r, char *errstr, size_t errstr_size)
{
    const struct config_admin *ac = &r->config->admin;
    struct admin_options options = {
        .context = r->context,
        .host = ac->listen_host,
        .port = ac->listen_port,
        .bearer_token = ac->bearer_token,
        .routes = admin_routes,
        .route_count = sizeof admin_routes / sizeof admin_routes[0],
        .opaque = r,
    };
    r->admin = admin_server_create(&options, errstr, errstr_size);
    if (!r->admin)
        return -1;
    bool v6 = strchr(ac->listen_host, ':') != NULL;
    log_info(COMPONENT, "admin endpoints on http://%s%s%s:%d (/healthz /readyz /metrics "
                        "/v1/campaigns)%s",
             v6 ? "[" : "", ac->listen_host, v6 ? "]" : "", admin_server_port(r->admin),
             ac->bearer_token ? "; /metrics and /v1 need the bearer token" : "");
    return 0;
}

struct relay *relay_create(const struct relay_config *config, const char *config_path,
                           char *errstr, size_t errstr_size)
{
    struct relay *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->config = config;
    r->config_path = strdup(config_path ? config_path : config->source_name);
    if (!r->config_path)
        abort();
    r->grace_ms = config->shutdown.grace_ms;
    r->started_wall_ms = time_now_ms();
    r->receipts = metrics_receipts_create(RECEIPTS_CAPACITY);

    struct outbox_options ob = {
        .path = config->outbox.path,
        .max_bytes = config->outbox.max_bytes,
        .high_water = config->outbox.high_water,
        .commit_interval_ms = config->outbox.commit_interval_ms,
        .commit_max_events = config->outbox.commit_max_events,
        .synchronous_full = config->outbox.synchronous_full,
        .on_pressure = on_outbox_pressure,
        .pressure_opaque = r,
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

    r->sinks = relay_sinks_create(config, r->outbox, r->receipts, errstr, errstr_size);
    if (!r->sinks)
        goto fail;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    /* The notification socket is read into this buffer: at the default 4 KiB a busy
     * stream costs a read call for every few notifications. */
    info.pt_serv_buf_size = 64 * 1024;
    info.user = r;
    info.gid = -1;
    info.uid = -1;
    r->pprotocols[0] = &relay_protocols[0];
    r->pprotocols[1] = &stream_conn_protocol;
    r->pprotocols[2] = NULL;
    info.pprotocols = r->pprotocols;
    info.protocols = NULL;
    lws_set_log_level(LLL_ERR, NULL);
    r->context = lws_create_context(&info);
    if (!r->context) {
        snprintf(errstr, errstr_size, "cannot create the libwebsockets context");
        goto fail;
    }
    if (start_admin(r, errstr, errstr_size) != 0) {
        if (config->admin.listen_given)
            goto fail;
        /* Only the default address was tried: run without the endpoints rather than
         * not at all, and say so. */
        log_error(COMPONENT, "%s; running without the admin endpoints (set admin.listen, "
                             "port 0 picks a free port)", errstr);
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
            .snapshot_put = output_snapshot_put,
            .frame_context = output_frame_context,
            .opaque = r,
        },
    };
    r->consumer = consumer_create(&co, errstr, errstr_size);
    if (!r->consumer)
        goto fail;
    restore_snapshot(r);
    return r;

fail:
    relay_destroy(r);
    return NULL;
}

void relay_request_stop(struct relay *r)
{
    atomic_fetch_add(&r->stop_requests, 1);
}

void relay_request_reload(struct relay *r)
{
    atomic_fetch_add(&r->reload_requests, 1);
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
        consumer_deliver_frames(r->consumer, false);
        schedule_commit(r);
        if (atomic_load(&r->stop_requests) > 0 && !r->stopping)
            tick(&r->tick);
    }
    if (atomic_load(&r->stop_requests) > 1)
        return 1;
    /* Let the sockets close cleanly and the last REST results arrive. */
    int64_t until = time_mono_ms() + 200;
    while (time_mono_ms() < until && atomic_load(&r->stop_requests) < 2) {
        lws_service(r->context, 0);
        consumer_deliver_frames(r->consumer, false);
    }
    /* Every frame received is handled before the final commit. */
    consumer_deliver_frames(r->consumer, true);
    lws_sul_cancel(&r->tick);
    lws_sul_cancel(&r->commit_timer);
    report_pressure(r);

    char errstr[512];
    if (outbox_flush(r->outbox, errstr, sizeof errstr) != OUTBOX_OK)
        log_error(COMPONENT, "final outbox commit failed: %s", errstr);
    int64_t committed = outbox_committed_seq(r->outbox);
    log_info(COMPONENT, "draining sinks up to event %lld (grace %lld ms)", (long long)committed,
             (long long)r->grace_ms);
    relay_sinks_stop(r->sinks, r->grace_ms, &r->stop_requests);
    int64_t lowest = relay_sinks_min_cursor(r->sinks);
    if (lowest >= 0 && lowest < committed)
        log_info(COMPONENT, "stopped; %lld event(s) wait in the outbox for the next start",
                 (long long)(committed - lowest));
    else
        log_info(COMPONENT, "stopped; every sink has every event");
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
    admin_server_destroy(r->admin);
    platform_worker_destroy(r->worker);
    relay_sinks_destroy(r->sinks);
    audit_chain_destroy(r->audit);
    events_builder_destroy(r->events);
    outbox_destroy(r->outbox);
    metrics_receipts_destroy(r->receipts);
    config_destroy(r->reloaded);
    free(r->config_path);
    free(r);
}
