#include "consumer/stream_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "consumer/platform.h"
#include "consumer/tls_pipe.h"
#include "consumer/ws_wire.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

static const char ping_message[] = "{\"message\":\"ping\"}";

/* How long a close we started may wait for its close frame to be written. */
#define CLOSE_FRAME_GRACE_S 1

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
    char *host_header;

    struct tls_pipe *tls; /* wss:// only */
    struct ws_handshake handshake;
    struct ws_reader reader;
    struct strbuf out; /* bytes waiting for the socket to take them (ciphertext with TLS) */
    int close_after_flush;

    struct strbuf message;
    int in_message;
    int discarding;
    size_t discarded_bytes;

    int opening;
    int failed_while_opening;
    int transport_up;
    int established;
    int closing;
    int finished;
    enum stream_close_cause close_cause;
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
    strbuf_free(&conn->out);
    ws_handshake_clear(&conn->handshake);
    tls_pipe_destroy(conn->tls);
    free(conn->uri);
    free(conn->uri_parse_buffer);
    free(conn->path);
    free(conn->host_header);
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

/* Queues bytes for the next writable callback, through TLS when there is TLS. */
static int send_bytes(struct stream_conn *conn, const char *data, size_t len)
{
    if (conn->tls) {
        char errstr[200];
        if (tls_pipe_send(conn->tls, data, len, errstr, sizeof errstr) != 0) {
            snprintf(conn->detail, sizeof conn->detail, "%s", errstr);
            return -1;
        }
        tls_pipe_take_output(conn->tls, &conn->out);
    } else {
        strbuf_append_len(&conn->out, data, len);
    }
    if (conn->wsi && conn->out.len)
        lws_callback_on_writable(conn->wsi);
    return 0;
}

/* The mask must be unpredictable (RFC 6455 10.3), so it comes from OpenSSL. */
static int queue_frame(struct stream_conn *conn, enum ws_opcode opcode, const void *payload,
                       size_t len)
{
    unsigned char mask[4];
    if (RAND_bytes(mask, sizeof mask) != 1) {
        snprintf(conn->detail, sizeof conn->detail, "no random bytes for a frame mask");
        return -1;
    }
    struct strbuf frame = {0};
    ws_frame_write(&frame, opcode, payload, len, mask);
    int rc = send_bytes(conn, frame.data, frame.len);
    strbuf_free(&frame);
    return rc;
}

static void conn_request_close(struct stream_conn *conn, enum stream_close_cause cause)
{
    if (conn->closing || conn->finished)
        return;
    conn->closing = 1;
    conn->close_cause = cause;
    if (!conn->wsi)
        return;
    /* A peer that went silent gets no goodbye; one that is alive gets a close frame
     * (1000), with a short grace for the socket to take it. */
    static const unsigned char normal_closure[2] = {0x03, 0xe8};
    if (conn->established && cause != STREAM_CLOSE_HEARTBEAT_TIMEOUT &&
        queue_frame(conn, WS_OP_CLOSE, normal_closure, sizeof normal_closure) == 0) {
        conn->close_after_flush = 1;
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_FRAME_GRACE_S);
        return;
    }
    lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void watchdog_fire(lws_sorted_usec_list_t *sul);

static void watchdog_arm(struct stream_conn *conn, int64_t now_ms)
{
    int64_t quiet_since = conn->last_rx_ms;
    int64_t next = quiet_since + conn->options.heartbeat_timeout_ms;
    int64_t ping_base = conn->last_ping_ms > quiet_since ? conn->last_ping_ms : quiet_since;
    if (conn->established && conn->options.ping_interval_ms > 0) {
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
        if (!conn->established) {
            snprintf(conn->detail, sizeof conn->detail,
                     "no answer to the WebSocket upgrade for %lld ms", (long long)silent_ms);
            conn_request_close(conn, STREAM_CLOSE_CONNECT_FAILED);
        } else {
            snprintf(conn->detail, sizeof conn->detail, "no traffic for %lld ms",
                     (long long)silent_ms);
            conn_request_close(conn, STREAM_CLOSE_HEARTBEAT_TIMEOUT);
        }
        return;
    }
    int64_t ping_base = conn->last_ping_ms > conn->last_rx_ms ? conn->last_ping_ms
                                                              : conn->last_rx_ms;
    if (conn->established && conn->options.ping_interval_ms > 0 &&
        now - ping_base >= conn->options.ping_interval_ms) {
        conn->last_ping_ms = now;
        if (queue_frame(conn, WS_OP_TEXT, ping_message, sizeof ping_message - 1) != 0) {
            conn_request_close(conn, STREAM_CLOSE_REMOTE);
            return;
        }
    }
    watchdog_arm(conn, now);
}

