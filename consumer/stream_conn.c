#include "consumer/stream_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/timeutil.h"

static const char ping_message[] = "{\"message\":\"ping\"}";

struct stream_conn {
    struct lws_context *context;
    struct lws *wsi;
    lws_sorted_usec_list_t watchdog;
    struct stream_conn_options options;
    struct stream_conn_callbacks callbacks;
    void *owner;
    char *uri;
    char *uri_parse_buffer; /* lws_parse_uri cuts it up; address points into it */
    char *path;

    struct strbuf message;
    int in_message;
    int discarding;
    size_t discarded_bytes;

    int opening;
    int failed_while_opening;
    int established;
    int closing;
    int finished;
    enum stream_close_cause close_cause;
    int ping_pending;
    int64_t last_rx_ms;
    int64_t last_ping_ms;
    char detail[256];
};

const char *stream_close_cause_name(enum stream_close_cause cause)
{
    switch (cause) {
    case STREAM_CLOSE_REQUESTED: return "requested";
    case STREAM_CLOSE_CONNECT_FAILED: return "connect_failed";
    case STREAM_CLOSE_REMOTE: return "remote_closed";
    case STREAM_CLOSE_HEARTBEAT_TIMEOUT: return "heartbeat_timeout";
    }
    return "unknown";
}

static void conn_free(struct stream_conn *conn)
{
    strbuf_free(&conn->message);
    free(conn->uri);
    free(conn->uri_parse_buffer);
    free(conn->path);
    free(conn);
}

/* The one exit path of a connection that was handed to its owner. */
static void conn_finish(struct stream_conn *conn, enum stream_close_cause cause)
{
    if (conn->finished)
        return;
    conn->finished = 1;
    lws_sul_cancel(&conn->watchdog);
    conn->wsi = NULL;
    if (conn->opening) {
        /* Failed inside stream_conn_open(): it reports the error itself. */
        conn->failed_while_opening = 1;
        return;
    }
    if (conn->callbacks.on_closed)
        conn->callbacks.on_closed(conn->owner, conn, cause, conn->detail);
    conn_free(conn);
}

static void conn_request_close(struct stream_conn *conn, enum stream_close_cause cause)
{
    if (conn->closing || conn->finished)
        return;
    conn->closing = 1;
    conn->close_cause = cause;
    if (conn->wsi)
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void watchdog_fire(lws_sorted_usec_list_t *sul);

static void watchdog_arm(struct stream_conn *conn, int64_t now_ms)
{
    int64_t quiet_since = conn->last_rx_ms;
    int64_t next = quiet_since + conn->options.heartbeat_timeout_ms;
    int64_t ping_base = conn->last_ping_ms > quiet_since ? conn->last_ping_ms : quiet_since;
    if (conn->options.ping_interval_ms > 0) {
        int64_t next_ping = ping_base + conn->options.ping_interval_ms;
        if (next_ping < next)
            next = next_ping;
    }
    int64_t delay_ms = next - now_ms;
    if (delay_ms < 1)
        delay_ms = 1;
    lws_sul_schedule(conn->context, 0, &conn->watchdog, watchdog_fire,
                     (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

static void watchdog_fire(lws_sorted_usec_list_t *sul)
{
    struct stream_conn *conn = lws_container_of(sul, struct stream_conn, watchdog);
    if (conn->finished || conn->closing || !conn->wsi)
        return;
    int64_t now = time_mono_ms();
    int64_t silent_ms = now - conn->last_rx_ms;
    if (silent_ms >= conn->options.heartbeat_timeout_ms) {
        snprintf(conn->detail, sizeof conn->detail, "no traffic for %lld ms",
                 (long long)silent_ms);
        conn_request_close(conn, STREAM_CLOSE_HEARTBEAT_TIMEOUT);
        return;
    }
    int64_t ping_base = conn->last_ping_ms > conn->last_rx_ms ? conn->last_ping_ms
                                                              : conn->last_rx_ms;
    if (conn->options.ping_interval_ms > 0 && now - ping_base >= conn->options.ping_interval_ms) {
        conn->ping_pending = 1;
        conn->last_ping_ms = now;
        lws_callback_on_writable(conn->wsi);
    }
    watchdog_arm(conn, now);
}

static void receive_chunk(struct stream_conn *conn, struct lws *wsi, const char *data, size_t len)
{
    if (!conn->in_message) {
        conn->in_message = 1;
        conn->discarding = 0;
        conn->discarded_bytes = 0;
        strbuf_reset(&conn->message);
    }
    if (conn->discarding) {
        conn->discarded_bytes += len;
    } else if (conn->message.len + len > conn->options.max_frame_bytes) {
        /* Drop the message but keep reading it off the socket: the connection and
         * every later message survive an oversized one. */
        conn->discarding = 1;
        conn->discarded_bytes = conn->message.len + len;
        strbuf_free(&conn->message);
    } else {
        strbuf_append_len(&conn->message, data, len);
    }

    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
        return;
    conn->in_message = 0;
    if (conn->discarding) {
        conn->discarding = 0;
        if (conn->callbacks.on_oversized)
            conn->callbacks.on_oversized(conn->owner, conn, conn->discarded_bytes);
        return;
    }
    if (conn->callbacks.on_message)
        conn->callbacks.on_message(conn->owner, conn, strbuf_cstr(&conn->message),
                                   conn->message.len);
    /* Keep the allocation for the next message unless this one was unusually large. */
    if (conn->message.cap > 256 * 1024)
        strbuf_free(&conn->message);
    else
        strbuf_reset(&conn->message);
}

static int send_ping(struct stream_conn *conn, struct lws *wsi)
{
    unsigned char buf[LWS_PRE + sizeof ping_message];
    memcpy(buf + LWS_PRE, ping_message, sizeof ping_message - 1);
    int n = lws_write(wsi, buf + LWS_PRE, sizeof ping_message - 1, LWS_WRITE_TEXT);
    if (n < (int)(sizeof ping_message - 1)) {
        snprintf(conn->detail, sizeof conn->detail, "write of ping failed");
        return -1;
    }
    return 0;
}

static int callback_stream(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    struct stream_conn *conn = user;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!conn)
            break;
        snprintf(conn->detail, sizeof conn->detail, "%s",
                 in ? (const char *)in : "connection failed");
        conn_finish(conn, conn->closing ? conn->close_cause : STREAM_CLOSE_CONNECT_FAILED);
        break;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!conn)
            break;
        conn->established = 1;
        conn->last_rx_ms = time_mono_ms();
        watchdog_arm(conn, conn->last_rx_ms);
        if (conn->callbacks.on_established)
            conn->callbacks.on_established(conn->owner, conn);
        break;

    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!conn || conn->finished)
            break;
        conn->last_rx_ms = time_mono_ms();
        receive_chunk(conn, wsi, in, len);
        break;

    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!conn || conn->closing)
            return -1;
        if (conn->ping_pending) {
            conn->ping_pending = 0;
            if (send_ping(conn, wsi) < 0) {
                conn->close_cause = STREAM_CLOSE_REMOTE;
                conn->closing = 1;
                return -1;
            }
        }
        break;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (conn && len >= 2) {
            const unsigned char *p = in;
            snprintf(conn->detail, sizeof conn->detail, "peer closed with code %d",
                     (p[0] << 8) | p[1]);
        }
        break;

    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!conn)
            break;
        if (!conn->detail[0])
            snprintf(conn->detail, sizeof conn->detail, "connection closed");
        conn_finish(conn, conn->closing ? conn->close_cause : STREAM_CLOSE_REMOTE);
        break;

    default:
        break;
    }
    return 0;
}

