#include "app/sinks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/reload.h"
#include "app/sink_probe.h"
#include "publishers/file_sink.h"
#include "publishers/kafka_sink.h"
#include "publishers/sink_runner.h"
#include "publishers/webhook_sink.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define COMPONENT "sinks"
/* Outbox metadata: the sink names of the last start or reload, one per line. */
#define SINKS_META_KEY "relay.sinks"
/* Bounds of the Kafka engine's final flush, taken out of the shutdown grace. */
#define KAFKA_FLUSH_MIN_MS 1000
#define KAFKA_FLUSH_MAX_MS 10000

enum sink_kind { SINK_KIND_FILE, SINK_KIND_KAFKA, SINK_KIND_WEBHOOK };

static const char *const kind_names[] = {"file", "kafka", "webhook"};

struct sink_filter {
    struct config_event_filter events; /* own copies of the patterns */
    char *prefix;
    size_t prefix_len;
};

struct relay_sink {
    char name[160];
    enum sink_kind kind;
    char *url; /* webhooks: for the disabled-endpoint alert */
    struct sink_filter filter;
    struct sink_probe *probe;
    const struct sink_ops *engine_ops;
    void *engine; /* until attached to the probe */
    struct sink_runner *runner;
    bool started;
    bool disabled_seen;

    /* Retiring: a thread of its own drains and joins the runner. */
    pthread_t stopper;
    bool stopper_started;
    atomic_bool stopped;
    int64_t stop_grace_ms;
    bool forget; /* removed from the configuration: unregister once stopped */
};

struct sink_list {
    struct relay_sink **items;
    size_t count, capacity;
};

struct relay_sinks {
    struct outbox *outbox;
    const struct metrics_receipts *receipts;
    const struct relay_config *config; /* the one the active sinks were built from */
    struct sink_list active;
    struct sink_list retiring;
    bool started;
};

static void list_push(struct sink_list *list, struct relay_sink *sink)
{
    if (list->count == list->capacity) {
        list->capacity = list->capacity ? list->capacity * 2 : 8;
        list->items = realloc(list->items, list->capacity * sizeof *list->items);
        if (!list->items)
            abort();
    }
    list->items[list->count++] = sink;
}

static void list_remove_at(struct sink_list *list, size_t index)
{
    memmove(&list->items[index], &list->items[index + 1],
            (list->count - index - 1) * sizeof *list->items);
    list->count--;
}

/* ---- one sink ------------------------------------------------------------------------- */

static bool sink_wants(void *ctx, const struct relay_event *event)
{
    const struct sink_filter *f = ctx;
    const char *type = event->type;
    if (strncmp(type, f->prefix, f->prefix_len) == 0)
        type += f->prefix_len;
    return config_event_filter_matches(&f->events, type);
}

static void sink_free(struct relay_sink *s)
{
    if (!s)
        return;
    if (s->stopper_started)
        pthread_join(s->stopper, NULL);
    sink_runner_destroy(s->runner);
    if (s->engine && s->engine_ops)
        s->engine_ops->destroy(s->engine);
    sink_probe_free(s->probe);
    for (size_t i = 0; i < s->filter.events.count; i++)
        free(s->filter.events.patterns[i]);
    free(s->filter.events.patterns);
    free(s->filter.prefix);
    free(s->url);
    free(s);
}

static struct relay_sink *sink_new(struct relay_sinks *sinks, const struct relay_config *config,
                                   enum sink_kind kind, const char *name,
                                   const struct config_event_filter *events)
{
    struct relay_sink *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->kind = kind;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->filter.prefix = xstrdup_or_empty(config->events.type_prefix);
    s->filter.prefix_len = strlen(s->filter.prefix);
    s->filter.events.count = events->count;
    s->filter.events.patterns = calloc(events->count + 1, sizeof *s->filter.events.patterns);
    if (!s->filter.events.patterns)
        abort();
    for (size_t i = 0; i < events->count; i++)
        s->filter.events.patterns[i] = xstrdup_or_empty(events->patterns[i]);
    s->probe = sink_probe_create(sinks->receipts);
    return s;
}

/* The Kafka engine's final flush comes on top of the runner's drain, so both share the
 * shutdown grace. */
static int64_t kafka_flush_ms(int64_t grace_ms)
{
    int64_t flush = grace_ms / 4;
    if (flush < KAFKA_FLUSH_MIN_MS)
        flush = KAFKA_FLUSH_MIN_MS;
    if (flush > KAFKA_FLUSH_MAX_MS)
        flush = KAFKA_FLUSH_MAX_MS;
    return flush;
}

