/* Unit tests for consumer/decode: notification frames and REST bodies, from the
 * fixtures in tests/data/notifications/ (realistic payloads and malformed ones). */
#include <dirent.h>
#include <math.h>

#include "consumer/decode.h"
#include "tests/harness.h"
#include "tests/json_same.h"
#include "util/json_arena.h"

#define FIXTURES "tests/data/notifications/"
#define CAMPAIGN_ID "8a9f2c61-3b7e-4c1d-9e55-0f4b2a7d6c10"

static char *read_fixture(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("#   cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    text[got] = '\0';
    *len = got;
    return text;
}

/* Decodes a fixture; returns the decoder's result and leaves errstr filled. */
static int decode_fixture(const char *name, struct notification *n, char *errstr, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    size_t len = 0;
    char *text = read_fixture(path, &len);
    if (!text) {
        snprintf(errstr, size, "fixture missing");
        memset(n, 0, sizeof *n);
        return -2;
    }
    errstr[0] = '\0';
    int rc = decode_notification(text, len, n, errstr, size);
    free(text);
    return rc;
}

static void test_channel_metadata(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("heartbeat.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_HEARTBEAT);
    CHECK_EQ_STR(n.topic, "channel.metadata");
    CHECK_EQ_STR(n.message, "WebSocket Heartbeat");
    CHECK(n.envelope_version == NULL);
    CHECK(n.correlation_id == NULL);
    notification_clear(&n);

    REQUIRE(decode_fixture("pong.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_PONG);
    CHECK_EQ_STR(notification_kind_name(n.kind), "pong");
    notification_clear(&n);

    const char other[] = "{\"topicName\":\"channel.metadata\",\"eventBody\":{\"message\":\"hi\"}}";
    REQUIRE(decode_notification(other, strlen(other), &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_CHANNEL_METADATA);
    notification_clear(&n);
}

static void test_system_topics(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("socket_closing.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_SOCKET_CLOSING);
    CHECK_EQ_STR(n.envelope_version, "2");
    CHECK_EQ_STR(n.correlation_id, "5d3c7d0e-2f8e-4a4f-9d1c-6a0f8b1e2c33");
    CHECK_EQ_STR(n.system.channel_id, "streaming-0-fmtdmf8cdis7jh14udg5p89t6z");
    CHECK_CONTAINS(n.message, "maintenance");
    notification_clear(&n);

    REQUIRE(decode_fixture("no_longer_subscribed.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_NO_LONGER_SUBSCRIBED);
    CHECK_EQ_STR(n.system.system_topic_type, "no_longer_subscribed");
    CHECK_EQ_STR(n.system.reason, "another_channel_subscribed");
    notification_clear(&n);

    REQUIRE(decode_fixture("token_revoked.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_TOKEN_REVOKED);
    CHECK_EQ_STR(n.system.reason, "user_tokens_revoked");
    notification_clear(&n);

    const char other[] = "{\"topicName\":\"v2.system.abc.def\",\"eventBody\":{}}";
    REQUIRE(decode_notification(other, strlen(other), &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_SYSTEM_OTHER);
    notification_clear(&n);
    /* A prefix that only looks like a known system topic is not that topic. */
    const char lookalike[] = "{\"topicName\":\"v2.system.socket_closingsoon\",\"eventBody\":{}}";
    REQUIRE(decode_notification(lookalike, strlen(lookalike), &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_SYSTEM_OTHER);
    notification_clear(&n);
}

static void test_full_campaign_body(void)
{
    char err[256];
    struct notification n;
    int rc = decode_fixture("campaign_full.json", &n, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    REQUIRE(rc == 0 && n.campaign);
    const struct campaign_update *u = n.campaign;
    CHECK_EQ_INT(n.kind, NOTIFY_CAMPAIGN);
    CHECK_EQ_STR(n.topic_entity_id, CAMPAIGN_ID);
    CHECK_EQ_STR(n.correlation_id, "2f9c1b7a-6d3e-4f5a-8b9c-0d1e2f3a4b5c");
    CHECK_EQ_STR(u->id, CAMPAIGN_ID);
    CHECK_EQ_STR(u->name, "Spring Renewals 2026 - East");
    CHECK_EQ_STR(u->campaign_status, "stopping");
    CHECK_EQ_STR(u->dialing_mode, "predictive");
    CHECK(u->has_version);
    CHECK_EQ_INT(u->version, 42);
    CHECK(u->has_date_created && u->has_date_modified);
    CHECK_EQ_INT(u->date_modified_ms, 1795356331417LL);
    CHECK_EQ_STR(u->contact_list.id, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f");
    CHECK_EQ_STR(u->contact_list.name, "Renewals East Q2");
    CHECK_EQ_STR(u->division.id, "4d5e6f70-8192-4a3b-bc4d-5e6f70819a2b");
    CHECK_EQ_STR(u->edge_group.id, "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4");
    CHECK(u->site.id == NULL); /* "site": null */
    CHECK_EQ_STR(u->queue.id, "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d");
    CHECK(u->has_priority);
    CHECK_EQ_INT(u->priority, 5);
    CHECK_EQ_INT(u->error_count, 0);
    notification_clear(&n);
    CHECK(n.campaign == NULL && n.topic == NULL);
}

static void test_unknown_enums_and_fields_are_tolerated(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("campaign_unknown_enum.json", &n, err, sizeof err) == 0);
    REQUIRE(n.campaign);
    CHECK_EQ_STR(n.campaign->campaign_status, "paused_by_schedule");
    CHECK_EQ_STR(n.campaign->dialing_mode, "ai_assisted");
    REQUIRE(n.campaign->error_count == 1);
    CHECK_EQ_STR(n.campaign->errors[0].error, "Queue not found");
    CHECK_EQ_STR(n.campaign->errors[0].details, "The queue 7a8b9c0d was deleted");
    CHECK(!n.campaign->has_date_created);
    CHECK_EQ_INT(n.campaign->date_modified_ms, 1795341600000LL);
    notification_clear(&n);

    int rc = decode_fixture("campaign_unknown_fields.json", &n, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    REQUIRE(rc == 0 && n.campaign);
    CHECK_EQ_STR(n.campaign->campaign_status, "on");
    CHECK(!n.campaign->has_priority);          /* "high" is not a priority: absent */
    CHECK(n.campaign->contact_list.id == NULL); /* a string where an object belongs */
    CHECK_EQ_STR(n.campaign->site.id, "0f1e2d3c-4b5a-4697-8877-665544332211");
    CHECK(n.campaign->site.name == NULL);
    notification_clear(&n);
}

static void test_progress_accepts_floats(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("progress.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_PROGRESS);
    const struct campaign_progress *p = &n.progress;
    CHECK_EQ_STR(p->campaign_id, CAMPAIGN_ID);
    CHECK_EQ_STR(p->campaign_name, "Spring Renewals 2026 - East");
    CHECK(p->has_contacts_called && p->contacts_called == 1520.0);
    CHECK(p->has_contacts_messaged && p->contacts_messaged == 0.0);
    CHECK(p->has_total_contacts && p->total_contacts == 4000.0);
    CHECK(p->has_percentage && p->percentage == 38.0);
    REQUIRE(p->skipped_count == 2); /* "INVALID":"x" is not a count */
    CHECK_EQ_STR(p->skipped[0].reason, "DNC");
    CHECK_EQ_INT(p->skipped[0].count, 12);
    CHECK_EQ_INT(p->skipped[1].count, 40);
    notification_clear(&n);

    /* The campaign id falls back to the topic when the body omits it. */
    const char bare[] = "{\"topicName\":\"v2.outbound.campaigns.c1.progress\","
                        "\"eventBody\":{\"percentage\":12.5}}";
    REQUIRE(decode_notification(bare, strlen(bare), &n, err, sizeof err) == 0);
    CHECK_EQ_STR(n.progress.campaign_id, "c1");
    CHECK(n.progress.percentage == 12.5);
    CHECK(!n.progress.has_total_contacts);
    notification_clear(&n);
}

static void test_stats_keep_json_and_find_line_utilization(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("stats.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_STATS);
    CHECK_EQ_STR(n.stats.campaign_id, CAMPAIGN_ID);
    CHECK_EQ_STR(n.stats.group_json,
                 "{\"campaignId\":\"" CAMPAIGN_ID "\",\"mediaType\":\"voice\"}");
    CHECK_CONTAINS(n.stats.data_json, "\"nOutboundAttempted\"");
    CHECK(n.stats.has_lines_utilization);
    CHECK(n.stats.lines_utilization == 0.625);
    notification_clear(&n);

    const char rest_shape[] =
        "{\"topicName\":\"v2.outbound.campaigns.c2.stats\",\"eventBody\":{\"linesUtilization\":"
        "{\"assignedOutboundLines\":10,\"totalAvailableOutboundLines\":40}}}";
    REQUIRE(decode_notification(rest_shape, strlen(rest_shape), &n, err, sizeof err) == 0);
    CHECK(n.stats.has_lines_utilization && n.stats.lines_utilization == 0.25);
    CHECK(n.stats.group_json == NULL && n.stats.data_json == NULL);
    notification_clear(&n);

    const char none[] = "{\"topicName\":\"v2.outbound.campaigns.c2.stats\",\"eventBody\":"
                        "{\"data\":[{\"metrics\":[{\"metric\":\"x\",\"stats\":{\"count\":1}}]}]}}";
    REQUIRE(decode_notification(none, strlen(none), &n, err, sizeof err) == 0);
    CHECK(!n.stats.has_lines_utilization);
    notification_clear(&n);
}

static void test_import_status_notification_and_rest(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("importstatus.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_IMPORT_STATUS);
    const struct import_status *s = &n.import_status;
    CHECK_EQ_STR(s->contact_list_id, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f");
    CHECK_EQ_STR(s->import_state, "IN_PROGRESS");
    CHECK(s->has_total_records && s->total_records == 10000);
    CHECK(s->has_completed_records && s->completed_records == 2500);
    CHECK(s->has_percentage_complete && s->percentage_complete == 25.0);
    CHECK(s->failure_reason == NULL);
    notification_clear(&n);

    size_t len;
    char *text = read_fixture(FIXTURES "rest_importstatus.json", &len);
    REQUIRE(text);
    struct import_status rest;
    CHECK_EQ_INT(decode_import_status_rest(text, len, "list-9", &rest, err, sizeof err), 0);
    CHECK_EQ_STR(rest.contact_list_id, "list-9");
    CHECK_EQ_STR(rest.import_state, "FAILED");
    CHECK(rest.has_percentage_complete && rest.percentage_complete == 24.0);
    CHECK_CONTAINS(rest.failure_reason, "Row 1201");
    import_status_clear(&rest);
    CHECK_EQ_INT(decode_import_status_rest("[1]", 3, "list-9", &rest, err, sizeof err), -1);
    CHECK_CONTAINS(err, "list-9");
    CHECK_EQ_INT(decode_import_status_rest(text, len, "", &rest, err, sizeof err), -1);
    free(text);
}

static void test_unknown_topic_is_kept(void)
{
    char err[256];
    struct notification n;
    REQUIRE(decode_fixture("unknown_topic.json", &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_UNKNOWN);
    CHECK_EQ_STR(n.topic, "v2.outbound.dnclists.d1c2b3a4-9586-4766-a5b4-c3d2e1f0a9b8");
    CHECK(n.campaign == NULL);
    notification_clear(&n);

    const char skill[] = "{\"topicName\":\"v2.outbound.campaigns.c3.skillstats\",\"eventBody\":{}}";
    REQUIRE(decode_notification(skill, strlen(skill), &n, err, sizeof err) == 0);
    CHECK_EQ_INT(n.kind, NOTIFY_UNKNOWN);
    CHECK_EQ_STR(n.topic_entity_id, "c3");
    notification_clear(&n);
}

static void test_rest_campaign_matches_notification_fingerprint(void)
{
    char err[256];
    size_t len;
    char *text = read_fixture(FIXTURES "rest_campaign.json", &len);
    REQUIRE(text);
    struct campaign_update *rest = decode_campaign_text(text, len, err, sizeof err);
    free(text);
    REQUIRE(rest);
    CHECK_EQ_STR(rest->campaign_status, "forced_stopping");
    CHECK_EQ_INT(rest->version, 43);
    CHECK_EQ_STR(rest->division.name, "Home");

    struct notification n;
    REQUIRE(decode_fixture("campaign_full.json", &n, err, sizeof err) == 0);
    /* Same configuration, one with names and one with selfUris and reordered keys. */
    CHECK(rest->config_fingerprint == n.campaign->config_fingerprint);
    /* Snapshots store fingerprints: a new way of computing one must give the old value,
     * or every campaign would look reconfigured after an upgrade. */
    CHECK(n.campaign->config_fingerprint == 0xfde7f5ced6abb7d5ULL);
    notification_clear(&n);
    campaign_update_free(rest);

    const char a[] = "{\"id\":\"c\",\"outboundLineCount\":40,\"abandonRate\":3.5}";
    const char b[] = "{\"id\":\"c\",\"outboundLineCount\":41,\"abandonRate\":3.5}";
    const char c[] =
        "{\"abandonRate\":3.5,\"id\":\"c\",\"outboundLineCount\":40,\"selfUri\":\"/x\"}";
    /* A repeated member counts once, by its first value, as a lookup by name finds it. */
    const char twice[] =
        "{\"id\":\"c\",\"outboundLineCount\":40,\"abandonRate\":3.5,\"outboundLineCount\":41}";
    struct campaign_update *ut = decode_campaign_text(twice, strlen(twice), err, sizeof err);
    struct campaign_update *ua = decode_campaign_text(a, strlen(a), err, sizeof err);
    REQUIRE(ut && ua);
    CHECK(ut->config_fingerprint == ua->config_fingerprint);
    campaign_update_free(ut);
    campaign_update_free(ua);
    ua = decode_campaign_text(a, strlen(a), err, sizeof err);
    struct campaign_update *ub = decode_campaign_text(b, strlen(b), err, sizeof err);
    struct campaign_update *uc = decode_campaign_text(c, strlen(c), err, sizeof err);
    REQUIRE(ua && ub && uc);
    CHECK(ua->config_fingerprint != ub->config_fingerprint);
    CHECK(ua->config_fingerprint == uc->config_fingerprint);
    campaign_update_free(ua);
    campaign_update_free(ub);
    campaign_update_free(uc);
    campaign_update_free(NULL);
}

/* The decoder finds a body's members in one pass: each field must still be the first
 * member of its name, as a lookup by name gives it, and names that only share a length
 * or a prefix with a field must not be taken for it. */
static void test_members_are_the_first_of_their_name(void)
{
    char err[256];
    const char body[] =
        "{\"ids\":\"not-the-id\",\"i\":\"x\",\"sits\":{\"id\":\"s0\"},"
        "\"id\":\"c-1\",\"name\":\"first\",\"version\":3,\"campaignStatus\":\"on\","
        "\"contactList\":{\"id\":\"list-1\"},\"priority\":4,\"dialingMode\":\"agentless\","
        "\"anExtraordinarilyLongMemberNameOfFortyChars\":1,"
        "\"id\":\"c-2\",\"name\":\"second\",\"version\":\"bad\",\"campaignStatus\":7,"
        "\"contactList\":{\"id\":\"list-2\"},\"priority\":5,\"dialingMode\":\"preview\","
        "\"site\":{\"id\":\"s1\"},\"site\":{\"id\":\"s2\"},"
        "\"dateModified\":\"2026-11-22T10:00:00Z\",\"dateModified\":\"2026-11-23T10:00:00Z\"}";
    struct campaign_update *u = decode_campaign_text(body, strlen(body), err, sizeof err);
    REQUIRE(u != NULL);
    CHECK_EQ_STR(u->id, "c-1");
    CHECK_EQ_STR(u->name, "first");
    CHECK(u->has_version);
    CHECK_EQ_INT(u->version, 3);
    CHECK_EQ_STR(u->campaign_status, "on");
    CHECK_EQ_STR(u->contact_list.id, "list-1");
    CHECK(u->has_priority);
    CHECK_EQ_INT(u->priority, 4);
    CHECK_EQ_STR(u->dialing_mode, "agentless");
    CHECK_EQ_STR(u->site.id, "s1");
    CHECK(u->has_date_modified);
    CHECK_EQ_INT(u->date_modified_ms, 1795341600000LL);
    campaign_update_free(u);

    /* The first of a name decides even when a later one would be valid. */
    const char bad_first[] = "{\"id\":\"c\",\"version\":1.5,\"version\":2}";
    CHECK(decode_campaign_text(bad_first, strlen(bad_first), err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "version of campaign c is not an integer");
    const char no_id[] = "{\"idx\":\"c\",\"Id\":\"c\"}";
    CHECK(decode_campaign_text(no_id, strlen(no_id), err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "campaign id is missing");
}

static void test_campaign_listing(void)
{
    char err[256];
    size_t len;
    char *text = read_fixture(FIXTURES "rest_listing.json", &len);
    REQUIRE(text);
    struct campaign_listing listing;
    CHECK_EQ_INT(decode_campaign_listing(text, len, &listing, err, sizeof err), 0);
    free(text);
    CHECK_EQ_INT(listing.entity_count, 2);
    CHECK_EQ_INT(listing.skipped, 1);
    CHECK_CONTAINS(listing.first_skip_reason, "entities[1]");
    CHECK_CONTAINS(listing.first_skip_reason, "id is missing");
    CHECK_EQ_INT(listing.page_size, 100);
    CHECK_EQ_INT(listing.page_number, 1);
    CHECK_EQ_INT(listing.total, 203);
    CHECK_EQ_INT(listing.page_count, 3);
    CHECK_EQ_STR(listing.next_uri, "/api/v2/outbound/campaigns?pageSize=100&pageNumber=2");
    REQUIRE(listing.entity_count == 2);
    CHECK_EQ_STR(listing.entities[0]->id, CAMPAIGN_ID);
    CHECK_EQ_STR(listing.entities[1]->campaign_status, "forced_off");
    campaign_listing_clear(&listing);

    const char last[] = "{\"entities\":[],\"pageSize\":100,\"pageNumber\":3,\"pageCount\":3}";
    CHECK_EQ_INT(decode_campaign_listing(last, strlen(last), &listing, err, sizeof err), 0);
    CHECK(listing.next_uri == NULL);
    CHECK_EQ_INT(listing.entity_count, 0);
    campaign_listing_clear(&listing);

    const char bad[] = "{\"entities\":{\"id\":\"x\"}}";
    CHECK_EQ_INT(decode_campaign_listing(bad, strlen(bad), &listing, err, sizeof err), -1);
    CHECK_CONTAINS(err, "entities is not an array");
}

struct malformed_case {
    const char *file;
    const char *expected_error;
};

static void test_malformed_fixtures_fail_with_clear_errors(void)
{
    static const struct malformed_case cases[] = {
        {"truncated.json", "not valid JSON"},
        {"not_object.json", "not a JSON object"},
        {"topic_not_string.json", "topicName is not a non-empty string"},
        {"missing_topic.json", "no topicName"},
        {"body_not_object.json", "eventBody is not a JSON object"},
        {"campaign_missing_id.json", "campaign id is missing"},
        {"version_wrong_type.json", "version of campaign abc is not an integer"},
        {"huge_version.json", "version of campaign abc is not an integer"},
        {"status_wrong_type.json", "campaignStatus of campaign abc is not a string"},
        {"id_mismatch.json", "does not match the topic"},
        {"deep_nesting.json", "not valid JSON"},
        {"invalid_utf8.json", "not valid UTF-8 text (byte 0xc3 at offset 76)"},
        {"embedded_nul.json", "not valid UTF-8 text (byte 0x00 at offset 32)"},
        {"empty.json", "notification frame is empty"},
        {"trailing_garbage.json", "trailing data"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[128], err[256];
        snprintf(name, sizeof name, "malformed/%s", cases[i].file);
        struct notification n;
        int rc = decode_fixture(name, &n, err, sizeof err);
        CHECK_MSG(rc == -1, "%s decoded with rc %d", cases[i].file, rc);
        CHECK_MSG(strstr(err, cases[i].expected_error) != NULL, "%s: \"%s\" lacks \"%s\"",
                  cases[i].file, err, cases[i].expected_error);
        CHECK(n.topic == NULL && n.campaign == NULL);
        notification_clear(&n);
    }
}

/* The UTF-8 check skips ASCII a word at a time: a bad byte, a NUL or a truncated
 * sequence must be found at every offset within and across words, and well-formed
 * multibyte text must pass wherever it starts. */
static void test_utf8_check_at_every_offset(void)
{
    static const struct {
        const char *bytes, *expected; /* expected NULL: the frame decodes */
    } inserts[] = {
        {"\xc3", "byte 0xc3"},       /* lead byte followed by ASCII */
        {"\x80", "byte 0x80"},       /* stray continuation byte */
        {"\xff", "byte 0xff"},       /* never valid */
        {"\xc0\xaf", "byte 0xc0"},  /* overlong encoding of '/' */
        {"\xed\xa0\x80", "byte 0xed"}, /* UTF-16 surrogate */
        {"\x7f", NULL},
        {"\xc3\xa9", NULL},
        {"\xe2\x82\xac", NULL},
        {"\xf0\x9f\x98\x80", NULL},
    };
    const char head[] = "{\"topicName\":\"channel.metadata\",\"eventBody\":{\"message\":\"";
    for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
        for (size_t at = 0; at < 24; at++) {
            char frame[256], err[256] = "", expected[64];
            size_t offset = strlen(head) + at;
            snprintf(frame, sizeof frame, "%s%.*s%s%s\"}}", head, (int)at,
                     "abcdefghijklmnopqrstuvwxyz", inserts[k].bytes, "0123456789abcdef");
            struct notification n;
            int rc = decode_notification(frame, strlen(frame), &n, err, sizeof err);
            if (inserts[k].expected) {
                snprintf(expected, sizeof expected, "%s at offset %zu", inserts[k].expected,
                         offset);
                CHECK_MSG(rc == -1 && strstr(err, expected) != NULL,
                          "insert %zu at %zu: rc %d, \"%s\" lacks \"%s\"", k, at, rc, err,
                          expected);
            } else {
                CHECK_MSG(rc == 0, "insert %zu at %zu: %s", k, at, err);
            }
            notification_clear(&n);
        }
    }
    /* A NUL anywhere in the frame, including its last word. */
    const char text[] = "{\"topicName\":\"channel.metadata\",\"eventBody\":{}}";
    for (size_t at = 0; at < sizeof text - 1; at++) {
        char frame[sizeof text], err[256] = "", expected[64];
        memcpy(frame, text, sizeof text);
        frame[at] = '\0';
        struct notification n;
        snprintf(expected, sizeof expected, "byte 0x00 at offset %zu", at);
        CHECK_MSG(decode_notification(frame, sizeof text - 1, &n, err, sizeof err) == -1 &&
                      strstr(err, expected) != NULL,
                  "NUL at %zu: \"%s\"", at, err);
        notification_clear(&n);
    }
}

static void test_truncated_error_names_offset(void)
{
    char err[256];
    const char frame[] = "{\"topicName\":\"channel.metadata\",\"eventBody\":{\"mess";
    struct notification n;
    CHECK_EQ_INT(decode_notification(frame, strlen(frame), &n, err, sizeof err), -1);
    CHECK_CONTAINS(err, "of 50 bytes");
    CHECK_EQ_INT(decode_notification(NULL, 0, &n, err, sizeof err), -1);
    /* The length bounds the parse even when the buffer continues. */
    const char longer[] = "{\"topicName\":\"channel.metadata\",\"eventBody\":{}}GARBAGE";
    CHECK_EQ_INT(decode_notification(longer, strlen(longer) - 7, &n, err, sizeof err), 0);
    CHECK_EQ_INT(n.kind, NOTIFY_CHANNEL_METADATA);
    notification_clear(&n);
}

static void test_integer_range(void)
{
    char err[256];
    const char *ok[] = {
        "{\"id\":\"c\",\"version\":9007199254740992}",
        "{\"id\":\"c\",\"version\":0}",
        "{\"id\":\"c\",\"version\":4.0}",
        "{\"id\":\"c\",\"version\":null}",
    };
    const char *bad[] = {
        "{\"id\":\"c\",\"version\":9007199254740994}",
        "{\"id\":\"c\",\"version\":4.5}",
        "{\"id\":\"c\",\"version\":1e999}",
        "{\"id\":\"c\",\"version\":true}",
        "{\"id\":\"\",\"version\":1}",
        "{\"id\":7,\"version\":1}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct campaign_update *u = decode_campaign_text(ok[i], strlen(ok[i]), err, sizeof err);
        CHECK_MSG(u != NULL, "%s: %s", ok[i], err);
        campaign_update_free(u);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct campaign_update *u = decode_campaign_text(bad[i], strlen(bad[i]), err, sizeof err);
        CHECK_MSG(u == NULL, "%s accepted", bad[i]);
        campaign_update_free(u);
    }
    struct campaign_update *u = decode_campaign_text(ok[3], strlen(ok[3]), err, sizeof err);
    REQUIRE(u);
    CHECK(!u->has_version);
    campaign_update_free(u);
}

static void test_every_fixture_decodes(void)
{
    DIR *dir = opendir(FIXTURES);
    REQUIRE(dir);
    int decoded = 0;
    struct dirent *ent;
    while ((ent = readdir(dir))) {
        const char *name = ent->d_name;
        size_t len = strlen(name);
        if (len < 6 || strcmp(name + len - 5, ".json") != 0 || strncmp(name, "rest_", 5) == 0)
            continue;
        char err[256];
        struct notification n;
        int rc = decode_fixture(name, &n, err, sizeof err);
        CHECK_MSG(rc == 0, "%s: %s", name, err);
        CHECK_MSG(n.kind != NOTIFY_UNKNOWN || strcmp(name, "unknown_topic.json") == 0,
                  "%s is unclassified", name);
        notification_clear(&n);
        decoded++;
    }
    closedir(dir);
    CHECK(decoded >= 12);
}

/* The tree handed on for the audit event: the frame's own parse when it decoded and
 * the tree holds all the text says; nothing (and a free arena) otherwise. */
static void test_kept_tree_is_the_frames_parse(void)
{
    struct json_arena *arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    char err[256];
    struct notification n;
    cJSON *tree = NULL;
    const char frame[] = "{\"topicName\":\"v2.outbound.campaigns.c-1.progress\",\"eventBody\":"
                         "{\"campaign\":{\"id\":\"c-1\",\"name\":\"A \\u00e9\"},"
                         "\"percentage\":12}}";
    REQUIRE(decode_notification_keep(arena, frame, strlen(frame), &n, &tree, err,
                                     sizeof err) == 0);
    REQUIRE(tree != NULL);
    cJSON *expected = cJSON_Parse(frame);
    char why[256] = "";
    CHECK_MSG(json_same_tree(tree, expected, why, sizeof why), "%s", why);
    cJSON_Delete(expected);
    notification_clear(&n);
    json_arena_release(arena, tree);

    /* A \u0000 cuts the campaign's name short in the tree: decoded, not handed on. */
    const char cut[] = "{\"topicName\":\"v2.outbound.campaigns.c-1.progress\",\"eventBody\":"
                       "{\"campaign\":{\"id\":\"c-1\",\"name\":\"A\\u0000B\"},"
                       "\"percentage\":12}}";
    tree = (cJSON *)1;
    CHECK(decode_notification_keep(arena, cut, strlen(cut), &n, &tree, err, sizeof err) == 0);
    CHECK(tree == NULL);
    notification_clear(&n);
    const char bad_hex[] = "{\"topicName\":\"x\\u00?1\",\"eventBody\":{}}";
    CHECK(decode_notification_keep(arena, bad_hex, strlen(bad_hex), &n, &tree, err,
                                   sizeof err) == 0);
    CHECK(tree == NULL);
    notification_clear(&n);

    /* A frame that does not decode leaves nothing either. */
    const char no_body[] = "{\"topicName\":\"v2.outbound.campaigns.c-1\"}";
    CHECK(decode_notification_keep(arena, no_body, strlen(no_body), &n, &tree, err,
                                   sizeof err) == -1);
    CHECK(tree == NULL);
    /* Each case left the arena free: a live tree would make this parse abort. */
    CHECK(decode_notification_keep(arena, frame, strlen(frame), &n, &tree, err,
                                   sizeof err) == 0);
    notification_clear(&n);
    json_arena_release(arena, tree);
    json_arena_destroy(arena);
}

int main(void)
{
    RUN(test_channel_metadata);
    RUN(test_system_topics);
    RUN(test_full_campaign_body);
    RUN(test_unknown_enums_and_fields_are_tolerated);
    RUN(test_progress_accepts_floats);
    RUN(test_stats_keep_json_and_find_line_utilization);
    RUN(test_import_status_notification_and_rest);
    RUN(test_unknown_topic_is_kept);
    RUN(test_rest_campaign_matches_notification_fingerprint);
    RUN(test_members_are_the_first_of_their_name);
    RUN(test_campaign_listing);
    RUN(test_malformed_fixtures_fail_with_clear_errors);
    RUN(test_truncated_error_names_offset);
    RUN(test_utf8_check_at_every_offset);
    RUN(test_integer_range);
    RUN(test_every_fixture_decodes);
    RUN(test_kept_tree_is_the_frames_parse);
    return harness_finish();
}
