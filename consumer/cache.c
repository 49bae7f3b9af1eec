#include "consumer/cache.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strmap.h"
#include "util/xalloc.h"

#define SNAPSHOT_FORMAT CACHE_SNAPSHOT_FORMAT
#define ERRORS_SUMMARY_MAX 240

struct cache {
    const struct lifecycle_map *map;
    struct strmap *entries;       /* id -> struct cache_entry * */
    struct strmap *strings;       /* text -> struct interned * */
    struct strmap *import_states; /* contact list id -> interned import state */
    struct cache_stats stats;
};

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

const char *cache_origin_name(enum cache_origin origin)
{
    switch (origin) {
    case CACHE_ORIGIN_STREAM: return "stream";
    case CACHE_ORIGIN_RECONCILE: return "reconcile";
    case CACHE_ORIGIN_SNAPSHOT: return "snapshot";
    }
    return "stream";
}

const char *cache_change_kind_name(enum cache_change_kind kind)
{
    switch (kind) {
    case CACHE_NONE_STALE: return "stale";
    case CACHE_NONE_DUPLICATE: return "duplicate";
    case CACHE_VERSION_ONLY: return "version_only";
    case CACHE_FIRST_SIGHT: return "first_sight";
    case CACHE_CONFIG_ONLY: return "config_only";
    case CACHE_STATE_TRANSITION: return "state_transition";
    }
    return "unknown";
}

const char *cache_field_name(enum cache_field field)
{
    static const char *const names[CACHE_FIELD_COUNT] = {
        "name",   "dialingMode", "contactListId", "divisionId", "edgeGroupId",
        "siteId", "queueId",     "priority",      "errors",     "settings",
    };
    return (unsigned)field < CACHE_FIELD_COUNT ? names[field] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Interned strings: reference counted, so values that stop being used go away. */

struct interned {
    size_t refs;
    char text[];
};

static const char *intern_acquire(struct strmap *pool, const char *text)
{
    if (!text)
        return NULL;
    struct interned *node = strmap_get(pool, text);
    if (!node) {
        size_t len = strlen(text);
        node = malloc(sizeof *node + len + 1);
        if (!node)
            abort();
        node->refs = 0;
        memcpy(node->text, text, len + 1);
        strmap_put(pool, node->text, node);
    }
    node->refs++;
    return node->text;
}

static void intern_release(struct strmap *pool, const char *text)
{
    if (!text)
        return;
    struct interned *node = strmap_get(pool, text);
    if (node && --node->refs == 0) {
        strmap_remove(pool, text);
        free(node);
    }
}

/* Acquire before release: the new value may be the one being released. */
static void intern_assign(struct strmap *pool, const char **slot, const char *text)
{
    if (same_text(*slot, text))
        return;
    const char *acquired = intern_acquire(pool, text);
    intern_release(pool, *slot);
    *slot = acquired;
}

/* ------------------------------------------------------------------------ */
/* Lifetime */

static void entry_free(struct cache *cache, struct cache_entry *entry)
{
    if (!entry)
        return;
    intern_release(cache->strings, entry->raw_status);
    intern_release(cache->strings, entry->dialing_mode);
    intern_release(cache->strings, entry->contact_list_id);
    intern_release(cache->strings, entry->division_id);
    intern_release(cache->strings, entry->edge_group_id);
    intern_release(cache->strings, entry->site_id);
    intern_release(cache->strings, entry->queue_id);
    free(entry->id);
    free(entry->name);
    free(entry->errors_summary);
    free(entry);
}

static void release_all(struct cache *cache)
{
    const char *key;
    void *value;
    if (cache->entries) {
        for (size_t it = 0; strmap_next(cache->entries, &it, &key, &value);)
            entry_free(cache, value);
        strmap_clear(cache->entries);
    }
    if (cache->import_states && cache->strings) {
        for (size_t it = 0; strmap_next(cache->import_states, &it, &key, &value);)
            intern_release(cache->strings, value);
        strmap_clear(cache->import_states);
    }
    if (cache->strings) {
        /* Normally empty by now; anything left would be a reference-count slip. */
        for (size_t it = 0; strmap_next(cache->strings, &it, &key, &value);)
            free(value);
        strmap_clear(cache->strings);
    }
}

struct cache *cache_create(const struct lifecycle_map *map)
{
    if (!map)
        return NULL;
    struct cache *cache = xcalloc(1, sizeof *cache);
    cache->map = map;
    cache->entries = strmap_create();
    cache->strings = strmap_create();
    cache->import_states = strmap_create();
    return cache;
}

void cache_destroy(struct cache *cache)
{
    if (!cache)
        return;
    release_all(cache);
    strmap_destroy(cache->entries);
    strmap_destroy(cache->strings);
    strmap_destroy(cache->import_states);
    free(cache);
}

void cache_change_clear(struct cache_change *change)
{
    if (!change)
        return;
    free(change->previous_status);
    for (size_t i = 0; i < change->change_count; i++) {
        free(change->changes[i].before);
        free(change->changes[i].after);
    }
    memset(change, 0, sizeof *change);
    change->verdict = LC_VERDICT_UNCHECKED;
}

/* ------------------------------------------------------------------------ */
/* Apply */

static char *summarize_errors(const struct campaign_update *u)
{
    if (u->error_count == 0)
        return NULL;
    struct strbuf sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < u->error_count; i++) {
        const struct campaign_error *error = &u->errors[i];
        if (sb.len)
            strbuf_append(&sb, "; ");
        strbuf_append(&sb, error->error ? error->error : "error");
        if (error->details && error->details[0]) {
            strbuf_append(&sb, ": ");
            strbuf_append(&sb, error->details);
        }
        if (sb.len > ERRORS_SUMMARY_MAX)
            break;
    }
    if (sb.len > ERRORS_SUMMARY_MAX) {
        /* Cut on a UTF-8 boundary so the summary stays valid text. */
        size_t cut = ERRORS_SUMMARY_MAX - 3;
        while (cut > 0 && ((unsigned char)sb.data[cut] & 0xC0) == 0x80)
            cut--;
        sb.len = cut;
        strbuf_append(&sb, "...");
    }
    return strbuf_detach(&sb);
}

