"""What both parsers produce: de-duplicated files and file lists, and one row per reporting_plans entry."""

from __future__ import annotations

import json
import operator
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import BadInput

try:
    from isal.isal_zlib import adler32 as _adler32, crc32 as _crc32
except ImportError:  # pragma: no cover
    _adler32, _crc32 = zlib.adler32, zlib.crc32

TOP_SCALARS = ("reporting_entity_name", "reporting_entity_type", "last_updated_on", "version")
RATES_KEYS = {"in_network", "provider_references", "out_of_network"}
LOOKUP_KEYS = {"In-Network Negotiated Rates Files", "Out-of-Network Allowed Amounts Files"}
RAW_BUDGET = 16 << 20  # bytes of distinct raw file lists kept to recognise repeats by comparison
# Caps on what the collector holds (see Collector): far above a real index, small enough for ~100 MB at worst.
MAX_FILES = 100_000  # distinct files (Anthem's index: ~1.5k)
MAX_VARIANTS = 1_000_000  # distinct full URLs (hosts x signatures) over all files
MAX_DESCRIPTIONS = 100  # distinct descriptions kept per file
MAX_SET_MEMBERS = 10_000_000  # file ids over all distinct file lists
MAX_RAW_LISTS = 100_000  # raw file lists remembered for the fast path
MAX_DEPTH = 64  # JSON nesting refused beyond this (a table of contents nests 5 levels deep)
# Tallies kept while streaming so that publishing need not re-read the plan entries; past these the tally is
# dropped (memory stays bounded) and mrf.finish_ingest derives the same figures from the stored entries.
MAX_TALLIED_PLANS = 250_000  # distinct plans counted by their keys (~60 bytes each; Anthem's index: ~7*10^5)
MAX_PRODUCT_GROUPS = 50_000  # distinct (file set, product part of a plan name) pairs (Anthem: ~10^3)
MAX_TALLIED_TEXT = 16 << 20  # characters of products and names those pairs hold (a name may be megabytes long)
PLAN_KEYS = ("plan_name", "plan_id_type", "plan_id", "plan_market_type", "issuer_name", "plan_sponsor_name")
FILE_KEYS = ("location", "description")
STRUCTURE_KEYS = ("reporting_plans", "in_network_files", "allowed_amount_file")
_PLAN_KEY_SET = frozenset(PLAN_KEYS)


@dataclass(slots=True)
class FileInfo:
    file_id: int
    url: str
    descriptions: list[str]
    url_hashes: set[int]
    in_network: bool = False
    allowed_amount: bool = False


