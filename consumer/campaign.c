#include "consumer/campaign.h"

#include <stdlib.h>

struct campaign_update *campaign_update_new(void)
{
    struct campaign_update *update = calloc(1, sizeof *update);
    if (!update)
        abort();
    return update;
}

static void ref_free(struct campaign_ref *ref)
{
    free(ref->id);
    free(ref->name);
}

void campaign_update_free(struct campaign_update *update)
{
    if (!update)
        return;
    free(update->id);
    free(update->name);
    free(update->campaign_status);
    free(update->dialing_mode);
    ref_free(&update->contact_list);
    ref_free(&update->division);
    ref_free(&update->edge_group);
    ref_free(&update->site);
    ref_free(&update->queue);
    for (size_t i = 0; i < update->error_count; i++) {
        free(update->errors[i].error);
        free(update->errors[i].details);
    }
    free(update->errors);
    free(update);
}
