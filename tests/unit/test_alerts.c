/* Unit tests for consumer/alerts: stuck-transition tolerances per dialing mode with an
 * injected clock, cause lookups and their time limit, resolution, persistence across a
 * restart (raised alerts are not raised again, unraised ones keep their deadline),
 * invalid transitions and failed campaigns raised once, and the active-campaign limit.
 * The cache, lifecycle map and event builder are the real ones; the port records what
 * the module emits, stores and asks the platform. */
#include <cjson/cJSON.h>

#include "consumer/alerts.h"
#include "consumer/cache.h"
#include "consumer/decode.h"
#include "publishers/events.h"
#include "tests/harness.h"
#include "util/strmap.h"

#define T0 1795356332000LL /* 2026-11-22T14:05:32.000Z */
#define LIST_ID "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
#define MAX_EVENTS 64
#define MAX_SUBMITS 64

static int64_t clock_ms;

static int64_t fake_now(void)
{
    return clock_ms;
}

struct submit {
    char *path;
    uint64_t tag;
};

struct fixture {
    struct config_lifecycle lifecycle;
    struct lifecycle_map *map;
    struct cache *cache;
    struct events_builder *builder;
    struct alerts *alerts;
    struct strmap *state; /* shared by "restarts": the outbox's metadata */
    struct relay_event *events[MAX_EVENTS];
    size_t event_count;
    struct submit submits[MAX_SUBMITS];
    size_t submit_count;
    bool refuse_submits;
};

static void port_emit(void *opaque, struct relay_event *event)
{
    struct fixture *f = opaque;
    if (f->event_count < MAX_EVENTS)
        f->events[f->event_count++] = event;
    else
        relay_event_free(event);
}

static char *port_state_get(void *opaque, const char *key)
{
    struct fixture *f = opaque;
    const char *value = strmap_get(f->state, key);
    return value ? strdup(value) : NULL;
}

static void port_state_set(void *opaque, const char *key, const char *value)
{
    struct fixture *f = opaque;
    free(strmap_put(f->state, key, strdup(value)));
}

static int port_submit(void *opaque, const char *path, uint64_t tag)
{
    struct fixture *f = opaque;
    if (f->refuse_submits || f->submit_count == MAX_SUBMITS)
        return -1;
    f->submits[f->submit_count].path = strdup(path);
    f->submits[f->submit_count].tag = tag;
    f->submit_count++;
    return 0;
}

static void make_alerts(struct fixture *f)
{
    struct alerts_options options = {
        .lifecycle = &f->lifecycle,
        .events = f->builder,
        .cache = f->cache,
        .port = {.emit = port_emit, .state_get = port_state_get, .state_set = port_state_set,
                 .submit_get = port_submit, .opaque = f},
        .now_ms = fake_now,
        .lookup_timeout_ms = 5000,
    };
    char errstr[256];
    f->alerts = alerts_create(&options, errstr, sizeof errstr);
}

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    clock_ms = T0;
    static const int64_t tolerances[CONFIG_MODE_COUNT] = {180000, 60000, 60000, 60000,
                                                          120000, 300000, 300000};
    memcpy(f->lifecycle.tolerance_ms, tolerances, sizeof tolerances);
    f->lifecycle.active_limit = 50;
    f->lifecycle.active_warn = 45;
    f->map = lifecycle_map_create_default();
    f->cache = cache_create(f->map);
    f->builder = events_builder_create(NULL, "mypurecloud.com");
    f->state = strmap_create();
    make_alerts(f);
}

static void clear_events(struct fixture *f)
{
    for (size_t i = 0; i < f->event_count; i++)
        relay_event_free(f->events[i]);
    f->event_count = 0;
    for (size_t i = 0; i < f->submit_count; i++)
        free(f->submits[i].path);
    f->submit_count = 0;
}

/* A process restart: a fresh cache restored from the snapshot, a fresh module, the
 * same persistent state. */
