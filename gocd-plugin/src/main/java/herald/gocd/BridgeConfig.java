package herald.gocd;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Where herald is and how the bridge talks to it. Every setting is looked up in this order:
 * a JVM system property (herald.url), an environment variable of the GoCD server process
 * (HERALD_URL), the properties file herald-bridge.properties beside GoCD's configuration
 * (url), and finally the default. A blank value counts as unset. Immutable.
 */
public final class BridgeConfig {
    public static final String DEFAULT_URL = "http://127.0.0.1:8190";
    public static final String FILE_NAME = "herald-bridge.properties";

    /** herald's base URL, without a trailing slash. */
    public final String url;
    /** The bearer token herald demands on /gocd/..., or null for none. */
    public final String token;
    public final Path spoolDir;
    public final int spoolMaxFiles;
    public final long spoolMaxBytes;
    public final int healthIntervalSeconds;
    public final int connectTimeoutMs;
    public final int readTimeoutMs;
    /** The longest pause between two replay attempts while herald is down. Not configurable
     *  from outside: the health check also wakes the replay as soon as herald answers. */
    public final int retryMaxMs;
    /** Where each setting came from and any value that was ignored, for the log. */
    public final List<String> notes;

    private BridgeConfig(String url, String token, Path spoolDir, int spoolMaxFiles, long spoolMaxBytes,
                         int healthIntervalSeconds, int connectTimeoutMs, int readTimeoutMs, int retryMaxMs,
                         List<String> notes) {
        this.url = url;
        this.token = token;
        this.spoolDir = spoolDir;
        this.spoolMaxFiles = spoolMaxFiles;
        this.spoolMaxBytes = spoolMaxBytes;
        this.healthIntervalSeconds = healthIntervalSeconds;
        this.connectTimeoutMs = connectTimeoutMs;
        this.readTimeoutMs = readTimeoutMs;
        this.retryMaxMs = retryMaxMs;
        this.notes = List.copyOf(notes);
    }

    /** The configuration of the running GoCD server process. */
    public static BridgeConfig load() {
        return load(System.getProperties(), System.getenv(), Paths.get("").toAbsolutePath());
    }

    /**
     * The configuration from the given system properties and environment, with workDir as the
     * process's working folder. Never fails: an unreadable file or a bad number is noted and
     * the next source (or the default) is used.
     */
    public static BridgeConfig load(Properties sys, Map<String, String> env, Path workDir) {
        List<String> notes = new ArrayList<>();
        Path configDir = configDir(sys, env, workDir);
        Properties file = new Properties();
        Path filePath = configDir.resolve(FILE_NAME);
        if (Files.isRegularFile(filePath)) {
            try (InputStream in = Files.newInputStream(filePath)) {
                file.load(in);
                notes.add("read " + filePath);
            } catch (IOException | IllegalArgumentException e) {
                notes.add("could not read " + filePath + ": " + e.getMessage());
            }
        }
        Lookup l = new Lookup(sys, env, file, notes);

        String url = l.string("herald.url", "HERALD_URL", "url", DEFAULT_URL);
        while (url.endsWith("/"))
            url = url.substring(0, url.length() - 1);
        String token = l.string("herald.token", "HERALD_TOKEN", "token", null);
        String spool = l.string("herald.spool.dir", "HERALD_SPOOL_DIR", "spool.dir", null);
        Path spoolDir = spool != null ? workDir.resolve(spool) : defaultSpoolDir(configDir, workDir);
        return new BridgeConfig(url, token, spoolDir.normalize(),
                (int) l.number("herald.spool.maxFiles", "HERALD_SPOOL_MAX_FILES", "spool.maxFiles", 10000, 1, Integer.MAX_VALUE),
                l.number("herald.spool.maxBytes", "HERALD_SPOOL_MAX_BYTES", "spool.maxBytes", 104857600L, 1, Long.MAX_VALUE),
                (int) l.number("herald.healthIntervalSeconds", "HERALD_HEALTH_INTERVAL_SECONDS", "healthIntervalSeconds", 30, 1, 86400),
                (int) l.number("herald.connectTimeoutMs", "HERALD_CONNECT_TIMEOUT_MS", "connectTimeoutMs", 2000, 1, 600000),
                (int) l.number("herald.readTimeoutMs", "HERALD_READ_TIMEOUT_MS", "readTimeoutMs", 10000, 1, 600000),
                5000, notes);
    }

