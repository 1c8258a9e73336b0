"""Dissect: split text by the literal delimiters of a ``%{key}`` pattern. Pure.

Key modifiers as in Elasticsearch: ``%{+key}`` appends (``%{+key/2}`` in that order, joined by
the append separator), ``%{?key}`` and ``%{}`` skip, ``%{*name}`` / ``%{&name}`` make a pair
(the value of ``*name`` becomes the key of ``&name``'s value), ``%{key->}`` skips repeated
delimiters after the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"%\{([^}]*)\}")


class DissectError(ValueError):
    """A pattern that cannot be read, or text that does not match it."""


@dataclass(frozen=True)
class _Key:
    name: str
    modifier: str  # "", "+", "?", "*", "&"
    order: int
    pad: bool


class Dissect:
    """A compiled dissect pattern."""

    def __init__(self, pattern: str, append_separator: str = "") -> None:
        self.pattern = pattern
        self.separator = append_separator
        self.prefix = ""
        self.keys: list[_Key] = []
        self.delimiters: list[str] = []
        matches = list(_KEY.finditer(pattern))
        if not matches:
            raise DissectError("Unable to find any keys or delimiters.")
        self.prefix = pattern[: matches[0].start()]
        for i, match in enumerate(matches):
            self.keys.append(_parse_key(match.group(1)))
            end = matches[i + 1].start() if i + 1 < len(matches) else len(pattern)
            self.delimiters.append(pattern[match.end() : end])
        names = [k for k in self.keys if k.modifier in ("*", "&")]
        stars = {k.name for k in names if k.modifier == "*"}
        amps = {k.name for k in names if k.modifier == "&"}
        if stars != amps:
            raise DissectError(
                f"Unable to match all reference keys for dissect pattern [{pattern}]"
            )

    def parse(self, text: str) -> dict[str, str]:
        """The fields dissected out of `text`; DissectError when it does not match."""
        if not text.startswith(self.prefix):
            raise self._mismatch(text)
        position = len(self.prefix)
        values: list[str] = []
        for i, delimiter in enumerate(self.delimiters):
            last = i == len(self.delimiters) - 1
            if delimiter == "":
                if last:
                    values.append(text[position:])
                    position = len(text)
                    continue
                values.append("")
                continue
            end = text.find(delimiter, position)
            if end < 0:
                raise self._mismatch(text)
            if last and end + len(delimiter) != len(text):
                end = text.rfind(delimiter)
                if end + len(delimiter) != len(text) or end < position:
                    raise self._mismatch(text)
            values.append(text[position:end])
            position = end + len(delimiter)
            if self.keys[i].pad:
                while delimiter and text.startswith(delimiter, position):
                    position += len(delimiter)
        if position != len(text):
            raise self._mismatch(text)
        return self._assemble(values)

    def _assemble(self, values: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        appended: dict[str, list[tuple[int, int, str]]] = {}
        refs: dict[str, str] = {}
        ref_values: dict[str, str] = {}
        for n, (key, value) in enumerate(zip(self.keys, values, strict=True)):
            if key.modifier == "?" or key.name == "":
                continue
            if key.modifier == "+":
                appended.setdefault(key.name, []).append((key.order, n, value))
            elif key.modifier == "*":
                refs[key.name] = value
            elif key.modifier == "&":
                ref_values[key.name] = value
            else:
                if key.name in appended:
                    appended[key.name].append((key.order, n, value))
                else:
                    out[key.name] = value
        for name, parts in appended.items():
            if name in out:
                parts.insert(0, (0, -1, out.pop(name)))
            out[name] = self.separator.join(v for _, _, v in sorted(parts))
        for name, field in refs.items():
            out[field] = ref_values.get(name, "")
        return out

    def _mismatch(self, text: str) -> DissectError:
        return DissectError(
            f"Unable to find match for dissect pattern: {self.pattern} against source: {text}"
        )


def _parse_key(text: str) -> _Key:
    pad = text.endswith("->")
    if pad:
        text = text[:-2]
    modifier = ""
    if text[:1] in ("+", "?", "*", "&"):
        modifier, text = text[0], text[1:]
    order = 0
    if modifier == "+" and "/" in text:
        text, _, number = text.partition("/")
        try:
            order = int(number)
        except ValueError:
            raise DissectError(f"Unable to parse the append order [{number}]") from None
    return _Key(text, modifier, order, pad)
