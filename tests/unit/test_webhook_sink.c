/*
 * The webhook sink engine against real webhook_receiver processes over loopback sockets:
 * retries with Retry-After (seconds and HTTP date) and timeouts, large bodies, per-subject
 * ordering under concurrency and random failures, dead-lettering (attempts exhausted, 400,
 * 410), isolation of an unreachable endpoint, back-pressure and option validation.
 */
#include "tests/harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "publishers/webhook_sink.h"
#include "util/timeutil.h"

#define SECRET_A  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_B  "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
#define TYPE_OK   "cx.outbound.campaign.state_changed"
#define TYPE_BAD  "cx.outbound.campaign.config_changed"
#define MAX_EVENTS 128

/* ------------------------------------------------------------------------------------ */
/* Receiver processes */

struct receiver {
    pid_t pid;
    int port;
    char dir[64];
    char out_path[128];
    char url[64];
};

static const char *build_dir(void)
{
    const char *build = getenv("BUILD");
    return build && build[0] ? build : "build/asan";
}

/* Starts the receiver with the given extra arguments (NULL-terminated) and waits for its
 * "listening" line. Returns 0, or -1 with a diagnostic printed. */
static int receiver_start(struct receiver *rx, const char *const *args)
{
    memset(rx, 0, sizeof *rx);
    snprintf(rx->dir, sizeof rx->dir, "/tmp/crelay-webhook-XXXXXX");
    if (!mkdtemp(rx->dir)) {
        printf("#   mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(rx->out_path, sizeof rx->out_path, "%s/requests.jsonl", rx->dir);
    char program[256];
    snprintf(program, sizeof program, "%s/tools/webhook_receiver", build_dir());

    const char *argv[32];
    size_t argc = 0;
    argv[argc++] = program;
    argv[argc++] = "--out";
    argv[argc++] = rx->out_path;
    for (size_t i = 0; args && args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    int out_pipe[2];
    if (pipe(out_pipe) != 0)
        return -1;
    rx->pid = fork();
    if (rx->pid < 0)
        return -1;
    if (rx->pid == 0) {
        /* A test that dies must not leave receivers behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out_pipe[1], STDOUT_FILENO);
        close(out_pipe[0]);
        close(out_pipe[1]);
        execv(program, (char *const *)argv);
        _exit(127);
    }
    close(out_pipe[1]);
    char line[256];
    size_t len = 0;
    int64_t deadline = time_mono_ms() + 15000;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        struct pollfd pfd = {.fd = out_pipe[0], .events = POLLIN};
        int64_t left = deadline - time_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = read(out_pipe[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(out_pipe[0]);
    line[len] = '\0';
    if (sscanf(line, "webhook-receiver listening on http://127.0.0.1:%d", &rx->port) != 1) {
        printf("#   %s did not start: \"%s\"\n", program, line);
        kill(rx->pid, SIGKILL);
        waitpid(rx->pid, NULL, 0);
        rx->pid = 0;
        return -1;
    }
    snprintf(rx->url, sizeof rx->url, "http://127.0.0.1:%d/hooks/campaigns", rx->port);
    return 0;
}

/* Stops the receiver with SIGTERM; returns its exit status (0 for a clean exit). */
static int receiver_stop(struct receiver *rx)
{
    if (rx->pid <= 0)
        return -1;
    kill(rx->pid, SIGTERM);
    int status = 0;
    waitpid(rx->pid, &status, 0);
    rx->pid = 0;
    unlink(rx->out_path);
    rmdir(rx->dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The receiver's request log as a JSON array, in arrival order. */
static cJSON *receiver_requests(const struct receiver *rx)
{
    cJSON *list = cJSON_CreateArray();
    FILE *file = fopen(rx->out_path, "r");
    if (!file)
        return list;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, file) > 0) {
        cJSON *item = cJSON_Parse(line);
        if (item)
            cJSON_AddItemToArray(list, item);
        else
            printf("#   unparsable receiver line: %s", line);
    }
    free(line);
    fclose(file);
    return list;
}

static const char *str_of(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static int int_of(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsNumber(item) ? item->valueint : -1;
}

static int64_t ms_of(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsNumber(item) ? (int64_t)item->valuedouble : -1;
}

static bool is_2xx(const cJSON *request)
{
    int status = int_of(request, "status_given");
    return status >= 200 && status <= 299;
}

/* ------------------------------------------------------------------------------------ */
/* Events, dead letters, driving an engine */

static struct relay_event *make_event(int64_t seq, const char *subject, int n, const char *type)
{
    char id[64], source[128], data[128];
    snprintf(id, sizeof id, "evt-%lld", (long long)seq);
    snprintf(source, sizeof source, "genesys-cloud://test/outbound/campaigns/%s", subject);
    snprintf(data, sizeof data, "{\"n\":%d,\"seq\":%lld}", n, (long long)seq);
    return relay_event_create(id, type, source, subject, 1700000000000 + seq,
                              EVENT_FAMILY_STATE, data);
}

struct dead_letters {
    pthread_mutex_t lock;
    int count;
    int64_t seqs[MAX_EVENTS];
    char reasons[MAX_EVENTS][160];
};

static void on_dead_letter(void *opaque, int64_t seq, const struct relay_event *event,
                           const char *reason)
{
    struct dead_letters *dl = opaque;
    pthread_mutex_lock(&dl->lock);
    if (dl->count < MAX_EVENTS && event && event->id[0]) {
        dl->seqs[dl->count] = seq;
        snprintf(dl->reasons[dl->count], sizeof dl->reasons[0], "%s", reason);
        dl->count++;
    }
    pthread_mutex_unlock(&dl->lock);
}

static void dead_letters_init(struct dead_letters *dl)
{
    memset(dl, 0, sizeof *dl);
    pthread_mutex_init(&dl->lock, NULL);
}

static int latency_calls;

static void on_latency(void *opaque, int64_t seq, int64_t latency_ms)
{
    (void)opaque;
    (void)seq;
    if (latency_ms >= 0)
        latency_calls++;
}

static struct webhook_sink *make_sink(const char *url, const char *const *secrets,
                                      size_t secret_count, struct dead_letters *dl,
                                      void (*tune)(struct webhook_sink_options *))
{
    struct webhook_sink_options options;
    webhook_sink_options_init(&options);
    options.name = "test";
    options.url = url;
    options.secrets = secrets;
    options.secret_count = secret_count;
    options.request_timeout_ms = 2000;
    options.backoff_min_ms = 5;
    options.backoff_max_ms = 40;
    options.dead_letter = on_dead_letter;
    options.dead_letter_opaque = dl;
    options.on_latency = on_latency;
    if (tune)
        tune(&options);
    char err[512] = "";
    struct webhook_sink *sink = webhook_sink_create(&options, err, sizeof err);
    if (!sink)
        printf("#   webhook_sink_create: %s\n", err);
    return sink;
}

static int submit_event(struct webhook_sink *sink, int64_t seq, const char *subject, int n,
                        const char *type)
{
    struct relay_event *event = make_event(seq, subject, n, type);
    char err[256] = "";
    int rc = webhook_sink_submit(sink, seq, event, err, sizeof err);
    if (rc != SINK_ACCEPTED)
        printf("#   submit seq %lld: %d %s\n", (long long)seq, rc, err);
    relay_event_free(event);
    return rc;
}

/* Polls until done reaches target or timeout_ms passes; returns the last done seq. */
static int64_t drive(struct webhook_sink *sink, int64_t target, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    int64_t done = -1;
    while (time_mono_ms() < deadline) {
        done = webhook_sink_poll(sink, 50);
        if (done >= target)
            break;
    }
    return done;
}

/* ------------------------------------------------------------------------------------ */
/* Tests */

static void tune_scripted(struct webhook_sink_options *o)
{
    o->request_timeout_ms = 700;
    o->concurrency = 4;
}

/* True when every seq <= done has a 2xx in the receiver's log (ids are "evt-<seq>"). */
static bool done_seq_is_proven(const struct receiver *rx, int64_t done)
{
    cJSON *requests = receiver_requests(rx);
    bool proven = true;
    for (int64_t seq = 1; seq <= done; seq++) {
        char id[32];
        snprintf(id, sizeof id, "evt-%lld", (long long)seq);
        bool delivered = false;
        const cJSON *request;
        cJSON_ArrayForEach(request, requests)
            if (strcmp(str_of(request, "webhook-id"), id) == 0 && is_2xx(request))
                delivered = true;
        if (!delivered) {
            printf("#   done seq %lld passed undelivered %s\n", (long long)done, id);
            proven = false;
        }
    }
    cJSON_Delete(requests);
    return proven;
}

static void test_scripted_failures_deliver_each_event_once(void)
{
    struct receiver rx;
    const char *args[] = {"--secret", SECRET_A, "--script", "500,429:retry-after=2,timeout,200",
                          NULL};
    REQUIRE(receiver_start(&rx, args) == 0);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *sink = make_sink(rx.url, secrets, 1, &dl, tune_scripted);
    REQUIRE(sink);
    latency_calls = 0;
    const char *subjects[] = {"c-1", "c-2", "c-3"};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(submit_event(sink, i + 1, subjects[i], 0, TYPE_OK), SINK_ACCEPTED);

    int64_t started = time_mono_ms();
    int64_t done = -1;
    while (done < 3 && time_mono_ms() - started < 20000) {
        int64_t now_done = webhook_sink_poll(sink, 100);
        CHECK(now_done >= done);
        if (now_done != done)
            CHECK(done_seq_is_proven(&rx, now_done));
        done = now_done;
    }
    CHECK_EQ_INT(done, 3);
    CHECK_EQ_INT(dl.count, 0);
    CHECK_EQ_INT(latency_calls, 3);

    cJSON *requests = receiver_requests(&rx);
    CHECK_EQ_INT(cJSON_GetArraySize(requests), 6); /* three failures, three deliveries */
    int64_t t_429 = -1;
    const char *id_429 = NULL;
    int64_t t_retry_after_429 = -1;
    const cJSON *request;
    cJSON_ArrayForEach(request, requests) {
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(request, "signature_valid")));
        CHECK_EQ_STR(str_of(request, "content_type"), "application/cloudevents+json");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(request, "body");
        CHECK_EQ_STR(str_of(body, "id"), str_of(request, "webhook-id"));
        CHECK_EQ_STR(str_of(body, "specversion"), "1.0");
        if (int_of(request, "status_given") == 429) {
            t_429 = ms_of(request, "t_ms");
            id_429 = str_of(request, "webhook-id");
        } else if (id_429 && t_retry_after_429 < 0 &&
                   strcmp(str_of(request, "webhook-id"), id_429) == 0) {
            t_retry_after_429 = ms_of(request, "t_ms");
        }
    }
    for (int i = 1; i <= 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "evt-%d", i);
        int delivered = 0;
        cJSON_ArrayForEach(request, requests)
            if (strcmp(str_of(request, "webhook-id"), id) == 0 && is_2xx(request))
                delivered++;
        CHECK_MSG(delivered == 1, "%s delivered %d times", id, delivered);
    }
    REQUIRE(t_429 > 0 && t_retry_after_429 > 0);
    CHECK_MSG(t_retry_after_429 - t_429 >= 2000, "retry came %lld ms after the 429",
              (long long)(t_retry_after_429 - t_429));

    struct webhook_sink_stats stats;
    webhook_sink_get_stats(sink, &stats);
    CHECK_EQ_INT(stats.delivered, 3);
    CHECK_EQ_INT(stats.failed_attempts, 3);
    CHECK_EQ_INT(stats.retried, 3);
    CHECK_EQ_INT(stats.dead_lettered, 0);
    CHECK_EQ_INT(stats.in_flight, 0);
    CHECK_EQ_INT(stats.pending, 0);
    CHECK(stats.last_status >= 200 && stats.last_status <= 299);
    CHECK(stats.max_latency_ms >= 2000);
    cJSON_Delete(requests);
    webhook_sink_destroy(sink);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

static void tune_ordering(struct webhook_sink_options *o)
{
    o->concurrency = 8;
    o->max_attempts = 100;
    o->backoff_min_ms = 1;
    o->backoff_max_ms = 10;
}

#define SUBJECTS 20
#define PER_SUBJECT 5

static void test_per_subject_order_holds_under_random_failures(void)
{
    struct receiver rx;
    /* The receiver knows only the new key: the engine signs with both while rotating. */
    const char *args[] = {"--secret", SECRET_B, "--fail-rate", "0.3", "--seed", "7", NULL};
    REQUIRE(receiver_start(&rx, args) == 0);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A, SECRET_B};
    struct webhook_sink *sink = make_sink(rx.url, secrets, 2, &dl, tune_ordering);
    REQUIRE(sink);

    int64_t seq = 0;
    for (int n = 0; n < PER_SUBJECT; n++) {
        for (int s = 0; s < SUBJECTS; s++) {
            char subject[24];
            snprintf(subject, sizeof subject, "camp-%02d", s);
            CHECK_EQ_INT(submit_event(sink, ++seq, subject, n, TYPE_OK), SINK_ACCEPTED);
        }
    }
    CHECK_EQ_INT(drive(sink, seq, 30000), seq);
    CHECK_EQ_INT(dl.count, 0);

    cJSON *requests = receiver_requests(&rx);
    int last_attempted[SUBJECTS], delivered_next[SUBJECTS];
    for (int s = 0; s < SUBJECTS; s++)
        last_attempted[s] = delivered_next[s] = 0;
    int failures = 0, order_violations = 0, bad_signatures = 0;
    const cJSON *request;
    cJSON_ArrayForEach(request, requests) {
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(request, "body");
        int s = -1;
        sscanf(str_of(body, "subject"), "camp-%d", &s);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
        int n = int_of(data, "n");
        REQUIRE(s >= 0 && s < SUBJECTS && n >= 0);
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(request, "signature_valid")))
            bad_signatures++;
        /* Arrival order per subject never goes back: n+1 is sent only after n's 2xx. */
        if (n < last_attempted[s])
            order_violations++;
        last_attempted[s] = n;
        if (is_2xx(request)) {
            if (n != delivered_next[s])
                order_violations++;
            delivered_next[s] = n + 1;
        } else {
            failures++;
        }
    }
    CHECK_EQ_INT(order_violations, 0);
    CHECK_EQ_INT(bad_signatures, 0);
    for (int s = 0; s < SUBJECTS; s++)
        CHECK_EQ_INT(delivered_next[s], PER_SUBJECT);
    CHECK_MSG(failures > 10, "only %d random failures: the test did not exercise retries",
              failures);
    struct webhook_sink_stats stats;
    webhook_sink_get_stats(sink, &stats);
    CHECK_EQ_INT(stats.delivered, SUBJECTS * PER_SUBJECT);
    CHECK_EQ_INT(stats.failed_attempts, failures);
    cJSON_Delete(requests);
    webhook_sink_destroy(sink);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

static void tune_three_attempts(struct webhook_sink_options *o)
{
    o->max_attempts = 3;
    o->backoff_min_ms = 1;
    o->backoff_max_ms = 5;
}

static void test_permanent_failure_dead_letters_after_max_attempts(void)
{
    struct receiver rx;
    const char *args[] = {"--default-status", "500", NULL};
    REQUIRE(receiver_start(&rx, args) == 0);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *sink = make_sink(rx.url, secrets, 1, &dl, tune_three_attempts);
    REQUIRE(sink);
    for (int i = 1; i <= 4; i++)
        CHECK_EQ_INT(submit_event(sink, i, i % 2 ? "odd" : "even", i, TYPE_OK), SINK_ACCEPTED);
    CHECK_EQ_INT(drive(sink, 4, 15000), 4);
    CHECK_EQ_INT(dl.count, 4);
    for (int i = 0; i < dl.count; i++)
        CHECK_CONTAINS(dl.reasons[i], "gave up after 3 attempts: HTTP 500");
    cJSON *requests = receiver_requests(&rx);
    CHECK_EQ_INT(cJSON_GetArraySize(requests), 12);
    for (int i = 1; i <= 4; i++) {
        char id[32];
        snprintf(id, sizeof id, "evt-%d", i);
        int attempts = 0;
        const cJSON *request;
        cJSON_ArrayForEach(request, requests)
            attempts += strcmp(str_of(request, "webhook-id"), id) == 0;
        CHECK_EQ_INT(attempts, 3);
    }
    struct webhook_sink_stats stats;
    webhook_sink_get_stats(sink, &stats);
    CHECK_EQ_INT(stats.dead_lettered, 4);
    CHECK_EQ_INT(stats.delivered, 0);
    CHECK_EQ_INT(stats.last_status, 500);
    cJSON_Delete(requests);
    webhook_sink_destroy(sink);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

static void tune_serial(struct webhook_sink_options *o)
{
    o->concurrency = 1;
}

static void test_gone_disables_endpoint_and_dead_letters_everything(void)
{
    struct receiver rx;
    const char *args[] = {"--script", "410", NULL}; /* afterwards the default 200 */
    REQUIRE(receiver_start(&rx, args) == 0);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *sink = make_sink(rx.url, secrets, 1, &dl, tune_serial);
    REQUIRE(sink);
    for (int i = 1; i <= 5; i++)
        CHECK_EQ_INT(submit_event(sink, i, i <= 2 ? "same" : "other", i, TYPE_OK),
                     SINK_ACCEPTED);
    CHECK_EQ_INT(drive(sink, 5, 10000), 5);
    CHECK_EQ_INT(dl.count, 5);
    for (int i = 0; i < dl.count; i++)
        CHECK_EQ_STR(dl.reasons[i], "endpoint gone (410)");
    CHECK(webhook_sink_take_gone_alert(sink));
    CHECK(!webhook_sink_take_gone_alert(sink));
    struct webhook_sink_stats stats;
    webhook_sink_get_stats(sink, &stats);
    CHECK(stats.disabled);
    CHECK_EQ_INT(stats.dead_lettered, 5);

    /* Later records never reach the endpoint either. */
    CHECK_EQ_INT(submit_event(sink, 6, "late", 6, TYPE_OK), SINK_ACCEPTED);
    CHECK_EQ_INT(drive(sink, 6, 5000), 6);
    CHECK_EQ_INT(dl.count, 6);
    cJSON *requests = receiver_requests(&rx);
    CHECK_EQ_INT(cJSON_GetArraySize(requests), 1);
    cJSON_Delete(requests);
    webhook_sink_destroy(sink);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

static void test_retry_after_date_and_large_body(void)
{
    struct receiver rx;
    const char *args[] = {"--secret", SECRET_A, "--script", "503:retry-after-date=2", NULL};
    REQUIRE(receiver_start(&rx, args) == 0);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *sink = make_sink(rx.url, secrets, 1, &dl, tune_serial);
    REQUIRE(sink);

    /* A 1 MiB payload: the receiver must take it whole and the signature must cover it. */
    size_t blob_len = 1024 * 1024;
    struct strbuf data;
    strbuf_init(&data);
    strbuf_append(&data, "{\"blob\":\"");
    for (size_t i = 0; i < blob_len; i++)
        strbuf_append_char(&data, (char)('a' + i % 26));
    strbuf_append(&data, "\"}");
    struct relay_event *big = relay_event_create("evt-1", TYPE_OK, "genesys-cloud://test", "big",
                                                 1700000000000, EVENT_FAMILY_STATE,
                                                 strbuf_cstr(&data));
    char err[256] = "";
    CHECK_EQ_INT(webhook_sink_submit(sink, 1, big, err, sizeof err), SINK_ACCEPTED);
    relay_event_free(big);
    strbuf_free(&data);

    CHECK_EQ_INT(drive(sink, 1, 15000), 1);
    CHECK_EQ_INT(dl.count, 0);
    cJSON *requests = receiver_requests(&rx);
    REQUIRE(cJSON_GetArraySize(requests) == 2);
    const cJSON *refused = cJSON_GetArrayItem(requests, 0);
    const cJSON *accepted = cJSON_GetArrayItem(requests, 1);
    CHECK_EQ_INT(int_of(refused, "status_given"), 503);
    CHECK(is_2xx(accepted));
    /* The date has one-second resolution, so at least one full second must pass. */
    int64_t waited = ms_of(accepted, "t_ms") - ms_of(refused, "t_ms");
    CHECK_MSG(waited >= 1000, "retried %lld ms after a Retry-After date 2 s ahead",
              (long long)waited);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(accepted, "signature_valid")));
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(accepted, "body");
    const cJSON *blob = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(body, "data"), "blob");
    CHECK(cJSON_IsString(blob) && strlen(blob->valuestring) == blob_len);
    cJSON_Delete(requests);
    webhook_sink_destroy(sink);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

static void test_rejected_event_is_dead_lettered_at_once(void)
{
    struct receiver rx;
    const char *args[] = {"--secret", SECRET_A, "--status-for-type", TYPE_BAD "=400", NULL};
    REQUIRE(receiver_start(&rx, args) == 0);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *sink = make_sink(rx.url, secrets, 1, &dl, NULL);
    REQUIRE(sink);
    /* One subject: a rejected event must not hold up the ones behind it. */
    for (int i = 1; i <= 6; i++)
        CHECK_EQ_INT(submit_event(sink, i, "camp", i, i % 2 ? TYPE_BAD : TYPE_OK),
                     SINK_ACCEPTED);
    CHECK_EQ_INT(drive(sink, 6, 10000), 6);
    CHECK_EQ_INT(dl.count, 3);
    for (int i = 0; i < dl.count; i++) {
        CHECK_EQ_INT(dl.seqs[i] % 2, 1);
        CHECK_CONTAINS(dl.reasons[i], "HTTP 400");
    }
    cJSON *requests = receiver_requests(&rx);
    CHECK_EQ_INT(cJSON_GetArraySize(requests), 6); /* one attempt each, no retries */
    struct webhook_sink_stats stats;
    webhook_sink_get_stats(sink, &stats);
    CHECK_EQ_INT(stats.delivered, 3);
    CHECK_EQ_INT(stats.retried, 0);
    cJSON_Delete(requests);
    webhook_sink_destroy(sink);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

/* A port on loopback that nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

struct runner {
    struct webhook_sink *sink;
    int64_t target;
    int run_ms;
    int64_t done;
    int64_t elapsed_ms;
};

static void *run_engine(void *opaque)
{
    struct runner *runner = opaque;
    int64_t started = time_mono_ms();
    runner->done = drive(runner->sink, runner->target, runner->run_ms);
    runner->elapsed_ms = time_mono_ms() - started;
    return NULL;
}

static void tune_unreachable(struct webhook_sink_options *o)
{
    o->max_attempts = 1000;
    o->request_timeout_ms = 500;
}

static void test_unreachable_endpoint_does_not_block_another(void)
{
    struct receiver rx;
    const char *args[] = {"--secret", SECRET_A, NULL};
    REQUIRE(receiver_start(&rx, args) == 0);
    int port = closed_port();
    REQUIRE(port > 0);
    char dead_url[64];
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d/hook", port);

    struct dead_letters dl_dead, dl_live;
    dead_letters_init(&dl_dead);
    dead_letters_init(&dl_live);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *dead = make_sink(dead_url, secrets, 1, &dl_dead, tune_unreachable);
    struct webhook_sink *live = make_sink(rx.url, secrets, 1, &dl_live, NULL);
    REQUIRE(dead && live);
    for (int i = 1; i <= 10; i++)
        CHECK_EQ_INT(submit_event(dead, i, "camp", i, TYPE_OK), SINK_ACCEPTED);
    for (int i = 1; i <= 50; i++)
        CHECK_EQ_INT(submit_event(live, i, i % 3 ? "camp" : "other", i, TYPE_OK),
                     SINK_ACCEPTED);

    struct runner dead_runner = {.sink = dead, .target = 10, .run_ms = 1500};
    struct runner live_runner = {.sink = live, .target = 50, .run_ms = 10000};
    pthread_t dead_thread, live_thread;
    pthread_create(&dead_thread, NULL, run_engine, &dead_runner);
    pthread_create(&live_thread, NULL, run_engine, &live_runner);
    pthread_join(live_thread, NULL);
    pthread_join(dead_thread, NULL);

    CHECK_EQ_INT(live_runner.done, 50);
    CHECK_MSG(live_runner.elapsed_ms < 5000, "healthy endpoint took %lld ms",
              (long long)live_runner.elapsed_ms);
    CHECK_EQ_INT(dead_runner.done, -1);
    CHECK_EQ_INT(dl_dead.count, 0);
    struct webhook_sink_stats stats;
    webhook_sink_get_stats(dead, &stats);
    CHECK_MSG(stats.failed_attempts >= 3, "only %llu failed attempts",
              (unsigned long long)stats.failed_attempts);
    CHECK(stats.retried >= 3);
    CHECK_EQ_INT(stats.last_status, 0);
    CHECK_EQ_INT(stats.pending, 10);
    webhook_sink_destroy(dead); /* with records still pending */
    webhook_sink_destroy(live);
    CHECK_EQ_INT(receiver_stop(&rx), 0);
}

static void tune_tiny_queue(struct webhook_sink_options *o)
{
    o->max_pending = 2;
}

static void test_back_pressure_and_sequence_checks(void)
{
    int port = closed_port();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    struct webhook_sink *sink = make_sink(url, secrets, 1, &dl, tune_tiny_queue);
    REQUIRE(sink);
    CHECK_EQ_INT(submit_event(sink, 1, "a", 1, TYPE_OK), SINK_ACCEPTED);
    CHECK_EQ_INT(submit_event(sink, 2, "b", 2, TYPE_OK), SINK_ACCEPTED);
    struct relay_event *event = make_event(3, "c", 3, TYPE_OK);
    char err[256] = "";
    CHECK_EQ_INT(webhook_sink_submit(sink, 3, event, err, sizeof err), SINK_BUSY);
    CHECK_EQ_INT(webhook_sink_submit(sink, 2, event, err, sizeof err), SINK_FAILED);
    CHECK_CONTAINS(err, "seq 2 submitted after seq 2");
    CHECK_EQ_INT(webhook_sink_submit(sink, 4, NULL, err, sizeof err), SINK_FAILED);
    CHECK(webhook_sink_ops.poll(sink, 0) == -1);
    CHECK(!webhook_sink_ops.needs_replay(sink));
    CHECK_EQ_STR(webhook_sink_ops.kind, "webhook");
    relay_event_free(event);
    webhook_sink_ops.destroy(sink);
    webhook_sink_destroy(NULL);
}

static void check_rejected(struct webhook_sink_options *options, const char *expected)
{
    char err[512] = "";
    struct webhook_sink *sink = webhook_sink_create(options, err, sizeof err);
    CHECK(sink == NULL);
    CHECK_CONTAINS(err, expected);
    CHECK_CONTAINS(err, "webhook sink \"orders\"");
    webhook_sink_destroy(sink);
}

static void test_bad_options_are_reported(void)
{
    struct dead_letters dl;
    dead_letters_init(&dl);
    const char *secrets[] = {SECRET_A};
    const char *bad_secret[] = {"whsec_***"};
    struct webhook_sink_options options;
    webhook_sink_options_init(&options);
    options.name = "orders";
    options.secrets = secrets;
    options.secret_count = 1;
    options.dead_letter = on_dead_letter;
    options.dead_letter_opaque = &dl;

    options.url = "ftp://127.0.0.1/x";
    check_rejected(&options, "only http:// and https://");
    options.url = "http://exa mple.com/";
    check_rejected(&options, "url \"http://exa mple.com/\"");
    options.url = "http://127.0.0.1:1/";

    options.secrets = bad_secret;
    check_rejected(&options, "secret #1");
    options.secrets = secrets;

    const char *bad_header[] = {"X-Tenant: a", "No colon here"};
    options.headers = bad_header;
    options.header_count = 2;
    check_rejected(&options, "header #2");
    const char *reserved_header[] = {"Webhook-Id: forged"};
    options.headers = reserved_header;
    options.header_count = 1;
    check_rejected(&options, "\"Webhook-Id\" is set by the webhook sink");
    options.header_count = 0;

    options.concurrency = 0;
    check_rejected(&options, "concurrency");
    options.concurrency = 4;
    options.backoff_min_ms = 100;
    options.backoff_max_ms = 50;
    check_rejected(&options, "backoff");
    options.backoff_max_ms = 500;
    options.dead_letter = NULL;
    check_rejected(&options, "dead-letter callback");
    options.dead_letter = on_dead_letter;

    const char *good_header[] = {"Authorization: Bearer t0ken"};
    options.headers = good_header;
    options.header_count = 1;
    char err[256] = "";
    struct webhook_sink *sink = webhook_sink_create(&options, err, sizeof err);
    CHECK_MSG(sink != NULL, "%s", err);
    webhook_sink_destroy(sink);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_bad_options_are_reported);
    RUN(test_back_pressure_and_sequence_checks);
    RUN(test_scripted_failures_deliver_each_event_once);
    RUN(test_per_subject_order_holds_under_random_failures);
    RUN(test_permanent_failure_dead_letters_after_max_attempts);
    RUN(test_gone_disables_endpoint_and_dead_letters_everything);
    RUN(test_retry_after_date_and_large_body);
    RUN(test_rejected_event_is_dead_lettered_at_once);
    RUN(test_unreachable_endpoint_does_not_block_another);
    return harness_finish();
}
