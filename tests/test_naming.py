"""The dataset name a source suggests (``dlpipe run``/``ingest`` without ``--dataset``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlpipe.commands.naming import dataset_name
from dlpipe.errors import ConfigError


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("sample:digits", "digits"),
        ("~/Downloads/Adult Income.csv", "adult-income"),
        ("data/aclImdb_v1.tar.gz", "aclimdb_v1"),
        ("kagglecatsanddogs_5340.zip", "kagglecatsanddogs_5340"),
        ("s3://bucket/raw/pets/", "pets"),
        ("s3://bucket/raw/tokens.npz", "tokens"),
        ("https://example.com/files/Income.parquet?download=1", "income"),
        ("/srv/data/PetImages", "petimages"),
        ("./x" + "y" * 80 + ".csv", "x" + "y" * 62),
    ],
)
def test_names_from_sources(source: str, name: str) -> None:
    assert dataset_name(source) == name


def test_a_folder_given_as_dot_is_named_after_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Reviews").mkdir()
    monkeypatch.chdir(tmp_path / "Reviews")
    assert dataset_name(".") == "reviews"


def test_no_usable_name_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        dataset_name("https://example.com/___.csv")
    assert (
        str(info.value)
        == "cannot tell a dataset name from the source 'https://example.com/___.csv' (pass --dataset NAME)"
    )
