package com.thoughtworks.go.plugin.api.info;

/** Stub: the (empty) context GoCD passes to @Load and @UnLoad methods. */
public interface PluginContext {
}
