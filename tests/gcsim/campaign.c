#include "tests/gcsim/campaign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

const char *const campaign_dialing_modes[6] = {
    "predictive", "progressive", "power", "preview", "agentless", "external",
};

static const char *const known_statuses[] = {
    "on", "stopping", "off", "complete", "invalid", "forced_off", "forced_stopping",
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        abort();
    return p;
}

static void grow(void **items, size_t *cap, size_t count, size_t elem)
{
    if (count < *cap)
        return;
    *cap = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, *cap * elem);
    if (!p)
        abort();
    *items = p;
}

struct campaign_store *campaign_store_create(void)
{
    return xcalloc(1, sizeof(struct campaign_store));
}

void campaign_store_destroy(struct campaign_store *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->campaign_count; i++)
        campaign_free(store->campaigns[i]);
    for (size_t i = 0; i < store->list_count; i++)
        free(store->lists[i]);
    free(store->campaigns);
    free(store->lists);
    free(store);
}

int campaign_store_add(struct campaign_store *store, struct campaign *campaign)
{
    if (campaign_store_find(store, campaign->id))
        return -1;
    grow((void **)&store->campaigns, &store->campaign_cap, store->campaign_count,
         sizeof(*store->campaigns));
    store->campaigns[store->campaign_count++] = campaign;
    return 0;
}

int campaign_store_add_list(struct campaign_store *store, struct contact_list *list)
{
    if (campaign_store_find_list(store, list->id))
        return -1;
    grow((void **)&store->lists, &store->list_cap, store->list_count, sizeof(*store->lists));
    store->lists[store->list_count++] = list;
    return 0;
}

struct campaign *campaign_store_find(const struct campaign_store *store, const char *id)
{
    for (size_t i = 0; i < store->campaign_count; i++)
        if (!strcmp(store->campaigns[i]->id, id))
            return store->campaigns[i];
    return NULL;
}

struct contact_list *campaign_store_find_list(const struct campaign_store *store,
                                              const char *id)
{
    for (size_t i = 0; i < store->list_count; i++)
        if (!strcmp(store->lists[i]->id, id))
            return store->lists[i];
    return NULL;
}

int campaign_store_remove(struct campaign_store *store, const char *id)
{
    for (size_t i = 0; i < store->campaign_count; i++) {
        if (!strcmp(store->campaigns[i]->id, id)) {
            campaign_free(store->campaigns[i]);
            memmove(&store->campaigns[i], &store->campaigns[i + 1],
                    (store->campaign_count - i - 1) * sizeof(*store->campaigns));
            store->campaign_count--;
            return 0;
        }
    }
    return -1;
}

static void ref_init(struct entity_ref *ref, struct prng *rng, const char *kind, int n)
{
    prng_uuid(rng, ref->id);
    snprintf(ref->name, sizeof(ref->name), "%s %d", kind, n);
}

struct campaign *campaign_new(struct prng *rng, const char *name, const char *dialing_mode,
                              int64_t now_ms)
{
    struct campaign *c = xcalloc(1, sizeof(*c));
    int n = (int)prng_below(rng, 900) + 100;

    prng_uuid(rng, c->id);
    snprintf(c->name, sizeof(c->name), "%s", name);
    snprintf(c->dialing_mode, sizeof(c->dialing_mode), "%s", dialing_mode);
    snprintf(c->status, sizeof(c->status), "off");
    c->version = 1;
    c->date_created_ms = c->date_modified_ms = now_ms;
    ref_init(&c->contact_list, rng, "Contact list", n);
    ref_init(&c->queue, rng, "Outbound queue", n);
    ref_init(&c->script, rng, "Default outbound script", n);
    ref_init(&c->edge_group, rng, "Edge group", (int)prng_below(rng, 4) + 1);
    ref_init(&c->site, rng, "Site", (int)prng_below(rng, 4) + 1);
    ref_init(&c->division, rng, "Division", (int)prng_below(rng, 3) + 1);
    ref_init(&c->callable_time_set, rng, "Business hours", n);
    ref_init(&c->call_analysis_response_set, rng, "Call analysis", n);
    ref_init(&c->dnc_list, rng, "Do not call", n);
    ref_init(&c->rule_set, rng, "Rule set", n);
    c->abandon_rate = 3.0 + (double)prng_below(rng, 40) / 10.0;
    c->outbound_line_count = 10 + (int)prng_below(rng, 90);
    c->priority = 1 + (int)prng_below(rng, 5);
    c->no_answer_timeout = 30;
    snprintf(c->caller_name, sizeof(c->caller_name), "Outbound %d", n);
    snprintf(c->caller_address, sizeof(c->caller_address), "+1317555%04d",
             (int)prng_below(rng, 10000));
    c->total_contacts = 1000;
    c->stopping_ms = -1;
    return c;
}

