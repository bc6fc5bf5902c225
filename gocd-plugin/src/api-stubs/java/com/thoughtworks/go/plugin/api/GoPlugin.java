package com.thoughtworks.go.plugin.api;

import com.thoughtworks.go.plugin.api.exceptions.UnhandledRequestTypeException;
import com.thoughtworks.go.plugin.api.request.GoPluginApiRequest;
import com.thoughtworks.go.plugin.api.response.GoPluginApiResponse;

/** Stub of GoCD's plugin interface: what the server calls on a plugin. Like GoCD's, an extension point. */
@GoPluginApiMarker
public interface GoPlugin {
    void initializeGoApplicationAccessor(GoApplicationAccessor goApplicationAccessor);

    GoPluginApiResponse handle(GoPluginApiRequest requestMessage) throws UnhandledRequestTypeException;

    GoPluginIdentifier pluginIdentifier();
}
