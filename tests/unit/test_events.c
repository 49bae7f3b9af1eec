/* Unit tests for publishers/events: byte-exact golden CloudEvents for every builder
 * (one file per event in tests/data/events/, inputs and times fixed) and deterministic
 * ids. Run with UPDATE_GOLDEN=1 to rewrite the golden files after an intended format
 * change, and review the diff. */
#include <cjson/cJSON.h>

#include "consumer/cache.h"
#include "consumer/decode.h"
#include "publishers/audit.h"
#include "publishers/events.h"
#include "tests/harness.h"
#include "util/json_arena.h"

#define GOLDEN_DIR "tests/data/events/"
#define FIXTURES "tests/data/notifications/"
#define CAMPAIGN_ID "8a9f2c61-3b7e-4c1d-9e55-0f4b2a7d6c10"
#define OBSERVED_MS 1795356332000LL /* 2026-11-22T14:05:32.000Z */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct strbuf sb;
    strbuf_init(&sb);
    int status = strbuf_append_stream(&sb, f, 0);
    fclose(f);
    if (status != 0) {
        strbuf_free(&sb);
        return NULL;
    }
    *len = sb.len;
    return sb.data ? strbuf_detach(&sb) : strdup("");
}

/* Compares the event's structured JSON with the golden file (one line + "\n"). */
static void check_golden(const struct relay_event *event, const char *name)
{
    CHECK_MSG(event != NULL, "%s: builder returned NULL", name);
    if (!event)
        return;
    struct strbuf json;
    strbuf_init(&json);
    relay_event_to_structured_json(event, &json);
    strbuf_append_char(&json, '\n');

    cJSON *parsed = cJSON_Parse(json.data);
    CHECK_MSG(cJSON_IsObject(parsed), "%s: output is not a JSON object", name);
    cJSON_Delete(parsed);

    char path[256];
    snprintf(path, sizeof path, GOLDEN_DIR "%s.json", name);
    if (getenv("UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (f) {
            fwrite(json.data, 1, json.len, f);
            fclose(f);
        }
        printf("# rewrote %s\n", path);
    }
    size_t len = 0;
    char *golden = read_file(path, &len);
    CHECK_MSG(golden != NULL, "%s is missing", path);
    if (golden) {
        CHECK_MSG(len == json.len && memcmp(golden, json.data, len) == 0,
                  "%s differs:\n#   got      %s#   expected %s", name, json.data, golden);
    }
    free(golden);
    strbuf_free(&json);
}

static struct campaign_update *load_campaign(const char *fixture)
{
    char path[256], err[256];
    snprintf(path, sizeof path, FIXTURES "%s", fixture);
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return NULL;
    struct notification n;
    struct campaign_update *u = NULL;
    if (decode_notification(text, len, &n, err, sizeof err) == 0) {
        u = n.campaign;
        n.campaign = NULL;
    }
    notification_clear(&n);
    free(text);
    return u;
}

static int load_notification(const char *fixture, struct notification *n)
{
    char path[256], err[256];
    snprintf(path, sizeof path, FIXTURES "%s", fixture);
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return -1;
    int rc = decode_notification(text, len, n, err, sizeof err);
    free(text);
    return rc;
}

struct world {
    struct lifecycle_map *map;
    struct cache *cache;
    struct events_builder *builder;
    struct cache_change change;
};

static void world_open(struct world *w)
{
    memset(w, 0, sizeof *w);
    w->map = lifecycle_map_create_default();
    w->cache = cache_create(w->map);
    w->builder = events_builder_create(NULL, "mypurecloud.com");
}

static void world_close(struct world *w)
{
    cache_change_clear(&w->change);
    cache_destroy(w->cache);
    events_builder_destroy(w->builder);
    lifecycle_map_destroy(w->map);
}

/* The campaign of campaign_full.json seen first "on" at version 41, then the
 * fixture itself (stopping, version 42). */
static int world_apply_running_then_stopping(struct world *w, enum cache_origin origin)
{
    struct campaign_update *u = load_campaign("campaign_full.json");
    if (!u)
        return -1;
    free(u->campaign_status);
    u->campaign_status = strdup("on");
    u->version = 41;
    u->date_modified_ms -= 60000;
    cache_apply(w->cache, u, CACHE_ORIGIN_RECONCILE, OBSERVED_MS - 120000, &w->change);
    campaign_update_free(u);
    u = load_campaign("campaign_full.json");
    cache_change_clear(&w->change);
    cache_apply(w->cache, u, origin, OBSERVED_MS, &w->change);
    campaign_update_free(u);
    return w->change.kind == CACHE_STATE_TRANSITION ? 0 : -1;
}

