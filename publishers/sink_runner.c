#include "publishers/sink_runner.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/backoff.h"
#include "publishers/events.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

struct sink_runner {
    struct outbox *ob;
    struct outbox_reader *reader;
    char *name;
    char *type_prefix;
    char *alert_source;
    sink_runner_wants_fn wants;
    void *wants_ctx;
    int fetch_batch, max_in_flight, cursor_interval_ms, cursor_max_events;
    int busy_wait_ms;
    struct backoff *backoff;

    const struct sink_ops *ops;
    void *engine;
    pthread_t thread;
    bool started;
    bool joined;

    /* Runner-thread state. */
    struct outbox_record *buf;
    int buf_pos, buf_count;
    bool fetched_all;    /* the last read found nothing more committed */
    int64_t *inflight;   /* ring of submitted, not yet done seqs */
    int inflight_head, inflight_count;
    int64_t offered;     /* highest seq submitted or filtered */
    int64_t engine_done; /* highest done-seq the engine reported */
    int64_t posted;      /* cursor last posted to the outbox */
    int64_t posted_at_ms;
    int64_t retry_at_ms; /* > 0: in backoff after SINK_FAILED until then */
    int failure_streak;
    int64_t failing_seq; /* the record whose submit failed; its delivery ends the streak */

    pthread_mutex_t mu;
    bool stopping;
    int64_t stop_deadline_ms;

    _Atomic int64_t delivered, filtered, submit_busy, submit_failed, dead_lettered, replays;
    _Atomic int64_t cursor;
    _Atomic bool failing;
};

struct sink_runner *sink_runner_create(struct outbox *ob,
                                       const struct sink_runner_options *options,
                                       char *errstr, size_t errstr_size)
{
    if (!ob || !options || !options->name || !options->name[0]) {
        errstr_set(errstr, errstr_size, "sink runner: an outbox and a sink name are required");
        return NULL;
    }
    struct sink_runner *runner = calloc(1, sizeof *runner);
    if (!runner)
        abort();
    pthread_mutex_init(&runner->mu, NULL);
    runner->ob = ob;
    runner->name = xstrdup(options->name);
    runner->type_prefix = xstrdup(options->type_prefix ? options->type_prefix
                                                       : EVENTS_DEFAULT_PREFIX);
    runner->alert_source = xstrdup(options->alert_source ? options->alert_source
                                                         : "campaign-relay");
    runner->wants = options->wants;
    runner->wants_ctx = options->wants_ctx;
    runner->fetch_batch = options->fetch_batch > 0 ? options->fetch_batch : 512;
    runner->max_in_flight = options->max_in_flight > 0 ? options->max_in_flight : 10000;
    runner->cursor_interval_ms = options->cursor_interval_ms > 0 ? options->cursor_interval_ms
                                                                 : 50;
    runner->cursor_max_events = options->cursor_max_events > 0 ? options->cursor_max_events
                                                               : 1000;
    runner->busy_wait_ms = options->busy_wait_ms > 0 ? options->busy_wait_ms : 20;
    struct backoff_options backoff = {
        .base_ms = options->backoff_base_ms > 0 ? options->backoff_base_ms : 200,
        .cap_ms = options->backoff_max_ms > 0 ? options->backoff_max_ms : 30000,
    };
    if (backoff.cap_ms < backoff.base_ms)
        backoff.cap_ms = backoff.base_ms;
    runner->backoff = backoff_create(&backoff, errstr, errstr_size);
    runner->buf = calloc((size_t)runner->fetch_batch, sizeof *runner->buf);
    runner->inflight = calloc((size_t)runner->max_in_flight, sizeof *runner->inflight);
    if (!runner->buf || !runner->inflight)
        abort();
    if (!runner->backoff)
        goto fail;
    runner->reader = outbox_reader_create(ob, options->name, errstr, errstr_size);
    if (!runner->reader)
        goto fail;
    runner->offered = runner->posted = runner->engine_done = outbox_reader_cursor(runner->reader);
    runner->cursor = runner->posted;
    return runner;

fail:
    sink_runner_destroy(runner);
    return NULL;
}

/* ---- done tracking ------------------------------------------------------------------ */

