"""``vipredict``: the command-line entry points, thin wrappers over the library."""

# Library modules are imported inside each command, so that `vipredict --help` and the
# light commands start without loading the model stack.

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from vipredict.cli.queue import BUILD_HELP, FREQUENCIES_HELP, queue_app
from vipredict.config import configure_runtime_env

if TYPE_CHECKING:  # commands import what they use when they run
    from vipredict.config import Settings
    from vipredict.store.partitioned import Store

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(queue_app, name="queue")
#: What ``vipredict predict`` writes (``--format`` names what it reads).
OUTPUT_FORMATS = ("tsv", "va-json")
console = Console(stderr=True)
_START = time.monotonic()


def progress(message: str) -> None:
    console.log(f"[bold cyan]{time.monotonic() - _START:7.1f}s[/] {message}")


_DASK_HELP = "run on Dask (VIPREDICT_DASK_SCHEDULER, else a LocalCluster on loopback)"
_SCHEDULER_HELP = "Dask scheduler address, e.g. tcp://host:8786 (implies --dask)"


@app.command()
def features(
    dask: Annotated[bool, typer.Option("--dask", help=_DASK_HELP)] = False,
    scheduler: Annotated[str | None, typer.Option(help=_SCHEDULER_HELP)] = None,
) -> None:
    """Build the feature table (parquet) from the mirrored public data."""
    from vipredict.store.build import build_store

    settings = configure_runtime_env()
    if dask or scheduler:
        from vipredict.jobs.dask import build_store_on_dask, dask_client, with_scheduler

        settings = with_scheduler(settings, scheduler)
        with dask_client(settings) as client:
            table = build_store_on_dask(client, settings, progress)
    else:
        table = build_store(settings, progress)
    console.print(f"{len(table):,} variants x {table.shape[1]} columns -> {settings.store_dir}")


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Option(help="training configuration (TOML) [default: training/default.toml]"),
    ] = None,
    from_run: Annotated[str | None, typer.Option(help="repeat an earlier run from its id")] = None,
    if_missing: Annotated[bool, typer.Option(help="skip if both champions are registered")] = False,
    n_bootstrap: Annotated[int | None, typer.Option(help="override calibration bootstraps")] = None,
    dask: Annotated[bool, typer.Option("--dask", help=_DASK_HELP)] = False,
    scheduler: Annotated[str | None, typer.Option(help=_SCHEDULER_HELP)] = None,
) -> None:
    """Features, both models, calibration and registration, tracked in MLflow."""
    from vipredict.jobs.train import run_training
    from vipredict.model.registry import champions_exist, training_config_of_run
    from vipredict.model.training import TrainingConfig

    settings = configure_runtime_env()
    if if_missing and champions_exist(settings):
        console.print("champion models already registered: skipping training")
        return
    cfg = (
        TrainingConfig.from_dict(training_config_of_run(from_run, settings))
        if from_run
        else TrainingConfig.from_toml(config)
    )
    if n_bootstrap is not None:
        cfg = TrainingConfig.from_dict({**cfg.to_dict(), "n_bootstrap": n_bootstrap})
    if dask or scheduler:
        from vipredict.jobs.dask import with_scheduler

        cfg = TrainingConfig.from_dict({**cfg.to_dict(), "backend": "dask"})
        settings = with_scheduler(settings, scheduler)
    outcome = run_training(cfg, settings, progress)
    table = Table(title="registered champions")
    for column in ("model", "version", "run id", "OOF AUROC (gene-grouped)"):
        table.add_column(column)
    for name, run_id in outcome.run_ids.items():
        table.add_row(name, outcome.versions[name], run_id, f"{outcome.oof_auroc[name]:.3f}")
    Console().print(table)
    Console().print_json(json.dumps({"thresholds": outcome.thresholds}))


@app.command()
def calibrate(
    labelled: Annotated[Path, typer.Option(help="TSV: score<TAB>label(1/0), no header")],
    output: Annotated[Path, typer.Option(help="thresholds JSON to write")],
    unlabelled: Annotated[Path | None, typer.Option(help="one column of unlabelled scores")] = None,
    reverse: Annotated[bool, typer.Option(help="lower scores mean pathogenic")] = False,
    n_bootstrap: Annotated[int, typer.Option(help="bootstraps")] = 10_000,
) -> None:
    """ClinGen local-posterior calibration of any predictor's scores."""
    from vipredict.jobs.calibrate import calibrate_files

    result = calibrate_files(labelled, unlabelled, reverse, output, n_bootstrap=n_bootstrap)
    Console().print_json(json.dumps({"thresholds": result.thresholds}))


