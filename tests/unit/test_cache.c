/* Unit tests for consumer/cache: ordering by version, change classification,
 * interning, snapshots and the memory footprint of 10,000 campaigns. */
#include <malloc.h>

#include "consumer/cache.h"
#include "consumer/decode.h"
#include "tests/harness.h"

/* Under ASan, glibc's mallinfo2 does not see allocations; the sanitizer's own
 * allocator statistics do (declared here: gcc ships no header for them). */
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
#define HAVE_SANITIZER_ALLOCATOR 1
#endif

static char *dup_text(const char *text)
{
    return text ? strdup(text) : NULL;
}

static struct campaign_update *make_update(const char *id, const char *status, int64_t version)
{
    struct campaign_update *u = campaign_update_new();
    u->id = dup_text(id);
    u->name = dup_text("Renewals");
    u->campaign_status = dup_text(status);
    u->dialing_mode = dup_text("predictive");
    u->contact_list.id = dup_text("list-1");
    u->division.id = dup_text("division-1");
    if (version >= 0) {
        u->version = version;
        u->has_version = true;
    }
    return u;
}

/* Applies and frees the update; returns the change kind and keeps the change in out. */
static enum cache_change_kind apply(struct cache *cache, struct campaign_update *u,
                                    enum cache_origin origin, int64_t now,
                                    struct cache_change *out)
{
    cache_change_clear(out);
    int rc = cache_apply(cache, u, origin, now, out);
    campaign_update_free(u);
    CHECK_EQ_INT(rc, 0);
    return out->kind;
}

struct fixture {
    struct lifecycle_map *map;
    struct cache *cache;
    struct cache_change change;
};

static void fixture_open(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->map = lifecycle_map_create_default();
    f->cache = cache_create(f->map);
}

static void fixture_close(struct fixture *f)
{
    cache_change_clear(&f->change);
    cache_destroy(f->cache);
    lifecycle_map_destroy(f->map);
}

static void test_first_sight_then_transition(void)
{
    struct fixture f;
    fixture_open(&f);
    CHECK_EQ_INT(apply(f.cache, make_update("c1", "on", 10), CACHE_ORIGIN_STREAM, 1000, &f.change),
                 CACHE_FIRST_SIGHT);
    CHECK_EQ_INT(f.change.origin, CACHE_ORIGIN_SNAPSHOT);
    const struct cache_entry *e = cache_get(f.cache, "c1");
    REQUIRE(e);
    CHECK(f.change.entry == e);
    CHECK_EQ_STR(e->raw_status, "on");
    CHECK_EQ_INT(e->state, LC_RUNNING);
    CHECK_EQ_INT(e->version, 10);
    CHECK_EQ_INT(e->state_entered_ms, 1000);
    CHECK_EQ_STR(e->dialing_mode, "predictive");
    CHECK_EQ_INT(cache_count(f.cache), 1);

    CHECK_EQ_INT(apply(f.cache, make_update("c1", "stopping", 11), CACHE_ORIGIN_STREAM, 2000,
                       &f.change),
                 CACHE_STATE_TRANSITION);
    CHECK_EQ_INT(f.change.origin, CACHE_ORIGIN_STREAM);
    CHECK_EQ_STR(f.change.previous_status, "on");
    CHECK_EQ_INT(f.change.previous_state, LC_RUNNING);
    CHECK_EQ_INT(f.change.previous_version, 10);
    CHECK_EQ_INT(f.change.previous_state_entered_ms, 1000);
    CHECK_EQ_INT(f.change.verdict, LC_VERDICT_VALID);
    CHECK(!f.change.config_changed);
    CHECK_EQ_STR(e->raw_status, "stopping");
    CHECK_EQ_INT(e->state, LC_STOPPING);
    CHECK_EQ_INT(e->state_entered_ms, 2000);
    CHECK_EQ_INT(e->last_seen_ms, 2000);

    /* A stopping campaign cannot be back on without passing through off. */
    CHECK_EQ_INT(apply(f.cache, make_update("c1", "on", 12), CACHE_ORIGIN_RECONCILE, 3000,
                       &f.change),
                 CACHE_STATE_TRANSITION);
    CHECK_EQ_INT(f.change.verdict, LC_VERDICT_INVALID);
    CHECK_EQ_INT(f.change.origin, CACHE_ORIGIN_RECONCILE);
    CHECK_EQ_INT(e->state, LC_RUNNING); /* the platform stays the truth */

    CHECK_EQ_INT(apply(f.cache, make_update("c1", "brand_new_status", 13), CACHE_ORIGIN_STREAM,
                       4000, &f.change),
                 CACHE_STATE_TRANSITION);
    CHECK_EQ_INT(f.change.verdict, LC_VERDICT_UNCHECKED);
    CHECK_EQ_STR(e->raw_status, "brand_new_status");
    CHECK_EQ_INT(e->state, LC_UNKNOWN);
    fixture_close(&f);
}

