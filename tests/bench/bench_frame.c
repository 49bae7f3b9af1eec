/*
 * CPU per notification of the work done before a frame reaches the outbox: decoding
 * it, building its audit event (data and id) and laying that out for the hash chain.
 * The mix is the throughput benchmark's: a fifth ~1.8 KB campaign notifications, the
 * rest ~0.5 KB progress notifications. Each figure is the median of five passes.
 *
 *   build/bench/bench_frame [FRAMES]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/decode.h"
#include "publishers/audit.h"
#include "publishers/events.h"
#include "util/json_arena.h"
#include "util/strbuf.h"

#ifndef FIXTURES
#define FIXTURES "tests/data/notifications/"
#endif

/* The whole fixture, without its final newline (frames carry none). */
static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_frame: cannot open %s (run from the repository root)\n", path);
        exit(1);
    }
    struct strbuf text;
    strbuf_init(&text);
    int status = strbuf_append_stream(&text, f, 0);
    fclose(f);
    if (status != 0) {
        fprintf(stderr, "bench_frame: cannot read %s\n", path);
        exit(1);
    }
    while (text.len > 0 && (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == '\r'))
        text.data[--text.len] = '\0';
    if (text.len == 0) {
        fprintf(stderr, "bench_frame: %s is empty\n", path);
        exit(1);
    }
    *len = text.len;
    return strbuf_detach(&text);
}

/* STAGE_SEAL is part of STAGE_AUDIT, timed on its own for the breakdown. */
enum stage { STAGE_DECODE, STAGE_AUDIT, STAGE_SEAL, STAGE_COUNT };

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long frames = argc > 1 ? atol(argv[1]) : 200000;
    if (frames <= 0) {
        fprintf(stderr, "usage: bench_frame [FRAMES]\n");
        return 2;
    }
    json_arena_install();
    struct json_arena *arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    struct events_builder *builder = events_builder_create(NULL, "mypurecloud.com");
    size_t config_len, progress_len;
    char *config = read_fixture("campaign_full.json", &config_len);
    char *progress = read_fixture("progress.json", &progress_len);

    enum { PASSES = 5 };
    double per_frame[STAGE_COUNT][PASSES];
    for (int pass = 0; pass < PASSES; pass++) {
        int64_t spent[STAGE_COUNT] = {0};
        for (long i = 0; i < frames; i++) {
            bool is_config = i % 5 == 0;
            const char *text = is_config ? config : progress;
            size_t len = is_config ? config_len : progress_len;
            char errstr[256];
            struct notification n;
            int64_t t0 = now_ns();
            cJSON *tree = NULL;
            if (decode_notification_keep(arena, text, len, &n, &tree, errstr, sizeof errstr) !=
                0) {
                fprintf(stderr, "bench_frame: decode failed: %s\n", errstr);
                return 1;
            }
            int64_t t1 = now_ns();
            struct audit_notification audit = {
                .topic = n.topic,
                .raw = text,
                .raw_len = len,
                .received_ms = 1700000000000 + i,
                .correlation_id = n.correlation_id,
                .raw_tree = tree,
            };
            struct relay_event *event =
                events_audit_decoded_notification(builder, &audit, errstr, sizeof errstr);
            int64_t t2 = now_ns();
            if (!event || !event->seal) {
                fprintf(stderr, "bench_frame: audit failed: %s\n", errstr);
                return 1;
            }
            /* The layout alone, again, for the breakdown (not in the total). */
            struct audit_seal_prep *prep = audit_seal_prepare_tree(
                event->data, "notification", len, tree, errstr, sizeof errstr);
            int64_t t3 = now_ns();
            if (!prep) {
                fprintf(stderr, "bench_frame: seal layout failed: %s\n", errstr);
                return 1;
            }
            spent[STAGE_DECODE] += t1 - t0;
            spent[STAGE_AUDIT] += t2 - t1;
            spent[STAGE_SEAL] += t3 - t2;
            audit_seal_prep_free(prep);
            json_arena_release(arena, tree);
            relay_event_free(event);
            notification_clear(&n);
        }
        for (int s = 0; s < STAGE_COUNT; s++)
            per_frame[s][pass] = (double)spent[s] / (double)frames;
    }
    double median[STAGE_COUNT];
    for (int s = 0; s < STAGE_COUNT; s++) {
        qsort(per_frame[s], PASSES, sizeof per_frame[s][0], compare_double);
        median[s] = per_frame[s][PASSES / 2];
    }
    printf("frame preparation: %.0f ns per notification (decode %.0f, audit event %.0f of "
           "which seal layout %.0f)\n",
           median[STAGE_DECODE] + median[STAGE_AUDIT], median[STAGE_DECODE],
           median[STAGE_AUDIT], median[STAGE_SEAL]);

    free(config);
    free(progress);
    events_builder_destroy(builder);
    json_arena_destroy(arena);
    return 0;
}
