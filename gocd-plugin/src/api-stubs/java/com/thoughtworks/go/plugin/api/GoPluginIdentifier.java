package com.thoughtworks.go.plugin.api;

import java.util.List;

/** Stub: the extension a plugin implements and the versions of it that it speaks. */
public class GoPluginIdentifier {
    private final String extension;
    private final List<String> supportedExtensionVersions;

    public GoPluginIdentifier(String extension, List<String> supportedExtensionVersions) {
        this.extension = extension;
        this.supportedExtensionVersions = supportedExtensionVersions;
    }

    public String getExtension() {
        return extension;
    }

    public List<String> getSupportedExtensionVersions() {
        return supportedExtensionVersions;
    }
}
