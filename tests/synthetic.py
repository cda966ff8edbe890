"""A tiny vipredict home built in seconds from SYNTHETIC rows, for the fast logic tests.

Nothing in it is real: the variants are made-up GRCh37 SNVs, the per-tool scores
and the labels are drawn at random (labels correlated with the scores so the
models learn something), and the population frequencies are invented. The rows
still go through the real pieces: the feature builders, the store writer,
LightGBM training (a few trees), the ClinGen calibration (tens of bootstraps) and
MLflow registration of both roles. No figure is ever reported from this home; it
only lets the service, queue, predict and annotate logic be tested in seconds.
The real-data home (``trained_home``) backs the end-to-end tests and the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vipredict.config import Settings
from vipredict.features.aachange import AMINO_ACIDS
from vipredict.features.sets import load_feature_set
from vipredict.jobs.train import log_trained_model
from vipredict.model.training import TrainingConfig, train_feature_set
from vipredict.schema import conform_annotations
from vipredict.store.build import features_of, write_store
from vipredict.variants import key_column

DATASET = "synthetic"
#: Genes of the synthetic rows: two on the ACMG SF list (queue boosts), the rest made up.
GENES = ("BRCA1", "TP53", *(f"SYN{i}" for i in range(1, 21)))
#: Genes the invented gnomAD export "covers" (absent there means not observed).
COVERED = frozenset(("BRCA1", "TP53", "SYN1", "SYN2", "SYN3"))
FREQUENCY_DATASET = "gnomad_2017_browser"
GROUPS = ("afr", "amr", "asj", "eas", "fin", "nfe", "sas", "oth")
CONFIG = TrainingConfig(
    train_dataset=DATASET,
    test_dataset=f"{DATASET}_none",
    feature_sets=("noaf", "af"),
    cv_folds=2,
    seed=7,
    n_bootstrap=20,
    lightgbm={
        "objective": "binary",
        "n_estimators": 25,
        "learning_rate": 0.2,
        "num_leaves": 7,
        "min_child_samples": 10,
        "n_jobs": 1,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    },
)


def _tool(rng: np.random.Generator, signal: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """A tool score in ``[lo, hi]`` that rises with ``signal`` (plus noise)."""
    raw = 1 / (1 + np.exp(-(signal + rng.normal(0, 1.0, signal.size))))
    return np.round(lo + (hi - lo) * raw, 3)


def synthetic_annotations(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """``n`` labelled SYNTHETIC variants in the canonical annotation schema.

    About 5% carry no conservation or functional score (``no_features``), 5% only
    two tools (``insufficient_annotation``), and each tool is missing in 10% of
    the others, so every scoring branch is exercised.
    """
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    signal = np.where(label == 1, 0.6, -0.6)
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, n)
    alt = (ref + rng.integers(1, 4, n)) % 4
    chrom = np.where(np.arange(n) < n // 2, "1", "2")
    pos = 1_000_000 + 97 * np.arange(n)
    amino = np.array(list(AMINO_ACIDS))
    aa_ref = rng.integers(0, 20, n)
    aa_alt = (aa_ref + rng.integers(1, 20, n)) % 20
    frame = pd.DataFrame(
        {
            "build": "GRCh37",
            "chrom": chrom,
            "pos": pos,
            "ref": bases[ref],
            "alt": bases[alt],
            "gene": rng.choice(GENES, n),
            "aa_ref": amino[aa_ref],
            "aa_pos": rng.integers(1, 2000, n),
            "aa_alt": amino[aa_alt],
            "gerp_rs": np.round(rng.normal(2 * signal + 1, 2.0), 2),
            "phylop100way": np.round(rng.normal(signal + 1, 2.0), 3),
            "sift_score": 1 - _tool(rng, signal, 0, 1),
            "polyphen2_score": _tool(rng, signal, 0, 1),
            "fathmm_score": -_tool(rng, signal, -3, 5),
            "vest4_score": _tool(rng, signal, 0, 1),
            "mutpred2_score": _tool(rng, signal, 0, 1),
            "ea_score": _tool(rng, signal, 0, 1),
            "primateai_score": _tool(rng, signal, 0, 1),
            "mpc_score": _tool(rng, signal, 0, 3),
            "cadd_phred": _tool(rng, signal, 0, 40),
            "label": label,
            "dataset": DATASET,
        }
    )
    tools = [
        "sift_score", "polyphen2_score", "fathmm_score", "vest4_score", "mutpred2_score",
        "ea_score", "primateai_score", "mpc_score", "cadd_phred",
    ]  # fmt: skip
    scored = ["gerp_rs", "phylop100way", *tools]
    mask = rng.random((n, len(tools))) < 0.10
    frame[tools] = frame[tools].mask(mask)
    blank = rng.random(n) < 0.05
    frame.loc[blank, scored] = np.nan
    thin = ~blank & (rng.random(n) < 0.05)
    frame.loc[thin, tools[2:]] = np.nan
    locus = frame[["chrom", "pos", "ref", "alt"]]
    frame["variant"] = key_column("GRCh37", *(locus[c] for c in locus.columns))
    return conform_annotations(frame)


def synthetic_frequencies(annotations: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """An INVENTED gnomAD-style long table for the variants of the covered genes.

    A third of them are not observed (no row, gene covered), a tenth are common
    (AF around 8%, so BA1 is met), the rest rare.
    """
    rng = np.random.default_rng(seed)
    covered = annotations[annotations["gene"].isin(COVERED)]
    rows = []
    for key in covered["variant"].astype(str):
        draw = rng.random()
        if draw < 1 / 3:
            continue
        common = draw > 0.9
        for group in GROUPS:
            an = int(rng.integers(8_000, 20_000))
            af = rng.uniform(0.06, 0.1) if common else rng.uniform(0, 0.0005)
            rows.append((key, group, round(af * an), an))
    long = pd.DataFrame(rows, columns=["variant", "group", "ac", "an"])
    long["dataset"] = FREQUENCY_DATASET
    long["hom"] = 0
    long["source"] = "synthetic"
    long["source_version"] = "synthetic"
    return long.astype({"ac": "Int64", "an": "Int64", "hom": "Int64"})


@dataclass(frozen=True)
class TinyHome:
    """The settings of the tiny home and the synthetic inputs it was built from."""

    settings: Settings
    annotations: pd.DataFrame
    frequencies: tuple[pd.DataFrame, dict[str, set[str]]]


def build_tiny_home(settings: Settings, reuse: bool = False) -> TinyHome:
    """Store, both models and their MLflow registration, from synthetic rows, in seconds.

    ``reuse``: the home was built before (same seeds): only the inputs are remade.
    """
    annotations = synthetic_annotations()
    frequencies = (synthetic_frequencies(annotations), {FREQUENCY_DATASET: set(COVERED)})
    if reuse:
        return TinyHome(settings, annotations, frequencies)
    table = features_of(annotations, frequencies)
    write_store(table, settings)
    for name in CONFIG.feature_sets:
        trained = train_feature_set(table, load_feature_set(name), CONFIG)
        log_trained_model(trained, table, CONFIG, settings)
    return TinyHome(settings, annotations, frequencies)
