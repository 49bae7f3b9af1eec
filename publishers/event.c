#include "publishers/event.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "publishers/audit.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

struct relay_event *relay_event_create(const char *id, const char *type, const char *source,
                                       const char *subject, int64_t time_ms,
                                       enum event_family family, const char *data)
{
    if (!id || !type || !data || (unsigned)family >= EVENT_FAMILY_COUNT)
        return NULL;
    /* A view of the arguments, whose lengths relay_event_with_data measures. */
    const struct relay_event view = {.id = (char *)id, .type = (char *)type,
                                     .source = (char *)source, .subject = (char *)subject,
                                     .time_ms = time_ms, .family = family};
    size_t data_len = strlen(data);
    return relay_event_with_data(&view, xmemdup0(data, data_len), data_len);
}

/* Copies len bytes of text (NULL: none) and a NUL to *at; returns the copy. */
static char *place_text(char **at, const char *text, size_t len)
{
    char *copy = *at;
    if (len)
        memcpy(copy, text, len);
    copy[len] = '\0';
    *at += len + 1;
    return copy;
}

struct relay_event *relay_event_make(const struct relay_event_texts *texts, int64_t time_ms,
                                     enum event_family family, char *data, size_t data_len)
{
    if (!texts || !texts->id || !texts->type || !data ||
        (unsigned)family >= EVENT_FAMILY_COUNT) {
        free(data);
        return NULL;
    }
    size_t source_len = texts->source ? texts->source_len : 0;
    size_t subject_len = texts->subject ? texts->subject_len : 0;
    size_t text_bytes = texts->id_len + texts->type_len + source_len + subject_len + 4;
    struct relay_event *event = malloc(sizeof *event + text_bytes);
    if (!event)
        abort();
    char *at = (char *)(event + 1);
    *event = (struct relay_event){
        .id = place_text(&at, texts->id, texts->id_len),
        .type = place_text(&at, texts->type, texts->type_len),
        .source = place_text(&at, texts->source, source_len),
        .subject = place_text(&at, texts->subject, subject_len),
        .time_ms = time_ms,
        .family = family,
        .data = data,
        .data_len = data_len,
        .id_len = texts->id_len,
        .type_len = texts->type_len,
        .source_len = source_len,
        .subject_len = subject_len,
    };
    atomic_init(&event->refs, 1);
    return event;
}

struct relay_event *relay_event_with_data(const struct relay_event *event, char *data,
                                          size_t data_len)
{
    const struct relay_event_texts texts = {
        .id = event->id, .type = event->type, .source = event->source,
        .subject = event->subject,
        .id_len = relay_event_text_len(event->id, event->id_len),
        .type_len = relay_event_text_len(event->type, event->type_len),
        .source_len = event->source ? relay_event_text_len(event->source, event->source_len) : 0,
        .subject_len =
            event->subject ? relay_event_text_len(event->subject, event->subject_len) : 0,
    };
    return relay_event_make(&texts, event->time_ms, event->family, data, data_len);
}

struct relay_event *relay_event_share(const struct relay_event *event)
{
    struct relay_event *owned = (struct relay_event *)event;
    if (atomic_load_explicit(&owned->refs, memory_order_relaxed) > 0) {
        atomic_fetch_add_explicit(&owned->refs, 1, memory_order_relaxed);
        return owned;
    }
    size_t data_len = relay_event_data_len(event);
    struct relay_event *copy =
        relay_event_with_data(event, xmemdup0(event->data, data_len), data_len);
    if (!copy)
        abort(); /* the view was a valid event: only its strings were borrowed */
    return copy;
}

void relay_event_free(struct relay_event *event)
{
    if (!event)
        return;
    /* The release pairs with the acquire of the owner that frees: whatever an owner
     * did with the event happens before its strings are freed. */
    if (atomic_fetch_sub_explicit(&event->refs, 1, memory_order_release) > 1)
        return;
    atomic_thread_fence(memory_order_acquire);
    free(event->data);
    audit_seal_prep_free(event->seal);
    free(event);
}

void relay_event_to_structured_json(const struct relay_event *event, struct strbuf *out)
{
    char time_text[RFC3339_MS_LEN];
    time_format_rfc3339(event->time_ms, time_text);
    strbuf_append(out, "{\"specversion\":\"1.0\",\"id\":");
    strbuf_append_json_string(out, event->id);
    strbuf_append(out, ",\"source\":");
    strbuf_append_json_string(out, event->source);
    strbuf_append(out, ",\"type\":");
    strbuf_append_json_string(out, event->type);
    if (event->subject[0]) {
        strbuf_append(out, ",\"subject\":");
        strbuf_append_json_string(out, event->subject);
    }
    strbuf_append(out, ",\"time\":");
    strbuf_append_json_string(out, time_text);
    strbuf_append(out, ",\"datacontenttype\":\"application/json\"");
    if (event->subject[0]) {
        strbuf_append(out, ",\"partitionkey\":");
        strbuf_append_json_string(out, event->subject);
    }
    strbuf_append(out, ",\"data\":");
    strbuf_append(out, event->data[0] ? event->data : "null");
    strbuf_append_char(out, '}');
}

const char *event_family_name(enum event_family family)
{
    switch (family) {
    case EVENT_FAMILY_STATE: return "state";
    case EVENT_FAMILY_ALERT: return "alert";
    case EVENT_FAMILY_AUDIT: return "audit";
    default: return "unknown";
    }
}

enum event_family event_family_of_type(const char *unprefixed_type)
{
    if (strncmp(unprefixed_type, "alert.", 6) == 0)
        return EVENT_FAMILY_ALERT;
    if (strncmp(unprefixed_type, "audit.", 6) == 0)
        return EVENT_FAMILY_AUDIT;
    return EVENT_FAMILY_STATE;
}
