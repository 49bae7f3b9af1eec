/* Tests of publishers/sink_runner against a scripted engine that acks out of order,
 * pushes back, fails, dead-letters and drops what it has in flight. The invariant under
 * test throughout: the cursor (posted and stored) never passes a record that is not
 * done. The outbox is a real SQLite file; the main thread plays the relay's writer. */
#include "publishers/sink_runner.h"

#include <cjson/cJSON.h>
#include <unistd.h>

#include "publishers/events.h"
#include "tests/harness.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MAX_SEQ 4096

struct test_engine {
    struct sink_runner *runner; /* for the invariant checks */
    struct outbox *ob;
    const char *sink;
    unsigned rng;
    /* script */
    int busy_every;          /* every Nth submit answers SINK_BUSY (0: never) */
    int64_t fail_seq;        /* submits of this seq fail fail_times times */
    int fail_times;
    int64_t replay_after;    /* once this many records are delivered, drop in-flight */
    int64_t dead_seqs[4];    /* records given up on */
    /* state */
    int submits;
    int64_t max_submitted;
    bool submitted[MAX_SEQ], done[MAX_SEQ];
    int deliveries[MAX_SEQ];
    int64_t last_submitted;  /* order check */
    int order_violations;
    int64_t pending[MAX_SEQ];
    int pending_count;
    int64_t done_seq;
    int64_t delivered_total;
    bool replay_pending, replayed;
    int cursor_violations;
    struct relay_event *dead_events[4];
};

static bool is_dead_seq(const struct test_engine *e, int64_t seq)
{
    for (int i = 0; i < 4; i++)
        if (e->dead_seqs[i] == seq)
            return true;
    return false;
}

/* Highest S such that every submitted record <= S is done (the engine's contract). */
static int64_t contiguous_done(const struct test_engine *e)
{
    int64_t s = e->done_seq;
    while (s + 1 <= e->max_submitted && (!e->submitted[s + 1] || e->done[s + 1]))
        s++;
    return s;
}

static void check_cursor(struct test_engine *e)
{
    /* Truly done: delivered, or never submitted because filtered (submitted == false
     * below max_submitted). The stored and posted cursors may not pass the first
     * submitted-but-undone record. */
    int64_t first_undone = MAX_SEQ;
    for (int64_t s = 1; s <= e->max_submitted; s++)
        if (e->submitted[s] && !e->done[s]) {
            first_undone = s;
            break;
        }
    struct sink_runner_metrics m;
    sink_runner_get_metrics(e->runner, &m);
    int64_t stored = 0;
    char err[256];
    outbox_sink_cursor(e->ob, e->sink, &stored, err, sizeof err);
    if (m.cursor >= first_undone || stored >= first_undone) {
        e->cursor_violations++;
        printf("# cursor %lld / stored %lld passed undone seq %lld\n", (long long)m.cursor,
               (long long)stored, (long long)first_undone);
    }
}

static enum sink_submit_result engine_submit(void *opaque, int64_t seq,
                                             const struct relay_event *event, char *errstr,
                                             size_t errstr_size)
{
    struct test_engine *e = opaque;
    check_cursor(e);
    if (seq <= 0 || seq >= MAX_SEQ) {
        snprintf(errstr, errstr_size, "seq out of range");
        return SINK_FAILED;
    }
    e->submits++;
    if (e->busy_every && e->submits % e->busy_every == 0)
        return SINK_BUSY;
    if (seq == e->fail_seq && e->fail_times > 0) {
        e->fail_times--;
        snprintf(errstr, errstr_size, "test engine: endpoint unavailable");
        return SINK_FAILED;
    }
    if (seq <= e->last_submitted && !e->replayed)
        e->order_violations++;
    e->last_submitted = seq;
    char expected_id[32];
    snprintf(expected_id, sizeof expected_id, "ev-%lld", (long long)seq);
    if (strcmp(event->id, expected_id) != 0)
        e->order_violations++;
    e->submitted[seq] = true;
    e->done[seq] = false;
    if (seq > e->max_submitted)
        e->max_submitted = seq;
    e->pending[e->pending_count++] = seq;
    return SINK_ACCEPTED;
}

