#include "tests/gcsim/faults.h"

#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/publish.h"
#include "tests/gcsim/stream.h"
#include "tests/gcsim/wsconn.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

struct rest_fault {
    char prefix[128];
    char method[8]; /* "" matches every method */
    int status;
    int count;
    int retry_after_s;
    int64_t delay_ms;
};

#define MAX_REST_FAULTS 32

struct faults {
    struct rest_fault rest[MAX_REST_FAULTS];
    int rest_count;
};

struct faults *faults_create(void)
{
    struct faults *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    return f;
}

void faults_destroy(struct faults *faults)
{
    free(faults);
}

int faults_take_rest(struct faults *faults, const char *method, const char *path,
                     struct rest_fault_hit *hit)
{
    for (int i = 0; i < faults->rest_count; i++) {
        struct rest_fault *f = &faults->rest[i];
        if (strncmp(path, f->prefix, strlen(f->prefix)) != 0)
            continue;
        if (f->method[0] && strcmp(f->method, method) != 0)
            continue;
        hit->status = f->status;
        hit->retry_after_s = f->retry_after_s;
        hit->delay_ms = f->delay_ms;
        if (--f->count <= 0) {
            memmove(f, f + 1, (size_t)(faults->rest_count - i - 1) * sizeof(*f));
            faults->rest_count--;
        }
        return 1;
    }
    return 0;
}

static const char *const fault_names[] = {
    "drop-socket", "stall-heartbeats", "resume-heartbeats", "socket-closing", "evict-channel",
    "expire-channel", "revoke-tokens", "malformed-frame", "unknown-topic", "duplicate",
    "stale", "oversized", "fragmented", "rest", "clear",
};

int faults_is_known(const char *name)
{
    for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
        if (!strcmp(name, fault_names[i]))
            return 1;
    return 0;
}

static const char *param_string(const cJSON *params, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Returns the number, dflt when absent, or -2 (caller reports) when not a number. */
static int64_t param_int(const cJSON *params, const char *key, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, key);
    if (!v)
        return dflt;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return -2;
    return (int64_t)v->valuedouble;
}

/* Resolves the optional "channel" parameter: one named channel, or every channel. */
static int target_channels(struct gcsim *sim, const cJSON *params, struct channel ***out,
                           size_t *n, int must_be_named, char *errstr, size_t errstr_size)
{
    const char *id = param_string(params, "channel");
    if (id) {
        struct channel *ch = channel_find(sim->channels, id);
        if (!ch) {
            snprintf(errstr, errstr_size, "channel: no channel \"%s\"", id);
            return -1;
        }
        *out = malloc(sizeof(**out));
        if (!*out)
            abort();
        (*out)[0] = ch;
        *n = 1;
        return 0;
    }
    if (must_be_named) {
        snprintf(errstr, errstr_size, "channel: required");
        return -1;
    }
    *n = sim->channels->count;
    *out = malloc((*n ? *n : 1) * sizeof(**out));
    if (!*out)
        abort();
    memcpy(*out, sim->channels->items, *n * sizeof(**out));
    return 0;
}

static struct campaign *param_campaign(struct gcsim *sim, const cJSON *params, int required,
                                       char *errstr, size_t errstr_size, int *failed)
{
    const char *id = param_string(params, "campaign");
    *failed = 0;
    if (!id) {
        if (required) {
            snprintf(errstr, errstr_size, "campaign: required");
            *failed = 1;
        }
        return NULL;
    }
    struct campaign *c = campaign_store_find(sim->store, id);
    if (!c) {
        snprintf(errstr, errstr_size, "campaign: no campaign \"%s\"", id);
        *failed = 1;
    }
    return c;
}

static cJSON *fault_line(const char *kind, const char *topic)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    if (topic)
        cJSON_AddStringToObject(o, "topic", topic);
    return o;
}

