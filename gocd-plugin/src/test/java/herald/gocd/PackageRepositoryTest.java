package herald.gocd;

import com.thoughtworks.go.plugin.api.GoPluginIdentifier;
import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static herald.gocd.TestSupport.*;
import static org.junit.Assert.*;

/** HeraldPackagePlugin relays GoCD's package-repository requests to herald and never spools. */
public class PackageRepositoryTest {
    /** GoCD's bodies, as its JsonMessageHandler1_0 builds them (repository and package maps). */
    private static final String REPO = "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"builds\"}}}";
    private static final String BOTH = "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"builds\"}},"
            + "\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"app\"}}}";
    private static final String SINCE = "{\"repository-configuration\":{\"HERALD_REPOSITORY\":{\"value\":\"builds\"}},"
            + "\"package-configuration\":{\"HERALD_PACKAGE\":{\"value\":\"app\"}},"
            + "\"previous-revision\":{\"revision\":\"1.0\",\"timestamp\":\"2026-01-02T03:04:05.678Z\",\"data\":{\"K\":\"v\"}}}";

    /** Every request of the extension with the body GoCD sends it (null: no body). */
    private static final Map<String, String> MESSAGES = new LinkedHashMap<>();

    static {
        MESSAGES.put("repository-configuration", null);
        MESSAGES.put("package-configuration", null);
        MESSAGES.put("validate-repository-configuration", REPO);
        MESSAGES.put("validate-package-configuration", BOTH);
        MESSAGES.put("check-repository-connection", REPO);
        MESSAGES.put("check-package-connection", BOTH);
        MESSAGES.put("latest-revision", BOTH);
        MESSAGES.put("latest-revision-since", SINCE);
    }

    private Path dir;
    private FakeHerald herald;

    @Before
    public void setUp() throws Exception {
        dir = tempDir();
        herald = FakeHerald.start();
    }

    @After
    public void tearDown() throws Exception {
        herald.close();
        delete(dir);
    }

    private HeraldPackagePlugin plugin(String url, String... extra) {
        return new HeraldPackagePlugin(config(url, dir.resolve("spool"), extra));
    }

    /** Every regular file under the test's folder: where a spool would be. */
    private List<Path> filesWritten() throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    public void identifiesAsThePackageRepositoryExtension10() {
        GoPluginIdentifier id = plugin(herald.url()).pluginIdentifier();
        assertEquals("package-repository", id.getExtension());
        assertEquals(List.of("1.0"), id.getSupportedExtensionVersions());
    }

    @Test
    public void everyMessageIsPostedToItsPathAndHeraldsAnswerComesBack() throws Exception {
        herald.answer(r -> new FakeHerald.Reply(200, "{\"answer-to\":\"" + r.packageName() + "\"}"));
        HeraldPackagePlugin p = plugin(herald.url(), "herald.token", "pkg t0ken");
        for (Map.Entry<String, String> m : MESSAGES.entrySet()) {
            GoPluginApiResponse r = p.handle(packageRequest(m.getKey(), m.getValue()));
            assertEquals(m.getKey(), 200, r.responseCode());
            assertEquals("{\"answer-to\":\"" + m.getKey() + "\"}", r.responseBody());
        }
        List<FakeHerald.Request> seen = herald.requests();
        assertEquals(MESSAGES.size(), seen.size());
        int i = 0;
        for (Map.Entry<String, String> m : MESSAGES.entrySet()) {
            FakeHerald.Request s = seen.get(i++);
            assertEquals("POST", s.method());
            assertEquals("/gocd/package-repository/" + m.getKey(), s.path());
            assertEquals("1.0", s.version());
            assertEquals(m.getValue() == null ? "" : m.getValue(), s.body());
            assertEquals("the notification bridge's token rule", "Bearer pkg t0ken", s.authorization());
            assertNull("a question carries no event id", s.requestId());
        }
    }

    @Test
    public void noTokenMeansNoAuthorizationHeader() throws Exception {
        herald.answer(r -> new FakeHerald.Reply(200, "{}"));
        plugin(herald.url()).handle(packageRequest("latest-revision", BOTH));
        assertNull(herald.requests().get(0).authorization());
    }

