/* decode_pipeline: decodes stream frames on a worker thread, in arrival order.
 *
 * Contract:
 *  - The loop thread submits each frame (the text is copied). Submitted frames reach
 *    the worker in batches: once 32 have gathered, or at the next flush() or deliver(),
 *    so a loop that delivers after every service pass hands over each pass's frames
 *    together. The loop later takes the
 *    finished frames back with decode_pipeline_deliver(), in exactly the order it
 *    submitted them, whatever the worker's timing. Nothing is handed back from inside
 *    submit: frames are only delivered where the loop calls deliver, so a frame's
 *    handling never runs inside another connection's receive callback.
 *  - The worker runs decode_notification() and then the caller's prepare step on each
 *    frame. prepare runs on the worker thread: it may only read what the loop never
 *    changes while the pipeline exists (an immutable events builder, say) and the frame.
 *  - When the worker finishes a frame and finds nothing else queued it calls wake(), so
 *    a loop asleep in poll comes back to deliver (the relay passes lws_cancel_service).
 *  - The worker never waits for the loop, so the loop may always wait for the worker
 *    (deliver with wait): a full backlog cannot deadlock.
 *  - Delivered frames are freed by the worker (at its next batch, or once a few dozen
 *    have gathered), so what it allocated while decoding is freed on its own thread.
 *    deliver must not keep pointers into a frame after it returns.
 *  - decode_pipeline_destroy() stops the worker and frees every frame it still holds.
 */
#ifndef CONSUMER_DECODE_PIPELINE_H
#define CONSUMER_DECODE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/decode.h"

struct relay_event;

struct decoded_frame {
    size_t slot;
    char *text; /* NUL-terminated copy of the frame */
    size_t len;
    int64_t received_ms; /* wall clock at receipt */
    int64_t received_us; /* monotonic clock at receipt */
    int status;          /* decode_notification's result */
    char errstr[256];    /* why, when status != 0 */
    struct notification notification; /* valid when status == 0 */
    struct relay_event *prepared;     /* what prepare left (owned by the frame), or NULL */
    /* The frame's parse while prepare runs (decode_notification_keep()), else NULL. */
    struct cJSON *tree;
    bool done;
    struct decoded_frame *next;
};

typedef void (*decode_prepare_fn)(void *opaque, struct decoded_frame *frame);
typedef void (*decode_deliver_fn)(void *opaque, struct decoded_frame *frame);

struct decode_pipeline;

struct decode_pipeline *decode_pipeline_create(decode_prepare_fn prepare, void *prepare_opaque,
                                               void (*wake)(void *opaque), void *wake_opaque,
                                               char *errstr, size_t errstr_size);
void decode_pipeline_destroy(struct decode_pipeline *pipeline);

void decode_pipeline_submit(struct decode_pipeline *pipeline, size_t slot, const char *text,
                            size_t len, int64_t received_ms, int64_t received_us);

/* Hands every submitted frame to the worker now. */
void decode_pipeline_flush(struct decode_pipeline *pipeline);

/* Hands submitted frames to the worker (as flush does), then every finished frame at the
 * head of the queue to deliver, in order, and hands them back to the worker to be freed
 * (deliver may take frame->prepared by setting it to NULL). With wait_above >= 0, it
 * first waits until no more than wait_above frames are left undelivered after the
 * finished ones, so wait_above 0 delivers everything submitted. Returns the number
 * delivered. */
size_t decode_pipeline_deliver(struct decode_pipeline *pipeline, long wait_above,
                               decode_deliver_fn deliver, void *opaque);

/* Frames submitted and not yet delivered, handed to the worker or not. */
size_t decode_pipeline_backlog(struct decode_pipeline *pipeline);

/* Frames delivered and waiting for the worker to free them. */
size_t decode_pipeline_retired(struct decode_pipeline *pipeline);

/* Frees a frame's notification, prepared event and text (for callers that handle a
 * frame without the pipeline). */
void decoded_frame_clear(struct decoded_frame *frame);

#endif
