#include "app/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 8

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

static bool valid_name(const char *name)
{
    if (!name || !name[0])
        return false;
    for (const char *p = name; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                     *p == ':';
        if (!alpha && !(p > name && *p >= '0' && *p <= '9'))
            return false;
    }
    return true;
}

static void require_name(const char *name)
{
    if (!valid_name(name)) {
        fprintf(stderr, "metrics: invalid metric or label name '%s'\n", name ? name : "(null)");
        abort();
    }
}

static void append_value(struct strbuf *out, double value)
{
    if (isnan(value))
        strbuf_append(out, "NaN");
    else if (isinf(value))
        strbuf_append(out, value > 0 ? "+Inf" : "-Inf");
    else if (value == floor(value) && fabs(value) < 9007199254740992.0)
        strbuf_appendf(out, "%.0f", value);
    else
        strbuf_appendf(out, "%.17g", value);
}

static void append_help_text(struct strbuf *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            strbuf_append(out, "\\\\");
        else if (*p == '\n')
            strbuf_append(out, "\\n");
        else
            strbuf_append_char(out, *p);
    }
}

static void append_label_value(struct strbuf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\')
            strbuf_append(out, "\\\\");
        else if (*p == '"')
            strbuf_append(out, "\\\"");
        else if (*p == '\n')
            strbuf_append(out, "\\n");
        else
            strbuf_append_char(out, *p);
    }
}

void metrics_family(struct strbuf *out, const char *name, enum metrics_type type,
                    const char *help)
{
    require_name(name);
    static const char *const types[] = {"counter", "gauge", "histogram"};
    strbuf_appendf(out, "# HELP %s ", name);
    append_help_text(out, help);
    strbuf_appendf(out, "\n# TYPE %s %s\n", name, types[type]);
}

/* name{k="v",…,extra_key="extra_value"} value */
static void write_sample(struct strbuf *out, const char *name, const char *const *labels,
                         size_t label_count, const char *extra_key, const char *extra_value,
                         double value)
{
    require_name(name);
    strbuf_append(out, name);
    if (label_count > 0 || extra_key) {
        strbuf_append_char(out, '{');
        for (size_t i = 0; i < label_count; i++) {
            require_name(labels[2 * i]);
            if (i > 0)
                strbuf_append_char(out, ',');
            strbuf_appendf(out, "%s=\"", labels[2 * i]);
            append_label_value(out, labels[2 * i + 1] ? labels[2 * i + 1] : "");
            strbuf_append_char(out, '"');
        }
        if (extra_key) {
            if (label_count > 0)
                strbuf_append_char(out, ',');
            strbuf_appendf(out, "%s=\"%s\"", extra_key, extra_value);
        }
        strbuf_append_char(out, '}');
    }
    strbuf_append_char(out, ' ');
    append_value(out, value);
    strbuf_append_char(out, '\n');
}

void metrics_sample_labels(struct strbuf *out, const char *name, const char *const *labels,
                           size_t label_count, double value)
{
    write_sample(out, name, labels, label_count, NULL, NULL, value);
}

void metrics_sample(struct strbuf *out, const char *name, double value, ...)
{
    const char *labels[2 * MAX_LABELS];
    size_t count = 0;
    va_list ap;
    va_start(ap, value);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *label_value = va_arg(ap, const char *);
        if (count == MAX_LABELS) {
            fprintf(stderr, "metrics: more than %d labels on %s\n", MAX_LABELS, name);
            abort();
        }
        labels[2 * count] = key;
        labels[2 * count + 1] = label_value;
        count++;
    }
    va_end(ap);
    write_sample(out, name, labels, count, NULL, NULL, value);
}

/* ---- histograms ----------------------------------------------------------------------- */

void metrics_histogram_observe_us(struct metrics_histogram *h, int64_t micros)
{
    if (micros < 0)
        micros = 0;
    double seconds = (double)micros / 1e6;
    size_t i = 0;
    while (i < METRICS_LATENCY_BUCKETS && seconds > metrics_latency_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)micros, memory_order_relaxed);
}

uint64_t metrics_histogram_count(const struct metrics_histogram *h)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= METRICS_LATENCY_BUCKETS; i++)
        total += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return total;
}

void metrics_histogram_write(struct strbuf *out, const char *name, const char *const *labels,
                             size_t label_count, const struct metrics_histogram *h)
{
    char bucket_name[256], sum_name[256], count_name[256];
    snprintf(bucket_name, sizeof bucket_name, "%s_bucket", name);
    snprintf(sum_name, sizeof sum_name, "%s_sum", name);
    snprintf(count_name, sizeof count_name, "%s_count", name);
    /* One read of each bucket, so the cumulative counts, +Inf and _count agree. */
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        char le[32];
        if (i < METRICS_LATENCY_BUCKETS)
            snprintf(le, sizeof le, "%g", metrics_latency_bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        write_sample(out, bucket_name, labels, label_count, "le", le, (double)cumulative);
    }
    double sum = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
    write_sample(out, sum_name, labels, label_count, NULL, NULL, sum);
    write_sample(out, count_name, labels, label_count, NULL, NULL, (double)cumulative);
}

/* ---- receipts ------------------------------------------------------------------------- */

struct receipt {
    _Atomic int64_t seq;
    _Atomic int64_t mono_us;
};

struct metrics_receipts {
    size_t capacity;
    struct receipt *ring;
};

struct metrics_receipts *metrics_receipts_create(size_t capacity)
{
    struct metrics_receipts *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->capacity = capacity > 0 ? capacity : 1;
    r->ring = calloc(r->capacity, sizeof *r->ring);
    if (!r->ring)
        abort();
    return r;
}

void metrics_receipts_destroy(struct metrics_receipts *r)
{
    if (!r)
        return;
    free(r->ring);
    free(r);
}

void metrics_receipts_record(struct metrics_receipts *r, int64_t seq, int64_t mono_us)
{
    if (seq <= 0)
        return;
    struct receipt *slot = &r->ring[(size_t)seq % r->capacity];
    /* Invalidate first so a reader never pairs the new time with the old seq. */
    atomic_store_explicit(&slot->seq, 0, memory_order_release);
    atomic_store_explicit(&slot->mono_us, mono_us, memory_order_release);
    atomic_store_explicit(&slot->seq, seq, memory_order_release);
}

int64_t metrics_receipts_lookup(const struct metrics_receipts *r, int64_t seq)
{
    if (seq <= 0)
        return -1;
    struct receipt *slot = &r->ring[(size_t)seq % r->capacity];
    if (atomic_load_explicit(&slot->seq, memory_order_acquire) != seq)
        return -1;
    int64_t mono_us = atomic_load_explicit(&slot->mono_us, memory_order_acquire);
    if (atomic_load_explicit(&slot->seq, memory_order_acquire) != seq)
        return -1;
    return mono_us;
}
