package herald.gocd;

import com.thoughtworks.go.plugin.api.GoApplicationAccessor;
import com.thoughtworks.go.plugin.api.GoPlugin;
import com.thoughtworks.go.plugin.api.GoPluginIdentifier;
import com.thoughtworks.go.plugin.api.annotation.Extension;
import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.logging.Logger;
import com.thoughtworks.go.plugin.api.request.GoPluginApiRequest;
import com.thoughtworks.go.plugin.api.response.DefaultGoPluginApiResponse;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * GoCD's package-repository extension, relayed to herald: handle() POSTs every request to
 * herald's /gocd/package-repository/&lt;request-name&gt; (through the same HeraldClient, URL
 * and token as the notification extension) and gives GoCD herald's status and body
 * unchanged, but for a poll herald cannot answer with a revision (its sentence becomes an
 * exception's message, which GoCD shows best). herald's 404 for a request it does not know
 * becomes UnhandledRequestTypeException.
 *
 * It lives in the same jar, and so the same GoCD plugin (herald.notifier), as HeraldPlugin:
 * GoCD's activator registers every @Extension class of a jar, one service per extension
 * type (docs/gocd.md, "One jar, two extensions"). It shares no state with HeraldPlugin.
 *
 * Nothing here is spooled: GoCD asks questions through this extension (what is the latest
 * revision, is this configuration valid), and an answer kept for later answers nothing.
 * When herald cannot answer, GoCD hears why, in the form in which it shows the reason best
 * (see trouble()). Thread-safe: GoCD polls materials on several threads at once.
 */
@Extension
public class HeraldPackagePlugin implements GoPlugin {
    static final String EXTENSION = "package-repository";
    static final List<String> VERSIONS = List.of("1.0");
    /**
     * The longest wait for herald's answer. GoCD's material update threads wait for a poll,
     * and herald answers from what it holds, so a longer wait only hides a stuck herald.
     */
    static final Duration POLL_TIMEOUT = Duration.ofSeconds(10);

    static final String REPOSITORY_CONFIGURATION = "repository-configuration";
    static final String PACKAGE_CONFIGURATION = "package-configuration";
    static final String CHECK_REPOSITORY_CONNECTION = "check-repository-connection";
    static final String CHECK_PACKAGE_CONNECTION = "check-package-connection";
    static final String LATEST_REVISION = "latest-revision";
    static final String LATEST_REVISION_SINCE = "latest-revision-since";

    /**
     * What herald answers to repository-configuration and package-configuration (its keys
     * HERALD_REPOSITORY and HERALD_PACKAGE, both part of the material's identity and
     * required), for when herald cannot answer while GoCD loads the plugin: see
     * configurationHeraldCouldNotGive(). herald's own answer wins whenever there is one; the
     * loader harness checks that both say the same.
     */
    static final String BUILT_IN_REPOSITORY_CONFIGURATION = configuration("HERALD_REPOSITORY", "Repository name in herald");
    static final String BUILT_IN_PACKAGE_CONFIGURATION = configuration("HERALD_PACKAGE", "Package name in herald");

    private static final Logger LOG = Logger.getLoggerFor(HeraldPackagePlugin.class);

    private final String url;
    private final HeraldClient client;
    private final Duration timeout;

    /** What GoCD's loader calls: the configuration of the server process. */
    public HeraldPackagePlugin() {
        this(BridgeConfig.load());
    }

    public HeraldPackagePlugin(BridgeConfig config) {
        this.url = config.url;
        this.client = new HeraldClient(config);
        this.timeout = client.readTimeout().compareTo(POLL_TIMEOUT) < 0 ? client.readTimeout() : POLL_TIMEOUT;
        LOG.info("herald bridge: package-repository extension relays to " + url);
    }

    @Override
    public GoPluginIdentifier pluginIdentifier() {
        return new GoPluginIdentifier(EXTENSION, VERSIONS);
    }

    /** Nothing to do: the notification extension does the plugin's own calls to the server. */
    @Override
    public void initializeGoApplicationAccessor(GoApplicationAccessor accessor) {
    }

    @Override
    public GoPluginApiResponse handle(GoPluginApiRequest request) throws UnhandledRequestTypeException {
        String name = request.requestName();
        if (name == null || !HeraldPlugin.REQUEST_NAME.matcher(name).matches())
            throw new UnhandledRequestTypeException(String.valueOf(name));
        // The plugin's settings belong to the notification extension. GoCD asks every extension
        // of a plugin for them when it loads it, and refuses to load a plugin in which two
        // extensions answer (PluginSettingsMetadataLoader), so this one never asks herald.
        if (name.startsWith("go.plugin-settings."))
            throw new UnhandledRequestTypeException(name);

        HeraldClient.Answer a;
        try {
            a = client.packageRepository(name, request.extensionVersion(), request.requestBody(), timeout);
        } catch (IOException e) {
            return trouble(name, "herald at " + url + " is unreachable: " + HeraldClient.reason(e));
        }
        // herald answers a poll it cannot answer with a revision (no revision published yet, a
        // configuration it cannot read) with a sentence and a 4xx. GoCD would show that only
        // behind "The plugin sent a response that could not be understood by Go", so it goes to
        // GoCD as an exception's message, which GoCD shows as it is. A 404 with a JSON error is
        // herald not knowing the request at all (an older herald).
        boolean poll = name.equals(LATEST_REVISION) || name.equals(LATEST_REVISION_SINCE);
        boolean jsonError = a.body() != null && a.body().startsWith("{\"error\"");
        if (poll && a.status() >= 400 && a.status() < 500 && a.status() != 401 && a.status() != 403
                && !(a.status() == 404 && jsonError))
            throw new HeraldUnavailableException("herald at " + url + ": " + Json.clip(a.body(), 500));
        if (a.status() == 404 && !isConfiguration(name))
            throw new UnhandledRequestTypeException(name);
        if (a.status() >= 500 || a.status() == 401 || a.status() == 403 || (a.status() != 200 && isConfiguration(name)))
            return trouble(name, "herald at " + url + " answered " + a.status() + " to " + name
                    + (a.body() == null || a.body().isBlank() ? "" : ": " + Json.clip(a.body(), 300)));
        return new DefaultGoPluginApiResponse(a.status(), a.body());
    }

    /**
     * herald could not answer name; why says so, naming herald's URL and the cause. GoCD shows
     * the operator a plugin's exception message as it is, but a non-200 answer only behind
     * "The plugin sent a response that could not be understood by Go. Plugin returned with
     * code ..." (PluginRequestHelper). So:
     *
     * - check-repository-connection and check-package-connection answer failure with why as
     *   the message: GoCD's "Check connection" shows "Could not connect to package repository.
     *   Reason(s): herald at ... is unreachable: ...".
     * - repository-configuration and package-configuration are answered from this jar (see
     *   configurationHeraldCouldNotGive()).
     * - Everything else throws HeraldUnavailableException(why). GoCD passes its message on
     *   unchanged: a poll (latest-revision, latest-revision-since) becomes the server health
     *   error "Modification check failed for material: ..." with why as its description, and
     *   the poll is retried on GoCD's next material update; a validation refuses the save with
     *   why.
     */
    private GoPluginApiResponse trouble(String name, String why) {
        switch (name) {
            case CHECK_REPOSITORY_CONNECTION, CHECK_PACKAGE_CONNECTION -> {
                LOG.warn("herald bridge: " + why);
                return new DefaultGoPluginApiResponse(200, Json.failure(why));
            }
            case REPOSITORY_CONFIGURATION, PACKAGE_CONFIGURATION -> {
                return configurationHeraldCouldNotGive(name, why);
            }
            default -> {
                LOG.warn("herald bridge: " + why);
                throw new HeraldUnavailableException(why);
            }
        }
    }

    /**
     * GoCD asks for the repository and package configuration once, while it loads the plugin,
     * and an exception or a non-200 answer there fails PackageMaterialMetadataLoader, which
     * makes GoCD mark the whole plugin invalid (PluginLoader.loadPlugin): the notification
     * extension would go with it, and herald, started after GoCD or upgraded after the jar,
     * would get no notification until GoCD restarts. So the jar answers these two itself
     * whenever herald does not answer them with 200.
     */
    private GoPluginApiResponse configurationHeraldCouldNotGive(String name, String why) {
        LOG.warn("herald bridge: " + why + "; answering " + name + " from the plugin");
        return new DefaultGoPluginApiResponse(200, name.equals(REPOSITORY_CONFIGURATION)
                ? BUILT_IN_REPOSITORY_CONFIGURATION : BUILT_IN_PACKAGE_CONFIGURATION);
    }

    // For tests.
    Duration timeout() {
        return timeout;
    }

    private static boolean isConfiguration(String name) {
        return name.equals(REPOSITORY_CONFIGURATION) || name.equals(PACKAGE_CONFIGURATION);
    }

    private static String configuration(String key, String displayName) {
        return "{" + Json.quote(key) + ":{\"default-value\":\"\",\"secure\":false,\"part-of-identity\":true,"
                + "\"required\":true,\"display-name\":" + Json.quote(displayName) + ",\"display-order\":\"0\"}}";
    }
}
