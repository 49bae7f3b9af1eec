#include "consumer/control.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "consumer/lifecycle.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define COMPONENT "control"
#define MAX_CALLS 12

enum command_status {
    CMD_CHECKING = 0, /* a pre-flight check is reading the platform */
    CMD_QUEUED,       /* waiting for a free slot in its dialer group */
    CMD_CALLING,    /* the platform call is in flight */
    CMD_CONFIRMING, /* the platform accepted; waiting to see the target state */
    CMD_SUCCEEDED,
    CMD_FAILED,
    CMD_TIMED_OUT,
    CMD_REFUSED, /* a pre-flight check that had to ask the platform refused it */
};

enum command_step { STEP_POST = 1, STEP_GET = 2, STEP_PUT = 3, STEP_POLL = 4, STEP_IMPORT = 5 };

/* An import state read over REST by a pre-flight check, trusted for this long when the
 * stream has not reported the list (imports that start later are notified). */
#define IMPORT_STATE_TTL_MS 60000

struct check_record {
    const char *name;
    const char *result; /* "passed", "refused", "overridden" */
    char detail[200];
};

struct call_record {
    char call[160];
    long status;
    char message[200];
    int64_t at_ms;
};

struct command {
    char id[40];
    uint32_t serial;
    char *campaign_id;
    char *campaign_name;
    char *dialing_mode;
    char *group;
    enum control_action action;
    char *reason;
    char *requested_by;
    char *override_reason;
    unsigned overrides;
    int64_t priority;
    int64_t created_ms;
    int64_t started_ms;
    int64_t finished_ms;
    int64_t deadline_ms;
    int64_t next_poll_ms;
    int64_t tolerance_ms;
    enum command_status status;
    char outcome[512];
    struct check_record checks[3];
    size_t check_count;
    struct call_record calls[MAX_CALLS];
    size_t call_count;
    int put_attempts;
    bool poll_in_flight;
    char *contact_list_id;
    bool import_unknown; /* the pre-flight must read the import status over REST */
    char *campaign_json; /* the GET body the fallback PUT sends back */
};

struct utilization {
    double value;
    int64_t at_ms;
};

struct import_seen {
    char state[32];
    int64_t at_ms;
};

struct control {
    struct control_options options;
    const struct relay_config *config;
    struct strmap *commands;    /* id -> command (all kept ones) */
    struct strmap *by_campaign; /* campaign id -> its unfinished command */
    struct strmap *utilization; /* campaign id -> struct utilization */
    struct strmap *imports;     /* contact list id -> struct import_seen (REST reads) */
    struct command **order;     /* every kept command, oldest first */
    size_t order_count;
    size_t order_capacity;
    uint32_t next_serial;
    uint64_t random_state;
};

static const char *status_name(enum command_status status)
{
    switch (status) {
    case CMD_CHECKING: return "checking";
    case CMD_QUEUED: return "queued";
    case CMD_CALLING: return "calling_platform";
    case CMD_CONFIRMING: return "confirming";
    case CMD_SUCCEEDED: return "succeeded";
    case CMD_FAILED: return "failed";
    case CMD_TIMED_OUT: return "timed_out";
    case CMD_REFUSED: return "refused";
    }
    return "unknown";
}

const char *control_action_name(enum control_action action)
{
    return action == CONTROL_START ? "start" : "stop";
}

static bool finished(const struct command *cmd)
{
    return cmd->status >= CMD_SUCCEEDED;
}

static uint64_t next_random(struct control *c)
{
    /* xorshift64*: jitter only, no need for anything stronger. */
    uint64_t x = c->random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->random_state = x;
    return x * 2685821657736338717ULL;
}

static uint64_t make_tag(enum command_step step, uint32_t serial)
{
    return CONTROL_TAG | ((uint64_t)step << 32) | serial;
}

static bool raw_is(const char *raw, const char *value)
{
    return raw && strcmp(raw, value) == 0;
}

static bool raw_is_active(const char *raw)
{
    return raw_is(raw, "on") || raw_is(raw, "stopping") || raw_is(raw, "forced_stopping");
}

static bool target_reached(enum control_action action, const char *raw)
{
    if (action == CONTROL_START)
        return raw_is(raw, "on");
    return raw_is(raw, "off") || raw_is(raw, "forced_off") || raw_is(raw, "complete");
}

static const char *dialer_group(const struct cache_entry *e)
{
    if (e->edge_group_id)
        return e->edge_group_id;
    if (e->site_id)
        return e->site_id;
    return "(no dialer)";
}