    @Test
    public void statusAndBodyComeBackUnchanged() throws Exception {
        String revision = "{\"revision\": \"1.0\", \"timestamp\":\"2026-01-02T03:04:05.678Z\",\n \"data\":{\"K\":\"v \\u00e9 ü\"}}\n";
        herald.answer(r -> switch (r.packageName()) {
            case "latest-revision" -> new FakeHerald.Reply(200, revision);
            case "latest-revision-since" -> new FakeHerald.Reply(200, "");
            case "validate-package-configuration" -> new FakeHerald.Reply(200, "[{\"key\":\"HERALD_PACKAGE\",\"message\":\"required\"}]");
            case "check-repository-connection" -> new FakeHerald.Reply(200, "{\"status\":\"failure\",\"messages\":[\"no repository builds\"]}");
            default -> new FakeHerald.Reply(400, "{\"error\":\"body is not JSON\"}");
        });
        HeraldPackagePlugin p = plugin(herald.url());

        GoPluginApiResponse r = p.handle(packageRequest("latest-revision", BOTH));
        assertEquals(200, r.responseCode());
        assertEquals(revision, r.responseBody());
        r = p.handle(packageRequest("latest-revision-since", SINCE));
        assertEquals("nothing new is an empty 200, as GoCD expects", 200, r.responseCode());
        assertEquals("", r.responseBody());
        r = p.handle(packageRequest("validate-package-configuration", BOTH));
        assertEquals(200, r.responseCode());
        assertEquals("[{\"key\":\"HERALD_PACKAGE\",\"message\":\"required\"}]", r.responseBody());
        r = p.handle(packageRequest("check-repository-connection", REPO));
        assertEquals(200, r.responseCode());
        assertEquals("{\"status\":\"failure\",\"messages\":[\"no repository builds\"]}", r.responseBody());
        r = p.handle(packageRequest("check-package-connection", "not json"));
        assertEquals(400, r.responseCode());
        assertEquals("{\"error\":\"body is not JSON\"}", r.responseBody());
        assertEquals(5, herald.requests().size());
    }

    @Test
    public void heraldsNotFoundBecomesUnhandledRequestType() throws Exception {
        HeraldPackagePlugin p = plugin(herald.url());
        herald.answer(r -> new FakeHerald.Reply(404, "{\"error\":\"unknown request name\"}"));
        for (String name : List.of("no-such-request", "latest-revision", "check-package-connection")) {
            try {
                p.handle(packageRequest(name, BOTH));
                fail("expected UnhandledRequestTypeException for " + name);
            } catch (UnhandledRequestTypeException e) {
                assertTrue(e.getMessage(), e.getMessage().contains(name));
            }
        }
        assertEquals(3, herald.requests().size());
        assertTrue(filesWritten().isEmpty());
    }

    @Test
    public void aPollHeraldCannotAnswerShowsHeraldsSentence() throws Exception {
        HeraldPackagePlugin p = plugin(herald.url());
        String why = "herald has no revision of package builds/app yet: publish one with POST "
                + "/api/v1/packages/builds/app/revisions";
        herald.answer(r -> new FakeHerald.Reply(404, why));
        for (String name : List.of("latest-revision", "latest-revision-since")) {
            try {
                p.handle(packageRequest(name, BOTH));
                fail("expected HeraldUnavailableException for " + name);
            } catch (HeraldUnavailableException e) {
                assertEquals("herald at " + herald.url() + ": " + why, e.getMessage());
            }
        }
        herald.answer(r -> new FakeHerald.Reply(400, "herald cannot answer latest-revision: bad"));
        try {
            p.handle(packageRequest("latest-revision", BOTH));
            fail("expected HeraldUnavailableException for a 400");
        } catch (HeraldUnavailableException e) {
            assertEquals("herald at " + herald.url() + ": herald cannot answer latest-revision: bad",
                    e.getMessage());
        }
        assertEquals(3, herald.requests().size());
        assertTrue(filesWritten().isEmpty());
    }

