"""deploy/kubernetes, checked without a cluster.

Every kustomization (the base and each overlay) is rendered with `kubectl kustomize`, and
every object it renders is validated offline against the API schemas of the Kubernetes
version pinned in the Makefile (kubernetes-validate, strict: unknown fields are errors).
Then what the pods would get is compared with what the app reads: every field of
`webapp.settings.Settings` must reach every process (app, worker, migrate) from the
ConfigMap or the Secret, or be on one of the two lists below that say why not. A new
setting therefore fails here until the manifests, or a list, are told about it.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_schemas
from pydantic_settings import BaseSettings

from tests.cluster.compose import (
    COMPOSE_ONLY_VARIABLES,
    DOCKERFILE,
    ENV_TEMPLATE,
    container_command,
    load_compose,
    read_env_file,
)
from tests.needs import services_required
from webapp.db import create_engine
from webapp.settings import PROJECT_ROOT, Settings
from webapp.web.health import READY_TIMEOUT_SECONDS

KUBERNETES_DIR = PROJECT_ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES_DIR / "base"
OVERLAYS = sorted(
    path.parent for path in (KUBERNETES_DIR / "overlays").glob("*/kustomization.yaml")
)
EXAMPLE = KUBERNETES_DIR / "overlays" / "example"
DEPLOY_README = PROJECT_ROOT / "deploy" / "README.md"
MAKEFILE = PROJECT_ROOT / "Makefile"

# Settings that carry passwords or sign cookies: in the Secret, never in the ConfigMap.
SECRET_VARIABLES = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "BROKER_URL")

# Settings the manifests leave to the app's default on purpose: name -> why. Empty today:
# every setting is written down in base/config.env or the Secret, so that the ConfigMap
# shows how the cluster runs. A new setting goes there, or here with its reason.
DELIBERATELY_DEFAULTED: dict[str, str] = {}

# Read when the image is built or by docker-compose.yml's own MySQL and RabbitMQ, never by
# a process in the cluster: the image already is one Python, and the database and broker
# are external, reached through DATABASE_URL and BROKER_URL.
BUILD_ONLY = (
    "PYTHON_VERSION",
    "MYSQL_DATABASE",
    "MYSQL_USER",
    "MYSQL_PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "RABBITMQ_DEFAULT_USER",
    "RABBITMQ_DEFAULT_PASS",
    "RABBITMQ_DEFAULT_VHOST",
)

# The cluster's processes, by their app.kubernetes.io/component label: also the names of
# their containers and of the compose services whose commands they run.
COMPONENTS = ("app", "worker", "migrate")

# What the Ingress needs so that server-sent events are not buffered or cut off.
SSE_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.org/proxy-buffering": "False",
}
SSE_TIMEOUTS = (
    "nginx.ingress.kubernetes.io/proxy-read-timeout",
    "nginx.ingress.kubernetes.io/proxy-send-timeout",
    "nginx.org/proxy-read-timeout",
    "nginx.org/proxy-send-timeout",
)
SSE_MIN_TIMEOUT_SECONDS = 3600

# deploy/README.md's first step of a release: what the migration needs, and the Job.
BEFORE_THE_PODS = "app.kubernetes.io/component notin (app,worker)"

Manifest = dict[str, Any]


def settings_variables(settings: type[BaseSettings] = Settings) -> set[str]:
    return {name.upper() for name in settings.model_fields}


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} := (\S+)$", MAKEFILE.read_text(), re.M)
    assert match, f"{name} is not set in the Makefile"
    return match[1]


KUBERNETES_VERSION = makefile_variable("KUBERNETES_VERSION")


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        message = "kubectl is not installed (`kubectl kustomize` renders deploy/kubernetes)"
        if services_required():
            pytest.fail(f"{message}, and REQUIRE_SERVICES=1 says it must be", pytrace=False)
        pytest.skip(message)
    return found


@cache
def _kustomize(executable: str, directory: Path) -> tuple[Manifest, ...]:
    result = subprocess.run(
        [executable, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


# --- what a rendering holds --------------------------------------------------------------


def labels(manifest: Manifest) -> dict[str, str]:
    found: dict[str, str] = manifest["metadata"].get("labels") or {}
    return found


def selects(selector: Mapping[str, str], pod_labels: Mapping[str, str]) -> bool:
    return all(pod_labels.get(key) == value for key, value in selector.items())


def decoded(secret: Manifest) -> dict[str, str]:
    values = {key: str(value) for key, value in (secret.get("stringData") or {}).items()}
    for key, value in (secret.get("data") or {}).items():
        # kustomize wraps long base64 over lines, which the API server ignores too.
        values[key] = base64.b64decode("".join(str(value).split())).decode()
    return values


@dataclass(frozen=True)
class Rendered:
    directory: Path
    objects: tuple[Manifest, ...]

    @property
    def name(self) -> str:
        return str(self.directory.relative_to(KUBERNETES_DIR))

    def of_kind(self, kind: str) -> list[Manifest]:
        return [item for item in self.objects if item["kind"] == kind]

    def one(self, kind: str, component: str | None = None) -> Manifest:
        found = [
            item
            for item in self.of_kind(kind)
            if component is None or labels(item).get("app.kubernetes.io/component") == component
        ]
        assert len(found) == 1, f"{self.name}: {len(found)} {kind} of component {component}"
        return found[0]

    def named(self, kind: str, name: str) -> Manifest | None:
        return next((item for item in self.of_kind(kind) if item["metadata"]["name"] == name), None)

    def workload(self, component: str) -> Manifest:
        kind = "Job" if component == "migrate" else "Deployment"
        return self.one(kind, component)

    def pod(self, component: str) -> dict[str, Any]:
        spec: dict[str, Any] = self.workload(component)["spec"]["template"]["spec"]
        return spec

    def pod_labels(self, component: str) -> dict[str, str]:
        found: dict[str, str] = self.workload(component)["spec"]["template"]["metadata"]["labels"]
        return found

    def container(self, component: str) -> dict[str, Any]:
        matching = [c for c in self.pod(component)["containers"] if c["name"] == component]
        assert len(matching) == 1, f"{self.name}: no container named {component}"
        container: dict[str, Any] = matching[0]
        return container

    def all_containers(self, component: str) -> list[dict[str, Any]]:
        pod = self.pod(component)
        containers: list[dict[str, Any]] = [
            *pod.get("initContainers", []),
            *pod["containers"],
        ]
        return containers

    def config(self) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap")["data"]
        return data

    def environment(self, component: str) -> dict[str, str]:
        """The variables `component`'s main container gets from the rendered objects.

        A Secret referenced but not rendered is one made by hand (`kubectl create secret`,
        deploy/README.md): it must hold SECRET_VARIABLES, whose values are unknown here.
        """
        container = self.container(component)
        environment: dict[str, str] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                config_map = self.named("ConfigMap", source["configMapRef"]["name"])
                assert config_map, f"{component}: no ConfigMap {source['configMapRef']['name']}"
                environment.update(config_map["data"])
            if "secretRef" in source:
                secret = self.named("Secret", source["secretRef"]["name"])
                environment.update(
                    decoded(secret) if secret else dict.fromkeys(SECRET_VARIABLES, "")
                )
        for variable in container.get("env", []):
            environment[variable["name"]] = str(variable.get("value", ""))
        return environment


def render(directory: Path) -> Rendered:
    return Rendered(directory, _kustomize(kubectl(), directory))


@pytest.fixture(params=[BASE, *OVERLAYS], ids=lambda path: path.name)
def kustomization(request: pytest.FixtureRequest) -> Rendered:
    """The base, and each overlay: what every overlay builds on must hold by itself."""
    directory: Path = request.param
    return render(directory)


@pytest.fixture(params=OVERLAYS, ids=lambda path: path.name)
def overlay(request: pytest.FixtureRequest) -> Rendered:
    """Each overlay: a whole installation, with its Secret and its release."""
    directory: Path = request.param
    return render(directory)


def unaccounted(settings: type[BaseSettings], environment: Mapping[str, str]) -> set[str]:
    """The settings a process would silently take the app's default for."""
    return (
        settings_variables(settings)
        - set(environment)
        - set(DELIBERATELY_DEFAULTED)
        - set(BUILD_ONLY)
    )


