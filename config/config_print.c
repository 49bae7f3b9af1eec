/*
 * The effective configuration as YAML: every key, defaults filled in, secrets masked.
 * Strings are always double-quoted and '$' is doubled, so the output loads again
 * without any environment expansion.
 */
#include "config/config.h"

#include <inttypes.h>

#include "config/config_units.h"

static void put_quoted(FILE *out, const char *text, bool double_dollars)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '$':
            fputs(double_dollars ? "$$" : "$", out);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* A value: expanded on load, so '$' is escaped. */
static void put_string(FILE *out, const char *text)
{
    put_quoted(out, text, true);
}

/* A mapping key: never expanded. */
static void put_key(FILE *out, const char *text)
{
    put_quoted(out, text, false);
}

static void put_secret(FILE *out)
{
    fputs("\"" CONFIG_SECRET_MASK "\"", out);
}

static void line_string(FILE *out, const char *indent, const char *key, const char *value)
{
    fprintf(out, "%s%s: ", indent, key);
    put_string(out, value);
    fputc('\n', out);
}

static void line_duration(FILE *out, const char *indent, const char *key, int64_t ms)
{
    char text[32];
    config_format_duration(ms, text, sizeof text);
    fprintf(out, "%s%s: %s\n", indent, key, text);
}

static void line_size(FILE *out, const char *indent, const char *key, int64_t bytes)
{
    char text[32];
    config_format_size(bytes, text, sizeof text);
    fprintf(out, "%s%s: %s\n", indent, key, text);
}

static void line_int(FILE *out, const char *indent, const char *key, long long value)
{
    fprintf(out, "%s%s: %lld\n", indent, key, value);
}

static void line_double(FILE *out, const char *indent, const char *key, double value)
{
    fprintf(out, "%s%s: %.15g\n", indent, key, value);
}

static void put_list(FILE *out, char *const *items, size_t count)
{
    fputc('[', out);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            fputs(", ", out);
        put_string(out, items[i]);
    }
    fputc(']', out);
}

static void line_filter(FILE *out, const char *indent, const struct config_event_filter *f)
{
    fprintf(out, "%sevents: ", indent);
    if (f->count == 0)
        fputs("[\"*\"]", out);
    else
        put_list(out, f->patterns, f->count);
    fputc('\n', out);
}

static void print_pairs(FILE *out, const char *indent, const char *key,
                        const struct config_pair_list *pairs)
{
    if (pairs->count == 0) {
        fprintf(out, "%s%s: {}\n", indent, key);
        return;
    }
    fprintf(out, "%s%s:\n", indent, key);
    for (size_t i = 0; i < pairs->count; i++) {
        fprintf(out, "%s  ", indent);
        put_key(out, pairs->items[i].key);
        fputs(": ", out);
        if (pairs->items[i].secret)
            put_secret(out);
        else
            put_string(out, pairs->items[i].value);
        fputc('\n', out);
    }
}

static void print_platform(FILE *out, const struct config_platform *p)
{
    fputs("platform:\n", out);
    if (p->region != NULL) {
        line_string(out, "  ", "region", p->region);
        fprintf(out, "  # api_url: %s (derived from region)\n", p->api_url);
        fprintf(out, "  # login_url: %s (derived from region)\n", p->login_url);
    } else {
        line_string(out, "  ", "api_url", p->api_url);
        line_string(out, "  ", "login_url", p->login_url);
    }
    line_string(out, "  ", "client_id", p->client_id);
    fputs("  client_secret: ", out);
    put_secret(out);
    fputc('\n', out);
    line_int(out, "  ", "rest_budget_per_minute", p->rest_budget_per_minute);
    line_duration(out, "  ", "request_timeout", p->request_timeout_ms);
    line_duration(out, "  ", "token_refresh_margin", p->token_refresh_margin_ms);
}

