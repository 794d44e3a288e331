"""Configuration: precedence, coercion, validation messages, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlpipe.config import dump, load_config
from dlpipe.errors import ConfigError
from dlpipe.secrets import Secret


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dlpipe.yaml"
    path.write_text(text)
    return path


def test_defaults_come_from_the_schema() -> None:
    config = load_config(environ={})
    assert config["log_format"] == "auto"
    assert config["progress_interval"] == 30
    assert config["events"] == {"endpoints": [], "deadline": 15}
    assert config["s3"]["verify_tls"] is True


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "progress_interval: 10\nlog_format: text\nroot: /from/file\n")
    assert load_config(config_file=path, environ={})["progress_interval"] == 10
    env = {"DLPIPE_PROGRESS_INTERVAL": "20", "DLPIPE_ROOT": "/from/env"}
    config = load_config(config_file=path, environ=env)
    assert (config["progress_interval"], config["root"], config["log_format"]) == (20, "/from/env", "text")
    config = load_config({"progress_interval": 40}, config_file=path, environ=env)
    assert (config["progress_interval"], config["root"]) == (40, "/from/env")


def test_config_file_from_environment_and_nested_merge(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "s3:\n  region: eu-west-1\n  verify_tls: false\n")
    config = load_config(environ={"DLPIPE_CONFIG": str(path), "DLPIPE_S3__ENDPOINT_URL": "http://minio:9000"})
    assert config["s3"] == {
        "region": "eu-west-1",
        "verify_tls": False,
        "endpoint_url": "http://minio:9000",
        "addressing_style": "auto",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [("false", False), ("0", False), ("no", False), ("TRUE", True), ("yes", True)],
)
def test_environment_booleans(text: str, expected: bool) -> None:
    assert load_config(environ={"DLPIPE_S3__VERIFY_TLS": text})["s3"]["verify_tls"] is expected


def test_environment_lists_as_json() -> None:
    endpoints = '[{"type": "event", "endpoint": "http://hooks.local/e"}]'
    config = load_config(environ={"DLPIPE_EVENTS__ENDPOINTS": endpoints})
    assert config["events"]["endpoints"][0]["endpoint"] == "http://hooks.local/e"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DLPIPE_LOG_FORMAT": "xml"}, "log_format: 'xml' is not one of ['auto', 'text', 'json']"),
        ({"DLPIPE_PROGRESS_INTERVAL": "soon"}, "DLPIPE_PROGRESS_INTERVAL='soon' is not a number"),
        ({"DLPIPE_PROGRESS_INTERVAL": "0"}, "progress_interval: 0.0 is less than or equal to the minimum of 0"),
        ({"DLPIPE_S3__VERIFY_TLS": "maybe"}, "DLPIPE_S3__VERIFY_TLS='maybe' is not true or false"),
        ({"DLPIPE_ROOTDIR": "/x"}, "unknown environment variable DLPIPE_ROOTDIR (did you mean DLPIPE_ROOT"),
        ({"DLPIPE_RUN_ID": "My Run"}, "run_id: 'My Run' is not allowed; use 1-63 lower-case letters"),
        ({"DLPIPE_EVENTS__ENDPOINTS": "[{"}, "DLPIPE_EVENTS__ENDPOINTS='[{' is not a JSON list"),
    ],
)
def test_bad_environment_names_variable_value_and_allowed(environ: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=environ)
    assert message in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "progres_interval: 5\n",
            "unknown setting progres_interval; allowed: evaluate, events, ingest, log_format, progress_interval",
        ),
        ("s3:\n  regon: x\n", "unknown setting regon under s3; allowed: access_key_id, addressing_style"),
        ("events:\n  endpoints:\n    - {type: event, endpoint: ftp://x}\n", "events.endpoints[0].endpoint: 'ftp://x'"),
        ("events:\n  endpoints:\n    - {endpoint: http://x}\n", "events.endpoints[0]: 'type' is a required property"),
        ("events:\n  deadline: -1\n", "events.deadline: -1 is less than the minimum of 0"),
        ("- a\n- b\n", "must hold a mapping of settings, not list"),
        ("a: [1\n", "line 2 is not valid YAML"),
    ],
)
def test_bad_file_names_field_value_and_allowed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_file=_yaml(tmp_path, text), environ={})
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(config_file=tmp_path / "nope.yaml", environ={})


def test_secrets_are_refused_in_files_and_flags(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "s3:\n  secret_access_key: hunter2\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file=path, environ={})
    assert "s3.secret_access_key is a secret and must not be set in the configuration file" in str(info.value)
    assert "DLPIPE_S3__SECRET_ACCESS_KEY_FILE" in str(info.value)
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="command-line flag"):
        load_config({"s3.access_key_id": "AKIA"}, environ={})


def test_secrets_from_environment_and_files_never_print(tmp_path: Path) -> None:
    key_file = tmp_path / "secret"
    key_file.write_text("from-a-mounted-secret\n")
    environ = {
        "DLPIPE_S3__ACCESS_KEY_ID": "AKIAEXAMPLE",
        "DLPIPE_S3__SECRET_ACCESS_KEY_FILE": str(key_file),
    }
    config = load_config(environ=environ)
    assert config["s3"]["access_key_id"] == Secret("AKIAEXAMPLE")
    assert config["s3"]["secret_access_key"].reveal() == "from-a-mounted-secret"
    for shown in (dump(config), repr(config), str(config)):
        assert "AKIAEXAMPLE" not in shown and "from-a-mounted-secret" not in shown
    assert "secret_access_key: '***'" in dump(config)


def test_callback_headers_resolve_references_and_stay_redacted(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token")
    path = _yaml(
        tmp_path,
        "events:\n"
        "  endpoints:\n"
        "    - type: event\n"
        "      endpoint: https://hooks.example.com/dlpipe\n"
        "      headers:\n"
        "        Authorization: {fromEnv: HOOK_TOKEN}\n"
        "        X-Api-Key: {fromFile: " + str(token_file) + "}\n"
        "        X-Source: dlpipe\n",
    )
    config = load_config(config_file=path, environ={"HOOK_TOKEN": "Bearer env-token"})
    headers = config["events"]["endpoints"][0]["headers"]
    assert {k: v.reveal() for k, v in headers.items()} == {
        "Authorization": "Bearer env-token",
        "X-Api-Key": "file-token",
        "X-Source": "dlpipe",
    }
    assert "env-token" not in dump(config) and "file-token" not in dump(config)
    with pytest.raises(ConfigError, match=r"Authorization: environment variable HOOK_TOKEN is not set"):
        load_config(config_file=path, environ={})


def test_a_variable_a_secret_reference_names_is_not_an_unknown_setting(tmp_path: Path) -> None:
    """The README's callback example: ``{fromEnv: DLPIPE_HOOK_TOKEN}`` is a reference, not a setting."""
    endpoint = "{type: event, endpoint: https://h/e, headers: {Authorization: {fromEnv: DLPIPE_HOOK_TOKEN}}}"
    path = _yaml(tmp_path, f"events:\n  endpoints:\n    - {endpoint}\n")
    config = load_config(config_file=path, environ={"DLPIPE_HOOK_TOKEN": "Bearer t"})
    assert config["events"]["endpoints"][0]["headers"]["Authorization"].reveal() == "Bearer t"
    from_env = '[{"type": "event", "endpoint": "https://h/e", "headers": {"X": {"fromEnv": "DLPIPE_HOOK_TOKEN"}}}]'
    config = load_config(environ={"DLPIPE_EVENTS__ENDPOINTS": from_env, "DLPIPE_HOOK_TOKEN": "t2"})
    assert config["events"]["endpoints"][0]["headers"]["X"].reveal() == "t2"
    with pytest.raises(ConfigError, match="unknown environment variable DLPIPE_HOOK_TOKEN"):
        load_config(environ={"DLPIPE_HOOK_TOKEN": "Bearer t"})  # nothing refers to it: a typo, perhaps


def test_thresholds_default_to_one_policy_and_may_have_spaces(tmp_path: Path) -> None:
    evaluate = load_config(environ={})["evaluate"]
    assert (evaluate["thresholds"], evaluate["change_thresholds"]) == (["accuracy>=0.8"], ["accuracy>=-0.01"])
    env = {"DLPIPE_EVALUATE__THRESHOLDS": "accuracy >= 0.9, loss <= 0.3"}
    assert load_config(environ=env)["evaluate"]["thresholds"] == ["accuracy >= 0.9", "loss <= 0.3"]
    path = _yaml(tmp_path, "evaluate:\n  change_thresholds: ['accuracy >= -0.01']\n")
    assert load_config(config_file=path, environ={})["evaluate"]["change_thresholds"] == ["accuracy >= -0.01"]
    with pytest.raises(ConfigError) as info:
        load_config({"evaluate.thresholds": ["accuracy > 0.9"]}, environ={})
    assert str(info.value).startswith(
        "invalid configuration: evaluate.thresholds[0]: 'accuracy > 0.9' is not allowed; "
        "METRIC>=VALUE or METRIC<=VALUE (spaces allowed), METRIC one of loss, examples, accuracy"
    )
