/*
 * curl_blast.c - the delivery benchmark's baseline: libcurl's multi
 * interface alone, POSTing the same body to the same target as fast as it
 * can, with keep-alive and CONCURRENCY requests in flight. This is the most
 * a curl-multi delivery engine could do against that target on this
 * machine. Usage: curl_blast URL BODYFILE REQUESTS CONCURRENCY
 * Prints: requests_per_second=N
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: curl_blast URL BODYFILE REQUESTS CONCURRENCY\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    static char body[1 << 20];
    size_t len = f ? fread(body, 1, sizeof(body), f) : 0;
    if (f)
        fclose(f);
    long total = strtol(argv[3], NULL, 10), conc = strtol(argv[4], NULL, 10), started = 0, done = 0,
         failed = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, conc);
    CURL **easy = calloc((size_t)conc, sizeof(*easy));
    double t0 = now();
    for (long i = 0; i < conc && started < total; i++, started++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, argv[1]);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_multi_add_handle(m, easy[i]);
    }
    while (done < total) {
        int running, left;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            long status = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            failed += msg->data.result != CURLE_OK || status != 200;
            done++;
            curl_multi_remove_handle(m, msg->easy_handle);
            if (started < total) {
                started++;
                curl_multi_add_handle(m, msg->easy_handle); /* reuse: keep-alive */
            }
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double secs = now() - t0;
    printf("requests_per_second=%.0f failed=%ld\n", (double)done / secs, failed);
    for (long i = 0; i < conc; i++)
        if (easy[i])
            curl_easy_cleanup(easy[i]);
    free(easy);
    curl_slist_free_all(h);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return failed != 0;
}