@dataclass
class Collector:
    """De-duplicates files and file lists; streams each structure's reporting_plans entries to `plan_sink`, one
    call per structure: (set id, [plan key per entry], [plan_fields per entry]).

    Its state grows with distinct files and distinct file lists, never with the input's size; the caps below
    bound it for any input (a real index is orders of magnitude below them).
    """

    plan_sink: Callable[[tuple[int, list[int], list[tuple]]], None]
    entity: dict = field(default_factory=dict)
    files: dict[str, FileInfo] = field(default_factory=dict)
    sets: dict[tuple[int, ...], int] = field(default_factory=dict)
    set_uses: list[int] = field(default_factory=list)
    # list_key -> [(the bytes, or their CRC-32 and Adler-32 past RAW_BUDGET; set id; entries)]
    raw_lists: dict[tuple[int, bytes], list[tuple[bytes | tuple[int, int], int, int]]] = field(default_factory=dict)
    raw_stored: int = 0  # bytes of file lists kept for comparison
    structures: int = 0
    plan_links: int = 0
    file_links: int = 0
    raw_hits: int = 0
    variants: int = 0  # distinct full URLs
    set_members: int = 0  # file ids over all distinct file lists
    # The keys of the distinct plans, and (set id, product) -> [entries, least plan name in byte order]: what
    # the plan-type evidence needs (see mrf.plan_types_of_name). None once past their caps.
    plan_keys: set[int] | None = field(default_factory=set)
    products: dict[tuple[int, str], list] | None = field(default_factory=dict)
    tallied_text: int = 0  # characters held by products

    # -- files ----------------------------------------------------------------------------------------------

    def file_id(self, entry: object, in_network: bool) -> int:
        """Register one in_network_files / allowed_amount_file entry; its file's id."""
        if type(entry) is not dict or type(url := entry.get("location")) is not str:
            raise BadInput(
                f"reporting_structure[{self.structures}]: a file entry has no location string: {_short(entry)}"
            )
        description = entry.get("description")
        if len(entry) > 2 or (description is not None and type(description) is not str):
            check_depth(entry, 4 if in_network else 3)  # what is not read must not nest deeper than elsewhere
        key = file_key(url)
        info = self.files.get(key)
        if info is None:
            if len(self.files) >= MAX_FILES:
                raise BadInput(f"more than {MAX_FILES:,} distinct files: not a table of contents this tool reads "
                               f"(reporting_structure[{self.structures}])")
            info = self.files[key] = FileInfo(len(self.files) + 1, url, [], set())
        if type(description) is str and description not in info.descriptions:
            if len(info.descriptions) < MAX_DESCRIPTIONS:
                info.descriptions.append(description)
        h = hash(url)
        if h not in info.url_hashes:
            if self.variants >= MAX_VARIANTS:
                raise BadInput(f"more than {MAX_VARIANTS:,} distinct file URLs: not a table of contents this tool "
                               f"reads (reporting_structure[{self.structures}])")
            info.url_hashes.add(h)
            self.variants += 1
        if in_network:
            info.in_network = True
        else:
            info.allowed_amount = True
        return info.file_id

    def set_id(self, ids: set[int]) -> int:
        """The id of the distinct file list with these members."""
        members = tuple(sorted(ids))
        set_id = self.sets.get(members)
        if set_id is None:
            if self.set_members + len(members) > MAX_SET_MEMBERS:
                raise BadInput(f"more than {MAX_SET_MEMBERS:,} file ids over all distinct file lists: not a table "
                               f"of contents this tool reads (reporting_structure[{self.structures}])")
            self.set_members += len(members)
            set_id = self.sets[members] = len(self.sets) + 1
            self.set_uses.append(0)
        return set_id

    def file_set(self, in_network: object, allowed: object) -> int:
        ids: set[int] = set()
        if in_network is not None:
            if type(in_network) is not list:
                raise BadInput(f"reporting_structure[{self.structures}]: in_network_files is not an array")
            for entry in in_network:
                ids.add(self.file_id(entry, True))
            self.file_links += len(in_network)
        if allowed is not None:
            ids.add(self.file_id(allowed, False))
            self.file_links += 1
        return self.set_id(ids)

    # -- plans ------------------------------------------------------------------------------------------------

    def plan_fields(self, plan: object) -> tuple:
        """(plan_name, plan_id_type, plan_id, plan_market_type, issuer_name, plan_sponsor_name), normalised."""
        try:  # v2 plans carry all six keys: one C call fetches them
            name, id_type, plan_id, market, issuer, sponsor = _SIX(plan)
            others = len(plan) > 6
        except (KeyError, TypeError):
            if type(plan) is not dict:
                name = None
            else:
                get = plan.get
                name, id_type, plan_id, market = (get("plan_name"), get("plan_id_type"), get("plan_id"),
                                                  get("plan_market_type"))
                issuer, sponsor = get("issuer_name"), get("plan_sponsor_name")
                others = not _PLAN_KEY_SET.issuperset(plan)
        if type(name) is not str:
            raise BadInput(
                f"reporting_structure[{self.structures}]: a reporting_plans entry has no plan_name: {_short(plan)}"
            )
        if others:
            check_depth(plan, 4)  # what is not read must not nest deeper than elsewhere
        if type(id_type) is str and type(plan_id) is str and type(market) is str and type(issuer) is str \
                and type(sponsor) is str:
            return name, id_type.lower(), plan_id, market.lower(), issuer, sponsor
        return (name, _scalar(id_type, plan, True), _scalar(plan_id, plan), _scalar(market, plan, True),
                _scalar(issuer, plan), _scalar(sponsor, plan))

    def emit(self, plans: list[tuple], set_id: int) -> None:
        """The plans (from plan_fields) of the current structure, listed with file list `set_id`."""
        # A plan's identity in this run: a 64-bit hash of its fields (SQL groups on it, not on six texts).
        keys = list(map(hash, plans))
        self.plan_sink((set_id, keys, plans))
        self._tally(set_id, keys, plans)
        self.plan_links += len(plans)
        self.set_uses[set_id - 1] += 1
        self.structures += 1

    def emit_plans(self, plans: object, set_id: int) -> None:
        """emit() for decoded reporting_plans entries."""
        if type(plans) is not list:
            raise BadInput(
                f"not a table of contents: reporting_structure[{self.structures}] has no reporting_plans array"
            )
        self.emit([self.plan_fields(plan) for plan in plans], set_id)

    def _tally(self, set_id: int, keys: list[int], plans: list[tuple]) -> None:
        """Count a structure's plans into plan_keys and products, dropping either past its cap."""
        if self.plan_keys is not None:
            self.plan_keys.update(keys)
            if len(self.plan_keys) > MAX_TALLIED_PLANS:
                self.plan_keys = None
        groups = self.products
        if groups is None:
            return
        text = self.tallied_text
        for fields in plans:
            name = fields[0]
            # split_part(name, ' - ', 1): only the product part of a name carries its type.
            product = name.partition(" - ")[0]
            group = groups.get(at := (set_id, product))
            if group is None:
                groups[at] = [1, name]
                text += len(product) + len(name)
            else:
                group[0] += 1
                if name < group[1]:  # code-point order = UTF-8 byte order = COLLATE "C"
                    text += len(name) - len(group[1])
                    group[1] = name
        self.tallied_text = text
        if len(groups) > MAX_PRODUCT_GROUPS or text > MAX_TALLIED_TEXT:
            self.products = None

    def distinct_plans(self) -> int | None:
        """How many distinct plans were emitted, or None when there were too many to count here."""
        return len(self.plan_keys) if self.plan_keys is not None else None

    def product_groups(self) -> tuple[list[int], list[str], list[int], list[str]] | None:
        """The (set id, product) tallies as four parallel lists, or None when there were too many."""
        if self.products is None:
            return None
        groups = self.products.items()
        return ([s for (s, _), _ in groups], [p for (_, p), _ in groups], [g[0] for _, g in groups],
                [g[1] for _, g in groups])

    # -- structures -------------------------------------------------------------------------------------------

    def structure(self, obj: object) -> None:
        """A decoded reporting_structure element (a one-line structure that is not in the fast form)."""
        if type(obj) is not dict or "reporting_plans" not in obj:
            raise BadInput(
                f"not a table of contents: reporting_structure[{self.structures}] is not a reporting structure: "
                f"{_short(obj)}"
            )
        _check_others(obj, STRUCTURE_KEYS, 3)
        set_id = self.file_set(obj.get("in_network_files"), obj.get("allowed_amount_file"))
        self.emit_plans(obj["reporting_plans"], set_id)

    def known_list(self, buf: bytes, start: int, end: int) -> tuple[tuple[int, bytes], int | None]:
        """Fast path: is buf[start:end], a raw in_network_files array, one seen before?

        Returns (key, set id or None). A list seen before is recognised without decoding it: looked up by its
        length and a few of its bytes (list_key), then confirmed by comparing every byte with the stored copy
        (memcmp), so a match is exact. Once the stored copies reach RAW_BUDGET bytes, new lists are kept as a
        CRC-32 and an Adler-32 instead (with the length and the sampled bytes: two different lists collide with
        probability ~2^-64). A hit counts the list's entries as links.
        """
        key = list_key(buf, start, end)
        candidates = self.raw_lists.get(key)
        if candidates is not None:
            sums = None
            for raw, set_id, count in candidates:
                if type(raw) is bytes:
                    if not buf.startswith(raw, start):
                        continue
                else:
                    if sums is None:
                        sums = _checksums(buf, start, end)
                    if raw != sums:
                        continue
                # Same bytes, same entries: the set and the link count are known without decoding anything.
                self.file_links += count
                self.raw_hits += 1
                return key, set_id
        return key, None

    def remember(self, key: tuple[int, bytes], buf: bytes, start: int, end: int, set_id: int, entries: int) -> None:
        """Keep a decoded raw file list, to recognise its repeats (up to MAX_RAW_LISTS of them)."""
        if len(self.raw_lists) >= MAX_RAW_LISTS:
            return  # past the cap, new lists are decoded each time they appear: slower, never wrong
        if self.raw_stored + (end - start) <= RAW_BUDGET:
            raw: bytes | tuple[int, int] = buf[start:end]
            self.raw_stored += end - start
        else:
            raw = _checksums(buf, start, end)
        self.raw_lists.setdefault(key, []).append((raw, set_id, entries))

    def top(self, key: str, value: object) -> None:
        if key in RATES_KEYS:
            raise BadInput(f"not a table of contents: top-level key {key!r} belongs to a rates file (in-network or allowed amounts)")
        if key in LOOKUP_KEYS:
            raise BadInput("not a table of contents: this is an EIN-lookup document; load it with `carepg mrf lookup`")
        if key in TOP_SCALARS and isinstance(value, str | int | float):
            if key == "reporting_entity_name" and self.entity.get(key, str(value)) != str(value):
                # JSON leaves a repeated key's meaning open; whose index this is must not be a guess.
                raise BadInput(f"the table of contents names two payers: reporting_entity_name is "
                               f"{_short(self.entity[key])} and then {_short(value)}")
            self.entity[key] = str(value)


