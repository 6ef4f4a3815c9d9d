"""Stand-ins for the peers the outbound policy guards: a name resolver the test controls, certificates from a CA
the test makes, and an HTTPS server that records what each client sent (SNI, Host, the request) before anything
else, so a test can tell what reached the peer and under which name."""

from __future__ import annotations

import contextlib
import datetime
import http.client
import http.server
import ipaddress
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class FakeDns:
    """Replaces socket.getaddrinfo for the names in `answers` (name -> list of answers, one per lookup; the last
    one repeats) and records every lookup; any other name goes to the real resolver."""

    def __init__(self, monkeypatch, answers: dict[str, list[list[str]]]):
        self.answers = {name.lower(): list(seq) for name, seq in answers.items()}
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name.lower() not in self.answers:
            return self._real(host, port, *args, **kwargs)
        self.lookups.append(name.lower())
        sequence = self.answers[name.lower()]
        addresses = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 (a, port or 0) if ":" not in a else (a, port or 0, 0, 0)) for a in addresses]

    def count(self, name: str) -> int:
        return self.lookups.count(name.lower())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass
class Authority:
    """A CA made for one test; `issue()` signs server certificates for the given names and addresses."""

    common_name: str = "Test CA"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self):
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder().subject_name(_name(self.common_name)).issuer_name(_name(self.common_name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, *names: str) -> tuple[str, str]:
        """(certificate PEM, key PEM) for a server known by `names` (host names or addresses)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        alternatives = []
        for name in names:
            try:
                alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternatives.append(x509.DNSName(name))
        certificate = (
            x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        return (certificate.public_bytes(serialization.Encoding.PEM).decode(),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode())


def thumbprint(certificate_pem: str, algorithm: str = "sha1") -> str:
    import hashlib

    digest = hashlib.new(algorithm, ssl.PEM_cert_to_DER_cert(certificate_pem)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


class _Recording(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self._answer(b"")

    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _answer(self, body: bytes):
        server = self.server
        server.requests.append((self.command, self.path, dict(self.headers)))
        if server.upstream is None:
            payload = server.payload
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(*server.upstream, timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def https_server(certificate_pem: str, key_pem: str, *, upstream: tuple[str, int] | None = None,
                 payload: bytes = b"KDMV"):
    """An HTTPS server on 127.0.0.1 with this certificate: it forwards every request to `upstream` over plain HTTP
    (a TLS front for the vCenter sandbox), or answers `payload`. `server.sni` lists the names clients asked for in
    their TLS handshakes, `server.requests` the (method, path, headers) that arrived."""
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert_file.write_text(certificate_pem)
        key_file.write_text(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recording, bind_and_activate=True)
    server.daemon_threads = True
    server.sni, server.requests, server.upstream, server.payload = [], [], upstream, payload

    def remember(sock, name, ctx):
        server.sni.append(name)

    context.sni_callback = remember
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
