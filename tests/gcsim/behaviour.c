#include "tests/gcsim/behaviour.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "tests/gcsim/publish.h"
#include "tests/gcsim/scenario.h"
#include "util/log.h"
#include "util/timeutil.h"

int64_t behaviour_stopping_ms(const struct gcsim *sim, const struct campaign *c)
{
    if (c->stopping_ms >= 0)
        return c->stopping_ms;
    int64_t by_mode = scenario_stopping_ms(sim->scenario, c->dialing_mode);
    return by_mode >= 0 ? by_mode : sim->opts.stopping_ms;
}

/* Applies a status without any platform logic: bump, log, notify. */
static void change_status(struct gcsim *sim, struct campaign *c, const char *status,
                          const char *cause)
{
    char previous[sizeof(c->status)], next[sizeof(c->status)];
    int64_t now = time_mono_ms();
    /* status may be c->status itself (a config change keeps the status). */
    snprintf(next, sizeof(next), "%s", status);
    snprintf(previous, sizeof(previous), "%s", c->status);
    snprintf(c->status, sizeof(c->status), "%s", next);
    c->version++;
    c->date_modified_ms = time_now_ms();
    c->transition_due_ms = 0;
    if (!strcmp(next, "stopping") || !strcmp(next, "forced_stopping"))
        c->transition_due_ms = now + behaviour_stopping_ms(sim, c);
    if (!strcmp(next, "on") && strcmp(previous, "on") != 0)
        c->next_tick_ms = now + sim->opts.tick_ms;

    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "kind", "change");
    cJSON_AddStringToObject(line, "campaignId", c->id);
    cJSON_AddNumberToObject(line, "version", (double)c->version);
    cJSON_AddStringToObject(line, "status", c->status);
    cJSON_AddStringToObject(line, "previous", previous);
    cJSON_AddStringToObject(line, "cause", cause);
    truth_write(sim->truth, line);
    cJSON_Delete(line);
    log_debug("gcsim", "campaign %s: %s -> %s (v%lld, %s)", c->id, previous, c->status,
              (long long)c->version, cause);
    publish_campaign(sim, c);
}

int behaviour_set_status(struct gcsim *sim, struct campaign *c, const char *status,
                         int direct, const char *cause, char *errstr, size_t errstr_size)
{
    if (!campaign_status_is_known(status)) {
        snprintf(errstr, errstr_size, "unknown campaignStatus \"%s\"", status);
        return -1;
    }
    if (direct) {
        change_status(sim, c, status, cause);
        return 0;
    }
    if (!strcmp(status, "on")) {
        if (!strcmp(c->status, "invalid")) {
            snprintf(errstr, errstr_size,
                     "campaign %s has an invalid configuration and cannot be turned on", c->id);
            return -1;
        }
        if (!strcmp(c->status, "on"))
            return 0;
        if (!strcmp(c->status, "stopping") || !strcmp(c->status, "forced_stopping")) {
            snprintf(errstr, errstr_size, "campaign %s is %s; wait until it is off", c->id,
                     c->status);
            return -1;
        }
        if (!strcmp(c->status, "complete"))
            c->called = 0; /* turning a complete campaign on restarts from the first record */
        change_status(sim, c, "on", cause);
        return 0;
    }
    if (!strcmp(status, "off")) {
        if (!strcmp(c->status, "on"))
            change_status(sim, c, "stopping", cause);
        return 0; /* already off, stopping, complete or invalid: nothing to do */
    }
    if (!strcmp(status, "forced_stopping") && strcmp(c->status, "forced_stopping") != 0) {
        change_status(sim, c, "forced_stopping", cause);
        return 0;
    }
    if (strcmp(c->status, status) != 0)
        change_status(sim, c, status, cause);
    return 0;
}

void behaviour_set_called(struct gcsim *sim, struct campaign *c, int called, const char *cause)
{
    if (called < 0)
        called = 0;
    if (called > c->total_contacts)
        called = c->total_contacts;
    if (called > c->called) {
        int64_t delta = called - c->called;
        c->attempts += delta;
        c->connects += delta / 3;
    }
    c->called = called;
    publish_progress(sim, c);
    publish_stats(sim, c);
    if (campaign_percentage(c) >= 100 && !strcmp(c->status, "on") && !c->always_running)
        change_status(sim, c, "complete", cause);
}

void behaviour_config_changed(struct gcsim *sim, struct campaign *c, const char *cause)
{
    change_status(sim, c, c->status, cause);
}

int behaviour_set_import(struct gcsim *sim, struct contact_list *l, const char *state,
                         int completed, int total, const char *failure_reason, char *errstr,
                         size_t errstr_size)
{
    if (strcmp(state, "IN_PROGRESS") && strcmp(state, "FAILED") && strcmp(state, "COMPLETED")) {
        snprintf(errstr, errstr_size,
                 "unknown import state \"%s\" (IN_PROGRESS, FAILED or COMPLETED)", state);
        return -1;
    }
    snprintf(l->state, sizeof(l->state), "%s", state);
    if (total >= 0)
        l->total_records = total;
    if (completed >= 0)
        l->completed_records = completed;
    else if (!strcmp(state, "COMPLETED"))
        l->completed_records = l->total_records;
    snprintf(l->failure_reason, sizeof(l->failure_reason), "%s",
             failure_reason ? failure_reason : "");
    l->version++;
    l->date_modified_ms = time_now_ms();

    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "kind", "import");
    cJSON_AddStringToObject(line, "contactListId", l->id);
    cJSON_AddStringToObject(line, "state", l->state);
    cJSON_AddNumberToObject(line, "completedRecords", l->completed_records);
    truth_write(sim->truth, line);
    cJSON_Delete(line);
    publish_import(sim, l);
    return 0;
}

void behaviour_tick(struct gcsim *sim, int64_t now_ms)
{
    for (size_t i = 0; i < sim->store->campaign_count; i++) {
        struct campaign *c = sim->store->campaigns[i];
        if (c->transition_due_ms && now_ms >= c->transition_due_ms) {
            if (!strcmp(c->status, "stopping"))
                change_status(sim, c, "off", "timer");
            else if (!strcmp(c->status, "forced_stopping"))
                change_status(sim, c, "forced_off", "timer");
            else
                c->transition_due_ms = 0;
        }
        if (!strcmp(c->status, "on") && c->calls_per_tick > 0 && now_ms >= c->next_tick_ms) {
            c->next_tick_ms = now_ms + sim->opts.tick_ms;
            behaviour_set_called(sim, c, c->called + c->calls_per_tick, "tick");
        }
    }
}

void behaviour_write_final(struct gcsim *sim)
{
    for (size_t i = 0; i < sim->store->campaign_count; i++) {
        const struct campaign *c = sim->store->campaigns[i];
        cJSON *line = cJSON_CreateObject();
        cJSON_AddStringToObject(line, "kind", "final");
        cJSON_AddStringToObject(line, "campaignId", c->id);
        cJSON_AddNumberToObject(line, "version", (double)c->version);
        cJSON_AddStringToObject(line, "status", c->status);
        cJSON_AddStringToObject(line, "dialingMode", c->dialing_mode);
        cJSON_AddNumberToObject(line, "percentage", campaign_percentage(c));
        truth_write(sim->truth, line);
        cJSON_Delete(line);
    }
}