    @Test
    public void settingsRequestsAndBadNamesAreRefusedWithoutAskingHerald() throws Exception {
        herald.answer(r -> new FakeHerald.Reply(200, "{\"webhook_url\":{\"required\":true}}"));
        HeraldPackagePlugin p = plugin(herald.url());
        for (String name : List.of("go.plugin-settings.get-configuration", "go.plugin-settings.get-view",
                "go.plugin-settings.validate-configuration", "../../api/v1/events", "")) {
            try {
                p.handle(packageRequest(name, null));
                fail("expected UnhandledRequestTypeException for " + name);
            } catch (UnhandledRequestTypeException e) {
                // GoCD refuses a plugin in which two extensions answer the settings requests.
            }
        }
        assertEquals(List.of(), herald.requests());
    }

    @Test
    public void heraldDownGivesAClearMessageAndSpoolsNothing() throws Exception {
        int port = FakeHerald.freePort();
        String url = "http://127.0.0.1:" + port;
        HeraldPackagePlugin p = plugin(url);

        for (String check : List.of("check-repository-connection", "check-package-connection")) {
            GoPluginApiResponse r = p.handle(packageRequest(check, BOTH));
            assertEquals(check, 200, r.responseCode());
            assertEquals("{\"status\":\"failure\",\"messages\":[\"herald at " + url
                    + " is unreachable: connection refused (ConnectException)\"]}", r.responseBody());
        }
        for (String question : List.of("latest-revision", "latest-revision-since", "validate-repository-configuration",
                "validate-package-configuration")) {
            try {
                p.handle(packageRequest(question, SINCE));
                fail("expected HeraldUnavailableException for " + question);
            } catch (HeraldUnavailableException e) {
                assertEquals("herald at " + url + " is unreachable: connection refused (ConnectException)", e.getMessage());
            }
        }
        GoPluginApiResponse r = p.handle(packageRequest("repository-configuration", null));
        assertEquals(200, r.responseCode());
        assertEquals(HeraldPackagePlugin.BUILT_IN_REPOSITORY_CONFIGURATION, r.responseBody());
        assertTrue(r.responseBody().contains("\"HERALD_REPOSITORY\":{"));
        assertTrue(r.responseBody().contains("\"part-of-identity\":true"));
        assertTrue(r.responseBody().contains("\"required\":true"));
        r = p.handle(packageRequest("package-configuration", null));
        assertEquals(200, r.responseCode());
        assertTrue(r.responseBody().startsWith("{\"HERALD_PACKAGE\":{"));

        // Nothing was kept for later, and nothing is sent once herald is back.
        assertEquals(List.of(), filesWritten());
        try (FakeHerald back = FakeHerald.startOn(port)) {
            Thread.sleep(300);
            assertEquals(List.of(), back.requests());
        }
    }

    @Test
    public void anUnknownHostIsNamedAsSuch() throws Exception {
        GoPluginApiResponse r = plugin("http://herald.invalid:8190").handle(packageRequest("check-repository-connection", REPO));
        assertEquals("{\"status\":\"failure\",\"messages\":[\"herald at http://herald.invalid:8190 is unreachable: "
                + "host not found (ConnectException)\"]}", r.responseBody());
    }

    @Test
    public void herald5xxOrARefusedTokenGivesAClearMessageWithoutRetrying() throws Exception {
        herald.answer(r -> new FakeHerald.Reply(503, "{\"status\":\"failure\",\"messages\":[\"store is read-only\"]}"));
        HeraldPackagePlugin p = plugin(herald.url());
        try {
            p.handle(packageRequest("latest-revision", BOTH));
            fail("expected HeraldUnavailableException");
        } catch (HeraldUnavailableException e) {
            assertEquals("herald at " + herald.url() + " answered 503 to latest-revision: "
                    + "{\"status\":\"failure\",\"messages\":[\"store is read-only\"]}", e.getMessage());
        }
        GoPluginApiResponse r = p.handle(packageRequest("check-package-connection", BOTH));
        assertEquals(200, r.responseCode());
        assertTrue(r.responseBody(), r.responseBody().startsWith("{\"status\":\"failure\",\"messages\":[\"herald at "
                + herald.url() + " answered 503 to check-package-connection: "));

        herald.answer(r2 -> new FakeHerald.Reply(401, ""));
        try {
            p.handle(packageRequest("latest-revision-since", SINCE));
            fail("expected HeraldUnavailableException");
        } catch (HeraldUnavailableException e) {
            assertEquals("herald at " + herald.url() + " answered 401 to latest-revision-since", e.getMessage());
        }
        assertEquals("one request per question, no retry", 3, herald.requests().size());
        assertTrue(filesWritten().isEmpty());
    }

