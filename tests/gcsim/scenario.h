/*
 * What gcsim plays: seeded campaigns, a scripted JSON timeline, and seeded-random traffic.
 *
 * Contract: scenario_load() reads and validates the whole file before anything is
 * created, and reports errors with their JSON path ("timeline[3].status: ..."). The
 * timeline clock starts per the file's "startOn" (connect, launch or control); actions
 * run from scenario_tick() in order of "at". Traffic draws every choice from its own
 * seeded generator, so a seed replays the same sequence of actions.
 */
#ifndef GCSIM_SCENARIO_H
#define GCSIM_SCENARIO_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/gcsim.h"

struct scenario *scenario_create(void);
void scenario_destroy(struct scenario *sc);

int scenario_load(struct gcsim *sim, const char *path, char *errstr, size_t errstr_size);
/* Creates --campaigns N seeded campaigns, each with its own contact list. */
void scenario_seed_campaigns(struct gcsim *sim);
void scenario_enable_traffic(struct gcsim *sim);
/* Pauses (0) or resumes (1) random traffic; control API POST /sim/traffic. */
void scenario_set_traffic(struct gcsim *sim, int enabled);
/* A campaign from a JSON spec (README, "campaigns" entries); added to the store. */
struct campaign *scenario_create_campaign(struct gcsim *sim, const cJSON *spec,
                                          char *errstr, size_t errstr_size);

/* The file's stopping time for a dialing mode, or -1 when it sets none. */
int64_t scenario_stopping_ms(const struct scenario *sc, const char *dialing_mode);
void scenario_start(struct gcsim *sim, int64_t now_ms);
void scenario_on_socket_ready(struct gcsim *sim, int64_t now_ms);
void scenario_tick(struct gcsim *sim, int64_t now_ms);
int scenario_has_timeline(const struct scenario *sc);

#endif
