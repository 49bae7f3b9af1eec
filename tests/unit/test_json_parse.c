/* Tests of util/json_parse against the cJSON it stands in for: every input here goes
 * through both, and the two must accept the same, build the same tree and report the
 * same end (on success and on failure), whether the nodes come from the heap, from a
 * block, or from a block too small for them. The inputs are the fixtures, cJSON's
 * leniencies and failure points one by one, and a sweep of numbers for the exact
 * conversion. */
#include "util/json_parse.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "tests/json_same.h"
#include "util/json_arena.h"
#include "util/strbuf.h"

enum parse_kind { FROM_HEAP, FROM_BLOCK, FROM_TINY_BLOCK, FROM_ARENA, PARSE_KINDS };
static const char *const kind_names[] = {"the heap", "a block", "a 200-byte block",
                                         "an arena"};

static alignas(16) char block[256 * 1024];

/* Parses text[0..len) every way and checks each agrees with cJSON; returns whether cJSON
 * accepted it, so a caller can also say what it expects. label names the input. */
static int agrees_with_cjson(const char *label, const char *text, size_t len)
{
    const char *cjson_end = NULL;
    cJSON *expected = cJSON_ParseWithLengthOpts(text, len, &cjson_end, 0);
    for (int kind = 0; kind < PARSE_KINDS; kind++) {
        struct json_parse_space space = {.block = block, .next = block,
                                         .limit = block + sizeof block};
        if (kind == FROM_TINY_BLOCK)
            space.limit = block + 200;
        struct json_arena *arena = kind == FROM_ARENA ? json_arena_create(200) : NULL;
        const char *end = NULL;
        cJSON *got = kind == FROM_ARENA  ? json_arena_parse(arena, text, len, &end)
                     : kind == FROM_HEAP ? json_parse(NULL, text, len, &end)
                                         : json_parse(&space, text, len, &end);
        char why[512] = "";
        CHECK_MSG(json_same_tree(got, expected, why, sizeof why), "%s from %s: %s%s", label,
                  kind_names[kind], why,
                  !got == !expected ? "" : got ? " (only json_parse accepts)"
                                               : " (only cJSON accepts)");
        CHECK_MSG(end == cjson_end, "%s from %s: end at %td, cJSON's at %td", label,
                  kind_names[kind], end ? end - text : -1, cjson_end ? cjson_end - text : -1);
        if (kind == FROM_BLOCK)
            CHECK_MSG(space.overflows == 0, "%s: %" PRIu64 " allocations left the block",
                      label, space.overflows);
        if (kind == FROM_TINY_BLOCK && got && got->child && got->child->next)
            CHECK_MSG(space.overflows > 0, "%s: three nodes fit in 200 bytes", label);
        if (kind == FROM_ARENA) {
            json_arena_release(arena, got);
            json_arena_destroy(arena);
        } else if (kind == FROM_HEAP) {
            cJSON_Delete(got);
        } else {
            json_parse_delete(&space, got);
        }
    }
    int accepted = expected != NULL;
    cJSON_Delete(expected);
    return accepted;
}

#define AGREES(text) agrees_with_cjson(#text, text, sizeof(text) - 1)

static void test_fixtures_parse_the_same(void)
{
    const char *const dirs[] = {"tests/data/notifications/", "tests/data/notifications/malformed/",
                                "tests/data/events/"};
    int files = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        DIR *dir = opendir(dirs[d]);
        REQUIRE(dir != NULL);
        for (struct dirent *entry; (entry = readdir(dir));) {
            if (!strstr(entry->d_name, ".json"))
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s%s", dirs[d], entry->d_name);
            FILE *f = fopen(path, "rb");
            REQUIRE(f != NULL);
            struct strbuf text;
            strbuf_init(&text);
            REQUIRE(strbuf_append_stream(&text, f, 0) == 0);
            fclose(f);
            agrees_with_cjson(path, text.data ? text.data : "", text.len);
            /* every prefix fails (or stops) where cJSON's does */
            for (size_t cut = 0; cut < text.len; cut += 1 + cut / 16)
                agrees_with_cjson(path, text.data, cut);
            strbuf_free(&text);
            files++;
        }
        closedir(dir);
    }
    CHECK_MSG(files >= 30, "only %d fixtures found", files);
}

