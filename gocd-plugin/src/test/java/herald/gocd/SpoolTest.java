package herald.gocd;

import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static herald.gocd.TestSupport.*;
import static org.junit.Assert.*;

/** Nothing is lost while herald is down: the spool keeps it and the replay delivers it in order. */
public class SpoolTest {
    private static final String SUCCESS = "{\"status\":\"success\"}";
    private Path dir;
    private Path spoolDir;
    private FakeHerald herald;
    private HeraldPlugin plugin;

    @Before
    public void setUp() throws Exception {
        dir = tempDir();
        spoolDir = dir.resolve("spool");
    }

    @After
    public void tearDown() throws Exception {
        if (plugin != null)
            plugin.close();
        if (herald != null)
            herald.close();
        delete(dir);
    }

    private HeraldPlugin plugin(String url, String... extra) {
        plugin = new HeraldPlugin(config(url, spoolDir, extra));
        return plugin;
    }

    private static List<String> pipelines(List<FakeHerald.Request> rs) {
        List<String> out = new ArrayList<>();
        for (FakeHerald.Request r : rs) {
            int i = r.body().indexOf("\"name\":\"") + 8;
            out.add(r.body().substring(i, r.body().indexOf('"', i)));
        }
        return out;
    }

    @Test
    public void heraldDownMeansSuccessAndASpoolFileThenReplayInOrder() throws Exception {
        int port = FakeHerald.freePort();
        HeraldPlugin p = plugin("http://127.0.0.1:" + port);
        for (String id : List.of("a", "b", "c")) {
            GoPluginApiResponse r = p.handle(request("stage-status", "4.0", stageBody(id)));
            assertEquals(200, r.responseCode());
            assertEquals(SUCCESS, r.responseBody());
        }
        GoPluginApiResponse r = p.handle(request("agent-status", "3.0", "{\"uuid\":\"d\"}"));
        assertEquals(SUCCESS, r.responseBody());
        assertEquals(4, files(spoolDir, Spool.SUFFIX).size());
        String first = Files.readString(spoolDir.resolve(files(spoolDir, Spool.SUFFIX).get(0)));
        assertTrue(first, first.endsWith(stageBody("a")));

        herald = FakeHerald.startOn(port);
        assertTrue(waitFor(5000, () -> herald.requests().size() >= 4 && p.spool().isEmpty()));
        assertEquals(List.of("stage-status", "stage-status", "stage-status", "agent-status"),
                herald.requests().stream().map(FakeHerald.Request::name).toList());
        assertEquals(List.of("a", "b", "c"), pipelines(herald.requests("stage-status")));
        assertEquals("3.0", herald.requests("agent-status").get(0).version());
        assertEquals("{\"uuid\":\"d\"}", herald.requests("agent-status").get(0).body());
        assertEquals(List.of(), files(spoolDir, Spool.SUFFIX));
    }

    @Test
    public void fiveHundredsAreSpooledAndFilesGoOnlyAfterAcknowledgement() throws Exception {
        herald = FakeHerald.start();
        AtomicInteger mode = new AtomicInteger(503);
        herald.answer(r -> mode.get() == 503
                ? new FakeHerald.Reply(503, "{\"status\":\"failure\",\"messages\":[\"herald could not store the event: disk full\"]}")
                : FakeHerald.heraldLike(r));
        HeraldPlugin p = plugin(herald.url());
        GoPluginApiResponse r = p.handle(request("stage-status", "2.0", stageBody("x")));
        assertEquals(SUCCESS, r.responseBody());
        r = p.handle(request("stage-status", "2.0", stageBody("y")));
        assertEquals(SUCCESS, r.responseBody());
        // The replay keeps trying, but herald does not acknowledge: the files stay.
        assertTrue(waitFor(3000, () -> herald.requests().size() >= 4));
        assertEquals(2, files(spoolDir, Spool.SUFFIX).size());
        mode.set(200); // herald recovers

        assertTrue(waitFor(5000, () -> p.spool().isEmpty()));
        List<FakeHerald.Request> ok = herald.requests();
        assertEquals(List.of("x", "y"), pipelines(ok.subList(ok.size() - 2, ok.size())));
        // The same request id on every attempt, so herald could drop a repeat.
        String idX = herald.requests().get(0).requestId();
        for (FakeHerald.Request q : herald.requests())
            if (q.body().equals(stageBody("x")))
                assertEquals(idX, q.requestId());
    }

    @Test
    public void newNotificationsQueueBehindTheSpool() throws Exception {
        int port = FakeHerald.freePort();
        HeraldPlugin p = plugin("http://127.0.0.1:" + port);
        p.handle(request("stage-status", "4.0", stageBody("1")));
        p.handle(request("stage-status", "4.0", stageBody("2")));
        herald = FakeHerald.startOn(port);
        for (int i = 3; i <= 20; i++)
            assertEquals(SUCCESS, p.handle(request("stage-status", "4.0", stageBody(Integer.toString(i)))).responseBody());
        assertTrue(waitFor(5000, () -> herald.requests().size() >= 20 && p.spool().isEmpty()));
        List<String> expected = new ArrayList<>();
        for (int i = 1; i <= 20; i++)
            expected.add(Integer.toString(i));
        assertEquals(expected, pipelines(herald.requests()));
    }

