"""Values tables, per application chart and for helm 3 and helm 4:

- plausible mistakes, each refused at `helm template` (so at `helm install`) with a message that
  names the field: by the values schema (the Kubernetes OpenAPI types, image syntax, the package's
  configuration schema) or by a template check that names both fields of a bad combination;
- legitimate but unusual values, each rendered into manifests that pass kubernetes-validate
  --strict, carry names the API server accepts, and print integers as integers.

The pipeline chart's stages are the stage charts, whose tables these are: its own tables hold
what the pipeline adds (shared values, the chain's checks) and a few stage mistakes made through
it, each written "<stage>:<field>" (the message must name the stage and the field).
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import pytest
import yaml

from tests.tooling import charts, kube_names
from tools.chart_lint import schema_problems

BASE: dict[str, dict[str, Any]] = {
    "dlpipe": {
        "global": {"dlpipe": {"dataset": "digits", "model": "digits"}},
        "ingest": {"config": {"ingest": {"source": "sample:digits"}}},
    },
    "dlpipe-storage": {},
    "dlpipe-ingest": {
        "sharedVolume": {"claimName": "data"},
        "config": {"ingest": {"source": "sample:digits", "dataset": "digits"}},
    },
    "dlpipe-train": {"sharedVolume": {"claimName": "data"}, "config": {"train": {"dataset": "digits"}}},
    "dlpipe-evaluate": {
        "sharedVolume": {"claimName": "data"},
        "config": {"run_id": "digits-1", "evaluate": {"model_name": "digits"}},
    },
    "dlpipe-serving": {"sharedVolume": {"claimName": "data"}, "model": {"name": "digits"}},
}
CHARTS = sorted(BASE)
assert [c.name for c in charts.chart_dirs()] == CHARTS, "a new chart needs its tables"

SECRET = {"secretKeyRef": {"name": "hook-token", "key": "token"}}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
NODE_TERM = {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "Equals", "values": ["x"]}]}

# (what, values, the field the message must name). Every application chart has these values.
COMMON_BAD: list[tuple[str, dict[str, Any], str]] = [
    ("toleration key typo", {"tolerations": [{"key": "gpu", "opeartor": "Exists"}]}, "tolerations[0].opeartor"),
    (
        "Exists with a value",
        {"tolerations": [{"key": "gpu", "operator": "Exists", "value": "x"}]},
        "tolerations[0].value",
    ),
    (
        "tolerationSeconds on NoSchedule",
        {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 60}]},
        "tolerations[0].effect",
    ),
    ("nodeAfinity", {"affinity": {"nodeAfinity": {}}}, "affinity.nodeAfinity"),
    (
        "selector operator",
        {
            "affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [NODE_TERM]}}
            }
        },
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].operator",
    ),
    ("nodeSelector value with spaces", {"nodeSelector": {"pool": "gpu nodes"}}, "nodeSelector.pool"),
    ("label key with a space", {"commonLabels": {"cost center": "ml"}}, "commonLabels"),
    ("runAsUSer", {"podSecurityContext": {"runAsUSer": 2000}}, "podSecurityContext.runAsUSer"),
    ("root", {"podSecurityContext": {"runAsUser": 0}}, "podSecurityContext.runAsUser"),
    ("privileged", {"containerSecurityContext": {"privileged": True}}, "containerSecurityContext.privileged"),
    (
        "added capability",
        {"containerSecurityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
        "containerSecurityContext.capabilities.add",
    ),
    (
        "privilege escalation",
        {"containerSecurityContext": {"allowPrivilegeEscalation": True}},
        "containerSecurityContext.allowPrivilegeEscalation",
    ),
    (
        "seccomp unconfined",
        {"podSecurityContext": {"seccompProfile": {"type": "Unconfined"}}},
        "podSecurityContext.seccompProfile.type",
    ),
    ("resources typo", {"resources": {"request": {"cpu": "1"}}}, "resources.request"),
    ("cpu in words", {"resources": {"requests": {"cpu": "1 core"}}}, "resources.requests.cpu"),
    (
        "request above limit",
        {"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}},
        "resources.requests.memory",
    ),
    ("tag with a space", {"image": {"tag": "1.0 beta"}}, "image.tag"),
    ("upper-case repository", {"image": {"repository": "Dlpipe/Stage"}}, "image.repository"),
    ("repository with a tag", {"image": {"repository": "dlpipe/stage:0.1.0"}}, "image.repository"),
    ("digest of the wrong length", {"image": {"digest": "sha256:abc"}}, "image.digest"),
    ("pull secret with upper case", {"imagePullSecrets": ["Regcred"]}, "imagePullSecrets[0]"),
    ("priority class with spaces", {"priorityClassName": "high priority"}, "priorityClassName"),
    ("subPath escaping the volume", {"sharedVolume": {"subPath": "../other-team"}}, "sharedVolume.subPath"),
    ("zero /tmp", {"tmpSizeLimit": "0Gi"}, "tmpSizeLimit"),
    ("fullnameOverride starting with a digit", {"fullnameOverride": "1st"}, "fullnameOverride"),
]

# Values some charts have (the cases of a chart without them are left out).
STAGE_BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "secretKeyRef.Key",
        {"extraEnv": [{"name": "HOOK_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "Key": "k"}}}]},
        "extraEnv[0].valueFrom.secretKeyRef.Key",
    ),
    ("value and valueFrom", {"extraEnv": [{"name": "X", "value": "1", "valueFrom": SECRET}]}, "extraEnv[0]"),
    ("literal token", {"extraEnv": [{"name": "HF_TOKEN", "value": "hf_abc"}]}, "extraEnv[0]"),
    ("literal password", {"extraEnv": [{"name": "DB_PASSWORD", "value": "hunter2"}]}, "extraEnv[0]"),
    ("literal API key", {"extraEnv": [{"name": "WANDB_API_KEY", "value": "abc"}]}, "extraEnv[0]"),
    ("literal AWS key id", {"extraEnv": [{"name": "AWS_ACCESS_KEY_ID", "value": "AKIA0"}]}, "extraEnv[0]"),
    (
        "literal callback header",
        {
            "config": {
                "events": {
                    "endpoints": [
                        {
                            "type": "event",
                            "endpoint": "https://hooks.example.com/x",
                            "headers": {"Authorization": "Bearer abc"},
                        }
                    ]
                }
            }
        },
        "config.events.endpoints[0].headers.Authorization",
    ),
    ("pod label value with spaces", {"podLabels": {"team": "vision team"}}, "podLabels.team"),
    ("annotation key with a space", {"podAnnotations": {"cost center": "ml"}}, "podAnnotations"),
    (
        "service account annotation key",
        {"serviceAccount": {"annotations": {"role arn": "x"}}},
        "serviceAccount.annotations",
    ),
    ("service account name", {"serviceAccount": {"name": "Pipeline_SA"}}, "serviceAccount.name"),
]

CHART_BAD: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "dlpipe": [
        ("dataset with upper case", {"global": {"dlpipe": {"dataset": "Digits"}}}, "global.dlpipe.dataset"),
        ("model with a slash", {"global": {"dlpipe": {"model": "team/digits"}}}, "global.dlpipe.model"),
        ("claim with upper case", {"global": {"dlpipe": {"claimName": "Data"}}}, "global.dlpipe.claimName"),
        ("shared value typo", {"global": {"dlpipe": {"datset": "digits"}}}, "global.dlpipe.datset"),
        ("waitFor typo", {"evaluate": {"waitFor": {"enabeld": True}}}, "evaluate:waitFor.enabeld"),
        ("enabled as a word", {"train": {"enabled": "yes"}}, "train.enabled"),
        ("a stage's own claim", {"train": {"sharedVolume": {"claimName": "other"}}}, "train.sharedVolume.claimName"),
        ("storage on an existing claim", {"storage": {"existingClaim": "mine"}}, "storage.existingClaim"),
        ("continuous training alone", {"train": {"continuous": {"enabled": True}}}, "train.continuous.enabled"),
        (
            "ingest names another dataset",
            {"ingest": {"config": {"ingest": {"dataset": "pets"}}}},
            "ingest.config.ingest.dataset",
        ),
        (
            "train reads another dataset",
            {"train": {"config": {"train": {"dataset": "pets@2"}}}},
            "train.config.train.dataset",
        ),
        (
            "evaluate publishes another model",
            {"evaluate": {"config": {"evaluate": {"model_name": "pets"}}}},
            "evaluate.config.evaluate.model_name",
        ),
        ("serving serves another model", {"serving": {"model": {"name": "pets"}}}, "serving.model.name"),
        ("evaluation without a run", {"train": {"enabled": False}}, "evaluate.config.run_id"),
        ("no source", {"ingest": {"config": {"ingest": {"source": None}}}}, "ingest:config.ingest.source"),
        ("zero wait", {"train": {"waitFor": {"seconds": 0}}}, "train:waitFor.seconds"),
        (
            "toleration typo",
            {"train": {"tolerations": [{"key": "gpu", "opeartor": "Exists"}]}},
            "train:tolerations[0].opeartor",
        ),
        (
            "request above limit",
            {"serving": {"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}}},
            "serving:resources.requests.memory",
        ),
        ("root", {"evaluate": {"podSecurityContext": {"runAsUser": 0}}}, "evaluate:podSecurityContext.runAsUser"),
        (
            "threshold in percent",
            {"evaluate": {"config": {"evaluate": {"thresholds": ["accuracy>=90"]}}}},
            "evaluate:config.evaluate.thresholds[0]",
        ),
        (
            "schedule in words",
            {"ingest": {"continuous": {"enabled": True, "schedule": "hourly"}}},
            "ingest:continuous.schedule",
        ),
    ],
    "dlpipe-storage": [
        ("zero-size volume", {"persistence": {"size": "0Gi"}}, "persistence.size"),
        ("size in words", {"persistence": {"size": "lots"}}, "persistence.size"),
        (
            "two backends",
            {"nfs": {"server": "nas", "path": "/x"}, "efs": {"fileSystemId": "fs-12345678"}},
            "efs.fileSystemId",
        ),
        ("claim annotation key", {"persistence": {"annotations": {"a b": "c"}}}, "persistence.annotations"),
        ("prepare as root owner", {"prepare": {"owner": {"uid": 0}}}, "prepare.owner.uid"),
    ],
    "dlpipe-ingest": [
        (
            "splits in percent",
            {"config": {"ingest": {"splits": "train=80,validation=10,test=10"}}},
            "config.ingest.splits",
        ),
        (
            "splits summing above 1",
            {"config": {"ingest": {"splits": "train=0.8,validation=0.2,test=0.2"}}},
            "config.ingest.splits",
        ),
        (
            "unsupported scheme",
            {"config": {"ingest": {"source": "ftp://example.com/data.zip"}}},
            "config.ingest.source",
        ),
        ("gs:// source", {"config": {"ingest": {"source": "gs://bucket/data"}}}, "config.ingest.source"),
        ("plain S3 key in config", {"config": {"s3": {"secret_access_key": "hunter2"}}}, "config.s3.secret_access_key"),
        ("S3 Secret name", {"s3": {"existingSecret": "S3 Keys"}}, "s3.existingSecret"),
    ],
    "dlpipe-train": [
        (
            "workers with a one-pod strategy",
            {"distributed": {"workers": 2}, "config": {"train": {"strategy": "mirrored"}}},
            "distributed.workers",
        ),
        ("multi-worker in one pod", {"config": {"train": {"strategy": "multi-worker"}}}, "config.train.strategy"),
        ("workers in config", {"config": {"train": {"workers": 4}}}, "config.train.workers"),
        ("gpus in config", {"config": {"train": {"gpus": 1}}}, "config.train.gpus"),
        (
            "peer typo",
            {"networkPolicy": {"from": [{"namespaceSelectr": {}}]}},
            "networkPolicy.from[0].namespaceSelectr",
        ),
        ("empty peer", {"networkPolicy": {"from": [{}]}}, "networkPolicy.from[0]"),
        ("zero /dev/shm", {"shmSizeLimit": "0"}, "shmSizeLimit"),
        (
            "TensorBoard request above limit",
            {"tensorboard": {"enabled": True, "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}}},
            "tensorboard.resources.requests.cpu",
        ),
        (
            "GPU request above the gpus limit",
            {"gpus": 1, "resources": {"requests": {"nvidia.com/gpu": 2}}},
            "resources.requests.nvidia.com/gpu",
        ),
    ],
    "dlpipe-evaluate": [
        (
            "no check at all",
            {"config": {"evaluate": {"thresholds": [], "change_thresholds": []}}},
            "config.evaluate.thresholds",
        ),
        (
            "malformed threshold",
            {"config": {"evaluate": {"thresholds": ["accuracy>=0..9"]}}},
            "config.evaluate.thresholds[0]",
        ),
        (
            "threshold in percent",
            {"config": {"evaluate": {"thresholds": ["accuracy>=90"]}}},
            "config.evaluate.thresholds[0]",
        ),
        ("unknown metric", {"config": {"evaluate": {"thresholds": ["acuracy>=0.9"]}}}, "config.evaluate.thresholds[0]"),
        (
            "change beyond 1",
            {"config": {"evaluate": {"change_thresholds": ["accuracy>=2"]}}},
            "config.evaluate.change_thresholds[0]",
        ),
        ("minute 61", {"continuous": {"enabled": True, "schedule": "61 * * * *"}}, "continuous.schedule"),
        (
            "schedule in words",
            {"continuous": {"enabled": True, "schedule": "every ten minutes"}},
            "continuous.schedule",
        ),
        ("TZ prefix", {"continuous": {"enabled": True, "schedule": "TZ=UTC 0 3 * * *"}}, "continuous.schedule"),
    ],
    "dlpipe-serving": [
        ("REST port = gRPC port", {"service": {"restPort": 8500, "grpcPort": 8500}}, "service.restPort"),
        ("sidecar on TF Serving's port", {"sidecar": {"port": 8501}}, "sidecar.port"),
        ("GPUs with the CPU build", {"gpus": 1, "image": {"tag": "2.19.0"}}, "image.tag"),
        ("HPA min above max", {"hpa": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}, "hpa.minReplicas"),
        ("PDB keeping every pod", {"replicaCount": 2, "pdb": {"minAvailable": 2}}, "pdb.minAvailable"),
        ("models repeating the main model", {"models": [{"name": "digits", "version": 2}]}, "models[0].name"),
        (
            "models repeating each other",
            {"models": [{"name": "imdb", "version": 1}, {"name": "imdb", "version": 2}]},
            "models[1].name",
        ),
        (
            "IngressClass with upper case",
            {"ingress": {"enabled": True, "className": "NGINX", "host": "m.example.com"}},
            "ingress.className",
        ),
        ("Ingress host is an IP", {"ingress": {"enabled": True, "host": "10.0.0.1"}}, "ingress.host"),
        (
            "peer typo",
            {"networkPolicy": {"from": [{"namespaceSelectr": {}}]}},
            "networkPolicy.from[0].namespaceSelectr",
        ),
        (
            "ipBlock with a selector",
            {"networkPolicy": {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}},
            "networkPolicy.from[0]",
        ),
        (
            "sidecar image with a tag",
            {"sidecar": {"image": {"repository": "dlpipe/dlpipe-serving:0.1.0"}}},
            "sidecar.image.repository",
        ),
        (
            "sidecar request above limit",
            {"sidecar": {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "256Mi"}}}},
            "sidecar.resources.requests.memory",
        ),
        ("version 0", {"model": {"version": 0}}, "model.version"),
    ],
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``; None removes a key."""
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _has(chart: str, values: dict[str, Any]) -> bool:
    """Does the chart have every top-level value the case sets?"""
    defaults = yaml.safe_load((charts.CHARTS / chart / "values.yaml").read_text())
    return set(values) <= set(defaults)


