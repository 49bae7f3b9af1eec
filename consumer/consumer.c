#include "consumer/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "consumer/alerts.h"
#include "consumer/channel_manager.h"
#include "consumer/control.h"
#include "consumer/decode.h"
#include "consumer/decode_pipeline.h"
#include "consumer/lifecycle.h"
#include "consumer/topic_plan.h"
#include "util/json_arena.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/timeutil.h"

#define COMPONENT "consumer"

/* Tags of the consumer's own REST jobs (the channel manager's carry its own bit). */
#define TAG_DISCOVERY 1
#define TAG_RECONCILE 2

struct listing_outcome {
    size_t campaigns;
    size_t changes;
    size_t removed;
    size_t skipped;
};

/* A walk over the campaign listing, one page in flight at a time: each page is
 * applied as it arrives and dropped, and the removal pass runs after the last one, so
 * memory does not grow with the number of campaigns beyond the cache itself. */
struct listing_walk {
    bool in_flight;
    int page;            /* the page requested last */
    struct strmap *seen; /* ids listed so far (values unused) */
    struct listing_outcome outcome;
};

struct consumer {
    struct consumer_options options;
    const struct relay_config *config;
    struct lifecycle_map *lifecycle;
    struct cache *cache;
    struct topic_plan *plan;
    struct channel_manager *channels;
    struct alerts *alerts;
    struct control *control;
    lws_sorted_usec_list_t discovery_timer;
    lws_sorted_usec_list_t control_timer;
    bool started;
    bool stopping;

    struct listing_walk discovery;
    struct listing_walk reconcile;
    bool discovered_once;
    bool reconcile_again;
    bool reconciled_since_connect;
    /* Coverage losses waiting for the reconciliation that closes them. */
    int64_t gap_lost_at_ms;   /* earliest loss not yet reported; 0 = none */
    int64_t gap_regained_at_ms;
    unsigned gap_slots;

    struct strbuf restore_campaigns; /* rows gathered by consumer_restore_row() */
    struct strbuf restore_lists;
    struct strmap *stats_last_ms; /* campaign id -> last dialer_stats event time (boxed) */
    struct consumer_counters counters;
    struct decode_pipeline *pipeline; /* stream.decode_thread; NULL decodes on the loop */
    struct json_arena *frame_arena;   /* the loop's frame trees when it decodes */
};

/* Frames the decode thread may fall behind the loop's intake before the loop waits for
 * it. The loop receives at most a few thousand frames in one service pass and then
 * handles what was decoded, so this only bounds memory when the thread is starved of
 * CPU. */
#define CONSUMER_MAX_FRAME_BACKLOG 8192

static int64_t now_wall(const struct consumer *c)
{
    return c->options.now_ms ? c->options.now_ms() : time_now_ms();
}

/* ---- output --------------------------------------------------------------------- */

static void emit(struct consumer *c, struct relay_event *event)
{
    if (!event)
        return;
    if (c->options.output.emit(c->options.output.opaque, event) == 0)
        c->counters.events_emitted++;
    else
        c->counters.events_refused++;
}

static void emit_alert(struct consumer *c, const char *name, enum events_severity severity,
                       const char *dedup_key, const char *occurrence, const char *summary,
                       const struct cache_entry *campaign, const char *details_json)
{
    struct events_alert alert = {
        .name = name,
        .severity = severity,
        .dedup_key = dedup_key,
        .occurrence = occurrence ? occurrence : "",
        .summary = summary,
        .campaign = campaign,
        .details_json = details_json,
        .raised_ms = now_wall(c),
    };
    char errstr[256];
    struct relay_event *event = events_alert(c->options.events, &alert, errstr, sizeof errstr);
    if (!event) {
        log_error(COMPONENT, "cannot build alert %s: %s", name, errstr);
        return;
    }
    emit(c, event);
}

#define SNAPSHOT_CAMPAIGN_PREFIX "campaign/"
#define SNAPSHOT_LIST_PREFIX "contactlist/"

static void persist_campaign(struct consumer *c, const struct cache_entry *e)
{
    if (!c->options.output.snapshot_put)
        return;
    char key[160];
    snprintf(key, sizeof key, SNAPSHOT_CAMPAIGN_PREFIX "%s", e->id);
    struct strbuf json;
    strbuf_init(&json);
    cache_entry_serialize(e, &json);
    c->options.output.snapshot_put(c->options.output.opaque, key, strbuf_cstr(&json));
    strbuf_free(&json);
}

static void persist_removed(struct consumer *c, const char *campaign_id)
{
    if (!c->options.output.snapshot_put)
        return;
    char key[160];
    snprintf(key, sizeof key, SNAPSHOT_CAMPAIGN_PREFIX "%s", campaign_id);
    c->options.output.snapshot_put(c->options.output.opaque, key, NULL);
}