/* > 0 accept, 0 duplicate, < 0 stale. */
static int order_update(const struct cache_entry *entry, const struct campaign_update *u)
{
    if (u->has_version && entry->has_version) {
        if (u->version < entry->version)
            return -1;
        if (u->version > entry->version)
            return 1;
    } else if (u->has_version) {
        return 1;
    }
    /* A known dateModified is newer than none. */
    if (u->has_date_modified &&
        (!entry->has_date_modified || u->date_modified_ms > entry->date_modified_ms))
        return 1;
    return 0;
}

static void note_change(struct cache_change *change, enum cache_field field, const char *before,
                        const char *after)
{
    struct cache_field_change *slot = &change->changes[change->change_count++];
    slot->field = field;
    slot->before = xstrdup(before);
    slot->after = xstrdup(after);
    change->changed_fields |= 1u << field;
}

static void diff_text(struct cache_change *change, enum cache_field field, const char *before,
                      const char *after)
{
    if (!same_text(before, after))
        note_change(change, field, before, after);
}

static void diff_fields(const struct cache_entry *e, const struct campaign_update *u,
                        const char *new_errors, struct cache_change *change)
{
    diff_text(change, CACHE_FIELD_NAME, e->name, u->name);
    diff_text(change, CACHE_FIELD_DIALING_MODE, e->dialing_mode, u->dialing_mode);
    diff_text(change, CACHE_FIELD_CONTACT_LIST, e->contact_list_id, u->contact_list.id);
    diff_text(change, CACHE_FIELD_DIVISION, e->division_id, u->division.id);
    diff_text(change, CACHE_FIELD_EDGE_GROUP, e->edge_group_id, u->edge_group.id);
    diff_text(change, CACHE_FIELD_SITE, e->site_id, u->site.id);
    diff_text(change, CACHE_FIELD_QUEUE, e->queue_id, u->queue.id);
    if (e->has_priority != u->has_priority || (u->has_priority && e->priority != u->priority)) {
        char before[24], after[24];
        snprintf(before, sizeof before, "%" PRId64, e->priority);
        snprintf(after, sizeof after, "%" PRId64, u->priority);
        note_change(change, CACHE_FIELD_PRIORITY, e->has_priority ? before : NULL,
                    u->has_priority ? after : NULL);
    }
    diff_text(change, CACHE_FIELD_ERRORS, e->errors_summary, new_errors);
    if (e->config_fingerprint != u->config_fingerprint)
        note_change(change, CACHE_FIELD_SETTINGS, NULL, NULL);
}

