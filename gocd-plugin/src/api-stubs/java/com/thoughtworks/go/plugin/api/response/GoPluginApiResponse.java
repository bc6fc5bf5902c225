package com.thoughtworks.go.plugin.api.response;

import java.util.Map;

/** Stub: the plugin's answer to a server request. */
public abstract class GoPluginApiResponse {
    public abstract int responseCode();

    public abstract Map<String, String> responseHeaders();

    public abstract String responseBody();
}