void campaign_free(struct campaign *campaign)
{
    if (!campaign)
        return;
    free(campaign->last_envelope);
    free(campaign->prev_envelope);
    free(campaign);
}

struct contact_list *contact_list_new(struct prng *rng, const char *name, int total_records,
                                      int64_t now_ms)
{
    struct contact_list *l = xcalloc(1, sizeof(*l));
    prng_uuid(rng, l->id);
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->state, sizeof(l->state), "COMPLETED");
    l->total_records = total_records;
    l->completed_records = total_records;
    l->version = 1;
    l->date_created_ms = l->date_modified_ms = now_ms;
    ref_init(&l->division, rng, "Division", 1);
    return l;
}

int campaign_status_is_known(const char *status)
{
    for (size_t i = 0; i < sizeof(known_statuses) / sizeof(known_statuses[0]); i++)
        if (!strcmp(status, known_statuses[i]))
            return 1;
    return 0;
}

int campaign_dialing_mode_is_known(const char *mode)
{
    for (size_t i = 0; i < 6; i++)
        if (!strcmp(mode, campaign_dialing_modes[i]))
            return 1;
    return 0;
}

int campaign_percentage(const struct campaign *c)
{
    if (c->total_contacts <= 0)
        return 0;
    long long p = (long long)c->called * 100 / c->total_contacts;
    return p > 100 ? 100 : (int)p;
}

int contact_list_percentage(const struct contact_list *l)
{
    if (l->total_records <= 0)
        return 0;
    long long p = (long long)l->completed_records * 100 / l->total_records;
    return p > 100 ? 100 : (int)p;
}

static void add_time(cJSON *obj, const char *key, int64_t ms)
{
    char text[RFC3339_MS_LEN];
    time_format_rfc3339(ms, text);
    cJSON_AddStringToObject(obj, key, text);
}

/* The event model's references are {id,name}; the REST model adds selfUri. */
static cJSON *ref_json(const struct entity_ref *ref, const char *base_url, const char *kind)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", ref->id);
    cJSON_AddStringToObject(o, "name", ref->name);
    if (base_url) {
        char uri[256];
        snprintf(uri, sizeof(uri), "/api/v2/%s/%s", kind, ref->id);
        cJSON_AddStringToObject(o, "selfUri", uri);
    }
    return o;
}

static void add_ref(cJSON *obj, const char *key, const struct entity_ref *ref,
                    const char *base_url, const char *kind)
{
    cJSON_AddItemToObject(obj, key, ref_json(ref, base_url, kind));
}

static void add_ref_array(cJSON *obj, const char *key, const struct entity_ref *ref,
                          const char *base_url, const char *kind)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    cJSON_AddItemToArray(arr, ref_json(ref, base_url, kind));
}