/* Takes ownership of errors_summary. */
static void store_fields(struct cache *cache, struct cache_entry *e,
                         const struct campaign_update *u, char *errors_summary)
{
    if (!same_text(e->name, u->name)) {
        free(e->name);
        e->name = xstrdup(u->name);
    }
    if (u->campaign_status)
        intern_assign(cache->strings, &e->raw_status, u->campaign_status);
    intern_assign(cache->strings, &e->dialing_mode, u->dialing_mode);
    intern_assign(cache->strings, &e->contact_list_id, u->contact_list.id);
    intern_assign(cache->strings, &e->division_id, u->division.id);
    intern_assign(cache->strings, &e->edge_group_id, u->edge_group.id);
    intern_assign(cache->strings, &e->site_id, u->site.id);
    intern_assign(cache->strings, &e->queue_id, u->queue.id);
    free(e->errors_summary);
    e->errors_summary = errors_summary;
    if (u->has_version) {
        e->version = u->version;
        e->has_version = true;
    }
    e->priority = u->has_priority ? u->priority : 0;
    e->has_priority = u->has_priority;
    if (u->has_date_created) {
        e->date_created_ms = u->date_created_ms;
        e->has_date_created = true;
    }
    if (u->has_date_modified) {
        e->date_modified_ms = u->date_modified_ms;
        e->has_date_modified = true;
    }
    e->config_fingerprint = u->config_fingerprint;
    e->state = lifecycle_map_lookup(cache->map, e->raw_status);
}

