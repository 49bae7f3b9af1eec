/*
 * Unit tests for consumer/control: the state gate, pre-flight checks, per-dialer
 * concurrency, the platform call and its 404/409 fallbacks, completion by
 * observation, timeouts per dialing mode and fallback polling. Time is injected;
 * the port records the REST calls and audit events so the test can play the
 * platform's answers. (The end-to-end path through the admin API against gcsim is
 * covered by the integration tests.)
 */
#include <cJSON.h>

#include "config/config.h"
#include "consumer/cache.h"
#include "consumer/control.h"
#include "consumer/lifecycle.h"
#include "publishers/events.h"
#include "tests/harness.h"

#define MAX_RECORDED 64

struct recorded_call {
    char method[8];
    char path[256];
    char *body;
    uint64_t tag;
};

struct fixture {
    struct relay_config *config;
    struct lifecycle_map *map;
    struct cache *cache;
    struct events_builder *events;
    struct control *control;
    struct recorded_call calls[MAX_RECORDED];
    size_t call_count;
    cJSON *audits; /* array of audit data objects */
    bool stream_up;
    int64_t now;
};

static int port_submit(void *opaque, const char *method, const char *path, const char *body,
                       uint64_t tag)
{
    struct fixture *f = opaque;
    if (f->call_count == MAX_RECORDED)
        return -1;
    struct recorded_call *r = &f->calls[f->call_count++];
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->body = body ? strdup(body) : NULL;
    r->tag = tag;
    return 0;
}

static int port_emit_audit(void *opaque, const struct relay_event *event)
{
    struct fixture *f = opaque;
    cJSON *data = cJSON_Parse(event->data);
    if (data)
        cJSON_AddItemToArray(f->audits, data);
    return 0;
}

static bool port_stream_healthy(void *opaque)
{
    return ((struct fixture *)opaque)->stream_up;
}

static const char config_text[] =
    "platform:\n"
    "  api_url: http://127.0.0.1:1\n"
    "  login_url: http://127.0.0.1:1\n"
    "  client_id: c\n"
    "  client_secret: s\n"
    "lifecycle:\n"
    "  tolerance:\n"
    "    predictive: 180s\n"
    "    progressive: 60s\n"
    "  active_limit: 3\n"
    "  active_warn: 2\n"
    "control:\n"
    "  max_concurrent_per_dialer: 2\n"
    "  max_lines_utilization: 0.9\n"
    "  max_put_retries: 2\n";

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    char errstr[2048];
    f->config = config_load_buffer("control.yaml", config_text, sizeof config_text - 1, errstr,
                                   sizeof errstr);
    if (!f->config) {
        printf("# config: %s\n", errstr);
        abort();
    }
    f->map = lifecycle_map_create_default();
    f->cache = cache_create(f->map);
    f->events = events_builder_create(NULL, "example.test");
    f->audits = cJSON_CreateArray();
    f->stream_up = true;
    f->now = 1700000000000LL;
    struct control_options options = {
        .config = f->config,
        .cache = f->cache,
        .events = f->events,
        .port = {.submit = port_submit, .emit_audit = port_emit_audit,
                 .stream_healthy = port_stream_healthy, .opaque = f},
        .poll_interval_ms = 1000,
    };
    f->control = control_create(&options, errstr, sizeof errstr);
    if (!f->control)
        abort();
    /* The stream has reported list-1's import as finished; tests that need an
     * importing or unknown list say so. */
    cache_set_import_state(f->cache, "list-1", "COMPLETED");
}

static void teardown(struct fixture *f)
{
    control_destroy(f->control);
    for (size_t i = 0; i < f->call_count; i++)
        free(f->calls[i].body);
    cJSON_Delete(f->audits);
    events_builder_destroy(f->events);
    cache_destroy(f->cache);
    lifecycle_map_destroy(f->map);
    config_destroy(f->config);
}

