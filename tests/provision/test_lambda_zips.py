"""scripts/build_lambdas.py: pinned, complete and byte-identical on every rebuild."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from toolkit.provision import lambda_zips
from toolkit.provision.lambda_zips import FUNCTIONS, BuildError

ROOT = lambda_zips.ROOT


def test_rebuilds_are_byte_identical_whatever_the_checkout_looks_like(tmp_path):
    first = {n: lambda_zips.build_function(s, output_dir=tmp_path / "a") for n, s in FUNCTIONS.items()}
    # Another checkout: other mtimes and modes, bytecode caches and editor droppings lying around.
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "lambdas", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*"):
        if path.is_file():
            path.chmod(0o600)
            os.utime(path, (2_000_000_000, 2_000_000_000))
    (copy / "etl" / "__pycache__").mkdir()
    (copy / "etl" / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\x00")
    (copy / "ingest" / ".handler.py.swp").write_bytes(b"\x00")
    second = {n: lambda_zips.build_function(s, output_dir=tmp_path / "b", lambdas_dir=copy)
              for n, s in FUNCTIONS.items()}
    for name in FUNCTIONS:
        a, b = first[name][0].read_bytes(), second[name][0].read_bytes()
        assert a == b, name
        assert first[name][1] == second[name][1] == hashlib.sha256(a).hexdigest()
    # Rebuilding in place leaves an identical file alone.
    before = first["ingest"][0].stat().st_mtime_ns
    lambda_zips.build_function(FUNCTIONS["ingest"], output_dir=tmp_path / "a")
    assert first["ingest"][0].stat().st_mtime_ns == before


def test_the_cli_builds_into_the_output_directory_and_prints_digests(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_lambdas.py"), "--output", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    lines = dict(reversed(line.split("  ", 1)) for line in out.splitlines())
    for name in FUNCTIONS:
        path = tmp_path / f"{name}.zip"
        assert lines[str(path)] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("name", "expected"), [
    ("ingest", {"ingest/handler.py", "clickstream_common/contract.py", "clickstream_common/event.schema.json",
                "fastjsonschema/__init__.py"}),
    ("etl", {"etl/handler.py", "clickstream_common/contract.py", "pg8000/__init__.py", "scramp/__init__.py",
             "asn1crypto/__init__.py", "dateutil/__init__.py", "six.py", "fastjsonschema/__init__.py",
             "ua_parser/__init__.py"}),
])
def test_zip_contents(tmp_path, name, expected):
    path, _ = lambda_zips.build_function(FUNCTIONS[name], output_dir=tmp_path)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert expected <= set(names)
        assert names == sorted(names)
        assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", "/RECORD"))]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert archive.testzip() is None
    # Nothing of the ETL (or its driver) is in the ingest zip, and boto3 is the runtime's own.
    assert not [n for n in names if n.startswith(("boto3/", "botocore/"))]
    if name == "ingest":
        assert not [n for n in names if n.startswith(("etl/", "pg8000/"))]


def test_unpinned_requirements_are_refused(tmp_path):
    requirements = tmp_path / "req.txt"
    requirements.write_text("# comment\npg8000==1.31.6\nscramp>=1.5\n")
    with pytest.raises(BuildError, match=r"req.txt:3: 'scramp>=1.5' is not pinned"):
        lambda_zips.read_pins(requirements)


def test_a_missing_handler_module_fails_the_build(tmp_path):
    spec = lambda_zips.FunctionSpec("broken", "ingest.nothere.handler", ("ingest",),
                                    ROOT / "requirements" / "lambda-ingest.txt")
    with pytest.raises(BuildError, match=r"ingest/nothere\.py is not in the broken zip"):
        lambda_zips.build_function(spec, output_dir=tmp_path)
