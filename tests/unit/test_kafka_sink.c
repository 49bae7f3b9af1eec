/*
 * Tests of the Kafka sink engine against the kafka-mock process over loopback TCP,
 * verifying what reached the brokers with the kafka_dump tool. The test plays the
 * sink runner: it offers events in seq order, waits on SINK_BUSY, replays after
 * needs_replay() and checks every done-seq poll() reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cJSON.h>

#include "publishers/event.h"
#include "publishers/kafka_sink.h"
#include "tests/harness.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MAX_EVENTS    1000
#define CAMPAIGNS     6
#define DRIVE_TIMEOUT 30000

/* ---- child processes ------------------------------------------------------- */

static const char *build_dir(void)
{
    const char *build = getenv("BUILD");
    return build && *build ? build : "build/asan";
}

struct child {
    pid_t pid;
    FILE *in;  /* its stdin */
    FILE *out; /* its stdout */
};

static bool child_start(struct child *child, char *const argv[])
{
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0)
        return false;
    child->pid = fork();
    if (child->pid < 0)
        return false;
    if (child->pid == 0) {
        dup2(to_child[0], STDIN_FILENO);
        dup2(from_child[1], STDOUT_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    child->in = fdopen(to_child[1], "w");
    child->out = fdopen(from_child[0], "r");
    return child->in && child->out;
}

/* Waits up to timeout_ms for the child to exit; returns its exit status or -1. */
static int child_wait(struct child *child, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    int status;
    while (time_mono_ms() < deadline) {
        pid_t done = waitpid(child->pid, &status, WNOHANG);
        if (done == child->pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(10000);
    }
    return -1;
}

static void child_close(struct child *child)
{
    if (child->in)
        fclose(child->in);
    if (child->out)
        fclose(child->out);
    child->in = child->out = NULL;
}

/* ---- kafka-mock -------------------------------------------------------------- */

struct mock {
    struct child proc;
    char bootstrap[512];
    char control[512];
};

static bool mock_start(struct mock *mock, bool control_port, const char *topic_a,
                       const char *topic_b, const char *topic_c)
{
    char path[256];
    snprintf(path, sizeof path, "%s/kafka-mock", build_dir());
    char *argv[] = {path, "--brokers", "3", "--topic", (char *)topic_a, "--topic",
                    (char *)topic_b, "--topic", (char *)topic_c,
                    control_port ? "--control-port" : NULL, "0", NULL};
    memset(mock, 0, sizeof *mock);
    if (!child_start(&mock->proc, argv))
        return false;
    char line[512];
    while (fgets(line, sizeof line, mock->proc.out)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "CONTROL=", 8) == 0)
            snprintf(mock->control, sizeof mock->control, "%s", line + 8);
        if (strncmp(line, "BOOTSTRAP=", 10) == 0) {
            snprintf(mock->bootstrap, sizeof mock->bootstrap, "%s", line + 10);
            return true;
        }
    }
    return false;
}

/* Sends one command on stdin and returns its reply line (static buffer). */
static const char *mock_command(struct mock *mock, const char *command)
{
    static char reply[512];
    fprintf(mock->proc.in, "%s\n", command);
    fflush(mock->proc.in);
    if (!fgets(reply, sizeof reply, mock->proc.out))
        return "(no reply)";
    reply[strcspn(reply, "\n")] = '\0';
    return reply;
}

static int mock_stop(struct mock *mock)
{
    if (!mock->proc.pid)
        return -1;
    fclose(mock->proc.in); /* end of stdin ends a mock without a control port */
    mock->proc.in = NULL;
    int status = child_wait(&mock->proc, 10000);
    if (status < 0) {
        kill(mock->proc.pid, SIGKILL);
        child_wait(&mock->proc, 5000);
    }
    child_close(&mock->proc);
    mock->proc.pid = 0;
    return status;
}

/* ---- kafka_dump ---------------------------------------------------------------- */

