"""The reference DTDL parser as a test oracle (dev-only; the product never imports this module).

``ReferenceParser`` starts ``node tools/dtdl-oracle/oracle.mjs`` once and keeps it warm: the npm
package ``@digicatapult/dtdl-parser`` wraps DTDLParser 1.1.3 (digitaltwinconsortium/DTDLParser)
compiled to WebAssembly. Each request is one JSON line; see ``oracle.mjs`` for the protocol.

    with ReferenceParser() as oracle:
        result = oracle.parse([text1, text2])
        result.valid, result.codes, result.undefined

Install it with ``npm ci --prefix tools/dtdl-oracle`` (Node.js >= 20). Known limits of the oracle:
it always runs with DTDLParser's default options, so it cannot honour ``AllowUndefinedExtensions``
or extension limit contexts, and 1.1.3 predates a few v4 conformance cases.

Errors::

    OracleError                 anything that goes wrong with the oracle itself
    ├── OracleNotInstalled      node or node_modules missing: the message says how to install
    └── OracleFailure           the process died, timed out, crashed or broke the protocol
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "INSTALL_COMMAND",
    "BatchResult",
    "OracleError",
    "OracleFailure",
    "OracleNotInstalled",
    "OracleParsingError",
    "OracleResult",
    "ReferenceParser",
    "as_text",
]

ORACLE_DIR = Path(__file__).resolve().parent / "dtdl-oracle"
SCRIPT = ORACLE_DIR / "oracle.mjs"
PACKAGE = ORACLE_DIR / "node_modules" / "@digicatapult" / "dtdl-parser" / "package.json"
INSTALL_COMMAND = "npm ci --prefix tools/dtdl-oracle"


class OracleError(RuntimeError):
    """Base of every failure of the oracle itself (never a verdict on a model)."""


class OracleNotInstalled(OracleError):
    """Node.js or the npm package is missing."""


class OracleFailure(OracleError):
    """The oracle process died, timed out or broke the protocol."""


@dataclass(frozen=True, slots=True)
class OracleParsingError:
    """One error reported by the reference parser."""

    code: str
    message: str
    primary_id: str | None = None
    secondary_id: str | None = None
    property: str | None = None
    value: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # aux_property, type, restriction, action, ...

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OracleParsingError:
        known = {"code", "message", "primary_id", "secondary_id", "property", "value"}
        return cls(
            code=str(raw.get("code", "")),
            message=str(raw.get("message", "")),
            primary_id=raw.get("primary_id"),
            secondary_id=raw.get("secondary_id"),
            property=raw.get("property"),
            value=raw.get("value"),
            extra={k: v for k, v in raw.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class OracleResult:
    """The reference parser's verdict on one model (a list of documents parsed together)."""

    valid: bool
    kind: str | None  # None when valid, else "Parsing", "Resolution" or "Crash"
    errors: tuple[OracleParsingError, ...] = ()
    undefined: tuple[str, ...] = ()  # UndefinedIdentifiers of a resolution failure
    elapsed_ms: tuple[float, ...] = ()  # per repeat, measured inside node, when timing was asked
    elements: int | None = None  # with summary=True on a valid model
    interfaces: int | None = None
    crash: str | None = None  # the .NET exception message when kind == "Crash"

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OracleResult:
        return cls(
            valid=bool(raw["valid"]),
            kind=raw.get("kind"),
            errors=tuple(OracleParsingError.from_json(e) for e in raw.get("errors", [])),
            undefined=tuple(raw.get("undefined", [])),
            elapsed_ms=tuple(raw.get("elapsed_ms", [])),
            elements=raw.get("elements"),
            interfaces=raw.get("interfaces"),
            crash=raw.get("crash"),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Verdicts on many models sent in one request; ``elapsed_ms`` is the whole batch, per repeat."""

    results: tuple[OracleResult, ...]
    elapsed_ms: tuple[float, ...]


def as_text(document: object) -> str:
    """A document as JSON text: str as is, bytes decoded (BOM dropped), anything else serialised."""
    if isinstance(document, str):
        return document
    if isinstance(document, bytes | bytearray):
        return bytes(document).decode("utf-8-sig")
    return json.dumps(document, ensure_ascii=False)


class ReferenceParser:
    """A warm ``node`` process running the reference parser; use it as a context manager."""

    def __init__(self, *, node: str | None = None, timeout: float = 300.0) -> None:
        self._node = node
        self.timeout = timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=50)
        self._threads: list[threading.Thread] = []
        self._next_id = 0
        self._version: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> ReferenceParser:
        if self._proc is not None:
            return self
        node = self._node or shutil.which("node")
        if node is None:
            raise OracleNotInstalled(
                "the reference DTDL parser needs Node.js >= 20 on PATH (apt-get install nodejs npm), "
                f"then run: {INSTALL_COMMAND}"
            )
        if not PACKAGE.is_file():
            raise OracleNotInstalled(
                f"the reference DTDL parser is not installed ({PACKAGE.parent} is missing); "
                f"run from the repository root: {INSTALL_COMMAND}"
            )
        self._proc = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=ORACLE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._lines = queue.Queue()
        self._threads = [
            threading.Thread(target=self._pump_stdout, name="dtdl-oracle-stdout", daemon=True),
            threading.Thread(target=self._pump_stderr, name="dtdl-oracle-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._version = str(self._request({"version": True})["version"])
        return self

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> ReferenceParser:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave node running
        if getattr(self, "_proc", None) is not None:
            self.close()

    # -- requests --------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """DTDLParser's assembly name, e.g. ``DTDLParser, Version=1.1.3.62099, ...``."""
        self.start()
        assert self._version is not None
        return self._version

    def parse(self, documents: Sequence[object], *, summary: bool = False) -> OracleResult:
        """Parse documents (JSON texts, bytes or decoded values) together as one model."""
        return OracleResult.from_json(
            self._request({"documents": [as_text(d) for d in documents], "summary": summary})
        )

    def time(self, documents: Sequence[object], repeat: int) -> OracleResult:
        """Parse ``repeat`` times, timed inside node; ``elapsed_ms`` holds each parse's time."""
        texts = [as_text(d) for d in documents]
        return OracleResult.from_json(self._request({"documents": texts, "time": True, "repeat": repeat}))

    def parse_batch(
        self, models: Iterable[Sequence[object]], *, time: bool = False, repeat: int = 1
    ) -> BatchResult:
        """Parse many models in one request; ``elapsed_ms`` times the whole batch inside node."""
        batch = [[as_text(d) for d in docs] for docs in models]
        raw = self._request({"batch": batch, "time": time, "repeat": repeat})
        results = tuple(OracleResult.from_json(r) for r in raw["results"])
        return BatchResult(results, tuple(raw.get("elapsed_ms", [])))

    def _request(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._proc is None:
            self.start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        self._next_id += 1
        request_id = self._next_id
        try:
            proc.stdin.write(json.dumps({"id": request_id, **payload}, ensure_ascii=False) + "\n")
            proc.stdin.flush()
        except OSError as exc:
            raise self._failure("cannot write to the oracle process") from exc
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self._kill()
            raise OracleFailure(
                f"the oracle gave no answer within {self.timeout:.0f} s; it was stopped"
            ) from None
        if line is None:
            raise self._failure("the oracle process exited")
        response: dict[str, Any] = json.loads(line)
        if "protocol_error" in response:
            raise OracleFailure(f"the oracle rejected the request: {response['protocol_error']}")
        if response.get("id") != request_id:
            raise OracleFailure(f"the oracle answered request {response.get('id')!r}, expected {request_id}")
        return response

    def _failure(self, what: str) -> OracleFailure:
        self._kill()
        detail = "\n".join(self._stderr)
        return OracleFailure(f"{what}; its stderr:\n{detail}" if detail else what)

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self.close()

    def _pump_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.rstrip("\n"))
