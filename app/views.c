#include "app/views.h"

#include <stdlib.h>
#include <string.h>

#include "app/metrics.h"
#include "consumer/channel_manager.h"
#include "consumer/decode.h"
#include "consumer/lifecycle.h"
#include "util/timeutil.h"

/* Label values of campaign_relay_notifications_received_total, by decoded kind. */
static const char *const notification_families[NOTIFY_KIND_COUNT] = {
    [NOTIFY_HEARTBEAT] = "heartbeat",
    [NOTIFY_PONG] = "pong",
    [NOTIFY_CHANNEL_METADATA] = "channel_metadata",
    [NOTIFY_SOCKET_CLOSING] = "socket_closing",
    [NOTIFY_NO_LONGER_SUBSCRIBED] = "no_longer_subscribed",
    [NOTIFY_TOKEN_REVOKED] = "token_revoked",
    [NOTIFY_SYSTEM_OTHER] = "system_other",
    [NOTIFY_CAMPAIGN] = "campaign",
    [NOTIFY_PROGRESS] = "progress",
    [NOTIFY_STATS] = "stats",
    [NOTIFY_IMPORT_STATUS] = "importstatus",
    [NOTIFY_UNKNOWN] = "unknown",
};

/* A family with one unlabelled sample. */
static void single(struct strbuf *out, const char *name, enum metrics_type type, const char *help,
                   double value)
{
    metrics_family(out, name, type, help);
    metrics_sample(out, name, value, NULL);
}

