/*
 * Prometheus text exposition (format 0.0.4) and the two shared measurements behind the
 * relay's latency histograms.
 *
 * Writer contract: metrics_family() writes "# HELP" and "# TYPE" once, before the
 * family's samples; names are [a-zA-Z_:][a-zA-Z0-9_:]* (checked: a bad name aborts,
 * it is a programming error); counters are named with the "_total" suffix by the
 * caller. Label values are escaped (backslash, double quote, newline). Values are
 * written as integers when they are whole, otherwise with 17 significant digits.
 *
 * struct metrics_histogram: fixed latency buckets in seconds, observed from any
 * thread with relaxed atomics; written cumulatively, with _count equal to the +Inf
 * bucket even while other threads observe.
 *
 * struct metrics_receipts: when each outbox seq was received, for end-to-end
 * latency. One writer (the loop) records; any thread looks up. A fixed ring indexed
 * by seq: a lookup of a seq that was never recorded, or was overwritten because the
 * ring went round (a sink more than capacity events behind), reports "unknown", and
 * that delivery is left out of the histogram rather than measured wrongly.
 */
#ifndef CRELAY_APP_METRICS_H
#define CRELAY_APP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

void metrics_family(struct strbuf *out, const char *name, enum metrics_type type,
                    const char *help);
/* One sample. labels: NULL, or alternating key, value strings ending with NULL. */
void metrics_sample(struct strbuf *out, const char *name, double value, ...)
    __attribute__((sentinel));
/* The same with the labels as an array of 2 * label_count strings. */
void metrics_sample_labels(struct strbuf *out, const char *name, const char *const *labels,
                           size_t label_count, double value);

/* Upper bounds in seconds; an implicit +Inf bucket follows. */
#define METRICS_LATENCY_BUCKETS 14
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

struct metrics_histogram {
    _Atomic uint64_t buckets[METRICS_LATENCY_BUCKETS + 1]; /* not cumulative; last is +Inf */
    _Atomic uint64_t sum_us;
};

void metrics_histogram_observe_us(struct metrics_histogram *histogram, int64_t micros);
/* Writes name_bucket{…,le="…"}, name_sum and name_count (the family line is the
 * caller's). labels as in metrics_sample_labels. */
void metrics_histogram_write(struct strbuf *out, const char *name, const char *const *labels,
                             size_t label_count, const struct metrics_histogram *histogram);
uint64_t metrics_histogram_count(const struct metrics_histogram *histogram);

struct metrics_receipts;

struct metrics_receipts *metrics_receipts_create(size_t capacity);
void metrics_receipts_destroy(struct metrics_receipts *receipts);
/* Loop thread: seq was received at mono_us (monotonic microseconds). */
void metrics_receipts_record(struct metrics_receipts *receipts, int64_t seq, int64_t mono_us);
/* Any thread: the receive time of seq, or -1 when unknown. */
int64_t metrics_receipts_lookup(const struct metrics_receipts *receipts, int64_t seq);

#endif
