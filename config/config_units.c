#include "config/config_units.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct unit {
    const char *name;
    int64_t factor;
};

/* Largest first: formatting picks the first unit that divides the value exactly. */
static const struct unit duration_units[] = {
    {"d", 86400 * 1000}, {"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1},
    {NULL, 0},
};

static const struct unit size_units[] = {
    {"TiB", 1024LL * 1024 * 1024 * 1024},
    {"GiB", 1024LL * 1024 * 1024},
    {"MiB", 1024LL * 1024},
    {"KiB", 1024LL},
    {"TB", 1000LL * 1000 * 1000 * 1000},
    {"GB", 1000LL * 1000 * 1000},
    {"MB", 1000LL * 1000},
    {"KB", 1000LL},
    {"B", 1},
    {NULL, 0},
};

/* Duration units are case-sensitive ("m" is minutes, and "M" would invite reading it
 * as months); size units are not ("kib", "KiB", "kb" are unambiguous). */
static enum config_unit_status parse_scaled(const char *text, const struct unit *units,
                                            int64_t bare_factor, bool units_any_case,
                                            int64_t *out)
{
    const char *p = text;
    if (*p == '-')
        return CONFIG_UNIT_NEGATIVE;
    if (*p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return CONFIG_UNIT_SYNTAX;
    int64_t number = 0;
    bool overflow = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (__builtin_mul_overflow(number, (int64_t)10, &number) ||
            __builtin_add_overflow(number, (int64_t)(*p - '0'), &number))
            overflow = true;
    }
    int64_t factor = bare_factor;
    if (*p != '\0') {
        factor = 0;
        for (const struct unit *u = units; u->name != NULL; u++) {
            bool same = units_any_case ? strcasecmp(p, u->name) == 0 : strcmp(p, u->name) == 0;
            if (same) {
                factor = u->factor;
                break;
            }
        }
        if (factor == 0)
            return CONFIG_UNIT_SYNTAX;
    }
    if (overflow || __builtin_mul_overflow(number, factor, out))
        return CONFIG_UNIT_OVERFLOW;
    return CONFIG_UNIT_OK;
}

enum config_unit_status config_parse_duration_ms(const char *text, int64_t *out_ms)
{
    return parse_scaled(text, duration_units, 1000, false, out_ms);
}

enum config_unit_status config_parse_size_bytes(const char *text, int64_t *out_bytes)
{
    return parse_scaled(text, size_units, 1, true, out_bytes);
}

static void format_scaled(int64_t value, const struct unit *units, char *buf, size_t size)
{
    if (value > 0) {
        for (const struct unit *u = units; u->name != NULL; u++) {
            if (value % u->factor == 0) {
                snprintf(buf, size, "%lld%s", (long long)(value / u->factor), u->name);
                return;
            }
        }
    }
    snprintf(buf, size, "%lld", (long long)value);
}

void config_format_duration(int64_t ms, char *buf, size_t size)
{
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    format_scaled(ms, duration_units, buf, size);
}

void config_format_size(int64_t bytes, char *buf, size_t size)
{
    format_scaled(bytes, size_units, buf, size);
}
