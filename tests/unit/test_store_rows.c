/*
 * test_store_rows.c - the seam between the store and its engines: rows and
 * their arena (store/rows.c), and the SQLite engine's table, which must
 * fill every entry (the engine-neutral store calls them all unchecked).
 */
#include "store/engine.h"

#include <criterion/criterion.h>
#include <string.h>

Test(store_rows, rows_grow_and_own_their_strings)
{
    hr_rows r;
    char text[8] = "abc";
    hr_rows_init(&r, sizeof(hr_stage_row));
    for (int i = 0; i < 100; i++) {
        hr_stage_row *row = hr_rows_add(&r);
        cr_assert_null(row->pipeline); /* zeroed */
        row->pipeline = hr_rows_str(&r, text, 3);
        row->updated_at = i;
    }
    text[0] = 'x'; /* the rows hold copies */
    cr_assert_eq(r.n, 100);
    for (size_t i = 0; i < r.n; i++) {
        const hr_stage_row *row = hr_rows_at(&r, i);
        cr_assert_str_eq(row->pipeline, "abc");
        cr_assert_eq(row->updated_at, (int64_t)i);
    }
    cr_assert_null(hr_rows_str(&r, NULL, 0));
    /* Bytes with a NUL inside keep their length; a NUL ends them too. */
    const char *b = hr_rows_str(&r, "a\0b", 3);
    cr_assert_eq(memcmp(b, "a\0b", 4), 0);
    hr_rows_free(&r);
    cr_assert_eq(r.n, 0);
    cr_assert_null(r.items);
    hr_rows_free(NULL);
}

/* Every member from open up to end is a function pointer, and set. */
static void expect_filled(const hr_store_engine *e, size_t end)
{
    const unsigned char *p = (const unsigned char *)e;
    for (size_t off = offsetof(hr_store_engine, open); off < end; off += sizeof(void (*)(void))) {
        void (*fn)(void);
        memcpy(&fn, p + off, sizeof(fn));
        cr_expect_not_null(fn, "%s: entry at offset %zu is empty", e->name, off);
    }
}

Test(store_rows, sqlite_fills_the_whole_table)
{
    const hr_store_engine *e = &hr_store__sqlite;
    cr_assert_str_eq(e->name, "sqlite");
    /* All but what only instances sharing a store need (one herald has
     * a SQLite store) and the pipelined transaction (SQLite has no round
     * trips to save). */
    expect_filled(e, offsetof(hr_store_engine, announce));
    cr_expect_null(e->announce);
    cr_expect_null(e->watch);
    cr_expect_null(e->unclaim);
    cr_expect_null(e->begin_piped);
    cr_expect_null(e->redo);
}

Test(store_rows, postgresql_fills_the_whole_table)
{
    const hr_store_engine *e = &hr_store__pg;
    cr_assert_str_eq(e->name, "postgresql");
    expect_filled(e, sizeof(*e));
}