static void restart(struct fixture *f)
{
    struct strbuf snapshot;
    strbuf_init(&snapshot);
    cache_snapshot_serialize(f->cache, &snapshot);
    alerts_destroy(f->alerts);
    cache_destroy(f->cache);
    clear_events(f);
    f->cache = cache_create(f->map);
    char errstr[256];
    CHECK(cache_snapshot_restore(f->cache, snapshot.data, snapshot.len, errstr,
                                 sizeof errstr) == 0);
    strbuf_free(&snapshot);
    make_alerts(f);
}

static void fixture_free(struct fixture *f)
{
    clear_events(f);
    alerts_destroy(f->alerts);
    cache_destroy(f->cache);
    lifecycle_map_destroy(f->map);
    events_builder_destroy(f->builder);
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(f->state, &it, &key, &value);)
        free(value);
    strmap_destroy(f->state);
}

/* Applies one campaign body at the current clock and hands the change to the module. */
static void apply(struct fixture *f, const char *id, int version, const char *status,
                  const char *mode, const char *extra)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"name\":\"Campaign %s\",\"version\":%d,\"campaignStatus\":\"%s\","
             "\"dialingMode\":\"%s\",\"contactList\":{\"id\":\"" LIST_ID "\"}%s%s}",
             id, id, version, status, mode, extra ? "," : "", extra ? extra : "");
    cJSON *object = cJSON_Parse(json);
    char errstr[256];
    struct campaign_update *u = decode_campaign_object(object, errstr, sizeof errstr);
    CHECK_MSG(u != NULL, "%s", errstr);
    if (u) {
        struct cache_change change;
        if (cache_apply(f->cache, u, CACHE_ORIGIN_STREAM, clock_ms, &change) == 0 &&
            change.kind >= CACHE_FIRST_SIGHT)
            alerts_on_change(f->alerts, &change);
        cache_change_clear(&change);
        campaign_update_free(u);
    }
    cJSON_Delete(object);
}

static size_t count_type(const struct fixture *f, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < f->event_count; i++)
        if (strcmp(f->events[i]->type, type) == 0)
            n++;
    return n;
}

/* The data of the i-th event of a type (caller deletes), NULL if there is none. */
static cJSON *event_data(const struct fixture *f, const char *type, size_t index,
                         const char **id)
{
    for (size_t i = 0; i < f->event_count; i++) {
        if (strcmp(f->events[i]->type, type) != 0)
            continue;
        if (index-- == 0) {
            if (id)
                *id = f->events[i]->id;
            return cJSON_Parse(f->events[i]->data);
        }
    }
    return NULL;
}

static const char *json_str(const cJSON *object, const char *path1, const char *path2)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, path1);
    if (path2)
        item = cJSON_GetObjectItemCaseSensitive(item, path2);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static double json_num(const cJSON *object, const char *path1, const char *path2)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, path1);
    if (path2)
        item = cJSON_GetObjectItemCaseSensitive(item, path2);
    return cJSON_IsNumber(item) ? item->valuedouble : -1;
}

static bool json_true(const cJSON *object, const char *path1, const char *path2)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, path1);
    if (path2)
        item = cJSON_GetObjectItemCaseSensitive(item, path2);
    return cJSON_IsTrue(item);
}

static void answer(struct fixture *f, size_t index, enum platform_result result, long status,
                   const char *body)
{
    struct platform_completion done = {
        .tag = f->submits[index].tag,
        .kind = PLATFORM_JOB_REQUEST,
        .result = result,
        .status = status,
        .body = body,
        .body_len = strlen(body),
        .error = result == PLATFORM_OK ? "" : "HTTP 503 from the platform",
    };
    alerts_on_completion(f->alerts, &done);
}

/* Answers every lookup: the contact list importing, no errors, diagnostics absent. */
static void answer_importing(struct fixture *f)
{
    for (size_t i = 0; i < f->submit_count; i++) {
        const char *path = f->submits[i].path;
        if (strstr(path, "/importstatus"))
            answer(f, i, PLATFORM_OK, 200,
                   "{\"state\":\"IN_PROGRESS\",\"totalRecords\":5000,\"completedRecords\":1200,"
                   "\"percentComplete\":24}");
        else if (strstr(path, "/diagnostics"))
            answer(f, i, PLATFORM_ERR_HTTP, 404, "{\"code\":\"not.found\"}");
        else
            answer(f, i, PLATFORM_OK, 200, "{\"id\":\"x\",\"errors\":[]}");
    }
}

