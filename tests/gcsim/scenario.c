#include "tests/gcsim/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/behaviour.h"
#include "tests/gcsim/faults.h"
#include "util/log.h"
#include "util/timeutil.h"

struct scenario_action {
    int64_t at;
    cJSON *spec; /* the timeline entry, owned */
};

struct scenario {
    char start_on[16];
    int64_t stopping_by_mode[6]; /* -1 = not set */
    int64_t stopping_default;
    struct scenario_action *actions;
    size_t action_count;
    size_t next_action;
    int64_t started_ms; /* 0 = not started */
    int traffic;
    struct prng traffic_rng;
    int64_t traffic_next_ms;
};

struct scenario *scenario_create(void)
{
    struct scenario *sc = calloc(1, sizeof(*sc));
    if (!sc)
        abort();
    snprintf(sc->start_on, sizeof(sc->start_on), "connect");
    for (int i = 0; i < 6; i++)
        sc->stopping_by_mode[i] = -1;
    sc->stopping_default = -1;
    return sc;
}

void scenario_destroy(struct scenario *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; i < sc->action_count; i++)
        cJSON_Delete(sc->actions[i].spec);
    free(sc->actions);
    free(sc);
}

int64_t scenario_stopping_ms(const struct scenario *sc, const char *dialing_mode)
{
    if (!sc)
        return -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(dialing_mode, campaign_dialing_modes[i]) && sc->stopping_by_mode[i] >= 0)
            return sc->stopping_by_mode[i];
    return sc->stopping_default;
}

int scenario_has_timeline(const struct scenario *sc)
{
    return sc && sc->action_count > 0;
}

static char *read_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct strbuf sb = {0};
    int status = strbuf_append_stream(&sb, f, 0);
    fclose(f);
    if (status != 0) {
        snprintf(errstr, errstr_size, "%s: read error", path);
        strbuf_free(&sb);
        return NULL;
    }
    return strbuf_detach(&sb);
}

static const char *get_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Optional integer member: 0 when absent or valid, -1 when present but not a number. */
static int get_int(const cJSON *obj, const char *key, int64_t min, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int copy_ref(const cJSON *spec, const char *key, struct entity_ref *ref, char *errstr,
                    size_t errstr_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!v)
        return 0;
    const char *id = get_string(v, "id"), *name = get_string(v, "name");
    if (!cJSON_IsObject(v) || !id || strlen(id) >= sizeof(ref->id) ||
        (name && strlen(name) >= sizeof(ref->name))) {
        snprintf(errstr, errstr_size, "%s: expected {\"id\",\"name\"} with an id of at most 36 "
                 "characters", key);
        return -1;
    }
    snprintf(ref->id, sizeof(ref->id), "%s", id);
    if (name)
        snprintf(ref->name, sizeof(ref->name), "%s", name);
    return 0;
}

