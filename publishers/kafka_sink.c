#include "publishers/kafka_sink.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "util/log.h"
#include "util/timeutil.h"

#define KAFKA_SINK_DEFAULT_FLUSH_MS 10000
#define KAFKA_SINK_CAUSE_MAX        512
#define KAFKA_SINK_LOG              "kafka"
/* Rebuilds in a row whose first failed record is the same one before that record
 * goes to the dead-letter callback: it is the record, not the cluster. */
#define KAFKA_SINK_POISON_STRIKES   3
/* Rebuilds in quick succession (a cluster refusing everything) are spaced out. */
#define KAFKA_SINK_REBUILD_BACKOFF_FIRST_MS 50
#define KAFKA_SINK_REBUILD_BACKOFF_MAX_MS   5000

/* One submitted record waiting for its delivery report. */
struct pending_record {
    int64_t seq;
    int64_t submit_us; /* read only for an on_delivery callback: 0 without one */
    /* The producer reads the value from the event itself (no copy), so the record owns
     * a reference until no producer can touch it any more: it is done, or its producer
     * is destroyed. NULL for a dead-lettered record. */
    struct relay_event *event;
    bool done;
};

/* Submitted records in submission (= seq) order: a ring buffer. */
struct pending_ring {
    struct pending_record *items;
    size_t capacity;
    size_t head;
    size_t count;
};

struct kafka_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *topics[EVENT_FAMILY_COUNT];
};

struct kafka_sink {
    struct kafka_producer active;   /* takes new records */
    struct kafka_producer draining; /* the previous one, finishing its requests */
    int64_t drain_deadline_ms;
    int rebuild_backoff_ms;        /* 0 until a rebuild follows one without a delivery */
    int64_t rebuild_not_before_ms;

    /* What is needed to build the producer again. */
    char *brokers;
    char *topic_names[EVENT_FAMILY_COUNT];
    struct kafka_sink_property *properties;
    size_t property_count;
    int flush_timeout_ms;
    kafka_sink_delivery_fn on_delivery;
    void *on_delivery_opaque;
    sink_dead_letter_fn dead_letter;
    void *dead_letter_opaque;

    struct pending_ring pending;
    int64_t done_seq;
    bool epoch_has_seq;
    int64_t last_submitted_seq;

    bool rebuild_pending;
    char rebuild_cause[KAFKA_SINK_CAUSE_MAX];
    bool replay_armed;
    bool create_failed; /* the last attempt to build a producer failed */

    /* The lowest seq whose delivery failed with this producer, and why. */
    int64_t failed_seq;
    char failed_reason[256];
    /* The record that failed first in consecutive rebuilds, and how many times. */
    int64_t poison_seq;
    int poison_strikes;
    bool dead_letter_armed; /* dead-letter poison_seq when it is offered again */
    rd_kafka_resp_err_t last_logged_error;

    _Atomic uint64_t produced;
    _Atomic uint64_t delivered;
    _Atomic uint64_t dr_errors;
    _Atomic uint64_t rebuilds;
    _Atomic uint64_t fatal_errors;
    _Atomic uint64_t busy;
    _Atomic uint64_t dead_letters;
};

/* ---- pending ring -------------------------------------------------------- */

static struct pending_record *ring_at(struct pending_ring *ring, size_t index)
{
    return &ring->items[(ring->head + index) % ring->capacity];
}

static void ring_push(struct pending_ring *ring, struct pending_record record)
{
    if (ring->count == ring->capacity) {
        size_t capacity = ring->capacity ? ring->capacity * 2 : 1024;
        struct pending_record *items = malloc(capacity * sizeof *items);
        if (!items)
            abort();
        for (size_t i = 0; i < ring->count; i++)
            items[i] = *ring_at(ring, i);
        free(ring->items);
        ring->items = items;
        ring->capacity = capacity;
        ring->head = 0;
    }
    *ring_at(ring, ring->count++) = record;
}

/* Releases the head record; its producer is done with its value. */
static void ring_pop(struct pending_ring *ring)
{
    struct pending_record *record = ring_at(ring, 0);
    relay_event_free(record->event);
    record->event = NULL;
    ring->head = (ring->head + 1) % ring->capacity;
    ring->count--;
}

