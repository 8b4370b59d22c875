"""JSON log lines carry the service and the correlation id of the work in hand."""

from __future__ import annotations

import io
import json
import logging

import pytest
from crm_kit.logs import configure_logging, correlation_id


def test_a_log_line_is_json_with_service_and_correlation_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("sample", "INFO", as_json=True)
    token = correlation_id.set("corr-77")
    try:
        logging.getLogger("crm.sample").info("client %s registered", "c-1")
    finally:
        correlation_id.reset(token)
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_crm_handler", False):
                logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "client c-1 registered"
    assert line["service"] == "sample"
    assert line["correlation_id"] == "corr-77"
    assert line["level"] == "INFO"
