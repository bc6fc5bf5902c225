/*
 * paced.c - an open-loop load generator: POSTs one body to one URL at a
 * fixed rate, whatever the server's answers, and prints the latency of
 * every request counted from the moment it was due, not from the moment
 * it could be sent. A closed-loop tool such as wrk sends the next request
 * only when an answer came back, so a server that stalls is simply asked
 * less and its worst latencies never appear ("coordinated omission"); a
 * paced client keeps asking, and a request that waits for a free
 * connection waits on the clock.
 *
 * Usage: paced URL BODYFILE RATE SECONDS CONNECTIONS [HEADER...]
 * Requests go out over at most CONNECTIONS keep-alive connections (libcurl
 * multi), opened as needed. Prints one line:
 *   RESULT rate=R sent=N ok=N failed=N p50_ms=.. p90_ms=.. p99_ms=..
 *          p999_ms=.. max_ms=.. late_ms=..
 * where ok counts 2xx answers and late_ms is the mean delay between a
 * request's due time and its start (the client's own lag: near zero when
 * it keeps up, large when every connection was busy).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The q-quantile of n sorted values (nearest rank), in ms. */
static double quantile(const double *v, long n, double q)
{
    double rank = q * (double)n;
    long i = (long)rank;

    if ((double)i < rank)
        i++; /* the rank rounded up: the first value with q of all at or below it */
    i--;

    if (n == 0)
        return 0;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i] * 1e3;
}

/* One connection's handle and the due time of the request it carries. */
struct conn {
    CURL *easy;
    double due;
    int busy;
};

static CURL *new_easy(const char *url, const char *body, long len, struct curl_slist *headers,
                      struct conn *c)
{
    CURL *e = curl_easy_init();

    if (e == NULL)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return e;
}

int main(int argc, char **argv)
{
    static char body[1 << 20];
    struct curl_slist *headers = NULL;
    struct conn *conns;
    double *lat, rate, seconds, t0, t_end, late_sum = 0;
    long total, nconn, opened = 0, next = 0, done = 0, ok = 0, failed = 0, running = 0;
    size_t len;
    CURLM *m;
    FILE *f;

    if (argc < 6) {
        fprintf(stderr, "usage: paced URL BODYFILE RATE SECONDS CONNECTIONS [HEADER...]\n");
        return 2;
    }
    f = fopen(argv[2], "rb");
    if (f == NULL) {
        fprintf(stderr, "paced: cannot open %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    len = fread(body, 1, sizeof(body), f);
    fclose(f);
    rate = strtod(argv[3], NULL);
    seconds = strtod(argv[4], NULL);
    nconn = strtol(argv[5], NULL, 10);
    if (rate <= 0 || seconds <= 0 || nconn <= 0) {
        fprintf(stderr, "paced: RATE, SECONDS and CONNECTIONS must be positive\n");
        return 2;
    }
    total = (long)(rate * seconds);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    for (int i = 6; i < argc; i++)
        headers = curl_slist_append(headers, argv[i]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, nconn);
    conns = calloc((size_t)nconn, sizeof(*conns));
    lat = calloc((size_t)total + 1, sizeof(*lat));
    if (conns == NULL || lat == NULL || m == NULL)
        return 1;

    t0 = now();
    t_end = t0 + seconds;
    while (done < total) {
        double t = now(), wait;
        CURLMsg *msg;
        int left, blocked = 0;

        /* Start every request that is due, on an idle connection or a new
         * one; what finds none waits for the next answer, still due at
         * its own time. */
        while (next < total && t0 + (double)next / rate <= t) {
            struct conn *c = NULL;

            for (long i = 0; i < opened && c == NULL; i++)
                if (!conns[i].busy)
                    c = &conns[i];
            if (c == NULL && opened < nconn) {
                c = &conns[opened];
                c->easy = new_easy(argv[1], body, (long)len, headers, c);
                if (c->easy == NULL)
                    return 1;
                opened++;
            }
            if (c == NULL) {
                blocked = 1;
                break;
            }
            c->due = t0 + (double)next / rate;
            c->busy = 1;
            late_sum += t - c->due;
            curl_multi_add_handle(m, c->easy);
            next++;
        }
        curl_multi_perform(m, &left);
        running = left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            struct conn *c;
            long status = 0;

            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result == CURLE_OK && status >= 200 && status < 300)
                ok++;
            else
                failed++;
            lat[done++] = now() - c->due;
            curl_multi_remove_handle(m, msg->easy_handle);
            c->busy = 0;
        }
        if (done >= total)
            break;
        /* Sleep on the sockets until an answer or the next due time, to
         * the microsecond (curl_multi_poll counts whole milliseconds,
         * which would bunch a rate of thousands per second into bursts). */
        wait = next < total && !blocked ? t0 + (double)next / rate - now() : 0.01;
        if (running > 0 || wait > 0) {
            fd_set r, w, x;
            int maxfd = -1;
            long ms = -1;
            struct timeval tv;

            FD_ZERO(&r);
            FD_ZERO(&w);
            FD_ZERO(&x);
            curl_multi_fdset(m, &r, &w, &x, &maxfd);
            curl_multi_timeout(m, &ms);
            if (ms >= 0 && (double)ms / 1e3 < wait)
                wait = (double)ms / 1e3;
            if (wait < 0)
                wait = 0;
            if (wait > 0.01)
                wait = 0.01;
            tv.tv_sec = 0;
            tv.tv_usec = (long)(wait * 1e6);
            select(maxfd + 1, &r, &w, &x, &tv);
        }
        if (now() > t_end + 60) {
            fprintf(stderr, "paced: answers still missing a minute after the end\n");
            break;
        }
    }

    qsort(lat, (size_t)done, sizeof(*lat), by_value);
    printf("RESULT rate=%.0f sent=%ld ok=%ld failed=%ld p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f max_ms=%.3f late_ms=%.3f\n",
           (double)done / (now() - t0), next, ok, failed, quantile(lat, done, 0.5),
           quantile(lat, done, 0.9), quantile(lat, done, 0.99), quantile(lat, done, 0.999),
           done > 0 ? lat[done - 1] * 1e3 : 0, next > 0 ? late_sum / (double)next * 1e3 : 0);
    for (long i = 0; i < opened; i++)
        curl_easy_cleanup(conns[i].easy);
    free(conns);
    free(lat);
    curl_slist_free_all(headers);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return failed != 0 || done < total;
}
