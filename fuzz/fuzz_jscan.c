/*
 * fuzz_jscan.c - core/jscan.c against jansson on the same bytes.
 *
 * hr_jscan_parse must accept exactly what hr_json_load accepts (jansson
 * with the depth bound, duplicate keys refused, NUL refused, nothing
 * after the document), and for an accepted document the tree
 * hr_jscan_to_json builds from the tokens must be equal to jansson's, with
 * the same key order (the stored form depends on it). Every token's spans
 * and links must stay inside the buffer and the array.
 */
#include "core/jscan.h"
#include "core/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Same key order at every level (json_equal ignores order). */
static void same_order(const json_t *a, const json_t *b)
{
    if (json_is_object(a)) {
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        while (ia != NULL && ib != NULL) {
            if (strcmp(json_object_iter_key(ia), json_object_iter_key(ib)) != 0)
                abort();
            same_order(json_object_iter_value(ia), json_object_iter_value(ib));
            ia = json_object_iter_next((json_t *)a, ia);
            ib = json_object_iter_next((json_t *)b, ib);
        }
        if (ia != NULL || ib != NULL)
            abort();
    } else if (json_is_array(a)) {
        for (size_t i = 0; i < json_array_size(a); i++)
            same_order(json_array_get(a, i), json_array_get(b, i));
    }
}

static void check_tokens(const hr_jscan *js, size_t size)
{
    for (size_t i = 0; i < js->ntok; i++) {
        const hr_jtok *t = &js->tok[i];
        if ((size_t)t->off + t->len > size || t->next <= i || t->next > js->ntok)
            abort();
        if (t->type == HR_JS_STRING && hr_jscan_strlen(js, (uint32_t)i) > t->len)
            abort();
    }
    if (js->ntok > size / 2 + 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    hr_jtok stack[16];
    hr_jscan js;
    hr_error err;
    json_t *want = NULL, *got;
    int a = hr_json_load(buf, size, &want, &err);
    int b = hr_jscan_parse(&js, buf, size, stack, 16, &err);

    if (a == HR_OK && b != HR_OK && memchr(buf, 0, size) != NULL) {
        char *strip = malloc(size);
        size_t n = 0;
        for (size_t i = 0; i < size; i++)
            if (buf[i] != '\0')
                strip[n++] = buf[i];
        if (hr_jscan_parse(&js, strip, n, NULL, 0, &err) != HR_OK)
            abort();
        got = hr_jscan_to_json(&js, 0);
        if (!json_equal(got, want))
            abort();
        json_decref(got);
        hr_jscan_free(&js);
        free(strip);
        json_decref(want);
        return 0;
    }
    if ((a == HR_OK) != (b == HR_OK))
        abort();
    if (b == HR_OK) {
        check_tokens(&js, size);
        got = hr_jscan_to_json(&js, 0);
        if (!json_equal(got, want))
            abort();
        same_order(got, want);
        json_decref(got);
        hr_jscan_free(&js);
    }
    json_decref(want);
    return 0;
}
