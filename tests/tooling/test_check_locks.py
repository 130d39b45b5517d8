"""The offline lock checker passes on the committed locks and names what is wrong in a broken copy."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_checker(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_locks_under_test", REPO / "scripts/check_locks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.ROOT = root
    return module


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    for member in ("shared", "collector", "server"):
        (tmp_path / member).mkdir()
        shutil.copy(REPO / member / "pyproject.toml", tmp_path / member / "pyproject.toml")
    shutil.copytree(REPO / "docker", tmp_path / "docker")
    return tmp_path


def test_committed_locks_are_consistent(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_checker(repo_copy).main() == 0
    assert "locks consistent" in capsys.readouterr().out


def test_a_requirement_the_lock_does_not_satisfy_is_named(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = repo_copy / "collector/pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"click>=8.1"', '"click>=99"'))
    assert load_checker(repo_copy).main() == 1
    assert "click" in capsys.readouterr().err


def test_an_image_lock_that_differs_from_the_main_lock_is_named(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = repo_copy / "docker/requirements-server.lock"
    lines = lock.read_text().splitlines()
    pinned = next(i for i, line in enumerate(lines) if "==" in line)
    name = lines[pinned].split("==")[0]
    lines[pinned] = lines[pinned].replace("==", "==0.0.0.dev0+", 1).split(" ")[0] + " \\"
    lock.write_text("\n".join(lines) + "\n")
    assert load_checker(repo_copy).main() == 1
    assert name in capsys.readouterr().err


def test_an_undeclared_dependency_is_named(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = repo_copy / "server/pyproject.toml"
    text = pyproject.read_text().replace("dependencies = [", 'dependencies = [\n    "not-a-real-dependency>=1",', 1)
    pyproject.write_text(text)
    assert load_checker(repo_copy).main() == 1
    assert "not-a-real-dependency is declared" in capsys.readouterr().err