static int64_t engine_poll(void *opaque, int timeout_ms)
{
    struct test_engine *e = opaque;
    check_cursor(e);
    /* Finish a random subset of what is pending: out of order on purpose. */
    for (int i = 0; i < e->pending_count;) {
        e->rng = e->rng * 1103515245u + 12345u;
        if ((e->rng >> 16) % 3 == 0) {
            i++;
            continue;
        }
        int64_t seq = e->pending[i];
        e->pending[i] = e->pending[--e->pending_count];
        if (is_dead_seq(e, seq)) {
            /* The runner hands the record to the outbox; we pass a copy we own. */
            char id[32];
            snprintf(id, sizeof id, "ev-%lld", (long long)seq);
            struct relay_event *copy = relay_event_create(
                id, "cx.outbound.campaign.progress", "", "", 0, EVENT_FAMILY_STATE, "{}");
            sink_runner_dead_letter(e->runner, seq, copy, "test engine gave up");
            relay_event_free(copy);
        }
        e->done[seq] = true;
        e->deliveries[seq]++;
        e->delivered_total++;
    }
    int64_t done = contiguous_done(e);
    e->done_seq = done;
    if (e->replay_after && !e->replayed && e->delivered_total >= e->replay_after) {
        /* Drop everything in flight, as a rebuilt producer would. */
        for (int i = 0; i < e->pending_count; i++)
            e->submitted[e->pending[i]] = false;
        e->pending_count = 0;
        e->max_submitted = done;
        e->replay_pending = e->replayed = true;
    }
    if (timeout_ms > 0 && e->pending_count == 0)
        usleep((useconds_t)(timeout_ms < 5 ? timeout_ms : 5) * 1000);
    return done > 0 ? done : -1;
}

static bool engine_needs_replay(void *opaque)
{
    struct test_engine *e = opaque;
    bool replay = e->replay_pending;
    e->replay_pending = false;
    return replay;
}

static void engine_destroy(void *opaque) { (void)opaque; }

static const struct sink_ops test_ops = {
    .kind = "test", .submit = engine_submit, .poll = engine_poll,
    .needs_replay = engine_needs_replay, .destroy = engine_destroy,
};

static bool skip_filtered(void *ctx, const struct relay_event *event)
{
    (void)ctx;
    return strcmp(event->subject, "skip") != 0;
}

static char tmpdir[256];
static int db_counter;

static struct outbox *open_outbox(char *path, size_t size)
{
    snprintf(path, size, "%s/runner-%d.db", tmpdir, ++db_counter);
    char err[512];
    struct outbox_options opts = {.path = path, .commit_interval_ms = 2,
                                  .maintain_interval_ms = 50};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob)
        printf("# %s\n", err);
    return ob;
}

static void append_events(struct outbox *ob, int from, int to, int skip_every)
{
    char err[512];
    for (int n = from; n <= to; n++) {
        char id[32], data[64];
        snprintf(id, sizeof id, "ev-%d", n);
        snprintf(data, sizeof data, "{\"n\":%d}", n);
        const char *subject = skip_every && n % skip_every == 0 ? "skip" : "camp";
        struct relay_event *ev = relay_event_create(id, "cx.outbound.campaign.progress", "s",
                                                    subject, n, EVENT_FAMILY_STATE, data);
        if (outbox_append(ob, ev, NULL, NULL, err, sizeof err) != OUTBOX_OK)
            printf("# append: %s\n", err);
        relay_event_free(ev);
    }
    outbox_flush(ob, err, sizeof err);
}