/* Fields shared by the REST Campaign and the config-change event body. */
static void add_campaign_common(cJSON *o, const struct campaign *c, const char *base_url)
{
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "name", c->name);
    add_time(o, "dateCreated", c->date_created_ms);
    add_time(o, "dateModified", c->date_modified_ms);
    cJSON_AddNumberToObject(o, "version", (double)c->version);
    add_ref(o, "contactList", &c->contact_list, base_url, "outbound/contactlists");
    if (strcmp(c->dialing_mode, "agentless") != 0) {
        add_ref(o, "queue", &c->queue, base_url, "routing/queues");
        add_ref(o, "script", &c->script, base_url, "scripts");
    }
    if (strcmp(c->dialing_mode, "preview") != 0) {
        add_ref(o, "edgeGroup", &c->edge_group, base_url, "telephony/providers/edges/edgegroups");
        add_ref(o, "callAnalysisResponseSet", &c->call_analysis_response_set, base_url,
                "outbound/callanalysisresponsesets");
    }
    add_ref(o, "site", &c->site, base_url, "telephony/providers/edges/sites");
    cJSON *phones = cJSON_AddArrayToObject(o, "phoneColumns");
    cJSON *col = cJSON_CreateObject();
    cJSON_AddStringToObject(col, "columnName", "Cell");
    cJSON_AddStringToObject(col, "type", "cell");
    cJSON_AddItemToArray(phones, col);
    col = cJSON_CreateObject();
    cJSON_AddStringToObject(col, "columnName", "Home");
    cJSON_AddStringToObject(col, "type", "home");
    cJSON_AddItemToArray(phones, col);
    cJSON_AddNumberToObject(o, "abandonRate", c->abandon_rate);
    add_ref_array(o, "dncLists", &c->dnc_list, base_url, "outbound/dnclists");
    add_ref(o, "callableTimeSet", &c->callable_time_set, base_url,
            "outbound/callabletimesets");
    cJSON_AddStringToObject(o, "dialingMode", c->dialing_mode);
    cJSON_AddStringToObject(o, "campaignStatus", c->status);
    cJSON_AddStringToObject(o, "callerName", c->caller_name);
    cJSON_AddStringToObject(o, "callerAddress", c->caller_address);
    cJSON_AddNumberToObject(o, "outboundLineCount", c->outbound_line_count);
    add_ref_array(o, "ruleSets", &c->rule_set, base_url, "outbound/rulesets");
    cJSON_AddBoolToObject(o, "skipPreviewDisabled", 0);
    cJSON_AddNumberToObject(o, "previewTimeOutSeconds", 300);
    cJSON_AddBoolToObject(o, "singleNumberPreview", 0);
    cJSON *sort = cJSON_CreateObject();
    cJSON_AddStringToObject(sort, "fieldName", "LastName");
    cJSON_AddStringToObject(sort, "direction", "ASC");
    cJSON_AddBoolToObject(sort, "numeric", 0);
    cJSON_AddItemToObject(o, "contactSort", cJSON_Duplicate(sort, 1));
    cJSON *sorts = cJSON_AddArrayToObject(o, "contactSorts");
    cJSON_AddItemToArray(sorts, sort);
    cJSON_AddNumberToObject(o, "noAnswerTimeout", c->no_answer_timeout);
    cJSON_AddStringToObject(o, "callAnalysisLanguage", "en-US");
    cJSON_AddNumberToObject(o, "priority", c->priority);
    cJSON_AddArrayToObject(o, "contactListFilters");
    add_ref(o, "division", &c->division, base_url, "authorization/divisions");
    cJSON_AddStringToObject(o, "agentOwnedColumn", "");
    cJSON_AddArrayToObject(o, "errors");
}

cJSON *campaign_rest_json(const struct campaign *c, const char *base_url)
{
    char uri[160];
    cJSON *o = cJSON_CreateObject();
    add_campaign_common(o, c, base_url ? base_url : "");
    cJSON_AddBoolToObject(o, "alwaysRunning", c->always_running);
    cJSON_AddNumberToObject(o, "maxCallsPerAgent", 3);
    cJSON_AddBoolToObject(o, "callbackAutoAnswer", 0);
    cJSON *dlb = cJSON_AddObjectToObject(o, "dynamicLineBalancingSettings");
    cJSON_AddBoolToObject(dlb, "enabled", 0);
    cJSON_AddNumberToObject(dlb, "relativeWeight", 1);
    snprintf(uri, sizeof(uri), "/api/v2/outbound/campaigns/%s", c->id);
    cJSON_AddStringToObject(o, "selfUri", uri);
    return o;
}

cJSON *campaign_event_json(const struct campaign *c)
{
    cJSON *o = cJSON_CreateObject();
    add_campaign_common(o, c, NULL);
    cJSON *extra = cJSON_AddObjectToObject(o, "additionalProperties");
    (void)extra;
    return o;
}

static void add_progress_common(cJSON *o, const struct campaign *c)
{
    cJSON_AddNumberToObject(o, "numberOfContactsCalled", c->called);
    cJSON_AddNumberToObject(o, "numberOfContactsMessaged", 0);
    cJSON_AddNumberToObject(o, "totalNumberOfContacts", c->total_contacts);
    cJSON_AddNumberToObject(o, "percentage", campaign_percentage(c));
    cJSON *skipped = cJSON_AddObjectToObject(o, "numberOfContactsSkipped");
    cJSON_AddNumberToObject(skipped, "skippedByFilter", c->called / 50);
}

cJSON *campaign_progress_rest_json(const struct campaign *c, const char *base_url)
{
    char uri[160];
    cJSON *o = cJSON_CreateObject();
    cJSON *camp = cJSON_AddObjectToObject(o, "campaign");
    cJSON_AddStringToObject(camp, "id", c->id);
    cJSON_AddStringToObject(camp, "name", c->name);
    snprintf(uri, sizeof(uri), "/api/v2/outbound/campaigns/%s", c->id);
    cJSON_AddStringToObject(camp, "selfUri", uri);
    add_ref(o, "contactList", &c->contact_list, base_url ? base_url : "",
            "outbound/contactlists");
    add_progress_common(o, c);
    return o;
}