static void test_cjson_leniencies_are_kept(void)
{
    /* what cJSON accepts beyond JSON, json_parse must accept too */
    CHECK(AGREES("-.5"));
    CHECK(AGREES("01"));
    CHECK(AGREES("1."));
    CHECK(AGREES("[1.5.3]") == 0);
    CHECK(AGREES("1.5.3")); /* a value, then trailing data the caller judges */
    CHECK(AGREES("1e5"));
    CHECK(AGREES("1E+2"));
    CHECK(AGREES("1e"));
    CHECK(AGREES("2e-3"));
    CHECK(AGREES("-0"));
    CHECK(AGREES("-0.0"));
    CHECK(AGREES("[1+2]") == 0);
    CHECK(AGREES("\"tab\there, and a bell \a\""));
    CHECK(AGREES("\"\\u00e9\\u20ac\\ud83d\\ude00\""));
    CHECK(AGREES("\"\\u00?61\"")); /* an invalid hex digit: U+0000, the string cut */
    CHECK(AGREES("\"\\u0000after\""));
    CHECK(AGREES("\"\\u12\\\"\"")); /* the escape's four bytes end at an escaped quote */
    CHECK(AGREES("\"a\0b\""));
    CHECK(AGREES("\x01\x02{\"a\":1}\x1f"));
    CHECK(AGREES("\xEF\xBB\xBF{}"));
    CHECK(AGREES("\xEF\xBB\xBF" "1") == 0); /* a BOM needs more than four bytes */
    CHECK(AGREES("\xEF\xBB\xBF" "12"));
    CHECK(AGREES("{\"a\":1}garbage"));
    CHECK(AGREES("nulll"));
    CHECK(AGREES("truex"));
    CHECK(AGREES("{\"a\" : 1 , \"b\" :[ ] ,\"c\":{ } }"));
    CHECK(AGREES("{\"\":\"\",\"\\\"\":\"\\/\\b\\f\\n\\r\\t\"}"));
    CHECK(AGREES("{\"dup\":1,\"dup\":2}"));
    CHECK(AGREES("[true,false,null,\"x\",-1,{},[]]"));
}

/* What a string cut short by a \\u escape reading as U+0000 is counted as: the tree then
 * holds less than the text, and the relay does not seal from it. */
static void test_cut_strings_are_counted(void)
{
    static const struct {
        const char *text;
        uint64_t cut;
    } cases[] = {
        {"\"\\u00e9\\ud83d\\ude00\\n\"", 0},
        {"\"a\\u0000b\"", 1},
        {"\"\\u00?61\"", 1},                       /* a bad hex digit reads as 0 */
        {"{\"\\u0000\":[\"\\u0000\",\"x\\u0000\"]}", 3}, /* in names too */
        {"\"a\\\\u0000\"", 0},                       /* an escaped backslash, then text */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct json_parse_space space = {.block = block, .next = block,
                                         .limit = block + sizeof block};
        cJSON *tree = json_parse(&space, cases[i].text, strlen(cases[i].text), NULL);
        CHECK_MSG(tree != NULL, "%s does not parse", cases[i].text);
        CHECK_MSG(space.cut_strings == cases[i].cut, "%s: %" PRIu64 " cut, not %" PRIu64,
                  cases[i].text, space.cut_strings, cases[i].cut);
    }
}

static void test_failures_stop_where_cjson_stops(void)
{
    const char *const broken[] = {
        "", " ", "\n\t ", "-", "--1", "-+1", "+1", ".5", "nul", "tru",
        "fals", "[", "]", "[,]", "[1,2,]", "[1 2]", "[\"a\" \"b\"]", "{", "}", "{,}",
        "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1,", "{\"a\" 1}", "{1:2}", "{\"a\":1",
        "\"abc", "\"a\\", "\"\\x\"", "\"\\u12\"", "\"\\ud83d\"",
        "\"\\ud83d\\u0041\"", "\"\\ud83dx\\ude00\"", "\"\\udc00\"", "[\"\\u00e9\",\"\\q\"]",
        "{\"a\":[1,{\"b\":\"unterminated", "[1,2,3", "[{}", "{\"a\":{\"b\":", "@",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        CHECK_MSG(agrees_with_cjson(broken[i], broken[i], strlen(broken[i])) == 0,
                  "cJSON accepts \"%s\"", broken[i]);
}

/* The closing quote is found eight bytes at a time while there is no quote or backslash
 * in them: a quote, an escape or a cut-short end at every position of strings up to
 * three words long, with multi-byte UTF-8 around them, must end where cJSON ends. */
static void test_strings_end_where_cjsons_end(void)
{
    static const char *const marks[] = {"\\\"", "\\\\", "\\n", "\\u00e9", "\xc3\xa9",
                                        "\"", "\\"};
    char text[64], label[96];
    for (size_t len = 0; len <= 24; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++) {
                size_t n = 0;
                text[n++] = '"';
                for (size_t i = 0; i < len; i++) {
                    if (i == at) {
                        memcpy(text + n, marks[m], strlen(marks[m]));
                        n += strlen(marks[m]);
                    }
                    text[n++] = (char)('a' + i % 26);
                }
                text[n++] = '"';
                snprintf(label, sizeof label, "string of %zu with %s at %zu", len, marks[m], at);
                agrees_with_cjson(label, text, n);
                /* The same cut short before its closing quote. */
                agrees_with_cjson(label, text, n - 1);
            }
        }
    }
}

