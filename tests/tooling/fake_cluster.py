"""Stand-ins for ``helm`` and ``kubectl`` that follow documented commands without a cluster.

The doc-following test puts them on PATH (as ``helm``, ``kubectl`` and the cloud tools the docs
call) and runs the docs' shell blocks as written. They keep a cluster's state in one JSON file
(``DOCS_CLUSTER``): namespaces, Secrets and releases with what each rendered. So:

- ``helm install|upgrade`` render with the real helm (``install --dry-run=client``: manifests
  and NOTES, as the user would see them); ``--reset-then-reuse-values`` (or ``--reuse-values``)
  replays the release's earlier values first, as helm does. A release name already in use, a namespace nobody created, a
  claim, Secret, dataset, run or model that no earlier step provides fail, naming it.
- ``helm test`` needs the release and a ``--timeout`` longer than its test pods wait.
- ``kubectl`` checks that every object it names (``job/…``, ``service/…``, a ``--selector``)
  is one the namespace's releases rendered.
- ``helm repo add`` points the repository at the test's server of the packaged charts;
  ``helm dependency|package|repo index|template`` run the real helm.

Every refusal is one line on stderr and exit code 1, so a doc block run with ``set -e`` stops
at the command that would fail on a cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

VALUE_FLAGS = ("--set", "--set-string", "--set-file", "--set-json", "-f", "--values")
REUSE_FLAGS = ("--reuse-values", "--reset-then-reuse-values")  # replayed on the chart as it is now: the same here
DROPPED_FLAGS = ("--wait", "--atomic", "--rollback-on-failure", "--install", *REUSE_FLAGS, "--create-namespace")
HELM_TEST_DEFAULT_S = 300


class Refused(Exception):
    """What a cluster (or helm) would answer: the command fails."""


def _state_path() -> Path:
    return Path(os.environ["DOCS_CLUSTER"])


def empty() -> dict[str, Any]:
    """A new cluster: the default namespace, nothing installed."""
    return {"namespaces": ["default"], "secrets": [], "releases": {}, "made": [], "exported": [], "renders": []}


def load() -> dict[str, Any]:
    return json.loads(_state_path().read_text())


def save(state: dict[str, Any]) -> None:
    _state_path().write_text(json.dumps(state))


def _option(args: list[str], *names: str, default: str | None = None) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return default


def _positionals(args: list[str], with_value: tuple[str, ...]) -> list[str]:
    """Arguments that are not flags nor a flag's value (``--flag value``)."""
    found, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in with_value
        else:
            found.append(arg)
    return found


def _value_args(args: list[str]) -> list[str]:
    """The ``--set``/``-f`` arguments, in order, as helm applies them."""
    kept = []
    for i, arg in enumerate(args):
        if arg in VALUE_FLAGS and i + 1 < len(args):
            kept += [arg, args[i + 1]]
        elif arg.split("=", 1)[0] in VALUE_FLAGS and "=" in arg:
            kept.append(arg)
    return kept


