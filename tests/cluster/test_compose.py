"""docker-compose.yml, checked without a Docker engine: by the real compose tool where it is
installed (`docker-compose config`), and on its parsed structure everywhere."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.cluster.compose import (
    APP_SERVICES,
    CLUSTER_SECRETS,
    COMPOSE_FILE,
    COMPOSE_ONLY_VARIABLES,
    DOCKERFILE,
    ENV_TEMPLATE,
    MissingVariable,
    compose_tool,
    container_command,
    container_environment,
    interpolate,
    load_compose,
    make_cluster_env,
    read_env_file,
    write_env_file,
)
from tests.cluster.proxy import COMPOSE_CONFIG, SITE, Directive, native_config, parse
from tests.needs import services_required
from webapp.cli import drain_seconds
from webapp.settings import PROJECT_ROOT, Settings

SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}
ALL_SERVICES = {"mysql", "redis", "rabbitmq", "migrate", "app", "worker", "proxy"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A compose project folder: the compose file beside a .env made as a newcomer's is."""
    shutil.copy(COMPOSE_FILE, tmp_path / COMPOSE_FILE.name)
    make_cluster_env(tmp_path / ".env")
    return tmp_path


@pytest.fixture
def tool() -> list[str]:
    found = compose_tool()
    if found is None:
        message = "no compose tool (apt-get install docker-compose)"
        if services_required():
            pytest.fail(f"{message}, and REQUIRE_SERVICES=1 says it must be there")
        pytest.skip(message)
    return found


def compose_config(tool: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tool, "config"], cwd=project, capture_output=True, text=True, check=False, timeout=60
    )


def raw_services() -> dict[str, Any]:
    services: dict[str, Any] = load_compose()["services"]
    return services


# --- .env and `make cluster-env` ----------------------------------------------------


