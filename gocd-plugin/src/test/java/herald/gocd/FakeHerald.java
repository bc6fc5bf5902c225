package herald.gocd;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;

/**
 * A stand-in herald on a real loopback socket. It records every request and answers through
 * a replaceable function; by default like herald: success for events, the interests, 404 for
 * names it does not know, [] for health messages.
 */
final class FakeHerald implements AutoCloseable {
    record Request(String method, String path, String version, String authorization, String requestId, String body) {
        String name() {
            return path.startsWith("/gocd/notification/") ? path.substring("/gocd/notification/".length()) : null;
        }

        /** The request name of a call to /gocd/package-repository/name, else null. */
        String packageName() {
            String prefix = "/gocd/package-repository/";
            return path.startsWith(prefix) ? path.substring(prefix.length()) : null;
        }
    }

    record Reply(int status, String body) {
    }

    static {
        // The JDK's server otherwise leaves Nagle's algorithm on, and each answer (headers,
        // then body) waits ~40 ms for the client's delayed ACK.
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    private final HttpServer server;
    private final ExecutorService pool = Executors.newFixedThreadPool(8);
    private final List<Request> requests = new ArrayList<>();
    private volatile Function<Request, Reply> answer = FakeHerald::heraldLike;

    private FakeHerald(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 64);
        server.createContext("/", this::serve);
        server.setExecutor(pool);
        server.start();
    }

    /** On a free port. */
    static FakeHerald start() throws IOException {
        return new FakeHerald(0);
    }

    /** On the given port (one that freePort() returned earlier). */
    static FakeHerald startOn(int port) throws IOException {
        return new FakeHerald(port);
    }

    /** A port nothing listens on (for "herald is down"). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static Reply heraldLike(Request r) {
        String name = r.name();
        if (r.path().equals("/gocd/health-messages"))
            return new Reply(200, "[]");
        if (r.path().equals("/gocd/server-info"))
            return new Reply(200, "{\"status\":\"success\"}");
        if (name == null)
            return new Reply(404, "{\"error\":\"no such path\"}");
        return switch (name) {
            case "stage-status", "agent-status", "go.plugin-settings.plugin-settings-changed" ->
                    new Reply(200, "{\"status\":\"success\"}");
            case "notifications-interested-in" -> new Reply(200, "{\"notifications\":[\"stage-status\",\"agent-status\"]}");
            default -> new Reply(404, "{\"error\":\"unknown request name\"}");
        };
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    int port() {
        return server.getAddress().getPort();
    }

    void answer(Function<Request, Reply> f) {
        answer = f;
    }

    List<Request> requests() {
        synchronized (requests) {
            return new ArrayList<>(requests);
        }
    }

    /** The recorded requests to /gocd/notification/name. */
    List<Request> requests(String name) {
        List<Request> out = new ArrayList<>();
        for (Request r : requests())
            if (name.equals(r.name()))
                out.add(r);
        return out;
    }

    private void serve(HttpExchange ex) throws IOException {
        try (ex) {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            Request r = new Request(ex.getRequestMethod(), ex.getRequestURI().getPath(),
                    ex.getRequestHeaders().getFirst("X-Go-Extension-Version"),
                    ex.getRequestHeaders().getFirst("Authorization"),
                    ex.getRequestHeaders().getFirst("X-Herald-Request-Id"), body);
            Reply reply = answer.apply(r);
            synchronized (requests) {
                requests.add(r);
            }
            byte[] out = reply.body().getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(reply.status(), out.length == 0 ? -1 : out.length);
            if (out.length > 0) {
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(out);
                }
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
    }
}
