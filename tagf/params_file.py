"""Reading params.yaml: the YAML mapping of sections, and pydantic errors as one ParamsError naming file and key.

The whole file's schema is the platform's (orchestration/params.py); a science command that takes `--params` reads
only its own section (`tagf features` reads `features:`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, StrictBool, TypeAdapter, ValidationError

from tagf.errors import ParamsError

Section = TypeVar("Section", bound=BaseModel)
EXTENDS = "extends"  # a params file written as the changes to another (a study's, over the pipeline's)


def read_params_file(path: str | Path, _from: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's sections; a file that says `extends: <params file>` (relative to itself) is that file with its
    own keys over it, section by section: each key it names replaces the base's value whole (so a study's
    `sweep.space` is its own, not the pipeline's plus its own), every other key is the base's."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found")
    text = path.read_text()
    try:
        # Aliases (*name) can make a few lines expand into gigabytes (a "billion laughs"): a params file needs none.
        alias = next(
            (e for e in yaml.parse(text, Loader=yaml.SafeLoader) if isinstance(e, yaml.AliasEvent)), None
        )
        if alias is not None:
            raise ParamsError(
                f"{path}: line {alias.start_mark.line + 1}: YAML aliases (*{alias.anchor}) are not allowed"
            )
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    raw = raw or {}
    if EXTENDS not in raw:
        return raw
    base = raw.pop(EXTENDS)
    if not isinstance(base, str):
        raise ParamsError(f"{path}: {EXTENDS}: expected the path of a params file, got {base!r}")
    base_path = path.parent / base
    if base_path.resolve() in (*_from, path.resolve()):
        raise ParamsError(f"{path}: {EXTENDS}: {base} extends it again (a cycle)")
    merged = read_params_file(base_path, (*_from, path.resolve()))
    for section, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **value}
        else:
            merged[section] = value
    return merged


def invalid(err: ValidationError, where: str, section: str = "") -> ParamsError:
    """`params.yaml: model.steps: Input should be ...`: the first error, naming the key (and how many more)."""
    first = err.errors()[0]
    key = section + ".".join(str(p) for p in first["loc"])
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    if not key:  # a check across sections: its message names the keys
        return ParamsError(f"{where}: {first['msg'].removeprefix('Value error, ')}{more}")
    return ParamsError(f"{where}: {key}: {first['msg']}{more}")


def read_section(path: str | Path, name: str, schema: type[Section]) -> Section:
    """One section of a params file, validated by its schema (absent: the schema's defaults)."""
    try:
        return schema(**(read_params_file(path).get(name) or {}))
    except ValidationError as err:
        raise invalid(err, str(path), f"{name}.") from None


def read_reproducible(path: str | Path) -> bool:
    """A params file's `reproducible` switch, strictly (a quoted "false" is a ParamsError naming the field, as is a
    broken file), importing neither torch nor the schema: the command line pins the kernels with it before torch
    loads (tagf.runtime)."""
    value = read_params_file(path).get("reproducible", False)
    try:
        return TypeAdapter(StrictBool).validate_python(value)
    except ValidationError as err:
        raise ParamsError(f"{path}: reproducible: {err.errors()[0]['msg']}, got {value!r}") from None
