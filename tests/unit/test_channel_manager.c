/* Tests of consumer/channel_manager's REST steps. The manager's port is its contract
 * with the platform worker: the test takes the role of the worker, keeps what the
 * manager submits and answers it through channel_manager_on_result(). Timers run on a
 * real lws context. LeakSanitizer checks that no channel id is dropped unfreed. */
#include "consumer/channel_manager.h"

#include <string.h>

#include "tests/harness.h"
#include "util/log.h"

#define MAX_CALLS 64

struct call {
    char method[8];
    char path[160];
    uint64_t tag;
};

struct worker {
    struct call calls[MAX_CALLS];
    int count;
};

static int submit(void *opaque, const char *method, const char *path, const char *body,
                  uint64_t tag)
{
    (void)body;
    struct worker *w = opaque;
    if (w->count == MAX_CALLS)
        return -1;
    struct call *c = &w->calls[w->count++];
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->path, sizeof c->path, "%s", path);
    c->tag = tag;
    return 0;
}

static int count_calls(const struct worker *w, const char *method, int from)
{
    int n = 0;
    for (int i = from; i < w->count; i++)
        n += strcmp(w->calls[i].method, method) == 0;
    return n;
}

static const struct call *last_call(const struct worker *w, const char *method)
{
    for (int i = w->count - 1; i >= 0; i--)
        if (strcmp(w->calls[i].method, method) == 0)
            return &w->calls[i];
    return NULL;
}

struct fixture {
    struct lws_context *context;
    struct topic_plan *plan;
    struct channel_manager *manager;
    struct worker worker;
};

static void fixture_start(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    f->context = lws_create_context(&info);
    REQUIRE(f->context != NULL);
    f->plan = topic_plan_create(1000, 20);
    const char *topics[] = {"v2.outbound.campaigns.c1", "v2.outbound.campaigns.c2"};
    CHECK_EQ_INT(topic_plan_update(f->plan, topics, 2), 0);
    struct channel_manager_options options = {
        .context = f->context, .plan = f->plan, .max_frame_bytes = 1 << 20,
        .ping_interval_ms = 30000, .heartbeat_timeout_ms = 60000, .reconnect_min_ms = 20,
        .reconnect_max_ms = 40, .healthy_after_ms = 1000, .channel_refresh_ms = 3600000};
    struct channel_manager_port port = {.submit = submit, .opaque = &f->worker};
    struct channel_manager_events events = {.owner = f};
    char err[256] = "";
    f->manager = channel_manager_create(&options, &port, &events, err, sizeof err);
    if (!f->manager)
        printf("# channel_manager_create: %s\n", err);
    REQUIRE(f->manager != NULL);
}

static void fixture_stop(struct fixture *f)
{
    channel_manager_destroy(f->manager);
    topic_plan_destroy(f->plan);
    lws_context_destroy(f->context);
}

static void answer_create(struct fixture *f, const struct call *create, const char *id)
{
    char body[256];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"connectUri\":\"ws://127.0.0.1:9/%s\"}", id,
             id);
    channel_manager_on_result(f->manager, create->tag, 200, body, "");
}

struct deadline {
    lws_sorted_usec_list_t sul;
    bool passed;
};

static void deadline_passed(lws_sorted_usec_list_t *sul)
{
    lws_container_of(sul, struct deadline, sul)->passed = true;
}

/* lws_service() waits for its next timer, not for its timeout argument: a timer of the
 * test's own ends the wait. */
static void service_for(struct fixture *f, int ms)
{
    struct deadline deadline = {.passed = false};
    lws_sul_schedule(f->context, 0, &deadline.sul, deadline_passed,
                     (lws_usec_t)ms * LWS_US_PER_MS);
    while (!deadline.passed)
        lws_service(f->context, 0);
}

/* The loss of a channel whose replacement is still being created must not POST again:
 * a second create leaves a channel on the platform that nothing uses, and its answer
 * would replace the first channel's id. */
static void test_loss_while_creating_makes_no_second_channel(void)
{
    struct fixture f;
    fixture_start(&f);
    channel_manager_sync(f.manager);
    CHECK_EQ_INT(count_calls(&f.worker, "POST", 0), 1);
    struct call create = *last_call(&f.worker, "POST");

    channel_manager_channel_lost(f.manager, 0, "token revoked");
    CHECK_EQ_INT(count_calls(&f.worker, "POST", 0), 1);

    answer_create(&f, &create, "first");
    CHECK_EQ_STR(channel_manager_channel_id(f.manager, 0), "first");
    CHECK_EQ_INT(count_calls(&f.worker, "PUT", 0), 1);
    CHECK_CONTAINS(last_call(&f.worker, "PUT")->path, "/channels/first/subscriptions");
    fixture_stop(&f);
}

/* A create answered twice (the worker's retry, or a POST from an earlier phase) keeps
 * the first channel and frees nothing it still uses. */
static void test_second_create_answer_is_ignored(void)
{
    struct fixture f;
    fixture_start(&f);
    channel_manager_sync(f.manager);
    struct call create = *last_call(&f.worker, "POST");
    answer_create(&f, &create, "first");
    answer_create(&f, &create, "second");
    channel_manager_on_result(f.manager, create.tag, 500, NULL, "late failure");
    CHECK_EQ_STR(channel_manager_channel_id(f.manager, 0), "first");
    struct channel_manager_counters counters;
    channel_manager_get_counters(f.manager, &counters);
    CHECK_EQ_INT((int)counters.channels_created, 1);
    CHECK_EQ_INT(count_calls(&f.worker, "PUT", 0), 1);
    fixture_stop(&f);
}

/* A subscribe that failed leaves a retry timer. When the channel then turns out to be
 * gone (a 404 for the same subscribe, answered late) and is created again, that timer
 * must not fire a second POST. */
static void test_pending_retry_does_not_post_a_second_channel(void)
{
    struct fixture f;
    fixture_start(&f);
    channel_manager_sync(f.manager);
    answer_create(&f, last_call(&f.worker, "POST"), "first");
    const struct call *put = last_call(&f.worker, "PUT");
    REQUIRE(put != NULL);
    uint64_t put_tag = put->tag;
    channel_manager_on_result(f.manager, put_tag, 503, NULL, "unavailable");
    channel_manager_on_result(f.manager, put_tag, 404, NULL, "");
    CHECK_EQ_INT(count_calls(&f.worker, "POST", 0), 2);
    service_for(&f, 300); /* several times the longest retry delay */
    CHECK_EQ_INT(count_calls(&f.worker, "POST", 0), 2);
    fixture_stop(&f);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    lws_set_log_level(0, NULL);
    RUN(test_loss_while_creating_makes_no_second_channel);
    RUN(test_second_create_answer_is_ignored);
    RUN(test_pending_retry_does_not_post_a_second_channel);
    return harness_finish();
}