/* ---- audit -------------------------------------------------------------------------- */

static void add_command_json(const struct command *cmd, cJSON *o, int64_t now_ms)
{
    cJSON_AddStringToObject(o, "commandId", cmd->id);
    cJSON_AddStringToObject(o, "action", control_action_name(cmd->action));
    cJSON *campaign = cJSON_AddObjectToObject(o, "campaign");
    cJSON_AddStringToObject(campaign, "id", cmd->campaign_id);
    if (cmd->campaign_name)
        cJSON_AddStringToObject(campaign, "name", cmd->campaign_name);
    if (cmd->dialing_mode)
        cJSON_AddStringToObject(campaign, "dialingMode", cmd->dialing_mode);
    cJSON_AddStringToObject(campaign, "dialerGroup", cmd->group);
    cJSON_AddStringToObject(o, "status", status_name(cmd->status));
    if (cmd->outcome[0])
        cJSON_AddStringToObject(o, "detail", cmd->outcome);
    if (cmd->requested_by)
        cJSON_AddStringToObject(o, "requestedBy", cmd->requested_by);
    if (cmd->reason)
        cJSON_AddStringToObject(o, "reason", cmd->reason);
    cJSON *checks = cJSON_AddArrayToObject(o, "checks");
    for (size_t i = 0; i < cmd->check_count; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "check", cmd->checks[i].name);
        cJSON_AddStringToObject(c, "result", cmd->checks[i].result);
        cJSON_AddStringToObject(c, "detail", cmd->checks[i].detail);
        cJSON_AddItemToArray(checks, c);
    }
    if (cmd->overrides) {
        cJSON *ov = cJSON_AddObjectToObject(o, "overrides");
        cJSON *names = cJSON_AddArrayToObject(ov, "checks");
        if (cmd->overrides & CONTROL_CHECK_IMPORT)
            cJSON_AddItemToArray(names, cJSON_CreateString("contact_list_import"));
        if (cmd->overrides & CONTROL_CHECK_ACTIVE_LIMIT)
            cJSON_AddItemToArray(names, cJSON_CreateString("active_limit"));
        if (cmd->overrides & CONTROL_CHECK_HEADROOM)
            cJSON_AddItemToArray(names, cJSON_CreateString("dialer_headroom"));
        cJSON_AddStringToObject(ov, "reason", cmd->override_reason ? cmd->override_reason : "");
    }
    cJSON *calls = cJSON_AddArrayToObject(o, "platform");
    for (size_t i = 0; i < cmd->call_count; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "call", cmd->calls[i].call);
        cJSON_AddNumberToObject(c, "status", (double)cmd->calls[i].status);
        if (cmd->calls[i].message[0])
            cJSON_AddStringToObject(c, "message", cmd->calls[i].message);
        cJSON_AddItemToArray(calls, c);
    }
    char t[RFC3339_MS_LEN];
    time_format_rfc3339(cmd->created_ms, t);
    cJSON_AddStringToObject(o, "requestedAt", t);
    if (cmd->finished_ms) {
        time_format_rfc3339(cmd->finished_ms, t);
        cJSON_AddStringToObject(o, "finishedAt", t);
        cJSON_AddNumberToObject(o, "durationMs", (double)(cmd->finished_ms - cmd->created_ms));
    } else {
        cJSON_AddNumberToObject(o, "elapsedMs", (double)(now_ms - cmd->created_ms));
    }
    if (cmd->deadline_ms) {
        time_format_rfc3339(cmd->deadline_ms, t);
        cJSON_AddStringToObject(o, "deadline", t);
        cJSON_AddNumberToObject(o, "toleranceMs", (double)cmd->tolerance_ms);
    }
}

static void audit(struct control *c, const struct command *cmd, const char *phase,
                  int http_status, int64_t now_ms)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "phase", phase);
    if (http_status)
        cJSON_AddNumberToObject(data, "httpStatus", http_status);
    add_command_json(cmd, data, now_ms);
    char *text = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!text)
        abort();

    char type[160];
    snprintf(type, sizeof type, "%saudit.action", events_builder_prefix(c->options.events));
    char source[512];
    snprintf(source, sizeof source, "genesys-cloud://%s/relay/control",
             c->config->events.source_domain ? c->config->events.source_domain : "unknown");
    const char *facts[] = {"audit.action", cmd->id, phase};
    char id[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 3, id);
    struct relay_event *event =
        relay_event_create(id, type, source, "", now_ms, EVENT_FAMILY_AUDIT, text);
    free(text);
    if (event && c->options.port.emit_audit(c->options.port.opaque, event) != 0)
        log_error(COMPONENT, "command %s: the audit event for '%s' could not be stored",
                  cmd->id, phase);
    relay_event_free(event);
}

