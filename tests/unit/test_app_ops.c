/* Unit tests for the pure parts of the relay's operations code in app/: the Prometheus
 * writer, latency histograms and receipts (app/metrics.c), the sink probe's
 * bookkeeping (app/sink_probe.c), what a reload may apply (app/reload.c) and the
 * admin token comparison. app/ objects are linked into the campaign-relay binary, not
 * into libcrelay.a, so the sources are compiled in here. */
#include "app/admin.c"
#include "app/metrics.c"
#include "app/reload.c"
#include "app/sink_probe.c"

#include "config/config.h"
#include "tests/harness.h"

#define MINIMAL                                                                          \
    "platform:\n"                                                                        \
    "  api_url: http://127.0.0.1:1\n"                                                    \
    "  login_url: http://127.0.0.1:1\n"                                                  \
    "  client_id: cid\n"                                                                 \
    "  client_secret: csecret\n"

#define WHSEC "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static struct relay_config *load(const char *text)
{
    char err[4096];
    struct relay_config *cfg = config_load_buffer("relay.yaml", text, strlen(text), err,
                                                  sizeof err);
    CHECK_MSG(cfg != NULL, "%s", err);
    return cfg;
}

static void test_samples_and_escaping(void)
{
    struct strbuf out;
    strbuf_init(&out);
    metrics_family(&out, "x_total", METRICS_COUNTER, "Help with \\ and\nnewline.");
    metrics_sample(&out, "x_total", 42, "sink", "web\"hook\\a\nb", "kind", "webhook", NULL);
    metrics_sample(&out, "x_total", 0.25, NULL);
    metrics_sample(&out, "x_total", 1e20, NULL);
    CHECK_EQ_STR(strbuf_cstr(&out),
                 "# HELP x_total Help with \\\\ and\\nnewline.\n"
                 "# TYPE x_total counter\n"
                 "x_total{sink=\"web\\\"hook\\\\a\\nb\",kind=\"webhook\"} 42\n"
                 "x_total 0.25\n"
                 "x_total 1e+20\n");
    strbuf_free(&out);
}

static void test_histogram_is_cumulative(void)
{
    struct metrics_histogram h;
    memset(&h, 0, sizeof h);
    metrics_histogram_observe_us(&h, 1000);     /* exactly 1 ms: le="0.001" */
    metrics_histogram_observe_us(&h, 1001);     /* just above: le="0.0025" */
    metrics_histogram_observe_us(&h, 40000000); /* 40 s: only +Inf */
    metrics_histogram_observe_us(&h, -5);       /* clock noise counts as 0 */
    CHECK_EQ_INT(metrics_histogram_count(&h), 4);
    struct strbuf out;
    strbuf_init(&out);
    const char *labels[] = {"sink", "file"};
    metrics_histogram_write(&out, "lat_seconds", labels, 1, &h);
    const char *text = strbuf_cstr(&out);
    CHECK_CONTAINS(text, "lat_seconds_bucket{sink=\"file\",le=\"0.001\"} 2\n");
    CHECK_CONTAINS(text, "lat_seconds_bucket{sink=\"file\",le=\"0.0025\"} 3\n");
    CHECK_CONTAINS(text, "lat_seconds_bucket{sink=\"file\",le=\"30\"} 3\n");
    CHECK_CONTAINS(text, "lat_seconds_bucket{sink=\"file\",le=\"+Inf\"} 4\n");
    CHECK_CONTAINS(text, "lat_seconds_sum{sink=\"file\"} 40.002001\n");
    CHECK_CONTAINS(text, "lat_seconds_count{sink=\"file\"} 4\n");
    strbuf_free(&out);
}

static void test_receipts_forget_what_the_ring_overwrote(void)
{
    struct metrics_receipts *r = metrics_receipts_create(4);
    metrics_receipts_record(r, 1, 1000);
    metrics_receipts_record(r, 2, 2000);
    CHECK_EQ_INT(metrics_receipts_lookup(r, 1), 1000);
    CHECK_EQ_INT(metrics_receipts_lookup(r, 2), 2000);
    CHECK_EQ_INT(metrics_receipts_lookup(r, 3), -1); /* never recorded */
    metrics_receipts_record(r, 5, 5000);             /* same slot as 1 */
    CHECK_EQ_INT(metrics_receipts_lookup(r, 1), -1);
    CHECK_EQ_INT(metrics_receipts_lookup(r, 5), 5000);
    CHECK_EQ_INT(metrics_receipts_lookup(r, 0), -1);
    metrics_receipts_destroy(r);
}

