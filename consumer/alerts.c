#include "consumer/alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "consumer/lifecycle.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define COMPONENT "alerts"
#define TEXT_MAX 512 /* longest error text carried from a lookup into an alert */

enum lookup_kind { LOOKUP_CAMPAIGN = 0, LOOKUP_IMPORT, LOOKUP_DIAGNOSTICS, LOOKUP_COUNT };

static const char *const lookup_names[LOOKUP_COUNT] = {"campaign", "importStatus",
                                                       "diagnostics"};

enum lookup_status {
    LOOKUP_NOT_ASKED = 0,
    LOOKUP_PENDING,
    LOOKUP_ANSWERED,
    LOOKUP_UNAVAILABLE, /* the platform has no such resource (404) */
    LOOKUP_FAILED,
};

enum watch_phase {
    WATCH_WAITING = 0, /* until entered + tolerance */
    WATCH_LOOKING,     /* cause lookups in flight, until the lookup deadline */
    WATCH_RAISED,      /* alert raised; resolved when the campaign leaves */
};

/* What the lookups found about a stuck campaign. */
struct findings {
    enum lookup_status status[LOOKUP_COUNT];
    char *note[LOOKUP_COUNT]; /* why a lookup failed or was skipped */
    char *campaign_errors;    /* "error: details; …" from GET campaign */
    char *import_state;
    char *import_failure;
    double import_percent;
    bool has_import_percent;
    char *diagnostic_errors;
    long long outstanding;
    bool has_outstanding;
    bool timed_out;
};

struct stuck_watch {
    char *campaign_id;
    enum lifecycle_state state;
    int64_t entered_ms;
    int64_t due_ms; /* WAITING: the tolerance deadline; LOOKING: the lookup deadline */
    int64_t raised_ms;
    enum watch_phase phase;
    uint64_t serial; /* of the lookups of the current firing */
    struct findings found;
};

enum active_level { ACTIVE_NORMAL = 0, ACTIVE_WARNING, ACTIVE_CRITICAL };

struct alerts {
    struct alerts_options options;
    struct strmap *watches; /* campaign id -> struct stuck_watch */
    lws_sorted_usec_list_t timer;
    bool started;
    bool stopped;
    uint64_t next_serial;
    int active_count;
    enum active_level active_level;
    int64_t active_since_ms;
    struct alerts_counters counters;
};

static int64_t now_ms(const struct alerts *a)
{
    return a->options.now_ms ? a->options.now_ms() : time_now_ms();
}

static void replace_text(char **slot, const char *text)
{
    free(*slot);
    *slot = text ? xstrdup_or_empty(text) : NULL;
}

/* ---- output ------------------------------------------------------------------------- */

struct alert_spec {
    const char *name;
    enum events_severity severity;
    const char *dedup_key;
    const char *occurrence;
    const char *summary;
    const struct cache_entry *campaign;
    const char *details;
};

static void emit_alert(struct alerts *a, const struct alert_spec *spec)
{
    struct events_alert alert = {
        .name = spec->name,
        .severity = spec->severity,
        .dedup_key = spec->dedup_key,
        .occurrence = spec->occurrence,
        .summary = spec->summary,
        .campaign = spec->campaign,
        .details_json = spec->details,
        .raised_ms = now_ms(a),
    };
    char errstr[256];
    struct relay_event *event = events_alert(a->options.events, &alert, errstr, sizeof errstr);
    if (!event) {
        log_error(COMPONENT, "cannot build alert.%s: %s", spec->name, errstr);
        return;
    }
    a->options.port.emit(a->options.port.opaque, event);
}

static char *state_get(struct alerts *a, const char *key)
{
    if (!a->options.port.state_get)
        return NULL;
    char *value = a->options.port.state_get(a->options.port.opaque, key);
    if (value && !value[0]) {
        free(value);
        return NULL;
    }
    return value;
}

static void state_set(struct alerts *a, const char *key, const char *value)
{
    if (a->options.port.state_set)
        a->options.port.state_set(a->options.port.opaque, key, value);
}

static const char *display_name(const struct cache_entry *e)
{
    return e->name ? e->name : e->id;
}

static void format_seconds(char *out, size_t size, int64_t ms)
{
    if (ms % 1000 == 0 || ms >= 10000)
        snprintf(out, size, "%lld s", (long long)((ms + 500) / 1000));
    else
        snprintf(out, size, "%.1f s", (double)ms / 1000.0);
}

/* ---- transition_invalid and campaign_failed ---------------------------------------- */

/* The platform stays the truth (the cache already follows it); this tells on-call what
 * the lifecycle graph says should not have happened. */
