/*
 * How campaigns and contact lists behave: the platform's status transitions, progress
 * ticks, completion, imports, and the notifications and truth lines each change causes.
 *
 * Contract: every change bumps the campaign's version, sets dateModified, writes a
 * "change" truth line (cause names who did it) and publishes v2.outbound.campaigns.{id}.
 * Functions that can refuse return -1 with a reason in errstr and change nothing.
 */
#ifndef GCSIM_BEHAVIOUR_H
#define GCSIM_BEHAVIOUR_H

#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/gcsim.h"

/* "on" and "off" follow the platform (off passes through stopping, forced_stopping ends
 * in forced_off); other statuses, or direct != 0, are set at once. */
int behaviour_set_status(struct gcsim *sim, struct campaign *c, const char *status,
                         int direct, const char *cause, char *errstr, size_t errstr_size);
/* Sets how many contacts were called; an "on" campaign at 100 % turns complete. */
void behaviour_set_called(struct gcsim *sim, struct campaign *c, int called,
                          const char *cause);
/* A configuration change (fields already applied by the caller). */
void behaviour_config_changed(struct gcsim *sim, struct campaign *c, const char *cause);
int behaviour_set_import(struct gcsim *sim, struct contact_list *l, const char *state,
                         int completed, int total, const char *failure_reason, char *errstr,
                         size_t errstr_size);
/* Ends stopping phases that are due and ticks running campaigns. */
void behaviour_tick(struct gcsim *sim, int64_t now_ms);
/* How long c stays in stopping. */
int64_t behaviour_stopping_ms(const struct gcsim *sim, const struct campaign *c);
/* Writes a "final" truth line per campaign. */
void behaviour_write_final(struct gcsim *sim);

#endif