static void print_subscriptions(FILE *out, const struct config_subscriptions *s)
{
    static const char *const topic_names[] = {"campaign", "progress", "stats", "importstatus"};
    fputs("subscriptions:\n", out);
    if (s->all_campaigns) {
        fputs("  campaigns: all\n", out);
    } else {
        fputs("  campaigns:\n", out);
        if (s->campaign_ids.count > 0) {
            fputs("    ids: ", out);
            put_list(out, s->campaign_ids.items, s->campaign_ids.count);
            fputc('\n', out);
        }
        if (s->divisions.count > 0) {
            fputs("    divisions: ", out);
            put_list(out, s->divisions.items, s->divisions.count);
            fputc('\n', out);
        }
        if (s->name_prefix != NULL)
            line_string(out, "    ", "name_prefix", s->name_prefix);
    }
    fputs("  topics: [", out);
    bool first = true;
    for (int t = 0; t < 4; t++) {
        if (s->topics & (1u << t)) {
            fprintf(out, "%s%s", first ? "" : ", ", topic_names[t]);
            first = false;
        }
    }
    fputs("]\n", out);
    line_duration(out, "  ", "rediscover_interval", s->rediscover_interval_ms);
    line_int(out, "  ", "max_topics_per_channel", s->max_topics_per_channel);
    line_int(out, "  ", "max_channels", s->max_channels);
}

static void print_stream(FILE *out, const struct config_stream *st)
{
    fputs("stream:\n", out);
    line_duration(out, "  ", "heartbeat_timeout", st->heartbeat_timeout_ms);
    line_duration(out, "  ", "ping_interval", st->ping_interval_ms);
    line_size(out, "  ", "max_frame_bytes", st->max_frame_bytes);
    line_duration(out, "  ", "reconnect_min", st->reconnect_min_ms);
    line_duration(out, "  ", "reconnect_max", st->reconnect_max_ms);
    line_duration(out, "  ", "healthy_after", st->healthy_after_ms);
    line_duration(out, "  ", "channel_refresh", st->channel_refresh_ms);
    fprintf(out, "  decode_thread: %s\n", st->decode_thread ? "true" : "false");
}

static void print_lifecycle(FILE *out, const struct config_lifecycle *lc)
{
    fputs("lifecycle:\n  status_map:\n", out);
    for (size_t i = 0; i < lc->status_map_count; i++) {
        fputs("    ", out);
        put_key(out, lc->status_map[i].raw);
        fprintf(out, ": %s\n", lifecycle_state_name(lc->status_map[i].state));
    }
    fputs("  tolerance:\n", out);
    for (int m = 0; m < CONFIG_MODE_COUNT; m++)
        line_duration(out, "    ", config_dialing_mode_name((enum config_dialing_mode)m),
                      lc->tolerance_ms[m]);
    line_int(out, "  ", "active_limit", lc->active_limit);
    line_int(out, "  ", "active_warn", lc->active_warn);
}

static void print_events_and_outbox(FILE *out, const struct relay_config *cfg)
{
    fputs("events:\n", out);
    line_string(out, "  ", "type_prefix", cfg->events.type_prefix);
    if (cfg->events.source_domain != NULL)
        line_string(out, "  ", "source_domain", cfg->events.source_domain);
    line_duration(out, "  ", "stats_min_interval", cfg->events.stats_min_interval_ms);

    const struct config_outbox *o = &cfg->outbox;
    fputs("outbox:\n", out);
    line_string(out, "  ", "path", o->path);
    line_size(out, "  ", "max_bytes", o->max_bytes);
    line_double(out, "  ", "high_water", o->high_water);
    line_duration(out, "  ", "commit_interval", o->commit_interval_ms);
    line_int(out, "  ", "commit_max_events", o->commit_max_events);
    fprintf(out, "  synchronous: %s\n", o->synchronous_full ? "full" : "normal");
}