/* Only once no producer holds a reference to the records' values. */
static void ring_clear(struct pending_ring *ring)
{
    while (ring->count > 0)
        ring_pop(ring);
    ring->head = 0;
}

/* Seqs increase from head to tail within a replay epoch, and are usually consecutive
 * (a sink's filter and targeted records leave gaps): try the place a consecutive run
 * would put seq first, then search. */
static struct pending_record *ring_find(struct pending_ring *ring, int64_t seq)
{
    if (ring->count == 0)
        return NULL;
    int64_t offset = seq - ring_at(ring, 0)->seq;
    if (offset >= 0 && (uint64_t)offset < ring->count) {
        struct pending_record *guess = ring_at(ring, (size_t)offset);
        if (guess->seq == seq)
            return guess;
    }
    size_t low = 0, high = ring->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        struct pending_record *record = ring_at(ring, mid);
        if (record->seq == seq)
            return record;
        if (record->seq < seq)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}

/* ---- producer lifecycle ---------------------------------------------------- */

static bool is_acks_property(const char *name)
{
    return strcmp(name, "acks") == 0 || strcmp(name, "request.required.acks") == 0;
}

/* The guarantees every relay producer keeps: no property may weaken them. */
static int check_property(const struct kafka_sink_property *property, char *errstr,
                          size_t errstr_size)
{
    const char *name = property->name, *value = property->value;
    if (is_acks_property(name) && strcasecmp(value, "all") != 0 && strcmp(value, "-1") != 0) {
        snprintf(errstr, errstr_size,
                 "kafka property '%s=%s': the relay needs acks=all (or -1) so that a delivery "
                 "report proves the record is replicated",
                 name, value);
        return -1;
    }
    if (strcmp(name, "enable.idempotence") == 0 && strcasecmp(value, "true") != 0) {
        snprintf(errstr, errstr_size,
                 "kafka property 'enable.idempotence=%s': the relay needs the idempotent "
                 "producer (true) to keep per-campaign order across retries",
                 value);
        return -1;
    }
    return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                    size_t errstr_size)
{
    char reason[256];
    if (rd_kafka_conf_set(conf, name, value, reason, sizeof reason) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property '%s=%s': %s", name, value, reason);
        return -1;
    }
    return 0;
}

static void schedule_rebuild(struct kafka_sink *sink, const char *cause)
{
    if (sink->rebuild_pending)
        return; /* the first cause is the one worth logging */
    sink->rebuild_pending = true;
    snprintf(sink->rebuild_cause, sizeof sink->rebuild_cause, "%s", cause);
}

static void on_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
    struct kafka_sink *sink = opaque;
    bool from_active = rk == sink->active.rk;
    if (!from_active && rk != sink->draining.rk)
        return; /* a producer being closed: its records are offered again */
    int64_t seq = (int64_t)(intptr_t)message->_private;
    if (message->err) {
        if (message->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
            message->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
            return;
        atomic_fetch_add(&sink->dr_errors, 1);
        if (seq < sink->failed_seq) {
            sink->failed_seq = seq;
            snprintf(sink->failed_reason, sizeof sink->failed_reason, "kafka: %s",
                     rd_kafka_err2str(message->err));
        }
        char cause[KAFKA_SINK_CAUSE_MAX];
        snprintf(cause, sizeof cause, "delivery of seq %" PRId64 " to %s [%" PRId32 "] failed: %s",
                 seq, rd_kafka_topic_name(message->rkt), message->partition,
                 rd_kafka_err2str(message->err));
        if (from_active)
            schedule_rebuild(sink, cause);
        return;
    }
    /* Also for a draining producer: a record that arrived is done, whoever sent it. */
    struct pending_record *record = ring_find(&sink->pending, seq);
    if (!record || record->done)
        return; /* forgotten by a new replay epoch, which offers it again */
    record->done = true;
    atomic_fetch_add(&sink->delivered, 1);
    if (from_active)
        sink->rebuild_backoff_ms = 0;
    if (seq == sink->poison_seq)
        sink->poison_strikes = 0;
    if (sink->on_delivery)
        sink->on_delivery(sink->on_delivery_opaque, seq, time_mono_us() - record->submit_us);
}

