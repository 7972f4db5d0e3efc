"""Reproducible Lambda zips: the same sources and pins give the same bytes on every rebuild.

A zip's bytes depend on more than its files: entry order, timestamps, permissions, the
creating system and the compression level all end up in it. Entries are therefore written in
sorted order with a fixed timestamp (1980-01-01, the earliest a zip can hold), fixed modes and
one compression level. Third-party code comes from wheels pinned in `requirements/lambda-*.txt`,
downloaded for the Lambda runtime (CPython 3.12, manylinux x86_64) rather than for this
machine, and unpacked member by member without running an installer, so nothing of the build
host (its Python version, `.pyc` files, `RECORD` paths, `INSTALLER`) leaks into the zip.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = ROOT / "lambdas"
DEFAULT_OUTPUT = ROOT / "build" / "lambdas"
DEFAULT_WHEELS = ROOT / "build" / "wheels"

RUNTIME_PYTHON = "3.12"
RUNTIME_PLATFORM = "manylinux2014_x86_64"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda only needs to read the code
COMPRESS_LEVEL = 9
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # module.function, relative to the zip root
    packages: tuple[str, ...]  # directories under lambdas/ copied into the zip root
    requirements: Path  # pinned wheels vendored into the zip root

    @property
    def handler_file(self) -> str:
        return self.handler.rsplit(".", 1)[0].replace(".", "/") + ".py"


FUNCTIONS = {
    "ingest": FunctionSpec("ingest", "ingest.handler.handler", ("ingest", "clickstream_common"),
                           ROOT / "requirements" / "lambda-ingest.txt"),
    "etl": FunctionSpec("etl", "etl.handler.handler", ("etl", "clickstream_common"),
                        ROOT / "requirements" / "lambda-etl.txt"),
}


def normalize_name(name: str) -> str:
    """PEP 503 name, with '_' as wheel file names spell it."""
    return re.sub(r"[-_.]+", "_", name).lower()


def read_pins(path: Path) -> list[tuple[str, str]]:
    """`name==version` lines; anything looser would make the zip depend on the day it is built."""
    pins = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        if not match:
            raise BuildError(f"{path.name}:{number}: {line!r} is not pinned as name==version")
        pins.append((match.group(1), match.group(2)))
    return pins


def _wheel_for(wheel_dir: Path, name: str, version: str) -> Path | None:
    prefix = f"{normalize_name(name)}-{version}-"
    matches = sorted(p for p in wheel_dir.glob("*.whl") if normalize_name(p.name.split("-", 1)[0]) + "-" +
                     p.name.split("-", 2)[1] + "-" == prefix)
    return matches[0] if matches else None


def fetch_wheels(requirements: Path, wheel_dir: Path) -> list[Path]:
    """The pinned wheels, from `wheel_dir` when already there, else downloaded from the index once."""
    pins = read_pins(requirements)
    wheel_dir.mkdir(parents=True, exist_ok=True)
    if any(_wheel_for(wheel_dir, n, v) is None for n, v in pins):
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                   "--only-binary=:all:", "--platform", RUNTIME_PLATFORM, "--python-version", RUNTIME_PYTHON,
                   "--implementation", "cp", "--dest", str(wheel_dir), "-r", str(requirements)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(f"pip download for {requirements.name} failed:\n{result.stderr.strip()}")
    wheels = []
    for name, version in pins:
        wheel = _wheel_for(wheel_dir, name, version)
        if wheel is None:
            raise BuildError(f"no wheel of {name}=={version} for CPython {RUNTIME_PYTHON} in {wheel_dir}")
        wheels.append(wheel)
    return wheels


def _wheel_members(wheel: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            name = info.filename
            top, _, rest = name.partition("/")
            if top.endswith(".data"):
                # Only importable code from a wheel's data directory; scripts and headers are of no use here.
                kind, _, rest = rest.partition("/")
                if kind not in {"purelib", "platlib"}:
                    continue
                name = rest
            elif top.endswith(".dist-info") and rest in {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}:
                continue
            members[name] = archive.read(info)
    return members


def _source_members(package: str, lambdas_dir: Path) -> dict[str, bytes]:
    base = lambdas_dir / package
    if not base.is_dir():
        raise BuildError(f"{base} does not exist")
    members = {}
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(lambdas_dir)
        if (path.is_dir() or path.suffix in SKIPPED_SUFFIXES or SKIPPED_PARTS & set(relative.parts)
                or any(part.startswith(".") for part in relative.parts)):
            continue
        members[relative.as_posix()] = path.read_bytes()
    return members


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deterministic zip of `members` (path → content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # unix, whatever system builds it
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def function_members(spec: FunctionSpec, wheel_dir: Path = DEFAULT_WHEELS,
                     lambdas_dir: Path = LAMBDAS_DIR) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    origins: dict[str, str] = {}
    sources = [(f"lambdas/{p}", _source_members(p, lambdas_dir)) for p in spec.packages]
    sources += [(w.name, _wheel_members(w)) for w in fetch_wheels(spec.requirements, wheel_dir)]
    for origin, files in sources:
        for name, content in files.items():
            if name in members and members[name] != content:
                raise BuildError(f"{name} comes from both {origins[name]} and {origin} with different contents")
            members[name] = content
            origins[name] = origin
    if spec.handler_file not in members:
        raise BuildError(f"handler {spec.handler}: {spec.handler_file} is not in the {spec.name} zip")
    return members


def build_function(spec: FunctionSpec, output_dir: Path = DEFAULT_OUTPUT, wheel_dir: Path = DEFAULT_WHEELS,
                   lambdas_dir: Path = LAMBDAS_DIR) -> tuple[Path, str]:
    """Write `<output_dir>/<name>.zip`; returns its path and hex sha256."""
    data = zip_bytes(function_members(spec, wheel_dir, lambdas_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / f"{spec.name}.zip"
    # Leave an identical file untouched so its mtime (and anything keyed on it) stays put.
    if not path.exists() or path.read_bytes() != data:
        temporary = path.with_suffix(".zip.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
    return path, hashlib.sha256(data).hexdigest()