cJSON *campaign_progress_event_json(const struct campaign *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *camp = cJSON_AddObjectToObject(o, "campaign");
    cJSON_AddStringToObject(camp, "id", c->id);
    cJSON_AddStringToObject(camp, "name", c->name);
    add_progress_common(o, c);
    cJSON_AddObjectToObject(o, "additionalProperties");
    return o;
}

cJSON *campaign_stats_rest_json(const struct campaign *c)
{
    int running = !strcmp(c->status, "on");
    cJSON *o = cJSON_CreateObject();
    cJSON *rate = cJSON_AddObjectToObject(o, "contactRate");
    cJSON_AddNumberToObject(rate, "attempts", (double)c->attempts);
    cJSON_AddNumberToObject(rate, "connects", (double)c->connects);
    cJSON_AddNumberToObject(rate, "connectRatio",
                            c->attempts ? (double)c->connects / (double)c->attempts : 0.0);
    cJSON_AddNumberToObject(o, "idleAgents", running ? 4 : 0);
    cJSON_AddNumberToObject(o, "effectiveIdleAgents", running ? 3.5 : 0.0);
    cJSON_AddNumberToObject(o, "adjustedCallsPerAgent", running ? 1.5 : 0.0);
    cJSON_AddNumberToObject(o, "outstandingCalls", running ? 2 : 0);
    cJSON_AddNumberToObject(o, "scheduledCalls", 0);
    cJSON_AddNumberToObject(o, "timeZoneRescheduledCalls", 0);
    cJSON_AddNumberToObject(o, "filteredOutContactsCount", c->called / 50);
    cJSON_AddNumberToObject(o, "rightPartyContactsCount", (double)c->connects / 2);
    cJSON_AddNumberToObject(o, "validAttempts", (double)c->attempts);
    cJSON *lines = cJSON_AddObjectToObject(o, "linesUtilization");
    cJSON_AddNumberToObject(lines, "assignedOutboundLines", running ? c->outbound_line_count : 0);
    cJSON_AddNumberToObject(lines, "totalAvailableOutboundLines", 100);
    cJSON *biz = cJSON_AddObjectToObject(o, "businessCategoryMetrics");
    cJSON_AddNumberToObject(biz, "successCount", (double)c->connects / 3);
    cJSON_AddNumberToObject(biz, "neutralCount", (double)c->connects / 3);
    cJSON_AddNumberToObject(biz, "failureCount", (double)(c->attempts - c->connects));
    return o;
}

cJSON *campaign_stats_event_json(const struct campaign *c, int64_t now_ms)
{
    char interval[2 * RFC3339_MS_LEN + 2], from[RFC3339_MS_LEN], to[RFC3339_MS_LEN];
    cJSON *o = cJSON_CreateObject();
    cJSON *group = cJSON_AddObjectToObject(o, "group");
    cJSON_AddStringToObject(group, "outboundCampaignId", c->id);
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    cJSON *entry = cJSON_CreateObject();
    time_format_rfc3339(now_ms - now_ms % 60000, from);
    time_format_rfc3339(now_ms - now_ms % 60000 + 60000, to);
    snprintf(interval, sizeof(interval), "%s/%s", from, to);
    cJSON_AddStringToObject(entry, "interval", interval);
    cJSON *metrics = cJSON_AddArrayToObject(entry, "metrics");
    static const char *const names[] = {"nOutboundAttempted", "nOutboundConnected"};
    for (int i = 0; i < 2; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "metric", names[i]);
        cJSON *stats = cJSON_AddObjectToObject(m, "stats");
        cJSON_AddNumberToObject(stats, "count", (double)(i ? c->connects : c->attempts));
        cJSON_AddItemToArray(metrics, m);
    }
    cJSON_AddItemToArray(data, entry);
    return o;
}

cJSON *contact_list_rest_json(const struct contact_list *l, const char *base_url)
{
    char uri[160];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", l->id);
    cJSON_AddStringToObject(o, "name", l->name);
    add_time(o, "dateCreated", l->date_created_ms);
    add_time(o, "dateModified", l->date_modified_ms);
    cJSON_AddNumberToObject(o, "version", (double)l->version);
    add_ref(o, "division", &l->division, base_url ? base_url : "", "authorization/divisions");
    cJSON *cols = cJSON_AddArrayToObject(o, "columnNames");
    cJSON_AddItemToArray(cols, cJSON_CreateString("FirstName"));
    cJSON_AddItemToArray(cols, cJSON_CreateString("LastName"));
    cJSON_AddItemToArray(cols, cJSON_CreateString("Cell"));
    cJSON_AddItemToArray(cols, cJSON_CreateString("Home"));
    cJSON *phones = cJSON_AddArrayToObject(o, "phoneColumns");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "columnName", "Cell");
    cJSON_AddStringToObject(p, "type", "cell");
    cJSON_AddItemToArray(phones, p);
    cJSON_AddItemToObject(o, "importStatus", contact_list_import_rest_json(l));
    cJSON_AddNumberToObject(o, "size", l->completed_records);
    cJSON_AddBoolToObject(o, "automaticTimeZoneMapping", 0);
    snprintf(uri, sizeof(uri), "/api/v2/outbound/contactlists/%s", l->id);
    cJSON_AddStringToObject(o, "selfUri", uri);
    return o;
}