def _duration_s(text: str) -> float:
    """A Go duration (``35m``, ``1h30m``, ``90s``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Refused(f"invalid duration {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


# -- helm --------------------------------------------------------------------------------------

HELM_WITH_VALUE = (*VALUE_FLAGS, "--namespace", "-n", "--timeout", "--version", "--kube-context")


def helm(args: list[str]) -> None:
    real = os.environ["DOCS_REAL_HELM"]
    verb = args[0] if args else ""
    if verb in ("dependency", "package", "template", "lint", "version", "show", "pull") or args[:2] == [
        "repo",
        "index",
    ]:
        os.execv(real, [real, *args])
    if args[:2] == ["repo", "add"]:
        name = args[2]
        server = os.environ["DOCS_CHART_SERVER"]
        result = subprocess.run([real, "repo", "add", name, server, "--force-update"], capture_output=True, text=True)
        if result.returncode != 0:
            raise Refused(f"helm repo add {name} {args[3]}: {result.stderr.strip()}")
        return
    if args[:2] == ["repo", "update"]:
        return
    state = load()
    namespace = _option(args, "--namespace", "-n", default="default")
    if verb in ("install", "upgrade"):
        _install(state, args, namespace, real)
    elif verb == "test":
        _test(state, _positionals(args[1:], HELM_WITH_VALUE)[0], namespace, args)
    elif verb in ("history", "rollback", "status", "uninstall", "get"):
        _release(state, _positionals(args[1:], HELM_WITH_VALUE)[-1 if verb == "get" else 0], namespace)
    else:
        raise Refused(f"helm {verb}: not followed by the doc test (add it to tests/tooling/fake_cluster.py)")
    save(state)
    if verb in ("install", "upgrade"):  # the cluster as this release's NOTES see it
        Path(state["renders"][-1]["snapshot"]).write_text(json.dumps(state))


def _release(state: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    key = f"{namespace}/{name}"
    if key not in state["releases"]:
        raise Refused(f"release {name!r} not found in namespace {namespace}")
    return state["releases"][key]


def _install(state: dict[str, Any], args: list[str], namespace: str, real: str) -> None:
    verb = args[0]
    release, chart = _positionals(args[1:], HELM_WITH_VALUE)[:2]
    key = f"{namespace}/{release}"
    if namespace not in state["namespaces"]:
        raise Refused(f"helm {verb} {release}: namespace {namespace} not found (create it first)")
    exists = key in state["releases"]
    if verb == "install" and exists:
        raise Refused(f"helm install {release}: cannot re-use a name that is still in use")
    if verb == "upgrade" and not exists and "--install" not in args:
        raise Refused(f'helm upgrade {release}: "{release}" has no deployed releases')
    values = _value_args(args)
    if verb == "upgrade" and exists and set(REUSE_FLAGS) & set(args):
        values = state["releases"][key]["values"] + values
    if "--timeout" in args:
        _duration_s(_option(args, "--timeout") or "")
    # helm 4 renders the NOTES without a cluster (install --dry-run=client); helm 3 asks a cluster
    # for them, so with helm 3 the manifests come from helm template and there are no NOTES.
    how = ["template"] if os.environ.get("DOCS_HELM_MAJOR") == "3" else ["install", "--dry-run=client"]
    command = [real, *how, release, chart, "--namespace", namespace, *values]
    returncode, stdout, stderr = _render(command)
    if returncode != 0:
        raise Refused(f"helm {verb} {release} {chart}: {stderr.strip()}")
    manifests, _, notes = stdout.partition("\nNOTES:\n")
    if how[0] == "install":  # a release's summary, then HOOKS: and MANIFEST: each before its documents
        manifests = re.split(r"\n(?:HOOKS|MANIFEST):\n", manifests, maxsplit=1)[-1].replace("\nMANIFEST:\n", "\n")
    import yaml  # here: kubectl and helm test need no YAML parser, and start faster without it

    docs = [d for d in yaml.safe_load_all(manifests) if isinstance(d, dict) and "kind" in d]
    chart_name = re.sub(r"-\d+\.\d+\.\d+.*\.tgz$", "", Path(chart).name.rstrip("/"))  # dlpipe/x, charts/x, x-0.1.0.tgz
    previous = state["releases"].get(key, {})
    entry = {"chart": chart_name, "ref": chart, "values": values, "docs": docs, "notes": notes,
             "revision": previous.get("revision", 0) + 1}  # fmt: skip
    _check_names(state, namespace, entry)
    state["releases"][key] = entry
    # A name no other render takes, also after the follower rewinds the state for an alternative.
    handle, snapshot = tempfile.mkstemp(prefix=f"{_state_path().name}.render-", dir=_state_path().parent)
    os.close(handle)
    state["renders"].append({"release": key, "chart": chart_name, "command": ["helm", *args], "notes": notes,
                             "snapshot": snapshot})  # fmt: skip


def _render(command: list[str]) -> tuple[int, str, str]:
    """Run helm, or answer from ``DOCS_RENDER_CACHE``: the same command on the same files renders the
    same (every follower of a session has the same charts); the key holds the values files' text."""
    key = hashlib.sha256(json.dumps(command).encode())
    for i, arg in enumerate(command[:-1]):
        if arg in ("-f", "--values") and Path(command[i + 1]).is_file():
            key.update(Path(command[i + 1]).read_bytes())
    cached = Path(os.environ["DOCS_RENDER_CACHE"]) / key.hexdigest()
    if cached.exists():
        return tuple(json.loads(cached.read_text()))  # type: ignore[return-value]
    result = subprocess.run(command, capture_output=True, text=True)
    cached.write_text(json.dumps([result.returncode, result.stdout, result.stderr]))
    return result.returncode, result.stdout, result.stderr


