/*
 * test_route_config_store.c - the config's store: key (route/config_store.c):
 * a PostgreSQL URI libpq reads, reported at its line and column otherwise,
 * and never quoted (it may hold a password).
 */
#include <criterion/criterion.h>

#include "route/config.h"

#include <string.h>

/* Parses yaml; returns its one problem (new) or NULL when it was valid, in
 * which case *store (new, may be NULL) is the config's store. */
static char *parse(const char *yaml, char **store)
{
    hr_errlist errs = HR_ERRLIST_INIT;
    hr_config *c = NULL;
    char *msg = NULL;
    int rc = hr_config_parse("herald.yaml", yaml, strlen(yaml), &c, &errs);

    *store = NULL;
    if (rc == HR_OK) {
        cr_assert_eq(errs.n, 0);
        *store = c->store != NULL ? strdup(c->store) : NULL;
    } else {
        cr_assert_eq(errs.n, 1, "%zu problems, the first: %s", errs.n, errs.msgs[0]);
        msg = strdup(errs.msgs[0]);
    }
    hr_config_free(c);
    hr_errlist_clear(&errs);
    return msg;
}

Test(store, a_postgresql_uri_is_the_store)
{
    char *store,
        *msg = parse("retention: {events: 30d}\nstore: postgresql://herald@db/herald\n", &store);
    cr_assert_null(msg, "%s", msg);
    cr_expect_str_eq(store, "postgresql://herald@db/herald");
    free(store);
    msg = parse("store: postgres://herald:pw@db:5433/herald?sslmode=require\n", &store);
    cr_assert_null(msg, "%s", msg);
    cr_expect_str_eq(store, "postgres://herald:pw@db:5433/herald?sslmode=require");
    free(store);
}

Test(store, none_or_null_keeps_the_data_folder)
{
    char *store, *msg = parse("retention: {events: 30d}\n", &store);
    cr_assert_null(msg);
    cr_expect_null(store);
    msg = parse("store:\n", &store);
    cr_assert_null(msg);
    cr_expect_null(store);
}

Test(store, environment_variables_fill_it)
{
    char *store, *msg;
    setenv("HR_TEST_PG_PASSWORD", "from-env", 1);
    msg = parse("store: postgresql://herald:${HR_TEST_PG_PASSWORD}@db/herald\n", &store);
    cr_assert_null(msg, "%s", msg);
    cr_expect_str_eq(store, "postgresql://herald:from-env@db/herald");
    free(store);
}

Test(store, other_schemes_are_reported_at_their_place_without_the_uri)
{
    char *store, *msg = parse("delivery: {}\nstore: mysql://herald:hunter22@db/herald\n", &store);
    cr_assert_not_null(msg);
    cr_expect_str_eq(msg, "herald.yaml:2:8: store: expected a PostgreSQL connection URI "
                          "(postgresql://USER@HOST/DATABASE); a data folder is given with "
                          "--data instead");
    free(msg);
    msg = parse("store: /var/lib/herald\n", &store);
    cr_expect(strstr(msg, "herald.yaml:1:8: store: expected a PostgreSQL") == msg, "%s", msg);
    cr_expect_null(strstr(msg, "/var/lib"), "%s", msg);
    free(msg);
}

Test(store, what_libpq_refuses_is_reported_without_the_password)
{
    char *store, *msg = parse("store: postgresql://herald:s3cr%zzet@db/herald\n", &store);
    cr_assert_not_null(msg);
    cr_expect(strncmp(msg, "herald.yaml:1:8: store: libpq cannot read this connection URI", 61) ==
                  0,
              "%s", msg);
    cr_expect_null(strstr(msg, "s3cr"), "%s", msg);
    cr_expect_null(strstr(msg, "zzet"), "%s", msg);
    free(msg);
    /* A message that shows no part of the user or password is kept. */
    msg = parse("store: postgresql://herald@db/herald?nosuchoption=1\n", &store);
    cr_assert_not_null(msg);
    cr_expect_str_eq(msg, "herald.yaml:1:8: store: libpq cannot read this connection URI: "
                          "invalid URI query parameter: \"nosuchoption\"");
    free(msg);
}

Test(store, a_mapping_is_not_a_uri)
{
    char *store, *msg = parse("store:\n  uri: postgresql://h/db\n", &store);
    cr_assert_not_null(msg);
    cr_expect_str_eq(msg, "herald.yaml:2:3: store: expected a PostgreSQL connection URI "
                          "(postgresql://USER@HOST/DATABASE); got a mapping");
    free(msg);
}