static struct relay_sink *build_file_sink(struct relay_sinks *sinks,
                                          const struct relay_config *config, char *errstr,
                                          size_t errstr_size)
{
    const struct config_file_sink *fc = &config->sinks.file;
    struct relay_sink *s = sink_new(sinks, config, SINK_KIND_FILE, "file", &fc->events);
    struct file_sink_options options = {
        .path = fc->path, .max_bytes = fc->max_bytes, .max_files = fc->max_files,
    };
    s->engine_ops = &file_sink_ops;
    s->engine = file_sink_create(&options, errstr, errstr_size);
    if (!s->engine) {
        sink_free(s);
        return NULL;
    }
    return s;
}

static struct relay_sink *build_kafka_sink(struct relay_sinks *sinks,
                                           const struct relay_config *config, char *errstr,
                                           size_t errstr_size)
{
    const struct config_kafka *kc = &config->sinks.kafka;
    struct relay_sink *s = sink_new(sinks, config, SINK_KIND_KAFKA, "kafka", &kc->events);
    struct kafka_sink_property *properties =
        calloc(kc->properties.count + 1, sizeof *properties);
    if (!properties)
        abort();
    for (size_t i = 0; i < kc->properties.count; i++) {
        properties[i].name = kc->properties.items[i].key;
        properties[i].value = kc->properties.items[i].value;
    }
    struct kafka_sink_options options = {
        .brokers = kc->brokers,
        .topics = {kc->topic_state, kc->topic_alerts, kc->topic_audit},
        .properties = properties,
        .property_count = kc->properties.count,
        .flush_timeout_ms = (int)kafka_flush_ms(config->shutdown.grace_ms),
        .dead_letter = sink_probe_dead_letter,
        .dead_letter_opaque = s->probe,
    };
    s->engine_ops = &kafka_sink_ops;
    s->engine = kafka_sink_create(&options, errstr, errstr_size);
    free(properties);
    if (!s->engine) {
        sink_free(s);
        return NULL;
    }
    return s;
}

static struct relay_sink *build_webhook_sink(struct relay_sinks *sinks,
                                             const struct relay_config *config,
                                             const struct config_webhook *wc, char *errstr,
                                             size_t errstr_size)
{
    char name[160];
    snprintf(name, sizeof name, "webhook:%s", wc->name);
    struct relay_sink *s = sink_new(sinks, config, SINK_KIND_WEBHOOK, name, &wc->events);
    s->url = xstrdup_or_empty(wc->url);
    char **headers = calloc(wc->headers.count + 1, sizeof *headers);
    if (!headers)
        abort();
    for (size_t i = 0; i < wc->headers.count; i++) {
        size_t len = strlen(wc->headers.items[i].key) + strlen(wc->headers.items[i].value) + 3;
        headers[i] = malloc(len);
        if (!headers[i])
            abort();
        snprintf(headers[i], len, "%s: %s", wc->headers.items[i].key,
                 wc->headers.items[i].value);
    }
    struct webhook_sink_options options;
    webhook_sink_options_init(&options);
    options.name = wc->name;
    options.url = wc->url;
    options.secrets = (const char *const *)wc->secrets.items;
    options.secret_count = wc->secrets.count;
    options.headers = (const char *const *)headers;
    options.header_count = wc->headers.count;
    options.request_timeout_ms = (int)wc->timeout_ms;
    options.concurrency = wc->concurrency;
    options.max_attempts = wc->max_attempts;
    options.backoff_min_ms = (int)wc->backoff_min_ms;
    options.backoff_max_ms = (int)wc->backoff_max_ms;
    options.dead_letter = sink_probe_dead_letter;
    options.dead_letter_opaque = s->probe;
    s->engine_ops = &webhook_sink_ops;
    s->engine = webhook_sink_create(&options, errstr, errstr_size);
    for (size_t i = 0; i < wc->headers.count; i++)
        free(headers[i]);
    free(headers);
    if (!s->engine) {
        sink_free(s);
        return NULL;
    }
    return s;
}

/* Creates the runner (its outbox reader picks up the stored cursor now) and hands it
 * the engine behind the probe. */
