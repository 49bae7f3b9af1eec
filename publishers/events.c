#include "publishers/events.h"
#include "publishers/audit.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/numtext.h"
#include "util/sha256.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

struct events_builder {
    char *prefix;
    char *domain;
};

static char *dup_text(const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        abort();
    return copy;
}

struct events_builder *events_builder_create(const char *type_prefix, const char *domain)
{
    if (!domain || !domain[0])
        return NULL;
    struct events_builder *builder = calloc(1, sizeof *builder);
    if (!builder)
        abort();
    builder->prefix = dup_text(type_prefix ? type_prefix : EVENTS_DEFAULT_PREFIX);
    builder->domain = dup_text(domain);
    return builder;
}

void events_builder_destroy(struct events_builder *builder)
{
    if (!builder)
        return;
    free(builder->prefix);
    free(builder->domain);
    free(builder);
}

const char *events_builder_prefix(const struct events_builder *builder)
{
    return builder ? builder->prefix : EVENTS_DEFAULT_PREFIX;
}

const char *events_severity_name(enum events_severity severity)
{
    switch (severity) {
    case EVENTS_SEVERITY_INFO: return "info";
    case EVENTS_SEVERITY_WARNING: return "warning";
    case EVENTS_SEVERITY_CRITICAL: return "critical";
    }
    return "warning";
}

/* ------------------------------------------------------------------------ */
/* Ids, names, JSON pieces */

/* A fact given as bytes and length; text facts are their strlen. */
struct id_fact {
    const char *bytes;
    size_t len;
};

static void derive_id_from(const struct id_fact *facts, size_t fact_count,
                           char out[EVENTS_ID_HEX_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_MD_CTX *ctx = sha256_thread_context();
    if (EVP_DigestInit_ex2(ctx, sha256_md(), NULL) != 1)
        abort();
    static const char separator = '\0';
    for (size_t i = 0; i < fact_count; i++) {
        EVP_DigestUpdate(ctx, facts[i].bytes, facts[i].len);
        EVP_DigestUpdate(ctx, &separator, 1);
    }
    if (EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1 || digest_len < EVENTS_ID_HEX_LEN / 2)
        abort();
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < EVENTS_ID_HEX_LEN / 2; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xF];
    }
    out[EVENTS_ID_HEX_LEN] = '\0';
}

void events_derive_id(const char *const *facts, size_t fact_count,
                      char out[EVENTS_ID_HEX_LEN + 1])
{
    struct id_fact parts[16];
    if (fact_count > sizeof parts / sizeof parts[0])
        abort(); /* a programming error: no event has that many facts */
    for (size_t i = 0; i < fact_count; i++) {
        parts[i].bytes = facts[i] ? facts[i] : "";
        parts[i].len = strlen(parts[i].bytes);
    }
    derive_id_from(parts, fact_count, out);
}

/* Appends len bytes of text at *at. */
static void put_text(char **at, const char *text, size_t len)
{
    memcpy(*at, text, len);
    *at += len;
}

/* Takes ownership of data. The type is the builder's prefix and the unprefixed name; the
 * source "genesys-cloud://<domain>[/<collection>][/<source_id>]". Both are composed in a
 * stack buffer (the heap only for an unusually long domain or id) and copied into the
 * event's own allocation. */