# --- schemas, and what `make lint` runs ----------------------------------------------------


def test_there_is_an_example_overlay() -> None:
    assert EXAMPLE in OVERLAYS


def test_every_object_is_valid_for_the_pinned_kubernetes(kustomization: Rendered) -> None:
    errors = []
    for item in kustomization.objects:
        name = f"{item['kind']}/{item['metadata']['name']}"
        try:
            kubernetes_schemas.validate(item, KUBERNETES_VERSION, strict=True)
        except kubernetes_schemas.SchemaNotFoundError as error:
            errors.append(f"{name}: {error.message}")
        except kubernetes_schemas.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{name}: {path}: {error.message}")
    assert not errors, "\n".join(errors)


def test_the_pinned_kubernetes_is_one_the_validator_ships() -> None:
    pinned = ".".join(KUBERNETES_VERSION.split(".")[:2])
    shipped = {".".join(v.split(".")[:2]) for v in kubernetes_schemas.all_versions()}
    assert pinned in shipped, f"kubernetes-validate has no schemas for {pinned}"


def test_make_lint_renders_and_validates_every_kustomization() -> None:
    makefile = MAKEFILE.read_text()
    lint = re.search(r"^lint:(.*)$", makefile, re.M)
    assert lint
    assert "k8s-validate" in lint[1].split(), "make lint must run k8s-validate"
    recipe = makefile[makefile.index("\nk8s-validate:") :].split("\n\n")[0]
    assert "kustomize" in recipe
    assert "kubernetes-validate --strict" in recipe
    assert "$(KUBERNETES_VERSION)" in recipe