/* ---- bookkeeping ------------------------------------------------------------------------ */

static void command_free(struct command *cmd)
{
    free(cmd->campaign_id);
    free(cmd->campaign_name);
    free(cmd->dialing_mode);
    free(cmd->group);
    free(cmd->reason);
    free(cmd->requested_by);
    free(cmd->override_reason);
    free(cmd->campaign_json);
    free(cmd->contact_list_id);
    free(cmd);
}

static void keep(struct control *c, struct command *cmd)
{
    if (c->order_count == c->order_capacity) {
        c->order_capacity = c->order_capacity ? c->order_capacity * 2 : 64;
        c->order = realloc(c->order, c->order_capacity * sizeof *c->order);
        if (!c->order)
            abort();
    }
    c->order[c->order_count++] = cmd;
    strmap_put(c->commands, cmd->id, cmd);

    size_t keep_finished = c->options.keep_finished ? c->options.keep_finished : 1000;
    size_t finished_count = 0;
    for (size_t i = 0; i < c->order_count; i++)
        finished_count += finished(c->order[i]) ? 1 : 0;
    for (size_t i = 0; i < c->order_count && finished_count > keep_finished;) {
        struct command *old = c->order[i];
        if (!finished(old)) {
            i++;
            continue;
        }
        strmap_remove(c->commands, old->id);
        memmove(&c->order[i], &c->order[i + 1], (c->order_count - i - 1) * sizeof *c->order);
        c->order_count--;
        finished_count--;
        command_free(old);
    }
}

static struct command *find_serial(struct control *c, uint32_t serial)
{
    for (size_t i = c->order_count; i > 0; i--)
        if (c->order[i - 1]->serial == serial)
            return c->order[i - 1];
    return NULL;
}

static void record_call(struct command *cmd, const char *call, long status, const char *message,
                        int64_t now_ms)
{
    if (cmd->call_count == MAX_CALLS) {
        memmove(&cmd->calls[0], &cmd->calls[1], (MAX_CALLS - 1) * sizeof cmd->calls[0]);
        cmd->call_count--;
    }
    struct call_record *r = &cmd->calls[cmd->call_count++];
    snprintf(r->call, sizeof r->call, "%s", call);
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", message ? message : "");
    r->at_ms = now_ms;
}

static void start_next_in_group(struct control *c, const char *group, int64_t now_ms);

static void finish(struct control *c, struct command *cmd, enum command_status status,
                   const char *detail, int64_t now_ms)
{
    if (finished(cmd))
        return;
    cmd->status = status;
    cmd->finished_ms = now_ms;
    snprintf(cmd->outcome, sizeof cmd->outcome, "%s", detail);
    strmap_remove(c->by_campaign, cmd->campaign_id);
    log_info(COMPONENT, "command %s (%s %s) %s: %s", cmd->id, control_action_name(cmd->action),
             cmd->campaign_id, status_name(status), detail);
    audit(c, cmd, status_name(status), 0, now_ms);
    start_next_in_group(c, cmd->group, now_ms);
}

/* ---- platform calls ------------------------------------------------------------------ */

static int submit(struct control *c, struct command *cmd, enum command_step step,
                  const char *method, const char *path, const char *body)
{
    return c->options.port.submit(c->options.port.opaque, method, path, body,
                                  make_tag(step, cmd->serial));
}

static void call_start_stop(struct control *c, struct command *cmd, int64_t now_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v2/outbound/campaigns/%s/%s", cmd->campaign_id,
             control_action_name(cmd->action));
    cmd->status = CMD_CALLING;
    cmd->started_ms = now_ms;
    if (submit(c, cmd, STEP_POST, "POST", path, NULL) != 0)
        finish(c, cmd, CMD_FAILED, "the platform call could not be queued", now_ms);
}

static void call_get(struct control *c, struct command *cmd, enum command_step step,
                     int64_t now_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v2/outbound/campaigns/%s", cmd->campaign_id);
    if (submit(c, cmd, step, "GET", path, NULL) != 0) {
        if (step == STEP_POLL)
            cmd->poll_in_flight = false;
        else
            finish(c, cmd, CMD_FAILED, "the platform call could not be queued", now_ms);
    } else if (step == STEP_POLL) {
        cmd->poll_in_flight = true;
    }
}

