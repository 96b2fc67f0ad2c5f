"""How much code one admin publish runs: the functions and modules of `statuspage` it calls.

Loads the demo page in a scratch folder (`statuspage demo`), signs in as its admin with a test
client, opens the compose form of a canned message, previews it, and traces only the Publish
request. It drives the app through its HTTP forms only, so it runs unchanged on older checkouts:

    .venv/bin/python bench/publish_path.py            # this checkout
    /other/checkout/.venv/bin/python bench/publish_path.py
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

MESSAGE = "degraded-investigating"


def main() -> None:
    """Print the number of distinct functions and modules one admin publish calls."""
    folder = Path(tempfile.mkdtemp(prefix="publish-path-"))
    os.chdir(folder)
    url = f"sqlite:///{folder}/demo.db"
    env = {**os.environ, "STATUSPAGE_DATABASE_URL": url}
    statuspage = Path(sys.executable).with_name("statuspage")
    out = subprocess.run(
        [str(statuspage), "demo"], env=env, capture_output=True, text=True, check=True
    ).stdout
    password = re.search(r"password:\s*(\S+)", out)
    assert password, out
    os.environ["STATUSPAGE_DATABASE_URL"] = url

    from statuspage import create_app

    app = create_app({"site": {"url": "http://localhost"}})
    client = app.test_client()
    token = _csrf(client.get("/admin/login").get_data(as_text=True))
    answer = client.post(
        "/admin/login",
        data={"email": "admin@example.com", "password": password[1], "csrf_token": token},
    )
    assert answer.status_code == 302, answer.status_code
    page = client.get(f"/admin/incidents/new?message={MESSAGE}").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    # What a browser sends: each component's select as shown, the notify box ticked.
    form.update({f"status_{k[6:]}": v for k, v in form.items() if k.startswith("shown_")})
    form.update(
        {
            "notify": "1",
            "var_component": "Search",
            "status": "investigating",
            "impact": "minor",
            "component": "6",
            "status_6": "degraded_performance",
            "action": "preview",
        }
    )
    answer = client.post("/admin/incidents/new", data=form)
    if answer.status_code in (302, 303):  # newer checkouts: the preview is a GET of its own
        answer = client.get(answer.headers["Location"])
    preview = answer.get_data(as_text=True)
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', preview)
    form.update({name: html.unescape(value) for name, value in hidden})
    body = re.search(r'<textarea id="body" name="body"[^>]*>(.*?)</textarea>', preview, re.S)
    if body:
        form["body"] = html.unescape(body[1])
    form["action"] = "publish"

    calls: Counter[str] = Counter()
    root = str(Path(__import__("statuspage").__file__).parent)

    def profile(frame, event, _arg):  # type: ignore[no-untyped-def]
        if event == "call" and frame.f_code.co_filename.startswith(root):
            code = frame.f_code
            module = frame.f_globals.get("__name__", "?")
            calls[f"{module}:{code.co_qualname}"] += 1

    sys.setprofile(profile)
    try:
        answer = client.post("/admin/incidents/new", data=form)
    finally:
        sys.setprofile(None)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 302, text[text.find("<main") : text.find("<main") + 1500]
    modules = {name.split(":")[0] for name in calls}
    print(f"functions: {len(calls)}  modules: {len(modules)}  calls: {sum(calls.values())}")
    if "--list" in sys.argv:
        for name, count in sorted(calls.items()):
            print(f"  {count:4d} {name}")


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no csrf token"
    return match[1]


if __name__ == "__main__":
    main()
