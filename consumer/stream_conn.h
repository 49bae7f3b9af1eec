/*
 * One notification WebSocket: a client connection to a channel's connectUri, with
 * message reassembly and the platform's liveness protocol.
 *
 * libwebsockets makes the TCP connection (a "raw" client) and runs the loop; TLS is
 * tls_pipe's, and the upgrade and the frames are ws_wire's. lws' own ws client parses
 * every payload byte in its state machine, and its raw clients cannot do TLS in 4.1.6;
 * those two headers say more.
 *
 * Contract:
 *  - Runs on the lws service loop; every call and callback happens on that thread.
 *    The application puts stream_conn_protocol in its lws context's protocol list,
 *    on the vhost client connections use (the first). The context's pt_serv_buf_size
 *    is the most one read takes off the socket.
 *  - wss:// verifies the server's certificate against OpenSSL's default trust store
 *    and the URI's host; a refused certificate is a STREAM_CLOSE_CONNECT_FAILED whose
 *    detail says why.
 *  - The upgrade must be answered with 101 within heartbeat_timeout_ms; any other
 *    answer is a STREAM_CLOSE_CONNECT_FAILED with the status line in the detail
 *    (a 404 means the channel is gone). No extension or subprotocol is offered.
 *  - Messages of any size up to max_frame_bytes are reassembled from fragments and
 *    handed to on_message whole. A larger message is dropped (on_oversized reports
 *    its size) and the connection survives.
 *  - Liveness: any received traffic (heartbeats included) resets the watchdog. After
 *    ping_interval_ms of silence a {"message":"ping"} text frame is sent; after
 *    heartbeat_timeout_ms of silence the socket is declared dead and closed with
 *    STREAM_CLOSE_HEARTBEAT_TIMEOUT. The platform's heartbeats are not trusted to
 *    be regular: only silence counts.
 *  - A close frame from the server is answered and reported as STREAM_CLOSE_REMOTE
 *    with its code and reason; a WebSocket protocol violation closes the connection
 *    the same way, naming the violation. A close the owner asks for sends code 1000
 *    first, unless the peer has gone silent.
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
