/* The notifications API (reference §2.1, §2.2): channels and their subscriptions. */
#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/http.h"
#include "tests/gcsim/stream.h"
#include "util/timeutil.h"

static void channel_expires_text(const struct gcsim *sim, const struct channel *ch,
                                 char out[RFC3339_MS_LEN])
{
    time_format_rfc3339(time_now_ms() + (ch->expires_ms - time_mono_ms()), out);
}

static cJSON *channel_json(const struct gcsim *sim, const struct channel *ch)
{
    char uri[256], expires[RFC3339_MS_LEN];
    cJSON *o = cJSON_CreateObject();
    snprintf(uri, sizeof(uri), "ws://127.0.0.1:%d/channels/%s", sim->port, ch->id);
    channel_expires_text(sim, ch, expires);
    cJSON_AddStringToObject(o, "connectUri", uri);
    cJSON_AddStringToObject(o, "id", ch->id);
    cJSON_AddStringToObject(o, "expires", expires);
    return o;
}

static cJSON *topic_json(const char *topic, const char *rejection)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", topic);
    cJSON_AddStringToObject(o, "state", rejection ? "Rejected" : "Permitted");
    if (rejection) {
        cJSON_AddStringToObject(o, "rejectionReason", rejection);
        cJSON_AddArrayToObject(o, "missingPermissions");
    }
    return o;
}

static void list_subscriptions(const struct channel *ch, struct http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "entities");
    for (size_t i = 0; i < ch->topic_count; i++)
        cJSON_AddItemToArray(arr, topic_json(ch->topics[i], NULL));
    http_json(resp, 200, o);
}

static void change_subscriptions(struct gcsim *sim, const struct http_request *req,
                                 struct http_response *resp, struct channel *ch, int replace)
{
    char flag[8];
    int ignore_errors = http_query_get(req, "ignoreErrors", flag, sizeof(flag)) &&
                        !strcmp(flag, "true");
    cJSON *body = http_parse_body(req, resp, 0);
    if (!body)
        return;
    if (!cJSON_IsArray(body)) {
        cJSON_Delete(body);
        http_error(resp, req, 400, "bad.request", "Expected a JSON array of {\"id\":topic}");
        return;
    }
    int n = cJSON_GetArraySize(body), k = 0;
    const char **permitted = calloc((size_t)(n ? n : 1), sizeof(*permitted));
    cJSON *result = cJSON_CreateObject();
    cJSON *entities = cJSON_AddArrayToObject(result, "entities");
    const cJSON *item;
    size_t count = 0;
    if (!permitted)
        abort();
    cJSON_ArrayForEach(item, body) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        const char *reason = NULL;
        if (!cJSON_IsString(id)) {
            http_error(resp, req, 400, "bad.request", "Entry %d has no string \"id\"", k);
            goto out;
        }
        if (channel_topic_permitted(id->valuestring, &reason)) {
            permitted[count++] = id->valuestring;
            cJSON_AddItemToArray(entities, topic_json(id->valuestring, NULL));
        } else if (!ignore_errors) {
            http_error(resp, req, 400, "notification.subscription.topic.rejected",
                       "Topic %s was rejected: %s", id->valuestring, reason);
            goto out;
        } else {
            cJSON_AddItemToArray(entities, topic_json(id->valuestring, reason));
        }
        k++;
    }
    if (channel_subscribe(sim->channels, ch, permitted, count, replace)) {
        http_error(resp, req, 400, "notification.subscription.topic.limit",
                   "Channel %s would exceed the limit of %d topics", ch->id,
                   sim->channels->max_topics);
        goto out;
    }
    channel_extend(sim->channels, ch, time_mono_ms());
    if (ch->conn && ch->topic_count)
        gcsim_on_socket_ready(sim);
    http_json(resp, 200, result);
    result = NULL;
out:
    cJSON_Delete(result);
    cJSON_Delete(body);
    free(permitted);
}

void rest_notifications(struct gcsim *sim, const struct http_request *req,
                        struct http_response *resp, const char *subpath)
{
    static const char channels[] = "channels";
    char id[CHANNEL_ID_MAX + 1];

    if (!strcmp(subpath, channels)) {
        if (req->method == HTTP_POST) {
            struct channel *evicted = NULL;
            struct channel *ch = channel_create(sim->channels, &sim->noise, time_mono_ms(),
                                                &evicted);
            if (evicted)
                stream_evict(sim, evicted); /* already out of the registry */
            http_json(resp, 200, channel_json(sim, ch));
        } else if (req->method == HTTP_GET) {
            cJSON *o = cJSON_CreateObject();
            cJSON *arr = cJSON_AddArrayToObject(o, "entities");
            for (size_t i = 0; i < sim->channels->count; i++)
                cJSON_AddItemToArray(arr, channel_json(sim, sim->channels->items[i]));
            http_json(resp, 200, o);
        } else {
            http_error(resp, req, 405, "method.not.allowed", "%s is not allowed on %s",
                       http_method_name(req->method), req->path);
        }
        return;
    }
    if (strncmp(subpath, "channels/", 9) != 0) {
        http_error(resp, req, 404, "not.found", "No resource at %s", req->path);
        return;
    }
    const char *rest = subpath + 9, *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len == 0 || len >= sizeof(id)) {
        http_error(resp, req, 404, "not.found", "No channel at %s", req->path);
        return;
    }
    memcpy(id, rest, len);
    id[len] = '\0';
    struct channel *ch = channel_find(sim->channels, id);
    if (!slash) {
        if (req->method != HTTP_HEAD) {
            http_error(resp, req, 405, "method.not.allowed", "Only HEAD is allowed on %s",
                       req->path);
            return;
        }
        http_empty(resp, ch ? 200 : 404);
        return;
    }
    if (strcmp(slash, "/subscriptions") != 0) {
        http_error(resp, req, 404, "not.found", "No resource at %s", req->path);
        return;
    }
    if (!ch) {
        http_error(resp, req, 404, "not.found", "Channel %s does not exist or has expired", id);
        return;
    }
    ch->last_used_ms = time_mono_ms();
    switch (req->method) {
    case HTTP_GET:
        list_subscriptions(ch, resp);
        break;
    case HTTP_PUT:
        change_subscriptions(sim, req, resp, ch, 1);
        break;
    case HTTP_POST:
        change_subscriptions(sim, req, resp, ch, 0);
        break;
    case HTTP_DELETE:
        channel_unsubscribe_all(ch);
        http_empty(resp, 200);
        break;
    default:
        http_error(resp, req, 405, "method.not.allowed", "%s is not allowed on %s",
                   http_method_name(req->method), req->path);
    }
}
