/*
 * libFuzzer target for the contact-list import status over REST
 * (GET /api/v2/outbound/contactlists/{id}/importstatus): any bytes go through
 * decode_import_status_rest(); what decodes becomes a contactlist.import_status event.
 */
#include <stddef.h>
#include <stdint.h>

#include "consumer/decode.h"
#include "publishers/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct events_builder *builder;
    if (!builder)
        builder = events_builder_create(NULL, "mypurecloud.com");
    char err[256];
    struct import_status status;
    if (decode_import_status_rest((const char *)data, size, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                                  &status, err, sizeof err) != 0)
        return 0;
    struct events_observation observation = {1795356332000LL, NULL};
    struct relay_event *event = events_import_status(builder, &status, &observation);
    if (event) {
        struct strbuf json;
        strbuf_init(&json);
        relay_event_to_structured_json(event, &json);
        strbuf_free(&json);
        relay_event_free(event);
    }
    import_status_clear(&status);
    return 0;
}
