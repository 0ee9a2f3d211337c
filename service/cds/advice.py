"""A CDS hook call answered: the draft orders' drugs and the patient's genotypes read (the FHIR
translation's parser), interpreted and audited through the interpretation service, turned into
cards, less the cards this order was already shown.

The audit record of a hook call names the CDS client (issuer) and the EHR's user as its actor,
the patient (pseudonymized by the audit writer, as every patient reference), the orders and the
drugs they name, the genotypes read, each card's drug, indicator and direction, and the cards
held back because the order was shown them before. It is committed before the answer leaves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from service.cds.cards import DraftOrder, card_for, md
from service.cds.fhir_fetch import FhirFetchError, fetch_genotypes
from service.cds.hooks import HookRequest
from service.fhir.drugs import default_drug_codes, read_medication
from service.fhir.errors import FhirInputError
from service.fhir.genotypes import read_genotypes
from service.interpretation import Caller, RequestMemo, entry_from, record, record_refusal
from service.interpretation.cds_records import shown_before, store_feedback
from service.interpretation.events import audit_input, make_event, result_summary, warnings_of
from service.pgx.results import DrugGuidance, GeneResult, GeneStatus

MAX_ACTOR = 200
TEST_OFFER = "pgx-test-offer"  # the "order" an offer of a test is remembered under
INFO_SOURCE = {"label": "PGx dose-guidance service (CPIC guidelines)"}


class PrefetchUnavailable(Exception):
    """No genotype prefetch and no FHIR server to read them from, or the read failed (412)."""


@dataclass(frozen=True)
class HookCaller:
    issuer: str
    request_id: str | None
    source_addr: str | None

    def caller(self, action: str, user_id: str | None) -> Caller:
        actor = self.issuer if not user_id else f"{self.issuer} {user_id}"
        return Caller(actor=actor[:MAX_ACTOR], role="cds-client", action=action,
                      request_id=self.request_id, source_addr=self.source_addr)


def _genotype_bundle(req: HookRequest, timeout_s: float) -> tuple[Any, str]:
    if req.prefetch_given:
        return req.prefetch, "prefetch"
    if req.fhir_server and req.access_token:
        try:
            return fetch_genotypes(req.fhir_server, req.access_token, req.patient_id, timeout_s), "fhirServer"
        except FhirFetchError as exc:
            raise PrefetchUnavailable(f"The genotypes could not be read from fhirServer: {exc}.") from None
    raise PrefetchUnavailable("The `genotypes` prefetch is absent and no fhirServer with fhirAuthorization "
                              "was given to read the patient's Genotype Observations from.")


def _info_card(summary: str, detail: str) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid4()), "summary": summary[:139], "indicator": "info", "detail": detail,
            "source": dict(INFO_SOURCE)}


def _ordered_drugs(req: HookRequest) -> tuple[list[tuple[DraftOrder, ...]], list[dict[str, Any]]]:
    """Per draft order, one DraftOrder per drug it names; and the orders that could not be read."""
    per_order, unreadable = [], []
    for o in req.orders:
        try:
            reading = read_medication(o.resource, o.where, o.reference, bundle_index=req.bundle_index)
        except FhirInputError as exc:
            unreadable.append({"order": o.reference, "issues": [i.diagnostics for i in exc.issues][:5]})
            continue
        per_order.append(tuple(DraftOrder(o.reference, d, o.resource) for d in reading.drugs))
    return per_order, unreadable


def advise(req: HookRequest, who: HookCaller, *, db, kb, fhir_timeout_s: float) -> dict[str, Any]:
    """The response body `{"cards": [...]}` of a hook call; raises PrefetchUnavailable (412, the
    caller audits it), ServiceUnavailable (503: no audit record, no answer)."""
    action = f"POST /cds-services/{req.service.id}"
    caller = who.caller(action, req.user_id)
    bundle, how = _genotype_bundle(req, fhir_timeout_s)
    orders, unreadable_orders = _ordered_drugs(req)
    drugs = list(dict.fromkeys(o.drug for group in orders for o in group))
    unreadable_genotypes: list[str] = []
    readings = ()
    if bundle is not None:
        try:
            readings = read_genotypes(bundle, require=False)
        except FhirInputError as exc:
            unreadable_genotypes = [i.diagnostics for i in exc.issues][:5]
    entries = [r.entry() for r in readings]
    memo = RequestMemo(kb)
    genotypes = [entry_from(e) for e in entries]
    results = [memo.interpret(g) for g in genotypes]
    guidance = memo.guidance(drugs, genotypes, results) if drugs else []
    genes = {r.gene: r for r in results}
    by_drug: dict[str, list[DrugGuidance]] = {}
    for d in guidance:
        by_drug.setdefault(d.drug, []).append(d)

    cards: list[tuple[tuple | None, dict[str, Any], dict[str, Any] | None]] = []  # (shown key, card, row)
    for group in orders:
        for order in group:
            card = card_for(order, by_drug.get(order.drug, []), genes, kb.release)
            if card is not None:
                direction = card["extension"]["org.pgx-service.direction"]
                key = (order.reference, order.drug, direction)
                cards.append((key, card, {"uuid": card["uuid"], "order": order.reference, "drug": order.drug,
                                          "indicator": card["indicator"], "direction": direction}))
    cards += [(None, c, None) for c in _problem_cards(drugs, by_drug, results, unreadable_genotypes, kb)]
    for drug, card in _test_cards([d for d in drugs if _has_guideline(kb, d)], by_drug, set(genes)):
        if not unreadable_genotypes:  # an offer of a test is shown once a day per drug, as other cards
            key = (TEST_OFFER, drug, "test")
            cards.append((key, card, {"uuid": card["uuid"], "order": TEST_OFFER, "drug": drug,
                                      "indicator": "info", "direction": "test"}))

    wanted = [k for k, _, _ in cards if k]
    held_back = shown_before(db, who.issuer, req.patient_id, wanted) if req.filter_repeated else {}
    answered = [(k, c, row) for k, c, row in cards if k is None or k not in held_back]
    event = make_event(
        outcome=200,
        input={**audit_input(entries, drugs), "hook": req.service.hook, "hookInstance": req.hook_instance,
               "service": req.service.id, "cds_client": who.issuer, "user": req.user_id,
               "genotypes_from": how, "orders": [{"order": g[0].reference, "drugs": [o.drug for o in g]}
                                                 for g in orders if g],
               "unreadable_orders": unreadable_orders, "unreadable_genotypes": unreadable_genotypes},
        patient_ref=req.patient_id,
        result={**result_summary(results, guidance),
                "cards": [row for _, _, row in answered if row is not None],
                "info_cards": [c["summary"] for k, c, _ in answered if k is None],
                "suppressed": [{**row, "uuid": held_back[k]["shown_card"], "shown_by": held_back[k]["shown_by"]}
                               for k, _, row in cards if k is not None and k in held_back]},
        release=kb.release, warnings=warnings_of(results), drugs=drugs,
    )
    (receipt,) = record([event], caller)
    return {"cards": [c for _, c, _ in answered],
            "extension": {"org.pgx-service.release": kb.release, "org.pgx-service.audit-id": str(receipt.audit_id)}}


def _problem_cards(drugs: list[str], by_drug: dict[str, list[DrugGuidance]],
                   results: list[GeneResult], unreadable: list[str], kb) -> list[dict[str, Any]]:
    """Info cards where no advice could be given for a drug with a guideline because the genotype
    data on file could not be read or interpreted (never a guess, never silence)."""
    with_guideline = [d for d in drugs if _has_guideline(kb, d)]
    if not with_guideline:
        return []
    if unreadable:
        detail = ("The genotype results sent with this order could not be read, so no pharmacogenomic "
                  "check was done for " + ", ".join(md(d) for d in with_guideline) + ":\n\n"
                  + "\n".join(f"- {md(x)}" for x in unreadable))
        return [_info_card("Pharmacogenomic check not done: the genotype results on file could not be read",
                           detail)]
    bad = [r for r in results if r.status in (GeneStatus.INVALID, GeneStatus.UNKNOWN_ALLELE)]
    out = []
    for r in bad:
        affected = [d for d in with_guideline if any(r.gene in (g.missing_genes or ()) for g in by_drug.get(d, []))]
        if affected:
            out.append(_info_card(
                f"{r.gene} result on file could not be interpreted: no PGx advice for {', '.join(affected)}",
                f"The {md(r.gene)} result {md(r.input)} could not be interpreted "
                f"({md(r.message or r.status.value)}); confirm it with the laboratory."))
    return out


def _test_cards(drugs: list[str], by_drug: dict[str, list[DrugGuidance]],
                on_file: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """`info` cards offering a test: a gene the drug's guideline needs has no result on file at
    all, and CPIC rates that gene-drug pair Level A (prescribing should use the genotype). CPIC's
    own pre-test alert table is not in our knowledge release; Level A is the published rating."""
    levels = default_drug_codes().cpic_levels
    out = []
    for drug in drugs:
        missing = dict.fromkeys(g for d in by_drug.get(drug, []) for g in d.missing_genes if g not in on_file)
        level_a = [g for g in missing if levels.get(drug, {}).get(g) == "A"]
        if level_a:
            genes = " and ".join(level_a)
            out.append((drug, _info_card(
                f"No {genes} result on file: consider pharmacogenomic testing for {drug}",
                f"CPIC rates {md(drug)} with {md(genes)} Level A: the genotype should guide prescribing. "
                f"No {md(genes)} result was found for this patient, so no dose or drug-choice advice was "
                "given; consider ordering the test (and re-checking once the result is on file).")))
    return out


def _has_guideline(kb, drug: str) -> bool:
    try:
        kb.matcher.genes_for(drug)
    except KeyError:
        return False
    return True


def refuse(who: HookCaller | None, action: str, status: int, detail: str, *, req: HookRequest | None = None,
           claimed: dict[str, Any] | None = None) -> None:
    """Audit a refused hook, discovery or feedback call (fail closed: ServiceUnavailable)."""
    caller = (who.caller(action, req.user_id if req else None) if who is not None
              else Caller(actor="anonymous", role=None, action=action))
    data: dict[str, Any] = {"claimed": claimed} if claimed else {}
    if req is not None:
        data.update(hook=req.service.hook, hookInstance=req.hook_instance, user=req.user_id)
    record_refusal(caller, status, detail, input=data, patient_ref=req.patient_id if req else None)


def record_feedback(service_id: str, items: list[dict[str, Any]], who: HookCaller, *, db) -> str:
    """One audit record for a feedback call, then its items stored (with that record's id)."""
    caller = who.caller(f"POST /cds-services/{service_id}/feedback", None)
    summary = [{"card": i["card"], "outcome": i["outcome"],
                "accepted": [a["id"] for a in i.get("acceptedSuggestions") or ()],
                "reason": ((i.get("overrideReason") or {}).get("reason") or {}).get("code"),
                "comment_given": bool((i.get("overrideReason") or {}).get("userComment"))} for i in items]
    event = make_event(outcome=200, input={"service": service_id, "cds_client": who.issuer, "feedback": summary},
                       result={"feedback_items": len(items)}, genes=[], drugs=[])
    (receipt,) = record([event], caller)
    store_feedback(db, service_id, who.issuer, items, str(receipt.audit_id))
    return str(receipt.audit_id)
