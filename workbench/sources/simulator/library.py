"""The scenario library: built-in YAML files plus scenarios the user imported.

Built-in scenarios live in ``workbench/sources/simulator/scenarios/*.yaml`` (read-only);
imported ones in ``<data_dir>/scenarios/`` (``WORKBENCH_DATA_DIR``), where an imported file
may shadow a built-in of the same name. Scenarios registered in code with
:func:`register_scenario` win over both.

Examples
--------
>>> from workbench.sources.simulator.library import get_scenario, scenario_names
>>> "default" in scenario_names()
True
>>> get_scenario("default").name
'default'
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from workbench.config import settings
from workbench.errors import ConfigError, NotFoundError
from workbench.sources.simulator.spec import ScenarioSpec, load_yaml_file, scenario_to_yaml

__all__ = [
    "BUILTIN_DIR",
    "export_scenario",
    "get_scenario",
    "import_scenario",
    "list_scenarios",
    "register_scenario",
    "scenario_names",
    "user_dir",
]

logger = logging.getLogger(__name__)

#: Directory of the built-in scenario files.
BUILTIN_DIR = Path(__file__).resolve().parent / "scenarios"
_registered: dict[str, ScenarioSpec] = {}


def user_dir() -> Path:
    """Directory of imported scenarios (``<data_dir>/scenarios``)."""
    return settings().data_dir / "scenarios"


def register_scenario(spec: ScenarioSpec) -> None:
    """Register a scenario built in code under ``spec.name`` (replaces one of that name)."""
    _registered[spec.name] = spec


def _files() -> dict[str, tuple[Path, str]]:
    found: dict[str, tuple[Path, str]] = {}
    for origin, directory in (("builtin", BUILTIN_DIR), ("imported", user_dir())):
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                found[path.stem] = (path, origin)
    return found


def scenario_names() -> list[str]:
    """Names of every available scenario, sorted."""
    return sorted(set(_files()) | set(_registered))


def get_scenario(name: str) -> ScenarioSpec:
    """Load a scenario by name, or from a path to a YAML file.

    Raises
    ------
    NotFoundError
        If no scenario has that name (the message lists the available ones).
    ConfigError
        If the file is invalid.
    """
    if name in _registered:
        return _registered[name]
    files = _files()
    if name in files:
        path, _ = files[name]
        spec = load_yaml_file(path)
        if spec.name != name:
            raise ConfigError(f"{path}: file name {name!r} and scenario name {spec.name!r} differ")
        return spec
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return load_yaml_file(candidate)
    raise NotFoundError("scenario", name, scenario_names())


def list_scenarios() -> pl.DataFrame:
    """One row per scenario: name, origin, clusters, incidents, description.

    Invalid files are listed with origin ``invalid`` and the error as description, so a bad
    import never hides the rest of the library.

    Examples
    --------
    >>> listing = list_scenarios()
    >>> listing.columns
    ['name', 'origin', 'clusters', 'incidents', 'days', 'description']
    >>> listing.height >= 12
    True
    """
    rows = []
    files = _files()
    for name in scenario_names():
        origin = "registered" if name in _registered else files[name][1]
        try:
            spec = get_scenario(name)
        except ConfigError as err:
            rows.append(
                {
                    "name": name,
                    "origin": "invalid",
                    "clusters": 0,
                    "incidents": 0,
                    "days": None,
                    "description": str(err),
                }
            )
            continue
        rows.append(
            {
                "name": name,
                "origin": origin,
                "clusters": len(spec.kafka) + len(spec.rabbitmq) + len(spec.sqs),
                "incidents": len(spec.incidents),
                "days": spec.days,
                "description": " ".join(spec.description.split()),
            }
        )
    schema = {
        "name": pl.String,
        "origin": pl.String,
        "clusters": pl.Int64,
        "incidents": pl.Int64,
        "days": pl.Float64,
        "description": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def export_scenario(name: str, path: str | Path) -> Path:
    """Write a scenario as YAML to ``path`` (a file, or a directory to put ``<name>.yaml`` in)."""
    spec = get_scenario(name)
    target = Path(path)
    if target.is_dir():
        target = target / f"{spec.name}.yaml"
    try:
        target.write_text(
            f"# Queue Workbench scenario (edit, then: workbench scenario-import {target.name})\n"
            + scenario_to_yaml(spec),
            encoding="utf-8",
        )
    except OSError as err:
        raise ConfigError(f"cannot write scenario to {target}: {err}") from err
    logger.info("exported scenario %s to %s", spec.name, target)
    return target


def import_scenario(path: str | Path, *, overwrite: bool = False) -> ScenarioSpec:
    """Validate a scenario file and copy it into the user scenario directory.

    Raises
    ------
    ConfigError
        If the file is invalid, or a scenario of that name was already imported and
        ``overwrite`` is false.
    """
    spec = load_yaml_file(Path(path))
    directory = user_dir()
    target = directory / f"{spec.name}.yaml"
    if target.exists() and not overwrite:
        raise ConfigError(
            f"an imported scenario named {spec.name!r} exists at {target}; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".yaml.tmp")
        tmp.write_text(scenario_to_yaml(spec), encoding="utf-8")
        tmp.replace(target)
    except OSError as err:
        raise ConfigError(f"cannot write scenario to {target}: {err}") from err
    logger.info("imported scenario %s into %s", spec.name, target)
    return spec