static void test_state_changed_golden(void)
{
    struct world w;
    world_open(&w);
    REQUIRE(world_apply_running_then_stopping(&w, CACHE_ORIGIN_STREAM) == 0);
    struct events_observation obs = {OBSERVED_MS, "2f9c1b7a-6d3e-4f5a-8b9c-0d1e2f3a4b5c"};
    struct relay_event *event = events_state_changed(w.builder, &w.change, &obs);
    check_golden(event, "state_changed");
    REQUIRE(event);
    /* SHA-256("campaign.state_changed\0<id>\0v42\0stopping\0"), computed independently. */
    CHECK_EQ_STR(event->id, "e6ea8e7b92bfe3210a06d933f5d6e183");
    CHECK_EQ_STR(event->subject, CAMPAIGN_ID);
    CHECK_EQ_INT(event->family, EVENT_FAMILY_STATE);
    relay_event_free(event);
    world_close(&w);
}

static void test_same_fact_from_stream_and_reconcile_has_one_id(void)
{
    struct world a, b;
    world_open(&a);
    world_open(&b);
    REQUIRE(world_apply_running_then_stopping(&a, CACHE_ORIGIN_STREAM) == 0);
    REQUIRE(world_apply_running_then_stopping(&b, CACHE_ORIGIN_RECONCILE) == 0);
    struct events_observation stream_obs = {OBSERVED_MS, "corr-1"};
    struct events_observation rest_obs = {OBSERVED_MS + 5000, NULL};
    struct relay_event *x = events_state_changed(a.builder, &a.change, &stream_obs);
    struct relay_event *y = events_state_changed(b.builder, &b.change, &rest_obs);
    REQUIRE(x && y);
    CHECK_EQ_STR(x->id, y->id);
    CHECK_CONTAINS(y->data, "\"origin\":\"reconcile\"");
    CHECK_CONTAINS(y->data, "\"correlationId\":null");
    CHECK(strcmp(x->data, y->data) != 0);

    /* A different prefix renames the type but not the fact. */
    struct events_builder *acme = events_builder_create("com.acme.", "mypurecloud.ie");
    struct relay_event *z = events_state_changed(acme, &b.change, &rest_obs);
    REQUIRE(z);
    CHECK_EQ_STR(z->type, "com.acme.campaign.state_changed");
    CHECK_EQ_STR(z->source, "genesys-cloud://mypurecloud.ie/outbound/campaigns/" CAMPAIGN_ID);
    CHECK_EQ_STR(z->id, x->id);
    relay_event_free(x);
    relay_event_free(y);
    relay_event_free(z);
    events_builder_destroy(acme);
    world_close(&a);
    world_close(&b);
}

static void test_first_sight_and_discovered_golden(void)
{
    struct world w;
    world_open(&w);
    struct campaign_update *u = load_campaign("campaign_unknown_enum.json");
    REQUIRE(u);
    cache_apply(w.cache, u, CACHE_ORIGIN_RECONCILE, OBSERVED_MS, &w.change);
    campaign_update_free(u);
    REQUIRE(w.change.kind == CACHE_FIRST_SIGHT);
    struct events_observation obs = {OBSERVED_MS, NULL};
    struct relay_event *event = events_state_changed(w.builder, &w.change, &obs);
    check_golden(event, "state_changed_first_sight");
    relay_event_free(event);
    event = events_discovered(w.builder, &w.change, &obs);
    check_golden(event, "discovered");
    relay_event_free(event);
    CHECK(events_config_changed(w.builder, &w.change, &obs) == NULL);
    world_close(&w);
}