/* ---- the probe, over a scripted engine ----------------------------------------------- */

struct script_engine {
    int64_t done; /* what poll() reports */
    bool replay;
    int destroyed;
    sink_dead_letter_fn dead_letter;
    void *dead_letter_opaque;
};

static enum sink_submit_result script_submit(void *engine, int64_t seq,
                                             const struct relay_event *event, char *errstr,
                                             size_t errstr_size)
{
    (void)engine;
    (void)event;
    if (seq == 99) {
        snprintf(errstr, errstr_size, "refused");
        return SINK_FAILED;
    }
    return SINK_ACCEPTED;
}

static int64_t script_poll(void *engine, int timeout_ms)
{
    struct script_engine *e = engine;
    return e->done;
}

static bool script_needs_replay(void *engine)
{
    struct script_engine *e = engine;
    bool replay = e->replay;
    e->replay = false;
    return replay;
}

static void script_destroy(void *engine)
{
    struct script_engine *e = engine;
    e->destroyed++;
}

static const struct sink_ops script_ops = {
    .kind = "script",
    .submit = script_submit,
    .poll = script_poll,
    .needs_replay = script_needs_replay,
    .destroy = script_destroy,
};

static void count_alive(void *ctx, void *engine)
{
    (void)engine;
    ++*(int *)ctx;
}

static void test_probe_tracks_outstanding_and_latency(void)
{
    struct metrics_receipts *receipts = metrics_receipts_create(64);
    struct sink_probe *probe = sink_probe_create(receipts);
    struct script_engine engine = {.done = -1};
    sink_probe_attach(probe, NULL, &script_ops, &engine);
    int64_t now_us = time_mono_us();
    metrics_receipts_record(receipts, 1, now_us - 2000000); /* received 2 s ago */
    metrics_receipts_record(receipts, 2, now_us - 2000000);
    /* seq 3 has no receipt (replayed after a restart): not measured */
    char err[64];
    for (int64_t seq = 1; seq <= 3; seq++)
        CHECK_EQ_INT(sink_probe_ops.submit(probe, seq, NULL, err, sizeof err), SINK_ACCEPTED);
    CHECK_EQ_INT(sink_probe_ops.submit(probe, 99, NULL, err, sizeof err), SINK_FAILED);
    struct sink_probe_status st;
    sink_probe_status(probe, &st);
    CHECK_EQ_INT(st.outstanding, 3);
    CHECK(st.oldest_submit_ms > 0);
    CHECK_EQ_INT(st.last_progress_ms, 0);

    CHECK_EQ_INT(sink_probe_ops.poll(probe, 0), -1);
    sink_probe_status(probe, &st);
    CHECK_EQ_INT(st.outstanding, 3);

    engine.done = 2;
    CHECK_EQ_INT(sink_probe_ops.poll(probe, 0), 2);
    sink_probe_status(probe, &st);
    CHECK_EQ_INT(st.outstanding, 1);
    CHECK(st.last_progress_ms > 0);
    const struct metrics_histogram *h = sink_probe_latency(probe);
    CHECK_EQ_INT(metrics_histogram_count(h), 2);
    CHECK_EQ_INT(atomic_load(&h->buckets[10]), 2); /* 2 s lands in le="2.5" */

    engine.done = 3;
    sink_probe_ops.poll(probe, 0);
    CHECK_EQ_INT(metrics_histogram_count(h), 2);

    CHECK_EQ_INT(sink_probe_ops.submit(probe, 4, NULL, err, sizeof err), SINK_ACCEPTED);
    engine.replay = true;
    CHECK(sink_probe_ops.needs_replay(probe));
    sink_probe_status(probe, &st);
    CHECK_EQ_INT(st.outstanding, 0);
    CHECK_EQ_INT(st.oldest_submit_ms, 0);

    int alive = 0;
    CHECK(sink_probe_with_engine(probe, count_alive, &alive));
    CHECK_EQ_INT(alive, 1);
    sink_probe_ops.destroy(probe);
    CHECK_EQ_INT(engine.destroyed, 1);
    CHECK(!sink_probe_with_engine(probe, count_alive, &alive));
    CHECK_EQ_INT(alive, 1);
    sink_probe_free(probe);
    CHECK_EQ_INT(engine.destroyed, 1);
    metrics_receipts_destroy(receipts);
}