static void print_webhook(FILE *out, const struct config_webhook *w)
{
    fputs("    - name: ", out);
    put_string(out, w->name);
    fputc('\n', out);
    line_string(out, "      ", "url", w->url);
    if (w->secrets.count == 1) {
        fputs("      secret: ", out);
        put_secret(out);
        fputc('\n', out);
    } else if (w->secrets.count > 1) {
        fputs("      secret: [", out);
        for (size_t i = 0; i < w->secrets.count; i++) {
            if (i > 0)
                fputs(", ", out);
            put_secret(out);
        }
        fputs("]\n", out);
    }
    line_filter(out, "      ", &w->events);
    line_duration(out, "      ", "timeout", w->timeout_ms);
    line_int(out, "      ", "max_attempts", w->max_attempts);
    line_int(out, "      ", "concurrency", w->concurrency);
    line_duration(out, "      ", "backoff_min", w->backoff_min_ms);
    line_duration(out, "      ", "backoff_max", w->backoff_max_ms);
    print_pairs(out, "      ", "headers", &w->headers);
}

static void print_sinks(FILE *out, const struct config_sinks *s)
{
    fputs("sinks:\n", out);
    const struct config_kafka *k = &s->kafka;
    if (k->enabled) {
        fputs("  kafka:\n", out);
        line_string(out, "    ", "brokers", k->brokers);
        fputs("    topics:\n", out);
        line_string(out, "      ", "state", k->topic_state);
        line_string(out, "      ", "alerts", k->topic_alerts);
        line_string(out, "      ", "audit", k->topic_audit);
        print_pairs(out, "    ", "properties", &k->properties);
        line_filter(out, "    ", &k->events);
    } else {
        fputs("  # kafka: not configured\n", out);
    }
    if (s->webhook_count == 0) {
        fputs("  webhooks: []\n", out);
    } else {
        fputs("  webhooks:\n", out);
        for (size_t i = 0; i < s->webhook_count; i++)
            print_webhook(out, &s->webhooks[i]);
    }
    const struct config_file_sink *f = &s->file;
    if (f->enabled) {
        fputs("  file:\n", out);
        line_string(out, "    ", "path", f->path);
        line_size(out, "    ", "max_bytes", f->max_bytes);
        line_int(out, "    ", "max_files", f->max_files);
        line_filter(out, "    ", &f->events);
    } else {
        fputs("  # file: not configured\n", out);
    }
}

static void print_operations(FILE *out, const struct relay_config *cfg)
{
    fputs("admin:\n", out);
    line_string(out, "  ", "listen", cfg->admin.listen);
    if (cfg->admin.bearer_token != NULL) {
        fputs("  bearer_token: ", out);
        put_secret(out);
        fputc('\n', out);
    } else {
        fputs("  # bearer_token: not set (admin endpoints need no token)\n", out);
    }
    const struct config_control *c = &cfg->control;
    fputs("control:\n", out);
    line_int(out, "  ", "max_concurrent_per_dialer", c->max_concurrent_per_dialer);
    line_double(out, "  ", "max_lines_utilization", c->max_lines_utilization);
    line_int(out, "  ", "max_put_retries", c->max_put_retries);
    fputs("log:\n", out);
    fprintf(out, "  level: %s\n", log_level_name(cfg->log.level));
    fprintf(out, "  format: %s\n", cfg->log.format == LOG_FORMAT_JSON ? "json" : "logfmt");
    fputs("shutdown:\n", out);
    line_duration(out, "  ", "grace", cfg->shutdown.grace_ms);
}

void config_print_effective(const struct relay_config *cfg, FILE *out)
{
    if (cfg == NULL)
        return;
    fputs("# Effective configuration", out);
    if (cfg->source_name != NULL) {
        fputs(" of ", out);
        for (const char *p = cfg->source_name; *p != '\0'; p++)
            fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
    }
    fputs(", defaults filled in; secrets are shown as \"" CONFIG_SECRET_MASK "\".\n", out);
    print_platform(out, &cfg->platform);
    print_subscriptions(out, &cfg->subscriptions);
    print_stream(out, &cfg->stream);
    print_lifecycle(out, &cfg->lifecycle);
    print_events_and_outbox(out, cfg);
    print_sinks(out, &cfg->sinks);
    print_operations(out, cfg);
}
