// Verifies one request herald sent with the Standard Webhooks reference
// library (npm's standardwebhooks), which herald's authors did not write.
// Reads {"secret", "headers", "body"} as JSON on stdin (body: base64 of the
// bytes received); prints "verified" and exits 0, or prints the library's
// error and exits 1. A secret without the whsec_ prefix is raw bytes,
// as herald reads it.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, headers, body } = JSON.parse(input);
const payload = Buffer.from(body, "base64").toString("utf8");
try {
  const wh = secret.startsWith("whsec_")
    ? new Webhook(secret)
    : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
  wh.verify(payload, headers);
  console.log("verified");
} catch (e) {
  console.log(`not verified: ${e.message}`);
  process.exit(1);
}
