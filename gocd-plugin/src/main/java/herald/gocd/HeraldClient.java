package herald.gocd;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * herald's /gocd/... endpoints over HTTP/1.1 with short timeouts: GoCD calls the plugin on
 * its own threads and waits for it, so no call here may hang. Thread-safe.
 */
final class HeraldClient {
    /** herald's answer: its status code and body, exactly as sent. */
    record Answer(int status, String body) {
        boolean is2xx() {
            return status >= 200 && status < 300;
        }

        /** 2xx with {"status":"success"} (any case, as GoCD reads it). */
        boolean acknowledged() {
            return is2xx() && "success".equalsIgnoreCase(Json.status(body));
        }
    }

    static final String VERSION_HEADER = "X-Go-Extension-Version";
    /** Names a spooled notification; its replays carry the same id, so herald may drop a repeat. */
    static final String REQUEST_ID_HEADER = "X-Herald-Request-Id";

    private final String base;
    private final String authorization;
    private final Duration readTimeout;
    private final HttpClient http;

    HeraldClient(BridgeConfig config) {
        this.base = config.url;
        this.authorization = config.token == null ? null : "Bearer " + config.token;
        this.readTimeout = Duration.ofMillis(config.readTimeoutMs);
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofMillis(config.connectTimeoutMs))
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    String baseUrl() {
        return base;
    }

    /** How long a call waits for herald's answer unless it says otherwise. */
    Duration readTimeout() {
        return readTimeout;
    }

    /**
     * POST /gocd/notification/name with the extension version and the body. requestId may be
     * null. Throws IOException when herald cannot be reached or does not answer in time.
     */
    Answer notification(String name, String version, String body, String requestId) throws IOException {
        return extension("notification", name, version, body, requestId, readTimeout);
    }

    /**
     * POST /gocd/package-repository/name with the extension version and the body, waiting at
     * most timeout for the answer (GoCD's material poller waits on it). Throws IOException
     * when herald cannot be reached or does not answer in time.
     */
    Answer packageRepository(String name, String version, String body, Duration timeout) throws IOException {
        return extension("package-repository", name, version, body, null, timeout);
    }

    /** One GoCD plugin request relayed as POST /gocd/extension/name. */
    private Answer extension(String extension, String name, String version, String body, String requestId,
                             Duration timeout) throws IOException {
        HttpRequest.Builder b = request("/gocd/" + extension + "/" + name)
                .timeout(timeout)
                .POST(HttpRequest.BodyPublishers.ofString(body == null ? "" : body, StandardCharsets.UTF_8));
        if (version != null)
            b.header(VERSION_HEADER, version);
        if (requestId != null)
            b.header(REQUEST_ID_HEADER, requestId);
        return send(b);
    }

    /** POST path with a JSON body. */
    Answer post(String path, String body) throws IOException {
        return send(request(path).POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)));
    }

    /** GET path. */
    Answer get(String path) throws IOException {
        return send(request(path).GET());
    }

    private HttpRequest.Builder request(String path) throws IOException {
        HttpRequest.Builder b;
        try {
            b = HttpRequest.newBuilder(URI.create(base + path));
        } catch (IllegalArgumentException e) {
            throw new IOException("herald's URL " + base + " is not valid: " + e.getMessage(), e);
        }
        b.timeout(readTimeout).header("Content-Type", "application/json; charset=utf-8");
        if (authorization != null)
            b.header("Authorization", authorization);
        return b;
    }

    private Answer send(HttpRequest.Builder b) throws IOException {
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            return new Answer(r.statusCode(), r.body());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for herald", e);
        } catch (IllegalArgumentException e) {
            throw new IOException("herald's URL " + base + " is not valid: " + e.getMessage(), e);
        }
    }

    /** A short reason for an exception from this class, for messages. */
    static String reason(IOException e) {
        String m = e.getMessage();
        String kind = e.getClass().getSimpleName();
        if (e instanceof java.net.http.HttpTimeoutException || e instanceof java.net.http.HttpConnectTimeoutException)
            return "no answer in time (" + kind + ")";
        if (m == null || m.isBlank()) {
            Throwable c = e.getCause();
            if (c != null && c.getMessage() != null && !c.getMessage().isBlank())
                return kind + ": " + c.getMessage();
            // The JDK's HTTP client reports a failed connect as a ConnectException without a
            // message (JDK 17); what failed is only in the class of the innermost cause.
            if (e instanceof java.net.ConnectException) {
                Throwable root = e;
                while (root.getCause() != null)
                    root = root.getCause();
                return root instanceof java.nio.channels.UnresolvedAddressException
                        ? "host not found (" + kind + ")" : "connection refused (" + kind + ")";
            }
            return kind;
        }
        return kind + ": " + m;
    }
}