/* Plays the relay's writer until the runner's cursor reaches target. */
static bool pump_until(struct outbox *ob, struct sink_runner *runner, int64_t target,
                       int timeout_ms)
{
    char err[512];
    int64_t end = time_mono_ms() + timeout_ms;
    struct sink_runner_metrics m;
    do {
        outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
        sink_runner_get_metrics(runner, &m);
        if (m.cursor >= target)
            break;
        usleep(2000);
    } while (time_mono_ms() < end);
    outbox_flush(ob, err, sizeof err);
    return m.cursor >= target;
}

static struct sink_runner *make_runner(struct outbox *ob, struct test_engine *e,
                                       sink_runner_wants_fn wants)
{
    char err[512];
    struct sink_runner_options opts = {.name = "test", .wants = wants, .fetch_batch = 64,
                                       .max_in_flight = 200, .backoff_base_ms = 20,
                                       .backoff_max_ms = 100, .busy_wait_ms = 2};
    struct sink_runner *runner = sink_runner_create(ob, &opts, err, sizeof err);
    if (!runner) {
        printf("# %s\n", err);
        return NULL;
    }
    e->runner = runner;
    e->ob = ob;
    e->sink = "test";
    return runner;
}

static int delivered_once_count(const struct test_engine *e, int from, int to, int skip_every)
{
    int ok = 0;
    for (int n = from; n <= to; n++) {
        bool wanted = !(skip_every && n % skip_every == 0);
        ok += wanted ? e->deliveries[n] >= 1 : e->deliveries[n] == 0;
    }
    return ok;
}

