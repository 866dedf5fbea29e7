"""ops/k8s: valid against the Kubernetes schemas (pinned version), hardened pods, no drift from ops/prometheus."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.model.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "ops" / "k8s"
K8S_VERSION = "1.33.0"  # the oldest Kubernetes release the manifests are checked against
CRDS = {"ServiceMonitor", "PrometheusRule"}  # Prometheus Operator kinds: no schema in the package
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def manifests() -> list[Path]:
    return sorted([*K8S.glob("*.yaml"), *(K8S / "generated").glob("*.yaml")])


def documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in manifests()
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def of_kind(*kinds: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] in kinds]


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("newsmon_k8s_generate", K8S / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in documents() if d["kind"] not in CRDS and d["kind"] != "Kustomization"],
    ids=lambda value: (
        value.name if isinstance(value, Path) else f"{value['kind']}/{value['metadata']['name']}"
    ),
)
def test_every_object_is_valid_for_the_pinned_kubernetes(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_generated_manifests_do_not_drift(generate: ModuleType) -> None:
    for path, text in generate.generated().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run ops/k8s/generate.py"


def test_rules_and_scrape_jobs_are_the_ones_prometheus_uses() -> None:
    rules = yaml.safe_load((ROOT / "ops/prometheus/rules/newsmon.yml").read_text(encoding="utf-8"))
    (rule,) = of_kind("PrometheusRule")
    assert rule["spec"]["groups"] == rules["groups"]
    config = yaml.safe_load((ROOT / "ops/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    jobs = [job["job_name"] for job in config["scrape_configs"] if job["job_name"].startswith("newsmon-")]
    monitors = of_kind("ServiceMonitor")
    assert [m["metadata"]["name"] for m in monitors] == jobs
    services = of_kind("Service")
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if wanted.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, f"{monitor['metadata']['name']} selects {len(matched)} Services"
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in matched[0]["spec"]["ports"]}
        assert monitor["spec"]["endpoints"][0]["relabelings"][0]["replacement"] == monitor["metadata"]["name"]


def test_every_service_selects_pods_and_exposes_a_named_container_port() -> None:
    pods = [w["spec"]["template"] for w in of_kind(*WORKLOADS)]
    for service in of_kind("Service"):
        selector = service["spec"]["selector"]
        selected = [p for p in pods if selector.items() <= p["metadata"]["labels"].items()]
        assert selected, f"Service {service['metadata']['name']} selects no pod"
        for pod in selected:
            names = {port["name"] for c in pod["spec"]["containers"] for port in c.get("ports", [])}
            assert {p["targetPort"] for p in service["spec"]["ports"]} <= names


@pytest.mark.parametrize("workload", of_kind(*WORKLOADS), ids=lambda w: w["metadata"]["name"])
def test_pods_run_non_root_read_only_with_resources(workload: dict[str, Any]) -> None:
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]


def test_workers_use_static_membership_from_the_pod_name() -> None:
    (worker,) = of_kind("StatefulSet")
    env = {e["name"]: e for e in worker["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CONSUMER_GROUP_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    budgets = {b["metadata"]["name"]: b["spec"] for b in of_kind("PodDisruptionBudget")}
    assert budgets["newsmon-worker"]["maxUnavailable"] == 1


def test_one_rss_poller_and_the_ingest_endpoint_uses_tokens() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    rss = deployments["newsmon-producer-rss"]["spec"]
    assert rss["replicas"] == 1 and rss["strategy"] == {"type": "Recreate"}
    assert "--dedupe" in rss["template"]["spec"]["containers"][0]["command"]
    ingest = deployments["newsmon-ingest"]["spec"]["template"]["spec"]
    assert ingest["volumes"] == [{"name": "tokens", "secret": {"secretName": "newsmon-ingest-tokens"}}]


def test_the_env_configmap_names_only_real_settings_and_replicates() -> None:
    env = next(c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "newsmon-env")["data"]
    fields = {f"NEWSMON_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    assert env["NEWSMON_TOPIC_REPLICATION"] == "3" and env["NEWSMON_REDIS_SENTINELS"].count(",") == 2


def test_the_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    present = {str(p.relative_to(K8S)) for p in manifests()} - {"kustomization.yaml", "secrets.example.yaml"}
    assert listed == present


def test_the_validator_rejects_an_unknown_field() -> None:
    """Guards the tests above: strict validation at the pinned version does catch a misspelt key."""
    with pytest.raises(kubernetes_validate.ValidationError, match="'datta' was unexpected"):
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "datta": {}},
            K8S_VERSION,
            strict=True,
        )