/* Puts a campaign in the cache as the stream would report it. */
static void campaign(struct fixture *f, const char *id, const char *status, const char *mode,
                     const char *edge_group, int64_t priority, int64_t version)
{
    struct campaign_update *u = campaign_update_new();
    u->id = strdup(id);
    u->name = strdup(id);
    u->campaign_status = strdup(status);
    u->dialing_mode = strdup(mode);
    u->version = version;
    u->has_version = true;
    u->contact_list.id = strdup(strcmp(id, "unknown-list") == 0 ? "list-2" : "list-1");
    if (edge_group)
        u->edge_group.id = strdup(edge_group);
    u->priority = priority;
    u->has_priority = true;
    struct cache_change change;
    memset(&change, 0, sizeof change);
    cache_apply(f->cache, u, CACHE_ORIGIN_STREAM, f->now, &change);
    if (change.entry)
        control_on_campaign(f->control, change.entry, f->now);
    cache_change_clear(&change);
    campaign_update_free(u);
}

static void submit(struct fixture *f, const char *id, enum control_action action,
                   unsigned overrides, const char *override_reason,
                   struct control_answer *answer)
{
    struct control_request request = {
        .campaign_id = id,
        .action = action,
        .reason = "shift change",
        .requested_by = "wfm",
        .overrides = overrides,
        .override_reason = override_reason,
    };
    control_submit(f->control, &request, f->now, answer);
}

static void answer_call(struct fixture *f, size_t index, long status, const char *body)
{
    control_on_completion(f->control, f->calls[index].tag, status, body, "", f->now);
}

static const char *command_status(struct fixture *f, const char *command_id)
{
    static char status[64];
    struct strbuf sb;
    strbuf_init(&sb);
    status[0] = '\0';
    if (control_command_json(f->control, command_id, &sb)) {
        cJSON *o = cJSON_Parse(strbuf_cstr(&sb));
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "status");
        if (cJSON_IsString(s))
            snprintf(status, sizeof status, "%s", s->valuestring);
        cJSON_Delete(o);
    }
    strbuf_free(&sb);
    return status;
}

static const cJSON *last_audit(struct fixture *f)
{
    int n = cJSON_GetArraySize(f->audits);
    return n ? cJSON_GetArrayItem(f->audits, n - 1) : NULL;
}

static const char *audit_field(const cJSON *audit, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(audit, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void test_start_is_confirmed_by_the_stream(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "off", "progressive", "edge-a", 3, 1);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 202);
    REQUIRE(f.call_count == 1);
    CHECK_EQ_STR(f.calls[0].method, "POST");
    CHECK_EQ_STR(f.calls[0].path, "/api/v2/outbound/campaigns/c1/start");
    CHECK_EQ_STR(command_status(&f, a.command_id), "calling_platform");
    CHECK_EQ_STR(audit_field(last_audit(&f), "phase"), "accepted");

    f.now += 50;
    answer_call(&f, 0, 200, "");
    CHECK_EQ_STR(command_status(&f, a.command_id), "confirming");
    f.now += 300;
    campaign(&f, "c1", "on", "progressive", "edge-a", 3, 2);
    CHECK_EQ_STR(command_status(&f, a.command_id), "succeeded");
    const cJSON *done = last_audit(&f);
    CHECK_EQ_STR(audit_field(done, "phase"), "succeeded");
    CHECK_EQ_STR(audit_field(done, "requestedBy"), "wfm");
    CHECK_EQ_STR(audit_field(done, "reason"), "shift change");
    const cJSON *duration = cJSON_GetObjectItemCaseSensitive(done, "durationMs");
    CHECK(cJSON_IsNumber(duration) && duration->valuedouble == 350);
    const cJSON *platform = cJSON_GetObjectItemCaseSensitive(done, "platform");
    CHECK_EQ_INT(cJSON_GetArraySize(platform), 1);
    CHECK_EQ_INT(control_active_count(f.control), 0);
    teardown(&f);
}

