import pandas as pd
import pytest

from vipredict.variants import (
    VariantError,
    key_column,
    make_variant,
    normalise_build,
    normalise_chrom,
    parse_variant_key,
    split_keys,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("chr1", "1"),
        ("1", "1"),
        ("CHRX", "X"),
        ("chrM", "MT"),
        ("MT", "MT"),
        ("M", "MT"),
        (22, "22"),
    ],
)
def test_chromosome_names_are_normalised(raw, expected):
    assert normalise_chrom(raw) == expected


@pytest.mark.parametrize("raw", ["chrUn_gl000220", "GL000192.1", "25", "chr1_random", ""])
def test_non_primary_contigs_are_unknown(raw):
    with pytest.raises(VariantError) as error:
        normalise_chrom(raw)
    assert error.value.reason == "unknown_contig"


@pytest.mark.parametrize(
    ("raw", "expected"), [("hg19", "GRCh37"), ("GRCh38", "GRCh38"), ("b37", "GRCh37")]
)
def test_build_aliases(raw, expected):
    assert normalise_build(raw) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("GRCh37:1:12:A", "malformed_record"),
        ("GRCh37:1:abc:A:G", "malformed_record"),
        ("GRCh37:1:0:A:G", "malformed_record"),
        ("GRCh37:chrUn:5:A:G", "unknown_contig"),
        ("hg17:1:5:A:G", "unknown_build"),
        ("GRCh37:1:5:A:G,T", "multi_allelic"),
        ("GRCh37:1:5:A:A", "malformed_record"),
        ("GRCh37:1:5:A:<DEL>", "malformed_record"),
    ],
)
def test_bad_keys_raise_named_reasons(text, reason):
    with pytest.raises(VariantError) as error:
        parse_variant_key(text)
    assert error.value.reason == reason


def test_key_spelling_is_canonical_whatever_the_input():
    a = make_variant("hg19", "chr7", "140453136", "a", "t")
    b = parse_variant_key("GRCh37-7-140453136-A-T")
    assert a == b
    assert a.key == "GRCh37:7:140453136:A:T"
    assert a.is_snv and not make_variant("GRCh37", 1, 5, "AT", "A").is_snv


def test_vectorised_keys_mask_odd_contigs_and_round_trip():
    frame = pd.DataFrame(
        {
            "chrom": ["chr1", "MT", "GL000192.1"],
            "pos": [5, 7, 9],
            "ref": ["a", "C", "G"],
            "alt": ["G", "t", "A"],
        }
    )
    keys = key_column("hg38", frame["chrom"], frame["pos"], frame["ref"], frame["alt"])
    assert keys.iloc[0] == "GRCh38:1:5:A:G"
    assert keys.iloc[1] == "GRCh38:MT:7:C:T"
    assert pd.isna(keys.iloc[2])
    parts = split_keys(keys.dropna())
    assert parts["pos"].tolist() == [5, 7]