static void test_config_changed_golden(void)
{
    struct world w;
    world_open(&w);
    struct campaign_update *u = load_campaign("campaign_full.json");
    REQUIRE(u);
    cache_apply(w.cache, u, CACHE_ORIGIN_STREAM, OBSERVED_MS - 1000, &w.change);
    campaign_update_free(u);
    u = load_campaign("campaign_full.json");
    u->version = 43;
    u->date_modified_ms += 1000;
    free(u->dialing_mode);
    u->dialing_mode = strdup("progressive");
    u->priority = 3;
    u->config_fingerprint ^= 1; /* e.g. outboundLineCount changed */
    cache_change_clear(&w.change);
    cache_apply(w.cache, u, CACHE_ORIGIN_STREAM, OBSERVED_MS, &w.change);
    campaign_update_free(u);
    REQUIRE(w.change.kind == CACHE_CONFIG_ONLY);
    struct events_observation obs = {OBSERVED_MS, "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"};
    struct relay_event *event = events_config_changed(w.builder, &w.change, &obs);
    check_golden(event, "config_changed");
    relay_event_free(event);
    CHECK(events_state_changed(w.builder, &w.change, &obs) == NULL);
    CHECK(events_discovered(w.builder, &w.change, &obs) == NULL);
    world_close(&w);
}

static void test_removed_golden(void)
{
    struct world w;
    world_open(&w);
    REQUIRE(world_apply_running_then_stopping(&w, CACHE_ORIGIN_STREAM) == 0);
    struct events_observation obs = {OBSERVED_MS + 3600000, NULL};
    struct relay_event *event =
        events_removed(w.builder, cache_get(w.cache, CAMPAIGN_ID), "not_found", &obs);
    check_golden(event, "removed");
    relay_event_free(event);
    world_close(&w);
}