/* Runs kafka_dump over the three topics and returns its lines as a JSON array. */
static cJSON *dump_topics(const struct mock *mock, const char *const topics[3], int count)
{
    char path[256], count_text[32];
    snprintf(path, sizeof path, "%s/tools/kafka_dump", build_dir());
    snprintf(count_text, sizeof count_text, "%d", count);
    /* With a count, kafka_dump stops as soon as it has them all (or at the idle limit). */
    char *argv[] = {path, "--bootstrap", (char *)mock->bootstrap, "--idle-ms", "3000",
                    (char *)topics[0], (char *)topics[1], (char *)topics[2],
                    count > 0 ? "--count" : NULL, count_text, NULL};
    struct child dump = {0};
    if (!child_start(&dump, argv))
        return NULL;
    fclose(dump.in);
    dump.in = NULL;
    cJSON *messages = cJSON_CreateArray();
    char line[8192];
    while (fgets(line, sizeof line, dump.out)) {
        cJSON *message = cJSON_Parse(line);
        if (message)
            cJSON_AddItemToArray(messages, message);
        else
            printf("# kafka_dump printed a line that is not JSON: %s", line);
    }
    int status = child_wait(&dump, 30000);
    child_close(&dump);
    if (status != 0) {
        printf("# kafka_dump exited with %d\n", status);
        cJSON_Delete(messages);
        return NULL;
    }
    return messages;
}

