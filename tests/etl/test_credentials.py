"""The ETL's warehouse password and CA certificate from SSM Parameter Store (moto), against the
real PostgreSQL: read once per container, read again once when a rotation made it stale,
never logged; the CA written once and used for verify-full."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import struct
import tempfile
import threading
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from etl import credentials, db
from etl import handler as etl_handler
from etl.db import PgTarget, WarehouseAuthFailed, WarehouseUnreachable
from etl.settings import Settings
from moto import mock_aws

from tests.support.local import free_port
from toolkit.dw import migrate

pytestmark = pytest.mark.postgres
PARAMETER = "/clickstream/test/dw/etl_password"
CA_PARAMETER = "/clickstream/test/tls/ca_cert"


@pytest.fixture(autouse=True)
def new_container(monkeypatch):
    """Each test is a fresh Lambda container: nothing read yet, no warning given yet."""
    credentials.clear()
    monkeypatch.setattr(db, "_warned_unverified", False)
    yield
    credentials.clear()


@pytest.fixture
def ssm():
    with mock_aws():
        boto3.setup_default_session(region_name="eu-west-1")
        yield boto3.client("ssm")
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def reads(ssm):
    """The names of the GetParameter calls the ETL makes (on boto3's default session, which it uses)."""
    names: list[str] = []
    boto3.DEFAULT_SESSION.events.register("provide-client-params.ssm.GetParameter",
                                          lambda params, **_: names.append(params["Name"]))
    return names


@pytest.fixture
def login(pg_server, scratch_db):
    """A login of its own (roles are cluster-wide) whose password the test changes; returns a
    function that sets it, like the Ansible dw role's ALTER ROLE."""
    user = f"etl_rotation_{uuid.uuid4().hex[:10]}"
    admin = pg_server.connect()

    def set_password(password: str) -> None:
        verb = "ALTER" if admin.run("SELECT 1 FROM pg_roles WHERE rolname = :u", u=user) else "CREATE"
        [[statement]] = admin.run(f"SELECT format('{verb} ROLE %I LOGIN PASSWORD %L', :u::text, :p::text)",
                                  u=user, p=password)
        admin.run(statement)

    set_password(secrets.token_urlsafe(24))
    yield user, set_password
    admin.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :u", u=user)
    admin.run(f'DROP ROLE IF EXISTS "{user}"')
    admin.close()


def target_for(pg_server, database: str, user: str, **extra) -> PgTarget:
    return PgTarget(host=pg_server.host, port=pg_server.port, database=database, user=user, password="",
                    sslmode="disable", password_parameter=PARAMETER, **extra)


def rotate(ssm, set_password, in_parameter: str, on_login: str | None = None) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=in_parameter, Type="SecureString", Overwrite=True)
    set_password(on_login if on_login is not None else in_parameter)


class EtlLogs:
    """What the ETL writes (stdout, stderr, every logger down to DEBUG, where botocore logs
    response bodies) inside ``with logs:`` blocks; the test's own SSM calls stay out."""

    def __init__(self, capsys, caplog):
        self.capsys, self.caplog, self.text = capsys, caplog, ""
        caplog.set_level(logging.DEBUG)

    def __enter__(self):
        self.capsys.readouterr()
        self.caplog.clear()

    def __exit__(self, *exc):
        out = self.capsys.readouterr()
        self.text += out.out + out.err + self.caplog.text


@pytest.fixture
def logs(capsys, caplog) -> EtlLogs:
    return EtlLogs(capsys, caplog)


def test_a_rotated_password_is_read_again_once_and_the_connection_succeeds(
        pg_server, scratch_db, login, ssm, reads, logs):
    user, set_password = login
    first, second = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    rotate(ssm, set_password, first)
    target = target_for(pg_server, scratch_db, user)
    with logs:
        target.connect().close()  # cold start: one read
        target.connect().close()  # the same container: from the cache
    assert reads == [PARAMETER]

    rotate(ssm, set_password, second)  # a rotation while the container lives
    with logs:
        connection = target.connect()
    assert connection.run("SELECT current_user") == [[user]]
    connection.close()
    assert reads == [PARAMETER, PARAMETER]
    with logs:
        target.connect().close()
    assert reads == [PARAMETER, PARAMETER]

    assert first not in logs.text and second not in logs.text
    assert "botocore" in logs.text  # botocore did log at DEBUG, just not the response bodies
    warnings = [json.loads(line) for line in logs.text.splitlines() if line.startswith('{"level":"WARNING"')]
    assert [(w["message"], w["parameter"], w["sqlstate"]) for w in warnings] == [
        ("warehouse refused the cached password; reading the parameter again", PARAMETER, "28P01")]


