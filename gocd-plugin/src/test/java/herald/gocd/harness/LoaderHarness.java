package herald.gocd.harness;

import com.thoughtworks.go.plugin.api.GoApplicationAccessor;
import com.thoughtworks.go.plugin.api.GoPlugin;
import com.thoughtworks.go.plugin.api.GoPluginApiMarker;
import com.thoughtworks.go.plugin.api.GoPluginIdentifier;
import com.thoughtworks.go.plugin.api.annotation.Extension;
import com.thoughtworks.go.plugin.api.annotation.UnLoad;
import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.info.PluginContext;
import com.thoughtworks.go.plugin.api.request.GoApiRequest;
import com.thoughtworks.go.plugin.api.request.GoPluginApiRequest;
import com.thoughtworks.go.plugin.api.response.GoApiResponse;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Loads the built plugin jar the way GoCD's plugin loader does and drives it against a real
 * herald. Not a unit test: the system tests run it.
 *
 *   java -cp build/classes/stubs:build/classes/harness herald.gocd.harness.LoaderHarness \
 *        JAR PAYLOAD_DIR HERALD_URL [--token TOKEN] [--settings FILE] [--packages]
 *
 * The harness's own class loader holds the API classes (the stubs, from their own folder);
 * the jar is opened with a URLClassLoader whose parent is that loader, so the plugin sees the
 * API only through its parent, as in GoCD. PAYLOAD_DIR holds GoCD request bodies named
 * stage-status_vN*.json / agent-status_vN*.json, or GoCD's own test templates (*.json.tmpl,
 * whose %s placeholders are filled with fingerprints and times in the version's format).
 * --settings names a file with flat plugin settings {"key":"value"} (default: a webhook to
 * 127.0.0.1:9 that herald's address guard refuses, notified only on "fixed").
 *
 * The jar holds two extensions, notification and package-repository, like GoCD's own
 * multi-extension test plugin; both must be found and constructed. With --packages the
 * harness also publishes package revisions to herald over plain HTTP and drives every
 * package-repository request through the jar (PackageDrive).
 *
 * Prints one line per check ("ok - ..." or "FAIL - ...") and "N passed, N failed" at the
 * end; exits 1 when a check failed, 2 on bad arguments.
 */
public final class LoaderHarness {
    private static final String DEFAULT_SETTINGS =
            "{\"webhook_url\":\"http://127.0.0.1:9/herald-loader-harness\",\"notify_on\":\"fixed\"}";
    private static final Pattern PLACEHOLDER = Pattern.compile("\"([A-Za-z0-9_-]+)\"(\\s*:\\s*)\"%s\"");

    private int passed;
    private int failed;

    void check(boolean ok, String what) {
        if (ok)
            passed++;
        else
            failed++;
        System.out.println((ok ? "ok - " : "FAIL - ") + what);
    }

    /** The server side of the plugin API: records calls and answers like a GoCD server. */
    static final class Server extends GoApplicationAccessor {
        final List<String[]> calls = new ArrayList<>();
        final String serverId = "herald-harness-" + UUID.randomUUID();
        final String settings;

        Server(String settings) {
            this.settings = settings;
        }

        @Override
        public GoApiResponse submit(GoApiRequest request) {
            synchronized (calls) {
                calls.add(new String[] {request.api(), request.apiVersion(), request.requestBody()});
            }
            return switch (request.api()) {
                case "go.processor.server-info.get" -> answer(200, "{\"server_id\":\"" + serverId
                        + "\",\"site_url\":\"http://gocd.example.com:8153\",\"secure_site_url\":\"https://gocd.example.com:8154\""
                        + ("2.0".equals(request.apiVersion())
                        ? ",\"go_version\":\"25.1.0\",\"dist_version\":\"25.1.0-20000\",\"git_revision\":\"0000000\"" : "")
                        + "}");
                case "go.processor.plugin-settings.get" -> answer(200, settings);
                case "go.processor.server-health.add-messages" -> answer(200, null);
                default -> answer(404, null);
            };
        }

        List<String[]> calls(String api) {
            List<String[]> out = new ArrayList<>();
            synchronized (calls) {
                for (String[] c : calls)
                    if (c[0].equals(api))
                        out.add(c);
            }
            return out;
        }

        private static GoApiResponse answer(int code, String body) {
            return new GoApiResponse() {
                @Override
                public int responseCode() {
                    return code;
                }

                @Override
                public Map<String, String> responseHeaders() {
                    return new HashMap<>();
                }

                @Override
                public String responseBody() {
                    return body;
                }
            };
        }
    }

    static GoPluginApiRequest request(String name, String version, String body) {
        return request("notification", name, version, body);
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

    public static void main(String[] args) throws Exception {
        List<String> positional = new ArrayList<>();
        String token = null;
        String settingsFile = null;
        boolean packages = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--token") && i + 1 < args.length)
                token = args[++i];
            else if (args[i].equals("--settings") && i + 1 < args.length)
                settingsFile = args[++i];
            else if (args[i].equals("--packages"))
                packages = true;
            else
                positional.add(args[i]);
        }
        if (positional.size() != 3) {
            System.err.println("usage: LoaderHarness JAR PAYLOAD_DIR HERALD_URL [--token TOKEN] [--settings FILE] [--packages]");
            System.exit(2);
        }
        String settings = settingsFile == null ? DEFAULT_SETTINGS : Files.readString(Paths.get(settingsFile)).strip();
        LoaderHarness h = new LoaderHarness();
        try {
            h.run(Paths.get(positional.get(0)), Paths.get(positional.get(1)), positional.get(2), token, settings, packages);
        } catch (Exception e) {
            h.check(false, "the harness ran to the end (" + e + ")");
        }
        System.out.println(h.passed + " passed, " + h.failed + " failed");
        System.exit(h.failed == 0 ? 0 : 1);
    }

    private void run(Path jarPath, Path payloads, String url, String token, String settings, boolean packages)
            throws Exception {
        // 1. The jar: plugin.xml at its root, no API classes inside.
        List<String> classNames = new ArrayList<>();
        try (JarFile jar = new JarFile(jarPath.toFile())) {
            JarEntry xml = jar.getJarEntry("plugin.xml");
            check(xml != null, "plugin.xml is at the root of " + jarPath);
            if (xml == null)
                return;
            try (InputStream in = jar.getInputStream(xml)) {
                Document d = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(in);
                Element root = d.getDocumentElement();
                String id = root.getAttribute("id");
                System.out.println("# plugin.xml: id " + id + ", version " + text(root, "version") + ", name \""
                        + text(root, "name") + "\", target-go-version " + text(root, "target-go-version")
                        + ", vendor " + text(root, "vendor"));
                check(root.getTagName().equals("go-plugin") && root.getAttribute("version").equals("1"),
                        "plugin.xml is <go-plugin version=\"1\">");
                check(id.equals("herald.notifier"), "plugin id is herald.notifier");
                for (String tag : List.of("name", "version", "target-go-version", "description", "vendor"))
                    check(!text(root, tag).isBlank(), "plugin.xml has <" + tag + ">");
            }
            boolean noApi = true;
            for (Enumeration<JarEntry> en = jar.entries(); en.hasMoreElements(); ) {
                String n = en.nextElement().getName();
                if (n.startsWith("com/thoughtworks/"))
                    noApi = false;
                // Like GoCD: every class outside lib/ and META-INF/ is a candidate.
                if (n.endsWith(".class") && !n.startsWith("lib/") && !n.startsWith("META-INF/"))
                    classNames.add(n.substring(0, n.length() - 6).replace('/', '.'));
            }
            check(noApi, "the jar holds no com/thoughtworks/ classes");
        }

        // 2. Configure the bridge as GoCD's server process would (system properties).
        Path work = Files.createTempDirectory("herald-harness");
        Path spool = work.resolve("spool");
        System.setProperty("herald.url", url);
        if (token != null)
            System.setProperty("herald.token", token);
        System.setProperty("herald.spool.dir", spool.toString());
        System.setProperty("herald.configDir", work.resolve("config").toString());
        System.setProperty("herald.healthIntervalSeconds", "3600");

        // 3. Find the @Extension classes and construct each, as GoCD's activator does
        //    (DefaultGoPluginActivator: every @Extension class outside lib/ and META-INF/ is
        //    registered as one service, under the extension its pluginIdentifier() names).
        ClassLoader parent = LoaderHarness.class.getClassLoader();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jarPath.toUri().toURL()}, parent)) {
            List<Class<?>> extensions = new ArrayList<>();
            boolean allLoad = true;
            for (String cn : classNames) {
                try {
                    Class<?> c = Class.forName(cn, false, loader);
                    if (c.getAnnotation(Extension.class) != null)
                        extensions.add(c);
                } catch (Throwable e) {
                    allLoad = false;
                    System.out.println("# class " + cn + " could not be loaded: " + e);
                }
            }
            check(allLoad, "all " + classNames.size() + " classes of the jar load");
            check(extensions.size() == 2, "two classes are annotated @Extension (" + extensions + ")");
            check(GoPlugin.class.getClassLoader() == parent && loader.loadClass(GoPlugin.class.getName()) == GoPlugin.class,
                    "the API classes come from the parent loader (" + where(GoPlugin.class) + ")");
            Map<String, GoPlugin> byExtension = new HashMap<>();
            Map<String, Method> unloads = new HashMap<>();
            for (Class<?> ext : extensions) {
                check(ext.getClassLoader() == loader, ext.getName() + " comes from the jar");
                check(Modifier.isPublic(ext.getModifiers()) && !Modifier.isAbstract(ext.getModifiers())
                        && GoPlugin.class.isAssignableFrom(ext), ext.getSimpleName() + " is a public, concrete GoPlugin");
                // GoCD registers an @Extension instance only under the interfaces it finds in
                // the class's hierarchy that carry @GoPluginApiMarker and come from its own
                // loader (isGoExtensionPointInterface); with none, the plugin fails to load
                // ("No extensions found in this plugin").
                Set<Class<?>> points = extensionPoints(ext);
                check(points.equals(Set.of(GoPlugin.class)),
                        ext.getSimpleName() + " is registered under GoCD's extension point GoPlugin (" + points + ")");
                GoPlugin instance = (GoPlugin) ext.getConstructor().newInstance();
                check(true, ext.getSimpleName() + " was constructed with its no-argument constructor");
                Method unload = null;
                for (Method m : ext.getDeclaredMethods())
                    if (m.getAnnotation(UnLoad.class) != null)
                        unload = m;
                check(unload == null || (Modifier.isPublic(unload.getModifiers()) && unload.getParameterCount() == 1
                        && unload.getParameterTypes()[0] == PluginContext.class),
                        ext.getSimpleName() + ": an @UnLoad method takes one PluginContext");
                String kind = instance.pluginIdentifier().getExtension();
                // GoCD collects the extensions of a plugin into a map keyed by extension
                // (getExtensionsInfoFromThePlugin): two classes of one kind fail the load.
                check(byExtension.put(kind, instance) == null, ext.getSimpleName() + " is the only " + kind + " extension");
                if (unload != null)
                    unloads.put(kind, unload);
            }
            check(byExtension.keySet().equals(java.util.Set.of("notification", "package-repository")),
                    "the extensions are notification and package-repository (" + byExtension.keySet() + ")");
            GoPlugin plugin = byExtension.get("notification");
            GoPlugin packagePlugin = byExtension.get("package-repository");
            if (plugin == null || packagePlugin == null)
                return;

            GoPluginIdentifier id = plugin.pluginIdentifier();
            check("notification".equals(id.getExtension()), "pluginIdentifier() names the notification extension");
            check(id.getSupportedExtensionVersions().equals(List.of("1.0", "2.0", "3.0", "4.0")),
                    "pluginIdentifier() lists 1.0, 2.0, 3.0, 4.0 (" + id.getSupportedExtensionVersions() + ")");
            check(packagePlugin.pluginIdentifier().getSupportedExtensionVersions().equals(List.of("1.0")),
                    "the package-repository extension lists 1.0 (" + packagePlugin.pluginIdentifier().getSupportedExtensionVersions() + ")");

            Server server = new Server(settings);
            plugin.initializeGoApplicationAccessor(server);

            // GoCD hands each extension its accessor before its first request.
            packagePlugin.initializeGoApplicationAccessor(server);
            drive(plugin, payloads, settings);
            if (packages)
                new PackageDrive(this, packagePlugin, url, token, spool).run();

            // 4. The bridge's own calls: server info, settings, health messages.
            check(waitFor(10000, () -> !server.calls("go.processor.server-health.add-messages").isEmpty()),
                    "the bridge submitted go.processor.server-health.add-messages");
            check(!server.calls("go.processor.server-info.get").isEmpty(), "the bridge asked go.processor.server-info.get");
            check(!server.calls("go.processor.plugin-settings.get").isEmpty(), "the bridge asked go.processor.plugin-settings.get");
            for (String[] c : server.calls("go.processor.server-health.add-messages")) {
                System.out.println("# health messages submitted: " + c[2]);
                check("1.0".equals(c[1]) && c[2] != null && c[2].strip().startsWith("[") && c[2].strip().endsWith("]"),
                        "server-health.add-messages is version 1.0 with a JSON array");
            }
            String info = get(url + "/api/v1/gocd/server-info", token);
            check(info != null && info.contains(server.serverId), "herald holds the GoCD server info (" + clip(info) + ")");
            String stored = get(url + "/api/v1/settings", token);
            String firstKey = settings.replaceFirst("^\\{\\s*\"([^\"]+)\".*$", "$1");
            check(stored != null && stored.contains("\"" + firstKey + "\""), "herald holds the plugin settings (" + clip(stored) + ")");
            check(waitFor(5000, () -> spooled(spool) == 0), "nothing is left in the bridge's spool");

            for (Map.Entry<String, Method> u : unloads.entrySet())
                u.getValue().invoke(byExtension.get(u.getKey()), new PluginContext() {
                });
            check(true, "the plugin unloaded");
        } finally {
            deleteTree(work);
        }
    }

    /**
     * The interfaces GoCD's activator registers an instance of c under: every interface in c's
     * hierarchy (its superclasses' and interfaces' included) marked @GoPluginApiMarker whose
     * class is the one the API's loader holds, not one the jar brought along.
     */
    static Set<Class<?>> extensionPoints(Class<?> c) {
        Set<Class<?>> points = new HashSet<>();
        Deque<Class<?>> todo = new ArrayDeque<>(List.of(c));
        while (!todo.isEmpty()) {
            Class<?> k = todo.pop();
            if (k.isInterface() && k.getAnnotation(GoPluginApiMarker.class) != null
                    && k.getClassLoader() == GoPluginApiMarker.class.getClassLoader())
                points.add(k);
            todo.addAll(List.of(k.getInterfaces()));
            if (k.getSuperclass() != null)
                todo.add(k.getSuperclass());
        }
        return points;
    }

    /** Every notification request, in every version that has it. */
    private void drive(GoPlugin plugin, Path payloads, String settings) throws Exception {
        for (String v : List.of("1.0", "2.0", "3.0", "4.0")) {
            GoPluginApiResponse r = plugin.handle(request("notifications-interested-in", v, null));
            boolean agents = v.compareTo("3.0") >= 0;
            check(r.responseCode() == 200 && r.responseBody().contains("\"stage-status\"")
                            && r.responseBody().contains("\"agent-status\"") == agents,
                    "notifications-interested-in " + v + ": " + r.responseCode() + " " + clip(r.responseBody()));
        }
        for (String kind : List.of("stage-status", "agent-status")) {
            for (int n = kind.equals("stage-status") ? 1 : 3; n <= 4; n++) {
                List<Path> files = payloadFiles(payloads, kind, n);
                check(!files.isEmpty(), kind + " v" + n + ": a payload in " + payloads);
                for (Path f : files) {
                    String body = fill(Files.readString(f), kind, n);
                    GoPluginApiResponse r = plugin.handle(request(kind, n + ".0", body));
                    check(r.responseCode() == 200 && r.responseBody() != null
                                    && r.responseBody().replace(" ", "").equals("{\"status\":\"success\"}"),
                            kind + " " + n + ".0 " + f.getFileName() + ": " + r.responseCode() + " " + clip(r.responseBody()));
                }
            }
        }
        for (String v : List.of("1.0", "4.0")) {
            GoPluginApiResponse r = plugin.handle(request("go.plugin-settings.get-configuration", v, null));
            check(r.responseCode() == 200 && r.responseBody().strip().startsWith("{") && r.responseBody().length() > 2,
                    "go.plugin-settings.get-configuration " + v + ": " + r.responseCode() + " " + clip(r.responseBody()));
            r = plugin.handle(request("go.plugin-settings.get-view", v, null));
            check(r.responseCode() == 200 && r.responseBody().contains("\"template\""),
                    "go.plugin-settings.get-view " + v + ": " + r.responseCode() + " " + clip(r.responseBody()));
        }
        String wrapped = "{\"plugin-settings\":{" + settings.strip().substring(1, settings.strip().length() - 1)
                .replaceAll("(\"[^\"]+\")\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\")", "$1:{\"value\":$2}") + "}}";
        GoPluginApiResponse r = plugin.handle(request("go.plugin-settings.validate-configuration", "4.0", wrapped));
        check(r.responseCode() == 200 && r.responseBody().replace(" ", "").equals("[]"),
                "go.plugin-settings.validate-configuration 4.0 " + clip(wrapped) + ": " + r.responseCode() + " " + clip(r.responseBody()));
        r = plugin.handle(request("go.plugin-settings.validate-configuration", "4.0",
                "{\"plugin-settings\":{\"webhook_url\":{\"value\":\"not a url\"}}}"));
        check(r.responseCode() == 200 && r.responseBody().contains("\"key\""),
                "go.plugin-settings.validate-configuration names a bad key: " + r.responseCode() + " " + clip(r.responseBody()));
        for (String v : List.of("3.0", "4.0")) {
            r = plugin.handle(request("go.plugin-settings.plugin-settings-changed", v, settings));
            check(r.responseCode() == 200 && r.responseBody().replace(" ", "").equals("{\"status\":\"success\"}"),
                    "go.plugin-settings.plugin-settings-changed " + v + ": " + r.responseCode() + " " + clip(r.responseBody()));
        }
        for (String[] unknown : new String[][] {{"agent-status", "2.0"}, {"go.plugin-settings.plugin-settings-changed", "1.0"},
                {"no-such-request", "4.0"}}) {
            boolean thrown = false;
            try {
                plugin.handle(request(unknown[0], unknown[1], "{}"));
            } catch (UnhandledRequestTypeException e) {
                thrown = true;
            }
            check(thrown, unknown[0] + " " + unknown[1] + " is an UnhandledRequestTypeException");
        }
    }

    /** Files for kind and version n: kind_vN*.json or kind_vN*.json.tmpl (not the docs_ examples). */
    static List<Path> payloadFiles(Path dir, String kind, int n) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> {
                String f = p.getFileName().toString();
                return f.startsWith(kind + "_v" + n) && (f.endsWith(".json") || f.endsWith(".json.tmpl"));
            }).sorted().toList();
        }
    }

    /** Fills GoCD's template placeholders: fingerprints, and times in the version's format. */
    static String fill(String text, String kind, int version) {
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC);
        String time = kind.equals("stage-status") && version < 3
                ? now.format(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"))
                : now.format(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS")) + "+0000";
        Matcher m = PLACEHOLDER.matcher(text);
        StringBuilder b = new StringBuilder();
        int i = 0;
        while (m.find()) {
            i++;
            String value = m.group(1).equals("fingerprint") ? String.format("%064x", i) : time;
            m.appendReplacement(b, Matcher.quoteReplacement("\"" + m.group(1) + "\"" + m.group(2) + "\"" + value + "\""));
        }
        m.appendTail(b);
        return b.toString();
    }

    private static String text(Element root, String tag) {
        var nodes = root.getElementsByTagName(tag);
        return nodes.getLength() == 0 ? "" : nodes.item(0).getTextContent().strip().replaceAll("\\s+", " ");
    }

    private static String where(Class<?> c) {
        var cs = c.getProtectionDomain().getCodeSource();
        return cs == null ? "?" : cs.getLocation().toString();
    }

    private static String get(String url, String token) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5));
            if (token != null)
                b.header("Authorization", "Bearer " + token);
            HttpResponse<String> r = HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? r.body() : null;
        } catch (IOException | InterruptedException | IllegalArgumentException e) {
            return null;
        }
    }

    static long spooled(Path spool) {
        if (!Files.isDirectory(spool))
            return 0;
        try (Stream<Path> s = Files.list(spool)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".req")).count();
        } catch (IOException e) {
            return -1;
        }
    }

    private static boolean waitFor(long ms, BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < deadline) {
            if (cond.getAsBoolean())
                return true;
            Thread.sleep(20);
        }
        return cond.getAsBoolean();
    }

    static String clip(String s) {
        if (s == null)
            return "null";
        String t = s.strip().replaceAll("\\s+", " ");
        return t.length() <= 160 ? t : t.substring(0, 160) + "...";
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir))
            return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList())
                Files.deleteIfExists(p);
        }
    }
}
