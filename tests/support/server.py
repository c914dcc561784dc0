"""A real gunicorn serving this checkout on the test database, production-like (DEBUG off,
CSRF enforced), and a client that speaks HTTP/1.1 over a socket as a browser does: a CSRF
cookie from a page, the token in the form, an Origin header."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import free_port
from tests.support.workers import database_url

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Gunicorn:
    proc: subprocess.Popen
    port: int
    log: Path
    access_log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def answered(self, expected: int, timeout: float = 60) -> list[tuple[int, str, int]]:
        """(process id, request line, status) of each request but the health probes, once
        `expected` of them are in the access log (a worker writes its line after answering)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            rows = []
            for line in text.splitlines():
                pid, _, rest = line.partition(" ")
                request, _, status = rest.rpartition(" ")
                if "/healthz/" not in request:
                    rows.append((int(pid.strip("<>")), request, int(status)))
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)


def start_gunicorn(tmp_path: Path, *, workers: int = 1, env: dict | None = None) -> Gunicorn:
    """gunicorn on a free loopback port with `workers` processes; waits for /healthz/."""
    port = free_port()
    log, access_log = tmp_path / "gunicorn.log", tmp_path / "access.log"
    environ = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "VAR_DIR": str(tmp_path / "server-var"),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_COOKIES": "false",
        "CACHE_URL": "",  # one cache per process, the default a shared lockout must not need
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--preload"]
    command += ["-b", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "120"]
    command += ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(r)s %(s)s"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=out, stderr=out)
    server = Gunicorn(proc, port, log, access_log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}\n{server.logs()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz/")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.stop()
    raise AssertionError(f"gunicorn did not answer /healthz/ within 180 s\n{server.logs()}")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class Browser:
    """Cookies and the CSRF token, as a browser keeps them for one site."""

    server: Gunicorn
    cookies: dict[str, str] = field(default_factory=dict)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.server.port), timeout=60)

    def head(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.server.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if method != "GET":
            lines.append(f"Origin: {self.server.origin}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def read_answer(self, sock: socket.socket) -> Answer:
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";")[0]
        return Answer(response.status, dict(response.headers.items()), body)

    def request(self, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
        with self.connect() as sock:
            if method != "GET":
                headers.setdefault("Content-Length", str(len(body)))
            sock.sendall(self.head(method, path, headers) + body)
            return self.read_answer(sock)

    def csrf_token(self, path: str = "/login/") -> str:
        """The form's token from a page, with its cookie kept, as a browser gets both."""
        page = self.request("GET", path)
        assert page.status == 200, page.text[:500]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def log_in(self, username: str, password: str) -> Answer:
        from urllib.parse import urlencode

        token = self.csrf_token()
        form = {"csrfmiddlewaretoken": token, "username": username, "password": password}
        return self.request(
            "POST",
            "/login/",
            urlencode(form).encode(),
            **{"Content-Type": "application/x-www-form-urlencoded"},
        )


def multipart(fields: dict[str, str], file_field: str, filename: str, size: int):
    """(content type, head bytes, tail bytes) of a multipart body whose one file is `size`
    bytes: the caller sends head, the file's bytes, tail (or only the headers)."""
    boundary = "----hardlimit" + secrets.token_hex(8)
    head = b""
    for name, value in fields.items():
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", head, tail