static struct relay_event *finish_event(const struct events_builder *builder,
                                        const char *unprefixed, const char *id,
                                        const char *collection, const char *source_id,
                                        const char *subject, int64_t time_ms,
                                        struct strbuf *data)
{
    static const char scheme[] = "genesys-cloud://";
    size_t prefix_len = strlen(builder->prefix), unprefixed_len = strlen(unprefixed);
    size_t domain_len = strlen(builder->domain);
    size_t collection_len = collection ? strlen(collection) : 0;
    size_t source_id_len = source_id ? strlen(source_id) : 0;
    size_t need = prefix_len + unprefixed_len + sizeof scheme + domain_len + collection_len +
                  source_id_len + 2;
    char stack[512];
    char *names = need <= sizeof stack ? stack : xmalloc(need);
    char *at = names;
    put_text(&at, builder->prefix, prefix_len);
    put_text(&at, unprefixed, unprefixed_len);
    char *source = at;
    put_text(&at, scheme, sizeof scheme - 1);
    put_text(&at, builder->domain, domain_len);
    if (collection) {
        *at++ = '/';
        put_text(&at, collection, collection_len);
    }
    if (source_id) {
        *at++ = '/';
        put_text(&at, source_id, source_id_len);
    }
    const struct relay_event_texts texts = {
        .id = id, .type = names, .source = source, .subject = subject,
        .id_len = strlen(id), .type_len = (size_t)(source - names),
        .source_len = (size_t)(at - source), .subject_len = subject ? strlen(subject) : 0,
    };
    size_t data_len = data->len;
    struct relay_event *event = relay_event_make(&texts, time_ms,
                                                 event_family_of_type(unprefixed),
                                                 strbuf_detach(data), data_len);
    if (names != stack)
        free(names);
    return event;
}

/* An event's data buffer, sized once for the common events (a progress or state event's
 * data is 300-600 bytes; growing from strbuf's 64 took four allocations). */
static void event_data_init(struct strbuf *data)
{
    strbuf_init(data);
    strbuf_reserve(data, 511);
}

static void append_time(struct strbuf *sb, int64_t ms)
{
    char text[RFC3339_MS_LEN];
    time_format_rfc3339(ms, text);
    strbuf_append_json_string(sb, text);
}

/* Shortest text that reads back as the same double; integers without a fraction. */
static void append_number(struct strbuf *sb, double value)
{
    if (!isfinite(value)) {
        strbuf_append(sb, "null");
        return;
    }
    if (floor(value) == value && fabs(value) < 9007199254740992.0) {
        strbuf_append_int64(sb, (int64_t)value);
        return;
    }
    char text[40];
    snprintf(text, sizeof text, "%.15g", value);
    if (strtod(text, NULL) != value)
        snprintf(text, sizeof text, "%.17g", value);
    strbuf_append(sb, text);
}

static void append_key(struct strbuf *sb, bool *first, const char *key)
{
    strbuf_append(sb, *first ? "\"" : ",\"");
    strbuf_append(sb, key);
    strbuf_append(sb, "\":");
    *first = false;
}

static void append_campaign(struct strbuf *sb, const struct cache_entry *e, bool with_state)
{
    strbuf_append(sb, "{\"id\":");
    strbuf_append_json_string(sb, e->id);
    strbuf_append(sb, ",\"name\":");
    strbuf_append_json_string(sb, e->name);
    strbuf_append(sb, ",\"dialingMode\":");
    strbuf_append_json_string(sb, e->dialing_mode);
    strbuf_append(sb, ",\"contactListId\":");
    strbuf_append_json_string(sb, e->contact_list_id);
    strbuf_append(sb, ",\"divisionId\":");
    strbuf_append_json_string(sb, e->division_id);
    if (with_state) {
        strbuf_append(sb, ",\"status\":");
        strbuf_append_json_string(sb, e->raw_status);
        strbuf_append(sb, ",\"state\":\"");
        strbuf_append(sb, lifecycle_state_name(e->state));
        strbuf_append_char(sb, '"');
    }
    strbuf_append_char(sb, '}');
}

static void append_status(struct strbuf *sb, const char *status, enum lifecycle_state state)
{
    strbuf_append(sb, "{\"status\":");
    strbuf_append_json_string(sb, status);
    strbuf_append(sb, ",\"state\":\"");
    strbuf_append(sb, lifecycle_state_name(state));
    strbuf_append(sb, "\"}");
}

static void append_version(struct strbuf *sb, bool has_version, int64_t version)
{
    if (has_version)
        strbuf_append_int64(sb, version);
    else
        strbuf_append(sb, "null");
}