static void test_stale_and_duplicate_are_dropped_and_counted(void)
{
    struct fixture f;
    fixture_open(&f);
    apply(f.cache, make_update("c1", "on", 10), CACHE_ORIGIN_STREAM, 1000, &f.change);
    CHECK_EQ_INT(apply(f.cache, make_update("c1", "off", 9), CACHE_ORIGIN_STREAM, 2000, &f.change),
                 CACHE_NONE_STALE);
    CHECK_EQ_INT(apply(f.cache, make_update("c1", "off", 10), CACHE_ORIGIN_RECONCILE, 2000,
                       &f.change),
                 CACHE_NONE_DUPLICATE);
    CHECK_EQ_INT(apply(f.cache, make_update("c1", "on", 10), CACHE_ORIGIN_STREAM, 2000, &f.change),
                 CACHE_NONE_DUPLICATE);
    const struct cache_entry *e = cache_get(f.cache, "c1");
    CHECK_EQ_STR(e->raw_status, "on");
    CHECK_EQ_INT(e->last_seen_ms, 1000);
    struct cache_stats stats = cache_stats(f.cache);
    CHECK_EQ_INT(stats.stale_dropped, 1);
    CHECK_EQ_INT(stats.duplicate_dropped, 2);
    CHECK_EQ_INT(stats.applied, 1);
    fixture_close(&f);
}

static void test_ordering_without_version_uses_date_modified(void)
{
    struct fixture f;
    fixture_open(&f);
    struct campaign_update *u = make_update("c1", "on", -1);
    u->has_date_modified = true;
    u->date_modified_ms = 5000;
    apply(f.cache, u, CACHE_ORIGIN_RECONCILE, 100, &f.change);

    u = make_update("c1", "off", -1);
    u->has_date_modified = true;
    u->date_modified_ms = 4000;
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 200, &f.change), CACHE_NONE_DUPLICATE);
    u = make_update("c1", "off", -1);
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 200, &f.change), CACHE_NONE_DUPLICATE);
    u = make_update("c1", "off", -1);
    u->has_date_modified = true;
    u->date_modified_ms = 6000;
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 300, &f.change), CACHE_STATE_TRANSITION);
    CHECK_EQ_INT(f.change.verdict, LC_VERDICT_VALID);

    /* Equal versions: a newer dateModified still wins (status-only change). */
    apply(f.cache, make_update("c2", "on", 7), CACHE_ORIGIN_STREAM, 100, &f.change);
    u = make_update("c2", "stopping", 7);
    u->has_date_modified = true;
    u->date_modified_ms = 9000;
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 400, &f.change), CACHE_STATE_TRANSITION);
    /* A versioned update beats an entry that never had a version. */
    u = make_update("c1", "on", 1);
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 500, &f.change), CACHE_STATE_TRANSITION);
    CHECK_EQ_INT(cache_get(f.cache, "c1")->version, 1);
    fixture_close(&f);
}