static void raise_invalid(struct alerts *a, const struct cache_change *change)
{
    const struct cache_entry *e = change->entry;
    char occurrence[48], dedup[160], summary[512];
    snprintf(occurrence, sizeof occurrence, "%lld", (long long)e->version);
    snprintf(dedup, sizeof dedup, "transition_invalid:%s", e->id);
    snprintf(summary, sizeof summary,
             "campaign %s went from %s (%s) to %s (%s), which the lifecycle does not allow",
             display_name(e), lifecycle_state_name(change->previous_state),
             change->previous_status ? change->previous_status : "?",
             lifecycle_state_name(e->state), e->raw_status ? e->raw_status : "?");
    struct strbuf details;
    strbuf_init(&details);
    strbuf_appendf(&details, "{\"from\":{\"state\":\"%s\",\"status\":",
                   lifecycle_state_name(change->previous_state));
    strbuf_append_json_string(&details, change->previous_status);
    strbuf_appendf(&details, "},\"to\":{\"state\":\"%s\",\"status\":",
                   lifecycle_state_name(e->state));
    strbuf_append_json_string(&details, e->raw_status);
    strbuf_appendf(&details, "},\"version\":%lld}", (long long)e->version);
    struct alert_spec spec = {"transition_invalid", EVENTS_SEVERITY_WARNING, dedup, occurrence,
                              summary, e, strbuf_cstr(&details)};
    emit_alert(a, &spec);
    strbuf_free(&details);
    a->counters.invalid_raised++;
}

static void raise_failed(struct alerts *a, const struct cache_entry *e)
{
    char occurrence[48], dedup[160], summary[768];
    snprintf(occurrence, sizeof occurrence, "%lld", (long long)e->version);
    snprintf(dedup, sizeof dedup, "campaign_failed:%s", e->id);
    snprintf(summary, sizeof summary, "campaign %s is in an error state (%s)%s%s",
             display_name(e), e->raw_status ? e->raw_status : "?", e->errors_summary ? ": " : "",
             e->errors_summary ? e->errors_summary : "");
    struct strbuf details;
    strbuf_init(&details);
    strbuf_append(&details, "{\"errors\":");
    strbuf_append_json_string(&details, e->errors_summary);
    strbuf_appendf(&details, ",\"version\":%lld,\"resolved\":false}", (long long)e->version);
    struct alert_spec spec = {"campaign_failed", EVENTS_SEVERITY_CRITICAL, dedup, occurrence,
                              summary, e, strbuf_cstr(&details)};
    emit_alert(a, &spec);
    strbuf_free(&details);
    a->counters.failed_raised++;
}

static void resolve_failed(struct alerts *a, const struct cache_entry *e)
{
    char occurrence[64], dedup[160], summary[512];
    snprintf(occurrence, sizeof occurrence, "resolved:%lld", (long long)e->version);
    snprintf(dedup, sizeof dedup, "campaign_failed:%s", e->id);
    snprintf(summary, sizeof summary, "campaign %s left its error state (now %s, %s)",
             display_name(e), lifecycle_state_name(e->state), e->raw_status ? e->raw_status : "?");
    struct strbuf details;
    strbuf_init(&details);
    strbuf_appendf(&details, "{\"state\":\"%s\",\"status\":", lifecycle_state_name(e->state));
    strbuf_append_json_string(&details, e->raw_status);
    strbuf_appendf(&details, ",\"version\":%lld,\"resolved\":true}", (long long)e->version);
    struct alert_spec spec = {"campaign_failed", EVENTS_SEVERITY_INFO, dedup, occurrence,
                              summary, e, strbuf_cstr(&details)};
    emit_alert(a, &spec);
    strbuf_free(&details);
}

/* ---- stuck watches: records --------------------------------------------------------- */

static bool is_watched(const struct cache_entry *e)
{
    if (lifecycle_is_transient(e->state))
        return true;
    /* Whatever a replaced status map says, these raw statuses are on their way down. */
    return e->raw_status && (strcmp(e->raw_status, "stopping") == 0 ||
                             strcmp(e->raw_status, "forced_stopping") == 0);
}

static void record_key(char *out, size_t size, const char *campaign_id)
{
    snprintf(out, size, ALERTS_STATE_PREFIX "%s", campaign_id);
}

static void save_record(struct alerts *a, const struct stuck_watch *w)
{
    char key[256], value[160];
    record_key(key, sizeof key, w->campaign_id);
    snprintf(value, sizeof value, "{\"state\":\"%s\",\"enteredMs\":%lld,\"raisedMs\":%lld}",
             lifecycle_state_name(w->state), (long long)w->entered_ms,
             (long long)(w->phase == WATCH_RAISED ? w->raised_ms : 0));
    state_set(a, key, value);
}

static void clear_record(struct alerts *a, const char *campaign_id)
{
    char key[256];
    record_key(key, sizeof key, campaign_id);
    state_set(a, key, "");
}

struct stuck_record {
    int state; /* -1 when the record is absent or unreadable */
    int64_t entered_ms;
    int64_t raised_ms;
};

static struct stuck_record load_record(struct alerts *a, const char *campaign_id)
{
    struct stuck_record rec = {.state = -1};
    char key[256];
    record_key(key, sizeof key, campaign_id);
    char *text = state_get(a, key);
    if (!text)
        return rec;
    cJSON *json = cJSON_Parse(text);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(json, "state");
    const cJSON *entered = cJSON_GetObjectItemCaseSensitive(json, "enteredMs");
    const cJSON *raised = cJSON_GetObjectItemCaseSensitive(json, "raisedMs");
    if (cJSON_IsString(state) && cJSON_IsNumber(entered) && cJSON_IsNumber(raised) &&
        lifecycle_state_parse(state->valuestring) >= 0) {
        rec.state = lifecycle_state_parse(state->valuestring);
        rec.entered_ms = (int64_t)entered->valuedouble;
        rec.raised_ms = (int64_t)raised->valuedouble;
    } else {
        log_warn(COMPONENT, "ignoring an unreadable record %s: %s", key, text);
    }
    cJSON_Delete(json);
    free(text);
    return rec;
}

