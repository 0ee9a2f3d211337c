"""The CDS services we offer, the discovery document, and CDS Hooks requests read and checked
(pure: no Flask, no database).

Two services, one per hook: `pgx-order-select` (a drug was picked: only `context.selections`
are judged) and `pgx-order-sign` (before signing: every draft MedicationRequest). Both ask the
EHR to prefetch the patient's Genotype Observations (LOINC 84413-4) under the key `genotypes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

GENOTYPE_CODE = "http://loinc.org|84413-4"
GENOTYPES_KEY = "genotypes"
GENOTYPES_QUERY = "Observation?patient={{context.patientId}}&code=" + GENOTYPE_CODE
MAX_ID = 100
# Request extensions that ask us to repeat cards already shown for an order (default: not repeated).
OUR_FILTER_EXTENSION = "org.pgx-service.filter-repeated-cards"
PDDI_CONFIGURATION = "pddi-configuration-items"  # HL7 PDDI-CDS's order-select/order-sign coordination


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    judges_selections_only: bool

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": {GENOTYPES_KEY: GENOTYPES_QUERY},
            "usageRequirements": "Send the JWT of a registered CDS client (`pgx cds-clients add`). "
                                 "Prefetch `genotypes`, or pass fhirServer and fhirAuthorization "
                                 "(user/Observation.read) so that the service reads them itself.",
        }


SERVICES = {
    s.id: s
    for s in (
        CdsService("pgx-order-select", "order-select", "Pharmacogenomic check of the selected drug (CPIC)",
                   "Checks the medication orders just selected against the patient's genotype results "
                   "and answers with CPIC's dose or drug-choice guidance where it calls for action.", True),
        CdsService("pgx-order-sign", "order-sign", "Pharmacogenomic check before signing (CPIC)",
                   "Checks every draft medication order against the patient's genotype results before "
                   "it is signed; advice already shown for an order at order-select is not repeated.",
                   False),
    )
}


def discovery_document() -> dict[str, Any]:
    return {"services": [s.discovery_entry() for s in SERVICES.values()]}


class HookRequestError(Exception):
    """A request that is not a CDS Hooks call of this service (400); the message names the field."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise HookRequestError(f"The body names the member {key!r} twice.")
        out[key] = value
    return out


def parse_body(data: bytes) -> Any:
    """The request's JSON, strictly: no duplicate member, no nesting deep enough to exhaust the
    parser (HookRequestError, 400, never a 500)."""
    if not data:
        raise HookRequestError("The body is empty; a CDS Hooks call posts a JSON object.")
    try:
        return json.loads(data, object_pairs_hook=_object)
    except RecursionError:
        raise HookRequestError("The body's JSON is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise HookRequestError("The body is not valid JSON.") from None


@dataclass(frozen=True)
class DraftMedication:
    reference: str  # "MedicationRequest/103", or the entry's place when it has no id
    resource: dict[str, Any]
    where: str  # FHIRPath of the resource in the request, for messages


@dataclass(frozen=True)
class HookRequest:
    service: CdsService
    hook_instance: str
    user_id: str
    patient_id: str
    encounter_id: str | None
    orders: tuple[DraftMedication, ...]
    bundle_index: dict[str, Any] = field(compare=False, repr=False)
    prefetch_given: bool  # the `genotypes` key is present (its value may be null: nothing on file)
    prefetch: Any = field(compare=False, repr=False)
    fhir_server: str | None = None
    access_token: str | None = field(default=None, repr=False)
    filter_repeated: bool = True


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True, limit: int = 500) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HookRequestError(f"`{where}{key}` is required and must be a non-empty string.")
    if len(value) > limit:
        raise HookRequestError(f"`{where}{key}` is longer than {limit} characters.")
    return value


def _filter_repeated(body: dict[str, Any]) -> bool:
    ext = body.get("extension")
    if not isinstance(ext, dict):
        return True
    ours = ext.get(OUR_FILTER_EXTENSION)
    if isinstance(ours, bool):
        return ours
    pddi = ext.get(PDDI_CONFIGURATION)
    if isinstance(pddi, dict) and isinstance(pddi.get("filter-out-repeated-alerts"), bool):
        return pddi["filter-out-repeated-alerts"]
    return True


def _draft_orders(context: dict[str, Any]) -> tuple[list[DraftMedication], dict[str, Any]]:
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise HookRequestError("`context.draftOrders` is required and must be a FHIR Bundle.")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise HookRequestError("`context.draftOrders.entry` must be an array.")
    orders, index = [], {}
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise HookRequestError(f"`context.draftOrders.entry[{i}]` has no resource with a resourceType.")
        rid = resource.get("id")
        ref = f"{resource['resourceType']}/{rid}" if isinstance(rid, str) and rid else None
        if ref:
            index[ref] = resource
        full = entry.get("fullUrl")
        if isinstance(full, str) and full:
            index[full] = resource
        if resource["resourceType"] == "MedicationRequest":
            where = f"context.draftOrders.entry[{i}].resource"
            orders.append(DraftMedication(ref or where, resource, where))
    return orders, index