static const char *json_string(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* ---- events and the runner's part ------------------------------------------------ */

static const int64_t base_time_ms = 1795000000123;

static struct relay_event *make_event(int n)
{
    char id[32], subject[32], source[96], data[128];
    int campaign = n % CAMPAIGNS;
    snprintf(id, sizeof id, "evt-%d", n);
    snprintf(subject, sizeof subject, "camp-%d", campaign);
    snprintf(source, sizeof source, "genesys-cloud://test/outbound/campaigns/camp-%d", campaign);
    snprintf(data, sizeof data, "{\"n\":%d,\"campaign\":\"camp-%d\",\"note\":\"a \\\"quoted\\\"\"}",
             n, campaign);
    enum event_family family = n % 10 == 9   ? EVENT_FAMILY_ALERT
                               : n % 10 == 8 ? EVENT_FAMILY_AUDIT
                                             : EVENT_FAMILY_STATE;
    const char *type = family == EVENT_FAMILY_ALERT   ? "cx.outbound.alert.transition_stuck"
                       : family == EVENT_FAMILY_AUDIT ? "cx.outbound.audit.notification"
                                                      : "cx.outbound.campaign.state_changed";
    return relay_event_create(id, type, source, subject, base_time_ms + n, family, data);
}

struct runner {
    struct kafka_sink *sink;
    struct relay_event *events[MAX_EVENTS];
    bool delivered[MAX_EVENTS]; /* set by the delivery hook */
    bool dead_lettered[MAX_EVENTS];
    char dead_letter_reason[256];
    bool use_dead_letter;
    /* Offer each record as a fresh copy freed right after submit(), as the sink runner
     * does: the engine must keep what it still needs. */
    bool offer_copies;
    int deliveries;
    int64_t max_latency_us;
    int64_t done;    /* last done-seq poll() reported */
    int next;        /* next seq to offer */
    int replays;
    int busy;
    bool violation;  /* a done-seq went back or covered an undelivered record */
};

static void on_delivery(void *opaque, int64_t seq, int64_t latency_us)
{
    struct runner *runner = opaque;
    if (seq >= 0 && seq < MAX_EVENTS)
        runner->delivered[seq] = true;
    runner->deliveries++;
    if (latency_us > runner->max_latency_us)
        runner->max_latency_us = latency_us;
}

static void on_dead_letter(void *opaque, int64_t seq, const struct relay_event *event,
                           const char *reason)
{
    struct runner *runner = opaque;
    if (seq >= 0 && seq < MAX_EVENTS && strcmp(event->id, runner->events[seq]->id) == 0)
        runner->dead_lettered[seq] = true;
    snprintf(runner->dead_letter_reason, sizeof runner->dead_letter_reason, "%s", reason);
}

static void runner_init(struct runner *runner, int count)
{
    memset(runner, 0, sizeof *runner);
    runner->done = -1;
    for (int i = 0; i < count; i++)
        runner->events[i] = make_event(i);
}

static void runner_free(struct runner *runner)
{
    kafka_sink_destroy(runner->sink);
    runner->sink = NULL;
    for (int i = 0; i < MAX_EVENTS; i++)
        relay_event_free(runner->events[i]);
}

static void runner_poll(struct runner *runner, int timeout_ms)
{
    int64_t done = kafka_sink_poll(runner->sink, timeout_ms);
    if (done < runner->done) {
        printf("# done-seq went back from %lld to %lld\n", (long long)runner->done,
               (long long)done);
        runner->violation = true;
    }
    for (int64_t seq = runner->done + 1; seq <= done; seq++) {
        if (!runner->delivered[seq] && !runner->dead_lettered[seq]) {
            printf("# done-seq %lld covers seq %lld without a delivery report\n",
                   (long long)done, (long long)seq);
            runner->violation = true;
        }
    }
    if (done > runner->done)
        runner->done = done;
    if (kafka_sink_needs_replay(runner->sink)) {
        runner->replays++;
        runner->next = (int)(runner->done + 1);
    }
}

static enum sink_submit_result offer(struct runner *runner, int seq, char *errstr,
                                     size_t errstr_size)
{
    if (!runner->offer_copies)
        return kafka_sink_submit(runner->sink, seq, runner->events[seq], errstr, errstr_size);
    struct relay_event *copy = make_event(seq);
    enum sink_submit_result result = kafka_sink_submit(runner->sink, seq, copy, errstr,
                                                       errstr_size);
    relay_event_free(copy);
    return result;
}

/* Offers seqs up to `until` (exclusive) and polls; stops when all are done or at the
 * deadline. Returns true when done reached until - 1. */
static bool runner_drive(struct runner *runner, int until, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    char errstr[512];
    while (runner->done < until - 1 && time_mono_ms() < deadline) {
        while (runner->next < until) {
            enum sink_submit_result result = offer(runner, runner->next, errstr, sizeof errstr);
            if (result == SINK_BUSY) {
                runner->busy++;
                break;
            }
            if (result == SINK_FAILED) {
                printf("# submit of seq %d failed: %s\n", runner->next, errstr);
                break;
            }
            runner->next++;
        }
        runner_poll(runner, 20);
    }
    return runner->done == until - 1;
}

/* Offers seqs [runner->next, until) without waiting for them to be done. */
static void runner_offer(struct runner *runner, int until)
{
    char errstr[512];
    while (runner->next < until) {
        if (offer(runner, runner->next, errstr, sizeof errstr) != SINK_ACCEPTED) {
            printf("# seq %d not accepted: %s\n", runner->next, errstr);
            return;
        }
        runner->next++;
    }
}

static const char *const default_properties[][2] = {
    {"reconnect.backoff.ms", "50"},
    {"reconnect.backoff.max.ms", "500"},
    {"retry.backoff.ms", "50"},
};

static struct kafka_sink *sink_for(struct runner *runner, const struct mock *mock,
                                   const char *const topics[3],
                                   const struct kafka_sink_property *extra, size_t extra_count,
                                   char *errstr, size_t errstr_size)
{
    struct kafka_sink_property properties[16];
    size_t count = 0;
    for (size_t i = 0; i < sizeof default_properties / sizeof default_properties[0]; i++)
        properties[count++] = (struct kafka_sink_property){default_properties[i][0],
                                                           default_properties[i][1]};
    for (size_t i = 0; i < extra_count && count < 16; i++)
        properties[count++] = extra[i];
    struct kafka_sink_options options = {
        .brokers = mock ? mock->bootstrap : "127.0.0.1:1",
        .topics = {topics[0], topics[1], topics[2]},
        .properties = properties,
        .property_count = count,
        .flush_timeout_ms = 5000,
        .on_delivery = on_delivery,
        .on_delivery_opaque = runner,
        .dead_letter = runner->use_dead_letter ? on_dead_letter : NULL,
        .dead_letter_opaque = runner,
    };
    return kafka_sink_create(&options, errstr, errstr_size);
}

/* ---- checks on what the brokers hold --------------------------------------------- */

struct dump_check {
    bool exactly_once; /* otherwise duplicates (replays) are allowed */
};

/* Every event 0..count-1 is there with the right topic, key, headers and value;
 * per key within a topic (one partition), events appear in seq order, except that a
 * replay may restart from an earlier one (a duplicate) and then runs in order again.
 * Topics are independent streams, so a key's order across topics is not checked. */
static void check_dump(const struct mock *mock, const char *const topics[3],
                       const struct runner *runner, int count, struct dump_check opts)
{
    cJSON *messages = dump_topics(mock, topics, opts.exactly_once ? count : 0);
    REQUIRE(messages != NULL);
    int seen[MAX_EVENTS] = {0};
    int last_per_key[EVENT_FAMILY_COUNT][CAMPAIGNS];
    for (int f = 0; f < EVENT_FAMILY_COUNT; f++)
        for (int k = 0; k < CAMPAIGNS; k++)
            last_per_key[f][k] = -1;
    int order_errors = 0, content_errors = 0;
    const cJSON *message;
    cJSON_ArrayForEach(message, messages)
    {
        const char *value = json_string(message, "value");
        const char *key = json_string(message, "key");
        const char *topic = json_string(message, "topic");
        const cJSON *headers = cJSON_GetObjectItemCaseSensitive(message, "headers");
        cJSON *data = value ? cJSON_Parse(value) : NULL;
        const cJSON *n_item = cJSON_GetObjectItemCaseSensitive(data, "n");
        if (!cJSON_IsNumber(n_item) || n_item->valueint < 0 || n_item->valueint >= count) {
            printf("# unexpected message value %s\n", value ? value : "(none)");
            content_errors++;
            cJSON_Delete(data);
            continue;
        }
        int n = n_item->valueint;
        const struct relay_event *event = runner->events[n];
        seen[n]++;
        char time_text[RFC3339_MS_LEN];
        time_format_rfc3339(event->time_ms, time_text);
        bool ok = strcmp(value, event->data) == 0 && key && strcmp(key, event->subject) == 0 &&
                  topic && strcmp(topic, topics[event->family]) == 0 &&
                  json_string(headers, "ce_specversion") &&
                  strcmp(json_string(headers, "ce_specversion"), "1.0") == 0 &&
                  json_string(headers, "ce_id") &&
                  strcmp(json_string(headers, "ce_id"), event->id) == 0 &&
                  json_string(headers, "ce_type") &&
                  strcmp(json_string(headers, "ce_type"), event->type) == 0 &&
                  json_string(headers, "ce_source") &&
                  strcmp(json_string(headers, "ce_source"), event->source) == 0 &&
                  json_string(headers, "ce_subject") &&
                  strcmp(json_string(headers, "ce_subject"), event->subject) == 0 &&
                  json_string(headers, "ce_time") &&
                  strcmp(json_string(headers, "ce_time"), time_text) == 0 &&
                  json_string(headers, "content-type") &&
                  strcmp(json_string(headers, "content-type"), "application/json") == 0;
        if (!ok) {
            char *text = cJSON_PrintUnformatted(message);
            printf("# message of event %d is wrong: %s\n", n, text);
            free(text);
            content_errors++;
        }
        /* Per key: strictly increasing, unless this is a replayed duplicate. */
        int k = n % CAMPAIGNS;
        int *last = &last_per_key[event->family][k];
        if (n <= *last && (opts.exactly_once || seen[n] == 1)) {
            printf("# %s key camp-%d: event %d after event %d\n", topics[event->family], k, n,
                   *last);
            order_errors++;
        }
        *last = n;
        cJSON_Delete(data);
    }
    int missing = 0, duplicated = 0;
    int dead_but_delivered = 0;
    for (int n = 0; n < count; n++) {
        if (runner->dead_lettered[n]) {
            dead_but_delivered += seen[n] > 0;
            continue;
        }
        missing += seen[n] == 0;
        duplicated += seen[n] > 1;
    }
    printf("# dump: %d messages, %d missing, %d duplicated\n", cJSON_GetArraySize(messages),
           missing, duplicated);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(dead_but_delivered, 0);
    CHECK_EQ_INT(content_errors, 0);
    CHECK_EQ_INT(order_errors, 0);
    if (opts.exactly_once) {
        CHECK_EQ_INT(duplicated, 0);
        CHECK_EQ_INT(cJSON_GetArraySize(messages), count);
    }
    cJSON_Delete(messages);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_delivers_every_event_once_in_order_with_headers(void)
{
    const char *topics[3] = {"t1.state", "t1.alerts", "t1.audit"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t1.state:4", "t1.alerts:2", "t1.audit:1"));
    static struct runner runner;
    const int count = 600;
    runner_init(&runner, count);
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, NULL, 0, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        CHECK(!runner.violation);
        CHECK_EQ_INT(runner.replays, 0);
        CHECK_EQ_INT(kafka_sink_pending(runner.sink), 0);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        CHECK_EQ_INT(stats.produced, count);
        CHECK_EQ_INT(stats.delivered, count);
        CHECK_EQ_INT(stats.dr_errors, 0);
        CHECK_EQ_INT(stats.rebuilds, 0);
        CHECK_EQ_INT(runner.deliveries, count);
        CHECK(runner.max_latency_us > 0);
        printf("# max submit-to-report latency %lld us\n", (long long)runner.max_latency_us);

        /* The runner contract: seqs only go up within an epoch. */
        char order_err[256] = "";
        CHECK_EQ_INT(kafka_sink_submit(runner.sink, 10, runner.events[10], order_err,
                                       sizeof order_err),
                     SINK_FAILED);
        CHECK_CONTAINS(order_err, "increasing order");
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = true});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

/* Offers `before` records, takes every broker down, offers up to `count` and waits out
 * the outage, then brings the brokers back: every record arrives, in order per key. */
static void run_outage(const char *const topics[3], const char *const partitions[3],
                       bool offer_copies, const struct kafka_sink_property *extra,
                       size_t extra_count, int outage_ms)
{
    struct mock mock;
    REQUIRE(mock_start(&mock, false, partitions[0], partitions[1], partitions[2]));
    static struct runner runner;
    const int before = 100, count = 400;
    runner_init(&runner, count);
    runner.offer_copies = offer_copies;
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, extra, extra_count, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK(runner_drive(&runner, before, DRIVE_TIMEOUT));
        CHECK_EQ_STR(mock_command(&mock, "down all"), "ok");
        runner_offer(&runner, count);
        int64_t outage_end = time_mono_ms() + outage_ms;
        while (time_mono_ms() < outage_end)
            runner_poll(&runner, 100);
        CHECK_EQ_INT(runner.done, before - 1);
        CHECK_EQ_STR(mock_command(&mock, "up all"), "ok");
        int64_t up_at = time_mono_ms();
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        printf("# all done %lld ms after the brokers came back\n",
               (long long)(time_mono_ms() - up_at));
        CHECK(!runner.violation);
        CHECK_EQ_INT(kafka_sink_pending(runner.sink), 0);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        printf("# rebuilds %llu, dr_errors %llu, replays %d\n",
               (unsigned long long)stats.rebuilds, (unsigned long long)stats.dr_errors,
               runner.replays);
        check_dump(&mock, topics, &runner, count,
                   (struct dump_check){.exactly_once = stats.rebuilds == 0});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

static void test_all_brokers_down_then_up_loses_nothing(void)
{
    const char *const topics[3] = {"t2.state", "t2.alerts", "t2.audit"};
    const char *const partitions[3] = {"t2.state:4", "t2.alerts:2", "t2.audit:1"};
    run_outage(topics, partitions, false, NULL, 0, 6000);
}

/* The values are not copied at submit: with message.copy.max.bytes 0 the producer reads
 * each one from the event only when it sends the request, long after the caller let its
 * own reference go, and records waiting out an outage are read again when they are sent
 * (under AddressSanitizer a value read after its event was freed stops the test). */
static void test_values_outlive_the_callers_reference(void)
{
    const char *const topics[3] = {"t9.state", "t9.alerts", "t9.audit"};
    const char *const partitions[3] = {"t9.state:4", "t9.alerts:2", "t9.audit:1"};
    const struct kafka_sink_property referenced[] = {{"message.copy.max.bytes", "0"}};
    run_outage(topics, partitions, true, referenced, 1, 3000);
}

static void test_retriable_produce_errors_are_survived(void)
{
    const char *topics[3] = {"t3.state", "t3.alerts", "t3.audit"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t3.state:4", "t3.alerts:2", "t3.audit:1"));
    static struct runner runner;
    const int count = 300;
    runner_init(&runner, count);
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, NULL, 0, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK_EQ_STR(mock_command(&mock, "error Produce NOT_ENOUGH_REPLICAS 6"), "ok");
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        CHECK(!runner.violation);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        CHECK_EQ_INT(stats.dr_errors, 0);
        CHECK_EQ_INT(stats.rebuilds, 0);
        CHECK_EQ_INT(runner.replays, 0);
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = true});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

static void test_permanent_produce_error_rebuilds_and_replays(void)
{
    const char *topics[3] = {"t4.state", "t4.alerts", "t4.audit"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t4.state:4", "t4.alerts:2", "t4.audit:1"));
    static struct runner runner;
    const int first = 50, count = 300;
    runner_init(&runner, count);
    runner.offer_copies = true; /* as the sink runner offers them */
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, NULL, 0, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK(runner_drive(&runner, first, DRIVE_TIMEOUT));
        CHECK_EQ_STR(mock_command(&mock, "error Produce TOPIC_AUTHORIZATION_FAILED 2"), "ok");
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        CHECK(!runner.violation);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        printf("# rebuilds %llu, dr_errors %llu, replays %d\n",
               (unsigned long long)stats.rebuilds, (unsigned long long)stats.dr_errors,
               runner.replays);
        CHECK(stats.dr_errors >= 1);
        CHECK(stats.rebuilds >= 1);
        CHECK_EQ_INT(runner.replays, (int)stats.rebuilds);
        CHECK(!kafka_sink_needs_replay(runner.sink)); /* true only once per rebuild */
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = false});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

/* After a rebuild the new producer takes nothing until needs_replay() has started the
 * replay: what the engine drops then must all belong to destroyed producers. */
static void test_submit_waits_for_the_replay(void)
{
    const char *topics[3] = {"t10.state", "t10.alerts", "t10.audit"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t10.state:4", "t10.alerts:2", "t10.audit:1"));
    static struct runner runner;
    const int first = 20, count = 100;
    runner_init(&runner, count);
    runner.offer_copies = true;
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, NULL, 0, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK(runner_drive(&runner, first, DRIVE_TIMEOUT));
        CHECK_EQ_STR(mock_command(&mock, "error Produce TOPIC_AUTHORIZATION_FAILED 1"), "ok");
        runner_offer(&runner, first + 1);
        /* Serve the engine without asking for the replay, past the rebuild. */
        struct kafka_sink_stats stats = {0};
        int64_t deadline = time_mono_ms() + DRIVE_TIMEOUT;
        while (stats.rebuilds == 0 && time_mono_ms() < deadline) {
            kafka_sink_poll(runner.sink, 50);
            kafka_sink_get_stats(runner.sink, &stats);
        }
        CHECK_EQ_INT(stats.rebuilds, 1);
        int64_t settle = time_mono_ms() + 1000;
        while (time_mono_ms() < settle)
            kafka_sink_poll(runner.sink, 50);
        CHECK_EQ_INT(offer(&runner, first + 1, errstr, sizeof errstr), SINK_BUSY);
        runner_poll(&runner, 0); /* takes the replay */
        CHECK_EQ_INT(runner.replays, 1);
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        CHECK(!runner.violation);
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = false});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

static void test_fatal_producer_error_rebuilds_and_replays(void)
{
    const char *topics[3] = {"t6.state", "t6.alerts", "t6.audit"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t6.state:4", "t6.alerts:2", "t6.audit:1"));
    static struct runner runner;
    const int count = 200;
    runner_init(&runner, count);
    runner.offer_copies = true; /* as the sink runner offers them */
    /* librdkafka treats a refused producer id as fatal for an idempotent producer:
     * only a new producer can publish again. The second request succeeds. */
    CHECK_EQ_STR(mock_command(&mock, "error InitProducerId CLUSTER_AUTHORIZATION_FAILED 1"),
                 "ok");
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, NULL, 0, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        CHECK(!runner.violation);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        printf("# fatal %llu, rebuilds %llu, dr_errors %llu, replays %d\n",
               (unsigned long long)stats.fatal_errors, (unsigned long long)stats.rebuilds,
               (unsigned long long)stats.dr_errors, runner.replays);
        CHECK(stats.fatal_errors >= 1);
        CHECK(stats.rebuilds >= 1);
        CHECK_EQ_INT(runner.replays, (int)stats.rebuilds);
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = false});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

static void test_record_failing_again_and_again_goes_to_dead_letter(void)
{
    /* One partition for everything: each round of failures starts at the same record. */
    const char *topics[3] = {"t7.all", "t7.all", "t7.all"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t7.all:1", "t7.unused:1", "t7.unused2:1"));
    static struct runner runner;
    const int count = 100;
    runner_init(&runner, count);
    runner.use_dead_letter = true;
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, NULL, 0, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        CHECK(runner_drive(&runner, 20, DRIVE_TIMEOUT));
        /* Every produce request fails for a while: the replay keeps starting with the
         * same record, which looks like the record's fault after 3 rounds. */
        CHECK_EQ_STR(mock_command(&mock, "error Produce TOPIC_AUTHORIZATION_FAILED 6"), "ok");
        int64_t started_ms = time_mono_ms();
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        int64_t elapsed_ms = time_mono_ms() - started_ms;
        CHECK(!runner.violation);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        int dead = 0;
        for (int n = 0; n < count; n++)
            dead += runner.dead_lettered[n];
        printf("# rebuilds %llu, dead letters %d\n", (unsigned long long)stats.rebuilds, dead);
        CHECK(dead >= 1);
        CHECK_EQ_INT(stats.dead_letters, dead);
        CHECK(stats.rebuilds >= 3);
        /* Rebuilds that keep failing are spaced out (50, 100, 200… ms), not a tight loop. */
        CHECK_MSG(elapsed_ms >= 50 + 100, "%d rebuilds in %lld ms", (int)stats.rebuilds,
                  (long long)elapsed_ms);
        CHECK_CONTAINS(runner.dead_letter_reason, "authorization");
        CHECK(!runner.dead_lettered[0]); /* delivered before the errors began */
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = false});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

static void test_queue_full_answers_busy(void)
{
    const char *topics[3] = {"t5.state", "t5.alerts", "t5.audit"};
    struct mock mock;
    REQUIRE(mock_start(&mock, false, "t5.state:2", "t5.alerts:1", "t5.audit:1"));
    static struct runner runner;
    const int count = 60;
    runner_init(&runner, count);
    const struct kafka_sink_property tiny_queue[] = {
        {"queue.buffering.max.messages", "4"},
        {"linger.ms", "50"},
    };
    char errstr[512] = "";
    runner.sink = sink_for(&runner, &mock, topics, tiny_queue, 2, errstr, sizeof errstr);
    CHECK_MSG(runner.sink != NULL, "%s", errstr);
    if (runner.sink) {
        int accepted = 0;
        enum sink_submit_result result = SINK_ACCEPTED;
        int64_t started_us = time_mono_us();
        while (accepted < count &&
               (result = kafka_sink_submit(runner.sink, accepted, runner.events[accepted],
                                           errstr, sizeof errstr)) == SINK_ACCEPTED)
            accepted++;
        int64_t elapsed_us = time_mono_us() - started_us;
        CHECK_EQ_INT(result, SINK_BUSY);
        CHECK_EQ_INT(accepted, 4);
        CHECK_MSG(elapsed_us < 200000, "submit took %lld us: it must not wait",
                  (long long)elapsed_us);
        runner.next = accepted;
        CHECK(runner_drive(&runner, count, DRIVE_TIMEOUT));
        CHECK(!runner.violation);
        CHECK(runner.busy > 0);
        struct kafka_sink_stats stats;
        kafka_sink_get_stats(runner.sink, &stats);
        CHECK(stats.busy >= (uint64_t)runner.busy);
        CHECK_EQ_INT(stats.delivered, count);
        check_dump(&mock, topics, &runner, count, (struct dump_check){.exactly_once = true});
    }
    runner_free(&runner);
    CHECK_EQ_INT(mock_stop(&mock), 0);
}

static void expect_create_error(const struct kafka_sink_options *options, const char *needle)
{
    char errstr[512] = "";
    struct kafka_sink *sink = kafka_sink_create(options, errstr, sizeof errstr);
    CHECK_MSG(sink == NULL, "create succeeded; expected an error naming '%s'", needle);
    CHECK_CONTAINS(errstr, needle);
    kafka_sink_destroy(sink);
}

static void test_bad_configuration_fails_create(void)
{
    struct kafka_sink_options options = {
        .brokers = "127.0.0.1:1",
        .topics = {"s", "a", "u"},
    };
    struct kafka_sink_property property[1];
    options.properties = property;
    options.property_count = 1;

    property[0] = (struct kafka_sink_property){"no.such.property", "1"};
    expect_create_error(&options, "no.such.property");
    property[0] = (struct kafka_sink_property){"acks", "1"};
    expect_create_error(&options, "acks=1");
    property[0] = (struct kafka_sink_property){"request.required.acks", "0"};
    expect_create_error(&options, "request.required.acks=0");
    property[0] = (struct kafka_sink_property){"enable.idempotence", "false"};
    expect_create_error(&options, "enable.idempotence=false");
    property[0] = (struct kafka_sink_property){"linger.ms", "soon"};
    expect_create_error(&options, "linger.ms=soon");
    /* Contradicts idempotence in a way only librdkafka knows. */
    property[0] = (struct kafka_sink_property){"max.in.flight.requests.per.connection", "50"};
    expect_create_error(&options, "max.in.flight");

    options.property_count = 0;
    options.topics[EVENT_FAMILY_AUDIT] = NULL;
    expect_create_error(&options, "audit");
    options.topics[EVENT_FAMILY_AUDIT] = "u";
    options.brokers = "";
    expect_create_error(&options, "brokers");

    /* acks=all spelled either way is what the relay wants anyway. */
    options.brokers = "127.0.0.1:1";
    options.property_count = 1;
    property[0] = (struct kafka_sink_property){"acks", "-1"};
    char errstr[512] = "";
    struct kafka_sink *sink = kafka_sink_create(&options, errstr, sizeof errstr);
    CHECK_MSG(sink != NULL, "%s", errstr);
    CHECK_EQ_INT(kafka_sink_poll(sink, 0), -1);
    CHECK(!kafka_sink_needs_replay(sink));
    kafka_sink_destroy(sink);
    kafka_sink_destroy(NULL);
}

static int connect_to(const char *host_port)
{
    char host[64];
    const char *colon = strrchr(host_port, ':');
    if (!colon || (size_t)(colon - host_port) >= sizeof host)
        return -1;
    memcpy(host, host_port, (size_t)(colon - host_port));
    host[colon - host_port] = '\0';
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_mock_answers_control_port_commands(void)
{
    struct mock mock;
    REQUIRE(mock_start(&mock, true, "c.one:3", "c.two", "c.three:2"));
    CHECK(strncmp(mock.control, "127.0.0.1:", 10) == 0);
    CHECK(strchr(mock.bootstrap, ',') != NULL); /* three brokers */
    int fd = connect_to(mock.control);
    CHECK(fd >= 0);
    if (fd >= 0) {
        FILE *conn = fdopen(fd, "r+");
        static const char *const exchanges[][2] = {
            {"down 2", "ok"},
            {"rtt all 5", "ok"},
            {"leader c.one 1 3", "ok"},
            {"error Produce NOT_ENOUGH_REPLICAS 1", "ok"},
            {"up all", "ok"},
            {"down 7", "error: down: broker '7' is not 'all' or an id in 1..3"},
            {"rtt 1 soon", "error: rtt: 'soon' is not a delay in ms"},
            {"error Produce NO_SUCH_ERROR 1", "error: unknown error name 'NO_SUCH_ERROR'"},
            {"error Gossip NOT_ENOUGH_REPLICAS 1", "error: unknown Kafka API 'Gossip'"},
            {"leader c.one x 1", "error: leader: partition 'x' is not a number"},
            {"launch rockets", "error: unknown command 'launch'"},
        };
        char reply[512];
        for (size_t i = 0; i < sizeof exchanges / sizeof exchanges[0]; i++) {
            fprintf(conn, "%s\n", exchanges[i][0]);
            fflush(conn);
            CHECK(fgets(reply, sizeof reply, conn) != NULL);
            reply[strcspn(reply, "\n")] = '\0';
            CHECK_CONTAINS(reply, exchanges[i][1]);
        }
        /* With a control port, end of stdin does not stop the mock. */
        fclose(mock.proc.in);
        mock.proc.in = NULL;
        usleep(200000);
        CHECK(waitpid(mock.proc.pid, NULL, WNOHANG) == 0);
        fprintf(conn, "quit\n");
        fflush(conn);
        CHECK(fgets(reply, sizeof reply, conn) != NULL);
        CHECK_EQ_STR(reply, "ok\n");
        fclose(conn);
    }
    int status = child_wait(&mock.proc, 10000);
    CHECK_EQ_INT(status, 0);
    if (status < 0) {
        kill(mock.proc.pid, SIGKILL);
        child_wait(&mock.proc, 5000);
    }
    child_close(&mock.proc);
}

static void test_mock_exits_on_sigterm(void)
{
    struct mock mock;
    REQUIRE(mock_start(&mock, true, "d.one", "d.two", "d.three"));
    CHECK_EQ_INT(kill(mock.proc.pid, SIGTERM), 0);
    CHECK_EQ_INT(child_wait(&mock.proc, 10000), 0);
    child_close(&mock.proc);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    RUN(test_bad_configuration_fails_create);
    RUN(test_mock_answers_control_port_commands);
    RUN(test_mock_exits_on_sigterm);
    RUN(test_delivers_every_event_once_in_order_with_headers);
    RUN(test_queue_full_answers_busy);
    RUN(test_retriable_produce_errors_are_survived);
    RUN(test_permanent_produce_error_rebuilds_and_replays);
    RUN(test_fatal_producer_error_rebuilds_and_replays);
    RUN(test_submit_waits_for_the_replay);
    RUN(test_record_failing_again_and_again_goes_to_dead_letter);
    RUN(test_all_brokers_down_then_up_loses_nothing);
    RUN(test_values_outlive_the_callers_reference);
    return harness_finish();
}