@app.command()
def evaluate(
    output: Annotated[Path, typer.Option(help="evaluation JSON to write")] = Path(
        "evaluation.json"
    ),
    cards: Annotated[Path | None, typer.Option(help="write model cards into this folder")] = None,
    nested: Annotated[
        bool,
        typer.Option(
            "--nested",
            help="instead: 2019 nested gene-grouped CV of the evidence profiles, each source "
            "blanked in turn (how designs are chosen)",
        ),
    ] = False,
    vep: Annotated[
        bool,
        typer.Option(
            "--vep",
            help="instead: the VEP + dbNSFP tables' rows in ClinGen 2019 (harmonisation) and "
            "2020 (validation in the format pipelines send)",
        ),
    ] = False,
    outer_folds: Annotated[int, typer.Option(help="--nested: outer folds")] = 5,
    n_bootstrap: Annotated[
        int | None, typer.Option(help="--nested: calibration bootstraps per profile and fold")
    ] = 1000,
) -> None:
    """Score the champions and the comparators on the 2020 validation set (or --nested, --vep)."""
    from vipredict.config import ModelRole, feature_set_of
    from vipredict.io.files import dump_json
    from vipredict.jobs.evaluate import run_evaluation, run_nested_evaluation, run_vep_validation
    from vipredict.model.cards import bands_table, evaluation_table, model_card

    if nested or vep:
        settings = configure_runtime_env()
        if nested:
            report = run_nested_evaluation(settings, progress, outer_folds, n_bootstrap)
            for design in ("profiles", "single_model"):
                Console().print(bands_table(f"2019 nested CV, {design}", report[design]))
            Console().print(bands_table("2019 nested CV, by profile", report["by_profile"]))
        else:
            report = run_vep_validation(settings, progress)
            validation = report["validation"]
            rows = {k: v for k, v in validation.items() if isinstance(v, dict) and "bands" in v}
            Console().print(bands_table(f"VEP-format {validation['dataset']}", rows))
        dump_json(report, output)
        console.print(f"written {output}")
        return
    settings = configure_runtime_env()
    report = run_evaluation(settings, progress)
    dump_json(report, output)
    Console().print(evaluation_table(report))
    console.print(f"written {output}")
    if cards is not None:
        cards.mkdir(parents=True, exist_ok=True)
        for role in ModelRole:
            name = report["models"][feature_set_of(role)]["model"]["name"]
            (cards / f"{name}.md").write_text(model_card(report, role))
        console.print(f"model cards written to {cards}")


@app.command()
def audit(
    output: Annotated[
        Path | None, typer.Option(help="report folder [default: $VIPREDICT_HOME/reports/audit]")
    ] = None,
    n_bootstrap: Annotated[int, typer.Option(help="bootstrap resamples per group")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the bootstrap")] = 0,
    frequency_vcf: Annotated[
        Path | None, typer.Option(help="also audit ClinGen against this gnomAD/ExAC sites VCF")
    ] = None,
    frequency_build: Annotated[str, typer.Option(help="build of --frequency-vcf")] = "GRCh37",
    labelled: Annotated[
        Path | None,
        typer.Option(
            help="audit this labelled file instead of the ClinGen sets: a VCF with ClinVar "
            "CLNSIG (INFO or CSQ clinvar_CLNSIG) or a TSV of variants and labels (P/LP/B/LB or 1/0)"
        ),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="--labelled TSV: the label column [default: detected]")
    ] = None,
    frequency_dataset: Annotated[
        str | None, typer.Option(help="--labelled: audit by this frequency dataset only")
    ] = None,
    build: Annotated[str | None, typer.Option(help=BUILD_HELP)] = None,
) -> None:
    """Ancestry-stratified audit of PP3/BP4: report.html, TSVs, metrics.json, logged to MLflow."""
    from vipredict.audit.run import run_audit

    for path, hint in ((frequency_vcf, "--frequency-vcf"), (labelled, "--labelled")):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{path} does not exist", param_hint=hint)
    settings = configure_runtime_env()
    result, folder = run_audit(
        output,
        settings,
        n_bootstrap,
        seed,
        progress,
        frequency_vcf=frequency_vcf,
        frequency_build=frequency_build,
        labelled=labelled,
        label_column=label_column,
        frequency_dataset=frequency_dataset,
        build=build,
    )
    console.print(
        f"{len(result.groups):,} groups audited for {result.model['name']} "
        f"v{result.model['version']}; report -> {folder / 'report.html'} "
        f"(also under audit/ in MLflow run {result.model['run_id']})"
    )


