"""What both parsers produce: de-duplicated files and file lists, and one staged row per reporting_plans entry."""

from __future__ import annotations

import json
import operator
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import BadInput

try:
    from isal.isal_zlib import adler32 as _adler32, crc32 as _crc32
except ImportError:  # pragma: no cover
    _adler32, _crc32 = zlib.adler32, zlib.crc32

TOP_SCALARS = ("reporting_entity_name", "reporting_entity_type", "last_updated_on", "version")
RATES_KEYS = {"in_network", "provider_references", "out_of_network"}
LOOKUP_KEYS = {"In-Network Negotiated Rates Files", "Out-of-Network Allowed Amounts Files"}
RAW_BUDGET = 16 << 20  # bytes of distinct raw file lists kept to recognise repeats by comparison


@dataclass
class FileInfo:
    file_id: int
    url: str
    descriptions: list[str]
    url_hashes: set[int]
    in_network: bool = False
    allowed_amount: bool = False


@dataclass
class Collector:
    """De-duplicates files and file lists; streams one row per reporting_plans entry to `plan_sink`."""

    plan_sink: Callable[[tuple], None]
    entity: dict = field(default_factory=dict)
    files: dict[str, FileInfo] = field(default_factory=dict)
    sets: dict[tuple[int, ...], int] = field(default_factory=dict)
    set_uses: list[int] = field(default_factory=list)
    # (length, CRC-32) -> [(the bytes, or their Adler-32 past RAW_BUDGET; set id; entries)]
    raw_lists: dict[tuple[int, int], list[tuple[bytes | int, int, int]]] = field(default_factory=dict)
    raw_stored: int = 0  # bytes of file lists kept for comparison
    structures: int = 0
    plan_links: int = 0
    file_links: int = 0
    raw_hits: int = 0

    # -- files ----------------------------------------------------------------------------------------------

    def _file(self, entry: object, in_network: bool) -> int:
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
            raise BadInput(
                f"reporting_structure[{self.structures}]: a file entry has no location string: {_short(entry)}"
            )
        url = entry["location"]
        key = file_key(url)
        info = self.files.get(key)
        if info is None:
            info = self.files[key] = FileInfo(len(self.files) + 1, url, [], set())
        description = entry.get("description")
        if isinstance(description, str) and description not in info.descriptions:
            info.descriptions.append(description)
        info.url_hashes.add(hash(url))
        if in_network:
            info.in_network = True
        else:
            info.allowed_amount = True
        return info.file_id

    def _set(self, in_network: object, allowed: object) -> int:
        ids: set[int] = set()
        if in_network is not None:
            if not isinstance(in_network, list):
                raise BadInput(f"reporting_structure[{self.structures}]: in_network_files is not an array")
            for entry in in_network:
                ids.add(self._file(entry, True))
            self.file_links += len(in_network)
        if allowed is not None:
            ids.add(self._file(allowed, False))
            self.file_links += 1
        members = tuple(sorted(ids))
        set_id = self.sets.get(members)
        if set_id is None:
            set_id = self.sets[members] = len(self.sets) + 1
            self.set_uses.append(0)
        return set_id

    # -- structures -------------------------------------------------------------------------------------------

    def _plans(self, plans: object, set_id: int) -> None:
        if not isinstance(plans, list):
            raise BadInput(
                f"not a table of contents: reporting_structure[{self.structures}] has no reporting_plans array"
            )
        order = self.structures
        sink = self.plan_sink
        for plan in plans:
            try:  # v2 plans carry all six keys: one C call fetches them
                name, id_type, plan_id, market, issuer, sponsor = _SIX(plan)
            except (KeyError, TypeError):
                if type(plan) is not dict:
                    name = None
                else:
                    get = plan.get
                    name, id_type, plan_id, market = (get("plan_name"), get("plan_id_type"), get("plan_id"),
                                                      get("plan_market_type"))
                    issuer, sponsor = get("issuer_name"), get("plan_sponsor_name")
            if type(name) is not str:
                raise BadInput(f"reporting_structure[{order}]: a reporting_plans entry has no plan_name: {_short(plan)}")
            fields = (
                name,
                id_type.lower() if type(id_type) is str else _lower(id_type),
                plan_id if type(plan_id) is str else _text(plan_id),
                market.lower() if type(market) is str else _lower(market),
                issuer if type(issuer) is str else _text(issuer),
                sponsor if type(sponsor) is str else _text(sponsor),
            )
            # The plan's identity in this run: a 64-bit hash of its fields (SQL groups on it, not on six texts).
            sink((order, set_id, hash(fields), *fields))
        self.plan_links += len(plans)
        self.set_uses[set_id - 1] += 1
        self.structures += 1

    def structure(self, obj: object) -> None:
        """A decoded reporting_structure element (general path)."""
        if not isinstance(obj, dict) or "reporting_plans" not in obj:
            raise BadInput(
                f"not a table of contents: reporting_structure[{self.structures}] is not a reporting structure: "
                f"{_short(obj)}"
            )
        set_id = self._set(obj.get("in_network_files"), obj.get("allowed_amount_file"))
        self._plans(obj["reporting_plans"], set_id)

    def structure_raw(self, plans: object, buf: bytes, start: int, end: int) -> None:
        """Fast path: the plans decoded, the in_network_files array still raw, as buf[start:end].

        A list seen before is recognised without decoding it: looked up by its length and CRC-32 (computed in
        place by ISA-L), then confirmed by comparing the bytes with the stored copy (memcmp), so a match is
        exact. Once the stored copies reach RAW_BUDGET bytes, new lists are kept as an Adler-32 instead (64
        check bits with the CRC: two different lists of equal length collide with probability ~2^-64).
        """
        view = memoryview(buf)[start:end]
        key = (end - start, _crc32(view))
        candidates = self.raw_lists.get(key)
        adler = None
        if candidates is not None:
            for raw, set_id, count in candidates:
                if type(raw) is bytes:
                    if not buf.startswith(raw, start):
                        continue
                else:
                    if adler is None:
                        adler = _adler32(view)
                    if raw != adler:
                        continue
                # Same bytes, same entries: the set and the link count are known without decoding anything.
                self.file_links += count
                self.raw_hits += 1
                self._plans(plans, set_id)
                return
        entries = json.loads(buf[start:end])
        set_id = self._set(entries, None)
        if self.raw_stored + (end - start) <= RAW_BUDGET:
            raw: bytes | int = buf[start:end]
            self.raw_stored += end - start
        else:
            raw = adler if adler is not None else _adler32(view)
        self.raw_lists.setdefault(key, []).append((raw, set_id, len(entries)))
        self._plans(plans, set_id)

    def top(self, key: str, value: object) -> None:
        if key in RATES_KEYS:
            raise BadInput(f"not a table of contents: top-level key {key!r} belongs to a rates file (in-network or allowed amounts)")
        if key in LOOKUP_KEYS:
            raise BadInput("not a table of contents: this is an EIN-lookup document; load it with `carepg mrf lookup`")
        if key in TOP_SCALARS and isinstance(value, str | int | float):
            self.entity[key] = str(value)


def file_key(url: str) -> str:
    """The same file whatever host or signature serves it: the URL path without scheme, host and query."""
    url = url.strip()
    scheme = url.find("://")
    if scheme > 0:
        slash = url.find("/", scheme + 3)
        path = url[slash:] if slash > 0 else ""
    else:
        path = url
    path = path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
    return path or url


_SIX = operator.itemgetter("plan_name", "plan_id_type", "plan_id", "plan_market_type", "issuer_name",
                           "plan_sponsor_name")



def _lower(value: object) -> str | None:
    return None if value is None else str(value).lower()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _short(value: object) -> str:
    text = json.dumps(value)[:80] if not isinstance(value, bytes) else repr(value[:80])
    return text

