package herald.gocd;

import org.junit.After;
import org.junit.Before;
import org.junit.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

import static herald.gocd.TestSupport.*;
import static org.junit.Assert.*;

/** Each setting comes from a system property, else the environment, else the file, else the default. */
public class BridgeConfigTest {
    private Path work;
    private Path configDir;

    @Before
    public void setUp() throws Exception {
        work = tempDir();
        configDir = Files.createDirectories(work.resolve("config"));
    }

    @After
    public void tearDown() throws Exception {
        delete(work);
    }

    private void writeFile(Path dir, String text) throws Exception {
        Files.writeString(dir.resolve(BridgeConfig.FILE_NAME), text);
    }

    @Test
    public void defaults() {
        BridgeConfig c = BridgeConfig.load(new Properties(), Map.of(), work);
        assertEquals("http://127.0.0.1:8190", c.url);
        assertNull(c.token);
        assertEquals(10000, c.spoolMaxFiles);
        assertEquals(104857600L, c.spoolMaxBytes);
        assertEquals(30, c.healthIntervalSeconds);
        assertEquals(2000, c.connectTimeoutMs);
        assertEquals(10000, c.readTimeoutMs);
    }

    @Test
    public void systemPropertyThenEnvironmentThenFileThenDefault() throws Exception {
        writeFile(configDir, "url=http://file:1\ntoken=file-token\nspool.dir=/file/spool\nspool.maxFiles=3\n"
                + "spool.maxBytes=4000\nhealthIntervalSeconds=7\nconnectTimeoutMs=300\nreadTimeoutMs=400\n");
        Properties sys = new Properties();
        Map<String, String> env = new HashMap<>();

        BridgeConfig c = BridgeConfig.load(sys, env, work);
        assertEquals("http://file:1", c.url);
        assertEquals("file-token", c.token);
        assertEquals(Path.of("/file/spool"), c.spoolDir);
        assertEquals(3, c.spoolMaxFiles);
        assertEquals(4000, c.spoolMaxBytes);
        assertEquals(7, c.healthIntervalSeconds);
        assertEquals(300, c.connectTimeoutMs);
        assertEquals(400, c.readTimeoutMs);

        env.put("HERALD_URL", "http://env:2/");
        env.put("HERALD_TOKEN", "env-token");
        env.put("HERALD_SPOOL_DIR", "/env/spool");
        env.put("HERALD_SPOOL_MAX_FILES", "5");
        env.put("HERALD_SPOOL_MAX_BYTES", "5000");
        env.put("HERALD_HEALTH_INTERVAL_SECONDS", "8");
        env.put("HERALD_CONNECT_TIMEOUT_MS", "500");
        env.put("HERALD_READ_TIMEOUT_MS", "600");
        c = BridgeConfig.load(sys, env, work);
        assertEquals("http://env:2", c.url);
        assertEquals("env-token", c.token);
        assertEquals(Path.of("/env/spool"), c.spoolDir);
        assertEquals(5, c.spoolMaxFiles);
        assertEquals(5000, c.spoolMaxBytes);
        assertEquals(8, c.healthIntervalSeconds);
        assertEquals(500, c.connectTimeoutMs);
        assertEquals(600, c.readTimeoutMs);

        sys.setProperty("herald.url", "http://sys:3");
        sys.setProperty("herald.token", "sys-token");
        sys.setProperty("herald.spool.dir", "relative-spool");
        sys.setProperty("herald.spool.maxFiles", "9");
        sys.setProperty("herald.spool.maxBytes", "9000");
        sys.setProperty("herald.healthIntervalSeconds", "9");
        sys.setProperty("herald.connectTimeoutMs", "900");
        sys.setProperty("herald.readTimeoutMs", "990");
        c = BridgeConfig.load(sys, env, work);
        assertEquals("http://sys:3", c.url);
        assertEquals("sys-token", c.token);
        assertEquals(work.resolve("relative-spool"), c.spoolDir);
        assertEquals(9, c.spoolMaxFiles);
        assertEquals(9000, c.spoolMaxBytes);
        assertEquals(9, c.healthIntervalSeconds);
        assertEquals(900, c.connectTimeoutMs);
        assertEquals(990, c.readTimeoutMs);
    }

    @Test
    public void blankAndBadValuesFallThrough() throws Exception {
        writeFile(configDir, "spool.maxFiles=12\n");
        Properties sys = new Properties();
        sys.setProperty("herald.token", "  ");
        sys.setProperty("herald.spool.maxFiles", "many");
        Map<String, String> env = Map.of("HERALD_SPOOL_MAX_FILES", "-4", "HERALD_READ_TIMEOUT_MS", "x");
        BridgeConfig c = BridgeConfig.load(sys, env, work);
        assertNull(c.token);
        assertEquals(12, c.spoolMaxFiles);
        assertEquals(10000, c.readTimeoutMs);
        assertTrue(c.notes.toString(), c.notes.toString().contains("herald.spool.maxFiles is \"many\""));
    }

    @Test
    public void theFileIsFoundInTheConfigFolder() throws Exception {
        Path elsewhere = Files.createDirectories(work.resolve("etc-go"));
        writeFile(elsewhere, "url=http://elsewhere:4\n");
        writeFile(configDir, "url=http://config:5\n");

        assertEquals("http://config:5", BridgeConfig.load(new Properties(), Map.of(), work).url);
        assertEquals("http://elsewhere:4",
                BridgeConfig.load(new Properties(), Map.of("GO_CONFIG_DIR", elsewhere.toString()), work).url);
        Properties gocd = new Properties();
        gocd.setProperty("cruise.config.dir", elsewhere.toString());
        assertEquals("http://elsewhere:4", BridgeConfig.load(gocd, Map.of(), work).url);
        Properties own = new Properties();
        own.setProperty("herald.configDir", configDir.toString());
        assertEquals("http://config:5", BridgeConfig.load(own, Map.of("GO_CONFIG_DIR", elsewhere.toString()), work).url);
    }

    @Test
    public void theSpoolDefaultsToBesideTheConfigFolder() throws Exception {
        assertEquals(work.toRealPath().resolve("herald-spool"), BridgeConfig.load(new Properties(), Map.of(), work).spoolDir);
        Path godata = Files.createDirectories(work.resolve("godata/config"));
        assertEquals(work.toRealPath().resolve("godata/herald-spool"),
                BridgeConfig.load(new Properties(), Map.of("GO_CONFIG_DIR", godata.toString()), work).spoolDir);
        // No config folder at all: the working folder.
        assertEquals(work.resolve("herald-spool"),
                BridgeConfig.load(new Properties(), Map.of("GO_CONFIG_DIR", "/nonexistent/x"), work).spoolDir);
    }
}