@app.command()
def predict(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="VCF (plain or VEP CSQ), VEP tab, dbNSFP or TSV")
    ],
    output: Annotated[Path, typer.Option(help="file to write (TSV, or JSON for va-json)")],
    format: Annotated[
        str | None,
        typer.Option(help="vcf (store look-up)|csq (VEP VCF)|vep|dbnsfp|tsv (detected if omitted)"),
    ] = None,
    build: Annotated[str | None, typer.Option(help=BUILD_HELP)] = None,
    frequencies: Annotated[Path | None, typer.Option(help=FREQUENCIES_HELP)] = None,
    output_format: Annotated[
        str,
        typer.Option(help="tsv (result columns) | va-json (GA4GH VA-Spec statements, VRS ids)"),
    ] = "tsv",
) -> None:
    """Per-variant score, posterior and PP3/BP4 evidence; bad records get a named error."""
    from vipredict.jobs.predict import predict_file, write_predictions
    from vipredict.model.scorer import load_scorer

    if not input_path.is_file():
        raise typer.BadParameter(f"{input_path} does not exist", param_hint="INPUT")
    if frequencies is not None and not frequencies.is_file():
        raise typer.BadParameter(f"{frequencies} does not exist", param_hint="--frequencies")
    if output_format not in OUTPUT_FORMATS:
        raise typer.BadParameter(
            f"{output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}",
            param_hint="--output-format",
        )
    settings = configure_runtime_env()
    scorer = load_scorer()
    with console.status(f"scoring {input_path.name}"):
        results = predict_file(scorer, input_path, format, build, frequencies)
    if output_format == "va-json":
        from vipredict.service.card import build_model_card
        from vipredict.standards.va import va_json

        output.parent.mkdir(parents=True, exist_ok=True)
        card = build_model_card(scorer, settings)
        output.write_text(va_json(results, card, scorer.guidelines))
    else:
        write_predictions(results, output)
    errors = results["error"].fillna("").ne("").sum()
    console.print(f"{len(results):,} variants, {errors:,} with errors -> {output}")


@app.command()
def annotate(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="VCF (plain/gzip/bgzip)")],
    output: Annotated[Path, typer.Option(help="annotated VCF (.vcf.gz is bgzipped)")],
    score: Annotated[bool, typer.Option(help="add VIP_SCORE/POST/EVIDENCE (champion)")] = True,
    columns: Annotated[str | None, typer.Option(help="features, comma-separated")] = None,
    store: Annotated[Path | None, typer.Option(help="partitioned store directory")] = None,
    build: Annotated[str | None, typer.Option(help=BUILD_HELP)] = None,
    index: Annotated[bool, typer.Option(help="write a tabix index beside OUTPUT")] = False,
    compile: Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="score with compiled trees, compiling those not cached (default: only "
            "for a large input; cached ones always). Same answers, less time.",
        ),
    ] = None,
    prescored: Annotated[
        bool,
        typer.Option(
            help="read the champion's answers pre-scored in the store (`vipredict prescore`) "
            "when they are current; --no-prescored scores every variant here. Same answers.",
        ),
    ] = True,
) -> None:
    """Add features (default: the evidence model's) and PP3/BP4 evidence to a VCF.

    A VEP VCF (its header declares CSQ) is scored from its own annotations; any
    other VCF from the feature store.
    """
    from vipredict.memory import release_freed_memory

    if not input_path.is_file():
        raise typer.BadParameter(f"{input_path} does not exist", param_hint="INPUT")
    release_freed_memory()  # before pyarrow loads: peak RSS is retained memory, not live data
    from vipredict.jobs.annotate import (
        annotate_vcf,
        index_vcf,
        join_threads,
        prescored_applies,
        use_compiled_trees,
    )
    from vipredict.jobs.prescore import stored_evidence
    from vipredict.store.partitioned import Store

    settings = configure_runtime_env()
    threads = join_threads()
    table = Store(store, threads) if store else Store.open(settings, threads)
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    scorer, guidelines = None, None
    if score:
        evidence = stored_evidence(table, settings, threads) if prescored else None
        if evidence is not None and prescored_applies(input_path, evidence, chosen):
            console.print("evidence: the champion's pre-scored answers (`vipredict prescore`)")
            table, guidelines = evidence, settings.guidelines
        else:  # the model stack (MLflow, scikit-learn) loads only when scoring here
            from vipredict.model.scorer import load_scorer

            scorer = load_scorer(settings, with_priority=False, with_store=False)
            built = use_compiled_trees(scorer, input_path, compile, settings, show_progress=True)
            if built:
                console.print(f"compiled the trees of {len(built)} profiles (cached in the home)")
    report = annotate_vcf(input_path, output, table, scorer, chosen, build, guidelines=guidelines)
    errors = ", ".join(f"{code} {n:,}" for code, n in report.errors.most_common()) or "none"
    console.print(
        f"{report.records:,} records ({report.alleles:,} alleles, {report.in_store:,} in the "
        f"store) -> {output}; errors: {errors}"
    )
    if index:
        try:
            index_vcf(output)
        except OSError as error:  # htslib refuses unsorted input; the annotated file stays
            console.print(f"not indexed ({error}): tabix needs a coordinate-sorted VCF")
            raise typer.Exit(1) from error