static int prepare_runner(struct relay_sinks *sinks, struct relay_sink *s, char *errstr,
                          size_t errstr_size)
{
    struct sink_runner_options options = {
        .name = s->name,
        .wants = sink_wants,
        .wants_ctx = &s->filter,
        .type_prefix = s->filter.prefix,
    };
    s->runner = sink_runner_create(sinks->outbox, &options, errstr, errstr_size);
    if (!s->runner)
        return -1;
    sink_probe_attach(s->probe, s->runner, s->engine_ops, s->engine);
    s->engine = NULL;
    return 0;
}

static int start_sink(struct relay_sink *s)
{
    char errstr[512];
    /* The runner owns the probe's engine from here, also on failure. */
    if (sink_runner_start(s->runner, &sink_probe_ops, s->probe, errstr, sizeof errstr) != 0) {
        log_error(COMPONENT, "cannot start sink %s: %s", s->name, errstr);
        return -1;
    }
    s->started = true;
    return 0;
}

static void *stopper_main(void *arg)
{
    struct relay_sink *s = arg;
    pthread_setname_np(pthread_self(), "sink-stopper");
    sink_runner_stop(s->runner, (int)s->stop_grace_ms);
    atomic_store(&s->stopped, true);
    return NULL;
}

/* Moves a sink out of the active list; a started one drains on a thread of its own. */
static void retire_sink(struct relay_sinks *sinks, size_t index, int64_t grace_ms, bool forget)
{
    struct relay_sink *s = sinks->active.items[index];
    list_remove_at(&sinks->active, index);
    s->forget = forget;
    s->stop_grace_ms = grace_ms;
    if (s->started && pthread_create(&s->stopper, NULL, stopper_main, s) == 0) {
        s->stopper_started = true;
    } else {
        if (s->started)
            sink_runner_stop(s->runner, 0); /* no thread to spare: stop it here, at once */
        atomic_store(&s->stopped, true);
    }
    list_push(&sinks->retiring, s);
}

/* ---- the registry of sink names in the outbox ---------------------------------------- */

static bool sink_configured(const struct relay_sinks *sinks, const char *name)
{
    for (size_t i = 0; i < sinks->active.count; i++)
        if (strcmp(sinks->active.items[i]->name, name) == 0)
            return true;
    return false;
}

/* Unregisters the sinks of the last run that are no longer configured, and records the
 * configured ones. Sinks that are only being replaced keep their cursor. */
static void sync_registry(struct relay_sinks *sinks)
{
    char errstr[512];
    char *stored = NULL;
    if (outbox_meta_get(sinks->outbox, SINKS_META_KEY, &stored, errstr, sizeof errstr) !=
        OUTBOX_OK) {
        log_warn(COMPONENT, "cannot read the registered sink names: %s", errstr);
        return;
    }
    for (const char *p = stored; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        bool still_retiring = false;
        for (size_t i = 0; i < sinks->retiring.count; i++)
            if (strcmp(sinks->retiring.items[i]->name, name) == 0)
                still_retiring = true;
        if (name[0] && !sink_configured(sinks, name) && !still_retiring) {
            if (outbox_unregister_sink(sinks->outbox, name, errstr, sizeof errstr) == OUTBOX_OK)
                log_info(COMPONENT, "sink %s is no longer configured: its cursor is removed "
                                    "and it no longer holds events in the outbox", name);
            else
                log_warn(COMPONENT, "cannot unregister sink %s: %s", name, errstr);
        }
        p = end ? end + 1 : NULL;
    }
    struct strbuf names;
    strbuf_init(&names);
    for (size_t i = 0; i < sinks->active.count; i++)
        strbuf_appendf(&names, "%s%s", i ? "\n" : "", sinks->active.items[i]->name);
    if (!stored || strcmp(stored, strbuf_cstr(&names)) != 0)
        if (outbox_meta_set(sinks->outbox, SINKS_META_KEY, strbuf_cstr(&names), errstr,
                            sizeof errstr) != OUTBOX_OK)
            log_warn(COMPONENT, "cannot record the sink names: %s", errstr);
    strbuf_free(&names);
    free(stored);
}

/* ---- create / start / reload ---------------------------------------------------------- */