def _pods(docs: list[dict[str, Any]], hooks: bool = False) -> list[dict[str, Any]]:
    """Pod specs of workloads (and of hook pods with ``hooks``), wherever the kind keeps them (a
    Job's template, a CronJob's job template, a JobSet's or a training runtime's replicated jobs)."""
    specs: list[dict[str, Any]] = []
    for doc in docs:
        if ("helm.sh/hook" in (doc["metadata"].get("annotations") or {})) == hooks:
            _find_pod_specs(doc.get("spec", {}), specs)
    return specs


def _pod_templates(node: Any) -> list[dict[str, Any]]:
    """Every pod template (``{metadata, spec: {containers}}``) below ``node``."""
    if isinstance(node, list):
        return [t for value in node for t in _pod_templates(value)]
    if not isinstance(node, dict):
        return []
    if isinstance(node.get("spec"), dict) and isinstance(node["spec"].get("containers"), list):
        return [node]
    return [t for value in node.values() for t in _pod_templates(value)]


def _find_pod_specs(node: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            found.append(node)
            return
        for value in node.values():
            _find_pod_specs(value, found)
    elif isinstance(node, list):
        for value in node:
            _find_pod_specs(value, found)


def _config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The dlpipe configuration file a stage release renders (its ConfigMap's config.yaml)."""
    import yaml

    for doc in docs:
        if doc["kind"] == "ConfigMap" and "config.yaml" in doc.get("data", {}):
            return yaml.safe_load(doc["data"]["config.yaml"]) or {}
    return {}


def provided(state: dict[str, Any], namespace: str, kind: str) -> set[str]:
    """Names an earlier step made available in the namespace: claims and Secrets of its releases and
    kubectl, and what stages leave on the volume (datasets, runs, models; an upgrade keeps them)."""
    if kind in ("dataset", "run", "model"):
        return {made.rsplit("/", 1)[1] for made in state["made"] if made.startswith(f"{namespace}/{kind}/")}
    found: set[str] = set()
    for key, release in state["releases"].items():
        if not key.startswith(namespace + "/"):
            continue
        docs = release["docs"]
        if kind == "claim":
            found |= {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
            if release["chart"] == "dlpipe-storage":  # an existing claim: the storage release vouches for it
                found |= _claims(_pods(docs, hooks=True) + _pods(docs))
        elif kind == "secret":
            found |= {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    if kind == "secret":
        found |= {name.split("/", 1)[1] for name in state["secrets"] if name.startswith(namespace + "/")}
    return found


def _claims(pods: list[dict[str, Any]]) -> set[str]:
    return {v["persistentVolumeClaim"]["claimName"] for p in pods for v in p.get("volumes", [])
            if "persistentVolumeClaim" in v}  # fmt: skip


STAGES = ("dlpipe-storage", "dlpipe-ingest", "dlpipe-train", "dlpipe-evaluate", "dlpipe-serving")


def _check_names(state: dict[str, Any], namespace: str, entry: dict[str, Any]) -> None:
    """Everything the release's pods use must come from an earlier step in this namespace, or from
    a stage before it in the same release (the pipeline chart carries every stage chart)."""
    docs = entry["docs"]
    pods = _pods(docs) + _pods(docs, hooks=True)
    own = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    if entry["chart"] != "dlpipe-storage":
        _require(_claims(pods) - own, provided(state, namespace, "claim"), "claim", "a dlpipe-storage release")
    secrets = {v["secret"]["secretName"] for p in pods for v in p.get("volumes", []) if "secret" in v}
    for pod in pods:
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                if "secretKeyRef" in env.get("valueFrom", {}):
                    secrets.add(env["valueFrom"]["secretKeyRef"]["name"])
    if not os.environ.get("DOCS_UNCHAINED"):
        _require(secrets, provided(state, namespace, "secret") | _own_secrets(docs), "Secret", "kubectl create secret")
    for stage in STAGES:  # in the pipeline's order, each stage's objects by the chart that made them
        objects = [d for d in docs if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == stage]
        if objects:
            _check_stage(state, namespace, stage, objects)


def _check_stage(state: dict[str, Any], namespace: str, stage: str, docs: list[dict[str, Any]]) -> None:
    config, made = _config(docs), []
    if os.environ.get("DOCS_UNCHAINED"):  # a values file tried on its own: what it names is given
        state["made"] += _named(namespace, config, docs)
    if stage == "dlpipe-ingest" and config:
        made.append(("dataset", config["ingest"]["dataset"]))
    elif stage == "dlpipe-train" and config.get("train", {}).get("dataset"):
        dataset = str(config["train"]["dataset"]).split("@", 1)[0]
        _require({dataset}, provided(state, namespace, "dataset"), "dataset", "a dlpipe-ingest release")
        jobs = [d["metadata"]["name"] for d in docs if d["kind"] in ("Job", "TFJob", "JobSet", "TrainJob")]
        made += [("run", run) for run in [config.get("run_id") or (jobs[0] if jobs else None)] if run]
    elif stage == "dlpipe-evaluate" and config:
        run = config.get("run_id")
        if run:
            _require({run}, provided(state, namespace, "run"), "run", "a dlpipe-train release")
        exported = [*state["exported"], *([f"{namespace}/{run}"] if os.environ.get("DOCS_UNCHAINED") else [])]
        if run and f"{namespace}/{run}" not in exported and not _waits_for_export(docs):
            raise Refused(f"the evaluation would start before run {run!r} has an export, spend its retries and "
                          "never decide: wait for the export first (helm test of the training release)")  # fmt: skip
        made.append(("model", config["evaluate"]["model_name"]))
    elif stage == "dlpipe-serving":
        models = {m.group(1) for d in docs if d["kind"] == "ConfigMap" for text in d.get("data", {}).values()
                  for m in re.finditer(r'\bname: "([^"]+)"', text)}  # fmt: skip
        _require(models, provided(state, namespace, "model"), "model", "a dlpipe-evaluate release")
    state["made"] += [f"{namespace}/{kind}/{name}" for kind, name in made]


def _waits_for_export(docs: list[dict[str, Any]]) -> bool:
    """Does the evaluation's pod wait for its input (an init container running ``export verify --wait``)?"""
    for pod in _pods(docs):
        for container in pod.get("initContainers", []):
            words = [str(w) for w in container.get("command", []) + container.get("args", [])]
            if "export" in words and "verify" in words and any(w.startswith("--wait") for w in words):
                return True
    return False


def _named(namespace: str, config: dict[str, Any], docs: list[dict[str, Any]]) -> list[str]:
    """The dataset, run and models a stage's values name."""
    names = [("dataset", str(config.get("train", {}).get("dataset", "")).split("@", 1)[0]),
             ("run", str(config.get("run_id") or ""))]  # fmt: skip
    names += [("model", m.group(1)) for d in docs if d["kind"] == "ConfigMap" for text in d.get("data", {}).values()
              for m in re.finditer(r'\bname: "([^"]+)"', text)]  # fmt: skip
    return [f"{namespace}/{kind}/{name}" for kind, name in names if name]


def _own_secrets(docs: list[dict[str, Any]]) -> set[str]:
    return {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}


def _require(used: set[str], available: set[str], kind: str, source: str) -> None:
    missing = sorted(used - available)
    if missing:
        raise Refused(f"{kind} {missing[0]!r} is used but no earlier step provides it ({source}); "
                      f"available: {sorted(available) or 'none'}")  # fmt: skip


def _test(state: dict[str, Any], name: str, namespace: str, args: list[str]) -> None:
    release = _release(state, name, namespace)
    tests = [d for d in release["docs"] if "test" in str((d["metadata"].get("annotations") or {}).get("helm.sh/hook"))]
    if not tests:
        raise Refused(f"helm test {name}: the release has no test")
    waits = [int(m.group(1)) for d in tests for c in d["spec"]["containers"] for a in c.get("args", [])
             for m in [re.fullmatch(r"--wait=(\d+)", str(a))] if m]  # fmt: skip
    timeout = _duration_s(_option(args, "--timeout") or f"{HELM_TEST_DEFAULT_S}s")
    if waits and max(waits) >= timeout:
        raise Refused(f"helm test {name}: its test pod waits up to {max(waits)}s, but helm gives up after "
                      f"{timeout:.0f}s (--timeout)")  # fmt: skip
    # A passed test of a training release means its run's export is there (the test waits for it).
    runs = [made.split("/", 2)[2] for made in state["made"] if made.startswith(f"{namespace}/run/")]
    names = {d["metadata"]["name"] for d in release["docs"]}
    config = _config([d for d in release["docs"] if d["kind"] == "ConfigMap"])
    for run in runs:
        if run in names or run == config.get("run_id"):
            state["exported"].append(f"{namespace}/{run}")


# -- kubectl ---------------------------------------------------------------------------------

KUBECTL_WITH_VALUE = ("--namespace", "-n", "--for", "--timeout", "-l", "--selector", "--from-literal",
                      "--from-file", "--pod-running-timeout", "-c", "--container", "--tail", "--since")  # fmt: skip
KINDS = {"job": "Job", "jobs": "Job", "pvc": "PersistentVolumeClaim", "service": "Service", "svc": "Service",
         "deployment": "Deployment", "pod": "Pod", "pods": "Pod", "cronjob": "CronJob", "tfjob": "TFJob",
         "workloads": "Workload"}  # fmt: skip


def kubectl(args: list[str]) -> None:
    state = load()
    namespace = _option(args, "--namespace", "-n", default="default")
    words = _positionals(args, KUBECTL_WITH_VALUE)
    verb = words[0] if words else ""
    if namespace not in state["namespaces"] and words[:2] != ["create", "namespace"]:
        raise Refused(f"kubectl {verb}: namespace {namespace} not found")
    if words[:2] == ["create", "namespace"]:
        state["namespaces"].append(words[2])
    elif words[:3] == ["create", "secret", "generic"]:
        state["secrets"].append(f"{namespace}/{words[3]}")
    elif verb in ("get", "wait", "describe", "delete") and len(words) >= 2:
        _objects(state, namespace, words[1:], _option(args, "-l", "--selector"))
    elif verb == "logs":
        target = words[1:] or ["pod"]
        _objects(state, namespace, target, _option(args, "-l", "--selector"), pods=True)
    elif verb == "port-forward":
        _objects(state, namespace, words[1:2], None)
    elif verb == "rollout":
        _objects(state, namespace, words[2:3], None)
    else:
        raise Refused(f"kubectl {verb}: not followed by the doc test (add it to tests/tooling/fake_cluster.py)")
    save(state)


def _controlled(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What a controller makes of a rendered object, named as it names them: a JobSet's Jobs
    (``<jobset>-<replicated job>-<index>``), a Kubeflow TrainJob's (``<trainjob>-node-<index>``), a
    TFJob's pods (``<tfjob>-<replica type>-<index>``)."""
    name, spec = doc["metadata"]["name"], doc.get("spec", {})
    if doc["kind"] == "JobSet":
        return [{"kind": "Job", "metadata": {"name": f"{name}-{r['name']}-{i}"}, "spec": r["template"]["spec"]}
                for r in spec["replicatedJobs"] for i in range(int(r.get("replicas", 1)))]  # fmt: skip
    if doc["kind"] == "TrainJob":
        nodes = int(spec.get("trainer", {}).get("numNodes", 1))
        return [{"kind": "Job", "metadata": {"name": f"{name}-node-{i}"}, "spec": {}} for i in range(nodes)]
    if doc["kind"] == "TFJob":
        return [{"kind": "Pod", "metadata": {"name": f"{name}-{kind.lower()}-{i}"}, "spec": r["template"]["spec"]}
                for kind, r in spec["tfReplicaSpecs"].items() for i in range(int(r.get("replicas", 1)))]  # fmt: skip
    return []


def _objects(state: dict[str, Any], namespace: str, words: list[str], selector: str | None, pods: bool = False) -> None:
    """``kind name``, ``kind/name`` or ``kind`` with a selector must match a rendered object."""
    docs = [d for key, r in state["releases"].items() if key.startswith(namespace + "/") for d in r["docs"]]
    docs += [made for doc in docs for made in _controlled(doc)]
    if "/" in words[0]:
        kind, name = words[0].split("/", 1)
    else:
        kind, name = words[0], (words[1] if len(words) > 1 else None)
    kind = KINDS.get(kind.lower())
    if kind is None:
        raise Refused(f"kubectl: unknown kind in {words[0]!r}")
    if name is not None:
        if kind == "PersistentVolumeClaim" and name in provided(state, namespace, "claim"):
            return  # rendered, or an existing claim a storage release uses
        if not any(d["kind"] == kind and d["metadata"]["name"] == name for d in docs):
            names = sorted(d["metadata"]["name"] for d in docs if d["kind"] == kind)
            raise Refused(f"{kind} {name!r} not found in namespace {namespace} (rendered: {names or 'none'})")
        return
    if selector is None:
        return
    wanted = dict(item.split("=", 1) for item in selector.split(","))
    labels = []
    for doc in docs:
        if kind == "Pod" or pods:
            name = doc["metadata"]["name"]
            # The labels of the pods it makes: its pod templates', and those their controller adds.
            found = [t.get("metadata", {}).get("labels", {}) for t in _pod_templates(doc.get("spec", {}))]
            if doc["kind"] == "Pod":
                found.append(doc["metadata"].get("labels", {}))
            elif doc["kind"] == "TFJob":
                found = [{**f, "training.kubeflow.org/job-name": name} for f in found]
            elif doc["kind"] == "Job":
                found = [{**f, "batch.kubernetes.io/job-name": name} for f in found]
            labels += found
        elif doc["kind"] == kind:
            labels.append(doc["metadata"].get("labels", {}))
    if not any(wanted.items() <= found.items() for found in labels):
        raise Refused(f"no {kind} in namespace {namespace} matches the selector {selector}")


# -- the rest --------------------------------------------------------------------------------


def offline(program: str, args: list[str]) -> None:
    """Commands that talk to a cloud or a server the test has not: files an earlier step must have
    made must exist (``--image`` is the reader's own photo)."""
    for flag in ("--input", "-f", "--values"):
        path = _option(args, flag)
        if path and not Path(path).exists():
            raise Refused(f"{program} {flag} {path}: no such file (nothing earlier creates it)")


def main(argv: list[str]) -> int:
    program, args = Path(argv[0]).name, argv[1:]
    try:
        {"helm": helm, "kubectl": kubectl}.get(program, lambda a: offline(program, a))(args)
    except Refused as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
