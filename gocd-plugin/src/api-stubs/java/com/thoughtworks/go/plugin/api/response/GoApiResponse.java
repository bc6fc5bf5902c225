package com.thoughtworks.go.plugin.api.response;

import java.util.Map;

/** Stub: the server's answer to a plugin's request. */
public abstract class GoApiResponse {
    public abstract int responseCode();

    public abstract Map<String, String> responseHeaders();

    public abstract String responseBody();
}
