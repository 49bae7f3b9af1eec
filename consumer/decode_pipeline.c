#include "consumer/decode_pipeline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "publishers/event.h"
#include "util/json_arena.h"
#include "util/xalloc.h"

/* Frames reach the worker in batches, and it takes them in batches: handing them over
 * one at a time cost a lock round and often a futex wake per frame, and on two cores
 * each wake let the worker preempt the loop (40 % of the loop's context switches). */
#define DECODE_PUBLISH_BATCH 32
#define DECODE_WORKER_BATCH 64
/* Delivered frames wait for the worker's next batch to be freed; an idle worker is woken
 * for them only once this many have gathered, so a quiet stream holds a few at most. */
#define DECODE_RETIRE_WAKE 32

struct decode_pipeline {
    decode_prepare_fn prepare;
    void *prepare_opaque;
    void (*wake)(void *opaque);
    void *wake_opaque;

    pthread_mutex_t mu;
    pthread_cond_t work_cond; /* the worker waits for frames */
    pthread_cond_t done_cond; /* the loop waits for finished frames */
    struct decoded_frame *head;  /* oldest undelivered */
    struct decoded_frame *tail;
    struct decoded_frame *next_todo; /* first frame the worker has not taken */
    size_t backlog;            /* published and not yet delivered */
    bool worker_waiting;

    /* Submitted by the loop and not yet published; only the loop touches these. */
    struct decoded_frame *pending_head;
    struct decoded_frame *pending_tail;
    size_t pending_count;
    bool wake_pending; /* a wake was sent and the loop has not delivered since */
    bool stop;
    /* Delivered frames, freed by the worker: what it allocated for a frame (the decoded
     * notification, the audit event) is then freed on the thread that allocated it.
     * Freed on the loop, those blocks went back through the allocator's cross-thread
     * path, which cost both threads. */
    struct decoded_frame *retired;
    size_t retired_count;
    struct json_arena *arena; /* the worker's frame trees; only the worker uses it */
    pthread_t thread;
    bool started;
};

void decoded_frame_clear(struct decoded_frame *frame)
{
    if (frame->status == 0)
        notification_clear(&frame->notification);
    frame->status = -1;
    relay_event_free(frame->prepared);
    frame->prepared = NULL;
    free(frame->text);
    frame->text = NULL;
}

/* Frees a frame of the queue; its text lives in the same block. */
static void free_frame(struct decoded_frame *frame)
{
    frame->text = NULL;
    decoded_frame_clear(frame);
    free(frame);
}