static void inflight_push(struct sink_runner *runner, int64_t seq)
{
    int tail = (runner->inflight_head + runner->inflight_count) % runner->max_in_flight;
    runner->inflight[tail] = seq;
    runner->inflight_count++;
}

static void absorb_engine_done(struct sink_runner *runner, int64_t done)
{
    if (done > runner->engine_done)
        runner->engine_done = done;
    while (runner->inflight_count > 0 &&
           runner->inflight[runner->inflight_head] <= runner->engine_done) {
        runner->inflight_head = (runner->inflight_head + 1) % runner->max_in_flight;
        runner->inflight_count--;
        runner->delivered++;
    }
}

/* Everything up to the returned seq is done: delivered or filtered, with no undone
 * record before it. */
static int64_t done_point(const struct sink_runner *runner)
{
    if (runner->inflight_count == 0)
        return runner->offered;
    return runner->inflight[runner->inflight_head] - 1;
}

static void post_cursor(struct sink_runner *runner, int64_t now, bool force)
{
    int64_t done = done_point(runner);
    if (done <= runner->posted)
        return;
    if (!force && done - runner->posted < runner->cursor_max_events &&
        now - runner->posted_at_ms < runner->cursor_interval_ms)
        return;
    char err[256];
    outbox_reader_set_cursor(runner->reader, done, err, sizeof err);
    runner->posted = done;
    runner->posted_at_ms = now;
    runner->cursor = done;
}

static void drop_buffer(struct sink_runner *runner)
{
    outbox_records_free(runner->buf + runner->buf_pos, runner->buf_count - runner->buf_pos);
    runner->buf_pos = runner->buf_count = 0;
}

static void rewind_for_replay(struct sink_runner *runner)
{
    int64_t done = done_point(runner);
    drop_buffer(runner);
    runner->inflight_count = runner->inflight_head = 0;
    runner->offered = done;
    runner->fetched_all = false;
    runner->replays++;
    log_warn("sink", "sink %s: engine dropped what was in flight; offering again from seq %lld",
             runner->name, (long long)done + 1);
}

/* ---- the loop ----------------------------------------------------------------------- */

static bool refill(struct sink_runner *runner)
{
    if (runner->buf_pos < runner->buf_count)
        return true;
    runner->buf_pos = runner->buf_count = 0;
    int room = runner->max_in_flight - runner->inflight_count;
    int want = room < runner->fetch_batch ? room : runner->fetch_batch;
    if (want <= 0)
        return false;
    char err[512];
    int count = 0;
    if (outbox_reader_fetch(runner->reader, runner->offered, want, runner->buf, &count, err,
                            sizeof err) != OUTBOX_OK) {
        log_error("sink", "sink %s: %s", runner->name, err);
        runner->retry_at_ms = time_mono_ms() + 1000;
        return false;
    }
    runner->buf_count = count;
    runner->fetched_all = count < want;
    return count > 0;
}

static void note_failure(struct sink_runner *runner, const char *why, int64_t seq, int64_t now)
{
    runner->submit_failed++;
    runner->failing_seq = seq;
    if (runner->failure_streak++ == 0) {
        log_warn("sink", "sink %s: %s; retrying with backoff", runner->name, why);
        runner->failing = true;
    }
    runner->retry_at_ms = now + backoff_next_ms(runner->backoff, now);
    if (runner->retry_at_ms <= now)
        runner->retry_at_ms = now + 1;
}

static void note_progress(struct sink_runner *runner)
{
    if (runner->failure_streak > 0)
        log_info("sink", "sink %s: delivering again after %d failed attempts", runner->name,
                 runner->failure_streak);
    runner->failure_streak = 0;
    runner->failing = false;
    backoff_reset(runner->backoff);
}