static void test_gate_refuses_transient_states_and_second_commands(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "stopping", "predictive", "edge-a", 3, 5);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 409);
    CHECK_CONTAINS(a.reason, "STOPPING");
    CHECK_CONTAINS(a.reason, "stopping");
    CHECK_EQ_INT(f.call_count, 0);
    CHECK_EQ_STR(audit_field(last_audit(&f), "phase"), "refused");

    campaign(&f, "c2", "on", "predictive", "edge-a", 3, 1);
    submit(&f, "c2", CONTROL_STOP, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 202);
    struct control_answer second;
    submit(&f, "c2", CONTROL_STOP, 0, NULL, &second);
    CHECK_EQ_INT(second.http_status, 409);
    CHECK_CONTAINS(second.reason, a.command_id);

    submit(&f, "nope", CONTROL_STOP, 0, NULL, &second);
    CHECK_EQ_INT(second.http_status, 404);
    teardown(&f);
}

static void test_satisfied_command_needs_no_platform_call(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "on", "power", NULL, 1, 1);
    campaign(&f, "c2", "off", "power", NULL, 1, 1);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 200);
    CHECK_EQ_STR(command_status(&f, a.command_id), "succeeded");
    submit(&f, "c2", CONTROL_STOP, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 200);
    CHECK_EQ_INT(f.call_count, 0);
    teardown(&f);
}

static void test_importing_contact_list_refuses_unless_overridden(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "off", "progressive", "edge-a", 3, 1);
    cache_set_import_state(f.cache, "list-1", "IN_PROGRESS");
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 409);
    CHECK_CONTAINS(a.reason, "importing");
    CHECK_EQ_INT(f.call_count, 0);

    submit(&f, "c1", CONTROL_START, CONTROL_CHECK_IMPORT, NULL, &a);
    CHECK_EQ_INT(a.http_status, 422);

    submit(&f, "c1", CONTROL_START, CONTROL_CHECK_IMPORT, "list is append-only", &a);
    CHECK_EQ_INT(a.http_status, 202);
    const cJSON *accepted = last_audit(&f);
    const cJSON *checks = cJSON_GetObjectItemCaseSensitive(accepted, "checks");
    const cJSON *first = cJSON_GetArrayItem(checks, 0);
    CHECK_EQ_STR(audit_field(first, "check"), "contact_list_import");
    CHECK_EQ_STR(audit_field(first, "result"), "overridden");
    const cJSON *overrides = cJSON_GetObjectItemCaseSensitive(accepted, "overrides");
    CHECK_EQ_STR(audit_field(overrides, "reason"), "list is append-only");
    teardown(&f);
}

static void test_active_limit_and_dialer_headroom(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "a1", "on", "power", "edge-a", 1, 1);
    campaign(&f, "a2", "on", "power", "edge-a", 1, 1);
    campaign(&f, "a3", "on", "power", "edge-b", 1, 1);
    campaign(&f, "c1", "off", "power", "edge-c", 1, 1);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 409);
    CHECK_CONTAINS(a.reason, "3 campaigns are already active");

    campaign(&f, "a3", "off", "power", "edge-b", 1, 2);
    campaign(&f, "c2", "off", "power", "edge-a", 1, 1);
    control_on_lines_utilization(f.control, "a1", 0.95, f.now);
    submit(&f, "c2", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 409);
    CHECK_CONTAINS(a.reason, "edge-a");
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 202); /* edge-c has no utilisation against it */
    teardown(&f);
}