static void on_producer_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_sink *sink = opaque;
    if (rk != sink->active.rk)
        return;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        /* The cause is read from the producer when it is rebuilt. */
        schedule_rebuild(sink, reason);
        return;
    }
    /* Broker connection errors repeat while a cluster is away: log each kind once. */
    if (err != (int)sink->last_logged_error) {
        sink->last_logged_error = (rd_kafka_resp_err_t)err;
        log_warn(KAFKA_SINK_LOG, "producer: %s: %s", rd_kafka_err2name(err), reason);
    }
}

/* librdkafka's own log lines (connection failures, retries) would otherwise go to stderr
 * in its own format, beside the relay's structured log. Their errors already reach
 * on_producer_error, which reports each kind once, so they are kept for debugging. */
static void on_producer_log(const rd_kafka_t *rk, int level, const char *facility,
                            const char *message)
{
    (void)level;
    log_debug(KAFKA_SINK_LOG, "librdkafka %s: %s: %s", rd_kafka_name(rk), facility, message);
}

/* Drops whatever the producer still holds and frees it. The caller has taken it out
 * of the engine's slots first, so its last reports are ignored. */
static void producer_close(struct kafka_producer producer)
{
    if (!producer.rk)
        return;
    rd_kafka_purge(producer.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(producer.rk, 0);
    for (int i = 0; i < EVENT_FAMILY_COUNT; i++)
        if (producer.topics[i])
            rd_kafka_topic_destroy(producer.topics[i]);
    rd_kafka_destroy(producer.rk);
}

static struct kafka_producer producer_take(struct kafka_producer *slot)
{
    struct kafka_producer taken = *slot;
    memset(slot, 0, sizeof *slot);
    return taken;
}

static int producer_create(struct kafka_sink *sink, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", sink->brokers, errstr, errstr_size) != 0 ||
        conf_set(conf, "linger.ms", "5", errstr, errstr_size) != 0 ||
        /* Nagle holds a small produce request back until the previous segment is
         * acknowledged, and delayed ACKs make that 40 ms: the latency tail. */
        conf_set(conf, "socket.nagle.disable", "true", errstr, errstr_size) != 0 ||
        conf_set(conf, "partitioner", "murmur2", errstr, errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < sink->property_count; i++) {
        if (check_property(&sink->properties[i], errstr, errstr_size) != 0 ||
            conf_set(conf, sink->properties[i].name, sink->properties[i].value, errstr,
                     errstr_size) != 0)
            goto fail;
    }
    if (conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        conf_set(conf, "acks", "all", errstr, errstr_size) != 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery_report);
    rd_kafka_conf_set_error_cb(conf, on_producer_error);
    rd_kafka_conf_set_log_cb(conf, on_producer_log);
    rd_kafka_conf_set_opaque(conf, sink);

    char reason[512];
    sink->active.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
    if (!sink->active.rk) {
        snprintf(errstr, errstr_size, "kafka producer: %s", reason);
        goto fail;
    }
    for (int i = 0; i < EVENT_FAMILY_COUNT; i++) {
        sink->active.topics[i] = rd_kafka_topic_new(sink->active.rk, sink->topic_names[i], NULL);
        if (!sink->active.topics[i]) {
            snprintf(errstr, errstr_size, "kafka topic '%s': %s", sink->topic_names[i],
                     rd_kafka_err2str(rd_kafka_last_error()));
            producer_close(producer_take(&sink->active));
            return -1;
        }
    }
    sink->last_logged_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    return 0;

fail:
    rd_kafka_conf_destroy(conf);
    return -1;
}

/* A record that fails first again and again would replay forever: after a few
 * strikes it goes to the dead-letter callback (when there is one) on its next offer. */
static void count_poison_strike(struct kafka_sink *sink)
{
    if (sink->failed_seq == INT64_MAX)
        return; /* a fatal error with no failed record */
    if (sink->failed_seq == sink->poison_seq) {
        sink->poison_strikes++;
    } else {
        sink->poison_seq = sink->failed_seq;
        sink->poison_strikes = 1;
    }
    sink->failed_seq = INT64_MAX;
    if (sink->poison_strikes >= KAFKA_SINK_POISON_STRIKES && sink->dead_letter &&
        !sink->dead_letter_armed) {
        sink->dead_letter_armed = true;
        log_warn(KAFKA_SINK_LOG, "seq %" PRId64 " failed %d times in a row (%s); it goes to "
                 "the dead-letter table when offered again", sink->poison_seq,
                 sink->poison_strikes, sink->failed_reason);
    }
}

/* Rebuilding starts by letting the old producer finish what it already sent: a
 * purged request can still reach the broker, and landing after the replay would
 * break per-key order. Unsent records are dropped; they are offered again. */
static void drain_start(struct kafka_sink *sink)
{
    char fatal[256];
    rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error(sink->active.rk, fatal, sizeof fatal);
    if (fatal_err) {
        /* The root cause, even when a failed report was seen first. */
        atomic_fetch_add(&sink->fatal_errors, 1);
        snprintf(sink->rebuild_cause, sizeof sink->rebuild_cause, "fatal producer error %s: %s",
                 rd_kafka_err2name(fatal_err), fatal);
    }
    log_warn(KAFKA_SINK_LOG,
             "rebuilding the producer after %s; records not delivered will be offered again",
             sink->rebuild_cause);
    atomic_fetch_add(&sink->rebuilds, 1);
    sink->draining = producer_take(&sink->active);
    sink->drain_deadline_ms = time_mono_ms() + sink->flush_timeout_ms;
    rd_kafka_purge(sink->draining.rk, RD_KAFKA_PURGE_F_QUEUE);
}

static void drain_finish(struct kafka_sink *sink)
{
    int left = rd_kafka_outq_len(sink->draining.rk);
    if (left > 0)
        log_warn(KAFKA_SINK_LOG, "the old producer still had %d records in flight after %d ms; "
                 "abandoning them", left, sink->flush_timeout_ms);
    producer_close(producer_take(&sink->draining));
    count_poison_strike(sink);
    sink->rebuild_not_before_ms = time_mono_ms() + sink->rebuild_backoff_ms;
    sink->rebuild_backoff_ms = sink->rebuild_backoff_ms == 0 ? KAFKA_SINK_REBUILD_BACKOFF_FIRST_MS
                               : sink->rebuild_backoff_ms >= KAFKA_SINK_REBUILD_BACKOFF_MAX_MS / 2
                                   ? KAFKA_SINK_REBUILD_BACKOFF_MAX_MS
                                   : sink->rebuild_backoff_ms * 2;
    /* Done-tracking stays blocked on what was lost until the runner starts the
     * replay epoch. */
    sink->replay_armed = true;
}

/* One step of the rebuild: drain the old producer, then build the new one. */
static void rebuild_step(struct kafka_sink *sink)
{
    if (sink->active.rk)
        drain_start(sink);
    if (sink->draining.rk) {
        if (rd_kafka_outq_len(sink->draining.rk) > 0 && time_mono_ms() < sink->drain_deadline_ms)
            return;
        drain_finish(sink);
    }
    if (time_mono_ms() < sink->rebuild_not_before_ms)
        return;
    char errstr[512];
    if (producer_create(sink, errstr, sizeof errstr) != 0) {
        /* The same configuration built a producer before, so this is transient
         * (memory, threads): keep the cause and try again on the next poll. */
        log_error(KAFKA_SINK_LOG, "rebuilding the producer failed: %s", errstr);
        snprintf(sink->rebuild_cause, sizeof sink->rebuild_cause, "%s", errstr);
        sink->create_failed = true;
        return;
    }
    sink->create_failed = false;
    sink->rebuild_pending = false;
}

/* ---- public API ------------------------------------------------------------ */

static char *dup_string(const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        abort();
    return copy;
}

struct kafka_sink *kafka_sink_create(const struct kafka_sink_options *options, char *errstr,
                                     size_t errstr_size)
{
    if (!options || !options->brokers || !options->brokers[0]) {
        snprintf(errstr, errstr_size, "kafka sink: no brokers given (bootstrap.servers)");
        return NULL;
    }
    for (int i = 0; i < EVENT_FAMILY_COUNT; i++) {
        if (!options->topics[i] || !options->topics[i][0]) {
            snprintf(errstr, errstr_size, "kafka sink: no topic given for %s events",
                     event_family_name((enum event_family)i));
            return NULL;
        }
    }
    if (options->flush_timeout_ms < 0) {
        snprintf(errstr, errstr_size, "kafka sink: flush timeout %d ms is negative",
                 options->flush_timeout_ms);
        return NULL;
    }
    for (size_t i = 0; i < options->property_count; i++) {
        const struct kafka_sink_property *property = &options->properties[i];
        if (!property->name || !property->name[0] || !property->value) {
            snprintf(errstr, errstr_size, "kafka sink: property %zu has no name or value", i + 1);
            return NULL;
        }
    }

    struct kafka_sink *sink = calloc(1, sizeof *sink);
    if (!sink)
        abort();
    sink->done_seq = -1;
    sink->failed_seq = INT64_MAX;
    sink->poison_seq = -1;
    sink->brokers = dup_string(options->brokers);
    for (int i = 0; i < EVENT_FAMILY_COUNT; i++)
        sink->topic_names[i] = dup_string(options->topics[i]);
    if (options->property_count > 0) {
        sink->properties = calloc(options->property_count, sizeof *sink->properties);
        if (!sink->properties)
            abort();
        for (size_t i = 0; i < options->property_count; i++) {
            sink->properties[i].name = dup_string(options->properties[i].name);
            sink->properties[i].value = dup_string(options->properties[i].value);
            sink->property_count++;
        }
    }
    sink->flush_timeout_ms =
        options->flush_timeout_ms ? options->flush_timeout_ms : KAFKA_SINK_DEFAULT_FLUSH_MS;
    sink->on_delivery = options->on_delivery;
    sink->on_delivery_opaque = options->on_delivery_opaque;
    sink->dead_letter = options->dead_letter;
    sink->dead_letter_opaque = options->dead_letter_opaque;

    if (producer_create(sink, errstr, errstr_size) != 0) {
        kafka_sink_destroy(sink);
        return NULL;
    }
    return sink;
}

void kafka_sink_destroy(struct kafka_sink *sink)
{
    if (!sink)
        return;
    if (sink->active.rk)
        rd_kafka_flush(sink->active.rk, sink->flush_timeout_ms);
    producer_close(producer_take(&sink->active));
    producer_close(producer_take(&sink->draining));
    ring_clear(&sink->pending);
    free(sink->brokers);
    for (int i = 0; i < EVENT_FAMILY_COUNT; i++)
        free(sink->topic_names[i]);
    for (size_t i = 0; i < sink->property_count; i++) {
        free((char *)sink->properties[i].name);
        free((char *)sink->properties[i].value);
    }
    free(sink->properties);
    free(sink->pending.items);
    free(sink);
}

/* Errors librdkafka raises at produce time that no retry can cure. */
static bool is_permanent_produce_error(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
}

/* A header whose name is a literal: its length is known here, not counted per message. */
#define ADD_HEADER(headers, name, value, value_len)                                        \
    rd_kafka_header_add((headers), (name), (ssize_t)sizeof(name) - 1, (value), (value_len))
#define ADD_LITERAL_HEADER(headers, name, literal)                                         \
    ADD_HEADER((headers), name, (literal), (ssize_t)sizeof(literal) - 1)

/* CloudEvents Kafka binary binding: attributes as ce_ headers, data as the value. */
static rd_kafka_headers_t *build_headers(const struct relay_event *event, const char *subject,
                                         size_t subject_len)
{
    char time_text[RFC3339_MS_LEN];
    time_format_rfc3339(event->time_ms, time_text);
    const char *source = event->source ? event->source : "";
    rd_kafka_headers_t *headers = rd_kafka_headers_new(7);
    ADD_LITERAL_HEADER(headers, "ce_specversion", "1.0");
    ADD_HEADER(headers, "ce_id", event->id,
               (ssize_t)relay_event_text_len(event->id, event->id_len));
    ADD_HEADER(headers, "ce_source", source,
               (ssize_t)relay_event_text_len(source, event->source_len));
    ADD_HEADER(headers, "ce_type", event->type,
               (ssize_t)relay_event_text_len(event->type, event->type_len));
    ADD_HEADER(headers, "ce_time", time_text, (ssize_t)strlen(time_text));
    if (subject_len > 0)
        ADD_HEADER(headers, "ce_subject", subject, (ssize_t)subject_len);
    ADD_LITERAL_HEADER(headers, "content-type", "application/json");
    return headers;
}

/* The relay measures delivery in its sink runner and passes no callback: a clock
 * reading per message is then work for nobody. */
static int64_t submit_clock_us(const struct kafka_sink *sink)
{
    return sink->on_delivery ? time_mono_us() : 0;
}

/* The record is done by being handed over; it keeps its place in the done order. */
static void dead_letter_record(struct kafka_sink *sink, int64_t seq,
                               const struct relay_event *event, const char *reason)
{
    sink->dead_letter(sink->dead_letter_opaque, seq, event, reason);
    atomic_fetch_add(&sink->dead_letters, 1);
    ring_push(&sink->pending, (struct pending_record){seq, submit_clock_us(sink), NULL, true});
    sink->epoch_has_seq = true;
    sink->last_submitted_seq = seq;
}

enum sink_submit_result kafka_sink_submit(struct kafka_sink *sink, int64_t seq,
                                          const struct relay_event *event, char *errstr,
                                          size_t errstr_size)
{
    if (sink->rebuild_pending) {
        if (sink->create_failed) {
            snprintf(errstr, errstr_size, "kafka producer unavailable: %s", sink->rebuild_cause);
            return SINK_FAILED;
        }
        atomic_fetch_add(&sink->busy, 1);
        return SINK_BUSY; /* poll() is replacing the producer */
    }
    if (sink->replay_armed) {
        /* The replay starts with needs_replay(), which drops what the old producers
         * had: nothing may be in flight on the new one before it. */
        atomic_fetch_add(&sink->busy, 1);
        return SINK_BUSY;
    }
    if (sink->epoch_has_seq && seq <= sink->last_submitted_seq) {
        snprintf(errstr, errstr_size,
                 "kafka sink: seq %" PRId64 " offered after seq %" PRId64
                 "; records must come in increasing order (replays start after needs_replay())",
                 seq, sink->last_submitted_seq);
        return SINK_FAILED;
    }
    if (sink->dead_letter_armed && seq == sink->poison_seq) {
        dead_letter_record(sink, seq, event, sink->failed_reason);
        sink->dead_letter_armed = false;
        sink->poison_seq = -1;
        sink->poison_strikes = 0;
        return SINK_ACCEPTED;
    }
    if ((unsigned)event->family >= EVENT_FAMILY_COUNT) {
        snprintf(errstr, errstr_size, "kafka sink: event %s has no valid family", event->id);
        return SINK_FAILED;
    }

    const char *subject = event->subject ? event->subject : "";
    size_t subject_len = relay_event_text_len(subject, event->subject_len);
    rd_kafka_headers_t *headers = build_headers(event, subject, subject_len);
    /* No RD_KAFKA_MSG_F_COPY: the value stays in the event, which the pending record
     * keeps (the key and headers are copied). A copy of every value was a tenth of this
     * thread at full load, and the broker thread copies it into the request anyway. */
    struct relay_event *owned = relay_event_share(event);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        sink->active.rk, RD_KAFKA_V_RKT(sink->active.topics[event->family]),
        RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_KEY(subject_len ? subject : NULL, subject_len),
        RD_KAFKA_V_VALUE(owned->data, relay_event_data_len(owned)),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)seq), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(headers); /* ownership passes only on success */
        relay_event_free(owned);
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        atomic_fetch_add(&sink->busy, 1);
        return SINK_BUSY;
    }
    if (err && is_permanent_produce_error(err) && sink->dead_letter) {
        char reason[256];
        snprintf(reason, sizeof reason, "kafka: %s", rd_kafka_err2str(err));
        dead_letter_record(sink, seq, event, reason);
        return SINK_ACCEPTED;
    }
    if (err) {
        snprintf(errstr, errstr_size, "kafka produce of seq %" PRId64 " (event %s) to '%s': %s",
                 seq, event->id, sink->topic_names[event->family], rd_kafka_err2str(err));
        return SINK_FAILED;
    }
    ring_push(&sink->pending, (struct pending_record){seq, submit_clock_us(sink), owned, false});
    sink->epoch_has_seq = true;
    sink->last_submitted_seq = seq;
    atomic_fetch_add(&sink->produced, 1);
    return SINK_ACCEPTED;
}

