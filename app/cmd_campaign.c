/*
 * campaign-relay campaign start|stop ID: commands a campaign through a running
 * relay's admin API, which applies the state gate, the pre-flight checks and the
 * per-dialer limits, and confirms completion on the notification stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "app/commands.h"
#include "config/config.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

static void print_campaign_help(FILE *out)
{
    fprintf(out,
            "usage: campaign-relay campaign start|stop CAMPAIGN_ID [options]\n"
            "\n"
            "Asks the running relay to start or stop a campaign. The relay refuses (and\n"
            "says why) when the campaign is in a transient state or already has a command\n"
            "in flight, and for a start when its contact list is importing, the org is at\n"
            "the platform's active-campaign limit or the dialer has no line headroom.\n"
            "\n"
            "  -c, --config FILE       the relay's configuration (for admin.listen and\n"
            "                          admin.bearer_token)\n"
            "      --admin URL         the admin endpoint instead (http://127.0.0.1:9464)\n"
            "      --token TOKEN       bearer token instead of admin.bearer_token\n"
            "      --reason TEXT       why (recorded in the audit trail)\n"
            "      --requested-by WHO  who asks (default: $USER)\n"
            "      --override CHECK    run despite a refusing check: contact_list_import,\n"
            "                          active_limit or dialer_headroom (repeatable; needs\n"
            "                          --override-reason)\n"
            "      --override-reason TEXT\n"
            "      --wait              follow the command until it ends; the exit status is\n"
            "                          0 only if it succeeded\n"
            "      --timeout SECONDS   give up waiting after this long (default 900)\n"
            "\n"
            "Exit status: 0 accepted (or, with --wait, succeeded), 1 refused or failed,\n"
            "2 bad usage, 3 the relay could not be reached.\n");
}

static size_t collect(char *data, size_t size, size_t n, void *opaque)
{
    strbuf_append_len(opaque, data, size * n);
    return size * n;
}

/* Returns the HTTP status, or -1 (errstr set) when the relay could not be reached. */
static long http_call(const char *method, const char *url, const char *token, const char *body,
                      struct strbuf *response, char *errstr, size_t errstr_size)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(errstr, errstr_size, "cannot initialise libcurl");
        return -1;
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1024];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(curl);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(errstr, errstr_size, "cannot reach the relay at %s: %s", url,
                 curl_error[0] ? curl_error : curl_easy_strerror(rc));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

static const char *json_string(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int follow(const char *base, const char *token, const char *command_id, int timeout_s)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/commands/%s", base, command_id);
    int64_t deadline = time_mono_ms() + (int64_t)timeout_s * 1000;
    char last[64] = "";
    while (time_mono_ms() < deadline) {
        struct strbuf response;
        strbuf_init(&response);
        char errstr[512];
        long status = http_call("GET", url, token, NULL, &response, errstr, sizeof errstr);
        if (status < 0) {
            fprintf(stderr, "campaign-relay campaign: %s\n", errstr);
            strbuf_free(&response);
            return 3;
        }
        cJSON *o = cJSON_Parse(strbuf_cstr(&response));
        const char *state = json_string(o, "status");
        if (status != 200 || !state) {
            fprintf(stderr, "campaign-relay campaign: unexpected answer %ld for %s: %s\n",
                    status, url, strbuf_cstr(&response));
            cJSON_Delete(o);
            strbuf_free(&response);
            return 1;
        }
        if (strcmp(state, last) != 0) {
            printf("%s  %s%s%s\n", command_id, state, json_string(o, "detail") ? ": " : "",
                   json_string(o, "detail") ? json_string(o, "detail") : "");
            fflush(stdout);
            snprintf(last, sizeof last, "%s", state);
        }
        int done = strcmp(state, "succeeded") == 0 ? 0
                   : (strcmp(state, "failed") == 0 || strcmp(state, "timed_out") == 0) ? 1
                                                                                      : -1;
        cJSON_Delete(o);
        strbuf_free(&response);
        if (done >= 0)
            return done;
        usleep(500 * 1000);
    }
    fprintf(stderr, "campaign-relay campaign: gave up waiting after %d s (the command goes on)\n",
            timeout_s);
    return 1;
}

