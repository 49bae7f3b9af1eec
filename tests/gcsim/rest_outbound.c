/* The outbound REST API (reference §4.1-§4.6): campaigns, progress, stats, contact lists. */
#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/behaviour.h"
#include "tests/gcsim/http.h"

static int parse_positive(const char *text, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < 1 || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

static int name_matches(const char *name, const char *filter, const char *type)
{
    if (!filter)
        return 1;
    if (!type || !strcmp(type, "Prefix") || !strcmp(type, "BeginsWith"))
        return !strncasecmp(name, filter, strlen(filter));
    if (!strcmp(type, "Equals"))
        return !strcasecmp(name, filter);
    if (!strcmp(type, "Contains"))
        return strcasestr(name, filter) != NULL;
    if (!strcmp(type, "EndsWith")) {
        size_t n = strlen(name), f = strlen(filter);
        return n >= f && !strcasecmp(name + n - f, filter);
    }
    return 1;
}

static void page_uri(char *out, size_t size, int page_size, int page)
{
    snprintf(out, size, "/api/v2/outbound/campaigns?pageSize=%d&pageNumber=%d", page_size, page);
}

static void list_campaigns(struct gcsim *sim, const struct http_request *req,
                           struct http_response *resp)
{
    char buf[256], uri[128], filter[CAMPAIGN_NAME_MAX], type[32];
    int page_size = 25, page = 1;
    if (http_query_get(req, "pageSize", buf, sizeof(buf)) && parse_positive(buf, &page_size)) {
        http_error(resp, req, 400, "invalid.page.size", "pageSize must be a positive integer");
        return;
    }
    if (page_size > 100) {
        http_error(resp, req, 400, "invalid.page.size", "pageSize %d is above the maximum of 100",
                   page_size);
        return;
    }
    if (http_query_get(req, "pageNumber", buf, sizeof(buf)) && parse_positive(buf, &page)) {
        http_error(resp, req, 400, "invalid.page.number", "pageNumber must be a positive integer");
        return;
    }
    const char *name = http_query_get(req, "name", filter, sizeof(filter));
    const char *ftype = http_query_get(req, "filterType", type, sizeof(type));
    int id_filters = 0;
    while (http_query_get_nth(req, "id", id_filters, buf, sizeof(buf)))
        id_filters++;

    cJSON *o = cJSON_CreateObject();
    cJSON *entities = cJSON_AddArrayToObject(o, "entities");
    int total = 0, first = (page - 1) * page_size;
    for (size_t i = 0; i < sim->store->campaign_count; i++) {
        const struct campaign *c = sim->store->campaigns[i];
        int wanted = name_matches(c->name, name, ftype);
        if (wanted && id_filters) {
            wanted = 0;
            for (int k = 0; k < id_filters && !wanted; k++)
                wanted = !strcmp(http_query_get_nth(req, "id", k, buf, sizeof(buf)), c->id);
        }
        if (!wanted)
            continue;
        if (total >= first && total < first + page_size)
            cJSON_AddItemToArray(entities, campaign_rest_json(c, sim->base_url));
        total++;
    }
    int page_count = (total + page_size - 1) / page_size;
    cJSON_AddNumberToObject(o, "pageSize", page_size);
    cJSON_AddNumberToObject(o, "pageNumber", page);
    cJSON_AddNumberToObject(o, "total", total);
    page_uri(uri, sizeof(uri), page_size, 1);
    cJSON_AddStringToObject(o, "firstUri", uri);
    page_uri(uri, sizeof(uri), page_size, page);
    cJSON_AddStringToObject(o, "selfUri", uri);
    page_uri(uri, sizeof(uri), page_size, page_count ? page_count : 1);
    cJSON_AddStringToObject(o, "lastUri", uri);
    if (page < page_count) {
        page_uri(uri, sizeof(uri), page_size, page + 1);
        cJSON_AddStringToObject(o, "nextUri", uri);
    }
    if (page > 1) {
        page_uri(uri, sizeof(uri), page_size, page - 1);
        cJSON_AddStringToObject(o, "previousUri", uri);
    }
    cJSON_AddNumberToObject(o, "pageCount", page_count);
    http_json(resp, 200, o);
}

static void put_campaign(struct gcsim *sim, const struct http_request *req,
                         struct http_response *resp, struct campaign *c)
{
    char errstr[256];
    cJSON *body = http_parse_body(req, resp, 0);
    if (!body)
        return;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(body, "version");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(body, "campaignStatus");
    if (!cJSON_IsNumber(version)) {
        http_error(resp, req, 400, "bad.request", "version is required for updates");
        goto out;
    }
    if ((int64_t)version->valuedouble != c->version) {
        http_error(resp, req, 409, "conflict",
                   "The version %lld does not match the current version %lld of campaign %s",
                   (long long)version->valuedouble, (long long)c->version, c->id);
        goto out;
    }
    if (!cJSON_IsString(status) || !campaign_status_is_known(status->valuestring)) {
        http_error(resp, req, 400, "bad.request",
                   "campaignStatus is required and must be one of the campaign statuses");
        goto out;
    }
    if (strcmp(status->valuestring, "on") && strcmp(status->valuestring, "off") &&
        strcmp(status->valuestring, c->status)) {
        http_error(resp, req, 400, "invalid.campaign.status",
                   "campaignStatus can only be set to on or off, not %s", status->valuestring);
        goto out;
    }
    struct campaign before = *c;
    int changed = campaign_apply_config(c, body, errstr, sizeof(errstr));
    if (changed < 0) {
        http_error(resp, req, 400, "bad.request", "%s", errstr);
        goto out;
    }
    if (strcmp(status->valuestring, c->status) != 0) {
        if (behaviour_set_status(sim, c, status->valuestring, 0, "rest", errstr,
                                 sizeof(errstr))) {
            /* Undo the config part: the platform rejects the whole update. */
            before.last_envelope = c->last_envelope;
            before.prev_envelope = c->prev_envelope;
            *c = before;
            http_error(resp, req, 400, "invalid.campaign.configuration", "%s", errstr);
            goto out;
        }
        changed = 0; /* the status change already bumped and published the new config */
    }
    if (changed)
        behaviour_config_changed(sim, c, "rest");
    http_json(resp, 200, campaign_rest_json(c, sim->base_url));
out:
    cJSON_Delete(body);
}

static void bulk_progress(struct gcsim *sim, const struct http_request *req,
                          struct http_response *resp)
{
    cJSON *body = http_parse_body(req, resp, 0);
    const cJSON *item;
    if (!body)
        return;
    if (!cJSON_IsArray(body)) {
        cJSON_Delete(body);
        http_error(resp, req, 400, "bad.request", "Expected a JSON array of campaign ids");
        return;
    }
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(item, body) {
        const struct campaign *c =
            cJSON_IsString(item) ? campaign_store_find(sim->store, item->valuestring) : NULL;
        if (c)
            cJSON_AddItemToArray(out, campaign_progress_rest_json(c, sim->base_url));
    }
    cJSON_Delete(body);
    http_json(resp, 200, out);
}

static void campaign_resource(struct gcsim *sim, const struct http_request *req,
                              struct http_response *resp, const char *rest)
{
    char id[PRNG_UUID_LEN + 1], errstr[256];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len >= sizeof(id)) {
        http_error(resp, req, 404, "not.found", "Campaign not found");
        return;
    }
    memcpy(id, rest, len);
    id[len] = '\0';
    struct campaign *c = campaign_store_find(sim->store, id);
    if (!c) {
        http_error(resp, req, 404, "not.found", "Campaign %s not found", id);
        return;
    }
    const char *sub = slash ? slash + 1 : "";
    if (!*sub && req->method == HTTP_GET) {
        http_json(resp, 200, campaign_rest_json(c, sim->base_url));
    } else if (!*sub && req->method == HTTP_PUT) {
        put_campaign(sim, req, resp, c);
    } else if ((!strcmp(sub, "start") || !strcmp(sub, "stop")) && req->method == HTTP_POST) {
        if (behaviour_set_status(sim, c, !strcmp(sub, "start") ? "on" : "off", 0, "rest",
                                 errstr, sizeof(errstr)))
            http_error(resp, req, 400, "invalid.campaign.configuration", "%s", errstr);
        else
            http_empty(resp, 200);
    } else if (!strcmp(sub, "progress") && req->method == HTTP_GET) {
        http_json(resp, 200, campaign_progress_rest_json(c, sim->base_url));
    } else if (!strcmp(sub, "stats") && req->method == HTTP_GET) {
        http_json(resp, 200, campaign_stats_rest_json(c));
    } else {
        http_error(resp, req, 404, "not.found", "No resource at %s %s",
                   http_method_name(req->method), req->path);
    }
}

