"""``vipredict queue ...``: thin commands over the queue library (registered in the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vipredict.config import configure_runtime_env

if TYPE_CHECKING:  # pandas loads with the command that uses it (and pyarrow with it)
    import pandas as pd

queue_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Prioritised curation queue: build, show, decide, export, evaluate, reevaluate.",
)
console = Console(stderr=True)
ListOption = list[str] | None
#: ``--build`` of every command that reads a user's file (one wording, one meaning).
BUILD_HELP = (
    "assembly (GRCh37/GRCh38); default: the VCF header's, else GRCh37. "
    "A VCF header that says otherwise answers build_conflict per variant"
)
FREQUENCIES_HELP = (
    "gnomAD/ExAC sites VCF (PASS sites; per-group AC/AN/AF) for BA1/BS1/PM2 of the input's "
    "variants, read under their own build"
)


def _split(values: ListOption) -> list[str]:
    """Repeated options and comma-separated values alike: --gene BRCA1,BRCA2 --gene TP53."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Library refusals become one readable line and exit status 1, not a traceback."""
    from vipredict.queue.export import ExportError
    from vipredict.queue.ranking import QueueInputError
    from vipredict.queue.store import QueueNotFoundError

    try:
        yield
    except (QueueInputError, QueueNotFoundError) as error:
        console.print(f"[red]{error.reason}[/]: {error.message}")
        raise typer.Exit(1) from error
    except ExportError as error:
        console.print(f"[red]export refused[/]: {error}")
        raise typer.Exit(1) from error


def _missing(value: object) -> bool:
    """``pd.isna`` of one value."""
    import pandas as pd

    return bool(pd.isna(value))


def _items_table(items: pd.DataFrame, title: str, limit: int) -> Table:
    table = Table(title=title, show_lines=False)
    columns = ["rank", "variant", "gene", "evidence", "decision", "reason"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in items.head(limit).to_dict("records"):
        # Text cells: a key such as 13:32914839:A:G must not be read as markup or an emoji.
        table.add_row(*(Text("" if _missing(row.get(c)) else str(row.get(c))) for c in columns))
    return table


@queue_app.command("build")
def build_command(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="VCF (plain or VEP CSQ), VEP, dbNSFP or TSV")
    ],
    by: Annotated[str, typer.Option(help="settle|posterior|uncertainty|evidence")] = "settle",
    gene: Annotated[
        ListOption, typer.Option(help="keep these genes (repeat or comma-join)")
    ] = None,
    evidence: Annotated[
        ListOption, typer.Option(help="keep these codes: PP3_Strong, BP4, none, ...")
    ] = None,
    group: Annotated[
        ListOption, typer.Option(help="keep variants observed in these groups: afr, nfe, ...")
    ] = None,
    af_band: Annotated[
        ListOption, typer.Option(help="absent|ultra_rare|rare|low_frequency|common|unknown")
    ] = None,
    name: Annotated[str, typer.Option(help="a name for people (default: the file name)")] = "",
    format: Annotated[str | None, typer.Option(help="vcf|csq|vep|dbnsfp|tsv (detected)")] = None,
    assembly: Annotated[str | None, typer.Option("--build", help=BUILD_HELP)] = None,
    frequencies: Annotated[Path | None, typer.Option(help=FREQUENCIES_HELP)] = None,
    show: Annotated[int, typer.Option(help="items to print")] = 20,
) -> None:
    """Score a file, rank it into a stored queue and print its head; prints the queue id."""
    from vipredict.model.scorer import load_scorer
    from vipredict.queue.build import QueueSpec, queue_from_file
    from vipredict.queue.genes import load_gene_context
    from vipredict.queue.ranking import QueueFilters
    from vipredict.queue.store import QueueStore

    if not input_path.is_file():
        raise typer.BadParameter(f"{input_path} does not exist", param_hint="INPUT")
    if frequencies is not None and not frequencies.is_file():
        raise typer.BadParameter(f"{frequencies} does not exist", param_hint="--frequencies")
    settings = configure_runtime_env()
    with _clear_errors():
        filters = QueueFilters.create(
            _split(gene), _split(evidence), _split(group), _split(af_band)
        )
        spec = QueueSpec(by=by, filters=filters, name=name)
        scorer = load_scorer(settings)
        store = QueueStore.from_settings(settings)
        with console.status(f"scoring and ranking {input_path.name}"):
            queue_id, items = queue_from_file(
                scorer,
                store,
                input_path,
                spec,
                load_gene_context(settings),
                format,
                assembly,
                frequencies,
            )
    failed = int((items["error"].fillna("") != "").sum())
    Console().print(_items_table(items, f"queue {queue_id} ({by})", show))
    console.print(f"{len(items):,} items, {failed:,} not scored (named errors, ranked last)")
    typer.echo(queue_id)


