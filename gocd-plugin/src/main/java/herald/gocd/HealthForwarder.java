package herald.gocd;

import com.thoughtworks.go.plugin.api.GoApplicationAccessor;
import com.thoughtworks.go.plugin.api.GoPluginIdentifier;
import com.thoughtworks.go.plugin.api.logging.Logger;
import com.thoughtworks.go.plugin.api.request.DefaultGoApiRequest;
import com.thoughtworks.go.plugin.api.response.GoApiResponse;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The bridge's own calls to GoCD, once GoCD hands over its accessor, repeated every
 * healthIntervalSeconds on one background thread:
 *
 * 1. go.processor.server-info.get, POSTed to herald's /gocd/server-info (every time: herald
 *    keeps it in memory only, and a GoCD admin may change the site URL);
 * 2. go.processor.plugin-settings.get, forwarded to herald as plugin-settings-changed
 *    (version 4.0) when it is not null and differs from what herald last took, so settings
 *    saved while herald was down still reach it;
 * 3. herald's GET /gocd/health-messages, plus the bridge's own messages (herald unreachable,
 *    the spool filling or unwritable), submitted with go.processor.server-health.add-messages,
 *    which replaces the plugin's earlier messages (an empty list clears them).
 */
final class HealthForwarder {
    private static final Logger LOG = Logger.getLoggerFor(HealthForwarder.class);

    static final String SERVER_INFO_API = "go.processor.server-info.get";
    static final String SETTINGS_API = "go.processor.plugin-settings.get";
    static final String HEALTH_API = "go.processor.server-health.add-messages";
    static final String SETTINGS_CHANGED = "go.plugin-settings.plugin-settings-changed";

    private final BridgeConfig config;
    private final HeraldClient client;
    private final Spool spool;
    private final Replayer replayer;
    private final GoPluginIdentifier identifier;
    private volatile GoApplicationAccessor accessor;
    private ScheduledExecutorService timer;
    private final Object tickLock = new Object();
    // Guarded by tickLock.
    private String settingsTaken;
    private volatile String lastHealth;

    HealthForwarder(BridgeConfig config, HeraldClient client, Spool spool, Replayer replayer,
                    GoPluginIdentifier identifier) {
        this.config = config;
        this.client = client;
        this.spool = spool;
        this.replayer = replayer;
        this.identifier = identifier;
    }