/* ---- stuck watches: lifecycle ------------------------------------------------------- */

static void findings_clear(struct findings *f)
{
    for (int i = 0; i < LOOKUP_COUNT; i++)
        free(f->note[i]);
    free(f->campaign_errors);
    free(f->import_state);
    free(f->import_failure);
    free(f->diagnostic_errors);
    memset(f, 0, sizeof *f);
}

static void watch_free(struct stuck_watch *w)
{
    if (!w)
        return;
    findings_clear(&w->found);
    free(w->campaign_id);
    free(w);
}

static int64_t tolerance_for(const struct alerts *a, const struct cache_entry *e)
{
    return config_tolerance_ms(a->options.lifecycle, e->dialing_mode);
}

static void watch_begin(struct alerts *a, const struct cache_entry *e)
{
    struct stuck_watch *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->campaign_id = xstrdup_or_empty(e->id);
    w->state = e->state;
    w->entered_ms = e->state_entered_ms;
    /* A record of the same state means this is the episode an earlier run watched
     * (its cache snapshot may have lagged behind): keep its entered and raised times. */
    struct stuck_record rec = load_record(a, e->id);
    if (rec.state == (int)e->state) {
        w->entered_ms = rec.entered_ms;
        if (rec.raised_ms > 0) {
            w->phase = WATCH_RAISED;
            w->raised_ms = rec.raised_ms;
        }
    }
    if (w->phase == WATCH_WAITING)
        w->due_ms = w->entered_ms + tolerance_for(a, e);
    if (rec.state != (int)e->state)
        save_record(a, w);
    strmap_put(a->watches, w->campaign_id, w);
}

/* The campaign left the watched state (e is its new picture), or is gone (e NULL). */
static void watch_end(struct alerts *a, struct stuck_watch *w, const struct cache_entry *e,
                      const char *campaign_name)
{
    strmap_remove(a->watches, w->campaign_id);
    if (w->phase == WATCH_RAISED) {
        int64_t now = now_ms(a);
        char occurrence[64], dedup[160], summary[512], lasted[32];
        snprintf(occurrence, sizeof occurrence, "%lld:resolved", (long long)w->entered_ms);
        snprintf(dedup, sizeof dedup, "transition_stuck:%s", w->campaign_id);
        format_seconds(lasted, sizeof lasted, now - w->entered_ms);
        if (e)
            snprintf(summary, sizeof summary, "campaign %s left %s after %s (now %s, %s)",
                     campaign_name, lifecycle_state_name(w->state), lasted,
                     lifecycle_state_name(e->state), e->raw_status ? e->raw_status : "?");
        else
            snprintf(summary, sizeof summary,
                     "campaign %s is no longer listed by the platform (was %s for %s)",
                     campaign_name, lifecycle_state_name(w->state), lasted);
        char entered[RFC3339_MS_LEN], left[RFC3339_MS_LEN];
        time_format_rfc3339(w->entered_ms, entered);
        time_format_rfc3339(now, left);
        struct strbuf details;
        strbuf_init(&details);
        strbuf_appendf(&details,
                       "{\"state\":\"%s\",\"enteredAt\":\"%s\",\"leftAt\":\"%s\","
                       "\"durationMs\":%lld,\"now\":",
                       lifecycle_state_name(w->state), entered, left,
                       (long long)(now - w->entered_ms));
        if (e) {
            strbuf_appendf(&details, "{\"state\":\"%s\",\"status\":",
                           lifecycle_state_name(e->state));
            strbuf_append_json_string(&details, e->raw_status);
            strbuf_append_char(&details, '}');
        } else {
            strbuf_append(&details, "\"removed\"");
        }
        strbuf_append(&details, ",\"resolved\":true}");
        struct alert_spec spec = {"transition_stuck", EVENTS_SEVERITY_INFO, dedup, occurrence,
                                  summary, e, strbuf_cstr(&details)};
        emit_alert(a, &spec);
        strbuf_free(&details);
        a->counters.stuck_resolved++;
    }
    clear_record(a, w->campaign_id);
    watch_free(w);
}

/* Brings the watch of one campaign in line with its cache entry. */
static void watch_update(struct alerts *a, const struct cache_entry *e)
{
    struct stuck_watch *w = strmap_get(a->watches, e->id);
    if (w && (!is_watched(e) || e->state != w->state)) {
        watch_end(a, w, e, display_name(e));
        w = NULL;
    }
    if (!w && is_watched(e))
        watch_begin(a, e);
    else if (w && w->phase == WATCH_WAITING)
        w->due_ms = w->entered_ms + tolerance_for(a, e); /* the dialing mode may change */
}

/* ---- stuck watches: firing and lookups ---------------------------------------------- */

static bool is_platform_id(const char *id)
{
    if (!id || !id[0] || strlen(id) > 128)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static size_t looking_count(const struct alerts *a)
{
    size_t n = 0;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(a->watches, &it, &key, &value);)
        if (((struct stuck_watch *)value)->phase == WATCH_LOOKING)
            n++;
    return n;
}

static bool lookups_pending(const struct stuck_watch *w)
{
    for (int i = 0; i < LOOKUP_COUNT; i++)
        if (w->found.status[i] == LOOKUP_PENDING)
            return true;
    return false;
}

