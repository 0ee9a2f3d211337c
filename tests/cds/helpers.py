"""CDS Hooks test helpers: EHR key pairs, signed JWTs, and hook requests shaped as the spec's
examples (order-select / order-sign, R4) with a PGx prefetch."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://fhir-ehr.example.com/"
BASE = "http://cds.test"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass
class EhrKey:
    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[self.alg].to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg,
                          headers={"kid": self.kid, "typ": "JWT", **(headers or {})})


def ec_key(kid: str = "ehr-es384", alg: str = "ES384") -> EhrKey:
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
    return EhrKey(kid, alg, ec.generate_private_key(curve))


def rsa_key(kid: str = "ehr-rs384", alg: str = "RS384") -> EhrKey:
    return EhrKey(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def jwks(*keys: EhrKey) -> str:
    return json.dumps({"keys": [k.public_jwk() for k in keys]})


def claims(path: str, *, iss: str = ISSUER, base: str = BASE, lifetime: int = 300, **extra) -> dict[str, Any]:
    now = int(time.time())
    out = {"iss": iss, "aud": base + path, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
    out.update(extra)
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def genotype_observation(oid: str, gene: str, hgnc: str, diplotype: str, patient: str = "1288992") -> dict:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "meta": {"profile": ["http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/genotype"]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": "84413-4", "display": "Genotype display name"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "valueCodeableConcept": {"text": diplotype},
        "component": [{"code": {"coding": [{"system": LOINC, "code": "48018-6", "display": "Gene studied [ID]"}]},
                       "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org/geneId",
                                                            "code": hgnc, "display": gene}]}}],
    }


def searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"http://ehr.test/fhir/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def medication_request(mid: str, code: str | None, display: str, patient: str = "1288992",
                       dose_mg: float | None = None) -> dict:
    concept: dict[str, Any] = {"text": display}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": display}]
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": mid, "status": "draft", "intent": "order",
        "medicationCodeableConcept": concept, "subject": {"reference": f"Patient/{patient}"},
    }
    if dose_mg is not None:
        resource["dosageInstruction"] = [{"text": f"{dose_mg} mg daily", "doseAndRate": [
            {"doseQuantity": {"value": dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]}]
    return resource


# The spec's order-select example (R4) carries a NutritionOrder beside the MedicationRequest; kept.
NUTRITION_ORDER = {"resourceType": "NutritionOrder", "id": "pureeddiet-simple", "status": "draft",
                   "patient": {"reference": "Patient/1288992"}, "dateTime": "2014-09-17",
                   "oralDiet": {"type": [{"text": "Pureed diet"}]}}


def hook_request(hook: str, meds: list[dict], *, selections: list[str] | None = None,
                 prefetch: dict | None | str = "absent", **extra) -> dict:
    context: dict[str, Any] = {
        "userId": "PractitionerRole/123", "patientId": "1288992", "encounterId": "89284",
        "draftOrders": {"resourceType": "Bundle", "type": "collection",
                        "entry": [{"resource": NUTRITION_ORDER}] + [{"resource": m} for m in meds]},
    }
    if hook == "order-select":
        context["selections"] = selections if selections is not None else [f"MedicationRequest/{meds[0]['id']}"]
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context, **extra}
    if prefetch != "absent":
        body["prefetch"] = prefetch
    return body
