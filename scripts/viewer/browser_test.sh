#!/usr/bin/env bash
# Headless-browser test of an Atlas output folder's viewer (Assets/viewer/FORMAT.md).
#
#   scripts/viewer/browser_test.sh [--http] OUTDIR     file://OUTDIR/index.html (and, with --http, the same folder
#                                                      served by python3 -m http.server on 127.0.0.1)
#   scripts/viewer/browser_test.sh URL                 an already served output folder (…/ or …/index.html)
#
# For every grid it loads index.html#g=…&dump=1 in headless Chromium (--dump-dom) and asserts from the state the
# viewer writes into <pre id="atlas-state">: ready, tiles painted > 0, every visible tile painted, no load errors.
# For the first grid it also: selects and hovers cells from the index (#…&select=x,y&hover=x,y) and checks that the
# dumped records equal the index's; zooms to the finest level; runs Tests/viewer/interaction.js through cdp_run.py
# (synthetic mouse, wheel, touch, key, search and grid-switch events; uncaught page errors fail too); takes a
# screenshot and checks it is not blank. For a folder, a copy without atlas.js must show the "no index" message.
# Env: CHROMIUM (browser binary), SHOT (keep the screenshot at this path), WINDOW (default 1280,800).
# Needs python3 (stdlib only; ImageMagick or Pillow are used for the screenshot when present). Exits non-zero with a
# message on the first failure.
set -euo pipefail

