/*
 * The simulator's outbound data: campaigns and contact lists, and their JSON shapes.
 *
 * Contract: pure data and rendering, no I/O and no clock (callers pass times). Renderers
 * produce the platform's shapes from the reference: the REST Campaign (§4.2), the
 * notification body DialerCampaignConfigChangeCampaign (§3.2), progress (§3.3, §4.5),
 * stats (§3.4, §4.4), ContactList and ImportStatus (§4.6) and the import-status event
 * (§3.4). The store owns every campaign and contact list added to it.
 */
#ifndef GCSIM_CAMPAIGN_H
#define GCSIM_CAMPAIGN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/prng.h"

#define CAMPAIGN_NAME_MAX 128

struct entity_ref {
    char id[PRNG_UUID_LEN];
    char name[CAMPAIGN_NAME_MAX];
};

struct campaign {
    char id[PRNG_UUID_LEN];
    char name[CAMPAIGN_NAME_MAX];
    char dialing_mode[16];
    char status[20];
    int64_t version;
    int64_t date_created_ms, date_modified_ms; /* wall clock */
    struct entity_ref contact_list, queue, script, edge_group, site, division;
    struct entity_ref callable_time_set, call_analysis_response_set, dnc_list, rule_set;
    double abandon_rate;
    int outbound_line_count;
    int priority;
    int no_answer_timeout;
    char caller_name[64];
    char caller_address[32];
    int total_contacts;
    int called;
    int calls_per_tick;
    int always_running;
    int64_t stopping_ms;       /* -1: the default for its dialing mode */
    int64_t transition_due_ms; /* monotonic; when stopping/forced_stopping ends; 0 = none */
    int64_t next_tick_ms;      /* monotonic; next progress tick while on */
    int64_t attempts, connects;
    char *last_envelope;       /* last v2.outbound.campaigns.{id} frame sent, for faults */
    char *prev_envelope;
};

struct contact_list {
    char id[PRNG_UUID_LEN];
    char name[CAMPAIGN_NAME_MAX];
    char state[16]; /* IN_PROGRESS, FAILED, COMPLETED */
    int total_records;
    int completed_records;
    char failure_reason[128];
    int64_t version;
    int64_t date_created_ms, date_modified_ms;
    struct entity_ref division;
};

struct campaign_store {
    struct campaign **campaigns;
    size_t campaign_count, campaign_cap;
    struct contact_list **lists;
    size_t list_count, list_cap;
};

extern const char *const campaign_dialing_modes[6];

struct campaign_store *campaign_store_create(void);
void campaign_store_destroy(struct campaign_store *store);

/* Adds (the store takes ownership); returns -1 when the id is already taken. */
int campaign_store_add(struct campaign_store *store, struct campaign *campaign);
int campaign_store_add_list(struct campaign_store *store, struct contact_list *list);
struct campaign *campaign_store_find(const struct campaign_store *store, const char *id);
struct contact_list *campaign_store_find_list(const struct campaign_store *store,
                                              const char *id);
/* Removes and frees; returns -1 when unknown. */
int campaign_store_remove(struct campaign_store *store, const char *id);

/* A fresh campaign with realistic references drawn from rng; status "off", version 1. */
struct campaign *campaign_new(struct prng *rng, const char *name, const char *dialing_mode,
                              int64_t now_ms);
void campaign_free(struct campaign *campaign);
struct contact_list *contact_list_new(struct prng *rng, const char *name, int total_records,
                                      int64_t now_ms);

int campaign_status_is_known(const char *status);
int campaign_dialing_mode_is_known(const char *mode);
int campaign_percentage(const struct campaign *campaign);
int contact_list_percentage(const struct contact_list *list);

/* Applies the editable configuration fields present in json (name, abandonRate,
 * outboundLineCount, callerName, callerAddress, priority, noAnswerTimeout). Returns 1 when
 * something changed, 0 when nothing did, -1 (errstr names the field) on a bad value. */
int campaign_apply_config(struct campaign *c, const cJSON *json, char *errstr,
                          size_t errstr_size);

/* Each returns a new cJSON object the caller deletes. base_url is "http://host:port". */
cJSON *campaign_rest_json(const struct campaign *c, const char *base_url);
cJSON *campaign_event_json(const struct campaign *c);
cJSON *campaign_progress_rest_json(const struct campaign *c, const char *base_url);
cJSON *campaign_progress_event_json(const struct campaign *c);
cJSON *campaign_stats_rest_json(const struct campaign *c);
cJSON *campaign_stats_event_json(const struct campaign *c, int64_t now_ms);
cJSON *contact_list_rest_json(const struct contact_list *l, const char *base_url);
cJSON *contact_list_import_rest_json(const struct contact_list *l);
cJSON *contact_list_import_event_json(const struct contact_list *l);

#endif
