/*
 * Tests of consumer/platform and consumer/platform_worker against the simulator,
 * build/<tree>/gcsim, started as a child process on an ephemeral loopback port.
 */
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "consumer/platform.h"
#include "consumer/platform_worker.h"
#include "tests/harness.h"
#include "util/timeutil.h"

#define SECRET "relay-secret"

struct gcsim {
    pid_t pid;
    int port;
    char url[64];
};

/* Starts gcsim with the given extra arguments (NULL-terminated) and waits for its
 * "gcsim listening on http://127.0.0.1:PORT" line. */
static int gcsim_start(struct gcsim *sim, const char *const *extra)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build/asan";
    char binary[512];
    snprintf(binary, sizeof binary, "%s/gcsim", build);
    const char *argv[32] = {binary, "--listen", "127.0.0.1:0", "--log-level", "warn"};
    int argc = 5;
    for (int i = 0; extra != NULL && extra[i] != NULL && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    int out[2];
    if (pipe(out) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execv(binary, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", binary, strerror(errno));
        _exit(127);
    }
    close(out[1]);
    sim->pid = pid;
    sim->port = 0;
    char line[256];
    size_t len = 0;
    int64_t deadline = time_mono_ms() + 20000;
    while (len < sizeof line - 1 && time_mono_ms() < deadline) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        ssize_t n = read(out[0], line + len, 1);
        if (n <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "gcsim listening on http://127.0.0.1:%d", &sim->port) != 1) {
        printf("# gcsim did not report its port (got \"%s\")\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    snprintf(sim->url, sizeof sim->url, "http://127.0.0.1:%d", sim->port);
    return 0;
}

static void gcsim_stop(struct gcsim *sim)
{
    if (sim->pid <= 0)
        return;
    kill(sim->pid, SIGTERM);
    int status = 0;
    waitpid(sim->pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gcsim exit status %d", status);
    sim->pid = 0;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *opaque)
{
    strbuf_append_len(opaque, data, size * nmemb);
    return size * nmemb;
}

/* A call to gcsim's control API (no auth). Returns the HTTP status; body optional. */
static long sim_call(const struct gcsim *sim, const char *method, const char *path,
                     const char *json, struct strbuf *body)
{
    CURL *curl = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s%s", sim->url, path);
    struct strbuf scratch;
    strbuf_init(&scratch);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (json != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body ? body : &scratch);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    strbuf_free(&scratch);
    return status;
}

/* The id of the first campaign gcsim knows, from GET /sim/state. */
static int sim_first_campaign(const struct gcsim *sim, char *id, size_t id_size)
{
    struct strbuf body;
    strbuf_init(&body);
    long status = sim_call(sim, "GET", "/sim/state", NULL, &body);
    cJSON *state = cJSON_Parse(strbuf_cstr(&body));
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(state, "campaigns"), 0);
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(first, "id"));
    int rc = status == 200 && text != NULL ? 0 : -1;
    snprintf(id, id_size, "%s", text ? text : "");
    cJSON_Delete(state);
    strbuf_free(&body);
    return rc;
}

static struct platform_options options_for(const struct gcsim *sim)
{
    return (struct platform_options){
        .api_url = sim->url,
        .login_url = sim->url,
        .client_id = "relay-client",
        .client_secret = SECRET,
        .request_timeout_ms = 5000,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
    };
}

static struct platform_client *client_for(const struct platform_options *options)
{
    char err[512] = "";
    struct platform_client *client = platform_client_create(options, err, sizeof err);
    if (client == NULL)
        printf("# platform_client_create: %s\n", err);
    return client;
}

/* ------------------------------------------------------------------------- */

static void test_token_fetch_and_campaign_calls(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, (const char *[]){"--campaigns", "3", "--seed", "7", NULL}) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char id[128], err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client == NULL || sim_first_campaign(&sim, id, sizeof id) != 0)
        goto out;

    CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_OK);
    CHECK_EQ_INT(platform_get_campaign(client, id, &response, err, sizeof err), PLATFORM_OK);
    CHECK_EQ_INT(response.status, 200);
    CHECK_CONTAINS(strbuf_cstr(&response.body), id);
    CHECK(response.correlation_id[0] != '\0');
    CHECK_CONTAINS(response.content_type, "application/json");

    CHECK_EQ_INT(platform_start_campaign(client, id, &response, err, sizeof err), PLATFORM_OK);
    CHECK_EQ_INT(platform_get_campaign(client, id, &response, err, sizeof err), PLATFORM_OK);
    CHECK_CONTAINS(strbuf_cstr(&response.body), "\"campaignStatus\":\"on\"");

    /* PUT the campaign back as read: accepted with the current version. */
    char *campaign = strdup(strbuf_cstr(&response.body));
    CHECK_EQ_INT(platform_put_campaign(client, id, campaign, &response, err, sizeof err),
                 PLATFORM_OK);
    /* A version that is not the current one: 409 with the platform's reason. */
    cJSON *stale = cJSON_Parse(campaign);
    cJSON *version = cJSON_GetObjectItem(stale, "version");
    CHECK(cJSON_IsNumber(version));
    if (cJSON_IsNumber(version))
        cJSON_SetNumberValue(version, version->valuedouble + 1000);
    char *stale_text = cJSON_PrintUnformatted(stale);
    CHECK_EQ_INT(platform_put_campaign(client, id, stale_text, &response, err, sizeof err),
                 PLATFORM_ERR_HTTP);
    free(stale_text);
    cJSON_Delete(stale);
    CHECK_EQ_INT(response.status, 409);
    CHECK_CONTAINS(err, "HTTP 409 from PUT /api/v2/outbound/campaigns/");
    CHECK_CONTAINS(err, "does not match the current version");
    free(campaign);
    CHECK_EQ_INT(platform_stop_campaign(client, id, &response, err, sizeof err), PLATFORM_OK);
    CHECK_EQ_INT(platform_get_campaign(client, id, &response, err, sizeof err), PLATFORM_OK);
    CHECK_CONTAINS(strbuf_cstr(&response.body), "\"campaignStatus\":\"stopping\"");

    struct platform_counters counters;
    platform_client_counters(client, &counters);
    CHECK_EQ_INT(counters.token_refreshes, 1); /* one token served every call */
    CHECK_EQ_INT(counters.calls, 7);
    CHECK_EQ_INT(counters.calls_ok, 6);
    CHECK_EQ_INT(counters.calls_http_error, 1);
    CHECK_EQ_INT(counters.rate_limited, 0);
    /* One kept-alive connection carried the token request and every call. */
    CHECK_EQ_INT(counters.requests_sent, 8);
    CHECK_EQ_INT(counters.connections_opened, 1);
