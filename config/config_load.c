/*
 * Loading: YAML tree -> struct relay_config, section by section. Every check reports
 * through the diag and carries on, so one run shows every mistake in the file.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_net.h"
#include "config/config_read.h"
#include "config/config_sinks.h"
#include "util/strbuf.h"

#define MAX_ERRORS 50
#define CONFIG_FILE_MAX (4 * 1024 * 1024)

/* ------------------------------------------------------------------------------- */
/* Defaults */

static const struct {
    const char *raw;
    enum lifecycle_state state;
} default_status_map[] = {
    {"on", LC_RUNNING},
    {"off", LC_STOPPED},
    {"stopping", LC_STOPPING},
    {"complete", LC_COMPLETE},
    {"invalid", LC_FAILED},
    {"forced_off", LC_STOPPED},
    {"forced_stopping", LC_STOPPING},
};

static const int64_t default_tolerance_ms[CONFIG_MODE_COUNT] = {
    [CONFIG_MODE_PREDICTIVE] = 180000, [CONFIG_MODE_PROGRESSIVE] = 60000,
    [CONFIG_MODE_POWER] = 60000,       [CONFIG_MODE_PREVIEW] = 60000,
    [CONFIG_MODE_AGENTLESS] = 120000,  [CONFIG_MODE_EXTERNAL] = 300000,
    [CONFIG_MODE_UNKNOWN] = 300000,
};

static void status_map_free(struct config_lifecycle *lifecycle)
{
    for (size_t i = 0; i < lifecycle->status_map_count; i++)
        free(lifecycle->status_map[i].raw);
    free(lifecycle->status_map);
    lifecycle->status_map = NULL;
    lifecycle->status_map_count = 0;
}

static void set_defaults(struct relay_config *cfg)
{
    struct config_platform *p = &cfg->platform;
    p->rest_budget_per_minute = 240;
    p->request_timeout_ms = 10000;
    p->token_refresh_margin_ms = 60000;

    struct config_subscriptions *s = &cfg->subscriptions;
    s->all_campaigns = true;
    s->topics = CONFIG_TOPIC_ALL;
    s->rediscover_interval_ms = 5 * 60000;
    s->max_topics_per_channel = 1000;
    s->max_channels = 20;

    struct config_stream *st = &cfg->stream;
    st->heartbeat_timeout_ms = 60000;
    st->ping_interval_ms = 20000;
    st->max_frame_bytes = 1024 * 1024;
    st->reconnect_min_ms = 1000;
    st->reconnect_max_ms = 60000;
    st->healthy_after_ms = 30000;
    st->channel_refresh_ms = 23LL * 3600 * 1000;
    st->decode_thread = false;

    struct config_lifecycle *lc = &cfg->lifecycle;
    size_t n = sizeof default_status_map / sizeof default_status_map[0];
    lc->status_map = config_xcalloc(n, sizeof *lc->status_map);
    for (size_t i = 0; i < n; i++) {
        lc->status_map[i].raw = config_xstrdup(default_status_map[i].raw);
        lc->status_map[i].state = default_status_map[i].state;
    }
    lc->status_map_count = n;
    memcpy(lc->tolerance_ms, default_tolerance_ms, sizeof lc->tolerance_ms);
    lc->active_limit = 50;
    lc->active_warn = 45;

    cfg->events.type_prefix = config_xstrdup("cx.outbound.");
    cfg->events.stats_min_interval_ms = 10000;

    cfg->outbox.path = config_xstrdup("./campaign-relay.db");
    cfg->outbox.max_bytes = 1024LL * 1024 * 1024;
    cfg->outbox.high_water = 0.8;
    cfg->outbox.commit_interval_ms = 5;
    cfg->outbox.commit_max_events = 1000;

    cfg->admin.listen = config_xstrdup("127.0.0.1:9464");
    cfg->admin.listen_host = config_xstrdup("127.0.0.1");
    cfg->admin.listen_port = 9464;

    cfg->control.max_concurrent_per_dialer = 2;
    cfg->control.max_lines_utilization = 0.9;
    cfg->control.max_put_retries = 3;

    cfg->log.level = LOG_INFO;
    cfg->log.format = LOG_FORMAT_LOGFMT;

    cfg->shutdown.grace_ms = 10000;
}

