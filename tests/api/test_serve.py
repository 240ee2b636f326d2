"""``dtgraph serve`` as a user runs it: a subprocess that starts, prints its banner, answers the README's
example queries, and stops cleanly on SIGTERM and SIGINT (the embedded store's journal closed, so the
next start opens the same data directory and finds the graph there)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dtgraph.cli import main
from dtgraph.commands.serve import EXAMPLE_QUERIES

REPO = Path(__file__).resolve().parents[2]
URL = re.compile(r"GraphiQL:\s+(http://\S+)/graphql")


class Serve:
    """A ``dtgraph serve`` subprocess and the lines it printed so far."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DTGRAPH_")}
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dtgraph", "serve", "--port", "0", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def url(self, timeout: float = 60) -> str:
        """The base URL from the banner (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = URL.search(self.output)
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no banner from dtgraph serve:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.close()
        return code

    def close(self) -> None:
        """Kill the process if it still runs; close its pipe."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def serves(tmp_path: Path) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.close()


def test_serve_demo_answers_the_readme_queries_and_stops_cleanly(tmp_path: Path, serves: list[Serve]) -> None:
    data = tmp_path / "data"
    serve = Serve("--demo", "--store", f"memory:{data}", cwd=tmp_path)
    serves.append(serve)
    url = serve.url()
    startup = time.monotonic() - serve.started
    print(f"dtgraph serve --demo: banner after {startup:.1f} s")
    banner = serve.output
    assert "demo: loaded the model library and enterprise" in banner
    assert "2,000 twins" in banner
    assert "without a key: role 'reader'" in banner
    for _, query in EXAMPLE_QUERIES:  # anonymous: the demo on localhost lets anyone here read
        assert query in banner
        response = httpx.post(f"{url}/graphql", json={"query": query}, timeout=30)
        assert response.status_code == 200
        body = response.json()
        assert "errors" not in body, body
        assert body["data"] and str(body["data"]).count("'id'") >= 2, body
    assert httpx.get(f"{url}/readyz").json()["twins"] == 2000
    assert serve.stop(signal.SIGTERM) == 0, serve.output

    # the journal was closed: a second server opens the same directory, finds the graph, loads nothing
    again = Serve("--demo", "--store", f"memory:{data}", cwd=tmp_path)
    serves.append(again)
    url = again.url()
    assert "the store is not empty, so nothing was loaded" in again.output
    assert httpx.get(f"{url}/readyz").json()["twins"] == 2000
    assert again.stop(signal.SIGINT) == 0, again.output


def test_readme_quick_start_shows_the_banner_queries() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "scripts/install && .venv/bin/dtgraph serve --demo" in readme
    for _, query in EXAMPLE_QUERIES:
        assert query in readme


def test_demo_away_from_localhost_stays_closed(tmp_path: Path, serves: list[Serve]) -> None:
    serve = Serve("--demo", "--demo-twins", "100", "--host", "0.0.0.0", "--store", "memory:", cwd=tmp_path)
    serves.append(serve)
    url = serve.url()
    assert "no anonymous access" in serve.output
    assert "API key needed" in serve.output
    assert httpx.post(f"{url}/graphql", json={"query": "{ models { id } }"}).status_code == 401
    assert serve.stop() == 0


def test_default_store_is_dtgraph_data_in_the_working_directory(tmp_path: Path, serves: list[Serve]) -> None:
    serve = Serve(cwd=tmp_path)
    serves.append(serve)
    serve.url()
    assert "serving memory:dtgraph-data (0 models" in serve.output
    assert serve.stop() == 0
    assert (tmp_path / "dtgraph-data").is_dir()


def test_config_file_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("max_page_size = 0\n")
    assert main(["serve", "--config", str(bad)]) == 2
    assert "max_page_size" in capsys.readouterr().err
    assert main(["serve", "--store", "nowhere:x"]) == 2
    assert "unknown store" in capsys.readouterr().err


def test_an_address_in_use_is_exit_2(tmp_path: Path, serves: list[Serve]) -> None:
    first = Serve("--store", "memory:", cwd=tmp_path)
    serves.append(first)
    port = first.url().rsplit(":", 1)[1]
    second = subprocess.run(
        [sys.executable, "-m", "dtgraph", "serve", "--store", "memory:", "--port", port],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second.stdout + second.stderr
    assert first.stop() == 0


def test_help_explains_demo_and_access(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    for words in (
        "--demo",
        "--demo-twins",
        "--config",
        "--store",
        "anonymous",
        "GraphiQL",
        "SIGTERM",
        "/metrics",
    ):
        assert words in text