static void test_config_changes(void)
{
    struct fixture f;
    fixture_open(&f);
    apply(f.cache, make_update("c1", "on", 1), CACHE_ORIGIN_STREAM, 100, &f.change);

    struct campaign_update *u = make_update("c1", "on", 2);
    free(u->dialing_mode);
    u->dialing_mode = dup_text("power");
    u->has_priority = true;
    u->priority = 4;
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 200, &f.change), CACHE_CONFIG_ONLY);
    CHECK(f.change.config_changed);
    REQUIRE(f.change.change_count == 2);
    CHECK_EQ_INT(f.change.changes[0].field, CACHE_FIELD_DIALING_MODE);
    CHECK_EQ_STR(f.change.changes[0].before, "predictive");
    CHECK_EQ_STR(f.change.changes[0].after, "power");
    CHECK_EQ_INT(f.change.changes[1].field, CACHE_FIELD_PRIORITY);
    CHECK(f.change.changes[1].before == NULL);
    CHECK_EQ_STR(f.change.changes[1].after, "4");
    CHECK_EQ_INT(f.change.changed_fields,
                 (1u << CACHE_FIELD_DIALING_MODE) | (1u << CACHE_FIELD_PRIORITY));
    CHECK_EQ_INT(cache_get(f.cache, "c1")->state_entered_ms, 100);

    /* Transition and config at once: one transition that says config changed too. */
    u = make_update("c1", "stopping", 3);
    free(u->dialing_mode);
    u->dialing_mode = dup_text("power");
    u->has_priority = true;
    u->priority = 4;
    u->config_fingerprint = 77;
    u->error_count = 1;
    u->errors = calloc(1, sizeof *u->errors);
    u->errors[0].error = dup_text("Edge unavailable");
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 300, &f.change), CACHE_STATE_TRANSITION);
    CHECK(f.change.config_changed);
    CHECK_EQ_INT(f.change.changed_fields,
                 (1u << CACHE_FIELD_ERRORS) | (1u << CACHE_FIELD_SETTINGS));
    CHECK_EQ_STR(cache_get(f.cache, "c1")->errors_summary, "Edge unavailable");

    /* Accepted but nothing observable changed. */
    u = make_update("c1", "stopping", 4);
    free(u->dialing_mode);
    u->dialing_mode = dup_text("power");
    u->has_priority = true;
    u->priority = 4;
    u->config_fingerprint = 77;
    u->error_count = 1;
    u->errors = calloc(1, sizeof *u->errors);
    u->errors[0].error = dup_text("Edge unavailable");
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 400, &f.change), CACHE_VERSION_ONLY);
    CHECK_EQ_INT(f.change.change_count, 0);
    fixture_close(&f);
}

static void test_raw_change_within_one_state(void)
{
    struct fixture f;
    fixture_open(&f);
    apply(f.cache, make_update("c1", "off", 1), CACHE_ORIGIN_STREAM, 100, &f.change);
    CHECK_EQ_INT(apply(f.cache, make_update("c1", "forced_off", 2), CACHE_ORIGIN_STREAM, 200,
                       &f.change),
                 CACHE_STATE_TRANSITION);
    CHECK_EQ_INT(f.change.verdict, LC_VERDICT_SAME);
    CHECK_EQ_INT(cache_get(f.cache, "c1")->state_entered_ms, 100);

    /* A body without campaignStatus keeps the known status. */
    struct campaign_update *u = make_update("c1", NULL, 3);
    CHECK_EQ_INT(apply(f.cache, u, CACHE_ORIGIN_STREAM, 300, &f.change), CACHE_VERSION_ONLY);
    CHECK_EQ_STR(cache_get(f.cache, "c1")->raw_status, "forced_off");
    fixture_close(&f);
}

