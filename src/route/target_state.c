/*
 * target_state.c - the defaults of the state types (GitHub, GitLab,
 * Bitbucket, PagerDuty): what a target that reports a state leaves out.
 *
 * A state must end right, so these targets deliver in order per key and
 * the latest state wins: the key is the commit and the context, which is
 * what the service keeps one state of (GitHub's statuses per sha and
 * context, PagerDuty's incident per dedup_key). Both are templates the
 * delivery engine renders from the event, like any target's order_by.
 */
#include "route/config.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One per GoCD pipeline and stage ("gocd/deploy/test"), one per CI job
 * ("jenkins/folder/app", "gitlab/app"). */
#define DEFAULT_CONTEXT                                                                            \
    "{{ if .kind == \"stage-status\" then \"gocd/\\(.pipeline.name)/\\(.stage.name)\" "            \
    "else \"\\(.source)/\\(.job.name)\" end }}"

/* The commit a build ran: Jenkins' and herald notify's, or every git
 * revision of a GoCD stage's build cause. */
#define COMMIT_KEY                                                                                 \
    "{{ .build.scm.commit // ([.build_cause[]? | select(.material_type == \"git\") "               \
    "| .revision] | join(\",\")) }}"

bool hr_target_type_is_state(hr_target_type type)
{
    return type == HR_TARGET_GITHUB || type == HR_TARGET_GITLAB || type == HR_TARGET_BITBUCKET ||
           type == HR_TARGET_PAGERDUTY;
}

void hr_target_state_defaults(hr_target *t)
{
    if (!hr_target_type_is_state(t->type))
        return;
    if (t->context == NULL)
        t->context = hr_strdup(DEFAULT_CONTEXT);
    if (t->type == HR_TARGET_PAGERDUTY && t->severity == NULL)
        t->severity = hr_strdup("error");
    if (t->order_by == NULL) {
        /* PagerDuty keeps one incident per dedup_key, whatever the commit. */
        const char *commit = t->type == HR_TARGET_PAGERDUTY ? "" : COMMIT_KEY " ";
        size_t n = strlen(commit) + strlen(t->context) + 1;
        t->order_by = hr_malloc(n);
        snprintf(t->order_by, n, "%s%s", commit, t->context);
        t->latest_wins = 1;
    }
}