    /** A copy with another URL (tests point one configuration at several servers). */
    public BridgeConfig withUrl(String newUrl) {
        return new BridgeConfig(newUrl, token, spoolDir, spoolMaxFiles, spoolMaxBytes, healthIntervalSeconds,
                connectTimeoutMs, readTimeoutMs, retryMaxMs, notes);
    }

    /** A copy with another longest pause between replay attempts (tests use short ones). */
    public BridgeConfig withRetryMaxMs(int ms) {
        return new BridgeConfig(url, token, spoolDir, spoolMaxFiles, spoolMaxBytes, healthIntervalSeconds,
                connectTimeoutMs, readTimeoutMs, ms, notes);
    }

    /**
     * GoCD's configuration folder: the system property herald.configDir, else GoCD's own
     * cruise.config.dir (the server's launcher sets it), else GO_CONFIG_DIR, else "config"
     * under the working folder (GoCD's default).
     */
    static Path configDir(Properties sys, Map<String, String> env, Path workDir) {
        String dir = blankToNull(sys.getProperty("herald.configDir"));
        if (dir == null)
            dir = blankToNull(sys.getProperty("cruise.config.dir"));
        if (dir == null)
            dir = blankToNull(env.get("GO_CONFIG_DIR"));
        return dir != null ? workDir.resolve(dir) : workDir.resolve("config");
    }

    /**
     * herald-spool beside the configuration folder (following a symbolic link to where the
     * folder really is, as in GoCD's container images), when that place is writable; else
     * herald-spool in the working folder (as with /etc/go in GoCD's packages).
     */
    static Path defaultSpoolDir(Path configDir, Path workDir) {
        try {
            Path parent = configDir.toRealPath().getParent();
            if (parent != null && Files.isWritable(parent))
                return parent.resolve("herald-spool");
        } catch (IOException e) {
            // No such folder yet: fall back to the working folder.
        }
        return workDir.resolve("herald-spool");
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.trim();
    }

    /** One value from the first source that sets it. */
    private static final class Lookup {
        private final Properties sys;
        private final Map<String, String> env;
        private final Properties file;
        private final List<String> notes;

        Lookup(Properties sys, Map<String, String> env, Properties file, List<String> notes) {
            this.sys = sys;
            this.env = env;
            this.file = file;
            this.notes = notes;
        }

        String string(String property, String variable, String fileKey, String fallback) {
            String v = blankToNull(sys.getProperty(property));
            if (v != null)
                return v;
            v = blankToNull(env.get(variable));
            if (v != null)
                return v;
            v = blankToNull(file.getProperty(fileKey));
            return v != null ? v : fallback;
        }

        long number(String property, String variable, String fileKey, long fallback, long min, long max) {
            String[][] sources = {
                {"system property " + property, blankToNull(sys.getProperty(property))},
                {"environment variable " + variable, blankToNull(env.get(variable))},
                {FILE_NAME + " key " + fileKey, blankToNull(file.getProperty(fileKey))},
            };
            for (String[] s : sources) {
                if (s[1] == null)
                    continue;
                try {
                    long n = Long.parseLong(s[1]);
                    if (n >= min && n <= max)
                        return n;
                } catch (NumberFormatException e) {
                    // Noted below.
                }
                notes.add(s[0] + " is \"" + s[1] + "\", not a whole number from " + min + " to " + max + "; ignored");
            }
            return fallback;
        }
    }

    @Override
    public String toString() {
        return "herald at " + url + (token != null ? " (with a token)" : " (no token)") + ", spool " + spoolDir
                + " (at most " + spoolMaxFiles + " files, " + spoolMaxBytes + " bytes), health every "
                + healthIntervalSeconds + " s, timeouts " + connectTimeoutMs + " ms connect, " + readTimeoutMs
                + " ms answer";
    }
}
