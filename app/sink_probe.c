#include "app/sink_probe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

struct outstanding {
    int64_t seq;
    int64_t submit_ms;
    bool dead; /* handed to the dead-letter callback: done, but not delivered */
};

struct sink_probe {
    const struct metrics_receipts *receipts;
    struct sink_runner *runner;
    const struct sink_ops *ops;

    pthread_mutex_t engine_mu; /* guards engine against destroy while others read stats */
    void *engine;

    /* Runner-thread state: submitted records in seq order, a growable ring. */
    struct outstanding *ring;
    size_t head, count, capacity;

    _Atomic size_t outstanding;
    _Atomic int64_t oldest_submit_ms;
    _Atomic int64_t last_progress_ms;
    struct metrics_histogram latency;
};

struct sink_probe *sink_probe_create(const struct metrics_receipts *receipts)
{
    struct sink_probe *probe = calloc(1, sizeof *probe);
    if (!probe)
        abort();
    probe->receipts = receipts;
    pthread_mutex_init(&probe->engine_mu, NULL);
    return probe;
}

void sink_probe_attach(struct sink_probe *probe, struct sink_runner *runner,
                       const struct sink_ops *ops, void *engine)
{
    probe->runner = runner;
    probe->ops = ops;
    pthread_mutex_lock(&probe->engine_mu);
    probe->engine = engine;
    pthread_mutex_unlock(&probe->engine_mu);
}

void sink_probe_free(struct sink_probe *probe)
{
    if (!probe)
        return;
    if (probe->engine && probe->ops)
        probe->ops->destroy(probe->engine);
    pthread_mutex_destroy(&probe->engine_mu);
    free(probe->ring);
    free(probe);
}

static struct outstanding *ring_at(struct sink_probe *probe, size_t index)
{
    return &probe->ring[(probe->head + index) % probe->capacity];
}

static void publish_status(struct sink_probe *probe)
{
    atomic_store(&probe->outstanding, probe->count);
    atomic_store(&probe->oldest_submit_ms, probe->count ? ring_at(probe, 0)->submit_ms : 0);
}

static void ring_push(struct sink_probe *probe, int64_t seq, int64_t now_ms)
{
    if (probe->count == probe->capacity) {
        size_t capacity = probe->capacity ? probe->capacity * 2 : 1024;
        struct outstanding *ring = malloc(capacity * sizeof *ring);
        if (!ring)
            abort();
        for (size_t i = 0; i < probe->count; i++)
            ring[i] = *ring_at(probe, i);
        free(probe->ring);
        probe->ring = ring;
        probe->capacity = capacity;
        probe->head = 0;
    }
    *ring_at(probe, probe->count) = (struct outstanding){.seq = seq, .submit_ms = now_ms};
    probe->count++;
    publish_status(probe);
}

static enum sink_submit_result probe_submit(void *engine, int64_t seq,
                                            const struct relay_event *event, char *errstr,
                                            size_t errstr_size)
{
    struct sink_probe *probe = engine;
    enum sink_submit_result result =
        probe->ops->submit(probe->engine, seq, event, errstr, errstr_size);
    if (result == SINK_ACCEPTED)
        ring_push(probe, seq, time_mono_ms());
    return result;
}

static int64_t probe_poll(void *engine, int timeout_ms)
{
    struct sink_probe *probe = engine;
    int64_t done = probe->ops->poll(probe->engine, timeout_ms);
    if (probe->count == 0 || ring_at(probe, 0)->seq > done)
        return done;
    int64_t now_us = time_mono_us();
    while (probe->count > 0 && ring_at(probe, 0)->seq <= done) {
        struct outstanding *record = ring_at(probe, 0);
        int64_t received_us = metrics_receipts_lookup(probe->receipts, record->seq);
        if (!record->dead && received_us > 0)
            metrics_histogram_observe_us(&probe->latency, now_us - received_us);
        probe->head = (probe->head + 1) % probe->capacity;
        probe->count--;
    }
    atomic_store(&probe->last_progress_ms, now_us / 1000);
    publish_status(probe);
    return done;
}

static bool probe_needs_replay(void *engine)
{
    struct sink_probe *probe = engine;
    if (!probe->ops->needs_replay || !probe->ops->needs_replay(probe->engine))
        return false;
    probe->head = probe->count = 0;
    publish_status(probe);
    return true;
}

static void probe_destroy(void *engine)
{
    struct sink_probe *probe = engine;
    pthread_mutex_lock(&probe->engine_mu);
    void *inner = probe->engine;
    probe->engine = NULL;
    pthread_mutex_unlock(&probe->engine_mu);
    if (inner)
        probe->ops->destroy(inner);
}

void sink_probe_dead_letter(void *opaque, int64_t seq, const struct relay_event *event,
                            const char *reason)
{
    struct sink_probe *probe = opaque;
    for (size_t i = 0; i < probe->count; i++) {
        struct outstanding *record = ring_at(probe, i);
        if (record->seq == seq) {
            record->dead = true;
            break;
        }
    }
    sink_runner_dead_letter(probe->runner, seq, event, reason);
}

void sink_probe_status(struct sink_probe *probe, struct sink_probe_status *out)
{
    memset(out, 0, sizeof *out);
    out->outstanding = atomic_load(&probe->outstanding);
    out->oldest_submit_ms = atomic_load(&probe->oldest_submit_ms);
    out->last_progress_ms = atomic_load(&probe->last_progress_ms);
    pthread_mutex_lock(&probe->engine_mu);
    out->engine_alive = probe->engine != NULL;
    pthread_mutex_unlock(&probe->engine_mu);
}

bool sink_probe_with_engine(struct sink_probe *probe, void (*fn)(void *ctx, void *engine),
                            void *ctx)
{
    pthread_mutex_lock(&probe->engine_mu);
    bool alive = probe->engine != NULL;
    if (alive)
        fn(ctx, probe->engine);
    pthread_mutex_unlock(&probe->engine_mu);
    return alive;
}

const struct metrics_histogram *sink_probe_latency(const struct sink_probe *probe)
{
    return &probe->latency;
}

const struct sink_ops sink_probe_ops = {
    .kind = "probe",
    .submit = probe_submit,
    .poll = probe_poll,
    .needs_replay = probe_needs_replay,
    .destroy = probe_destroy,
};