static void test_remove_iterate_and_side_facts(void)
{
    struct fixture f;
    fixture_open(&f);
    char id[32];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "c%03d", i);
        apply(f.cache, make_update(id, i % 2 ? "on" : "off", 1), CACHE_ORIGIN_RECONCILE, 10,
              &f.change);
    }
    CHECK_EQ_INT(cache_count(f.cache), 100);
    CHECK_EQ_INT(cache_remove(f.cache, "c050"), 0);
    CHECK_EQ_INT(cache_remove(f.cache, "c050"), -1);
    CHECK(cache_get(f.cache, "c050") == NULL);
    int seen = 0, running = 0;
    const struct cache_entry *e;
    for (size_t it = 0; (e = cache_next(f.cache, &it));) {
        seen++;
        running += e->state == LC_RUNNING;
    }
    CHECK_EQ_INT(seen, 99);
    CHECK_EQ_INT(running, 50);

    /* Interned: two entries share one copy of a repeated value. */
    CHECK(cache_get(f.cache, "c001")->division_id == cache_get(f.cache, "c002")->division_id);

    cache_set_import_state(f.cache, "list-1", "IN_PROGRESS");
    CHECK_EQ_STR(cache_entry_import_state(f.cache, cache_get(f.cache, "c007")), "IN_PROGRESS");
    cache_set_import_state(f.cache, "list-1", "FAILED");
    CHECK_EQ_STR(cache_import_state(f.cache, "list-1"), "FAILED");
    cache_set_import_state(f.cache, "list-1", NULL);
    CHECK(cache_import_state(f.cache, "list-1") == NULL);
    CHECK_EQ_INT(cache_set_progress(f.cache, "c007", 42.5), 0);
    CHECK(cache_get(f.cache, "c007")->has_progress);
    CHECK_EQ_INT(cache_set_progress(f.cache, "nope", 1), -1);
    CHECK_EQ_INT(cache_set_last_event_id(f.cache, "c007", "0123456789abcdef0123456789abcdef"), 0);
    CHECK_EQ_STR(cache_get(f.cache, "c007")->last_event_id, "0123456789abcdef0123456789abcdef");

    struct campaign_update *anonymous = campaign_update_new();
    CHECK_EQ_INT(cache_apply(f.cache, anonymous, CACHE_ORIGIN_STREAM, 1, &f.change), -1);
    campaign_update_free(anonymous);
    fixture_close(&f);
}

static void test_snapshot_round_trip_is_exact(void)
{
    struct fixture f;
    fixture_open(&f);
    char id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "campaign-%d", (i * 7919) % 1000);
        struct campaign_update *u = make_update(id, i % 3 ? "on" : "forced_stopping", i);
        u->has_date_modified = true;
        u->date_modified_ms = 1795356331417LL + i;
        u->config_fingerprint = 0xfedcba9876543210ULL + (uint64_t)i;
        if (i % 5 == 0) {
            free(u->name);
            u->name = dup_text("Quote \" and é");
        }
        apply(f.cache, u, CACHE_ORIGIN_RECONCILE, 1000 + i, &f.change);
    }
    cache_set_progress(f.cache, "campaign-0", 33.333333333333336);
    cache_set_last_event_id(f.cache, "campaign-0", "abc");
    cache_set_import_state(f.cache, "list-1", "IN_PROGRESS");

    struct strbuf first, second;
    strbuf_init(&first);
    strbuf_init(&second);
    cache_snapshot_serialize(f.cache, &first);

    struct cache *copy = cache_create(f.map);
    char err[256] = "";
    CHECK_EQ_INT(cache_snapshot_restore(copy, first.data, first.len, err, sizeof err), 0);
    CHECK_EQ_STR(err, "");
    cache_snapshot_serialize(copy, &second);
    CHECK_EQ_INT(second.len, first.len);
    CHECK_EQ_STR(strbuf_cstr(&second), strbuf_cstr(&first));
    CHECK_EQ_INT(cache_count(copy), cache_count(f.cache));
    const struct cache_entry *a = cache_get(f.cache, "campaign-0");
    const struct cache_entry *b = cache_get(copy, "campaign-0");
    REQUIRE(a && b);
    CHECK_EQ_INT(b->state_entered_ms, a->state_entered_ms);
    CHECK_EQ_INT(b->state, LC_STOPPING);
    CHECK(b->progress_percentage == a->progress_percentage);
    CHECK(b->config_fingerprint == a->config_fingerprint);
    CHECK_EQ_STR(cache_entry_import_state(copy, b), "IN_PROGRESS");

    /* The restored cache orders later updates exactly as the original would. */
    struct cache_change change = {0};
    struct campaign_update *u = make_update("campaign-0", "on", 0);
    CHECK_EQ_INT(apply(copy, u, CACHE_ORIGIN_STREAM, 5000, &change), CACHE_NONE_DUPLICATE);
    cache_change_clear(&change);
    cache_destroy(copy);
    strbuf_free(&first);
    strbuf_free(&second);
    fixture_close(&f);
}

