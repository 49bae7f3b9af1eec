#include "tests/gcsim/stream.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "tests/gcsim/publish.h"
#include "util/log.h"

void stream_attach(struct gcsim *sim, struct channel *ch, struct wsconn *conn, int64_t now_ms)
{
    if (ch->conn) {
        /* One socket per channel: the newcomer wins, the old one gets a plain close. */
        struct wsconn *old = ch->conn;
        old->channel = NULL;
        wsconn_close_after_queue(old, 1000);
        log_info("gcsim", "channel %s: second socket connected, closing the first", ch->id);
    }
    ch->conn = conn;
    conn->channel = ch;
    ch->last_used_ms = now_ms;
    ch->close_at_ms = 0;
    ch->next_heartbeat_ms = now_ms + sim->opts.heartbeat_ms;
    if (ch->topic_count)
        gcsim_on_socket_ready(sim);
}

void stream_detach(struct gcsim *sim, struct wsconn *conn)
{
    (void)sim;
    if (conn->channel && conn->channel->conn == conn)
        conn->channel->conn = NULL;
    conn->channel = NULL;
}

void stream_on_text(struct gcsim *sim, struct wsconn *conn, const char *text, size_t len,
                    int64_t now_ms)
{
    struct channel *ch = conn->channel;
    if (!ch)
        return;
    ch->last_used_ms = now_ms;
    cJSON *msg = cJSON_ParseWithLength(text, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "message");
    if (cJSON_IsString(m) && !strcmp(m->valuestring, "ping") && now_ms >= ch->stall_until_ms)
        publish_metadata(sim, ch, "pong");
    cJSON_Delete(msg);
}

static void close_and_forget(struct channel *ch, int code)
{
    if (ch->conn) {
        ch->conn->channel = NULL;
        wsconn_close_after_queue(ch->conn, code);
        ch->conn = NULL;
    }
}

void stream_evict(struct gcsim *sim, struct channel *ch)
{
    char topic[96];
    snprintf(topic, sizeof(topic), "v2.system.no_longer_subscribed.%s", ch->id);
    publish_system(sim, ch, topic, "no_longer_subscribed", "another_channel_subscribed",
                   "channel removed: the client reached its channel limit");
    close_and_forget(ch, 1000);
    channel_remove(sim->channels, ch);
    log_info("gcsim", "channel %s evicted", ch->id);
    channel_free(ch);
}

void stream_expire(struct gcsim *sim, struct channel *ch)
{
    close_and_forget(ch, 1001);
    channel_remove(sim->channels, ch);
    log_info("gcsim", "channel %s expired", ch->id);
    channel_free(ch);
}

void stream_socket_closing(struct gcsim *sim, struct channel *ch, int64_t grace_ms,
                           int64_t now_ms)
{
    if (!ch->conn)
        return;
    publish_system(sim, ch, "v2.system.socket_closing", NULL, NULL,
                   "the socket will close for maintenance; reconnect");
    ch->close_at_ms = now_ms + (grace_ms > 0 ? grace_ms : 1);
}

void stream_tick(struct gcsim *sim, int64_t now_ms)
{
    for (size_t i = 0; i < sim->channels->count;) {
        struct channel *ch = sim->channels->items[i];
        if (now_ms >= ch->expires_ms) {
            stream_expire(sim, ch); /* removes items[i]; do not advance */
            continue;
        }
        i++;
        if (!ch->conn)
            continue;
        if (ch->close_at_ms && now_ms >= ch->close_at_ms) {
            ch->close_at_ms = 0;
            close_and_forget(ch, 1001);
            continue;
        }
        if (sim->opts.heartbeat_ms > 0 && now_ms >= ch->next_heartbeat_ms) {
            ch->next_heartbeat_ms = now_ms + sim->opts.heartbeat_ms;
            if (now_ms >= ch->stall_until_ms)
                publish_metadata(sim, ch, "WebSocket Heartbeat");
        }
    }
}
