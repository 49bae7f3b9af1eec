/*
 * Builders for the relay's CloudEvents: one function per catalogue entry, each
 * turning a cache change or a decoded notification into a struct relay_event.
 *
 * Contract: pure. Builders read no clock (observed and received times are
 * arguments), borrow their inputs and return a new event the caller frees with
 * relay_event_free(), or NULL when the input cannot make that event (wrong change
 * kind, missing id; the builders that take outside text also fill errstr).
 *
 * Type names are "<prefix><catalogue name>" with a configurable prefix (default
 * "cx.outbound."). source is "genesys-cloud://<domain>/outbound/campaigns/<id>"
 * for campaign events, ".../outbound/contactlists/<id>" for import status,
 * ".../notifications" for audit and "genesys-cloud://<domain>/relay" for alerts
 * without a campaign.
 *
 * Event ids are the first 32 hex digits of SHA-256 over the identifying facts of
 * each type (unprefixed type first, fields separated by NUL), so the same fact
 * observed twice, by the stream and by reconciliation, has the same id. Where a
 * version is a fact, a campaign without one uses its dateModified instead.
 *   campaign.state_changed   campaign id, version, current raw status
 *   campaign.config_changed  campaign id, version
 *   campaign.discovered      campaign id, version
 *   campaign.removed         campaign id, last known version
 *   campaign.progress        campaign id, called, messaged, total, percentage
 *   campaign.dialer_stats    campaign id, group JSON, data JSON
 *   contactlist.import_status list id, state, total, completed, percentage, failure
 *   audit.notification       topic, receive time (ms), raw notification text
 *   alert.*                  dedup key, occurrence (the caller's discriminator of
 *                            one raising of that alert, e.g. the stuck state's
 *                            entry time)
 * time is the platform's dateModified when known, else the observed time.
 */
#ifndef CRELAY_PUBLISHERS_EVENTS_H
#define CRELAY_PUBLISHERS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "consumer/cache.h"
#include "consumer/decode.h"
#include "publishers/event.h"

#define EVENTS_DEFAULT_PREFIX "cx.outbound."
#define EVENTS_ID_HEX_LEN 32

struct events_builder;

/* NULL prefix means EVENTS_DEFAULT_PREFIX; domain is e.g. "mypurecloud.com".
 * Returns NULL when domain is NULL or empty. */
struct events_builder *events_builder_create(const char *type_prefix, const char *domain);
void events_builder_destroy(struct events_builder *builder);
const char *events_builder_prefix(const struct events_builder *builder);

/* How and when a fact was observed. correlation_id is the notification's
 * metadata.CorrelationId, NULL for facts read over REST. */
struct events_observation {
    int64_t observed_ms;
    const char *correlation_id;
};

/* From a STATE_TRANSITION or FIRST_SIGHT change (previous is null for first sight). */
struct relay_event *events_state_changed(const struct events_builder *builder,
                                         const struct cache_change *change,
                                         const struct events_observation *observation);
/* From a CONFIG_ONLY change, or a STATE_TRANSITION with config_changed. */
struct relay_event *events_config_changed(const struct events_builder *builder,
                                          const struct cache_change *change,
                                          const struct events_observation *observation);
/* From a FIRST_SIGHT change. */
struct relay_event *events_discovered(const struct events_builder *builder,
                                      const struct cache_change *change,
                                      const struct events_observation *observation);
/* Build before cache_remove(): the entry is the last known picture. reason says why
 * ("not_found" for a 404, "absent_from_listing", …). */
struct relay_event *events_removed(const struct events_builder *builder,
                                   const struct cache_entry *entry, const char *reason,
                                   const struct events_observation *observation);
struct relay_event *events_progress(const struct events_builder *builder,
                                    const struct campaign_progress *progress,
                                    const struct events_observation *observation);
struct relay_event *events_dialer_stats(const struct events_builder *builder,
                                        const struct campaign_stats *stats,
                                        const struct events_observation *observation);
struct relay_event *events_import_status(const struct events_builder *builder,
                                         const struct import_status *status,
                                         const struct events_observation *observation);

/* One notification as received. raw must be the JSON text of the frame (it is
 * embedded as a JSON value, not re-encoded, so the audit record keeps its bytes).
 * prev_hash and hash come from the audit chain; NULL leaves the member out, so the
 * chain can hash the event without them and then build it again with them. */
struct audit_notification {
    const char *topic;
    const char *raw;
    size_t raw_len;
    int64_t received_ms;
    const char *correlation_id;
    const char *prev_hash;
    const char *hash;
    /* Optional, for events_audit_decoded_notification(): raw's parse (see
     * decode_notification_keep()), so that the seal's layout is not read from raw. */
    const struct cJSON *raw_tree;
};
struct relay_event *events_audit_notification(const struct events_builder *builder,
                                              const struct audit_notification *audit,
                                              char *errstr, size_t errstr_size);
/* The same for a frame the caller has already parsed (the consumer audits only frames
 * that decoded): raw is not parsed again, only checked for NUL bytes. The event also
 * carries its seal's layout (event->seal, see audit_seal_prepare()), so a builder on
 * the decode thread leaves the service loop only the hashing. */
struct relay_event *events_audit_decoded_notification(const struct events_builder *builder,
                                                      const struct audit_notification *audit,
                                                      char *errstr, size_t errstr_size);

enum events_severity {
    EVENTS_SEVERITY_INFO = 0,
    EVENTS_SEVERITY_WARNING,
    EVENTS_SEVERITY_CRITICAL,
};
const char *events_severity_name(enum events_severity severity);

struct events_alert {
    const char *name;        /* "transition_stuck" -> type "<prefix>alert.transition_stuck" */
    enum events_severity severity;
    const char *dedup_key;   /* stable across re-raises of one condition */
    const char *occurrence;  /* distinguishes separate raisings; "" if there is only one */
    const char *summary;     /* one line for humans */
    const struct cache_entry *campaign; /* optional context; NULL for org-wide alerts */
    const char *details_json;           /* optional JSON object text */
    int64_t raised_ms;
};
struct relay_event *events_alert(const struct events_builder *builder,
                                 const struct events_alert *alert, char *errstr,
                                 size_t errstr_size);

/* The deterministic id: SHA-256 of the NUL-separated facts, first 32 hex digits.
 * out needs EVENTS_ID_HEX_LEN + 1 bytes. Exposed for tests and for modules that
 * must predict an id. */
void events_derive_id(const char *const *facts, size_t fact_count,
                      char out[EVENTS_ID_HEX_LEN + 1]);

#endif
