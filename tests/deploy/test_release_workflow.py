"""The release workflow: on a version tag it builds the Action image for two platforms
with provenance, pushes it to GHCR, and points that tag's action.yml at the image, so
users pull instead of building (its shell steps are linted by actionlint in CI)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _workflow() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    assert isinstance(data, dict)
    return data


def _steps() -> dict[str, str]:
    job = _workflow()["jobs"]["image"]
    return {step.get("name", step.get("uses", "")): step.get("run", "") for step in job["steps"]}


def test_runs_on_version_tags_with_least_privilege() -> None:
    data = _workflow()
    on = data[True] if True in data else data["on"]  # YAML 1.1 reads `on` as true
    (pattern,) = on["push"]["tags"]
    glob = re.compile(pattern.replace(".", r"\.") + "$")  # GitHub: "." literal, "+" repeats
    assert glob.match("v1.2.3") and not glob.match("v1") and not glob.match("latest")
    assert data["permissions"] == {}
    assert data["jobs"]["image"]["permissions"] == {"contents": "write", "packages": "write"}


def test_builds_two_platforms_with_provenance_and_pushes_to_ghcr() -> None:
    build = _steps()["Build and push (amd64 + arm64, provenance, SBOM)"]
    assert "--platform linux/amd64,linux/arm64" in build
    assert "--provenance=mode=max" in build and "--sbom=true" in build
    assert "--file Dockerfile" in build and "--push" in build
    assert '--tag "${IMAGE}:${VERSION}"' in build
    version = _steps()["Check the tag against the package version"]
    assert 'image="ghcr.io/${GITHUB_REPOSITORY,,}"' in version  # GHCR names are lower-case


def test_the_pinning_step_rewrites_this_action_yml(tmp_path: Path) -> None:
    pin = _steps()["Point the tag's action.yml at the image"]
    sed = re.search(r'sed -i "([^"]+)" action.yml', pin)
    assert sed is not None
    action = tmp_path / "action.yml"
    action.write_text((ROOT / "action.yml").read_text())
    expr = (
        sed.group(1).replace("${IMAGE}", "ghcr.io/octo/devin-bridge").replace("${VERSION}", "1.2.3")
    )
    subprocess.run(["sed", "-i", expr, str(action)], check=True)
    runs = yaml.safe_load(action.read_text())["runs"]
    assert runs == {"using": "docker", "image": "docker://ghcr.io/octo/devin-bridge:1.2.3"}
    assert yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["image"] == "Dockerfile"
    assert 'git push --force origin "refs/tags/${GITHUB_REF_NAME}"' in pin
