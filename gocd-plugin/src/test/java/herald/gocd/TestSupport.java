package herald.gocd;

import com.thoughtworks.go.plugin.api.request.GoPluginApiRequest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/** Small helpers shared by the tests. */
final class TestSupport {
    private TestSupport() {
    }

    /** A configuration for a bridge talking to url with its spool in spoolDir, short timeouts and retries. */
    static BridgeConfig config(String url, Path spoolDir, String... extra) {
        Properties p = new Properties();
        p.setProperty("herald.url", url);
        p.setProperty("herald.spool.dir", spoolDir.toString());
        p.setProperty("herald.configDir", spoolDir.resolve("no-config").toString());
        p.setProperty("herald.connectTimeoutMs", "1000");
        p.setProperty("herald.readTimeoutMs", "3000");
        for (int i = 0; i + 1 < extra.length; i += 2)
            p.setProperty(extra[i], extra[i + 1]);
        return BridgeConfig.load(p, Map.of(), spoolDir.getParent()).withRetryMaxMs(200);
    }

    /** A GoCD notification request as the server builds one. */
    static GoPluginApiRequest request(String name, String version, String body) {
        return request("notification", name, version, body);
    }

    /** A GoCD package-repository request (version 1.0, the only one) as the server builds one. */
    static GoPluginApiRequest packageRequest(String name, String body) {
        return request("package-repository", name, "1.0", body);
    }

    static GoPluginApiRequest request(String extension, String name, String version, String body) {
        return new GoPluginApiRequest() {
            @Override
            public String extension() {
                return extension;
            }

            @Override
            public String extensionVersion() {
                return version;
            }

            @Override
            public String requestName() {
                return name;
            }

            @Override
            public Map<String, String> requestParameters() {
                return new HashMap<>();
            }

            @Override
            public Map<String, String> requestHeaders() {
                return new HashMap<>();
            }

            @Override
            public String requestBody() {
                return body;
            }
        };
    }

    /** A small stage-status body carrying a unique id (as the pipeline name). */
    static String stageBody(String id) {
        return "{\"pipeline\":{\"name\":\"" + id + "\",\"counter\":\"1\",\"stage\":{\"name\":\"s\",\"counter\":\"1\","
                + "\"state\":\"Passed\",\"result\":\"Passed\",\"jobs\":[]}}}";
    }

    /** Polls until cond holds or ms pass; true when it held. */
    static boolean waitFor(long ms, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < deadline) {
            if (cond.getAsBoolean())
                return true;
            Thread.sleep(10);
        }
        return cond.getAsBoolean();
    }

    /** The names of the files in dir ending with suffix, sorted. */
    static java.util.List<String> files(Path dir, String suffix) throws IOException {
        if (!Files.isDirectory(dir))
            return java.util.List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(f -> f.endsWith(suffix)).sorted().toList();
        }
    }

    static Path tempDir() throws IOException {
        return Files.createTempDirectory("herald-bridge-test");
    }

    static void delete(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir))
            return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList())
                Files.deleteIfExists(p);
        }
    }
}