static void write_consumer(struct strbuf *out, const struct consumer *consumer)
{
    struct consumer_counters c;
    consumer_get_counters(consumer, &c);
    metrics_family(out, "campaign_relay_notifications_received_total", METRICS_COUNTER,
                   "Notifications decoded from the stream, by topic family.");
    for (int kind = 0; kind < NOTIFY_KIND_COUNT; kind++)
        metrics_sample(out, "campaign_relay_notifications_received_total",
                       (double)c.notifications[kind], "family", notification_families[kind],
                       NULL);
    single(out, "campaign_relay_decode_errors_total", METRICS_COUNTER,
           "Stream frames that could not be decoded.", (double)c.decode_errors);
    metrics_family(out, "campaign_relay_updates_dropped_total", METRICS_COUNTER,
                   "Campaign updates dropped because their version was not newer.");
    metrics_sample(out, "campaign_relay_updates_dropped_total", (double)c.stale_dropped,
                   "reason", "stale", NULL);
    metrics_sample(out, "campaign_relay_updates_dropped_total", (double)c.duplicate_dropped,
                   "reason", "duplicate", NULL);
    single(out, "campaign_relay_state_transitions_total", METRICS_COUNTER,
           "Campaign state transitions applied to the cache.", (double)c.state_transitions);
    single(out, "campaign_relay_invalid_transitions_total", METRICS_COUNTER,
           "Transitions impossible in the lifecycle graph.", (double)c.invalid_transitions);
    single(out, "campaign_relay_config_changes_total", METRICS_COUNTER,
           "Campaign configuration changes applied to the cache.", (double)c.config_changes);
    single(out, "campaign_relay_events_emitted_total", METRICS_COUNTER,
           "Events the consumer put in the outbox.", (double)c.events_emitted);
    single(out, "campaign_relay_events_refused_total", METRICS_COUNTER,
           "Events the outbox refused because it was full.", (double)c.events_refused);
    single(out, "campaign_relay_discoveries_total", METRICS_COUNTER,
           "Campaign listings read over REST.", (double)c.discoveries);
    single(out, "campaign_relay_reconciliations_total", METRICS_COUNTER,
           "Reconciliations of the cache against REST.", (double)c.reconciliations);
    single(out, "campaign_relay_reconcile_changes_total", METRICS_COUNTER,
           "Changes found by reconciliation that the stream had not delivered.",
           (double)c.reconcile_changes);
    single(out, "campaign_relay_stream_gaps_total", METRICS_COUNTER,
           "Losses of stream coverage reported as alert.stream_gap.", (double)c.gaps);
    single(out, "campaign_relay_stats_throttled_total", METRICS_COUNTER,
           "Dialer statistics notifications not republished (throttled).",
           (double)c.stats_throttled);
    single(out, "campaign_relay_campaigns", METRICS_GAUGE, "Campaigns in the live cache.",
           (double)cache_count(consumer_cache(consumer)));

    const struct channel_manager *channels = consumer_channels(consumer);
    single(out, "campaign_relay_channels", METRICS_GAUGE,
           "Notification channels the topic plan needs.",
           (double)consumer_channel_count(consumer));
    single(out, "campaign_relay_channels_connected", METRICS_GAUGE,
           "Notification channels with an established WebSocket.",
           (double)consumer_channels_connected(consumer));
    single(out, "campaign_relay_topics", METRICS_GAUGE, "Topics subscribed over all channels.",
           (double)consumer_topic_count(consumer));
    if (!channels)
        return;
    struct channel_manager_counters m;
    channel_manager_get_counters(channels, &m);
    metrics_family(out, "campaign_relay_reconnects_total", METRICS_COUNTER,
                   "WebSocket reconnections, by the cause of the loss.");
    metrics_sample(out, "campaign_relay_reconnects_total", (double)m.reconnects_remote, "cause",
                   "remote_close", NULL);
    metrics_sample(out, "campaign_relay_reconnects_total", (double)m.reconnects_heartbeat,
                   "cause", "heartbeat_timeout", NULL);
    metrics_sample(out, "campaign_relay_reconnects_total", (double)m.reconnects_connect_failed,
                   "cause", "connect_failed", NULL);
    metrics_family(out, "campaign_relay_channel_rotations_total", METRICS_COUNTER,
                   "Moves to a fresh channel without a gap, by cause.");
    metrics_sample(out, "campaign_relay_channel_rotations_total",
                   (double)m.rotations_socket_closing, "cause", "socket_closing", NULL);
    metrics_sample(out, "campaign_relay_channel_rotations_total", (double)m.rotations_refresh,
                   "cause", "refresh", NULL);
    single(out, "campaign_relay_channel_replacements_total", METRICS_COUNTER,
           "Channels the platform no longer knew, replaced by new ones.",
           (double)m.replacements_lost);
    single(out, "campaign_relay_channels_created_total", METRICS_COUNTER,
           "Channels created over REST.", (double)m.channels_created);
    single(out, "campaign_relay_channels_reused_total", METRICS_COUNTER,
           "Channels of an earlier run reused after a restart.", (double)m.channels_reused);
    single(out, "campaign_relay_subscription_puts_total", METRICS_COUNTER,
           "Topic list PUTs to the platform.", (double)m.subscription_puts);
    single(out, "campaign_relay_topics_rejected_total", METRICS_COUNTER,
           "Topics the platform refused.", (double)m.topics_rejected);
    single(out, "campaign_relay_oversized_frames_total", METRICS_COUNTER,
           "Frames over stream.max_frame_bytes, dropped.", (double)m.oversized_frames);
    single(out, "campaign_relay_stream_messages_total", METRICS_COUNTER,
           "Complete WebSocket messages received.", (double)m.messages);
}