/* detail NULL keeps the one already written. */
static void fail_connection(struct stream_conn *conn, const char *detail)
{
    if (detail)
        snprintf(conn->detail, sizeof conn->detail, "%s", detail);
    if (!conn->closing) {
        conn->closing = 1;
        conn->close_cause = conn->established ? STREAM_CLOSE_REMOTE : STREAM_CLOSE_CONNECT_FAILED;
    }
}

static int on_data(void *ctx, const char *data, size_t len, int final)
{
    struct stream_conn *conn = ctx;
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

    if (!final)
        return 0;
    conn->in_message = 0;
    if (conn->discarding) {
        conn->discarding = 0;
        if (conn->callbacks.on_oversized)
            conn->callbacks.on_oversized(conn->owner, conn, conn->discarded_bytes);
        return 0;
    }
    if (conn->callbacks.on_message)
        conn->callbacks.on_message(conn->owner, conn, strbuf_cstr(&conn->message),
                                   conn->message.len);
    /* Keep the allocation for the next message unless this one was unusually large. */
    if (conn->message.cap > 256 * 1024)
        strbuf_free(&conn->message);
    else
        strbuf_reset(&conn->message);
    return 0;
}

static int on_control(void *ctx, enum ws_opcode opcode, const unsigned char *payload, size_t len)
{
    struct stream_conn *conn = ctx;
    switch (opcode) {
    case WS_OP_PING:
        if (queue_frame(conn, WS_OP_PONG, payload, len) != 0) {
            fail_connection(conn, NULL);
            return 1;
        }
        return 0;
    case WS_OP_CLOSE: {
        if (len >= 2) {
            char reason[WS_CONTROL_MAX + 1];
            size_t n = 0;
            for (size_t i = 2; i < len; i++)
                reason[n++] = (payload[i] >= 0x20 && payload[i] < 0x7f) ? (char)payload[i] : '?';
            reason[n] = '\0';
            snprintf(conn->detail, sizeof conn->detail, "peer closed with code %d%s%s",
                     (payload[0] << 8) | payload[1], n ? ": " : "", reason);
        } else {
            snprintf(conn->detail, sizeof conn->detail, "peer closed without a code");
        }
        if (!conn->closing) {
            conn->closing = 1;
            conn->close_cause = STREAM_CLOSE_REMOTE;
        }
        /* Answer with the same code, then close the socket (RFC 6455 5.5.1). */
        if (queue_frame(conn, WS_OP_CLOSE, payload, len >= 2 ? 2 : 0) == 0) {
            conn->close_after_flush = 1;
            lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_FRAME_GRACE_S);
        }
        return 1;
    }
    default:
        return 0; /* a pong: the relay sends no protocol pings, nothing to match */
    }
}

static const struct ws_reader_events reader_events = {
    .on_data = on_data,
    .on_control = on_control,
};

/* Plaintext from the server. Returns -1 when the connection must close (closing and
 * close_cause are set). */
static int receive_bytes(struct stream_conn *conn, const char *data, size_t len)
{
    char errstr[224];
    if (conn->close_after_flush)
        return 0; /* a close frame went or is going out: nothing more is read */
    if (!conn->established) {
        size_t used = 0;
        switch (ws_handshake_feed(&conn->handshake, data, len, &used, errstr, sizeof errstr)) {
        case WS_HANDSHAKE_MORE:
            return 0;
        case WS_HANDSHAKE_FAILED:
            fail_connection(conn, errstr);
            return -1;
        case WS_HANDSHAKE_DONE:
            break;
        }
        ws_handshake_clear(&conn->handshake);
        conn->established = 1;
        watchdog_arm(conn, conn->last_rx_ms);
        if (conn->callbacks.on_established)
            conn->callbacks.on_established(conn->owner, conn);
        data += used;
        len -= used;
    }
    if (len == 0)
        return 0;
    enum ws_read_result rc = ws_reader_feed(&conn->reader, (const unsigned char *)data, len,
                                            &reader_events, conn, errstr, sizeof errstr);
    if (rc == WS_READ_ERROR) {
        fail_connection(conn, errstr);
        return -1;
    }
    /* Closing with no close frame queued (a frame could not be masked, or the owner
     * closed a silent peer): nothing will close the socket but returning -1. */
    if (conn->closing && !conn->close_after_flush)
        return -1;
    return 0;
}

static int receive_plain(void *ctx, const char *data, size_t len)
{
    return receive_bytes(ctx, data, len) != 0;
}

/* Bytes from the socket. Returns -1 when the connection must close. */
static int receive_socket_bytes(struct stream_conn *conn, const char *data, size_t len)
{
    if (!conn->tls)
        return receive_bytes(conn, data, len);
    char errstr[224];
    int rc = tls_pipe_receive(conn->tls, data, len, receive_plain, conn, errstr, sizeof errstr);
    tls_pipe_take_output(conn->tls, &conn->out);
    if (conn->out.len && conn->wsi)
        lws_callback_on_writable(conn->wsi);
    if (rc == TLS_PIPE_STOPPED)
        return -1; /* receive_bytes() said so, and set the cause */
    if (rc == TLS_PIPE_CLOSED) {
        fail_connection(conn, "the server ended the TLS session");
        return -1;
    }
    if (rc != 0) {
        fail_connection(conn, errstr);
        return -1;
    }
    return 0;
}

