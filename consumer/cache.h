/*
 * The live picture of every outbound campaign, keyed by campaign id.
 *
 * Contract: one writer (the stream loop) owns a cache; it is not thread-safe.
 * Pure and I/O-free: time comes in as now_ms arguments. Lookups are O(1) hash
 * lookups. Repeated short strings (status, dialing mode, division, contact list,
 * edge group, site, queue, import state) are interned and shared between entries.
 *
 * cache_apply() merges one campaign_update and says what changed:
 *  - Ordering: the platform's version orders updates. An update whose version is
 *    lower than the cached one is stale; an equal version is a duplicate unless its
 *    dateModified is newer (the platform is not known to bump the version on a
 *    status-only change). An update without a version is accepted only when its
 *    dateModified is newer, else it counts as a duplicate (a dateModified is newer
 *    than none). Stale and duplicate
 *    updates change nothing and are counted.
 *  - An accepted update is a complete object: fields it lacks are cleared, except
 *    campaignStatus, which keeps its last known value when a body omits it.
 *  - The first update of an id is FIRST_SIGHT and its origin becomes SNAPSHOT.
 *  - A changed raw status is a STATE_TRANSITION with the previous raw status and
 *    state and the lifecycle verdict (a raw change within one canonical state,
 *    off -> forced_off, has verdict SAME); config_changed says whether other
 *    fields changed too. state_entered_ms moves only when the canonical state does.
 *  - Otherwise a change of any tracked field or of the configuration fingerprint is
 *    CONFIG_ONLY, and an accepted update that changes nothing is VERSION_ONLY.
 * Pointers to entries (cache_get, cache_next, cache_change.entry) stay valid until
 * that entry is removed or the cache is restored or destroyed.
 *
 * Snapshots are JSON with entries sorted by id, so serialize -> restore ->
 * serialize is byte-identical. Restore is all or nothing: on error the cache is
 * unchanged and errstr names the offending field.
 */
#ifndef CRELAY_CONSUMER_CACHE_H
#define CRELAY_CONSUMER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/campaign.h"
#include "consumer/lifecycle.h"
#include "util/strbuf.h"

enum cache_origin {
    CACHE_ORIGIN_STREAM = 0, /* a notification on the WebSocket */
    CACHE_ORIGIN_RECONCILE,  /* a REST read after a (re)connect or periodic check */
    CACHE_ORIGIN_SNAPSHOT,   /* first sight of a campaign: no previous state known */
};
const char *cache_origin_name(enum cache_origin origin); /* "stream", "reconcile", "snapshot" */

enum cache_change_kind {
    CACHE_NONE_STALE = 0,
    CACHE_NONE_DUPLICATE,
    CACHE_VERSION_ONLY,
    CACHE_FIRST_SIGHT,
    CACHE_CONFIG_ONLY,
    CACHE_STATE_TRANSITION,
};
const char *cache_change_kind_name(enum cache_change_kind kind);

/* The tracked fields whose changes a config change reports, in report order. */
enum cache_field {
    CACHE_FIELD_NAME = 0,
    CACHE_FIELD_DIALING_MODE,
    CACHE_FIELD_CONTACT_LIST,
    CACHE_FIELD_DIVISION,
    CACHE_FIELD_EDGE_GROUP,
    CACHE_FIELD_SITE,
    CACHE_FIELD_QUEUE,
    CACHE_FIELD_PRIORITY,
    CACHE_FIELD_ERRORS,
    CACHE_FIELD_SETTINGS, /* anything in the configuration fingerprint */
    CACHE_FIELD_COUNT
};
/* The event field names: "name", "dialingMode", "contactListId", … "settings". */
const char *cache_field_name(enum cache_field field);

#define CACHE_EVENT_ID_MAX 65

