/*
 * libFuzzer target for the campaign listing page (GET /api/v2/outbound/campaigns):
 * any bytes go through decode_campaign_listing(); every entity that decodes is
 * applied to a fresh cache, as discovery does, and the paging fields are read.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "consumer/cache.h"
#include "consumer/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lifecycle_map *map;
    if (!map)
        map = lifecycle_map_create_default();
    char err[256];
    struct campaign_listing listing;
    if (decode_campaign_listing((const char *)data, size, &listing, err, sizeof err) != 0)
        return 0;
    struct cache *cache = cache_create(map);
    for (size_t i = 0; i < listing.entity_count; i++) {
        struct cache_change change;
        if (cache_apply(cache, listing.entities[i], CACHE_ORIGIN_RECONCILE, 0, &change) == 0)
            cache_change_clear(&change);
    }
    /* The paging fields steer the next request: they must be readable whatever came in. */
    volatile size_t sink = listing.next_uri ? strlen(listing.next_uri) : 0;
    sink += strlen(listing.first_skip_reason) + (size_t)listing.page_count;
    (void)sink;
    cache_destroy(cache);
    campaign_listing_clear(&listing);
    return 0;
}