static void test_out_of_order_acks_and_filter(void)
{
    char path[300], err[512];
    struct outbox *ob = open_outbox(path, sizeof path);
    REQUIRE(ob != NULL);
    static struct test_engine e;
    memset(&e, 0, sizeof e);
    e.rng = 7;
    struct sink_runner *runner = make_runner(ob, &e, skip_filtered);
    REQUIRE(runner != NULL);
    append_events(ob, 1, 2000, 4);
    REQUIRE(sink_runner_start(runner, &test_ops, &e, err, sizeof err) == 0);
    CHECK(pump_until(ob, runner, 2000, 20000));
    sink_runner_stop(runner, 1000);
    struct sink_runner_metrics m;
    sink_runner_get_metrics(runner, &m);
    CHECK_EQ_INT(m.cursor, 2000);
    CHECK_EQ_INT(m.lag, 0);
    CHECK_EQ_INT(m.filtered, 500);
    CHECK_EQ_INT(m.delivered, 1500);
    CHECK_EQ_INT(e.cursor_violations, 0);
    CHECK_EQ_INT(e.order_violations, 0);
    CHECK_EQ_INT(delivered_once_count(&e, 1, 2000, 4), 2000);
    outbox_flush(ob, err, sizeof err);
    int64_t stored = 0;
    CHECK_EQ_INT(outbox_sink_cursor(ob, "test", &stored, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(stored, 2000);
    sink_runner_destroy(runner);
    outbox_destroy(ob);
}

static void test_busy_and_failures_back_off_then_deliver(void)
{
    char path[300], err[512];
    struct outbox *ob = open_outbox(path, sizeof path);
    REQUIRE(ob != NULL);
    static struct test_engine e;
    memset(&e, 0, sizeof e);
    e.rng = 11;
    e.busy_every = 7;
    e.fail_seq = 50;
    e.fail_times = 4;
    struct sink_runner *runner = make_runner(ob, &e, NULL);
    REQUIRE(runner != NULL);
    append_events(ob, 1, 300, 0);
    int64_t start = time_mono_ms();
    REQUIRE(sink_runner_start(runner, &test_ops, &e, err, sizeof err) == 0);
    CHECK(pump_until(ob, runner, 300, 20000));
    int64_t took = time_mono_ms() - start;
    sink_runner_stop(runner, 1000);
    struct sink_runner_metrics m;
    sink_runner_get_metrics(runner, &m);
    CHECK_EQ_INT(m.cursor, 300);
    CHECK_EQ_INT(m.submit_failed, 4);
    CHECK(m.submit_busy > 0);
    CHECK(!m.failing);
    CHECK_EQ_INT(e.fail_times, 0);
    CHECK_EQ_INT(e.cursor_violations, 0);
    CHECK_EQ_INT(e.order_violations, 0);
    CHECK_EQ_INT(delivered_once_count(&e, 1, 300, 0), 300);
    /* Four failures wait under ceilings 20+40+80+100 ms: bounded, never a storm. */
    CHECK_MSG(took < 5000, "took %lld ms", (long long)took);
    sink_runner_destroy(runner);
    outbox_destroy(ob);
}

static void test_replay_offers_again_from_the_done_point(void)
{
    char path[300], err[512];
    struct outbox *ob = open_outbox(path, sizeof path);
    REQUIRE(ob != NULL);
    static struct test_engine e;
    memset(&e, 0, sizeof e);
    e.rng = 3;
    e.replay_after = 150;
    struct sink_runner *runner = make_runner(ob, &e, NULL);
    REQUIRE(runner != NULL);
    append_events(ob, 1, 600, 0);
    REQUIRE(sink_runner_start(runner, &test_ops, &e, err, sizeof err) == 0);
    CHECK(pump_until(ob, runner, 600, 20000));
    sink_runner_stop(runner, 1000);
    struct sink_runner_metrics m;
    sink_runner_get_metrics(runner, &m);
    CHECK_EQ_INT(m.replays, 1);
    CHECK(e.replayed);
    CHECK_EQ_INT(m.cursor, 600);
    CHECK_EQ_INT(e.cursor_violations, 0);
    CHECK_EQ_INT(e.order_violations, 0); /* same ids at the same seqs after the rewind */
    CHECK_EQ_INT(delivered_once_count(&e, 1, 600, 0), 600);
    sink_runner_destroy(runner);
    outbox_destroy(ob);
}

struct dl_seen {
    int count;
    char reasons[4][64];
};

static void collect_dl(void *opaque, const struct outbox_dead_letter *letter)
{
    struct dl_seen *seen = opaque;
    if (seen->count < 4)
        snprintf(seen->reasons[seen->count], 64, "%s/%s/%s", letter->sink, letter->event_id,
                 letter->reason);
    seen->count++;
}

static void test_dead_letters_are_stored_and_alerted(void)
{
    char path[300], err[512];
    struct outbox *ob = open_outbox(path, sizeof path);
    REQUIRE(ob != NULL);
    static struct test_engine e;
    memset(&e, 0, sizeof e);
    e.rng = 5;
    e.dead_seqs[0] = 10;
    e.dead_seqs[1] = 20;
    struct outbox_reader *watcher = outbox_reader_create(ob, "watcher", err, sizeof err);
    REQUIRE(watcher != NULL);
    struct sink_runner *runner = make_runner(ob, &e, NULL);
    REQUIRE(runner != NULL);
    append_events(ob, 1, 40, 0);
    REQUIRE(sink_runner_start(runner, &test_ops, &e, err, sizeof err) == 0);
    CHECK(pump_until(ob, runner, 42, 20000)); /* the 40 and the two alerts */
    sink_runner_stop(runner, 1000);
    outbox_flush(ob, err, sizeof err);
    struct sink_runner_metrics m;
    sink_runner_get_metrics(runner, &m);
    CHECK_EQ_INT(m.dead_lettered, 2);

    struct dl_seen seen = {0};
    CHECK_EQ_INT(outbox_dead_letter_list(ob, collect_dl, &seen, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(seen.count, 2);
    /* The engine finishes out of order, so either may have died first. */
    bool ten_first = strcmp(seen.reasons[0], "test/ev-10/test engine gave up") == 0;
    CHECK_EQ_STR(seen.reasons[ten_first ? 0 : 1], "test/ev-10/test engine gave up");
    CHECK_EQ_STR(seen.reasons[ten_first ? 1 : 0], "test/ev-20/test engine gave up");

    struct outbox_record recs[64];
    int n = 0;
    CHECK_EQ_INT(outbox_reader_fetch(watcher, 40, 64, recs, &n, err, sizeof err), OUTBOX_OK);
    CHECK_EQ_INT(n, 2);
    const char *facts[] = {"alert.dead_letter", "test", "ev-10"};
    char expected_id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 3, expected_id);
    if (n == 2) {
        int i = ten_first ? 0 : 1;
        CHECK_EQ_STR(recs[1 - i].event->type, "cx.outbound.alert.dead_letter");
        CHECK_EQ_STR(recs[i].event->type, "cx.outbound.alert.dead_letter");
        CHECK_EQ_STR(recs[i].event->id, expected_id);
        CHECK_EQ_INT(recs[i].event->family, EVENT_FAMILY_ALERT);
        cJSON *data = cJSON_Parse(recs[i].event->data);
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "sink")), "test");
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "eventId")), "ev-10");
        CHECK_EQ_STR(cJSON_GetStringValue(cJSON_GetObjectItem(data, "reason")),
                     "test engine gave up");
        cJSON_Delete(data);
    }
    outbox_records_free(recs, n);
    outbox_reader_destroy(watcher);
    sink_runner_destroy(runner);
    outbox_destroy(ob);
}

