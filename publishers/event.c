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
    return relay_event_adopt(id, xstrdup(type), xstrdup_or_empty(source), subject, time_ms,
                             family, xstrdup(data));
}

struct relay_event *relay_event_adopt(const char *id, char *type, char *source,
                                      const char *subject, int64_t time_ms,
                                      enum event_family family, char *data)
{
    if (!id || !type || !data || (unsigned)family >= EVENT_FAMILY_COUNT) {
        free(type);
        free(source);
        free(data);
        return NULL;
    }
    struct relay_event *event = calloc(1, sizeof *event);
    if (!event)
        abort();
    event->id = xstrdup_or_empty(id);
    event->type = type;
    event->source = source ? source : xstrdup_or_empty(NULL);
    event->subject = xstrdup_or_empty(subject);
    event->time_ms = time_ms;
    event->family = family;
    event->data = data;
    atomic_init(&event->refs, 1);
    return event;
}

struct relay_event *relay_event_share(const struct relay_event *event)
{
    struct relay_event *owned = (struct relay_event *)event;
    if (atomic_load_explicit(&owned->refs, memory_order_relaxed) > 0) {
        atomic_fetch_add_explicit(&owned->refs, 1, memory_order_relaxed);
        return owned;
    }
    struct relay_event *copy = relay_event_create(event->id, event->type, event->source,
                                                  event->subject, event->time_ms,
                                                  event->family, event->data);
    if (!copy)
        abort(); /* the view was a valid event: only its strings were borrowed */
    copy->data_len = event->data_len;
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
    free(event->id);
    free(event->type);
    free(event->source);
    free(event->subject);
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
