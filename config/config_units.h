/*
 * Durations and sizes as they are written in the configuration.
 *
 * Durations: an unsigned integer with a unit ms, s, m, h or d ("250ms", "30s", "5m"),
 * or a bare integer meaning seconds, to int64 milliseconds. Sizes: an unsigned
 * integer with B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of
 * 1000), units in any case, or a bare integer meaning bytes, to int64 bytes.
 * Formatting produces the shortest exact form, which parses back to the same value.
 */
#ifndef CRELAY_CONFIG_UNITS_H
#define CRELAY_CONFIG_UNITS_H

#include <stddef.h>
#include <stdint.h>

enum config_unit_status {
    CONFIG_UNIT_OK = 0,
    CONFIG_UNIT_SYNTAX,   /* not a number with a known unit */
    CONFIG_UNIT_NEGATIVE, /* a leading minus sign */
    CONFIG_UNIT_OVERFLOW  /* does not fit in int64 */
};

enum config_unit_status config_parse_duration_ms(const char *text, int64_t *out_ms);
enum config_unit_status config_parse_size_bytes(const char *text, int64_t *out_bytes);

void config_format_duration(int64_t ms, char *buf, size_t size);
void config_format_size(int64_t bytes, char *buf, size_t size);

#endif