static void append_platform_time(struct strbuf *sb, const struct cache_entry *e)
{
    if (e->has_date_modified)
        append_time(sb, e->date_modified_ms);
    else
        strbuf_append(sb, "null");
}

/* The ordering fact of a campaign version: its version, else its dateModified. */
static void version_fact(const struct cache_entry *e, char *out, size_t size)
{
    if (e->has_version)
        snprintf(out, size, "v%" PRId64, e->version);
    else if (e->has_date_modified)
        snprintf(out, size, "m%" PRId64, e->date_modified_ms);
    else
        snprintf(out, size, "-");
}

static int64_t campaign_time(const struct cache_entry *e, const struct events_observation *obs)
{
    return e->has_date_modified ? e->date_modified_ms : obs->observed_ms;
}

static struct relay_event *campaign_event(const struct events_builder *builder,
                                          const char *unprefixed, const struct cache_entry *e,
                                          const char *const *facts, size_t fact_count,
                                          int64_t time_ms, struct strbuf *data)
{
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, fact_count, id);
    return finish_event(builder, unprefixed, id, "outbound/campaigns", e->id, e->id, time_ms,
                        data);
}

/* ------------------------------------------------------------------------ */
/* Campaign events */

struct relay_event *events_state_changed(const struct events_builder *builder,
                                         const struct cache_change *change,
                                         const struct events_observation *observation)
{
    if (!builder || !change || !observation || !change->entry ||
        (change->kind != CACHE_STATE_TRANSITION && change->kind != CACHE_FIRST_SIGHT))
        return NULL;
    const struct cache_entry *e = change->entry;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"campaign\":");
    append_campaign(&data, e, false);
    strbuf_append(&data, ",\"version\":");
    append_version(&data, e->has_version, e->version);
    strbuf_append(&data, ",\"previous\":");
    if (change->kind == CACHE_STATE_TRANSITION)
        append_status(&data, change->previous_status, change->previous_state);
    else
        strbuf_append(&data, "null");
    strbuf_append(&data, ",\"current\":");
    append_status(&data, e->raw_status, e->state);
    strbuf_append(&data, ",\"origin\":");
    strbuf_append_json_string(&data, cache_origin_name(change->origin));
    strbuf_append(&data, ",\"platformTime\":");
    append_platform_time(&data, e);
    strbuf_append(&data, ",\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append(&data, ",\"correlationId\":");
    strbuf_append_json_string(&data, observation->correlation_id);
    strbuf_append_char(&data, '}');

    char version[32];
    version_fact(e, version, sizeof version);
    const char *facts[] = {"campaign.state_changed", e->id, version, e->raw_status};
    return campaign_event(builder, "campaign.state_changed", e, facts, 4,
                          campaign_time(e, observation), &data);
}

struct relay_event *events_config_changed(const struct events_builder *builder,
                                          const struct cache_change *change,
                                          const struct events_observation *observation)
{
    if (!builder || !change || !observation || !change->entry || !change->config_changed ||
        (change->kind != CACHE_CONFIG_ONLY && change->kind != CACHE_STATE_TRANSITION))
        return NULL;
    const struct cache_entry *e = change->entry;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"campaign\":");
    append_campaign(&data, e, false);
    strbuf_append(&data, ",\"version\":");
    append_version(&data, e->has_version, e->version);
    strbuf_append(&data, ",\"previousVersion\":");
    append_version(&data, change->previous_has_version, change->previous_version);
    strbuf_append(&data, ",\"changes\":{");
    for (size_t i = 0; i < change->change_count; i++) {
        const struct cache_field_change *c = &change->changes[i];
        strbuf_appendf(&data, "%s\"%s\":{\"before\":", i ? "," : "", cache_field_name(c->field));
        strbuf_append_json_string(&data, c->before);
        strbuf_append(&data, ",\"after\":");
        strbuf_append_json_string(&data, c->after);
        strbuf_append_char(&data, '}');
    }
    strbuf_append(&data, "},\"origin\":");
    strbuf_append_json_string(&data, cache_origin_name(change->origin));
    strbuf_append(&data, ",\"platformTime\":");
    append_platform_time(&data, e);
    strbuf_append(&data, ",\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append(&data, ",\"correlationId\":");
    strbuf_append_json_string(&data, observation->correlation_id);
    strbuf_append_char(&data, '}');

    char version[32];
    version_fact(e, version, sizeof version);
    const char *facts[] = {"campaign.config_changed", e->id, version};
    return campaign_event(builder, "campaign.config_changed", e, facts, 3,
                          campaign_time(e, observation), &data);
}

