"""``dlpipe dataset list|verify|examples``: look at the datasets on the volume.

``list`` and ``verify`` need no TensorFlow (the storage image runs them);
``examples`` reads records, so it does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dlpipe.commands.flags import add_common, wait_flag
from dlpipe.errors import EXIT_OK, ConfigError, DlpipeError
from dlpipe.layout import Layout, parse_dataset_ref
from dlpipe.manifest import read_manifest, verify_shards
from dlpipe.waiting import wait_until


def register(sub: Any) -> None:
    parser = sub.add_parser("dataset", help="list datasets or verify one against its manifest")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="each dataset and its versions", description="Each dataset on the "
                                 "volume and its complete versions, one per line: NAME<tab>1,2,3.")  # fmt: skip
    add_common(listing)
    listing.set_defaults(handler=list_command)

    verify = actions.add_parser("verify", help="check a dataset version's shards against its manifest",
                                description="Check every shard of a dataset version against the example counts "
                                "and sha256 sums in its manifest.")  # fmt: skip
    verify.add_argument("ref", metavar="NAME[@VERSION]", help="the dataset (default version: the latest)")
    wait_flag(verify, "it to appear")
    add_common(verify)
    verify.set_defaults(handler=verify_command)

    examples = actions.add_parser(
        "examples",
        help="a split's first examples as a predict request",
        description="Print a split's first examples as a TF Serving predict request (for dlpipe predict --input, "
        "or curl -d @FILE), and their classes on stderr: real inputs, with the answers they should get.",
    )
    examples.add_argument("ref", metavar="NAME[@VERSION]", help="the dataset (default version: the latest)")
    examples.add_argument("--split", default="test", help="the split to take them from")
    examples.add_argument("--count", type=int, default=3, metavar="N", help="how many")
    add_common(examples)
    examples.set_defaults(handler=examples_command, tensorflow=True)


def list_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    layout = Layout.from_config(cfg)
    if not layout.root.is_dir():
        hint = "ingest one first with `dlpipe ingest --source URI`, or point --root at the volume"
        raise DlpipeError(f"{layout.root} does not exist", hint)
    names = layout.dataset_names()
    if not names:
        print(f"no datasets under {layout.root} yet: `dlpipe ingest --source URI` adds one", file=sys.stderr)
    for name in names:
        print(f"{name}\t{','.join(map(str, layout.dataset_versions(name)))}")
    return EXIT_OK


def verify_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    layout = Layout.from_config(cfg)
    name, wanted = parse_dataset_ref(args.ref)

    def published() -> bool:
        versions = layout.dataset_versions(name)
        return bool(versions) if wanted is None else wanted in versions

    wait_until(published, args.wait, f"dataset {args.ref}", cfg["progress_interval"])
    version = layout.dataset_version(name, wanted)
    directory = layout.dataset_version_dir(name, version)
    manifest = read_manifest(directory)
    verify_shards(directory, manifest)
    shards = sum(len(s["shards"]) for s in manifest["splits"].values())
    examples = sum(s["examples"] for s in manifest["splits"].values())
    print(f"{name}@{version}: ok ({examples} examples in {shards} shards, checksums match)")
    return EXIT_OK


def examples_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.records import raw_batches
    from dlpipe.serving.tensors import instances

    if args.count < 1:
        raise ConfigError(f"--count {args.count}: ask for at least one example")
    layout = Layout.from_config(cfg)
    name, wanted = parse_dataset_ref(args.ref)
    version = layout.dataset_version(name, wanted)
    directory = layout.dataset_version_dir(name, version)
    manifest = read_manifest(directory)
    features, labels = next(iter(raw_batches(directory, manifest, args.split, args.count)))
    rows = instances({feature: values.numpy() for feature, values in features.items()})
    print(json.dumps({"instances": rows}))
    classes = [manifest["label"]["classes"][label] for label in labels.numpy()]
    print(f"{name}@{version} {args.split}: the classes of these {len(rows)} examples: {', '.join(classes)}",
          file=sys.stderr)  # fmt: skip
    return EXIT_OK
