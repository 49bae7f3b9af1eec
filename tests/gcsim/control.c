/* The /sim/ control API (README "Control API"): state, campaign changes, faults. */
#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/behaviour.h"
#include "tests/gcsim/faults.h"
#include "tests/gcsim/http.h"
#include "tests/gcsim/scenario.h"
#include "util/timeutil.h"

static void ok(struct http_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    http_json(resp, 200, o);
}

static void state(struct gcsim *sim, struct http_response *resp)
{
    char expires[RFC3339_MS_LEN];
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "campaigns");
    for (size_t i = 0; i < sim->store->campaign_count; i++) {
        const struct campaign *c = sim->store->campaigns[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", c->id);
        cJSON_AddStringToObject(e, "name", c->name);
        cJSON_AddStringToObject(e, "campaignStatus", c->status);
        cJSON_AddNumberToObject(e, "version", (double)c->version);
        cJSON_AddStringToObject(e, "dialingMode", c->dialing_mode);
        cJSON_AddStringToObject(e, "contactListId", c->contact_list.id);
        cJSON_AddNumberToObject(e, "percentage", campaign_percentage(c));
        cJSON_AddItemToArray(arr, e);
    }
    arr = cJSON_AddArrayToObject(o, "contactLists");
    for (size_t i = 0; i < sim->store->list_count; i++) {
        const struct contact_list *l = sim->store->lists[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", l->id);
        cJSON_AddStringToObject(e, "state", l->state);
        cJSON_AddNumberToObject(e, "completedRecords", l->completed_records);
        cJSON_AddNumberToObject(e, "totalRecords", l->total_records);
        cJSON_AddItemToArray(arr, e);
    }
    arr = cJSON_AddArrayToObject(o, "channels");
    for (size_t i = 0; i < sim->channels->count; i++) {
        const struct channel *ch = sim->channels->items[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", ch->id);
        cJSON_AddBoolToObject(e, "connected", ch->conn != NULL);
        cJSON *topics = cJSON_AddArrayToObject(e, "topics");
        for (size_t k = 0; k < ch->topic_count; k++)
            cJSON_AddItemToArray(topics, cJSON_CreateString(ch->topics[k]));
        time_format_rfc3339(time_now_ms() + (ch->expires_ms - time_mono_ms()), expires);
        cJSON_AddStringToObject(e, "expires", expires);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(o, "tokens", (double)oauth_token_count(sim->oauth));
    cJSON_AddBoolToObject(o, "startedScenario", sim->started_scenario);
    behaviour_write_final(sim);
    http_json(resp, 200, o);
}

static void campaign_action(struct gcsim *sim, const struct http_request *req,
                            struct http_response *resp, const char *rest)
{
    char id[PRNG_UUID_LEN + 1], errstr[256];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    struct campaign *c = NULL;
    if (len < sizeof(id)) {
        memcpy(id, rest, len);
        id[len] = '\0';
        c = campaign_store_find(sim->store, id);
    }
    if (!c) {
        http_sim_error(resp, 404, "no campaign \"%.*s\"", (int)len, rest);
        return;
    }
    if (!slash) {
        if (req->method != HTTP_DELETE) {
            http_sim_error(resp, 405, "use DELETE on /sim/campaigns/{id}");
            return;
        }
        campaign_store_remove(sim->store, id);
        ok(resp);
        return;
    }
    if (req->method != HTTP_POST) {
        http_sim_error(resp, 405, "use POST on %s", req->path);
        return;
    }
    cJSON *body = http_parse_body(req, resp, 1);
    if (!body)
        return;
    if (!strcmp(slash, "/status")) {
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(body, "status");
        int direct = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "direct"));
        if (!cJSON_IsString(status))
            http_sim_error(resp, 400, "status: expected a string");
        else if (behaviour_set_status(sim, c, status->valuestring, direct, "control", errstr,
                                      sizeof(errstr)))
            http_sim_error(resp, 400, "%s", errstr);
        else
            http_json(resp, 200, campaign_rest_json(c, sim->base_url));
    } else if (!strcmp(slash, "/progress")) {
        const cJSON *pct = cJSON_GetObjectItemCaseSensitive(body, "percentage");
        const cJSON *called = cJSON_GetObjectItemCaseSensitive(body, "called");
        if (cJSON_IsNumber(pct) && pct->valuedouble >= 0 && pct->valuedouble <= 100) {
            behaviour_set_called(sim, c, (int)((double)c->total_contacts * pct->valuedouble / 100),
                                 "control");
            http_json(resp, 200, campaign_progress_rest_json(c, sim->base_url));
        } else if (cJSON_IsNumber(called) && called->valuedouble >= 0) {
            behaviour_set_called(sim, c, (int)called->valuedouble, "control");
            http_json(resp, 200, campaign_progress_rest_json(c, sim->base_url));
        } else {
            http_sim_error(resp, 400, "expected {\"percentage\":0-100} or {\"called\":N}");
        }
    } else if (!strcmp(slash, "/config")) {
        int changed = campaign_apply_config(c, body, errstr, sizeof(errstr));
        if (changed < 0) {
            http_sim_error(resp, 400, "%s", errstr);
        } else {
            if (changed)
                behaviour_config_changed(sim, c, "control");
            http_json(resp, 200, campaign_rest_json(c, sim->base_url));
        }
    } else {
        http_sim_error(resp, 404, "no control action at %s", req->path);
    }
    cJSON_Delete(body);
}

static void import_action(struct gcsim *sim, const struct http_request *req,
                          struct http_response *resp, const char *rest)
{
    char id[PRNG_UUID_LEN + 1], errstr[256];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    struct contact_list *l = NULL;
    if (len < sizeof(id)) {
        memcpy(id, rest, len);
        id[len] = '\0';
        l = campaign_store_find_list(sim->store, id);
    }
    if (!l || !slash || strcmp(slash, "/import") || req->method != HTTP_POST) {
        http_sim_error(resp, 404, "expected POST /sim/contactlists/{known id}/import");
        return;
    }
    cJSON *body = http_parse_body(req, resp, 1);
    if (!body)
        return;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(body, "state");
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(body, "completedRecords");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(body, "totalRecords");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "failureReason");
    if (!cJSON_IsString(st))
        http_sim_error(resp, 400, "state: expected IN_PROGRESS, FAILED or COMPLETED");
    else if (behaviour_set_import(sim, l, st->valuestring,
                                  cJSON_IsNumber(done) ? (int)done->valuedouble : -1,
                                  cJSON_IsNumber(total) ? (int)total->valuedouble : -1,
                                  cJSON_IsString(reason) ? reason->valuestring : NULL, errstr,
                                  sizeof(errstr)))
        http_sim_error(resp, 400, "%s", errstr);
    else
        http_json(resp, 200, contact_list_import_rest_json(l));
    cJSON_Delete(body);
}

