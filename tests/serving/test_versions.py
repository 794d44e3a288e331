"""serve-local serves the versions and labels TF Serving would, from the same ModelServerConfig or equivalent flags.

Expected sets follow ``sources/storage_path/file_system_storage_path_source.cc``
(which directories are versions, which the policy aspires to),
``core/availability_preserving_policy.cc`` (what is loaded and unloaded) and
``model_servers/server_core.cc`` (labels, config checks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorflow_serving.apis import model_pb2

from dlpipe.errors import ConfigError
from dlpipe.layout import Layout
from dlpipe.serving import local, modelconfig, source
from dlpipe.serving.core import ServingCore
from dlpipe.serving.repository import Retries, State
from dlpipe.serving.status import ServingError
from tests.serving.conftest import place
from tests.tooling import charts, tf_serving

VERSIONS = {1: Path("1"), 2: Path("2"), 3: Path("3")}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (None, {3}),  # no policy: latest 1
        ("latest", {3}),
        ("latest:2", {2, 3}),
        ("latest:0", {3}),  # num_versions below 1 counts as 1
        ("latest:9", {1, 2, 3}),
        ("all", {1, 2, 3}),
        ("specific:1,3,7", {1, 3}),  # 7 is not on disk
    ],
)
def test_policies_aspire_to_what_tf_serving_aspires_to(policy: str | None, expected: set[int]) -> None:
    parsed = modelconfig.parse_policy(policy) if policy else modelconfig.VersionPolicy()
    assert source.aspired(parsed, VERSIONS) == expected


def test_versions_are_entries_whose_names_parse_as_integers(tmp_path: Path) -> None:
    """absl::SimpleAtoi: a sign and leading zeros are fine; no marker file is needed (TF Serving looks for none)."""
    for name in ("3", "007", "+5", "x", ".tmp-4", "12a", "99999999999999999999"):
        (tmp_path / name).mkdir()
    (tmp_path / "8").write_text("a file, still a version to TF Serving")
    found = source.numbered_children(tmp_path)
    assert found == {3: tmp_path / "3", 7: tmp_path / "007", 5: tmp_path / "+5", 8: tmp_path / "8"}
    (tmp_path / "03").mkdir()
    assert source.numbered_children(tmp_path)[3] == tmp_path / "3", "of 03 and 3, the later name wins"
    assert source.numbered_children(tmp_path / "missing") is None


@pytest.mark.parametrize("text", ["newest", "latest:x", "latest:-1", "all:2", "specific", "specific:a"])
def test_bad_policies_are_refused_naming_the_syntax(text: str) -> None:
    with pytest.raises(ConfigError, match="is not one of latest, latest:N, all or specific"):
        modelconfig.parse_policy(text)


def test_flags_build_the_config_the_chart_would_render() -> None:
    config = modelconfig.config_from_flags("digits", "specific:2", ["stable=2"])
    text = tf_serving.parse_model_config(str(config)).model_config_list.config[0]
    assert (text.name, text.model_platform, list(text.model_version_policy.specific.versions)) == (
        "digits",
        "tensorflow",
        [2],
    )
    assert dict(text.version_labels) == {"stable": 2}
    with pytest.raises(ConfigError, match="is not LABEL=VERSION"):
        modelconfig.config_from_flags("digits", None, ["stable"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { name: 'a' base_path: '/m/models/a' model_platform: 'tensorflow' } "
         "config { name: 'a' base_path: '/m/models/a' model_platform: 'tensorflow' } }",
         "Illegal to list model a multiple times in config list"),
        ("model_config_list { config { name: 'a' base_path: 'models/a' model_platform: 'tensorflow' } }",
         "Expected model a to have an absolute path or URI"),
        ("model_config_list { config { name: 'a' base_path: '/m/models/a' } }", "requests unsupported platform"),
        ("model_config_list { config { nme: 'a' } }", "is not a ModelServerConfig text proto"),
        ("", "has no model_config_list"),
    ],
)  # fmt: skip
def test_configs_tf_serving_refuses_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        modelconfig.read_config(path)


def test_a_base_path_names_the_model_on_the_volume(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    config = modelconfig.ModelConfig(name="x", base_path="/data/models/digits", model_platform="tensorflow")
    assert modelconfig.model_dir(layout, config) == layout.model_dir("digits")
    with pytest.raises(ConfigError, match="is not a model on the volume"):
        modelconfig.model_dir(layout, modelconfig.ModelConfig(name="x", base_path="/data/runs/digits"))


def test_labels_at_start_up_are_refused_as_tf_serving_refuses_them(tmp_path: Path) -> None:
    """server_core.cc, UpdateModelVersionLabelMap: labels are assigned before any version has loaded."""
    config = modelconfig.config_from_flags("toy", None, ["stable=1"])
    with pytest.raises(ConfigError, match="Request to assign label to version 1 of model toy, which is not currently"):
        ServingCore.from_config(Layout(tmp_path), config, Retries(), allow_labels_for_unavailable_models=False)


def _serve(layout: Layout, policy: str | None, labels: tuple[str, ...] = ()) -> ServingCore:
    config = modelconfig.config_from_flags("toy", policy, list(labels))
    core = ServingCore.from_config(layout, config, Retries(), allow_labels_for_unavailable_models=True)
    core.refresh()
    return core


def _spec(**fields: object) -> model_pb2.ModelSpec:
    version = fields.pop("version", None)
    spec = model_pb2.ModelSpec(name="toy", **fields)
    if version is not None:
        spec.version.value = version
    return spec


@pytest.fixture
def volume(tmp_path: Path, toy_builds: dict[int, Path]) -> Layout:
    layout = Layout(tmp_path)
    for version, build in toy_builds.items():
        place(build, layout.model_dir("toy"), version)
    return layout


@pytest.mark.parametrize(
    ("policy", "available"),
    [(None, [3]), ("latest:2", [2, 3]), ("all", [1, 2, 3]), ("specific:1", [1]), ("specific:1,3", [1, 3])],
)
def test_the_policy_decides_what_is_served(volume: Layout, policy: str | None, available: list[int]) -> None:
    core = _serve(volume, policy)
    repository = core.repositories["toy"]
    assert repository.versions() == available
    assert [entry.version for entry in repository.status()] == sorted(available, reverse=True)
    assert core.servable(_spec()).version == max(available), "no version asked: the newest available"
    for version in {1, 2, 3} - set(available):
        with pytest.raises(ServingError, match=rf"Servable not found for request: Specific\(toy, {version}\)"):
            core.servable(_spec(version=version))


def test_a_new_version_replaces_the_oldest_once_it_is_available(volume: Layout, toy_builds: dict[int, Path]) -> None:
    core = _serve(volume, "latest:2")
    place(toy_builds[1], volume.model_dir("toy"), 4)
    core.refresh()
    repository = core.repositories["toy"]
    assert repository.versions() == [3, 4]
    states = {entry.version: (State.Name(entry.state), entry.status.error_code) for entry in repository.status()}
    assert states == {4: ("AVAILABLE", 0), 3: ("AVAILABLE", 0), 2: ("END", 0)}, "an unloaded version: END, OK"


def test_labels_name_versions_and_only_configured_labels_exist(volume: Layout) -> None:
    core = _serve(volume, "all", ("stable=1", "canary=2", "gone=9"))
    assert core.servable(_spec(version_label="stable")).version == 1
    assert core.servable(_spec(version_label="canary")).version == 2
    with pytest.raises(ServingError, match="Unrecognized servable version label: latest"):
        core.servable(_spec(version_label="latest"))
    with pytest.raises(ServingError, match=r"Servable not found for request: Specific\(toy, 9\)"):
        core.servable(_spec(version_label="gone"))


@pytest.mark.parametrize(
    ("config", "served", "label"), [("models.config", 1, "stable"), ("canary.models.config", 2, "canary")]
)
def test_the_serving_charts_config_serves_what_tf_serving_would(
    tmp_path: Path, toy_builds: dict[int, Path], config: str, served: int, label: str
) -> None:
    """The chart's pinned-canary case, rendered by helm: each config serves its pinned version under its label."""
    binary = charts.helm_binary(3) or charts.helm_binary(4)
    assert binary, "no helm: run scripts/setup.sh"
    chart = charts.CHARTS / "dlpipe-serving"
    docs = charts.template(binary, charts.ValuesCase(chart, chart / "ci" / "pinned-canary-values.yaml"))
    rendered = next(d for d in docs if d["kind"] == "ConfigMap" and config in d.get("data", {}))["data"][config]
    (tmp_path / config).write_text(rendered)
    layout = Layout(tmp_path / "volume")
    for version, build in toy_builds.items():
        place(build, layout.model_dir("digits"), version)
    core = ServingCore.from_config(layout, modelconfig.read_config(tmp_path / config), Retries(), True)
    core.refresh()
    assert core.repositories["digits"].versions() == [served]
    assert core.repositories["digits"].labels == {label: served}
    spec = model_pb2.ModelSpec(name="digits", version_label=label)
    assert core.servable(spec).version == served


