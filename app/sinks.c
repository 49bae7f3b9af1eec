#include "app/sinks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publishers/file_sink.h"
#include "publishers/kafka_sink.h"
#include "publishers/sink_runner.h"
#include "publishers/webhook_sink.h"
#include "util/log.h"
#include "util/timeutil.h"

struct sink_filter {
    const struct config_event_filter *filter;
    const char *prefix;
    size_t prefix_len;
};

struct relay_sink {
    char name[160];
    struct sink_runner *runner;
    const struct sink_ops *ops;
    void *engine; /* until started; the runner owns it afterwards */
    struct sink_filter filter;
};

struct relay_sinks {
    struct relay_sink *items;
    size_t count;
    size_t started;
};

static bool sink_wants(void *ctx, const struct relay_event *event)
{
    const struct sink_filter *f = ctx;
    const char *type = event->type;
    if (strncmp(type, f->prefix, f->prefix_len) == 0)
        type += f->prefix_len;
    return config_event_filter_matches(f->filter, type);
}

static struct relay_sink *add_sink(struct relay_sinks *sinks, const struct relay_config *config,
                                   struct outbox *outbox, const char *name,
                                   const struct config_event_filter *filter, char *errstr,
                                   size_t errstr_size)
{
    struct relay_sink *s = &sinks->items[sinks->count];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->filter.filter = filter;
    s->filter.prefix = config->events.type_prefix;
    s->filter.prefix_len = strlen(config->events.type_prefix);
    struct sink_runner_options options = {
        .name = s->name,
        .wants = sink_wants,
        .wants_ctx = &s->filter,
        .type_prefix = config->events.type_prefix,
    };
    s->runner = sink_runner_create(outbox, &options, errstr, errstr_size);
    if (!s->runner)
        return NULL;
    sinks->count++;
    return s;
}

static int add_file_sink(struct relay_sinks *sinks, const struct relay_config *config,
                         struct outbox *outbox, char *errstr, size_t errstr_size)
{
    const struct config_file_sink *fc = &config->sinks.file;
    struct relay_sink *s = add_sink(sinks, config, outbox, "file", &fc->events, errstr,
                                    errstr_size);
    if (!s)
        return -1;
    struct file_sink_options options = {
        .path = fc->path, .max_bytes = fc->max_bytes, .max_files = fc->max_files,
    };
    s->ops = &file_sink_ops;
    s->engine = file_sink_create(&options, errstr, errstr_size);
    return s->engine ? 0 : -1;
}

static int add_kafka_sink(struct relay_sinks *sinks, const struct relay_config *config,
                          struct outbox *outbox, char *errstr, size_t errstr_size)
{
    const struct config_kafka *kc = &config->sinks.kafka;
    struct relay_sink *s = add_sink(sinks, config, outbox, "kafka", &kc->events, errstr,
                                    errstr_size);
    if (!s)
        return -1;
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
        .dead_letter = sink_runner_dead_letter,
        .dead_letter_opaque = s->runner,
    };
    s->ops = &kafka_sink_ops;
    s->engine = kafka_sink_create(&options, errstr, errstr_size);
    free(properties);
    return s->engine ? 0 : -1;
}

static int add_webhook_sink(struct relay_sinks *sinks, const struct relay_config *config,
                            struct outbox *outbox, const struct config_webhook *wc,
                            char *errstr, size_t errstr_size)
{
    char name[160];
    snprintf(name, sizeof name, "webhook:%s", wc->name);
    struct relay_sink *s = add_sink(sinks, config, outbox, name, &wc->events, errstr,
                                    errstr_size);
    if (!s)
        return -1;
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
    options.dead_letter = sink_runner_dead_letter;
    options.dead_letter_opaque = s->runner;
    s->ops = &webhook_sink_ops;
    s->engine = webhook_sink_create(&options, errstr, errstr_size);
    for (size_t i = 0; i < wc->headers.count; i++)
        free(headers[i]);
    free(headers);
    return s->engine ? 0 : -1;
}

struct relay_sinks *relay_sinks_create(const struct relay_config *config, struct outbox *outbox,
                                       char *errstr, size_t errstr_size)
{
    struct relay_sinks *sinks = calloc(1, sizeof *sinks);
    if (!sinks)
        abort();
    size_t capacity = 2 + config->sinks.webhook_count;
    sinks->items = calloc(capacity, sizeof *sinks->items);
    if (!sinks->items)
        abort();
    char detail[1024];
    int rc = 0;
    const char *failing = NULL;
    if (config->sinks.file.enabled && rc == 0) {
        failing = "sinks.file";
        rc = add_file_sink(sinks, config, outbox, detail, sizeof detail);
    }
    if (config->sinks.kafka.enabled && rc == 0) {
        failing = "sinks.kafka";
        rc = add_kafka_sink(sinks, config, outbox, detail, sizeof detail);
    }
    for (size_t i = 0; i < config->sinks.webhook_count && rc == 0; i++) {
        failing = "sinks.webhooks";
        rc = add_webhook_sink(sinks, config, outbox, &config->sinks.webhooks[i], detail,
                              sizeof detail);
    }
    if (rc != 0) {
        snprintf(errstr, errstr_size, "%s: %s", failing, detail);
        relay_sinks_destroy(sinks);
        return NULL;
    }
    if (sinks->count == 0)
        log_warn("sinks", "no sink is configured: events are kept in the outbox only");
    return sinks;
}

int relay_sinks_start(struct relay_sinks *sinks)
{
    for (size_t i = 0; i < sinks->count; i++) {
        struct relay_sink *s = &sinks->items[i];
        char errstr[512];
        void *engine = s->engine;
        s->engine = NULL; /* the runner owns it from here, also on failure */
        if (sink_runner_start(s->runner, s->ops, engine, errstr, sizeof errstr) != 0) {
            log_error("sinks", "cannot start sink %s: %s", s->name, errstr);
            return -1;
        }
        sinks->started++;
    }
    return 0;
}

void relay_sinks_stop(struct relay_sinks *sinks, int64_t grace_ms, atomic_int *abort_flag)
{
    if (!sinks)
        return;
    /* Runners drain in parallel: stop each with what is left of the shared grace. */
    int64_t deadline = time_mono_ms() + grace_ms;
    for (size_t i = 0; i < sinks->count; i++) {
        int64_t left = deadline - time_mono_ms();
        if (left < 0 || (abort_flag && atomic_load(abort_flag) > 1))
            left = 0;
        sink_runner_stop(sinks->items[i].runner, (int)left);
    }
}

void relay_sinks_destroy(struct relay_sinks *sinks)
{
    if (!sinks)
        return;
    for (size_t i = 0; i < sinks->count; i++) {
        struct relay_sink *s = &sinks->items[i];
        if (s->engine && s->ops)
            s->ops->destroy(s->engine);
        sink_runner_destroy(s->runner);
    }
    free(sinks->items);
    free(sinks);
}

size_t relay_sinks_count(const struct relay_sinks *sinks)
{
    return sinks->count;
}
