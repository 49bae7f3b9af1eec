/* Outbox throughput on this machine:
 *   1. append + group commit, synchronous=FULL and NORMAL (events/s)
 *   2. read + cursor ack by one reader (events/s)
 *   3. drain of a backlog after a restart: a fresh outbox handle, a sink runner and the
 *      file sink (fdatasync per batch) deliver every pending event (seconds)
 * Usage: bench_outbox [EVENTS] (default 200000). Files go to a temp dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publishers/file_sink.h"
#include "publishers/outbox.h"
#include "publishers/sink_runner.h"
#include "util/log.h"
#include "util/timeutil.h"

static struct relay_event *bench_event(int n)
{
    char id[40], data[256];
    snprintf(id, sizeof id, "%032x", n);
    snprintf(data, sizeof data,
             "{\"campaignId\":\"c-%d\",\"previous\":{\"raw\":\"on\",\"state\":\"RUNNING\"},"
             "\"current\":{\"raw\":\"stopping\",\"state\":\"STOPPING\"},\"version\":%d,"
             "\"dialingMode\":\"predictive\",\"origin\":\"stream\"}",
             n % 500, n);
    char subject[16];
    snprintf(subject, sizeof subject, "c-%d", n % 500);
    return relay_event_create(id, "cx.outbound.campaign.state_changed",
                              "genesys-cloud://mypurecloud.com/outbound/campaigns/c",
                              subject, 1700000000000 + n, EVENT_FAMILY_STATE, data);
}

static struct outbox *open_outbox(const char *path, bool normal)
{
    char err[512];
    struct outbox_options opts = {.path = path, .commit_interval_ms = 20,
                                  .commit_max_events = 1000, .synchronous_full = !normal};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob) {
        fprintf(stderr, "bench_outbox: %s\n", err);
        exit(1);
    }
    return ob;
}

static double append_rate(const char *path, int events, bool normal)
{
    struct outbox *ob = open_outbox(path, normal);
    struct relay_event **evs = malloc(sizeof *evs * (size_t)events);
    for (int i = 0; i < events; i++)
        evs[i] = bench_event(i);
    char err[512];
    int64_t start = time_mono_us();
    for (int i = 0; i < events; i++) {
        if (outbox_append(ob, evs[i], NULL, NULL, err, sizeof err) != OUTBOX_OK) {
            fprintf(stderr, "bench_outbox: %s\n", err);
            exit(1);
        }
        if (i % 100 == 0)
            outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
    }
    outbox_flush(ob, err, sizeof err);
    double secs = (double)(time_mono_us() - start) / 1e6;
    for (int i = 0; i < events; i++)
        relay_event_free(evs[i]);
    free(evs);
    outbox_destroy(ob);
    return events / secs;
}

static double read_ack_rate(const char *path, int events)
{
    struct outbox *ob = open_outbox(path, false);
    char err[512];
    struct outbox_reader *reader = outbox_reader_create(ob, "bench-reader", err, sizeof err);
    static struct outbox_record recs[1000];
    int64_t after = 0, total = 0;
    int64_t start = time_mono_us();
    for (;;) {
        int n = 0;
        outbox_reader_fetch(reader, after, 1000, recs, &n, err, sizeof err);
        if (n == 0)
            break;
        after = recs[n - 1].seq;
        total += n;
        outbox_records_free(recs, n);
        outbox_reader_set_cursor(reader, after, err, sizeof err);
        outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
    }
    outbox_flush(ob, err, sizeof err);
    double secs = (double)(time_mono_us() - start) / 1e6;
    if (total != events)
        fprintf(stderr, "bench_outbox: read %lld of %d\n", (long long)total, events);
    outbox_reader_destroy(reader);
    outbox_unregister_sink(ob, "bench-reader", err, sizeof err);
    outbox_destroy(ob);
    return total / secs;
}

static double drain_seconds(const char *path, const char *jsonl, int events)
{
    int64_t start = time_mono_us();
    struct outbox *ob = open_outbox(path, false);
    char err[512];
    struct sink_runner_options ropts = {.name = "file"};
    struct sink_runner *runner = sink_runner_create(ob, &ropts, err, sizeof err);
    struct file_sink_options fopts = {.path = jsonl, .max_bytes = 1LL << 30};
    struct file_sink *sink = file_sink_create(&fopts, err, sizeof err);
    if (!runner || !sink || sink_runner_start(runner, &file_sink_ops, sink, err, sizeof err)) {
        fprintf(stderr, "bench_outbox: %s\n", err);
        exit(1);
    }
    struct sink_runner_metrics m;
    do {
        usleep(1000);
        outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
        sink_runner_get_metrics(runner, &m);
    } while (m.cursor < events);
    double secs = (double)(time_mono_us() - start) / 1e6;
    sink_runner_destroy(runner);
    outbox_destroy(ob);
    return secs;
}

int main(int argc, char **argv)
{
    int events = argc > 1 ? atoi(argv[1]) : 200000;
    if (events <= 0)
        events = 200000;
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/bench_outbox.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char full[300], normal[300], jsonl[300];
    snprintf(full, sizeof full, "%s/full.db", dir);
    snprintf(normal, sizeof normal, "%s/normal.db", dir);
    snprintf(jsonl, sizeof jsonl, "%s/events.jsonl", dir);

    printf("outbox append+commit, synchronous=FULL:   %9.0f events/s (%d events)\n",
           append_rate(full, events, false), events);
    printf("outbox append+commit, synchronous=NORMAL: %9.0f events/s (%d events)\n",
           append_rate(normal, events, true), events);
    printf("outbox read+ack, one reader:              %9.0f events/s\n",
           read_ack_rate(full, events));
    int backlog = events < 100000 ? events : 100000;
    char drain_db[300];
    snprintf(drain_db, sizeof drain_db, "%s/drain.db", dir);
    append_rate(drain_db, backlog, false);
    printf("restart drain to the file sink:           %9.2f s for %d pending events\n",
           drain_seconds(drain_db, jsonl, backlog), backlog);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
