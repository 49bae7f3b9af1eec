/*
 * libFuzzer target for the configuration loader: any bytes go through
 * config_load_buffer(); a result (or the error text) must come back without a
 * crash, a leak or undefined behaviour. Valid results are also printed, since the
 * printer walks every field.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[4096];
    struct relay_config *config =
        config_load_buffer("fuzz.yaml", (const char *)data, size, errstr, sizeof errstr);
    if (config != NULL) {
        FILE *sink = fopen("/dev/null", "w");
        if (sink != NULL) {
            config_print_effective(config, sink);
            fclose(sink);
        }
    }
    config_destroy(config);
    return 0;
}