#define STUCK "cx.outbound.alert.transition_stuck"

/* ---- tolerances --------------------------------------------------------------------- */

static void test_progressive_stuck_after_its_tolerance(void)
{
    struct fixture f;
    fixture_init(&f);
    apply(&f, "c1", 1, "on", "progressive", NULL);
    alerts_start(f.alerts);
    clock_ms = T0 + 1000;
    apply(&f, "c1", 2, "stopping", "progressive", NULL);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 1);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 1000 + 60000);

    clock_ms = T0 + 1000 + 59999;
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(f.submit_count, 0);
    CHECK_EQ_INT(count_type(&f, STUCK), 0);

    clock_ms = T0 + 1000 + 60000;
    alerts_run_due(f.alerts);
    REQUIRE(f.submit_count == 3);
    CHECK_EQ_STR(f.submits[0].path, "/api/v2/outbound/campaigns/c1");
    CHECK_EQ_STR(f.submits[1].path, "/api/v2/outbound/campaigns/c1/diagnostics");
    CHECK_EQ_STR(f.submits[2].path, "/api/v2/outbound/contactlists/" LIST_ID "/importstatus");
    CHECK_EQ_INT(count_type(&f, STUCK), 0); /* waits for the lookups */
    clock_ms += 250;
    answer_importing(&f);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK_EQ_STR(json_str(data, "severity", NULL), "warning");
    CHECK_EQ_STR(json_str(data, "dedupKey", NULL), "transition_stuck:c1");
    CHECK_EQ_STR(json_str(data, "details", "state"), "STOPPING");
    CHECK_EQ_STR(json_str(data, "details", "dialingMode"), "progressive");
    CHECK_EQ_INT(json_num(data, "details", "toleranceMs"), 60000);
    CHECK_EQ_INT(json_num(data, "details", "stuckForMs"), 60250);
    CHECK_EQ_STR(json_str(data, "details", "likelyCause"), "contact list importing");
    CHECK_EQ_STR(json_str(data, "details", "enteredAt"), "2026-11-22T14:05:33.000Z");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "contactList");
    CHECK_EQ_STR(json_str(list, "importState", NULL), "IN_PROGRESS");
    CHECK_EQ_INT(json_num(list, "percentComplete", NULL), 24);
    const cJSON *lookups = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "lookups");
    CHECK_EQ_STR(json_str(lookups, "campaign", NULL), "ok");
    CHECK_EQ_STR(json_str(lookups, "diagnostics", NULL), "not available: HTTP 404");
    CHECK(!json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "campaign", "id"), "c1");
    CHECK_CONTAINS(json_str(data, "summary", NULL), "over the 60 s tolerance for progressive");
    cJSON_Delete(data);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), 0);

    /* Nothing more while it stays stuck; a config change (same state) changes nothing. */
    clock_ms += 600000;
    alerts_run_due(f.alerts);
    apply(&f, "c1", 3, "stopping", "progressive", "\"priority\":7");
    CHECK_EQ_INT(count_type(&f, STUCK), 1);
    fixture_free(&f);
}

