"""Small datasets on a volume, ingested once per session, for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tooling.sample_data import make_csv, make_image_folders, make_imdb, make_income_csv, make_token_npz, run_cli


@pytest.fixture(scope="session")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A volume with digits (8x8 floats), iris (CSV with a string column), pets (JPEG/PNG), imdb (text),
    income (CSV with empty cells and a string label) and tokens (token ids, int64 [20])."""
    root = tmp_path_factory.mktemp("volume")
    src = tmp_path_factory.mktemp("sources")
    sources = {
        "digits": ["sample:digits"],
        "iris": [str(make_csv(src / "iris.csv", rows=150)), "--label", "species"],
        "pets": [str(make_image_folders(src / "pets", per_class=12))],
        "imdb": [str(make_imdb(src / "imdb"))],
        "income": [str(make_income_csv(src / "income.csv")), "--label", "income"],
        "tokens": [str(make_token_npz(src / "tokens.npz"))],
    }
    for name, args in sources.items():
        assert run_cli("ingest", "--root", str(root), "--dataset", name, "--source", *args) == 0
    return root
