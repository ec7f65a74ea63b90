"""Fixtures for collaboration: the Web PubSub double (shared with the realtime suite) and helpers."""

from __future__ import annotations

from tests.realtime.conftest import webpubsub, wps_server

__all__ = ["webpubsub", "wps_server"]