/* The stored form of one entry, byte for byte: snapshots written by earlier versions
 * must read back, and the restore test above would accept any format it reads. */
static void test_entry_serialization_golden(void)
{
    struct fixture f;
    fixture_open(&f);
    struct campaign_update *u = make_update("c-1", "on", -1);
    u->has_version = true;
    u->version = -12;
    u->has_date_created = true;
    u->date_created_ms = 1795356331417LL;
    u->has_date_modified = true;
    u->date_modified_ms = 0;
    u->has_priority = true;
    u->priority = 9007199254740993LL;
    u->queue.id = dup_text("queue-\"1\"");
    u->config_fingerprint = 0xffULL;
    apply(f.cache, u, CACHE_ORIGIN_RECONCILE, -5, &f.change);
    u = make_update("c-2", "off", -1);
    u->config_fingerprint = UINT64_MAX;
    apply(f.cache, u, CACHE_ORIGIN_RECONCILE, INT64_MAX, &f.change);
    cache_set_progress(f.cache, "c-2", 0.1);

    static const struct {
        const char *id, *stored;
    } golden[] = {
        {"c-1", "{\"id\":\"c-1\",\"name\":\"Renewals\",\"status\":\"on\",\"state\":\"RUNNING\","
                "\"version\":-12,\"dialingMode\":\"predictive\",\"contactListId\":\"list-1\","
                "\"divisionId\":\"division-1\",\"queueId\":\"queue-\\\"1\\\"\","
                "\"priority\":9007199254740993,\"dateCreatedMs\":1795356331417,"
                "\"dateModifiedMs\":0,\"stateEnteredMs\":-5,\"lastSeenMs\":-5,"
                "\"configFingerprint\":\"00000000000000ff\"}"},
        {"c-2", "{\"id\":\"c-2\",\"name\":\"Renewals\",\"status\":\"off\",\"state\":\"STOPPED\","
                "\"dialingMode\":\"predictive\",\"contactListId\":\"list-1\","
                "\"divisionId\":\"division-1\",\"stateEnteredMs\":9223372036854775807,"
                "\"lastSeenMs\":9223372036854775807,\"progressPercentage\":0.10000000000000001,"
                "\"configFingerprint\":\"ffffffffffffffff\"}"},
    };
    struct strbuf out;
    strbuf_init(&out);
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++) {
        strbuf_reset(&out);
        const struct cache_entry *entry = cache_get(f.cache, golden[i].id);
        REQUIRE(entry != NULL);
        cache_entry_serialize(entry, &out);
        CHECK_EQ_STR(strbuf_cstr(&out), golden[i].stored);
    }
    strbuf_free(&out);
    fixture_close(&f);
}

static void test_snapshot_restore_rejects_bad_input(void)
{
    struct fixture f;
    fixture_open(&f);
    apply(f.cache, make_update("keep-me", "on", 3), CACHE_ORIGIN_STREAM, 1, &f.change);
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"campaigns\":[]}", "format is missing"},
        {"{\"format\":\"v0\",\"campaigns\":[]}", "format is \"v0\""},
        {"{\"format\":\"campaign-relay.cache.v1\"}", "campaigns is not an array"},
        {"{\"format\":\"campaign-relay.cache.v1\",\"campaigns\":[{\"id\":\"a\","
         "\"stateEnteredMs\":1},{\"id\":\"b\",\"version\":\"7\",\"stateEnteredMs\":1}]}",
         "campaigns[1].version is not an integer"},
        {"{\"format\":\"campaign-relay.cache.v1\",\"campaigns\":[{\"name\":\"x\"}]}",
         "campaigns[0].id is missing"},
        {"{\"format\":\"campaign-relay.cache.v1\",\"campaigns\":[{\"id\":\"a\"}]}",
         "campaigns[0].stateEnteredMs is missing"},
        {"{\"format\":\"campaign-relay.cache.v1\",\"campaigns\":[{\"id\":\"a\","
         "\"stateEnteredMs\":1},{\"id\":\"a\",\"stateEnteredMs\":1}]}",
         "appears twice"},
        {"{\"format\":\"campaign-relay.cache.v1\",\"campaigns\":[{\"id\":\"a\","
         "\"stateEnteredMs\":1,\"configFingerprint\":\"xyz\"}]}",
         "configFingerprint is not 16 hex digits"},
        {"{\"format\":\"campaign-relay.cache.v1\",\"campaigns\":[],\"contactLists\":[{\"id\":1}]}",
         "contactLists[0].id is not a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        int rc = cache_snapshot_restore(f.cache, cases[i].text, strlen(cases[i].text), err,
                                        sizeof err);
        CHECK_MSG(rc == -1, "case %zu accepted", i);
        CHECK_MSG(strstr(err, cases[i].error) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].error);
    }
    /* All or nothing: every failure left the cache as it was. */
    CHECK_EQ_INT(cache_count(f.cache), 1);
    CHECK(cache_get(f.cache, "keep-me") != NULL);
    fixture_close(&f);
}