def test_the_example_overlay_is_a_whole_installation() -> None:
    example = render(EXAMPLE)
    kinds = sorted(item["kind"] for item in example.objects)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "Secret",
            "Deployment",
            "Deployment",
            "Job",
            "Service",
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
        ]
    )
    assert {
        item["metadata"].get("namespace") for item in example.objects if item["kind"] != "Namespace"
    } == {example.one("Namespace")["metadata"]["name"]}


# --- settings: every one reaches every process, or is left out on purpose ----------------


def test_every_setting_reaches_every_process(overlay: Rendered) -> None:
    for component in COMPONENTS:
        missing = unaccounted(Settings, overlay.environment(component))
        assert not missing, (
            f"{overlay.name}: {component} does not get {sorted(missing)}. Set it in "
            "deploy/kubernetes/base/config.env (or the Secret, if it is one), or add it to "
            "DELIBERATELY_DEFAULTED in this file with the reason."
        )


def test_a_secret_made_by_hand_counts_as_set() -> None:
    # deploy/README.md's other way: no secretGenerator, `kubectl create secret` instead.
    example = render(EXAMPLE)
    by_hand = Rendered(EXAMPLE, tuple(o for o in example.objects if o["kind"] != "Secret"))
    for component in COMPONENTS:
        assert not unaccounted(Settings, by_hand.environment(component)), component
    assert_a_cluster_configuration(by_hand)


def test_a_new_setting_fails_until_the_manifests_know_it(overlay: Rendered) -> None:
    class Tomorrow(Settings):
        export_max_rows: int = 60

    assert unaccounted(Tomorrow, overlay.environment("app")) == {"EXPORT_MAX_ROWS"}


def test_the_lists_of_omissions_name_real_variables() -> None:
    template = set(read_env_file(ENV_TEMPLATE))
    for name, reason in DELIBERATELY_DEFAULTED.items():
        assert name in settings_variables(), f"{name} is not a setting any more"
        assert reason.strip(), f"{name} needs a reason"
    assert set(BUILD_ONLY) <= template, set(BUILD_ONLY) - template
    # Every variable compose reads for its own services is build-only here too.
    assert set(COMPOSE_ONLY_VARIABLES) <= set(BUILD_ONLY)
    assert not set(DELIBERATELY_DEFAULTED) & set(BUILD_ONLY)


def test_every_template_variable_is_set_or_left_out_on_purpose(overlay: Rendered) -> None:
    environment = overlay.environment("app")
    omitted = set(DELIBERATELY_DEFAULTED) | set(BUILD_ONLY)
    forgotten = set(read_env_file(ENV_TEMPLATE)) - set(environment) - omitted
    assert not forgotten, f"{overlay.name}: .env.template's {sorted(forgotten)} are not set"
    # Left out and set at once: one of the two is wrong.
    assert not omitted & set(environment), omitted & set(environment)


