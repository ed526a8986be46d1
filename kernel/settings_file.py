"""One validated settings object per process, read from init arguments, then the environment,
then a TOML file (pydantic-settings); every error names the field that is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from kernel.errors import ConfigError, describe

HOST_PORT = r"^[A-Za-z0-9.:\[\]-]+:\d+$"  # a host (name, IPv4 or [IPv6]) and a port

Settings = TypeVar("Settings", bound="TomlSettings")


class TomlSettings(BaseSettings):
    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings_file(kind: type[Settings], path: Path | None, **overrides: Any) -> Settings:
    if path is not None and not path.is_file():
        raise ConfigError(f"{path}: no such config file")

    class FromFile(kind):  # type: ignore[valid-type,misc]  # a base class known only at run time
        model_config = SettingsConfigDict(**{**kind.model_config, "toml_file": path})

    try:
        return FromFile(**overrides)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}invalid configuration: {describe(exc)}") from None
    except Exception as exc:  # a TOML syntax error
        raise ConfigError(f"{path}: cannot parse ({exc})") from None