static void persist_import_state(struct consumer *c, const char *list_id, const char *state)
{
    if (!c->options.output.snapshot_put)
        return;
    char key[160];
    snprintf(key, sizeof key, SNAPSHOT_LIST_PREFIX "%s", list_id);
    struct strbuf json;
    strbuf_init(&json);
    strbuf_append(&json, "{\"id\":");
    strbuf_append_json_string(&json, list_id);
    strbuf_append(&json, ",\"importState\":");
    strbuf_append_json_string(&json, state);
    strbuf_append_char(&json, '}');
    c->options.output.snapshot_put(c->options.output.opaque, key,
                                   state ? strbuf_cstr(&json) : NULL);
    strbuf_free(&json);
}

/* Turns one cache change into its events and records the last event id. */
static void emit_change(struct consumer *c, const struct cache_change *change,
                        const struct events_observation *obs)
{
    const struct events_builder *b = c->options.events;
    struct relay_event *last = NULL;
    switch (change->kind) {
    case CACHE_NONE_STALE:
        c->counters.stale_dropped++;
        return;
    case CACHE_NONE_DUPLICATE:
        c->counters.duplicate_dropped++;
        return;
    case CACHE_VERSION_ONLY:
        persist_campaign(c, change->entry);
        control_on_campaign(c->control, change->entry, now_wall(c));
        return;
    case CACHE_FIRST_SIGHT: {
        struct relay_event *discovered = events_discovered(b, change, obs);
        struct relay_event *state = events_state_changed(b, change, obs);
        emit(c, discovered);
        last = state;
        break;
    }
    case CACHE_CONFIG_ONLY:
        c->counters.config_changes++;
        last = events_config_changed(b, change, obs);
        break;
    case CACHE_STATE_TRANSITION: {
        c->counters.state_transitions++;
        struct relay_event *state = events_state_changed(b, change, obs);
        if (change->config_changed) {
            c->counters.config_changes++;
            emit(c, events_config_changed(b, change, obs));
        }
        last = state;
        break;
    }
    }
    if (last) {
        cache_set_last_event_id(c->cache, change->entry->id, last->id);
        emit(c, last);
    }
    persist_campaign(c, change->entry);
    alerts_on_change(c->alerts, change);
    control_on_campaign(c->control, change->entry, now_wall(c));
}

/* ---- topics ---------------------------------------------------------------------- */

static void collect_topics(struct consumer *c)
{
    unsigned wanted = c->config->subscriptions.topics;
    size_t capacity = cache_count(c->cache) * 4 + 1;
    char **topics = calloc(capacity, sizeof *topics);
    if (!topics)
        abort();
    size_t n = 0;
    struct strmap *lists = strmap_create();
    const struct cache_entry *e;
    char buf[256];
    for (size_t it = 0; (e = cache_next(c->cache, &it));) {
        if (wanted & CONFIG_TOPIC_CAMPAIGN) {
            snprintf(buf, sizeof buf, "v2.outbound.campaigns.%s", e->id);
            topics[n++] = strdup(buf);
        }
        if (wanted & CONFIG_TOPIC_PROGRESS) {
            snprintf(buf, sizeof buf, "v2.outbound.campaigns.%s.progress", e->id);
            topics[n++] = strdup(buf);
        }
        if (wanted & CONFIG_TOPIC_STATS) {
            snprintf(buf, sizeof buf, "v2.outbound.campaigns.%s.stats", e->id);
            topics[n++] = strdup(buf);
        }
        if ((wanted & CONFIG_TOPIC_IMPORTSTATUS) && e->contact_list_id &&
            !strmap_contains(lists, e->contact_list_id)) {
            strmap_put(lists, e->contact_list_id, (void *)1);
            snprintf(buf, sizeof buf, "v2.outbound.contactlists.%s.importstatus",
                     e->contact_list_id);
            topics[n++] = strdup(buf);
        }
    }
    strmap_destroy(lists);
    for (size_t i = 0; i < n; i++)
        if (!topics[i])
            abort();
    size_t unplaced = topic_plan_update(c->plan, (const char *const *)topics, n);
    if (unplaced) {
        char summary[256];
        snprintf(summary, sizeof summary,
                 "%zu topics exceed the platform's channel and topic limits and are not "
                 "subscribed", unplaced);
        log_error(COMPONENT, "%s", summary);
        char details[128];
        snprintf(details, sizeof details, "{\"unplacedTopics\":%zu}", unplaced);
        emit_alert(c, "subscription_rejected", EVENTS_SEVERITY_CRITICAL, "topic-capacity", "",
                   summary, NULL, details);
    }
    for (size_t i = 0; i < n; i++)
        free(topics[i]);
    free(topics);
}

/* ---- discovery and reconciliation ------------------------------------------------- */

static struct listing_walk *walk_of(struct consumer *c, uint64_t tag)
{
    return tag == TAG_DISCOVERY ? &c->discovery : &c->reconcile;
}

static void walk_reset(struct listing_walk *walk)
{
    strmap_destroy(walk->seen);
    memset(walk, 0, sizeof *walk);
}

