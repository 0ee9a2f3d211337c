"""The knowledge the service answers from: /v1/genes, /v1/drugs (from the active release held in
memory) and /v1/releases (from the database). Any authenticated role; no patient data."""

from __future__ import annotations

from flask import Flask, abort
from flask.views import MethodView
from marshmallow import Schema, fields

from service.auth import ROLES, require_roles
from service.db import get_db
from service.errors import PROBLEM_MIME
from service.extensions import get_api
from service.http.parsing import StrictBlueprint
from service.http.schemas import DIRECTIONS, DOSE_FACTOR_DOC, FREQUENCY_DOC, ProblemSchema, SourceSchema
from service.releases import ReleaseNotFound, current_knowledge, list_releases, release_payload

blp = StrictBlueprint("knowledge", __name__, url_prefix="/v1", description="Genes, drugs and knowledge releases")

ANY_ROLE = tuple(ROLES)
_PROBLEMS = dict(schema=ProblemSchema, content_type=PROBLEM_MIME)
_NO_RELEASE = "No knowledge release is active."


# -- schemas -----------------------------------------------------------------------------------


class AlleleSchema(Schema):
    name = fields.String(required=True)
    function = fields.String(required=True)
    activity_value = fields.String(metadata={"description": "CPIC activity value, where the gene uses one."})
    synonyms = fields.List(fields.String())
    note = fields.String()


class PhenotypeSchema(Schema):
    name = fields.String(required=True)
    category = fields.String(required=True, allow_none=True)
    ehr_priority = fields.String(required=True, allow_none=True)


class GeneSchema(Schema):
    """A gene table as the engine uses it; the rule fields present depend on `method`."""
    gene = fields.String(required=True)
    aliases = fields.List(fields.String())
    method = fields.String(required=True, metadata={"description": "How a phenotype is derived."})
    derivation = fields.String(required=True, metadata={"description": "The derivation, in words."})
    ploidy = fields.Raw(metadata={"description": "1, 2 or \"X\" (X-linked)."})
    alleles = fields.List(fields.Nested(AlleleSchema))
    lab_names = fields.Raw(metadata={"description": "Names labs use for several CPIC alleles (G6PD 'A-'): read "
                                                    "only when the alleles share function, else refused."})
    phenotypes = fields.List(fields.Nested(PhenotypeSchema))
    drugs = fields.List(fields.String(), metadata={"description": "Drugs whose guidance depends on the gene."})
    source = fields.Raw(metadata={"description": "Where the table comes from (primary, also)."})
    function_pairs = fields.Raw()
    single_allele = fields.Raw()
    phenotype_display = fields.Raw()
    activity_thresholds = fields.Raw()
    indeterminate_phenotype = fields.String()
    copy_number = fields.Raw()
    score_rule = fields.String()
    causative_function = fields.String()
    causative_phenotype = fields.String()
    risk_alleles = fields.Raw()
    rsid = fields.String()
    ref = fields.String()
    alt = fields.String()
    genotypes = fields.Raw()
    position_alias = fields.Raw()
    overrides = fields.Raw()


class GeneListSchema(Schema):
    release = fields.String(required=True)
    genes = fields.List(fields.Nested(GeneSchema), required=True)


class GuidanceRowSchema(Schema):
    lookup = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "gene -> phenotype, activity score or allele status"})
    population = fields.String(required=True)
    classification = fields.String(required=True, allow_none=True)
    direction = fields.String(required=True, metadata={"enum": list(DIRECTIONS)})
    dose_factor = fields.String(allow_none=True, metadata={"description": DOSE_FACTOR_DOC})
    frequency = fields.String(allow_none=True, metadata={"description": FREQUENCY_DOC})
    alternatives = fields.List(fields.String())
    recommendation = fields.String(allow_none=True)
    recommendation_id = fields.String(allow_none=True)


class DrugSchema(Schema):
    drug = fields.String(required=True)
    genes = fields.List(fields.String(), required=True)
    populations = fields.List(fields.String(), required=True)
    source = fields.Nested(SourceSchema, required=True)
    rows = fields.Integer(metadata={"description": "Rows in the guidance table."})
    guidance = fields.List(fields.Nested(GuidanceRowSchema),
                           metadata={"description": "The guidance table (in the list: with `guidance=true`)."})


class DrugListSchema(Schema):
    release = fields.String(required=True)
    drugs = fields.List(fields.Nested(DrugSchema), required=True)


class DrugListQuerySchema(Schema):
    guidance = fields.Boolean(load_default=False, metadata={"description": "Include every guidance table."})


class ReleaseManifestSchema(Schema):
    name = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    sources = fields.Raw()
    gene_count = fields.Integer()
    guideline_count = fields.Integer()
    drug_count = fields.Integer()