out:
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_wrong_credentials_are_a_clear_error_without_the_secret(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    struct platform_options options = options_for(&sim);
    options.client_secret = "not-the-Secret-42";
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    if (client != NULL) {
        CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_ERR_AUTH);
        CHECK_CONTAINS(err, "authentication failed: invalid_client");
        CHECK_CONTAINS(err, "HTTP 401");
        CHECK_CONTAINS(err, "relay-client");
        CHECK(strstr(err, "not-the-Secret-42") == NULL);
        /* An API call reports the same failure and is never sent. */
        err[0] = '\0';
        CHECK_EQ_INT(platform_create_channel(client, NULL, err, sizeof err), PLATFORM_ERR_AUTH);
        CHECK_CONTAINS(err, "authentication failed: invalid_client");
        CHECK(strstr(err, "not-the-Secret-42") == NULL);
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.token_failures, 2);
        CHECK_EQ_INT(counters.token_refreshes, 0);
        CHECK_EQ_INT(counters.requests_sent, 2); /* two token requests, no API call */
        CHECK_EQ_INT(counters.calls_auth_error, 1);
    }
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_short_token_lifetime_forces_refresh(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, (const char *[]){"--token-lifetime", "2", NULL}) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.token_refreshes, 1);
        /* A 2 s token is refreshed halfway through its life, before the server
         * could ever refuse it. */
        usleep(1300 * 1000);
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        usleep(1300 * 1000);
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.token_refreshes, 3);
        CHECK_EQ_INT(counters.unauthorized, 0);
        CHECK_EQ_INT(counters.calls_ok, 4);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_revoked_token_refreshes_once_and_retries(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/revoke-tokens", "{}", NULL), 200);
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        CHECK_EQ_INT(response.status, 200);
        CHECK_CONTAINS(strbuf_cstr(&response.body), "connectUri");
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.unauthorized, 1);
        CHECK_EQ_INT(counters.token_refreshes, 2);
        CHECK_EQ_INT(counters.calls_ok, 2);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_rate_limited_call_waits_for_retry_after(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, (const char *[]){"--campaigns", "1", NULL}) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char id[128], err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL && sim_first_campaign(&sim, id, sizeof id) == 0) {
        CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_OK);
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/rest",
                              "{\"status\":429,\"count\":3,\"retry_after\":1,"
                              "\"path_prefix\":\"/api/v2/outbound\"}", NULL), 200);
        int64_t start = time_mono_ms();
        CHECK_EQ_INT(platform_get_campaign(client, id, &response, err, sizeof err),
                     PLATFORM_OK);
        int64_t elapsed = time_mono_ms() - start;
        CHECK_EQ_INT(response.status, 200);
        /* Each of the three 429s said "Retry-After: 1". */
        CHECK_MSG(elapsed >= 3000 && elapsed < 8000, "took %lld ms", (long long)elapsed);
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.rate_limited, 3);
        CHECK_EQ_INT(counters.retries, 3);
        CHECK_EQ_INT(counters.calls_ok, 1);

        /* The pause holds every call of the client, not only the one that saw it. */
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/rest",
                              "{\"status\":429,\"count\":1,\"retry_after\":1}", NULL), 200);
        start = time_mono_ms();
        CHECK_EQ_INT(platform_get_campaign(client, id, &response, err, sizeof err),
                     PLATFORM_OK);
        CHECK(time_mono_ms() - start >= 1000);
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.rate_limited, 4);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_server_errors_are_retried_then_reported(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    struct platform_options options = options_for(&sim);
    options.max_retries = 3;
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/rest",
                              "{\"status\":500,\"count\":2}", NULL), 200);
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.server_errors, 2);
        CHECK_EQ_INT(counters.retries, 2);
        CHECK_EQ_INT(counters.calls_ok, 1);

        /* More failures than retries: the caller gets the last answer. */
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/rest",
                              "{\"status\":503,\"count\":10}", NULL), 200);
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err),
                     PLATFORM_ERR_HTTP);
        CHECK_EQ_INT(response.status, 503);
        CHECK_CONTAINS(err, "HTTP 503 from POST /api/v2/notifications/channels");
        CHECK_CONTAINS(err, "gave up after 3 retries");
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.server_errors, 6);
        CHECK_EQ_INT(counters.calls_http_error, 1);
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/clear", "{}", NULL), 200);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_client_errors_return_the_platform_error(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        CHECK_EQ_INT(platform_get_campaign(client, "00000000-0000-0000-0000-00000000dead",
                                           &response, err, sizeof err), PLATFORM_ERR_HTTP);
        CHECK_EQ_INT(response.status, 404);
        CHECK_CONTAINS(err, "HTTP 404 from GET /api/v2/outbound/campaigns/00000000-0000");
        CHECK_CONTAINS(err, "code not.found");
        CHECK_CONTAINS(err, "correlation-id ");
        CHECK_CONTAINS(strbuf_cstr(&response.body), "\"status\":404");
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.retries, 0); /* a 404 is an answer, not a transient fault */

        /* Ids that would change the path never reach the wire. */
        CHECK_EQ_INT(platform_get_campaign(client, "../../oauth/token", &response, err,
                                           sizeof err), PLATFORM_ERR_INVALID);
        CHECK_CONTAINS(err, "invalid campaign id");
        CHECK_EQ_INT(platform_request(client, "GET", "api/v2/x", NULL, NULL, err, sizeof err),
                     PLATFORM_ERR_INVALID);
        CHECK_EQ_INT(platform_request(client, "BREW", "/api/v2/x", NULL, NULL, err, sizeof err),
                     PLATFORM_ERR_INVALID);
        CHECK_CONTAINS(err, "unsupported HTTP method \"BREW\"");
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_listing_250_campaigns_walks_three_pages(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, (const char *[]){"--campaigns", "250", "--seed", "3", NULL}) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        int pages = 0;
        CHECK_EQ_INT(platform_list_campaigns(client, &response, &pages, err, sizeof err),
                     PLATFORM_OK);
        CHECK_EQ_INT(pages, 3);
        cJSON *all = cJSON_Parse(strbuf_cstr(&response.body));
        CHECK(cJSON_IsArray(all));
        CHECK_EQ_INT(cJSON_GetArraySize(all), 250);
        /* Every campaign once: no page read twice, none skipped. */
        int distinct = 0;
        cJSON *item;
        cJSON_ArrayForEach(item, all) {
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(item, "id"));
            int seen = 0;
            cJSON *other;
            cJSON_ArrayForEach(other, all) {
                if (other == item)
                    break;
                const char *other_id = cJSON_GetStringValue(cJSON_GetObjectItem(other, "id"));
                seen |= id && other_id && strcmp(id, other_id) == 0;
            }
            distinct += id != NULL && !seen;
        }
        CHECK_EQ_INT(distinct, 250);
        cJSON_Delete(all);
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.calls, 3);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_channels_and_subscriptions(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    struct platform_options options = options_for(&sim);
    struct platform_client *client = client_for(&options);
    char err[512] = "";
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        CHECK_EQ_INT(platform_create_channel(client, &response, err, sizeof err), PLATFORM_OK);
        cJSON *channel = cJSON_Parse(strbuf_cstr(&response.body));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(channel, "id"));
        CHECK(id != NULL);
        if (id != NULL) {
            bool exists = false;
            CHECK_EQ_INT(platform_head_channel(client, id, &exists, err, sizeof err),
                         PLATFORM_OK);
            CHECK(exists);
            const char *topics = "[{\"id\":\"v2.outbound.campaigns.11111111-2222-3333-4444-"
                                 "555555555555\"},{\"id\":\"v2.users.nobody.presence\"}]";
            CHECK_EQ_INT(platform_put_subscriptions(client, id, topics, &response, err,
                                                    sizeof err), PLATFORM_OK);
            CHECK_CONTAINS(strbuf_cstr(&response.body), "Permitted");
            CHECK_CONTAINS(strbuf_cstr(&response.body), "Rejected");
            CHECK_EQ_INT(platform_get_subscriptions(client, id, &response, err, sizeof err),
                         PLATFORM_OK);
            CHECK_CONTAINS(strbuf_cstr(&response.body),
                           "v2.outbound.campaigns.11111111-2222-3333-4444-555555555555");
            char expire[256];
            snprintf(expire, sizeof expire, "{\"channel\":\"%s\"}", id);
            CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/expire-channel", expire, NULL), 200);
            CHECK_EQ_INT(platform_head_channel(client, id, &exists, err, sizeof err),
                         PLATFORM_OK);
            CHECK(!exists);
        }
        cJSON_Delete(channel);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    gcsim_stop(&sim);
}

