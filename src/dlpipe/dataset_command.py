"""``dlpipe dataset list|verify``: look at the datasets on the volume (no TensorFlow needed)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlpipe.errors import EXIT_OK, DlpipeError
from dlpipe.layout import parse_dataset_ref
from dlpipe.manifest import read_manifest, verify_shards
from dlpipe.waiting import wait_until


def register(sub: Any, add_common: Callable[[argparse.ArgumentParser], None], config_flag: Callable[..., None]) -> None:
    parser = sub.add_parser("dataset", help="list datasets or verify one against its manifest")
    parser.add_argument("action", choices=["list", "verify"])
    parser.add_argument(
        "ref", nargs="?", metavar="NAME[@VERSION]", help="verify: the dataset (default: latest version)"
    )
    parser.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="verify: wait this long for the dataset to appear"
    )
    add_common(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.cli import layout_of

    layout = layout_of(cfg)
    if args.action == "list":
        base = layout.root / "datasets"
        for entry in sorted(base.iterdir() if base.is_dir() else []):
            versions = layout.dataset_versions(entry.name)
            if versions:
                print(f"{entry.name}\t{','.join(map(str, versions))}")
        return EXIT_OK
    if not args.ref:
        raise DlpipeError("dataset verify needs NAME[@VERSION]")
    name, wanted = parse_dataset_ref(args.ref)

    def published() -> bool:
        versions = layout.dataset_versions(name)
        return bool(versions) if wanted is None else wanted in versions

    wait_until(published, args.wait)
    version = layout.dataset_version(name, wanted)
    directory = layout.dataset_version_dir(name, version)
    manifest = read_manifest(directory)
    verify_shards(directory, manifest)
    shards = sum(len(s["shards"]) for s in manifest["splits"].values())
    examples = sum(s["examples"] for s in manifest["splits"].values())
    print(f"{name}@{version}: ok ({examples} examples in {shards} shards, checksums match)")
    return EXIT_OK