static void test_predictive_tolerance_is_longer(void)
{
    struct fixture f;
    fixture_init(&f);
    apply(&f, "p1", 1, "on", "predictive", NULL);
    apply(&f, "g1", 1, "on", "progressive", NULL);
    alerts_start(f.alerts);
    apply(&f, "p1", 2, "stopping", "predictive", NULL);
    apply(&f, "g1", 2, "stopping", "progressive", NULL);
    clock_ms = T0 + 100000; /* both stopping for 100 s */
    alerts_run_due(f.alerts);
    answer_importing(&f);
    CHECK_EQ_INT(count_type(&f, STUCK), 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK_EQ_STR(json_str(data, "campaign", "id"), "g1");
    cJSON_Delete(data);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 180000);

    /* The predictive one finishes draining in time: never raised, nothing to resolve. */
    clock_ms = T0 + 170000;
    apply(&f, "p1", 3, "off", "predictive", NULL);
    apply(&f, "g1", 3, "off", "progressive", NULL);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 0);
    CHECK_EQ_INT(count_type(&f, STUCK), 2);
    data = event_data(&f, STUCK, 1, NULL);
    CHECK_EQ_STR(json_str(data, "campaign", "id"), "g1");
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "severity", NULL), "info");
    CHECK_EQ_STR(json_str(data, "dedupKey", NULL), "transition_stuck:g1");
    CHECK_EQ_STR(json_str(data, "details", "state"), "STOPPING");
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "now");
    CHECK_EQ_STR(json_str(now, "state", NULL), "STOPPED");
    CHECK_EQ_STR(json_str(now, "status", NULL), "off");
    CHECK_EQ_INT(json_num(data, "details", "durationMs"), 170000);
    cJSON_Delete(data);
    clock_ms = T0 + 400000;
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 2);
    fixture_free(&f);
}

static void test_tolerance_per_mode_and_unknown(void)
{
    static const struct {
        const char *mode;
        int64_t tolerance;
    } cases[] = {{"predictive", 180000}, {"progressive", 60000}, {"power", 60000},
                 {"preview", 60000},     {"agentless", 120000},  {"external", 300000},
                 {"Progressive", 60000}, {"robotic", 300000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fixture f;
        fixture_init(&f);
        alerts_start(f.alerts);
        apply(&f, "c", 1, "stopping", cases[i].mode, NULL);
        CHECK_MSG(alerts_next_due_ms(f.alerts) == T0 + cases[i].tolerance, "%s: due %lld",
                  cases[i].mode, (long long)alerts_next_due_ms(f.alerts));
        fixture_free(&f);
    }
    /* Configured tolerances are what counts. */
    struct fixture f;
    fixture_init(&f);
    f.lifecycle.tolerance_ms[CONFIG_MODE_PROGRESSIVE] = 3000;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "forced_stopping", "progressive", NULL);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 3000);
    /* A dialing-mode change moves the deadline of a waiting watch. */
    clock_ms = T0 + 1000;
    apply(&f, "c", 2, "forced_stopping", "predictive", NULL);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 180000);
    fixture_free(&f);
}

static void test_stopping_to_forced_stopping_is_one_episode(void)
{
    struct fixture f;
    fixture_init(&f);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "power", NULL);
    clock_ms = T0 + 30000;
    apply(&f, "c", 2, "forced_stopping", "power", NULL);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 60000);
    fixture_free(&f);
}

static void test_raw_stopping_watched_whatever_the_map(void)
{
    struct fixture f;
    fixture_init(&f);
    lifecycle_map_set(f.map, "stopping", LC_UNKNOWN);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "power", NULL);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 1);
    apply(&f, "d", 1, "on", "power", NULL);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 1);
    fixture_free(&f);
}

/* ---- lookups ------------------------------------------------------------------------ */

static void test_lookups_time_out(void)
{
    struct fixture f;
    fixture_init(&f);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "progressive", "\"errors\":[{\"error\":\"queue deleted\"}]");
    clock_ms = T0 + 60000;
    alerts_run_due(f.alerts);
    REQUIRE(f.submit_count == 3);
    answer(&f, 0, PLATFORM_ERR_TRANSPORT, 0, "");
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 65000);
    clock_ms = T0 + 64999;
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 0);
    clock_ms = T0 + 65000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    const cJSON *lookups = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "lookups");
    CHECK_EQ_STR(json_str(lookups, "campaign", NULL), "failed: HTTP 503 from the platform");
    CHECK_EQ_STR(json_str(lookups, "importStatus", NULL), "timed out");
    /* The stream's errors still explain it, and make it actionable. */
    CHECK_EQ_STR(json_str(data, "details", "likelyCause"), "campaign errors");
    CHECK_EQ_STR(json_str(data, "details", "errors"), "queue deleted");
    CHECK_EQ_STR(json_str(data, "severity", NULL), "critical");
    cJSON_Delete(data);
    /* Late answers change nothing. */
    answer(&f, 1, PLATFORM_OK, 200, "{}");
    CHECK_EQ_INT(count_type(&f, STUCK), 1);
    struct alerts_counters counters;
    alerts_get_counters(f.alerts, &counters);
    CHECK_EQ_INT(counters.lookups_timed_out, 2);
    CHECK_EQ_INT(counters.lookups_failed, 1);
    fixture_free(&f);
}