class ReleaseSchema(Schema):
    label = fields.String(required=True)
    digest = fields.String(required=True, metadata={"description": "SHA-256 of the release's canonical JSON."})
    is_active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    activated_at = fields.DateTime(allow_none=True)
    note = fields.String(allow_none=True)
    manifest = fields.Nested(ReleaseManifestSchema)


class ReleaseDetailSchema(ReleaseSchema):
    tables = fields.Dict(
        required=True,
        metadata={
            "description": "The release's complete tables (manifest, genes, guidelines) as stored: "
            "`service.pgx.knowledge.KnowledgeBase(tables)` rebuilds exactly the knowledge that "
            "answered under this label."
        },
    )


class ReleaseListSchema(Schema):
    active = fields.String(required=True, allow_none=True, metadata={"description": "The active release."})
    serving = fields.String(required=True, allow_none=True,
                            metadata={"description": "The release this worker answers from right now."})
    releases = fields.List(fields.Nested(ReleaseSchema), required=True)


# -- views -------------------------------------------------------------------------------------


def _gene(kb, name: str) -> dict:
    described = kb.engine.describe(name)
    described["drugs"] = kb.matcher.drugs_for_genes([described["gene"]])
    return described


def _drug(kb, name: str, with_table: bool) -> dict:
    described = kb.matcher.describe(name)
    described["rows"] = len(described.get("guidance") or ())
    if not with_table:
        described.pop("guidance", None)
    return described


@blp.route("/genes")
class Genes(MethodView):
    @require_roles(*ANY_ROLE)
    @blp.response(200, GeneListSchema)
    @blp.alt_response(503, description=_NO_RELEASE, **_PROBLEMS)
    def get(self):
        """Every gene: alleles with function and activity value, phenotypes, and how it derives one."""
        kb = current_knowledge()
        return {"release": kb.release, "genes": [_gene(kb, g) for g in kb.gene_names]}


@blp.route("/genes/<string:gene>")
class Gene(MethodView):
    @require_roles(*ANY_ROLE)
    @blp.response(200, GeneSchema)
    @blp.alt_response(404, description="No such gene in the active release.", **_PROBLEMS)
    @blp.alt_response(503, description=_NO_RELEASE, **_PROBLEMS)
    def get(self, gene: str):
        """One gene (names and aliases are matched case-insensitively)."""
        kb = current_knowledge()
        try:
            return _gene(kb, gene)
        except KeyError:
            abort(404, description=f"gene {gene[:100]!r} is not in knowledge release {kb.release}")


@blp.route("/drugs")
class Drugs(MethodView):
    @require_roles(*ANY_ROLE)
    @blp.arguments(DrugListQuerySchema, location="query")
    @blp.response(200, DrugListSchema)
    @blp.alt_response(503, description=_NO_RELEASE, **_PROBLEMS)
    def get(self, args):
        """Every drug with a CPIC guidance table: its genes, populations and source."""
        kb = current_knowledge()
        return {"release": kb.release, "drugs": [_drug(kb, d, args["guidance"]) for d in kb.drug_names]}


@blp.route("/drugs/<string:drug>")
class Drug(MethodView):
    @require_roles(*ANY_ROLE)
    @blp.response(200, DrugSchema)
    @blp.alt_response(404, description="No such drug in the active release.", **_PROBLEMS)
    @blp.alt_response(503, description=_NO_RELEASE, **_PROBLEMS)
    def get(self, drug: str):
        """One drug: the genes it depends on and its guidance table."""
        kb = current_knowledge()
        try:
            return _drug(kb, drug, True)
        except KeyError:
            abort(404, description=f"drug {drug[:100]!r} has no guidance in knowledge release {kb.release}")


@blp.route("/releases")
class Releases(MethodView):
    @require_roles(*ANY_ROLE)
    @blp.response(200, ReleaseListSchema)
    def get(self):
        """The knowledge releases stored, newest first, and which one is active."""
        releases = list_releases(get_db())
        active = next((r["label"] for r in releases if r["is_active"]), None)
        kb = current_knowledge(raise_if_missing=False)
        return {"active": active, "serving": kb.release if kb is not None else None, "releases": releases}


@blp.route("/releases/<label>")
class Release(MethodView):
    @require_roles(*ANY_ROLE)
    @blp.response(200, ReleaseDetailSchema)
    @blp.alt_response(404, description="No stored release has this label")
    def get(self, label: str):
        """One stored release with its complete tables (`active` names the active one), so that any
        past answer, which names its release, can be reproduced."""
        db = get_db()
        releases = list_releases(db)
        wanted = next((r for r in releases if (r["is_active"] if label == "active" else r["label"] == label)), None)
        if wanted is None:
            abort(404, description=f"no stored knowledge release is labelled {label[:100]!r}")
        try:
            tables = release_payload(db, wanted["label"])
        except ReleaseNotFound:
            abort(404, description=f"no stored knowledge release is labelled {label[:100]!r}")
        return {**wanted, "tables": tables}


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
