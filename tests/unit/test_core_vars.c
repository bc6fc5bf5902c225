/*
 * test_core_vars.c - the ordered (name, value) list: order, replacing in
 * place, removing, lookups, and the JSON it writes.
 */
#include <criterion/criterion.h>

#include "core/vars.h"

#include <stdlib.h>
#include <string.h>

/* The list as JSON text (new). */
static char *written(const hr_vars *vs)
{
    hr_jw w;
    size_t len;
    char *text;

    hr_jw_init(&w, 1u << 16);
    hr_vars_write(&w, vs);
    text = hr_jw_take(&w, &len);
    cr_assert_not_null(text);
    cr_assert_eq(strlen(text), len);
    return text;
}

static void expect_written(const hr_vars *vs, const char *want)
{
    char *got = written(vs);
    cr_expect_str_eq(got, want);
    free(got);
}

Test(vars, keeps_the_order_names_were_added_in)
{
    hr_vars *vs = hr_vars_new();

    hr_vars_add(vs, "B", 1, "2", 1);
    hr_vars_add(vs, "A", 1, "1", 1);
    hr_vars_add(vs, "C", 1, "", 0);
    cr_assert_eq(vs->n, 3);
    cr_expect_str_eq(hr_vars_name(vs, 0), "B");
    cr_expect_str_eq(hr_vars_value(vs, 1), "1");
    expect_written(vs, "{\"B\":\"2\",\"A\":\"1\",\"C\":\"\"}");
    hr_vars_free(vs);
}

Test(vars, set_replaces_where_the_name_first_stood)
{
    hr_vars *vs = hr_vars_new();

    hr_vars_set(vs, "A", 1, "1", 1);
    hr_vars_set(vs, "B", 1, "2", 1);
    hr_vars_set(vs, "A", 1, "3", 1);
    expect_written(vs, "{\"A\":\"3\",\"B\":\"2\"}");
    cr_expect_eq(hr_vars_find(vs, "B", 1), 1);
    cr_expect_eq(hr_vars_find(vs, "AB", 2), -1);
    cr_expect_eq(hr_vars_find(vs, "", 0), -1);
    hr_vars_free(vs);
}

Test(vars, survives_growth_and_removal)
{
    hr_vars *vs = hr_vars_new();
    char name[16], value[32];

    /* Past the first capacities of both buffers, so they move. */
    for (int i = 0; i < 300; i++) {
        int n = snprintf(name, sizeof(name), "V%d", i);
        int v = snprintf(value, sizeof(value), "value number %d", i);
        hr_vars_add(vs, name, (size_t)n, value, (size_t)v);
    }
    hr_vars_set_value(vs, 7, "seven", 5);
    hr_vars_remove(vs, 0);
    cr_assert_eq(vs->n, 299);
    cr_expect_str_eq(hr_vars_name(vs, 0), "V1");
    cr_expect_str_eq(hr_vars_value(vs, 6), "seven");
    cr_expect_eq(vs->v[6].value_len, 5);
    cr_expect_str_eq(hr_vars_value(vs, 298), "value number 299");
    cr_expect_eq(hr_vars_find(vs, "V299", 4), 298);
    cr_expect_eq(hr_vars_find(vs, "V0", 2), -1);
    hr_vars_free(vs);
}

Test(vars, writes_as_jansson_and_leaves_out_invalid_utf8)
{
    hr_vars *vs = hr_vars_new();

    hr_vars_add(vs, "q\"", 2, "a\nb\x01\xc3\xa9/", 7);
    hr_vars_add(vs, "BAD", 3, "\xc3", 1);
    hr_vars_add(vs, "NUL", 3, "a\0b", 3);
    expect_written(vs, "{\"q\\\"\":\"a\\nb\\u0001\xc3\xa9/\",\"NUL\":\"a\\u0000b\"}");
    hr_vars_free(vs);
}

Test(vars, empty_is_an_empty_object_and_free_takes_null)
{
    hr_vars *vs = hr_vars_new();

    expect_written(vs, "{}");
    hr_vars_reserve(vs, 4, 64);
    expect_written(vs, "{}");
    hr_vars_free(vs);
    hr_vars_free(NULL);
}
