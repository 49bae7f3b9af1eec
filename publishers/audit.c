#include "publishers/audit.h"
#include "util/xalloc.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit_chain {
    struct outbox *ob;
    char head[AUDIT_HASH_HEX_LEN + 1];
    uint64_t rollbacks_seen;
};

static bool is_hash_text(const char *text)
{
    if (!text || strlen(text) != AUDIT_HASH_HEX_LEN)
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* ---- canonical JSON ------------------------------------------------------------------ */

static void append_canonical_string(struct strbuf *out, const char *text)
{
    strbuf_append_char(out, '"');
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        switch (*p) {
        case '"': strbuf_append(out, "\\\""); break;
        case '\\': strbuf_append(out, "\\\\"); break;
        case '\b': strbuf_append(out, "\\b"); break;
        case '\f': strbuf_append(out, "\\f"); break;
        case '\n': strbuf_append(out, "\\n"); break;
        case '\r': strbuf_append(out, "\\r"); break;
        case '\t': strbuf_append(out, "\\t"); break;
        default:
            if (*p < 0x20)
                strbuf_appendf(out, "\\u%04x", *p);
            else
                strbuf_append_char(out, (char)*p);
        }
    }
    strbuf_append_char(out, '"');
}

static int compare_members(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static int canonical_value(const cJSON *item, const char *skip_key, struct strbuf *out,
                           char *errstr, size_t errstr_size);

static int canonical_object(const cJSON *item, const char *skip_key, struct strbuf *out,
                            char *errstr, size_t errstr_size)
{
    size_t count = 0;
    for (const cJSON *child = item->child; child; child = child->next)
        count++;
    const cJSON **members = calloc(count ? count : 1, sizeof *members);
    if (!members)
        abort();
    size_t used = 0;
    for (const cJSON *child = item->child; child; child = child->next)
        if (!(skip_key && child->string && strcmp(child->string, skip_key) == 0))
            members[used++] = child;
    qsort(members, used, sizeof *members, compare_members);
    int status = 0;
    strbuf_append_char(out, '{');
    for (size_t i = 0; i < used && status == 0; i++) {
        if (i > 0 && strcmp(members[i - 1]->string, members[i]->string) == 0) {
            errstr_set(errstr, errstr_size, "duplicate key \"%s\"", members[i]->string);
            status = -1;
            break;
        }
        if (i > 0)
            strbuf_append_char(out, ',');
        append_canonical_string(out, members[i]->string);
        strbuf_append_char(out, ':');
        status = canonical_value(members[i], NULL, out, errstr, errstr_size);
    }
    strbuf_append_char(out, '}');
    free(members);
    return status;
}

static int canonical_value(const cJSON *item, const char *skip_key, struct strbuf *out,
                           char *errstr, size_t errstr_size)
{
    if (cJSON_IsObject(item))
        return canonical_object(item, skip_key, out, errstr, errstr_size);
    if (cJSON_IsArray(item)) {
        strbuf_append_char(out, '[');
        for (const cJSON *child = item->child; child; child = child->next) {
            if (child != item->child)
                strbuf_append_char(out, ',');
            if (canonical_value(child, NULL, out, errstr, errstr_size) != 0)
                return -1;
        }
        strbuf_append_char(out, ']');
        return 0;
    }
    if (cJSON_IsString(item)) {
        append_canonical_string(out, item->valuestring ? item->valuestring : "");
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        double value = item->valuedouble;
        if (!isfinite(value)) {
            errstr_set(errstr, errstr_size, "number is not finite");
            return -1;
        }
        if (value == floor(value) && fabs(value) <= 9007199254740992.0)
            strbuf_appendf(out, "%lld", (long long)value);
        else
            strbuf_appendf(out, "%.17g", value);
        return 0;
    }
    if (cJSON_IsTrue(item)) {
        strbuf_append(out, "true");
        return 0;
    }
    if (cJSON_IsFalse(item)) {
        strbuf_append(out, "false");
        return 0;
    }
    if (cJSON_IsNull(item)) {
        strbuf_append(out, "null");
        return 0;
    }
    errstr_set(errstr, errstr_size, "value of unknown JSON kind");
    return -1;
}

int audit_canonical_json(const cJSON *item, const char *skip_key, struct strbuf *out,
                         char *errstr, size_t errstr_size)
{
    if (!item) {
        errstr_set(errstr, errstr_size, "no JSON value");
        return -1;
    }
    return canonical_value(item, skip_key, out, errstr, errstr_size);
}

int audit_compute_hash(const char *prev_hash, const cJSON *data,
                       char out[AUDIT_HASH_HEX_LEN + 1], char *errstr, size_t errstr_size)
{
    struct strbuf text;
    strbuf_init(&text);
    strbuf_append(&text, prev_hash ? prev_hash : "");
    strbuf_append_char(&text, '\n');
    if (audit_canonical_json(data, "hash", &text, errstr, errstr_size) != 0) {
        strbuf_free(&text);
        return -1;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok = EVP_Digest(text.data, text.len, digest, &digest_len, EVP_sha256(), NULL);
    strbuf_free(&text);
    if (!ok || digest_len * 2 != AUDIT_HASH_HEX_LEN) {
        errstr_set(errstr, errstr_size, "SHA-256 failed");
        return -1;
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < digest_len; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[AUDIT_HASH_HEX_LEN] = '\0';
    return 0;
}

enum audit_link_result audit_check_link(const cJSON *data, char *errstr, size_t errstr_size)
{
    if (!cJSON_IsObject(data)) {
        errstr_set(errstr, errstr_size, "audit data is not a JSON object");
        return AUDIT_LINK_MALFORMED;
    }
    const char *prev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "prevHash"));
    const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "hash"));
    if (!is_hash_text(prev) || !is_hash_text(hash)) {
        errstr_set(errstr, errstr_size, "prevHash and hash must be 64 lowercase hex digits");
        return AUDIT_LINK_MALFORMED;
    }
    char computed[AUDIT_HASH_HEX_LEN + 1];
    char why[256];
    if (audit_compute_hash(prev, data, computed, why, sizeof why) != 0) {
        errstr_set(errstr, errstr_size, "cannot hash the data: %s", why);
        return AUDIT_LINK_MALFORMED;
    }
    if (strcmp(computed, hash) != 0) {
        errstr_set(errstr, errstr_size, "hash mismatch: recorded %s, content hashes to %s",
                  hash, computed);
        return AUDIT_LINK_HASH_MISMATCH;
    }
    return AUDIT_LINK_OK;
}