def test_a_password_the_parameter_still_disagrees_with_fails_clearly_after_one_read(
        pg_server, scratch_db, login, ssm, reads, logs):
    user, set_password = login
    first, on_login = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    rotate(ssm, set_password, first)
    target = target_for(pg_server, scratch_db, user)
    with logs:
        target.connect().close()
    set_password(on_login)  # ALTER ROLE done, the parameter not updated
    with logs, pytest.raises(WarehouseAuthFailed, match=r"28P01.*unchanged when read again.*rotate-db") as err:
        target.connect()
    assert PARAMETER in str(err.value) and err.value.sqlstate == "28P01"
    assert reads == [PARAMETER, PARAMETER]
    assert isinstance(err.value, WarehouseUnreachable)  # the handler's "etl run failed" path
    assert first not in logs.text and on_login not in logs.text
    assert first not in str(err.value) and on_login not in str(err.value)


def test_a_new_but_wrong_parameter_value_is_tried_once_then_fails_clearly(
        pg_server, scratch_db, login, ssm, reads, logs, monkeypatch):
    user, set_password = login
    first, in_parameter, on_login = (secrets.token_urlsafe(24) for _ in range(3))
    rotate(ssm, set_password, first)
    target = target_for(pg_server, scratch_db, user)
    with logs:
        target.connect().close()
    rotate(ssm, set_password, in_parameter, on_login=on_login)
    attempts = []
    real_open = PgTarget._open
    monkeypatch.setattr(PgTarget, "_open", lambda self, password: attempts.append(1) or real_open(self, password))
    with logs, pytest.raises(WarehouseAuthFailed, match=r"with the password read again from SSM parameter"):
        target.connect()
    assert len(attempts) == 2 and reads == [PARAMETER, PARAMETER]
    assert not any(p in logs.text for p in (first, in_parameter, on_login))


def test_the_handler_reads_the_parameter_and_survives_a_rotation(pg_server, new_warehouse, ssm, reads, monkeypatch,
                                                                  logs):
    warehouse = new_warehouse()
    user, first, second = f"etl_rotation_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    admin = pg_server.connect(warehouse.target.database)
    try:
        migrate.ensure_login(admin, user, first, migrate.WRITER_GROUP, warehouse.target.database)
        ssm.put_parameter(Name=PARAMETER, Value=first, Type="SecureString")
        boto3.client("s3").create_bucket(Bucket=warehouse.bucket,
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        t = warehouse.target
        env = {"RAW_BUCKET_NAME": warehouse.bucket, "DW_PG_HOST": t.host, "DW_PG_PORT": str(t.port),
               "DW_PG_USER": user, "DW_PG_DATABASE": t.database, "DW_PG_SSL": "false",
               "DW_PG_PASSWORD_PARAMETER": PARAMETER}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        context = type("Ctx", (), {"aws_request_id": "req-1"})()
        with logs:
            assert etl_handler.handler({"trigger": "manual"}, context)["status"] == "succeeded"
        migrate.ensure_login(admin, user, second, migrate.WRITER_GROUP, warehouse.target.database)
        ssm.put_parameter(Name=PARAMETER, Value=second, Type="SecureString", Overwrite=True)
        with logs:
            assert etl_handler.handler({"trigger": "manual"}, context)["status"] == "succeeded"
        assert reads == [PARAMETER, PARAMETER]
        assert first not in logs.text and second not in logs.text
    finally:
        admin.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :u", u=user)
        admin.run(f'DROP OWNED BY "{user}"')
        admin.run(f'DROP ROLE IF EXISTS "{user}"')
        admin.close()


def test_settings_take_parameter_names_and_local_files_still_win(tmp_path):
    base = {"RAW_BUCKET_NAME": "b", "DW_PG_HOST": "h", "DW_PG_USER": "u", "DW_PG_DATABASE": "d"}
    aws = Settings.from_env({**base, "DW_PG_PASSWORD_PARAMETER": PARAMETER,
                             "DW_PG_SSL_ROOT_CERT_PARAMETER": CA_PARAMETER}).target
    assert (aws.password, aws.password_parameter, aws.root_cert, aws.root_cert_parameter, aws.sslmode) == (
        "", PARAMETER, None, CA_PARAMETER, "verify-full")
    secret_file, ca_file = tmp_path / "pw", tmp_path / "ca.pem"
    secret_file.write_text("from-the-file\n")
    local = Settings.from_env({**base, "DW_PG_PASSWORD_PARAMETER": PARAMETER, "DW_PG_PASSWORD_FILE": str(secret_file),
                               "DW_PG_SSL_ROOT_CERT_PARAMETER": CA_PARAMETER, "DW_PG_SSL_ROOT_CERT": str(ca_file)})
    t = local.target
    assert (t.password, t.password_parameter, t.root_cert, t.root_cert_parameter) == (
        "from-the-file", None, str(ca_file), None)
    assert "from-the-file" not in repr(local)


def test_a_missing_parameter_is_a_clear_warehouse_error(ssm):
    target = PgTarget(host="127.0.0.1", port=free_port(), database="d", user="u", password="",
                      sslmode="disable", password_parameter=PARAMETER)
    with pytest.raises(credentials.ParameterUnavailable, match=f"cannot read SSM parameter {PARAMETER}: "
                                                               "ParameterNotFound"):
        target.connect()


def test_no_route_to_ssm_fails_fast_and_names_the_endpoint(monkeypatch):
    # As in the ETL's subnet without the ssm interface endpoint: nothing answers on the SSM address.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with pytest.raises(credentials.ParameterUnavailable, match=r"cannot reach SSM for parameter .*ssm VPC endpoint"):
        credentials.password(PARAMETER)


def test_require_warns_once_per_container_that_the_certificate_is_not_verified(capsys):
    db.ssl_context("require")
    db.ssl_context("require")
    db.ssl_context("disable")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["level"], r["sslmode"]) for r in lines] == [("WARNING", "require")]
    assert "not verified" in lines[0]["message"]