struct relay_event *events_discovered(const struct events_builder *builder,
                                      const struct cache_change *change,
                                      const struct events_observation *observation)
{
    if (!builder || !change || !observation || !change->entry ||
        change->kind != CACHE_FIRST_SIGHT)
        return NULL;
    const struct cache_entry *e = change->entry;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"campaign\":");
    append_campaign(&data, e, false);
    strbuf_append(&data, ",\"version\":");
    append_version(&data, e->has_version, e->version);
    strbuf_append(&data, ",\"current\":");
    append_status(&data, e->raw_status, e->state);
    strbuf_append(&data, ",\"platformTime\":");
    append_platform_time(&data, e);
    strbuf_append(&data, ",\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append_char(&data, '}');

    char version[32];
    version_fact(e, version, sizeof version);
    const char *facts[] = {"campaign.discovered", e->id, version};
    return campaign_event(builder, "campaign.discovered", e, facts, 3,
                          campaign_time(e, observation), &data);
}

struct relay_event *events_removed(const struct events_builder *builder,
                                   const struct cache_entry *entry, const char *reason,
                                   const struct events_observation *observation)
{
    if (!builder || !entry || !observation)
        return NULL;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"campaign\":");
    append_campaign(&data, entry, false);
    strbuf_append(&data, ",\"version\":");
    append_version(&data, entry->has_version, entry->version);
    strbuf_append(&data, ",\"last\":");
    append_status(&data, entry->raw_status, entry->state);
    strbuf_append(&data, ",\"reason\":");
    strbuf_append_json_string(&data, reason);
    strbuf_append(&data, ",\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append_char(&data, '}');

    char version[32];
    version_fact(entry, version, sizeof version);
    const char *facts[] = {"campaign.removed", entry->id, version};
    return campaign_event(builder, "campaign.removed", entry, facts, 3,
                          observation->observed_ms, &data);
}

/* An id fact: "%.17g" of the value, "-" when absent. */
static void format_optional_number(char out[NUMTEXT_MAX], bool present, double value)
{
    if (present)
        numtext_g17(out, value);
    else
        strcpy(out, "-");
}

static void append_optional_number(struct strbuf *sb, bool present, double value)
{
    if (present)
        append_number(sb, value);
    else
        strbuf_append(sb, "null");
}

