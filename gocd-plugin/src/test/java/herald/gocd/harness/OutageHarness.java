package herald.gocd.harness;

import com.thoughtworks.go.plugin.api.GoPlugin;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The outage test's GoCD side, driven by tests/system/test_gocd_plugin.py:
 *
 *   OutageHarness JAR HERALD_URL TOKEN N BODY_TEMPLATE
 *
 * With herald down (the Python test killed it), loads the jar as GoCD does and hands the
 * bridge N stage-status requests (BODY_TEMPLATE with "__COUNTER__" replaced by 1..N); each
 * must be answered success and spooled. Waits for the bridge's own health message saying
 * herald is unreachable, prints "SPOOLED N", then waits for a line "UP" on standard input
 * (the test restarted herald), then for the spool to drain and for the health messages to
 * clear. Prints one line per check and "N passed, N failed"; exits 1 when a check failed.
 */
public final class OutageHarness {
    private int passed;
    private int failed;

    private void check(boolean ok, String what) {
        if (ok)
            passed++;
        else
            failed++;
        System.out.println((ok ? "ok - " : "FAIL - ") + what);
        System.out.flush();
    }

    private static long spooled(Path spool) throws Exception {
        if (!Files.isDirectory(spool))
            return 0;
        try (Stream<Path> s = Files.list(spool)) {
            return s.filter(p -> Files.isRegularFile(p) && !p.getFileName().toString().startsWith(".")
                    && !p.getFileName().toString().endsWith(".tmp")).count();
        }
    }

    /** The last health list the bridge submitted to GoCD, or null. */
    private static String lastHealth(LoaderHarness.Server server) {
        List<String[]> calls = server.calls("go.processor.server-health.add-messages");
        return calls.isEmpty() ? null : calls.get(calls.size() - 1)[2];
    }

    private static boolean waitFor(long ms, java.util.function.BooleanSupplier cond) throws Exception {
        long end = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < end) {
            if (cond.getAsBoolean())
                return true;
            Thread.sleep(50);
        }
        return cond.getAsBoolean();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: OutageHarness JAR HERALD_URL TOKEN N BODY_TEMPLATE");
            System.exit(2);
        }
        new OutageHarness().run(Path.of(args[0]), args[1], args[2], Integer.parseInt(args[3]),
                Files.readString(Path.of(args[4]), StandardCharsets.UTF_8));
    }

    private void run(Path jar, String url, String token, int n, String template) throws Exception {
        Path work = Files.createTempDirectory("herald-outage");
        Path spool = work.resolve("spool");
        System.setProperty("herald.url", url);
        System.setProperty("herald.token", token);
        System.setProperty("herald.spool.dir", spool.toString());
        System.setProperty("herald.configDir", work.resolve("config").toString());
        System.setProperty("herald.healthIntervalSeconds", "1");
        LoaderHarness.Server server = new LoaderHarness.Server("null");
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()},
                OutageHarness.class.getClassLoader())) {
            GoPlugin plugin = (GoPlugin) loader.loadClass("herald.gocd.HeraldPlugin")
                    .getDeclaredConstructor().newInstance();
            plugin.initializeGoApplicationAccessor(server);

            int ok = 0;
            for (int i = 1; i <= n; i++) {
                GoPluginApiResponse r = plugin.handle(LoaderHarness.request("stage-status", "4.0",
                        template.replace("__COUNTER__", Integer.toString(i))));
                if (r.responseCode() == 200 && r.responseBody().contains("\"success\""))
                    ok++;
            }
            check(ok == n, ok + " of " + n + " stage-status requests answered success while herald is down");
            check(spooled(spool) == n, spooled(spool) + " of " + n + " requests are in the spool");
            check(waitFor(10000, () -> {
                String h = lastHealth(server);
                return h != null && h.contains("unreachable");
            }), "the bridge tells GoCD that herald is unreachable: " + lastHealth(server));
            System.out.println("SPOOLED " + n);
            System.out.flush();

            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line = in.readLine();
            check("UP".equals(line), "herald is back (" + line + ")");
            check(waitFor(60000, () -> {
                try {
                    return spooled(spool) == 0;
                } catch (Exception e) {
                    return false;
                }
            }), "the spool drains once herald answers (" + spooled(spool) + " left)");
            check(waitFor(10000, () -> {
                String h = lastHealth(server);
                return h != null && !h.contains("unreachable");
            }), "the bridge's health message clears: " + lastHealth(server));
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