static int arm_rest(struct gcsim *sim, const cJSON *params, char *errstr, size_t errstr_size)
{
    struct faults *faults = sim->faults;
    int64_t status = param_int(params, "status", 0);
    int64_t count = param_int(params, "count", 1);
    int64_t retry_after = param_int(params, "retry_after", 1);
    int64_t delay = param_int(params, "delay_ms", 0);
    const char *prefix = param_string(params, "path_prefix");
    const char *method = param_string(params, "method");

    if (method && strcmp(method, "GET") && strcmp(method, "PUT") && strcmp(method, "POST") &&
        strcmp(method, "DELETE") && strcmp(method, "HEAD") && strcmp(method, "PATCH")) {
        snprintf(errstr, errstr_size, "method: expected GET, PUT, POST, DELETE, HEAD or PATCH");
        return -1;
    }
    if (status == -2 || (status && (status < 400 || status > 599))) {
        snprintf(errstr, errstr_size, "status: expected an HTTP error status 400-599");
        return -1;
    }
    if (count == -2 || count < 1 || retry_after == -2 || delay == -2) {
        snprintf(errstr, errstr_size,
                 "count, retry_after and delay_ms must be non-negative numbers (count >= 1)");
        return -1;
    }
    if (!status && !delay) {
        snprintf(errstr, errstr_size, "give a status, a delay_ms, or both");
        return -1;
    }
    if (faults->rest_count == MAX_REST_FAULTS) {
        snprintf(errstr, errstr_size, "too many armed REST faults (%d)", MAX_REST_FAULTS);
        return -1;
    }
    struct rest_fault *f = &faults->rest[faults->rest_count++];
    snprintf(f->prefix, sizeof(f->prefix), "%s", prefix ? prefix : "/api/v2/");
    snprintf(f->method, sizeof(f->method), "%s", method ? method : "");
    f->status = (int)status;
    f->count = (int)count;
    f->retry_after_s = (int)retry_after;
    f->delay_ms = delay;
    return 0;
}

static void send_oversized(struct gcsim *sim, struct channel *ch, size_t bytes)
{
    char corr[PRNG_UUID_LEN], topic[96];
    struct campaign *c = sim->store->campaign_count ? sim->store->campaigns[0] : NULL;
    struct strbuf body = {0}, env = {0};
    cJSON *json = c ? campaign_event_json(c) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(json, "additionalProperties");
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    /* Pad inside additionalProperties so the frame stays a valid notification. */
    strbuf_append_len(&body, text, strlen(text) - 1);
    strbuf_append(&body, ",\"additionalProperties\":{\"padding\":\"");
    size_t have = strlen(text) + 200;
    for (size_t i = have; i < bytes; i++)
        strbuf_append_char(&body, 'x');
    strbuf_append(&body, "\"}}");
    free(text);
    snprintf(topic, sizeof(topic), "v2.outbound.campaigns.%s",
             c ? c->id : "00000000-0000-4000-8000-000000000000");
    publish_correlation_id(sim, corr);
    publish_envelope(&env, topic, body.data, corr);
    cJSON *line = fault_line("oversized", topic);
    cJSON_AddNumberToObject(line, "bytes", (double)env.len);
    if (c) {
        cJSON_AddStringToObject(line, "campaignId", c->id);
        cJSON_AddNumberToObject(line, "version", (double)c->version);
        cJSON_AddStringToObject(line, "status", c->status);
    }
    publish_frame(sim, ch, env.data, env.len, 1, line);
    strbuf_free(&body);
    strbuf_free(&env);
}

static void send_unknown_topic(struct gcsim *sim, struct channel *ch)
{
    char corr[PRNG_UUID_LEN], id[PRNG_UUID_LEN], topic[96];
    struct strbuf env = {0};
    prng_uuid(&sim->noise, id);
    snprintf(topic, sizeof(topic), "v2.outbound.unknownthing.%s", id);
    publish_correlation_id(sim, corr);
    publish_envelope(&env, topic, "{\"id\":\"x\",\"state\":\"new\"}", corr);
    publish_frame(sim, ch, env.data, env.len, 1, fault_line("unknown_topic", topic));
    strbuf_free(&env);
}