/* Builds every engine the configuration names, without runners, into list. */
static int build_all(struct relay_sinks *sinks, const struct relay_config *config,
                     struct sink_list *list, char *errstr, size_t errstr_size)
{
    char detail[1024];
    struct relay_sink *s;
    if (config->sinks.file.enabled) {
        if (!(s = build_file_sink(sinks, config, detail, sizeof detail))) {
            snprintf(errstr, errstr_size, "sinks.file: %s", detail);
            return -1;
        }
        list_push(list, s);
    }
    if (config->sinks.kafka.enabled) {
        if (!(s = build_kafka_sink(sinks, config, detail, sizeof detail))) {
            snprintf(errstr, errstr_size, "sinks.kafka: %s", detail);
            return -1;
        }
        list_push(list, s);
    }
    for (size_t i = 0; i < config->sinks.webhook_count; i++) {
        if (!(s = build_webhook_sink(sinks, config, &config->sinks.webhooks[i], detail,
                                     sizeof detail))) {
            snprintf(errstr, errstr_size, "sinks.webhooks[%zu] (%s): %s", i,
                     config->sinks.webhooks[i].name, detail);
            return -1;
        }
        list_push(list, s);
    }
    return 0;
}

static void list_free(struct sink_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        sink_free(list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

struct relay_sinks *relay_sinks_create(const struct relay_config *config, struct outbox *outbox,
                                       const struct metrics_receipts *receipts, char *errstr,
                                       size_t errstr_size)
{
    struct relay_sinks *sinks = calloc(1, sizeof *sinks);
    if (!sinks)
        abort();
    sinks->outbox = outbox;
    sinks->receipts = receipts;
    sinks->config = config;
    if (build_all(sinks, config, &sinks->active, errstr, errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < sinks->active.count; i++) {
        char detail[512];
        if (prepare_runner(sinks, sinks->active.items[i], detail, sizeof detail) != 0) {
            snprintf(errstr, errstr_size, "sink %s: %s", sinks->active.items[i]->name, detail);
            goto fail;
        }
    }
    sync_registry(sinks);
    if (sinks->active.count == 0)
        log_warn(COMPONENT, "no sink is configured: events are kept in the outbox only");
    return sinks;

fail:
    relay_sinks_destroy(sinks);
    return NULL;
}

int relay_sinks_start(struct relay_sinks *sinks)
{
    sinks->started = true;
    for (size_t i = 0; i < sinks->active.count; i++)
        if (start_sink(sinks->active.items[i]) != 0)
            return -1;
    return 0;
}

static const struct config_webhook *find_webhook(const struct relay_config *config,
                                                 const char *name)
{
    for (size_t i = 0; i < config->sinks.webhook_count; i++)
        if (strcmp(config->sinks.webhooks[i].name, name) == 0)
            return &config->sinks.webhooks[i];
    return NULL;
}

/* True when the sink, built from before, is exactly what after asks for. */
static bool sink_unchanged(const struct relay_config *before, const struct relay_config *after,
                           const struct relay_sink *s)
{
    if (strcmp(before->events.type_prefix, after->events.type_prefix) != 0)
        return false;
    switch (s->kind) {
    case SINK_KIND_FILE:
        return reload_file_same(&before->sinks.file, &after->sinks.file);
    case SINK_KIND_KAFKA:
        return reload_kafka_same(&before->sinks.kafka, &after->sinks.kafka) &&
               kafka_flush_ms(before->shutdown.grace_ms) ==
                   kafka_flush_ms(after->shutdown.grace_ms);
    case SINK_KIND_WEBHOOK: {
        const char *name = s->name + strlen("webhook:");
        const struct config_webhook *a = find_webhook(before, name);
        const struct config_webhook *b = find_webhook(after, name);
        return a && b && reload_webhook_same(a, b);
    }
    }
    return false;
}

static struct relay_sink *find_by_name(const struct sink_list *list, const char *name,
                                       size_t *index)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i]->name, name) == 0) {
            if (index)
                *index = i;
            return list->items[i];
        }
    return NULL;
}

static void note_change(struct strbuf *changes, const char *name, const char *what)
{
    strbuf_appendf(changes, "%s%s %s", changes->len ? ", " : "", name, what);
}

