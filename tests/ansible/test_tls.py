"""Verified TLS everywhere: one private CA per deployment signs the database hosts' certificates,
and every client connects with sslmode verify-full.

- The tls_ca role alone: the key made once on the controller (a 0600 file, or an SSM
  SecureString that a second operator's controller reuses), the certificate published, renewed
  with the same key so that the certificates it issued stay valid.
- The postgresql role on the AWS inventory's hosts (render_aws.yml, no AWS account): certificates
  issued by the CA for the hosts' names, issued again only when the names change, expiry nears,
  or another CA (the self-signed era) made them.
- The platform `ansible-playbook site.yml` brings up (the `platform` fixture): the real clusters
  accept verify-full with the CA file and the ports the playbook wrote in etl.env and
  storefront.env, refuse a host name the certificate does not carry and a server whose
  certificate another CA signed; the CA key stays private.
"""

from __future__ import annotations

import datetime
import json
import os
import pwd
import re
import socket
import ssl
import stat
import struct
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.ansible.support import BIN, RENDER_DW_IP, RENDER_OLTP_PUBLIC_DNS, REPO, ansible_env, render_aws, run
from tests.support import local

SSL_REQUEST = struct.pack("!ii", 8, 80877103)


# --- certificates made by the tests (another CA, impostors, requests) --------------------------

def new_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def new_server_cert(ca_key, ca_cert: x509.Certificate, names: list[str]):
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def new_csr(names: list[str]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(path_or_pem) -> x509.Certificate:
    data = path_or_pem.read_bytes() if isinstance(path_or_pem, Path) else path_or_pem.encode()
    return x509.load_pem_x509_certificate(data)


def san_names(cert: x509.Certificate) -> set[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*sans.get_values_for_type(x509.DNSName), *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))}


