/*
 * Throughput of cache_apply over 10,000 campaigns with a realistic update mix:
 * half the updates repeat a version already applied (reconciliation re-reading an
 * unchanged campaign, overlapping channels), a quarter change the status, a sixth
 * change configuration, and the rest arrive out of order (stale). A second figure
 * adds decoding: a full ~1.5 KB campaign notification decoded and applied.
 *
 *   build/bench/bench_cache_apply [UPDATES]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/cache.h"
#include "consumer/decode.h"
#include "util/timeutil.h"

#define CAMPAIGNS 10000
#define STATUS_CAP 24

static const char *const status_cycle[] = {"on", "stopping", "off"};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static struct campaign_update *make_campaign(int i)
{
    static const char *const modes[] = {"predictive", "progressive", "power", "preview"};
    char text[96];
    struct campaign_update *u = campaign_update_new();
    snprintf(text, sizeof text, "%08x-3b7e-4c1d-9e55-%012x", (unsigned)i * 2654435761u, i);
    u->id = strdup(text);
    snprintf(text, sizeof text, "Campaign %d", i);
    u->name = strdup(text);
    u->campaign_status = calloc(1, STATUS_CAP);
    strcpy(u->campaign_status, "on");
    u->dialing_mode = strdup(modes[i % 4]);
    snprintf(text, sizeof text, "1c2d3e4f-5a6b-4c7d-8e9f-%012x", i / 3);
    u->contact_list.id = strdup(text);
    snprintf(text, sizeof text, "4d5e6f70-8192-4a3b-bc4d-5e6f7081%04x", i % 20);
    u->division.id = strdup(text);
    u->version = 1;
    u->has_version = true;
    u->priority = 1 + i % 5;
    u->has_priority = true;
    u->config_fingerprint = (uint64_t)i;
    return u;
}

static void bench_apply(long updates)
{
    struct lifecycle_map *map = lifecycle_map_create_default();
    struct cache *cache = cache_create(map);
    struct campaign_update **campaigns = calloc(CAMPAIGNS, sizeof *campaigns);
    int *status_index = calloc(CAMPAIGNS, sizeof *status_index);
    struct cache_change change = {0};
    for (int i = 0; i < CAMPAIGNS; i++) {
        campaigns[i] = make_campaign(i);
        cache_apply(cache, campaigns[i], CACHE_ORIGIN_RECONCILE, 0, &change);
        cache_change_clear(&change);
    }
    struct mallinfo2 mem = mallinfo2();

    long kinds[6] = {0};
    int64_t start = time_mono_us();
    for (long n = 0; n < updates; n++) {
        int i = (int)(next_random() % CAMPAIGNS);
        struct campaign_update *u = campaigns[i];
        uint32_t roll = next_random() % 100;
        if (roll < 50) {
            /* duplicate: re-send what the cache already has */
        } else if (roll < 75) {
            status_index[i] = (status_index[i] + 1) % 3;
            strcpy(u->campaign_status, status_cycle[status_index[i]]);
            u->version++;
        } else if (roll < 92) {
            u->priority = 1 + (u->priority % 5);
            u->config_fingerprint++;
            u->version++;
        } else {
            u->version--;
        }
        cache_apply(cache, u, CACHE_ORIGIN_STREAM, n, &change);
        kinds[change.kind]++;
        cache_change_clear(&change);
        if (roll >= 92)
            u->version++;
    }
    int64_t elapsed_us = time_mono_us() - start;
    struct cache_stats stats = cache_stats(cache);
    printf("cache_apply: %ld updates over %d campaigns in %.3f s: %.0f updates/s "
           "(%.0f ns each)\n",
           updates, CAMPAIGNS, elapsed_us / 1e6, updates / (elapsed_us / 1e6),
           elapsed_us * 1000.0 / updates);
    printf("  mix: %ld transitions, %ld config, %ld duplicates, %ld stale "
           "(cache counters: %llu duplicate, %llu stale)\n",
           kinds[CACHE_STATE_TRANSITION], kinds[CACHE_CONFIG_ONLY], kinds[CACHE_NONE_DUPLICATE],
           kinds[CACHE_NONE_STALE], (unsigned long long)stats.duplicate_dropped,
           (unsigned long long)stats.stale_dropped);
    printf("  heap in use with %d campaigns cached (and their %d update records): %.1f MiB\n",
           CAMPAIGNS, CAMPAIGNS, mem.uordblks / 1048576.0);

    for (int i = 0; i < CAMPAIGNS; i++)
        campaign_update_free(campaigns[i]);
    free(campaigns);
    free(status_index);
    cache_destroy(cache);
    lifecycle_map_destroy(map);
}

static void bench_decode_and_apply(long updates)
{
    FILE *f = fopen("tests/data/notifications/campaign_full.json", "rb");
    if (!f) {
        printf("decode+apply: skipped (run from the repository root)\n");
        return;
    }
    char frame[8192];
    size_t len = fread(frame, 1, sizeof frame - 1, f);
    fclose(f);
    frame[len] = '\0';

    struct lifecycle_map *map = lifecycle_map_create_default();
    struct cache *cache = cache_create(map);
    struct cache_change change = {0};
    char err[256];
    long failures = 0;
    int64_t start = time_mono_us();
    for (long n = 0; n < updates; n++) {
        struct notification note;
        if (decode_notification(frame, len, &note, err, sizeof err) != 0) {
            failures++;
            continue;
        }
        note.campaign->version += n; /* each frame a newer version of the campaign */
        cache_apply(cache, note.campaign, CACHE_ORIGIN_STREAM, n, &change);
        cache_change_clear(&change);
        notification_clear(&note);
    }
    int64_t elapsed_us = time_mono_us() - start;
    printf("decode+apply: %ld frames of %zu bytes in %.3f s: %.0f frames/s (%ld failed)\n",
           updates, len, elapsed_us / 1e6, updates / (elapsed_us / 1e6), failures);
    cache_destroy(cache);
    lifecycle_map_destroy(map);
}

int main(int argc, char **argv)
{
    long updates = argc > 1 ? strtol(argv[1], NULL, 10) : 2000000;
    if (updates <= 0) {
        fprintf(stderr, "usage: %s [UPDATES]\n", argv[0]);
        return 2;
    }
    bench_apply(updates);
    bench_decode_and_apply(updates / 10);
    return 0;
}