def bad_cases() -> list[Any]:
    cases = []
    for chart in CHARTS:
        common = [] if chart == "dlpipe" else COMMON_BAD + [c for c in STAGE_BAD if _has(chart, c[1])]
        table = common + CHART_BAD[chart]
        for what, values, field in table:
            assert _has(chart, values), f"{chart} has no value for {what}"
            cases.append(pytest.param(chart, values, field, id=f"{chart}:{what}"))
    return cases


@pytest.mark.parametrize(("chart", "values", "field"), bad_cases())
def test_mistakes_are_refused_naming_the_field(helm: str, chart: str, values: dict, field: str) -> None:
    message = charts.refusal(helm, charts.CHARTS / chart, _merge(BASE[chart], values))
    stage, _, field = field.rpartition(":")
    assert stage in message, f"stage {stage} not named in:\n{message}"
    assert charts.names_field(message, field), f"{field} not named in:\n{message}"


def test_every_chart_refuses_fifteen_mistakes_or_more() -> None:
    counts = {chart: 0 for chart in CHARTS}
    for case in bad_cases():
        counts[case.values[0]] += 1
    assert min(counts.values()) >= 15, counts


# -- legitimate, unusual values ---------------------------------------------------
LONG_RELEASE = "the-longest-release-name-helm-allows-is-53-characters"
assert len(LONG_RELEASE) == 53