int64_t kafka_sink_poll(struct kafka_sink *sink, int timeout_ms)
{
    if (sink->active.rk) {
        rd_kafka_poll(sink->active.rk, timeout_ms);
    } else if (sink->draining.rk) {
        /* Records a retry put back in the queue must not go out any more. */
        rd_kafka_purge(sink->draining.rk, RD_KAFKA_PURGE_F_QUEUE);
        rd_kafka_poll(sink->draining.rk, timeout_ms);
    } else if (timeout_ms > 0) {
        /* Between producers (rebuild backoff): wait here rather than make the runner spin. */
        int64_t wait_ms = sink->rebuild_not_before_ms - time_mono_ms();
        if (wait_ms > timeout_ms)
            wait_ms = timeout_ms;
        if (wait_ms > 0)
            usleep((useconds_t)wait_ms * 1000);
    }
    if (sink->rebuild_pending)
        rebuild_step(sink);
    struct pending_ring *ring = &sink->pending;
    while (ring->count > 0 && ring_at(ring, 0)->done) {
        int64_t seq = ring_at(ring, 0)->seq;
        if (seq > sink->done_seq)
            sink->done_seq = seq;
        ring_pop(ring);
    }
    return sink->done_seq;
}

bool kafka_sink_needs_replay(struct kafka_sink *sink)
{
    if (!sink->replay_armed)
        return false;
    sink->replay_armed = false;
    /* The new epoch: the runner offers again everything after its cursor, so what
     * this engine still tracks (lost in the rebuild; submit() took nothing since) is
     * moot, and the producers that had it are destroyed. */
    ring_clear(&sink->pending);
    sink->epoch_has_seq = false;
    return true;
}

