/*
 * The relay's notification channels: one per topic_plan slot, each created over
 * REST, subscribed with PUT + ignoreErrors=true, and held open as a WebSocket.
 *
 * Contract (everything on the lws service loop thread):
 *  - channel_manager_sync() makes every slot of the plan that is dirty converge:
 *    a slot without a channel gets one (reusing a channel id remembered from an
 *    earlier run when the platform still knows it, so restarts do not leak
 *    channels towards the 20-channel cap); a slot whose topic list changed gets
 *    its full list PUT again.
 *  - A socket that closes unasked is reconnected with full-jitter backoff forever;
 *    a channel the platform no longer knows (HEAD 404, no_longer_subscribed,
 *    token_revoked) is replaced by a new one with the same topics.
 *  - v2.system.socket_closing and channel refresh never open a gap: a replacement
 *    channel with the same topics is created, subscribed and connected before the
 *    old socket is closed. Duplicates across the overlap are the cache's to drop
 *    (by version).
 *  - Coverage: a slot is covered while its socket is established. When a slot's
 *    coverage comes back after a loss (or for the first time), on_covered() tells
 *    the owner when it was lost so the owner reconciles over REST.
 *  - REST goes through the owner's port (the platform worker); the owner hands
 *    every result whose tag has CHANNEL_MANAGER_TAG set back to
 *    channel_manager_on_result().
 */
#ifndef CRELAY_CONSUMER_CHANNEL_MANAGER_H
#define CRELAY_CONSUMER_CHANNEL_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "consumer/topic_plan.h"

#define CHANNEL_MANAGER_TAG (1ULL << 62)

struct channel_manager;

struct channel_manager_port {
    /* Queues a REST call; its result must come back through
     * channel_manager_on_result() with the same tag. Returns 0, or -1 when the call
     * cannot be queued (the manager retries later). */
    int (*submit)(void *opaque, const char *method, const char *path, const char *body,
                  uint64_t tag);
    /* Remembered channel ids per slot, for reuse after a restart (may be NULL). */
    char *(*load_channel_id)(void *opaque, size_t slot); /* caller frees; NULL if none */
    void (*save_channel_id)(void *opaque, size_t slot, const char *channel_id);
    void *opaque;
};

struct channel_manager_events {
    /* One complete text message from a socket. */
    void (*on_message)(void *owner, size_t slot, const char *text, size_t len);
    void (*on_oversized)(void *owner, size_t slot, size_t bytes);
    /* Coverage of a slot came back: lost_at_ms is the wall-clock time it was lost (0
     * for the first connection of the slot). */
    void (*on_covered)(void *owner, size_t slot, int64_t lost_at_ms);
    /* A topic the platform refused (PUT with ignoreErrors). Reported once per
     * channel and topic. */
    void (*on_topic_rejected)(void *owner, const char *topic, const char *reason);
    void *owner;
};

struct channel_manager_options {
    struct lws_context *context;
    struct topic_plan *plan; /* borrowed; the owner updates it and then calls sync */
    int64_t max_frame_bytes;
    int64_t ping_interval_ms;
    int64_t heartbeat_timeout_ms;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    int64_t healthy_after_ms;
    int64_t channel_refresh_ms; /* re-PUT the topics this often to extend expiry */
};

struct channel_manager_counters {
    uint64_t channels_created;
    uint64_t channels_reused;
    uint64_t subscription_puts;
    uint64_t topics_rejected;
    uint64_t reconnects_remote;     /* by cause of the close that led to them */
    uint64_t reconnects_heartbeat;
    uint64_t reconnects_connect_failed;
    uint64_t rotations_socket_closing;
    uint64_t rotations_refresh;
    uint64_t replacements_lost;     /* channel gone: new channel created */
    uint64_t oversized_frames;
    uint64_t messages;
};

struct channel_manager *channel_manager_create(const struct channel_manager_options *options,
                                               const struct channel_manager_port *port,
                                               const struct channel_manager_events *events,
                                               char *errstr, size_t errstr_size);
/* Closes every socket; the lws context must still be alive. */
void channel_manager_destroy(struct channel_manager *manager);

void channel_manager_sync(struct channel_manager *manager);
void channel_manager_on_result(struct channel_manager *manager, uint64_t tag, long status,
                               const char *body, const char *errstr);

/* System notifications seen on a slot's socket (decoded by the owner). */
void channel_manager_socket_closing(struct channel_manager *manager, size_t slot);
void channel_manager_channel_lost(struct channel_manager *manager, size_t slot,
                                  const char *why);

/* Stops reconnecting and closes every socket (shutdown). */
void channel_manager_close_all(struct channel_manager *manager);

size_t channel_manager_slots(const struct channel_manager *manager);
bool channel_manager_slot_connected(const struct channel_manager *manager, size_t slot);
/* True when every slot that has topics has an established socket. */
bool channel_manager_all_connected(const struct channel_manager *manager);
size_t channel_manager_connected_count(const struct channel_manager *manager);
void channel_manager_get_counters(const struct channel_manager *manager,
                                  struct channel_manager_counters *out);
/* The channel id serving a slot (NULL when none yet). */
const char *channel_manager_channel_id(const struct channel_manager *manager, size_t slot);

#endif