/* ---- reload ---------------------------------------------------------------------------- */

static void test_restart_keys_name_only_what_needs_a_restart(void)
{
    struct relay_config *a = load(MINIMAL "stream:\n  ping_interval: 20s\n"
                                          "log:\n  level: info\n");
    struct relay_config *b = load("platform:\n"
                                  "  api_url: http://127.0.0.1:1\n"
                                  "  login_url: http://127.0.0.1:1\n"
                                  "  client_id: cid\n"
                                  "  client_secret: rotated\n"
                                  "stream:\n  ping_interval: 5s\n"
                                  "lifecycle:\n  tolerance:\n    predictive: 10m\n"
                                  "log:\n  level: debug\n  format: json\n"
                                  "shutdown:\n  grace: 1s\n"
                                  "sinks:\n  file:\n    path: /tmp/x.jsonl\n");
    REQUIRE(a && b);
    struct strbuf keys;
    strbuf_init(&keys);
    CHECK_EQ_INT(reload_restart_keys(a, b, &keys), 3);
    CHECK_EQ_STR(strbuf_cstr(&keys),
                 "stream.ping_interval, lifecycle.tolerance.predictive, platform.client_secret");
    strbuf_reset(&keys);
    CHECK_EQ_INT(reload_restart_keys(a, a, &keys), 0);
    CHECK_EQ_STR(strbuf_cstr(&keys), "");
    strbuf_free(&keys);
    config_destroy(a);
    config_destroy(b);
}

static void test_sink_settings_compared(void)
{
    struct relay_config *a = load(MINIMAL "sinks:\n  webhooks:\n"
                                          "    - name: w\n      url: https://a.example\n"
                                          "      secret: " WHSEC "\n"
                                          "  kafka:\n    brokers: k:9092\n"
                                          "    properties:\n      linger.ms: \"5\"\n");
    struct relay_config *b = load(MINIMAL "sinks:\n  webhooks:\n"
                                          "    - name: w\n      url: https://b.example\n"
                                          "      secret: " WHSEC "\n"
                                          "  kafka:\n    brokers: k:9092\n"
                                          "    properties:\n      linger.ms: \"10\"\n");
    REQUIRE(a && b);
    CHECK(reload_webhook_same(&a->sinks.webhooks[0], &a->sinks.webhooks[0]));
    CHECK(!reload_webhook_same(&a->sinks.webhooks[0], &b->sinks.webhooks[0]));
    CHECK(reload_kafka_same(&a->sinks.kafka, &a->sinks.kafka));
    CHECK(!reload_kafka_same(&a->sinks.kafka, &b->sinks.kafka));
    CHECK(reload_file_same(&a->sinks.file, &b->sinks.file)); /* both disabled */
    struct strbuf keys;
    strbuf_init(&keys);
    CHECK_EQ_INT(reload_restart_keys(a, b, &keys), 0); /* sinks apply live */
    strbuf_free(&keys);
    config_destroy(a);
    config_destroy(b);
}

static void test_token_comparison(void)
{
    CHECK(admin_token_matches("s3cret", "s3cret"));
    CHECK(!admin_token_matches("s3cret", "s3cre"));
    CHECK(!admin_token_matches("s3cret", "s3cret!"));
    CHECK(!admin_token_matches("s3cret", "S3cret"));
    CHECK(!admin_token_matches("s3cret", ""));
}

int main(void)
{
    RUN(test_samples_and_escaping);
    RUN(test_histogram_is_cumulative);
    RUN(test_receipts_forget_what_the_ring_overwrote);
    RUN(test_probe_tracks_outstanding_and_latency);
    RUN(test_restart_keys_name_only_what_needs_a_restart);
    RUN(test_sink_settings_compared);
    RUN(test_token_comparison);
    return harness_finish();
}
