package herald.gocd;

import com.thoughtworks.go.plugin.api.GoPluginIdentifier;
import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.nio.file.Path;
import java.util.List;

import static herald.gocd.TestSupport.*;
import static org.junit.Assert.*;

/** handle() passes requests to herald and its answers back unchanged. */
public class ForwardingTest {
    private Path dir;
    private FakeHerald herald;
    private HeraldPlugin plugin;

    @Before
    public void setUp() throws Exception {
        dir = tempDir();
        herald = FakeHerald.start();
    }

    @After
    public void tearDown() throws Exception {
        if (plugin != null)
            plugin.close();
        herald.close();
        delete(dir);
    }

    private HeraldPlugin plugin(String... extra) {
        plugin = new HeraldPlugin(config(herald.url(), dir.resolve("spool"), extra));
        return plugin;
    }

    @Test
    public void identifiesAsTheNotificationExtensionInFourVersions() {
        GoPluginIdentifier id = plugin().pluginIdentifier();
        assertEquals("notification", id.getExtension());
        assertEquals(List.of("1.0", "2.0", "3.0", "4.0"), id.getSupportedExtensionVersions());
    }

    @Test
    public void statusAndBodyComeBackUnchanged() throws Exception {
        herald.answer(r -> switch (r.name()) {
            case "go.plugin-settings.get-view" -> new FakeHerald.Reply(200, "{\"template\": \"<div>\\u00e9 ü</div>\"}\n");
            case "go.plugin-settings.validate-configuration" -> new FakeHerald.Reply(400, "{\"status\":\"failure\",\"messages\":[\"bad\"]}");
            case "stage-status" -> new FakeHerald.Reply(200, "{\"status\":\"failure\",\"messages\":[\"pipeline.name: missing\"]}");
            default -> new FakeHerald.Reply(200, "");
        });
        HeraldPlugin p = plugin("herald.token", "s3cret token");

        GoPluginApiResponse r = p.handle(request("go.plugin-settings.get-view", "2.0", null));
        assertEquals(200, r.responseCode());
        assertEquals("{\"template\": \"<div>\\u00e9 ü</div>\"}\n", r.responseBody());

        String body = "{\"plugin-settings\":{\"webhook_url\":{\"value\":\"ftp://x\"}}}";
        r = p.handle(request("go.plugin-settings.validate-configuration", "4.0", body));
        assertEquals(400, r.responseCode());
        assertEquals("{\"status\":\"failure\",\"messages\":[\"bad\"]}", r.responseBody());

        // A 200 failure for a bad event goes back to GoCD (it shows the messages); it is not spooled.
        r = p.handle(request("stage-status", "1.0", "{}"));
        assertEquals(200, r.responseCode());
        assertEquals("{\"status\":\"failure\",\"messages\":[\"pipeline.name: missing\"]}", r.responseBody());
        assertTrue(p.spool().isEmpty());

        r = p.handle(request("go.plugin-settings.get-configuration", "3.0", null));
        assertEquals(200, r.responseCode());
        assertEquals("", r.responseBody());

        List<FakeHerald.Request> seen = herald.requests();
        assertEquals(4, seen.size());
        assertEquals("/gocd/notification/go.plugin-settings.get-view", seen.get(0).path());
        assertEquals("POST", seen.get(0).method());
        assertEquals("2.0", seen.get(0).version());
        assertEquals("4.0", seen.get(1).version());
        assertEquals(body, seen.get(1).body());
        assertEquals("1.0", seen.get(2).version());
        assertEquals("{}", seen.get(2).body());
        assertEquals("3.0", seen.get(3).version());
        assertEquals("", seen.get(3).body());
        for (FakeHerald.Request s : seen)
            assertEquals("Bearer s3cret token", s.authorization());
        assertNotNull("events carry an id for herald to drop repeats", seen.get(2).requestId());
    }

    @Test
    public void noTokenMeansNoAuthorizationHeader() throws Exception {
        plugin().handle(request("stage-status", "4.0", stageBody("a")));
        assertNull(herald.requests().get(0).authorization());
    }

    @Test
    public void heraldsNotFoundBecomesUnhandledRequestType() throws Exception {
        HeraldPlugin p = plugin();
        try {
            p.handle(request("go.plugin-settings.get-icon", "4.0", null));
            fail("expected UnhandledRequestTypeException");
        } catch (UnhandledRequestTypeException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("go.plugin-settings.get-icon"));
        }
        herald.answer(r -> new FakeHerald.Reply(404, "{\"error\":\"agent-status is not a request of version 1.0\"}"));
        try {
            p.handle(request("agent-status", "1.0", "{}"));
            fail("expected UnhandledRequestTypeException");
        } catch (UnhandledRequestTypeException e) {
            assertTrue(p.spool().isEmpty());
        }
    }

    @Test(expected = UnhandledRequestTypeException.class)
    public void aNameThatCannotBeAPathIsUnhandled() throws Exception {
        plugin().handle(request("../../api/v1/events", "4.0", null));
    }

    @Test
    public void interestsAreAnsweredWhenHeraldIsDown() throws Exception {
        herald.close();
        HeraldPlugin p = plugin();
        GoPluginApiResponse r = p.handle(request("notifications-interested-in", "4.0", null));
        assertEquals(200, r.responseCode());
        assertEquals("{\"notifications\":[\"stage-status\",\"agent-status\"]}", r.responseBody());
        r = p.handle(request("notifications-interested-in", "2.0", null));
        assertEquals("{\"notifications\":[\"stage-status\"]}", r.responseBody());
        r = p.handle(request("go.plugin-settings.get-view", "4.0", null));
        assertEquals(500, r.responseCode());
        assertTrue(r.responseBody(), r.responseBody().contains("unreachable"));
    }

    @Test
    public void aSlowHeraldTimesOut() throws Exception {
        herald.answer(r -> {
            try {
                Thread.sleep(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new FakeHerald.Reply(200, "{}");
        });
        HeraldPlugin p = plugin("herald.readTimeoutMs", "300");
        long t0 = System.nanoTime();
        GoPluginApiResponse r = p.handle(request("go.plugin-settings.get-view", "4.0", null));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(500, r.responseCode());
        assertTrue("took " + ms + " ms", ms < 2000);
    }
}
