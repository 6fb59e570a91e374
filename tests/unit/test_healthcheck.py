"""The Docker health check against a real local HTTP server, and against a closed port."""

import http.server
import socket
import threading

import pytest

from studio.deploy import healthcheck


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthy_when_the_app_answers(server, monkeypatch, capsys):
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.setenv("STUDIO_PORT", str(server.server_port))
    assert healthcheck.main() == 0
    assert "answered HTTP 200" in capsys.readouterr().out


def test_unhealthy_on_an_error_status_or_a_closed_port(server, monkeypatch):
    monkeypatch.setattr(_Handler, "status", 500)
    ok, message = healthcheck.check(server.server_port)
    assert not ok and "HTTP 500" in message
    ok, message = healthcheck.check(_closed_port(), timeout=2)
    assert not ok and "did not answer" in message


def test_bad_port_setting_is_unhealthy_with_the_reason(monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_PORT", "web")
    assert healthcheck.main() == 1
    assert "STUDIO_PORT='web'" in capsys.readouterr().err
