/*
 * The relay's configuration: a YAML file loaded into plain, typed C structs.
 *
 * Contract: config_load_file()/config_load_buffer() either return a fully validated
 * configuration with every default filled in, or NULL with every problem found (up to
 * a limit) written to errstr, one per line, each naming the file, line, column and key
 * path ("relay.yaml:14:12: sinks.webhooks[1].timeout: expected a duration like 30s or
 * 5m, got \"fast\""). Scalar values go through ${VAR} / ${VAR:-default} expansion ($$ is
 * a literal dollar); secret keys may instead be given as KEY_file: /path. Secret values
 * never appear in error messages nor in config_print_effective(), which masks them.
 *
 * Durations are int64 milliseconds, sizes int64 bytes. Every string is heap-owned by
 * the configuration and freed by config_destroy(). The structs are read-only for the
 * modules that consume them; the configuration is not modified after loading, so any
 * thread may read it.
 */
#ifndef CRELAY_CONFIG_CONFIG_H
#define CRELAY_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "consumer/lifecycle.h"
#include "util/log.h"

/* What a secret looks like in every printed output. */
#define CONFIG_SECRET_MASK "********"

struct config_string_list {
    char **items;
    size_t count;
};

/* An ordered string -> string mapping (Kafka properties, webhook headers). */
struct config_pair {
    char *key;
    char *value;
    bool secret; /* masked when printed */
};

struct config_pair_list {
    struct config_pair *items;
    size_t count;
};

/* Which event types a sink receives. No patterns means every event. A pattern is an
 * exact unprefixed type ("campaign.state_changed"), a family wildcard ("alert.*") or
 * "*". */
struct config_event_filter {
    char **patterns;
    size_t count;
};

enum config_topic {
    CONFIG_TOPIC_CAMPAIGN = 1 << 0,     /* v2.outbound.campaigns.{id} */
    CONFIG_TOPIC_PROGRESS = 1 << 1,     /* v2.outbound.campaigns.{id}.progress */
    CONFIG_TOPIC_STATS = 1 << 2,        /* v2.outbound.campaigns.{id}.stats */
    CONFIG_TOPIC_IMPORTSTATUS = 1 << 3, /* v2.outbound.contactlists.{id}.importstatus */
    CONFIG_TOPIC_ALL = 0xf
};

enum config_dialing_mode {
    CONFIG_MODE_PREDICTIVE = 0,
    CONFIG_MODE_PROGRESSIVE,
    CONFIG_MODE_POWER,
    CONFIG_MODE_PREVIEW,
    CONFIG_MODE_AGENTLESS,
    CONFIG_MODE_EXTERNAL,
    CONFIG_MODE_UNKNOWN,
    CONFIG_MODE_COUNT
};

struct config_platform {
    char *region;    /* canonical region key ("us_east_1"); NULL when URLs were given */
    char *api_url;   /* "https://api.mypurecloud.com", no trailing slash */
    char *login_url; /* "https://login.mypurecloud.com", no trailing slash */
    char *client_id;
    char *client_secret; /* secret */
    int rest_budget_per_minute;
    int64_t request_timeout_ms;
    int64_t token_refresh_margin_ms;
};

struct config_subscriptions {
    bool all_campaigns; /* true unless campaigns: was a selector mapping */
    struct config_string_list campaign_ids;
    struct config_string_list divisions;
    char *name_prefix; /* NULL when not given */
    unsigned topics;   /* enum config_topic bits */
    int64_t rediscover_interval_ms;
    int max_topics_per_channel;
    int max_channels;
};

struct config_stream {
    int64_t heartbeat_timeout_ms;
    int64_t ping_interval_ms;
    int64_t max_frame_bytes;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    int64_t healthy_after_ms;
    int64_t channel_refresh_ms;
    bool decode_thread; /* decode frames on a thread beside the service loop */
};

struct config_status_entry {
    char *raw; /* campaignStatus as the platform sends it */
    enum lifecycle_state state;
};

struct config_lifecycle {
    struct config_status_entry *status_map; /* the whole table (default or configured) */
    size_t status_map_count;
    int64_t tolerance_ms[CONFIG_MODE_COUNT];
    int active_limit;
    int active_warn;
};

struct config_events {
    char *type_prefix;   /* "cx.outbound." */
    char *source_domain; /* CloudEvents source authority, e.g. "mypurecloud.com" */
    int64_t stats_min_interval_ms;
};

