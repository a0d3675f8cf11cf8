"""Fixtures for the remote-backend tests; the fake tinker SDK lives in fake_tinker.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib does not put test folders on sys.path; the tests here import the fake by name.
sys.path.insert(0, str(Path(__file__).parent))
from fake_tinker import FakeService  # noqa: E402


@pytest.fixture
def fake_service():
    return FakeService()


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("TINKER_API_KEY", "tml-test-secret-value")
    return "tml-test-secret-value"
