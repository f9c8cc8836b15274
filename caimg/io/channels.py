"""Which of a file's channels caimg uses as what: by name, wavelength or index.

Fura-2 needs the 340 nm and 380 nm excitation channels (``f340``, ``f380``); a
single-wavelength indicator needs one channel (``f``). :func:`choose_channels` takes the
file's channels (names and wavelengths where the file says them) and the recipe's
``input.channels`` and returns the file's channel index for each caimg channel, or an
error that lists the channels with their names and wavelengths and says what to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, StackReadError

__all__ = ["ChannelInfo", "choose_channels", "describe_channels", "FURA2_TOLERANCE_NM"]

#: an excitation wavelength within this of 340 / 380 nm is taken for a Fura-2 channel
FURA2_TOLERANCE_NM = 10.0
_FURA2 = {"f340": 340.0, "f380": 380.0}
_WAVELENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:nm)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ChannelInfo:
    """One channel of a file, as the file describes it.

    Parameters
    ----------
    index : int
        Position along the file's channel axis (0-based).
    name : str or None
        The channel's name in the file (``"5-FAM/pH 9.0"``, ``"LED470"``, ``"Cy5"``).
    excitation_nm, emission_nm : float or None
        Wavelengths in nm, when the file says.
    """

    index: int
    name: str | None = None
    excitation_nm: float | None = None
    emission_nm: float | None = None

    def describe(self) -> str:
        """``0 '340nm' (ex 340 nm, em 510 nm)``: how messages and ``caimg inspect`` list it."""
        parts = [f"{self.index}"]
        if self.name:
            parts.append(repr(self.name))
        waves = [f"{k} {v:g} nm" for k, v in (("ex", self.excitation_nm),
                                              ("em", self.emission_nm)) if v is not None]
        if waves:
            parts.append(f"({', '.join(waves)})")
        return " ".join(parts)

    def as_dict(self) -> dict:
        """Return the fields as a JSON-ready dict."""
        return {"index": self.index, "name": self.name, "excitation_nm": self.excitation_nm,
                "emission_nm": self.emission_nm}


def describe_channels(channels: Sequence[ChannelInfo]) -> str:
    """Describe all channels in one line for messages: ``0 'GFP' (ex 488 nm), 1 'BF'``.

    Parameters
    ----------
    channels : sequence of ChannelInfo
        The file's channels.

    Returns
    -------
    str
    """
    return ", ".join(c.describe() for c in channels)


def _fura2_wavelength(ch: ChannelInfo) -> float | None:
    """340 or 380 when the channel's excitation or name says so, else None."""
    if ch.excitation_nm is not None:
        for nominal in _FURA2.values():
            if abs(ch.excitation_nm - nominal) <= FURA2_TOLERANCE_NM:
                return nominal
        return None
    if ch.name:
        found = {v for k, v in _FURA2.items() if re.search(rf"(?<!\d){k[1:]}(?!\d)", ch.name)}
        if len(found) == 1:
            return found.pop()
    return None


def _resolve_one(key: str, value, channels: Sequence[ChannelInfo], where) -> int:
    """Return the index of the file channel ``value`` (index, name, wavelength) names."""
    listed = describe_channels(channels)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"input.channels.{key} = {value!r}: expected a channel name, an "
                          f"index or a wavelength like '340nm'; {where} has {listed}")
    if isinstance(value, int):
        if 0 <= value < len(channels):
            return value
        raise StackReadError(f"{where}: input.channels.{key} = {value} but the file has "
                             f"{len(channels)} channels ({listed}); expected an index from 0 "
                             f"to {len(channels) - 1}")
    by_name = [c.index for c in channels if c.name is not None
               and c.name.strip().lower() == value.strip().lower()]
    if len(by_name) == 1:
        return by_name[0]
    m = _WAVELENGTH.match(value)
    if m and not by_name:
        nm = float(m.group(1))
        near = [c.index for c in channels if c.excitation_nm is not None
                and abs(c.excitation_nm - nm) <= FURA2_TOLERANCE_NM]
        if len(near) == 1:
            return near[0]
    raise StackReadError(f"{where}: input.channels.{key} = {value!r} matches "
                         f"{'several' if by_name else 'none'} of the file's channels "
                         f"({listed}); expected one of their names, an index or an excitation "
                         f"wavelength like '488nm'")


def choose_channels(channels: Sequence[ChannelInfo], mapping: Mapping[str, int | str] | None,
                    *, where: str | Path, channel_order: Sequence[str] = ("f340", "f380"),
                    unnamed_pair_is_fura2: bool = False) -> dict[str, int]:
    """Which file channel caimg reads as which of its channels.

    Parameters
    ----------
    channels : sequence of ChannelInfo
        The file's channels, in file order.
    mapping : mapping of str to int or str, optional
        The recipe's ``input.channels``: ``{"f": "GFP"}`` or ``{"f340": 0, "f380": 1}``;
        values are channel names (any case), indices or excitation wavelengths
        (``"340nm"``, within :data:`FURA2_TOLERANCE_NM`).
    where : str or Path
        The file (and position), for messages.
    channel_order : (str, str)
        Names for channels 0 and 1 of an unnamed two-channel file.
    unnamed_pair_is_fura2 : bool
        Read two channels without names or wavelengths as ``channel_order`` (ImageJ
        hyperstacks, which carry neither).

    Returns
    -------
    dict of str to int
        ``{"f": index}`` or ``{"f340": index, "f380": index}``.

    Raises
    ------
    ConfigError
        ``input.channels`` names other caimg channels than ``f`` or ``f340``/``f380``.
    StackReadError
        A name, index or wavelength that matches no channel, or several channels and
        nothing that says which to use; the message lists the channels with their names
        and wavelengths and the setting that chooses.
    """
    if mapping:
        keys = set(mapping)
        if keys not in ({"f"}, {"f340", "f380"}):
            raise ConfigError(f"input.channels has keys {sorted(keys)}; expected f (one "
                              "channel) or f340 and f380 (Fura-2)")
        chosen = {k: _resolve_one(k, mapping[k], channels, where) for k in sorted(keys)}
        if len(set(chosen.values())) != len(chosen):
            raise ConfigError(f"{where}: input.channels maps {sorted(keys)} to the same file "
                              f"channel {chosen}; expected two different channels")
        return chosen
    if len(channels) == 1:
        return {"f": 0}
    fura = {}
    for ch in channels:
        w = _fura2_wavelength(ch)
        if w is not None:
            fura.setdefault(w, []).append(ch.index)
    if len(fura.get(340.0, [])) == 1 and len(fura.get(380.0, [])) == 1:
        return {"f340": fura[340.0][0], "f380": fura[380.0][0]}
    unnamed = all(c.name is None and c.excitation_nm is None for c in channels)
    if unnamed_pair_is_fura2 and unnamed and len(channels) == 2:
        return {channel_order[0]: 0, channel_order[1]: 1}
    # a suggestion: green for RGB cameras (where green carries the signal), else the first
    hint = next((c for c in channels if c.name == "green"), channels[0])
    first = f'"{hint.name}"' if hint.name else str(hint.index)
    raise StackReadError(
        f"{where}: found {len(channels)} channels ({describe_channels(channels)}) and none "
        "says which to use; expected one channel for a single-wavelength indicator, or "
        f"340 and 380 nm excitation for Fura-2. Choose with input.channels, e.g. --set "
        f"'input.channels={{f = {first}}}' (a name, an index or a wavelength like '488nm'), "
        "or {f340 = ..., f380 = ...} for Fura-2")