static void test_progress_stats_import_golden(void)
{
    struct world w;
    world_open(&w);
    struct events_observation obs = {OBSERVED_MS, NULL};
    struct notification n;
    REQUIRE(load_notification("progress.json", &n) == 0);
    obs.correlation_id = n.correlation_id;
    struct relay_event *event = events_progress(w.builder, &n.progress, &obs);
    check_golden(event, "progress");
    relay_event_free(event);
    notification_clear(&n);

    REQUIRE(load_notification("stats.json", &n) == 0);
    obs.correlation_id = n.correlation_id;
    event = events_dialer_stats(w.builder, &n.stats, &obs);
    check_golden(event, "dialer_stats");
    relay_event_free(event);
    notification_clear(&n);

    REQUIRE(load_notification("importstatus.json", &n) == 0);
    obs.correlation_id = n.correlation_id;
    event = events_import_status(w.builder, &n.import_status, &obs);
    check_golden(event, "import_status");
    REQUIRE(event);
    CHECK_EQ_STR(event->subject, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f");
    relay_event_free(event);
    notification_clear(&n);
    world_close(&w);
}

static void test_audit_golden(void)
{
    struct world w;
    world_open(&w);
    size_t len;
    char *raw = read_file(FIXTURES "socket_closing.json", &len);
    REQUIRE(raw);
    while (len && raw[len - 1] == '\n')
        len--;
    struct audit_notification audit = {
        .topic = "v2.system.socket_closing",
        .raw = raw,
        .raw_len = len,
        .received_ms = OBSERVED_MS,
        .correlation_id = "5d3c7d0e-2f8e-4a4f-9d1c-6a0f8b1e2c33",
    };
    char err[256] = "";
    struct relay_event *unchained = events_audit_notification(w.builder, &audit, err, sizeof err);
    CHECK_EQ_STR(err, "");
    audit.prev_hash = "0000000000000000000000000000000000000000000000000000000000000000";
    audit.hash = "9f2b6c1d3e4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e";
    struct relay_event *chained = events_audit_notification(w.builder, &audit, err, sizeof err);
    check_golden(chained, "audit_notification");
    REQUIRE(unchained && chained);
    CHECK(strstr(unchained->data, "prevHash") == NULL);
    CHECK_EQ_STR(unchained->id, chained->id); /* the chain fields are not part of the fact */
    CHECK_EQ_STR(chained->subject, "");
    CHECK_EQ_INT(chained->family, EVENT_FAMILY_AUDIT);
    /* A frame the caller decoded gives the same event without being parsed again. */
    struct relay_event *decoded = events_audit_decoded_notification(w.builder, &audit, err,
                                                                    sizeof err);
    REQUIRE(decoded);
    CHECK_EQ_STR(decoded->id, chained->id);
    CHECK_EQ_STR(decoded->data, chained->data);
    relay_event_free(decoded);
    relay_event_free(unchained);
    relay_event_free(chained);

    audit.raw = "{\"topicName\":";
    audit.raw_len = strlen(audit.raw);
    CHECK(events_audit_notification(w.builder, &audit, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "raw text is not JSON");
    char with_nul[] = "{\"a\":1}\0{}";
    audit.raw = with_nul;
    audit.raw_len = sizeof with_nul - 1;
    err[0] = '\0';
    CHECK(events_audit_decoded_notification(w.builder, &audit, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "raw text is not JSON");
    free(raw);
    world_close(&w);
}

/* The consumer hands the frame's tree to the builder: every notification fixture's
 * audit event is laid out for sealing to the same bytes with the tree as without it,
 * and a frame the verifier could not read embedded (a leading BOM) is not laid out at
 * all, tree or not. */
static void test_audit_layout_from_the_frames_tree(void)
{
    static const char *const fixtures[] = {
        "campaign_full.json", "campaign_unknown_enum.json", "campaign_unknown_fields.json",
        "progress.json", "stats.json", "importstatus.json", "socket_closing.json",
        "no_longer_subscribed.json", "token_revoked.json", "unknown_topic.json",
    };
    struct world w;
    world_open(&w);
    struct json_arena *arena = json_arena_create(JSON_ARENA_DEFAULT_BYTES);
    char err[256] = "";
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "%s", fixtures[i]);
        size_t len;
        char *raw = read_file(path, &len);
        REQUIRE(raw);
        struct notification n;
        cJSON *tree = NULL;
        CHECK_MSG(decode_notification_keep(arena, raw, len, &n, &tree, err, sizeof err) == 0,
                  "%s: %s", fixtures[i], err);
        CHECK_MSG(tree != NULL, "%s: no tree kept", fixtures[i]);
        struct audit_notification audit = {.topic = n.topic, .raw = raw, .raw_len = len,
                                           .received_ms = OBSERVED_MS,
                                           .correlation_id = n.correlation_id,
                                           .raw_tree = tree};
        struct relay_event *from_tree =
            events_audit_decoded_notification(w.builder, &audit, err, sizeof err);
        audit.raw_tree = NULL;
        struct relay_event *from_text =
            events_audit_decoded_notification(w.builder, &audit, err, sizeof err);
        REQUIRE(from_tree && from_text);
        CHECK_MSG(from_tree->seal && from_text->seal, "%s: not laid out", fixtures[i]);
        if (from_tree->seal && from_text->seal) {
            size_t a_len, b_len;
            const char *a = audit_seal_prep_canonical(from_tree->seal, &a_len);
            const char *b = audit_seal_prep_canonical(from_text->seal, &b_len);
            CHECK_MSG(a_len == b_len && memcmp(a, b, a_len) == 0, "%s: canonical forms differ",
                      fixtures[i]);
            a = audit_seal_prep_sealed(from_tree->seal, &a_len);
            b = audit_seal_prep_sealed(from_text->seal, &b_len);
            CHECK_MSG(a_len == b_len && memcmp(a, b, a_len) == 0, "%s: sealed texts differ",
                      fixtures[i]);
        }
        relay_event_free(from_tree);
        relay_event_free(from_text);
        json_arena_release(arena, tree);
        notification_clear(&n);
        free(raw);
    }

    const char bom[] = "\xEF\xBB\xBF{\"topicName\":\"v2.system.socket_closing\","
                       "\"eventBody\":{\"message\":\"bye\"}}";
    struct notification n;
    cJSON *tree = NULL;
    REQUIRE(decode_notification_keep(arena, bom, strlen(bom), &n, &tree, err, sizeof err) == 0);
    REQUIRE(tree != NULL);
    struct audit_notification audit = {.topic = n.topic, .raw = bom, .raw_len = strlen(bom),
                                       .received_ms = OBSERVED_MS, .raw_tree = tree};
    struct relay_event *event = events_audit_decoded_notification(w.builder, &audit, err,
                                                                  sizeof err);
    REQUIRE(event);
    CHECK(event->seal == NULL);
    relay_event_free(event);
    json_arena_release(arena, tree);
    notification_clear(&n);
    json_arena_destroy(arena);
    world_close(&w);
}

static void test_alert_golden_and_validation(void)
{
    struct world w;
    world_open(&w);
    REQUIRE(world_apply_running_then_stopping(&w, CACHE_ORIGIN_STREAM) == 0);
    const struct cache_entry *e = cache_get(w.cache, CAMPAIGN_ID);
    struct events_alert alert = {
        .name = "transition_stuck",
        .severity = EVENTS_SEVERITY_WARNING,
        .dedup_key = "transition_stuck:" CAMPAIGN_ID,
        .occurrence = "1795356332000",
        .summary = "Campaign Spring Renewals 2026 - East stuck in STOPPING for 300 s",
        .campaign = e,
        .details_json = "{ \"state\": \"STOPPING\",\n \"stuckForMs\": 300000,"
                        " \"toleranceMs\": 180000, \"likelyCause\": \"contact list importing\" }",
        .raised_ms = OBSERVED_MS + 300000,
    };
    char err[256] = "";
    struct relay_event *event = events_alert(w.builder, &alert, err, sizeof err);
    check_golden(event, "alert_transition_stuck");
    REQUIRE(event);
    CHECK_EQ_INT(event->family, EVENT_FAMILY_ALERT);
    CHECK_EQ_STR(event->type, "cx.outbound.alert.transition_stuck");
    relay_event_free(event);

    struct events_alert org_wide = {
        .name = "outbox_pressure",
        .severity = EVENTS_SEVERITY_CRITICAL,
        .dedup_key = "outbox_pressure",
        .summary = "Outbox at 91% of its disk budget",
        .raised_ms = OBSERVED_MS,
    };
    event = events_alert(w.builder, &org_wide, err, sizeof err);
    check_golden(event, "alert_outbox_pressure");
    relay_event_free(event);

    struct events_alert bad = org_wide;
    bad.name = "Outbox Pressure";
    CHECK(events_alert(w.builder, &bad, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "Outbox Pressure");
    bad = org_wide;
    bad.details_json = "[1,2]";
    CHECK(events_alert(w.builder, &bad, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "alert.outbox_pressure: details are not a JSON object");
    bad = org_wide;
    bad.dedup_key = "";
    CHECK(events_alert(w.builder, &bad, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "dedup key is empty");
    world_close(&w);
}

static void test_id_derivation_and_builder_arguments(void)
{
    char id[EVENTS_ID_HEX_LEN + 1];
    const char *facts[] = {"a", "b"};
    events_derive_id(facts, 2, id);
    CHECK_EQ_STR(id, "8fb20ef63ced4145fc2e983ffe597d1d"); /* sha256("a\0b\0") */
    const char *empty[] = {NULL};
    events_derive_id(empty, 1, id);
    CHECK_EQ_STR(id, "6e340b9cffb37a989ca544e6bb780a2c"); /* sha256("\0") */
    /* The separator keeps ("ab","") and ("a","b") apart. */
    const char *joined[] = {"ab", ""};
    char other[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(joined, 2, other);
    CHECK(strcmp(other, "8fb20ef63ced4145fc2e983ffe597d1d") != 0);

    CHECK(events_builder_create(NULL, "") == NULL);
    CHECK(events_builder_create("x.", NULL) == NULL);
    struct events_builder *builder = events_builder_create(NULL, "mypurecloud.de");
    CHECK_EQ_STR(events_builder_prefix(builder), "cx.outbound.");
    struct events_observation obs = {0, NULL};
    struct campaign_progress no_id = {0};
    CHECK(events_progress(builder, &no_id, &obs) == NULL);
    CHECK(events_removed(builder, NULL, "x", &obs) == NULL);
    events_builder_destroy(builder);
    events_builder_destroy(NULL);
}

/* relay_event_make keeps the data it is given (no copy) and frees it when it refuses;
 * the short strings are copied into the event with their lengths, which need not be
 * the whole of the text given (a part of a longer buffer). LeakSanitizer and valgrind
 * catch a leak or a double free on either path. */
/* The builders compose type and source on the stack; a domain and an id too long for
 * that buffer take the heap instead, with the same result. */
static void test_long_names_are_composed_whole(void)
{
    char domain[700], id[400];
    memset(domain, 'd', sizeof domain - 1);
    domain[sizeof domain - 1] = '\0';
    memset(id, 'c', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    char prefix[300];
    memset(prefix, 'p', sizeof prefix - 2);
    prefix[sizeof prefix - 2] = '.';
    prefix[sizeof prefix - 1] = '\0';
    struct events_builder *builder = events_builder_create(prefix, domain);
    REQUIRE(builder != NULL);
    struct campaign_progress progress = {.campaign_id = id, .campaign_name = "n"};
    struct events_observation obs = {5, "k"};
    struct relay_event *event = events_progress(builder, &progress, &obs);
    REQUIRE(event != NULL);
    struct strbuf want;
    strbuf_init(&want);
    strbuf_append(&want, prefix);
    strbuf_append(&want, "campaign.progress");
    CHECK_EQ_STR(event->type, strbuf_cstr(&want));
    CHECK_EQ_INT(event->type_len, want.len);
    strbuf_reset(&want);
    strbuf_appendf(&want, "genesys-cloud://%s/outbound/campaigns/%s", domain, id);
    CHECK_EQ_STR(event->source, strbuf_cstr(&want));
    CHECK_EQ_INT(event->source_len, want.len);
    CHECK_EQ_STR(event->subject, id);
    strbuf_free(&want);
    relay_event_free(event);
    events_builder_destroy(builder);
}

static void test_make_takes_the_data_and_copies_the_texts(void)
{
    char buffer[] = "id-1|cx.outbound.campaign.progress|c-1";
    char *data = strdup("{\"percentage\":7}");
    const struct relay_event_texts texts = {
        .id = buffer, .id_len = 4, .type = buffer + 5, .type_len = 29,
        .subject = buffer + 35, .subject_len = 3,
    };
    struct relay_event *event = relay_event_make(&texts, 42, EVENT_FAMILY_STATE, data, 16);
    REQUIRE(event != NULL);
    memset(buffer, 'x', sizeof buffer - 1);
    CHECK(event->data == data);
    CHECK_EQ_STR(event->id, "id-1");
    CHECK_EQ_STR(event->type, "cx.outbound.campaign.progress");
    CHECK_EQ_STR(event->subject, "c-1");
    CHECK_EQ_STR(event->source, "");
    CHECK_EQ_INT(event->id_len, 4);
    CHECK_EQ_INT(event->type_len, 29);
    CHECK_EQ_INT(event->subject_len, 3);
    CHECK_EQ_INT(event->source_len, 0);
    CHECK_EQ_INT(relay_event_data_len(event), 16);
    CHECK_EQ_INT(event->time_ms, 42);

    /* A view on the stack has no lengths; sharing it makes a heap event that has them. */
    struct relay_event view = {.id = "v", .type = "cx.t", .source = "s://x", .subject = "",
                               .family = EVENT_FAMILY_ALERT, .data = "{}"};
    struct relay_event *copy = relay_event_share(&view);
    CHECK(copy != &view);
    CHECK_EQ_INT(copy->type_len, 4);
    CHECK_EQ_INT(copy->source_len, 5);
    CHECK_EQ_INT(relay_event_text_len(view.source, view.source_len), 5);
    CHECK_EQ_INT(relay_event_data_len(copy), 2);
    CHECK_EQ_STR(copy->source, "s://x");
    /* A heap event is shared by reference. */
    CHECK(relay_event_share(event) == event);
    relay_event_free(event);
    relay_event_free(event);
    relay_event_free(copy);

    const struct relay_event_texts no_id = {.type = "t", .type_len = 1};
    CHECK(relay_event_make(&no_id, 1, EVENT_FAMILY_STATE, strdup("{}"), 2) == NULL);
    CHECK(relay_event_make(&texts, 1, EVENT_FAMILY_COUNT, strdup("{}"), 2) == NULL);
    CHECK(relay_event_make(&texts, 1, EVENT_FAMILY_STATE, NULL, 0) == NULL);
    CHECK(relay_event_make(NULL, 1, EVENT_FAMILY_STATE, strdup("{}"), 2) == NULL);
}

int main(void)
{
    RUN(test_state_changed_golden);
    RUN(test_same_fact_from_stream_and_reconcile_has_one_id);
    RUN(test_first_sight_and_discovered_golden);
    RUN(test_config_changed_golden);
    RUN(test_removed_golden);
    RUN(test_progress_stats_import_golden);
    RUN(test_audit_golden);
    RUN(test_audit_layout_from_the_frames_tree);
    RUN(test_alert_golden_and_validation);
    RUN(test_id_derivation_and_builder_arguments);
    RUN(test_make_takes_the_data_and_copies_the_texts);
    RUN(test_long_names_are_composed_whole);
    return harness_finish();
}