HTTP=0
if [[ "${1:-}" == "--http" ]]; then HTTP=1; shift; fi
if [[ $# -ne 1 ]]; then sed -n '2,14p' "$0" >&2; exit 2; fi
TARGET=$1
WINDOW=${WINDOW:-1280,800}
HERE=$(cd "$(dirname "$0")" && pwd)
INTERACTION="$HERE/../../Tests/viewer/interaction.js"

die() { echo "browser_test: FAIL: $*" >&2; exit 1; }
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[[ -n "$CHROMIUM" ]] || die "no chromium found (apt-get install -y chromium, or set CHROMIUM)"
command -v python3 >/dev/null || die "python3 is required"

WORK=$(mktemp -d)
SERVER_PID=
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# run_chromium OUTFILE URL [extra flags…]: headless load with virtual time, so tile loads finish before the dump.
run_chromium() {
  local out=$1 url=$2; shift 2
  if ! timeout 90 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --mute-audio \
      --no-first-run --disable-dev-shm-usage --user-data-dir="$WORK/profile" --window-size="$WINDOW" --virtual-time-budget=20000 \
      --run-all-compositor-stages-before-draw "$@" "$url" >"$out" 2>"$WORK/chromium.err"; then
    tail -20 "$WORK/chromium.err" >&2
    die "chromium failed on $url"
  fi
}

# check BASE_URL LABEL [NOINDEX_DIR]: the whole test against one base URL (ending in /).
check() {
  local base=$1 label=$2 noindex=${3:-}
  echo "== $label: ${base}index.html"
  python3 - "$base" "$WORK" > "$WORK/plan.sh" <<'PY' || die "cannot read the index at ${base}atlas.json"
# Reads atlas.json, picks test cells, prints shell assignments for the checks below.
import json, shlex, sys, urllib.request
base, work = sys.argv[1], sys.argv[2]
idx = json.load(urllib.request.urlopen(base + "atlas.json"))
assert idx.get("format") == "atlas-index", "atlas.json: format is not atlas-index"
def central(g):  # the filled cell nearest the grid centre
    cells = g.get("cells") or []
    return min(cells, key=lambda c: (c["x"] - g["columns"] / 2) ** 2 + (c["y"] - g["rows"] / 2) ** 2) if cells else None
grids = idx["grids"]
g0 = grids[0]
sel = central(g0)
cells = g0.get("cells") or []
hov = cells[0] if cells else None
json.dump({"sel": sel, "hov": hov}, open(work + "/expect.json", "w"))
print("GRIDS=" + shlex.quote(" ".join(g["id"] for g in grids)))
print("G0=" + shlex.quote(g0["id"]))
print("MAXZ=%d" % g0["tiles"]["maxZoom"])
if sel:
    r = sel.get("rect") or [sel["x"] * g0["cellSize"], sel["y"] * g0["cellSize"], g0["cellSize"], g0["cellSize"]]
    print("SEL=%d,%d" % (sel["x"], sel["y"]))
    print("HOV=%d,%d" % (hov["x"], hov["y"]))
    print("CENTRE=%d,%d" % (r[0] + r[2] / 2, r[1] + r[3] / 2))
else:
    print("SEL= HOV= CENTRE=")
PY
  # shellcheck disable=SC1091
  source "$WORK/plan.sh"

  # assert DUMPFILE WHAT CHECKS: CHECKS is a Python expression over the dumped state `s` and `expect`.
  assert() {
    python3 - "$1" "$WORK/expect.json" "$2" "$3" <<'PY' || exit 1
import html, json, re, sys
dom, expect, what, checks = open(sys.argv[1], encoding="utf-8").read(), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
m = re.search(r'<pre id="atlas-state"[^>]*>(.*?)</pre>', dom, re.S)
def fail(msg):
    print("browser_test: FAIL: %s: %s" % (what, msg), file=sys.stderr)
    sys.exit(1)
if not m:
    fail("no <pre id=\"atlas-state\"> in the DOM: the viewer never settled (tiles still loading?) or did not run")
s = json.loads(html.unescape(m.group(1)))
for check in checks.split(";;"):
    try:
        ok = eval(check, {"s": s, "expect": expect})
    except Exception as e:
        ok = False
        check += " (%s: %s)" % (type(e).__name__, e)
    if not ok:
        fail("%s\n  state: %s" % (check.strip(), json.dumps(s)[:1500]))
t = s.get("tiles")
print("  ok  %-28s %s" % (what, s["error"].splitlines()[0] if s.get("error") else
      "level %s, %s/%s tiles painted, %s loaded, %s errors" % (t["level"], t["painted"], t["visible"], t["loaded"], t["errors"])))
PY
  }
  local BASIC='not s.get("error");; s["ready"];; s["tiles"]["painted"] > 0;; s["tiles"]["painted"] == s["tiles"]["visible"];; s["tiles"]["errors"] == 0;; not s["scriptErrors"]'

  for g in $GRIDS; do
    run_chromium "$WORK/dom.html" "${base}index.html#g=$g&dump=1" --dump-dom
    assert "$WORK/dom.html" "grid $g, fit" "$BASIC;; s[\"grid\"] == \"$g\""
  done
  if [[ -n "$SEL" ]]; then
    run_chromium "$WORK/dom.html" "${base}index.html#g=$G0&select=$SEL&hover=$HOV&dump=1" --dump-dom
    assert "$WORK/dom.html" "select $SEL, hover $HOV" "$BASIC;; s[\"selected\"] == expect[\"sel\"];; s[\"hovered\"] == expect[\"hov\"]"
    run_chromium "$WORK/dom.html" "${base}index.html#g=$G0&z=$MAXZ&c=$CENTRE&dump=1" --dump-dom
    assert "$WORK/dom.html" "zoom $MAXZ at $CENTRE" "$BASIC;; s[\"tiles\"][\"level\"] == $MAXZ"
  fi

  # Interaction test: Tests/viewer/interaction.js evaluated in the loaded viewer over the DevTools protocol.
  if [[ -f "$INTERACTION" ]]; then
    python3 "$HERE/cdp_run.py" "$CHROMIUM" "${base}index.html" "$INTERACTION" --window "$WINDOW" >"$WORK/inter.json" \
      || die "interaction test did not complete"
    python3 - "$WORK/inter.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
bad = r["failures"] + r["pageErrors"]
if bad:
    sys.exit("browser_test: FAIL: interaction test:\n  " + "\n  ".join(bad) + "\n  (passed: %s)" % ", ".join(r["log"]))
print("  ok  interaction                  %d checks, no page errors" % len(r["log"]))
PY
  else
    echo "  --  interaction test skipped ($INTERACTION not found)"
  fi

  local shot=${SHOT:-$WORK/shot.png}
  run_chromium "$WORK/shot.log" "${base}index.html#g=$G0${SEL:+&select=$SEL}" --screenshot="$shot"
  [[ -s "$shot" ]] || die "no screenshot written"
  # Not blank: overall contrast, and many colours in the map area left of the panel (tiles, not flat UI).
  local w=${WINDOW%,*} h=${WINDOW#*,} sd colours
  # Standard library only, the same on every machine (an ImageMagick `convert` may be a stand-in that cannot -format).
  read -r sd colours < <(python3 "$HERE/png_stats.py" "$shot" 0 60 "$((w - 340))" "$((h - 120))") \
    || die "cannot read the screenshot $shot"
  python3 -c "import sys; sys.exit(0 if float('$sd') > 0.03 and int('$colours') > 200 else 1)" \
    || die "screenshot looks blank: std-dev $sd, $colours colours in the map area ($shot)"
  echo "  ok  screenshot                   std-dev $sd, $colours colours in the map area${SHOT:+ -> $shot}"

  if [[ -n "$noindex" ]]; then  # a folder without atlas.js must say so, not show an empty page
    mkdir -p "$WORK/noindex"
    cp "$noindex"/index.html "$noindex"/viewer.js "$noindex"/viewer.css "$WORK/noindex/"
    run_chromium "$WORK/dom.html" "file://$WORK/noindex/index.html#dump=1" --dump-dom
    assert "$WORK/dom.html" "missing atlas.js" '"No atlas index" in s.get("error", "")'
  fi
}

if [[ "$TARGET" =~ ^[a-z]+:// ]]; then
  base=${TARGET%%#*}
  base=${base%index.html}
  [[ "$base" == */ ]] || base="$base/"
  check "$base" "URL"
else
  [[ -d "$TARGET" ]] || die "$TARGET is not a folder or URL"
  dir=$(cd "$TARGET" && pwd)
  [[ -f "$dir/index.html" && -f "$dir/atlas.json" ]] || die "$dir has no index.html/atlas.json"
  check "file://$dir/" "file://" "$dir"
  if [[ $HTTP == 1 ]]; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >"$WORK/http.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 50); do
      python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/atlas.json')" 2>/dev/null && break
      sleep 0.1
    done
    check "http://127.0.0.1:$port/" "HTTP"
  fi
fi
echo "browser_test: PASS"