    @Test
    public void aFinalRefusalMovesTheFileToRejected() throws Exception {
        int port = FakeHerald.freePort();
        HeraldPlugin p = plugin("http://127.0.0.1:" + port);
        p.handle(request("stage-status", "4.0", "{\"bad\":true}"));
        p.handle(request("stage-status", "4.0", stageBody("good")));
        herald = FakeHerald.startOn(port);
        herald.answer(r -> r.body().contains("bad")
                ? new FakeHerald.Reply(200, "{\"status\":\"failure\",\"messages\":[\"pipeline: missing\"]}")
                : FakeHerald.heraldLike(r));
        assertTrue(waitFor(5000, () -> p.spool().isEmpty()));
        assertEquals(1, files(spoolDir.resolve(Spool.REJECTED), Spool.SUFFIX).size());
        assertEquals(List.of("good"), pipelines(herald.requests().subList(1, 2)));
        assertEquals(2, herald.requests().size());
    }

    @Test
    public void aCrashLeftoverIsReplayedOnStartAndTemporaryFilesAreRemoved() throws Exception {
        // What a crashed run leaves: spooled files (written by the spool itself) and a
        // temporary file that never got its final name.
        Spool before = new Spool(spoolDir, 100, 1 << 20);
        before.add("stage-status", "3.0", "id-1", stageBody("old-1"));
        before.add("agent-status", "4.0", "id-2", "{\"uuid\":\"old-2\"}");
        before.add("stage-status", "3.0", "id-3", stageBody("old-3"));
        Files.writeString(spoolDir.resolve("00000000000000000004" + Spool.TEMP_SUFFIX), "herald-spool 1\nname stage");
        herald = FakeHerald.start();

        HeraldPlugin p = plugin(herald.url());
        assertFalse(Files.exists(spoolDir.resolve("00000000000000000004" + Spool.TEMP_SUFFIX)));
        assertTrue(waitFor(5000, () -> herald.requests().size() >= 3 && p.spool().isEmpty()));
        List<FakeHerald.Request> seen = herald.requests();
        assertEquals(3, seen.size());
        assertEquals(stageBody("old-1"), seen.get(0).body());
        assertEquals("3.0", seen.get(0).version());
        assertEquals("id-1", seen.get(0).requestId());
        assertEquals("{\"uuid\":\"old-2\"}", seen.get(1).body());
        assertEquals("agent-status", seen.get(1).name());
        assertEquals(stageBody("old-3"), seen.get(2).body());
        // New files continue the numbering after the leftovers.
        herald.close();
        herald = null;
        p.handle(request("stage-status", "4.0", stageBody("new")));
        assertEquals(List.of("00000000000000000004" + Spool.SUFFIX), files(spoolDir, Spool.SUFFIX));
    }

    @Test
    public void boundedByCount() throws Exception {
        HeraldPlugin p = plugin("http://127.0.0.1:" + FakeHerald.freePort(), "herald.spool.maxFiles", "3");
        for (int i = 0; i < 3; i++)
            assertEquals(SUCCESS, p.handle(request("stage-status", "4.0", stageBody("n" + i))).responseBody());
        GoPluginApiResponse r = p.handle(request("stage-status", "4.0", stageBody("n3")));
        assertEquals(200, r.responseCode());
        assertTrue(r.responseBody(), r.responseBody().startsWith("{\"status\":\"failure\",\"messages\":[\""));
        assertTrue(r.responseBody(), r.responseBody().contains("spool " + spoolDir + " is full"));
        assertEquals(3, files(spoolDir, Spool.SUFFIX).size());
    }

    @Test
    public void boundedByBytes() throws Exception {
        int one = stageBody("n0").length() + 100;
        HeraldPlugin p = plugin("http://127.0.0.1:" + FakeHerald.freePort(), "herald.spool.maxBytes",
                Integer.toString(2 * one + 10));
        assertEquals(SUCCESS, p.handle(request("stage-status", "4.0", stageBody("n0"))).responseBody());
        assertEquals(SUCCESS, p.handle(request("stage-status", "4.0", stageBody("n1"))).responseBody());
        GoPluginApiResponse r = p.handle(request("stage-status", "4.0", stageBody("n2") + " ".repeat(200)));
        assertTrue(r.responseBody(), r.responseBody().contains("\"status\":\"failure\""));
        assertTrue(r.responseBody(), r.responseBody().contains(spoolDir.toString()));
        assertTrue(r.responseBody(), r.responseBody().contains("bytes"));
        assertEquals(2, files(spoolDir, Spool.SUFFIX).size());
    }
}