def test_the_manifests_set_only_variables_the_app_reads(kustomization: Rendered) -> None:
    names = set(kustomization.config())
    for secret in kustomization.of_kind("Secret"):
        names |= set(decoded(secret))
    typos = names - settings_variables()
    assert not typos, f"{kustomization.name}: no setting is called {sorted(typos)}"


def test_secrets_are_in_the_secret_and_only_there(kustomization: Rendered) -> None:
    config = kustomization.config()
    assert not set(SECRET_VARIABLES) & set(config)
    for name, value in config.items():
        assert not re.search(r"//[^/@]*:[^/@]*@", value), f"a password in the ConfigMap: {name}"
    for secret in kustomization.of_kind("Secret"):
        assert set(decoded(secret)) == set(SECRET_VARIABLES)
    for component in COMPONENTS:
        references = [
            source["secretRef"]["name"]
            for source in kustomization.container(component).get("envFrom", [])
            if "secretRef" in source
        ]
        assert len(references) == 1, f"{component} must get the Secret"


def test_the_example_commits_placeholders_not_secrets() -> None:
    secret = render(EXAMPLE).one("Secret")
    for name, value in decoded(secret).items():
        assert "CHANGE-ME" in value, f"{name} in the example overlay must be a placeholder"


def assert_a_cluster_configuration(overlay: Rendered) -> None:
    # Empty values are dropped as the app drops them (env_ignore_empty): the default wins.
    given = {k.lower(): v for k, v in overlay.environment("app").items() if v}
    settings = Settings(_env_file=None, **given)  # type: ignore[arg-type]
    assert settings.host == "0.0.0.0"
    assert settings.log_format == "json"
    # A reset drops every table: never in a cluster, where each migrate Job would do it.
    assert settings.db_reset_on_start is False
    # The Ingress serves HTTPS exactly when the cookies say they need it.
    assert settings.cookie_secure == bool(overlay.one("Ingress")["spec"].get("tls"))
    if overlay.of_kind("Secret"):
        # Replicas must share a key (one generated into var/ would be per pod), and
        # every process must reach the shared MySQL, Redis and RabbitMQ.
        assert settings.secret_key.get_secret_value()
        assert not settings.is_sqlite
        assert settings.redis_url
        assert settings.broker_url


def test_the_configuration_is_one_the_app_accepts_for_a_cluster(overlay: Rendered) -> None:
    assert_a_cluster_configuration(overlay)


def test_a_configuration_change_rolls_the_pods(overlay: Rendered) -> None:
    config_map = overlay.one("ConfigMap")["metadata"]["name"]
    # kustomize's hash suffix: a changed value is a new name, hence a new pod template.
    assert re.fullmatch(r"tasks-config-[a-z0-9]{10}", config_map), config_map
    secrets = {secret["metadata"]["name"] for secret in overlay.of_kind("Secret")}
    for component in COMPONENTS:
        sources = overlay.container(component)["envFrom"]
        assert {"configMapRef": {"name": config_map}} in sources, component
        for source in sources:
            if "secretRef" in source and secrets:
                assert source["secretRef"]["name"] in secrets, component


# --- the processes ------------------------------------------------------------------------


def test_each_process_runs_its_compose_service_command(kustomization: Rendered) -> None:
    for component in COMPONENTS:
        container = kustomization.container(component)
        assert container["command"] == container_command(component), component
        assert "args" not in container, component
    assert kustomization.container("app")["command"] == [
        "python",
        "-m",
        "webapp",
        "serve",
        "--no-migrate",
    ]
    # Migrations are the Job's alone: no init container runs them at each pod start.
    for component in ("app", "worker"):
        assert not kustomization.pod(component).get("initContainers"), component


def test_every_process_runs_the_same_image(kustomization: Rendered) -> None:
    images = {
        c["image"] for component in COMPONENTS for c in kustomization.all_containers(component)
    }
    assert len(images) == 1, images


def test_the_migration_job_is_named_for_its_release(overlay: Rendered) -> None:
    job = overlay.workload("migrate")
    image = overlay.container("migrate")["image"]
    assert "@" not in image, "name the release by tag, which the Job's name repeats"
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    assert tag != "latest", "a release needs a tag of its own"
    assert job["metadata"]["name"] == f"tasks-migrate-{tag}"
    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    assert spec["backoffLimit"] >= 1
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["ttlSecondsAfterFinished"] > 0


