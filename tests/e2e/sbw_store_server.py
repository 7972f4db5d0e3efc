"""The SBW Cloudworks storefront stand-in (tests/e2e/sbw_store/) on a loopback port: a
single-page shop whose every route is index.html, as the Next.js app serves its pages, with
the tracker pointed at the endpoint the test chooses."""

from __future__ import annotations

import urllib.parse
from pathlib import Path, PurePosixPath

from tests.e2e.stack import EndpointPages, static_site

SBW_STORE = Path(__file__).resolve().parent / "sbw_store"
INDEX = SBW_STORE / "index.html"


class _SbwStoreHandler(EndpointPages):
    def send_head(self):
        name = PurePosixPath(urllib.parse.urlsplit(self.path).path).name
        # Routes (/, /cart, /product/<slug>) have no extension: the app draws them from the URL.
        if "." in name and name != "index.html":
            return super().send_head()
        return self.send_page(INDEX)


def sbw_store(port: int, endpoint: str):
    """tests/e2e/sbw_store/ on 127.0.0.1:`port`, its tracker posting to `endpoint`; yields the origin."""
    return static_site(port, _SbwStoreHandler, SBW_STORE, endpoint)