size_t kafka_sink_pending(const struct kafka_sink *sink)
{
    return sink->pending.count;
}

void kafka_sink_get_stats(const struct kafka_sink *sink, struct kafka_sink_stats *out)
{
    out->produced = atomic_load(&sink->produced);
    out->delivered = atomic_load(&sink->delivered);
    out->dr_errors = atomic_load(&sink->dr_errors);
    out->rebuilds = atomic_load(&sink->rebuilds);
    out->fatal_errors = atomic_load(&sink->fatal_errors);
    out->busy = atomic_load(&sink->busy);
    out->dead_letters = atomic_load(&sink->dead_letters);
}

/* ---- struct sink_ops adapter ---------------------------------------------- */

static enum sink_submit_result ops_submit(void *engine, int64_t seq,
                                          const struct relay_event *event, char *errstr,
                                          size_t errstr_size)
{
    return kafka_sink_submit(engine, seq, event, errstr, errstr_size);
}

static int64_t ops_poll(void *engine, int timeout_ms)
{
    return kafka_sink_poll(engine, timeout_ms);
}

static bool ops_needs_replay(void *engine)
{
    return kafka_sink_needs_replay(engine);
}

static void ops_destroy(void *engine)
{
    kafka_sink_destroy(engine);
}

const struct sink_ops kafka_sink_ops = {
    .kind = "kafka",
    .submit = ops_submit,
    .poll = ops_poll,
    .needs_replay = ops_needs_replay,
    .destroy = ops_destroy,
};
