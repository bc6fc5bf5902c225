package herald.gocd;

import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.nio.file.Path;
import java.util.List;

import static herald.gocd.TestSupport.*;
import static org.junit.Assert.*;

/** The bridge's own calls to GoCD: server info and settings to herald, herald's health to GoCD. */
public class HealthForwarderTest {
    private static final String HEALTH = "go.processor.server-health.add-messages";
    private Path dir;
    private FakeHerald herald;
    private HeraldPlugin plugin;
    private RecordingAccessor gocd;

    @Before
    public void setUp() throws Exception {
        dir = tempDir();
        gocd = new RecordingAccessor();
    }

    @After
    public void tearDown() throws Exception {
        if (plugin != null)
            plugin.close();
        if (herald != null)
            herald.close();
        delete(dir);
    }

    /** A plugin whose timer ticks once (at start) and then not for an hour: the test ticks it. */
    private HeraldPlugin plugin(String url, String... extra) throws Exception {
        String[] all = new String[extra.length + 4];
        all[0] = "herald.healthIntervalSeconds";
        all[1] = "3600";
        all[2] = "herald.token";
        all[3] = "tok";
        System.arraycopy(extra, 0, all, 4, extra.length);
        plugin = new HeraldPlugin(config(url, dir.resolve("spool"), all));
        plugin.initializeGoApplicationAccessor(gocd);
        assertTrue("the first round runs at once", waitFor(5000, () -> !gocd.calls(HEALTH).isEmpty()));
        return plugin;
    }

    @Test
    public void serverInfoGoesToHeraldAndHealthMessagesToGocd() throws Exception {
        herald = FakeHerald.start();
        String messages = "[{\"type\":\"warning\",\"message\":\"herald: 3 notifications to chat are waiting to be retried\"}]";
        herald.answer(r -> r.path().equals("/gocd/health-messages") ? new FakeHerald.Reply(200, messages) : FakeHerald.heraldLike(r));
        plugin(herald.url());

        RecordingAccessor.Call info = gocd.calls("go.processor.server-info.get").get(0);
        assertEquals("2.0", info.version());
        List<FakeHerald.Request> posted = herald.requests().stream().filter(r -> r.path().equals("/gocd/server-info")).toList();
        assertEquals(1, posted.size());
        assertEquals("POST", posted.get(0).method());
        assertEquals(RecordingAccessor.SERVER_INFO, posted.get(0).body());
        assertEquals("Bearer tok", posted.get(0).authorization());

        RecordingAccessor.Call health = gocd.calls(HEALTH).get(0);
        assertEquals("1.0", health.version());
        assertEquals(messages, health.body());
        FakeHerald.Request get = herald.requests().stream().filter(r -> r.path().equals("/gocd/health-messages")).findFirst().get();
        assertEquals("GET", get.method());
        assertEquals("Bearer tok", get.authorization());

        // No messages: an empty list, which clears the plugin's earlier ones.
        herald.answer(FakeHerald::heraldLike);
        plugin.health().tick();
        assertEquals("[]", gocd.calls(HEALTH).get(1).body());
    }

    @Test
    public void settingsAreForwardedWhenSetAndChanged() throws Exception {
        herald = FakeHerald.start();
        String changed = "go.plugin-settings.plugin-settings-changed";
        plugin(herald.url());
        assertEquals("null settings are not forwarded", 0, herald.requests(changed).size());
        assertEquals("{\"plugin-id\":\"herald.notifier\"}", gocd.calls("go.processor.plugin-settings.get").get(0).body());

        gocd.settings = "{\"webhook_url\":\"https://hooks.example.com/x\"}";
        plugin.health().tick();
        assertEquals(1, herald.requests(changed).size());
        assertEquals("4.0", herald.requests(changed).get(0).version());
        assertEquals(gocd.settings, herald.requests(changed).get(0).body());

        plugin.health().tick();
        assertEquals("unchanged settings are not forwarded again", 1, herald.requests(changed).size());

        gocd.settings = "{\"webhook_url\":\"https://hooks.example.com/y\"}";
        plugin.health().tick();
        assertEquals(2, herald.requests(changed).size());
    }

    @Test
    public void settingsSavedWhileHeraldWasDownReachItLater() throws Exception {
        int port = FakeHerald.freePort();
        gocd.settings = "{\"webhook_url\":\"https://hooks.example.com/x\"}";
        plugin("http://127.0.0.1:" + port);
        herald = FakeHerald.startOn(port);
        plugin.health().tick();
        assertEquals(1, herald.requests("go.plugin-settings.plugin-settings-changed").size());
    }

    @Test
    public void anUnreachableHeraldIsReportedToGocd() throws Exception {
        plugin("http://127.0.0.1:" + FakeHerald.freePort());
        plugin.handle(request("stage-status", "4.0", stageBody("kept")));
        plugin.health().tick();
        List<RecordingAccessor.Call> health = gocd.calls(HEALTH);
        String body = health.get(health.size() - 1).body();
        assertTrue(body, body.startsWith("[{\"type\":\"error\",\"message\":\"herald bridge: herald at http://127.0.0.1:"));
        assertTrue(body, body.contains("is unreachable"));
        assertTrue(body, body.contains("1 notification waits in the spool"));
        assertTrue(body, body.endsWith("}]"));
    }

    @Test
    public void aFillingSpoolIsReported() throws Exception {
        herald = FakeHerald.start();
        herald.answer(r -> r.name() != null && r.name().equals("stage-status")
                ? new FakeHerald.Reply(503, "{\"status\":\"failure\",\"messages\":[\"herald could not store the event\"]}")
                : r.path().equals("/gocd/health-messages")
                        ? new FakeHerald.Reply(200, "[{\"type\":\"error\",\"message\":\"from herald\"}]")
                        : FakeHerald.heraldLike(r));
        plugin(herald.url(), "herald.spool.maxFiles", "4");
        for (int i = 0; i < 3; i++)
            plugin.handle(request("stage-status", "4.0", stageBody("s" + i)));
        plugin.health().tick();
        List<RecordingAccessor.Call> health = gocd.calls(HEALTH);
        String body = health.get(health.size() - 1).body();
        assertTrue(body, body.startsWith("[{\"type\":\"error\",\"message\":\"from herald\"},{\"type\":\"warning\""));
        assertTrue(body, body.contains("is filling: 3 of 4 files"));
    }

    @Test
    public void aRefusedTokenIsReported() throws Exception {
        herald = FakeHerald.start();
        herald.answer(r -> new FakeHerald.Reply(401, "{\"error\":\"the GoCD token is not right\"}"));
        plugin(herald.url());
        String body = gocd.calls(HEALTH).get(0).body();
        assertTrue(body, body.contains("answered 401 to GET /gocd/health-messages"));
        assertTrue(body, body.contains("the GoCD token is not right"));
    }
}