cJSON *contact_list_import_rest_json(const struct contact_list *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", l->state);
    cJSON_AddNumberToObject(o, "totalRecords", l->total_records);
    cJSON_AddNumberToObject(o, "completedRecords", l->completed_records);
    cJSON_AddNumberToObject(o, "percentComplete", contact_list_percentage(l));
    if (l->failure_reason[0])
        cJSON_AddStringToObject(o, "failureReason", l->failure_reason);
    cJSON *targets = cJSON_AddArrayToObject(o, "targetContactListIds");
    cJSON_AddItemToArray(targets, cJSON_CreateString(l->id));
    return o;
}

cJSON *contact_list_import_event_json(const struct contact_list *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "importState", l->state);
    cJSON_AddNumberToObject(o, "totalRecords", l->total_records);
    cJSON_AddNumberToObject(o, "completedRecords", l->completed_records);
    cJSON_AddNumberToObject(o, "percentageComplete", contact_list_percentage(l));
    if (l->failure_reason[0])
        cJSON_AddStringToObject(o, "failureReason", l->failure_reason);
    cJSON *targets = cJSON_AddArrayToObject(o, "targetContactListIds");
    cJSON_AddItemToArray(targets, cJSON_CreateString(l->id));
    cJSON_AddObjectToObject(o, "additionalProperties");
    return o;
}

static int apply_string(const cJSON *json, const char *key, char *field, size_t size,
                        int *changed, char *errstr, size_t errstr_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, key);
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) {
        snprintf(errstr, errstr_size, "%s: expected a string shorter than %zu characters", key,
                 size);
        return -1;
    }
    if (strcmp(field, v->valuestring) != 0) {
        snprintf(field, size, "%s", v->valuestring);
        *changed = 1;
    }
    return 0;
}

static int apply_number(const cJSON *json, const char *key, double min, double max,
                        double *out, int *present, char *errstr, size_t errstr_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, key);
    *present = 0;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max) {
        snprintf(errstr, errstr_size, "%s: expected a number from %g to %g", key, min, max);
        return -1;
    }
    *out = v->valuedouble;
    *present = 1;
    return 0;
}

int campaign_apply_config(struct campaign *c, const cJSON *json, char *errstr,
                          size_t errstr_size)
{
    struct campaign next = *c;
    int changed = 0, present;
    double v;

    if (!cJSON_IsObject(json)) {
        snprintf(errstr, errstr_size, "expected a JSON object");
        return -1;
    }
    if (apply_string(json, "name", next.name, sizeof(next.name), &changed, errstr, errstr_size) ||
        apply_string(json, "callerName", next.caller_name, sizeof(next.caller_name), &changed,
                     errstr, errstr_size) ||
        apply_string(json, "callerAddress", next.caller_address, sizeof(next.caller_address),
                     &changed, errstr, errstr_size))
        return -1;
    if (!next.name[0]) {
        snprintf(errstr, errstr_size, "name: must not be empty");
        return -1;
    }
    if (apply_number(json, "abandonRate", 0, 100, &v, &present, errstr, errstr_size))
        return -1;
    if (present && v != next.abandon_rate) {
        next.abandon_rate = v;
        changed = 1;
    }
    if (apply_number(json, "outboundLineCount", 0, 10000, &v, &present, errstr, errstr_size))
        return -1;
    if (present && (int)v != next.outbound_line_count) {
        next.outbound_line_count = (int)v;
        changed = 1;
    }
    if (apply_number(json, "priority", 1, 5, &v, &present, errstr, errstr_size))
        return -1;
    if (present && (int)v != next.priority) {
        next.priority = (int)v;
        changed = 1;
    }
    if (apply_number(json, "noAnswerTimeout", 1, 3600, &v, &present, errstr, errstr_size))
        return -1;
    if (present && (int)v != next.no_answer_timeout) {
        next.no_answer_timeout = (int)v;
        changed = 1;
    }
    *c = next;
    return changed;
}