int relay_sinks_reload(struct relay_sinks *sinks, const struct relay_config *config,
                       struct strbuf *changes, char *errstr, size_t errstr_size)
{
    struct sink_list built = {0};
    if (build_all(sinks, config, &built, errstr, errstr_size) != 0) {
        list_free(&built);
        return -1;
    }
    int64_t grace = config->shutdown.grace_ms;
    /* Removed and changed sinks retire; unchanged ones keep running. */
    for (size_t i = sinks->active.count; i-- > 0;) {
        struct relay_sink *s = sinks->active.items[i];
        struct relay_sink *next = find_by_name(&built, s->name, NULL);
        if (!next) {
            note_change(changes, s->name, "removed");
            retire_sink(sinks, i, grace, true);
        } else if (!sink_unchanged(sinks->config, config, s)) {
            note_change(changes, s->name, "replaced");
            retire_sink(sinks, i, grace, false);
        }
    }
    for (size_t i = 0; i < built.count; i++) {
        struct relay_sink *s = built.items[i];
        built.items[i] = NULL;
        if (find_by_name(&sinks->active, s->name, NULL)) {
            sink_free(s); /* unchanged: the running one stays */
            continue;
        }
        if (!find_by_name(&sinks->retiring, s->name, NULL))
            note_change(changes, s->name, "added");
        list_push(&sinks->active, s); /* starts in relay_sinks_service() */
    }
    free(built.items);
    sinks->config = config;
    relay_sinks_service(sinks);
    return 0;
}

void relay_sinks_service(struct relay_sinks *sinks)
{
    bool registry_dirty = false;
    for (size_t i = sinks->retiring.count; i-- > 0;) {
        struct relay_sink *s = sinks->retiring.items[i];
        if (!atomic_load(&s->stopped))
            continue;
        list_remove_at(&sinks->retiring, i);
        char errstr[512];
        /* The final cursor is posted; commit it before a successor reads it. */
        if (outbox_flush(sinks->outbox, errstr, sizeof errstr) != OUTBOX_OK)
            log_warn(COMPONENT, "cannot commit the cursor of sink %s: %s", s->name, errstr);
        log_info(COMPONENT, "sink %s stopped", s->name);
        registry_dirty = registry_dirty || s->forget;
        sink_free(s);
    }
    for (size_t i = 0; i < sinks->active.count; i++) {
        struct relay_sink *s = sinks->active.items[i];
        if (s->runner || find_by_name(&sinks->retiring, s->name, NULL))
            continue;
        char errstr[512];
        if (prepare_runner(sinks, s, errstr, sizeof errstr) != 0) {
            log_error(COMPONENT, "cannot create sink %s: %s", s->name, errstr);
            continue;
        }
        registry_dirty = true;
        if (sinks->started && start_sink(s) == 0)
            log_info(COMPONENT, "sink %s started", s->name);
    }
    if (registry_dirty)
        sync_registry(sinks);
}

void relay_sinks_stop(struct relay_sinks *sinks, int64_t grace_ms, atomic_int *abort_flag)
{
    if (!sinks)
        return;
    /* Runners drain in parallel: stop each with what is left of the shared grace, less
     * the Kafka engine's final flush which follows its drain. */
    int64_t reserve = 0;
    for (size_t i = 0; i < sinks->active.count; i++)
        if (sinks->active.items[i]->kind == SINK_KIND_KAFKA)
            reserve = kafka_flush_ms(sinks->config->shutdown.grace_ms);
    int64_t deadline = time_mono_ms() + (grace_ms > reserve ? grace_ms - reserve : 0);
    for (size_t i = 0; i < sinks->active.count; i++) {
        int64_t left = deadline - time_mono_ms();
        if (left < 0 || (abort_flag && atomic_load(abort_flag) > 1))
            left = 0;
        sink_runner_stop(sinks->active.items[i]->runner, (int)left);
    }
    for (size_t i = 0; i < sinks->retiring.count; i++) {
        struct relay_sink *s = sinks->retiring.items[i];
        if (s->stopper_started) {
            pthread_join(s->stopper, NULL);
            s->stopper_started = false;
        }
    }
}

void relay_sinks_destroy(struct relay_sinks *sinks)
{
    if (!sinks)
        return;
    list_free(&sinks->active);
    list_free(&sinks->retiring);
    free(sinks);
}

size_t relay_sinks_count(const struct relay_sinks *sinks)
{
    return sinks->active.count;
}

/* ---- status ---------------------------------------------------------------------------- */

struct engine_figures {
    enum sink_kind kind;
    uint64_t retried;
    uint64_t failed;
    bool disabled;
    bool take_gone;
    bool gone_taken;
};