/* Submits buffered records in order; returns false when the engine pushed back. */
static bool submit_buffered(struct sink_runner *runner, int64_t now)
{
    while (runner->buf_pos < runner->buf_count &&
           runner->inflight_count < runner->max_in_flight) {
        struct outbox_record *record = &runner->buf[runner->buf_pos];
        if (runner->wants && !runner->wants(runner->wants_ctx, record->event)) {
            runner->filtered++;
            runner->offered = record->seq;
            relay_event_free(record->event);
            record->event = NULL;
            runner->buf_pos++;
            continue;
        }
        char err[512] = "";
        enum sink_submit_result result =
            runner->ops->submit(runner->engine, record->seq, record->event, err, sizeof err);
        if (result == SINK_ACCEPTED) {
            inflight_push(runner, record->seq);
            runner->offered = record->seq;
            relay_event_free(record->event);
            record->event = NULL;
            runner->buf_pos++;
            continue;
        }
        if (result == SINK_BUSY) {
            runner->submit_busy++;
        } else {
            note_failure(runner, err[0] ? err : "submit failed", record->seq, now);
        }
        return false;
    }
    return true;
}

static bool stop_requested(struct sink_runner *runner, int64_t *deadline)
{
    pthread_mutex_lock(&runner->mu);
    bool stopping = runner->stopping;
    *deadline = runner->stop_deadline_ms;
    pthread_mutex_unlock(&runner->mu);
    return stopping;
}

static void *runner_main(void *arg)
{
    struct sink_runner *runner = arg;
    char thread_name[16]; /* the kernel keeps 15 characters */
    snprintf(thread_name, sizeof thread_name, "sink:%s", runner->name);
    pthread_setname_np(pthread_self(), thread_name);
    runner->posted_at_ms = time_mono_ms();
    for (;;) {
        int64_t now = time_mono_ms();
        int64_t deadline = 0;
        bool stopping = stop_requested(runner, &deadline);
        bool idle = runner->buf_pos == runner->buf_count && runner->inflight_count == 0;
        if (stopping && (now >= deadline || (idle && runner->fetched_all)))
            break;

        if (runner->ops->needs_replay && runner->ops->needs_replay(runner->engine))
            rewind_for_replay(runner);

        bool in_backoff = runner->retry_at_ms > now;
        bool pushed_back = false;
        if (!in_backoff) {
            runner->retry_at_ms = 0;
            if (refill(runner))
                pushed_back = !submit_buffered(runner, now);
            in_backoff = runner->retry_at_ms > now;
        }

        int timeout;
        if (in_backoff) {
            int64_t wait = runner->retry_at_ms - now;
            timeout = wait > 100 ? 100 : (int)wait;
        } else if (pushed_back) {
            timeout = runner->busy_wait_ms;
        } else if (runner->buf_pos < runner->buf_count || !runner->fetched_all) {
            timeout = 0;
        } else if (runner->inflight_count > 0) {
            /* A delivery report ends the wait at once, a commit in the outbox does not:
             * 1 ms bounds how long a new event waits while others are in flight. */
            timeout = 1;
        } else {
            timeout = 0;
        }
        int64_t before = done_point(runner);
        absorb_engine_done(runner, runner->ops->poll(runner->engine, timeout));
        now = time_mono_ms();
        if (runner->failure_streak > 0 && done_point(runner) > before &&
            done_point(runner) >= runner->failing_seq)
            note_progress(runner);
        post_cursor(runner, now, false);

        idle = runner->buf_pos == runner->buf_count && runner->inflight_count == 0;
        if (idle && runner->fetched_all && !in_backoff) {
            post_cursor(runner, now, true);
            if (!stopping)
                outbox_wait_committed(runner->ob, runner->offered, 100);
            runner->fetched_all = false;
            /* Look again: another process (dlq replay) may have appended too. */
            if (stopping && !refill(runner))
                break;
        }
    }
    post_cursor(runner, time_mono_ms(), true);
    runner->ops->destroy(runner->engine);
    runner->engine = NULL;
    drop_buffer(runner);
    return NULL;
}

int sink_runner_start(struct sink_runner *runner, const struct sink_ops *ops, void *engine,
                      char *errstr, size_t errstr_size)
{
    if (!ops || !engine || !ops->submit || !ops->poll || !ops->destroy) {
        errstr_set(errstr, errstr_size, "sink %s: incomplete engine", runner->name);
        if (ops && ops->destroy && engine)
            ops->destroy(engine);
        return -1;
    }
    if (runner->started) {
        errstr_set(errstr, errstr_size, "sink %s: already started", runner->name);
        ops->destroy(engine);
        return -1;
    }
    runner->ops = ops;
    runner->engine = engine;
    if (pthread_create(&runner->thread, NULL, runner_main, runner) != 0) {
        errstr_set(errstr, errstr_size, "sink %s: cannot start its thread", runner->name);
        ops->destroy(engine);
        runner->engine = NULL;
        return -1;
    }
    runner->started = true;
    return 0;
}

