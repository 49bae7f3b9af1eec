/*
 * Decoding of notification WebSocket frames and of the outbound REST bodies the
 * relay reads (Campaign, the campaign listing envelope, ImportStatus).
 *
 * Contract: pure and I/O-free. Input text is borrowed, never kept. Decoding is
 * tolerant where the platform evolves (unknown fields ignored, unknown enum
 * strings kept verbatim, optional fields absent when missing or of a surprising
 * type) and strict where the relay's correctness depends on a field: malformed
 * JSON, invalid UTF-8, a non-string topicName, a non-object eventBody, a campaign
 * without a string id, a version that is not an integer — these return -1 (or
 * NULL) with a message in errstr that names the field and, for JSON syntax
 * errors, the byte offset. Nothing here crashes on any input.
 *
 * Integers (version, counts) are accepted when they are whole numbers of
 * magnitude at most 2^53, the range a JSON double carries exactly. Counters that
 * the event model sends as floats are decoded as doubles.
 *
 * A successfully decoded notification owns its strings; release them with
 * notification_clear(), which leaves the struct zeroed and reusable.
 */
#ifndef CRELAY_CONSUMER_DECODE_H
#define CRELAY_CONSUMER_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/campaign.h"

struct cJSON;
struct json_arena;

enum notification_kind {
    NOTIFY_HEARTBEAT = 0,        /* channel.metadata "WebSocket Heartbeat" */
    NOTIFY_PONG,                 /* channel.metadata "pong", the answer to our ping */
    NOTIFY_CHANNEL_METADATA,     /* channel.metadata with any other message */
    NOTIFY_SOCKET_CLOSING,       /* v2.system.socket_closing: move sockets within a minute */
    NOTIFY_NO_LONGER_SUBSCRIBED, /* v2.system.no_longer_subscribed.{id}: channel is lost */
    NOTIFY_TOKEN_REVOKED,        /* v2.system.token_revoked.{id} */
    NOTIFY_SYSTEM_OTHER,         /* any other v2.system.* topic */
    NOTIFY_CAMPAIGN,             /* v2.outbound.campaigns.{id} */
    NOTIFY_PROGRESS,             /* v2.outbound.campaigns.{id}.progress */
    NOTIFY_STATS,                /* v2.outbound.campaigns.{id}.stats */
    NOTIFY_IMPORT_STATUS,        /* v2.outbound.contactlists.{id}.importstatus */
    NOTIFY_UNKNOWN,              /* a topic the relay does not interpret; not an error */
    NOTIFY_KIND_COUNT
};

struct notification_system {
    char *system_topic_type; /* "no_longer_subscribed", "subscription_changed", … */
    char *reason;            /* "another_channel_subscribed", … */
    char *channel_id;
};

struct skipped_count {
    char *reason;
    int64_t count;
};

struct campaign_progress {
    char *campaign_id;   /* from the body, else from the topic */
    char *campaign_name;
    double contacts_called;
    bool has_contacts_called;
    double contacts_messaged;
    bool has_contacts_messaged;
    double total_contacts;
    bool has_total_contacts;
    double percentage;
    bool has_percentage;
    struct skipped_count *skipped;
    size_t skipped_count;
};

struct campaign_stats {
    char *campaign_id; /* from the topic */
    char *group_json;  /* the body's "group" object as compact JSON, NULL if absent */
    char *data_json;   /* the body's "data" array as compact JSON, NULL if absent */
    /* Best effort: a lines-utilisation figure found in a metric whose name mentions
     * line utilisation, or in a REST-style linesUtilization object. */
    double lines_utilization;
    bool has_lines_utilization;
};

struct import_status {
    char *contact_list_id;
    char *import_state; /* raw: "IN_PROGRESS", "FAILED", or whatever the platform adds */
    int64_t total_records;
    bool has_total_records;
    int64_t completed_records;
    bool has_completed_records;
    double percentage_complete;
    bool has_percentage_complete;
    char *failure_reason;
};

struct notification {
    enum notification_kind kind;
    char *topic;
    char *envelope_version;    /* "2"; NULL when absent */
    char *correlation_id;      /* metadata.CorrelationId; NULL when absent */
    char *topic_entity_id;     /* the {id} in a campaign or contact-list topic */
    char *message;             /* eventBody.message of metadata and system topics */
    struct notification_system system;
    struct campaign_update *campaign; /* NOTIFY_CAMPAIGN only; owned */
    struct campaign_progress progress;
    struct campaign_stats stats;
    struct import_status import_status;
};

/* Decodes one text frame. Returns 0 and fills *out, or -1 with errstr set and *out
 * left zeroed. */
int decode_notification(const char *frame, size_t len, struct notification *out,
                        char *errstr, size_t errstr_size);
/* The same with the frame's tree in arena (util/json_arena.h), which must be the
 * calling thread's and hold no tree; NULL parses on the heap. *out keeps nothing of
 * the tree. */
int decode_notification_in(struct json_arena *arena, const char *frame, size_t len,
                           struct notification *out, char *errstr, size_t errstr_size);
/* decode_notification_in() that hands the frame's tree on, for work that would
 * otherwise parse the frame again (its audit event's canonical form). When the frame
 * decoded and its tree holds all its text says (json_arena_tree_is_cut() is false),
 * *tree is the tree, and the caller releases it with json_arena_release(arena, *tree)
 * before the arena's next parse. Otherwise *tree is NULL and the arena is free. arena
 * must not be NULL. */
int decode_notification_keep(struct json_arena *arena, const char *frame, size_t len,
                             struct notification *out, struct cJSON **tree,
                             char *errstr, size_t errstr_size);
void notification_clear(struct notification *notification);
/* "heartbeat", "pong", "campaign", …; stable names for metrics and logs. */
const char *notification_kind_name(enum notification_kind kind);

/* A REST Campaign object, already parsed or as text. NULL with errstr on error. */
struct campaign_update *decode_campaign_object(const struct cJSON *object, char *errstr,
                                               size_t errstr_size);
struct campaign_update *decode_campaign_text(const char *text, size_t len, char *errstr,
                                             size_t errstr_size);

/* The REST paging envelope of GET /api/v2/outbound/campaigns. An entity that does
 * not decode is skipped and counted (skipped, first_skip_reason) rather than
 * failing the page: one broken campaign must not hide the others. */
struct campaign_listing {
    struct campaign_update **entities;
    size_t entity_count;
    int64_t page_size;
    int64_t page_number;
    int64_t total;
    int64_t page_count; /* 0 when absent */
    char *next_uri;     /* NULL on the last page */
    bool has_entities;  /* the envelope had an entities array (possibly empty) */
    size_t skipped;
    char first_skip_reason[160];
};
int decode_campaign_listing(const char *text, size_t len, struct campaign_listing *out,
                            char *errstr, size_t errstr_size);
void campaign_listing_clear(struct campaign_listing *listing);

/* GET /api/v2/outbound/contactlists/{id}/importstatus (fields state, percentComplete).
 * contact_list_id comes from the request path. */
int decode_import_status_rest(const char *text, size_t len, const char *contact_list_id,
                              struct import_status *out, char *errstr, size_t errstr_size);
void import_status_clear(struct import_status *status);

#endif
