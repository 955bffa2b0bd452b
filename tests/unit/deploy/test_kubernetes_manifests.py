"""The Kubernetes base in deploy/kubernetes/ renders to objects that the Kubernetes API
schemas of a pinned version accept, runs the workers and the ingest endpoint the way the
architecture needs, and sets only settings that teampulse/settings.py reads.

The base is rendered here in Python (kustomize is not packaged in Debian or PyPI); the
renderer accepts only the kustomization fields the base uses and fails on any other, and
where `kubectl` is installed its own rendering is compared with this one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from teampulse.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
BASE_DIR = REPO_ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes release still supported upstream when the base was written.
KUBERNETES_VERSION = "1.32.0"
CLUSTER_SCOPED_KINDS = {"Namespace"}
SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "labels", "resources"}
WORKER = "teampulse-worker"
INGEST = "teampulse-ingest"


def render_base(base: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize base` prints, for the fields in SUPPORTED_FIELDS."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise ValueError(f"kustomization fields this renderer does not know: {unsupported}")
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise ValueError("labels with includeSelectors/includeTemplates are not rendered")
        labels |= entry["pairs"]
    objects = []
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((base / resource).read_text()):
            if document is None:
                continue
            metadata = document.setdefault("metadata", {})
            metadata["labels"] = {**metadata.get("labels", {}), **labels}
            if "namespace" in kustomization and document["kind"] not in CLUSTER_SCOPED_KINDS:
                metadata["namespace"] = kustomization["namespace"]
            objects.append(document)
    return objects


OBJECTS = render_base(BASE_DIR)


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    return find(kind, name)["spec"]["template"]["spec"]


def only_container(kind: str, name: str) -> dict[str, Any]:
    (container,) = pod_spec(kind, name)["containers"]
    return container


def key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("obj", OBJECTS, ids=key)
def test_every_object_is_valid_against_the_pinned_kubernetes_schemas(obj: dict[str, Any]) -> None:
    # strict: unknown fields (a typo such as `readinesProbe`) are errors, not ignored
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_base_holds_the_workers_the_ingest_endpoint_their_services_and_config() -> None:
    assert sorted(map(key, OBJECTS)) == [
        "ConfigMap/teampulse-config",
        "CronJob/teampulse-digest",
        "Deployment/teampulse-ingest",
        "Deployment/teampulse-notify",
        "Deployment/teampulse-web",
        "HorizontalPodAutoscaler/teampulse-ingest",
        "Namespace/teampulse",
        "PodDisruptionBudget/teampulse-worker",
        "Secret/teampulse-secrets",
        "Service/teampulse-ingest",
        "Service/teampulse-notify",
        "Service/teampulse-web",
        "Service/teampulse-worker",
        "Service/teampulse-worker-web",
        "StatefulSet/teampulse-worker",
    ]


def test_kubectl_renders_the_base_as_the_test_does() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: only the Python rendering is checked")
    result = subprocess.run(
        [kubectl, "kustomize", str(BASE_DIR)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rendered = {key(o): o for o in yaml.safe_load_all(result.stdout)}
    assert rendered == {key(o): o for o in OBJECTS}


# --- configuration cannot drift from the settings ------------------------------------------


def teampulse_variables_set_by_the_manifests() -> set[str]:
    names = set()
    for obj in OBJECTS:
        if obj["kind"] == "ConfigMap":
            names |= set(obj["data"])
        if obj["kind"] == "Secret":
            names |= set(obj.get("stringData", {})) | set(obj.get("data", {}))
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                names |= {variable["name"] for variable in container.get("env", [])}
    return names


def test_every_variable_the_manifests_set_is_a_setting() -> None:
    settings = {f"TEAMPULSE_{name.upper()}" for name in Settings.model_fields}
    variables = teampulse_variables_set_by_the_manifests()
    assert variables, "the manifests set no TEAMPULSE_* variable at all"
    assert variables - settings == set()


def test_every_config_map_value_is_one_the_settings_accept() -> None:
    (config,) = [o for o in OBJECTS if o["kind"] == "ConfigMap"]
    secrets = find("Secret", "teampulse-secrets")["stringData"]
    env = {**config["data"], **secrets}
    Settings(**{k.removeprefix("TEAMPULSE_").lower(): v for k, v in env.items()})


def test_the_pseudonym_key_credentials_and_webhooks_come_from_the_secret() -> None:
    config = find("ConfigMap", "teampulse-config")["data"]
    secrets = find("Secret", "teampulse-secrets")["stringData"]
    assert set(secrets) == {
        "TEAMPULSE_PSEUDONYM_SECRET",
        "TEAMPULSE_INGEST_CREDENTIALS",
        "TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL",
        "TEAMPULSE_SMTP_USERNAME",
        "TEAMPULSE_SMTP_PASSWORD",
        "TEAMPULSE_DIGEST_TEAMS_WEBHOOK_URL",
        "TEAMPULSE_DIGEST_SLACK_WEBHOOK_URL",
    }
    assert set(config) & set(secrets) == set()
    for kind, name in (("StatefulSet", WORKER), ("Deployment", INGEST)):
        sources = only_container(kind, name)["envFrom"]
        assert {"secretRef": {"name": "teampulse-secrets"}} in sources, name
        assert {"configMapRef": {"name": "teampulse-config"}} in sources, name


# --- workers --------------------------------------------------------------------------------


def test_workers_are_a_stateful_set_behind_a_headless_service_for_stable_names() -> None:
    workers = find("StatefulSet", WORKER)
    headless = find("Service", workers["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == workers["spec"]["selector"]["matchLabels"]


def test_workers_start_together_so_the_group_rebalances_once() -> None:
    assert find("StatefulSet", WORKER)["spec"]["podManagementPolicy"] == "Parallel"


def test_worker_probes_ask_the_web_port_the_worker_serves() -> None:
    container = only_container("StatefulSet", WORKER)
    (port,) = container["ports"]
    config = find("ConfigMap", "teampulse-config")["data"]
    assert port["containerPort"] == int(config["TEAMPULSE_WEB_PORT"])
    for probe in ("readinessProbe", "livenessProbe"):
        # The worker serves /metrics and the read API; it has no health endpoint of its own.
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": port["name"]}


def test_workers_advertise_their_pod_address_to_each_other() -> None:
    env = {v["name"]: v for v in only_container("StatefulSet", WORKER)["env"]}
    assert env["TEAMPULSE_WEB_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_worker_services_select_the_workers_web_port() -> None:
    workers = find("StatefulSet", WORKER)
    for name in ("teampulse-worker", "teampulse-worker-web"):
        service = find("Service", name)["spec"]
        assert service["selector"] == workers["spec"]["selector"]["matchLabels"]
        assert [p["targetPort"] for p in service["ports"]] == ["web"]


def test_worker_disruptions_move_one_worker_at_a_time() -> None:
    budget = find("PodDisruptionBudget", WORKER)["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"] == find("StatefulSet", WORKER)["spec"]["selector"]


# --- ingest ---------------------------------------------------------------------------------


def test_ingest_is_a_deployment_behind_a_service_on_its_port() -> None:
    container = only_container("Deployment", INGEST)
    (port,) = container["ports"]
    config = find("ConfigMap", "teampulse-config")["data"]
    assert port["containerPort"] == int(config["TEAMPULSE_INGEST_PORT"])
    assert config["TEAMPULSE_INGEST_HOST"] == "0.0.0.0"
    service = find("Service", INGEST)["spec"]
    assert service["selector"] == find("Deployment", INGEST)["spec"]["selector"]["matchLabels"]
    assert [p["targetPort"] for p in service["ports"]] == [port["name"]]


def test_ingest_probes_ask_an_endpoint_that_needs_no_credentials() -> None:
    container = only_container("Deployment", INGEST)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/xAPI/about"


def test_ingest_scales_horizontally_from_two_replicas() -> None:
    autoscaler = find("HorizontalPodAutoscaler", INGEST)["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": INGEST,
    }
    assert autoscaler["minReplicas"] == 2
    assert autoscaler["maxReplicas"] > autoscaler["minReplicas"]


def test_containers_run_the_image_user_not_root() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for kind, name in (("StatefulSet", WORKER), ("Deployment", INGEST)):
        context = pod_spec(kind, name)["securityContext"]
        assert context["runAsNonRoot"] is True
        assert f"--uid {context['runAsUser']} " in dockerfile, name


def test_the_web_app_and_notify_serve_the_ports_their_probes_and_services_ask() -> None:
    config = find("ConfigMap", "teampulse-config")["data"]
    for name, setting in (("teampulse-web", "WEBAPP"), ("teampulse-notify", "NOTIFY")):
        container = only_container("Deployment", name)
        (port,) = container["ports"]
        assert port["containerPort"] == int(config[f"TEAMPULSE_{setting}_PORT"]), name
        assert config[f"TEAMPULSE_{setting}_HOST"] == "0.0.0.0", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz", name
        assert find("Service", name)["spec"]["ports"][0]["targetPort"] == port["name"], name


def test_the_digest_runs_weekly_as_the_image_user() -> None:
    job = find("CronJob", "teampulse-digest")["spec"]
    assert job["schedule"] == "0 7 * * 1" and job["concurrencyPolicy"] == "Forbid"
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"][:2] == ["teampulse", "digest"]