def read_hook_request(service: CdsService, body: Any) -> HookRequest:
    """The request as this service reads it; HookRequestError (400) naming the first fault."""
    if not isinstance(body, dict):
        raise HookRequestError("The body must be a CDS Hooks request (a JSON object).")
    hook = _text(body, "hook", "")
    if hook != service.hook:
        raise HookRequestError(f"`hook` is {hook!r}; the service {service.id} answers {service.hook!r}.")
    hook_instance = _text(body, "hookInstance", "", limit=MAX_ID)
    context = body.get("context")
    if not isinstance(context, dict):
        raise HookRequestError("`context` is required and must be an object.")
    user_id = _text(context, "userId", "context.")
    patient_id = _text(context, "patientId", "context.", limit=200)
    encounter_id = _text(context, "encounterId", "context.", required=False)
    orders, index = _draft_orders(context)
    if service.judges_selections_only:
        selections = context.get("selections")
        if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
            raise HookRequestError("`context.selections` is required for order-select: an array of ids "
                                   "such as MedicationRequest/103.")
        unknown = [s for s in selections if s not in index]
        if unknown:
            raise HookRequestError(f"`context.selections` names {unknown[0]!r}, which is not in draftOrders.")
        chosen = set(selections)
        orders = [o for o in orders if o.reference in chosen]
    auth = body.get("fhirAuthorization")
    fhir_server = _text(body, "fhirServer", "", required=auth is not None, limit=2000)
    token = None
    if auth is not None:
        if not isinstance(auth, dict):
            raise HookRequestError("`fhirAuthorization` must be an object.")
        token = _text(auth, "access_token", "fhirAuthorization.", limit=8000)
        if str(auth.get("token_type", "")).lower() != "bearer":
            raise HookRequestError("`fhirAuthorization.token_type` must be Bearer.")
    if fhir_server is not None and not fhir_server.startswith(("https://", "http://")):
        raise HookRequestError("`fhirServer` must be an http(s) URL.")
    prefetch = body.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        raise HookRequestError("`prefetch` must be an object.")
    given = isinstance(prefetch, dict) and GENOTYPES_KEY in prefetch
    return HookRequest(
        service=service, hook_instance=hook_instance, user_id=user_id, patient_id=patient_id,
        encounter_id=encounter_id, orders=tuple(orders), bundle_index=index, prefetch_given=given,
        prefetch=prefetch.get(GENOTYPES_KEY) if given else None, fhir_server=fhir_server,
        access_token=token, filter_repeated=_filter_repeated(body),
    )


# -- feedback ------------------------------------------------------------------------------------

OUTCOMES = ("accepted", "overridden")


def read_feedback(body: Any) -> list[dict[str, Any]]:
    """The feedback items, checked (HookRequestError naming the first fault)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise HookRequestError('The body must be {"feedback": [item, ...]} with at least one item.')
    items = []
    for i, item in enumerate(body["feedback"][:100]):
        where = f"feedback[{i}]."
        if not isinstance(item, dict):
            raise HookRequestError(f"`feedback[{i}]` must be an object.")
        card = _text(item, "card", where, limit=MAX_ID)
        outcome = _text(item, "outcome", where)
        if outcome not in OUTCOMES:
            raise HookRequestError(f"`{where}outcome` must be accepted or overridden.")
        timestamp = _text(item, "outcomeTimestamp", where, limit=40)
        accepted = item.get("acceptedSuggestions")
        if outcome == "accepted":
            if not isinstance(accepted, list) or not accepted or not all(
                    isinstance(a, dict) and isinstance(a.get("id"), str) and a["id"] for a in accepted):
                raise HookRequestError(f"`{where}acceptedSuggestions` is required for accepted: "
                                       '[{"id": suggestion uuid}, ...].')
        reason = item.get("overrideReason")
        if reason is not None:
            if not isinstance(reason, dict):
                raise HookRequestError(f"`{where}overrideReason` must be an object.")
            coding = reason.get("reason")
            if coding is not None and not (isinstance(coding, dict) and isinstance(coding.get("code"), str)):
                raise HookRequestError(f"`{where}overrideReason.reason` must be a Coding with a code.")
            comment = reason.get("userComment")
            if comment is not None and not isinstance(comment, str):
                raise HookRequestError(f"`{where}overrideReason.userComment` must be a string.")
        items.append({
            "card": card, "outcome": outcome, "outcomeTimestamp": timestamp,
            "acceptedSuggestions": [{"id": a["id"][:MAX_ID]} for a in accepted] if outcome == "accepted" else None,
            "overrideReason": reason,
        })
    return items
