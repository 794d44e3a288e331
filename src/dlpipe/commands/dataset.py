"""``dlpipe dataset list|verify``: look at the datasets on the volume (no TensorFlow needed)."""

from __future__ import annotations

import argparse
from typing import Any

from dlpipe.commands.flags import add_common
from dlpipe.errors import EXIT_OK, ConfigError
from dlpipe.layout import Layout, parse_dataset_ref
from dlpipe.manifest import read_manifest, verify_shards
from dlpipe.waiting import wait_until


def register(sub: Any) -> None:
    parser = sub.add_parser("dataset", help="list datasets or verify one against its manifest")
    parser.add_argument("action", choices=["list", "verify"])
    parser.add_argument(
        "ref", nargs="?", metavar="NAME[@VERSION]", help="verify: the dataset (default: latest version)"
    )
    parser.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="verify: wait this long for the dataset to appear"
    )
    add_common(parser)
    parser.set_defaults(handler=dataset_command)


def dataset_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    layout = Layout.from_config(cfg)
    if args.action == "list":
        for name in layout.dataset_names():
            print(f"{name}\t{','.join(map(str, layout.dataset_versions(name)))}")
        return EXIT_OK
    if not args.ref:
        raise ConfigError("dataset verify needs NAME[@VERSION]")
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