static void test_at_most_two_per_dialer_in_priority_order(void)
{
    struct fixture f;
    setup(&f);
    const char *ids[] = {"p1", "p2", "p3", "p4", "p5"};
    int64_t priorities[] = {1, 2, 5, 3, 4};
    for (int i = 0; i < 5; i++)
        campaign(&f, ids[i], "on", "progressive", "edge-a", priorities[i], 1);
    campaign(&f, "other", "on", "progressive", "edge-z", 1, 1);
    struct control_answer answers[5];
    for (int i = 0; i < 5; i++) {
        submit(&f, ids[i], CONTROL_STOP, 0, NULL, &answers[i]);
        CHECK_EQ_INT(answers[i].http_status, 202);
    }
    CHECK_EQ_INT(f.call_count, 2);
    CHECK_EQ_STR(f.calls[0].path, "/api/v2/outbound/campaigns/p1/stop");
    CHECK_EQ_STR(f.calls[1].path, "/api/v2/outbound/campaigns/p2/stop");
    struct control_answer other;
    submit(&f, "other", CONTROL_STOP, 0, NULL, &other);
    CHECK_EQ_INT(f.call_count, 3); /* another dialer is not held back */

    answer_call(&f, 0, 200, "");
    campaign(&f, "p1", "off", "progressive", "edge-a", 1, 2);
    /* p1 done: the highest-priority waiting campaign (p3, priority 5) goes next. */
    REQUIRE(f.call_count == 4);
    CHECK_EQ_STR(f.calls[3].path, "/api/v2/outbound/campaigns/p3/stop");
    answer_call(&f, 1, 500, "{\"message\":\"boom\"}");
    CHECK_EQ_STR(command_status(&f, answers[1].command_id), "failed");
    REQUIRE(f.call_count == 5);
    CHECK_EQ_STR(f.calls[4].path, "/api/v2/outbound/campaigns/p5/stop");
    teardown(&f);
}

static void test_404_falls_back_to_put_and_409_rereads(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "off", "preview", NULL, 1, 7);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    answer_call(&f, 0, 404, "{\"message\":\"no such resource\"}");
    REQUIRE(f.call_count == 2);
    CHECK_EQ_STR(f.calls[1].method, "GET");
    answer_call(&f, 1, 200, "{\"id\":\"c1\",\"version\":7,\"campaignStatus\":\"off\"}");
    REQUIRE(f.call_count == 3);
    CHECK_EQ_STR(f.calls[2].method, "PUT");
    CHECK_CONTAINS(f.calls[2].body, "\"campaignStatus\":\"on\"");
    CHECK_CONTAINS(f.calls[2].body, "\"version\":7");
    answer_call(&f, 2, 409, "{\"message\":\"version 7 does not match the current version\"}");
    REQUIRE(f.call_count == 4);
    CHECK_EQ_STR(f.calls[3].method, "GET");
    answer_call(&f, 3, 200, "{\"id\":\"c1\",\"version\":8,\"campaignStatus\":\"off\"}");
    REQUIRE(f.call_count == 5);
    CHECK_CONTAINS(f.calls[4].body, "\"version\":8");
    answer_call(&f, 4, 200, "{}");
    CHECK_EQ_STR(command_status(&f, a.command_id), "confirming");
    campaign(&f, "c1", "on", "preview", NULL, 1, 9);
    CHECK_EQ_STR(command_status(&f, a.command_id), "succeeded");
    teardown(&f);
}

static void test_timeouts_follow_the_dialing_mode(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "pred", "on", "predictive", "edge-a", 1, 1);
    campaign(&f, "prog", "on", "progressive", "edge-b", 1, 1);
    struct control_answer pred, prog;
    submit(&f, "pred", CONTROL_STOP, 0, NULL, &pred);
    submit(&f, "prog", CONTROL_STOP, 0, NULL, &prog);
    answer_call(&f, 0, 200, "");
    answer_call(&f, 1, 200, "");
    campaign(&f, "pred", "stopping", "predictive", "edge-a", 1, 2);
    campaign(&f, "prog", "stopping", "progressive", "edge-b", 1, 2);
    f.now += 100 * 1000; /* 100 s of draining: past progressive's 60 s, within 180 s */
    control_tick(f.control, f.now);
    CHECK_EQ_STR(command_status(&f, prog.command_id), "timed_out");
    CHECK_EQ_STR(command_status(&f, pred.command_id), "confirming");
    campaign(&f, "pred", "off", "predictive", "edge-a", 1, 3);
    CHECK_EQ_STR(command_status(&f, pred.command_id), "succeeded");
    teardown(&f);
}

