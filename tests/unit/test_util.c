/* Unit tests for util/: strbuf, JSON string escaping, RFC 3339 time, number text. */
#include "tests/harness.h"
#include "util/numtext.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <cJSON.h>
#include <float.h>
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

static void test_strbuf_grows_and_formats(void)
{
    struct strbuf sb;
    strbuf_init(&sb);
    CHECK_EQ_STR(strbuf_cstr(&sb), "");
    for (int i = 0; i < 1000; i++)
        strbuf_appendf(&sb, "%d,", i % 10);
    CHECK_EQ_INT(sb.len, 2000);
    CHECK(strncmp(strbuf_cstr(&sb), "0,1,2,", 6) == 0);
    strbuf_reset(&sb);
    CHECK_EQ_STR(strbuf_cstr(&sb), "");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    strbuf_appendf(&sb, "[%s]", big);
    CHECK_EQ_INT(sb.len, 601);
    char *owned = strbuf_detach(&sb);
    CHECK_EQ_INT(strlen(owned), 601);
    CHECK_EQ_INT(sb.len, 0);
    free(owned);
    strbuf_free(&sb);
}

/* Whole files through one helper: config loading and the tests read them this way. */
static void test_strbuf_append_stream(void)
{
    FILE *f = tmpfile();
    REQUIRE(f);
    for (int i = 0; i < 20000; i++)
        fputc('a' + i % 26, f);
    rewind(f);
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append(&sb, ">");
    CHECK_EQ_INT(strbuf_append_stream(&sb, f, 0), 0);
    CHECK_EQ_INT(sb.len, 20001);
    CHECK(sb.data[1] == 'a' && sb.data[20000] == 'a' + 19999 % 26 && sb.data[20001] == '\0');

    /* Stopped before max_len would be passed: what fitted is kept and 1 says so. */
    rewind(f);
    strbuf_reset(&sb);
    CHECK_EQ_INT(strbuf_append_stream(&sb, f, 10000), 1);
    CHECK(sb.len <= 10000);
    rewind(f);
    strbuf_reset(&sb);
    CHECK_EQ_INT(strbuf_append_stream(&sb, f, 20000), 0);
    CHECK_EQ_INT(sb.len, 20000);
    fclose(f);

    /* A stream that cannot be read is an error, not an empty file. */
    char path[] = "/tmp/crelay-strbuf-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    FILE *write_only = fopen(path, "w");
    REQUIRE(write_only);
    strbuf_reset(&sb);
    CHECK_EQ_INT(strbuf_append_stream(&sb, write_only, 0), -1);
    fclose(write_only);
    unlink(path);
    strbuf_free(&sb);
}

static void test_json_string_escaping(void)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append_json_string(&sb, "a\"b\\c\n\t\x01 é");
    CHECK_EQ_STR(strbuf_cstr(&sb), "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
    strbuf_reset(&sb);
    strbuf_append_json_string(&sb, NULL);
    CHECK_EQ_STR(strbuf_cstr(&sb), "null");

    /* Every byte value, alone and between others, as cJSON's printer writes it. */
    int mismatches = 0;
    for (int byte = 1; byte < 256; byte++) {
        char text[] = {'a', (char)byte, 'z', (char)byte, '\0'};
        strbuf_reset(&sb);
        strbuf_append_json_string(&sb, text);
        cJSON *string = cJSON_CreateString(text);
        char *want = cJSON_PrintUnformatted(string);
        if (strcmp(strbuf_cstr(&sb), want) != 0 && mismatches++ < 5)
            CHECK_MSG(false, "byte 0x%02x: %s, cJSON writes %s", byte, strbuf_cstr(&sb), want);
        free(want);
        cJSON_Delete(string);
    }
    CHECK_EQ_INT(mismatches, 0);
    strbuf_free(&sb);
}

