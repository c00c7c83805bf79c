"""Settings from environment variables ``WORKBENCH_*`` and an optional YAML file.

Paths come from one place, this module, so that the CLI, notebooks, reports and the
Dash app agree on where the store, the bundled real data and the reports live.

Precedence: explicit environment variable > YAML file (``WORKBENCH_CONFIG``) > default.

Examples
--------
>>> from workbench.config import Settings
>>> s = Settings.from_env({"WORKBENCH_DATA_DIR": "/tmp/wb"})
>>> str(s.store_dir)
'/tmp/wb/store'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from workbench.errors import ConfigError

__all__ = ["PROJECT_ROOT", "Settings", "settings"]

#: The checkout the package lives in (``data/``, ``reports/``, ``notebooks/`` sit beside it).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """Typed settings of the workbench.

    Attributes
    ----------
    data_dir : Path
        Root of ``data/``: holds ``real/`` (bundled, read-only) and ``store/``.
    store_dir : Path
        Root of the Parquet store (``<data_dir>/store`` unless ``WORKBENCH_STORE_DIR``).
    real_data_dir : Path
        Bundled real data (NAB corpus, RabbitMQ exposition captures).
    reports_dir : Path
        Where papermill reports and fidelity reports are written.
    notebooks_dir : Path
        The parameterised notebooks.
    mapping_dirs : list of Path
        Extra directories of user mapping tables (``WORKBENCH_MAPPING_DIRS``, ``:``-separated).
    app_host, app_port : str, int
        Where ``workbench serve`` binds.
    """

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    store_dir: Path
    real_data_dir: Path
    reports_dir: Path
    notebooks_dir: Path
    mapping_dirs: list[Path] = []
    app_host: str = "127.0.0.1"
    app_port: int = 8050

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from an environment mapping (default: ``os.environ``).

        Raises
        ------
        ConfigError
            If the YAML file is missing or malformed, or a value has the wrong type.
        """
        env = os.environ if env is None else env
        file_values: dict[str, Any] = {}
        config_path = env.get("WORKBENCH_CONFIG")
        if config_path:
            try:
                loaded = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as err:
                raise ConfigError(f"WORKBENCH_CONFIG={config_path}: cannot read YAML: {err}") from err
            if loaded is not None and not isinstance(loaded, dict):
                raise ConfigError(
                    f"WORKBENCH_CONFIG={config_path}: expected a mapping of settings, "
                    f"got {type(loaded).__name__}"
                )
            file_values = dict(loaded or {})

        def pick(key: str, default: Any) -> Any:
            env_key = f"WORKBENCH_{key.upper()}"
            if env_key in env and env[env_key] != "":
                return env[env_key]
            return file_values.get(key, default)

        data_dir = Path(pick("data_dir", PROJECT_ROOT / "data"))
        raw_mapping = pick("mapping_dirs", [])
        if isinstance(raw_mapping, str):
            raw_mapping = [p for p in raw_mapping.split(":") if p]
        values = {
            "data_dir": data_dir,
            "store_dir": Path(pick("store_dir", data_dir / "store")),
            "real_data_dir": Path(pick("real_data_dir", PROJECT_ROOT / "data" / "real")),
            "reports_dir": Path(pick("reports_dir", PROJECT_ROOT / "reports")),
            "notebooks_dir": Path(pick("notebooks_dir", PROJECT_ROOT / "notebooks")),
            "mapping_dirs": [Path(p) for p in raw_mapping],
            "app_host": pick("app_host", "127.0.0.1"),
            "app_port": pick("app_port", 8050),
        }
        try:
            return cls(**values)
        except ValidationError as err:
            raise ConfigError(f"invalid workbench settings: {err}") from err


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings.from_env()


def settings(*, refresh: bool = False) -> Settings:
    """Return the process-wide settings (read once from the environment).

    Parameters
    ----------
    refresh : bool
        Re-read the environment (tests that change ``WORKBENCH_*`` use this).
    """
    if refresh:
        _cached.cache_clear()
    return _cached()