static void test_nesting_limit_is_cjsons(void)
{
    struct strbuf deep;
    for (int depth = 998; depth <= 1001; depth++) {
        for (int objects = 0; objects <= 1; objects++) {
            strbuf_init(&deep);
            for (int i = 0; i < depth; i++)
                strbuf_append(&deep, objects && i % 2 ? "{\"k\":" : "[");
            strbuf_append(&deep, "0");
            for (int i = depth - 1; i >= 0; i--)
                strbuf_append(&deep, objects && i % 2 ? "}" : "]");
            char label[64];
            snprintf(label, sizeof label, "nesting %d%s", depth, objects ? " with objects" : "");
            int accepted = agrees_with_cjson(label, deep.data, deep.len);
            CHECK_MSG(accepted == (depth <= 1000), "%s: cJSON %s", label,
                      accepted ? "accepts" : "refuses");
            strbuf_free(&deep);
        }
    }
}

/* The exact conversion is correct only if it rounds as strtod() does: compare both over
 * numbers of every digit count, with and without fractions and signs, and at the edges
 * of valueint's saturation. */
static void test_numbers_convert_as_strtod_does(void)
{
    const char *const edges[] = {
        "0", "1", "9", "10", "2147483646", "2147483647", "2147483648", "-2147483647",
        "-2147483648", "-2147483649", "2147483647.5", "-2147483648.5", "999999999999999",
        "1000000000000000", "9007199254740993", "0.1", "0.2", "0.3", "0.30000000000000004",
        "123456789012345", "1234567890123456", "0.000000000000001", "0.0000000000000001",
        "1.7976931348623157e308", "1e400", "-1e400", "4.9e-324", "1e-400", "00000000000000001",
        "3.14159265358979", "100.000000000000", "5e-324",
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        CHECK_MSG(agrees_with_cjson(edges[i], edges[i], strlen(edges[i])), "cJSON refuses %s",
                  edges[i]);
    /* A run longer than the stack copy strtod() reads from (cJSON has no bound since
     * Debian's fix of CVE-2023-26819): the copy comes from the heap. */
    char long_run[320];
    snprintf(long_run, sizeof long_run, "[-1%0250d.5e-240]", 0);
    CHECK_MSG(agrees_with_cjson("a 257-byte number", long_run, strlen(long_run)),
              "cJSON refuses a 257-byte number");

    uint64_t state = 0x9e3779b97f4a7c15u;
    for (int n = 0; n < 20000; n++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        int digits = 1 + (int)(state % 17), point = (int)((state >> 8) % (unsigned)(digits + 1));
        char number[48];
        size_t len = 0;
        if ((state >> 20) & 1)
            number[len++] = '-';
        uint64_t bits = state;
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                number[len++] = '.';
            number[len++] = (char)('0' + (bits % 10));
            bits = bits / 10 ^ (bits << 7);
        }
        number[len++] = ',';
        char label[64];
        snprintf(label, sizeof label, "%.*s", (int)len - 1, number);
        agrees_with_cjson(label, number, len);
    }
}

int main(void)
{
    RUN(test_fixtures_parse_the_same);
    RUN(test_cjson_leniencies_are_kept);
    RUN(test_cut_strings_are_counted);
    RUN(test_failures_stop_where_cjson_stops);
    RUN(test_strings_end_where_cjsons_end);
    RUN(test_nesting_limit_is_cjsons);
    RUN(test_numbers_convert_as_strtod_does);
    return harness_finish();
}