int cache_apply(struct cache *cache, const struct campaign_update *u, enum cache_origin origin,
                int64_t now_ms, struct cache_change *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = LC_VERDICT_UNCHECKED;
    out->origin = origin;
    if (!cache || !u || !u->id || !u->id[0])
        return -1;

    struct cache_entry *entry = strmap_get(cache->entries, u->id);
    if (!entry) {
        entry = xcalloc(1, sizeof *entry);
        entry->id = xstrdup(u->id);
        store_fields(cache, entry, u, summarize_errors(u));
        entry->state_entered_ms = now_ms;
        entry->last_seen_ms = now_ms;
        strmap_put(cache->entries, entry->id, entry);
        cache->stats.applied++;
        out->kind = CACHE_FIRST_SIGHT;
        out->origin = CACHE_ORIGIN_SNAPSHOT;
        out->entry = entry;
        return 0;
    }

    out->entry = entry;
    int order = order_update(entry, u);
    if (order < 0) {
        cache->stats.stale_dropped++;
        out->kind = CACHE_NONE_STALE;
        return 0;
    }
    if (order == 0) {
        cache->stats.duplicate_dropped++;
        out->kind = CACHE_NONE_DUPLICATE;
        return 0;
    }

    char *errors_summary = summarize_errors(u);
    diff_fields(entry, u, errors_summary, out);
    out->config_changed = out->change_count > 0;
    out->previous_status = xstrdup(entry->raw_status);
    out->previous_state = entry->state;
    out->previous_state_entered_ms = entry->state_entered_ms;
    out->previous_version = entry->version;
    out->previous_has_version = entry->has_version;
    bool status_changed = u->campaign_status && !same_text(u->campaign_status, entry->raw_status);

    store_fields(cache, entry, u, errors_summary);
    entry->last_seen_ms = now_ms;
    cache->stats.applied++;
    if (status_changed) {
        out->kind = CACHE_STATE_TRANSITION;
        out->verdict = lifecycle_transition_check(out->previous_state, entry->state);
        if (entry->state != out->previous_state)
            entry->state_entered_ms = now_ms;
    } else {
        out->kind = out->config_changed ? CACHE_CONFIG_ONLY : CACHE_VERSION_ONLY;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Queries and side facts */

const struct cache_entry *cache_get(const struct cache *cache, const char *id)
{
    return cache && id ? strmap_get(cache->entries, id) : NULL;
}

int cache_remove(struct cache *cache, const char *id)
{
    struct cache_entry *entry = cache && id ? strmap_remove(cache->entries, id) : NULL;
    if (!entry)
        return -1;
    entry_free(cache, entry);
    return 0;
}

size_t cache_count(const struct cache *cache)
{
    return cache ? strmap_count(cache->entries) : 0;
}

const struct cache_entry *cache_next(const struct cache *cache, size_t *iterator)
{
    const char *key;
    void *value;
    if (!cache || !strmap_next(cache->entries, iterator, &key, &value))
        return NULL;
    return value;
}

struct cache_stats cache_stats(const struct cache *cache)
{
    struct cache_stats none = {0};
    return cache ? cache->stats : none;
}

int cache_set_last_event_id(struct cache *cache, const char *id, const char *event_id)
{
    struct cache_entry *entry = cache && id ? strmap_get(cache->entries, id) : NULL;
    if (!entry || !event_id || strlen(event_id) >= sizeof entry->last_event_id)
        return -1;
    strcpy(entry->last_event_id, event_id);
    return 0;
}

int cache_set_progress(struct cache *cache, const char *id, double percentage)
{
    struct cache_entry *entry = cache && id ? strmap_get(cache->entries, id) : NULL;
    if (!entry || !isfinite(percentage))
        return -1;
    entry->progress_percentage = percentage;
    entry->has_progress = true;
    return 0;
}

void cache_set_import_state(struct cache *cache, const char *contact_list_id,
                            const char *import_state)
{
    if (!cache || !contact_list_id || !contact_list_id[0])
        return;
    const char *previous = strmap_get(cache->import_states, contact_list_id);
    if (same_text(previous, import_state))
        return;
    if (import_state) {
        strmap_put(cache->import_states, contact_list_id,
                   (void *)intern_acquire(cache->strings, import_state));
    } else {
        strmap_remove(cache->import_states, contact_list_id);
    }
    intern_release(cache->strings, previous);
}

const char *cache_import_state(const struct cache *cache, const char *contact_list_id)
{
    return cache && contact_list_id ? strmap_get(cache->import_states, contact_list_id) : NULL;
}

const char *cache_entry_import_state(const struct cache *cache, const struct cache_entry *entry)
{
    return entry ? cache_import_state(cache, entry->contact_list_id) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Snapshot */

static int compare_entries_by_id(const void *a, const void *b)
{
    const struct cache_entry *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void append_member_string(struct strbuf *out, const char *key, const char *value)
{
    if (!value)
        return;
    strbuf_appendf(out, ",\"%s\":", key);
    strbuf_append_json_string(out, value);
}

/* ,"name":value without printf: the service loop writes an entry with every change. */
static void append_member_int64(struct strbuf *out, const char *name, int64_t value)
{
    strbuf_append(out, ",\"");
    strbuf_append(out, name);
    strbuf_append(out, "\":");
    strbuf_append_int64(out, value);
}

/* The fingerprint as "%016" PRIx64 writes it. */
static void append_fingerprint(struct strbuf *out, uint64_t fingerprint)
{
    strbuf_append(out, ",\"configFingerprint\":\"");
    strbuf_append_hex(out, fingerprint, 16);
    strbuf_append_char(out, '"');
}

static void serialize_entry(const struct cache_entry *e, struct strbuf *out)
{
    strbuf_append(out, "{\"id\":");
    strbuf_append_json_string(out, e->id);
    append_member_string(out, "name", e->name);
    append_member_string(out, "status", e->raw_status);
    strbuf_append(out, ",\"state\":\"");
    strbuf_append(out, lifecycle_state_name(e->state));
    strbuf_append_char(out, '"');
    if (e->has_version)
        append_member_int64(out, "version", e->version);
    append_member_string(out, "dialingMode", e->dialing_mode);
    append_member_string(out, "contactListId", e->contact_list_id);
    append_member_string(out, "divisionId", e->division_id);
    append_member_string(out, "edgeGroupId", e->edge_group_id);
    append_member_string(out, "siteId", e->site_id);
    append_member_string(out, "queueId", e->queue_id);
    if (e->has_priority)
        append_member_int64(out, "priority", e->priority);
    append_member_string(out, "errors", e->errors_summary);
    if (e->has_date_created)
        append_member_int64(out, "dateCreatedMs", e->date_created_ms);
    if (e->has_date_modified)
        append_member_int64(out, "dateModifiedMs", e->date_modified_ms);
    append_member_int64(out, "stateEnteredMs", e->state_entered_ms);
    append_member_int64(out, "lastSeenMs", e->last_seen_ms);
    if (e->has_progress)
        strbuf_appendf(out, ",\"progressPercentage\":%.17g", e->progress_percentage);
    append_fingerprint(out, e->config_fingerprint);
    if (e->last_event_id[0])
        append_member_string(out, "lastEventId", e->last_event_id);
    strbuf_append_char(out, '}');
}

void cache_entry_serialize(const struct cache_entry *entry, struct strbuf *out)
{
    serialize_entry(entry, out);
}

void cache_snapshot_serialize(const struct cache *cache, struct strbuf *out)
{
    size_t count = cache_count(cache);
    const struct cache_entry **sorted = xcalloc(count ? count : 1, sizeof *sorted);
    size_t n = 0;
    const struct cache_entry *entry;
    for (size_t it = 0; n < count && (entry = cache_next(cache, &it));)
        sorted[n++] = entry;
    qsort(sorted, n, sizeof *sorted, compare_entries_by_id);

    strbuf_append(out, "{\"format\":\"" SNAPSHOT_FORMAT "\",\"campaigns\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_append_char(out, ',');
        serialize_entry(sorted[i], out);
    }
    free(sorted);

    strbuf_append(out, "],\"contactLists\":[");
    size_t list_count = cache ? strmap_count(cache->import_states) : 0;
    const char **ids = xcalloc(list_count ? list_count : 1, sizeof *ids);
    size_t m = 0;
    const char *key;
    void *value;
    for (size_t it = 0; m < list_count && strmap_next(cache->import_states, &it, &key, &value);)
        ids[m++] = key;
    qsort(ids, m, sizeof *ids, compare_strings);
    for (size_t i = 0; i < m; i++) {
        strbuf_append(out, i ? ",{\"id\":" : "{\"id\":");
        strbuf_append_json_string(out, ids[i]);
        strbuf_append(out, ",\"importState\":");
        strbuf_append_json_string(out, strmap_get(cache->import_states, ids[i]));
        strbuf_append_char(out, '}');
    }
    free(ids);
    strbuf_append(out, "]}");
}

/* Snapshot restore reads fields strictly: a snapshot is our own output, so any
 * surprise means corruption, and a partly trusted snapshot is worse than none. */
struct restore_ctx {
    const char *where;
    char *errstr;
    size_t errstr_size;
    bool failed;
};

static const char *restore_string(struct restore_ctx *ctx, const cJSON *obj, const char *key,
                                  bool required)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item) {
        if (required && !ctx->failed) {
            errstr_set(ctx->errstr, ctx->errstr_size, "%s.%s is missing", ctx->where, key);
            ctx->failed = true;
        }
        return NULL;
    }
    if (!cJSON_IsString(item)) {
        if (!ctx->failed)
            errstr_set(ctx->errstr, ctx->errstr_size, "%s.%s is not a string", ctx->where, key);
        ctx->failed = true;
        return NULL;
    }
    return item->valuestring;
}

static bool restore_integer(struct restore_ctx *ctx, const cJSON *obj, const char *key,
                            int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item)
        return false;
    double value = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (!isfinite(value) || floor(value) != value || fabs(value) > 9007199254740992.0) {
        if (!ctx->failed)
            errstr_set(ctx->errstr, ctx->errstr_size, "%s.%s is not an integer", ctx->where, key);
        ctx->failed = true;
        return false;
    }
    *out = (int64_t)value;
    return true;
}

static struct cache_entry *restore_entry(struct cache *cache, const cJSON *obj,
                                         struct restore_ctx *ctx)
{
    if (!cJSON_IsObject(obj)) {
        errstr_set(ctx->errstr, ctx->errstr_size, "%s is not an object", ctx->where);
        ctx->failed = true;
        return NULL;
    }
    const char *id = restore_string(ctx, obj, "id", true);
    if (!id || !id[0]) {
        if (!ctx->failed)
            errstr_set(ctx->errstr, ctx->errstr_size, "%s.id is empty", ctx->where);
        ctx->failed = true;
        return NULL;
    }
    struct cache_entry *e = xcalloc(1, sizeof *e);
    e->id = xstrdup(id);
    e->name = xstrdup(restore_string(ctx, obj, "name", false));
    e->raw_status = intern_acquire(cache->strings, restore_string(ctx, obj, "status", false));
    e->dialing_mode =
        intern_acquire(cache->strings, restore_string(ctx, obj, "dialingMode", false));
    e->contact_list_id =
        intern_acquire(cache->strings, restore_string(ctx, obj, "contactListId", false));
    e->division_id = intern_acquire(cache->strings, restore_string(ctx, obj, "divisionId", false));
    e->edge_group_id =
        intern_acquire(cache->strings, restore_string(ctx, obj, "edgeGroupId", false));
    e->site_id = intern_acquire(cache->strings, restore_string(ctx, obj, "siteId", false));
    e->queue_id = intern_acquire(cache->strings, restore_string(ctx, obj, "queueId", false));
    e->errors_summary = xstrdup(restore_string(ctx, obj, "errors", false));
    e->state = lifecycle_map_lookup(cache->map, e->raw_status);
    e->has_version = restore_integer(ctx, obj, "version", &e->version);
    e->has_priority = restore_integer(ctx, obj, "priority", &e->priority);
    e->has_date_created = restore_integer(ctx, obj, "dateCreatedMs", &e->date_created_ms);
    e->has_date_modified = restore_integer(ctx, obj, "dateModifiedMs", &e->date_modified_ms);
    if (!restore_integer(ctx, obj, "stateEnteredMs", &e->state_entered_ms) && !ctx->failed) {
        errstr_set(ctx->errstr, ctx->errstr_size, "%s.stateEnteredMs is missing", ctx->where);
        ctx->failed = true;
    }
    restore_integer(ctx, obj, "lastSeenMs", &e->last_seen_ms);
    const cJSON *progress = cJSON_GetObjectItemCaseSensitive(obj, "progressPercentage");
    if (progress) {
        if (cJSON_IsNumber(progress) && isfinite(progress->valuedouble)) {
            e->progress_percentage = progress->valuedouble;
            e->has_progress = true;
        } else if (!ctx->failed) {
            errstr_set(ctx->errstr, ctx->errstr_size, "%s.progressPercentage is not a number",
                      ctx->where);
            ctx->failed = true;
        }
    }
    const char *fingerprint = restore_string(ctx, obj, "configFingerprint", false);
    if (fingerprint) {
        char *end = NULL;
        e->config_fingerprint = strtoull(fingerprint, &end, 16);
        if (strlen(fingerprint) != 16 || *end) {
            if (!ctx->failed)
                errstr_set(ctx->errstr, ctx->errstr_size,
                          "%s.configFingerprint is not 16 hex digits", ctx->where);
            ctx->failed = true;
        }
    }
    const char *event_id = restore_string(ctx, obj, "lastEventId", false);
    if (event_id) {
        if (strlen(event_id) >= sizeof e->last_event_id) {
            if (!ctx->failed)
                errstr_set(ctx->errstr, ctx->errstr_size, "%s.lastEventId is too long",
                          ctx->where);
            ctx->failed = true;
        } else {
            strcpy(e->last_event_id, event_id);
        }
    }
    return e;
}

static void swap_contents(struct cache *a, struct cache *b)
{
    struct cache tmp = *a;
    a->entries = b->entries;
    a->strings = b->strings;
    a->import_states = b->import_states;
    b->entries = tmp.entries;
    b->strings = tmp.strings;
    b->import_states = tmp.import_states;
}

int cache_snapshot_restore(struct cache *cache, const char *text, size_t len, char *errstr,
                           size_t errstr_size)
{
    if (!cache || !text || len == 0) {
        errstr_set(errstr, errstr_size, "cache snapshot is empty");
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        errstr_set(errstr, errstr_size, "cache snapshot is not a JSON object");
        cJSON_Delete(root);
        return -1;
    }
    const char *format = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "format"));
    if (!format || strcmp(format, SNAPSHOT_FORMAT) != 0) {
        errstr_set(errstr, errstr_size,
                   "cache snapshot format is %s%s%s, expected " SNAPSHOT_FORMAT,
                   format ? "\"" : "", format ? format : "missing", format ? "\"" : "");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *campaigns = cJSON_GetObjectItemCaseSensitive(root, "campaigns");
    const cJSON *lists = cJSON_GetObjectItemCaseSensitive(root, "contactLists");
    if (!cJSON_IsArray(campaigns) || (lists && !cJSON_IsArray(lists))) {
        errstr_set(errstr, errstr_size, "cache snapshot: campaigns%s is not an array",
                  cJSON_IsArray(campaigns) ? "/contactLists" : "");
        cJSON_Delete(root);
        return -1;
    }

    struct cache *fresh = cache_create(cache->map);
    struct restore_ctx ctx = {.errstr = errstr, .errstr_size = errstr_size};
    char where[64];
    int index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, campaigns) {
        snprintf(where, sizeof where, "cache snapshot campaigns[%d]", index++);
        ctx.where = where;
        struct cache_entry *entry = restore_entry(fresh, item, &ctx);
        if (entry && !ctx.failed && strmap_contains(fresh->entries, entry->id)) {
            errstr_set(errstr, errstr_size, "%s: campaign %s appears twice", where, entry->id);
            ctx.failed = true;
        }
        if (ctx.failed) {
            entry_free(fresh, entry);
            break;
        }
        strmap_put(fresh->entries, entry->id, entry);
    }
    index = 0;
    cJSON_ArrayForEach(item, lists) {
        if (ctx.failed)
            break;
        snprintf(where, sizeof where, "cache snapshot contactLists[%d]", index++);
        ctx.where = where;
        const char *id = restore_string(&ctx, item, "id", true);
        const char *state = restore_string(&ctx, item, "importState", true);
        if (!ctx.failed)
            cache_set_import_state(fresh, id, state);
    }
    cJSON_Delete(root);
    if (ctx.failed) {
        cache_destroy(fresh);
        return -1;
    }
    swap_contents(cache, fresh);
    cache_destroy(fresh);
    return 0;
}