static void test_calls_wait_for_the_shared_budget(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    char err[512] = "";
    struct rest_budget *budget = rest_budget_create(2, err, sizeof err);
    struct platform_options options = options_for(&sim);
    options.shared_budget = budget;
    struct platform_client *client = budget ? client_for(&options) : NULL;
    if (client != NULL) {
        /* Two calls 59 s ago (by another client of the token) fill the minute;
         * the next slot frees one second from now. */
        int64_t now = time_mono_ms();
        CHECK_EQ_INT(rest_budget_reserve(budget, now - 59000), 0);
        CHECK_EQ_INT(rest_budget_reserve(budget, now - 59000), 0);
        CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_OK);
        CHECK_EQ_INT(platform_create_channel(client, NULL, err, sizeof err), PLATFORM_OK);
        int64_t took = time_mono_ms() - now;
        CHECK_MSG(took >= 1000 && took < 5000, "took %lld ms", (long long)took);
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK(counters.budget_waits >= 1);
        CHECK(counters.budget_wait_ms >= 900);
        /* Both old calls left the window together; only this client's call is in it. */
        CHECK_EQ_INT(rest_budget_used(budget, time_mono_ms()), 1);
    }
    platform_client_destroy(client);
    rest_budget_destroy(budget);
    gcsim_stop(&sim);
}

