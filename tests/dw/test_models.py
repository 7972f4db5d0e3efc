"""The warehouse's models: one definition per derived table, re-applied when their file changes."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from toolkit.dw import migrate


def _tree(tmp_path):
    shutil.copytree(migrate.SQL_DIR, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_models_come_in_layer_order_and_after_what_they_require():
    names = [m.name for m in migrate.discover_models()]
    layers = [name.split("/")[0] for name in names]
    assert layers == sorted(layers, key=migrate.LAYERS.index)
    assert names.index("events/page_views") < names.index("sessions/etl_work_sessions")
    assert names.index("aggregates/agg_page_transitions") < names.index("aggregates/agg_daily_page_transitions_rollup")


def test_models_define_functions_not_tables():
    # tables are the baseline's and the history's: a model only (re)defines how rows are made
    for model in migrate.discover_models():
        text = model.sql
        assert "CREATE OR REPLACE" in text, model.name
        assert "CREATE TABLE" not in text and "DROP TABLE" not in text, model.name


def test_a_requirement_that_is_not_a_model_or_a_cycle_is_refused(tmp_path):
    root = _tree(tmp_path)
    events = root / "models" / "events"
    (events / "a.sql").write_text("-- requires: events/b\nSELECT 1;\n")
    (events / "b.sql").write_text("-- requires: events/a\nSELECT 1;\n")
    with pytest.raises(migrate.MigrationError, match="cycle: events/a -> events/b -> events/a"):
        migrate.discover_models(root)
    (events / "b.sql").write_text("-- requires: sessions/nothing_here\nSELECT 1;\n")
    with pytest.raises(migrate.MigrationError, match="requires sessions/nothing_here, which is not a model"):
        migrate.discover_models(root)
    (events / "a.sql").unlink()
    (events / "b.sql").unlink()
    (root / "models" / "marts").mkdir()
    (root / "models" / "marts" / "x.sql").write_text("SELECT 1;\n")
    with pytest.raises(migrate.MigrationError, match="models live in models/<layer>/"):
        migrate.discover_models(root)


@pytest.mark.postgres
def test_a_changed_model_is_applied_again_and_only_it(pg_server, scratch_db, tmp_path):
    root = _tree(tmp_path)
    conn = pg_server.connect(scratch_db)
    try:
        applied = migrate.migrate(conn, root)
        assert {f"models/{m.name}.sql" for m in migrate.discover_models(root)} <= set(applied)
        assert migrate.migrate(conn, root) == []
        funnel = root / "models" / "aggregates" / "agg_daily_funnel.sql"
        # A new definition: the function the ETL calls changes with the file.
        funnel.write_text(funnel.read_text().replace("LANGUAGE sql STABLE", "LANGUAGE sql STABLE COST 123"))
        assert migrate.migrate(conn, root) == ["models/aggregates/agg_daily_funnel.sql"]
        assert conn.run("SELECT procost FROM pg_proc WHERE proname = 'dw_funnel_rows'") == [[123.0]]
        assert migrate.status(conn, root)["pending"] == []
        # A model that fails leaves the one before in place and says which file failed.
        funnel.write_text("CREATE OR REPLACE FUNCTION dw_funnel_rows(days date[]) RETURNS int"
                          " LANGUAGE sql AS $$ SELECT no_such_column FROM agg_daily_funnel $$;\n")
        with pytest.raises(migrate.MigrationError, match=r"models/aggregates/agg_daily_funnel\.sql failed"):
            migrate.migrate(conn, root)
        assert conn.run("SELECT procost FROM pg_proc WHERE proname = 'dw_funnel_rows'") == [[123.0]]
        assert migrate.status(conn, root)["pending"] == ["models/aggregates/agg_daily_funnel.sql"]
    finally:
        conn.close()


@pytest.mark.postgres
def test_a_rewritten_history_file_is_accepted_only_with_its_earlier_checksum(pg_server, scratch_db, tmp_path):
    root = _tree(tmp_path)
    (root / "baseline.sql").unlink(missing_ok=True)  # through the chain, to rewrite a file it ran
    conn = pg_server.connect(scratch_db)
    try:
        migrate.migrate(conn, root)
        path = root / "history" / "0005_agg_hourly_activity.sql"
        earlier = hashlib.sha256(path.read_bytes()).hexdigest()
        path.write_text(path.read_text() + "-- a corrected comment\n")
        with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
            migrate.migrate(conn, root)
        with (root / "history" / "rewritten.txt").open("a") as listing:
            listing.write(f"{path.name} {earlier} a comment corrected\n")
        migrate.migrate(conn, root)
    finally:
        conn.close()


def test_the_rewritten_files_list_earlier_texts_of_files_that_exist():
    chain = {m.path.name: m.checksum for m in migrate.discover()}
    for name, checksums in migrate.rewritten().items():
        assert name in chain
        assert chain[name] not in checksums  # an earlier text, not today's
