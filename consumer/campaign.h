/*
 * What the platform says about one outbound campaign: the body of a
 * v2.outbound.campaigns.{id} notification or one REST Campaign object.
 *
 * Contract: every string is heap-owned by the update and NULL when the platform
 * did not send it; campaign_update_free() releases the update and all it owns.
 * Enumerated strings (campaignStatus, dialingMode) are kept verbatim, including
 * values this build does not know. Numbers the platform may omit carry a has_
 * flag. The body's text is not kept: the audit event carries the notification as
 * it arrived, and configuration changes are found by config_fingerprint, a hash over
 * the dialling configuration fields that both the notification and the REST model
 * carry (references by id only), so a stream body and a REST object describing the
 * same configuration hash alike.
 */
#ifndef CRELAY_CONSUMER_CAMPAIGN_H
#define CRELAY_CONSUMER_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct campaign_ref {
    char *id;
    char *name;
};

struct campaign_error {
    char *error;
    char *details;
};

struct campaign_update {
    char *id;
    char *name;
    char *campaign_status; /* raw, e.g. "on", "forced_stopping", or a future value */
    char *dialing_mode;    /* raw, e.g. "predictive" */
    int64_t version;
    bool has_version;
    int64_t date_created_ms;
    bool has_date_created;
    int64_t date_modified_ms;
    bool has_date_modified;
    struct campaign_ref contact_list;
    struct campaign_ref division;
    struct campaign_ref edge_group;
    struct campaign_ref site;
    struct campaign_ref queue;
    int64_t priority;
    bool has_priority;
    struct campaign_error *errors;
    size_t error_count;
    uint64_t config_fingerprint;
};

/* An empty update (all absent); aborts on allocation failure. */
struct campaign_update *campaign_update_new(void);
void campaign_update_free(struct campaign_update *update);

#endif
