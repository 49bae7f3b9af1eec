#include "tests/gcsim/publish.h"

#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/wsconn.h"
#include "util/timeutil.h"

void publish_envelope(struct strbuf *out, const char *topic, const char *body_json,
                      const char *correlation_id)
{
    strbuf_append(out, "{\"topicName\":");
    strbuf_append_json_string(out, topic);
    strbuf_append(out, ",\"version\":\"2\",\"eventBody\":");
    strbuf_append(out, body_json);
    strbuf_append(out, ",\"metadata\":{\"CorrelationId\":\"");
    strbuf_append(out, correlation_id);
    strbuf_append(out, "\"}}");
}

void publish_correlation_id(struct gcsim *sim, char out[PRNG_UUID_LEN])
{
    prng_uuid(&sim->noise, out);
}

int publish_frame(struct gcsim *sim, struct channel *ch, const char *text, size_t len,
                  int fragments, cJSON *truth_fields)
{
    int queued = 0;
    if (ch->conn) {
        wsconn_enqueue(ch->conn, text, len, fragments);
        queued = 1;
        if (truth_fields) {
            cJSON_AddStringToObject(truth_fields, "channel", ch->id);
            truth_write(sim->truth, truth_fields);
        }
    }
    cJSON_Delete(truth_fields);
    return queued;
}

static cJSON *truth_fields(const char *kind, const char *topic, const char *campaign_id,
                           long long version, const char *status)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "topic", topic);
    if (campaign_id)
        cJSON_AddStringToObject(o, "campaignId", campaign_id);
    if (version >= 0)
        cJSON_AddNumberToObject(o, "version", (double)version);
    if (status)
        cJSON_AddStringToObject(o, "status", status);
    return o;
}

/* Sends one envelope to every connected subscriber of topic. */
static void fan_out(struct gcsim *sim, const char *topic, const char *envelope,
                    const char *campaign_id, long long version, const char *status)
{
    size_t len = strlen(envelope);
    for (size_t i = 0; i < sim->channels->count; i++) {
        struct channel *ch = sim->channels->items[i];
        if (!ch->conn || !channel_is_subscribed(ch, topic))
            continue;
        publish_frame(sim, ch, envelope, len, 1,
                      truth_fields("notification", topic, campaign_id, version, status));
    }
}

static char *render(cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);
    if (!text)
        abort();
    cJSON_Delete(body);
    return text;
}

void publish_campaign(struct gcsim *sim, struct campaign *c)
{
    char topic[96], corr[PRNG_UUID_LEN];
    struct strbuf env = {0};
    char *body = render(campaign_event_json(c));

    snprintf(topic, sizeof(topic), "v2.outbound.campaigns.%s", c->id);
    publish_correlation_id(sim, corr);
    publish_envelope(&env, topic, body, corr);
    free(body);
    fan_out(sim, topic, strbuf_cstr(&env), c->id, (long long)c->version, c->status);
    /* Kept for the duplicate and stale faults. */
    free(c->prev_envelope);
    c->prev_envelope = c->last_envelope;
    c->last_envelope = strbuf_detach(&env);
}

static void publish_simple(struct gcsim *sim, const char *topic, cJSON *body,
                           const char *campaign_id)
{
    char corr[PRNG_UUID_LEN];
    struct strbuf env = {0};
    char *text = render(body);
    publish_correlation_id(sim, corr);
    publish_envelope(&env, topic, text, corr);
    free(text);
    fan_out(sim, topic, strbuf_cstr(&env), campaign_id, -1, NULL);
    strbuf_free(&env);
}

void publish_progress(struct gcsim *sim, const struct campaign *c)
{
    char topic[112];
    snprintf(topic, sizeof(topic), "v2.outbound.campaigns.%s.progress", c->id);
    publish_simple(sim, topic, campaign_progress_event_json(c), c->id);
}

void publish_stats(struct gcsim *sim, const struct campaign *c)
{
    char topic[112];
    snprintf(topic, sizeof(topic), "v2.outbound.campaigns.%s.stats", c->id);
    publish_simple(sim, topic, campaign_stats_event_json(c, time_now_ms()), c->id);
}

void publish_import(struct gcsim *sim, const struct contact_list *l)
{
    char topic[112];
    snprintf(topic, sizeof(topic), "v2.outbound.contactlists.%s.importstatus", l->id);
    publish_simple(sim, topic, contact_list_import_event_json(l), NULL);
}

void publish_system(struct gcsim *sim, struct channel *ch, const char *topic,
                    const char *type, const char *reason, const char *message)
{
    char corr[PRNG_UUID_LEN];
    struct strbuf env = {0};
    cJSON *body = cJSON_CreateObject();
    publish_correlation_id(sim, corr);
    cJSON_AddStringToObject(body, "channelId", ch->id);
    if (type)
        cJSON_AddStringToObject(body, "systemTopicType", type);
    cJSON_AddStringToObject(body, "correlationId", corr);
    if (reason)
        cJSON_AddStringToObject(body, "reason", reason);
    cJSON_AddStringToObject(body, "message", message);
    char *text = render(body);
    publish_envelope(&env, topic, text, corr);
    free(text);
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "kind", "system");
    cJSON_AddStringToObject(fields, "topic", topic);
    publish_frame(sim, ch, env.data, env.len, 1, fields);
    strbuf_free(&env);
}

void publish_metadata(struct gcsim *sim, struct channel *ch, const char *message)
{
    struct strbuf text = {0};
    strbuf_append(&text, "{\"topicName\":\"channel.metadata\",\"eventBody\":{\"message\":");
    strbuf_append_json_string(&text, message);
    strbuf_append(&text, "}}");
    publish_frame(sim, ch, text.data, text.len, 1, NULL);
    strbuf_free(&text);
}
