#!/usr/bin/env bash
# End-to-end test of `atlas serve` with a real browser (run by .ci/run after the Swift tests):
#
#   scripts/viewer/serve_test.sh [ATLAS_BINARY]       (default .build/release/atlas)
#
# 1. `atlas demo --quick --size 96 --steps 8` writes two galleries (classes/, channels/; 2 zoom levels) into a temporary
#    folder;
# 2. `atlas serve FOLDER --port 0 --json` starts on a free loopback port (read from its JSON line);
# 3. the listing page at / must link both galleries, with their model and layer;
# 4. scripts/viewer/browser_test.sh runs headless Chromium against http://127.0.0.1:PORT/channels/: every visible
#    tile painted, hovered/selected cells show their index records, the interaction test (pointer, wheel, touch,
#    keys, search) passes, and a screenshot is not blank;
# 5. the demo's unit pages are listed, and Tests/viewer/units.js opens a unit's page from the layer page (icon, k
#    exemplar crops decoded, a crop opening the full image with its box, next/prev links);
# 6. SIGINT must stop the server with exit status 0 within 10 s.
# Prints "serve_test: PASS" or "serve_test: FAIL: reason" and exits non-zero on failure. Needs chromium and python3
# (standard library only). SHOT=path keeps the screenshot.
set -euo pipefail
cd "$(dirname "$0")/../.."
ATLAS=${1:-.build/release/atlas}
start=$(date +%s)
WORK=$(mktemp -d)
SERVER=
fail() { echo "serve_test: FAIL: $*" >&2; [[ -s "$WORK/serve.err" ]] && sed 's/^/  server: /' "$WORK/serve.err" >&2; exit 1; }
cleanup() { [[ -n "$SERVER" ]] && kill -KILL "$SERVER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
[[ -x "$ATLAS" ]] || fail "no atlas binary at $ATLAS (swift build -c release --product atlas)"

echo "serve_test: rendering a quick demo"
"$ATLAS" demo --quick --quiet --size 96 --steps 8 --out "$WORK/demo" --assets Assets/fashion-mnist >"$WORK/demo.log" 2>&1 \
  || { cat "$WORK/demo.log" >&2; fail "atlas demo --quick failed"; }

"$ATLAS" serve "$WORK/demo" --port 0 --json >"$WORK/serve.json" 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do [[ -s "$WORK/serve.json" ]] && break; kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
[[ -s "$WORK/serve.json" ]] || fail "atlas serve printed no address"
URL=$(python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); assert a["loopback"] and a["ip"] == "127.0.0.1"; print(a["url"])' \
  "$WORK/serve.json") || fail "unexpected address line: $(cat "$WORK/serve.json")"
grep -q "loopback only" "$WORK/serve.err" || fail "no loopback note on stderr"
echo "serve_test: atlas serve listening at $URL"

python3 - "$URL" <<'PY' || fail "listing page"
# The listing links both galleries with their model and layer; files come with their types and validators.
import sys, urllib.request
url = sys.argv[1]
with urllib.request.urlopen(url) as r:
    page = r.read().decode()
    assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
for needle in ('href="channels/index.html"', 'href="classes/index.html"', "fashion_cnn.onnx", "features.conv4.0", "gallery"):
    assert needle in page, "listing lacks " + needle
with urllib.request.urlopen(url + "channels/atlas.js") as r:
    assert r.headers["Content-Type"].startswith("text/javascript") and r.headers["ETag"], dict(r.headers)
print("  ok  listing page links classes/ and channels/ with model and layer")
PY

scripts/viewer/browser_test.sh "${URL}channels/" || fail "browser test of ${URL}channels/"

# Unit pages (atlas units, written by the demo): listed, and a unit's page opens from the layer page with its crops.
python3 - "$URL" <<'PY' || fail "units listing"
import sys, urllib.request
page = urllib.request.urlopen(sys.argv[1]).read().decode()
assert 'href="units/units/features.conv4.0/index.html"' in page and ">units<" in page, "listing lacks the unit pages"
print("  ok  listing page links the unit pages")
PY
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome)}
python3 scripts/viewer/cdp_run.py "$CHROMIUM" "${URL}units/units/features.conv4.0/index.html" Tests/viewer/units.js \
  >"$WORK/units.json" || fail "unit pages test did not complete"
python3 - "$WORK/units.json" <<'PY' || fail "unit pages"
import json, sys
r = json.load(open(sys.argv[1]))
bad = r["failures"] + r["pageErrors"]
if bad:
    sys.exit("unit pages:\n  " + "\n  ".join(bad) + "\n  (passed: %s)" % ", ".join(r["log"]))
print("  ok  unit pages                   %d checks, no page errors" % len(r["log"]))
PY

kill -INT "$SERVER"
for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER" 2>/dev/null && fail "the server did not stop within 10 s of SIGINT"
rc=0; wait "$SERVER" || rc=$?
SERVER=
[[ $rc == 0 ]] || fail "the server exited with status $rc after SIGINT (expected 0)"
grep -q "stopped" "$WORK/serve.err" || fail "no 'stopped' note after SIGINT"
echo "  ok  SIGINT stopped the server, exit status 0"
echo "serve_test: PASS ($(( $(date +%s) - start )) s)"
