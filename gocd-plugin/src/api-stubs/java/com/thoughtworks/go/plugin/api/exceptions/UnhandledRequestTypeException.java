package com.thoughtworks.go.plugin.api.exceptions;

/** Stub: thrown by handle() for a request the plugin does not know. */
public class UnhandledRequestTypeException extends Exception {
    private static final long serialVersionUID = 1L;

    public UnhandledRequestTypeException(String requestType) {
        super("This is an invalid request type :" + requestType);
    }
}