static int submit_page(struct consumer *c, uint64_t tag, int page)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v2/outbound/campaigns?pageSize=%d&pageNumber=%d",
             PLATFORM_CAMPAIGN_PAGE_SIZE, page);
    struct platform_job job = {.kind = PLATFORM_JOB_REQUEST, .method = "GET", .path = path,
                               .tag = tag};
    char errstr[256];
    if (platform_worker_submit(c->options.worker, &job, errstr, sizeof errstr)) {
        log_error(COMPONENT, "cannot queue page %d of the campaign listing: %s", page, errstr);
        return -1;
    }
    walk_of(c, tag)->page = page;
    return 0;
}

static void submit_listing(struct consumer *c, uint64_t tag)
{
    struct listing_walk *walk = walk_of(c, tag);
    walk_reset(walk);
    if (submit_page(c, tag, 1) != 0)
        return;
    walk->in_flight = true;
    walk->seen = strmap_create();
}

static void discovery_fired(lws_sorted_usec_list_t *sul)
{
    struct consumer *c = lws_container_of(sul, struct consumer, discovery_timer);
    if (c->stopping)
        return;
    if (!c->discovery.in_flight)
        submit_listing(c, TAG_DISCOVERY);
    lws_sul_schedule(c->options.context, 0, &c->discovery_timer, discovery_fired,
                     (lws_usec_t)c->config->subscriptions.rediscover_interval_ms *
                         LWS_US_PER_MS);
}

static void request_reconcile(struct consumer *c)
{
    c->reconciled_since_connect = false;
    if (c->reconcile.in_flight) {
        c->reconcile_again = true;
        return;
    }
    submit_listing(c, TAG_RECONCILE);
}

/* Applies one page of the listing. */
static void apply_page(struct consumer *c, struct listing_walk *walk,
                       const struct campaign_listing *page)
{
    int64_t now = now_wall(c);
    struct events_observation obs = {.observed_ms = now, .correlation_id = NULL};
    if (page->skipped) {
        walk->outcome.skipped += page->skipped;
        log_warn(COMPONENT, "skipping %zu campaign(s) on page %d of the listing: %s",
                 page->skipped, walk->page, page->first_skip_reason);
    }
    for (size_t i = 0; i < page->entity_count; i++) {
        const struct campaign_update *u = page->entities[i];
        if (!config_campaign_selected(&c->config->subscriptions, u->id, u->division.id, u->name))
            continue;
        if (strmap_contains(walk->seen, u->id))
            continue; /* listed twice (it moved between pages): applied already */
        strmap_put(walk->seen, u->id, (void *)1);
        walk->outcome.campaigns++;
        struct cache_change change;
        memset(&change, 0, sizeof change);
        if (cache_apply(c->cache, u, CACHE_ORIGIN_RECONCILE, now, &change) == 0) {
            if (change.kind >= CACHE_FIRST_SIGHT)
                walk->outcome.changes++;
            emit_change(c, &change, &obs);
        }
        cache_change_clear(&change);
    }
}

/* After the last page: campaigns the listing no longer shows are reported and
 * forgotten. */
static void remove_unlisted(struct consumer *c, struct listing_walk *walk)
{
    struct events_observation obs = {.observed_ms = now_wall(c), .correlation_id = NULL};
    /* Collect first: the cache must not change while it is iterated. */
    size_t gone_count = 0;
    char **gone = calloc(cache_count(c->cache) + 1, sizeof *gone);
    if (!gone)
        abort();
    const struct cache_entry *e;
    for (size_t it = 0; (e = cache_next(c->cache, &it));)
        if (!strmap_contains(walk->seen, e->id))
            gone[gone_count++] = strdup(e->id);
    for (size_t i = 0; i < gone_count; i++) {
        e = cache_get(c->cache, gone[i]);
        if (e) {
            emit(c, events_removed(c->options.events, e, "not listed by the platform", &obs));
            alerts_on_removed(c->alerts, e);
            cache_remove(c->cache, gone[i]);
            persist_removed(c, gone[i]);
            walk->outcome.removed++;
        }
        free(gone[i]);
    }
    free(gone);
}

static void report_gap(struct consumer *c, const struct listing_outcome *outcome)
{
    if (!c->gap_lost_at_ms)
        return;
    char lost[RFC3339_MS_LEN], regained[RFC3339_MS_LEN];
    time_format_rfc3339(c->gap_lost_at_ms, lost);
    time_format_rfc3339(c->gap_regained_at_ms, regained);
    int64_t duration = c->gap_regained_at_ms - c->gap_lost_at_ms;
    char summary[256];
    snprintf(summary, sizeof summary,
             "notification stream coverage lost for %lld ms on %u channel(s); reconciliation "
             "found %zu change(s)", (long long)duration, c->gap_slots, outcome->changes);
    char details[512];
    snprintf(details, sizeof details,
             "{\"lostAt\":\"%s\",\"regainedAt\":\"%s\",\"durationMs\":%lld,\"channels\":%u,"
             "\"reconciledCampaigns\":%zu,\"changesFound\":%zu,\"removed\":%zu}",
             lost, regained, (long long)duration, c->gap_slots, outcome->campaigns,
             outcome->changes + outcome->removed, outcome->removed);
    char occurrence[32];
    snprintf(occurrence, sizeof occurrence, "%lld", (long long)c->gap_lost_at_ms);
    c->counters.gaps++;
    log_warn(COMPONENT, "%s", summary);
    emit_alert(c, "stream_gap", EVENTS_SEVERITY_WARNING, "stream-gap", occurrence, summary, NULL,
               details);
    c->gap_lost_at_ms = 0;
    c->gap_regained_at_ms = 0;
    c->gap_slots = 0;
}

