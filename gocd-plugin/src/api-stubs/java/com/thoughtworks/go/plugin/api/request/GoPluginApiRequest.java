package com.thoughtworks.go.plugin.api.request;

import java.util.Map;

/** Stub: a request from the server to the plugin. */
public abstract class GoPluginApiRequest {
    public abstract String extension();

    public abstract String extensionVersion();

    public abstract String requestName();

    public abstract Map<String, String> requestParameters();

    public abstract Map<String, String> requestHeaders();

    public abstract String requestBody();
}