static void test_refused_lookups_raise_at_once(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "power", NULL);
    clock_ms = T0 + 60000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK_EQ_STR(json_str(data, "details", "likelyCause"), "unknown");
    const cJSON *lookups = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "lookups");
    CHECK_CONTAINS(json_str(lookups, "campaign", NULL), "not queued");
    CHECK_CONTAINS(json_str(lookups, "importStatus", NULL), "not queued");
    cJSON_Delete(data);
    fixture_free(&f);
}

static void test_malformed_answers_and_found_causes(void)
{
    struct fixture f;
    fixture_init(&f);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "power", NULL);
    clock_ms = T0 + 60000;
    alerts_run_due(f.alerts);
    REQUIRE(f.submit_count == 3);
    answer(&f, 0, PLATFORM_OK, 200, "[not json");
    answer(&f, 1, PLATFORM_OK, 200,
           "{\"campaignErrors\":[{\"message\":\"no callable contacts\"}],"
           "\"outstandingInteractionsCount\":12}");
    answer(&f, 2, PLATFORM_OK, 200,
           "{\"state\":\"FAILED\",\"failureReason\":\"bad column\"}");
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK_EQ_STR(json_str(data, "details", "likelyCause"), "contact list import failed");
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "causes");
    CHECK_EQ_INT(cJSON_GetArraySize(causes), 3);
    CHECK_EQ_STR(json_str(data, "details", "diagnosticErrors"), "no callable contacts");
    CHECK_EQ_INT(json_num(data, "details", "outstandingInteractions"), 12);
    const cJSON *lookups = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "lookups");
    CHECK_EQ_STR(json_str(lookups, "campaign", NULL),
                 "failed: the answer is not a JSON object");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "contactList");
    CHECK_EQ_STR(json_str(list, "failureReason", NULL), "bad column");
    CHECK_EQ_STR(json_str(data, "severity", NULL), "critical");
    cJSON_Delete(data);
    fixture_free(&f);
}

static void test_leaving_while_looking_raises_nothing(void)
{
    struct fixture f;
    fixture_init(&f);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "power", NULL);
    clock_ms = T0 + 60000;
    alerts_run_due(f.alerts);
    REQUIRE(f.submit_count == 3);
    apply(&f, "c", 2, "off", "power", NULL);
    answer_importing(&f);
    clock_ms = T0 + 70000;
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 0);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 0);
    CHECK_EQ_STR((char *)strmap_get(f.state, ALERTS_STATE_PREFIX "c"), "");
    fixture_free(&f);
}

/* ---- judging starts after the first discovery ---------------------------------------- */

static void test_nothing_fires_before_start(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    apply(&f, "c", 1, "stopping", "power", NULL);
    clock_ms = T0 + 90000;
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 0);
    alerts_start(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 1); /* overdue: fires at start */
    alerts_stop(f.alerts);
    apply(&f, "c", 2, "stopping", "power", "\"priority\":3");
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 1);
    fixture_free(&f);
}

/* ---- restarts ----------------------------------------------------------------------- */

static void test_restart_after_raise_does_not_raise_again(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "progressive", NULL);
    clock_ms = T0 + 61000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    const char *first_id = NULL;
    cJSON_Delete(event_data(&f, STUCK, 0, &first_id));
    char raised_id[64];
    snprintf(raised_id, sizeof raised_id, "%s", first_id);

    clock_ms = T0 + 200000;
    restart(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 0);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 1);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), 0);

    /* It resolves when the campaign leaves, with the episode's entered time. */
    clock_ms = T0 + 210000;
    apply(&f, "c", 2, "off", "progressive", NULL);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_INT(json_num(data, "details", "durationMs"), 210000);
    cJSON_Delete(data);
    fixture_free(&f);
}

