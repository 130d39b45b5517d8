"""pytest-docker wiring for the compose end-to-end suite (`make test-docker`, marker `docker`).

The stack is the repository's own `docker-compose.yml`, under a project name of its own and on free
host ports, so it never collides with a demo a developer has running (`docker compose up` uses the
project `devlog` and ports 8701-8703). Setup is `up --build --wait` (images from the build cache when
nothing changed); teardown is `down -v` with every profile, so containers, network and volumes go.
Without a Docker engine the suite skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
PROFILES = "--profile third --profile live"


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
        compose = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0 and compose.returncode == 0


@pytest.fixture(scope="session")
def compose_ports() -> dict[str, int]:
    """Free host ports for the servers, exported for compose's variable substitution."""
    if not docker_available():
        pytest.skip("no Docker engine with Compose v2 here (see ../shared/tools/docker-standin)")
    ports = {"team": free_port(), "personal": free_port(), "third": free_port()}
    for name, port in ports.items():
        os.environ[f"DEVLOG_{name.upper()}_PORT"] = str(port)
    return ports


@pytest.fixture(scope="session")
def docker_compose_file(compose_ports: dict[str, int]) -> str:
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return f"devlog-e2e-{os.getpid()}"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up --build --wait --wait-timeout 300"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return [f"{PROFILES} down -v --remove-orphans --timeout 20"]


@pytest.fixture(scope="session")
def stack_started_at() -> float:
    """When the session asked for the stack (before `up`), to report how long convergence took."""
    return time.monotonic()