def test_the_readme_s_first_step_applies_the_migration_and_what_it_needs(
    overlay: Rendered,
) -> None:
    # `kubectl apply -k … -l '<BEFORE_THE_PODS>'`: objects without the label match too.
    first = {
        item["kind"]
        for item in overlay.objects
        if labels(item).get("app.kubernetes.io/component") not in {"app", "worker"}
    }
    assert first <= {"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Job"}, first
    assert {"ServiceAccount", "ConfigMap", "Job"} <= first
    assert BEFORE_THE_PODS in DEPLOY_README.read_text()


def test_probes_ask_the_app_s_health_endpoints(kustomization: Rendered) -> None:
    app = kustomization.container("app")
    assert app["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert app["livenessProbe"]["httpGet"]["path"] == "/health"
    assert app["startupProbe"]["httpGet"]["path"] == "/health"
    port = app["ports"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert app[probe]["httpGet"]["port"] in {port["name"], port["containerPort"]}, probe
    # /ready's own database deadline must run out before the kubelet's.
    assert app["readinessProbe"]["timeoutSeconds"] > READY_TIMEOUT_SECONDS
    for component in ("worker", "migrate"):
        container = kustomization.container(component)
        assert "ports" not in container, f"{component} serves nothing"


# --- security ------------------------------------------------------------------------------


def image_user() -> int:
    users = re.findall(r"^USER (\d+)(?::\d+)?$", DOCKERFILE.read_text(), re.M)
    assert users, "the Dockerfile's USER must be numeric"
    return int(users[-1])


def writable_dir() -> str:
    workdirs = re.findall(r"^WORKDIR (\S+)$", DOCKERFILE.read_text(), re.M)
    assert "install -d -o tasks -g tasks var" in DOCKERFILE.read_text()
    return f"{workdirs[-1].rstrip('/')}/var"


def test_pods_run_locked_down_as_the_image_user(kustomization: Rendered) -> None:
    for component in COMPONENTS:
        pod = kustomization.pod(component)
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, component
        assert context["runAsUser"] == image_user(), component
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, component
        assert pod["automountServiceAccountToken"] is False, component
        account = kustomization.named("ServiceAccount", pod["serviceAccountName"])
        assert account, f"{component}: no ServiceAccount {pod['serviceAccountName']}"
        assert account["automountServiceAccountToken"] is False, component
        for container in kustomization.all_containers(component):
            own = container["securityContext"]
            where = f"{component}/{container['name']}"
            assert own["readOnlyRootFilesystem"] is True, where
            assert own["allowPrivilegeEscalation"] is False, where
            assert own["runAsNonRoot"] is True, where
            assert own["capabilities"] == {"drop": ["ALL"]}, where
            assert not own.get("privileged"), where


def test_the_only_writable_places_are_scratch_volumes(kustomization: Rendered) -> None:
    for component in COMPONENTS:
        pod = kustomization.pod(component)
        scratch = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        for container in kustomization.all_containers(component):
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert set(mounts) == {writable_dir(), "/tmp"}, component
            assert set(mounts.values()) <= scratch, component


# --- capacity --------------------------------------------------------------------------------

_UNITS = {
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
}


def quantity(value: object) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(value))
    assert match, f"not a quantity: {value}"
    assert match[2] in _UNITS, f"not a unit this test reads: {value}"
    return float(match[1]) * _UNITS[match[2]]


def test_every_container_has_requests_and_limits(kustomization: Rendered) -> None:
    for component in COMPONENTS:
        for container in kustomization.all_containers(component):
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = quantity(resources["requests"][resource])
                limit = quantity(resources["limits"][resource])
                assert 0 < request <= limit, (component, resource)


def test_the_app_scales_on_cpu_and_keeps_two_replicas(kustomization: Rendered) -> None:
    hpa = kustomization.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    app = kustomization.workload("app")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": app["metadata"]["name"],
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    # The autoscaler owns the count; a number in the Deployment would be re-applied over it.
    assert "replicas" not in app["spec"]


def test_disruption_budgets_keep_one_pod_of_each_replicated_process(
    kustomization: Rendered,
) -> None:
    budgets = kustomization.of_kind("PodDisruptionBudget")
    replicated = ["app"]
    if kustomization.workload("worker")["spec"].get("replicas", 1) > 1:
        replicated.append("worker")
    for component in replicated:
        covering = [
            budget
            for budget in budgets
            if selects(
                budget["spec"]["selector"]["matchLabels"], kustomization.pod_labels(component)
            )
        ]
        assert len(covering) == 1, component
        assert covering[0]["spec"]["minAvailable"] == 1, component
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        covered = [c for c in COMPONENTS if selects(selector, kustomization.pod_labels(c))]
        assert len(covered) == 1, f"{budget['metadata']['name']} covers {covered}"


def test_deployments_select_their_own_pods_only(kustomization: Rendered) -> None:
    for component in ("app", "worker"):
        selector = kustomization.workload(component)["spec"]["selector"]["matchLabels"]
        covered = [c for c in COMPONENTS if selects(selector, kustomization.pod_labels(c))]
        assert covered == [component]


MYSQL_DEFAULT_MAX_CONNECTIONS = 151


def pool_overflow() -> int:
    """Connections a process's pool opens beyond DB_POOL_SIZE in a burst."""
    settings = Settings(_env_file=None, database_url="mysql+asyncmy://tasks@db.invalid/tasks")
    engine = create_engine(settings)
    try:
        return int(engine.sync_engine.pool._max_overflow)  # type: ignore[attr-defined]
    finally:
        engine.sync_engine.dispose()


def test_the_example_at_its_largest_fits_mysql_s_default_connections() -> None:
    # deploy/README.md, "Sizing": every app pod the HPA allows plus the one a rollout adds,
    # every worker pod (they roll without a surge), and the migration's one connection.
    example = render(EXAMPLE)
    config = example.config()
    per_process = int(config["DB_POOL_SIZE"]) + pool_overflow()
    app = example.workload("app")["spec"]
    worker = example.workload("worker")["spec"]
    assert worker["strategy"]["rollingUpdate"]["maxSurge"] == 0
    app_pods = example.one("HorizontalPodAutoscaler")["spec"]["maxReplicas"] + int(
        app["strategy"]["rollingUpdate"]["maxSurge"]
    )
    largest = (
        app_pods * int(config["WEB_CONCURRENCY"]) * per_process
        + worker["replicas"] * int(config["WORKER_PROCESSES"]) * per_process
        + 1
    )
    assert largest < MYSQL_DEFAULT_MAX_CONNECTIONS, largest


# --- shutdown ---------------------------------------------------------------------------------


def compose_stop_grace_seconds() -> int:
    value = str(load_compose()["services"]["worker"]["stop_grace_period"])
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match[1])


