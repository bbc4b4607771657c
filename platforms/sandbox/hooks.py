"""The sandbox's webhook receiver (DESIGN §4): `POST /_hooks/<name>` records the request,
`GET /_hooks/<name>` lists what arrived, oldest first. `POST /_hooks/<name>/answer` with
`{"status": 503, "times": 2}` makes the next two deliveries to <name> fail with that status, so
retries can be watched."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict

_LOCK = threading.Lock()
MAX_PER_HOOK = 1000


class HookLog:
    def __init__(self):
        self.received: dict[str, list[dict]] = defaultdict(list)
        self.answers: dict[str, list[int]] = defaultdict(list)


def _log(sandbox) -> HookLog:
    with _LOCK:
        if not hasattr(sandbox, "hook_log"):
            sandbox.hook_log = HookLog()
        return sandbox.hook_log


def handle(sandbox, method: str, path: str, headers, body: bytes) -> tuple[int, object]:
    """(status, JSON body) for a request under /_hooks/."""
    name, _, action = path[len("/_hooks/") :].partition("/")
    if not name:
        return 404, {"error": "name the hook: /_hooks/<name>"}
    hooks = _log(sandbox)
    if action == "answer" and method == "POST":
        try:
            wanted = json.loads(body or b"{}")
            status, times = int(wanted.get("status", 200)), int(wanted.get("times", 1))
        except (ValueError, TypeError, AttributeError):
            return 400, {"error": 'send {"status": 503, "times": 2}'}
        with _LOCK:
            hooks.answers[name] = [status] * times
        return 200, {"status": status, "times": times}
    if action:
        return 404, {"error": "not found"}
    if method == "GET":
        with _LOCK:
            return 200, list(hooks.received[name])
    if method == "POST":
        try:
            text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode(), "base64"
        with _LOCK:
            status = hooks.answers[name].pop(0) if hooks.answers[name] else 200
            hooks.received[name].append(
                {
                    "received_at": time.time(),
                    "headers": {k.lower(): v for k, v in headers.items()},
                    "body": text,
                    "encoding": encoding,
                    "answered": status,
                }
            )
            del hooks.received[name][:-MAX_PER_HOOK]
        return status, {"received": status < 300}
    return 405, {"error": "use GET or POST"}