/* The first cause that explains a stuck campaign, most specific first. */
static void collect_causes(const struct alerts *a, const struct stuck_watch *w,
                           const struct cache_entry *e, struct strbuf *causes,
                           const char **likely, bool *actionable)
{
    const struct findings *f = &w->found;
    /* The import state from REST, else the last one the stream delivered. */
    const char *import_state = f->import_state ? f->import_state
                                               : cache_entry_import_state(a->options.cache, e);
    const char *errors = f->campaign_errors ? f->campaign_errors : e->errors_summary;
    size_t n = 0;
    *likely = NULL;
    *actionable = false;
#define ADD_CAUSE(text)                                                                    \
    do {                                                                                   \
        if (n++)                                                                           \
            strbuf_append_char(causes, ',');                                               \
        strbuf_append_json_string(causes, (text));                                         \
        if (!*likely)                                                                      \
            *likely = (text);                                                              \
    } while (0)
    strbuf_append_char(causes, '[');
    if (import_state && strcmp(import_state, "IN_PROGRESS") == 0)
        ADD_CAUSE("contact list importing");
    if (import_state && strcmp(import_state, "FAILED") == 0) {
        ADD_CAUSE("contact list import failed");
        *actionable = true;
    }
    if (errors && errors[0]) {
        ADD_CAUSE("campaign errors");
        *actionable = true;
    }
    if (f->diagnostic_errors && f->diagnostic_errors[0]) {
        ADD_CAUSE("diagnostics report campaign errors");
        *actionable = true;
    }
    if (f->has_outstanding && f->outstanding > 0 && w->state == LC_STOPPING)
        ADD_CAUSE("interactions still outstanding");
    strbuf_append_char(causes, ']');
#undef ADD_CAUSE
}

static void append_lookups(struct strbuf *details, const struct findings *f)
{
    strbuf_append(details, "{");
    for (int i = 0; i < LOOKUP_COUNT; i++) {
        if (i)
            strbuf_append_char(details, ',');
        strbuf_appendf(details, "\"%s\":", lookup_names[i]);
        const char *text;
        switch (f->status[i]) {
        case LOOKUP_ANSWERED: text = "ok"; break;
        case LOOKUP_UNAVAILABLE: text = "not available"; break;
        case LOOKUP_PENDING: text = "timed out"; break;
        case LOOKUP_FAILED: text = "failed"; break;
        default: text = "not asked"; break;
        }
        if (f->note[i]) {
            struct strbuf both;
            strbuf_init(&both);
            strbuf_appendf(&both, "%s: %s", text, f->note[i]);
            strbuf_append_json_string(details, strbuf_cstr(&both));
            strbuf_free(&both);
        } else {
            strbuf_append_json_string(details, text);
        }
    }
    strbuf_append_char(details, '}');
}

static void raise_stuck(struct alerts *a, struct stuck_watch *w, const struct cache_entry *e)
{
    int64_t now = now_ms(a);
    int64_t tolerance = tolerance_for(a, e);
    struct strbuf causes;
    strbuf_init(&causes);
    const char *likely;
    bool actionable;
    collect_causes(a, w, e, &causes, &likely, &actionable);

    const struct findings *f = &w->found;
    char entered[RFC3339_MS_LEN];
    time_format_rfc3339(w->entered_ms, entered);
    struct strbuf details;
    strbuf_init(&details);
    strbuf_appendf(&details, "{\"state\":\"%s\",\"status\":", lifecycle_state_name(w->state));
    strbuf_append_json_string(&details, e->raw_status);
    strbuf_append(&details, ",\"dialingMode\":");
    strbuf_append_json_string(&details, e->dialing_mode);
    strbuf_appendf(&details, ",\"enteredAt\":\"%s\",\"stuckForMs\":%lld,\"toleranceMs\":%lld",
                   entered, (long long)(now - w->entered_ms), (long long)tolerance);
    strbuf_append(&details, ",\"likelyCause\":");
    strbuf_append_json_string(&details, likely ? likely : "unknown");
    strbuf_append(&details, ",\"causes\":");
    strbuf_append(&details, strbuf_cstr(&causes));
    strbuf_append(&details, ",\"contactList\":");
    if (e->contact_list_id) {
        const char *import_state =
            f->import_state ? f->import_state : cache_entry_import_state(a->options.cache, e);
        strbuf_append(&details, "{\"id\":");
        strbuf_append_json_string(&details, e->contact_list_id);
        strbuf_append(&details, ",\"importState\":");
        strbuf_append_json_string(&details, import_state);
        strbuf_append(&details, ",\"percentComplete\":");
        if (f->has_import_percent)
            strbuf_appendf(&details, "%g", f->import_percent);
        else
            strbuf_append(&details, "null");
        strbuf_append(&details, ",\"failureReason\":");
        strbuf_append_json_string(&details, f->import_failure);
        strbuf_append_char(&details, '}');
    } else {
        strbuf_append(&details, "null");
    }
    strbuf_append(&details, ",\"errors\":");
    strbuf_append_json_string(&details, f->campaign_errors ? f->campaign_errors
                                                           : e->errors_summary);
    strbuf_append(&details, ",\"diagnosticErrors\":");
    strbuf_append_json_string(&details, f->diagnostic_errors);
    strbuf_append(&details, ",\"outstandingInteractions\":");
    if (f->has_outstanding)
        strbuf_appendf(&details, "%lld", f->outstanding);
    else
        strbuf_append(&details, "null");
    strbuf_append(&details, ",\"lookups\":");
    append_lookups(&details, f);
    strbuf_append(&details, ",\"resolved\":false}");

    char stuck_for[32], tolerance_text[32], summary[768], dedup[160], occurrence[32];
    format_seconds(stuck_for, sizeof stuck_for, now - w->entered_ms);
    format_seconds(tolerance_text, sizeof tolerance_text, tolerance);
    snprintf(summary, sizeof summary,
             "campaign %s has been %s (%s) for %s, over the %s tolerance for %s campaigns; "
             "likely cause: %s",
             display_name(e), lifecycle_state_name(w->state),
             e->raw_status ? e->raw_status : "?", stuck_for, tolerance_text,
             e->dialing_mode ? e->dialing_mode : "unknown", likely ? likely : "unknown");
    snprintf(dedup, sizeof dedup, "transition_stuck:%s", w->campaign_id);
    snprintf(occurrence, sizeof occurrence, "%lld", (long long)w->entered_ms);
    struct alert_spec spec = {"transition_stuck",
                              actionable ? EVENTS_SEVERITY_CRITICAL : EVENTS_SEVERITY_WARNING,
                              dedup, occurrence, summary, e, strbuf_cstr(&details)};
    log_warn(COMPONENT, "%s", summary);
    emit_alert(a, &spec);
    strbuf_free(&details);
    strbuf_free(&causes);

    w->phase = WATCH_RAISED;
    w->raised_ms = now;
    w->due_ms = 0;
    findings_clear(&w->found);
    /* Written after the event, in the same outbox transaction. */
    save_record(a, w);
    a->counters.stuck_raised++;
}

