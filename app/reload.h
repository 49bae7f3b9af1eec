/*
 * What a configuration reload (SIGHUP) may change in a running relay, and what it
 * may not.
 *
 * Applied at once: log.level and log.format, shutdown.grace, and everything under
 * sinks (webhook endpoints added, removed or changed, the Kafka and file sinks'
 * settings, and every sink's event filter): a sink whose settings changed is
 * replaced by a new one with the same name, which continues from its cursor.
 * Everything else (platform, subscriptions, stream, lifecycle, events, outbox, admin,
 * control) is wired into running parts and needs a restart; the relay keeps the old
 * values and names the keys.
 *
 * Contract: pure functions over two loaded configurations; nothing is logged here.
 */
#ifndef CRELAY_APP_RELOAD_H
#define CRELAY_APP_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/strbuf.h"

/* True when a sink built from a would behave exactly like one built from b. */
bool reload_webhook_same(const struct config_webhook *a, const struct config_webhook *b);
bool reload_kafka_same(const struct config_kafka *a, const struct config_kafka *b);
bool reload_file_same(const struct config_file_sink *a, const struct config_file_sink *b);

/* Appends to out the dotted paths of the keys that differ between the two
 * configurations and need a restart ("platform.api_url, outbox.max_bytes"), in file
 * order, comma-separated. Secrets are compared by value and named, never shown.
 * Returns how many keys it named. */
size_t reload_restart_keys(const struct relay_config *running, const struct relay_config *loaded,
                           struct strbuf *out);

#endif
