"""scripts/dialect.py: what a store owner runs to check a dialect they wrote and try it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

from clickstream_common import dialect

from toolkit.dialects import cli

SCRIPT = cli.REPO / "scripts" / "dialect.py"


def test_check_lists_every_dialect_and_its_chain():
    done = subprocess.run([sys.executable, str(SCRIPT), "check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "seed_legacy: ok (21 rules through seed_legacy -> sbw_nextjs -> clickstream)" in done.stdout


def test_check_says_what_is_wrong_in_a_dialect_and_fails(tmp_path, monkeypatch):
    for path in dialect.DIALECTS_DIR.glob("*.json"):
        shutil.copy(path, tmp_path)
    (tmp_path / "mystore.json").write_text(json.dumps({
        "name": "mystore", "title": "My store", "source": "its tracker", "extends": "clickstream",
        "rules": [{"why": "its total", "set": "value", "from": ["element.dataset.total"], "convert": "dollars"}]}))
    monkeypatch.setattr(dialect, "DIALECTS_DIR", tmp_path)
    out = io.StringIO()
    assert cli.main(["check", "mystore", "sbw_nextjs"], out=out) == cli.EXIT_INVALID
    assert out.getvalue().splitlines() == [
        "mystore: mystore.json: rules[0].convert: 'dollars' is not a converter (amount, text)",
        "sbw_nextjs: ok (9 rules through sbw_nextjs -> clickstream)"]


def test_map_shows_each_event_as_the_dialect_maps_it(tmp_path):
    events = tmp_path / "events.ndjson"
    events.write_text('{"eventName": "checkout_complete", "clientId": "c", "element": {"dataset": {"total": "99"}}}\n'
                      '{"eventName": "checkout_complete", "clientId": "c", "element": {"dataset": {"total": "n/a"}}}\n')
    done = subprocess.run([sys.executable, str(SCRIPT), "map", "sbw_nextjs", str(events)], capture_output=True,
                          text=True, check=False)
    first, second = map(json.loads, done.stdout.splitlines())
    assert (first["event_type"], first["event"]["value"], first["event"]["currency"]) == ("purchase", "99", "VND")
    assert second["rejected"]["code"] == "bad_amount"
    assert done.returncode == cli.EXIT_INVALID