    /** Uses this accessor from now on and starts the timer (first tick at once) if not yet running. */
    synchronized void start(GoApplicationAccessor a) {
        accessor = a;
        if (timer != null)
            return;
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "herald-bridge-health");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(this::tickSafely, 0, config.healthIntervalSeconds, TimeUnit.SECONDS);
    }

    synchronized void stop() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }

    /** The last health message list submitted to GoCD (for tests and logs), or null. */
    String lastHealth() {
        return lastHealth;
    }

    private void tickSafely() {
        try {
            tick();
        } catch (RuntimeException e) {
            // A scheduled task that throws is never run again: keep the timer alive.
            LOG.error("herald bridge: the periodic check failed", e);
        }
    }

    /** One round of the three steps above. Package-private so tests run it directly. */
    void tick() {
        GoApplicationAccessor a = accessor;
        if (a == null)
            return;
        synchronized (tickLock) {
            forwardServerInfo(a);
            forwardSettings(a);
            forwardHealth(a);
        }
    }

    private void forwardServerInfo(GoApplicationAccessor a) {
        GoApiResponse r = submit(a, SERVER_INFO_API, "2.0", null);
        if (r == null || r.responseCode() != 200)
            r = submit(a, SERVER_INFO_API, "1.0", null); // servers before 2.0 of this api
        if (r == null || r.responseCode() != 200 || isNull(r.responseBody()))
            return;
        try {
            HeraldClient.Answer h = client.post("/gocd/server-info", r.responseBody());
            if (!h.is2xx())
                LOG.warn("herald bridge: herald answered " + h.status() + " to /gocd/server-info: " + Json.clip(h.body(), 200));
        } catch (IOException e) {
            // Reported by the health step below.
        }
    }

    private void forwardSettings(GoApplicationAccessor a) {
        GoApiResponse r = submit(a, SETTINGS_API, "1.0", "{\"plugin-id\":" + Json.quote(HeraldPlugin.PLUGIN_ID) + "}");
        if (r == null || r.responseCode() != 200 || isNull(r.responseBody()))
            return;
        String settings = r.responseBody();
        if (settings.equals(settingsTaken))
            return;
        try {
            HeraldClient.Answer h = client.notification(SETTINGS_CHANGED, "4.0", settings, null);
            if (Replayer.isTransient(h.status()))
                return; // try again next round
            // herald took them, or refused them for good (it says why in its own log and
            // health messages): either way, sending the same settings again would not help.
            settingsTaken = settings;
            if (!h.acknowledged())
                LOG.warn("herald bridge: herald did not take the plugin settings (" + h.status() + ": "
                        + Json.clip(h.body(), 300) + ")");
        } catch (IOException e) {
            // Reported by the health step below.
        }
    }

    private void forwardHealth(GoApplicationAccessor a) {
        String heraldMessages = "[]";
        List<String> own = new ArrayList<>();
        try {
            HeraldClient.Answer h = client.get("/gocd/health-messages");
            if (h.status() == 200 && Json.isArray(h.body())) {
                heraldMessages = h.body();
            } else {
                own.add(Json.healthMessage("error", "herald bridge: herald at " + client.baseUrl() + " answered "
                        + h.status() + " to GET /gocd/health-messages: " + Json.clip(h.body(), 200)));
            }
            if (!spool.isEmpty() && !Replayer.isTransient(h.status()))
                replayer.heraldAnswered();
        } catch (IOException e) {
            own.add(Json.healthMessage("error", "herald bridge: herald at " + client.baseUrl() + " is unreachable ("
                    + HeraldClient.reason(e) + "); " + waiting(spool.files()) + " in the spool " + spool.dir()
                    + " and will be sent when herald answers"));
        }
        String problem = spool.problem();
        if (problem != null)
            own.add(Json.healthMessage("error", "herald bridge: " + problem
                    + "; notifications that herald does not take at once are lost"));
        int files = spool.files();
        long bytes = spool.bytes();
        if (files * 2L > spool.maxFiles() || bytes * 2 > spool.maxBytes()) {
            own.add(Json.healthMessage("warning", "herald bridge: the spool " + spool.dir() + " is filling: "
                    + files + " of " + spool.maxFiles() + " files, " + bytes + " of " + spool.maxBytes()
                    + " bytes; when it is full, GoCD's notifications fail"));
        } else if (files > 0 && own.isEmpty() && replayer.lastProblem() != null) {
            own.add(Json.healthMessage("warning", "herald bridge: " + waiting(files) + " in the spool "
                    + spool.dir() + " (" + replayer.lastProblem() + ")"));
        }
        String body = Json.appendToArray(heraldMessages, own);
        GoApiResponse r = submit(a, HEALTH_API, "1.0", body);
        if (r != null && r.responseCode() != 200)
            LOG.warn("herald bridge: GoCD answered " + r.responseCode() + " to " + HEALTH_API + ": "
                    + Json.clip(r.responseBody(), 200));
        lastHealth = body;
    }

    /** Calls GoCD; null (and a log line) when the call itself throws. */
    private GoApiResponse submit(GoApplicationAccessor a, String api, String version, String body) {
        DefaultGoApiRequest req = new DefaultGoApiRequest(api, version, identifier);
        if (body != null)
            req.setRequestBody(body);
        try {
            return a.submit(req);
        } catch (RuntimeException e) {
            LOG.warn("herald bridge: GoCD failed " + api + " " + version, e);
            return null;
        }
    }

    private static String waiting(int files) {
        return files == 1 ? "1 notification waits" : files + " notifications wait";
    }

    private static boolean isNull(String body) {
        return body == null || body.isBlank() || body.strip().equals("null");
    }
}
