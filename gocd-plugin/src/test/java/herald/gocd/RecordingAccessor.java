package herald.gocd;

import com.thoughtworks.go.plugin.api.GoApplicationAccessor;
import com.thoughtworks.go.plugin.api.request.GoApiRequest;
import com.thoughtworks.go.plugin.api.response.GoApiResponse;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A GoCD server's accessor that records each call and answers like a real server. */
final class RecordingAccessor extends GoApplicationAccessor {
    record Call(String api, String version, String body) {
    }

    static final String SERVER_INFO = "{\"server_id\":\"df0cb9be-2696-4689-8d46-1ef3c4e4447c\","
            + "\"site_url\":\"http://gocd.example.com:8153\",\"secure_site_url\":\"https://gocd.example.com:8154\"}";

    private final List<Call> calls = new ArrayList<>();
    volatile String settings = null;

    @Override
    public GoApiResponse submit(GoApiRequest request) {
        synchronized (calls) {
            calls.add(new Call(request.api(), request.apiVersion(), request.requestBody()));
        }
        return switch (request.api()) {
            case "go.processor.server-info.get" -> response(200, SERVER_INFO);
            case "go.processor.plugin-settings.get" -> response(200, settings);
            case "go.processor.server-health.add-messages" -> response(200, null);
            default -> response(404, null);
        };
    }

    List<Call> calls(String api) {
        List<Call> out = new ArrayList<>();
        synchronized (calls) {
            for (Call c : calls)
                if (c.api().equals(api))
                    out.add(c);
        }
        return out;
    }

    static GoApiResponse response(int code, String body) {
        return new GoApiResponse() {
            @Override
            public int responseCode() {
                return code;
            }

            @Override
            public Map<String, String> responseHeaders() {
                return new HashMap<>();
            }

            @Override
            public String responseBody() {
                return body;
            }
        };
    }
}