static void submit_lookup(struct alerts *a, struct stuck_watch *w, enum lookup_kind kind,
                          const char *path)
{
    uint64_t tag = ALERTS_TAG | ((uint64_t)kind << 48) | (w->serial & 0xFFFFFFFFFFFFULL);
    a->counters.lookups_submitted++;
    if (!a->options.port.submit_get ||
        a->options.port.submit_get(a->options.port.opaque, path, tag) != 0) {
        a->counters.lookups_failed++;
        w->found.status[kind] = LOOKUP_FAILED;
        replace_text(&w->found.note[kind], "not queued (the platform worker is busy)");
        return;
    }
    w->found.status[kind] = LOOKUP_PENDING;
}

/* The tolerance has passed: ask the platform why, or raise at once when it cannot. */
static void fire(struct alerts *a, struct stuck_watch *w, const struct cache_entry *e)
{
    findings_clear(&w->found);
    if (looking_count(a) >= ALERTS_MAX_LOOKUPS) {
        for (int i = 0; i < LOOKUP_COUNT; i++) {
            w->found.status[i] = LOOKUP_FAILED;
            replace_text(&w->found.note[i], "skipped: too many stuck campaigns at once");
        }
        raise_stuck(a, w, e);
        return;
    }
    w->serial = ++a->next_serial;
    char path[384];
    if (is_platform_id(e->id)) {
        snprintf(path, sizeof path, "/api/v2/outbound/campaigns/%s", e->id);
        submit_lookup(a, w, LOOKUP_CAMPAIGN, path);
        snprintf(path, sizeof path, "/api/v2/outbound/campaigns/%s/diagnostics", e->id);
        submit_lookup(a, w, LOOKUP_DIAGNOSTICS, path);
    }
    if (is_platform_id(e->contact_list_id)) {
        snprintf(path, sizeof path, "/api/v2/outbound/contactlists/%s/importstatus",
                 e->contact_list_id);
        submit_lookup(a, w, LOOKUP_IMPORT, path);
    }
    if (!lookups_pending(w)) {
        raise_stuck(a, w, e);
        return;
    }
    w->phase = WATCH_LOOKING;
    int64_t timeout = a->options.lookup_timeout_ms > 0 ? a->options.lookup_timeout_ms
                                                       : ALERTS_DEFAULT_LOOKUP_TIMEOUT_MS;
    w->due_ms = now_ms(a) + timeout;
}

static void reschedule(struct alerts *a);

static void timer_fired(lws_sorted_usec_list_t *sul)
{
    struct alerts *a = lws_container_of(sul, struct alerts, timer);
    alerts_run_due(a);
}

static void reschedule(struct alerts *a)
{
    if (!a->options.context || a->stopped)
        return;
    int64_t due = alerts_next_due_ms(a);
    if (!due || !a->started) {
        lws_sul_cancel(&a->timer);
        return;
    }
    int64_t delay = due - now_ms(a);
    if (delay < 1)
        delay = 1;
    lws_sul_schedule(a->options.context, 0, &a->timer, timer_fired,
                     (lws_usec_t)delay * LWS_US_PER_MS);
}

