"""OpenAPI documents: fetched or read once, at start-up, and compiled into the API catalog."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import yaml

from chatgate.http_apis.catalog import ApiCatalog, CompiledApi
from chatgate.http_apis.config import load_api_configs
from chatgate.http_apis.openapi import build_operations
from chatgate.tool_config import ToolConfigError

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024


class DocumentUnavailableError(ToolConfigError):
    """A document URL could not be fetched (the API is left out; start-up goes on)."""


def load_document(source: str, *, timeout_seconds: float = 10.0) -> dict[str, Any]:
    """The raw document from a file path or an http(s) URL, JSON or YAML.

    Called once at start-up by the API process; the operator chose the source, so no SSRF guard.

    Raises:
        DocumentUnavailableError: the URL could not be fetched.
        ToolConfigError: unreadable, too large, or neither JSON nor YAML.
    """
    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=timeout_seconds, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise DocumentUnavailableError(f"OpenAPI document {source} could not be fetched: {exc}") from exc
        text = response.text
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise ToolConfigError(f"OpenAPI document {source} cannot be read: {exc.strerror}") from exc
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ToolConfigError(f"OpenAPI document {source} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ToolConfigError(f"OpenAPI document {source} is neither valid JSON nor YAML") from exc
    if not isinstance(document, dict):
        raise ToolConfigError(f"OpenAPI document {source} is not an object")
    return document


def compile_catalog(config: dict[str, Any], *, base_dir: Path | None = None) -> ApiCatalog:
    """Validate `[[apis]]`, load each document and build every allowed operation.

    An API whose document URL cannot be fetched is left out (logged as an error); anything else
    wrong with an entry or its document refuses start-up.

    Raises:
        ToolConfigError: an invalid entry, or a document that is unreadable or not OpenAPI 3.
    """
    compiled = []
    owners: dict[str, str] = {}  # tool name -> the API that has it
    for api in load_api_configs(config, base_dir=base_dir):
        try:
            document = load_document(api.openapi, timeout_seconds=api.timeout_seconds)
        except DocumentUnavailableError as exc:
            # One API being down at start-up must not take the whole service down with it.
            logger.error("api %s disabled until restart: %s", api.name, exc)  # no traceback
            continue
        except ToolConfigError as exc:
            raise ToolConfigError(
                f"[[apis]] {api.name}: {exc}; fix the document or point openapi at another"
            ) from None
        operations = build_operations(api, document)
        for operation in operations:
            other = owners.setdefault(operation.tool_name, api.name)
            if other != api.name:
                raise ToolConfigError(
                    f"[[apis]] {api.name}: its tool {operation.tool_name} is also a tool of the entry "
                    f"{other}; change the name of one of the two entries"
                )
        compiled.append(CompiledApi(config=api, operations=tuple(operations)))
    return ApiCatalog(apis=tuple(compiled))