COMMON_GOOD: list[tuple[str, dict[str, Any], str]] = [
    ("CPU .5", {"resources": {"requests": {"cpu": ".5", "memory": "64Mi"}, "limits": {"cpu": 0.5}}}, "rel"),
    ("pull secret with dots", {"imagePullSecrets": ["registry.example.com", {"name": "ghcr.io-token"}]}, "rel"),
    ("subPath starting with a dot", {"sharedVolume": {"subPath": ".team-a/..cache-x"}}, "rel"),
    ("tolerate every taint", {"tolerations": [{"operator": "Exists"}]}, "rel"),
    (
        "NoExecute grace",
        {
            "tolerations": [
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                GPU_TOLERATION,
            ]
        },
        "rel",
    ),
    (
        "affinity",
        {
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 100,
                            "preference": {
                                "matchExpressions": [{"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["1"]}]
                            },
                        }
                    ]
                },
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "podAffinityTerm": {
                                "topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {
                                    "matchExpressions": [{"key": "app.kubernetes.io/part-of", "operator": "Exists"}]
                                },
                            },
                        }
                    ]
                },
            }
        },
        "rel",
    ),
    (
        "prefixed labels and annotations",
        {
            "commonLabels": {"example.com/cost-center": "ML_42"},
            "nodeSelector": {"cloud.google.com/gke-nodepool": "gpu-pool"},
        },
        "rel",
    ),
    (
        "registry with a port and a digest",
        {"image": {"registry": "localhost:5000/team", "digest": "sha256:" + "a" * 64}},
        "rel",
    ),
    ("tag with upper case and dots", {"image": {"tag": "V2.1_rc.1"}}, "rel"),
    ("priority class with dots", {"priorityClassName": "ml.high-priority"}, "rel"),
    (
        "a stricter context",
        {
            "podSecurityContext": {
                "runAsUser": 20000,
                "runAsGroup": 20000,
                "fsGroup": 20000,
                "supplementalGroups": [3000],
            },
            "containerSecurityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
        },
        "rel",
    ),
    (
        "opt-in root",
        {
            "unsafeSecurityContext": True,
            "podSecurityContext": {"runAsUser": 0, "runAsNonRoot": False},
            "containerSecurityContext": {"runAsNonRoot": False},
        },
        "rel",
    ),
    ("53-character release", {}, LONG_RELEASE),
    ("release starting with a digit", {}, "2024-pipeline"),
    ("release with dots", {}, "team.a"),
]

