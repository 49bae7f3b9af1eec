/*
 * libFuzzer target for the notification decoder. Every input goes through
 * decode_notification_keep with a parse arena, as on the relay's decode thread (a small
 * one, so that large trees continue on the heap as well); what decodes is fed to a small campaign cache and to the
 * event builders, so the whole pure path from frame to CloudEvent is exercised.
 * The same bytes are also tried as a REST Campaign body and a listing page.
 */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "consumer/cache.h"
#include "consumer/decode.h"
#include "publishers/events.h"
#include "util/json_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CACHE_LIMIT 64

static struct lifecycle_map *fuzz_map;
static struct cache *fuzz_cache;
static struct events_builder *fuzz_builder;
static struct json_arena *fuzz_arena;

static void emit(struct relay_event *event)
{
    if (!event)
        return;
    struct strbuf json;
    strbuf_init(&json);
    relay_event_to_structured_json(event, &json);
    strbuf_free(&json);
    relay_event_free(event);
}

static void apply_campaign(const struct campaign_update *update, enum cache_origin origin)
{
    /* Keep the cache small so each input runs in bounded time. */
    if (cache_count(fuzz_cache) >= FUZZ_CACHE_LIMIT) {
        cache_destroy(fuzz_cache);
        fuzz_cache = cache_create(fuzz_map);
    }
    struct cache_change change;
    struct events_observation observation = {1795356332000LL, "fuzz"};
    if (cache_apply(fuzz_cache, update, origin, 1795356332000LL, &change) == 0) {
        emit(events_state_changed(fuzz_builder, &change, &observation));
        emit(events_config_changed(fuzz_builder, &change, &observation));
        emit(events_discovered(fuzz_builder, &change, &observation));
    }
    cache_change_clear(&change);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_map) {
        fuzz_map = lifecycle_map_create_default();
        fuzz_cache = cache_create(fuzz_map);
        fuzz_builder = events_builder_create(NULL, "mypurecloud.com");
        fuzz_arena = json_arena_create(4096);
    }
    const char *text = (const char *)data;
    char err[256];
    struct events_observation observation = {1795356332000LL, NULL};

    struct notification n;
    cJSON *tree = NULL;
    if (decode_notification_keep(fuzz_arena, text, size, &n, &tree, err, sizeof err) == 0) {
        switch (n.kind) {
        case NOTIFY_CAMPAIGN:
            apply_campaign(n.campaign, CACHE_ORIGIN_STREAM);
            break;
        case NOTIFY_PROGRESS:
            emit(events_progress(fuzz_builder, &n.progress, &observation));
            break;
        case NOTIFY_STATS:
            emit(events_dialer_stats(fuzz_builder, &n.stats, &observation));
            break;
        case NOTIFY_IMPORT_STATUS:
            emit(events_import_status(fuzz_builder, &n.import_status, &observation));
            break;
        default:
            break;
        }
        /* As the consumer audits a frame: sealed from the tree it kept, and as any
         * other caller does, from the text. */
        struct audit_notification audit = {.topic = n.topic, .raw = text, .raw_len = size,
                                           .correlation_id = n.correlation_id,
                                           .raw_tree = tree};
        emit(events_audit_decoded_notification(fuzz_builder, &audit, err, sizeof err));
        audit.raw_tree = NULL;
        emit(events_audit_notification(fuzz_builder, &audit, err, sizeof err));
        notification_clear(&n);
        if (tree)
            json_arena_release(fuzz_arena, tree);
    }

    struct campaign_update *update = decode_campaign_text(text, size, err, sizeof err);
    if (update)
        apply_campaign(update, CACHE_ORIGIN_RECONCILE);
    campaign_update_free(update);

    struct campaign_listing listing;
    if (decode_campaign_listing(text, size, &listing, err, sizeof err) == 0) {
        for (size_t i = 0; i < listing.entity_count; i++)
            apply_campaign(listing.entities[i], CACHE_ORIGIN_RECONCILE);
        campaign_listing_clear(&listing);
    }
    return 0;
}