@queue_app.command("show")
def show_command(
    queue_id: Annotated[str, typer.Argument(metavar="ID")],
    limit: Annotated[int, typer.Option(help="items to print")] = 50,
    offset: Annotated[int, typer.Option(help="items to skip")] = 0,
) -> None:
    """Print a queue's items in rank order with their current decisions."""
    from vipredict.queue.store import QueueStore

    settings = configure_runtime_env()
    with _clear_errors():
        record = QueueStore.from_settings(settings).load(queue_id, offset, limit)
    meta = record.meta
    title = f"{meta['name']} ({meta['ordering']}, {meta['n_items']:,} items, {meta['created_at']})"
    Console().print(_items_table(record.items, title, limit))


@queue_app.command("decide")
def decide_command(
    queue_id: Annotated[str, typer.Argument(metavar="ID")],
    variant: Annotated[str, typer.Argument(metavar="VARIANT", help="build:chrom:pos:ref:alt")],
    decision: Annotated[str, typer.Option(help="accept|reject|defer")],
    curator: Annotated[str, typer.Option(help="curator id")],
    note: Annotated[str, typer.Option(help="free-text note")] = "",
) -> None:
    """Record a curator decision on one queue item (kept with its time; history is kept)."""
    from vipredict.queue.store import Decision, QueueStore

    settings = configure_runtime_env()
    with _clear_errors():
        stored = QueueStore.from_settings(settings).decide(
            queue_id, Decision.create(variant, decision, curator, note)
        )
    typer.echo(json.dumps(stored))


@queue_app.command("export")
def export_command(
    queue_id: Annotated[str, typer.Argument(metavar="ID")],
    format: Annotated[str, typer.Option(help="csv|tsv|vcf")],
    output: Annotated[Path, typer.Option(help="file to write")],
) -> None:
    """Write the queue with its decisions as CSV, TSV or VCF."""
    from vipredict.queue.export import write_export
    from vipredict.queue.store import QueueStore

    settings = configure_runtime_env()
    with _clear_errors():
        record = QueueStore.from_settings(settings).load(queue_id)
        rows = write_export(record, format, output)
    console.print(f"{rows:,} records -> {output}")


@queue_app.command("evaluate")
def evaluate_command(
    output: Annotated[Path, typer.Option(help="queue evaluation JSON to write")] = Path(
        "queue_evaluation.json"
    ),
) -> None:
    """Hold-out 2020, labels hidden: share of decisive, correct evidence in the queue's head."""
    from vipredict.io.files import dump_json
    from vipredict.queue.evaluate import evaluate_queue

    settings = configure_runtime_env()
    report = evaluate_queue(settings, lambda message: console.log(message))
    dump_json(report, output)
    table = Table(title=f"decisive, correct evidence in the first k items ({report['dataset']})")
    for column in ("k", "vipredict", "revel", "random"):
        table.add_column(column, justify="right")
    for k, shares in report["top_k"].items():
        table.add_row(k, *(f"{shares[name]:.3f}" for name in ("vipredict", "revel", "random")))
    Console().print(table)
    console.print(f"written {output}")


def _pair(row: dict, name: str, fmt: str = "{}") -> Text:
    """``old -> new`` of one compared field (``old`` alone when they agree)."""

    def show(value: object) -> str:
        return "NA" if value is None or _missing(value) else fmt.format(value)

    old, new = show(row[f"old_{name}"]), show(row[f"new_{name}"])
    return Text(old if old == new else f"{old} -> {new}")


