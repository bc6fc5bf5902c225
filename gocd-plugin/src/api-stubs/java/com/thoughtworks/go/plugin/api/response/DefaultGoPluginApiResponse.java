package com.thoughtworks.go.plugin.api.response;

import java.util.HashMap;
import java.util.Map;

/** Stub: the plain implementation of GoPluginApiResponse that plugins construct. */
public class DefaultGoPluginApiResponse extends GoPluginApiResponse {
    private final int responseCode;
    private final Map<String, String> responseHeaders;
    private String responseBody;

    public DefaultGoPluginApiResponse(int responseCode) {
        this(responseCode, null, new HashMap<>());
    }

    public DefaultGoPluginApiResponse(int responseCode, String responseBody) {
        this(responseCode, responseBody, new HashMap<>());
    }

    public DefaultGoPluginApiResponse(int responseCode, String responseBody, Map<String, String> responseHeaders) {
        this.responseCode = responseCode;
        this.responseBody = responseBody;
        this.responseHeaders = responseHeaders;
    }

    public void setResponseBody(String responseBody) {
        this.responseBody = responseBody;
    }

    @Override
    public int responseCode() {
        return responseCode;
    }

    @Override
    public Map<String, String> responseHeaders() {
        return responseHeaders;
    }

    @Override
    public String responseBody() {
        return responseBody;
    }
}
