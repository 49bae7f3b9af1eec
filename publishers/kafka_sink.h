/*
 * The Kafka sink engine: publishes relay events to Kafka through an idempotent
 * librdkafka producer and reports them done only on a successful delivery report.
 *
 * Each event goes to the topic of its family (state / alerts / audit) in the
 * CloudEvents binary binding: key = subject (the campaign id, the ordering unit;
 * org-wide events with an empty subject have no key and share one partition),
 * value = the data JSON, headers ce_specversion, ce_id, ce_source, ce_type,
 * ce_time (RFC 3339), ce_subject (when not empty) and content-type.
 *
 * Contract (on top of publishers/sink.h):
 *  - The producer always runs with enable.idempotence=true and acks=all; create
 *    fails with a clear errstr for properties that contradict them, for unknown or
 *    invalid librdkafka properties, and for a missing broker list or topic.
 *    linger.ms defaults to 5 and partitioner to murmur2 (Java-compatible, so an
 *    empty key keeps one partition); both can be overridden by properties.
 *  - submit() never blocks: a full local queue answers SINK_BUSY. Within one replay
 *    epoch (see below) seqs must increase; a repeated or lower seq is SINK_FAILED.
 *    The value is not copied: an accepted event is kept (relay_event_share) until
 *    its delivery is reported done or the producer holding it is destroyed, so the
 *    caller may free its own reference at once.
 *  - poll() serves delivery reports and returns the highest seq S such that every
 *    seq <= S submitted to this engine has a successful delivery report (or was
 *    handed to the dead-letter callback); it never decreases.
 *  - A failed delivery report or a fatal producer error makes poll() replace the
 *    producer (logged once, with the cause): unsent records are purged, requests
 *    already sent are waited for (at most flush_timeout_ms) so that nothing from
 *    the old producer lands after the replay, then a new producer is built (after
 *    a backoff of 50 ms doubling to 5 s when rebuilds follow each other without a
 *    delivery) and needs_replay() is armed. Meanwhile, and until needs_replay()
 *    has returned true, submit() answers SINK_BUSY (SINK_FAILED only while
 *    building a producer fails). When needs_replay()
 *    returns true the engine forgets what it had in flight and a new replay epoch
 *    starts: the runner offers again everything after its cursor, with the same
 *    ids (consumers may see duplicates; per-key order is kept).
 *  - A record that is the first to fail in 3 rebuilds in a row goes to the
 *    dead-letter callback, when one is given, the next time it is offered, and
 *    counts as done. Without a callback it is retried for ever.
 *  - destroy() flushes for at most flush_timeout_ms, then purges and frees.
 *  - kafka_sink_get_stats() may be called from any thread; everything else from
 *    the runner's thread.
 *  - Producer errors are logged once per kind (warn); librdkafka's own log lines go
 *    through util/log at debug level, never to stderr in librdkafka's format.
 */
#ifndef CRELAY_PUBLISHERS_KAFKA_SINK_H
#define CRELAY_PUBLISHERS_KAFKA_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "publishers/event.h"
#include "publishers/sink.h"

struct kafka_sink_property {
    const char *name; /* a librdkafka global or default-topic property */
    const char *value;
};

/* Called on the runner's thread for every successful delivery report, with the time
 * from submit() to the report. For benchmarks and latency histograms. */
typedef void (*kafka_sink_delivery_fn)(void *opaque, int64_t seq, int64_t latency_us);

struct kafka_sink_options {
    const char *brokers;                      /* bootstrap.servers, required */
    const char *topics[EVENT_FAMILY_COUNT];   /* topic per family, all required */
    const struct kafka_sink_property *properties; /* passed through, applied last */
    size_t property_count;
    int flush_timeout_ms;                     /* destroy(); 0 means 10000 */
    kafka_sink_delivery_fn on_delivery;       /* optional */
    void *on_delivery_opaque;
    /* Optional: records that cannot be delivered (refused at submit as larger than
     * message.max.bytes, or failing again and again) go here and count as done;
     * without it such records are SINK_FAILED or retried for ever. */
    sink_dead_letter_fn dead_letter;
    void *dead_letter_opaque;
};

struct kafka_sink_stats {
    uint64_t produced;    /* records accepted by submit() */
    uint64_t delivered;   /* successful delivery reports */
    uint64_t dr_errors;   /* failed delivery reports (purged records not counted) */
    uint64_t rebuilds;    /* producer rebuilds after a failed report or a fatal error */
    uint64_t fatal_errors; /* fatal producer errors (each leads to a rebuild) */
    uint64_t busy;        /* submit() answers of SINK_BUSY */
    uint64_t dead_letters;
};

struct kafka_sink;

/* Returns NULL and fills errstr when the options or properties are unusable. */
struct kafka_sink *kafka_sink_create(const struct kafka_sink_options *options, char *errstr,
                                     size_t errstr_size);
void kafka_sink_destroy(struct kafka_sink *sink);

enum sink_submit_result kafka_sink_submit(struct kafka_sink *sink, int64_t seq,
                                          const struct relay_event *event, char *errstr,
                                          size_t errstr_size);
int64_t kafka_sink_poll(struct kafka_sink *sink, int timeout_ms);
bool kafka_sink_needs_replay(struct kafka_sink *sink);

/* Records submitted and not yet done (queued or in flight). */
size_t kafka_sink_pending(const struct kafka_sink *sink);
void kafka_sink_get_stats(const struct kafka_sink *sink, struct kafka_sink_stats *out);

/* The engine as a struct sink_ops; engine pointers are struct kafka_sink *. */
extern const struct sink_ops kafka_sink_ops;

#endif
