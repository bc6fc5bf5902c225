/*
 * fuzz_config.c - the configuration reader on arbitrary bytes.
 *
 * The bytes are read as herald.yaml, and, when they are a JSON object, as
 * GoCD's plugin settings too. Each call must either give a config and no
 * message or no config and at least one message, every message must be
 * valid UTF-8 (messages travel inside JSON), and a config must describe
 * itself as JSON. Everything is freed here, so LeakSanitizer (or valgrind
 * on the replay program) reports any path that forgets to free.
 */
#include "core/json.h"
#include "route/config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_messages(const hr_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++) {
        json_t *m = json_string(errs->msgs[i]);
        if (m == NULL)
            abort();
        json_decref(m);
    }
}

static void check_config(const hr_config *c)
{
    json_t *j = hr_config_to_json(c);
    if (j == NULL)
        abort();
    json_decref(j);
    for (size_t i = 0; i < c->ntargets; i++)
        if (hr_config_target(c, c->targets[i].name) != &c->targets[i])
            abort();
}

static void run_gocd_settings(const char *text, size_t len)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c;
    json_t *settings;
    int rc;

    if (hr_json_load(text, len, &settings, NULL) != HR_OK)
        return;
    if (json_is_object(settings)) {
        c = hr_config_new_default();
        rc = hr_config_add_gocd_settings(c, settings, &errs);
        if ((rc == HR_OK) != (hr_errlist_count(&errs) == 0))
            abort();
        check_messages(&errs);
        check_config(c);
        hr_config_free(c);
    }
    json_decref(settings);
    hr_errlist_clear(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    int rc = hr_config_parse("fuzz.yaml", (const char *)data, size, &c, &errs);

    if (rc == HR_OK && (c == NULL || hr_errlist_count(&errs) != 0))
        abort();
    if (rc != HR_OK && (c != NULL || hr_errlist_count(&errs) == 0))
        abort();
    check_messages(&errs);
    if (c != NULL)
        check_config(c);
    hr_config_free(c);
    hr_errlist_clear(&errs);
    run_gocd_settings((const char *)data, size);
    return 0;
}