/* ------------------------------------------------------------------------------- */
/* Sections */

static void load_platform(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "region",
        "api_url",
        "login_url",
        "client_id",
        "client_secret",
        "client_secret_file",
        "rest_budget_per_minute",
        "request_timeout",
        "token_refresh_margin",
        NULL,
    };
    struct config_platform *p = &l->cfg->platform;
    const struct config_node *sec = config_section(l, root, "", "platform");
    if (sec == NULL) {
        if (config_tree_get(root, "platform") == NULL)
            config_report(l, root, "",
                          "missing required section \"platform\" (region or api_url "
                          "and login_url, client_id, client_secret)");
        return;
    }
    const char *path = "platform";
    config_check_keys(l, sec, path, known);

    const struct config_node *region = config_tree_get(sec, "region");
    const struct config_node *api = config_tree_get(sec, "api_url");
    const struct config_node *login = config_tree_get(sec, "login_url");
    char host[256] = "";
    if (region != NULL && (api != NULL || login != NULL)) {
        config_report(l, region, "platform.region",
                      "give either region or api_url and login_url, not both");
    } else if (region != NULL) {
        char *name = config_scalar_text(l, region, "platform.region", "a region such as us_east_1");
        const struct config_region *found = name != NULL ? config_region_find(name) : NULL;
        if (name != NULL && found == NULL) {
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(name, quoted, sizeof quoted);
            const char *suggestion = config_suggest(name, config_region_keys());
            if (suggestion != NULL) {
                config_report(l, region, "platform.region",
                              "unknown region %s; did you mean \"%s\"?", quoted, suggestion);
            } else {
                struct strbuf all;
                strbuf_init(&all);
                for (const char *const *k = config_region_keys(); *k != NULL; k++)
                    strbuf_appendf(&all, "%s%s", all.len ? ", " : "", *k);
                config_report(l, region, "platform.region", "unknown region %s; expected one of %s",
                              quoted, strbuf_cstr(&all));
                strbuf_free(&all);
            }
        }
        if (found != NULL) {
            p->region = config_xstrdup(found->key);
            struct strbuf url;
            strbuf_init(&url);
            strbuf_appendf(&url, "https://api.%s", found->domain);
            p->api_url = strbuf_detach(&url);
            strbuf_appendf(&url, "https://login.%s", found->domain);
            p->login_url = strbuf_detach(&url);
            snprintf(host, sizeof host, "%s", found->domain);
        }
        free(name);
    } else if (api != NULL || login != NULL) {
        p->api_url = config_read_url(l, sec, path, "api_url", host, sizeof host);
        p->login_url = config_read_url(l, sec, path, "login_url", NULL, 0);
        if (api == NULL)
            config_report(l, login, "platform.login_url",
                          "api_url and login_url must be given together");
        if (login == NULL)
            config_report(l, api, "platform.api_url",
                          "api_url and login_url must be given together");
        if (strncmp(host, "api.", 4) == 0)
            memmove(host, host + 4, strlen(host + 4) + 1);
    } else {
        config_report(l, sec, path,
                      "missing required key \"region\" (or \"api_url\" and \"login_url\")");
    }
    if (host[0] != '\0' && l->cfg->events.source_domain == NULL)
        l->cfg->events.source_domain = config_xstrdup(host);

    config_read_string(l, sec, path, "client_id", false, &p->client_id);
    if (config_tree_get(sec, "client_id") == NULL)
        config_report_missing(l, sec, path, "client_id");
    bool failed = false;
    p->client_secret = config_read_secret(l, sec, path, "client_secret", &failed);
    if (p->client_secret == NULL && !failed)
        config_report(l, sec, path,
                      "missing required key \"client_secret\" (or \"client_secret_file\")");
    config_read_int(l, sec, path, "rest_budget_per_minute", 1, 300, &p->rest_budget_per_minute);
    config_read_duration(l, sec, path, "request_timeout", 1, &p->request_timeout_ms);
    config_read_duration(l, sec, path, "token_refresh_margin", 0, &p->token_refresh_margin_ms);
}