static size_t in_flight_in_group(const struct control *c, const char *group)
{
    size_t n = 0;
    for (size_t i = 0; i < c->order_count; i++) {
        const struct command *cmd = c->order[i];
        if ((cmd->status == CMD_CALLING || cmd->status == CMD_CONFIRMING) &&
            strcmp(cmd->group, group) == 0)
            n++;
    }
    return n;
}

static void start_next_in_group(struct control *c, const char *group, int64_t now_ms)
{
    int limit = c->config->control.max_concurrent_per_dialer;
    while ((int)in_flight_in_group(c, group) < limit) {
        struct command *best = NULL;
        for (size_t i = 0; i < c->order_count; i++) {
            struct command *cmd = c->order[i];
            if (cmd->status != CMD_QUEUED || strcmp(cmd->group, group) != 0)
                continue;
            /* Highest campaign priority first; arrival order among equals. */
            if (!best || cmd->priority > best->priority)
                best = cmd;
        }
        if (!best)
            return;
        call_start_stop(c, best, now_ms);
    }
}

static void confirm_or_wait(struct control *c, struct command *cmd, const char *raw,
                            int64_t now_ms)
{
    if (finished(cmd) || cmd->status == CMD_QUEUED || cmd->status == CMD_CHECKING)
        return;
    if (target_reached(cmd->action, raw)) {
        char detail[128];
        snprintf(detail, sizeof detail, "the campaign reached %s", raw);
        finish(c, cmd, CMD_SUCCEEDED, detail, now_ms);
    } else if (raw_is(raw, "invalid")) {
        finish(c, cmd, CMD_FAILED, "the campaign went invalid", now_ms);
    }
}

static const char *error_message(const char *body, char *buf, size_t size)
{
    buf[0] = '\0';
    cJSON *json = body ? cJSON_Parse(body) : NULL;
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(json, "message");
    if (cJSON_IsString(message))
        snprintf(buf, size, "%s", message->valuestring);
    cJSON_Delete(json);
    return buf;
}