void sink_runner_stop(struct sink_runner *runner, int grace_ms)
{
    if (!runner || !runner->started || runner->joined)
        return;
    pthread_mutex_lock(&runner->mu);
    runner->stopping = true;
    runner->stop_deadline_ms = time_mono_ms() + (grace_ms > 0 ? grace_ms : 0);
    pthread_mutex_unlock(&runner->mu);
    pthread_join(runner->thread, NULL);
    runner->joined = true;
}

void sink_runner_destroy(struct sink_runner *runner)
{
    if (!runner)
        return;
    sink_runner_stop(runner, 0);
    if (runner->engine && runner->ops)
        runner->ops->destroy(runner->engine);
    if (runner->buf)
        drop_buffer(runner);
    outbox_reader_destroy(runner->reader);
    backoff_destroy(runner->backoff);
    free(runner->buf);
    free(runner->inflight);
    free(runner->name);
    free(runner->type_prefix);
    free(runner->alert_source);
    pthread_mutex_destroy(&runner->mu);
    free(runner);
}

void sink_runner_get_metrics(struct sink_runner *runner, struct sink_runner_metrics *out)
{
    out->delivered = runner->delivered;
    out->filtered = runner->filtered;
    out->submit_busy = runner->submit_busy;
    out->submit_failed = runner->submit_failed;
    out->dead_lettered = runner->dead_lettered;
    out->replays = runner->replays;
    out->cursor = runner->cursor;
    int64_t committed = outbox_committed_seq(runner->ob);
    out->lag = committed > out->cursor ? committed - out->cursor : 0;
    out->read_from_memory = outbox_reader_rows_from_memory(runner->reader);
    out->read_from_disk = outbox_reader_rows_from_disk(runner->reader);
    out->failing = runner->failing;
}

const char *sink_runner_name(const struct sink_runner *runner) { return runner->name; }

/* ---- dead letters -------------------------------------------------------------------- */

void sink_runner_dead_letter(void *opaque, int64_t seq, const struct relay_event *event,
                             const char *reason)
{
    struct sink_runner *runner = opaque;
    if (!runner || !event)
        return;
    const char *facts[] = {"alert.dead_letter", runner->name, event->id ? event->id : ""};
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 3, id);

    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "alert", "dead_letter");
    cJSON_AddStringToObject(data, "severity", "warning");
    cJSON_AddStringToObject(data, "sink", runner->name);
    cJSON_AddStringToObject(data, "eventId", event->id ? event->id : "");
    cJSON_AddStringToObject(data, "type", event->type ? event->type : "");
    cJSON_AddStringToObject(data, "subject", event->subject ? event->subject : "");
    cJSON_AddNumberToObject(data, "seq", (double)seq);
    cJSON_AddStringToObject(data, "reason", reason ? reason : "unspecified");
    char *text = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!text)
        abort();
    size_t type_len = strlen(runner->type_prefix) + sizeof "alert.dead_letter";
    char *type = malloc(type_len);
    if (!type)
        abort();
    snprintf(type, type_len, "%salert.dead_letter", runner->type_prefix);
    struct relay_event *alert = relay_event_create(id, type, runner->alert_source,
                                                   event->subject, time_now_ms(),
                                                   EVENT_FAMILY_ALERT, text);
    free(type);
    free(text);

    char err[512];
    if (outbox_reader_dead_letter(runner->reader, seq, event, reason, alert, err, sizeof err) !=
        OUTBOX_OK)
        log_error("sink", "sink %s: cannot store dead letter %s: %s", runner->name,
                  event->id ? event->id : "?", err);
    else
        log_warn("sink", "sink %s: event %s (seq %lld) dead-lettered: %s", runner->name,
                 event->id ? event->id : "?", (long long)seq, reason ? reason : "unspecified");
    relay_event_free(alert);
    runner->dead_lettered++;
}