static void load_subscriptions(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "campaigns",    "topics", "rediscover_interval", "max_topics_per_channel",
        "max_channels", NULL,
    };
    static const char *const selector_keys[] = {"ids", "divisions", "name_prefix", NULL};
    static const char *const topic_names[] = {"campaign", "progress", "stats", "importstatus",
                                              NULL};
    struct config_subscriptions *s = &l->cfg->subscriptions;
    const struct config_node *sec = config_section(l, root, "", "subscriptions");
    if (sec == NULL)
        return;
    const char *path = "subscriptions";
    config_check_keys(l, sec, path, known);

    const struct config_node *campaigns = config_tree_get(sec, "campaigns");
    if (campaigns != NULL && campaigns->kind == CONFIG_NODE_MAPPING) {
        const char *cpath = "subscriptions.campaigns";
        config_check_keys(l, campaigns, cpath, selector_keys);
        const struct config_node *ids = config_tree_get(campaigns, "ids");
        const struct config_node *divisions = config_tree_get(campaigns, "divisions");
        if (ids != NULL)
            config_read_string_list(l, ids, "subscriptions.campaigns.ids", "campaign id", false,
                                    &s->campaign_ids);
        if (divisions != NULL)
            config_read_string_list(l, divisions, "subscriptions.campaigns.divisions",
                                    "division id", false, &s->divisions);
        config_read_string(l, campaigns, cpath, "name_prefix", false, &s->name_prefix);
        if (ids == NULL && divisions == NULL && config_tree_get(campaigns, "name_prefix") == NULL)
            config_report(l, campaigns, cpath,
                          "expected at least one of ids, divisions, name_prefix");
        else
            s->all_campaigns = false;
    } else if (campaigns != NULL) {
        char *text = config_scalar_text(l, campaigns, "subscriptions.campaigns",
                                        "\"all\" or a mapping with ids, divisions or name_prefix");
        if (text != NULL && strcmp(text, "all") != 0) {
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(text, quoted, sizeof quoted);
            config_report(
                l, campaigns, "subscriptions.campaigns",
                "expected \"all\" or a mapping with ids, divisions or name_prefix, got %s", quoted);
        }
        free(text);
    }

    const struct config_node *topics = config_tree_get(sec, "topics");
    const char *tpath = "subscriptions.topics";
    if (topics != NULL && topics->kind != CONFIG_NODE_SEQUENCE) {
        config_report(l, topics, tpath, "expected a list of topics, got %s",
                      config_tree_kind_name(topics));
    } else if (topics != NULL && topics->count == 0) {
        config_report(l, topics, tpath,
                      "expected at least one of campaign, progress, stats, importstatus");
    } else if (topics != NULL) {
        unsigned bits = 0;
        for (size_t i = 0; i < topics->count; i++) {
            char item_path[CONFIG_PATH_MAX];
            config_path_index(item_path, tpath, i);
            char *name = config_read_list_item(l, topics->items[i], item_path, "topic");
            if (name == NULL)
                continue;
            int found = -1;
            for (int t = 0; topic_names[t] != NULL; t++)
                if (strcmp(name, topic_names[t]) == 0)
                    found = t;
            if (found >= 0) {
                bits |= 1u << found;
            } else {
                char quoted[CONFIG_ECHO_MAX + 16];
                config_quote_value(name, quoted, sizeof quoted);
                const char *suggestion = config_suggest(name, topic_names);
                config_report(l, topics->items[i], item_path,
                              "unknown topic %s%s%s%s; expected campaign, progress, stats or "
                              "importstatus",
                              quoted, suggestion ? " (did you mean \"" : "",
                              suggestion ? suggestion : "", suggestion ? "\"?)" : "");
            }
            free(name);
        }
        if (bits != 0)
            s->topics = bits;
    }
    config_read_duration(l, sec, path, "rediscover_interval", 1000, &s->rediscover_interval_ms);
    config_read_int(l, sec, path, "max_topics_per_channel", 1, 1000, &s->max_topics_per_channel);
    config_read_int(l, sec, path, "max_channels", 1, 20, &s->max_channels);
}

