#include "consumer/platform_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job_node {
    struct job_node *next;
    enum platform_job_kind kind;
    char *method;
    char *path;
    char *body;
    uint64_t tag;
};

struct completion_node {
    struct completion_node *next;
    uint64_t tag;
    enum platform_job_kind kind;
    enum platform_result result;
    long status;
    char *body;
    size_t body_len;
    char correlation_id[128];
    int pages;
    char error[512];
};

struct platform_worker {
    struct platform_client *client;
    platform_worker_wake_fn wake;
    void *wake_opaque;
    size_t capacity;

    pthread_mutex_t lock;
    pthread_cond_t work_ready;   /* a job was queued, or stop was asked */
    pthread_cond_t worker_done;  /* the thread finished its loop */
    struct job_node *jobs_head, *jobs_tail;
    struct completion_node *done_head, *done_tail;
    size_t outstanding;
    bool accepting;
    bool stopping;
    bool exited;
    bool thread_started;
    bool joined;
    pthread_t thread;
};

static void job_free(struct job_node *job)
{
    if (job == NULL)
        return;
    free(job->method);
    free(job->path);
    free(job->body);
    free(job);
}

static void completion_free(struct completion_node *completion)
{
    if (completion == NULL)
        return;
    free(completion->body);
    free(completion);
}

static struct completion_node *run_job(struct platform_worker *worker,
                                       const struct job_node *job)
{
    struct completion_node *done = calloc(1, sizeof *done);
    if (done == NULL)
        abort(); /* as strbuf does: a daemon that cannot allocate cannot make progress */
    done->tag = job->tag;
    done->kind = job->kind;
    struct platform_response response;
    platform_response_init(&response);
    if (job->kind == PLATFORM_JOB_LIST_CAMPAIGNS) {
        done->result = platform_list_campaigns(worker->client, &response, &done->pages,
                                               done->error, sizeof done->error);
    } else {
        done->result = platform_request(worker->client, job->method, job->path, job->body,
                                        &response, done->error, sizeof done->error);
    }
    if (done->result == PLATFORM_OK)
        done->error[0] = '\0';
    done->status = response.status;
    done->body_len = response.body.len;
    done->body = strbuf_detach(&response.body);
    snprintf(done->correlation_id, sizeof done->correlation_id, "%s", response.correlation_id);
    platform_response_free(&response);
    return done;
}

static void *worker_main(void *opaque)
{
    struct platform_worker *worker = opaque;
    pthread_setname_np(pthread_self(), "platform-rest");
    pthread_mutex_lock(&worker->lock);
    for (;;) {
        while (worker->jobs_head == NULL && !worker->stopping)
            pthread_cond_wait(&worker->work_ready, &worker->lock);
        struct job_node *job = worker->jobs_head;
        if (job == NULL)
            break; /* stopping, and nothing left to do */
        worker->jobs_head = job->next;
        if (worker->jobs_head == NULL)
            worker->jobs_tail = NULL;
        pthread_mutex_unlock(&worker->lock);

        struct completion_node *done = run_job(worker, job);
        job_free(job);

        pthread_mutex_lock(&worker->lock);
        if (worker->done_tail != NULL)
            worker->done_tail->next = done;
        else
            worker->done_head = done;
        worker->done_tail = done;
        pthread_mutex_unlock(&worker->lock);
        worker->wake(worker->wake_opaque);
        pthread_mutex_lock(&worker->lock);
    }
    worker->exited = true;
    pthread_cond_broadcast(&worker->worker_done);
    pthread_mutex_unlock(&worker->lock);
    return NULL;
}

struct platform_worker *platform_worker_create(const struct platform_worker_options *options,
                                               char *errstr, size_t errstr_size)
{
    if (options->wake == NULL) {
        snprintf(errstr, errstr_size, "platform worker: a wake function is required");
        return NULL;
    }
    if (options->queue_capacity < 0) {
        snprintf(errstr, errstr_size, "platform worker: queue capacity must not be negative");
        return NULL;
    }
    struct platform_worker *worker = calloc(1, sizeof *worker);
    if (worker == NULL) {
        snprintf(errstr, errstr_size, "platform worker: out of memory");
        return NULL;
    }
    pthread_mutex_init(&worker->lock, NULL);
    pthread_cond_init(&worker->work_ready, NULL);
    pthread_condattr_t cond_attr;
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&worker->worker_done, &cond_attr);
    pthread_condattr_destroy(&cond_attr);
    worker->wake = options->wake;
    worker->wake_opaque = options->wake_opaque;
    worker->capacity = options->queue_capacity > 0 ? (size_t)options->queue_capacity
                                                   : PLATFORM_WORKER_DEFAULT_CAPACITY;
    worker->client = platform_client_create(&options->platform, errstr, errstr_size);
    if (worker->client == NULL) {
        platform_worker_destroy(worker);
        return NULL;
    }
    worker->accepting = true;
    int rc = pthread_create(&worker->thread, NULL, worker_main, worker);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "platform worker: cannot start thread: %s", strerror(rc));
        platform_worker_destroy(worker);
        return NULL;
    }
    worker->thread_started = true;
    return worker;
}