static size_t allocated_bytes(void)
{
#ifdef HAVE_SANITIZER_ALLOCATOR
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

/* 10,000 campaigns decoded from realistic bodies must fit well under 32 MiB. */
static void test_ten_thousand_campaigns_fit(void)
{
    struct lifecycle_map *map = lifecycle_map_create_default();
    size_t before = allocated_bytes();
    struct cache *cache = cache_create(map);
    static const char *const modes[] = {"predictive", "progressive", "power", "preview"};
    static const char *const statuses[] = {"on", "off", "stopping", "complete"};
    struct cache_change change = {0};
    char body[1024], err[256];
    for (int i = 0; i < 10000; i++) {
        snprintf(body, sizeof body,
                 "{\"id\":\"%08x-3b7e-4c1d-9e55-%012x\",\"name\":\"Campaign %d renewals east\","
                 "\"version\":%d,\"campaignStatus\":\"%s\",\"dialingMode\":\"%s\","
                 "\"dateCreated\":\"2026-03-02T09:15:00.000Z\","
                 "\"dateModified\":\"2026-11-22T14:05:31.417Z\","
                 "\"contactList\":{\"id\":\"1c2d3e4f-5a6b-4c7d-8e9f-%012x\",\"name\":\"List\"},"
                 "\"division\":{\"id\":\"4d5e6f70-8192-4a3b-bc4d-5e6f7081%04x\"},"
                 "\"edgeGroup\":{\"id\":\"9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4\"},"
                 "\"queue\":{\"id\":\"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b%04x\"},\"priority\":%d}",
                 i, i, i, 1 + i % 50, statuses[i % 4], modes[i % 4], i / 3, i % 20, i % 200,
                 1 + i % 5);
        struct campaign_update *u = decode_campaign_text(body, strlen(body), err, sizeof err);
        CHECK_MSG(u != NULL, "%s", err);
        if (!u)
            break;
        cache_change_clear(&change);
        cache_apply(cache, u, CACHE_ORIGIN_RECONCILE, 1000, &change);
        campaign_update_free(u);
    }
    cache_change_clear(&change);
    size_t after = allocated_bytes();
    size_t used = after > before ? after - before : 0;
    printf("# 10000 campaigns: %zu bytes (%.1f bytes each)\n", used, used / 10000.0);
    CHECK_EQ_INT(cache_count(cache), 10000);
    CHECK(used > 10000 * 64); /* the measurement sees the entries at all */
    CHECK(used < 8u * 1024 * 1024);
    char id[64];
    snprintf(id, sizeof id, "%08x-3b7e-4c1d-9e55-%012x", 9999, 9999);
    CHECK(cache_get(cache, id) != NULL);
    cache_destroy(cache);
    lifecycle_map_destroy(map);
}

int main(void)
{
    RUN(test_first_sight_then_transition);
    RUN(test_stale_and_duplicate_are_dropped_and_counted);
    RUN(test_ordering_without_version_uses_date_modified);
    RUN(test_config_changes);
    RUN(test_raw_change_within_one_state);
    RUN(test_remove_iterate_and_side_facts);
    RUN(test_snapshot_round_trip_is_exact);
    RUN(test_entry_serialization_golden);
    RUN(test_snapshot_restore_rejects_bad_input);
    RUN(test_ten_thousand_campaigns_fit);
    return harness_finish();
}