STAGE_GOOD: list[tuple[str, dict[str, Any], str]] = [
    (
        "secret env from a Secret, plain env literal",
        {
            "extraEnv": [
                {"name": "HOOK_TOKEN", "valueFrom": SECRET},
                {"name": "TF_CPP_MIN_LOG_LEVEL", "value": "2"},
                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
                {"name": "DB_PASSWORD_FILE", "value": "/var/run/secrets/db/password"},
            ]
        },
        "rel",
    ),
    (
        "header from env",
        {
            "extraEnv": [{"name": "HOOK_TOKEN", "valueFrom": SECRET}],
            "config": {
                "events": {
                    "endpoints": [
                        {
                            "type": "event",
                            "endpoint": "https://hooks.example.com/x",
                            "headers": {"Authorization": {"fromEnv": "HOOK_TOKEN"}},
                        }
                    ]
                }
            },
        },
        "rel",
    ),
    (
        "IRSA",
        {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/dlpipe"}}},
        "rel",
    ),
    ("an existing service account", {"serviceAccount": {"create": False, "name": "ml-pipeline.sa"}}, "rel"),
    ("free-text annotation", {"podAnnotations": {"example.com/owner": "ML team <ml@example.com>"}}, "rel"),
]

CHART_GOOD: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "dlpipe": [
        ("53-character release", {}, LONG_RELEASE),
        ("release with dots", {}, "team.a"),
        ("an existing claim", {"storage": {"enabled": False}, "global": {"dlpipe": {"claimName": "team-data"}}}, "rel"),
        (
            "continuous",
            {
                "ingest": {"continuous": {"enabled": True}},
                "train": {"continuous": {"enabled": True}},
                "evaluate": {"continuous": {"enabled": True}},
            },
            "2024-pipeline",
        ),
        (
            "evaluate another run, pinned serving",
            {"evaluate": {"config": {"run_id": "digits-1"}}, "serving": {"model": {"version": 3}}},
            "rel",
        ),
        ("train and serve only", {"evaluate": {"enabled": False}, "ingest": {"enabled": False}}, "rel"),
    ],
    "dlpipe-storage": [
        ("fractional size", {"persistence": {"size": ".5Ti"}}, "rel"),
        ("NFS with an IPv6 server", {"nfs": {"server": "fd00::5", "path": "/exports/ml"}}, "rel"),
        ("prepare for a big uid", {"prepare": {"enabled": True, "owner": {"uid": 1000000, "gid": 0}}}, LONG_RELEASE),
    ],
    "dlpipe-ingest": [
        ("splits with spaces", {"config": {"ingest": {"splits": "train = 0.7, test=.3"}}}, "rel"),
        ("a path with a colon", {"config": {"ingest": {"source": "raw/2024-01-01T00:00/data.csv"}}}, "rel"),
        (
            "big archive limits",
            {
                "config": {"ingest": {"limits": {"max_bytes": 1099511627776, "max_files": 50000000}}},
                "job": {"activeDeadlineSeconds": 1209600},
            },
            "rel",
        ),
    ],
    "dlpipe-train": [
        (
            "workers, auto strategy",
            {
                "distributed": {"workers": 16},
                "networkPolicy": {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                            "podSelector": {"matchLabels": {"app": "prometheus"}},
                        }
                    ]
                },
                "tensorboard": {"enabled": True},
            },
            LONG_RELEASE,
        ),
        ("four-digit worker index", {"distributed": {"workers": 1024}}, LONG_RELEASE),
        ("long deadline", {"job": {"activeDeadlineSeconds": 1209600, "ttlSecondsAfterFinished": 31536000}}, "rel"),
        (
            "multi-worker TFJob",
            {
                "distributed": {"workers": 2, "backend": "tfjob", "port": 30000},
                "config": {"train": {"strategy": "multi-worker"}},
            },
            "rel",
        ),
    ],
    "dlpipe-evaluate": [
        (
            "thresholds with spaces",
            {
                "config": {
                    "evaluate": {
                        "thresholds": ["accuracy >= 0.9", "loss<=0.35"],
                        "change_thresholds": ["accuracy>=-0.01", "macro_f1 >= -.5"],
                    }
                }
            },
            "rel",
        ),
        ("a weekday schedule", {"continuous": {"enabled": True, "schedule": "0 3 * * mon-fri"}}, LONG_RELEASE),
        ("a descriptor", {"continuous": {"enabled": True, "schedule": "@hourly"}, "config": {"run_id": None}}, "rel"),
    ],
    "dlpipe-serving": [
        (
            "Unix-time version",
            {
                "model": {"version": 1700000000},
                "canary": {"version": 1700000001},
                "models": [{"name": "imdb", "version": 1699999999}],
            },
            "rel",
        ),
        (
            "wildcard host with TLS",
            {
                "ingress": {
                    "enabled": True,
                    "className": "nginx.internal",
                    "host": "*.models.example.com",
                    "tlsSecret": "models-tls",
                }
            },
            "rel",
        ),
        ("Ingress without TLS", {"ingress": {"enabled": True, "host": "models.example.com"}}, "rel"),
        (
            "clients by ipBlock",
            {
                "networkPolicy": {
                    "allowNamespace": False,
                    "from": [
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                        {
                            "namespaceSelector": {
                                "matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]
                            }
                        },
                    ],
                }
            },
            "rel",
        ),
        (
            "HPA min = max, a budget",
            {"hpa": {"enabled": True, "minReplicas": 3, "maxReplicas": 3}, "pdb": {"minAvailable": 2}},
            "rel",
        ),
        ("one replica: no budget", {"replicaCount": 1}, "rel"),
        (
            "big batching numbers",
            {
                "batching": {"enabled": True, "batchTimeoutMicros": 5000000, "maxEnqueuedBatches": 1000000},
                "restApiTimeoutMs": 3600000,
            },
            "rel",
        ),
        ("demo", {"demo": {"enabled": True, "port": 80}}, "2024-pipeline"),
    ],
}