def key_identifier(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def authority_key_identifier(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier


def chain_refused(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a driver's exception, if that is what it was."""
    seen = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def changed(output: str) -> dict[str, int]:
    return {host: int(count) for host, _, count, _, _ in RECAP.findall(output)}


def changed_tasks(output: str) -> list[str]:
    """Names of the tasks that reported a change (the default callback's TASK [role : name] lines)."""
    names, current = [], None
    for line in output.splitlines():
        task = re.match(r"^TASK \[(?:[\w.]+ : )?(.*)\] \**$", line)
        if task:
            current = task[1]
        elif line.startswith("changed: ") and current not in names:
            names.append(current)
    return names


def require_root():
    if os.geteuid() != 0:
        pytest.skip("the roles set file owners (postgres): run as root")


# --- the tls_ca role alone ----------------------------------------------------------------------

def play_ca(tmp_path: Path, controller: str, extra: dict, env: dict | None = None):
    home = tmp_path / controller
    home.mkdir(exist_ok=True)
    csr = home / "request.csr"
    csr.write_text(new_csr(["db.example.internal", "localhost"]))
    report = home / "report.json"
    settings = {"tls_ca_cert_file": str(home / "tls" / "ca.crt"),
                "tls_ca_key_file": str(home / "secrets" / "tls__ca_key"),
                "csr_file": str(csr), "report_file": str(report), **extra}
    result = run([str(BIN / "ansible-playbook"), "tests/ansible/tls_ca.yml", "-v", "-e", json.dumps(settings)],
                 env=env or ansible_env())
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result, json.loads(report.read_text()), home


def test_file_backend_makes_one_private_ca_and_renews_it_with_the_same_key(tmp_path):
    first, report, home = play_ca(tmp_path, "controller", {"tls_ca_backend": "file"})
    key_file = home / "secrets" / "tls__ca_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert key_file.read_text().strip() not in first.stdout + first.stderr
    ca = load_cert(home / "tls" / "ca.crt")
    assert stat.S_IMODE((home / "tls" / "ca.crt").stat().st_mode) == 0o644
    assert report["ca"] == cert_pem(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.rfc4514_string() == "CN=clickstream local PostgreSQL CA"
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert public_pem(key) == ca.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    issued = load_cert(report["issued"])
    issued.verify_directly_issued_by(ca)
    assert san_names(issued) == {"db.example.internal", "localhost"}

    again, report_again, _ = play_ca(tmp_path, "controller", {"tls_ca_backend": "file"})
    assert report_again["ca"] == report["ca"], "a second run made another CA"
    assert changed_tasks(again.stdout) == ["Sign the request with the deployment's CA", "Report the certificates"]

    # Less than tls_ca_renew_days left (4000 > its 3650): a new certificate for the same key and
    # subject, so what the old one issued still verifies.
    _, renewed, _ = play_ca(tmp_path, "controller", {"tls_ca_backend": "file", "tls_ca_renew_days": 4000})
    new_ca_cert = load_cert(renewed["ca"])
    assert new_ca_cert.serial_number != ca.serial_number
    assert key_identifier(new_ca_cert) == key_identifier(ca) and new_ca_cert.subject == ca.subject
    issued.verify_directly_issued_by(new_ca_cert)


@pytest.fixture
def ssm_server():
    with local.moto_server() as url:
        yield url


def test_ssm_backend_keeps_the_key_secret_and_shares_the_ca_between_controllers(tmp_path, ssm_server):
    import boto3

    env = ansible_env(AWS_ENDPOINT_URL=ssm_server, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="eu-west-1")
    extra = {"tls_ca_backend": "ssm", "tls_ca_ssm_prefix": "/clickstream/test", "tls_ca_ssm_region": "eu-west-1",
             "clickstream_project": "clickstream", "clickstream_environment": "test"}
    ssm = boto3.client("ssm", endpoint_url=ssm_server, region_name="eu-west-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    first, report, home = play_ca(tmp_path, "alice", extra, env)
    key = ssm.get_parameter(Name="/clickstream/test/tls/ca_key", WithDecryption=True)["Parameter"]
    cert = ssm.get_parameter(Name="/clickstream/test/tls/ca_cert")["Parameter"]
    assert key["Type"] == "SecureString" and cert["Type"] == "String"
    assert cert["Value"].strip() == report["ca"].strip() == (home / "tls" / "ca.crt").read_text().strip()
    assert key["Value"].strip() not in first.stdout + first.stderr
    assert not (home / "secrets").exists(), "the ssm backend wrote the key to a file"
    ca = load_cert(report["ca"])
    assert ca.subject.rfc4514_string() == "CN=clickstream test PostgreSQL CA"
    load_cert(report["issued"]).verify_directly_issued_by(ca)

    # Another operator's controller, with its own state folder: the same CA, nothing changed.
    second, other, other_home = play_ca(tmp_path, "bob", extra, env)
    assert other["ca"] == report["ca"]
    assert (other_home / "tls" / "ca.crt").read_text() == (home / "tls" / "ca.crt").read_text()
    assert ssm.get_parameter(Name="/clickstream/test/tls/ca_key", WithDecryption=True)["Parameter"]["Value"] \
        == key["Value"]
    # Only its own copy of the certificate (and the request signed, the report written).
    assert changed_tasks(second.stdout) == [
        "Folder of the published CA certificate", "Publish the CA certificate on the controller (not secret)",
        "Sign the request with the deployment's CA", "Report the certificates"], second.stdout[-4000:]
    load_cert(other["issued"]).verify_directly_issued_by(ca)


# --- the storefront's DATABASE_URL, verified by default, require only as a warned opt-out -------

def storefront_outputs(tmp_path: Path, extra: dict):
    out = tmp_path / "outputs"
    result = run([str(BIN / "ansible-playbook"), "tests/ansible/oltp_outputs.yml",
                  "-e", json.dumps({"outputs_dir": str(out), **extra})])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    url = env_file(out / "storefront.env")["DATABASE_URL"]
    return result.stdout, url, json.loads((out / "oltp.json").read_text())


def test_storefront_url_verifies_with_the_ca_and_require_is_a_warned_opt_out(tmp_path):
    output, url, oltp = storefront_outputs(tmp_path, {"clickstream_tls_ca_file": "/srv/my state/tls/ca.crt"})
    assert url.endswith("@db.example.com:5432/storefront?sslmode=verify-full&sslrootcert=/srv/my%20state/tls/ca.crt")
    assert {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()} == {
        "sslmode": "verify-full", "sslrootcert": "/srv/my state/tls/ca.crt"}
    assert oltp["ca_cert_file"] == "/srv/my state/tls/ca.crt" and "not a real password" not in output
    assert "WARNING" not in output

    output, url, oltp = storefront_outputs(tmp_path, {"oltp_sslmode": "require"})
    assert url.endswith("/storefront?sslmode=require") and oltp["ca_cert_file"] == ""
    assert "WARNING: oltp_sslmode is require" in output


# --- server certificates on the AWS inventory's hosts (render_aws.yml) --------------------------

def test_host_certificates_are_issued_by_the_ca_and_renewed_only_when_needed(tmp_path):
    require_root()
    first = render_aws(tmp_path)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    out, state = tmp_path / "out", tmp_path / "state"
    ca = load_cert(state / "tls" / "ca.crt")
    dw_cert = out / "dw-aws" / "tls" / "server.crt"
    dw = load_cert(dw_cert)
    dw.verify_directly_issued_by(ca)
    assert authority_key_identifier(dw) == key_identifier(ca)
    # The ETL connects to the private IP (DW_PG_HOST), Shiny and the migrations to 127.0.0.1.
    assert san_names(dw) == {"10-0-2-15.eu-west-1.compute.internal", RENDER_DW_IP, "localhost", "127.0.0.1"}
    oltp = load_cert(out / "oltp-aws" / "tls" / "server.crt")
    oltp.verify_directly_issued_by(ca)
    assert RENDER_OLTP_PUBLIC_DNS in san_names(oltp) and "10.0.1.20" in san_names(oltp)
    for host in ("dw-aws", "oltp-aws"):
        key = out / host / "tls" / "server.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_uid == pwd.getpwnam("postgres").pw_uid
        assert (out / host / "ca.crt").read_text() == (state / "tls" / "ca.crt").read_text()
    dw_key = (out / "dw-aws" / "tls" / "server.key").read_bytes()

    again = render_aws(tmp_path)
    assert again.returncode == 0, again.stdout[-6000:]
    assert changed(again.stdout) == {"dw-aws": 0, "oltp-aws": 0}, again.stdout[-6000:]
    assert load_cert(dw_cert) == dw

    # Expiry within the renewal window (400 days > the 365 it lasts): issued again, same key.
    renewed = render_aws(tmp_path, {"postgresql_ssl_cert_renew_days": 400})
    assert renewed.returncode == 0, renewed.stdout[-6000:]
    dw_renewed = load_cert(dw_cert)
    assert dw_renewed.serial_number != dw.serial_number and san_names(dw_renewed) == san_names(dw)
    assert (out / "dw-aws" / "tls" / "server.key").read_bytes() == dw_key

    # Another name: issued again with it.
    named = render_aws(tmp_path, {"postgresql_ssl_cert_extra_names": [RENDER_DW_IP, "dw.example.internal"]})
    assert named.returncode == 0, named.stdout[-6000:]
    assert "dw.example.internal" in san_names(load_cert(dw_cert))

    # A certificate left by the self-signed era (or any other CA) is replaced; the key is kept.
    other_key, other_ca = new_ca("not the deployment's CA")
    _, stray = new_server_cert(other_key, other_ca, ["localhost", "127.0.0.1"])
    dw_cert.write_text(cert_pem(stray))
    replaced = render_aws(tmp_path)
    assert replaced.returncode == 0, replaced.stdout[-6000:]
    load_cert(dw_cert).verify_directly_issued_by(ca)
    assert (out / "dw-aws" / "tls" / "server.key").read_bytes() == dw_key


# --- the platform site.yml brought up -----------------------------------------------------------

def env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def tls(platform):
    if platform["runs"][-1].returncode != 0:
        pytest.skip("site.yml did not converge (test_converge.py says why)")
    state = platform["state"]
    etl = env_file(state / "etl.env")
    url = urlsplit(env_file(state / "outputs" / "storefront.env")["DATABASE_URL"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    # The clusters behind the ports the playbook wrote, and their settings.
    clusters = {}
    for line in subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.splitlines():
        version, name, port = line.split()[:3]
        clusters[int(port)] = Path(f"/etc/postgresql/{version}/{name}")
    return {
        "state": state, "etl": etl, "ca": Path(etl["DW_PG_SSL_ROOT_CERT"]),
        "dw_port": int(etl["DW_PG_PORT"]), "oltp_port": url.port, "url": url.geturl(), "url_query": query,
        "clusters": clusters, "outputs": "".join(r.stdout + r.stderr for r in platform["runs"]),
    }


def handshake(port: int, server_hostname: str, cafile: Path) -> bytes:
    """PostgreSQL's SSLRequest on 127.0.0.1:port, then a verifying TLS handshake as
    `server_hostname`; returns the server's certificate (DER)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(SSL_REQUEST)
        assert raw.recv(1) == b"S", "the server refused TLS"
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls_socket:
            return tls_socket.getpeercert(binary_form=True)


def psql(conninfo: str, password: str, sql: str = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"):
    env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10", "PGGSSENCMODE": "disable"}
    return subprocess.run(["psql", "-X", "-At", "-d", conninfo, "-c", sql], capture_output=True, text=True,
                          timeout=60, check=False, env=env)


def server_files(tls, port: int) -> tuple[Path, Path]:
    conf = (tls["clusters"][port] / "conf.d" / "50-clickstream.conf").read_text()
    found = dict(re.findall(r"^(ssl_cert_file|ssl_key_file)\s*=\s*'([^']*)'", conf, re.M))
    return Path(found["ssl_cert_file"]), Path(found["ssl_key_file"])


@contextmanager
def impostor_server(tmp_path: Path, names: list[str]):
    """A server that answers PostgreSQL's SSLRequest like the real one but presents a
    certificate another CA signed for the same names; yields its port."""
    other_key, other_ca = new_ca("impostor CA")
    key, cert = new_server_cert(other_key, other_ca, names)
    (tmp_path / "impostor.crt").write_text(cert_pem(cert))
    (tmp_path / "impostor.key").write_text(key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "impostor.crt", tmp_path / "impostor.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    handshakes = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    if conn.recv(8) != SSL_REQUEST:
                        continue
                    conn.sendall(b"S")
                    with context.wrap_socket(conn, server_side=True):
                        handshakes.append("completed")
                except (OSError, ssl.SSLError) as exc:
                    handshakes.append(type(exc).__name__)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], handshakes
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_every_client_is_configured_for_verify_full(tls):
    state, ca = tls["state"], tls["ca"]
    assert ca == state / "tls" / "ca.crt" and ca.is_file()
    assert tls["etl"]["DW_PG_SSL"] == "verify-full"
    renviron = env_file(state / "shiny" / ".Renviron")
    assert renviron["DW_PG_SSLMODE"] == "verify-full" and renviron["DW_PG_SSLROOTCERT"] == str(ca)
    assert tls["url_query"] == {"sslmode": "verify-full", "sslrootcert": str(ca)}
    oltp = json.loads((state / "outputs" / "oltp.json").read_text())
    assert oltp["sslmode"] == "verify-full" and oltp["ca_cert_file"] == str(ca)
    assert "sslmode=verify-full&sslrootcert=" in oltp["database_url_template"]
    # No client opted out: none of the opt-out warnings was printed.
    assert "WARNING: " not in "\n".join(line for line in tls["outputs"].splitlines() if "ssl" in line.lower())


@pytest.mark.slow
@pytest.mark.postgres
def test_clients_connect_to_both_databases_with_verify_full(tls):
    import pg8000.native

    etl = tls["etl"]
    context = ssl.create_default_context(cafile=str(tls["ca"]))
    password = Path(etl["DW_PG_PASSWORD_FILE"]).read_text().strip()
    conn = pg8000.native.Connection(etl["DW_PG_USER"], host=etl["DW_PG_HOST"], port=tls["dw_port"],
                                    database=etl["DW_PG_DATABASE"], password=password, ssl_context=context)
    try:
        assert conn.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [[True]]
    finally:
        conn.close()
    # libpq: the storefront's DATABASE_URL exactly as written (password and TLS parameters in it).
    done = psql(tls["url"], "")
    assert done.returncode == 0 and done.stdout.strip() == "t", done.stderr
    # libpq by the name localhost, as the dashboards' login.
    reader = env_file(tls["state"] / "shiny" / ".Renviron")
    done = psql(f"host=localhost port={tls['dw_port']} dbname={reader['DW_PG_DATABASE']} user={reader['DW_PG_USER']} "
                f"sslmode=verify-full sslrootcert={reader['DW_PG_SSLROOTCERT']}", reader["DW_PG_PASSWORD"])
    assert done.returncode == 0 and done.stdout.strip() == "t", done.stderr


@pytest.mark.slow
@pytest.mark.postgres
def test_a_host_name_the_certificate_does_not_carry_is_refused(tls):
    for port in (tls["dw_port"], tls["oltp_port"]):
        # The same server, the same CA: accepted under its names ...
        assert handshake(port, "localhost", tls["ca"]) == handshake(port, "127.0.0.1", tls["ca"])
        # ... refused under another.
        with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname mismatch"):
            handshake(port, "wrong.example", tls["ca"])
        # libpq: connect to 127.0.0.1 but expect the name wrong.example.
        done = psql(f"host=wrong.example hostaddr=127.0.0.1 port={port} dbname=postgres user=nobody "
                    f"sslmode=verify-full sslrootcert={tls['ca']}", "x")
        assert done.returncode != 0
        assert 'does not match host name "wrong.example"' in done.stderr, done.stderr


@pytest.mark.slow
@pytest.mark.postgres
def test_a_certificate_from_another_ca_is_refused(tls, tmp_path):
    import pg8000.native

    etl = tls["etl"]
    _, other_ca = new_ca("some other CA")
    other_ca_file = tmp_path / "other-ca.crt"
    other_ca_file.write_text(cert_pem(other_ca))
    # The real warehouse checked against another CA: its certificate does not chain to it.
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(tls["dw_port"], "127.0.0.1", other_ca_file)
    with pytest.raises(Exception) as refused:
        pg8000.native.Connection(etl["DW_PG_USER"], host="127.0.0.1", port=tls["dw_port"],
                                 database=etl["DW_PG_DATABASE"], password="x",
                                 ssl_context=ssl.create_default_context(cafile=str(other_ca_file)))
    assert chain_refused(refused.value) is not None, repr(refused.value)

    # An impostor on loopback with a certificate for the right names from another CA: refused
    # by the clients that trust only the deployment's CA.
    with impostor_server(tmp_path, ["localhost", "127.0.0.1"]) as (port, handshakes):
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            handshake(port, "127.0.0.1", tls["ca"])
        with pytest.raises(Exception) as refused:
            pg8000.native.Connection(etl["DW_PG_USER"], host="127.0.0.1", port=port, database=etl["DW_PG_DATABASE"],
                                     password="x", ssl_context=ssl.create_default_context(cafile=str(tls["ca"])))
        assert chain_refused(refused.value) is not None, repr(refused.value)
        done = psql(f"host=localhost port={port} dbname=clickstream user=etl_loader sslmode=verify-full "
                    f"sslrootcert={tls['ca']}", "x")
        assert done.returncode != 0 and "certificate verify failed" in done.stderr, done.stderr
    assert "completed" not in handshakes, handshakes


@pytest.mark.slow
@pytest.mark.postgres
def test_etl_verifies_the_warehouse_with_the_ca(tls, tmp_path):
    """scripts/invoke_etl.py --local with the env file site.yml wrote, then with another CA."""
    def etl_run(env_path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "python"), "scripts/invoke_etl.py", "--local", "--env-file", str(env_path),
                               "--no-progress", "--dry-run"], cwd=REPO, capture_output=True, text=True,
                              timeout=300, check=False)

    good = etl_run(tls["state"] / "etl.env")
    assert good.returncode == 0, good.stdout[-2000:] + good.stderr[-3000:]
    assert "not verified" not in good.stderr
    _, other_ca = new_ca("some other CA")
    (tmp_path / "other-ca.crt").write_text(cert_pem(other_ca))
    settings = {**tls["etl"], "DW_PG_SSL_ROOT_CERT": str(tmp_path / "other-ca.crt")}
    (tmp_path / "etl.env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    bad = etl_run(tmp_path / "etl.env")
    assert bad.returncode != 0, bad.stdout[-2000:]
    assert "certificate verify failed" in (bad.stdout + bad.stderr).lower(), bad.stdout[-2000:] + bad.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.postgres
def test_server_certificates_are_the_cas_and_name_loopback(tls):
    ca = load_cert(tls["ca"])
    postgres = pwd.getpwnam("postgres").pw_uid
    now = datetime.datetime.now(datetime.UTC)
    for port in (tls["dw_port"], tls["oltp_port"]):
        cert_file, key_file = server_files(tls, port)
        cert = load_cert(cert_file)
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        assert authority_key_identifier(cert) == key_identifier(ca)
        # The clusters listen on 127.0.0.1 only: loopback names, nothing else.
        assert san_names(cert) == {"localhost", "127.0.0.1"}
        assert cert.not_valid_after_utc - now > datetime.timedelta(days=30)
        # The certificate the server presents is this file's.
        assert handshake(port, "localhost", tls["ca"]) == cert.public_bytes(serialization.Encoding.DER)
        # Its key: the server's user only, and the certificate's pair.
        info = key_file.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == postgres
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700 and key_file.parent.stat().st_uid == postgres
        server_key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        assert public_pem(server_key) == cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert sorted(p.name for p in key_file.parent.iterdir()) == ["server.crt", "server.key"]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_ca_key_is_private_to_the_controller(tls):
    state = tls["state"]
    key_file = state / "secrets" / "tls__ca_key"
    info = key_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    ca = load_cert(tls["ca"])
    ca_key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert public_pem(ca_key) == ca.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert stat.S_IMODE(tls["ca"].stat().st_mode) == 0o644
    # The database servers' user cannot read it, and no server holds a copy.
    done = subprocess.run(["runuser", "-u", "postgres", "--", "cat", str(key_file)], capture_output=True, check=False)
    assert done.returncode != 0 and b"PRIVATE KEY" not in done.stdout
    for port in (tls["dw_port"], tls["oltp_port"]):
        _, server_key_file = server_files(tls, port)
        assert not server_key_file.resolve().is_relative_to(key_file.parent.resolve())
        server_key = serialization.load_pem_private_key(server_key_file.read_bytes(), None)
        assert public_pem(server_key) != public_pem(ca_key)
    assert key_file.read_text().strip() not in tls["outputs"]
