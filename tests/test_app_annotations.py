"""Annotations: stored atomically beside the store, filtered by entity and time overlap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from workbench.annotations import add_annotation, annotations_dir, delete_annotation, read_annotations
from workbench.errors import NotFoundError, ParameterError
from workbench.store import Store

T = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)


def test_add_read_filter_delete(tmp_path: Path) -> None:
    store = Store(tmp_path)
    a = add_annotation(
        store,
        cluster="k1",
        level="partition",
        entity="orders/1",
        start=T,
        end=T + dt.timedelta(hours=1),
        text="deploy",
        author="ops",
    )
    add_annotation(store, cluster="k1", level="partition", entity="orders/2", start=T, end=T, text="other")
    assert (annotations_dir(store) / f"{a['id']}.json").exists()
    mine = read_annotations(store, cluster="k1", entity="orders/1")
    assert mine.get_column("text").to_list() == ["deploy"]
    assert mine.schema["start"] == mine.schema["end"]
    # overlap filter: a window after the note excludes it, one covering its end includes it
    assert read_annotations(store, entity="orders/1", start=T + dt.timedelta(hours=2)).height == 0
    assert read_annotations(store, entity="orders/1", start=T + dt.timedelta(minutes=59)).height == 1
    delete_annotation(store, a["id"])
    assert read_annotations(store).get_column("entity").to_list() == ["orders/2"]
    with pytest.raises(NotFoundError):
        delete_annotation(store, a["id"])


def test_text_is_stored_verbatim_including_markup(tmp_path: Path) -> None:
    payload = "<script>alert(1)</script>"
    add_annotation(tmp_path, cluster="c", level="queue", entity=payload, start=T, end=T, text=payload)
    assert read_annotations(tmp_path, entity=payload).get_column("text").to_list() == [payload]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"text": ""}, "text"),
        ({"text": "x" * 5000}, "text"),
        ({"end": T - dt.timedelta(hours=1)}, "end"),
        ({"start": dt.datetime(2026, 1, 1)}, "start"),
        ({"start": "not a time"}, "start"),
        ({"entity": ""}, "entity"),
    ],
)
def test_bad_input_names_the_parameter(tmp_path: Path, kwargs: dict[str, object], parameter: str) -> None:
    args: dict[str, object] = {
        "cluster": "c",
        "level": "queue",
        "entity": "q",
        "start": T,
        "end": T,
        "text": "n",
    }
    args.update(kwargs)
    with pytest.raises(ParameterError) as err:
        add_annotation(tmp_path, **args)  # type: ignore[arg-type]
    assert err.value.parameter == parameter


def test_bad_id_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ParameterError):
        delete_annotation(tmp_path, "../../etc/passwd")


def test_empty_store_has_no_notes(tmp_path: Path) -> None:
    assert read_annotations(tmp_path).height == 0
