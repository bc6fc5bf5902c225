package herald.gocd;

import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static herald.gocd.TestSupport.*;
import static org.junit.Assert.*;

/** handle() from 8 threads at once: every notification reaches herald exactly once. */
public class ConcurrencyTest {
    private static final int THREADS = 8;
    private static final int EACH = 50;
    private Path dir;
    private FakeHerald herald;
    private HeraldPlugin plugin;
    private ExecutorService pool;

    @Before
    public void setUp() throws Exception {
        dir = tempDir();
        pool = Executors.newFixedThreadPool(THREADS);
    }

    @After
    public void tearDown() throws Exception {
        pool.shutdownNow();
        if (plugin != null)
            plugin.close();
        if (herald != null)
            herald.close();
        delete(dir);
    }

    /** Runs THREADS x EACH stage-status calls, ids t<thread>-<n>; all must answer success. */
    private void hammer(String round) throws Exception {
        List<Callable<Void>> jobs = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int thread = t;
            jobs.add(() -> {
                for (int n = 0; n < EACH; n++) {
                    GoPluginApiResponse r = plugin.handle(request("stage-status", "4.0",
                            stageBody(round + "-t" + thread + "-" + n)));
                    assertEquals(200, r.responseCode());
                    assertEquals("{\"status\":\"success\"}", r.responseBody());
                }
                return null;
            });
        }
        for (Future<Void> f : pool.invokeAll(jobs, 20, TimeUnit.SECONDS))
            f.get();
    }

    /** Every id of the round delivered exactly once, and each thread's own in order. */
    private void assertExactlyOnce(String round) {
        Map<String, Integer> seen = new HashMap<>();
        Map<Integer, Integer> lastOfThread = new HashMap<>();
        for (FakeHerald.Request r : herald.requests("stage-status")) {
            int i = r.body().indexOf("\"name\":\"") + 8;
            String id = r.body().substring(i, r.body().indexOf('"', i));
            if (!id.startsWith(round + "-"))
                continue;
            seen.merge(id, 1, Integer::sum);
            String[] parts = id.substring(round.length() + 2).split("-");
            int thread = Integer.parseInt(parts[0]), n = Integer.parseInt(parts[1]);
            int last = lastOfThread.getOrDefault(thread, -1);
            assertTrue("thread " + thread + " sent " + n + " after " + last, n > last);
            lastOfThread.put(thread, n);
        }
        assertEquals(THREADS * EACH, seen.size());
        for (Map.Entry<String, Integer> e : seen.entrySet())
            assertEquals("duplicate " + e.getKey(), Integer.valueOf(1), e.getValue());
    }

    @Test
    public void heraldUp() throws Exception {
        herald = FakeHerald.start();
        plugin = new HeraldPlugin(config(herald.url(), dir.resolve("spool")));
        hammer("up");
        assertExactlyOnce("up");
        assertTrue(plugin.spool().isEmpty());
    }

    @Test
    public void heraldDownThenUp() throws Exception {
        int port = FakeHerald.freePort();
        plugin = new HeraldPlugin(config("http://127.0.0.1:" + port, dir.resolve("spool")));
        hammer("down");
        assertEquals(THREADS * EACH, files(dir.resolve("spool"), Spool.SUFFIX).size());
        herald = FakeHerald.startOn(port);
        assertTrue(waitFor(15000, () -> plugin.spool().isEmpty()));
        assertExactlyOnce("down");
        assertEquals(List.of(), files(dir.resolve("spool"), Spool.SUFFIX));
    }
}