SAMPLE = 32  # bytes of a raw file list sampled for its key (a shorter list is its own key)


def list_key(buf: bytes, start: int, end: int) -> tuple[int, bytes]:
    """Where a raw file list is looked up: its length and SAMPLE bytes from its middle, a few of the bytes that
    tell apart lists of one length (their hosts and signatures), read without a pass over the whole list."""
    n = end - start
    if n <= SAMPLE:
        return n, buf[start:end]
    middle = start + (n - SAMPLE) // 2
    return n, buf[middle : middle + SAMPLE]


def _checksums(buf: bytes, start: int, end: int) -> tuple[int, int]:
    """CRC-32 and Adler-32 of buf[start:end], computed in place by ISA-L."""
    view = memoryview(buf)[start:end]
    return _crc32(view), _adler32(view)


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



def check_depth(value: object, depth: int) -> None:
    """Refuse a decoded value that nests deeper than MAX_DEPTH, counting `depth` containers around it.

    The event decoder refuses such nesting as it reads; json.loads (the line path) accepts ~1000 levels, so
    values it decoded but the collector does not read are checked here: the same documents pass either way.
    """
    stack = [(value, depth)]
    while stack:
        v, d = stack.pop()
        if type(v) is dict:
            v = v.values()
        elif type(v) is not list:
            continue
        if d >= MAX_DEPTH:
            raise BadInput(f"not a table of contents: JSON nested deeper than {MAX_DEPTH} levels")
        stack.extend((x, d + 1) for x in v if type(x) is dict or type(x) is list)