struct campaign *scenario_create_campaign(struct gcsim *sim, const cJSON *spec, char *errstr,
                                          size_t errstr_size)
{
    char name[CAMPAIGN_NAME_MAX];
    int64_t total = sim->opts.contacts, calls = 0, stopping = -1, tmp = 0;
    if (!cJSON_IsObject(spec)) {
        snprintf(errstr, errstr_size, "expected a JSON object");
        return NULL;
    }
    const char *id = get_string(spec, "id");
    const char *mode = get_string(spec, "dialingMode");
    const char *status = get_string(spec, "campaignStatus");
    const char *list_id = get_string(spec, "contactListId");
    if (!mode)
        mode = "predictive";
    if (!campaign_dialing_mode_is_known(mode)) {
        snprintf(errstr, errstr_size, "dialingMode: unknown \"%s\"", mode);
        return NULL;
    }
    if (status && !campaign_status_is_known(status)) {
        snprintf(errstr, errstr_size, "campaignStatus: unknown \"%s\"", status);
        return NULL;
    }
    if (id && (strlen(id) == 0 || strlen(id) >= PRNG_UUID_LEN)) {
        snprintf(errstr, errstr_size, "id: expected 1 to 36 characters");
        return NULL;
    }
    if (id && campaign_store_find(sim->store, id)) {
        snprintf(errstr, errstr_size, "id: campaign \"%s\" already exists", id);
        return NULL;
    }
    if (get_int(spec, "totalContacts", 1, &total) || get_int(spec, "callsPerTick", 0, &calls) ||
        get_int(spec, "stoppingMs", 0, &stopping)) {
        snprintf(errstr, errstr_size,
                 "totalContacts (>= 1), callsPerTick and stoppingMs (>= 0) must be numbers");
        return NULL;
    }
    if (!cJSON_GetObjectItemCaseSensitive(spec, "callsPerTick"))
        calls = sim->opts.calls_per_tick;
    snprintf(name, sizeof(name), "Campaign %zu", sim->store->campaign_count + 1);
    struct campaign *c = campaign_new(&sim->rng, name, mode, time_now_ms());
    if (id)
        snprintf(c->id, sizeof(c->id), "%s", id);
    if (campaign_apply_config(c, spec, errstr, errstr_size) < 0 ||
        copy_ref(spec, "edgeGroup", &c->edge_group, errstr, errstr_size) ||
        copy_ref(spec, "division", &c->division, errstr, errstr_size) ||
        copy_ref(spec, "queue", &c->queue, errstr, errstr_size)) {
        campaign_free(c);
        return NULL;
    }
    c->total_contacts = (int)total;
    c->calls_per_tick = (int)calls;
    c->stopping_ms = stopping;
    c->always_running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "alwaysRunning"));
    if (get_int(spec, "called", 0, &tmp) == 0 && cJSON_GetObjectItemCaseSensitive(spec, "called"))
        c->called = tmp > total ? (int)total : (int)tmp;

    struct contact_list *list = list_id ? campaign_store_find_list(sim->store, list_id) : NULL;
    if (!list) {
        char list_name[CAMPAIGN_NAME_MAX + 16];
        snprintf(list_name, sizeof(list_name), "%s contacts", c->name);
        list = contact_list_new(&sim->rng, list_name, (int)total, time_now_ms());
        if (list_id) {
            if (strlen(list_id) >= sizeof(list->id)) {
                snprintf(errstr, errstr_size, "contactListId: expected at most 36 characters");
                free(list);
                campaign_free(c);
                return NULL;
            }
            snprintf(list->id, sizeof(list->id), "%s", list_id);
        }
        campaign_store_add_list(sim->store, list);
    }
    snprintf(c->contact_list.id, sizeof(c->contact_list.id), "%s", list->id);
    snprintf(c->contact_list.name, sizeof(c->contact_list.name), "%s", list->name);
    if (status) {
        snprintf(c->status, sizeof(c->status), "%s", status);
        if (!strcmp(status, "on"))
            c->next_tick_ms = time_mono_ms() + sim->opts.tick_ms;
        if (!strcmp(status, "stopping") || !strcmp(status, "forced_stopping"))
            c->transition_due_ms = time_mono_ms() + behaviour_stopping_ms(sim, c);
    }
    campaign_store_add(sim->store, c);
    return c;
}

void scenario_seed_campaigns(struct gcsim *sim)
{
    for (int i = 0; i < sim->opts.campaigns; i++) {
        char name[64];
        const char *mode = campaign_dialing_modes[i % sim->opts.dialing_modes];
        snprintf(name, sizeof(name), "Campaign %03d %s", i + 1, mode);
        struct campaign *c = campaign_new(&sim->rng, name, mode, time_now_ms());
        snprintf(name, sizeof(name), "Contacts %03d", i + 1);
        struct contact_list *l = contact_list_new(&sim->rng, name, sim->opts.contacts,
                                                  time_now_ms());
        snprintf(c->contact_list.id, sizeof(c->contact_list.id), "%s", l->id);
        snprintf(c->contact_list.name, sizeof(c->contact_list.name), "%s", l->name);
        c->total_contacts = sim->opts.contacts;
        c->calls_per_tick = sim->opts.calls_per_tick;
        campaign_store_add_list(sim->store, l);
        campaign_store_add(sim->store, c);
    }
}

static const char *const actions[] = {"status", "progress", "import", "config", "fault"};