int cmd_campaign(int argc, char **argv)
{
    const char *action = NULL, *campaign = NULL, *config_path = NULL, *admin = NULL;
    const char *token = NULL, *reason = NULL, *override_reason = NULL;
    const char *requested_by = getenv("USER");
    const char *overrides[4];
    int override_count = 0, wait = 0, timeout_s = 900;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_campaign_help(stdout);
            return 0;
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && next) {
            config_path = argv[++i];
        } else if (strcmp(a, "--admin") == 0 && next) {
            admin = argv[++i];
        } else if (strcmp(a, "--token") == 0 && next) {
            token = argv[++i];
        } else if (strcmp(a, "--reason") == 0 && next) {
            reason = argv[++i];
        } else if (strcmp(a, "--requested-by") == 0 && next) {
            requested_by = argv[++i];
        } else if (strcmp(a, "--override") == 0 && next && override_count < 4) {
            overrides[override_count++] = argv[++i];
        } else if (strcmp(a, "--override-reason") == 0 && next) {
            override_reason = argv[++i];
        } else if (strcmp(a, "--wait") == 0) {
            wait = 1;
        } else if (strcmp(a, "--timeout") == 0 && next) {
            timeout_s = atoi(argv[++i]);
        } else if (a[0] != '-' && !action) {
            action = a;
        } else if (a[0] != '-' && !campaign) {
            campaign = a;
        } else {
            fprintf(stderr, "campaign-relay campaign: unexpected argument '%s'\n\n", a);
            print_campaign_help(stderr);
            return 2;
        }
    }
    if (!action || !campaign || (strcmp(action, "start") != 0 && strcmp(action, "stop") != 0) ||
        (!config_path && !admin) || timeout_s <= 0) {
        print_campaign_help(stderr);
        return 2;
    }

    struct relay_config *config = NULL;
    char base[512];
    if (admin) {
        snprintf(base, sizeof base, "%s", admin);
    } else {
        char errstr[8192];
        config = config_load_file(config_path, errstr, sizeof errstr);
        if (!config) {
            fprintf(stderr, "campaign-relay campaign: invalid configuration:\n%s\n", errstr);
            return 2;
        }
        const char *host = config->admin.listen_host;
        bool v6 = strchr(host, ':') != NULL;
        if (strcmp(host, "0.0.0.0") == 0)
            host = "127.0.0.1";
        snprintf(base, sizeof base, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                 config->admin.listen_port);
        if (!token)
            token = config->admin.bearer_token;
    }
    size_t len = strlen(base);
    while (len && base[len - 1] == '/')
        base[--len] = '\0';

    cJSON *body = cJSON_CreateObject();
    if (reason)
        cJSON_AddStringToObject(body, "reason", reason);
    if (requested_by)
        cJSON_AddStringToObject(body, "requestedBy", requested_by);
    if (override_count) {
        cJSON *list = cJSON_AddArrayToObject(body, "overrides");
        for (int i = 0; i < override_count; i++)
            cJSON_AddItemToArray(list, cJSON_CreateString(overrides[i]));
    }
    if (override_reason)
        cJSON_AddStringToObject(body, "overrideReason", override_reason);
    char *body_text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);

    char url[1024];
    snprintf(url, sizeof url, "%s/v1/campaigns/%s/%s", base, campaign, action);
    struct strbuf response;
    strbuf_init(&response);
    char errstr[512];
    long status = http_call("POST", url, token, body_text, &response, errstr, sizeof errstr);
    free(body_text);
    int exit_status;
    if (status < 0) {
        fprintf(stderr, "campaign-relay campaign: %s\n", errstr);
        exit_status = 3;
    } else {
        cJSON *o = cJSON_Parse(strbuf_cstr(&response));
        const char *command_id = json_string(o, "commandId");
        const char *message = json_string(o, "reason");
        if (status == 200 || status == 202) {
            printf("%s  %s%s%s\n", command_id ? command_id : "-",
                   status == 200 ? "succeeded" : "accepted", message ? ": " : "",
                   message ? message : "");
            fflush(stdout);
            exit_status = 0;
            if (wait && status == 202 && command_id)
                exit_status = follow(base, token, command_id, timeout_s);
        } else {
            fprintf(stderr, "refused (HTTP %ld): %s\n", status,
                    message ? message : strbuf_cstr(&response));
            exit_status = 1;
        }
        cJSON_Delete(o);
    }
    strbuf_free(&response);
    config_destroy(config);
    return exit_status;
}
