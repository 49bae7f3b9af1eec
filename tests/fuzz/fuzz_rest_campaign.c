/*
 * libFuzzer target for the REST Campaign body (GET /api/v2/outbound/campaigns/{id}):
 * any bytes go through decode_campaign_text(); what decodes is applied to a small
 * cache twice (a first sight, then the same version again: a duplicate) and turned
 * into the events reconciliation would emit.
 */
#include <stddef.h>
#include <stdint.h>

#include "consumer/cache.h"
#include "consumer/decode.h"
#include "publishers/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lifecycle_map *map;
    static struct events_builder *builder;
    if (!map) {
        map = lifecycle_map_create_default();
        builder = events_builder_create(NULL, "mypurecloud.com");
    }
    char err[256];
    struct campaign_update *update = decode_campaign_text((const char *)data, size, err,
                                                          sizeof err);
    if (!update)
        return 0;
    struct cache *cache = cache_create(map);
    struct events_observation observation = {1795356332000LL, NULL};
    for (int round = 0; round < 2; round++) {
        struct cache_change change;
        if (cache_apply(cache, update, CACHE_ORIGIN_RECONCILE, 1795356332000LL, &change) == 0) {
            emit(events_state_changed(builder, &change, &observation));
            emit(events_config_changed(builder, &change, &observation));
            emit(events_discovered(builder, &change, &observation));
        }
        cache_change_clear(&change);
    }
    campaign_update_free(update);
    cache_destroy(cache);
    return 0;
}
