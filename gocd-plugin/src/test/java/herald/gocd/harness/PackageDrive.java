package herald.gocd.harness;

import com.thoughtworks.go.plugin.api.GoPlugin;
import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The package-repository half of the loader harness: publishes revisions to herald with plain
 * HTTP (POST /api/v1/packages/REPO/PACKAGE/revisions), then asks for them through the jar's
 * package-repository extension exactly as GoCD's material poller and its package-repository
 * pages do, and checks herald's answers. Finally it points a second instance of the extension
 * at a port nothing listens on and checks what GoCD would hear, and that nothing was spooled.
 *
 * The answers are checked with regular expressions: the harness is compiled against the API
 * stubs alone and has no JSON library, and herald's answers are small flat objects.
 */
final class PackageDrive {
    /** The timestamp format GoCD reads in every version: UTC, milliseconds, a literal Z. */
    private static final Pattern TIMESTAMP = Pattern.compile("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z");
    /** A top-level key of a configuration answer (the only members whose values are objects) and its members. */
    private static final Pattern CONFIG_KEY = Pattern.compile("\"([^\"]+)\"\\s*:\\s*\\{([^}]*)\\}");
    /** One member of a flat object, with a string, boolean, null or number value. */
    private static final Pattern MEMBER = Pattern.compile(
            "\"([^\"]+)\"\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\"|true|false|null|-?[0-9.]+)");

    private final LoaderHarness h;
    private final GoPlugin plugin;
    private final String url;
    private final String token;
    private final Path spool;
    private final String repo;
    private final String pkg;

    PackageDrive(LoaderHarness h, GoPlugin plugin, String url, String token, Path spool) {
        this.h = h;
        this.plugin = plugin;
        this.url = url;
        this.token = token;
        this.spool = spool;
        String tag = UUID.randomUUID().toString().substring(0, 8);
        this.repo = "harness-" + tag;
        this.pkg = "app-" + tag;
    }

    void run() throws Exception {
        System.out.println("# package-repository: repository " + repo + ", package " + pkg);
        String repoConfig = configuration("repository-configuration", "HERALD_REPOSITORY");
        String pkgConfig = configuration("package-configuration", "HERALD_PACKAGE");

        String both = both(repo, pkg);
        check(publish("1.0", "{\"K\":\"v\",\"BUILD_NUMBER\":\"41\"}") == 201, "revision 1.0 published to herald: 201");

        // What GoCD asks when an operator saves the repository and the package.
        GoPluginApiResponse r = ask("validate-repository-configuration", repoOnly(repo));
        check(r.responseCode() == 200 && compact(r.responseBody()).equals("[]"),
                "validate-repository-configuration " + repo + ": " + show(r));
        r = ask("validate-package-configuration", both);
        check(r.responseCode() == 200 && compact(r.responseBody()).equals("[]"),
                "validate-package-configuration " + repo + "/" + pkg + ": " + show(r));
        r = ask("validate-repository-configuration", "{\"repository-configuration\":{\"NOPE\":{\"value\":\"x\"}}}");
        check(r.responseCode() == 200 && namesAKey(r.responseBody(), "NOPE", "HERALD_REPOSITORY"),
                "validate-repository-configuration with the key NOPE names the key: " + show(r));
        r = ask("validate-package-configuration", "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\""
                + repo + "\"}},\"package-configuration\":{\"NOPE\":{\"value\":\"x\"}}}");
        check(r.responseCode() == 200 && namesAKey(r.responseBody(), "NOPE", "HERALD_PACKAGE"),
                "validate-package-configuration with the key NOPE names the key: " + show(r));

        // "Check connection" on GoCD's pages.
        r = ask("check-repository-connection", repoOnly(repo));
        check(r.responseCode() == 200 && "success".equals(string(r.responseBody(), "status")),
                "check-repository-connection " + repo + ": " + show(r));
        r = ask("check-package-connection", both);
        check(r.responseCode() == 200 && "success".equals(string(r.responseBody(), "status")),
                "check-package-connection " + repo + "/" + pkg + ": " + show(r));
        String unknown = "harness-none-" + UUID.randomUUID().toString().substring(0, 8);
        r = ask("check-repository-connection", repoOnly(unknown));
        check(r.responseCode() == 200 && "failure".equals(string(r.responseBody(), "status"))
                        && r.responseBody().matches("(?s).*\"messages\"\\s*:\\s*\\[\\s*\".*"),
                "check-repository-connection of the unknown repository " + unknown + " fails with a message: " + show(r));
        r = ask("check-package-connection", both(repo, unknown));
        check(r.responseCode() == 200 && "failure".equals(string(r.responseBody(), "status")),
                "check-package-connection of the unknown package " + repo + "/" + unknown + " fails: " + show(r));
        // A poll of a package with no revision: GoCD gets herald's sentence, after herald's URL,
        // as the message of the plugin's exception, which it shows as it is (docs/gocd.md).
        String said = null;
        try {
            ask("latest-revision", both(repo, unknown));
        } catch (RuntimeException e) {
            said = e.getMessage();
        }
        check(said != null && said.startsWith("herald at " + url + ": herald has no revision of package " + repo + "/" + unknown + " yet"),
                "latest-revision of the unknown package " + repo + "/" + unknown + " says there is no revision: " + said);

        // The material poller: latest-revision first, then latest-revision-since the last one.
        r = ask("latest-revision", both);
        String rev0 = string(r.responseBody(), "revision");
        String ts0 = string(r.responseBody(), "timestamp");
        check(r.responseCode() == 200 && "1.0".equals(rev0) && ts0 != null && TIMESTAMP.matcher(ts0).matches()
                        && data(r.responseBody()).contains("\"K\":\"v\"") && data(r.responseBody()).contains("\"BUILD_NUMBER\":\"41\""),
                "latest-revision " + repo + "/" + pkg + " is the published 1.0 with its data: " + show(r));

        check(publish("1.1", "{\"K\":\"w\"}") == 201, "revision 1.1 published to herald: 201");
        r = ask("latest-revision-since", since(both, "1.0", ts0, "{\"K\":\"v\",\"BUILD_NUMBER\":\"41\"}"));
        check(r.responseCode() == 200 && "1.1".equals(string(r.responseBody(), "revision"))
                        && data(r.responseBody()).contains("\"K\":\"w\""),
                "latest-revision-since 1.0 is the published 1.1: " + show(r));
        r = ask("latest-revision", both);
        String ts1 = string(r.responseBody(), "timestamp");
        check(r.responseCode() == 200 && "1.1".equals(string(r.responseBody(), "revision")) && ts1 != null
                        && TIMESTAMP.matcher(ts1).matches(),
                "latest-revision " + repo + "/" + pkg + " is now 1.1: " + show(r));
        // Whole, on one line (raw line breaks cannot be inside JSON strings), for the system test.
        System.out.println("# latest-revision answer: " + (r.responseBody() == null ? "" : r.responseBody().replaceAll("[\r\n]", " ")));
        r = ask("latest-revision-since", since(both, "1.1", ts1, "{\"K\":\"w\"}"));
        String nothing = r.responseBody() == null ? "" : compact(r.responseBody());
        check(r.responseCode() == 200 && (nothing.isEmpty() || nothing.equals("{}") || nothing.equals("null")),
                "latest-revision-since 1.1 is nothing new (an empty answer): " + show(r));

        for (String name : List.of("no-such-request", "go.plugin-settings.get-configuration")) {
            boolean thrown = false;
            try {
                ask(name, both);
            } catch (UnhandledRequestTypeException e) {
                thrown = true;
            }
            check(thrown, "package-repository " + name + " is an UnhandledRequestTypeException");
        }

        heraldDown(repoConfig, pkgConfig, both);
    }

