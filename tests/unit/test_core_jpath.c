/*
 * Tests for src/core/jpath.c: the JSON paths validation messages name.
 */
#include <criterion/criterion.h>

#include "core/jpath.h"

#include <string.h>

Test(jpath, keys_and_indexes)
{
    char a[HR_JPATH_LEN], b[HR_JPATH_LEN];
    cr_expect_str_eq(hr_jpath_key(a, "", "pipeline"), "pipeline");
    cr_expect_str_eq(hr_jpath_key(b, a, "stage"), "pipeline.stage");
    cr_expect_str_eq(hr_jpath_index(a, b, 2), "pipeline.stage[2]");
}

Test(jpath, names_the_sender_chose)
{
    char a[HR_JPATH_LEN];
    cr_expect_str_eq(hr_jpath_name(a, "data", "VERSION_2", 9), "data.VERSION_2");
    cr_expect_str_eq(hr_jpath_name(a, "data", "DATA-THREE", 10), "data.DATA-THREE");
    cr_expect_str_eq(hr_jpath_name(a, "data", "a b", 3), "data[\"a b\"]");
    cr_expect_str_eq(hr_jpath_name(a, "", "", 0), "[\"\"]");
    /* Non-ASCII is escaped; a long name is cut after 40 characters, never
     * inside an escape. */
    cr_expect_str_eq(hr_jpath_name(a, "env", "caf\xc3\xa9", 5), "env[\"caf\\u00E9\"]");
    cr_expect_str_eq(hr_jpath_name(a, "env", "0123456789 0123456789 0123456789 0123456789", 43),
                     "env[\"0123456789 0123456789 0123456789 0123456...\"]");
    cr_expect_str_eq(
        hr_jpath_name(a, "env", "0123456789 0123456789 0123456789 012345\xc3\xa9xx", 42),
        "env[\"0123456789 0123456789 0123456789 012345...\"]");
}

Test(jpath, a_long_path_is_cut)
{
    char a[HR_JPATH_LEN], b[HR_JPATH_LEN];
    memset(b, 'x', sizeof(b) - 1);
    b[sizeof(b) - 1] = '\0';
    hr_jpath_key(a, b, "key");
    cr_expect_eq(strlen(a), HR_JPATH_LEN - 1);
}
