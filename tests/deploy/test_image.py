"""The Dockerfile's image: an exact base, third-party packages pinned with their hashes, hitcount's own from the
checkout, and a build context of what it copies alone; checked on the files (no Docker here).

tests/install runs the Dockerfile's pip commands in a fresh virtual environment, `pip check` included.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# What the image installs, and the versions and hashes of their third-party dependencies.
REQUIREMENTS_IN = ROOT / "deploy" / "requirements.in"
REQUIREMENTS = ROOT / "deploy" / "requirements.txt"
# What local installs, test runs and tools leave in the checkout (hundreds of MB), and the passwords.
LEFT_OUT = [
    ".git/HEAD",
    ".venv/bin/python",
    ".nox/deploy/bin/python",
    "var/services.env",
    "deploy/.env",
    ".mypy_cache/3.11/cache.db",
    ".ruff_cache/CACHEDIR.TAG",
    ".pytest_cache/README.md",
    ".hypothesis/examples/0",
    "build/lib/x.py",
    "packages/core/build/lib/hitcount/core/cli.py",
    "packages/core/dist/hitcount_core-0.1.0+checkout-py3-none-any.whl",
    "packages/core/src/hitcount_core.egg-info/PKG-INFO",
    "packages/core/src/hitcount/core/__pycache__/cli.cpython-311.pyc",
    "packages/api-flask/.pytest_cache/README.md",
    "packages/api-flask/.hypothesis/examples/0",
]


def run_lines() -> list[str]:
    """The Dockerfile's RUN lines, each on one line, in order."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [re.sub(r"\s+", " ", run) for run in re.findall(r"^RUN (.+)$", text, re.MULTILINE)]


def pinned() -> dict[str, tuple[str, list[str]]]:
    """The requirements of deploy/requirements.txt: each name with its version and hashes."""
    found: dict[str, tuple[str, list[str]]] = {}
    entries = re.split(r"\n(?=\S)", REQUIREMENTS.read_text())
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        assert match, f"deploy/requirements.txt: not pinned to one version: {entry.splitlines()[0]}"
        found[canonicalize_name(match.group(1))] = (match.group(2), re.findall(r"--hash=(sha256:[0-9a-f]{64})", entry))
    return found


def image_requirements() -> list[Requirement]:
    """What deploy/requirements.in installs from an index, and what the checkout's packages it names depend on
    (with the extras it asks for), hitcount's own packages apart."""
    found = []
    for line in REQUIREMENTS_IN.read_text().splitlines():
        requirement = line.partition("#")[0].strip()
        if not requirement:
            continue
        if not requirement.startswith("./"):
            found.append(Requirement(requirement))
            continue
        path, _, extras = requirement.partition("[")
        project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]
        declared = [*project.get("dependencies", [])]
        for extra in filter(None, extras.rstrip("]").split(",")):
            declared += project["optional-dependencies"][extra]
        found += [Requirement(text) for text in declared if not text.startswith("hitcount-")]
    return found


def ignored(path: str) -> bool:
    """Whether `docker build` leaves ``path`` out of its context under .dockerignore: the last pattern that
    matches the path or a folder above it decides, one starting with ``!`` keeping it (moby's patternmatcher)."""
    verdict = False
    for line in DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        glob = re.compile(glob_regex(pattern.removeprefix("!").strip("/")))
        parts = path.split("/")
        if any(glob.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            verdict = not keep
    return verdict


def glob_regex(pattern: str) -> str:
    """The regular expression of a .dockerignore glob: ``**`` any number of folders, ``*`` and ``?`` within one."""
    tokens = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    spelled = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return "".join(spelled.get(token, re.escape(token)) for token in tokens)


def test_the_base_image_is_an_exact_python_release_on_an_exact_debian() -> None:
    [image] = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), image


def test_every_third_party_requirement_of_the_image_is_pinned_with_its_hashes() -> None:
    requirements = pinned()
    assert requirements
    assert [name for name, (_, hashes) in requirements.items() if not hashes] == []
    assert [name for name in requirements if name.startswith("hitcount-")] == []


def test_the_image_installs_the_hashed_requirements_then_hitcount_without_dependencies() -> None:
    steps = [step.strip() for run in run_lines() for step in run.split("&&") if step.strip().startswith("pip ")]
    assert steps[0].endswith("--require-hashes -r deploy/requirements.txt"), steps
    assert steps[1].startswith("pip install"), steps
    assert steps[1].endswith("--no-deps --no-build-isolation -r deploy/requirements.in"), steps
    assert steps[2:] == ["pip check"], steps


def test_the_pinned_versions_meet_what_the_image_requires() -> None:
    """A dependency added to a package without `make image-requirements` fails here (and `pip check` in the
    image, and tests/install)."""
    versions = {name: version for name, (version, _) in pinned().items()}
    unmet = [
        str(requirement)
        for requirement in image_requirements()
        if canonicalize_name(requirement.name) not in versions
        or not requirement.specifier.contains(versions[canonicalize_name(requirement.name)])
    ]
    assert unmet == [], "deploy/requirements.txt does not meet these; run `make image-requirements`"


def test_the_image_talks_to_elasticsearch_with_a_client_of_the_servers_major() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    server = compose["services"]["elasticsearch"]["image"].rpartition(":")[2]
    client = pinned()["elasticsearch"][0]
    assert client.split(".")[0] == server.split(".")[0], f"elasticsearch client {client}, server {server}"


@pytest.mark.parametrize("path", LEFT_OUT)
def test_the_build_context_leaves_out_environments_caches_build_output_and_passwords(path: str) -> None:
    assert ignored(path), f".dockerignore lets {path} into the build context"


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    copies = re.findall(r"^COPY (.+) \S+$", DOCKERFILE.read_text(), re.MULTILINE)
    sources = [source for copy in copies for source in copy.split()]
    tracked = subprocess.run(["git", "ls-files", *sources], cwd=ROOT, capture_output=True, text=True, check=True)
    files = tracked.stdout.splitlines()
    assert "packages/core/pyproject.toml" in files
    assert [path for path in files if ignored(path)] == []