struct relay_event *events_progress(const struct events_builder *builder,
                                    const struct campaign_progress *p,
                                    const struct events_observation *observation)
{
    if (!builder || !p || !observation || !p->campaign_id || !p->campaign_id[0])
        return NULL;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"campaign\":{\"id\":");
    strbuf_append_json_string(&data, p->campaign_id);
    strbuf_append(&data, ",\"name\":");
    strbuf_append_json_string(&data, p->campaign_name);
    strbuf_append(&data, "},\"percentage\":");
    append_optional_number(&data, p->has_percentage, p->percentage);
    strbuf_append(&data, ",\"numberOfContactsCalled\":");
    append_optional_number(&data, p->has_contacts_called, p->contacts_called);
    strbuf_append(&data, ",\"numberOfContactsMessaged\":");
    append_optional_number(&data, p->has_contacts_messaged, p->contacts_messaged);
    strbuf_append(&data, ",\"totalNumberOfContacts\":");
    append_optional_number(&data, p->has_total_contacts, p->total_contacts);
    strbuf_append(&data, ",\"numberOfContactsSkipped\":{");
    for (size_t i = 0; i < p->skipped_count; i++) {
        if (i)
            strbuf_append_char(&data, ',');
        strbuf_append_json_string(&data, p->skipped[i].reason);
        strbuf_append_char(&data, ':');
        strbuf_append_int64(&data, p->skipped[i].count);
    }
    strbuf_append(&data, "},\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append(&data, ",\"correlationId\":");
    strbuf_append_json_string(&data, observation->correlation_id);
    strbuf_append_char(&data, '}');

    char called[NUMTEXT_MAX], messaged[NUMTEXT_MAX], total[NUMTEXT_MAX], percentage[NUMTEXT_MAX];
    format_optional_number(called, p->has_contacts_called, p->contacts_called);
    format_optional_number(messaged, p->has_contacts_messaged,
                           p->contacts_messaged);
    format_optional_number(total, p->has_total_contacts, p->total_contacts);
    format_optional_number(percentage, p->has_percentage, p->percentage);
    const char *facts[] = {"campaign.progress", p->campaign_id, called, messaged, total,
                           percentage};
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 6, id);
    return finish_event(builder, "campaign.progress", id,
                        "outbound/campaigns", p->campaign_id,
                        p->campaign_id, observation->observed_ms, &data);
}

struct relay_event *events_dialer_stats(const struct events_builder *builder,
                                        const struct campaign_stats *s,
                                        const struct events_observation *observation)
{
    if (!builder || !s || !observation || !s->campaign_id || !s->campaign_id[0])
        return NULL;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"campaign\":{\"id\":");
    strbuf_append_json_string(&data, s->campaign_id);
    strbuf_append(&data, "},\"group\":");
    strbuf_append(&data, s->group_json ? s->group_json : "null");
    strbuf_append(&data, ",\"data\":");
    strbuf_append(&data, s->data_json ? s->data_json : "null");
    strbuf_append(&data, ",\"linesUtilization\":");
    append_optional_number(&data, s->has_lines_utilization, s->lines_utilization);
    strbuf_append(&data, ",\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append(&data, ",\"correlationId\":");
    strbuf_append_json_string(&data, observation->correlation_id);
    strbuf_append_char(&data, '}');

    const char *facts[] = {"campaign.dialer_stats", s->campaign_id,
                           s->group_json ? s->group_json : "-", s->data_json ? s->data_json : "-"};
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 4, id);
    return finish_event(builder, "campaign.dialer_stats", id,
                        "outbound/campaigns", s->campaign_id,
                        s->campaign_id, observation->observed_ms, &data);
}

struct relay_event *events_import_status(const struct events_builder *builder,
                                         const struct import_status *st,
                                         const struct events_observation *observation)
{
    if (!builder || !st || !observation || !st->contact_list_id || !st->contact_list_id[0])
        return NULL;
    struct strbuf data;
    event_data_init(&data);
    strbuf_append(&data, "{\"contactListId\":");
    strbuf_append_json_string(&data, st->contact_list_id);
    strbuf_append(&data, ",\"importState\":");
    strbuf_append_json_string(&data, st->import_state);
    strbuf_append(&data, ",\"totalRecords\":");
    append_optional_number(&data, st->has_total_records, (double)st->total_records);
    strbuf_append(&data, ",\"completedRecords\":");
    append_optional_number(&data, st->has_completed_records, (double)st->completed_records);
    strbuf_append(&data, ",\"percentageComplete\":");
    append_optional_number(&data, st->has_percentage_complete, st->percentage_complete);
    strbuf_append(&data, ",\"failureReason\":");
    strbuf_append_json_string(&data, st->failure_reason);
    strbuf_append(&data, ",\"observedAt\":");
    append_time(&data, observation->observed_ms);
    strbuf_append(&data, ",\"correlationId\":");
    strbuf_append_json_string(&data, observation->correlation_id);
    strbuf_append_char(&data, '}');

    char total[NUMTEXT_MAX], completed[NUMTEXT_MAX], percentage[NUMTEXT_MAX];
    format_optional_number(total, st->has_total_records, (double)st->total_records);
    format_optional_number(completed, st->has_completed_records,
                           (double)st->completed_records);
    format_optional_number(percentage, st->has_percentage_complete,
                           st->percentage_complete);
    const char *facts[] = {"contactlist.import_status", st->contact_list_id,
                           st->import_state ? st->import_state : "-", total, completed,
                           percentage, st->failure_reason ? st->failure_reason : "-"};
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 7, id);
    return finish_event(builder, "contactlist.import_status", id,
                        "outbound/contactlists", st->contact_list_id,
                        st->contact_list_id, observation->observed_ms, &data);
}