def _check_others(obj: dict, known: tuple[str, ...], depth: int) -> None:
    """check_depth for the values of obj (at `depth`) under keys the collector ignores."""
    for key, value in obj.items():
        if (type(value) is dict or type(value) is list) and key not in known:
            check_depth(value, depth)


def _scalar(value: object, plan: object, lower: bool = False) -> str | None:
    """A plan field as text: strings as they are (enums lower-cased), numbers and booleans as JSON writes them."""
    if value is None:
        return None
    if type(value) is str:
        return value.lower() if lower else value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        return str(value)
    raise BadInput(f"a reporting_plans entry has a field that is neither text nor a number: {_short(plan)}")


def _short(value: object, limit: int = 80) -> str:
    """A value for an error message: at most `limit` characters, whatever its size or depth."""
    out: list[str] = []
    budget = [limit + 1]

    def put(text: str) -> bool:
        out.append(text[: budget[0]])
        budget[0] -= len(text)
        return budget[0] > 0

    def walk(v: object, depth: int) -> bool:
        if type(v) is dict:
            if depth >= 4 or not put("{"):
                return put("...}") and False
            for i, (k, x) in enumerate(v.items()):
                if (i and not put(",")) or not put(json.dumps(str(k)) + ":") or not walk(x, depth + 1):
                    return False
            return put("}")
        if type(v) is list:
            if depth >= 4 or not put("["):
                return put("...]") and False
            for i, x in enumerate(v):
                if (i and not put(",")) or not walk(x, depth + 1):
                    return False
            return put("]")
        if type(v) is str:
            return put(json.dumps(v[:limit]))
        if isinstance(v, bytes | bytearray | memoryview):
            return put(repr(bytes(v[:limit])))
        return put(json.dumps(v) if type(v) in (int, float, bool) or v is None else type(v).__name__)

    walk(value, 0)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."