static void listing_failed(struct consumer *c, bool is_discovery, const char *why)
{
    c->counters.rest_failures++;
    log_error(COMPONENT, "%s failed: %s", is_discovery ? "discovery" : "reconciliation", why);
    /* Reconciliation must happen before coverage counts as restored: retry. */
    if (!is_discovery)
        c->reconcile_again = true;
    else if (!c->discovered_once)
        lws_sul_schedule(c->options.context, 0, &c->discovery_timer, discovery_fired,
                         5 * LWS_US_PER_SEC);
}

static void listing_finished(struct consumer *c, bool is_discovery,
                             const struct listing_walk *walk)
{
    const struct listing_outcome *outcome = &walk->outcome;
    if (is_discovery) {
        c->counters.discoveries++;
        if (!c->discovered_once)
            log_info(COMPONENT, "discovered %zu campaign(s) in %d page(s)", outcome->campaigns,
                     walk->page);
        c->discovered_once = true;
    } else {
        c->counters.reconciliations++;
        c->counters.reconcile_changes += outcome->changes + outcome->removed;
        c->reconciled_since_connect = true;
        report_gap(c, outcome);
    }
    /* The first discovery brought a restored cache up to date: only now can
     * deadlines and the active count be judged. */
    alerts_sync(c->alerts);
    if (c->discovered_once && !c->stopping)
        alerts_start(c->alerts);
    collect_topics(c);
    channel_manager_sync(c->channels);
}

/* One page of a discovery or reconciliation walk came back. */
static void handle_listing(struct consumer *c, const struct platform_completion *done)
{
    bool is_discovery = done->tag == TAG_DISCOVERY;
    struct listing_walk *walk = walk_of(c, done->tag);
    if (!walk->in_flight)
        return; /* a page of a walk that was abandoned */
    bool finished = true;
    if (done->result != PLATFORM_OK) {
        listing_failed(c, is_discovery, done->error);
    } else {
        struct campaign_listing page;
        char errstr[256];
        int rc = decode_campaign_listing(done->body, done->body_len, &page, errstr,
                                         sizeof errstr);
        if (rc == 0 && !page.has_entities) {
            /* Not a listing at all: finishing the walk would remove every campaign. */
            snprintf(errstr, sizeof errstr, "the answer has no \"entities\" array");
            campaign_listing_clear(&page);
            rc = -1;
        }
        if (rc != 0) {
            char why[320];
            snprintf(why, sizeof why, "page %d of the campaign listing: %s", walk->page, errstr);
            listing_failed(c, is_discovery, why);
        } else if (c->stopping) {
            campaign_listing_clear(&page); /* a walk cut short must not remove anything */
        } else {
            apply_page(c, walk, &page);
            size_t listed = page.entity_count + page.skipped;
            bool more = page.page_count > 0 ? walk->page < page.page_count : page.next_uri != NULL;
            campaign_listing_clear(&page);
            /* An empty page ends the walk even if pageCount promised more (campaigns
             * deleted meanwhile); the cap guards against a listing that never ends. */
            if (more && listed > 0 && walk->page >= PLATFORM_MAX_CAMPAIGN_PAGES) {
                snprintf(errstr, sizeof errstr, "the campaign listing exceeds %d pages",
                         PLATFORM_MAX_CAMPAIGN_PAGES);
                listing_failed(c, is_discovery, errstr);
            } else if (more && listed > 0) {
                finished = submit_page(c, done->tag, walk->page + 1) != 0;
                if (finished)
                    listing_failed(c, is_discovery, "the next page could not be queued");
            } else {
                remove_unlisted(c, walk);
                listing_finished(c, is_discovery, walk);
            }
        }
    }
    if (finished)
        walk_reset(walk);
    if (c->reconcile_again && !c->reconcile.in_flight && !c->stopping) {
        c->reconcile_again = false;
        submit_listing(c, TAG_RECONCILE);
    }
}

/* ---- notifications ---------------------------------------------------------------- */

/* The frame's audit event depends only on the frame and the events builder (never
 * changed while the consumer exists), so it is built where the frame is decoded: on the
 * decode thread when there is one. The frame is not parsed a third time. */
static void prepare_frame(void *opaque, struct decoded_frame *frame)
{
    const struct consumer *c = opaque;
    const struct notification *n = &frame->notification;
    if (frame->status != 0 || n->kind == NOTIFY_HEARTBEAT || n->kind == NOTIFY_PONG)
        return;
    struct audit_notification audit = {
        .topic = n->topic,
        .raw = frame->text,
        .raw_len = frame->len,
        .received_ms = frame->received_ms,
        .correlation_id = n->correlation_id,
        .raw_tree = frame->tree,
    };
    frame->prepared = events_audit_decoded_notification(c->options.events, &audit,
                                                        frame->errstr, sizeof frame->errstr);
}

