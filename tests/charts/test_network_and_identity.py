"""What the pods may reach and who they are: NetworkPolicies on by default and never open to
everyone, a service account per release that cloud IAM can bind (IRSA, workload identity)
without a Kubernetes API token, and S3 keys only when a Secret is named."""

from __future__ import annotations

from typing import Any

import pytest

from tests.tooling import charts, pod_security

RELEASE_PEER = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "rel"}}}
NAMESPACE_PEER = {"podSelector": {}}


def _docs(helm: str, chart: str, values: str | None, *sets: str) -> list[dict[str, Any]]:
    case = charts.ValuesCase(charts.CHARTS / chart, charts.CHARTS / chart / values if values else None)
    return charts.template(helm, case, *(a for s in sets for a in ("--set", s)))


def _policies(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}


@pytest.mark.parametrize("case", charts.values_cases(), ids=lambda c: c.id)
def test_every_pod_is_behind_a_policy_that_admits_nothing_by_itself(helm: str, case: charts.ValuesCase) -> None:
    docs = charts.template(helm, case)
    policies = _policies(docs)
    # The pipeline chart's stages each bring theirs: every one selects the whole release.
    denies = [spec for name, spec in policies.items() if name.endswith("-deny")]
    assert "rel-" + case.chart.name + "-deny" in policies or charts.local_stage_charts(case.chart)
    release = {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "rel"}}, "policyTypes": ["Ingress"]}
    assert denies and all(deny == release for deny in denies)
    for spec in policies.values():
        for rule in spec.get("ingress", []):
            assert rule.get("from"), "an empty `from` admits every source"


def test_training_workers_admit_only_their_own_job(helm: str) -> None:
    docs = _docs(helm, "dlpipe-train", "ci/multi-worker-values.yaml")
    job = next(d for d in docs if d["kind"] == "Job")["metadata"]["name"]
    workers = _policies(docs)[job]
    own = {"batch.kubernetes.io/job-name": job}
    assert workers["podSelector"] == {"matchLabels": own}
    assert workers["ingress"] == [
        {"from": [{"podSelector": {"matchLabels": own}}], "ports": [{"port": 2222, "protocol": "TCP"}]}
    ]
    tfjob = _docs(helm, "dlpipe-train", "examples/tfjob-values.yaml")
    name = next(d for d in tfjob if d["kind"] == "TFJob")["metadata"]["name"]
    assert _policies(tfjob)[name]["podSelector"] == {"matchLabels": {"training.kubeflow.org/job-name": name}}


@pytest.mark.parametrize(
    ("sets", "peers"),
    [
        ([], [RELEASE_PEER, NAMESPACE_PEER]),
        (["networkPolicy.allowNamespace=false"], [RELEASE_PEER]),
        (
            ["networkPolicy.from[0].ipBlock.cidr=10.0.0.0/8"],
            [RELEASE_PEER, NAMESPACE_PEER, {"ipBlock": {"cidr": "10.0.0.0/8"}}],
        ),
    ],
    ids=["default", "release only", "and an ipBlock"],
)
def test_serving_and_demo_admit_the_release_the_namespace_and_from(helm: str, sets: list[str], peers: list) -> None:
    policies = _policies(_docs(helm, "dlpipe-serving", "ci/latest-values.yaml", *sets))
    serving, demo = policies["rel-dlpipe-serving"], policies["rel-dlpipe-serving-demo"]
    assert serving["podSelector"] == {"matchLabels": {"dlpipe.dev/serving": "rel-dlpipe-serving"}}
    assert serving["ingress"] == [
        {"from": peers, "ports": [{"port": 8500, "protocol": "TCP"}, {"port": 8501, "protocol": "TCP"}]}
    ]
    assert demo["ingress"][0]["from"] == peers and demo["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_policies_can_be_left_to_the_cluster(helm: str) -> None:
    assert not _policies(_docs(helm, "dlpipe-serving", "ci/latest-values.yaml", "networkPolicy.enabled=false"))


@pytest.mark.parametrize(
    ("chart", "values"),
    [("dlpipe-ingest", "ci/kind-values.yaml"), ("dlpipe-train", "ci/single-values.yaml"),
     ("dlpipe-evaluate", "ci/single-values.yaml"), ("dlpipe-serving", "ci/latest-values.yaml")],
)  # fmt: skip
def test_pods_run_as_the_release_service_account_without_a_token(helm: str, chart: str, values: str) -> None:
    role = "arn:aws:iam::123456789012:role/dlpipe"
    docs = _docs(helm, chart, values, f"serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role}")
    (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert account["metadata"]["name"] == f"rel-{chart}"
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert account["automountServiceAccountToken"] is False
    pods = [spec for _, spec in pod_security.pod_specs(docs)]
    assert pods and all(p["serviceAccountName"] == f"rel-{chart}" for p in pods)
    assert all(p["automountServiceAccountToken"] is False for p in pods)
    existing = _docs(helm, chart, values, "serviceAccount.create=false", "serviceAccount.name=ml-pipeline")
    assert not [d for d in existing if d["kind"] == "ServiceAccount"]


def test_without_a_secret_s3_access_is_boto3s_default_chain(helm: str) -> None:
    docs = _docs(helm, "dlpipe-ingest", "examples/s3-images-values.yaml", "s3.existingSecret=")
    env = next(d for d in docs if d["kind"] == "Job")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not [e for e in env if e["name"].startswith("AWS_")], "no keys: IRSA / workload identity / instance roles"


@pytest.mark.parametrize(
    ("chart", "values", "warning"),
    [
        ("dlpipe-serving", {"ingress": {"enabled": True, "host": "m.example.com"}}, "without TLS"),
        ("dlpipe-serving", {"ingress": {"enabled": True, "host": "m.example.com", "tlsSecret": "t"}},
         "the Ingress controller cannot reach"),
        ("dlpipe-train", {"unsafeSecurityContext": True, "containerSecurityContext": {"privileged": True}},
         "containerSecurityContext.privileged=true"),
    ],
)  # fmt: skip
def test_release_notes_warn(helm: str, chart: str, values: dict, warning: str) -> None:
    if charts.helm_version(helm).startswith("v3."):
        pytest.skip("helm 3 renders release notes only against a cluster (install --dry-run=client asks it)")
    base = {"dlpipe-serving": {"model": {"name": "digits"}}, "dlpipe-train": {"config": {"train": {"dataset": "d"}}}}
    merged = {**base[chart], **values, "sharedVolume": {"claimName": "data"}}
    charts.build_dependencies(charts.CHARTS / chart)
    result = charts.run_helm(helm, "install", "rel", str(charts.CHARTS / chart), "--dry-run=client",
                             "--values", str(charts.values_file(merged)))  # fmt: skip
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "WARNING:" in notes and warning in notes, notes