/* Checks one timeline entry against the campaigns and lists the file defines. */
static int validate_action(struct gcsim *sim, const cJSON *a, char *errstr, size_t errstr_size)
{
    const char *action = get_string(a, "action");
    int64_t at = -1;
    size_t k;
    if (!cJSON_IsObject(a)) {
        snprintf(errstr, errstr_size, "expected an object");
        return -1;
    }
    if (get_int(a, "at", 0, &at) || at < 0) {
        snprintf(errstr, errstr_size, "at: expected milliseconds >= 0");
        return -1;
    }
    for (k = 0; action && k < sizeof(actions) / sizeof(actions[0]); k++)
        if (!strcmp(action, actions[k]))
            break;
    if (!action || k == sizeof(actions) / sizeof(actions[0])) {
        snprintf(errstr, errstr_size, "action: expected status, progress, import, config or fault");
        return -1;
    }
    if (!strcmp(action, "status") || !strcmp(action, "progress") || !strcmp(action, "config")) {
        const char *id = get_string(a, "campaign");
        if (!id || !campaign_store_find(sim->store, id)) {
            snprintf(errstr, errstr_size, "campaign: unknown campaign \"%s\"", id ? id : "");
            return -1;
        }
    }
    if (!strcmp(action, "status")) {
        const char *status = get_string(a, "status");
        if (!status || !campaign_status_is_known(status)) {
            snprintf(errstr, errstr_size, "status: unknown status \"%s\"", status ? status : "");
            return -1;
        }
    } else if (!strcmp(action, "import")) {
        const char *id = get_string(a, "contactList");
        if (!id || !campaign_store_find_list(sim->store, id)) {
            snprintf(errstr, errstr_size, "contactList: unknown contact list \"%s\"",
                     id ? id : "");
            return -1;
        }
    } else if (!strcmp(action, "fault")) {
        const char *name = get_string(a, "fault");
        if (!name || !faults_is_known(name)) {
            snprintf(errstr, errstr_size, "fault: unknown fault \"%s\"", name ? name : "");
            return -1;
        }
    }
    return 0;
}

static int compare_actions(const void *a, const void *b)
{
    const struct scenario_action *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int load_document(struct gcsim *sim, const cJSON *doc, char *errstr, size_t errstr_size)
{
    struct scenario *sc = sim->scenario;
    char inner[256];
    const cJSON *item;
    int i;

    if (!cJSON_IsObject(doc)) {
        snprintf(errstr, errstr_size, "top level: expected a JSON object");
        return -1;
    }
    const char *start_on = get_string(doc, "startOn");
    if (start_on) {
        if (strcmp(start_on, "connect") && strcmp(start_on, "launch") &&
            strcmp(start_on, "control")) {
            snprintf(errstr, errstr_size, "startOn: expected connect, launch or control");
            return -1;
        }
        snprintf(sc->start_on, sizeof(sc->start_on), "%s", start_on);
    }
    const cJSON *stopping = cJSON_GetObjectItemCaseSensitive(doc, "stoppingMs");
    cJSON_ArrayForEach(item, stopping) {
        int64_t ms = 0;
        if (get_int(stopping, item->string, 0, &ms)) {
            snprintf(errstr, errstr_size, "stoppingMs.%s: expected milliseconds", item->string);
            return -1;
        }
        if (!strcmp(item->string, "default")) {
            sc->stopping_default = ms;
            continue;
        }
        for (i = 0; i < 6 && strcmp(item->string, campaign_dialing_modes[i]); i++)
            ;
        if (i == 6) {
            snprintf(errstr, errstr_size, "stoppingMs.%s: unknown dialing mode", item->string);
            return -1;
        }
        sc->stopping_by_mode[i] = ms;
    }
    i = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "contactLists")) {
        const char *id = get_string(item, "id"), *state = get_string(item, "state");
        int64_t total = 1000, completed = -1;
        if (!id || strlen(id) >= PRNG_UUID_LEN || campaign_store_find_list(sim->store, id)) {
            snprintf(errstr, errstr_size, "contactLists[%d].id: expected a new id of at most 36 "
                     "characters", i);
            return -1;
        }
        if (get_int(item, "totalRecords", 0, &total) ||
            get_int(item, "completedRecords", 0, &completed)) {
            snprintf(errstr, errstr_size, "contactLists[%d]: records must be numbers", i);
            return -1;
        }
        const char *name = get_string(item, "name");
        struct contact_list *l = contact_list_new(&sim->rng, name ? name : id, (int)total,
                                                  time_now_ms());
        snprintf(l->id, sizeof(l->id), "%s", id);
        if (state) {
            if (strcmp(state, "IN_PROGRESS") && strcmp(state, "FAILED") &&
                strcmp(state, "COMPLETED")) {
                snprintf(errstr, errstr_size, "contactLists[%d].state: unknown \"%s\"", i, state);
                free(l);
                return -1;
            }
            snprintf(l->state, sizeof(l->state), "%s", state);
            if (strcmp(state, "COMPLETED"))
                l->completed_records = 0;
        }
        if (completed >= 0)
            l->completed_records = (int)completed;
        campaign_store_add_list(sim->store, l);
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "campaigns")) {
        if (!scenario_create_campaign(sim, item, inner, sizeof(inner))) {
            snprintf(errstr, errstr_size, "campaigns[%d].%s", i, inner);
            return -1;
        }
        i++;
    }
    const cJSON *timeline = cJSON_GetObjectItemCaseSensitive(doc, "timeline");
    if (timeline && !cJSON_IsArray(timeline)) {
        snprintf(errstr, errstr_size, "timeline: expected an array");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(timeline);
    sc->actions = calloc(n ? n : 1, sizeof(*sc->actions));
    if (!sc->actions)
        abort();
    i = 0;
    cJSON_ArrayForEach(item, timeline) {
        if (validate_action(sim, item, inner, sizeof(inner))) {
            snprintf(errstr, errstr_size, "timeline[%d].%s", i, inner);
            return -1;
        }
        get_int(item, "at", 0, &sc->actions[sc->action_count].at);
        sc->actions[sc->action_count++].spec = cJSON_Duplicate(item, 1);
        i++;
    }
    /* Stable for equal times: qsort is not, so break ties by file order first. */
    for (size_t k = 0; k < sc->action_count; k++)
        sc->actions[k].at = sc->actions[k].at * 100000 + (int64_t)k;
    qsort(sc->actions, sc->action_count, sizeof(*sc->actions), compare_actions);
    for (size_t k = 0; k < sc->action_count; k++)
        sc->actions[k].at /= 100000;
    return 0;
}

