"""The playground: one HTML page with plain JavaScript to chat with chatgate, served at `/`.

No build step and no third-party code: `index.html` holds the page, its style and its script. It is
served with a Content-Security-Policy that allows exactly its own inline script and style (by
SHA-256 hash) and requests to this origin, so nothing a model or a user wrote can run in it.
`CHATGATE_PLAYGROUND` turns it on (default: on outside production).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

PAGE_FILE = "index.html"
FEATURES_PLACEHOLDER = "__CHATGATE_FEATURES__"


@dataclass(frozen=True)
class PlaygroundPage:
    """The page as served: its HTML and the Content-Security-Policy that lets exactly it run."""

    html: str
    content_security_policy: str


def load_page(features: Iterable[str]) -> PlaygroundPage:
    """The page announcing `features` (words the script checks: `dev-tokens`, `messages`).

    The features go in a `<meta>` tag outside the script, so the script's hash does not change.
    """
    template = resources.files(__package__).joinpath(PAGE_FILE).read_text(encoding="utf-8")
    html = template.replace(FEATURES_PLACEHOLDER, " ".join(sorted(features)))
    scripts = " ".join(_hashes(re.findall(r"<script>(.*?)</script>", html, re.DOTALL)))
    styles = " ".join(_hashes(re.findall(r"<style>(.*?)</style>", html, re.DOTALL)))
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return PlaygroundPage(html=html, content_security_policy=policy)


def _hashes(blocks: list[str]) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii") + "'"
        for block in blocks
    ]