static void test_polls_only_while_the_stream_is_down(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "off", "agentless", NULL, 1, 1);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    answer_call(&f, 0, 200, "");
    f.now += 5000;
    control_tick(f.control, f.now);
    CHECK_EQ_INT(f.call_count, 1); /* the stream confirms: no polling */
    f.stream_up = false;
    control_tick(f.control, f.now);
    REQUIRE(f.call_count == 2);
    CHECK_EQ_STR(f.calls[1].method, "GET");
    control_tick(f.control, f.now + 10);
    CHECK_EQ_INT(f.call_count, 2); /* one poll at a time, then jittered */
    answer_call(&f, 1, 200, "{\"id\":\"c1\",\"campaignStatus\":\"on\"}");
    CHECK_EQ_STR(command_status(&f, a.command_id), "succeeded");
    teardown(&f);
}

static void test_invalid_campaign_fails_the_command(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "c1", "off", "power", NULL, 1, 1);
    struct control_answer a;
    submit(&f, "c1", CONTROL_START, 0, NULL, &a);
    answer_call(&f, 0, 200, "");
    campaign(&f, "c1", "invalid", "power", NULL, 1, 2);
    CHECK_EQ_STR(command_status(&f, a.command_id), "failed");
    struct control_answer b;
    campaign(&f, "c2", "off", "power", NULL, 1, 1);
    submit(&f, "c2", CONTROL_START, 0, NULL, &b);
    answer_call(&f, 1, 400, "{\"message\":\"invalid campaign configuration\"}");
    CHECK_EQ_STR(command_status(&f, b.command_id), "failed");
    CHECK_CONTAINS(audit_field(last_audit(&f), "detail"), "invalid campaign configuration");
    teardown(&f);
}

static void test_unknown_import_state_is_read_from_the_platform(void)
{
    struct fixture f;
    setup(&f);
    campaign(&f, "unknown-list", "off", "progressive", "edge-a", 3, 1);
    struct control_answer a;
    submit(&f, "unknown-list", CONTROL_START, 0, NULL, &a);
    CHECK_EQ_INT(a.http_status, 202);
    CHECK_EQ_STR(command_status(&f, a.command_id), "checking");
    REQUIRE(f.call_count == 1);
    CHECK_EQ_STR(f.calls[0].path, "/api/v2/outbound/contactlists/list-2/importstatus");
    answer_call(&f, 0, 200, "{\"state\":\"IN_PROGRESS\",\"percentComplete\":10}");
    CHECK_EQ_STR(command_status(&f, a.command_id), "refused");
    CHECK_EQ_INT(f.call_count, 1); /* the campaign was never started */
    CHECK_CONTAINS(audit_field(last_audit(&f), "detail"), "importing");

    /* What the platform said is remembered: the next start is refused at once. */
    struct control_answer b;
    submit(&f, "unknown-list", CONTROL_START, 0, NULL, &b);
    CHECK_EQ_INT(b.http_status, 409);
    CHECK_EQ_INT(f.call_count, 1);

    /* Once the import is over (and the remembered answer has aged), it goes ahead. */
    f.now += 61000;
    submit(&f, "unknown-list", CONTROL_START, 0, NULL, &b);
    CHECK_EQ_INT(b.http_status, 202);
    REQUIRE(f.call_count == 2);
    answer_call(&f, 1, 200, "{\"state\":\"COMPLETED\",\"percentComplete\":100}");
    REQUIRE(f.call_count == 3);
    CHECK_EQ_STR(f.calls[2].path, "/api/v2/outbound/campaigns/unknown-list/start");
    teardown(&f);
}

int main(void)
{
    RUN(test_start_is_confirmed_by_the_stream);
    RUN(test_gate_refuses_transient_states_and_second_commands);
    RUN(test_satisfied_command_needs_no_platform_call);
    RUN(test_importing_contact_list_refuses_unless_overridden);
    RUN(test_active_limit_and_dialer_headroom);
    RUN(test_at_most_two_per_dialer_in_priority_order);
    RUN(test_404_falls_back_to_put_and_409_rereads);
    RUN(test_timeouts_follow_the_dialing_mode);
    RUN(test_polls_only_while_the_stream_is_down);
    RUN(test_invalid_campaign_fails_the_command);
    RUN(test_unknown_import_state_is_read_from_the_platform);
    return harness_finish();
}
