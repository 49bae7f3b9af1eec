/*
 * One server-side WebSocket: its queue of outgoing text frames and how it ends.
 *
 * Contract: libwebsockets lets a server write only from LWS_CALLBACK_SERVER_WRITEABLE,
 * so every frame is queued here (copied, with LWS_PRE headroom) and written by
 * wsconn_on_writeable(). Consecutive unfragmented frames are framed here and go out
 * together in one send, as a busy server's frames share TCP segments anyway. A frame
 * may go out as several WebSocket fragments, one per writeable callback. A close
 * (with a code) happens after the queue drains; a drop shuts the TCP connection down
 * at once with no close frame. The struct lives in lws's per-session memory.
 */
#ifndef GCSIM_WSCONN_H
#define GCSIM_WSCONN_H

#include <stddef.h>
#include <stdint.h>

struct lws;
struct channel;
struct wsconn_frame;

struct wsconn {
    struct lws *wsi;
    struct channel *channel;
    struct wsconn_frame *head, *tail;
    unsigned char *batch; /* LWS_PRE headroom, then frames framed here for one send */
    size_t batch_cap;
    size_t queued_bytes;
    size_t queued_frames;
    uint64_t frames_sent;
    int close_code;   /* > 0: close with this code once the queue is empty */
    int dropped;
};

void wsconn_init(struct wsconn *conn, struct lws *wsi);
/* Queues text (copied) to be sent as `fragments` fragments (1 = a single frame). */
void wsconn_enqueue(struct wsconn *conn, const char *text, size_t len, int fragments);
void wsconn_close_after_queue(struct wsconn *conn, int code);
void wsconn_drop(struct wsconn *conn);
/* Called from LWS_CALLBACK_SERVER_WRITEABLE; returns -1 when lws should close the wsi. */
int wsconn_on_writeable(struct wsconn *conn);
/* Frees the queue (on LWS_CALLBACK_CLOSED). */
void wsconn_release(struct wsconn *conn);

#endif