static void read_engine(void *ctx, void *engine)
{
    struct engine_figures *f = ctx;
    switch (f->kind) {
    case SINK_KIND_FILE: {
        struct file_sink_stats st;
        file_sink_get_stats(engine, &st);
        f->failed = st.errors;
        break;
    }
    case SINK_KIND_KAFKA: {
        struct kafka_sink_stats st;
        kafka_sink_get_stats(engine, &st);
        f->retried = st.dr_errors;
        f->failed = st.dr_errors + st.fatal_errors;
        break;
    }
    case SINK_KIND_WEBHOOK: {
        struct webhook_sink_stats st;
        webhook_sink_get_stats(engine, &st);
        f->retried = st.retried;
        f->failed = st.failed_attempts;
        f->disabled = st.disabled;
        if (f->take_gone)
            f->gone_taken = webhook_sink_take_gone_alert(engine);
        break;
    }
    }
}

struct sink_view {
    const struct relay_sink *sink;
    struct sink_runner_metrics runner;
    struct sink_probe_status probe;
    struct engine_figures engine;
};

static void view_sink(struct relay_sink *s, struct sink_view *v)
{
    memset(v, 0, sizeof *v);
    v->sink = s;
    v->engine.kind = s->kind;
    if (s->runner)
        sink_runner_get_metrics(s->runner, &v->runner);
    sink_probe_status(s->probe, &v->probe);
    sink_probe_with_engine(s->probe, read_engine, &v->engine);
}

bool relay_sinks_delivering(struct relay_sinks *sinks, int64_t now_mono_ms,
                            struct strbuf *report)
{
    bool delivering = true;
    for (size_t i = 0; i < sinks->active.count; i++) {
        struct relay_sink *s = sinks->active.items[i];
        struct sink_view v;
        view_sink(s, &v);
        int64_t since = v.probe.oldest_submit_ms > v.probe.last_progress_ms
                            ? v.probe.oldest_submit_ms
                            : v.probe.last_progress_ms;
        const char *problem = NULL;
        char detail[160];
        if (!s->started) {
            problem = "starting";
        } else if (v.engine.disabled) {
            problem = "endpoint disabled: it answered 410 Gone (reload or restart after "
                      "fixing the url)";
        } else if (v.runner.failing) {
            problem = "failing: submits are refused, retrying with backoff";
        } else if (v.probe.outstanding > 0 && now_mono_ms - since > RELAY_SINKS_STALL_MS) {
            snprintf(detail, sizeof detail,
                     "no delivery confirmed for %.1f s, %zu event(s) outstanding",
                     (double)(now_mono_ms - since) / 1000.0, v.probe.outstanding);
            problem = detail;
        }
        if (problem) {
            delivering = false;
            strbuf_appendf(report, "sink %s: %s\n", s->name, problem);
        } else {
            strbuf_appendf(report, "sink %s: ok (lag %lld)\n", s->name,
                           (long long)v.runner.lag);
        }
    }
    return delivering;
}

void relay_sinks_take_disabled(struct relay_sinks *sinks,
                               void (*fn)(void *ctx, const char *sink, const char *url),
                               void *ctx)
{
    for (size_t i = 0; i < sinks->active.count; i++) {
        struct relay_sink *s = sinks->active.items[i];
        if (s->kind != SINK_KIND_WEBHOOK)
            continue;
        struct engine_figures f = {.kind = s->kind, .take_gone = true};
        sink_probe_with_engine(s->probe, read_engine, &f);
        if (f.gone_taken)
            fn(ctx, s->name, s->url);
    }
}

int64_t relay_sinks_min_cursor(struct relay_sinks *sinks)
{
    int64_t lowest = -1;
    for (size_t i = 0; i < sinks->active.count; i++) {
        struct relay_sink *s = sinks->active.items[i];
        if (!s->runner)
            continue;
        struct sink_runner_metrics m;
        sink_runner_get_metrics(s->runner, &m);
        if (lowest < 0 || m.cursor < lowest)
            lowest = m.cursor;
    }
    return lowest;
}

static void sample(struct strbuf *out, const char *name, const struct sink_view *v, double value)
{
    metrics_sample(out, name, value, "sink", v->sink->name, "kind", kind_names[v->sink->kind],
                   NULL);
}