static void test_rfc3339_round_trip(void)
{
    int64_t ms = 0;
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T12:41:54.707Z", &ms), 0);
    CHECK_EQ_INT(ms, 1597236114707LL);
    char text[RFC3339_MS_LEN];
    time_format_rfc3339(ms, text);
    CHECK_EQ_STR(text, "2020-08-12T12:41:54.707Z");

    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T14:41:54+02:00", &ms), 0);
    CHECK_EQ_INT(ms, 1597236114000LL);
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T12:41:54.7Z", &ms), 0);
    CHECK_EQ_INT(ms, 1597236114700LL);
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T12:41:54.123456Z", &ms), 0);
    CHECK_EQ_INT(ms, 1597236114123LL);
}

static void test_rfc3339_rejects_garbage(void)
{
    int64_t ms = 0;
    CHECK_EQ_INT(time_parse_rfc3339("", &ms), -1);
    CHECK_EQ_INT(time_parse_rfc3339(NULL, &ms), -1);
    CHECK_EQ_INT(time_parse_rfc3339("2020-13-12T12:41:54Z", &ms), -1);
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12 12:41", &ms), -1);
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T12:41:54", &ms), -1);
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T12:41:54Zjunk", &ms), -1);
    CHECK_EQ_INT(time_parse_rfc3339("2020-08-12T12:41:54.Z", &ms), -1);
}