static void test_restart_before_raise_keeps_the_deadline(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "progressive", NULL);
    clock_ms = T0 + 20000;
    restart(&f);
    f.refuse_submits = true;
    clock_ms = T0 + 25000;
    alerts_start(f.alerts);
    CHECK_EQ_INT(alerts_next_due_ms(f.alerts), T0 + 60000);
    clock_ms = T0 + 60000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    const char *id = NULL;
    cJSON *data = event_data(&f, STUCK, 0, &id);
    CHECK_EQ_INT(json_num(data, "details", "stuckForMs"), 60000);
    cJSON_Delete(data);

    /* The same raising computed by a process that never restarted has the same id. */
    char restarted_id[64];
    snprintf(restarted_id, sizeof restarted_id, "%s", id);
    struct fixture g;
    fixture_init(&g);
    g.refuse_submits = true;
    alerts_start(g.alerts);
    apply(&g, "c", 1, "stopping", "progressive", NULL);
    clock_ms = T0 + 60000;
    alerts_run_due(g.alerts);
    REQUIRE(count_type(&g, STUCK) == 1);
    CHECK_EQ_STR(g.events[g.event_count - 1]->id, restarted_id);
    fixture_free(&g);
    fixture_free(&f);
}

static void test_restart_with_a_lagging_snapshot(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    apply(&f, "c", 1, "on", "progressive", NULL);
    alerts_start(f.alerts);
    struct strbuf old;
    strbuf_init(&old);
    cache_snapshot_serialize(f.cache, &old); /* the last snapshot saved: still "on" */
    clock_ms = T0 + 1000;
    apply(&f, "c", 2, "stopping", "progressive", NULL);
    clock_ms = T0 + 70000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);

    /* Killed; the snapshot restored is the old one, the record is current. */
    alerts_destroy(f.alerts);
    cache_destroy(f.cache);
    clear_events(&f);
    f.cache = cache_create(f.map);
    char errstr[256];
    CHECK(cache_snapshot_restore(f.cache, old.data, old.len, errstr, sizeof errstr) == 0);
    strbuf_free(&old);
    make_alerts(&f);
    clock_ms = T0 + 80000;
    apply(&f, "c", 2, "stopping", "progressive", NULL); /* discovery sees it stopping */
    alerts_start(f.alerts);
    alerts_run_due(f.alerts);
    CHECK_EQ_INT(count_type(&f, STUCK), 0);
    clock_ms = T0 + 90000;
    apply(&f, "c", 3, "off", "progressive", NULL);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "details", "enteredAt"), "2026-11-22T14:05:33.000Z");
    cJSON_Delete(data);
    fixture_free(&f);
}

static void test_restart_resolves_what_ended_while_down(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "progressive", NULL);
    clock_ms = T0 + 70000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    restart(&f);
    clock_ms = T0 + 90000;
    apply(&f, "c", 5, "off", "progressive", NULL); /* the first discovery after the restart */
    alerts_start(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK(json_true(data, "details", "resolved"));
    cJSON_Delete(data);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 0);
    fixture_free(&f);
}

static void test_removed_while_down_resolves(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "progressive", NULL);
    clock_ms = T0 + 70000;
    alerts_run_due(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    restart(&f);
    /* The first discovery after the restart no longer lists it. */
    alerts_on_removed(f.alerts, cache_get(f.cache, "c"));
    cache_remove(f.cache, "c");
    alerts_start(f.alerts);
    REQUIRE(count_type(&f, STUCK) == 1);
    cJSON *data = event_data(&f, STUCK, 0, NULL);
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "details", "now"), "removed");
    cJSON_Delete(data);
    CHECK_EQ_STR((char *)strmap_get(f.state, ALERTS_STATE_PREFIX "c"), "");
    fixture_free(&f);
}