int scenario_load(struct gcsim *sim, const char *path, char *errstr, size_t errstr_size)
{
    char inner[400];
    char *text = read_file(path, errstr, errstr_size);
    if (!text)
        return -1;
    cJSON *doc = cJSON_Parse(text);
    if (!doc) {
        const char *where = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = text; where && p < where; p++)
            line += *p == '\n';
        snprintf(errstr, errstr_size, "%s:%d: not valid JSON", path, line);
        free(text);
        return -1;
    }
    free(text);
    int rc = load_document(sim, doc, inner, sizeof(inner));
    if (rc)
        snprintf(errstr, errstr_size, "%s: %s", path, inner);
    cJSON_Delete(doc);
    if (!rc && !strcmp(sim->scenario->start_on, "launch"))
        scenario_start(sim, time_mono_ms());
    return rc;
}

void scenario_enable_traffic(struct gcsim *sim)
{
    struct scenario *sc = sim->scenario;
    sc->traffic = 1;
    prng_seed(&sc->traffic_rng, sim->opts.seed * 7919 + 17);
    sc->traffic_next_ms = time_mono_ms() + sim->opts.traffic_interval_ms;
}

void scenario_set_traffic(struct gcsim *sim, int enabled)
{
    struct scenario *sc = sim->scenario;
    if (enabled && !sc->traffic) {
        /* Resume where the seeded sequence stopped: the same seed, the same choices. */
        sc->traffic = 1;
        sc->traffic_next_ms = time_mono_ms() + sim->opts.traffic_interval_ms;
    } else if (!enabled) {
        sc->traffic = 0;
    }
}

void scenario_start(struct gcsim *sim, int64_t now_ms)
{
    if (sim->scenario->started_ms)
        return;
    sim->scenario->started_ms = now_ms;
    sim->started_scenario = 1;
    log_info("gcsim", "scenario started (%zu actions)", sim->scenario->action_count);
}

void scenario_on_socket_ready(struct gcsim *sim, int64_t now_ms)
{
    if (!strcmp(sim->scenario->start_on, "connect"))
        scenario_start(sim, now_ms);
}

