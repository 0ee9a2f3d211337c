"""Reading the patient's Genotype Observations from the EHR's FHIR server ourselves, when the
hook carries `fhirServer` and `fhirAuthorization` but no `genotypes` prefetch.

One search (the discovery document's prefetch query), following the searchset's `next` links,
with the EHR's access token, within one overall timeout (PGX_CDS_FHIR_TIMEOUT_S): an EHR waits
about 500 ms for its cards, so a slow FHIR server ends in 412, never in a hung worker.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from service.cds.hooks import GENOTYPE_CODE

MAX_PAGES = 10
MAX_BYTES = 4 * 1024 * 1024


class FhirFetchError(Exception):
    """The genotypes could not be read from the FHIR server (-> 412); the message says why."""


def _get(url: str, token: str, deadline: float) -> dict[str, Any]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FhirFetchError("the FHIR server did not answer in time")
    req = urllib.request.Request(url, headers={  # noqa: S310 - http(s) only, checked by the caller
        "Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    try:
        with urllib.request.urlopen(req, timeout=remaining) as resp:  # noqa: S310  # nosec B310
            data = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise FhirFetchError(f"the FHIR server answered HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FhirFetchError(f"the FHIR server could not be reached ({type(exc).__name__})") from None
    if len(data) > MAX_BYTES:
        raise FhirFetchError("the FHIR server's answer is larger than 4 MiB")
    try:
        bundle = json.loads(data)
    except ValueError:
        raise FhirFetchError("the FHIR server's answer is not JSON") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise FhirFetchError("the FHIR server's answer is not a Bundle")
    return bundle


def _next_link(bundle: dict[str, Any], base: str) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            url = urljoin(base, link["url"])
            # Only pages of the same server: a link elsewhere would carry the EHR's token away.
            if urlsplit(url)[:2] == urlsplit(base)[:2]:
                return url
            raise FhirFetchError("the searchset's next link points to another server")
    return None


def fetch_genotypes(fhir_server: str, token: str, patient_id: str, timeout_s: float) -> dict[str, Any]:
    """A searchset Bundle of the patient's Genotype Observations, every page's entries in one."""
    base = fhir_server.rstrip("/") + "/"
    if urlsplit(base).scheme not in ("http", "https"):
        raise FhirFetchError("fhirServer is not an http(s) URL")
    url = f"{base}Observation?patient={quote(patient_id, safe='')}&code={quote(GENOTYPE_CODE, safe='')}"
    deadline = time.monotonic() + timeout_s
    entries: list[Any] = []
    for _ in range(MAX_PAGES):
        page = _get(url, token, deadline)
        more = page.get("entry") or []
        if not isinstance(more, list):
            raise FhirFetchError("the FHIR server's Bundle.entry is not an array")
        entries.extend(more)
        url = _next_link(page, base)
        if url is None:
            return {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    raise FhirFetchError(f"the search has more than {MAX_PAGES} pages")
