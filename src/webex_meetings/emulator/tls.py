"""A throw-away self-signed certificate for serving HTTPS/WSS on loopback.

The key and certificate are made by the ``openssl`` command line tool (no Python dependency)
in a private temporary folder; the certificate doubles as the CA file clients must trust.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ConfigurationError

__all__ = ["SelfSignedCertificate", "make_self_signed"]


@dataclass(frozen=True, slots=True)
class SelfSignedCertificate:
    """Where the certificate lives; ``ca_file`` is what a client passes to trust it."""

    folder: Path
    cert_file: Path
    key_file: Path

    @property
    def ca_file(self) -> Path:
        return self.cert_file

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context using this certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side TLS context trusting only this certificate."""
        return ssl.create_default_context(cafile=str(self.cert_file))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def make_self_signed(host: str = "127.0.0.1") -> SelfSignedCertificate:
    """Generate a certificate valid for ``localhost``, ``127.0.0.1`` and ``host``.

    :raises ConfigurationError: ``openssl`` is not installed or failed.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigurationError("TLS needs the openssl command line tool")
    folder = Path(tempfile.mkdtemp(prefix="webex-emulator-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = {"DNS:localhost", "IP:127.0.0.1", f"{'IP' if _is_ip(host) else 'DNS'}:{host}"}
    command = [
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
        "-addext", "subjectAltName=" + ",".join(sorted(names)),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ConfigurationError(f"openssl could not make a certificate ({exc})") from None
    return SelfSignedCertificate(folder, cert, key)


def _is_ip(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host
