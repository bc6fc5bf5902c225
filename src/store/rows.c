/*
 * rows.c - the arena behind a read's rows: blocks freed all at once.
 */
#include "store/rows.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* One allocation of the arena; the data follows the header. */
typedef struct hr_rows_block {
    struct hr_rows_block *next;
    max_align_t data[];
} hr_rows_block;

void hr_rows_init(hr_rows *r, size_t size)
{
    memset(r, 0, sizeof(*r));
    r->size = size;
}

void *hr_rows_add(hr_rows *r)
{
    void *row;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->items = hr_realloc(r->items, r->cap * r->size);
    }
    row = (char *)r->items + r->n++ * r->size;
    memset(row, 0, r->size);
    return row;
}

void *hr_rows_alloc(hr_rows *r, size_t size)
{
    hr_rows_block *b = hr_calloc(1, sizeof(*b) + size);
    b->next = r->arena;
    r->arena = b;
    return b->data;
}

const char *hr_rows_str(hr_rows *r, const char *s, size_t len)
{
    char *copy;
    if (s == NULL)
        return NULL;
    copy = hr_rows_alloc(r, len + 1);
    memcpy(copy, s, len);
    return copy;
}

void *hr_rows_at(const hr_rows *r, size_t i)
{
    return (char *)r->items + i * r->size;
}

void hr_rows_free(hr_rows *r)
{
    if (r == NULL)
        return;
    while (r->arena != NULL) {
        hr_rows_block *next = r->arena->next;
        free(r->arena);
        r->arena = next;
    }
    free(r->items);
    r->items = NULL;
    r->n = r->cap = 0;
}