@app.command()
def prescore(
    store: Annotated[Path | None, typer.Option(help="partitioned store directory")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="processes scoring store files side by side (default: one per core when "
            "there are 64 MB or more to score; 1: this one only)"
        ),
    ] = None,
) -> None:
    """Score every stored variant with the evidence champion, once (STORE/_prescored).

    `annotate` then reads these answers instead of scoring each variant again (the
    same output, in about the time of `--no-score`). Only store files without
    current answers are scored; when another version becomes champion, run it again.
    """
    from vipredict.store.partitioned import Store

    settings = configure_runtime_env()
    _prescore(Store(store) if store else Store.open(settings), settings, workers)


def _prescore(table: Store, settings: Settings, workers: int | None = None) -> None:
    """Pre-score what the champion has not scored yet in ``table``, and say what was done."""
    from vipredict.jobs.prescore import prescore as prescore_rows
    from vipredict.model.scorer import load_scorer
    from vipredict.store.prescored import prescored_root

    scorer = load_scorer(settings, with_priority=False, with_store=False)
    counts = prescore_rows(table, scorer, settings, show_progress=True, workers=workers)
    model = scorer.evidence_model
    console.print(
        f"{model.name} v{model.version}: {counts['scored']} store file(s) scored, "
        f"{counts['kept']} current, {counts['removed']} removed -> {prescored_root(table.root)}"
    )


@app.command("compile-models")
def compile_models() -> None:
    """Compile the evidence champion's trees into the home's cache (for ``annotate``).

    Optional: ``annotate`` compiles them itself for a large input. Same answers as
    LightGBM's; the service's one-row path does not use them.
    """
    from vipredict.model.compiled import cache_dir
    from vipredict.model.scorer import load_scorer

    settings = configure_runtime_env()
    scorer = load_scorer(settings, with_priority=False, with_store=False)
    built = scorer.compile(settings, show_progress=True)
    console.print(
        f"{len(scorer.predictors)} of {len(scorer.evidence_model.profiles)} profiles compiled "
        f"({len(built)} now) in {cache_dir(settings)}"
    )


