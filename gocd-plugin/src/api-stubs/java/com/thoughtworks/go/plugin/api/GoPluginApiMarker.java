package com.thoughtworks.go.plugin.api;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Stub: marks an interface of GoCD's API as an extension point. GoCD's loader registers an
 * {@code @Extension} instance under each marked interface it implements, and only under one
 * that comes from GoCD's own class loader, not a copy in the plugin jar.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
public @interface GoPluginApiMarker {
}