void control_handle(struct gcsim *sim, const struct http_request *req,
                    struct http_response *resp, const char *subpath)
{
    char errstr[256];
    if (!strcmp(subpath, "state") && req->method == HTTP_GET) {
        state(sim, resp);
    } else if (!strcmp(subpath, "campaigns") && req->method == HTTP_POST) {
        cJSON *body = http_parse_body(req, resp, 1);
        if (!body)
            return;
        struct campaign *c = scenario_create_campaign(sim, body, errstr, sizeof(errstr));
        cJSON_Delete(body);
        if (!c)
            http_sim_error(resp, 400, "%s", errstr);
        else
            http_json(resp, 200, campaign_rest_json(c, sim->base_url));
    } else if (!strncmp(subpath, "campaigns/", 10)) {
        campaign_action(sim, req, resp, subpath + 10);
    } else if (!strncmp(subpath, "contactlists/", 13)) {
        import_action(sim, req, resp, subpath + 13);
    } else if (!strcmp(subpath, "scenario/start") && req->method == HTTP_POST) {
        scenario_start(sim, time_mono_ms());
        ok(resp);
    } else if (!strcmp(subpath, "traffic") && req->method == HTTP_POST) {
        cJSON *body = http_parse_body(req, resp, 1);
        if (!body)
            return;
        const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(body, "enabled");
        if (!cJSON_IsBool(enabled))
            http_sim_error(resp, 400, "enabled: expected true or false");
        else {
            scenario_set_traffic(sim, cJSON_IsTrue(enabled));
            ok(resp);
        }
        cJSON_Delete(body);
    } else if (!strncmp(subpath, "faults/", 7) && req->method == HTTP_POST) {
        cJSON *body = NULL;
        if (req->body.len) {
            body = http_parse_body(req, resp, 1);
            if (!body)
                return;
        }
        if (faults_apply(sim, subpath + 7, body, errstr, sizeof(errstr)))
            http_sim_error(resp, faults_is_known(subpath + 7) ? 400 : 404, "%s", errstr);
        else
            ok(resp);
        cJSON_Delete(body);
    } else {
        http_sim_error(resp, 404, "no control endpoint %s %s", http_method_name(req->method),
                       req->path);
    }
}