int platform_worker_submit(struct platform_worker *worker, const struct platform_job *job,
                           char *errstr, size_t errstr_size)
{
    if (job->kind == PLATFORM_JOB_REQUEST && (job->method == NULL || job->path == NULL)) {
        snprintf(errstr, errstr_size, "platform worker: a request job needs a method and a path");
        return -1;
    }
    if (job->kind != PLATFORM_JOB_REQUEST && job->kind != PLATFORM_JOB_LIST_CAMPAIGNS) {
        snprintf(errstr, errstr_size, "platform worker: unknown job kind %d", (int)job->kind);
        return -1;
    }
    struct job_node *node = calloc(1, sizeof *node);
    if (node == NULL) {
        snprintf(errstr, errstr_size, "platform worker: out of memory");
        return -1;
    }
    node->kind = job->kind;
    node->tag = job->tag;
    node->method = job->method ? strdup(job->method) : NULL;
    node->path = job->path ? strdup(job->path) : NULL;
    node->body = job->body ? strdup(job->body) : NULL;
    if ((job->method && !node->method) || (job->path && !node->path) ||
        (job->body && !node->body)) {
        job_free(node);
        snprintf(errstr, errstr_size, "platform worker: out of memory");
        return -1;
    }

    pthread_mutex_lock(&worker->lock);
    const char *refusal = NULL;
    if (!worker->accepting)
        refusal = "the worker is stopping";
    else if (worker->outstanding >= worker->capacity)
        refusal = "the queue is full";
    if (refusal == NULL) {
        if (worker->jobs_tail != NULL)
            worker->jobs_tail->next = node;
        else
            worker->jobs_head = node;
        worker->jobs_tail = node;
        worker->outstanding++;
        pthread_cond_signal(&worker->work_ready);
    }
    size_t outstanding = worker->outstanding;
    pthread_mutex_unlock(&worker->lock);
    if (refusal != NULL) {
        snprintf(errstr, errstr_size, "platform worker: job refused: %s (%zu of %zu outstanding)",
                 refusal, outstanding, worker->capacity);
        job_free(node);
        return -1;
    }
    return 0;
}

size_t platform_worker_drain(struct platform_worker *worker, platform_completion_fn handler,
                             void *ctx)
{
    pthread_mutex_lock(&worker->lock);
    struct completion_node *list = worker->done_head;
    worker->done_head = worker->done_tail = NULL;
    size_t count = 0;
    for (struct completion_node *c = list; c != NULL; c = c->next)
        count++;
    worker->outstanding -= count; /* before the handler runs, so it may submit again */
    pthread_mutex_unlock(&worker->lock);

    while (list != NULL) {
        struct completion_node *c = list;
        list = c->next;
        struct platform_completion view = {
            .tag = c->tag,
            .kind = c->kind,
            .result = c->result,
            .status = c->status,
            .body = c->body != NULL ? c->body : "",
            .body_len = c->body_len,
            .correlation_id = c->correlation_id,
            .pages = c->pages,
            .error = c->error,
        };
        handler(ctx, &view);
        completion_free(c);
    }
    return count;
}

size_t platform_worker_outstanding(struct platform_worker *worker)
{
    pthread_mutex_lock(&worker->lock);
    size_t outstanding = worker->outstanding;
    pthread_mutex_unlock(&worker->lock);
    return outstanding;
}

void platform_worker_stop(struct platform_worker *worker, int grace_ms)
{
    if (worker == NULL || !worker->thread_started || worker->joined)
        return;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (grace_ms > 0) {
        deadline.tv_sec += grace_ms / 1000;
        deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&worker->lock);
    worker->accepting = false;
    worker->stopping = true;
    pthread_cond_broadcast(&worker->work_ready);
    while (!worker->exited && grace_ms > 0) {
        if (pthread_cond_timedwait(&worker->worker_done, &worker->lock, &deadline) == ETIMEDOUT)
            break;
    }
    bool exited = worker->exited;
    pthread_mutex_unlock(&worker->lock);
    if (!exited)
        platform_client_cancel(worker->client); /* the rest completes as cancelled, quickly */
    pthread_join(worker->thread, NULL);
    worker->joined = true;
}

void platform_worker_destroy(struct platform_worker *worker)
{
    if (worker == NULL)
        return;
    platform_worker_stop(worker, 0);
    while (worker->jobs_head != NULL) { /* only when the thread never started */
        struct job_node *job = worker->jobs_head;
        worker->jobs_head = job->next;
        job_free(job);
    }
    while (worker->done_head != NULL) {
        struct completion_node *c = worker->done_head;
        worker->done_head = c->next;
        completion_free(c);
    }
    platform_client_destroy(worker->client);
    pthread_cond_destroy(&worker->worker_done);
    pthread_cond_destroy(&worker->work_ready);
    pthread_mutex_destroy(&worker->lock);
    free(worker);
}

void platform_worker_counters(struct platform_worker *worker, struct platform_counters *out)
{
    platform_client_counters(worker->client, out);
}