static void test_removed_campaign_resolves(void)
{
    struct fixture f;
    fixture_init(&f);
    f.refuse_submits = true;
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "progressive", NULL);
    clock_ms = T0 + 70000;
    alerts_run_due(f.alerts);
    alerts_on_removed(f.alerts, cache_get(f.cache, "c"));
    cache_remove(f.cache, "c");
    REQUIRE(count_type(&f, STUCK) == 2);
    cJSON *data = event_data(&f, STUCK, 1, NULL);
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "details", "now"), "removed");
    cJSON_Delete(data);
    fixture_free(&f);
}

/* ---- invalid transitions and failed campaigns ---------------------------------------- */

static void test_invalid_transition_once(void)
{
    struct fixture f;
    fixture_init(&f);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "stopping", "power", NULL);
    apply(&f, "c", 2, "on", "power", NULL);     /* STOPPING -> RUNNING: forbidden */
    apply(&f, "c", 2, "on", "power", NULL);     /* a duplicate */
    apply(&f, "c", 1, "stopping", "power", NULL); /* stale */
    apply(&f, "c", 3, "on", "power", "\"priority\":2"); /* a config change */
    CHECK_EQ_INT(count_type(&f, "cx.outbound.alert.transition_invalid"), 1);
    cJSON *data = event_data(&f, "cx.outbound.alert.transition_invalid", 0, NULL);
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "details"), "from");
    CHECK_EQ_STR(json_str(from, "state", NULL), "STOPPING");
    CHECK_EQ_STR(json_str(data, "dedupKey", NULL), "transition_invalid:c");
    CHECK_EQ_STR(json_str(data, "severity", NULL), "warning");
    cJSON_Delete(data);
    CHECK_EQ_INT(alerts_watch_count(f.alerts), 0); /* the stopping watch ended */
    fixture_free(&f);
}

static void test_failed_once_and_resolved(void)
{
    struct fixture f;
    fixture_init(&f);
    alerts_start(f.alerts);
    apply(&f, "c", 1, "on", "power", NULL);
    apply(&f, "c", 2, "invalid", "power",
          "\"errors\":[{\"error\":\"contact list locked\",\"details\":\"import running\"}]");
    apply(&f, "c", 2, "invalid", "power", NULL);
    apply(&f, "c", 3, "invalid", "power", "\"priority\":4");
    CHECK_EQ_INT(count_type(&f, "cx.outbound.alert.campaign_failed"), 1);
    cJSON *data = event_data(&f, "cx.outbound.alert.campaign_failed", 0, NULL);
    CHECK_EQ_STR(json_str(data, "severity", NULL), "critical");
    CHECK_EQ_STR(json_str(data, "details", "errors"), "contact list locked: import running");
    CHECK_CONTAINS(json_str(data, "summary", NULL), "contact list locked");
    cJSON_Delete(data);
    apply(&f, "c", 4, "off", "power", NULL);
    REQUIRE(count_type(&f, "cx.outbound.alert.campaign_failed") == 2);
    data = event_data(&f, "cx.outbound.alert.campaign_failed", 1, NULL);
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "dedupKey", NULL), "campaign_failed:c");
    CHECK_EQ_STR(json_str(data, "severity", NULL), "info");
    cJSON_Delete(data);
    /* First sight of a campaign that is already failed. */
    apply(&f, "d", 9, "invalid", "power", NULL);
    CHECK_EQ_INT(count_type(&f, "cx.outbound.alert.campaign_failed"), 3);
    fixture_free(&f);
}

/* ---- active_limit ------------------------------------------------------------------- */

#define ACTIVE "cx.outbound.alert.active_limit"

static void set_active(struct fixture *f, int first, int last, int version, const char *status)
{
    for (int i = first; i <= last; i++) {
        char id[16];
        snprintf(id, sizeof id, "a%d", i);
        apply(f, id, version, status, "power", NULL);
    }
}