static void add_check(struct command *cmd, const char *name, const char *result,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_check(struct command *cmd, const char *name, const char *result,
                      const char *fmt, ...)
{
    if (cmd->check_count == sizeof cmd->checks / sizeof cmd->checks[0])
        return;
    struct check_record *r = &cmd->checks[cmd->check_count++];
    r->name = name;
    r->result = result;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* The 404 fallback: GET gave us the campaign; PUT it back with the new status. */
static void put_with_status(struct control *c, struct command *cmd, int64_t now_ms)
{
    cJSON *campaign = cJSON_Parse(cmd->campaign_json);
    if (!cJSON_IsObject(campaign)) {
        cJSON_Delete(campaign);
        finish(c, cmd, CMD_FAILED, "the campaign read back from the platform is not JSON",
               now_ms);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(campaign, "campaignStatus");
    cJSON_AddStringToObject(campaign, "campaignStatus",
                            cmd->action == CONTROL_START ? "on" : "off");
    char *body = cJSON_PrintUnformatted(campaign);
    cJSON_Delete(campaign);
    char path[256];
    snprintf(path, sizeof path, "/api/v2/outbound/campaigns/%s", cmd->campaign_id);
    cmd->put_attempts++;
    if (submit(c, cmd, STEP_PUT, "PUT", path, body) != 0)
        finish(c, cmd, CMD_FAILED, "the platform call could not be queued", now_ms);
    free(body);
}

static void accepted_by_platform(struct control *c, struct command *cmd, int64_t now_ms)
{
    cmd->status = CMD_CONFIRMING;
    cmd->deadline_ms = now_ms + cmd->tolerance_ms;
    cmd->next_poll_ms = now_ms + (c->options.poll_interval_ms ? c->options.poll_interval_ms
                                                               : 10000);
    /* The stream may have shown the change before the call returned. */
    const struct cache_entry *e = cache_get(c->options.cache, cmd->campaign_id);
    if (e)
        confirm_or_wait(c, cmd, e->raw_status, now_ms);
}

void control_on_completion(struct control *c, uint64_t tag, long status, const char *body,
                           const char *error, int64_t now_ms)
{
    enum command_step step = (enum command_step)((tag >> 32) & 0xff);
    struct command *cmd = find_serial(c, (uint32_t)(tag & 0xffffffffu));
    if (!cmd || finished(cmd))
        return;
    char message[200];
    error_message(body, message, sizeof message);
    if (!message[0] && error && error[0])
        snprintf(message, sizeof message, "%s", error);
    char call[160];

    switch (step) {
    case STEP_POST:
        snprintf(call, sizeof call, "POST /api/v2/outbound/campaigns/%s/%s", cmd->campaign_id,
                 control_action_name(cmd->action));
        record_call(cmd, call, status, message, now_ms);
        if (status >= 200 && status < 300) {
            accepted_by_platform(c, cmd, now_ms);
        } else if (status == 404) {
            /* Older platforms lack start/stop: read the campaign and PUT its status. */
            call_get(c, cmd, STEP_GET, now_ms);
        } else {
            char detail[256];
            snprintf(detail, sizeof detail, "the platform refused: HTTP %ld%s%s", status,
                     message[0] ? ": " : "", message);
            finish(c, cmd, CMD_FAILED, detail, now_ms);
        }
        break;
    case STEP_GET:
        snprintf(call, sizeof call, "GET /api/v2/outbound/campaigns/%s", cmd->campaign_id);
        record_call(cmd, call, status, message, now_ms);
        if (status >= 200 && status < 300 && body) {
            free(cmd->campaign_json);
            cmd->campaign_json = xstrdup(body);
            put_with_status(c, cmd, now_ms);
        } else {
            char detail[256];
            snprintf(detail, sizeof detail, "reading the campaign failed: HTTP %ld%s%s", status,
                     message[0] ? ": " : "", message);
            finish(c, cmd, CMD_FAILED, detail, now_ms);
        }
        break;
    case STEP_PUT:
        snprintf(call, sizeof call, "PUT /api/v2/outbound/campaigns/%s (campaignStatus %s)",
                 cmd->campaign_id, cmd->action == CONTROL_START ? "on" : "off");
        record_call(cmd, call, status, message, now_ms);
        if (status >= 200 && status < 300) {
            accepted_by_platform(c, cmd, now_ms);
        } else if ((status == 409 || (status == 400 && strstr(message, "version"))) &&
                   cmd->put_attempts <= c->config->control.max_put_retries) {
            /* Someone changed the campaign between our GET and PUT: read it again. */
            call_get(c, cmd, STEP_GET, now_ms);
        } else {
            char detail[256];
            snprintf(detail, sizeof detail, "the platform refused the update: HTTP %ld%s%s",
                     status, message[0] ? ": " : "", message);
            finish(c, cmd, CMD_FAILED, detail, now_ms);
        }
        break;
    case STEP_IMPORT: {
        snprintf(call, sizeof call, "GET /api/v2/outbound/contactlists/%s/importstatus",
                 cmd->contact_list_id);
        record_call(cmd, call, status, message, now_ms);
        cJSON *json = status >= 200 && status < 300 && body ? cJSON_Parse(body) : NULL;
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(json, "state");
        if (cJSON_IsString(state)) {
            struct import_seen *seen = strmap_get(c->imports, cmd->contact_list_id);
            if (!seen) {
                seen = calloc(1, sizeof *seen);
                if (!seen)
                    abort();
                strmap_put(c->imports, cmd->contact_list_id, seen);
            }
            snprintf(seen->state, sizeof seen->state, "%s", state->valuestring);
            seen->at_ms = now_ms;
        }
        if (cJSON_IsString(state) && strcmp(state->valuestring, "IN_PROGRESS") == 0) {
            add_check(cmd, "contact_list_import", "refused", "contact list %s is importing",
                      cmd->contact_list_id);
            char detail[256];
            snprintf(detail, sizeof detail, "contact list %s is still importing (override: "
                                            "contact_list_import)", cmd->contact_list_id);
            cJSON_Delete(json);
            finish(c, cmd, CMD_REFUSED, detail, now_ms);
            break;
        }
        if (cJSON_IsString(state))
            add_check(cmd, "contact_list_import", "passed", "import state %s (read from the "
                      "platform)", state->valuestring);
        else
            add_check(cmd, "contact_list_import", "passed", "no import status (HTTP %ld)",
                      status);
        cJSON_Delete(json);
        cmd->status = CMD_QUEUED;
        start_next_in_group(c, cmd->group, now_ms);
        break;
    }
    case STEP_POLL: {
        cmd->poll_in_flight = false;
        if (status < 200 || status >= 300 || !body)
            break;
        cJSON *campaign = cJSON_Parse(body);
        const cJSON *raw = cJSON_GetObjectItemCaseSensitive(campaign, "campaignStatus");
        if (cJSON_IsString(raw))
            confirm_or_wait(c, cmd, raw->valuestring, now_ms);
        cJSON_Delete(campaign);
        break;
    }
    }
}

/* ---- submit ------------------------------------------------------------------------------ */

static void refuse(struct control_answer *answer, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct control_answer *answer, int status, const char *fmt, ...)
{
    answer->http_status = status;
    answer->command_id[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(answer->reason, sizeof answer->reason, fmt, ap);
    va_end(ap);
}

static size_t active_campaigns(const struct cache *cache)
{
    size_t n = 0;
    const struct cache_entry *e;
    for (size_t it = 0; (e = cache_next(cache, &it));)
        n += raw_is_active(e->raw_status) ? 1 : 0;
    return n;
}

/* Highest recent lines utilisation among the campaigns on the same dialer. */
static double group_utilization(const struct control *c, const char *group, int64_t now_ms,
                                bool *known)
{
    *known = false;
    double highest = 0;
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(c->utilization, &it, &key, &value);) {
        const struct utilization *u = value;
        if (now_ms - u->at_ms > 5 * 60 * 1000)
            continue;
        const struct cache_entry *e = cache_get(c->options.cache, key);
        if (!e || strcmp(dialer_group(e), group) != 0)
            continue;
        if (!*known || u->value > highest)
            highest = u->value;
        *known = true;
    }
    return highest;
}


/* Runs the pre-flight checks of a start; returns false (and fills the answer) when one
 * refuses and is not overridden. */
static bool preflight(struct control *c, struct command *cmd, const struct cache_entry *e,
                      unsigned overrides, int64_t now_ms, struct control_answer *answer)
{
    const char *import_state = cache_entry_import_state(c->options.cache, e);
    const struct import_seen *seen =
        e->contact_list_id ? strmap_get(c->imports, e->contact_list_id) : NULL;
    if (!import_state && seen && now_ms - seen->at_ms < IMPORT_STATE_TTL_MS)
        import_state = seen->state;
    if (raw_is(import_state, "IN_PROGRESS")) {
        bool over = overrides & CONTROL_CHECK_IMPORT;
        add_check(cmd, "contact_list_import", over ? "overridden" : "refused",
                  "contact list %s is importing", e->contact_list_id ? e->contact_list_id : "?");
        if (!over) {
            refuse(answer, 409, "campaign %s cannot start: its contact list %s is still "
                                "importing (override: contact_list_import)",
                   e->id, e->contact_list_id ? e->contact_list_id : "?");
            return false;
        }
    } else if (!import_state && e->contact_list_id && !(overrides & CONTROL_CHECK_IMPORT)) {
        /* The stream has not said: ask the platform before calling it (below). */
        cmd->import_unknown = true;
        cmd->contact_list_id = xstrdup(e->contact_list_id);
    } else {
        add_check(cmd, "contact_list_import",
                  overrides & CONTROL_CHECK_IMPORT ? "overridden" : "passed", "import state %s",
                  import_state ? import_state : "unknown");
    }

    size_t active = active_campaigns(c->options.cache);
    int limit = c->config->lifecycle.active_limit;
    if ((int)active >= limit) {
        bool over = overrides & CONTROL_CHECK_ACTIVE_LIMIT;
        add_check(cmd, "active_limit", over ? "overridden" : "refused",
                  "%zu of %d campaigns active", active, limit);
        if (!over) {
            refuse(answer, 409, "campaign %s cannot start: %zu campaigns are already active "
                                "(on, stopping or forced_stopping) and the platform allows %d "
                                "(override: active_limit)", e->id, active, limit);
            return false;
        }
    } else {
        add_check(cmd, "active_limit", "passed", "%zu of %d campaigns active", active, limit);
    }

    bool known;
    double used = group_utilization(c, cmd->group, now_ms, &known);
    double ceiling = c->config->control.max_lines_utilization;
    if (known && used >= ceiling) {
        bool over = overrides & CONTROL_CHECK_HEADROOM;
        add_check(cmd, "dialer_headroom", over ? "overridden" : "refused",
                  "lines utilisation %.2f on dialer %s (limit %.2f)", used, cmd->group, ceiling);
        if (!over) {
            refuse(answer, 409, "campaign %s cannot start: dialer %s is at %.0f%% of its lines "
                                "(limit %.0f%%; override: dialer_headroom)",
                   e->id, cmd->group, used * 100, ceiling * 100);
            return false;
        }
    } else if (known) {
        add_check(cmd, "dialer_headroom", "passed", "lines utilisation %.2f on dialer %s", used,
                  cmd->group);
    } else {
        add_check(cmd, "dialer_headroom", "passed", "no line statistics for dialer %s yet",
                  cmd->group);
    }
    return true;
}

void control_submit(struct control *c, const struct control_request *request, int64_t now_ms,
                    struct control_answer *answer)
{
    memset(answer, 0, sizeof *answer);
    const struct cache_entry *e =
        request->campaign_id ? cache_get(c->options.cache, request->campaign_id) : NULL;
    if (!e) {
        refuse(answer, 404, "campaign %s is not known to the relay",
               request->campaign_id ? request->campaign_id : "(none)");
        return;
    }

    struct command *cmd = calloc(1, sizeof *cmd);
    if (!cmd)
        abort();
    cmd->serial = ++c->next_serial;
    char created[32];
    snprintf(created, sizeof created, "%lld/%u", (long long)now_ms, cmd->serial);
    const char *facts[] = {"command", e->id, control_action_name(request->action), created};
    char digest[EVENTS_ID_HEX_LEN + 1];
    events_derive_id(facts, 4, digest);
    snprintf(cmd->id, sizeof cmd->id, "cmd_%.24s", digest);
    cmd->campaign_id = xstrdup(e->id);
    cmd->campaign_name = xstrdup(e->name);
    cmd->dialing_mode = xstrdup(e->dialing_mode);
    cmd->group = xstrdup(dialer_group(e));
    cmd->action = request->action;
    cmd->reason = xstrdup(request->reason);
    cmd->requested_by = xstrdup(request->requested_by);
    cmd->override_reason = xstrdup(request->override_reason);
    cmd->overrides = request->overrides;
    cmd->priority = e->has_priority ? e->priority : 0;
    cmd->created_ms = now_ms;
    cmd->tolerance_ms = config_tolerance_ms(&c->config->lifecycle, e->dialing_mode);

    const struct command *running = strmap_get(c->by_campaign, e->id);
    bool transient = lifecycle_is_transient(e->state) || raw_is(e->raw_status, "stopping") ||
                     raw_is(e->raw_status, "forced_stopping");
    if (running) {
        refuse(answer, 409, "campaign %s already has a %s command in flight (%s, %s)", e->id,
               control_action_name(running->action), running->id, status_name(running->status));
    } else if (transient) {
        refuse(answer, 409, "campaign %s is %s (raw status %s): wait until the transition "
                            "settles", e->id, lifecycle_state_name(e->state),
               e->raw_status ? e->raw_status : "?");
    } else if (request->overrides && (!request->override_reason || !request->override_reason[0])) {
        refuse(answer, 422, "an override needs a reason (overrideReason)");
    } else if (target_reached(request->action, e->raw_status) ||
               (request->action == CONTROL_STOP && !raw_is_active(e->raw_status))) {
        answer->http_status = 200;
        snprintf(answer->command_id, sizeof answer->command_id, "%s", cmd->id);
        snprintf(answer->reason, sizeof answer->reason,
                 "campaign %s is already %s: nothing to do", e->id,
                 e->raw_status ? e->raw_status : "?");
        cmd->status = CMD_SUCCEEDED;
        cmd->finished_ms = now_ms;
        snprintf(cmd->outcome, sizeof cmd->outcome, "already satisfied (%s)",
                 e->raw_status ? e->raw_status : "?");
        keep(c, cmd);
        audit(c, cmd, "succeeded", 200, now_ms);
        return;
    } else if (request->action == CONTROL_START &&
               !preflight(c, cmd, e, request->overrides, now_ms, answer)) {
        /* refused by a pre-flight check; answer filled in */
    } else {
        answer->http_status = 202;
        snprintf(answer->command_id, sizeof answer->command_id, "%s", cmd->id);
        snprintf(answer->reason, sizeof answer->reason, "%s of campaign %s accepted",
                 control_action_name(request->action), e->id);
        cmd->status = cmd->import_unknown ? CMD_CHECKING : CMD_QUEUED;
        keep(c, cmd);
        strmap_put(c->by_campaign, cmd->campaign_id, cmd);
        audit(c, cmd, "accepted", 202, now_ms);
        if (cmd->import_unknown) {
            char path[256];
            snprintf(path, sizeof path, "/api/v2/outbound/contactlists/%s/importstatus",
                     cmd->contact_list_id);
            if (submit(c, cmd, STEP_IMPORT, "GET", path, NULL) != 0)
                finish(c, cmd, CMD_FAILED, "the pre-flight check could not be queued", now_ms);
            return;
        }
        start_next_in_group(c, cmd->group, now_ms);
        return;
    }

    /* Refused: audited with the reason, not kept. */
    cmd->status = CMD_FAILED;
    cmd->finished_ms = now_ms;
    snprintf(cmd->outcome, sizeof cmd->outcome, "%s", answer->reason);
    log_info(COMPONENT, "refused %s of %s: %s", control_action_name(request->action), e->id,
             answer->reason);
    audit(c, cmd, "refused", answer->http_status, now_ms);
    command_free(cmd);
}

/* ---- observations and time ---------------------------------------------------------------- */

void control_on_campaign(struct control *c, const struct cache_entry *entry, int64_t now_ms)
{
    struct command *cmd = strmap_get(c->by_campaign, entry->id);
    if (cmd && cmd->status != CMD_QUEUED)
        confirm_or_wait(c, cmd, entry->raw_status, now_ms);
}

void control_on_lines_utilization(struct control *c, const char *campaign_id,
                                  double utilization, int64_t now_ms)
{
    struct utilization *u = strmap_get(c->utilization, campaign_id);
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u)
            abort();
        strmap_put(c->utilization, campaign_id, u);
    }
    u->value = utilization;
    u->at_ms = now_ms;
}

void control_tick(struct control *c, int64_t now_ms)
{
    bool stream_up = c->options.port.stream_healthy
                         ? c->options.port.stream_healthy(c->options.port.opaque)
                         : true;
    int64_t interval = c->options.poll_interval_ms ? c->options.poll_interval_ms : 10000;
    for (size_t i = 0; i < c->order_count; i++) {
        struct command *cmd = c->order[i];
        if (cmd->status != CMD_CONFIRMING)
            continue;
        if (now_ms >= cmd->deadline_ms) {
            const struct cache_entry *e = cache_get(c->options.cache, cmd->campaign_id);
            char detail[256];
            snprintf(detail, sizeof detail,
                     "not %s within the %s tolerance of %lld ms (still %s)",
                     cmd->action == CONTROL_START ? "on" : "off",
                     cmd->dialing_mode ? cmd->dialing_mode : "unknown",
                     (long long)cmd->tolerance_ms, e && e->raw_status ? e->raw_status : "?");
            finish(c, cmd, CMD_TIMED_OUT, detail, now_ms);
            continue;
        }
        if (!stream_up && !cmd->poll_in_flight && now_ms >= cmd->next_poll_ms) {
            /* The stream cannot confirm: read the campaign, spread out with jitter. */
            call_get(c, cmd, STEP_POLL, now_ms);
            uint64_t jitter = next_random(c) % (uint64_t)interval;
            cmd->next_poll_ms = now_ms + interval / 2 + (int64_t)jitter;
        }
    }
}

/* ---- queries and lifecycle ------------------------------------------------------------------ */

bool control_command_json(const struct control *c, const char *command_id, struct strbuf *out)
{
    const struct command *cmd = strmap_get(c->commands, command_id);
    if (!cmd)
        return false;
    cJSON *o = cJSON_CreateObject();
    add_command_json(cmd, o, time_now_ms());
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        abort();
    strbuf_append(out, text);
    free(text);
    return true;
}

size_t control_active_count(const struct control *c)
{
    return strmap_count(c->by_campaign);
}

struct control *control_create(const struct control_options *options, char *errstr,
                               size_t errstr_size)
{
    if (!options->config || !options->cache || !options->events || !options->port.submit ||
        !options->port.emit_audit) {
        snprintf(errstr, errstr_size, "control: config, cache, events and port are required");
        return NULL;
    }
    struct control *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->options = *options;
    c->config = options->config;
    c->commands = strmap_create();
    c->by_campaign = strmap_create();
    c->utilization = strmap_create();
    c->imports = strmap_create();
    c->random_state = (uint64_t)time_mono_us() | 1;
    return c;
}

void control_destroy(struct control *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->order_count; i++)
        command_free(c->order[i]);
    free(c->order);
    const char *key;
    void *value;
    for (size_t it = 0; strmap_next(c->utilization, &it, &key, &value);)
        free(value);
    strmap_destroy(c->utilization);
    for (size_t it = 0; strmap_next(c->imports, &it, &key, &value);)
        free(value);
    strmap_destroy(c->imports);
    strmap_destroy(c->commands);
    strmap_destroy(c->by_campaign);
    free(c);
}