def test_a_config_with_two_models_serves_each_by_its_policy(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    layout = Layout(tmp_path / "volume")
    for name in ("toy", "other"):
        for version, build in toy_builds.items():
            place(build, layout.model_dir(name), version)
    config = tmp_path / "models.config"
    config.write_text(
        'model_config_list { config { name: "toy" base_path: "/data/models/toy" model_platform: "tensorflow" } '
        'config { name: "other" base_path: "/data/models/other" model_platform: "tensorflow" '
        "model_version_policy { specific { versions: 1 versions: 2 } } } }"
    )
    core = ServingCore.from_config(layout, modelconfig.read_config(config), Retries(), False)
    core.refresh()
    assert {name: r.versions() for name, r in core.repositories.items()} == {"toy": [3], "other": [1, 2]}


def test_serve_local_flags(tmp_path: Path, toy_builds: dict[int, Path]) -> None:
    """What `dlpipe serve-local` does with its flags: the same config as the file would give."""
    layout = Layout(tmp_path)
    for version, build in toy_builds.items():
        place(build, layout.model_dir("toy"), version)
    flags = {"model_name": "toy", "model_config_file": None, "version_policy": "latest:2",
             "version_labels": ["stable=2"], "allow_labels_for_unavailable_models": True, "port": 0,
             "grpc_port": None, "poll": 3600.0, "max_load_retries": None, "load_retry_interval": None,
             "grpc_max_message_bytes": None}  # fmt: skip
    server = local.serve(layout, **flags)
    try:
        assert server.repository.versions() == [2, 3] and server.repository.labels == {"stable": 2}
        assert server.repository.retries == Retries()
    finally:
        server.stop()
    with pytest.raises(ConfigError, match="with a model config file, the version policy and labels come from the file"):
        local.serve(layout, **{**flags, "model_config_file": tmp_path / "models.config"})