@app.command("add-dbnsfp")
def add_dbnsfp(
    input_paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT...", help="dbNSFP TSV(s) (plain/gzip), e.g. one per chromosome"
        ),
    ],
    build: Annotated[str, typer.Option(help="assembly of the coordinates to key on")] = "GRCh37",
    store: Annotated[Path | None, typer.Option(help="partitioned store directory")] = None,
    chunk_rows: Annotated[int, typer.Option(help="rows per chunk (bounds memory)")] = 100_000,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="dataset name of the rows (default: the file name); see unlabelled_dataset"
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="go on from where an interrupted run of the same file stopped (its checkpoint)",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(help="processes parsing chunks (default: one per core; 1: this one only)"),
    ] = None,
    dask: Annotated[
        bool, typer.Option("--dask", help="one task per chromosome file on a Dask cluster")
    ] = False,
    scheduler: Annotated[str | None, typer.Option(help=_SCHEDULER_HELP)] = None,
) -> None:
    """Stream dbNSFP files of any size into the partitioned feature store."""
    from vipredict.io.readers.dbnsfp import check_header
    from vipredict.progress import byte_progress
    from vipredict.store.ingest import (
        StreamReport,
        index_frequencies,
        read_header,
        stream_dbnsfp,
    )
    from vipredict.workers import default_workers

    for path in input_paths:
        if not path.is_file():
            raise typer.BadParameter(f"{path} does not exist", param_hint="INPUT")
        try:
            check_header(read_header(path), build)
        except ValueError as error:
            raise typer.BadParameter(f"{path.name}: {error}", param_hint="INPUT") from error
    settings = configure_runtime_env()
    root = store or settings.store_dir
    reports: list[StreamReport] = []
    if dask or scheduler:
        from vipredict.jobs.dask import dask_client, ingest_on_dask, with_scheduler

        with dask_client(with_scheduler(settings, scheduler)) as client:
            reports = ingest_on_dask(
                client,
                input_paths,
                root,
                build,
                dataset=dataset,
                chunk_rows=chunk_rows,
                resume=resume,
                progress=console.print,
            )
    else:
        processes = default_workers() if workers is None else workers
        # loaded and grouped once for every file (dbNSFP ships one per chromosome), and
        # only once a file has chunks to stream
        frequencies = cache(partial(index_frequencies, workers=processes))
        for path in input_paths:
            with byte_progress(path.stat().st_size, f"streaming {path.name}") as advance:
                reports.append(
                    stream_dbnsfp(
                        path,
                        root,
                        build,
                        dataset=dataset,
                        chunk_rows=chunk_rows,
                        frequencies=frequencies,
                        progress=advance,
                        resume=resume,
                        workers=processes,
                    )
                )
    for path, report in zip(input_paths, reports, strict=True):
        console.print(
            f"{path.name}: {report.rows_read:,} rows read, {report.written:,} variants added to "
            f"{root} ({report.already_stored:,} already stored; {report.copies:,} also under "
            f"their other build; dropped: {report.dropped or 'none'})"
        )
    _refresh_index(root)
    _refresh_prescored(root, settings)


def _refresh_prescored(root: Path, settings: Settings) -> None:
    """Pre-score the rows just added when the store keeps pre-scored answers (only then:
    pre-scoring is a choice of the lab, made once with `vipredict prescore`)."""
    from vipredict.store.partitioned import Store
    from vipredict.store.prescored import prescored_root

    if prescored_root(root).is_dir():
        _prescore(Store(root), settings)


def _refresh_index(root: Path) -> None:
    """Bring a store's serving index up to date after rows were added (only if it has one:
    a small store is served from memory and needs none)."""
    from vipredict.store.index import build_index, index_root

    if not index_root(root).is_dir():
        return
    counts = build_index(root, show_progress=True)
    console.print(
        f"serving index at {index_root(root)}: {counts['built']} file(s) indexed, "
        f"{counts['kept']} up to date, {counts['removed']} removed"
    )


@app.command("store-index")
def store_index(
    store: Annotated[Path | None, typer.Option(help="partitioned store directory")] = None,
) -> None:
    """Build the serving index beside the store (STORE/_index): fast look-ups by key.

    Only store files changed since the last build are indexed again. Without it the
    service looks keys up through DuckDB (about 80 ms each on a 10^8-row store).
    """
    from vipredict.store.index import index_root
    from vipredict.store.partitioned import FILES

    settings = configure_runtime_env()
    root = store or settings.store_dir
    if not any(root.glob(FILES)):
        raise typer.BadParameter(f"no feature store at {root}", param_hint="--store")
    index_root(root).mkdir(parents=True, exist_ok=True)
    _refresh_index(root)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="port on localhost")] = 3000,
    host: Annotated[
        str, typer.Option(help="interface to bind; beyond loopback only with VIPREDICT_API_KEYS")
    ] = "127.0.0.1",
) -> None:
    """Start the BentoML prediction service on localhost (elsewhere only with API keys)."""
    from vipredict.model.registry import ModelNotReadyError
    from vipredict.service.bento import EXIT_EXPOSED, EXIT_NOT_READY, SERVICE_REF
    from vipredict.service.predictor import preflight
    from vipredict.service.security import exposure_refusal

    settings = configure_runtime_env()
    refusal = exposure_refusal([host], settings)
    if refusal:
        console.print(f"[red]vipredict service refuses to start[/]: {refusal}")
        raise typer.Exit(EXIT_EXPOSED)
    try:
        preflight(settings)
    except ModelNotReadyError as error:
        console.print(f"[red]vipredict service refuses to start[/]: {error}")
        raise typer.Exit(EXIT_NOT_READY) from error
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE_REF]
    command += ["--host", host, "--port", str(port)]
    console.print(f"serving on http://{host}:{port} (OpenAPI at /docs.json)")
    raise typer.Exit(subprocess.call(command, env=os.environ.copy()))


if __name__ == "__main__":
    app()