struct cache_entry {
    char *id;
    char *name;
    const char *raw_status; /* interned; NULL until the platform reports one */
    const char *dialing_mode;
    const char *contact_list_id;
    const char *division_id;
    const char *edge_group_id;
    const char *site_id;
    const char *queue_id;
    char *errors_summary; /* "error: details; …", NULL when the campaign has no errors */
    enum lifecycle_state state;
    int64_t version;
    int64_t priority;
    int64_t date_created_ms;
    int64_t date_modified_ms;
    int64_t state_entered_ms; /* when it entered its current canonical state */
    int64_t last_seen_ms;     /* when the last accepted update arrived */
    double progress_percentage;
    uint64_t config_fingerprint;
    bool has_version : 1;
    bool has_priority : 1;
    bool has_date_created : 1;
    bool has_date_modified : 1;
    bool has_progress : 1;
    char last_event_id[CACHE_EVENT_ID_MAX]; /* "" until an event was emitted */
};

struct cache_field_change {
    enum cache_field field;
    char *before; /* text form; NULL when absent (or for SETTINGS, always) */
    char *after;
};

struct cache_change {
    enum cache_change_kind kind;
    enum cache_origin origin; /* as given, or SNAPSHOT for FIRST_SIGHT */
    const struct cache_entry *entry;
    /* The state before the update (STATE_TRANSITION and CONFIG_ONLY). */
    char *previous_status;
    enum lifecycle_state previous_state;
    int64_t previous_state_entered_ms;
    int64_t previous_version;
    bool previous_has_version;
    enum lifecycle_verdict verdict; /* STATE_TRANSITION only; UNCHECKED otherwise */
    bool config_changed;
    unsigned changed_fields; /* bit (1u << enum cache_field) per change */
    struct cache_field_change changes[CACHE_FIELD_COUNT];
    size_t change_count;
};
/* Frees what a change owns; safe on a zeroed change and idempotent. */
void cache_change_clear(struct cache_change *change);

struct cache_stats {
    uint64_t applied;
    uint64_t stale_dropped;
    uint64_t duplicate_dropped;
};

struct cache;

/* The cache borrows map, which must outlive it. */
struct cache *cache_create(const struct lifecycle_map *map);
void cache_destroy(struct cache *cache);

/* Merges u (borrowed). out is cleared first; release it with cache_change_clear().
 * Returns 0, or -1 when u has no id (nothing changes; out->kind is NONE_STALE). */
int cache_apply(struct cache *cache, const struct campaign_update *u, enum cache_origin origin,
                int64_t now_ms, struct cache_change *out);

const struct cache_entry *cache_get(const struct cache *cache, const char *id);
/* Removes the entry; returns 0, or -1 when the id is unknown. */
int cache_remove(struct cache *cache, const char *id);
size_t cache_count(const struct cache *cache);
/* for (size_t it = 0; (e = cache_next(cache, &it));) — unordered; no mutation inside. */
const struct cache_entry *cache_next(const struct cache *cache, size_t *iterator);
struct cache_stats cache_stats(const struct cache *cache);

/* Side facts that do not come with a campaign body. */
int cache_set_last_event_id(struct cache *cache, const char *id, const char *event_id);
int cache_set_progress(struct cache *cache, const char *id, double percentage);
/* Import state per contact list (NULL state forgets it); shared by every campaign
 * that dials the list. */
void cache_set_import_state(struct cache *cache, const char *contact_list_id,
                            const char *import_state);
const char *cache_import_state(const struct cache *cache, const char *contact_list_id);
/* The import state of the entry's contact list, NULL when unknown. */
const char *cache_entry_import_state(const struct cache *cache, const struct cache_entry *entry);

#define CACHE_SNAPSHOT_FORMAT "campaign-relay.cache.v1"
void cache_snapshot_serialize(const struct cache *cache, struct strbuf *out);
/* One entry as it appears in the snapshot's "campaigns" array, so a snapshot can be
 * kept as one row per campaign and reassembled as
 * {"format":CACHE_SNAPSHOT_FORMAT,"campaigns":[rows…],"contactLists":[…]}. */
void cache_entry_serialize(const struct cache_entry *entry, struct strbuf *out);
int cache_snapshot_restore(struct cache *cache, const char *text, size_t len, char *errstr,
                           size_t errstr_size);

#endif
