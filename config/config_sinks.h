/*
 * The sinks section of the configuration: sinks.kafka, sinks.webhooks, sinks.file.
 *
 * Contract: config_load_sinks() fills cfg->sinks from the root mapping, reporting
 * through the loader like every section; a block that is present is enabled and gets
 * its defaults. config_sinks_free() releases what it allocated (safe on a zeroed or
 * half-loaded struct).
 */
#ifndef CRELAY_CONFIG_SINKS_H
#define CRELAY_CONFIG_SINKS_H

#include "config/config_read.h"

void config_load_sinks(struct config_loader *l, const struct config_node *root);
void config_sinks_free(struct config_sinks *sinks);

#endif
