"""scripts/simulate_traffic.py: same seed, same bytes, in any process; options reach the plan."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from toolkit.simulate import cli
from toolkit.simulate.send import RichProgress, RunStats

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "simulate_traffic.py"


def simulate(*args: str, hash_seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_same_seed_gives_the_same_requests_in_any_process(tmp_path):
    args = ["--days", "0.5", "--seed", "21", "--end", "2026-11-20T00:00:00Z"]
    a, b, c = tmp_path / "a.ndjson", tmp_path / "b.ndjson", tmp_path / "c.ndjson"
    assert simulate("--output", str(a), *args, hash_seed="1").returncode == 0
    assert simulate("--output", str(b), *args, hash_seed="2").returncode == 0
    assert simulate("--output", str(c), *args[:-3], "22", *args[-2:]).returncode == 0
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    lines = [json.loads(line) for line in a.read_text().splitlines()]
    assert lines and all(line["events"] and "sentAt" in line["events"][0] for line in lines)


def test_dry_run_prints_a_summary_and_the_late_limit_hint_only_for_http():
    done = simulate("--dry-run", "--days", "0.2", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["events"] > 0 and summary["failed"] == 0 and summary["etl_late_limit_hours"] is None
    assert "ETL_LATE_LIMIT_HOURS" not in done.stderr


def test_live_options_set_the_session_rate():
    args = cli.build_parser().parse_args(["--dry-run", "--duration", "120", "--rate", "30", "--site-url",
                                          "https://shop.example/"])
    config = cli.config_from_args(args)
    per_session = cli.estimate_events_per_session(config, 120)
    assert config.live_seconds == 120 and abs(config.live_sessions_per_second * per_session - 30) < 1e-6
    args = cli.build_parser().parse_args(["--url", "http://127.0.0.1:9999/clickstream", "--sessions", "50",
                                          "--duration", "100"])
    config = cli.config_from_args(args)
    assert config.live_sessions_per_second == 0.5 and config.site_url == "http://127.0.0.1:9999/"
    assert cli.config_from_args(cli.build_parser().parse_args(["--dry-run"])).live_seconds == 60


def test_progress_bar_renders_counts():
    stream = io.StringIO()
    progress = RichProgress(100.0, stream=stream)
    progress.update(RunStats(events=42, accepted=40, rejected=2), 50.0)
    progress.close()
    assert "42 ev sent" in stream.getvalue() and "2 rejected" in stream.getvalue()