static void load_stream(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "heartbeat_timeout", "ping_interval", "max_frame_bytes", "reconnect_min",
        "reconnect_max",     "healthy_after", "channel_refresh", "decode_thread", NULL,
    };
    struct config_stream *st = &l->cfg->stream;
    const struct config_node *sec = config_section(l, root, "", "stream");
    if (sec == NULL)
        return;
    const char *path = "stream";
    config_check_keys(l, sec, path, known);
    config_read_duration(l, sec, path, "heartbeat_timeout", 1, &st->heartbeat_timeout_ms);
    config_read_duration(l, sec, path, "ping_interval", 1, &st->ping_interval_ms);
    config_read_size(l, sec, path, "max_frame_bytes", 1024, &st->max_frame_bytes);
    config_read_duration(l, sec, path, "reconnect_min", 1, &st->reconnect_min_ms);
    config_read_duration(l, sec, path, "reconnect_max", 1, &st->reconnect_max_ms);
    config_read_duration(l, sec, path, "healthy_after", 0, &st->healthy_after_ms);
    config_read_duration(l, sec, path, "channel_refresh", 60000, &st->channel_refresh_ms);
    config_read_bool(l, sec, path, "decode_thread", &st->decode_thread);
    if (st->ping_interval_ms >= st->heartbeat_timeout_ms)
        config_report(l, config_node_or(sec, "ping_interval"), "stream.ping_interval",
                      "must be shorter than stream.heartbeat_timeout, or a quiet socket is "
                      "declared dead before it is pinged");
    if (st->reconnect_min_ms > st->reconnect_max_ms)
        config_report(l, config_node_or(sec, "reconnect_min"), "stream.reconnect_min",
                      "must not be longer than stream.reconnect_max");
    if (st->channel_refresh_ms >= 24LL * 3600 * 1000)
        config_report(l, config_node_or(sec, "channel_refresh"), "stream.channel_refresh",
                      "must be shorter than 24h: the platform expires channels after 24 hours");
}

static const char *const state_names[] = {
    "UNKNOWN", "STOPPED",  "STARTING", "RUNNING", "PAUSING",
    "PAUSED",  "STOPPING", "COMPLETE", "FAILED",  NULL,
};

static const char *const mode_names[CONFIG_MODE_COUNT + 1] = {
    "predictive", "progressive", "power", "preview", "agentless", "external", "unknown", NULL,
};

static void load_status_map(struct config_loader *l, const struct config_node *node)
{
    const char *path = "lifecycle.status_map";
    if (node->kind != CONFIG_NODE_MAPPING) {
        config_report(l, node, path, "expected a mapping of campaignStatus to state, got %s",
                      config_tree_kind_name(node));
        return;
    }
    if (node->count == 0) {
        config_report(l, node, path,
                      "expected at least one campaignStatus (leave status_map out "
                      "for the default table)");
        return;
    }
    config_check_keys(l, node, path, NULL);
    struct config_status_entry *entries = config_xcalloc(node->count, sizeof *entries);
    size_t count = 0;
    bool ok = true;
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        const struct config_node *value = node->pairs[i].value;
        char entry_path[CONFIG_PATH_MAX];
        config_path_key(entry_path, path, key->scalar);
        char *name = config_scalar_text(l, value, entry_path, "a lifecycle state such as RUNNING");
        if (name == NULL) {
            ok = false;
            continue;
        }
        int state = lifecycle_state_parse(name);
        if (state < 0) {
            char upper[64];
            size_t n = 0;
            for (; name[n] != '\0' && n < sizeof upper - 1; n++)
                upper[n] = (char)toupper((unsigned char)name[n]);
            upper[n] = '\0';
            const char *suggestion = config_suggest(upper, state_names);
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(name, quoted, sizeof quoted);
            config_report(l, value, entry_path,
                          "unknown lifecycle state %s%s%s%s; expected one of STOPPED, STARTING, "
                          "RUNNING, PAUSING, PAUSED, STOPPING, COMPLETE, FAILED, UNKNOWN",
                          quoted, suggestion ? " (did you mean \"" : "",
                          suggestion ? suggestion : "", suggestion ? "\"?)" : "");
            ok = false;
        } else {
            entries[count].raw = config_xstrdup(key->scalar);
            entries[count].state = (enum lifecycle_state)state;
            count++;
        }
        free(name);
    }
    struct config_lifecycle replaced = {.status_map = entries, .status_map_count = count};
    if (!ok) {
        status_map_free(&replaced);
        return;
    }
    status_map_free(&l->cfg->lifecycle);
    l->cfg->lifecycle.status_map = entries;
    l->cfg->lifecycle.status_map_count = count;
}