/* ---- the chain --------------------------------------------------------------------- */

static int load_head(struct audit_chain *chain, char *errstr, size_t errstr_size)
{
    char *stored = NULL;
    int status = outbox_meta_get(chain->ob, AUDIT_HEAD_META_KEY, &stored, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    if (stored && !is_hash_text(stored)) {
        errstr_set(errstr, errstr_size, "outbox %s: stored audit head \"%.80s\" is not a hash",
                  outbox_path(chain->ob), stored);
        free(stored);
        return OUTBOX_ERROR;
    }
    snprintf(chain->head, sizeof chain->head, "%s", stored ? stored : AUDIT_GENESIS_HASH);
    free(stored);
    chain->rollbacks_seen = outbox_rollback_count(chain->ob);
    return OUTBOX_OK;
}

struct audit_chain *audit_chain_create(struct outbox *ob, char *errstr, size_t errstr_size)
{
    if (!ob) {
        errstr_set(errstr, errstr_size, "audit chain: no outbox");
        return NULL;
    }
    struct audit_chain *chain = calloc(1, sizeof *chain);
    if (!chain)
        abort();
    chain->ob = ob;
    if (load_head(chain, errstr, errstr_size) != OUTBOX_OK) {
        audit_chain_destroy(chain);
        return NULL;
    }
    return chain;
}

void audit_chain_destroy(struct audit_chain *chain) { free(chain); }

const char *audit_chain_head(const struct audit_chain *chain) { return chain->head; }

int audit_chain_seal(struct audit_chain *chain, cJSON *data, char *errstr, size_t errstr_size)
{
    if (!cJSON_IsObject(data)) {
        errstr_set(errstr, errstr_size, "audit chain: data is not a JSON object");
        return OUTBOX_ERROR;
    }
    if (outbox_rollback_count(chain->ob) != chain->rollbacks_seen) {
        int status = load_head(chain, errstr, errstr_size);
        if (status != OUTBOX_OK)
            return status;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(data, "hash");
    cJSON_DeleteItemFromObjectCaseSensitive(data, "prevHash");
    if (!cJSON_AddStringToObject(data, "prevHash", chain->head))
        abort();
    char hash[AUDIT_HASH_HEX_LEN + 1];
    if (audit_compute_hash(chain->head, data, hash, errstr, errstr_size) != 0)
        return OUTBOX_ERROR;
    int status = outbox_meta_set(chain->ob, AUDIT_HEAD_META_KEY, hash, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    if (!cJSON_AddStringToObject(data, "hash", hash))
        abort();
    memcpy(chain->head, hash, sizeof hash);
    return OUTBOX_OK;
}

int audit_chain_append(struct audit_chain *chain, const char *id, const char *type,
                       const char *source, const char *subject, int64_t time_ms, cJSON *data,
                       int64_t *seq_out, char *errstr, size_t errstr_size)
{
    char previous[AUDIT_HASH_HEX_LEN + 1];
    memcpy(previous, chain->head, sizeof previous);
    int status = audit_chain_seal(chain, data, errstr, errstr_size);
    if (status != OUTBOX_OK)
        return status;
    char *text = cJSON_PrintUnformatted(data);
    if (!text)
        abort();
    struct relay_event *event = relay_event_create(id, type, source, subject, time_ms,
                                                   EVENT_FAMILY_AUDIT, text);
    free(text);
    if (!event) {
        errstr_set(errstr, errstr_size, "audit chain: event without id or type");
        status = OUTBOX_ERROR;
    } else {
        status = outbox_append(chain->ob, event, NULL, seq_out, errstr, errstr_size);
        relay_event_free(event);
    }
    if (status != OUTBOX_OK && outbox_rollback_count(chain->ob) == chain->rollbacks_seen) {
        /* The transaction survived (the append was refused): put the old head back in
         * it, so the stored head still names the last stored audit event. */
        char undo_err[256];
        if (outbox_meta_set(chain->ob, AUDIT_HEAD_META_KEY, previous, undo_err,
                            sizeof undo_err) == OUTBOX_OK)
            memcpy(chain->head, previous, sizeof previous);
        else
            chain->rollbacks_seen = UINT64_MAX; /* reload from the database next time */
    }
    return status;
}

/* ---- verifying a file ------------------------------------------------------------- */

/* "<prefix>audit.notification" or "<prefix>audit.action", whatever the prefix. */
static bool is_audit_type(const char *type)
{
    static const char *const names[] = {"audit.notification", "audit.action"};
    if (!type)
        return false;
    size_t len = strlen(type);
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(names[i]);
        if (len >= n && strcmp(type + len - n, names[i]) == 0 &&
            (len == n || type[len - n - 1] == '.'))
            return true;
    }
    return false;
}

/* Finds the audit data object of one line. Returns 1 with *data (owned by *root or
 * *inner) for an audit event, 0 for a line to skip, -1 with errstr for a bad line. */
static int line_audit_data(const char *line, cJSON **root, cJSON **inner, const cJSON **data,
                           char *errstr, size_t errstr_size)
{
    *root = cJSON_Parse(line);
    *inner = NULL;
    if (!cJSON_IsObject(*root)) {
        errstr_set(errstr, errstr_size, "unparsable line (not a JSON object)");
        return -1;
    }
    const cJSON *obj = *root;
    if (cJSON_GetObjectItemCaseSensitive(obj, "specversion")) {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "type"));
        if (!is_audit_type(type))
            return 0;
        *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
        if (!cJSON_IsObject(*data)) {
            errstr_set(errstr, errstr_size, "audit event without a data object");
            return -1;
        }
        return 1;
    }
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(obj, "value");
    if (cJSON_GetObjectItemCaseSensitive(obj, "topic") && value) {
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(obj, "headers");
        const char *type =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(headers, "ce_type"));
        if (type && !is_audit_type(type))
            return 0;
        if (!cJSON_IsString(value)) {
            errstr_set(errstr, errstr_size, "Kafka record value is not a string");
            return -1;
        }
        *inner = cJSON_Parse(value->valuestring);
        if (!cJSON_IsObject(*inner)) {
            errstr_set(errstr, errstr_size, "Kafka record value is not a JSON object");
            return -1;
        }
        obj = *inner;
        if (!type && !cJSON_GetObjectItemCaseSensitive(obj, "hash") &&
            !cJSON_GetObjectItemCaseSensitive(obj, "prevHash"))
            return 0;
        *data = obj;
        return 1;
    }
    if (!cJSON_GetObjectItemCaseSensitive(obj, "hash") &&
        !cJSON_GetObjectItemCaseSensitive(obj, "prevHash"))
        return 0;
    *data = obj;
    return 1;
}

