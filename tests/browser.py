#!/usr/bin/env python3
"""Drives Debian's headless Chromium over the DevTools protocol for the end-to-end tests.

Signs in through the web form like a person would, then loads each path and reports, as JSON on
standard output, one object per page: the HTTP status of the document, every console error,
uncaught exception and failed request, the headline figures (elements with data-figure), how many
charts and tables the page has, and the screenshot file written for it.

usage: browser.py --base URL --user NAME --password PW --out DIR PATH...
"""

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cdp:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events = []

    async def send(self, method, params=None):
        self.next_id += 1
        me = self.next_id
        await self.ws.send(json.dumps({"id": me, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if msg.get("id") == me:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    async def wait_event(self, name, timeout=60):
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e["method"] == name:
                del self.events[: i + 1]
                return e
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic())))
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == name:
                    return msg
        raise TimeoutError(name)

    async def evaluate(self, expr):
        r = await self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        return r.get("result", {}).get("value")


def problems(events):
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append("exception: " + json.dumps(p.get("exceptionDetails", {}).get("text")) + " " + json.dumps(p.get("exceptionDetails", {}).get("exception", {}).get("description")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.error: " + json.dumps([a.get("value", a.get("description")) for a in p.get("args", [])], ensure_ascii=False))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append("log: " + p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            out.append("request failed: " + p.get("errorText", ""))
    return out


async def run(args):
    port = free_port()
    profile = tempfile.mkdtemp(prefix="khlang-chromium-")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        sys.exit("browser.py: Debian's chromium is not installed (apt-get install chromium)")
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--no-first-run", "--hide-scrollbars", f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
         "--window-size=1280,1000", "--lang=th-TH", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and target is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                    target = pages[0] if pages else None
            except OSError:
                time.sleep(0.3)
        if target is None:
            sys.exit("browser.py: chromium did not start its DevTools endpoint")
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            cdp = Cdp(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                await cdp.send(f"{domain}.enable")
            results = []
            if args.user:
                await cdp.send("Page.navigate", {"url": args.base + "/login?next=/"})
                await cdp.wait_event("Page.loadEventFired")
                cdp.events.clear()
                await cdp.evaluate(
                    "document.querySelector('input[name=user]').value = %s;"
                    "document.querySelector('input[name=password]').value = %s;"
                    "document.querySelector('form.login').submit(); true" % (json.dumps(args.user), json.dumps(args.password)))
                await cdp.wait_event("Page.loadEventFired")
                signed_in = await cdp.evaluate("!document.querySelector('form.login')")
                if not signed_in:
                    sys.exit("browser.py: signing in through the form failed")
            for i, path in enumerate(args.paths):
                cdp.events.clear()
                await cdp.send("Page.navigate", {"url": args.base + path})
                await cdp.wait_event("Page.loadEventFired")
                # Let late console messages and requests arrive.
                await cdp.evaluate("new Promise(r => setTimeout(() => r(true), 300))")
                status = None
                for e in cdp.events:
                    if e["method"] == "Network.responseReceived" and e["params"].get("type") == "Document":
                        status = e["params"]["response"]["status"]
                figures = await cdp.evaluate(
                    "Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.querySelector('.value').textContent]))")
                info = await cdp.evaluate(
                    "({title: document.title, charts: document.querySelectorAll('figure.chart svg').length,"
                    " tables: document.querySelectorAll('table').length, version: (document.querySelector('[data-version]') || {dataset: {}}).dataset.version,"
                    " text: document.body.innerText.slice(0, 20000), fonts: document.fonts.status,"
                    " laksaman: document.fonts.check('16px Laksaman')})")
                shot = await cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
                file = os.path.join(args.out, f"page{i:02d}.png")
                with open(file, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                results.append({"path": path, "status": status, "problems": problems(cdp.events), "figures": figures, "screenshot": file, **info})
            print(json.dumps(results, ensure_ascii=False))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--out", required=True)
    p.add_argument("paths", nargs="+")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
