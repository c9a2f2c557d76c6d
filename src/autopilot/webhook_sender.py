"""The webhooks' HTTP client (the Sender port of autopilot.services.webhooks), on urllib."""

from __future__ import annotations

import urllib.error
import urllib.request


class UrllibSender:
    def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int | None, str | None]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                return int(answer.status), None
        except urllib.error.HTTPError as exc:  # an answer, not a 2xx
            return int(exc.code), f"answered {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:  # no answer
            reason = getattr(exc, "reason", exc)
            return None, f"{type(exc).__name__}: {reason}"[:500]