static void write_platform(struct strbuf *out, struct platform_worker *worker)
{
    struct platform_counters p;
    platform_worker_counters(worker, &p);
    metrics_family(out, "campaign_relay_rest_calls_total", METRICS_COUNTER,
                   "Platform REST calls, by outcome (retries are part of one call).");
    metrics_sample(out, "campaign_relay_rest_calls_total", (double)p.calls_ok, "outcome", "ok",
                   NULL);
    metrics_sample(out, "campaign_relay_rest_calls_total", (double)p.calls_http_error, "outcome",
                   "http_error", NULL);
    metrics_sample(out, "campaign_relay_rest_calls_total", (double)p.calls_transport_error,
                   "outcome", "transport_error", NULL);
    metrics_sample(out, "campaign_relay_rest_calls_total", (double)p.calls_auth_error,
                   "outcome", "auth_error", NULL);
    metrics_sample(out, "campaign_relay_rest_calls_total", (double)p.calls_cancelled, "outcome",
                   "cancelled", NULL);
    single(out, "campaign_relay_rest_requests_total", METRICS_COUNTER,
           "HTTP requests sent to the platform, token requests and retries included.",
           (double)p.requests_sent);
    single(out, "campaign_relay_rest_rate_limited_total", METRICS_COUNTER,
           "429 Too Many Requests answers from the platform.", (double)p.rate_limited);
    single(out, "campaign_relay_rest_retries_total", METRICS_COUNTER,
           "Requests sent again after a 429, 5xx, transport error or 401.", (double)p.retries);
    single(out, "campaign_relay_rest_server_errors_total", METRICS_COUNTER,
           "5xx answers from the platform.", (double)p.server_errors);
    single(out, "campaign_relay_rest_unauthorized_total", METRICS_COUNTER,
           "401 answers to API calls.", (double)p.unauthorized);
    single(out, "campaign_relay_rest_connections_opened_total", METRICS_COUNTER,
           "New connections to the platform.", (double)p.connections_opened);
    single(out, "campaign_relay_oauth_tokens_total", METRICS_COUNTER,
           "OAuth tokens obtained.", (double)p.token_refreshes);
    single(out, "campaign_relay_oauth_token_failures_total", METRICS_COUNTER,
           "Failed OAuth token requests.", (double)p.token_failures);
    single(out, "campaign_relay_rest_budget_waits_total", METRICS_COUNTER,
           "Calls that waited for the client-side REST budget.", (double)p.budget_waits);
    single(out, "campaign_relay_rest_budget_wait_seconds_total", METRICS_COUNTER,
           "Time calls spent waiting for the client-side REST budget.",
           (double)p.budget_wait_ms / 1000.0);
}

static void write_outbox(struct strbuf *out, const struct views_sources *src)
{
    int64_t committed = outbox_committed_seq(src->outbox);
    int64_t lowest = relay_sinks_min_cursor(src->sinks);
    int64_t depth = lowest >= 0 && committed > lowest ? committed - lowest : 0;
    single(out, "campaign_relay_outbox_used_bytes", METRICS_GAUGE,
           "Disk the outbox database uses (live pages).",
           (double)outbox_used_bytes(src->outbox));
    single(out, "campaign_relay_outbox_max_bytes", METRICS_GAUGE,
           "The outbox's disk budget (outbox.max_bytes).", (double)src->outbox_max_bytes);
    single(out, "campaign_relay_outbox_depth_events", METRICS_GAUGE,
           "Committed events not yet finished by the slowest sink.", (double)depth);
    single(out, "campaign_relay_outbox_last_seq", METRICS_GAUGE,
           "Sequence number of the newest committed event.", (double)committed);
    single(out, "campaign_relay_outbox_pressure", METRICS_GAUGE,
           "1 while the outbox is above its high-water mark.",
           outbox_pressure(src->outbox) ? 1 : 0);
    single(out, "campaign_relay_outbox_pressure_episodes_total", METRICS_COUNTER,
           "Times the outbox went above its high-water mark.",
           (double)outbox_pressure_episodes(src->outbox));
    single(out, "campaign_relay_outbox_wal_bytes", METRICS_GAUGE,
           "Size of the outbox's write-ahead log file.",
           (double)outbox_wal_bytes(src->outbox));
    single(out, "campaign_relay_outbox_wal_restarts_total", METRICS_COUNTER,
           "Checkpoints that held the writer to start a write-ahead log over.",
           (double)outbox_wal_restarts(src->outbox));
}

void views_metrics(const struct views_sources *src, struct strbuf *out)
{
    single(out, "campaign_relay_start_time_seconds", METRICS_GAUGE,
           "When the relay started, in seconds since the Unix epoch.",
           (double)src->started_wall_ms / 1000.0);
    single(out, "campaign_relay_ready", METRICS_GAUGE,
           "1 while /readyz answers 200: stream, sinks and outbox are healthy.",
           src->ready ? 1 : 0);
    single(out, "campaign_relay_alerts_raised_total", METRICS_COUNTER,
           "Alerts raised by the relay itself (outbox pressure, disabled webhook).",
           (double)src->alerts_raised);
    metrics_family(out, "campaign_relay_config_reloads_total", METRICS_COUNTER,
                   "Configuration reloads (SIGHUP), by result.");
    metrics_sample(out, "campaign_relay_config_reloads_total", (double)src->reloads_ok,
                   "result", "applied", NULL);
    metrics_sample(out, "campaign_relay_config_reloads_total", (double)src->reloads_failed,
                   "result", "rejected", NULL);
    write_consumer(out, src->consumer);
    write_platform(out, src->worker);
    write_outbox(out, src);
    relay_sinks_write_metrics(src->sinks, out);
}

