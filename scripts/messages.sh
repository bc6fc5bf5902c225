#!/bin/sh
# Rewrites the example messages docs/targets.md shows (docs/messages/: what
# each service receives for one GoCD stage that broke, with GoCD's
# modifications and a people: map), rendered by herald's own renderers
# (tests/unit/test_deliver_people.c, which also checks them), then the
# e-mail's HTML part and its picture, taken with headless Chromium.
# Usage: scripts/messages.sh [BUILD_DIR]   (default: build)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
HR_GOLDEN_WRITE=1 "$build/tests/unit/test_deliver_people" --filter 'examples/*' >/dev/null 2>&1
python3 - <<'PY'
import email, email.policy, pathlib
msg = email.message_from_bytes(pathlib.Path("docs/messages/email.eml").read_bytes(),
                               policy=email.policy.default)
html = msg.get_body(("html",)).get_content()
pathlib.Path("docs/messages/email.html").write_text(html, encoding="utf-8")
PY
chromium=$(command -v chromium || command -v chromium-browser)
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=720,360 \
    --screenshot="$PWD/docs/images/email_people.png" "file://$PWD/docs/messages/email.html" \
    >/dev/null 2>&1
echo "docs/messages/ and docs/images/email_people.png rewritten"