def _reevaluation_table(result, title: str) -> Table:
    """Changed (and not re-scored) items: old against new evidence, the decision, the review."""
    table = Table(title=title, show_lines=False)
    shown = result.columns()
    fields = [
        (name, label, fmt)
        for name, label, fmt in (
            ("evidence", "evidence", "{}"),
            ("mis_prd", "MIS_PRD", "{:+d}"),
            ("posterior", "posterior", "{:.3g}"),
        )
        if f"old_{name}" in shown
    ]
    for column in ("rank", "variant", "gene", "decision", *(f[1] for f in fields), "reviewed"):
        table.add_column(column, overflow="fold")
    for row in result.changed().to_dict("records"):
        decision = "" if _missing(row["decision"]) else str(row["decision"])
        if row["status"] == "not_rescored":
            cells = [Text(f"not re-scored: {row['rescore_error']}")] * len(fields)
        else:
            cells = [_pair(row, name, fmt) for name, _, fmt in fields]
        reviewed = f"yes ({row['reviewed_by']})" if row["reviewed"] else "no"
        table.add_row(
            Text(str(row["rank"])),
            Text(str(row["variant"])),
            Text("" if _missing(row["gene"]) else str(row["gene"])),
            Text(decision),
            *cells,
            Text(reviewed),
        )
    return table


@queue_app.command("reevaluate")
def reevaluate_command(
    queue_id: Annotated[str, typer.Argument(metavar="ID")],
    old_version: Annotated[
        str | None, typer.Option(help="evidence model version (default: the queue's)")
    ] = None,
    new_version: Annotated[
        str | None, typer.Option(help="evidence model version (default: the champion)")
    ] = None,
    all_items: Annotated[
        bool, typer.Option("--all-items", help="every item, not only the decided ones")
    ] = False,
    mark_reviewed: Annotated[
        ListOption,
        typer.Option(
            "--mark-reviewed",
            metavar="VARIANT",
            help="mark these items reviewed for this change (repeat or comma-join)",
        ),
    ] = None,
    curator: Annotated[str | None, typer.Option(help="curator id (with --mark-reviewed)")] = None,
    output: Annotated[
        Path | None, typer.Option(help="TSV of every item considered, changed or not")
    ] = None,
) -> None:
    """Decided items whose evidence another model version changes: old against new.

    Each item is scored again from the features kept with the queue (the store's for
    queues from before features were kept). Prints the changed items; exit status 0
    whether or not any changed.
    """
    from vipredict.queue.reevaluate import ModelVersions, reevaluate_queue
    from vipredict.queue.reevaluate import mark_reviewed as mark
    from vipredict.queue.store import QueueStore
    from vipredict.store.partitioned import Store, StoreMissingError

    variants = _split(mark_reviewed)
    if variants and not curator:
        raise typer.BadParameter("--mark-reviewed needs --curator", param_hint="--curator")
    settings = configure_runtime_env()
    store = QueueStore.from_settings(settings)
    try:
        feature_store = Store.open(settings)
    except StoreMissingError:
        feature_store = None  # items without kept features are then listed as not re-scored
    with _clear_errors():
        if variants:
            rows = mark(
                store,
                queue_id,
                variants,
                curator or "",
                settings=settings,
                old_version=old_version,
                new_version=new_version,
            )
            console.print(f"{len(rows):,} items marked reviewed by {rows[0]['curator']}")
        with console.status("scoring the items again under both versions"):
            result = reevaluate_queue(
                store,
                queue_id,
                settings=settings,
                old_version=old_version,
                new_version=new_version,
                all_items=all_items,
                models=ModelVersions(settings),
                feature_store=feature_store,
            )
    pair = result.versions
    title = f"queue {queue_id}: {pair.model} v{pair.old} -> v{pair.new} ({result.scope} items)"
    Console().print(_reevaluation_table(result, title))
    counts = result.counts
    console.print(
        f"{counts['considered']:,} items compared: {counts['changed']:,} changed, "
        f"{counts['unchanged']:,} unchanged, {counts['not_rescored']:,} not re-scored; "
        f"{counts['reviewed']:,} reviewed"
    )
    if output is not None:
        result.items[result.columns()].to_csv(output, sep="\t", index=False)
        console.print(f"written {output}")