void alerts_run_due(struct alerts *a)
{
    if (!a->started || a->stopped)
        return;
    int64_t now = now_ms(a);
    /* Collect first: firing must not run inside the map's iteration. */
    size_t capacity = strmap_count(a->watches);
    char **due = calloc(capacity + 1, sizeof *due);
    if (!due)
        abort();
    size_t n = 0;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(a->watches, &it, &key, &value);) {
        const struct stuck_watch *w = value;
        if (w->phase != WATCH_RAISED && w->due_ms && w->due_ms <= now)
            due[n++] = xstrdup_or_empty(key);
    }
    for (size_t i = 0; i < n; i++) {
        struct stuck_watch *w = strmap_get(a->watches, due[i]);
        const struct cache_entry *e = cache_get(a->options.cache, due[i]);
        if (w && !e) {
            watch_end(a, w, NULL, due[i]);
        } else if (w && w->phase == WATCH_WAITING) {
            fire(a, w, e);
        } else if (w && w->phase == WATCH_LOOKING) {
            for (int k = 0; k < LOOKUP_COUNT; k++)
                if (w->found.status[k] == LOOKUP_PENDING)
                    a->counters.lookups_timed_out++;
            w->found.timed_out = true;
            raise_stuck(a, w, e);
        }
        free(due[i]);
    }
    free(due);
    reschedule(a);
}

/* ---- lookup results ------------------------------------------------------------------ */

static char *join_errors(const cJSON *array)
{
    if (!cJSON_IsArray(array) || cJSON_GetArraySize(array) == 0)
        return NULL;
    struct strbuf sb;
    strbuf_init(&sb);
    const cJSON *item;
    cJSON_ArrayForEach(item, array)
    {
        if (sb.len >= TEXT_MAX)
            break;
        if (sb.len)
            strbuf_append(&sb, "; ");
        if (cJSON_IsString(item)) {
            strbuf_append(&sb, item->valuestring);
            continue;
        }
        static const char *const fields[] = {"error", "message", "errorCode", "details"};
        bool any = false;
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(item, fields[i]);
            if (cJSON_IsString(text) && text->valuestring[0]) {
                strbuf_append(&sb, any ? ": " : "");
                strbuf_append(&sb, text->valuestring);
                any = true;
            }
        }
        if (!any)
            strbuf_append(&sb, "error");
    }
    if (sb.len > TEXT_MAX) {
        size_t cut = TEXT_MAX - 3;
        while (cut > 0 && ((unsigned char)sb.data[cut] & 0xC0) == 0x80)
            cut--;
        sb.len = cut;
        strbuf_append(&sb, "...");
    }
    return strbuf_detach(&sb);
}

static void read_answer(struct findings *f, enum lookup_kind kind, const cJSON *body)
{
    switch (kind) {
    case LOOKUP_CAMPAIGN:
        f->campaign_errors = join_errors(cJSON_GetObjectItemCaseSensitive(body, "errors"));
        break;
    case LOOKUP_IMPORT: {
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(body, "state");
        const cJSON *percent = cJSON_GetObjectItemCaseSensitive(body, "percentComplete");
        const cJSON *failure = cJSON_GetObjectItemCaseSensitive(body, "failureReason");
        if (cJSON_IsString(state))
            replace_text(&f->import_state, state->valuestring);
        if (cJSON_IsNumber(percent)) {
            f->import_percent = percent->valuedouble;
            f->has_import_percent = true;
        }
        if (cJSON_IsString(failure) && failure->valuestring[0])
            replace_text(&f->import_failure, failure->valuestring);
        break;
    }
    case LOOKUP_DIAGNOSTICS: {
        f->diagnostic_errors =
            join_errors(cJSON_GetObjectItemCaseSensitive(body, "campaignErrors"));
        const cJSON *outstanding =
            cJSON_GetObjectItemCaseSensitive(body, "outstandingInteractionsCount");
        if (cJSON_IsNumber(outstanding)) {
            f->outstanding = (long long)outstanding->valuedouble;
            f->has_outstanding = true;
        }
        break;
    }
    default:
        break;
    }
}

void alerts_on_completion(struct alerts *a, const struct platform_completion *done)
{
    if (!(done->tag & ALERTS_TAG))
        return;
    unsigned kind = (unsigned)((done->tag >> 48) & 0xFF);
    uint64_t serial = done->tag & 0xFFFFFFFFFFFFULL;
    if (kind >= LOOKUP_COUNT)
        return;
    struct stuck_watch *w = NULL;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(a->watches, &it, &key, &value);) {
        struct stuck_watch *candidate = value;
        if (candidate->phase == WATCH_LOOKING && (candidate->serial & 0xFFFFFFFFFFFFULL) == serial)
            w = candidate;
    }
    /* The campaign left the state meanwhile, or the lookups timed out: too late. */
    if (!w || w->found.status[kind] != LOOKUP_PENDING)
        return;
    struct findings *f = &w->found;
    if (done->result == PLATFORM_OK) {
        cJSON *body = cJSON_ParseWithLength(done->body, done->body_len);
        if (cJSON_IsObject(body)) {
            f->status[kind] = LOOKUP_ANSWERED;
            read_answer(f, (enum lookup_kind)kind, body);
        } else {
            f->status[kind] = LOOKUP_FAILED;
            replace_text(&f->note[kind], "the answer is not a JSON object");
            a->counters.lookups_failed++;
        }
        cJSON_Delete(body);
    } else if (done->result == PLATFORM_ERR_HTTP && done->status == 404) {
        f->status[kind] = LOOKUP_UNAVAILABLE;
        replace_text(&f->note[kind], "HTTP 404");
    } else {
        f->status[kind] = LOOKUP_FAILED;
        replace_text(&f->note[kind], done->error && done->error[0] ? done->error : "failed");
        a->counters.lookups_failed++;
    }
    if (!lookups_pending(w)) {
        const struct cache_entry *e = cache_get(a->options.cache, w->campaign_id);
        if (e)
            raise_stuck(a, w, e);
        else
            watch_end(a, w, NULL, w->campaign_id);
        reschedule(a);
    }
}

