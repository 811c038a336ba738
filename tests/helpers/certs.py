"""Throwaway TLS material for tests: a CA, a server certificate for 127.0.0.1 and a client certificate.

Made with the ``openssl`` command line in a folder the caller owns (a pytest ``tmp_path``): EC P-256 keys (fast to
generate), valid for one day, nothing written anywhere else.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl")


@dataclass(frozen=True)
class TestCerts:
    """PEM files of one throwaway PKI."""

    __test__ = False  # not a pytest test class despite its name

    ca: Path
    """The CA certificate (what agents trust, and what the control plane requires for mutual TLS)."""
    server_cert: Path
    server_key: Path
    client_cert: Path
    """A client certificate signed by the CA (for mutual TLS)."""
    client_key: Path
    other_client_cert: Path
    """Another client certificate signed by the CA (a second machine)."""
    other_client_key: Path
    rogue_client_cert: Path
    """A client certificate signed by another CA, which the control plane must not accept."""
    rogue_client_key: Path


def _openssl(folder: Path, *args: str) -> None:
    assert OPENSSL, "the openssl command is needed to make test certificates"
    done = subprocess.run([OPENSSL, *args], cwd=folder, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl(folder, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key.name, "-out", cert.name, "-days", "1", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def _leaf(folder: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr, ext = (folder / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr", ".ext"))
    _openssl(folder, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key.name, "-out", csr.name, "-subj", f"/CN={name}")
    ext.write_text(extensions)
    _openssl(folder, "x509", "-req", "-in", csr.name, "-CA", ca[0].name, "-CAkey", ca[1].name, "-set_serial",
             str(secrets.randbits(62) + 1), "-out", cert.name, "-days", "1", "-extfile", ext.name)
    return cert, key


def make_certs(folder: Path, server_ips: tuple[str, ...] = ("127.0.0.1",)) -> TestCerts:
    """Create a CA, a server certificate (IP SANs ``server_ips``, DNS SAN localhost) and client certificates."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "test-ca")
    rogue_ca = _ca(folder, "rogue-ca")
    sans = ",".join([*(f"IP:{ip}" for ip in server_ips), "DNS:localhost"])
    server = _leaf(folder, "server", ca, f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n"
                                         "basicConstraints=critical,CA:FALSE\n")
    client_ext = "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n"
    client = _leaf(folder, "client", ca, client_ext)
    other = _leaf(folder, "other-client", ca, client_ext)
    rogue = _leaf(folder, "rogue-client", rogue_ca, client_ext)
    return TestCerts(ca=ca[0], server_cert=server[0], server_key=server[1], client_cert=client[0],
                     client_key=client[1], other_client_cert=other[0], other_client_key=other[1],
                     rogue_client_cert=rogue[0], rogue_client_key=rogue[1])