# --- the CA certificate and verify-full ----------------------------------------------------


def _certificate(subject: str, key, issuer_cert=None, issuer_key=None, ip: str | None = None):
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_cert is None:  # a CA
        builder = (builder.issuer_name(name).add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=True, crl_sign=True, encipher_only=False,
                                                decipher_only=False), critical=True))
        return builder.sign(key, hashes.SHA256())
    builder = (builder.issuer_name(issuer_cert.subject)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                              critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Two CAs; the server's certificate (for 127.0.0.1) is signed by the first."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("warehouse CA", ca_key)
    other = _certificate("some other CA", other_key)
    server = _certificate("dw", server_key, ca, ca_key, ip="127.0.0.1")
    (directory / "server.crt").write_text(_pem(server))
    (directory / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {"ca": _pem(ca), "other": _pem(other), "dir": directory}


def _read_exactly(sock, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


@contextmanager
def tls_postgres(directory: Path):
    """Just enough of a PostgreSQL server: accepts TLS with the 127.0.0.1 certificate, then
    refuses the password (28P01), so a client that got that far has verified the server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(5)
                    _read_exactly(conn, 8)  # SSLRequest
                    conn.sendall(b"S")
                    with context.wrap_socket(conn, server_side=True) as tls:
                        length = struct.unpack("!i", _read_exactly(tls, 4))[0]
                        _read_exactly(tls, length - 4)  # the startup message
                        fields = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0"
                        tls.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
                except (OSError, ConnectionError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_verify_full_trusts_the_ca_from_the_parameter_and_nothing_else(ssm, reads, pki):
    target = PgTarget(host="127.0.0.1", port=0, database="d", user="u", password="pw",
                      root_cert_parameter=CA_PARAMETER, connect_timeout=5)
    with tls_postgres(pki["dir"]) as port:
        ssm.put_parameter(Name=CA_PARAMETER, Value=pki["ca"], Type="String")
        # Past the TLS handshake: the (fake) server refuses the password, not the certificate.
        with pytest.raises(WarehouseAuthFailed):
            replace(target, port=port).connect()
        with pytest.raises(WarehouseAuthFailed):
            replace(target, port=port).connect()
        assert reads == [CA_PARAMETER]  # written to /tmp once per container
        path = Path(credentials.root_cert_file(CA_PARAMETER))
        assert path.read_text() == pki["ca"] and path.parent == Path(tempfile.gettempdir())

        credentials.clear()  # a new container, and a CA that did not sign the server's certificate
        ssm.put_parameter(Name=CA_PARAMETER, Value=pki["other"], Type="String", Overwrite=True)
        with pytest.raises(WarehouseUnreachable, match="CERTIFICATE_VERIFY_FAILED") as refused:
            replace(target, port=port).connect()
        assert not isinstance(refused.value, WarehouseAuthFailed)


def test_a_parameter_without_a_certificate_is_refused(ssm):
    ssm.put_parameter(Name=CA_PARAMETER, Value="not a certificate", Type="String")
    with pytest.raises(credentials.ParameterUnavailable, match="holds no PEM certificate"):
        credentials.root_cert_file(CA_PARAMETER)