static void audit_notification(struct consumer *c, const struct decoded_frame *frame)
{
    const struct relay_event *event = frame->prepared;
    if (!event) {
        log_warn(COMPONENT, "cannot audit a %s notification: %s", frame->notification.topic,
                 frame->errstr);
        return;
    }
    if (c->options.output.emit_audit(c->options.output.opaque, event) == 0)
        c->counters.events_emitted++;
    else
        c->counters.events_refused++;
}

static bool stats_due(struct consumer *c, const char *campaign_id, int64_t now)
{
    int64_t interval = c->config->events.stats_min_interval_ms;
    if (interval <= 0 || !campaign_id)
        return true;
    int64_t *last = strmap_get(c->stats_last_ms, campaign_id);
    if (last && now - *last < interval)
        return false;
    if (!last) {
        last = malloc(sizeof *last);
        if (!last)
            abort();
        strmap_put(c->stats_last_ms, campaign_id, last);
    }
    *last = now;
    return true;
}

static void handle_frame(struct consumer *c, struct decoded_frame *frame)
{
    if (frame->status != 0) {
        c->counters.decode_errors++;
        log_warn(COMPONENT, "undecodable notification on slot %zu (%zu bytes): %s",
                 frame->slot, frame->len, frame->errstr);
        return;
    }
    const struct notification n = frame->notification;
    size_t slot = frame->slot;
    int64_t now = frame->received_ms;
    c->counters.notifications[n.kind]++;
    struct events_observation obs = {.observed_ms = now, .correlation_id = n.correlation_id};

    switch (n.kind) {
    case NOTIFY_HEARTBEAT:
    case NOTIFY_PONG:
        return;
    case NOTIFY_SOCKET_CLOSING:
        channel_manager_socket_closing(c->channels, slot);
        break;
    case NOTIFY_NO_LONGER_SUBSCRIBED:
        channel_manager_channel_lost(c->channels, slot, "no_longer_subscribed");
        break;
    case NOTIFY_TOKEN_REVOKED:
        channel_manager_channel_lost(c->channels, slot, "token_revoked");
        break;
    case NOTIFY_CAMPAIGN: {
        struct cache_change change;
        memset(&change, 0, sizeof change);
        if (cache_apply(c->cache, n.campaign, CACHE_ORIGIN_STREAM, now, &change) == 0)
            emit_change(c, &change, &obs);
        cache_change_clear(&change);
        break;
    }
    case NOTIFY_PROGRESS:
        if (n.progress.campaign_id && n.progress.has_percentage)
            cache_set_progress(c->cache, n.progress.campaign_id, n.progress.percentage);
        emit(c, events_progress(c->options.events, &n.progress, &obs));
        break;
    case NOTIFY_STATS:
        if (n.stats.campaign_id && n.stats.has_lines_utilization)
            control_on_lines_utilization(c->control, n.stats.campaign_id,
                                         n.stats.lines_utilization, now);
        if (stats_due(c, n.stats.campaign_id, now))
            emit(c, events_dialer_stats(c->options.events, &n.stats, &obs));
        else
            c->counters.stats_throttled++;
        break;
    case NOTIFY_IMPORT_STATUS:
        if (n.import_status.contact_list_id) {
            cache_set_import_state(c->cache, n.import_status.contact_list_id,
                                   n.import_status.import_state);
            persist_import_state(c, n.import_status.contact_list_id,
                                 n.import_status.import_state);
        }
        emit(c, events_import_status(c->options.events, &n.import_status, &obs));
        break;
    default:
        break;
    }
    audit_notification(c, frame);
}

/* Handles one decoded frame, with its receipt time given to the output for the
 * end-to-end latency of the events it produces. */
static void deliver_frame(void *opaque, struct decoded_frame *frame)
{
    struct consumer *c = opaque;
    if (c->options.output.frame_context)
        c->options.output.frame_context(c->options.output.opaque, frame->received_us);
    handle_frame(c, frame);
    if (c->options.output.frame_context)
        c->options.output.frame_context(c->options.output.opaque, 0);
}

/* The decode thread's wake: a frame is ready while the loop may sleep in poll. */
static void wake_loop(void *opaque)
{
    const struct consumer *c = opaque;
    lws_cancel_service(c->options.context);
}

static void on_message(void *owner, size_t slot, const char *text, size_t len)
{
    struct consumer *c = owner;
    int64_t received_ms = now_wall(c), received_us = time_mono_us();
    if (c->pipeline) {
        decode_pipeline_submit(c->pipeline, slot, text, len, received_ms, received_us);
        return;
    }
    struct decoded_frame frame = {.slot = slot, .len = len, .received_ms = received_ms,
                                  .received_us = received_us};
    frame.status = decode_notification_keep(c->frame_arena, text, len, &frame.notification,
                                            &frame.tree, frame.errstr, sizeof frame.errstr);
    frame.text = (char *)text;
    prepare_frame(c, &frame);
    if (frame.tree)
        json_arena_release(c->frame_arena, frame.tree);
    frame.tree = NULL;
    deliver_frame(c, &frame);
    frame.text = NULL; /* not ours */
    decoded_frame_clear(&frame);
}