    /**
     * Asks for a configuration; checks that it is herald's own answer (the jar could answer
     * it itself) and that it names key, part of the identity and required.
     */
    private String configuration(String name, String key) throws Exception {
        GoPluginApiResponse r = ask(name, null);
        String body = r.responseBody() == null ? "" : r.responseBody();
        String[] direct = post("/gocd/package-repository/" + name, "");
        check(direct[0].equals("200") && direct[1].equals(body),
                name + " is herald's own answer (herald: " + direct[0] + " " + LoaderHarness.clip(direct[1]) + ")");
        Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*\\{([^}]*)\\}").matcher(body);
        String members = m.find() ? m.group(1) : "";
        check(r.responseCode() == 200 && members.matches("(?s).*\"part-of-identity\"\\s*:\\s*true.*")
                        && members.matches("(?s).*\"required\"\\s*:\\s*true.*"),
                name + " has " + key + ", part of the identity and required: " + show(r));
        return body;
    }

    /**
     * A second instance of the extension, constructed by GoCD's rule (no-argument constructor,
     * configuration from system properties), pointed at a port nothing listens on.
     */
    private void heraldDown(String repoConfig, String pkgConfig, String both) throws Exception {
        String dead;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            dead = "http://127.0.0.1:" + s.getLocalPort();
        }
        String saved = System.getProperty("herald.url");
        GoPlugin down;
        try {
            System.setProperty("herald.url", dead);
            down = plugin.getClass().getConstructor().newInstance();
        } finally {
            System.setProperty("herald.url", saved);
        }
        GoPluginApiResponse r = down.handle(LoaderHarness.request("package-repository", "check-repository-connection", "1.0",
                repoOnly(repo)));
        check(r.responseCode() == 200 && "failure".equals(string(r.responseBody(), "status"))
                        && r.responseBody().contains("herald at " + dead + " is unreachable"),
                "herald down: check-repository-connection fails naming herald's URL: " + show(r));
        String message = null;
        try {
            down.handle(LoaderHarness.request("package-repository", "latest-revision", "1.0", both));
        } catch (RuntimeException e) {
            message = e.getMessage();
        }
        check(message != null && message.startsWith("herald at " + dead + " is unreachable"),
                "herald down: latest-revision throws, and GoCD shows \"" + message + "\"");
        r = down.handle(LoaderHarness.request("package-repository", "repository-configuration", "1.0", null));
        check(r.responseCode() == 200 && members(r.responseBody()).equals(members(repoConfig)),
                "herald down: the jar's own repository-configuration says what herald's does " + members(repoConfig)
                        + ": " + show(r));
        r = down.handle(LoaderHarness.request("package-repository", "package-configuration", "1.0", null));
        check(r.responseCode() == 200 && members(r.responseBody()).equals(members(pkgConfig)),
                "herald down: the jar's own package-configuration says what herald's does " + members(pkgConfig)
                        + ": " + show(r));
        check(LoaderHarness.spooled(spool) == 0, "herald down: no package request was spooled");
    }

    private GoPluginApiResponse ask(String name, String body) throws UnhandledRequestTypeException {
        return plugin.handle(LoaderHarness.request("package-repository", name, "1.0", body));
    }

    /** POST /api/v1/packages/repo/pkg/revisions; the status, or -1 when herald did not answer. */
    private int publish(String revision, String data) {
        String body = "{\"revision\":\"" + revision + "\",\"data\":" + data + "}";
        String[] r = post("/api/v1/packages/" + repo + "/" + pkg + "/revisions", body);
        System.out.println("# published " + body + ": " + r[0] + " " + LoaderHarness.clip(r[1]));
        return Integer.parseInt(r[0]);
    }

    /** POST path to herald with plain HTTP and the token: {status, body}, status "-1" on failure. */
    private String[] post(String path, String body) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path))
                    .timeout(Duration.ofSeconds(10))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
            if (token != null)
                b.header("Authorization", "Bearer " + token);
            HttpResponse<String> r = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new String[] {Integer.toString(r.statusCode()), r.body()};
        } catch (IOException | InterruptedException e) {
            return new String[] {"-1", e.toString()};
        }
    }

    private void check(boolean ok, String what) {
        h.check(ok, what);
    }

    private static String repoOnly(String repo) {
        return "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"" + repo + "\"}}}";
    }

    private static String both(String repo, String pkg) {
        return "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"" + repo + "\"}},"
                + "\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"" + pkg + "\"}}}";
    }

    /** GoCD's latest-revision-since body: both maps and the revision it knows. */
    private static String since(String both, String revision, String timestamp, String data) {
        return both.substring(0, both.length() - 1) + ",\"previous-revision\":{\"revision\":\"" + revision
                + "\",\"timestamp\":\"" + timestamp + "\",\"data\":" + data + "}}";
    }

    /** The first string member named key, or null. */
    private static String string(String body, String key) {
        if (body == null)
            return null;
        Matcher m = Pattern.compile("\"" + Pattern.quote(key) + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(body);
        return m.find() ? m.group(1) : null;
    }

    /** The "data" object of a revision, without spaces, or "". */
    private static String data(String body) {
        Matcher m = Pattern.compile("\"data\"\\s*:\\s*(\\{[^}]*\\})").matcher(body == null ? "" : body);
        return m.find() ? compact(m.group(1)) : "";
    }

    /** True when body is a non-empty array of errors, each naming one of the keys with a message. */
    private static boolean namesAKey(String body, String... allowed) {
        if (body == null || !compact(body).startsWith("[{"))
            return false;
        Matcher m = Pattern.compile("\"key\"\\s*:\\s*\"([^\"]*)\"").matcher(body);
        List<String> keys = new ArrayList<>();
        while (m.find())
            keys.add(m.group(1));
        return !keys.isEmpty() && List.of(allowed).containsAll(keys) && body.contains("\"message\"");
    }

    /**
     * A configuration answer ({"KEY":{"member":value,...},...}, flat objects) as a map from
     * each key to its members, sorted, so that two answers compare whatever their order.
     */
    private static TreeMap<String, TreeSet<String>> members(String configuration) {
        TreeMap<String, TreeSet<String>> out = new TreeMap<>();
        Matcher m = CONFIG_KEY.matcher(configuration == null ? "" : configuration);
        while (m.find()) {
            TreeSet<String> members = new TreeSet<>();
            Matcher v = MEMBER.matcher(m.group(2));
            while (v.find())
                members.add(v.group(1) + "=" + v.group(2));
            out.put(m.group(1), members);
        }
        return out;
    }

    private static String compact(String s) {
        return s == null ? "" : s.replaceAll("\\s+", "");
    }

    private static String show(GoPluginApiResponse r) {
        return r.responseCode() + " " + LoaderHarness.clip(r.responseBody());
    }
}
