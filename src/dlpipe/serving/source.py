"""TF Serving's file-system source: the versions a model directory holds, and those its policy asks for.

As ``sources/storage_path/file_system_storage_path_source.cc`` does, a version
is any entry whose name parses as an integer (``absl::SimpleAtoi``: optional
sign, ASCII digits; ``007`` is version 7), whether or not it holds a
``saved_model.pb``: TF Serving does not look for markers, so neither does
serve-local, and a numbered directory that cannot load fails here as it would
in the cluster. Hidden staging directories (``.tmp-*``) are not numbers.

The policy picks the *aspired* versions: ``latest { num_versions: N }`` the N
highest (N < 1 counts as 1; no policy means latest 1), ``all`` every one,
``specific`` those listed that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from dlpipe.serving.modelconfig import VersionPolicy

_NUMBER = re.compile(r"\s*([+-]?[0-9]+)\s*")
_INT64 = range(-(2**63), 2**63)


def _version(name: str) -> int | None:
    match = _NUMBER.fullmatch(name)
    if match is None or int(match.group(1)) not in _INT64:
        return None
    return int(match.group(1))


def numbered_children(base: Path) -> dict[int, Path] | None:
    """Version -> entry; None when the base path is missing (TF Serving then leaves the model as it is)."""
    try:
        names = sorted(entry.name for entry in base.iterdir())
    except FileNotFoundError:
        return None
    found: dict[int, Path] = {}
    for name in names:  # of "1" and "01", the later name wins, as in IndexChildrenByVersion
        version = _version(name)
        if version is not None:
            found[version] = base / name
    return found


def aspired(policy: VersionPolicy, versions: dict[int, Path]) -> set[int]:
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return set(versions)
    if choice == "specific":
        return set(policy.specific.versions) & set(versions)
    count = max(policy.latest.num_versions, 1)
    return set(sorted(versions)[-count:])
