/*
 * A thread that runs platform REST calls off the stream loop and posts the results
 * back to it.
 *
 * The relay's libwebsockets loop owns the cache and must never block on HTTP. It
 * submits jobs here; the worker thread runs them one at a time on its own platform
 * client (so one token, one budget and one kept-alive connection), appends each
 * result to a completion queue and then calls the wake function given at create
 * (the relay passes one that calls lws_cancel_service()). The loop thread, once
 * woken, calls platform_worker_drain() to receive the completions in the order the
 * jobs finished.
 *
 * Contract:
 *  - submit() copies the job and never blocks. It refuses (returns -1, errstr says
 *    why) when the worker is stopping or when queue_capacity jobs are outstanding,
 *    counting queued jobs, the one running and completions not yet drained, so
 *    memory stays bounded even if the loop stops draining.
 *  - Every accepted job produces exactly one completion, also when it fails or is
 *    cancelled at shutdown.
 *  - drain() and submit() may be called from any thread; the handler runs on the
 *    thread that called drain(), without any worker lock held (it may submit).
 *  - The wake function runs on the worker thread; it must be cheap and thread-safe.
 *  - platform_worker_stop(grace_ms): stops accepting, lets the worker finish the
 *    running and queued jobs for up to grace_ms, then cancels whatever is left
 *    (the running transfer or wait is interrupted; queued jobs complete as
 *    PLATFORM_ERR_CANCELLED) and joins the thread. Completions stay drainable.
 *  - destroy() stops with no grace if needed and frees undrained completions.
 */
#ifndef CRELAY_CONSUMER_PLATFORM_WORKER_H
#define CRELAY_CONSUMER_PLATFORM_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "consumer/platform.h"

#define PLATFORM_WORKER_DEFAULT_CAPACITY 256

enum platform_job_kind {
    PLATFORM_JOB_REQUEST = 0,    /* platform_request(method, path, body) */
    PLATFORM_JOB_LIST_CAMPAIGNS, /* platform_list_campaigns(); method/path/body unused */
};

struct platform_job {
    enum platform_job_kind kind;
    const char *method;
    const char *path;
    const char *body; /* NULL for none */
    uint64_t tag;     /* the caller's, returned in the completion */
};

struct platform_completion {
    uint64_t tag;
    enum platform_job_kind kind;
    enum platform_result result;
    long status;              /* HTTP status of the final answer, 0 if none */
    const char *body;         /* response text ("" if none); valid during the handler */
    size_t body_len;
    const char *correlation_id;
    int pages;                /* PLATFORM_JOB_LIST_CAMPAIGNS: pages read */
    const char *error;        /* "" on success */
};

typedef void (*platform_worker_wake_fn)(void *opaque);
typedef void (*platform_completion_fn)(void *ctx, const struct platform_completion *completion);

struct platform_worker_options {
    struct platform_options platform;
    int queue_capacity;              /* 0: PLATFORM_WORKER_DEFAULT_CAPACITY */
    platform_worker_wake_fn wake;    /* required */
    void *wake_opaque;
};

struct platform_worker;

struct platform_worker *platform_worker_create(const struct platform_worker_options *options,
                                               char *errstr, size_t errstr_size);
void platform_worker_destroy(struct platform_worker *worker);

int platform_worker_submit(struct platform_worker *worker, const struct platform_job *job,
                           char *errstr, size_t errstr_size);

/* Hands every completion posted so far to handler; returns how many. */
size_t platform_worker_drain(struct platform_worker *worker, platform_completion_fn handler,
                             void *ctx);

/* Jobs submitted and not yet drained (queued, running or completed). */
size_t platform_worker_outstanding(struct platform_worker *worker);

void platform_worker_stop(struct platform_worker *worker, int grace_ms);

void platform_worker_counters(struct platform_worker *worker, struct platform_counters *out);

#endif