/* ---- active_limit --------------------------------------------------------------------- */

static bool is_active(enum lifecycle_state state)
{
    return state == LC_RUNNING || state == LC_STARTING || state == LC_PAUSING ||
           state == LC_STOPPING;
}

static const char *level_name(enum active_level level)
{
    switch (level) {
    case ACTIVE_WARNING: return "warning";
    case ACTIVE_CRITICAL: return "critical";
    default: return "normal";
    }
}

static void save_active_level(struct alerts *a)
{
    char value[96];
    snprintf(value, sizeof value, "{\"level\":\"%s\",\"sinceMs\":%lld}",
             level_name(a->active_level), (long long)a->active_since_ms);
    state_set(a, ALERTS_ACTIVE_LIMIT_KEY, value);
}

static void load_active_level(struct alerts *a)
{
    char *text = state_get(a, ALERTS_ACTIVE_LIMIT_KEY);
    if (!text)
        return;
    cJSON *json = cJSON_Parse(text);
    const cJSON *level = cJSON_GetObjectItemCaseSensitive(json, "level");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(json, "sinceMs");
    if (cJSON_IsString(level) && cJSON_IsNumber(since)) {
        for (int l = ACTIVE_NORMAL; l <= ACTIVE_CRITICAL; l++)
            if (strcmp(level->valuestring, level_name((enum active_level)l)) == 0)
                a->active_level = (enum active_level)l;
        a->active_since_ms = (int64_t)since->valuedouble;
    } else {
        log_warn(COMPONENT, "ignoring an unreadable record %s: %s", ALERTS_ACTIVE_LIMIT_KEY,
                 text);
    }
    cJSON_Delete(json);
    free(text);
}

static void evaluate_active_limit(struct alerts *a)
{
    if (!a->started)
        return;
    const struct config_lifecycle *lc = a->options.lifecycle;
    enum active_level level = ACTIVE_NORMAL;
    if (a->active_count >= lc->active_limit)
        level = ACTIVE_CRITICAL;
    else if (a->active_count >= lc->active_warn)
        level = ACTIVE_WARNING;
    if (level == a->active_level)
        return;
    int64_t now = now_ms(a);
    enum active_level previous = a->active_level;
    if (previous == ACTIVE_NORMAL)
        a->active_since_ms = now;
    a->active_level = level;

    char summary[256], occurrence[64], details[256];
    enum events_severity severity;
    if (level == ACTIVE_NORMAL) {
        severity = EVENTS_SEVERITY_INFO;
        snprintf(summary, sizeof summary,
                 "%d campaigns are active, below the warning level of %d (platform limit %d)",
                 a->active_count, lc->active_warn, lc->active_limit);
    } else {
        severity = level == ACTIVE_CRITICAL ? EVENTS_SEVERITY_CRITICAL : EVENTS_SEVERITY_WARNING;
        snprintf(summary, sizeof summary,
                 "%d campaigns are active, %s the platform's limit of %d concurrently active "
                 "campaigns (warning from %d)",
                 a->active_count, level == ACTIVE_CRITICAL ? "at" : "near", lc->active_limit,
                 lc->active_warn);
    }
    snprintf(occurrence, sizeof occurrence, "%lld:%s:%lld", (long long)a->active_since_ms,
             level == ACTIVE_NORMAL ? "resolved" : level_name(level), (long long)now);
    snprintf(details, sizeof details,
             "{\"active\":%d,\"warn\":%d,\"limit\":%d,\"level\":\"%s\",\"previousLevel\":\"%s\","
             "\"resolved\":%s}",
             a->active_count, lc->active_warn, lc->active_limit, level_name(level),
             level_name(previous), level == ACTIVE_NORMAL ? "true" : "false");
    struct alert_spec spec = {"active_limit", severity, "active_limit", occurrence, summary,
                              NULL, details};
    if (level != ACTIVE_NORMAL)
        log_warn(COMPONENT, "%s", summary);
    emit_alert(a, &spec);
    if (level > previous)
        a->counters.active_limit_raised++;
    save_active_level(a);
}

/* ---- the consumer's hooks ------------------------------------------------------------- */

void alerts_on_change(struct alerts *a, const struct cache_change *change)
{
    const struct cache_entry *e = change->entry;
    if (!e)
        return;
    switch (change->kind) {
    case CACHE_FIRST_SIGHT:
        a->active_count += is_active(e->state);
        if (e->state == LC_FAILED)
            raise_failed(a, e);
        watch_update(a, e);
        break;
    case CACHE_STATE_TRANSITION:
        a->active_count += is_active(e->state) - is_active(change->previous_state);
        if (change->verdict == LC_VERDICT_INVALID)
            raise_invalid(a, change);
        if (e->state == LC_FAILED && change->previous_state != LC_FAILED)
            raise_failed(a, e);
        else if (e->state != LC_FAILED && change->previous_state == LC_FAILED)
            resolve_failed(a, e);
        watch_update(a, e);
        break;
    case CACHE_CONFIG_ONLY:
        /* A new dialing mode means a new tolerance, and the timer must follow. */
        if (change->changed_fields & (1u << CACHE_FIELD_DIALING_MODE)) {
            watch_update(a, e);
            reschedule(a);
        }
        return;
    default:
        return;
    }
    evaluate_active_limit(a);
    reschedule(a);
}

