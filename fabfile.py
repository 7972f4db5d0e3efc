"""Repetitive host operations from the runbooks, with Fabric (`.venv/bin/fab --list`).

The hosts have no SSH port open by default: reach them over SSH tunnelled through Session
Manager (``AWS-StartSSHSession``), which needs your public key on the host and the
Session Manager plugin locally. In ``~/.ssh/config``:

    Host i-*
        User admin
        ProxyCommand sh -c "aws ssm start-session --target %h \\
            --document-name AWS-StartSSHSession --parameters portNumber=%p"

Then, with instance ids from ``scripts/provision.py outputs``:

    fab -H i-0123456789abcdef0 pg-status
    fab -H i-0123456789abcdef0 backup-now
    fab -H i-0123456789abcdef0 logs --unit shiny-server -n 200
    fab -H i-0123456789abcdef0 etl-rejections --hours 6
    fab -H i-0123456789abcdef0 restore --url "$(aws s3 presign s3://BUCKET/KEY)" --database clickstream
    fab local-status                         # the local platform (no host)

Every command is a fixed, quoted command line; nothing here holds a secret.
"""

from __future__ import annotations

import io
import shlex

from fabric import task

CLUSTER = "main"
PG_VERSION = "15"


def _host(c) -> None:
    if not getattr(c, "host", None):
        raise SystemExit("give a host: fab -H <instance-id or name> <task>")


def _psql(c, database: str, sql: str, **variables: int) -> None:
    # Values travel as psql variables (:'name'), never spliced into the SQL text.
    options = " ".join(f"-v {name}={int(value)}" for name, value in variables.items())
    c.sudo(f"-u postgres psql -X -v ON_ERROR_STOP=1 {options} -d {shlex.quote(database)} -f -",
           in_stream=io.StringIO(sql), pty=False)


@task
def pg_status(c):
    """Clusters, service state and the newest log lines of PostgreSQL."""
    _host(c)
    c.run("pg_lsclusters")
    c.sudo(f"systemctl --no-pager status postgresql@{PG_VERSION}-{CLUSTER}", warn=True)
    c.sudo(f"tail -n 30 /var/log/postgresql/postgresql-{PG_VERSION}-{CLUSTER}.log")


@task
def backup_now(c, cluster=CLUSTER):
    """Run the nightly pg_dump-to-S3 now and wait for it."""
    _host(c)
    c.sudo(f"systemctl start clickstream-pg-backup-{shlex.quote(cluster)}.service")
    c.sudo(f"journalctl -u clickstream-pg-backup-{shlex.quote(cluster)}.service -n 5 --no-pager")


@task(help={"unit": "systemd unit, e.g. postgresql@15-main, shiny-server, clickstream-pg-backup-main",
            "n": "lines"})
def logs(c, unit=f"postgresql@{PG_VERSION}-{CLUSTER}", n=100):
    """The journal of one unit."""
    _host(c)
    c.sudo(f"journalctl -u {shlex.quote(unit)} -n {int(n)} --no-pager")


@task
def restart_shiny(c):
    """Restart Shiny Server (after editing the app or .Renviron by hand)."""
    _host(c)
    c.sudo("systemctl restart shiny-server")
    c.run("curl -fsS -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:3838/")


@task(help={"hours": "look back this many hours"})
def etl_rejections(c, hours=24):
    """Rejected events by reason (runbooks/etl-triage.md, step 4), on the DW host."""
    _host(c)
    _psql(c, "clickstream",
          "SELECT reason_code, field, count(*), max(rejected_at) FROM etl_rejected_events "
          "WHERE rejected_at > now() - make_interval(hours => :'hours') GROUP BY 1, 2 ORDER BY 3 DESC;",
          hours=hours)


@task
def etl_runs(c, limit=20):
    """The last ETL runs with their counts and errors, on the DW host."""
    _host(c)
    _psql(c, "clickstream",
          "SELECT run_id, started_at, status, objects_loaded, events_loaded, events_rejected, duration_ms, "
          "left(error, 120) AS error FROM etl_runs ORDER BY run_id DESC LIMIT :'limit';",
          limit=limit)


@task(help={"url": "presigned GET URL of the dump (aws s3 presign s3://BUCKET/KEY)",
            "database": "clickstream (DW) or storefront (OLTP)",
            "owner": "owner of the restored database"})
def restore(c, url, database="clickstream", owner=None):
    """Restore a dump into <database>_restore beside the live one (runbooks/restore-backup.md)."""
    _host(c)
    owner = owner or {"clickstream": "clickstream_owner", "storefront": "storefront_owner"}[database]
    target = f"{database}_restore"
    c.sudo(f"-u postgres createdb -O {shlex.quote(owner)} {shlex.quote(target)}")
    # Streamed: the custom-format dump goes from S3 (gateway endpoint) straight into pg_restore.
    restore_cmd = (f"curl -fsS {shlex.quote(url)} | runuser -u postgres -- pg_restore --no-owner "
                   f"--role={shlex.quote(owner)} -d {shlex.quote(target)}")
    c.sudo(f"sh -c {shlex.quote(restore_cmd)}")
    print(f"restored into {target}; compare, then swap names as runbooks/restore-backup.md shows")


@task
def local_status(c):
    """The local platform: clusters and supervised processes."""
    c.run("pg_lsclusters")
    c.run(".venv/bin/python scripts/localctl.py status", warn=True)