void relay_sinks_write_metrics(struct relay_sinks *sinks, struct strbuf *out)
{
    size_t n = sinks->active.count;
    struct sink_view *views = calloc(n + 1, sizeof *views);
    if (!views)
        abort();
    for (size_t i = 0; i < n; i++)
        view_sink(sinks->active.items[i], &views[i]);

    metrics_family(out, "campaign_relay_sink_delivered_total", METRICS_COUNTER,
                   "Events the sink confirmed (Kafka delivery report, webhook 2xx, file "
                   "synced).");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_delivered_total", &views[i],
               (double)views[i].runner.delivered);
    metrics_family(out, "campaign_relay_sink_filtered_total", METRICS_COUNTER,
                   "Events the sink's event filter left out.");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_filtered_total", &views[i],
               (double)views[i].runner.filtered);
    metrics_family(out, "campaign_relay_sink_retries_total", METRICS_COUNTER,
                   "Deliveries that failed and were scheduled again (webhook retries, failed "
                   "Kafka delivery reports, refused submits).");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_retries_total", &views[i],
               (double)(views[i].engine.retried + (uint64_t)views[i].runner.submit_failed));
    metrics_family(out, "campaign_relay_sink_failures_total", METRICS_COUNTER,
                   "Failed delivery attempts (non-2xx answers and transport errors, failed "
                   "delivery reports and producer errors, file write errors, refused "
                   "submits).");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_failures_total", &views[i],
               (double)(views[i].engine.failed + (uint64_t)views[i].runner.submit_failed));
    metrics_family(out, "campaign_relay_sink_dead_lettered_total", METRICS_COUNTER,
                   "Events given up on and stored as dead letters.");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_dead_lettered_total", &views[i],
               (double)views[i].runner.dead_lettered);
    metrics_family(out, "campaign_relay_sink_replays_total", METRICS_COUNTER,
                   "Times the engine dropped what it had in flight and everything after the "
                   "cursor was offered again.");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_replays_total", &views[i],
               (double)views[i].runner.replays);
    metrics_family(out, "campaign_relay_sink_read_total", METRICS_COUNTER,
                   "Events the sink fetched from the outbox: from memory while it keeps close "
                   "behind the writer, from disk when it is further behind (after an outage, "
                   "or at startup).");
    for (size_t i = 0; i < n; i++) {
        const struct sink_view *v = &views[i];
        metrics_sample(out, "campaign_relay_sink_read_total", (double)v->runner.read_from_memory,
                       "sink", v->sink->name, "kind", kind_names[v->sink->kind], "from",
                       "memory", NULL);
        metrics_sample(out, "campaign_relay_sink_read_total", (double)v->runner.read_from_disk,
                       "sink", v->sink->name, "kind", kind_names[v->sink->kind], "from", "disk",
                       NULL);
    }
    metrics_family(out, "campaign_relay_sink_lag_events", METRICS_GAUGE,
                   "Committed events the sink has not finished (outbox seq minus the sink's "
                   "cursor).");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_lag_events", &views[i], (double)views[i].runner.lag);
    metrics_family(out, "campaign_relay_sink_outstanding_events", METRICS_GAUGE,
                   "Events handed to the sink's engine and not yet confirmed.");
    for (size_t i = 0; i < n; i++)
        sample(out, "campaign_relay_sink_outstanding_events", &views[i],
               (double)views[i].probe.outstanding);
    metrics_family(out, "campaign_relay_sink_delivering", METRICS_GAUGE,
                   "1 while the sink is delivering, 0 while it fails, stalls or is disabled.");
    int64_t now = time_mono_ms();
    for (size_t i = 0; i < n; i++) {
        const struct sink_view *v = &views[i];
        int64_t since = v->probe.oldest_submit_ms > v->probe.last_progress_ms
                            ? v->probe.oldest_submit_ms
                            : v->probe.last_progress_ms;
        bool stalled = v->probe.outstanding > 0 && now - since > RELAY_SINKS_STALL_MS;
        bool ok = v->sink->started && !v->runner.failing && !v->engine.disabled && !stalled;
        sample(out, "campaign_relay_sink_delivering", v, ok ? 1 : 0);
    }
    metrics_family(out, "campaign_relay_delivery_latency_seconds", METRICS_HISTOGRAM,
                   "Time from the notification frame's arrival to the sink's confirmation, "
                   "for events built from a notification in this process.");
    for (size_t i = 0; i < n; i++) {
        const char *labels[] = {"sink", views[i].sink->name, "kind",
                                kind_names[views[i].sink->kind]};
        metrics_histogram_write(out, "campaign_relay_delivery_latency_seconds", labels, 2,
                                sink_probe_latency(views[i].sink->probe));
    }
    free(views);
}
