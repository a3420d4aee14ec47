"""Pydantic-like checks of JSON bodies and query strings, collecting field errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from werkzeug.datastructures import MultiDict

from bot.emulator.errors import ApiError, FieldError, Loc, field_error, validation_error


def parse_json_body(raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """Decode a request body the way FastAPI does: bad JSON or a non-object is a 422."""
    if not raw.strip():
        if required:
            raise field_error(("body",), "Field required", "missing")
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        pos = getattr(exc, "pos", 0)
        raise field_error(("body", pos), "JSON decode error", "json_invalid") from None
    if not isinstance(data, dict):
        raise field_error(
            ("body",),
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )
    return data


class Fields:
    """Typed reads from a dict; every problem is recorded, then `check()` raises once."""

    def __init__(self, data: dict[str, Any], where: str = "body") -> None:
        self.data = data
        self.where = where
        self.errors: list[FieldError] = []

    def error(self, name: str | Loc, msg: str, type_: str = "value_error") -> None:
        loc: Loc = (self.where, name) if isinstance(name, str) else (self.where, *name)
        self.errors.append(FieldError(loc, msg, type_))

    def check(self) -> None:
        if self.errors:
            raise validation_error(self.errors)

    def present(self, name: str) -> bool:
        return name in self.data

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.data:
            if required:
                self.error(name, "Field required", "missing")
            return None
        return self.data[name]

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        nullable: bool = True,
        min_len: int = 0,
        max_len: int | None = None,
    ) -> str | None:
        value = self._get(name, required)
        if value is None:
            if name in self.data and (required or not nullable):
                self.error(name, "Input should be a valid string", "string_type")
            return None
        if not isinstance(value, str):
            self.error(name, "Input should be a valid string", "string_type")
            return None
        if len(value.strip()) < min_len:
            self.error(
                name, f"String should have at least {min_len} character(s)", "string_too_short"
            )
        if max_len is not None and len(value) > max_len:
            self.error(name, f"String should have at most {max_len} characters", "string_too_long")
        return value

    def boolean(self, name: str, *, nullable: bool = True) -> bool | None:
        value = self._get(name, False)
        if value is None:
            if name in self.data and not nullable:
                self.error(name, "Input should be a valid boolean", "bool_type")
            return None
        if not isinstance(value, bool):
            self.error(name, "Input should be a valid boolean", "bool_type")
            return None
        return value

    def integer(self, name: str, *, gt: int | None = None, ge: int | None = None) -> int | None:
        value = self._get(name, False)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, "Input should be a valid integer", "int_type")
            return None
        if gt is not None and value <= gt:
            self.error(name, f"Input should be greater than {gt}", "greater_than")
        if ge is not None and value < ge:
            self.error(name, f"Input should be greater than or equal to {ge}", "greater_than_equal")
        return value

    def obj(self, name: str, *, max_bytes: int | None = None) -> dict[str, Any] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(name, "Input should be a valid dictionary", "dict_type")
            return None
        if max_bytes is not None and len(json.dumps(value).encode()) > max_bytes:
            self.error(name, f"Object is larger than {max_bytes // 1024} KB", "too_long")
        return value

    def enum(self, name: str, values: Sequence[str], *, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if value not in values:
            choices = ", ".join(f"'{v}'" for v in values)
            self.error(name, f"Input should be {choices}", "enum")
            return None
        return str(value)

    def str_list(
        self,
        name: str,
        *,
        max_items: int | None = None,
        item_min_len: int = 0,
        item_max_len: int | None = None,
    ) -> list[str] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list):
            self.error(name, "Input should be a valid list", "list_type")
            return None
        if max_items is not None and len(value) > max_items:
            self.error(
                name,
                f"List should have at most {max_items} items after validation, not {len(value)}",
                "too_long",
            )
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error((name, i), "Input should be a valid string", "string_type")
            elif len(item) < item_min_len:
                self.error(
                    (name, i),
                    f"String should have at least {item_min_len} character(s)",
                    "string_too_short",
                )
            elif item_max_len is not None and len(item) > item_max_len:
                self.error(
                    (name, i),
                    f"String should have at most {item_max_len} characters",
                    "string_too_long",
                )
            else:
                out.append(item)
        return out

    def obj_list(self, name: str) -> list[dict[str, Any]] | None:
        value = self._get(name, False)
        if value is None:
            return None
        if not isinstance(value, list):
            self.error(name, "Input should be a valid list", "list_type")
            return None
        out: list[dict[str, Any]] = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                out.append(item)
            else:
                self.error((name, i), "Input should be a valid dictionary", "dict_type")
        return out


class Query:
    """Reads from a query string (repeated keys for arrays, as FastAPI expects)."""

    def __init__(self, args: MultiDict[str, str]) -> None:
        self.args = args
        self.errors: list[FieldError] = []

    def error(self, name: str, msg: str, type_: str) -> None:
        self.errors.append(FieldError(("query", name), msg, type_))

    def check(self) -> None:
        if self.errors:
            raise validation_error(self.errors)

    def integer(
        self, name: str, default: int | None, *, ge: int | None = None, le: int | None = None
    ) -> int | None:
        raw = self.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            self.error(name, "Input should be a valid integer", "int_parsing")
            return default
        if ge is not None and value < ge:
            self.error(name, f"Input should be greater than or equal to {ge}", "greater_than_equal")
        if le is not None and value > le:
            self.error(name, f"Input should be less than or equal to {le}", "less_than_equal")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.args.get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        self.error(name, "Input should be a valid boolean", "bool_parsing")
        return default

    def string(self, name: str) -> str | None:
        raw = self.args.get(name)
        return raw if raw else None

    def strings(self, name: str) -> list[str]:
        return [v for v in self.args.getlist(name) if v != ""]


def require(condition: bool, status: int, detail: str) -> None:
    if not condition:
        raise ApiError(status, detail)