def good_cases() -> list[Any]:
    cases = []
    for chart in CHARTS:
        common = [] if chart == "dlpipe" else COMMON_GOOD + [c for c in STAGE_GOOD if _has(chart, c[1])]
        table = common + CHART_GOOD[chart]
        for what, values, release in table:
            assert _has(chart, values), f"{chart} has no value for {what}"
            cases.append(pytest.param(chart, values, release, id=f"{chart}:{what}"))
    return cases


@functools.cache
def _validated(chart: str, text: str) -> tuple[str, ...]:
    """Problems of one rendering (helm 3 and 4 render the same text: checked once)."""
    documents = [d for d in yaml.safe_load_all(text) if d]
    versions = charts.kube_versions(charts.CHARTS / chart)
    problems = [p for v in (versions[0], versions[-1]) for p in schema_problems(documents, v)]
    problems += kube_names.problems(documents)
    problems += [f"a number printed as a float: {m}" for m in re.findall(r"\S*\d\.?\d*e[+-]\d+\S*", text)]
    return tuple(problems)


@pytest.mark.parametrize(("chart", "values", "release"), good_cases())
def test_unusual_values_render_valid_manifests(helm: str, chart: str, values: dict, release: str) -> None:
    text = charts.template_values(helm, charts.CHARTS / chart, _merge(BASE[chart], values), release=release)
    problems = _validated(chart, text)
    assert not problems, "\n".join(problems)


def test_large_integers_stay_integers(helm: str) -> None:
    values = _merge(BASE["dlpipe-serving"], CHART_GOOD["dlpipe-serving"][0][1])
    text = charts.template_values(helm, charts.CHARTS / "dlpipe-serving", values)
    assert "versions: 1700000000" in text and "--model=digits=1700000000" in text
    assert "--version=1700000000" in text and "value: 1700000001" in text
