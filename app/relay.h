/*
 * The running daemon: wires configuration, outbox, audit chain, sinks, the
 * platform worker, the libwebsockets service loop, the consumer and the admin HTTP
 * server together.
 *
 * Contract: relay_create() builds everything or nothing (errstr says what failed
 * and where); it binds admin.listen and logs the address it serves (an address
 * that was configured and cannot be bound fails the start; when only the default
 * was tried, the relay logs the error and runs without the endpoints). relay_run()
 * serves the loop on the calling thread until relay_request_stop(), then shuts down
 * in order: stop reading the stream, commit the outbox, let the sinks deliver what is
 * committed within shutdown.grace, close, and returns 0. relay_request_stop() and
 * relay_request_reload() only set flags, so a signal handler may call them; a second
 * stop request makes relay_run() return at once (nothing is lost: the outbox replays
 * on the next start).
 *
 * Reload (SIGHUP): the loop reads config_path again. A file that fails to load
 * changes nothing and its errors are logged; otherwise log.*, shutdown.grace and the
 * sinks are applied (app/reload.h) and the keys that need a restart are logged.
 *
 * The relay raises two alerts of its own: alert.outbox_pressure when the outbox
 * passes its high-water mark (and again, severity info, when it is back below), and
 * alert.webhook_disabled when a webhook endpoint answers 410 Gone.
 *
 * The configuration passed to relay_create() is the caller's and must outlive the
 * relay; configurations loaded by reloads are the relay's.
 */
#ifndef CRELAY_APP_RELAY_H
#define CRELAY_APP_RELAY_H

#include <stddef.h>

#include "config/config.h"

struct relay;

struct relay *relay_create(const struct relay_config *config, const char *config_path,
                           char *errstr, size_t errstr_size);
/* Returns the process exit status: 0 after a clean shutdown. */
int relay_run(struct relay *relay);
void relay_request_stop(struct relay *relay);
void relay_request_reload(struct relay *relay);
void relay_destroy(struct relay *relay);

#endif