static void run_action(struct gcsim *sim, const cJSON *a)
{
    char errstr[256] = "";
    const char *action = get_string(a, "action");
    struct campaign *c = NULL;
    const char *cid = get_string(a, "campaign");
    int rc = 0;

    if (cid && !(c = campaign_store_find(sim->store, cid)) && strcmp(action, "fault")) {
        log_warn("gcsim", "scenario: campaign %s no longer exists; %s skipped", cid, action);
        return;
    }
    if (!strcmp(action, "status")) {
        rc = behaviour_set_status(sim, c, get_string(a, "status"),
                                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "direct")),
                                  "scenario", errstr, sizeof(errstr));
    } else if (!strcmp(action, "progress")) {
        int64_t pct = -1, called = -1;
        get_int(a, "percentage", 0, &pct);
        get_int(a, "called", 0, &called);
        if (pct >= 0)
            called = (int64_t)c->total_contacts * pct / 100;
        behaviour_set_called(sim, c, called >= 0 ? (int)called : c->called, "scenario");
    } else if (!strcmp(action, "config")) {
        rc = campaign_apply_config(c, cJSON_GetObjectItemCaseSensitive(a, "params"), errstr,
                                   sizeof(errstr));
        if (rc > 0)
            behaviour_config_changed(sim, c, "scenario");
        rc = rc < 0 ? -1 : 0;
    } else if (!strcmp(action, "import")) {
        int64_t completed = -1, total = -1;
        get_int(a, "completedRecords", 0, &completed);
        get_int(a, "totalRecords", 0, &total);
        struct contact_list *l = campaign_store_find_list(sim->store, get_string(a, "contactList"));
        const char *state = get_string(a, "state");
        rc = behaviour_set_import(sim, l, state ? state : l->state, (int)completed, (int)total,
                                  get_string(a, "failureReason"), errstr, sizeof(errstr));
    } else if (!strcmp(action, "fault")) {
        rc = faults_apply(sim, get_string(a, "fault"), cJSON_GetObjectItemCaseSensitive(a, "params"),
                          errstr, sizeof(errstr));
    }
    if (rc)
        log_warn("gcsim", "scenario action %s failed: %s", action, errstr);
}

/* One seeded random action: start an off campaign, stop a running one, move progress, or
 * change its configuration. */
static void traffic_step(struct gcsim *sim)
{
    struct scenario *sc = sim->scenario;
    char errstr[128];
    if (!sim->store->campaign_count)
        return;
    struct campaign *c =
        sim->store->campaigns[prng_below(&sc->traffic_rng, sim->store->campaign_count)];
    uint64_t roll = prng_below(&sc->traffic_rng, 100);
    if (!strcmp(c->status, "on")) {
        if (roll < 40)
            behaviour_set_status(sim, c, "off", 0, "traffic", errstr, sizeof(errstr));
        else if (roll < 80)
            behaviour_set_called(sim, c, c->called + 1 + (int)prng_below(&sc->traffic_rng, 50),
                                 "traffic");
        else {
            c->abandon_rate = 2.0 + (double)prng_below(&sc->traffic_rng, 50) / 10.0;
            behaviour_config_changed(sim, c, "traffic");
        }
    } else if (!strcmp(c->status, "off") || !strcmp(c->status, "complete") ||
               !strcmp(c->status, "forced_off")) {
        if (roll < 70)
            behaviour_set_status(sim, c, "on", 0, "traffic", errstr, sizeof(errstr));
        else {
            c->outbound_line_count = 10 + (int)prng_below(&sc->traffic_rng, 90);
            behaviour_config_changed(sim, c, "traffic");
        }
    }
}

void scenario_tick(struct gcsim *sim, int64_t now_ms)
{
    struct scenario *sc = sim->scenario;
    if (sc->started_ms) {
        while (sc->next_action < sc->action_count &&
               now_ms - sc->started_ms >= sc->actions[sc->next_action].at) {
            run_action(sim, sc->actions[sc->next_action].spec);
            sc->next_action++;
        }
    }
    if (sc->traffic && now_ms >= sc->traffic_next_ms) {
        traffic_step(sim);
        sc->traffic_next_ms =
            now_ms + 1 + (int64_t)prng_below(&sc->traffic_rng,
                                             (uint64_t)sim->opts.traffic_interval_ms * 2);
    }
}