/* ------------------------------------------------------------------------ */
/* Audit and alerts */

static bool is_json_text(const char *text, size_t len, bool object_only)
{
    cJSON *parsed = cJSON_ParseWithLength(text, len);
    bool ok = parsed && (!object_only || cJSON_IsObject(parsed));
    cJSON_Delete(parsed);
    return ok;
}

/* The member of an audit.notification's data whose value is the raw text, verbatim. */
#define RAW_MEMBER "notification"

static struct relay_event *audit_notification_event(const struct events_builder *builder,
                                                    const struct audit_notification *audit,
                                                    bool raw_is_json, char *errstr,
                                                    size_t errstr_size)
{
    if (!builder || !audit || !audit->topic || !audit->raw) {
        errstr_set(errstr, errstr_size, "audit notification: topic and raw text are required");
        return NULL;
    }
    if (memchr(audit->raw, '\0', audit->raw_len) ||
        (!raw_is_json && !is_json_text(audit->raw, audit->raw_len, false))) {
        errstr_set(errstr, errstr_size, "audit notification on %s: raw text is not JSON",
                  audit->topic);
        return NULL;
    }
    struct strbuf data;
    strbuf_init(&data);
    /* The raw text and a few short members: one allocation. */
    strbuf_reserve(&data, audit->raw_len + 256);
    strbuf_append(&data, "{\"topic\":");
    strbuf_append_json_string(&data, audit->topic);
    strbuf_append(&data, ",\"correlationId\":");
    strbuf_append_json_string(&data, audit->correlation_id);
    strbuf_append(&data, ",\"receivedAt\":");
    append_time(&data, audit->received_ms);
    strbuf_append(&data, ",\"" RAW_MEMBER "\":");
    strbuf_append_len(&data, audit->raw, audit->raw_len);
    if (audit->prev_hash) {
        strbuf_append(&data, ",\"prevHash\":");
        strbuf_append_json_string(&data, audit->prev_hash);
    }
    if (audit->hash) {
        strbuf_append(&data, ",\"hash\":");
        strbuf_append_json_string(&data, audit->hash);
    }
    strbuf_append_char(&data, '}');

    char received[NUMTEXT_MAX];
    numtext_int64(received, audit->received_ms);
    /* The raw text as a fact, taken by its length (it is NUL-free, checked above). */
    const struct id_fact facts[] = {
        {"audit.notification", strlen("audit.notification")},
        {audit->topic, strlen(audit->topic)},
        {received, strlen(received)},
        {audit->raw, audit->raw_len},
    };
    char id[EVENTS_ID_HEX_LEN + 1];
    derive_id_from(facts, 4, id);
    /* One ordering lane (empty subject) for the whole audit stream: the hash chain
     * is a single sequence and must not be split across partitions. */
    return finish_event(builder, "audit.notification", id,
                        "notifications", NULL, "", audit->received_ms,
                        &data);
}

