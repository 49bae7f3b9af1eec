/*
 * Recovery after a crash: an outbox holds EVENTS committed events no sink delivered
 * (what a relay killed with -9 in front of a stalled Kafka leaves behind); a fresh
 * process opens it, starts the Kafka sink runner and this measures the time until
 * the Kafka cursor reaches the last event, i.e. until every event has a delivery
 * report with acks=all.
 *
 *   bench_drain --bootstrap HOST:PORT [--events N] [--linger-ms MS]
 *
 * The events mirror the relay's load mix: every other one an audit.notification
 * (~1.9 KB of data, one ordering lane), the rest campaign.progress (~350 B) keyed
 * over 1,000 campaigns. Prints
 *   drain: N events in S s (R events/s), fill F s
 * Files go to a temporary directory that is removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publishers/kafka_sink.h"
#include "publishers/outbox.h"
#include "publishers/sink_runner.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define DRAIN_CAMPAIGNS 1000
#define DRAIN_TIMEOUT_MS 120000

static struct relay_event *drain_event(int n)
{
    char id[40], subject[48];
    snprintf(id, sizeof id, "%032x", n);
    snprintf(subject, sizeof subject, "%08x-3b7e-4c1d-9e55-%012x", (unsigned)(n / 2) %
             DRAIN_CAMPAIGNS * 2654435761u, (n / 2) % DRAIN_CAMPAIGNS);
    struct strbuf data;
    strbuf_init(&data);
    struct relay_event *event;
    if (n % 2 == 0) {
        strbuf_appendf(&data, "{\"campaignId\":\"%s\",\"numberOfContactsCalled\":%d,"
                       "\"numberOfContactsMessaged\":0,\"totalNumberOfContacts\":2000000000,"
                       "\"percentage\":0,\"observedAt\":\"2026-11-22T14:00:00.000Z\","
                       "\"origin\":\"stream\",\"correlationId\":"
                       "\"00000000-0000-4000-8000-%012x\"}", subject, n, n);
        event = relay_event_create(id, "cx.outbound.campaign.progress",
                                   "genesys-cloud://mypurecloud.com/outbound/campaigns/x",
                                   subject, 1795356332000LL + n, EVENT_FAMILY_STATE,
                                   strbuf_cstr(&data));
    } else {
        strbuf_appendf(&data, "{\"topic\":\"v2.outbound.campaigns.%s\",\"correlationId\":"
                       "\"00000000-0000-4000-8000-%012x\",\"receivedAt\":"
                       "\"2026-11-22T14:00:00.000Z\",\"notification\":{\"padding\":\"", subject,
                       n);
        for (int i = 0; i < 1600; i++)
            strbuf_append_char(&data, (char)('a' + i % 26));
        strbuf_appendf(&data, "\"},\"prevHash\":\"%064d\",\"hash\":\"%064d\"}", 0, n);
        event = relay_event_create(id, "cx.outbound.audit.notification",
                                   "genesys-cloud://mypurecloud.com/notifications", "",
                                   1795356332000LL + n, EVENT_FAMILY_AUDIT, strbuf_cstr(&data));
    }
    strbuf_free(&data);
    return event;
}

static struct outbox *open_outbox(const char *path)
{
    char err[512];
    struct outbox_options opts = {.path = path, .commit_interval_ms = 20,
                                  .commit_max_events = 1000};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    if (!ob) {
        fprintf(stderr, "bench_drain: %s\n", err);
        exit(1);
    }
    return ob;
}

static double fill(const char *path, int events)
{
    int64_t start = time_mono_us();
    struct outbox *ob = open_outbox(path);
    char err[512];
    /* The sink exists before the crash: its cursor is at 0, so nothing can be pruned. */
    struct outbox_reader *reader = outbox_reader_create(ob, "kafka", err, sizeof err);
    if (!reader) {
        fprintf(stderr, "bench_drain: %s\n", err);
        exit(1);
    }
    outbox_reader_destroy(reader);
    for (int i = 0; i < events; i++) {
        struct relay_event *event = drain_event(i);
        if (outbox_append(ob, event, NULL, NULL, err, sizeof err) != OUTBOX_OK) {
            fprintf(stderr, "bench_drain: %s\n", err);
            exit(1);
        }
        relay_event_free(event);
        if (i % 100 == 0)
            outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
    }
    if (outbox_flush(ob, err, sizeof err) != OUTBOX_OK) {
        fprintf(stderr, "bench_drain: %s\n", err);
        exit(1);
    }
    outbox_destroy(ob);
    return (double)(time_mono_us() - start) / 1e6;
}

static double drain(const char *path, const char *bootstrap, const char *linger_ms, int events)
{
    int64_t start = time_mono_us();
    struct outbox *ob = open_outbox(path);
    char err[512];
    struct sink_runner_options ropts = {.name = "kafka"};
    struct sink_runner *runner = sink_runner_create(ob, &ropts, err, sizeof err);
    struct kafka_sink_property properties[] = {{"linger.ms", linger_ms}};
    struct kafka_sink_options kopts = {
        .brokers = bootstrap,
        .topics = {[EVENT_FAMILY_STATE] = "campaign-relay.state",
                   [EVENT_FAMILY_ALERT] = "campaign-relay.alerts",
                   [EVENT_FAMILY_AUDIT] = "campaign-relay.audit"},
        .properties = properties,
        .property_count = 1,
    };
    struct kafka_sink *sink = runner ? kafka_sink_create(&kopts, err, sizeof err) : NULL;
    if (!sink || sink_runner_start(runner, &kafka_sink_ops, sink, err, sizeof err)) {
        fprintf(stderr, "bench_drain: %s\n", err);
        exit(1);
    }
    struct sink_runner_metrics metrics;
    int64_t deadline = time_mono_ms() + DRAIN_TIMEOUT_MS;
    do {
        usleep(1000);
        outbox_flush_due(ob, time_mono_ms(), err, sizeof err);
        sink_runner_get_metrics(runner, &metrics);
    } while (metrics.cursor < events && time_mono_ms() < deadline);
    double seconds = (double)(time_mono_us() - start) / 1e6;
    sink_runner_destroy(runner);
    outbox_destroy(ob);
    if (metrics.cursor < events) {
        fprintf(stderr, "bench_drain: only %lld of %d events delivered in %d s\n",
                (long long)metrics.cursor, events, DRAIN_TIMEOUT_MS / 1000);
        exit(1);
    }
    return seconds;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *linger_ms = "5";
    int events = 100000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--bootstrap") == 0)
            bootstrap = argv[i + 1];
        else if (strcmp(argv[i], "--events") == 0)
            events = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--linger-ms") == 0)
            linger_ms = argv[i + 1];
        else
            bootstrap = NULL, i = argc;
    }
    if (!bootstrap || events <= 0 || argc % 2 == 0) {
        fprintf(stderr, "usage: bench_drain --bootstrap HOST:PORT [--events N] "
                        "[--linger-ms MS]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char dir[] = "/tmp/bench_drain.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[300];
    snprintf(path, sizeof path, "%s/outbox.db", dir);
    double fill_s = fill(path, events);
    double drain_s = drain(path, bootstrap, linger_ms, events);
    printf("drain: %d events in %.2f s (%.0f events/s), fill %.2f s\n", events, drain_s,
           events / drain_s, fill_s);
    char cmd[340];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
