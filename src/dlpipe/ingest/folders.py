"""Class folders as people ship them: below wrapper folders, beside stray files, or named with ``--subdir``.

A cats-vs-dogs download, as an archive, an S3 prefix or a folder::

    PetImages/Cat/0.jpg …   PetImages/Dog/1.jpg …   one folder per class (the label is the folder's name)
    PetImages/Dog/Thumbs.db, a truncated 666.jpg    skipped and counted when encoded, never fatal
    readme[1].txt, MSR-LA - 3467.docx               stray files beside the wrapper: ignored, and said so

or, without class folders, one folder of images named by class (Kaggle's dogs-vs-cats ``train.zip``)::

    train/cat.0.jpg …   train/dog.0.jpg …             the label is the name's first word

The data is looked for below wrapper folders: a folder holding no data file
and one sub-folder, itself holding folders and not named like a split, stands
for that sub-folder (its files are stray). A source split by its publisher
holds one folder per split, each with the class folders (aclImdb:
``train/{pos,neg,unsup}``, ``test/{pos,neg}``); the classes are the folders
every split has, so ``unsup`` is no class. When the guess is wrong,
``--subdir PATH`` names the folder (or file) to read.

Messages name the user's source (``pets.zip/PetImages``, ``s3://bucket/raw``),
never the cache folder the data was unpacked or downloaded to.
"""

from __future__ import annotations

import collections
import io
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dlpipe import log
from dlpipe.errors import ConfigError, DlpipeError
from dlpipe.ingest.splits import SPLIT_ALIASES
from dlpipe.records import serialize

logger = log.get("ingest")
# The formats training decodes (tf.io.decode_image: an animated GIF's first frame), by suffix and as PIL names them.
IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP", ".webp": "WEBP"}
IMAGE_SUFFIXES = set(IMAGE_FORMATS)
TEXT_SUFFIXES = {".txt"}
STRAY = "file outside the class folders"
SUBDIR_HINT = "pass --subdir PATH to name the folder that holds one folder per class"
_LISTED = 12  # folders named in a hint


def _visible(folder: Path) -> list[Path]:
    """Entries that are data: not hidden (.DS_Store), not archive tool leftovers (__MACOSX)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "_")))


def subfolders(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_dir()]


def files(folder: Path) -> list[Path]:
    """Every file below ``folder`` but hidden ones, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


