"""`carepg mrf generate`: a synthetic, Anthem-shaped table of contents with its ground truth.

The shape follows the real index (see README): one structure per line, plans named
`<product> - <employer> - ANTHEM`, file lists repeated across many structures, three URL families (Anthem's own
S3 files `anthem/NY_...`, BCBS hub files `YYYY-MM_<plan code>_...` signed and served from 14 brand hosts, and
national files), other Blue plans' networks described `<plan> : <network>` (Highmark, Excellus, Tennessee),
files shared by PPO and EPO plans, employers whose names contain PPO/EPO/HMO, and EIN-lookup documents whose
display names carry the plan type (`NY_PPO_...`).

The ground truth is written from the generator's own labels (each file's state and issuer, each network's
product type and lookup type), not by re-running carepg's rules; `Truth.expected()` answers any question.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path

MONTH = "2024-05"
S3 = "https://antm-pt-prod-dataz-nogbd-nophi-us-east1.s3.amazonaws.com/anthem/"
BRANDS = ["anthembcca"] + [f"anthembcbs{s}" for s in ("co", "ct", "ga", "in", "ky", "me", "mo", "nh", "nv", "oh", "va", "wi")] + [
    "empirebcbs"
]
OWN = "In-Network Negotiated Rates Files"
SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
              "T": 10**12, "TB": 10**12}
MAX_SIZE = 10**12


def parse_size(text: str) -> int:
    """'200K', '50M', '5G' -> bytes (decimal units)."""
    from ..errors import InvalidInput

    value = text.strip().upper()
    number = value.rstrip("KMGTB")
    try:
        size = int(float(number) * SIZE_UNITS[value[len(number):]])
    except (ValueError, KeyError, OverflowError):
        size = 0
    if not 0 < size <= MAX_SIZE:
        raise InvalidInput(f"invalid size {text[:40]!r}: use e.g. 200K, 50M, 5G (at most 1T)")
    return size


@dataclasses.dataclass(frozen=True)
class GFile:
    key: str  # canonical key (URL path without the leading slash)
    family: str  # s3 | hub | national
    description: str
    state: str | None
    own: bool


def _s3(base: str, state: str) -> GFile:
    return GFile(f"anthem/{base}.json.gz", "s3", OWN, state, True)


def _hub(code: str, net: str, state: str, parts: int, description: str = OWN) -> list[GFile]:
    suffix = [""] if parts == 1 else [f"_{i}_of_{parts}" for i in range(1, parts + 1)]
    own = description == OWN
    return [GFile(f"{MONTH}_{code}_{net}_in-network-rates{s}.json.gz", "hub", description, state, own) for s in suffix]


VISION = GFile(f"anthem/{MONTH}-01_anthem-vision_in-network-rates.json.gz", "s3", OWN, None, True)
HIGHMARK_WNY = _hub("301", "71A0", "NY", 2, "Highmark BCBS Western NY : HighMark BlueCross BlueShield of Western New York-PPO")
HIGHMARK_NENY = _hub("800", "72A0", "NY", 3, "Highmark BS Northeastern NY : Highmark Blue Shield of Northeastern New York - PPO")
EXCELLUS = _hub("302", "42B0", "NY", 1, "Excellus BCBS : BluePPO")
TENNESSEE = _hub("890", "58B0", "TN", 2, "BCBS Tennessee, Inc. : Network P")
ALLOWED = GFile(f"anthem/{MONTH}_anthem_allowed-amounts.json.gz", "s3", "Out-of-Network Allowed Amounts", None, True)


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    product: str  # first part of the plan names
    name_type: str | None  # the plan type the product names (what plan names tell)
    lookup_type: str | None  # the type EIN-lookup display names give its S3 files
    files: tuple[GFile, ...]
    weight: int


def networks(bulk: int) -> list[Network]:
    """The synthetic payer's networks; `bulk` other Blue plans' files pad every list (as BlueCard lists do)."""
    filler = tuple(
        f for code, net, st in (("720", "27B0", "MN"), ("362", "52G0", "PA"), ("320", "33D0", "ND"), ("070", "09D0", "DE"))
        for f in _hub(code, net, st, max(bulk // 4, 1), f"BCBS {st} : Blue Card {net}")
    ) if bulk else ()
    traps = tuple(HIGHMARK_WNY + HIGHMARK_NENY + EXCELLUS + TENNESSEE)
    return [
        Network("ny-ppo", "ANTHEM PPO", "PPO", "PPO",
                (_s3("NY_PPPNMED0001", "NY"), _s3("NY_HXPXMED0009", "NY"), _s3("NY_HXNWMED0000", "NY"),
                 *_hub("254", "39B0", "NY", 6), *traps, VISION, *filler), 6),
        Network("ny-ppo-access", "EMPIRE BLUE ACCESS", None, "PPO",
                (*(_s3(f"NY_GGHAMEDAP33_{i:02d}_09", "NY") for i in range(1, 10)), *_hub("254", "39F0", "NY", 2),
                 VISION, *filler), 4),
        Network("ny-epo", "BLUE PRIORITY EPO", "EPO", "EPO",
                (_s3("NY_HPN1MEDNY00", "NY"), _s3("NY_HXNWMED0000", "NY"), _s3("NY_GZHYMEDAP36", "NY"),
                 *_hub("254", "39X0", "NY", 1), *traps, *filler), 4),
        Network("ny-epo-lho", "LIVE HEALTH ONLINE", None, "EPO", (_s3("NY_HYLZMED0000", "NY"), *filler), 2),
        Network("ny-pos", "ANTHEM POS", "POS", "POS", (_s3("NY_HXGYMED0001", "NY"), *traps, *filler), 2),
        Network("ny-hmo", "EMPIRE HMO", "HMO", "HMO", (_s3("NY_HMOXMED0001", "NY"), *filler), 1),
        Network("ny-ffs", "TRADITIONAL INDEMNITY", None, "FFS", (_s3("NY_FGFSMED0023", "NY"), *filler), 1),
        Network("ca-ppo", "ANTHEM PPO", "PPO", "PPO",
                (_s3("CA_BCCSMED0220", "CA"), *_hub("040", "05C0", "CA", 2), VISION, *filler), 3),
        Network("va-ppo", "ANTHEM PPO", "PPO", "PPO",
                (_s3("VA_HKBVMED0001", "VA"), *_hub("425", "61B0", "VA", 3), *TENNESSEE, *filler), 2),
        Network("ct-epo", "ANTHEM EPO", "EPO", "EPO", (_s3("CT_HPN2MED0001", "CT"), *filler), 1),
    ]


WORDS = ["ACME", "HUDSON", "EMPIRE STATE", "LAKESIDE", "NORTHWIND", "BLUE RIVER", "KESTREL", "MAPLE", "ORCHARD",
         "SUMMIT", "HARBOR", "GRANITE", "CAFÉ ÉLAN", "ZÜRICH TRADING", "TIDEWAY MARKET", "WICKSTROM", "PIONEER"]
KINDS = ["INC", "LLC", "CORP", "CO", "GROUP", "PARTNERS LP", "SCHOOL DISTRICT", "HOLDINGS"]
TRAP_EMPLOYERS = ["PPO PARTNERS LLC", "HMO CONSULTING INC", "EPO HOLDINGS LLC", "POS SYSTEMS INC"]


@dataclasses.dataclass(frozen=True)
class Style:
    """How the JSON is laid out; every style is valid JSON with the same content."""

    name: str = "canonical"
    one_per_line: bool = True  # header line, one structure per line, trailer line
    indent: int | None = None  # pretty-printed
    item_sep: str = ","
    key_sep: str = ":"
    shuffle_keys: bool = False
    entity_last: bool = False  # top-level scalars after reporting_structure
    crlf: bool = False
    escape_slashes: bool = False
    unicode_escapes: bool = False
    upper_enums: bool = False
    v2: bool = True
    allowed_amount: bool = False


STYLES = {
    "canonical": Style(),
    "pretty": Style("pretty", one_per_line=False, indent=2, item_sep=",", key_sep=": "),
    "minified": Style("minified", one_per_line=False),
    "spaced": Style("spaced", item_sep=", ", key_sep=": "),
    "shuffled": Style("shuffled", shuffle_keys=True, entity_last=True, allowed_amount=True),
    "crlf": Style("crlf", crlf=True),
    "escaped": Style("escaped", escape_slashes=True, unicode_escapes=True),
    "upper-v1": Style("upper-v1", upper_enums=True, v2=False),
    "allowed": Style("allowed", allowed_amount=True),
}


@dataclasses.dataclass
class Truth:
    files: dict[str, dict]  # key -> {url, state, own, issuer, name_types, lookup_types, in_network}
    structures: int
    plan_links: int
    lookup_documents: list[str]

    def expected(self, state: str, plan_type: str, *, with_lookup: bool = True, own: bool = True) -> list[str]:
        return sorted(
            f["url"] for f in self.files.values()
            if f["in_network"] and f["state"] == state and (f["own"] or not own)
            and (plan_type in f["name_types"] or (with_lookup and plan_type in f["lookup_types"]))
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, path: str | Path) -> Truth:
        return cls(**json.loads(Path(path).read_text()))


class Generator:
    def __init__(self, *, seed: int = 6, bulk: int = 40, variants: int = 3, style: Style = STYLES["canonical"]):
        self.rng = random.Random(seed)
        # Layout choices never shift the content's random stream (nor each other's).
        self.allowed_rng = random.Random(seed + 1)
        self.shuffle_rng = random.Random(seed + 2)
        self.style = style
        self.nets = networks(bulk)
        self.variants = variants
        self.first_url: dict[str, str] = {}
        self._cache: dict[tuple[int, int], tuple[str, list[tuple[GFile, str]]]] = {}
        self._signatures = {}
        self.structures = 0
        self.plan_links = 0
        self.used: set[tuple[int, int]] = set()  # (network, variant) pairs written

    # -- URLs -------------------------------------------------------------------------------------------------

    def _url(self, f: GFile, variant: int) -> str:
        if f.family != "hub":
            return S3 + f.key.removeprefix("anthem/")
        host = BRANDS[(sum(map(ord, f.key)) + variant) % len(BRANDS)]
        sig = self._signatures.get((f.key, variant))
        if sig is None:
            r = random.Random(f"{f.key}/{variant}")
            sig = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~") for _ in range(172))
            self._signatures[(f.key, variant)] = sig
        return f"https://{host}.mrf.bcbs.com/{f.key}?&Expires=1719955200&Signature={sig}&Key-Pair-Id=K27TQMT39R1C8A"

    def _file_list(self, n: int, variant: int) -> tuple[str, list[tuple[GFile, str]]]:
        cached = self._cache.get((n, variant))
        if cached is None:
            files = list(self.nets[n].files)
            if variant and len(files) > variant:
                del files[variant - 1]  # variants also differ in membership, not only in hosts and signatures
            entries = [(f, self._url(f, variant)) for f in files]
            text = self._dumps([{"description": f.description, "location": u} for f, u in entries])
            cached = self._cache[(n, variant)] = (text, entries)
        return cached

    # -- serialising ------------------------------------------------------------------------------------------

    def _dumps(self, value: object) -> str:
        s = self.style
        return json.dumps(value, indent=s.indent, separators=(s.item_sep, s.key_sep), ensure_ascii=s.unicode_escapes)

    def _object(self, pairs: list[tuple[str, str]]) -> str:
        s = self.style
        if s.indent:
            pad = "\n" + " " * s.indent
            return "{" + pad + ("," + pad).join(f'"{k}": {v}' for k, v in pairs) + "\n}"
        return "{" + s.item_sep.join(f'"{k}"{s.key_sep}{v}' for k, v in pairs) + "}"

    def _employer(self) -> str:
        r = self.rng.random()
        if r < 0.08:
            return self.rng.choice(TRAP_EMPLOYERS)
        return f"{self.rng.choice(WORDS)} {self.rng.choice(KINDS)} {self.rng.randrange(1, 999)}"

    def structure(self) -> str:
        s = self.style
        n = self.rng.choices(range(len(self.nets)), weights=[x.weight for x in self.nets])[0]
        net = self.nets[n]
        variant = self.rng.randrange(self.variants)
        files_text, entries = self._file_list(n, variant)
        employer = self._employer()
        ein = f"{self.rng.randrange(10**8, 10**9)}"
        products = [net.product] + (["LIVE HEALTH ONLINE"] if self.rng.random() < 0.3 else [])
        plans = []
        for product in products:
            plan = {
                "plan_name": f"{product} - {employer} - ANTHEM",
                "plan_id_type": "EIN" if s.upper_enums else "ein",
                "plan_id": ein,
                "plan_market_type": "GROUP" if s.upper_enums else "group",
            }
            if s.v2:
                plan["issuer_name"] = "Anthem"
                plan["plan_sponsor_name"] = employer
            plans.append(plan)
        pairs = [("reporting_plans", self._dumps(plans)), ("in_network_files", files_text)]
        allowed = s.allowed_amount and self.allowed_rng.random() < 0.5
        if allowed:
            pairs.append(("allowed_amount_file", self._dumps({"description": ALLOWED.description,
                                                               "location": S3 + ALLOWED.key.removeprefix("anthem/")})))
        if s.shuffle_keys:
            self.shuffle_rng.shuffle(pairs)
        for f, url in entries:
            self.first_url.setdefault(f.key, url)
        if allowed:
            self.first_url.setdefault(ALLOWED.key, S3 + ALLOWED.key.removeprefix("anthem/"))
        self.used.add((n, variant))
        self.structures += 1
        self.plan_links += len(plans)
        return self._post(self._object(pairs))

    def _post(self, text: str) -> str:
        if self.style.escape_slashes:
            text = text.replace("/", "\\/")
        if self.style.unicode_escapes:
            text = text.replace("ANTHEM", "\\u0041NTHEM")
        return text

    def document(self, raw_bytes: int) -> Iterator[str]:
        """The document as text pieces, until about `raw_bytes` of JSON have been produced."""
        s = self.style
        entity = [("reporting_entity_name", json.dumps("Anthem Inc")),
                  ("reporting_entity_type", json.dumps("health insurance issuer"))]
        if s.v2:
            entity += [("last_updated_on", json.dumps(f"{MONTH}-01")), ("version", json.dumps("2.0.0"))]
        nl = "\r\n" if s.crlf else "\n"
        if s.one_per_line:
            sep, open_, close = "," + nl, nl, nl
        elif s.indent:
            sep, open_, close = ",\n", "\n", "\n"
        else:
            sep, open_, close = s.item_sep, "", ""
        head_pairs = [] if s.entity_last else entity
        head = self._object(head_pairs + [("reporting_structure", "[")])
        head = head[: head.rindex("[") + 1]  # cut the object open right after the array opens
        yield head + open_
        produced = len(head)
        first = True
        while first or produced < raw_bytes:
            text = ("" if first else sep) + self.structure()
            first = False
            produced += len(text)
            yield text
        tail_pairs = entity if s.entity_last else []
        tail = close + "]" + "".join(f"{s.item_sep}\"{k}\"{s.key_sep}{v}" for k, v in tail_pairs) + "}" + nl
        yield tail

    def _written(self) -> Iterator[tuple[int, list[GFile]]]:
        """Each network and the files written with it (only what the document holds counts)."""
        for n in range(len(self.nets)):
            seen: dict[str, GFile] = {}
            for v in range(self.variants):
                if (n, v) in self.used:
                    for f, _ in self._cache[(n, v)][1]:
                        seen.setdefault(f.key, f)
            if seen:
                yield n, list(seen.values())

    def lookup_documents(self) -> dict[str, dict]:
        """One EIN-lookup document per network (an employer of it), as Anthem serves them."""
        docs = {}
        for i, written in self._written():
            net = self.nets[i]
            own, bluecard = [], []
            for f in written:
                base = f.key.rsplit("/", 1)[-1]
                if f.family == "s3":
                    display = (f"{base[:3]}{net.lookup_type}_{base[3:]}"
                               if net.lookup_type and f.state and base.startswith(f"{f.state}_") else base)
                else:
                    code = base.split("_")[1]
                    display = base.replace(f"_{code}_", f"_{f.state}_", 1) if f.state else base
                item = {"url": self._url(f, 0), "displayname": display}
                (own if f.own else bluecard).append(item)
            docs[f"{100000000 + i:09d}"] = {
                "lastupdated": f"{MONTH}-01",
                OWN: own,
                "Out-of-Network Allowed Amounts Files": [],
                "Blue Cross Blue Shield Association Out-of-Area Rates Files": bluecard,
            }
        return docs

    def truth(self, lookup_paths: list[str]) -> Truth:
        files: dict[str, dict] = {}
        for n, written in self._written():
            net = self.nets[n]
            for f in written:
                info = files.setdefault(
                    f.key,
                    {"url": self.first_url[f.key], "state": f.state, "own": f.own, "in_network": True,
                     "issuer": "Anthem Inc" if f.own else f.description.split(" : ")[0],
                     "name_types": [], "lookup_types": []},
                )
                if net.name_type and net.name_type not in info["name_types"]:
                    info["name_types"].append(net.name_type)
                if net.lookup_type and f.family == "s3" and f.state and net.lookup_type not in info["lookup_types"]:
                    info["lookup_types"].append(net.lookup_type)
        if ALLOWED.key in self.first_url:
            files[ALLOWED.key] = {"url": self.first_url[ALLOWED.key], "state": None, "own": True, "in_network": False,
                                  "issuer": "Anthem Inc", "name_types": [], "lookup_types": []}
        return Truth(files, self.structures, self.plan_links, lookup_paths)


def generate(out: str | Path, *, raw_bytes: int, style: str = "canonical", seed: int = 6, bulk: int = 40,
             variants: int = 3, compresslevel: int = 1) -> Truth:
    """Write OUT (.json or .json.gz), OUT's EIN-lookup documents beside it and OUT.truth.json; return the truth."""
    from isal import igzip

    out = Path(out)
    gen = Generator(seed=seed, bulk=bulk, variants=variants, style=STYLES[style])
    opener = (lambda: igzip.open(out, "wb", compresslevel=compresslevel)) if out.name.endswith(".gz") else (
        lambda: out.open("wb"))
    with opener() as fh:
        batch: list[str] = []
        size = 0
        for piece in gen.document(raw_bytes):
            batch.append(piece)
            size += len(piece)
            if size > 1 << 22:
                fh.write("".join(batch).encode())
                batch, size = [], 0
        fh.write("".join(batch).encode())
    lookup_dir = out.with_name(out.name.split(".json")[0] + ".lookup")
    lookup_dir.mkdir(exist_ok=True)
    paths = []
    for ein, doc in gen.lookup_documents().items():
        path = lookup_dir / f"{ein}.json"
        path.write_text(json.dumps(doc, indent=1))
        paths.append(str(path))
    truth = gen.truth(paths)
    out.with_name(out.name.split(".json")[0] + ".truth.json").write_text(json.dumps(truth.to_json(), indent=1))
    return truth
