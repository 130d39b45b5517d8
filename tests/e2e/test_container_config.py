"""The container stack's files stay consistent with the code, checked without Docker (CI has none).

The compose suite (`tests/docker/`) only runs where a Docker engine is; these checks run everywhere:
the collector configs baked into the image still validate against the config schema, route exactly
as the e2e oracle says, and point at the demo's roots; compose wires each server to its own database
and the keys on both ends agree; images build only from the two allowed base images and hashed locks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from devlog_collector import demo
from devlog_collector.config import Config, parse_config
from tests.e2e.stack import RULES

ROOT = Path(__file__).resolve().parents[2]
CONTAINER_HOME = "/home/devlog"


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def load_collector_config(name: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> Config:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config, warnings = parse_config(load_yaml(ROOT / "docker" / name), source=name)
    assert not warnings, warnings
    return config


def rules_of(config: Config, remote: str) -> dict[str, list[str]]:
    workspaces = config.export.remotes[remote].workspaces
    rules = {"include": list(workspaces.include)}
    if workspaces.exclude:
        rules["exclude"] = list(workspaces.exclude)
    return rules


def test_demo_collector_config_routes_like_the_oracle(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_collector_config(
        "collector-config.yaml", monkeypatch, DEVLOG_TEAM_API_KEY="t", DEVLOG_PERSONAL_API_KEY="p"
    )
    assert {a: [Path(p) for p in paths] for a, paths in config.collect.roots.items()} == demo.roots(
        Path(CONTAINER_HOME) / "demo"
    )
    assert set(config.export.remotes) == {"team", "personal"}
    for name in ("team", "personal"):
        remote = config.export.remotes[name]
        assert rules_of(config, name) == RULES[name]
        assert remote.auto_sync and remote.sync_interval.total_seconds() <= 5
        assert remote.url == f"http://{name}:8000"
    assert config.export_default == "none"


def test_host_logs_config_routes_relative_to_the_host_home(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_collector_config(
        "collector-config.host-logs.yaml",
        monkeypatch,
        DEVLOG_TEAM_API_KEY="t",
        DEVLOG_PERSONAL_API_KEY="p",
        HOST_HOME="/Users/alice",
    )
    assert rules_of(config, "team") == {
        "include": ["/Users/alice/work/**", "/Users/alice/company/**"],
        "exclude": ["**/personal/**"],
    }
    assert rules_of(config, "personal") == {"include": ["/Users/alice/personal/**", "/Users/alice/side-projects/**"]}
    assert all(str(p).startswith("/agents/") for paths in config.collect.roots.values() for p in paths)


def test_compose_gives_each_server_its_own_database_and_matching_keys() -> None:
    services = load_yaml(ROOT / "docker-compose.yml")["services"]
    collector_env = services["collector"]["environment"]
    for name in ("team", "personal", "third"):
        server = services[name]
        env = server["environment"]
        database = re.search(r"@([a-z-]+):5432/(\w+)$", env["DEVLOG_SERVER_DATABASE_URL"])
        assert database is not None and database.group(1) == f"{name}-db"
        assert services[f"{name}-db"]["environment"]["POSTGRES_DB"] == database.group(2)
        assert server["depends_on"][f"{name}-db"]["condition"] == "service_healthy"
        # The server's bootstrap key and the collector's key for it are the same variable and default.
        key_var = f"DEVLOG_{name.upper()}_API_KEY"
        assert env["DEVLOG_SERVER_BOOTSTRAP_KEYS"] == f"collector:${{{key_var}:-{name}-demo-key}}"
        assert collector_env[key_var] == f"${{{key_var}:-{name}-demo-key}}"
        assert all(port.startswith("127.0.0.1:") for port in server["ports"]), "demo keys are public: loopback only"
    images = {s.get("image") for s in services.values()}
    assert images == {"postgres:17", "devlog-server:local", "devlog-collector:local"}


@pytest.mark.parametrize("dockerfile", ["Dockerfile.collector", "Dockerfile.server"])
def test_images_build_from_the_allowed_base_and_hashed_locks(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text(encoding="utf-8")
    assert re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE) == ["python:3.13-slim"]
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert re.search(r"^USER devlog$", text, flags=re.MULTILINE)
    assert "HEALTHCHECK" in text and "STOPSIGNAL SIGTERM" in text
    installs = [line for line in text.splitlines() if "install" in line and "-r /tmp/" in line]
    assert installs and all("--require-hashes" in line for line in installs)


@pytest.mark.parametrize("lock", ["requirements-collector.lock", "requirements-server.lock", "requirements-build.lock"])
def test_image_locks_pin_every_requirement_with_hashes(lock: str) -> None:
    text = (ROOT / "docker" / lock).read_text(encoding="utf-8")
    assert "--index-url" not in text and "--extra-index-url" not in text and "://" not in text
    requirements = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
    assert requirements
    for requirement in requirements:
        assert re.match(r"^[A-Za-z0-9._-]+==\S+", requirement), requirement.splitlines()[0]
        assert "--hash=sha256:" in requirement, requirement.splitlines()[0]