size_t consumer_deliver_frames(struct consumer *c, bool all)
{
    if (!c->pipeline)
        return 0;
    return decode_pipeline_deliver(c->pipeline, all ? 0 : CONSUMER_MAX_FRAME_BACKLOG,
                                   deliver_frame, c);
}

static void on_oversized(void *owner, size_t slot, size_t bytes)
{
    struct consumer *c = owner;
    char summary[160];
    snprintf(summary, sizeof summary, "dropped a %zu-byte notification over the frame limit",
             bytes);
    char details[96];
    snprintf(details, sizeof details, "{\"bytes\":%zu,\"slot\":%zu}", bytes, slot);
    char occurrence[32];
    snprintf(occurrence, sizeof occurrence, "%lld", (long long)now_wall(c));
    c->counters.decode_errors++;
    emit_alert(c, "oversized_notification", EVENTS_SEVERITY_WARNING, "oversized-notification",
               occurrence, summary, NULL, details);
}

static void on_covered(void *owner, size_t slot, int64_t lost_at_ms)
{
    struct consumer *c = owner;
    if (lost_at_ms > 0) {
        if (!c->gap_lost_at_ms || lost_at_ms < c->gap_lost_at_ms)
            c->gap_lost_at_ms = lost_at_ms;
        c->gap_regained_at_ms = now_wall(c);
        c->gap_slots++;
    }
    /* The stream is not durable: whatever happened while this slot was not covered
     * (or before its first connection) is only visible over REST. */
    request_reconcile(c);
}

static void on_topic_rejected(void *owner, const char *topic, const char *reason)
{
    struct consumer *c = owner;
    char summary[384];
    snprintf(summary, sizeof summary, "the platform rejected topic %s: %s", topic, reason);
    struct strbuf details;
    strbuf_init(&details);
    strbuf_append(&details, "{\"topic\":");
    strbuf_append_json_string(&details, topic);
    strbuf_append(&details, ",\"reason\":");
    strbuf_append_json_string(&details, reason);
    strbuf_append_char(&details, '}');
    emit_alert(c, "subscription_rejected", EVENTS_SEVERITY_WARNING, topic, "", summary, NULL,
               strbuf_cstr(&details));
    strbuf_free(&details);
}

/* ---- channel manager port ------------------------------------------------------------ */

static int port_submit(void *opaque, const char *method, const char *path, const char *body,
                       uint64_t tag)
{
    struct consumer *c = opaque;
    struct platform_job job = {
        .kind = PLATFORM_JOB_REQUEST, .method = method, .path = path, .body = body, .tag = tag,
    };
    char errstr[256];
    if (platform_worker_submit(c->options.worker, &job, errstr, sizeof errstr)) {
        log_warn(COMPONENT, "cannot queue %s %s: %s", method, path, errstr);
        return -1;
    }
    return 0;
}

static char *port_load_channel(void *opaque, size_t slot)
{
    struct consumer *c = opaque;
    if (!c->options.output.state_get)
        return NULL;
    char key[64];
    snprintf(key, sizeof key, "channel.%zu", slot);
    return c->options.output.state_get(c->options.output.opaque, key);
}

static void port_save_channel(void *opaque, size_t slot, const char *value)
{
    struct consumer *c = opaque;
    if (!c->options.output.state_set)
        return;
    char key[64];
    snprintf(key, sizeof key, "channel.%zu", slot);
    c->options.output.state_set(c->options.output.opaque, key, value);
}

/* ---- alerts port ---------------------------------------------------------------------- */

static void alerts_emit(void *opaque, struct relay_event *event)
{
    emit(opaque, event);
}

static char *alerts_state_get(void *opaque, const char *key)
{
    struct consumer *c = opaque;
    return c->options.output.state_get ? c->options.output.state_get(c->options.output.opaque,
                                                                      key)
                                       : NULL;
}

static void alerts_state_set(void *opaque, const char *key, const char *value)
{
    struct consumer *c = opaque;
    if (c->options.output.state_set)
        c->options.output.state_set(c->options.output.opaque, key, value);
}

static int alerts_submit_get(void *opaque, const char *path, uint64_t tag)
{
    return port_submit(opaque, "GET", path, NULL, tag);
}

/* ---- campaign control -------------------------------------------------------------------- */

#define CONTROL_TICK_MS 250

static int control_emit_audit(void *opaque, const struct relay_event *event)
{
    struct consumer *c = opaque;
    return c->options.output.emit_audit(c->options.output.opaque, event);
}

static bool control_stream_healthy(void *opaque)
{
    struct consumer *c = opaque;
    return c->discovered_once && channel_manager_all_connected(c->channels);
}