static void test_active_limit_levels(void)
{
    struct fixture f;
    fixture_init(&f);
    f.lifecycle.active_warn = 3;
    f.lifecycle.active_limit = 5;
    set_active(&f, 1, 6, 1, "off");
    alerts_start(f.alerts);
    CHECK_EQ_INT(alerts_active_count(f.alerts), 0);
    set_active(&f, 1, 2, 2, "on");
    CHECK_EQ_INT(count_type(&f, ACTIVE), 0);
    set_active(&f, 3, 3, 2, "on");
    REQUIRE(count_type(&f, ACTIVE) == 1);
    cJSON *data = event_data(&f, ACTIVE, 0, NULL);
    CHECK_EQ_STR(json_str(data, "severity", NULL), "warning");
    CHECK_EQ_STR(json_str(data, "dedupKey", NULL), "active_limit");
    CHECK_EQ_INT(json_num(data, "details", "active"), 3);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(data, "campaign")));
    cJSON_Delete(data);
    set_active(&f, 4, 4, 2, "on");
    CHECK_EQ_INT(count_type(&f, ACTIVE), 1);
    set_active(&f, 5, 5, 2, "on");
    REQUIRE(count_type(&f, ACTIVE) == 2);
    data = event_data(&f, ACTIVE, 1, NULL);
    CHECK_EQ_STR(json_str(data, "severity", NULL), "critical");
    cJSON_Delete(data);
    /* Stopping campaigns still count (the platform counts STOPPING). */
    set_active(&f, 5, 5, 3, "stopping");
    CHECK_EQ_INT(alerts_active_count(f.alerts), 5);
    CHECK_EQ_INT(count_type(&f, ACTIVE), 2);
    set_active(&f, 5, 5, 4, "off");
    REQUIRE(count_type(&f, ACTIVE) == 3);
    data = event_data(&f, ACTIVE, 2, NULL);
    CHECK_EQ_STR(json_str(data, "severity", NULL), "warning");
    cJSON_Delete(data);

    /* A restart at the warning level raises nothing new. */
    restart(&f);
    alerts_start(f.alerts);
    CHECK_EQ_INT(alerts_active_count(f.alerts), 4);
    CHECK_EQ_INT(count_type(&f, ACTIVE), 0);
    set_active(&f, 3, 4, 5, "off");
    REQUIRE(count_type(&f, ACTIVE) == 1);
    data = event_data(&f, ACTIVE, 0, NULL);
    CHECK(json_true(data, "details", "resolved"));
    CHECK_EQ_STR(json_str(data, "severity", NULL), "info");
    cJSON_Delete(data);
    /* Removal counts too. */
    set_active(&f, 1, 2, 6, "on");
    set_active(&f, 6, 6, 6, "on");
    CHECK_EQ_INT(count_type(&f, ACTIVE), 2);
    alerts_on_removed(f.alerts, cache_get(f.cache, "a6"));
    cache_remove(f.cache, "a6");
    CHECK_EQ_INT(alerts_active_count(f.alerts), 2);
    CHECK_EQ_INT(count_type(&f, ACTIVE), 3);
    fixture_free(&f);
}

static void test_create_needs_its_inputs(void)
{
    struct alerts_options options;
    memset(&options, 0, sizeof options);
    char errstr[128] = "";
    CHECK(alerts_create(&options, errstr, sizeof errstr) == NULL);
    CHECK_CONTAINS(errstr, "required");
    alerts_destroy(NULL);
}

int main(void)
{
    RUN(test_progressive_stuck_after_its_tolerance);
    RUN(test_predictive_tolerance_is_longer);
    RUN(test_tolerance_per_mode_and_unknown);
    RUN(test_stopping_to_forced_stopping_is_one_episode);
    RUN(test_raw_stopping_watched_whatever_the_map);
    RUN(test_lookups_time_out);
    RUN(test_refused_lookups_raise_at_once);
    RUN(test_malformed_answers_and_found_causes);
    RUN(test_leaving_while_looking_raises_nothing);
    RUN(test_nothing_fires_before_start);
    RUN(test_restart_after_raise_does_not_raise_again);
    RUN(test_restart_before_raise_keeps_the_deadline);
    RUN(test_restart_with_a_lagging_snapshot);
    RUN(test_restart_resolves_what_ended_while_down);
    RUN(test_removed_while_down_resolves);
    RUN(test_removed_campaign_resolves);
    RUN(test_invalid_transition_once);
    RUN(test_failed_once_and_resolved);
    RUN(test_active_limit_levels);
    RUN(test_create_needs_its_inputs);
    return harness_finish();
}
