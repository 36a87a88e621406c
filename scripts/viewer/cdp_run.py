#!/usr/bin/env python3
"""Run a test script in a page with headless Chromium over the DevTools protocol (--remote-debugging-pipe; stdlib only).

  cdp_run.py CHROMIUM URL SCRIPT.js [--window 1280,800] [--timeout 90]

Loads URL, waits for its load event, evaluates SCRIPT.js in the page, then polls the text of
<pre id="interaction-result"> until it is JSON with "done": true, and prints that JSON with "pageErrors" added
(uncaught exceptions and console errors seen while the page ran). Real time, no --virtual-time-budget: under virtual
time headless Chromium issues almost no animation frames and can stall with fetches pending.
Exit status: 0 when it printed a result, 1 on timeout or browser failure (with a message on stderr).
"""
import argparse
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

RESULT = "(() => { const e = document.getElementById('interaction-result'); return e ? e.textContent : null; })()"


class Chrome:
    """Headless Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies out), NUL-separated JSON."""

    def __init__(self, binary, window):
        self.profile = tempfile.mkdtemp(prefix="atlas-cdp-")
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # Move the child's ends above 10 so the dup2 to 3 and 4 cannot clobber one another.
        child_in, child_out = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)

        def in_child():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
             "--no-first-run", "--disable-dev-shm-usage", "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
             "--window-size=" + window, "about:blank"],
            pass_fds=(3, 4), preexec_fn=in_child, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for fd in (cmd_r, out_w, child_in, child_out):
            os.close(fd)
        self.w, self.r = cmd_w, out_r
        self.buf, self.events, self.next_id, self.session = b"", [], 0, None

    def _recv(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0 or not select.select([self.r], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self.r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe (crashed or exited)")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._recv(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name, timeout):
        deadline = time.time() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == name:
                    return self.events.pop(i)
            self.events.append(self._recv(deadline))

    def page_errors(self):
        errs = []
        for m in self.events:
            p = m.get("params", {})
            if m.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                errs.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "?")))
            elif m.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
                errs.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        return errs

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chromium")
    ap.add_argument("url")
    ap.add_argument("script")
    ap.add_argument("--window", default="1280,800")
    ap.add_argument("--timeout", type=float, default=90)
    a = ap.parse_args()
    source = open(a.script, encoding="utf-8").read()
    chrome = Chrome(a.chromium, a.window)
    try:
        target = chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        chrome.session = chrome.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        chrome.send("Page.enable")
        chrome.send("Runtime.enable")
        chrome.send("Page.navigate", {"url": a.url})
        chrome.wait_event("Page.loadEventFired", 30)
        chrome.send("Runtime.evaluate", {"expression": source})
        deadline = time.time() + a.timeout
        while True:
            text = chrome.send("Runtime.evaluate", {"expression": RESULT, "returnByValue": True})["result"].get("value")
            result = json.loads(text) if text else None
            if result and result.get("done"):
                break
            if time.time() > deadline:
                sys.exit("cdp_run: timeout after %gs; last result: %s; page errors: %s" % (a.timeout, text, chrome.page_errors()))
            time.sleep(0.2)
        result["pageErrors"] = chrome.page_errors()
        print(json.dumps(result))
    except (TimeoutError, RuntimeError, KeyError) as e:
        sys.exit("cdp_run: %s" % e)
    finally:
        chrome.close()


if __name__ == "__main__":
    main()