def test_shutdown_drains_before_the_kill(kustomization: Rendered) -> None:
    app_pod = kustomization.pod("app")
    pre_stop = kustomization.container("app")["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    pause = int(pre_stop[1])
    assert 1 <= pause <= 15
    app_grace = app_pod["terminationGracePeriodSeconds"]
    # The grace period counts from the start of preStop: draining needs time after it.
    assert app_grace >= pause + 10
    worker_grace = kustomization.pod("worker")["terminationGracePeriodSeconds"]
    assert worker_grace >= compose_stop_grace_seconds()
    assert worker_grace > app_grace


# --- the network --------------------------------------------------------------------------------


def test_the_service_sends_to_the_app_port(kustomization: Rendered) -> None:
    service = kustomization.one("Service")
    assert selects(service["spec"]["selector"], kustomization.pod_labels("app"))
    assert not selects(service["spec"]["selector"], kustomization.pod_labels("worker"))
    (container_port,) = kustomization.container("app")["ports"]
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in {container_port["name"], container_port["containerPort"]}
    # The app listens where the container port says.
    assert int(kustomization.config()["PORT"]) == container_port["containerPort"]


def test_the_ingress_streams_server_sent_events(kustomization: Rendered) -> None:
    ingress = kustomization.one("Ingress")
    annotations = ingress["metadata"]["annotations"]
    for name, value in SSE_ANNOTATIONS.items():
        assert annotations.get(name) == value, name
    for name in SSE_TIMEOUTS:
        assert int(annotations[name].removesuffix("s")) >= SSE_MIN_TIMEOUT_SECONDS, name
    service = kustomization.one("Service")
    port_names = {port["name"] for port in service["spec"]["ports"]}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in port_names