const struct lws_protocols stream_conn_protocol = {
    .name = "genesys-notifications",
    .callback = callback_stream,
    .per_session_data_size = 0,
    .rx_buffer_size = 65536,
};

struct stream_conn *stream_conn_open(struct lws_context *context, const char *connect_uri,
                                     const struct stream_conn_options *options,
                                     const struct stream_conn_callbacks *callbacks, void *owner,
                                     char *errstr, size_t errstr_size)
{
    if (options->max_frame_bytes == 0 || options->heartbeat_timeout_ms <= 0) {
        snprintf(errstr, errstr_size, "stream: max_frame_bytes and heartbeat timeout must be set");
        return NULL;
    }
    struct stream_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        abort();
    conn->context = context;
    conn->options = *options;
    conn->callbacks = *callbacks;
    conn->owner = owner;
    conn->uri = strdup(connect_uri);
    conn->uri_parse_buffer = strdup(connect_uri);
    if (!conn->uri || !conn->uri_parse_buffer)
        abort();

    const char *scheme, *address, *path;
    int port;
    if (lws_parse_uri(conn->uri_parse_buffer, &scheme, &address, &port, &path) ||
        !address[0]) {
        snprintf(errstr, errstr_size, "stream: cannot parse connectUri \"%s\"", connect_uri);
        conn_free(conn);
        return NULL;
    }
    int tls;
    if (strcmp(scheme, "wss") == 0 || strcmp(scheme, "https") == 0) {
        tls = 1;
    } else if (strcmp(scheme, "ws") == 0 || strcmp(scheme, "http") == 0) {
        tls = 0;
    } else {
        snprintf(errstr, errstr_size, "stream: connectUri \"%s\" is not ws:// or wss://",
                 connect_uri);
        conn_free(conn);
        return NULL;
    }
    /* lws_parse_uri drops the leading slash of the path. */
    size_t path_len = strlen(path);
    conn->path = malloc(path_len + 2);
    if (!conn->path)
        abort();
    conn->path[0] = '/';
    memcpy(conn->path + 1, path, path_len + 1);

    struct lws_client_connect_info info;
    memset(&info, 0, sizeof info);
    info.context = context;
    info.address = address;
    info.port = port;
    info.path = conn->path;
    info.host = address;
    info.origin = address;
    info.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
    info.protocol = NULL;
    info.local_protocol_name = stream_conn_protocol.name;
    info.userdata = conn;
    info.pwsi = &conn->wsi;

    conn->opening = 1;
    struct lws *wsi = lws_client_connect_via_info(&info);
    conn->opening = 0;
    if (!wsi || conn->failed_while_opening) {
        snprintf(errstr, errstr_size, "stream: cannot connect to %s: %s", connect_uri,
                 conn->detail[0] ? conn->detail : "refused by libwebsockets");
        conn_free(conn);
        return NULL;
    }
    conn->wsi = wsi;
    return conn;
}

void stream_conn_close(struct stream_conn *conn)
{
    if (conn)
        conn_request_close(conn, STREAM_CLOSE_REQUESTED);
}

void stream_conn_abandon(struct stream_conn *conn)
{
    if (!conn)
        return;
    memset(&conn->callbacks, 0, sizeof conn->callbacks);
    conn->owner = NULL;
    conn_request_close(conn, STREAM_CLOSE_REQUESTED);
}

int stream_conn_is_established(const struct stream_conn *conn)
{
    return conn->established && !conn->closing && !conn->finished;
}

const char *stream_conn_uri(const struct stream_conn *conn)
{
    return conn->uri;
}

int64_t stream_conn_last_rx_ms(const struct stream_conn *conn)
{
    return conn->last_rx_ms;
}
