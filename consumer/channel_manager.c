#include "consumer/channel_manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "consumer/backoff.h"
#include "consumer/stream_conn.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/timeutil.h"

#define COMPONENT "channels"

enum channel_op { OP_CREATE = 1, OP_HEAD = 2, OP_PUT = 3 };

enum channel_phase {
    PHASE_CHECKING,    /* HEAD of a remembered channel id */
    PHASE_CREATING,    /* POST /channels in flight */
    PHASE_SUBSCRIBING, /* first PUT of the topics in flight */
    PHASE_CONNECTING,  /* socket opening */
    PHASE_LIVE,        /* socket established */
    PHASE_WAITING,     /* socket closed, reconnect timer running */
    PHASE_RETIRING,    /* replaced; socket closing */
};

struct channel {
    struct channel_manager *manager;
    struct channel *next;
    uint32_t serial;
    size_t slot;
    char *id;
    char *connect_uri;
    enum channel_phase phase;
    struct stream_conn *conn;
    bool put_in_flight;
    bool put_again;
    bool check_before_connect; /* the last close suggests the channel may be gone */
    struct strmap *reported_rejections;
    lws_sorted_usec_list_t timer;
};

struct slot_state {
    struct channel *active;
    struct channel *replacement;
    struct backoff *backoff;
    bool covered;
    bool ever_covered;
    int64_t lost_at_ms;
    bool rotate_pending; /* rotation asked for while a replacement could not start */
    lws_sorted_usec_list_t refresh_timer;
    struct channel_manager *manager;
    size_t index;
};

struct channel_manager {
    struct channel_manager_options options;
    struct channel_manager_port port;
    struct channel_manager_events events;
    struct slot_state *slots;
    size_t slot_capacity;
    struct channel *channels;
    uint32_t next_serial;
    bool closing;
    struct channel_manager_counters counters;
};

static void channel_start_connect(struct channel *ch);
static void channel_timer_fired(lws_sorted_usec_list_t *sul);
static void channel_put_topics(struct channel *ch);
static void slot_start_channel(struct channel_manager *m, size_t slot, bool as_replacement,
                               bool allow_reuse);

static uint64_t make_tag(enum channel_op op, uint32_t serial)
{
    return CHANNEL_MANAGER_TAG | ((uint64_t)op << 32) | serial;
}

static struct channel *find_channel(struct channel_manager *m, uint32_t serial)
{
    for (struct channel *ch = m->channels; ch; ch = ch->next)
        if (ch->serial == serial)
            return ch;
    return NULL;
}

static const char *channel_label(const struct channel *ch)
{
    return ch->id ? ch->id : "(new)";
}

static struct channel *channel_new(struct channel_manager *m, size_t slot)
{
    struct channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        abort();
    ch->manager = m;
    ch->serial = ++m->next_serial;
    ch->slot = slot;
    ch->reported_rejections = strmap_create();
    ch->next = m->channels;
    m->channels = ch;
    return ch;
}

static void channel_free(struct channel *ch)
{
    struct channel_manager *m = ch->manager;
    for (struct channel **p = &m->channels; *p; p = &(*p)->next) {
        if (*p == ch) {
            *p = ch->next;
            break;
        }
    }
    lws_sul_cancel(&ch->timer);
    if (ch->conn)
        stream_conn_abandon(ch->conn);
    strmap_destroy(ch->reported_rejections);
    free(ch->id);
    free(ch->connect_uri);
    free(ch);
}

/* ---- timers ---------------------------------------------------------------- */