static void control_tick_fired(lws_sorted_usec_list_t *sul)
{
    struct consumer *c = lws_container_of(sul, struct consumer, control_timer);
    if (c->stopping)
        return;
    control_tick(c->control, now_wall(c));
    lws_sul_schedule(c->options.context, 0, &c->control_timer, control_tick_fired,
                     CONTROL_TICK_MS * LWS_US_PER_MS);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

struct consumer *consumer_create(const struct consumer_options *options, char *errstr,
                                 size_t errstr_size)
{
    if (!options->config || !options->context || !options->worker || !options->events ||
        !options->output.emit || !options->output.emit_audit) {
        snprintf(errstr, errstr_size, "consumer: config, context, worker, events and output "
                                      "are required");
        return NULL;
    }
    struct consumer *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->options = *options;
    c->config = options->config;
    const struct config_lifecycle *lc = &c->config->lifecycle;
    c->lifecycle = lifecycle_map_create_empty();
    for (size_t i = 0; i < lc->status_map_count; i++)
        lifecycle_map_set(c->lifecycle, lc->status_map[i].raw, lc->status_map[i].state);
    c->cache = cache_create(c->lifecycle);
    c->plan = topic_plan_create((size_t)c->config->subscriptions.max_topics_per_channel,
                                (size_t)c->config->subscriptions.max_channels);
    c->stats_last_ms = strmap_create();

    struct channel_manager_options cm = {
        .context = options->context,
        .plan = c->plan,
        .max_frame_bytes = c->config->stream.max_frame_bytes,
        .ping_interval_ms = c->config->stream.ping_interval_ms,
        .heartbeat_timeout_ms = c->config->stream.heartbeat_timeout_ms,
        .reconnect_min_ms = c->config->stream.reconnect_min_ms,
        .reconnect_max_ms = c->config->stream.reconnect_max_ms,
        .healthy_after_ms = c->config->stream.healthy_after_ms,
        .channel_refresh_ms = c->config->stream.channel_refresh_ms,
    };
    struct channel_manager_port port = {
        .submit = port_submit,
        .load_channel_id = port_load_channel,
        .save_channel_id = port_save_channel,
        .opaque = c,
    };
    struct channel_manager_events events = {
        .on_message = on_message,
        .on_oversized = on_oversized,
        .on_covered = on_covered,
        .on_topic_rejected = on_topic_rejected,
        .owner = c,
    };
    c->channels = channel_manager_create(&cm, &port, &events, errstr, errstr_size);
    if (!c->channels) {
        consumer_destroy(c);
        return NULL;
    }
    if (c->config->stream.decode_thread) {
        c->pipeline = decode_pipeline_create(prepare_frame, c, wake_loop, c, errstr,
                                             errstr_size);
        if (!c->pipeline) {
            consumer_destroy(c);
            return NULL;
        }
    } else {
        c->frame_arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    }
    struct alerts_options ao = {
        .lifecycle = &c->config->lifecycle,
        .events = options->events,
        .cache = c->cache,
        .port = {
            .emit = alerts_emit,
            .state_get = alerts_state_get,
            .state_set = alerts_state_set,
            .submit_get = alerts_submit_get,
            .opaque = c,
        },
        .context = options->context,
        .now_ms = options->now_ms,
    };
    c->alerts = alerts_create(&ao, errstr, errstr_size);
    if (!c->alerts) {
        consumer_destroy(c);
        return NULL;
    }
    struct control_options ctl = {
        .config = c->config,
        .cache = c->cache,
        .events = options->events,
        .port = {
            .submit = port_submit,
            .emit_audit = control_emit_audit,
            .stream_healthy = control_stream_healthy,
            .opaque = c,
        },
    };
    c->control = control_create(&ctl, errstr, errstr_size);
    if (!c->control) {
        consumer_destroy(c);
        return NULL;
    }
    return c;
}

void consumer_destroy(struct consumer *c)
{
    if (!c)
        return;
    if (c->options.context) {
        lws_sul_cancel(&c->discovery_timer);
        lws_sul_cancel(&c->control_timer);
    }
    decode_pipeline_destroy(c->pipeline);
    json_arena_destroy(c->frame_arena);
    walk_reset(&c->discovery);
    walk_reset(&c->reconcile);
    control_destroy(c->control);
    alerts_destroy(c->alerts);
    channel_manager_destroy(c->channels);
    topic_plan_destroy(c->plan);
    cache_destroy(c->cache);
    lifecycle_map_destroy(c->lifecycle);
    strbuf_free(&c->restore_campaigns);
    strbuf_free(&c->restore_lists);
    if (c->stats_last_ms) {
        const char *key;
        void *value;
        for (size_t it = 0; strmap_next(c->stats_last_ms, &it, &key, &value);)
            free(value);
        strmap_destroy(c->stats_last_ms);
    }
    free(c);
}

int consumer_restore(struct consumer *c, const char *snapshot, size_t len, char *errstr,
                     size_t errstr_size)
{
    return cache_snapshot_restore(c->cache, snapshot, len, errstr, errstr_size);
}

void consumer_restore_row(struct consumer *c, const char *key, const char *json)
{
    struct strbuf *into = NULL;
    if (strncmp(key, SNAPSHOT_CAMPAIGN_PREFIX, strlen(SNAPSHOT_CAMPAIGN_PREFIX)) == 0)
        into = &c->restore_campaigns;
    else if (strncmp(key, SNAPSHOT_LIST_PREFIX, strlen(SNAPSHOT_LIST_PREFIX)) == 0)
        into = &c->restore_lists;
    if (!into || !json)
        return;
    if (into->len)
        strbuf_append_char(into, ',');
    strbuf_append(into, json);
}

int consumer_restore_finish(struct consumer *c, char *errstr, size_t errstr_size)
{
    int rc = 0;
    if (c->restore_campaigns.len || c->restore_lists.len) {
        struct strbuf snapshot;
        strbuf_init(&snapshot);
        strbuf_append(&snapshot, "{\"format\":\"" CACHE_SNAPSHOT_FORMAT "\",\"campaigns\":[");
        strbuf_append(&snapshot, strbuf_cstr(&c->restore_campaigns));
        strbuf_append(&snapshot, "],\"contactLists\":[");
        strbuf_append(&snapshot, strbuf_cstr(&c->restore_lists));
        strbuf_append(&snapshot, "]}");
        rc = cache_snapshot_restore(c->cache, snapshot.data, snapshot.len, errstr, errstr_size);
        strbuf_free(&snapshot);
    }
    strbuf_free(&c->restore_campaigns);
    strbuf_free(&c->restore_lists);
    return rc;
}


void consumer_start(struct consumer *c)
{
    if (c->started)
        return;
    c->started = true;
    /* A restored cache already knows the topics: subscribe at once, and let the
     * first discovery bring it up to date. */
    if (cache_count(c->cache) > 0) {
        collect_topics(c);
        channel_manager_sync(c->channels);
    }
    submit_listing(c, TAG_DISCOVERY);
    lws_sul_schedule(c->options.context, 0, &c->discovery_timer, discovery_fired,
                     (lws_usec_t)c->config->subscriptions.rediscover_interval_ms *
                         LWS_US_PER_MS);
    lws_sul_schedule(c->options.context, 0, &c->control_timer, control_tick_fired,
                     CONTROL_TICK_MS * LWS_US_PER_MS);
}

void consumer_stop(struct consumer *c)
{
    c->stopping = true;
    lws_sul_cancel(&c->discovery_timer);
    lws_sul_cancel(&c->control_timer);
    alerts_stop(c->alerts);
    channel_manager_close_all(c->channels);
}

void consumer_on_completion(struct consumer *c, const struct platform_completion *done)
{
    if (done->tag & CHANNEL_MANAGER_TAG) {
        channel_manager_on_result(c->channels, done->tag, done->status, done->body, done->error);
        return;
    }
    if (done->tag & ALERTS_TAG) {
        alerts_on_completion(c->alerts, done);
        return;
    }
    if (done->tag & CONTROL_TAG) {
        control_on_completion(c->control, done->tag, done->status, done->body, done->error,
                              now_wall(c));
        return;
    }
    if (done->tag == TAG_DISCOVERY || done->tag == TAG_RECONCILE)
        handle_listing(c, done);
}

void consumer_resync(struct consumer *c)
{
    if (!c->stopping)
        request_reconcile(c);
}

bool consumer_ready(const struct consumer *c, char *why, size_t why_size)
{
    if (!c->discovered_once) {
        snprintf(why, why_size, "campaign discovery has not completed");
        return false;
    }
    if (!channel_manager_all_connected(c->channels)) {
        snprintf(why, why_size, "%zu of %zu channel(s) connected",
                 channel_manager_connected_count(c->channels), topic_plan_slot_count(c->plan));
        return false;
    }
    if (topic_plan_slot_count(c->plan) > 0 && !c->reconciled_since_connect) {
        snprintf(why, why_size, "reconciliation after the last connection is pending");
        return false;
    }
    snprintf(why, why_size, "ok");
    return true;
}

const struct cache *consumer_cache(const struct consumer *c)
{
    return c->cache;
}

void consumer_get_counters(const struct consumer *c, struct consumer_counters *out)
{
    *out = c->counters;
    struct cache_stats stats = cache_stats(c->cache);
    out->stale_dropped = stats.stale_dropped;
    out->duplicate_dropped = stats.duplicate_dropped;
    struct alerts_counters alerts;
    alerts_get_counters(c->alerts, &alerts);
    out->invalid_transitions = alerts.invalid_raised;
}

void consumer_get_alert_counters(const struct consumer *c, struct alerts_counters *out)
{
    alerts_get_counters(c->alerts, out);
}

size_t consumer_channels_connected(const struct consumer *c)
{
    return channel_manager_connected_count(c->channels);
}

size_t consumer_channel_count(const struct consumer *c)
{
    return topic_plan_slot_count(c->plan);
}

size_t consumer_topic_count(const struct consumer *c)
{
    size_t total = 0;
    for (size_t i = 0; i < topic_plan_slot_count(c->plan); i++)
        total += topic_plan_slot_size(c->plan, i);
    return total;
}

const struct channel_manager *consumer_channels(const struct consumer *c)
{
    return c->channels;
}

struct control *consumer_control(struct consumer *c)
{
    return c->control;
}
