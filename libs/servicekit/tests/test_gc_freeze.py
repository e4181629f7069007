"""A started service keeps its start-up heap out of the garbage collector's full scans.

The scale benchmark's p99 misses were single 100-150 ms stalls: a generation-2 collection
walking every module, route and model the service built at start-up. ``gc.freeze`` after
start-up leaves a full collection only what requests made since.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import kitapp
import pytest
from asgi_lifespan import LifespanManager

from servicekit.app import create_service_app
from servicekit.settings import Environment


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """This test process starts many apps: what one test freezes is unfrozen after it."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def settings_for(kit_db_url: str, **overrides: object) -> kitapp.KitSettings:
    return kitapp.KitSettings(database_url=kit_db_url, kafka_topic_prefix="gc-freeze.", **overrides)


def test_on_by_default_outside_tests_and_settable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kitapp.KitSettings(environment="development").gc_freeze is True
    assert kitapp.KitSettings(environment="test").gc_freeze is False
    monkeypatch.setenv("GC_FREEZE", "true")
    assert kitapp.KitSettings(environment="test").gc_freeze is True
    monkeypatch.setenv("GC_FREEZE", "false")
    assert kitapp.KitSettings(environment=Environment.development).gc_freeze is False


async def test_start_up_freezes_the_heap_and_full_collections_get_short(
    kit_db_url: str, unfrozen: None
) -> None:
    app = create_service_app(kitapp.definition(settings_for(kit_db_url, gc_freeze=True)))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        assert gc.get_freeze_count() > 10_000, "start-up objects should be frozen"
        tracked = {id(o) for o in gc.get_objects()}
        # the app's own start-up objects are out of the collector's generations
        assert id(app.router) not in tracked
        assert id(app.state.db) not in tracked
        # a full collection now walks what is left: far fewer objects than were frozen
        assert len(tracked) < gc.get_freeze_count() / 4


async def test_off_leaves_the_heap_to_the_collector(kit_db_url: str, unfrozen: None) -> None:
    app = create_service_app(kitapp.definition(settings_for(kit_db_url, gc_freeze=False)))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        assert gc.get_freeze_count() == 0
        assert id(app.router) in {id(o) for o in gc.get_objects()}
