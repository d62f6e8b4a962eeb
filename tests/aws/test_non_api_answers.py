"""An endpoint that answers something other than EC2's API (an HTML page from
a proxy, with any status) is one line and exit 1, for every command that
calls AWS: botocore raised ResponseParserError, which is no BotoCoreError,
and it came out as a traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hasg.cli import main

PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center>"
    b"<h1>Bad Gateway</h1></center><hr>nginx</body>"  # no </html>: not even XML
)


@pytest.fixture(params=[200, 500, 502])
def proxy(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A proxy on 127.0.0.1 that answers every request with an HTML page."""
    status: int = request.param

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", status
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(
    "command",
    [["audit"], ["verify"], ["plan"], ["apply", "--yes"], ["destroy", "--yes"]],
)
def test_an_html_answer_is_one_line(
    proxy: tuple[str, int],
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # the page is the answer: no retries
    url, status = proxy
    args = [*command, "--vpc", "vpc-12345678", "--region", "us-east-1", "--endpoint-url", url]
    assert main(args) == 1
    printed = capsys.readouterr()
    assert printed.out == "" and "Traceback" not in printed.err
    assert printed.err.startswith("hasg: error: ")
    assert printed.err.count("\n") == 1
    if status == 200:  # an error status is AWS's error to botocore, whatever the body
        assert "the endpoint answered something that is not EC2's API" in printed.err