    @Test
    public void theConfigurationIsAnsweredByTheJarWhenHeraldCannotGiveIt() throws Exception {
        // An older herald without /gocd/package-repository/ answers 404: GoCD must still be
        // able to load the plugin, or the notification extension would be lost with it.
        herald.answer(r -> new FakeHerald.Reply(404, "{\"error\":\"no such path\"}"));
        HeraldPackagePlugin p = plugin(herald.url());
        GoPluginApiResponse r = p.handle(packageRequest("repository-configuration", null));
        assertEquals(200, r.responseCode());
        assertEquals(HeraldPackagePlugin.BUILT_IN_REPOSITORY_CONFIGURATION, r.responseBody());
        herald.answer(x -> new FakeHerald.Reply(500, "oops"));
        r = p.handle(packageRequest("package-configuration", null));
        assertEquals(200, r.responseCode());
        assertEquals(HeraldPackagePlugin.BUILT_IN_PACKAGE_CONFIGURATION, r.responseBody());
        // herald's own answer wins when it gives one.
        herald.answer(x -> new FakeHerald.Reply(200, "{\"HERALD_PACKAGE\":{\"display-name\":\"Package name\"}}"));
        r = p.handle(packageRequest("package-configuration", null));
        assertEquals("{\"HERALD_PACKAGE\":{\"display-name\":\"Package name\"}}", r.responseBody());
    }

    @Test
    public void aSlowHeraldTimesOutAndPollsWaitAtMostTenSeconds() throws Exception {
        herald.answer(r -> {
            try {
                Thread.sleep(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new FakeHerald.Reply(200, "{}");
        });
        HeraldPackagePlugin p = plugin(herald.url(), "herald.readTimeoutMs", "300");
        long t0 = System.nanoTime();
        try {
            p.handle(packageRequest("latest-revision", BOTH));
            fail("expected HeraldUnavailableException");
        } catch (HeraldUnavailableException e) {
            assertTrue(e.getMessage(), e.getMessage().startsWith("herald at " + herald.url()
                    + " is unreachable: no answer in time"));
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue("took " + ms + " ms", ms < 2000);
        assertEquals(Duration.ofMillis(300), p.timeout());
        assertEquals("a long notification timeout does not make polls wait longer", Duration.ofSeconds(10),
                plugin(herald.url(), "herald.readTimeoutMs", "600000").timeout());
    }

    @Test
    public void bothExtensionsRelayWithOneConfigurationAndToken() throws Exception {
        herald.answer(r -> r.packageName() != null ? new FakeHerald.Reply(200, "{\"revision\":\"2\"}")
                : FakeHerald.heraldLike(r));
        BridgeConfig c = config(herald.url(), dir.resolve("spool"), "herald.token", "shared");
        HeraldPlugin notifications = new HeraldPlugin(c);
        try {
            HeraldPackagePlugin packages = new HeraldPackagePlugin(c);
            assertEquals("{\"revision\":\"2\"}", packages.handle(packageRequest("latest-revision", BOTH)).responseBody());
            assertEquals(200, notifications.handle(request("stage-status", "4.0", stageBody("p"))).responseCode());
            for (FakeHerald.Request s : herald.requests())
                assertEquals("Bearer shared", s.authorization());
            assertEquals(1, herald.requests("stage-status").size());
        } finally {
            notifications.close();
        }
    }
}
