/*
 * The libwebsockets server: one loopback port for HTTP (platform REST, OAuth, /sim/) and
 * WebSocket (/channels/{id}), and the periodic tick that drives every timer.
 *
 * Contract: server_create() binds and sets sim->context, sim->port and sim->base_url;
 * server_run() services until *stop is set; server_destroy() closes every connection.
 * WebSocket upgrades need no subprotocol: the only protocol is the default one.
 */
#ifndef GCSIM_SERVER_H
#define GCSIM_SERVER_H

#include <signal.h>
#include <stddef.h>

#include "tests/gcsim/gcsim.h"

int server_create(struct gcsim *sim, char *errstr, size_t errstr_size);
void server_run(struct gcsim *sim, volatile sig_atomic_t *stop);
void server_destroy(struct gcsim *sim);

#endif
