"""Parameter tables in chart READMEs, generated from ``## @param`` comments.

values.yaml documents each value where it is set (the bitnami convention)::

    ## @section Volume
    ## @param persistence.size Capacity of the volume

``render`` turns that into Markdown tables between the README markers below;
``python -m tools.chart_readme`` (scripts/chart-docs.sh) rewrites every chart README, and the
tests fail when a README is stale or a value is undocumented.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.charts import REPO, chart_dirs

START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"
_PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")
_SECTION = re.compile(r"^\s*## @section (.+)$")


@dataclass
class Section:
    title: str
    params: list[tuple[str, str]] = field(default_factory=list)


def parse(values_file: Path) -> list[Section]:
    sections: list[Section] = []
    for line in values_file.read_text().splitlines():
        if match := _SECTION.match(line):
            sections.append(Section(match.group(1).strip()))
        elif match := _PARAM.match(line):
            if not sections:
                sections.append(Section("Parameters"))
            sections[-1].params.append((match.group(1), match.group(2).strip()))
    return sections


def lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def leaves(values: Any, prefix: str = "") -> list[str]:
    if isinstance(values, dict) and values:
        return [leaf for key, sub in values.items() for leaf in leaves(sub, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def undocumented(chart: Path) -> list[str]:
    """Values set in values.yaml that no ``## @param`` covers (itself or a parent)."""
    documented = {name for section in parse(chart / "values.yaml") for name, _ in section.params}
    values = yaml.safe_load((chart / "values.yaml").read_text())
    missing = []
    for leaf in leaves(values):
        parts = leaf.split(".")
        if not any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)):
            missing.append(leaf)
    return missing


def render(chart: Path) -> str:
    values = yaml.safe_load((chart / "values.yaml").read_text())
    out = []
    for section in parse(chart / "values.yaml"):
        out += [f"### {section.title}", "", "| Name | Description | Default |", "| --- | --- | --- |"]
        for name, description in section.params:
            try:
                default = f"`{json.dumps(lookup(values, name))}`"
            except KeyError:
                if "(required)" not in description:
                    raise
                default = "required"
            description = description.replace("|", "\\|")
            out.append(f"| `{name}` | {description} | {default} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def updated_readme(chart: Path) -> str:
    text = (chart / "README.md").read_text()
    if START not in text or END not in text:
        raise ValueError(f"{chart.name}/README.md lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render(chart)}{END}{tail}"


def main() -> int:
    for chart in chart_dirs():
        (chart / "README.md").write_text(updated_readme(chart))
        print(f"wrote {(chart / 'README.md').relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
