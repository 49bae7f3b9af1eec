/*
 * The running daemon: wires configuration, outbox, audit chain, sinks, the
 * platform worker, the libwebsockets service loop and the consumer together.
 *
 * Contract: relay_create() builds everything or nothing (errstr says what failed
 * and where). relay_run() serves the loop on the calling thread until
 * relay_request_stop(), then shuts down in order: stop reading the stream, commit
 * the outbox, let the sinks deliver what is committed within shutdown.grace, close.
 * relay_request_stop() only sets a flag, so a signal handler may call it; a second
 * request makes relay_run() return at once (nothing is lost: the outbox replays on
 * the next start).
 */
#ifndef CRELAY_APP_RELAY_H
#define CRELAY_APP_RELAY_H

#include <stddef.h>

#include "config/config.h"

struct relay;

struct relay *relay_create(const struct relay_config *config, char *errstr, size_t errstr_size);
/* Returns the process exit status: 0 after a clean shutdown. */
int relay_run(struct relay *relay);
void relay_request_stop(struct relay *relay);
void relay_destroy(struct relay *relay);

#endif