@dataclass(frozen=True)
class Tree:
    """The source as local files (``path``), and what the user calls it (``shown``)."""

    path: Path
    shown: str

    def show(self, path: Path) -> str:
        """``path`` (below ``self.path``) as the user knows it: ``pets.zip/PetImages/Cat``."""
        relative = path.relative_to(self.path).as_posix()
        return self.shown if relative == "." else f"{self.shown.rstrip('/')}/{relative}"

    def folders(self) -> str:
        """The first folders of the source, two levels deep, for a hint: ``PetImages/, PetImages/Cat/, …``."""
        found = [d.relative_to(self.path) for d in [*self.path.glob("*/"), *self.path.glob("*/*/")] if d.is_dir()]
        names = sorted(d.as_posix() + "/" for d in found if not any(p.startswith((".", "_")) for p in d.parts))
        if not names:
            return "none"
        return ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")

    def select(self, subdir: str) -> Path:
        """The folder or file ``subdir`` names inside the source (``--subdir``)."""
        relative = PurePosixPath(subdir.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts:
            raise ConfigError(f"--subdir {subdir!r} is not a path inside the source", "e.g. --subdir PetImages")
        target = self.path.joinpath(*relative.parts)
        if not target.exists():
            raise DlpipeError(f"--subdir {subdir}: {self.shown} has no such folder", f"folders: {self.folders()}")
        return target

    def descend(self, is_data: Callable[[Path], bool]) -> tuple[Path, list[Path]]:
        """The folder below the wrappers, and the stray files beside them."""
        folder, stray = self.path, []
        while True:
            entries = _visible(folder)
            dirs = [e for e in entries if e.is_dir()]
            loose = [e for e in entries if e.is_file()]
            wrapper = len(dirs) == 1 and dirs[0].name.lower() not in SPLIT_ALIASES and subfolders(dirs[0])
            if not wrapper or any(map(is_data, loose)):
                return folder, stray
            stray += loose
            folder = dirs[0]


@dataclass
class ClassFolders:
    """What :func:`read` found: the items of each split, ``(file, class index)``, and the classes."""

    format: str  # images or text
    classes: list[str]
    items: dict[str | None, list[tuple[Path, int]]]
    skipped: collections.Counter[str]

    def encoder(self) -> Callable[[tuple[Path, int]], bytes | None]:
        return _encode_image(self.skipped) if self.format == "images" else _encode_text(self.skipped)


def _split_layout(root: Path) -> dict[str | None, Path] | None:
    """``{"train": root/train, "test": root/test}`` when the folder is split by the source."""
    dirs = {SPLIT_ALIASES.get(d.name.lower()): d for d in subfolders(root)}
    if None not in dirs and set(dirs) == {"train"}:
        return {None: dirs["train"]}  # a train folder alone is data not split yet: split it like any other
    if None not in dirs and dirs:
        return dirs  # every sub-folder is a split name
    return None


def _guess_format(per_split: dict[str | None, dict[str, Path]], classes: list[str]) -> str:
    sample = [f for split in per_split.values() for c in classes for f in files(split[c])[:20]]
    images = sum(f.suffix.lower() in IMAGE_SUFFIXES for f in sample)
    texts = sum(f.suffix.lower() in TEXT_SUFFIXES for f in sample)
    return "images" if images >= texts else "text"


def _ignore(tree: Tree, what: str, ignored: Sequence[Path], skipped: collections.Counter[str]) -> None:
    """Count and say what is left out, naming a few of the files (relative to the source)."""
    if ignored:
        skipped[STRAY] += len(ignored)
        names = ", ".join(f.relative_to(tree.path).as_posix() for f in ignored[:5]) + (", …" * (len(ignored) > 5))
        logger.info("ignored %d file(s) %s: %s", len(ignored), what, names)


def _classes(tree: Tree, root: Path, per_split: dict[str | None, dict[str, Path]]) -> list[str]:
    """The folders every split has (aclImdb's train/unsup is no class); at least two."""
    classes = sorted(set.intersection(*(set(c) for c in per_split.values())))
    if len(classes) < 2:
        found = f" ({', '.join(classes)})" if classes else ""
        raise DlpipeError(f"{tree.show(root)}: found {len(classes)} class folder(s){found}; need at least two, "
                          f"one per label", f"folders: {tree.folders()}; {SUBDIR_HINT}")  # fmt: skip
    logger.info("class folders in %s: %s", tree.show(root), ", ".join(classes))
    return classes


def _items(
    per_split: dict[str | None, dict[str, Path]], classes: list[str], fmt: str, skipped: collections.Counter[str]
) -> dict[str | None, list[tuple[Path, int]]]:
    """``(file, class index)`` of each file of the format's kind in the class folders; others are counted."""
    wanted = IMAGE_SUFFIXES if fmt == "images" else TEXT_SUFFIXES
    items: dict[str | None, list[tuple[Path, int]]] = {split: [] for split in per_split}
    for split, class_map in per_split.items():
        for index, name in enumerate(classes):
            for path in files(class_map[name]):
                if path.suffix.lower() in wanted:
                    items[split].append((path, index))
                else:
                    skipped[f"not {'an image' if fmt == 'images' else 'a .txt file'}"] += 1
    return items


_NAMED = re.compile(rf"([A-Za-z][A-Za-z_-]*?)[._-]\d+({'|'.join(map(re.escape, IMAGE_SUFFIXES))})", re.IGNORECASE)


def _named_images(folder: Path) -> dict[str, list[Path]]:
    """Images that carry their class in their name (Kaggle's dogs-vs-cats: ``cat.0.jpg``, ``dog.12.jpg``),
    by class: all a folder holds without sub-folders, or nothing when they do not all say one."""
    found: dict[str, list[Path]] = collections.defaultdict(list)
    for path in _visible(folder):
        match = _NAMED.fullmatch(path.name)
        if path.is_dir() or (not match and path.suffix.lower() in IMAGE_SUFFIXES):
            return {}
        if match:
            found[match[1].lower()].append(path)
    return dict(found) if len(found) >= 2 else {}


def _read_named(tree: Tree, root: Path, splits: dict[str | None, Path], stray: Sequence[Path]) -> ClassFolders:
    named = {split: _named_images(folder) for split, folder in splits.items()}
    classes = sorted(set.intersection(*(set(found) for found in named.values())))
    if len(classes) < 2:
        raise DlpipeError(f"{tree.show(root)}: the image names share {len(classes)} class(es) across the splits; "
                          "need at least two", f"folders: {tree.folders()}; {SUBDIR_HINT}")  # fmt: skip
    logger.info("classes in the file names of %s: %s", tree.show(root), ", ".join(classes))
    skipped: collections.Counter[str] = collections.Counter()
    named_files = {p for found in named.values() for paths in found.values() for p in paths}
    beside = [p for folder in splits.values() for p in _visible(folder) if p not in named_files]
    _ignore(tree, "beside the named images", [*stray, *beside], skipped)
    others = [p for found in named.values() for c in sorted(set(found) - set(classes)) for p in found[c]]
    _ignore(tree, "of a class not in every split", others, skipped)
    items = {split: [(p, i) for i, c in enumerate(classes) for p in found[c]] for split, found in named.items()}
    return ClassFolders("images", classes, items, skipped)


def read(tree: Tree, root: Path, fmt: str, stray: Sequence[Path] = ()) -> ClassFolders:
    """The class folders below ``root`` (a folder of ``tree``); ``stray``: files already found beside wrappers.
    Without class folders, images named ``<class>.<n>.jpg`` are read by those names."""
    splits = _split_layout(root) or {None: root}
    if fmt in ("auto", "images") and all(_named_images(folder) for folder in splits.values()):
        return _read_named(tree, root, splits, stray)
    per_split = {split: {d.name: d for d in subfolders(folder)} for split, folder in splits.items()}
    classes = _classes(tree, root, per_split)
    skipped: collections.Counter[str] = collections.Counter()
    beside = [entry for folder in sorted({root, *splits.values()}) for entry in _visible(folder) if entry.is_file()]
    _ignore(tree, "beside the class folders", [*stray, *beside], skipped)
    for class_map in per_split.values():
        for name in sorted(set(class_map) - set(classes)):
            _ignore(tree, "in a folder that is not a class of every split", files(class_map[name]), skipped)
    fmt = _guess_format(per_split, classes) if fmt == "auto" else fmt
    items = _items(per_split, classes, fmt, skipped)
    used = {index for entries in items.values() for _path, index in entries}
    empty = [name for index, name in enumerate(classes) if index not in used]
    if empty:
        kind = "images" if fmt == "images" else ".txt files"
        raise DlpipeError(f"{tree.show(root)}: class folder(s) {', '.join(empty)} hold no {kind}",
                          f"folders: {tree.folders()}; {SUBDIR_HINT}")  # fmt: skip
    return ClassFolders(fmt, classes, items, skipped)


def _counting(skipped: collections.Counter[str]) -> Callable[[str], None]:
    """A thread-safe ``skipped[reason] += 1``: the shard writers encode on every CPU at once."""
    lock = threading.Lock()

    def skip(reason: str) -> None:
        with lock:
            skipped[reason] += 1

    return skip


def _encode_image(skipped: collections.Counter[str]) -> Callable[[tuple[Path, int]], bytes | None]:
    """Reads and verifies one image; decoding releases the GIL, so the writers' threads run it in parallel."""
    from PIL import Image, UnidentifiedImageError

    skip = _counting(skipped)

    def encode(item: tuple[Path, int]) -> bytes | None:
        path, label = item
        data = path.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in IMAGE_FORMATS.values():
                    skip(f"{image.format} image (not {'/'.join(sorted(set(IMAGE_FORMATS.values())))})")
                    return None
                # A JPEG decodes at 1/8 scale, several times faster: every coefficient of the file is
                # still decoded, so truncated and corrupt files fail in load() all the same.
                image.draft(image.mode, (1, 1))
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            skip("corrupt image")
            return None
        return serialize({"image": (data, "string"), "label": (label, "int64")})

    return encode


def _encode_text(skipped: collections.Counter[str]) -> Callable[[tuple[Path, int]], bytes | None]:
    skip = _counting(skipped)

    def encode(item: tuple[Path, int]) -> bytes | None:
        path, label = item
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            skip("not UTF-8 text")
            return None
        return serialize({"text": (text, "string"), "label": (label, "int64")})

    return encode