static void load_tolerance(struct config_loader *l, const struct config_node *node)
{
    const char *path = "lifecycle.tolerance";
    if (node->kind != CONFIG_NODE_MAPPING) {
        if (!config_tree_is_null(node))
            config_report(l, node, path, "expected a mapping of dialing mode to duration, got %s",
                          config_tree_kind_name(node));
        return;
    }
    config_check_keys(l, node, path, NULL);
    for (size_t i = 0; i < node->count; i++) {
        const struct config_node *key = node->pairs[i].key;
        int mode = -1;
        for (int m = 0; m < CONFIG_MODE_COUNT; m++)
            if (strcmp(key->scalar, mode_names[m]) == 0)
                mode = m;
        char key_path[CONFIG_PATH_MAX];
        config_path_key(key_path, path, key->scalar);
        if (mode < 0) {
            const char *suggestion = config_suggest(key->scalar, mode_names);
            config_report(l, key, key_path,
                          "unknown dialing mode%s%s%s; expected predictive, progressive, power, "
                          "preview, agentless, external or unknown",
                          suggestion ? " (did you mean \"" : "", suggestion ? suggestion : "",
                          suggestion ? "\"?)" : "");
            continue;
        }
        config_read_duration(l, node, path, key->scalar, 1000,
                             &l->cfg->lifecycle.tolerance_ms[mode]);
    }
}

static void load_lifecycle(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"status_map", "tolerance", "active_limit", "active_warn",
                                        NULL};
    struct config_lifecycle *lc = &l->cfg->lifecycle;
    const struct config_node *sec = config_section(l, root, "", "lifecycle");
    if (sec == NULL)
        return;
    const char *path = "lifecycle";
    config_check_keys(l, sec, path, known);
    const struct config_node *status_map = config_tree_get(sec, "status_map");
    if (status_map != NULL)
        load_status_map(l, status_map);
    const struct config_node *tolerance = config_tree_get(sec, "tolerance");
    if (tolerance != NULL)
        load_tolerance(l, tolerance);
    config_read_int(l, sec, path, "active_limit", 1, 100000, &lc->active_limit);
    config_read_int(l, sec, path, "active_warn", 1, 100000, &lc->active_warn);
    if (lc->active_warn > lc->active_limit)
        config_report(l, config_node_or(sec, "active_warn"), "lifecycle.active_warn",
                      "must not be above lifecycle.active_limit (%d)", lc->active_limit);
}