static void contact_list_resource(struct gcsim *sim, const struct http_request *req,
                                  struct http_response *resp, const char *rest)
{
    char id[PRNG_UUID_LEN + 1];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    const struct contact_list *l = NULL;
    if (len < sizeof(id)) {
        memcpy(id, rest, len);
        id[len] = '\0';
        l = campaign_store_find_list(sim->store, id);
    }
    if (!l || req->method != HTTP_GET) {
        http_error(resp, req, l ? 405 : 404, l ? "method.not.allowed" : "not.found",
                   "No resource at %s %s", http_method_name(req->method), req->path);
        return;
    }
    if (!slash)
        http_json(resp, 200, contact_list_rest_json(l, sim->base_url));
    else if (!strcmp(slash, "/importstatus"))
        http_json(resp, 200, contact_list_import_rest_json(l));
    else
        http_error(resp, req, 404, "not.found", "No resource at %s", req->path);
}

void rest_outbound(struct gcsim *sim, const struct http_request *req, struct http_response *resp,
                   const char *subpath)
{
    if (!strcmp(subpath, "campaigns") && req->method == HTTP_GET)
        list_campaigns(sim, req, resp);
    else if (!strcmp(subpath, "campaigns/progress") && req->method == HTTP_POST)
        bulk_progress(sim, req, resp);
    else if (!strncmp(subpath, "campaigns/", 10))
        campaign_resource(sim, req, resp, subpath + 10);
    else if (!strncmp(subpath, "contactlists/", 13))
        contact_list_resource(sim, req, resp, subpath + 13);
    else
        http_error(resp, req, 404, "not.found", "No resource at %s %s",
                   http_method_name(req->method), req->path);
}
