"""The server's configuration: one :class:`Settings` object, from arguments, environment and a config file.

Precedence, highest first: values given to :func:`load_settings` (the command line), environment variables
``DTGRAPH_<FIELD>`` (``DTGRAPH_PORT=9000``; lists and tables as JSON, e.g.
``DTGRAPH_API_KEYS='[{"sha256": "…", "name": "ci", "role": "reader"}]'``), the config file (TOML or JSON,
named by ``config=`` or ``DTGRAPH_CONFIG``; see ``server/dtgraph.example.toml``), then the defaults. Unknown
keys in a config file are errors, so that a misspelt limit is not silently ignored.

Errors::

    DtgraphError
    └── ConfigError    the config file cannot be read, or a value breaks its rule (every problem listed)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dtgraph.errors import DtgraphError

__all__ = ["ROLES", "ApiKey", "ConfigError", "Role", "Settings", "load_settings"]

Role = Literal["reader", "modeler", "operator", "admin"]
ROLES: tuple[Role, ...] = ("reader", "modeler", "operator", "admin")  # each may do what those before may
HARD_MAX_PAGE_SIZE = 1000

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_file_data: ContextVar[Mapping[str, Any] | None] = ContextVar("dtgraph_config_file", default=None)


class ConfigError(DtgraphError):
    """The configuration cannot be read or is invalid; the message names every bad value and its rule."""


class ApiKey(BaseModel):
    """A bearer key and who holds it. Give ``sha256`` (hex digest of the key) rather than ``key``, so that
    the config file does not hold the secret itself: ``printf %s "$KEY" | sha256sum``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    role: Role
    key: SecretStr | None = None
    sha256: str | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().lower()
            if not _HEX_DIGEST.fullmatch(value):
                raise ValueError("sha256 must be the 64 hexadecimal digits of the key's SHA-256 digest")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKey:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError(f"API key {self.name!r}: give exactly one of 'key' and 'sha256'")
        if self.key is not None and len(self.key.get_secret_value()) < 16:
            raise ValueError(f"API key {self.name!r}: a key needs at least 16 characters")
        return self

    @property
    def digest(self) -> bytes:
        """The SHA-256 digest of the key, the form keys are compared in."""
        if self.sha256 is not None:
            return bytes.fromhex(self.sha256)
        assert self.key is not None
        return hashlib.sha256(self.key.get_secret_value().encode()).digest()


class Settings(BaseSettings):
    """Everything ``dtgraph serve`` can be told. Field names are the config file's keys."""

    model_config = SettingsConfigDict(env_prefix="DTGRAPH_", extra="forbid", validate_default=True)

    # --- the store
    store: str | None = Field(
        default=None, description="memory:DIR or a Neo4j URI; None: the embedded store in data_dir"
    )
    data_dir: Path = Field(default=Path("dtgraph-data"), description="the embedded store's directory")
    neo4j_user: str | None = None
    neo4j_password: SecretStr | None = None
    neo4j_database: str | None = None

    # --- listening
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed to call from a page")

    # --- who may do what
    api_keys: list[ApiKey] = Field(default_factory=list)
    anonymous_role: Role | None = Field(
        default=None, description="role of requests without a key; None: refused"
    )

    # --- limits
    max_page_size: int = Field(default=100, ge=1, le=HARD_MAX_PAGE_SIZE)
    max_query_depth: int = Field(default=12, ge=1, le=100, description="deepest nesting of fields in a query")
    max_traversal_depth: int = Field(
        default=10, ge=1, le=100, description="largest 'depth' of related/descendants"
    )
    max_tokens: int = Field(default=2000, ge=10, description="most tokens in a query document")
    max_aliases: int = Field(default=30, ge=0, description="most aliases in a query, fragments included")
    request_timeout: float = Field(default=10.0, gt=0, description="seconds an HTTP request may take")
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest request body (and WebSocket message), uploads aside"
    )
    max_upload_bytes: int = Field(
        default=64 * 1_048_576, ge=1024, description="largest multipart body (importGraph, uploadModelFiles)"
    )
    introspection: bool = True

    # --- other writers
    models_poll_seconds: float = Field(
        default=2.0,
        ge=0,
        description="how often to look for models changed by other processes (Neo4j); 0: never",
    )

    # --- cascade analysis
    cascade_config: Path | None = Field(
        default=None,
        description="a cascade configuration: failure semantics of models of your own (see dtdl/README.md)",
    )

    @field_validator("api_keys")
    @classmethod
    def _unique_names(cls, keys: list[ApiKey]) -> list[ApiKey]:
        names = [k.name for k in keys]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"API key names must be unique: {', '.join(map(repr, twice))} used twice")
        digests = [k.digest for k in keys]
        if len(set(digests)) != len(digests):
            raise ValueError("two API keys have the same secret")
        return keys

    @field_validator("cascade_config")
    @classmethod
    def _cascade_config(cls, path: Path | None) -> Path | None:
        # the file's shape now; the models are checked against it once the store is open
        if path is not None:
            from dtgraph.cascade.semantics import CascadeConfigError, read_config

            try:
                read_config(path)
            except CascadeConfigError as exc:
                raise ValueError(f"invalid cascade configuration:\n{exc}") from None
        return path

    @property
    def store_location(self) -> str:
        """The ``--store`` text of the store to open."""
        return self.store or f"memory:{self.data_dir}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)


class _FileSource(PydanticBaseSettingsSource):
    """The config file's table, read by :func:`load_settings` (lowest precedence but the defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_file_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_data.get() or {})


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings from ``overrides`` (None values are ignored), the environment and the config file.

    The file is ``config``, else ``$DTGRAPH_CONFIG``, else none. Raises :class:`ConfigError`.
    """
    path = config or os.environ.get("DTGRAPH_CONFIG") or None
    data = _read_file(Path(path)) if path else {}
    given = {name: value for name, value in overrides.items() if value is not None}
    token = _file_data.set(data)
    try:
        return Settings(**given)
    except ValidationError as exc:
        where = f" (config file {path})" if path else ""
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid settings{where}:\n{problems}") from None
    finally:
        _file_data.reset(token)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"the config file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the config file {path} must hold a table of settings, not {type(data).__name__}")
    return data