def test_make_cluster_env_copies_the_template_and_fills_every_secret(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    first = make_cluster_env(env_file)
    template = read_env_file(ENV_TEMPLATE)
    made = read_env_file(env_file)
    assert made.keys() == template.keys()
    for name in CLUSTER_SECRETS:
        assert template[name] == "", f"{name} must not have a value in .env.template"
        assert re.fullmatch(r"[0-9a-f]{48}", made[name]), f"{name} was not generated"
        assert name in first.stdout
    assert {k: v for k, v in made.items() if k not in CLUSTER_SECRETS} == {
        k: v for k, v in template.items() if k not in CLUSTER_SECRETS
    }
    assert len({made[name] for name in CLUSTER_SECRETS}) == len(CLUSTER_SECRETS)


def test_make_cluster_env_keeps_an_existing_env_and_its_values(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    variables = read_env_file(ENV_TEMPLATE) | {"SECRET_KEY": "mine", "PORT": "9000"}
    # As a .env written before the cluster existed: no cluster variables at all.
    for name in COMPOSE_ONLY_VARIABLES:
        del variables[name]
    env_file.write_text("".join(f"{name}={value}\n" for name, value in variables.items())[:-1])
    added = make_cluster_env(env_file)
    made = read_env_file(env_file)
    assert made["SECRET_KEY"] == "mine"
    assert made["PORT"] == "9000"
    assert made.keys() == read_env_file(ENV_TEMPLATE).keys()
    assert made["MYSQL_DATABASE"] == read_env_file(ENV_TEMPLATE)["MYSQL_DATABASE"]
    for name in ("MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD", "RABBITMQ_DEFAULT_PASS"):
        assert re.fullmatch(r"[0-9a-f]{48}", made[name])
    assert f"added MYSQL_USER to {env_file}" in added.stdout
    assert not list(tmp_path.glob("*.bak"))
    before = env_file.read_text()
    second = make_cluster_env(env_file)
    assert env_file.read_text() == before
    assert second.stdout == ""


def test_the_makefile_and_these_tests_agree_on_the_secrets() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    line = re.search(r"^CLUSTER_SECRETS := (.+)$", makefile, re.M)
    assert line is not None
    assert tuple(line[1].split()) == CLUSTER_SECRETS


def test_run_in_cluster_makes_the_env_then_builds_and_starts_the_cluster() -> None:
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "run-in-cluster", "COMPOSE=docker-compose"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "cp .env.template" in dry_run
    assert (
        dry_run.rstrip().splitlines()[-1]
        == "docker-compose up --build --scale app=2 --scale worker=1"
    )


def test_make_run_in_cluster_scales_the_app_and_the_workers() -> None:
    dry_run = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "run-in-cluster",
            "COMPOSE=docker-compose",
            "REPLICAS=3",
            "WORKERS=2",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert dry_run.rstrip().splitlines()[-1].endswith("--scale app=3 --scale worker=2")


def test_the_makefiles_numbers_of_replicas_are_the_compose_files() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    services = raw_services()
    for variable, service in (("REPLICAS", "app"), ("WORKERS", "worker")):
        default = re.search(rf"^{variable} \?= (\d+)$", makefile, re.M)
        assert default is not None, variable
        assert int(default[1]) == services[service]["deploy"]["replicas"], variable


def test_every_template_variable_is_a_setting_or_used_by_the_compose_file() -> None:
    template = read_env_file(ENV_TEMPLATE)
    assert set(template) - SETTINGS_VARIABLES == set(COMPOSE_ONLY_VARIABLES)
    compose_text = COMPOSE_FILE.read_text()
    for name in COMPOSE_ONLY_VARIABLES:
        assert "${" + name in compose_text, f"{name} is in .env.template but compose ignores it"


# --- the real compose tool ----------------------------------------------------------


def test_compose_tool_accepts_the_file_with_a_newcomers_env(tool: list[str], project: Path) -> None:
    result = compose_config(tool, project)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == ALL_SERVICES


def test_compose_tool_gives_each_container_the_environment_the_smoke_run_uses(
    tool: list[str], project: Path
) -> None:
    resolved = yaml.safe_load(compose_config(tool, project).stdout)["services"]
    for service in ALL_SERVICES:
        expected = container_environment(service, project / ".env")
        actual = {
            key: str(value) for key, value in resolved[service].get("environment", {}).items()
        }
        assert actual == expected, service


@pytest.mark.parametrize("secret", CLUSTER_SECRETS)
def test_compose_tool_refuses_a_cluster_without_a_secret(
    tool: list[str], project: Path, secret: str
) -> None:
    env_file = project / ".env"
    write_env_file(env_file, read_env_file(env_file) | {secret: ""})
    result = compose_config(tool, project)
    assert result.returncode != 0
    assert f"set {secret} in .env" in result.stderr


# --- the parsed file ----------------------------------------------------------------


def test_interpolation_follows_compose_rules() -> None:
    variables = {"SET": "value", "EMPTY": ""}
    assert interpolate("a${SET}b$SET$$SET", variables) == "avaluebvalue$SET"
    assert interpolate("${EMPTY:-fallback}|${EMPTY-fallback}|${GONE-x}", variables) == "fallback||x"
    assert interpolate("${EMPTY?fine}", variables) == ""
    with pytest.raises(MissingVariable, match="EMPTY: say so"):
        interpolate("${EMPTY:?say so}", variables)
    with pytest.raises(MissingVariable, match="GONE"):
        interpolate("${GONE?missing}", variables)


def test_services_are_the_cluster() -> None:
    assert set(raw_services()) == ALL_SERVICES


def test_mysql_is_8_with_its_data_in_a_named_volume() -> None:
    compose = load_compose()
    mysql = compose["services"]["mysql"]
    assert re.fullmatch(r"mysql:8(\.\d+)*", mysql["image"])
    (volume,) = [entry for entry in mysql["volumes"] if entry.endswith(":/var/lib/mysql")]
    assert volume.split(":")[0] in compose["volumes"]


def test_depends_on_waits_for_health_and_for_the_migration() -> None:
    services = raw_services()
    expected = {
        "migrate": {"mysql": "service_healthy"},
        "proxy": {"app": "service_healthy"},
        "app": {
            "mysql": "service_healthy",
            "redis": "service_healthy",
            "rabbitmq": "service_healthy",
            "migrate": "service_completed_successfully",
        },
        "worker": {
            "mysql": "service_healthy",
            "redis": "service_healthy",
            "rabbitmq": "service_healthy",
            "migrate": "service_completed_successfully",
        },
    }
    for service, conditions in expected.items():
        depends_on = services[service]["depends_on"]
        assert {name: entry["condition"] for name, entry in depends_on.items()} == conditions
    for service in ("mysql", "redis", "rabbitmq"):
        assert services[service]["healthcheck"]["test"], f"{service} has no healthcheck"
        assert "depends_on" not in services[service]


def test_app_services_run_the_documented_commands() -> None:
    assert container_command("migrate") == ["python", "-m", "webapp", "migrate"]
    assert container_command("app") == ["python", "-m", "webapp", "serve", "--no-migrate"]
    assert container_command("worker") == ["python", "-m", "webapp", "worker"]
    services = raw_services()
    assert services["migrate"]["restart"] == "no"
    # The image's HEALTHCHECK probes HTTP; only the app serves it.
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in services["app"]


def test_app_services_share_one_image_definition() -> None:
    services = raw_services()
    shared = load_compose()["x-app"]
    for service in APP_SERVICES:
        for key, value in shared.items():
            assert services[service][key] == value, (service, key)


@pytest.mark.parametrize("service", ["app", "worker"])
def test_the_app_and_the_worker_can_be_scaled(service: str) -> None:
    definition = raw_services()[service]
    assert "container_name" not in definition
    # A port published by each replica would clash: the proxy is the way in.
    assert "ports" not in definition
    assert definition["deploy"]["replicas"] >= 1


def test_python_version_flows_from_env_into_the_dockerfile_from(project: Path) -> None:
    env_file = project / ".env"
    write_env_file(env_file, read_env_file(env_file) | {"PYTHON_VERSION": "3.12"})
    services = load_compose(read_env_file(env_file))["services"]
    dockerfile = DOCKERFILE.read_text()
    (argument,) = re.findall(r"^ARG (\w+)=", dockerfile, re.M)
    for service in APP_SERVICES:
        build_args = services[service]["build"]["args"]
        assert build_args == {argument: "3.12"}
        bases = [
            line.split()[1].replace("${" + argument + "}", build_args[argument])
            for line in dockerfile.splitlines()
            if line.startswith("FROM ")
        ]
        assert set(bases) == {"python:3.12-slim"}


def test_app_containers_get_a_valid_configuration_pointing_at_the_services(
    project: Path,
) -> None:
    dotenv = read_env_file(project / ".env")
    for service in APP_SERVICES:
        environment = container_environment(service, project / ".env")
        assert set(environment) >= SETTINGS_VARIABLES
        settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[arg-type]
        database = urlsplit(settings.database_url)
        assert (database.hostname, database.port, database.path) == (
            "mysql",
            3306,
            "/" + dotenv["MYSQL_DATABASE"],
        )
        assert (database.username, database.password) == (
            dotenv["MYSQL_USER"],
            dotenv["MYSQL_PASSWORD"],
        )
        assert urlsplit(settings.redis_url).hostname == "redis"
        broker = urlsplit(settings.broker_url)
        assert (broker.scheme, broker.hostname, broker.path) == (
            "amqp",
            "rabbitmq",
            "/" + dotenv["RABBITMQ_DEFAULT_VHOST"],
        )
        assert (broker.username, broker.password) == (
            dotenv["RABBITMQ_DEFAULT_USER"],
            dotenv["RABBITMQ_DEFAULT_PASS"],
        )
        assert settings.secret_key.get_secret_value() == dotenv["SECRET_KEY"]
        assert settings.host == "0.0.0.0"


def test_service_images_get_their_credentials_from_env(project: Path) -> None:
    dotenv = read_env_file(project / ".env")
    mysql = container_environment("mysql", project / ".env")
    rabbitmq = container_environment("rabbitmq", project / ".env")
    for name in ("MYSQL_ROOT_PASSWORD", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD"):
        assert mysql[name] == dotenv[name]
    for name in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_VHOST"):
        assert rabbitmq[name] == dotenv[name]


def test_the_proxy_publishes_the_port_from_env_and_reaches_the_apps_port(project: Path) -> None:
    env_file = project / ".env"
    write_env_file(env_file, read_env_file(env_file) | {"PORT": "8123"})
    proxy = load_compose(read_env_file(env_file))["services"]["proxy"]
    host_port, container_port = proxy["ports"][0].split(":")
    assert (host_port, len(proxy["ports"])) == ("8123", 1)
    http = parse(COMPOSE_CONFIG.read_text()).find("http")
    assert http.find("server").find("listen").args == (container_port,)
    # The app listens on its container's port whatever PORT the host uses.
    app_port = container_environment("app", env_file)["PORT"]
    upstream = http.find("upstream", "tasks_app")
    assert upstream.find("server").args == (f"app:{app_port}", "resolve")
    assert f"EXPOSE {app_port}" in DOCKERFILE.read_text()


# --- the reverse proxy ------------------------------------------------------------------


def test_the_proxy_is_the_official_nginx_with_the_projects_files_mounted() -> None:
    proxy = raw_services()["proxy"]
    # `server ... resolve` in an upstream (replicas found again as they come and go)
    # needs nginx 1.27.3 or newer.
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)(-alpine)?", proxy["image"])
    assert version is not None, proxy["image"]
    assert (int(version[1]), int(version[2])) >= (1, 28)
    mounts = {}
    for volume in proxy["volumes"]:
        source, target, mode = volume.split(":")
        assert mode == "ro", volume
        assert (PROJECT_ROOT / source).is_file(), source
        mounts[Path(source).name] = target
    assert mounts == {
        "nginx.conf": "/etc/nginx/nginx.conf",
        SITE.name: f"/etc/nginx/tasks/{SITE.name}",
    }
    # nginx.conf includes the shared file where compose mounts it.
    http = parse(COMPOSE_CONFIG.read_text()).find("http")
    assert http.find("server").find("include").args == (mounts[SITE.name],)


def test_the_native_proxy_differs_from_the_composes_only_in_where_things_are(
    tmp_path: Path,
) -> None:
    """tests/cluster/test_replicas.py runs nginx.conf's native twin: the same shared file
    at the same place, and the same shape around it."""
    compose = parse(COMPOSE_CONFIG.read_text())
    native = parse(native_config(tmp_path, "127.0.0.1:8440", ["127.0.0.1:8441"]))

    def shape(config: Directive) -> list[tuple[str, ...]]:
        http = config.find("http")
        upstream = http.find("upstream", "tasks_app")
        server = http.find("server")
        return [
            tuple(d.name for d in config.block or () if d.name not in {"user", "pid"}),
            tuple(d.name for d in upstream.block or () if d.name not in {"zone"}),
            tuple(d.name for d in server.block or ()),
            (Path(server.find("include").args[0]).name,),
        ]

    assert shape(native) == shape(compose)
    assert shape(compose)[3] == (SITE.name,)
    assert Path(native.find("http").find("server").find("include").args[0]) == SITE


def test_the_app_believes_forwarded_headers_from_the_proxy_alone(project: Path) -> None:
    compose = load_compose()
    services = compose["services"]
    address = services["proxy"]["networks"]["edge"]["ipv4_address"]
    (subnet,) = [entry["subnet"] for entry in compose["networks"]["edge"]["ipam"]["config"]]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    assert container_environment("app", project / ".env")["TRUSTED_PROXIES"] == address
    # On the edge network: the proxy and the app's replicas, nobody else.
    on_edge = {name for name, service in services.items() if "edge" in service.get("networks", [])}
    assert on_edge == {"proxy", "app"}
    assert list(services["proxy"]["networks"]) == ["edge"]


def test_a_stopping_app_container_gets_time_to_drain(project: Path) -> None:
    """docker stop waits stop_grace_period, then SIGKILLs: Granian must have ended (or
    killed) its requests before that."""
    environment = container_environment("app", project / ".env")
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[arg-type]
    grace = raw_services()["app"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace)
    assert int(grace[:-1]) >= drain_seconds(settings) + 5


def test_no_secret_has_a_value_in_the_compose_file() -> None:
    secret_name = re.compile(r"PASSWORD|PASS$|SECRET|KEY$")
    reference = re.compile(r"\$\{(\w+)(:\?[^}]*)?\}")
    for service, definition in {"x-app": load_compose()["x-app"], **raw_services()}.items():
        environment = definition.get("environment") or {}
        for key, value in environment.items():
            if secret_name.search(key):
                match = reference.fullmatch(value)
                assert match, f"{service}: {key} must come from .env"
                assert match[1] == key
            # Credentials inside a URL: nothing but references to .env in user and password.
            masked = reference.sub("VAR", str(value))
            for userinfo in re.findall(r"//([^/]*)@", masked):
                assert re.fullmatch(r"VAR(:VAR)?", userinfo), f"{service}: literal in {key}"