/* ---- campaigns ------------------------------------------------------------------------- */

static void append_time(struct strbuf *out, const char *key, int64_t ms, bool known)
{
    strbuf_appendf(out, ",\"%s\":", key);
    if (!known || ms <= 0) {
        strbuf_append(out, "null");
        return;
    }
    char text[RFC3339_MS_LEN];
    time_format_rfc3339(ms, text);
    strbuf_append_json_string(out, text);
}

static void append_campaign(struct strbuf *out, const struct cache *cache,
                            const struct cache_entry *e)
{
    strbuf_append(out, "{\"id\":");
    strbuf_append_json_string(out, e->id);
    strbuf_append(out, ",\"name\":");
    strbuf_append_json_string(out, e->name);
    strbuf_append(out, ",\"state\":");
    strbuf_append_json_string(out, lifecycle_state_name(e->state));
    strbuf_append(out, ",\"status\":");
    strbuf_append_json_string(out, e->raw_status);
    append_time(out, "since", e->state_entered_ms, true);
    strbuf_append(out, ",\"version\":");
    if (e->has_version)
        strbuf_appendf(out, "%lld", (long long)e->version);
    else
        strbuf_append(out, "null");
    strbuf_append(out, ",\"dialingMode\":");
    strbuf_append_json_string(out, e->dialing_mode);
    strbuf_append(out, ",\"contactListId\":");
    strbuf_append_json_string(out, e->contact_list_id);
    strbuf_append(out, ",\"contactListImport\":");
    strbuf_append_json_string(out, cache_entry_import_state(cache, e));
    strbuf_append(out, ",\"divisionId\":");
    strbuf_append_json_string(out, e->division_id);
    strbuf_append(out, ",\"progress\":");
    if (e->has_progress)
        strbuf_appendf(out, "%g", e->progress_percentage);
    else
        strbuf_append(out, "null");
    strbuf_append(out, ",\"errors\":");
    strbuf_append_json_string(out, e->errors_summary);
    append_time(out, "modified", e->date_modified_ms, e->has_date_modified);
    append_time(out, "lastSeen", e->last_seen_ms, true);
    strbuf_append(out, ",\"lastEventId\":");
    strbuf_append_json_string(out, e->last_event_id[0] ? e->last_event_id : NULL);
    strbuf_append_char(out, '}');
}

static int by_id(const void *a, const void *b)
{
    const struct cache_entry *const *x = a;
    const struct cache_entry *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

bool views_campaigns(const struct cache *cache, const char *id, struct strbuf *out)
{
    if (id) {
        const struct cache_entry *e = cache_get(cache, id);
        if (!e) {
            strbuf_append(out, "{\"error\":");
            struct strbuf message;
            strbuf_init(&message);
            strbuf_appendf(&message, "no campaign with id \"%s\" in the cache", id);
            strbuf_append_json_string(out, strbuf_cstr(&message));
            strbuf_free(&message);
            strbuf_append(out, "}\n");
            return false;
        }
        append_campaign(out, cache, e);
        strbuf_append_char(out, '\n');
        return true;
    }
    size_t count = cache_count(cache);
    const struct cache_entry **entries = calloc(count + 1, sizeof *entries);
    if (!entries)
        abort();
    size_t n = 0;
    const struct cache_entry *e;
    for (size_t it = 0; n < count && (e = cache_next(cache, &it));)
        entries[n++] = e;
    qsort(entries, n, sizeof *entries, by_id);
    strbuf_appendf(out, "{\"count\":%zu,\"campaigns\":[", n);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strbuf_append_char(out, ',');
        append_campaign(out, cache, entries[i]);
    }
    strbuf_append(out, "]}\n");
    free(entries);
    return true;
}
