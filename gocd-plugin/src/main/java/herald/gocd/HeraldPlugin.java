package herald.gocd;

import com.thoughtworks.go.plugin.api.GoApplicationAccessor;
import com.thoughtworks.go.plugin.api.GoPlugin;
import com.thoughtworks.go.plugin.api.GoPluginIdentifier;
import com.thoughtworks.go.plugin.api.annotation.Extension;
import com.thoughtworks.go.plugin.api.annotation.UnLoad;
import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.info.PluginContext;
import com.thoughtworks.go.plugin.api.logging.Logger;
import com.thoughtworks.go.plugin.api.request.GoPluginApiRequest;
import com.thoughtworks.go.plugin.api.response.DefaultGoPluginApiResponse;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;

import java.io.IOException;
import java.util.List;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * The GoCD notification plugin that relays every request to herald: handle() POSTs it to
 * herald's /gocd/notification/&lt;request-name&gt; with the extension version and body, and
 * gives GoCD herald's status and body unchanged (herald's 404 becomes GoCD's
 * UnhandledRequestTypeException).
 *
 * stage-status and agent-status are never lost: when herald cannot be reached or answers
 * with a passing trouble (5xx and the like, see Replayer.isTransient), the notification goes
 * to the spool, GoCD hears success, and the replay thread delivers it in order later. While
 * anything waits in the spool, new notifications join the end of it rather than overtake it.
 * handle() is thread-safe: GoCD calls it from its notification thread and from others.
 */
@Extension
public class HeraldPlugin implements GoPlugin {
    public static final String PLUGIN_ID = "herald.notifier";
    static final String EXTENSION = "notification";
    static final List<String> VERSIONS = List.of("1.0", "2.0", "3.0", "4.0");
    static final String INTERESTS = "notifications-interested-in";
    /** What a request name must look like to become the last part of herald's path (no "/" or ".."). */
    static final Pattern REQUEST_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
    private static final Logger LOG = Logger.getLoggerFor(HeraldPlugin.class);

    private final BridgeConfig config;
    private final HeraldClient client;
    private final Spool spool;
    private final Replayer replayer;
    private final HealthForwarder health;

    /** What GoCD's loader calls: the configuration of the server process. */
    public HeraldPlugin() {
        this(BridgeConfig.load());
    }

    /** Starts the replay of whatever an earlier run left in the spool. */
    public HeraldPlugin(BridgeConfig config) {
        this.config = config;
        for (String note : config.notes)
            LOG.info("herald bridge: " + note);
        LOG.info("herald bridge: " + config);
        this.client = new HeraldClient(config);
        this.spool = new Spool(config.spoolDir, config.spoolMaxFiles, config.spoolMaxBytes);
        if (spool.problem() != null)
            LOG.error("herald bridge: " + spool.problem());
        else if (!spool.isEmpty())
            LOG.info("herald bridge: " + spool.files() + " notifications left in " + config.spoolDir + " will be replayed");
        this.replayer = new Replayer(spool, client, config.retryMaxMs);
        this.health = new HealthForwarder(config, client, spool, replayer, pluginIdentifier());
        replayer.start();
    }

    @Override
    public GoPluginIdentifier pluginIdentifier() {
        return new GoPluginIdentifier(EXTENSION, VERSIONS);
    }

    @Override
    public void initializeGoApplicationAccessor(GoApplicationAccessor accessor) {
        health.start(accessor);
    }

    /** GoCD calls this when it unloads the plugin (a jar replaced in plugins/external). */
    @UnLoad
    public void unload(PluginContext context) {
        close();
    }

    /** Stops the background threads; what is spooled stays for the next start. */
    public void close() {
        health.stop();
        replayer.stop();
    }

    @Override
    public GoPluginApiResponse handle(GoPluginApiRequest request) throws UnhandledRequestTypeException {
        String name = request.requestName();
        if (name == null || !REQUEST_NAME.matcher(name).matches())
            throw new UnhandledRequestTypeException(String.valueOf(name));
        String version = request.extensionVersion();
        String body = request.requestBody();
        if (name.equals("stage-status") || name.equals("agent-status"))
            return relayEvent(name, version, body);

        HeraldClient.Answer a;
        try {
            a = client.notification(name, version, body, null);
        } catch (IOException e) {
            return unreachable(name, version, e);
        }
        if (a.status() == 404)
            throw new UnhandledRequestTypeException(name);
        if (!Replayer.isTransient(a.status()) && !spool.isEmpty())
            replayer.heraldAnswered();
        return new DefaultGoPluginApiResponse(a.status(), a.body());
    }

    /** stage-status and agent-status: herald's answer, or spooled and success. */
    private GoPluginApiResponse relayEvent(String name, String version, String body)
            throws UnhandledRequestTypeException {
        String id = UUID.randomUUID().toString();
        if (spool.isEmpty()) {
            try {
                HeraldClient.Answer a = client.notification(name, version, body, id);
                if (a.status() == 404)
                    throw new UnhandledRequestTypeException(name);
                if (!Replayer.isTransient(a.status()))
                    return new DefaultGoPluginApiResponse(a.status(), a.body());
                LOG.warn("herald bridge: herald answered " + a.status() + " to " + name + " (" + Json.clip(a.body(), 200)
                        + "); spooled");
            } catch (IOException e) {
                LOG.warn("herald bridge: herald at " + config.url + " is unreachable (" + HeraldClient.reason(e)
                        + "); " + name + " spooled");
            }
        }
        try {
            spool.add(name, version, id, body);
        } catch (IOException e) {
            String why = e instanceof Spool.FullException
                    ? "herald at " + config.url + " is not taking notifications and " + e.getMessage()
                            + "; this notification was not kept"
                    : e.getMessage() + "; this notification was not kept";
            LOG.error("herald bridge: " + why);
            return new DefaultGoPluginApiResponse(200, Json.failure(why));
        }
        replayer.workAdded();
        return new DefaultGoPluginApiResponse(200, "{\"status\":\"success\"}");
    }

    /**
     * herald cannot be reached for a request that is not a notification. GoCD asks which
     * notifications the plugin wants only once, when it loads the plugin: answer that here so
     * a herald that starts after GoCD still gets them. Anything else is an error GoCD logs.
     */
    private GoPluginApiResponse unreachable(String name, String version, IOException e) {
        String why = "herald at " + config.url + " is unreachable: " + HeraldClient.reason(e);
        if (name.equals(INTERESTS)) {
            LOG.warn("herald bridge: " + why + "; answering " + INTERESTS + " for it");
            boolean agents = version == null || version.compareTo("3.0") >= 0;
            return new DefaultGoPluginApiResponse(200, agents
                    ? "{\"notifications\":[\"stage-status\",\"agent-status\"]}"
                    : "{\"notifications\":[\"stage-status\"]}");
        }
        LOG.warn("herald bridge: " + why + " (" + name + ")");
        return new DefaultGoPluginApiResponse(500, "{\"message\":" + Json.quote(why) + "}");
    }

    // For tests.
    Spool spool() {
        return spool;
    }

    HealthForwarder health() {
        return health;
    }
}
