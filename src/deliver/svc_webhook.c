/*
 * svc_webhook.c - the raw webhook: HTTP's own meaning of an answer. Its
 * request is the engine's (deliver.c renders the target's URL and header
 * templates and its jq body, and signs it), so render is NULL.
 */
#include "deliver/service.h"

static void classify(const hr_svc_answer *a, hr_svc_verdict *v)
{
    hr__svc_classify_http(a, NULL, v);
}

const hr_service hr_svc_webhook = {"webhook", NULL, classify, NULL, NULL};
