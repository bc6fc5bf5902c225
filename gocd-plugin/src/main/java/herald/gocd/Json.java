package herald.gocd;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The little JSON the bridge writes itself (its own messages) and reads itself (the status
 * of an answer). Bodies between GoCD and herald are passed on as they are, never parsed.
 */
final class Json {
    private static final Pattern STATUS = Pattern.compile("^\\s*\\{.*?\"status\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"",
            Pattern.DOTALL);

    private Json() {
    }

    /** s as a JSON string, quotes included. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20)
                        b.append(String.format("\\u%04x", (int) c));
                    else
                        b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    /** {"status":"failure","messages":[message]}: a notification answer GoCD shows as an error. */
    static String failure(String message) {
        return "{\"status\":\"failure\",\"messages\":[" + quote(message) + "]}";
    }

    /** {"type":type,"message":message}: one server-health message. */
    static String healthMessage(String type, String message) {
        return "{\"type\":" + quote(type) + ",\"message\":" + quote(message) + "}";
    }

    /**
     * The "status" string of an answer object such as herald's {"status":"success"}, or null.
     * It reads the first "status" member, which in herald's answers is the top-level one.
     */
    static String status(String body) {
        if (body == null)
            return null;
        Matcher m = STATUS.matcher(body);
        return m.find() ? m.group(1) : null;
    }

    /** True when body is a JSON array (judged by its brackets). */
    static boolean isArray(String body) {
        if (body == null)
            return false;
        String t = body.strip();
        return t.startsWith("[") && t.endsWith("]");
    }

    /** The array body (or an empty one when null) with the given JSON values appended. */
    static String appendToArray(String array, List<String> values) {
        String inner = array == null ? "" : array.strip();
        inner = inner.isEmpty() ? "" : inner.substring(1, inner.length() - 1).strip();
        StringBuilder b = new StringBuilder("[").append(inner);
        for (String v : values) {
            if (b.length() > 1)
                b.append(',');
            b.append(v);
        }
        return b.append(']').toString();
    }

    /** At most max characters of s, for messages that quote an answer. */
    static String clip(String s, int max) {
        if (s == null)
            return "";
        String t = s.strip();
        return t.length() <= max ? t : t.substring(0, max) + "...";
    }
}