static void schedule(struct channel_manager *m, lws_sorted_usec_list_t *sul, sul_cb_t cb,
                     int64_t delay_ms)
{
    if (delay_ms < 1)
        delay_ms = 1;
    lws_sul_schedule(m->options.context, 0, sul, cb, (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

static void submit_head(struct channel *ch)
{
    struct channel_manager *m = ch->manager;
    char path[256];
    snprintf(path, sizeof path, "/api/v2/notifications/channels/%s", ch->id);
    if (m->port.submit(m->port.opaque, "HEAD", path, NULL, make_tag(OP_HEAD, ch->serial)))
        schedule(m, &ch->timer, channel_timer_fired, 1000);
}

static void channel_timer_fired(lws_sorted_usec_list_t *sul)
{
    struct channel *ch = lws_container_of(sul, struct channel, timer);
    struct channel_manager *m = ch->manager;
    if (m->closing)
        return;
    switch (ch->phase) {
    case PHASE_WAITING:
        if (ch->check_before_connect && ch->id) {
            ch->phase = PHASE_CHECKING;
            submit_head(ch);
        } else {
            channel_start_connect(ch);
        }
        break;
    case PHASE_CREATING:
        if (m->port.submit(m->port.opaque, "POST", "/api/v2/notifications/channels", NULL,
                           make_tag(OP_CREATE, ch->serial)))
            schedule(m, &ch->timer, channel_timer_fired, 1000);
        break;
    case PHASE_CHECKING:
        submit_head(ch);
        break;
    case PHASE_SUBSCRIBING:
    case PHASE_CONNECTING:
    case PHASE_LIVE:
        /* A PUT of the topics failed earlier; try again. */
        if (ch->phase == PHASE_SUBSCRIBING || topic_plan_slot_dirty(m->options.plan, ch->slot))
            channel_put_topics(ch);
        break;
    case PHASE_RETIRING:
        break;
    }
}

static int64_t slot_backoff_ms(struct channel_manager *m, size_t slot)
{
    return backoff_next_ms(m->slots[slot].backoff, time_mono_ms());
}

static void slot_refresh_fired(lws_sorted_usec_list_t *sul)
{
    struct slot_state *s = lws_container_of(sul, struct slot_state, refresh_timer);
    struct channel_manager *m = s->manager;
    if (m->closing)
        return;
    /* Re-PUT the topics: the platform extends a channel's 24 h life on resubscribe. */
    if (s->active && (s->active->phase == PHASE_LIVE || s->active->phase == PHASE_CONNECTING)) {
        m->counters.rotations_refresh++;
        log_info(COMPONENT, "channel %s: resubscribing to extend its expiry",
                 channel_label(s->active));
        channel_put_topics(s->active);
    }
    schedule(m, &s->refresh_timer, slot_refresh_fired, m->options.channel_refresh_ms);
}

/* ---- coverage ---------------------------------------------------------------- */

static void slot_lost(struct channel_manager *m, size_t slot)
{
    struct slot_state *s = &m->slots[slot];
    if (s->covered) {
        s->covered = false;
        s->lost_at_ms = time_now_ms();
    }
}

static void slot_regained(struct channel_manager *m, size_t slot)
{
    struct slot_state *s = &m->slots[slot];
    if (s->covered)
        return;
    s->covered = true;
    int64_t lost_at = s->ever_covered ? s->lost_at_ms : 0;
    s->ever_covered = true;
    s->lost_at_ms = 0;
    if (m->events.on_covered)
        m->events.on_covered(m->events.owner, slot, lost_at);
}

/* ---- REST steps ---------------------------------------------------------------- */

static void channel_put_topics(struct channel *ch)
{
    struct channel_manager *m = ch->manager;
    if (ch->put_in_flight) {
        ch->put_again = true;
        return;
    }
    const char **topics = topic_plan_slot_topics(m->options.plan, ch->slot);
    struct strbuf body;
    strbuf_init(&body);
    strbuf_append_char(&body, '[');
    for (size_t i = 0; topics[i]; i++) {
        if (i)
            strbuf_append_char(&body, ',');
        strbuf_append(&body, "{\"id\":");
        strbuf_append_json_string(&body, topics[i]);
        strbuf_append_char(&body, '}');
    }
    strbuf_append_char(&body, ']');
    free(topics);
    char path[256];
    snprintf(path, sizeof path, "/api/v2/notifications/channels/%s/subscriptions?ignoreErrors=true",
             ch->id);
    topic_plan_slot_clean(m->options.plan, ch->slot);
    if (m->port.submit(m->port.opaque, "PUT", path, strbuf_cstr(&body),
                       make_tag(OP_PUT, ch->serial)) == 0) {
        ch->put_in_flight = true;
        m->counters.subscription_puts++;
    } else {
        topic_plan_slot_mark_dirty(m->options.plan, ch->slot);
        schedule(m, &ch->timer, channel_timer_fired, 1000);
    }
    strbuf_free(&body);
}

static void channel_create_remote(struct channel *ch)
{
    struct channel_manager *m = ch->manager;
    /* A retry pending from the phase before would POST a second channel. */
    lws_sul_cancel(&ch->timer);
    ch->phase = PHASE_CREATING;
    free(ch->id);
    free(ch->connect_uri);
    ch->id = NULL;
    ch->connect_uri = NULL;
    if (m->port.submit(m->port.opaque, "POST", "/api/v2/notifications/channels", NULL,
                       make_tag(OP_CREATE, ch->serial)))
        schedule(m, &ch->timer, channel_timer_fired, 1000);
}

static void save_channel(struct channel *ch)
{
    struct channel_manager *m = ch->manager;
    if (!m->port.save_channel_id)
        return;
    char value[1024];
    snprintf(value, sizeof value, "%s\t%s", ch->id, ch->connect_uri);
    m->port.save_channel_id(m->port.opaque, ch->slot, value);
}

static void handle_create_result(struct channel *ch, long status, const char *body,
                                 const char *errstr)
{
    struct channel_manager *m = ch->manager;
    if (ch->phase != PHASE_CREATING) {
        /* A second answer for a channel that has one (or is past creating): taking it
         * would drop the first channel's id unfreed and unused. */
        log_warn(COMPONENT, "channel %s: ignoring a late create result (status %ld)",
                 channel_label(ch), status);
        return;
    }
    cJSON *json = status >= 200 && status < 300 && body ? cJSON_Parse(body) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "id");
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(json, "connectUri");
    if (!cJSON_IsString(id) || !cJSON_IsString(uri)) {
        int64_t delay = slot_backoff_ms(m, ch->slot);
        log_warn(COMPONENT,
                 "creating a notification channel failed (status %ld%s%s); retrying in %lld ms",
                 status, errstr && errstr[0] ? ": " : "", errstr ? errstr : "", (long long)delay);
        cJSON_Delete(json);
        schedule(m, &ch->timer, channel_timer_fired, delay);
        return;
    }
    ch->id = strdup(id->valuestring);
    ch->connect_uri = strdup(uri->valuestring);
    if (!ch->id || !ch->connect_uri)
        abort();
    cJSON_Delete(json);
    m->counters.channels_created++;
    log_info(COMPONENT, "created channel %s for slot %zu", ch->id, ch->slot);
    save_channel(ch);
    ch->phase = PHASE_SUBSCRIBING;
    channel_put_topics(ch);
}

static void report_rejections(struct channel *ch, const char *body)
{
    struct channel_manager *m = ch->manager;
    cJSON *json = body ? cJSON_Parse(body) : NULL;
    const cJSON *entities = cJSON_GetObjectItemCaseSensitive(json, "entities");
    const cJSON *entity;
    cJSON_ArrayForEach(entity, entities)
    {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(entity, "state");
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(entity, "id");
        if (!cJSON_IsString(state) || !cJSON_IsString(topic) ||
            strcmp(state->valuestring, "Rejected") != 0)
            continue;
        if (strmap_contains(ch->reported_rejections, topic->valuestring))
            continue;
        strmap_put(ch->reported_rejections, topic->valuestring, (void *)1);
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(entity, "rejectionReason");
        const char *why = cJSON_IsString(reason) ? reason->valuestring : "rejected";
        m->counters.topics_rejected++;
        log_warn(COMPONENT, "channel %s: topic %s rejected: %s", channel_label(ch),
                 topic->valuestring, why);
        if (m->events.on_topic_rejected)
            m->events.on_topic_rejected(m->events.owner, topic->valuestring, why);
    }
    cJSON_Delete(json);
}

static void handle_put_result(struct channel *ch, long status, const char *body,
                              const char *errstr)
{
    struct channel_manager *m = ch->manager;
    ch->put_in_flight = false;
    if (status == 404) {
        /* The channel expired or was evicted while we were not looking. */
        log_warn(COMPONENT, "channel %s is gone (404 on subscribe); creating a new one",
                 channel_label(ch));
        m->counters.replacements_lost++;
        if (ch->conn) {
            stream_conn_abandon(ch->conn);
            ch->conn = NULL;
            if (ch->phase == PHASE_LIVE)
                slot_lost(m, ch->slot);
        }
        ch->put_again = false;
        channel_create_remote(ch);
        return;
    }
    if (status < 200 || status >= 300) {
        int64_t delay = slot_backoff_ms(m, ch->slot);
        log_warn(COMPONENT, "channel %s: subscribing failed (status %ld%s%s); retrying in %lld ms",
                 channel_label(ch), status, errstr && errstr[0] ? ": " : "",
                 errstr ? errstr : "", (long long)delay);
        topic_plan_slot_mark_dirty(m->options.plan, ch->slot);
        ch->put_again = false;
        schedule(m, &ch->timer, channel_timer_fired, delay);
        return;
    }
    report_rejections(ch, body);
    if (ch->put_again) {
        ch->put_again = false;
        channel_put_topics(ch);
    }
    if (ch->phase == PHASE_SUBSCRIBING)
        channel_start_connect(ch);
}

static void handle_head_result(struct channel *ch, long status)
{
    struct channel_manager *m = ch->manager;
    if (status == 200) {
        if (!ch->connect_uri) {
            channel_create_remote(ch);
            return;
        }
        if (ch->conn || ch->phase == PHASE_CHECKING) {
            /* A remembered (or disconnected) channel the platform still knows: its
             * subscriptions may be stale, so PUT the full list before connecting. */
            m->counters.channels_reused += ch->check_before_connect ? 0 : 1;
            ch->check_before_connect = false;
            ch->phase = PHASE_SUBSCRIBING;
            channel_put_topics(ch);
        }
        return;
    }
    if (status == 404) {
        log_info(COMPONENT, "channel %s no longer exists; creating a new one", channel_label(ch));
        m->counters.replacements_lost++;
        ch->check_before_connect = false;
        channel_create_remote(ch);
        return;
    }
    int64_t delay = slot_backoff_ms(m, ch->slot);
    ch->phase = PHASE_WAITING;
    schedule(m, &ch->timer, channel_timer_fired, delay);
}

void channel_manager_on_result(struct channel_manager *m, uint64_t tag, long status,
                               const char *body, const char *errstr)
{
    uint32_t serial = (uint32_t)(tag & 0xffffffffu);
    enum channel_op op = (enum channel_op)((tag >> 32) & 0xff);
    struct channel *ch = find_channel(m, serial);
    if (!ch || m->closing || ch->phase == PHASE_RETIRING)
        return; /* a result for a channel that was replaced meanwhile */
    switch (op) {
    case OP_CREATE: handle_create_result(ch, status, body, errstr); break;
    case OP_PUT: handle_put_result(ch, status, body, errstr); break;
    case OP_HEAD: handle_head_result(ch, status); break;
    }
}

/* ---- sockets ------------------------------------------------------------------ */

static void on_established(void *owner, struct stream_conn *conn)
{
    struct channel *ch = owner;
    struct channel_manager *m = ch->manager;
    struct slot_state *s = &m->slots[ch->slot];
    ch->phase = PHASE_LIVE;
    backoff_succeeded(s->backoff, time_mono_ms());
    log_info(COMPONENT, "channel %s connected (slot %zu)", channel_label(ch), ch->slot);
    if (s->replacement == ch) {
        /* Rotation complete: the new socket is up, so the old one can go. */
        struct channel *old = s->active;
        s->active = ch;
        s->replacement = NULL;
        if (old) {
            log_info(COMPONENT, "channel %s replaced by %s; closing the old socket",
                     channel_label(old), channel_label(ch));
            old->phase = PHASE_RETIRING;
            if (old->conn)
                stream_conn_close(old->conn);
            else
                channel_free(old);
        }
        save_channel(ch);
    }
    slot_regained(m, ch->slot);
}

static void on_message(void *owner, struct stream_conn *conn, const char *text, size_t len)
{
    struct channel *ch = owner;
    struct channel_manager *m = ch->manager;
    m->counters.messages++;
    if (m->events.on_message)
        m->events.on_message(m->events.owner, ch->slot, text, len);
}

static void on_oversized(void *owner, struct stream_conn *conn, size_t bytes)
{
    struct channel *ch = owner;
    struct channel_manager *m = ch->manager;
    m->counters.oversized_frames++;
    log_warn(COMPONENT, "channel %s: dropped a %zu-byte message over the %lld-byte limit",
             channel_label(ch), bytes, (long long)m->options.max_frame_bytes);
    if (m->events.on_oversized)
        m->events.on_oversized(m->events.owner, ch->slot, bytes);
}

static void on_closed(void *owner, struct stream_conn *conn, enum stream_close_cause cause,
                      const char *detail)
{
    struct channel *ch = owner;
    struct channel_manager *m = ch->manager;
    struct slot_state *s = &m->slots[ch->slot];
    ch->conn = NULL;
    bool was_live = ch->phase == PHASE_LIVE;

    if (ch->phase == PHASE_RETIRING || m->closing) {
        channel_free(ch);
        return;
    }
    if (s->replacement == ch) {
        /* The replacement failed before taking over; the old socket still serves. */
        log_warn(COMPONENT, "replacement channel %s failed (%s: %s); retrying",
                 channel_label(ch), stream_close_cause_name(cause), detail);
        s->replacement = NULL;
        channel_free(ch);
        s->rotate_pending = true;
        schedule(m, &s->refresh_timer, slot_refresh_fired, slot_backoff_ms(m, s->index));
        return;
    }

    switch (cause) {
    case STREAM_CLOSE_HEARTBEAT_TIMEOUT: m->counters.reconnects_heartbeat++; break;
    case STREAM_CLOSE_CONNECT_FAILED: m->counters.reconnects_connect_failed++; break;
    default: m->counters.reconnects_remote++; break;
    }
    if (was_live)
        slot_lost(m, ch->slot);
    int64_t delay = slot_backoff_ms(m, ch->slot);
    log_warn(COMPONENT, "channel %s socket closed (%s: %s); reconnecting in %lld ms",
             channel_label(ch), stream_close_cause_name(cause), detail, (long long)delay);
    ch->phase = PHASE_WAITING;
    ch->check_before_connect = cause == STREAM_CLOSE_CONNECT_FAILED;
    schedule(m, &ch->timer, channel_timer_fired, delay);
}

static const struct stream_conn_callbacks conn_callbacks = {
    .on_established = on_established,
    .on_message = on_message,
    .on_oversized = on_oversized,
    .on_closed = on_closed,
};

static void channel_start_connect(struct channel *ch)
{
    struct channel_manager *m = ch->manager;
    struct stream_conn_options options = {
        .max_frame_bytes = (size_t)m->options.max_frame_bytes,
        .ping_interval_ms = m->options.ping_interval_ms,
        .heartbeat_timeout_ms = m->options.heartbeat_timeout_ms,
    };
    char errstr[512];
    ch->phase = PHASE_CONNECTING;
    ch->conn = stream_conn_open(m->options.context, ch->connect_uri, &options, &conn_callbacks,
                                ch, errstr, sizeof errstr);
    if (!ch->conn) {
        int64_t delay = slot_backoff_ms(m, ch->slot);
        log_warn(COMPONENT, "channel %s: %s; retrying in %lld ms", channel_label(ch), errstr,
                 (long long)delay);
        ch->phase = PHASE_WAITING;
        ch->check_before_connect = true;
        schedule(m, &ch->timer, channel_timer_fired, delay);
    }
}

/* ---- slots ----------------------------------------------------------------------- */

static char *split_saved(char *saved, char **uri)
{
    char *tab = strchr(saved, '\t');
    if (!tab)
        return NULL;
    *tab = '\0';
    *uri = tab + 1;
    return saved;
}

static void slot_start_channel(struct channel_manager *m, size_t slot, bool as_replacement,
                               bool allow_reuse)
{
    struct slot_state *s = &m->slots[slot];
    struct channel *ch = channel_new(m, slot);
    if (as_replacement)
        s->replacement = ch;
    else
        s->active = ch;

    char *saved = allow_reuse && m->port.load_channel_id
                      ? m->port.load_channel_id(m->port.opaque, slot)
                      : NULL;
    char *uri = NULL;
    if (saved && split_saved(saved, &uri) && saved[0] && uri[0]) {
        ch->id = strdup(saved);
        ch->connect_uri = strdup(uri);
        if (!ch->id || !ch->connect_uri)
            abort();
        free(saved);
        ch->phase = PHASE_CHECKING;
        char path[256];
        snprintf(path, sizeof path, "/api/v2/notifications/channels/%s", ch->id);
        log_info(COMPONENT, "slot %zu: checking remembered channel %s", slot, ch->id);
        if (m->port.submit(m->port.opaque, "HEAD", path, NULL, make_tag(OP_HEAD, ch->serial)))
            schedule(m, &ch->timer, channel_timer_fired, 1000);
        return;
    }
    free(saved);
    channel_create_remote(ch);
}

static void slot_rotate(struct channel_manager *m, size_t slot)
{
    struct slot_state *s = &m->slots[slot];
    if (s->replacement || !s->active)
        return;
    slot_start_channel(m, slot, true, false);
}

void channel_manager_socket_closing(struct channel_manager *m, size_t slot)
{
    if (slot >= m->slot_capacity || m->closing)
        return;
    m->counters.rotations_socket_closing++;
    log_info(COMPONENT, "slot %zu: socket closing announced; moving to a new channel", slot);
    slot_rotate(m, slot);
}

void channel_manager_channel_lost(struct channel_manager *m, size_t slot, const char *why)
{
    if (slot >= m->slot_capacity || m->closing)
        return;
    struct slot_state *s = &m->slots[slot];
    struct channel *ch = s->active;
    if (!ch)
        return;
    if (ch->phase == PHASE_CREATING) {
        /* Its replacement is being created already; a second POST would leave a channel
         * on the platform that nothing uses, towards its 20-channel cap. */
        log_info(COMPONENT, "slot %zu: %s; a new channel is being created already", slot, why);
        return;
    }
    log_warn(COMPONENT, "channel %s lost (%s); creating a new one", channel_label(ch), why);
    m->counters.replacements_lost++;
    if (ch->conn) {
        stream_conn_abandon(ch->conn);
        ch->conn = NULL;
    }
    if (ch->phase == PHASE_LIVE)
        slot_lost(m, slot);
    lws_sul_cancel(&ch->timer);
    ch->put_in_flight = false;
    ch->put_again = false;
    strmap_clear(ch->reported_rejections);
    channel_create_remote(ch);
}

void channel_manager_sync(struct channel_manager *m)
{
    if (m->closing)
        return;
    size_t count = topic_plan_slot_count(m->options.plan);
    for (size_t slot = 0; slot < count && slot < m->slot_capacity; slot++) {
        struct slot_state *s = &m->slots[slot];
        if (!s->backoff) {
            struct backoff_options bo = {
                .base_ms = m->options.reconnect_min_ms,
                .cap_ms = m->options.reconnect_max_ms,
                .healthy_ms = m->options.healthy_after_ms,
            };
            char errstr[256];
            s->backoff = backoff_create(&bo, errstr, sizeof errstr);
            if (!s->backoff)
                abort(); /* options were validated by config */
            s->manager = m;
            s->index = slot;
            if (m->options.channel_refresh_ms > 0)
                schedule(m, &s->refresh_timer, slot_refresh_fired, m->options.channel_refresh_ms);
        }
        if (!s->active) {
            if (topic_plan_slot_size(m->options.plan, slot) > 0)
                slot_start_channel(m, slot, false, true);
            continue;
        }
        if (!topic_plan_slot_dirty(m->options.plan, slot))
            continue;
        struct channel *ch = s->active;
        if (ch->phase == PHASE_LIVE || ch->phase == PHASE_CONNECTING || ch->phase == PHASE_WAITING)
            channel_put_topics(ch);
        if (s->replacement && s->replacement->phase != PHASE_CREATING &&
            s->replacement->phase != PHASE_CHECKING)
            channel_put_topics(s->replacement);
    }
    for (size_t slot = 0; slot < count && slot < m->slot_capacity; slot++) {
        struct slot_state *s = &m->slots[slot];
        if (s->rotate_pending && s->active && !s->replacement) {
            s->rotate_pending = false;
            slot_rotate(m, slot);
        }
    }
}

/* ---- lifecycle ---------------------------------------------------------------------- */

struct channel_manager *channel_manager_create(const struct channel_manager_options *options,
                                               const struct channel_manager_port *port,
                                               const struct channel_manager_events *events,
                                               char *errstr, size_t errstr_size)
{
    if (!options->context || !options->plan || !port || !port->submit) {
        snprintf(errstr, errstr_size, "channel manager: context, plan and port are required");
        return NULL;
    }
    struct channel_manager *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->options = *options;
    m->port = *port;
    m->events = *events;
    /* Fixed capacity: slots embed timers lws links into its lists. The plan never has
     * more slots than the channel limit, which config caps at 20. */
    m->slot_capacity = 64;
    m->slots = calloc(m->slot_capacity, sizeof *m->slots);
    if (!m->slots)
        abort();
    return m;
}

void channel_manager_close_all(struct channel_manager *m)
{
    m->closing = true;
    for (size_t i = 0; i < m->slot_capacity; i++)
        lws_sul_cancel(&m->slots[i].refresh_timer);
    for (struct channel *ch = m->channels; ch; ch = ch->next) {
        lws_sul_cancel(&ch->timer);
        if (ch->conn)
            stream_conn_close(ch->conn);
    }
}

void channel_manager_destroy(struct channel_manager *m)
{
    if (!m)
        return;
    m->closing = true;
    while (m->channels)
        channel_free(m->channels);
    for (size_t i = 0; i < m->slot_capacity; i++) {
        lws_sul_cancel(&m->slots[i].refresh_timer);
        backoff_destroy(m->slots[i].backoff);
    }
    free(m->slots);
    free(m);
}

size_t channel_manager_slots(const struct channel_manager *m)
{
    return topic_plan_slot_count(m->options.plan);
}

bool channel_manager_slot_connected(const struct channel_manager *m, size_t slot)
{
    return slot < m->slot_capacity && m->slots[slot].covered;
}

bool channel_manager_all_connected(const struct channel_manager *m)
{
    size_t count = topic_plan_slot_count(m->options.plan);
    for (size_t slot = 0; slot < count && slot < m->slot_capacity; slot++)
        if (topic_plan_slot_size(m->options.plan, slot) > 0 && !m->slots[slot].covered)
            return false;
    return true;
}

size_t channel_manager_connected_count(const struct channel_manager *m)
{
    size_t n = 0;
    for (size_t slot = 0; slot < m->slot_capacity; slot++)
        n += m->slots[slot].covered ? 1 : 0;
    return n;
}

void channel_manager_get_counters(const struct channel_manager *m,
                                  struct channel_manager_counters *out)
{
    *out = m->counters;
}

const char *channel_manager_channel_id(const struct channel_manager *m, size_t slot)
{
    if (slot >= m->slot_capacity || !m->slots[slot].active)
        return NULL;
    return m->slots[slot].active->id;
}
