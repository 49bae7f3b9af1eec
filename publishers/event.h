/*
 * The relay's event record: one CloudEvents 1.0 event, as it flows from the cache
 * through the outbox to every sink.
 *
 * Contract: all strings are owned by the event and freed by relay_event_free(): id,
 * type, source and subject live in the event's own allocation (one per event, not one
 * per string: the service loop builds and frees a few events per notification), data
 * in its own heap block. `data` is the JSON text of the CloudEvents `data` member (an
 * object). `subject` is the campaign id for campaign-scoped events and the ordering key
 * for every sink (the Kafka message key); org-wide events use "" and share one ordering
 * lane.
 * `id` is deterministic: the same fact seen twice (stream and reconciliation)
 * yields the same id, so consumers can deduplicate.
 */
#ifndef CRELAY_PUBLISHERS_EVENT_H
#define CRELAY_PUBLISHERS_EVENT_H

#include <stdint.h>
#include <string.h>

#include "util/strbuf.h"

struct audit_seal_prep;

enum event_family {
    EVENT_FAMILY_STATE = 0, /* campaign.* and contactlist.*: topic sinks.kafka.topics.state */
    EVENT_FAMILY_ALERT,     /* alert.*:  sinks.kafka.topics.alerts */
    EVENT_FAMILY_AUDIT,     /* audit.*:  sinks.kafka.topics.audit */
    EVENT_FAMILY_COUNT
};

struct relay_event {
    char *id;
    char *type;      /* full type, prefix included: "cx.outbound.campaign.state_changed" */
    char *source;    /* "genesys-cloud://<domain>/outbound/campaigns/<id>" */
    char *subject;   /* campaign id, or "" for org-wide events */
    int64_t time_ms; /* CloudEvents `time`, ms since the epoch */
    enum event_family family;
    char *data;      /* JSON object text */
    /* strlen(data) where whoever set data knew it (a built or sealed event, a record
     * read from the outbox), else 0: read it through relay_event_data_len(). */
    size_t data_len;
    /* The other strings' lengths: set on every heap event, 0 in a view built on the
     * stack; read them through relay_event_text_len(). */
    size_t id_len, type_len, source_len, subject_len;
    /* Audit events only, optional: the seal's layout, computed where the event was
     * built (publishers/audit.h). Owned by the event. */
    struct audit_seal_prep *seal;
    /* Owners of a heap event (relay_event_create/adopt set 1; relay_event_share adds
     * one). 0 marks a view that borrows its strings (a struct on the stack): sharing
     * one copies it. */
    _Atomic int refs;
};

static inline size_t relay_event_data_len(const struct relay_event *event)
{
    return event->data_len ? event->data_len : strlen(event->data);
}

/* The length of one of an event's strings given the length field beside it:
 * relay_event_text_len(event->source, event->source_len). */
static inline size_t relay_event_text_len(const char *text, size_t known)
{
    return known ? known : strlen(text);
}

/* An event's short strings with their lengths, for relay_event_make(). */
struct relay_event_texts {
    const char *id, *type, *source, *subject; /* source and subject may be NULL: "" */
    size_t id_len, type_len, source_len, subject_len;
};

/* Allocates an event, copying every string. Returns NULL only on bad arguments. */
struct relay_event *relay_event_create(const char *id, const char *type, const char *source,
                                       const char *subject, int64_t time_ms,
                                       enum event_family family, const char *data);
/* Like relay_event_create, but takes data (a heap string of data_len bytes, 0 if not
 * known) instead of copying it: the builders make it for the event alone. It is freed,
 * and NULL returned, on bad arguments (no id, type or data, an unknown family). */
struct relay_event *relay_event_make(const struct relay_event_texts *texts, int64_t time_ms,
                                     enum event_family family, char *data, size_t data_len);
/* A heap event with event's strings, time and family and the given data (taken, as by
 * relay_event_make); event may be a view. */
struct relay_event *relay_event_with_data(const struct relay_event *event, char *data,
                                          size_t data_len);
/* Drops one owner; the last frees the event. */
void relay_event_free(struct relay_event *event);
/* Another owner for a heap event (the same pointer), or a heap copy of a borrowed view.
 * A shared event is read-only for every owner, on any thread: nothing may change it
 * once it has been shared. */
struct relay_event *relay_event_share(const struct relay_event *event);

/* Appends the CloudEvents structured-mode JSON (application/cloudevents+json) with
 * `partitionkey` set to the subject. Used by the webhook and file sinks. */
void relay_event_to_structured_json(const struct relay_event *event, struct strbuf *out);

/* "state", "alert", "audit"; the family of a type name by its catalogue prefix
 * (type without the configurable prefix: "alert.dead_letter" -> ALERT). */
const char *event_family_name(enum event_family family);
enum event_family event_family_of_type(const char *unprefixed_type);

#endif