static void load_events(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"type_prefix", "source_domain", "stats_min_interval", NULL};
    struct config_events *e = &l->cfg->events;
    const struct config_node *sec = config_section(l, root, "", "events");
    if (sec == NULL)
        return;
    const char *path = "events";
    config_check_keys(l, sec, path, known);
    config_read_string(l, sec, path, "type_prefix", true, &e->type_prefix);
    if (config_has_space_or_control(e->type_prefix))
        config_report(l, config_node_or(sec, "type_prefix"), "events.type_prefix",
                      "must not contain spaces or control characters");
    char *domain = NULL;
    config_read_string(l, sec, path, "source_domain", false, &domain);
    if (domain != NULL) {
        if (config_has_space_or_control(domain) || strchr(domain, '/') != NULL)
            config_report(l, config_node_or(sec, "source_domain"), "events.source_domain",
                          "expected a host name without spaces or '/'");
        config_replace_string(&e->source_domain, domain);
    }
    config_read_duration(l, sec, path, "stats_min_interval", 0, &e->stats_min_interval_ms);
}

static void load_outbox(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {
        "path",         "max_bytes",  "high_water", "commit_interval", "commit_max_events",
        "synchronous", NULL};
    struct config_outbox *o = &l->cfg->outbox;
    const struct config_node *sec = config_section(l, root, "", "outbox");
    if (sec == NULL)
        return;
    const char *path = "outbox";
    config_check_keys(l, sec, path, known);
    config_read_string(l, sec, path, "path", false, &o->path);
    config_read_size(l, sec, path, "max_bytes", 64 * 1024, &o->max_bytes);
    config_read_fraction(l, sec, path, "high_water", 0.0, 1.0, &o->high_water);
    config_read_duration(l, sec, path, "commit_interval", 0, &o->commit_interval_ms);
    config_read_int(l, sec, path, "commit_max_events", 1, 1000000, &o->commit_max_events);
    const struct config_node *sync = config_tree_get(sec, "synchronous");
    if (sync != NULL) {
        char *text = config_scalar_text(l, sync, "outbox.synchronous", "normal or full");
        if (text != NULL && strcmp(text, "normal") == 0) {
            o->synchronous_full = false;
        } else if (text != NULL && strcmp(text, "full") == 0) {
            o->synchronous_full = true;
        } else if (text != NULL) {
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(text, quoted, sizeof quoted);
            config_report(l, sync, "outbox.synchronous",
                          "expected normal or full, got %s", quoted);
        }
        free(text);
    }
}

static void load_admin(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"listen", "bearer_token", "bearer_token_file", NULL};
    struct config_admin *a = &l->cfg->admin;
    const struct config_node *sec = config_section(l, root, "", "admin");
    if (sec == NULL)
        return;
    const char *path = "admin";
    config_check_keys(l, sec, path, known);
    const struct config_node *listen = config_tree_get(sec, "listen");
    if (listen != NULL) {
        char *text = config_scalar_text(l, listen, "admin.listen", "host:port");
        char host[256];
        char err[128];
        int port = 0;
        if (text != NULL &&
            config_hostport_parse(text, host, sizeof host, &port, err, sizeof err)) {
            config_replace_string(&a->listen, text);
            config_replace_string(&a->listen_host, config_xstrdup(host));
            a->listen_port = port;
            a->listen_given = true;
        } else if (text != NULL) {
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(text, quoted, sizeof quoted);
            config_report(l, listen, "admin.listen", "%s, got %s", err, quoted);
            free(text);
        }
    }
    bool failed = false;
    a->bearer_token = config_read_secret(l, sec, path, "bearer_token", &failed);
}

static void load_control(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"max_concurrent_per_dialer", "max_lines_utilization",
                                        "max_put_retries", NULL};
    struct config_control *c = &l->cfg->control;
    const struct config_node *sec = config_section(l, root, "", "control");
    if (sec == NULL)
        return;
    const char *path = "control";
    config_check_keys(l, sec, path, known);
    config_read_int(l, sec, path, "max_concurrent_per_dialer", 1, 1000,
                    &c->max_concurrent_per_dialer);
    config_read_fraction(l, sec, path, "max_lines_utilization", 0.0, 1.0,
                         &c->max_lines_utilization);
    config_read_int(l, sec, path, "max_put_retries", 0, 100, &c->max_put_retries);
}