/* Re-sends a stored campaign envelope (kind "duplicate" or "stale") to its subscribers. */
static int resend_campaign(struct gcsim *sim, struct campaign *c, int stale, char *errstr,
                           size_t errstr_size)
{
    char topic[96];
    struct strbuf synth = {0};
    const char *text = stale ? c->prev_envelope : c->last_envelope;
    long long version = stale ? (long long)c->version - 1 : (long long)c->version;

    snprintf(topic, sizeof(topic), "v2.outbound.campaigns.%s", c->id);
    if (!text && stale && c->version > 1) {
        /* Nothing sent before: forge the previous version from the current state. */
        char corr[PRNG_UUID_LEN];
        c->version--;
        cJSON *json = campaign_event_json(c);
        c->version++;
        char *body = cJSON_PrintUnformatted(json);
        cJSON_Delete(json);
        publish_correlation_id(sim, corr);
        publish_envelope(&synth, topic, body, corr);
        free(body);
        text = synth.data;
    }
    if (!text) {
        snprintf(errstr, errstr_size, "campaign %s has no %s notification to resend", c->id,
                 stale ? "older" : "earlier");
        return -1;
    }
    cJSON *parsed = cJSON_Parse(text);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(parsed, "eventBody");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "version");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "campaignStatus");
    if (cJSON_IsNumber(v))
        version = (long long)v->valuedouble;
    for (size_t i = 0; i < sim->channels->count; i++) {
        struct channel *ch = sim->channels->items[i];
        if (!ch->conn || !channel_is_subscribed(ch, topic))
            continue;
        cJSON *line = fault_line(stale ? "stale" : "duplicate", topic);
        cJSON_AddStringToObject(line, "campaignId", c->id);
        cJSON_AddNumberToObject(line, "version", (double)version);
        if (cJSON_IsString(s))
            cJSON_AddStringToObject(line, "status", s->valuestring);
        publish_frame(sim, ch, text, strlen(text), 1, line);
    }
    cJSON_Delete(parsed);
    strbuf_free(&synth);
    return 0;
}

static void send_fragmented(struct gcsim *sim, struct channel *ch, struct campaign *c,
                            int fragments)
{
    char topic[96];
    if (c && c->last_envelope) {
        snprintf(topic, sizeof(topic), "v2.outbound.campaigns.%s", c->id);
        cJSON *line = fault_line("fragmented", topic);
        cJSON_AddStringToObject(line, "campaignId", c->id);
        cJSON_AddNumberToObject(line, "version", (double)c->version);
        cJSON_AddStringToObject(line, "status", c->status);
        cJSON_AddNumberToObject(line, "fragments", fragments);
        publish_frame(sim, ch, c->last_envelope, strlen(c->last_envelope), fragments, line);
        return;
    }
    static const char heartbeat[] =
        "{\"topicName\":\"channel.metadata\",\"eventBody\":{\"message\":\"WebSocket Heartbeat\"}}";
    cJSON *line = fault_line("fragmented", "channel.metadata");
    cJSON_AddNumberToObject(line, "fragments", fragments);
    publish_frame(sim, ch, heartbeat, sizeof(heartbeat) - 1, fragments, line);
}