struct relay_event *events_audit_notification(const struct events_builder *builder,
                                              const struct audit_notification *audit,
                                              char *errstr, size_t errstr_size)
{
    return audit_notification_event(builder, audit, false, errstr, errstr_size);
}

struct relay_event *events_audit_decoded_notification(const struct events_builder *builder,
                                                      const struct audit_notification *audit,
                                                      char *errstr, size_t errstr_size)
{
    struct relay_event *event = audit_notification_event(builder, audit, true, errstr,
                                                         errstr_size);
    if (event) {
        /* Data the chain cannot seal gets no layout; the chain then says why. */
        char why[256];
        event->seal = audit->raw_tree ? audit_seal_prepare_tree(event->data, RAW_MEMBER,
                                                                audit->raw_len,
                                                                audit->raw_tree, why,
                                                                sizeof why)
                                      : audit_seal_prepare(event->data, why, sizeof why);
    }
    return event;
}

static bool is_alert_name(const char *name)
{
    if (!name || !name[0])
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return false;
    return true;
}

struct relay_event *events_alert(const struct events_builder *builder,
                                 const struct events_alert *alert, char *errstr,
                                 size_t errstr_size)
{
    if (!builder || !alert) {
        errstr_set(errstr, errstr_size, "alert: builder and alert are required");
        return NULL;
    }
    if (!is_alert_name(alert->name)) {
        errstr_set(errstr, errstr_size,
                  "alert name \"%s\" must be non-empty lower case letters, digits, '_' or '.'",
                  alert->name ? alert->name : "(null)");
        return NULL;
    }
    if (!alert->dedup_key || !alert->dedup_key[0]) {
        errstr_set(errstr, errstr_size, "alert.%s: dedup key is empty", alert->name);
        return NULL;
    }
    if (alert->details_json &&
        !is_json_text(alert->details_json, strlen(alert->details_json), true)) {
        errstr_set(errstr, errstr_size, "alert.%s: details are not a JSON object", alert->name);
        return NULL;
    }
    struct strbuf unprefixed;
    strbuf_init(&unprefixed);
    strbuf_appendf(&unprefixed, "alert.%s", alert->name);

    struct strbuf data;
    event_data_init(&data);
    bool first = true;
    strbuf_append_char(&data, '{');
    append_key(&data, &first, "severity");
    strbuf_append_json_string(&data, events_severity_name(alert->severity));
    append_key(&data, &first, "dedupKey");
    strbuf_append_json_string(&data, alert->dedup_key);
    append_key(&data, &first, "summary");
    strbuf_append_json_string(&data, alert->summary ? alert->summary : "");
    append_key(&data, &first, "campaign");
    if (alert->campaign)
        append_campaign(&data, alert->campaign, true);
    else
        strbuf_append(&data, "null");
    append_key(&data, &first, "details");
    if (alert->details_json) {
        /* Re-printed compactly so the event stays one line whatever the caller wrote. */
        cJSON *details = cJSON_Parse(alert->details_json);
        char *compact = details ? cJSON_PrintUnformatted(details) : NULL;
        strbuf_append(&data, compact ? compact : "{}");
        free(compact);
        cJSON_Delete(details);
    } else {
        strbuf_append(&data, "{}");
    }
    append_key(&data, &first, "raisedAt");
    append_time(&data, alert->raised_ms);
    strbuf_append_char(&data, '}');

    const char *facts[] = {strbuf_cstr(&unprefixed), alert->dedup_key,
                           alert->occurrence ? alert->occurrence : ""};
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 3, id);
    const char *campaign_id = alert->campaign ? alert->campaign->id : NULL;
    struct relay_event *event = finish_event(
        builder, strbuf_cstr(&unprefixed), id, campaign_id ? "outbound/campaigns" : "relay",
        campaign_id, campaign_id ? campaign_id : "", alert->raised_ms, &data);
    strbuf_free(&unprefixed);
    return event;
}
