/*
 * libFuzzer target holding util/json_parse to the cJSON parser it replaces on the frame
 * path: for any bytes, both must accept or refuse alike, build the same tree and report
 * the same end. A difference aborts, naming it. The tree is built twice, from a roomy
 * block and from one too small for most frames, so the heap fallback is fuzzed too.
 */
#include <cjson/cJSON.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/json_same.h"
#include "util/json_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static alignas(16) char block[64 * 1024];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *cjson_end = NULL;
    cJSON *expected = cJSON_ParseWithLengthOpts(text, size, &cjson_end, 0);
    const size_t limits[] = {sizeof block, 256};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct json_parse_space space = {.block = block, .next = block,
                                         .limit = block + limits[i]};
        const char *end = NULL;
        cJSON *got = json_parse(&space, text, size, &end);
        char why[512] = "";
        if (!json_same_tree(got, expected, why, sizeof why) || end != cjson_end) {
            fprintf(stderr, "json_parse (block of %zu) and cJSON differ: %s; %s; end %td "
                            "against %td\n", limits[i], why,
                    !got == !expected ? "both accept or both refuse"
                    : got             ? "only json_parse accepts"
                                      : "only cJSON accepts",
                    end ? end - text : -1, cjson_end ? cjson_end - text : -1);
            abort();
        }
        json_parse_delete(&space, got);
    }
    cJSON_Delete(expected);
    return 0;
}
