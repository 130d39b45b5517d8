"""Check, offline, that the committed hashed locks satisfy the pyproject files.

Why not re-resolve and diff: a fresh `uv lock` picks whatever the package index serves today
(the index mirror does not honour `exclude-newer` reliably), so a lock that is perfectly valid
would "drift" every time an upstream package releases. What CI must know is narrower and
deterministic: every dependency the pyproject files declare is pinned, at a version they allow,
with hashes; and every container image lock pins exactly what the main lock pins. Transitive
completeness is checked after installation by `uv pip check` (see the Makefile's lock-check).
`make lock` re-resolves on purpose, when someone chooses to upgrade.

Exit status 0 when the locks are consistent, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE_MEMBERS = {"devlog", "devlog-shared", "devlog-server"}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass
class Pin:
    version: str
    marker: str | None
    hashes: set[str]


def read_lock(path: Path) -> dict[str, Pin]:
    """Parse a uv-exported hashed requirements file into name -> pin."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            current = Pin(match["version"], (match["marker"] or "").strip() or None, set())
            pins[canonicalize_name(match["name"])] = current
            continue
        hashed = HASH.search(line)
        if hashed and current is not None:
            current.hashes.add(hashed.group(1))
            continue
        raise SystemExit(f"{path.relative_to(ROOT)}: cannot read line: {raw!r}")
    return pins


def declared(pyproject: Path, *, runtime_only: bool = False) -> list[Requirement]:
    """The requirements a pyproject declares (runtime, and unless runtime_only its groups)."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    items = list(data.get("project", {}).get("dependencies", []))
    if not runtime_only:
        for group in data.get("dependency-groups", {}).values():
            items.extend(entry for entry in group if isinstance(entry, str))
    return [Requirement(item) for item in items]


def check_satisfies(lock_name: str, pins: dict[str, Pin], requirements: list[Requirement]) -> list[str]:
    problems = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name in WORKSPACE_MEMBERS or (req.marker is not None and not req.marker.evaluate()):
            continue
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{lock_name}: {req.name} is declared ({req}) but not pinned; run `make lock`")
        elif req.specifier and not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{lock_name}: {req.name}=={pin.version} does not satisfy {req}; run `make lock`")
    return problems


def check_subset(lock_name: str, sub: dict[str, Pin], main: dict[str, Pin]) -> list[str]:
    problems = []
    for name, pin in sub.items():
        reference = main.get(name)
        if reference is None:
            problems.append(f"{lock_name}: {name} is not in requirements.lock")
        elif reference.version != pin.version or reference.hashes != pin.hashes:
            problems.append(f"{lock_name}: {name}=={pin.version} differs from requirements.lock ({reference.version})")
    return problems


def main() -> int:
    main_lock = read_lock(ROOT / "requirements.lock")
    problems = [f"requirements.lock: {name} has no hashes" for name, pin in main_lock.items() if not pin.hashes]
    members = [ROOT / m / "pyproject.toml" for m in ("shared", "collector", "server")]
    for pyproject in [ROOT / "pyproject.toml", *members]:
        problems += check_satisfies("requirements.lock", main_lock, declared(pyproject))

    images = {
        "requirements-collector.lock": [ROOT / "shared/pyproject.toml", ROOT / "collector/pyproject.toml"],
        "requirements-server.lock": [ROOT / "shared/pyproject.toml", ROOT / "server/pyproject.toml"],
    }
    for lock_name, pyprojects in images.items():
        pins = read_lock(ROOT / "docker" / lock_name)
        problems += check_subset(f"docker/{lock_name}", pins, main_lock)
        for pyproject in pyprojects:
            problems += check_satisfies(f"docker/{lock_name}", pins, declared(pyproject, runtime_only=True))
    build_pins = read_lock(ROOT / "docker/requirements-build.lock")
    problems += check_subset("docker/requirements-build.lock", build_pins, main_lock)
    build_group = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["dependency-groups"]["build"]
    problems += check_satisfies("docker/requirements-build.lock", build_pins, [Requirement(r) for r in build_group])

    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"locks consistent: {len(main_lock)} pins satisfy every pyproject; docker locks match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
