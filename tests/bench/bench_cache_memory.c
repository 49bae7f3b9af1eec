/*
 * Memory of the campaign cache alone: CAMPAIGNS distinct campaigns, each decoded from
 * the full ~1.8 KB campaign notification of tests/data (its ids rewritten per
 * campaign) and applied to a cache, as the stream and reconciliation would fill it.
 * Prints the process's peak resident set (VmHWM) before and after, so a fresh process
 * per size gives the cache's own share.
 *
 *   build/bench/bench_cache_memory CAMPAIGNS      (run from the repository root)
 *
 * Output: "cache_memory: N campaigns, VmHWM before B KiB, after A KiB, X bytes/campaign"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/cache.h"
#include "consumer/decode.h"

#define FRAME_PATH "tests/data/notifications/campaign_full.json"
#define FRAME_CAMPAIGN_ID "8a9f2c61-3b7e-4c1d-9e55-0f4b2a7d6c10"

static long peak_rss_kib(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (status)
        fclose(status);
    return kib;
}

/* Rewrites every occurrence of the frame's campaign id with the i-th campaign's. */
static void rewrite_ids(char *frame, int i)
{
    char id[sizeof FRAME_CAMPAIGN_ID];
    snprintf(id, sizeof id, "%08x-3b7e-4c1d-9e55-%012x", (unsigned)i * 2654435761u, i);
    for (char *p = strstr(frame, FRAME_CAMPAIGN_ID); p; p = strstr(p, FRAME_CAMPAIGN_ID))
        memcpy(p, id, sizeof FRAME_CAMPAIGN_ID - 1);
}

int main(int argc, char **argv)
{
    long campaigns = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    if (campaigns <= 0) {
        fprintf(stderr, "usage: %s CAMPAIGNS\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(FRAME_PATH, "rb");
    if (!f) {
        fprintf(stderr, "bench_cache_memory: cannot open %s (run from the repository root)\n",
                FRAME_PATH);
        return 1;
    }
    static char template[8192], frame[8192];
    size_t len = fread(template, 1, sizeof template - 1, f);
    fclose(f);
    template[len] = '\0';

    struct lifecycle_map *map = lifecycle_map_create_default();
    struct cache *cache = cache_create(map);
    long before = peak_rss_kib();
    char err[256];
    for (long i = 0; i < campaigns; i++) {
        memcpy(frame, template, len + 1);
        rewrite_ids(frame, (int)i);
        struct notification note;
        if (decode_notification(frame, len, &note, err, sizeof err) != 0 || !note.campaign) {
            fprintf(stderr, "bench_cache_memory: the template does not decode: %s\n", err);
            return 1;
        }
        struct cache_change change = {0};
        cache_apply(cache, note.campaign, CACHE_ORIGIN_STREAM, i, &change);
        cache_change_clear(&change);
        notification_clear(&note);
    }
    long after = peak_rss_kib();
    if ((long)cache_count(cache) != campaigns) {
        fprintf(stderr, "bench_cache_memory: %zu campaigns cached, expected %ld\n",
                cache_count(cache), campaigns);
        return 1;
    }
    printf("cache_memory: %ld campaigns, VmHWM before %ld KiB, after %ld KiB, "
           "%.0f bytes/campaign\n",
           campaigns, before, after, (double)(after - before) * 1024.0 / (double)campaigns);
    cache_destroy(cache);
    lifecycle_map_destroy(map);
    return 0;
}
