/*
 * One notification WebSocket: a libwebsockets client connection to a channel's
 * connectUri, with message reassembly and the platform's liveness protocol.
 *
 * Contract:
 *  - Runs on the lws service loop; every call and callback happens on that thread.
 *    The application puts stream_conn_protocol in its lws context's protocol list
 *    (the context needs LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT for wss://).
 *  - Messages of any size up to max_frame_bytes are reassembled from fragments and
 *    handed to on_message whole. A larger message is dropped (on_oversized reports
 *    its size) and the connection survives.
 *  - Liveness: any received traffic (heartbeats included) resets the watchdog. After
 *    ping_interval_ms of silence a {"message":"ping"} text frame is sent; after
 *    heartbeat_timeout_ms of silence the socket is declared dead and closed with
 *    STREAM_CLOSE_HEARTBEAT_TIMEOUT. The platform's heartbeats are not trusted to
 *    be regular: only silence counts.
 *  - The connection never reconnects by itself: whoever owns it decides between
 *    reconnecting to the same channel and moving to a new one.
 *  - on_closed is called exactly once for every stream_conn_open() that returned
 *    non-NULL, whatever the cause; the object is freed right after on_closed
 *    returns, so the owner must drop its pointer there.
 */
#ifndef CRELAY_CONSUMER_STREAM_CONN_H
#define CRELAY_CONSUMER_STREAM_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

struct stream_conn;

enum stream_close_cause {
    STREAM_CLOSE_REQUESTED = 0,     /* stream_conn_close() */
    STREAM_CLOSE_CONNECT_FAILED,    /* TCP, TLS or upgrade failed (e.g. 404: channel gone) */
    STREAM_CLOSE_REMOTE,            /* peer closed, or the connection broke */
    STREAM_CLOSE_HEARTBEAT_TIMEOUT, /* silent for heartbeat_timeout_ms */
};

const char *stream_close_cause_name(enum stream_close_cause cause);

struct stream_conn_options {
    size_t max_frame_bytes;
    int64_t ping_interval_ms;
    int64_t heartbeat_timeout_ms;
};

struct stream_conn_callbacks {
    void (*on_established)(void *owner, struct stream_conn *conn);
    /* text is NUL-terminated and valid only during the call */
    void (*on_message)(void *owner, struct stream_conn *conn, const char *text, size_t len);
    void (*on_oversized)(void *owner, struct stream_conn *conn, size_t bytes);
    void (*on_closed)(void *owner, struct stream_conn *conn, enum stream_close_cause cause,
                      const char *detail);
};

extern const struct lws_protocols stream_conn_protocol;

/* Starts connecting to connect_uri (ws:// or wss://). Returns NULL with errstr set
 * when the URI is unusable or lws refuses at once; on_closed is not called then. */
struct stream_conn *stream_conn_open(struct lws_context *context, const char *connect_uri,
                                     const struct stream_conn_options *options,
                                     const struct stream_conn_callbacks *callbacks, void *owner,
                                     char *errstr, size_t errstr_size);

/* Asks for the connection to close; on_closed(STREAM_CLOSE_REQUESTED) follows from
 * the service loop. Safe to call more than once. */
void stream_conn_close(struct stream_conn *conn);

/* Closes the connection and detaches it from its owner: no callback will be made
 * any more, and the object frees itself once lws has closed the socket. For owners
 * that are going away. */
void stream_conn_abandon(struct stream_conn *conn);

int stream_conn_is_established(const struct stream_conn *conn);
const char *stream_conn_uri(const struct stream_conn *conn);
/* Monotonic ms of the last received byte (0 before any). */
int64_t stream_conn_last_rx_ms(const struct stream_conn *conn);

#endif