/* Hashes already verified, for recognizing repeated lines. */
struct hash_set {
    char (*slots)[AUDIT_HASH_HEX_LEN + 1];
    size_t cap, count;
};

static size_t hash_slot(const struct hash_set *set, const char *hash)
{
    size_t h = 0;
    for (int i = 0; i < 16; i++)
        h = h * 16 + (size_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    size_t i = h & (set->cap - 1);
    while (set->slots[i][0] && strcmp(set->slots[i], hash) != 0)
        i = (i + 1) & (set->cap - 1);
    return i;
}

static bool hash_set_contains(const struct hash_set *set, const char *hash)
{
    return set->cap && set->slots[hash_slot(set, hash)][0];
}

static void hash_set_add(struct hash_set *set, const char *hash)
{
    if ((set->count + 1) * 2 > set->cap) {
        struct hash_set bigger = {.cap = set->cap ? set->cap * 2 : 1024};
        bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
        if (!bigger.slots)
            abort();
        for (size_t i = 0; i < set->cap; i++)
            if (set->slots[i][0])
                memcpy(bigger.slots[hash_slot(&bigger, set->slots[i])], set->slots[i],
                       sizeof set->slots[i]);
        bigger.count = set->count;
        free(set->slots);
        *set = bigger;
    }
    size_t i = hash_slot(set, hash);
    if (!set->slots[i][0]) {
        memcpy(set->slots[i], hash, AUDIT_HASH_HEX_LEN + 1);
        set->count++;
    }
}

int audit_verify_stream(FILE *in, const char *name, bool require_genesis,
                        struct audit_verify_result *result, char *errstr, size_t errstr_size)
{
    memset(result, 0, sizeof *result);
    snprintf(result->head, sizeof result->head, "%s", AUDIT_GENESIS_HASH);
    struct hash_set seen = {0};
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    int status = 0;
    char why[512];
    while (status == 0 && (len = getline(&line, &line_cap, in)) >= 0) {
        result->lines++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        cJSON *root = NULL, *inner = NULL;
        const cJSON *data = NULL;
        int kind = line_audit_data(line, &root, &inner, &data, why, sizeof why);
        if (kind == 1) {
            enum audit_link_result link = audit_check_link(data, why, sizeof why);
            const char *prev =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "prevHash"));
            const char *hash =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "hash"));
            if (link != AUDIT_LINK_OK) {
                kind = -1;
            } else if (hash_set_contains(&seen, hash)) {
                result->duplicates++;
            } else if (result->events == 0 && !require_genesis) {
                snprintf(result->first_prev, sizeof result->first_prev, "%s", prev);
            } else if (strcmp(prev, result->head) != 0) {
                snprintf(why, sizeof why,
                         "prevHash %s does not match the previous audit event's hash %s%s",
                         prev, result->head,
                         result->events == 0 ? " (the chain must start at genesis)" : "");
                kind = -1;
            }
            if (kind == 1 && !hash_set_contains(&seen, hash)) {
                if (result->events == 0)
                    snprintf(result->first_prev, sizeof result->first_prev, "%s", prev);
                hash_set_add(&seen, hash);
                snprintf(result->head, sizeof result->head, "%s", hash);
                result->events++;
            }
        }
        if (kind == -1) {
            errstr_set(errstr, errstr_size, "%s:%lld: broken link: %s", name,
                      (long long)result->lines, why);
            status = 1;
        }
        cJSON_Delete(root);
        cJSON_Delete(inner);
    }
    if (status == 0 && ferror(in)) {
        errstr_set(errstr, errstr_size, "%s: read error", name);
        status = -1;
    }
    free(line);
    free(seen.slots);
    return status;
}
