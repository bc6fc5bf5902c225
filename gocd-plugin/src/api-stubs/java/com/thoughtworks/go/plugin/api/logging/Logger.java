package com.thoughtworks.go.plugin.api.logging;

/**
 * Stub of GoCD's plugin logger. In GoCD the real class writes to the plugin's own log file
 * (logs/plugin-&lt;id&gt;.log); this one writes warnings and errors to standard error, and
 * information too when the system property stub.log.verbose is set.
 */
public class Logger {
    private final String name;

    private Logger(String name) {
        this.name = name;
    }

    public static Logger getLoggerFor(Class<?> loggerClass) {
        return new Logger(loggerClass.getSimpleName());
    }

    public void debug(String message) {
        if (Boolean.getBoolean("stub.log.verbose"))
            print("DEBUG", message, null);
    }

    public void info(String message) {
        if (Boolean.getBoolean("stub.log.verbose"))
            print("INFO", message, null);
    }

    public void warn(String message) {
        print("WARN", message, null);
    }

    public void warn(String message, Throwable throwable) {
        print("WARN", message, throwable);
    }

    public void error(String message) {
        print("ERROR", message, null);
    }

    public void error(String message, Throwable throwable) {
        print("ERROR", message, throwable);
    }

    private void print(String level, String message, Throwable throwable) {
        System.err.println(level + " [" + name + "] " + message + (throwable == null ? "" : ": " + throwable));
    }
}