/* ------------------------------------------------------------------------- */
/* Without gcsim: transport errors and option checks. */

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    bind(fd, (struct sockaddr *)&addr, sizeof addr);
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd); /* nothing listens there now */
    return ntohs(addr.sin_port);
}

static void test_transport_errors_retry_then_fail(void)
{
    char url[64], err[512] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    struct platform_options options = {.api_url = url, .login_url = url,
                                       .client_id = "relay-client", .client_secret = SECRET,
                                       .max_retries = 2, .backoff_min_ms = 10,
                                       .backoff_max_ms = 40};
    struct platform_client *client = client_for(&options);
    REQUIRE(client != NULL);
    CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_ERR_TRANSPORT);
    CHECK_CONTAINS(err, "POST http://127.0.0.1:");
    CHECK_CONTAINS(err, "gave up after 2 retries");
    CHECK(strstr(err, SECRET) == NULL);
    struct platform_counters counters;
    platform_client_counters(client, &counters);
    CHECK_EQ_INT(counters.requests_sent, 3);
    CHECK_EQ_INT(counters.retries, 2);
    platform_client_destroy(client);
}

static void test_rejects_bad_options(void)
{
    char err[512] = "";
    struct platform_options options = {.api_url = "http://127.0.0.1:1",
                                       .login_url = "http://127.0.0.1:1",
                                       .client_id = "relay-client", .client_secret = SECRET,
                                       .budget_per_minute = 300};
    CHECK(platform_client_create(&options, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "budget per minute must be between 1 and 299");
    options.budget_per_minute = 0;
    options.client_id = "";
    CHECK(platform_client_create(&options, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "client_id is required");
    options.client_id = "relay-client";
    options.api_url = "api.mypurecloud.com";
    CHECK(platform_client_create(&options, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "must start with https://");
    options.api_url = "http://127.0.0.1:1";
    options.backoff_min_ms = 5000;
    options.backoff_max_ms = 100;
    CHECK(platform_client_create(&options, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "maximum delay 100 ms is below the minimum delay 5000 ms");
    platform_client_destroy(NULL);
}

/* ------------------------------------------------------------------------- */
/* Answers gcsim never gives (an HTTP-date Retry-After, broken token responses):
 * a loopback server that plays a fixed list of raw HTTP responses, one per
 * connection, in order. */

struct canned_server {
    int fd;
    int port;
    pthread_t thread;
    const char *responses[8];
    int count;
    int served;
};

static void *canned_main(void *opaque)
{
    struct canned_server *server = opaque;
    while (server->served < server->count) {
        struct pollfd pfd = {.fd = server->fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        int conn = accept(server->fd, NULL, NULL);
        if (conn < 0)
            break;
        /* Read the head and any Content-Length body, then answer and close. */
        char request[8192];
        size_t len = 0;
        char *end = NULL;
        while (len < sizeof request - 1) {
            ssize_t n = read(conn, request + len, sizeof request - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            request[len] = '\0';
            if ((end = strstr(request, "\r\n\r\n")) != NULL) {
                char *cl = strcasestr(request, "Content-Length:");
                size_t body = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
                if (len >= (size_t)(end + 4 - request) + body)
                    break;
            }
        }
        const char *answer = server->responses[server->served++];
        ssize_t written = write(conn, answer, strlen(answer));
        (void)written;
        close(conn);
    }
    return NULL;
}

static int canned_start(struct canned_server *server)
{
    server->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(server->fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(server->fd, 8) != 0 ||
        getsockname(server->fd, (struct sockaddr *)&addr, &len) != 0) {
        close(server->fd);
        return -1;
    }
    server->port = ntohs(addr.sin_port);
    server->served = 0;
    return pthread_create(&server->thread, NULL, canned_main, server) == 0 ? 0 : -1;
}

static void canned_stop(struct canned_server *server)
{
    shutdown(server->fd, SHUT_RDWR);
    pthread_join(server->thread, NULL);
    close(server->fd);
}

#define TOKEN_OK "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 68\r\n" \
                 "Connection: close\r\n\r\n" \
                 "{\"access_token\":\"tok-abc-123\",\"token_type\":\"bearer\",\"expires_in\":99}"

static struct platform_client *canned_client(const struct canned_server *server, char *url,
                                             size_t url_size)
{
    snprintf(url, url_size, "http://127.0.0.1:%d", server->port);
    struct platform_options options = {.api_url = url, .login_url = url,
                                       .client_id = "relay-client", .client_secret = SECRET,
                                       .max_retries = 2, .backoff_min_ms = 10,
                                       .backoff_max_ms = 20};
    return client_for(&options);
}

static void test_retry_after_as_http_date(void)
{
    char date[64], rate_limited[512];
    time_t when = time(NULL) + 2;
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&when, &tm));
    snprintf(rate_limited, sizeof rate_limited,
             "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\nContent-Length: 2\r\n"
             "Connection: close\r\n\r\n{}", date);
    struct canned_server server = {
        .responses = {TOKEN_OK, rate_limited,
                      "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
                      "{\"id\":\"c1\"}"},
        .count = 3};
    REQUIRE(canned_start(&server) == 0);
    char url[64], err[512] = "";
    struct platform_client *client = canned_client(&server, url, sizeof url);
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        int64_t start = time_mono_ms();
        CHECK_EQ_INT(platform_get_campaign(client, "c1", &response, err, sizeof err),
                     PLATFORM_OK);
        int64_t took = time_mono_ms() - start;
        /* The date has one-second resolution: at least 1 s, at most 2 s ahead. */
        CHECK_MSG(took >= 900 && took < 4000, "took %lld ms", (long long)took);
        CHECK_EQ_STR(strbuf_cstr(&response.body), "{\"id\":\"c1\"}");
        struct platform_counters counters;
        platform_client_counters(client, &counters);
        CHECK_EQ_INT(counters.rate_limited, 1);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    canned_stop(&server);
}

static void test_unusable_answers_are_clear_errors(void)
{
    struct canned_server server = {
        .responses = {
            /* A token response without a token. */
            "HTTP/1.1 200 OK\r\nContent-Length: 23\r\nConnection: close\r\n\r\n"
            "{\"token_type\":\"bearer\"}",
            /* A refusal that echoes the secret back: it must not reach errstr. */
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 73\r\nConnection: close\r\n\r\n"
            "{\"error\":\"invalid_request\",\"error_description\":\"bad secret relay-secret\"}",
            TOKEN_OK,
            /* A Retry-After longer than the client waits. */
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}",
            /* An error page that is not JSON. */
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 20\r\n"
            "Connection: close\r\n\r\n<h1>Forbidden</h1>\n\x01",
        },
        .count = 5};
    REQUIRE(canned_start(&server) == 0);
    char url[64], err[512] = "";
    struct platform_client *client = canned_client(&server, url, sizeof url);
    struct platform_response response;
    platform_response_init(&response);
    if (client != NULL) {
        CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_ERR_AUTH);
        CHECK_CONTAINS(err, "authentication failed: the token response");
        CHECK_CONTAINS(err, "has no access_token");

        CHECK_EQ_INT(platform_client_authenticate(client, err, sizeof err), PLATFORM_ERR_AUTH);
        CHECK_CONTAINS(err, "authentication failed: invalid_request: bad secret ***");
        CHECK(strstr(err, SECRET) == NULL);

        CHECK_EQ_INT(platform_get_campaign(client, "c1", &response, err, sizeof err),
                     PLATFORM_ERR_HTTP);
        CHECK_EQ_INT(response.status, 429);
        CHECK_CONTAINS(err, "Retry-After 3600 s is beyond the 180 s the client waits");

        CHECK_EQ_INT(platform_get_campaign(client, "c1", &response, err, sizeof err),
                     PLATFORM_ERR_HTTP);
        CHECK_EQ_INT(response.status, 403);
        CHECK_CONTAINS(err, "HTTP 403 from GET /api/v2/outbound/campaigns/c1: <h1>Forbidden</h1>");
        CHECK(strstr(err, "tok-abc-123") == NULL);
    }
    platform_response_free(&response);
    platform_client_destroy(client);
    canned_stop(&server);
}

/* ------------------------------------------------------------------------- */
/* The worker */

struct wake_pipe {
    int fds[2];
};

static void wake_by_pipe(void *opaque)
{
    struct wake_pipe *wp = opaque;
    char byte = 1;
    ssize_t n = write(wp->fds[1], &byte, 1);
    (void)n;
}

struct received {
    int count;
    uint64_t tags[16];
    enum platform_result results[16];
    long statuses[16];
    int pages[16];
    int body_has_id[16];
    char errors[16][256];
};

static void on_completion(void *ctx, const struct platform_completion *completion)
{
    struct received *got = ctx;
    if (got->count >= 16)
        return;
    int i = got->count++;
    got->tags[i] = completion->tag;
    got->results[i] = completion->result;
    got->statuses[i] = completion->status;
    got->pages[i] = completion->pages;
    got->body_has_id[i] = strstr(completion->body, "\"id\"") != NULL;
    snprintf(got->errors[i], sizeof got->errors[i], "%s", completion->error);
}

/* Waits for wake-ups and drains until `want` completions arrived or time is up. */
static void drain_until(struct platform_worker *worker, struct wake_pipe *wp,
                        struct received *got, int want, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (got->count < want && time_mono_ms() < deadline) {
        struct pollfd pfd = {.fd = wp->fds[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            char buf[64];
            ssize_t n = read(wp->fds[0], buf, sizeof buf);
            (void)n;
            platform_worker_drain(worker, on_completion, got);
        }
    }
}

static void test_worker_posts_completions_and_wakes_the_loop(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, (const char *[]){"--campaigns", "120", NULL}) == 0);
    struct wake_pipe wp;
    REQUIRE(pipe(wp.fds) == 0);
    struct platform_worker_options options = {.platform = options_for(&sim),
                                              .queue_capacity = 4, .wake = wake_by_pipe,
                                              .wake_opaque = &wp};
    char err[512] = "";
    struct platform_worker *worker = platform_worker_create(&options, err, sizeof err);
    CHECK_MSG(worker != NULL, "%s", err);
    struct received got = {0};
    if (worker != NULL) {
        struct platform_job jobs[] = {
            {.kind = PLATFORM_JOB_REQUEST, .method = "POST",
             .path = "/api/v2/notifications/channels", .tag = 11},
            {.kind = PLATFORM_JOB_LIST_CAMPAIGNS, .tag = 12},
            {.kind = PLATFORM_JOB_REQUEST, .method = "GET",
             .path = "/api/v2/outbound/campaigns/no-such-campaign", .tag = 13},
            {.kind = PLATFORM_JOB_REQUEST, .method = "GET",
             .path = "/api/v2/notifications/channels", .tag = 14},
        };
        for (int i = 0; i < 4; i++)
            CHECK_EQ_INT(platform_worker_submit(worker, &jobs[i], err, sizeof err), 0);
        /* Four outstanding fill the queue until the loop drains. */
        CHECK_EQ_INT(platform_worker_submit(worker, &jobs[0], err, sizeof err), -1);
        CHECK_CONTAINS(err, "the queue is full");

        drain_until(worker, &wp, &got, 4, 20000);
        CHECK_EQ_INT(got.count, 4);
        CHECK_EQ_INT(got.tags[0], 11);
        CHECK_EQ_INT(got.results[0], PLATFORM_OK);
        CHECK(got.body_has_id[0]);
        CHECK_EQ_INT(got.tags[1], 12);
        CHECK_EQ_INT(got.results[1], PLATFORM_OK);
        CHECK_EQ_INT(got.pages[1], 2);
        CHECK_EQ_INT(got.tags[2], 13);
        CHECK_EQ_INT(got.results[2], PLATFORM_ERR_HTTP);
        CHECK_EQ_INT(got.statuses[2], 404);
        CHECK_CONTAINS(got.errors[2], "HTTP 404");
        CHECK_EQ_INT(got.tags[3], 14);
        CHECK_EQ_INT(platform_worker_outstanding(worker), 0);

        struct platform_counters counters;
        platform_worker_counters(worker, &counters);
        CHECK_EQ_INT(counters.token_refreshes, 1);
        CHECK_EQ_INT(counters.calls, 5); /* the listing took two pages */

        /* After a stop, nothing more is accepted. */
        platform_worker_stop(worker, 1000);
        CHECK_EQ_INT(platform_worker_submit(worker, &jobs[3], err, sizeof err), -1);
        CHECK_CONTAINS(err, "the worker is stopping");
    }
    platform_worker_destroy(worker);
    close(wp.fds[0]);
    close(wp.fds[1]);
    gcsim_stop(&sim);
}

static void test_worker_stop_cancels_slow_calls_after_grace(void)
{
    struct gcsim sim;
    REQUIRE(gcsim_start(&sim, NULL) == 0);
    struct wake_pipe wp;
    REQUIRE(pipe(wp.fds) == 0);
    struct platform_worker_options options = {.platform = options_for(&sim),
                                              .wake = wake_by_pipe, .wake_opaque = &wp};
    options.platform.request_timeout_ms = 20000;
    char err[512] = "";
    struct platform_worker *worker = platform_worker_create(&options, err, sizeof err);
    CHECK_MSG(worker != NULL, "%s", err);
    struct received got = {0};
    if (worker != NULL) {
        CHECK_EQ_INT(sim_call(&sim, "POST", "/sim/faults/rest",
                              "{\"delay_ms\":8000,\"count\":5}", NULL), 200);
        struct platform_job slow = {.kind = PLATFORM_JOB_REQUEST, .method = "POST",
                                    .path = "/api/v2/notifications/channels"};
        for (int i = 0; i < 3; i++) {
            slow.tag = 100 + (uint64_t)i;
            CHECK_EQ_INT(platform_worker_submit(worker, &slow, err, sizeof err), 0);
        }
        usleep(300 * 1000); /* the first call is on the wire */
        int64_t start = time_mono_ms();
        platform_worker_stop(worker, 300);
        int64_t took = time_mono_ms() - start;
        CHECK_MSG(took >= 300 && took < 3000, "stop took %lld ms", (long long)took);
        drain_until(worker, &wp, &got, 3, 2000);
        platform_worker_drain(worker, on_completion, &got);
        CHECK_EQ_INT(got.count, 3);
        for (int i = 0; i < got.count; i++) {
            CHECK_EQ_INT(got.tags[i], 100 + i);
            CHECK_EQ_INT(got.results[i], PLATFORM_ERR_CANCELLED);
        }
    }
    platform_worker_destroy(worker);
    close(wp.fds[0]);
    close(wp.fds[1]);
    gcsim_stop(&sim);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_rejects_bad_options);
    RUN(test_transport_errors_retry_then_fail);
    RUN(test_retry_after_as_http_date);
    RUN(test_unusable_answers_are_clear_errors);
    RUN(test_token_fetch_and_campaign_calls);
    RUN(test_wrong_credentials_are_a_clear_error_without_the_secret);
    RUN(test_short_token_lifetime_forces_refresh);
    RUN(test_revoked_token_refreshes_once_and_retries);
    RUN(test_rate_limited_call_waits_for_retry_after);
    RUN(test_server_errors_are_retried_then_reported);
    RUN(test_client_errors_return_the_platform_error);
    RUN(test_listing_250_campaigns_walks_three_pages);
    RUN(test_channels_and_subscriptions);
    RUN(test_calls_wait_for_the_shared_budget);
    RUN(test_worker_posts_completions_and_wakes_the_loop);
    RUN(test_worker_stop_cancels_slow_calls_after_grace);
    int rc = harness_finish();
    curl_global_cleanup();
    return rc;
}