/* The reference the fast formatter replaced: gmtime_r and snprintf. */
static void reference_rfc3339(int64_t epoch_ms, char out[RFC3339_MS_LEN])
{
    time_t secs = (time_t)(epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000);
    int ms = (int)(epoch_ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, RFC3339_MS_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static void test_rfc3339_format_matches_libc(void)
{
    const int64_t edges[] = {
        0, -1, -999, -1000, -1001, 999, 1000, 86399999, 86400000, -86400000, -86400001,
        951782400000LL,   /* 2000-02-29 */
        4107542399999LL,  /* 2100-02-28T23:59:59.999 */
        4107542400000LL,  /* 2100-03-01, not a leap year */
        253402300799999LL, /* 9999-12-31T23:59:59.999 */
        253402300800000LL, /* year 10000: the fallback */
        -62167219200000LL, /* 0000-01-01 */
        -62167219200001LL, /* year -1: the fallback */
    };
    char got[RFC3339_MS_LEN], want[RFC3339_MS_LEN];
    int mismatches = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        time_format_rfc3339(edges[i], got);
        reference_rfc3339(edges[i], want);
        CHECK_MSG(strcmp(got, want) == 0, "%" PRId64 ": %s, libc says %s", edges[i], got, want);
    }
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        /* Years 0..9999 and a little beyond on both sides. */
        int64_t ms = (int64_t)(next_random(&state) % 330000000000000ULL) - 66000000000000LL;
        time_format_rfc3339(ms, got);
        reference_rfc3339(ms, want);
        if (strcmp(got, want) != 0 && mismatches++ < 5)
            CHECK_MSG(false, "%" PRId64 ": %s, libc says %s", ms, got, want);
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* The formatter keeps the last second it formatted: walks within a second, across its
 * edges (both signs, and into the years the fallback handles), and back to a second
 * formatted before, each checked against libc. */
static void test_rfc3339_repeated_seconds(void)
{
    const int64_t starts[] = {1597236114000LL, -2000, 86398500, 253402300798000LL,
                              -62167219201500LL, 951782399000LL};
    const int steps[] = {1, 7, 333, 999, 1000, 1001};
    char got[RFC3339_MS_LEN], want[RFC3339_MS_LEN];
    int mismatches = 0;
    for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
        for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            for (int64_t ms = starts[s]; ms < starts[s] + 3000; ms += steps[k]) {
                /* Alternate with a far second now and then, so the kept one changes. */
                int64_t probes[] = {ms, ms % 5 == 0 ? ms + 86400000 : ms, ms};
                for (int i = 0; i < 3; i++) {
                    time_format_rfc3339(probes[i], got);
                    reference_rfc3339(probes[i], want);
                    if (strcmp(got, want) != 0 && mismatches++ < 5)
                        CHECK_MSG(false, "%" PRId64 ": %s, libc says %s", probes[i], got, want);
                }
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

static void test_numtext_matches_printf(void)
{
    const int64_t ints[] = {0, 1, -1, 9, 10, -10, 1234567890123LL, INT64_MAX, INT64_MIN};
    char got[NUMTEXT_MAX], want[NUMTEXT_MAX];
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        size_t len = numtext_int64(got, ints[i]);
        snprintf(want, sizeof want, "%" PRId64, ints[i]);
        CHECK_EQ_STR(got, want);
        CHECK_EQ_INT(len, strlen(want));
    }
    const double doubles[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e16, 99999999999999984.0, 1e17,
                              -1e17, 1e300, 1.5e-300, DBL_MIN, DBL_MAX, 12.75, 1597236114707.0,
                              9007199254740993.0, 0.1, 2.0 / 3.0, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
        size_t len = numtext_g17(got, doubles[i]);
        snprintf(want, sizeof want, "%.17g", doubles[i]);
        CHECK_EQ_STR(got, want);
        CHECK_EQ_INT(len, strlen(want));
    }
    uint64_t state = 0x2545f4914f6cdd1dULL;
    int mismatches = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next_random(&state);
        int64_t n = (int64_t)r >> (r % 64);
        double d = (i % 2) ? (double)n : (double)n / 1000.0;
        numtext_int64(got, n);
        snprintf(want, sizeof want, "%" PRId64, n);
        if (strcmp(got, want) != 0 && mismatches++ < 5)
            CHECK_MSG(false, "int64 %s, printf says %s", got, want);
        numtext_g17(got, d);
        snprintf(want, sizeof want, "%.17g", d);
        if (strcmp(got, want) != 0 && mismatches++ < 5)
            CHECK_MSG(false, "double %s, printf says %s", got, want);
    }
    /* Every digit count, at its edges: 10^k - 1, 10^k and 10^k + 1, both signs. */
    int64_t power = 1; /* 10^k; 10^19 is past int64_t */
    for (int k = 0; k <= 18; k++) {
        for (int64_t delta = -1; delta <= 1; delta++) {
            for (int sign = -1; sign <= 1; sign += 2) {
                int64_t n = sign * (power + delta);
                numtext_int64(got, n);
                snprintf(want, sizeof want, "%" PRId64, n);
                if (strcmp(got, want) != 0 && mismatches++ < 5)
                    CHECK_MSG(false, "int64 %s, printf says %s", got, want);
            }
        }
        if (k < 18)
            power *= 10;
    }
    CHECK_EQ_INT(mismatches, 0);

    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append(&sb, "n=");
    strbuf_append_int64(&sb, -42);
    CHECK_EQ_STR(strbuf_cstr(&sb), "n=-42");
    strbuf_free(&sb);
}

/* Against printf's "%016" PRIx64, cut to its low digits, for every width. */
static void test_strbuf_append_hex(void)
{
    const uint64_t values[] = {0,          1,          0xa,        0xf0,       0x123456789abcULL,
                               0xfedcba9876543210ULL, UINT64_MAX, 0x1000000000000ULL};
    int mismatches = 0;
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        char full[17];
        snprintf(full, sizeof full, "%016" PRIx64, values[v]);
        for (int digits = 1; digits <= 16; digits++) {
            struct strbuf sb = {0};
            strbuf_append(&sb, "<");
            strbuf_append_hex(&sb, values[v], digits);
            char want[20];
            snprintf(want, sizeof want, "<%s", full + 16 - digits);
            if (strcmp(strbuf_cstr(&sb), want) != 0) {
                fprintf(stderr, "hex %" PRIx64 " in %d digits: got %s, want %s\n", values[v],
                        digits, strbuf_cstr(&sb), want);
                mismatches++;
            }
            strbuf_free(&sb);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

int main(void)
{
    RUN(test_strbuf_grows_and_formats);
    RUN(test_strbuf_append_hex);
    RUN(test_strbuf_append_stream);
    RUN(test_json_string_escaping);
    RUN(test_rfc3339_round_trip);
    RUN(test_rfc3339_rejects_garbage);
    RUN(test_rfc3339_format_matches_libc);
    RUN(test_rfc3339_repeated_seconds);
    RUN(test_numtext_matches_printf);
    return harness_finish();
}