static void test_restart_resumes_after_the_cursor_and_stop_drains(void)
{
    char path[300], err[512];
    struct outbox *ob = open_outbox(path, sizeof path);
    REQUIRE(ob != NULL);
    static struct test_engine first, second;
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    first.rng = second.rng = 9;
    append_events(ob, 1, 500, 0);
    struct sink_runner *runner = make_runner(ob, &first, NULL);
    REQUIRE(runner != NULL);
    REQUIRE(sink_runner_start(runner, &test_ops, &first, err, sizeof err) == 0);
    CHECK(pump_until(ob, runner, 200, 20000));
    sink_runner_stop(runner, 0); /* no grace: stops wherever it is */
    struct sink_runner_metrics m;
    sink_runner_get_metrics(runner, &m);
    int64_t cursor = m.cursor;
    sink_runner_destroy(runner);
    outbox_flush(ob, err, sizeof err);
    outbox_destroy(ob);

    /* A new process: the same file, a fresh runner. */
    char reopen_err[512];
    struct outbox_options opts = {.path = path, .commit_interval_ms = 2,
                                  .maintain_interval_ms = 50};
    ob = outbox_create(&opts, reopen_err, sizeof reopen_err);
    REQUIRE(ob != NULL);
    append_events(ob, 501, 700, 0);
    runner = make_runner(ob, &second, NULL);
    REQUIRE(runner != NULL);
    REQUIRE(sink_runner_start(runner, &test_ops, &second, err, sizeof err) == 0);
    /* Stop with a grace period right away: the runner must drain all 700 first. */
    sink_runner_stop(runner, 15000);
    sink_runner_get_metrics(runner, &m);
    CHECK_EQ_INT(m.cursor, 700);
    int before = 0, after = 0;
    for (int n = 1; n <= 700; n++) {
        if (n <= cursor)
            before += second.deliveries[n];
        else
            after += second.deliveries[n] >= 1 || first.deliveries[n] >= 1;
    }
    CHECK_EQ_INT(before, 0);                /* nothing at or below the cursor again */
    CHECK_EQ_INT(after, 700 - (int)cursor); /* everything after it, at least once */
    CHECK_EQ_INT(second.cursor_violations + first.cursor_violations, 0);
    sink_runner_destroy(runner);
    outbox_destroy(ob);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_sink_runner.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    RUN(test_out_of_order_acks_and_filter);
    RUN(test_busy_and_failures_back_off_then_deliver);
    RUN(test_replay_offers_again_from_the_done_point);
    RUN(test_dead_letters_are_stored_and_alerted);
    RUN(test_restart_resumes_after_the_cursor_and_stop_drains);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return harness_finish();
}