void alerts_on_removed(struct alerts *a, const struct cache_entry *e)
{
    if (!e)
        return;
    a->active_count -= is_active(e->state);
    struct stuck_watch *w = strmap_get(a->watches, e->id);
    if (!w) {
        /* Removed by the first discovery after a restart, before its watch was rebuilt:
         * the record alone says whether an alert awaits its resolution. */
        struct stuck_record rec = load_record(a, e->id);
        if (rec.state < 0)
            goto done;
        w = calloc(1, sizeof *w);
        if (!w)
            abort();
        w->campaign_id = xstrdup_or_empty(e->id);
        w->state = (enum lifecycle_state)rec.state;
        w->entered_ms = rec.entered_ms;
        w->raised_ms = rec.raised_ms;
        w->phase = rec.raised_ms > 0 ? WATCH_RAISED : WATCH_WAITING;
        strmap_put(a->watches, w->campaign_id, w);
    }
    watch_end(a, w, NULL, display_name(e));
done:
    evaluate_active_limit(a);
    reschedule(a);
}

void alerts_sync(struct alerts *a)
{
    const struct cache *cache = a->options.cache;
    /* Watches of campaigns that are gone, or no longer in the watched state. */
    size_t capacity = strmap_count(a->watches);
    char **ids = calloc(capacity + 1, sizeof *ids);
    if (!ids)
        abort();
    size_t n = 0;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(a->watches, &it, &key, &value);)
        ids[n++] = xstrdup_or_empty(key);
    for (size_t i = 0; i < n; i++) {
        struct stuck_watch *w = strmap_get(a->watches, ids[i]);
        const struct cache_entry *e = cache_get(cache, ids[i]);
        if (w && !e)
            watch_end(a, w, NULL, ids[i]);
        free(ids[i]);
    }
    free(ids);

    int active = 0;
    const struct cache_entry *e;
    for (size_t it = 0; (e = cache_next(cache, &it));) {
        active += is_active(e->state);
        watch_update(a, e);
    }
    a->active_count = active;
    evaluate_active_limit(a);
    reschedule(a);
}

void alerts_start(struct alerts *a)
{
    if (a->started || a->stopped)
        return;
    a->started = true;
    load_active_level(a);
    /* Records of campaigns a lagging snapshot shows out of the state they were stuck
     * in: adopt them, so the sync below resolves a raised one instead of forgetting it. */
    const struct cache_entry *e;
    for (size_t it = 0; (e = cache_next(a->options.cache, &it));) {
        if (strmap_contains(a->watches, e->id))
            continue;
        struct stuck_record rec = load_record(a, e->id);
        if (rec.state < 0 || rec.raised_ms <= 0)
            continue;
        struct stuck_watch *w = calloc(1, sizeof *w);
        if (!w)
            abort();
        w->campaign_id = xstrdup_or_empty(e->id);
        w->state = (enum lifecycle_state)rec.state;
        w->entered_ms = rec.entered_ms;
        w->raised_ms = rec.raised_ms;
        w->phase = WATCH_RAISED;
        strmap_put(a->watches, w->campaign_id, w);
    }
    alerts_sync(a);
    alerts_run_due(a);
}

void alerts_stop(struct alerts *a)
{
    a->stopped = true;
    if (a->options.context)
        lws_sul_cancel(&a->timer);
}

/* ---- create / destroy / queries ------------------------------------------------------- */

struct alerts *alerts_create(const struct alerts_options *options, char *errstr,
                             size_t errstr_size)
{
    if (!options || !options->lifecycle || !options->events || !options->cache ||
        !options->port.emit) {
        snprintf(errstr, errstr_size, "alerts: lifecycle, events, cache and emit are required");
        return NULL;
    }
    struct alerts *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    a->options = *options;
    a->watches = strmap_create();
    return a;
}

void alerts_destroy(struct alerts *a)
{
    if (!a)
        return;
    if (a->options.context)
        lws_sul_cancel(&a->timer);
    if (a->watches) {
        const char *key;
        void *value;
        for (size_t it = 0; strmap_next(a->watches, &it, &key, &value);)
            watch_free(value);
        strmap_destroy(a->watches);
    }
    free(a);
}

int64_t alerts_next_due_ms(const struct alerts *a)
{
    int64_t next = 0;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(a->watches, &it, &key, &value);) {
        const struct stuck_watch *w = value;
        if (w->phase != WATCH_RAISED && w->due_ms && (!next || w->due_ms < next))
            next = w->due_ms;
    }
    return next;
}

size_t alerts_watch_count(const struct alerts *a)
{
    return strmap_count(a->watches);
}

int alerts_active_count(const struct alerts *a)
{
    return a->active_count;
}

void alerts_get_counters(const struct alerts *a, struct alerts_counters *out)
{
    *out = a->counters;
}