static void load_log(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"level", "format", NULL};
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    static const char *const formats[] = {"logfmt", "json", NULL};
    const struct config_node *sec = config_section(l, root, "", "log");
    if (sec == NULL)
        return;
    config_check_keys(l, sec, "log", known);
    const struct config_node *level = config_tree_get(sec, "level");
    if (level != NULL) {
        char *text = config_scalar_text(l, level, "log.level", "a log level");
        int parsed = text != NULL ? log_level_parse(text) : -1;
        if (parsed >= 0) {
            l->cfg->log.level = (enum log_level)parsed;
        } else if (text != NULL) {
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(text, quoted, sizeof quoted);
            const char *suggestion = config_suggest(text, levels);
            config_report(l, level, "log.level",
                          "unknown log level %s%s%s%s; expected error, warn, "
                          "info or debug",
                          quoted, suggestion ? " (did you mean \"" : "",
                          suggestion ? suggestion : "", suggestion ? "\"?)" : "");
        }
        free(text);
    }
    const struct config_node *format = config_tree_get(sec, "format");
    if (format != NULL) {
        char *text = config_scalar_text(l, format, "log.format", "logfmt or json");
        if (text != NULL && strcmp(text, "logfmt") == 0) {
            l->cfg->log.format = LOG_FORMAT_LOGFMT;
        } else if (text != NULL && strcmp(text, "json") == 0) {
            l->cfg->log.format = LOG_FORMAT_JSON;
        } else if (text != NULL) {
            char quoted[CONFIG_ECHO_MAX + 16];
            config_quote_value(text, quoted, sizeof quoted);
            const char *suggestion = config_suggest(text, formats);
            config_report(l, format, "log.format",
                          "unknown log format %s%s%s%s; expected logfmt or "
                          "json",
                          quoted, suggestion ? " (did you mean \"" : "",
                          suggestion ? suggestion : "", suggestion ? "\"?)" : "");
        }
        free(text);
    }
}

static void load_shutdown(struct config_loader *l, const struct config_node *root)
{
    static const char *const known[] = {"grace", NULL};
    const struct config_node *sec = config_section(l, root, "", "shutdown");
    if (sec == NULL)
        return;
    config_check_keys(l, sec, "shutdown", known);
    config_read_duration(l, sec, "shutdown", "grace", 0, &l->cfg->shutdown.grace_ms);
}

/* ------------------------------------------------------------------------------- */
/* Entry points */

struct relay_config *config_load_buffer(const char *name, const char *text, size_t len,
                                        char *errstr, size_t errstr_size)
{
    static const char *const known[] = {
        "platform", "subscriptions", "stream",  "lifecycle", "events",   "outbox",
        "sinks",    "admin",         "control", "log",       "shutdown", NULL,
    };
    if (errstr != NULL && errstr_size > 0)
        errstr[0] = '\0';
    if (name == NULL)
        name = "<config>";
    struct config_diag diag;
    config_diag_init(&diag, name, MAX_ERRORS);
    struct config_node *root = text != NULL ? config_tree_parse(text, len, &diag) : NULL;
    if (root == NULL) {
        if (diag.count == 0)
            config_diag_add(&diag, 0, 0, NULL, "no configuration text");
        config_diag_copy(&diag, errstr, errstr_size);
        config_diag_free(&diag);
        return NULL;
    }
    struct relay_config *cfg = config_xcalloc(1, sizeof *cfg);
    cfg->source_name = config_xstrdup(name);
    set_defaults(cfg);
    struct config_loader l = {.diag = &diag, .cfg = cfg};
    if (root->kind != CONFIG_NODE_MAPPING) {
        config_report(&l, root, NULL,
                      "expected a mapping of sections (platform:, sinks:, ...) at the "
                      "top level, got %s",
                      config_tree_kind_name(root));
    } else {
        config_check_keys(&l, root, "", known);
        /* events first: an explicit source_domain wins over the one platform derives. */
        load_events(&l, root);
        load_platform(&l, root);
        load_subscriptions(&l, root);
        load_stream(&l, root);
        load_lifecycle(&l, root);
        load_outbox(&l, root);
        config_load_sinks(&l, root);
        load_admin(&l, root);
        load_control(&l, root);
        load_log(&l, root);
        load_shutdown(&l, root);
    }
    config_tree_free(root);
    if (diag.count > 0) {
        config_diag_copy(&diag, errstr, errstr_size);
        config_diag_free(&diag);
        config_destroy(cfg);
        return NULL;
    }
    config_diag_free(&diag);
    return cfg;
}