struct config_outbox {
    char *path;
    int64_t max_bytes;
    double high_water; /* fraction of max_bytes that raises alert.outbox_pressure */
    int64_t commit_interval_ms;
    int commit_max_events;
    bool synchronous_full; /* outbox.synchronous: full (true) or normal (false, default) */
};

struct config_kafka {
    bool enabled;
    char *brokers;
    char *topic_state;
    char *topic_alerts;
    char *topic_audit;
    struct config_pair_list properties; /* librdkafka properties, in file order */
    struct config_event_filter events;
};

struct config_webhook {
    char *name;
    char *url;
    struct config_string_list secrets; /* "whsec_…" keys, at least one; several during
                                        * rotation; secret */
    struct config_event_filter events;
    int64_t timeout_ms;
    int max_attempts;
    int concurrency;
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
    struct config_pair_list headers;
};

struct config_file_sink {
    bool enabled;
    char *path;
    int64_t max_bytes;
    int max_files;
    struct config_event_filter events;
};

struct config_sinks {
    struct config_kafka kafka;
    struct config_webhook *webhooks;
    size_t webhook_count;
    struct config_file_sink file;
};

struct config_admin {
    char *listen;      /* "127.0.0.1:9464" as given */
    char *listen_host; /* "127.0.0.1" (brackets of an IPv6 literal removed) */
    int listen_port;   /* 0 asks the kernel for an ephemeral port */
    bool listen_given; /* admin.listen was in the file (else the default applies) */
    char *bearer_token; /* secret; NULL when not set */
};

struct config_control {
    int max_concurrent_per_dialer;
    double max_lines_utilization;
    int max_put_retries;
};

struct config_log {
    enum log_level level;
    enum log_format format;
};

struct config_shutdown {
    int64_t grace_ms;
};

struct relay_config {
    char *source_name; /* file name the configuration was loaded from */
    struct config_platform platform;
    struct config_subscriptions subscriptions;
    struct config_stream stream;
    struct config_lifecycle lifecycle;
    struct config_events events;
    struct config_outbox outbox;
    struct config_sinks sinks;
    struct config_admin admin;
    struct config_control control;
    struct config_log log;
    struct config_shutdown shutdown;
};

/* Loads and validates a YAML file. NULL on error, with the errors in errstr. */
struct relay_config *config_load_file(const char *path, char *errstr, size_t errstr_size);
/* Same for text in memory; name is used in error messages. text need not be
 * NUL-terminated. */
struct relay_config *config_load_buffer(const char *name, const char *text, size_t len,
                                        char *errstr, size_t errstr_size);
void config_destroy(struct relay_config *config);

/* Writes the full effective configuration as YAML, defaults filled in and secrets
 * replaced by CONFIG_SECRET_MASK. The output loads again (apart from masked secrets
 * that must have a particular form, such as webhook keys). */
void config_print_effective(const struct relay_config *config, FILE *out);

/* True when the filter lets an event of this type (without the configured prefix,
 * e.g. "alert.dead_letter") through. A NULL or empty filter matches everything. */
bool config_event_filter_matches(const struct config_event_filter *filter,
                                 const char *unprefixed_type);

/* The canonical state for a raw campaignStatus per the configured table;
 * LC_UNKNOWN for values not in it. */
enum lifecycle_state config_status_lookup(const struct config_lifecycle *lifecycle,
                                          const char *raw_status);

/* "predictive", …, "unknown". */
const char *config_dialing_mode_name(enum config_dialing_mode mode);
/* Parses a dialing mode in either case ("predictive" or "PREDICTIVE"); -1 if unknown. */
int config_dialing_mode_parse(const char *text);
/* Transient-state tolerance for a dialing mode as the platform names it; modes the
 * relay does not know (or NULL) get the "unknown" tolerance. */
int64_t config_tolerance_ms(const struct config_lifecycle *lifecycle, const char *dialing_mode);

/* True when a campaign is followed under subscriptions.campaigns: every selector
 * that is given must match (ids, divisions, name_prefix); "all" follows everything.
 * NULL division or name never matches a selector that needs it. */
bool config_campaign_selected(const struct config_subscriptions *subscriptions,
                              const char *campaign_id, const char *division_id,
                              const char *name);

#endif