/* Returns -1 when the write failed and the connection must close. */
static int flush_out(struct stream_conn *conn, struct lws *wsi)
{
    size_t len = conn->out.len;
    unsigned char *buf = malloc(LWS_PRE + len);
    if (!buf)
        abort();
    memcpy(buf + LWS_PRE, conn->out.data, len);
    strbuf_reset(&conn->out);
    int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_RAW);
    free(buf);
    if (n < (int)len) {
        snprintf(conn->detail, sizeof conn->detail, "write of %zu bytes failed", len);
        return -1;
    }
    return 0;
}

/* TCP is up: start TLS if wanted, and the WebSocket upgrade (which waits for TLS).
 * Returns -1 when the connection must close. */
static int transport_up(struct stream_conn *conn, struct lws *wsi)
{
    conn->transport_up = 1;
    conn->wsi = wsi;
    conn->last_rx_ms = time_mono_ms();
    watchdog_arm(conn, conn->last_rx_ms);
    if (conn->tls) {
        char errstr[224];
        if (tls_pipe_start(conn->tls, errstr, sizeof errstr) != 0) {
            fail_connection(conn, errstr);
            return -1;
        }
        tls_pipe_take_output(conn->tls, &conn->out);
    }
    struct strbuf request = {0};
    ws_handshake_request(&conn->handshake, &request, conn->host_header, conn->path,
                         PLATFORM_DEFAULT_USER_AGENT);
    int rc = send_bytes(conn, request.data, request.len);
    strbuf_free(&request);
    if (rc != 0) {
        fail_connection(conn, NULL);
        return -1;
    }
    lws_callback_on_writable(wsi);
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

    case LWS_CALLBACK_RAW_CONNECTED:
        if (!conn || conn->transport_up || conn->finished)
            break;
        if (conn->closing)
            return -1;
        return transport_up(conn, wsi);

    case LWS_CALLBACK_RAW_RX:
        if (!conn || conn->finished)
            break;
        conn->last_rx_ms = time_mono_ms();
        return receive_socket_bytes(conn, in, len);

    case LWS_CALLBACK_RAW_WRITEABLE:
        if (!conn)
            return -1;
        if (conn->out.len && flush_out(conn, wsi) != 0) {
            if (!conn->closing) {
                conn->closing = 1;
                conn->close_cause = STREAM_CLOSE_REMOTE;
            }
            return -1;
        }
        if (conn->close_after_flush)
            return -1;
        break;

    case LWS_CALLBACK_RAW_CLOSE:
        if (!conn)
            break;
        if (!conn->detail[0])
            snprintf(conn->detail, sizeof conn->detail, "%s",
                     conn->established ? "connection closed"
                                       : "connection closed during the WebSocket upgrade");
        conn_finish(conn, conn->closing        ? conn->close_cause
                          : conn->established ? STREAM_CLOSE_REMOTE
                                              : STREAM_CLOSE_CONNECT_FAILED);
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
    .rx_buffer_size = 0,
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
    /* The path goes into the request line as it is. */
    for (const char *c = connect_uri; *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f) {
            snprintf(errstr, errstr_size,
                     "stream: connectUri \"%.200s\" has a space or control character", connect_uri);
            return NULL;
        }
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
    ws_reader_init(&conn->reader);

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
    char handshake_error[128];
    if (ws_handshake_init(&conn->handshake, handshake_error, sizeof handshake_error) != 0) {
        snprintf(errstr, errstr_size, "stream: %s", handshake_error);
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

    struct strbuf host = {0};
    int ipv6_literal = strchr(address, ':') != NULL;
    strbuf_appendf(&host, "%s%s%s", ipv6_literal ? "[" : "", address, ipv6_literal ? "]" : "");
    if (port != (tls ? 443 : 80))
        strbuf_appendf(&host, ":%d", port);
    conn->host_header = strbuf_detach(&host);

    /* "RAW": lws makes the TCP connection; TLS, the upgrade and the frames are ours. */
    if (tls) {
        char tls_error[224];
        conn->tls = tls_pipe_create(address, tls_error, sizeof tls_error);
        if (!conn->tls) {
            snprintf(errstr, errstr_size, "stream: %s", tls_error);
            conn_free(conn);
            return NULL;
        }
    }
    struct lws_client_connect_info info;
    memset(&info, 0, sizeof info);
    info.context = context;
    info.address = address;
    info.port = port;
    info.path = conn->path;
    info.host = address;
    info.method = "RAW";
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