static void *worker_main(void *arg)
{
    struct decode_pipeline *p = arg;
    pthread_setname_np(pthread_self(), "decode");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->next_todo && p->retired_count < DECODE_RETIRE_WAKE) {
            p->worker_waiting = true;
            pthread_cond_wait(&p->work_cond, &p->mu);
            p->worker_waiting = false;
        }
        if (p->stop)
            break;
        struct decoded_frame *retired = p->retired;
        p->retired = NULL;
        p->retired_count = 0;
        /* The loop only appends, so the taken frames stay linked as they are. */
        struct decoded_frame *first = p->next_todo, *last = first;
        size_t taken = first ? 1 : 0;
        while (last && last->next && taken < DECODE_WORKER_BATCH) {
            last = last->next;
            taken++;
        }
        if (last)
            p->next_todo = last->next;
        pthread_mutex_unlock(&p->mu);

        /* Freed first, so the batch below reuses the memory while it is warm. */
        while (retired) {
            struct decoded_frame *next = retired->next;
            free_frame(retired);
            retired = next;
        }
        if (!first) {
            pthread_mutex_lock(&p->mu);
            continue;
        }

        for (struct decoded_frame *frame = first;; frame = frame->next) {
            frame->status = decode_notification_keep(p->arena, frame->text, frame->len,
                                                     &frame->notification, &frame->tree,
                                                     frame->errstr, sizeof frame->errstr);
            if (p->prepare)
                p->prepare(p->prepare_opaque, frame);
            if (frame->tree)
                json_arena_release(p->arena, frame->tree);
            frame->tree = NULL;
            if (frame == last)
                break;
        }

        pthread_mutex_lock(&p->mu);
        for (struct decoded_frame *frame = first;; frame = frame->next) {
            frame->done = true;
            if (frame == last)
                break;
        }
        pthread_cond_broadcast(&p->done_cond);
        /* Only when the queue ran dry, and once until the loop delivers: under load the
         * loop is awake anyway, and each wake costs a write to a pipe and a service
         * pass. */
        if (!p->next_todo && !p->wake_pending && p->wake) {
            p->wake_pending = true;
            pthread_mutex_unlock(&p->mu);
            p->wake(p->wake_opaque);
            pthread_mutex_lock(&p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct decode_pipeline *decode_pipeline_create(decode_prepare_fn prepare, void *prepare_opaque,
                                               void (*wake)(void *opaque), void *wake_opaque,
                                               char *errstr, size_t errstr_size)
{
    struct decode_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->prepare = prepare;
    p->prepare_opaque = prepare_opaque;
    p->wake = wake;
    p->wake_opaque = wake_opaque;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cond, NULL);
    pthread_cond_init(&p->done_cond, NULL);
    /* Made here, not by the worker: creating an arena installs cJSON's process-wide
     * hooks, which must happen before the thread that uses them exists. */
    p->arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    if (pthread_create(&p->thread, NULL, worker_main, p) != 0) {
        errstr_set(errstr, errstr_size, "cannot start the decode thread");
        decode_pipeline_destroy(p);
        return NULL;
    }
    p->started = true;
    return p;
}

void decode_pipeline_destroy(struct decode_pipeline *p)
{
    if (!p)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->work_cond);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    /* The worker stops only between batches: a frame never taken still has status -1
     * and holds nothing but its text. */
    struct decoded_frame *lists[] = {p->head, p->pending_head, p->retired};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        while (lists[i]) {
            struct decoded_frame *frame = lists[i];
            lists[i] = frame->next;
            free_frame(frame);
        }
    }
    json_arena_destroy(p->arena);
    pthread_cond_destroy(&p->work_cond);
    pthread_cond_destroy(&p->done_cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void decode_pipeline_submit(struct decode_pipeline *p, size_t slot, const char *text,
                            size_t len, int64_t received_ms, int64_t received_us)
{
    /* One allocation for the frame and its text: two per frame showed in the profile. */
    struct decoded_frame *frame = malloc(sizeof *frame + len + 1);
    if (!frame)
        abort();
    memset(frame, 0, sizeof *frame);
    frame->text = (char *)(frame + 1);
    memcpy(frame->text, text, len);
    frame->text[len] = '\0';
    frame->len = len;
    frame->slot = slot;
    frame->received_ms = received_ms;
    frame->received_us = received_us;
    frame->status = -1;

    if (p->pending_tail)
        p->pending_tail->next = frame;
    else
        p->pending_head = frame;
    p->pending_tail = frame;
    if (++p->pending_count >= DECODE_PUBLISH_BATCH)
        decode_pipeline_flush(p);
}

/* Appends the pending frames to the queue; the caller holds mu. Returns whether the
 * worker needs a signal. */
static bool publish_pending(struct decode_pipeline *p)
{
    if (!p->pending_head)
        return false;
    if (p->tail)
        p->tail->next = p->pending_head;
    else
        p->head = p->pending_head;
    p->tail = p->pending_tail;
    bool was_idle = !p->next_todo;
    if (was_idle)
        p->next_todo = p->pending_head;
    p->backlog += p->pending_count;
    p->pending_head = p->pending_tail = NULL;
    p->pending_count = 0;
    return was_idle && p->worker_waiting;
}

void decode_pipeline_flush(struct decode_pipeline *p)
{
    if (!p->pending_head)
        return;
    pthread_mutex_lock(&p->mu);
    if (publish_pending(p))
        pthread_cond_signal(&p->work_cond);
    pthread_mutex_unlock(&p->mu);
}

size_t decode_pipeline_deliver(struct decode_pipeline *p, long wait_above,
                               decode_deliver_fn deliver, void *opaque)
{
    pthread_mutex_lock(&p->mu);
    if (publish_pending(p))
        pthread_cond_signal(&p->work_cond);
    p->wake_pending = false;
    struct decoded_frame *first = p->head, *last = NULL;
    size_t count = 0;
    for (;;) {
        while ((last ? last->next : first) && (last ? last->next : first)->done) {
            last = last ? last->next : first;
            count++;
        }
        if (wait_above < 0 || p->backlog - count <= (size_t)wait_above)
            break;
        pthread_cond_wait(&p->done_cond, &p->mu);
    }
    if (last) {
        p->head = last->next;
        if (!p->head)
            p->tail = NULL;
        last->next = NULL;
        p->backlog -= count;
    }
    pthread_mutex_unlock(&p->mu);

    if (!last)
        return 0;
    for (struct decoded_frame *frame = first;; frame = frame->next) {
        deliver(opaque, frame);
        if (frame == last)
            break;
    }
    pthread_mutex_lock(&p->mu);
    last->next = p->retired;
    p->retired = first;
    p->retired_count += count;
    if (p->retired_count >= DECODE_RETIRE_WAKE && p->worker_waiting)
        pthread_cond_signal(&p->work_cond);
    pthread_mutex_unlock(&p->mu);
    return count;
}

size_t decode_pipeline_retired(struct decode_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    size_t retired = p->retired_count;
    pthread_mutex_unlock(&p->mu);
    return retired;
}

size_t decode_pipeline_backlog(struct decode_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    size_t backlog = p->backlog + p->pending_count;
    pthread_mutex_unlock(&p->mu);
    return backlog;
}