struct relay_config *config_load_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct strbuf text;
    strbuf_init(&text);
    int status = strbuf_append_stream(&text, f, CONFIG_FILE_MAX);
    fclose(f);
    if (status != 0) {
        if (status > 0)
            snprintf(errstr, errstr_size, "%s: larger than %d bytes; not a configuration file",
                     path, CONFIG_FILE_MAX);
        else
            snprintf(errstr, errstr_size, "%s: read error", path);
        strbuf_free(&text);
        return NULL;
    }
    struct relay_config *cfg =
        config_load_buffer(path, strbuf_cstr(&text), text.len, errstr, errstr_size);
    strbuf_free(&text);
    return cfg;
}

void config_destroy(struct relay_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->source_name);
    struct config_platform *p = &cfg->platform;
    free(p->region);
    free(p->api_url);
    free(p->login_url);
    free(p->client_id);
    free(p->client_secret);
    config_string_list_free(&cfg->subscriptions.campaign_ids);
    config_string_list_free(&cfg->subscriptions.divisions);
    free(cfg->subscriptions.name_prefix);
    status_map_free(&cfg->lifecycle);
    free(cfg->events.type_prefix);
    free(cfg->events.source_domain);
    free(cfg->outbox.path);
    config_sinks_free(&cfg->sinks);
    free(cfg->admin.listen);
    free(cfg->admin.listen_host);
    free(cfg->admin.bearer_token);
    free(cfg);
}

/* ------------------------------------------------------------------------------- */
/* Lookups for the modules that read the configuration */

enum lifecycle_state config_status_lookup(const struct config_lifecycle *lifecycle,
                                          const char *raw_status)
{
    if (lifecycle == NULL || raw_status == NULL)
        return LC_UNKNOWN;
    for (size_t i = 0; i < lifecycle->status_map_count; i++)
        if (strcmp(lifecycle->status_map[i].raw, raw_status) == 0)
            return lifecycle->status_map[i].state;
    return LC_UNKNOWN;
}

const char *config_dialing_mode_name(enum config_dialing_mode mode)
{
    return (unsigned)mode < CONFIG_MODE_COUNT ? mode_names[mode] : "unknown";
}

int config_dialing_mode_parse(const char *text)
{
    if (text == NULL)
        return -1;
    for (int m = 0; m < CONFIG_MODE_COUNT; m++)
        if (strcasecmp(text, mode_names[m]) == 0)
            return m;
    return -1;
}

int64_t config_tolerance_ms(const struct config_lifecycle *lifecycle, const char *dialing_mode)
{
    int mode = config_dialing_mode_parse(dialing_mode);
    if (mode < 0)
        mode = CONFIG_MODE_UNKNOWN;
    return lifecycle->tolerance_ms[mode];
}

static bool list_contains(const struct config_string_list *list, const char *value)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i], value) == 0)
            return true;
    return false;
}

bool config_campaign_selected(const struct config_subscriptions *s, const char *campaign_id,
                              const char *division_id, const char *name)
{
    if (s->all_campaigns)
        return true;
    if (s->campaign_ids.count > 0 &&
        (campaign_id == NULL || !list_contains(&s->campaign_ids, campaign_id)))
        return false;
    if (s->divisions.count > 0 &&
        (division_id == NULL || !list_contains(&s->divisions, division_id)))
        return false;
    if (s->name_prefix != NULL &&
        (name == NULL || strncmp(name, s->name_prefix, strlen(s->name_prefix)) != 0))
        return false;
    return true;
}
