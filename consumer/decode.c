#include "consumer/decode.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_arena.h"
#include "util/numtext.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define MAX_EXACT_INTEGER 9007199254740992.0 /* 2^53 */

static const char CAMPAIGN_TOPIC_PREFIX[] = "v2.outbound.campaigns.";
static const char CONTACTLIST_TOPIC_PREFIX[] = "v2.outbound.contactlists.";

static char *print_compact(const cJSON *item)
{
    char *text = cJSON_PrintUnformatted(item);
    if (!text)
        abort();
    return text;
}

/* ------------------------------------------------------------------------ */
/* Text and JSON validation */

/* Returns the offset of the first byte that is not part of well-formed UTF-8 (NUL
 * included: a text frame with NUL would be cut short by every C string API), or
 * len when the whole buffer is valid. */
static size_t utf8_invalid_offset(const unsigned char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    while (i < len) {
        /* Frames are nearly all ASCII: a word whose bytes are all 0x01-0x7f (no high bit
         * and none that borrows when one is subtracted, i.e. no NUL) is skipped whole. */
        if (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, sizeof word);
            if ((((word - ones) | word) & highs) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned int min, cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1, min = 0x80, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, min = 0x800, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += need + 1;
    }
    return len;
}

static void release_json(struct json_arena *arena, cJSON *root)
{
    if (arena)
        json_arena_release(arena, root);
    else
        cJSON_Delete(root);
}

/* Parses exactly one JSON value filling text[0..len), in arena when not NULL (release
 * the tree with release_json). what names the input in messages ("frame", "campaign
 * body", …). */
static cJSON *parse_json(struct json_arena *arena, const char *text, size_t len,
                         const char *what, char *errstr, size_t errstr_size)
{
    if (!text || len == 0) {
        errstr_set(errstr, errstr_size, "%s is empty", what);
        return NULL;
    }
    size_t bad = utf8_invalid_offset((const unsigned char *)text, len);
    if (bad < len) {
        errstr_set(errstr, errstr_size, "%s is not valid UTF-8 text (byte 0x%02x at offset %zu)",
                  what, (unsigned char)text[bad], bad);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = arena ? json_arena_parse(arena, text, len, &end)
                        : cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        errstr_set(errstr, errstr_size,
                  "%s is not valid JSON (syntax error near offset %zu of %zu bytes%s)", what, at,
                  len, at >= len ? ", truncated?" : "");
        return NULL;
    }
    size_t consumed = (size_t)(end - text);
    while (consumed < len && strchr(" \t\r\n", text[consumed]))
        consumed++;
    if (consumed < len) {
        errstr_set(errstr, errstr_size, "%s has trailing data after the JSON value at offset %zu",
                  what, consumed);
        release_json(arena, root);
        return NULL;
    }
    return root;
}

/* ------------------------------------------------------------------------ */
/* Field access */

static bool number_is_exact_integer(double value)
{
    return isfinite(value) && floor(value) == value && fabs(value) <= MAX_EXACT_INTEGER;
}

enum field_result { FIELD_ABSENT = 0, FIELD_OK, FIELD_BAD };

/* Reads of a member already found (NULL: absent), and by name. */

static const char *string_of(const cJSON *item)
{
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static const char *opt_string(const cJSON *object, const char *key)
{
    return string_of(cJSON_GetObjectItemCaseSensitive(object, key));
}

/* An integer: absent when missing or null; FIELD_BAD when present with any other type
 * or a value that is not a whole number within 2^53. */
static enum field_result integer_of(const cJSON *item, int64_t *out)
{
    if (!item || cJSON_IsNull(item))
        return FIELD_ABSENT;
    if (!cJSON_IsNumber(item) || !number_is_exact_integer(item->valuedouble))
        return FIELD_BAD;
    *out = (int64_t)item->valuedouble;
    return FIELD_OK;
}

static enum field_result get_integer(const cJSON *object, const char *key, int64_t *out)
{
    return integer_of(cJSON_GetObjectItemCaseSensitive(object, key), out);
}

/* A tolerant optional integer: anything unusable is simply absent. */
static bool opt_integer(const cJSON *object, const char *key, int64_t *out)
{
    return get_integer(object, key, out) == FIELD_OK;
}

static bool opt_number(const cJSON *object, const char *key, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return false;
    *out = item->valuedouble;
    return true;
}

static bool date_of(const cJSON *item, int64_t *out)
{
    const char *text = string_of(item);
    return text && time_parse_rfc3339(text, out) == 0;
}

static void ref_of(const cJSON *item, struct campaign_ref *ref)
{
    if (!cJSON_IsObject(item))
        return;
    ref->id = xstrdup(opt_string(item, "id"));
    ref->name = xstrdup(opt_string(item, "name"));
}

/* ------------------------------------------------------------------------ */
/* Configuration fingerprint: FNV-1a 64 over a normalised form. Object members are
 * combined with addition so member order does not matter; references hash as their
 * id alone, so the REST form (with selfUri and name) equals the notification form. */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv_bytes(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

static uint64_t fnv_text(uint64_t hash, const char *text)
{
    return fnv_bytes(hash, text, strlen(text) + 1);
}

static uint64_t hash_json_value(const cJSON *item, int depth);

static uint64_t hash_json_value(const cJSON *item, int depth)
{
    uint64_t hash = FNV_OFFSET;
    if (depth > 32)
        return fnv_text(hash, "deep");
    if (cJSON_IsString(item))
        return fnv_text(fnv_text(hash, "s"), item->valuestring);
    if (cJSON_IsNumber(item)) {
        char number[NUMTEXT_MAX];
        numtext_g17(number, item->valuedouble);
        return fnv_text(fnv_text(hash, "n"), number);
    }
    if (cJSON_IsBool(item))
        return fnv_text(hash, cJSON_IsTrue(item) ? "t" : "f");
    if (cJSON_IsArray(item)) {
        hash = fnv_text(hash, "a");
        const cJSON *element;
        cJSON_ArrayForEach(element, item) {
            uint64_t element_hash = hash_json_value(element, depth + 1);
            hash = fnv_bytes(hash, &element_hash, sizeof element_hash);
        }
        return hash;
    }
    if (cJSON_IsObject(item)) {
        const char *id = opt_string(item, "id");
        if (id)
            return fnv_text(fnv_text(hash, "r"), id);
        uint64_t sum = 0;
        const cJSON *member;
        cJSON_ArrayForEach(member, item) {
            if (!member->string || strcmp(member->string, "selfUri") == 0 ||
                cJSON_IsNull(member))
                continue;
            uint64_t member_hash = fnv_text(FNV_OFFSET, member->string);
            uint64_t value_hash = hash_json_value(member, depth + 1);
            sum += fnv_bytes(member_hash, &value_hash, sizeof value_hash);
        }
        return fnv_bytes(fnv_text(hash, "o"), &sum, sizeof sum);
    }
    return fnv_text(hash, "null");
}

/* The members of a campaign body the decoder reads: the fields it keeps, then the
 * configuration fingerprint's. */
enum campaign_member {
    CM_ID, CM_CAMPAIGN_STATUS, CM_VERSION, CM_NAME, CM_DIALING_MODE, CM_DATE_CREATED,
    CM_DATE_MODIFIED, CM_CONTACT_LIST, CM_DIVISION, CM_EDGE_GROUP, CM_SITE, CM_QUEUE,
    CM_PRIORITY, CM_ERRORS, CM_FINGERPRINT
};

static const char *const campaign_member_names[] = {
    [CM_ID] = "id", [CM_CAMPAIGN_STATUS] = "campaignStatus", [CM_VERSION] = "version",
    [CM_NAME] = "name", [CM_DIALING_MODE] = "dialingMode", [CM_DATE_CREATED] = "dateCreated",
    [CM_DATE_MODIFIED] = "dateModified", [CM_CONTACT_LIST] = "contactList",
    [CM_DIVISION] = "division", [CM_EDGE_GROUP] = "edgeGroup", [CM_SITE] = "site",
    [CM_QUEUE] = "queue", [CM_PRIORITY] = "priority", [CM_ERRORS] = "errors",
    /* Fields both Campaign models carry that the cache does not track one by one, in
     * the order their hashes are folded (a stored snapshot's fingerprint depends on it). */
    [CM_FINGERPRINT] = "script", "callableTimeSet", "callAnalysisResponseSet", "dncLists",
    "ruleSets", "contactListFilters", "phoneColumns", "abandonRate", "callerName",
    "callerAddress", "outboundLineCount", "skipPreviewDisabled", "previewTimeOutSeconds",
    "singleNumberPreview", "contactSort", "contactSorts", "noAnswerTimeout",
    "callAnalysisLanguage", "agentOwnedColumn",
};
#define CM_COUNT (sizeof campaign_member_names / sizeof campaign_member_names[0])

/* The names by length, so that a member's name is compared with the few of its length:
 * bucket_first[len] is the first member of that length, bucket_next[m] the next one,
 * -1 ending each list. */
#define MEMBER_NAME_MAX 31
static pthread_once_t buckets_built = PTHREAD_ONCE_INIT;
static int8_t bucket_first[MEMBER_NAME_MAX + 1];
static int8_t bucket_next[CM_COUNT];
_Static_assert(CM_COUNT <= INT8_MAX, "member indexes fit bucket_next");

static void build_buckets(void)
{
    memset(bucket_first, -1, sizeof bucket_first);
    for (int m = (int)CM_COUNT - 1; m >= 0; m--) {
        size_t len = strlen(campaign_member_names[m]);
        if (len > MEMBER_NAME_MAX)
            abort(); /* a programming error: a name longer than the table allows */
        bucket_next[m] = bucket_first[len];
        bucket_first[len] = (int8_t)m;
    }
}

/* Finds the members in one pass, keeping the first of each name as a lookup by name
 * would: a lookup per field scanned the body again each time (strcmp was 6.6 % of the
 * service loop at full load). */
static void find_campaign_members(const cJSON *body, const cJSON *found[CM_COUNT])
{
    pthread_once(&buckets_built, build_buckets);
    memset(found, 0, CM_COUNT * sizeof *found);
    const cJSON *member;
    cJSON_ArrayForEach(member, body) {
        if (!member->string)
            break; /* where a lookup by name stops too */
        size_t len = strlen(member->string);
        if (len > MEMBER_NAME_MAX)
            continue;
        for (int m = bucket_first[len]; m >= 0; m = bucket_next[m]) {
            if (memcmp(campaign_member_names[m], member->string, len) == 0) {
                if (!found[m])
                    found[m] = member;
                break;
            }
        }
    }
}

static uint64_t config_fingerprint(const cJSON *const found[CM_COUNT])
{
    uint64_t hash = FNV_OFFSET;
    for (size_t m = CM_FINGERPRINT; m < CM_COUNT; m++) {
        const cJSON *item = found[m];
        if (!item || cJSON_IsNull(item))
            continue;
        uint64_t value_hash = hash_json_value(item, 0);
        hash = fnv_text(hash, campaign_member_names[m]);
        hash = fnv_bytes(hash, &value_hash, sizeof value_hash);
    }
    return hash;
}

/* ------------------------------------------------------------------------ */
/* Campaign bodies */

static int read_campaign_fields(const cJSON *body, const char *where, struct campaign_update *u,
                                char *errstr, size_t errstr_size)
{
    if (!cJSON_IsObject(body)) {
        errstr_set(errstr, errstr_size, "%s is not a JSON object", where);
        return -1;
    }
    const cJSON *found[CM_COUNT];
    find_campaign_members(body, found);
    const cJSON *id = found[CM_ID];
    if (!id) {
        errstr_set(errstr, errstr_size, "%s: campaign id is missing", where);
        return -1;
    }
    if (!cJSON_IsString(id) || !id->valuestring[0]) {
        errstr_set(errstr, errstr_size, "%s: campaign id is not a non-empty string", where);
        return -1;
    }
    u->id = xstrdup(id->valuestring);

    const cJSON *status = found[CM_CAMPAIGN_STATUS];
    if (status && !cJSON_IsNull(status) && !cJSON_IsString(status)) {
        errstr_set(errstr, errstr_size, "%s: campaignStatus of campaign %s is not a string",
                  where, u->id);
        return -1;
    }
    u->campaign_status = xstrdup(string_of(status));

    switch (integer_of(found[CM_VERSION], &u->version)) {
    case FIELD_OK:
        u->has_version = true;
        break;
    case FIELD_BAD:
        errstr_set(errstr, errstr_size,
                  "%s: version of campaign %s is not an integer within +/-2^53", where, u->id);
        return -1;
    case FIELD_ABSENT:
        break;
    }

    u->name = xstrdup(string_of(found[CM_NAME]));
    u->dialing_mode = xstrdup(string_of(found[CM_DIALING_MODE]));
    u->has_date_created = date_of(found[CM_DATE_CREATED], &u->date_created_ms);
    u->has_date_modified = date_of(found[CM_DATE_MODIFIED], &u->date_modified_ms);
    ref_of(found[CM_CONTACT_LIST], &u->contact_list);
    ref_of(found[CM_DIVISION], &u->division);
    ref_of(found[CM_EDGE_GROUP], &u->edge_group);
    ref_of(found[CM_SITE], &u->site);
    ref_of(found[CM_QUEUE], &u->queue);
    u->has_priority = integer_of(found[CM_PRIORITY], &u->priority) == FIELD_OK;

    const cJSON *errors = found[CM_ERRORS];
    int error_total = cJSON_IsArray(errors) ? cJSON_GetArraySize(errors) : 0;
    if (error_total > 0) {
        u->errors = calloc((size_t)error_total, sizeof *u->errors);
        if (!u->errors)
            abort();
        const cJSON *error;
        cJSON_ArrayForEach(error, errors) {
            if (!cJSON_IsObject(error))
                continue;
            struct campaign_error *slot = &u->errors[u->error_count++];
            slot->error = xstrdup(opt_string(error, "error"));
            slot->details = xstrdup(opt_string(error, "details"));
        }
    }
    u->config_fingerprint = config_fingerprint(found);
    return 0;
}

struct campaign_update *decode_campaign_object(const struct cJSON *object, char *errstr,
                                               size_t errstr_size)
{
    struct campaign_update *update = campaign_update_new();
    if (read_campaign_fields(object, "campaign", update, errstr, errstr_size) != 0) {
        campaign_update_free(update);
        return NULL;
    }
    return update;
}

struct campaign_update *decode_campaign_text(const char *text, size_t len, char *errstr,
                                             size_t errstr_size)
{
    cJSON *root = parse_json(NULL, text, len, "campaign body", errstr, errstr_size);
    if (!root)
        return NULL;
    struct campaign_update *update = decode_campaign_object(root, errstr, errstr_size);
    cJSON_Delete(root);
    return update;
}

/* ------------------------------------------------------------------------ */
/* Listing */

static int64_t listing_integer(const cJSON *root, const char *key)
{
    int64_t value = 0;
    return opt_integer(root, key, &value) ? value : 0;
}

int decode_campaign_listing(const char *text, size_t len, struct campaign_listing *out,
                            char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    cJSON *root = parse_json(NULL, text, len, "campaign listing", errstr, errstr_size);
    if (!root)
        return -1;
    if (!cJSON_IsObject(root)) {
        errstr_set(errstr, errstr_size, "campaign listing is not a JSON object");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *entities = cJSON_GetObjectItemCaseSensitive(root, "entities");
    if (entities && !cJSON_IsNull(entities) && !cJSON_IsArray(entities)) {
        errstr_set(errstr, errstr_size, "campaign listing: entities is not an array");
        cJSON_Delete(root);
        return -1;
    }
    out->has_entities = cJSON_IsArray(entities);
    int total = cJSON_IsArray(entities) ? cJSON_GetArraySize(entities) : 0;
    if (total > 0) {
        out->entities = calloc((size_t)total, sizeof *out->entities);
        if (!out->entities)
            abort();
    }
    int index = 0;
    const cJSON *entity;
    cJSON_ArrayForEach(entity, entities) {
        char where[48], reason[sizeof out->first_skip_reason];
        snprintf(where, sizeof where, "campaign listing entities[%d]", index++);
        struct campaign_update *update = campaign_update_new();
        if (read_campaign_fields(entity, where, update, reason, sizeof reason) != 0) {
            campaign_update_free(update);
            if (out->skipped++ == 0)
                snprintf(out->first_skip_reason, sizeof out->first_skip_reason, "%s", reason);
            continue;
        }
        out->entities[out->entity_count++] = update;
    }
    out->page_size = listing_integer(root, "pageSize");
    out->page_number = listing_integer(root, "pageNumber");
    out->total = listing_integer(root, "total");
    out->page_count = listing_integer(root, "pageCount");
    const char *next = opt_string(root, "nextUri");
    out->next_uri = next && next[0] ? xstrdup(next) : NULL;
    cJSON_Delete(root);
    return 0;
}

void campaign_listing_clear(struct campaign_listing *listing)
{
    if (!listing)
        return;
    for (size_t i = 0; i < listing->entity_count; i++)
        campaign_update_free(listing->entities[i]);
    free(listing->entities);
    free(listing->next_uri);
    memset(listing, 0, sizeof *listing);
}

/* ------------------------------------------------------------------------ */
/* Import status: the notification and REST models name two fields differently. */

static void read_import_status(const cJSON *body, const char *state_key,
                               const char *percent_key, struct import_status *out)
{
    out->import_state = xstrdup(opt_string(body, state_key));
    out->has_total_records = opt_integer(body, "totalRecords", &out->total_records);
    out->has_completed_records = opt_integer(body, "completedRecords", &out->completed_records);
    out->has_percentage_complete = opt_number(body, percent_key, &out->percentage_complete);
    out->failure_reason = xstrdup(opt_string(body, "failureReason"));
}

int decode_import_status_rest(const char *text, size_t len, const char *contact_list_id,
                              struct import_status *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (!contact_list_id || !contact_list_id[0]) {
        errstr_set(errstr, errstr_size, "import status: contact list id is empty");
        return -1;
    }
    cJSON *root = parse_json(NULL, text, len, "import status", errstr, errstr_size);
    if (!root)
        return -1;
    if (!cJSON_IsObject(root)) {
        errstr_set(errstr, errstr_size, "import status of contact list %s is not a JSON object",
                  contact_list_id);
        cJSON_Delete(root);
        return -1;
    }
    out->contact_list_id = xstrdup(contact_list_id);
    read_import_status(root, "state", "percentComplete", out);
    cJSON_Delete(root);
    return 0;
}

void import_status_clear(struct import_status *status)
{
    if (!status)
        return;
    free(status->contact_list_id);
    free(status->import_state);
    free(status->failure_reason);
    memset(status, 0, sizeof *status);
}

/* ------------------------------------------------------------------------ */
/* Notifications */

const char *notification_kind_name(enum notification_kind kind)
{
    static const char *const names[NOTIFY_KIND_COUNT] = {
        "heartbeat", "pong",     "channel_metadata", "socket_closing", "no_longer_subscribed",
        "token_revoked", "system", "campaign",       "progress",       "stats",
        "import_status", "unknown",
    };
    return (unsigned)kind < NOTIFY_KIND_COUNT ? names[kind] : "unknown";
}

/* "v2.system.token_revoked" and "v2.system.token_revoked.{id}" both match. */
static bool system_topic_is(const char *topic, const char *name)
{
    size_t len = strlen(name);
    return strncmp(topic, name, len) == 0 && (topic[len] == '\0' || topic[len] == '.');
}

static void decode_progress(const cJSON *body, struct notification *n)
{
    struct campaign_progress *p = &n->progress;
    const cJSON *campaign = cJSON_GetObjectItemCaseSensitive(body, "campaign");
    const char *body_id = cJSON_IsObject(campaign) ? opt_string(campaign, "id") : NULL;
    p->campaign_id = xstrdup(body_id && body_id[0] ? body_id : n->topic_entity_id);
    p->campaign_name = cJSON_IsObject(campaign) ? xstrdup(opt_string(campaign, "name")) : NULL;
    p->has_contacts_called = opt_number(body, "numberOfContactsCalled", &p->contacts_called);
    p->has_contacts_messaged =
        opt_number(body, "numberOfContactsMessaged", &p->contacts_messaged);
    p->has_total_contacts = opt_number(body, "totalNumberOfContacts", &p->total_contacts);
    p->has_percentage = opt_number(body, "percentage", &p->percentage);

    const cJSON *skipped = cJSON_GetObjectItemCaseSensitive(body, "numberOfContactsSkipped");
    int total = cJSON_IsObject(skipped) ? cJSON_GetArraySize(skipped) : 0;
    if (total > 0) {
        p->skipped = calloc((size_t)total, sizeof *p->skipped);
        if (!p->skipped)
            abort();
        const cJSON *entry;
        cJSON_ArrayForEach(entry, skipped) {
            if (!entry->string || !cJSON_IsNumber(entry) ||
                !number_is_exact_integer(entry->valuedouble))
                continue;
            p->skipped[p->skipped_count].reason = xstrdup(entry->string);
            p->skipped[p->skipped_count].count = (int64_t)entry->valuedouble;
            p->skipped_count++;
        }
    }
}

static bool mentions_line_utilization(const char *name)
{
    return name && (strcasestr(name, "lineutil") || strcasestr(name, "linesutil") ||
                    strcasestr(name, "line_util") || strcasestr(name, "lines_util"));
}

/* The stats model does not enumerate metric names, so this looks for a metric
 * named after line utilisation and takes its ratio, else its first number. */
static void find_lines_utilization(const cJSON *body, struct campaign_stats *s)
{
    const cJSON *rest = cJSON_GetObjectItemCaseSensitive(body, "linesUtilization");
    if (cJSON_IsObject(rest)) {
        double assigned, available;
        if (opt_number(rest, "assignedOutboundLines", &assigned) &&
            opt_number(rest, "totalAvailableOutboundLines", &available) && available > 0) {
            s->lines_utilization = assigned / available;
            s->has_lines_utilization = true;
            return;
        }
    }
    const cJSON *interval;
    cJSON_ArrayForEach(interval, cJSON_GetObjectItemCaseSensitive(body, "data")) {
        const cJSON *metric;
        cJSON_ArrayForEach(metric, cJSON_GetObjectItemCaseSensitive(interval, "metrics")) {
            if (!mentions_line_utilization(opt_string(metric, "metric")))
                continue;
            const cJSON *stats = cJSON_GetObjectItemCaseSensitive(metric, "stats");
            if (!cJSON_IsObject(stats))
                continue;
            double value;
            if (opt_number(stats, "ratio", &value) || opt_number(stats, "current", &value) ||
                opt_number(stats, "max", &value)) {
                s->lines_utilization = value;
                s->has_lines_utilization = true;
                return;
            }
            const cJSON *first;
            cJSON_ArrayForEach(first, stats) {
                if (cJSON_IsNumber(first) && isfinite(first->valuedouble)) {
                    s->lines_utilization = first->valuedouble;
                    s->has_lines_utilization = true;
                    return;
                }
            }
        }
    }
}

static void decode_stats(const cJSON *body, struct notification *n)
{
    struct campaign_stats *s = &n->stats;
    s->campaign_id = xstrdup(n->topic_entity_id);
    const cJSON *group = cJSON_GetObjectItemCaseSensitive(body, "group");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
    s->group_json = group && !cJSON_IsNull(group) ? print_compact(group) : NULL;
    s->data_json = data && !cJSON_IsNull(data) ? print_compact(data) : NULL;
    find_lines_utilization(body, s);
}

/* Splits "<id>" or "<id>.<suffix>" after a topic prefix. */
static char *topic_entity(const char *rest, const char **suffix)
{
    const char *dot = strchr(rest, '.');
    size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
    *suffix = dot ? dot + 1 : NULL;
    if (len == 0)
        return NULL;
    char *id = strndup(rest, len);
    if (!id)
        abort();
    return id;
}

static int classify_and_decode(const cJSON *body, struct notification *n, char *errstr,
                               size_t errstr_size)
{
    const char *topic = n->topic;
    if (strcmp(topic, "channel.metadata") == 0) {
        n->message = xstrdup(opt_string(body, "message"));
        if (n->message && strcmp(n->message, "WebSocket Heartbeat") == 0)
            n->kind = NOTIFY_HEARTBEAT;
        else if (n->message && strcmp(n->message, "pong") == 0)
            n->kind = NOTIFY_PONG;
        else
            n->kind = NOTIFY_CHANNEL_METADATA;
        return 0;
    }
    if (strncmp(topic, "v2.system.", 10) == 0 || strcmp(topic, "v2.subscription.updated") == 0) {
        if (system_topic_is(topic, "v2.system.socket_closing"))
            n->kind = NOTIFY_SOCKET_CLOSING;
        else if (system_topic_is(topic, "v2.system.no_longer_subscribed"))
            n->kind = NOTIFY_NO_LONGER_SUBSCRIBED;
        else if (system_topic_is(topic, "v2.system.token_revoked"))
            n->kind = NOTIFY_TOKEN_REVOKED;
        else
            n->kind = NOTIFY_SYSTEM_OTHER;
        n->message = xstrdup(opt_string(body, "message"));
        n->system.system_topic_type = xstrdup(opt_string(body, "systemTopicType"));
        n->system.reason = xstrdup(opt_string(body, "reason"));
        n->system.channel_id = xstrdup(opt_string(body, "channelId"));
        return 0;
    }

    const char *suffix = NULL;
    n->kind = NOTIFY_UNKNOWN;
    if (strncmp(topic, CAMPAIGN_TOPIC_PREFIX, sizeof CAMPAIGN_TOPIC_PREFIX - 1) == 0) {
        n->topic_entity_id = topic_entity(topic + sizeof CAMPAIGN_TOPIC_PREFIX - 1, &suffix);
        if (!n->topic_entity_id)
            return 0;
        if (!suffix) {
            n->kind = NOTIFY_CAMPAIGN;
            n->campaign = campaign_update_new();
            if (read_campaign_fields(body, topic, n->campaign, errstr, errstr_size) != 0)
                return -1;
            if (strcmp(n->campaign->id, n->topic_entity_id) != 0) {
                errstr_set(errstr, errstr_size, "%s: eventBody.id %s does not match the topic",
                          topic, n->campaign->id);
                return -1;
            }
        } else if (strcmp(suffix, "progress") == 0) {
            n->kind = NOTIFY_PROGRESS;
            decode_progress(body, n);
        } else if (strcmp(suffix, "stats") == 0) {
            n->kind = NOTIFY_STATS;
            decode_stats(body, n);
        }
        return 0;
    }
    if (strncmp(topic, CONTACTLIST_TOPIC_PREFIX, sizeof CONTACTLIST_TOPIC_PREFIX - 1) == 0) {
        n->topic_entity_id = topic_entity(topic + sizeof CONTACTLIST_TOPIC_PREFIX - 1, &suffix);
        if (n->topic_entity_id && suffix && strcmp(suffix, "importstatus") == 0) {
            n->kind = NOTIFY_IMPORT_STATUS;
            n->import_status.contact_list_id = xstrdup(n->topic_entity_id);
            read_import_status(body, "importState", "percentageComplete", &n->import_status);
        }
    }
    return 0;
}

int decode_notification(const char *frame, size_t len, struct notification *out, char *errstr,
                        size_t errstr_size)
{
    return decode_notification_in(NULL, frame, len, out, errstr, errstr_size);
}

static int decode_frame(struct json_arena *arena, const char *frame, size_t len,
                        struct notification *out, cJSON **kept, char *errstr,
                        size_t errstr_size);

int decode_notification_in(struct json_arena *arena, const char *frame, size_t len,
                           struct notification *out, char *errstr, size_t errstr_size)
{
    return decode_frame(arena, frame, len, out, NULL, errstr, errstr_size);
}

int decode_notification_keep(struct json_arena *arena, const char *frame, size_t len,
                             struct notification *out, cJSON **tree, char *errstr,
                             size_t errstr_size)
{
    *tree = NULL;
    return decode_frame(arena, frame, len, out, tree, errstr, errstr_size);
}

static int decode_frame(struct json_arena *arena, const char *frame, size_t len,
                        struct notification *out, cJSON **kept, char *errstr,
                        size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    cJSON *root = parse_json(arena, frame, len, "notification frame", errstr, errstr_size);
    if (!root)
        return -1;
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        errstr_set(errstr, errstr_size, "notification frame is not a JSON object");
        goto done;
    }
    const cJSON *topic = cJSON_GetObjectItemCaseSensitive(root, "topicName");
    if (!topic) {
        errstr_set(errstr, errstr_size, "notification frame has no topicName");
        goto done;
    }
    if (!cJSON_IsString(topic) || !topic->valuestring[0]) {
        errstr_set(errstr, errstr_size, "notification topicName is not a non-empty string");
        goto done;
    }
    out->topic = xstrdup(topic->valuestring);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "eventBody");
    if (!cJSON_IsObject(body)) {
        errstr_set(errstr, errstr_size, "%s: eventBody is %s", out->topic,
                  body ? "not a JSON object" : "missing");
        goto done;
    }
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (cJSON_IsString(version)) {
        out->envelope_version = xstrdup(version->valuestring);
    } else if (cJSON_IsNumber(version) && number_is_exact_integer(version->valuedouble)) {
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)version->valuedouble);
        out->envelope_version = xstrdup(text);
    }
    const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (cJSON_IsObject(metadata))
        out->correlation_id = xstrdup(opt_string(metadata, "CorrelationId"));
    rc = classify_and_decode(body, out, errstr, errstr_size);
    if (rc == 0 && kept && arena && !json_arena_tree_is_cut(arena)) {
        *kept = root;
        return 0;
    }

done:
    release_json(arena, root);
    if (rc != 0)
        notification_clear(out);
    return rc;
}

void notification_clear(struct notification *n)
{
    if (!n)
        return;
    free(n->topic);
    free(n->envelope_version);
    free(n->correlation_id);
    free(n->topic_entity_id);
    free(n->message);
    free(n->system.system_topic_type);
    free(n->system.reason);
    free(n->system.channel_id);
    campaign_update_free(n->campaign);
    free(n->progress.campaign_id);
    free(n->progress.campaign_name);
    for (size_t i = 0; i < n->progress.skipped_count; i++)
        free(n->progress.skipped[i].reason);
    free(n->progress.skipped);
    free(n->stats.campaign_id);
    free(n->stats.group_json);
    free(n->stats.data_json);
    import_status_clear(&n->import_status);
    memset(n, 0, sizeof *n);
}
