"""`pgx vcf interpret FILE`: a (biobank) VCF, one audited interpretation per sample, NDJSON.

The file is read once (only the allele-defining positions are kept), the samples are matched in
parallel over the machine's cores, and each sample's answer goes through the same
interpretation-and-audit path as POST /v1/vcf/interpretations. A progress bar goes to stderr.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor

import click
import orjson

from service import create_app
from service.cli.audit import cli_actor
from service.interpretation.service import Caller
from service.interpretation.vcf import answer_matches
from service.interpretation.vcf_input import BodyStream
from service.pgx.vcf.panel import build_definitions, call_sample, wanted_keys
from service.pgx.vcf.reader import VcfProblem, read_vcf
from service.releases import current_knowledge

_WORKER: dict = {}


def _init(tables: dict, data) -> None:
    _WORKER["defs"] = build_definitions(tables)
    _WORKER["data"] = data


def _match(index: int):
    return index, call_sample(_WORKER["defs"], _WORKER["data"], index)


@click.group("vcf")
def command() -> None:
    """Diplotypes from VCF files."""


@command.command("interpret")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--sample", help="The sample column to interpret (required when there are several).")
@click.option("--all-samples", is_flag=True, help="Interpret every sample, one NDJSON line each.")
@click.option("--drug", "drugs", multiple=True, help="A drug to advise on (repeatable); default: every drug.")
@click.option("-o", "--output", type=click.File("wb"), default="-", help="NDJSON output (default stdout).")
@click.option("--jobs", type=int, default=os.cpu_count() or 1, show_default=True, help="Processes for matching.")
def interpret(path: str, sample: str | None, all_samples: bool, drugs: tuple[str, ...], output, jobs: int) -> None:
    """Interpret a GRCh38 VCF (plain, gzip or bgzip)."""
    if sample and all_samples:
        raise click.UsageError("give --sample or --all-samples, not both")
    app = create_app()
    with app.app_context(), open(path, "rb") as fh:
        from_release = current_knowledge()
        gzipped = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        body = BodyStream(fh, gzipped=gzipped, limit=1 << 62)
        try:
            data = read_vcf(body.lines(), wanted_keys(from_release.allele_definitions))
        except VcfProblem as exc:
            raise click.ClickException(f"{path}: {exc.code}: {exc}") from None
        if all_samples:
            indexes = list(range(len(data.samples)))
        elif sample:
            if sample not in data.samples:
                raise click.ClickException(f"sample '{sample}' is not a column of {path}")
            indexes = [data.samples.index(sample)]
        elif len(data.samples) == 1:
            indexes = [0]
        else:
            raise click.ClickException(f"{path} holds {len(data.samples)} samples: give --sample or --all-samples")
        caller = Caller(actor=cli_actor(), role="admin", action="pgx vcf interpret")
        summary = body.summary()
        tables = from_release.payload.get("alleles") or {}
        results: dict[int, dict] = {}
        with click.progressbar(length=len(indexes), label="samples", file=sys.stderr) as bar:
            if jobs > 1 and len(indexes) > 1:
                with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(tables, data)) as pool:
                    for i, matches in pool.map(_match, indexes, chunksize=max(1, len(indexes) // (jobs * 8))):
                        results[i] = matches
                        bar.update(1)
            else:
                _init(tables, data)
                for i in indexes:
                    results[i] = _match(i)[1]
                    bar.update(1)
        for i in indexes:
            done = answer_matches(from_release, results[i], caller=caller,
                                  vcf_summary={**summary, "sample": data.samples[i], "samples": len(data.samples)},
                                  drugs=list(drugs) or None)
            line = {"sample": data.samples[i], "status": done.status, **done.body}
            output.write(orjson.dumps(line) + b"\n")

