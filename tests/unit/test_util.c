/* Unit tests for util/: strbuf, JSON string escaping, RFC 3339 time. */
#include "tests/harness.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

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

static void test_json_string_escaping(void)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append_json_string(&sb, "a\"b\\c\n\t\x01 é");
    CHECK_EQ_STR(strbuf_cstr(&sb), "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
    strbuf_reset(&sb);
    strbuf_append_json_string(&sb, NULL);
    CHECK_EQ_STR(strbuf_cstr(&sb), "null");
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

int main(void)
{
    RUN(test_strbuf_grows_and_formats);
    RUN(test_json_string_escaping);
    RUN(test_rfc3339_round_trip);
    RUN(test_rfc3339_rejects_garbage);
    return harness_finish();
}
