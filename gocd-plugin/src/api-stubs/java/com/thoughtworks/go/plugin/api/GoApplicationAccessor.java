package com.thoughtworks.go.plugin.api;

import com.thoughtworks.go.plugin.api.request.GoApiRequest;
import com.thoughtworks.go.plugin.api.response.GoApiResponse;

/** Stub: the plugin's way to call the server (go.processor.* requests). */
public abstract class GoApplicationAccessor {
    public abstract GoApiResponse submit(GoApiRequest request);
}