int faults_apply(struct gcsim *sim, const char *name, const cJSON *params, char *errstr,
                 size_t errstr_size)
{
    int64_t now = time_mono_ms();
    struct channel **targets = NULL;
    size_t n = 0;
    int failed = 0;

    if (params && !cJSON_IsObject(params)) {
        snprintf(errstr, errstr_size, "fault %s: parameters must be a JSON object", name);
        return -1;
    }
    if (!strcmp(name, "rest"))
        return arm_rest(sim, params, errstr, errstr_size);
    if (!strcmp(name, "clear")) {
        sim->faults->rest_count = 0;
        for (size_t i = 0; i < sim->channels->count; i++)
            sim->channels->items[i]->stall_until_ms = 0;
        return 0;
    }
    if (!strcmp(name, "revoke-tokens")) {
        oauth_revoke_all(sim->oauth);
        for (size_t i = 0; i < sim->channels->count; i++) {
            char topic[96];
            struct channel *ch = sim->channels->items[i];
            snprintf(topic, sizeof(topic), "v2.system.token_revoked.%s", ch->id);
            publish_system(sim, ch, topic, "token_revoked", "user_tokens_revoked",
                           "the token that created this channel was revoked");
        }
        return 0;
    }
    if (!strcmp(name, "duplicate") || !strcmp(name, "stale")) {
        struct campaign *c = param_campaign(sim, params, 1, errstr, errstr_size, &failed);
        if (failed)
            return -1;
        return resend_campaign(sim, c, !strcmp(name, "stale"), errstr, errstr_size);
    }

    int must_name = !strcmp(name, "evict-channel") || !strcmp(name, "expire-channel");
    if (!faults_is_known(name)) {
        snprintf(errstr, errstr_size, "unknown fault \"%s\"", name);
        return -1;
    }
    int64_t ms = param_int(params, "ms", 0);
    int64_t grace = param_int(params, "grace_ms", sim->opts.closing_grace_ms);
    int64_t bytes = param_int(params, "bytes", 4 << 20);
    int64_t fragments = param_int(params, "fragments", 4);
    if (ms == -2 || grace == -2 || bytes == -2 || fragments == -2 || fragments < 2 ||
        bytes > (64 << 20)) {
        snprintf(errstr, errstr_size, "fault %s: ms, grace_ms, bytes (<= 64 MiB) and fragments"
                 " (>= 2) must be numbers in range", name);
        return -1;
    }
    struct campaign *c = param_campaign(sim, params, 0, errstr, errstr_size, &failed);
    if (failed)
        return -1;
    if (target_channels(sim, params, &targets, &n, must_name, errstr, errstr_size))
        return -1;

    for (size_t i = 0; i < n; i++) {
        struct channel *ch = targets[i];
        if (!strcmp(name, "evict-channel")) {
            stream_evict(sim, ch);
        } else if (!strcmp(name, "expire-channel")) {
            stream_expire(sim, ch);
        } else if (!strcmp(name, "stall-heartbeats")) {
            ch->stall_until_ms = ms > 0 ? now + ms : INT64_MAX;
        } else if (!strcmp(name, "resume-heartbeats")) {
            ch->stall_until_ms = 0;
        } else if (!ch->conn) {
            continue; /* the rest act on a connected socket */
        } else if (!strcmp(name, "drop-socket")) {
            struct wsconn *conn = ch->conn;
            cJSON *line = fault_line("drop", NULL);
            cJSON_AddStringToObject(line, "channel", ch->id);
            truth_write(sim->truth, line);
            cJSON_Delete(line);
            conn->channel = NULL;
            ch->conn = NULL;
            wsconn_drop(conn);
        } else if (!strcmp(name, "socket-closing")) {
            stream_socket_closing(sim, ch, grace, now);
        } else if (!strcmp(name, "malformed-frame")) {
            static const char junk[] = "{\"topicName\":\"v2.outbound.campaigns.\",\"eventBody\":{";
            publish_frame(sim, ch, junk, sizeof(junk) - 1, 1, fault_line("malformed", NULL));
        } else if (!strcmp(name, "unknown-topic")) {
            send_unknown_topic(sim, ch);
        } else if (!strcmp(name, "oversized")) {
            send_oversized(sim, ch, (size_t)bytes);
        } else if (!strcmp(name, "fragmented")) {
            send_fragmented(sim, ch, c, (int)fragments);
        }
    }
    free(targets);
    log_info("gcsim", "fault %s applied to %zu channel(s)", name, n);
    return 0;
}
