"""A deterministic demo enterprise of any size, in the Azure Digital Twins bulk import format.

``generate(twins, seed)`` yields the lines of an import-job NDJSON file: ``{"Section": "Header"}`` and the
header, ``{"Section": "Models"}`` and the library's interfaces, ``{"Section": "Twins"}`` and the twins,
``{"Section": "Relationships"}`` and the relationships. ``generate_records`` yields the same content as
``(section, object)`` pairs for in-process use.

The enterprise is a fixed block per site (utilities, plants, lines, machines, sensors) and pools of
suppliers (three tiers), parts, products and orders that grow with the number of sites, wired as::

    supplier ─supplies→ part ←consumes─ line/machine/supplier;  line ─produces→ product ─fulfils→ order
    asset ─partOf→ parent;  asset ─dependsOn→ utility;  line/machine ─feeds→ line/machine

Every value is a function of (seed, kind of twin, index), so the output is the same for a seed on every
run and platform, and nothing is held in memory beyond one twin: a million twins stream in bounded memory.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TextIO

from dtgraph.dtdl import ModelSet
from dtgraph.library import library_documents, library_model_set

__all__ = ["HEADER", "SECTIONS", "Plan", "generate", "generate_records", "write_ndjson"]

SECTIONS = ("Header", "Models", "Twins", "Relationships")
HEADER: dict[str, str] = {"fileVersion": "1.0.0", "author": "dtgraph", "organization": "dtgraph"}

Record = tuple[str, dict[str, Any]]


def _dtmi(name: str) -> str:
    return f"dtmi:dtgraph:{name};1"


# ---- the shape of the enterprise ------------------------------------------------------------------------

_PLANTS = 2  # per site
_LINES = 3  # per plant
_MACHINES = 5  # per line
_UTILITIES = ("grid", "generator", "power", "air", "water")  # per site
_SUPPLIERS = (6, 3, 2)  # per site, tiers 1, 2, 3
_PARTS = (12, 6, 3)  # per site; tier-t parts are supplied by tier-t suppliers
_PRODUCTS = 5  # per site (at most the lines per site, so each product has a primary line)
_ORDERS = 30  # per site, nominal: orders absorb the rounding so the total is what was asked


def _sensors(machine: int) -> int:
    """Sensors on the machine at position ``machine`` of its line (1 or 2)."""
    return 1 + machine % 2


_LINE_SENSORS = sum(_sensors(m) for m in range(_MACHINES))
_SITE_ASSETS = 1 + len(_UTILITIES) + _PLANTS * (1 + _LINES * (1 + _MACHINES + _LINE_SENSORS))
_SITE_CHAIN = sum(_SUPPLIERS) + sum(_PARTS) + _PRODUCTS


@dataclass(frozen=True, slots=True)
class Plan:
    """How many twins of each kind the demo enterprise for a size and seed has."""

    seed: int
    sites: int
    suppliers: tuple[int, int, int]
    parts: tuple[int, int, int]
    products: int
    orders: int

    @classmethod
    def for_twins(cls, twins: int, seed: int = 7) -> Plan:
        """The plan closest to ``twins`` twins (exact above a few hundred; at least one site)."""
        if twins < 1:
            raise ValueError(f"twins must be at least 1, not {twins}")
        sites = max(1, round((twins - 1) / (_SITE_ASSETS + _SITE_CHAIN + _ORDERS)))
        fixed = 1 + sites * (_SITE_ASSETS + _SITE_CHAIN)
        return cls(
            seed=seed,
            sites=sites,
            suppliers=(sites * _SUPPLIERS[0], sites * _SUPPLIERS[1], sites * _SUPPLIERS[2]),
            parts=(sites * _PARTS[0], sites * _PARTS[1], sites * _PARTS[2]),
            products=sites * _PRODUCTS,
            orders=max(sites, twins - fixed),
        )

    @property
    def twins(self) -> int:
        return 1 + self.sites * (_SITE_ASSETS + _SITE_CHAIN) + self.orders


# ---- deterministic randomness ---------------------------------------------------------------------------

_SITE, _UTILITY, _PLANT, _LINE, _MACHINE, _SENSOR, _SUPPLIER, _PART, _PRODUCT, _ORDER = range(10)
_EDGES = 16  # added to a kind for the random choices of its relationships


def _rng(plan: Plan, kind: int, index: int) -> random.Random:
    """The random stream of one twin (or of its relationships): a pure function of seed, kind and index."""
    return random.Random(((plan.seed * 64 + kind) << 40) + index)


def _r(rng: random.Random, low: float, high: float, digits: int = 2) -> float:
    return round(rng.uniform(low, high), digits)


def _status(rng: random.Random) -> str:
    x = rng.random()
    return "degraded" if x < 0.03 else "maintenance" if x < 0.05 else "operational"


def _day(rng: random.Random, start: date, days: int) -> str:
    return (start + timedelta(days=rng.randrange(days))).isoformat()


_CITIES = (  # name, country, latitude, longitude, time zone
    ("Stuttgart", "DE", 48.78, 9.18, "Europe/Berlin"),
    ("Lyon", "FR", 45.76, 4.84, "Europe/Paris"),
    ("Turin", "IT", 45.07, 7.69, "Europe/Rome"),
    ("Katowice", "PL", 50.26, 19.02, "Europe/Warsaw"),
    ("Brno", "CZ", 49.20, 16.61, "Europe/Prague"),
    ("Monterrey", "MX", 25.69, -100.32, "America/Monterrey"),
    ("Greenville", "US", 34.85, -82.40, "America/New_York"),
    ("Pune", "IN", 18.52, 73.86, "Asia/Kolkata"),
    ("Suzhou", "CN", 31.30, 120.59, "Asia/Shanghai"),
    ("Nagoya", "JP", 35.18, 136.91, "Asia/Tokyo"),
    ("Curitiba", "BR", -25.43, -49.27, "America/Sao_Paulo"),
    ("Gothenburg", "SE", 57.71, 11.97, "Europe/Stockholm"),
)
_MACHINE_TYPES = ("CNC mill", "lathe", "press", "robot cell", "welding cell", "paint booth", "test stand")
_SENSOR_UNITS = (
    ("temperature", "degreeCelsius"),
    ("vibration", "millimetrePerSecond"),
    ("power", "kilowatt"),
)
_SYLLABLES = ("ar", "bel", "cor", "dan", "el", "fer", "gra", "hol", "ind", "jur", "kal", "lum", "mer", "nor")
_MATERIALS = ("raw", "component", "subassembly", "consumable")


def _company(rng: random.Random) -> str:
    stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{stem} {rng.choice(('GmbH', 'Ltd', 'SA', 'Inc', 'Co', 'AG', 'Srl'))}"


def _location(rng: random.Random, city: int | None = None) -> dict[str, Any]:
    name, country, lat, lon, _ = _CITIES[rng.randrange(len(_CITIES)) if city is None else city % len(_CITIES)]
    return {
        "address": name,
        "country": country,
        "latitude": round(lat + rng.uniform(-0.2, 0.2), 4),
        "longitude": round(lon + rng.uniform(-0.2, 0.2), 4),
    }


# ---- twin ids ------------------------------------------------------------------------------------------

_ENTERPRISE = "enterprise"


def _site(s: int) -> str:
    return f"site-{s}"


def _plant(s: int, p: int) -> str:
    return f"site-{s}-plant-{p}"


def _line(s: int, p: int, li: int) -> str:
    return f"site-{s}-plant-{p}-line-{li}"


def _machine(s: int, p: int, li: int, m: int) -> str:
    return f"site-{s}-plant-{p}-line-{li}-machine-{m}"


def _utility(s: int, name: str) -> str:
    return f"site-{s}-{name}"


def _supplier(tier: int, i: int) -> str:
    return f"supplier-{tier}-{i}"


def _part(tier: int, i: int) -> str:
    return f"part-{tier}-{i}"


def _product(i: int) -> str:
    return f"product-{i}"


def _order(i: int) -> str:
    return f"order-{i}"


def _twin(twin_id: str, model: str, **properties: Any) -> dict[str, Any]:
    return {"$dtId": twin_id, "$metadata": {"$model": _dtmi(model)}, **properties}


def _rel(source: str, name: str, target: str, **properties: Any) -> dict[str, Any]:
    return {
        "$dtId": source,
        "$relationshipId": f"{name}-{target}",
        "$targetId": target,
        "$relationshipName": name,
        **properties,
    }


# ---- public API ------------------------------------------------------------------------------------------


def generate_records(twins: int = 2000, seed: int = 7) -> Iterator[Record]:
    """The demo enterprise as (section, object) pairs: header, models, twins, relationships."""
    plan = Plan.for_twins(twins, seed)
    yield "Header", dict(HEADER)
    for model in _models_in_dependency_order(library_model_set()):
        yield "Models", model
    for twin in _twins(plan):
        yield "Twins", twin
    for relationship in _relationships(plan):
        yield "Relationships", relationship


def generate(twins: int = 2000, seed: int = 7) -> Iterator[dict[str, Any]]:
    """The lines of an Azure Digital Twins import-job NDJSON file (one JSON object each)."""
    section = None
    for name, obj in generate_records(twins, seed):
        if name != section:
            section = name
            yield {"Section": name}
        yield obj


def write_ndjson(stream: TextIO, twins: int = 2000, seed: int = 7) -> int:
    """Write ``generate(twins, seed)`` to ``stream`` as NDJSON; return the number of lines."""
    count = 0
    for obj in generate(twins, seed):
        stream.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
        stream.write("\n")
        count += 1
    return count


def _models_in_dependency_order(models: ModelSet) -> list[dict[str, Any]]:
    """The library's documents, each interface after the ones it extends."""
    docs = [json.loads(content) for _, content in library_documents()]
    return sorted(docs, key=lambda doc: (len(models.ancestors(doc["@id"])), doc["@id"]))


# ---- twins ---------------------------------------------------------------------------------------------


def _twins(plan: Plan) -> Iterator[dict[str, Any]]:
    yield _twin(
        _ENTERPRISE,
        "Enterprise",
        name="Northwind Manufacturing",
        legalName="Northwind Manufacturing Group AG",
        industry="industrial equipment",
        website="https://northwind.example",
        location=_location(random.Random(plan.seed), 0),
        status="operational",
    )
    for s in range(plan.sites):
        yield from _site_twins(plan, s)
    for tier in range(3):
        for i in range(plan.suppliers[tier]):
            yield _supplier_twin(plan, tier, i)
    for tier in range(3):
        for i in range(plan.parts[tier]):
            yield _part_twin(plan, tier, i)
    for i in range(plan.products):
        yield _product_twin(plan, i)
    for i in range(plan.orders):
        yield _order_twin(plan, i)


def _asset(rng: random.Random, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": _status(rng),
        "serialNumber": f"SN-{rng.randrange(10**8):08d}",
        "commissioned": _day(rng, date(1995, 1, 1), 30 * 365),
        **extra,
    }


def _site_twins(plan: Plan, s: int) -> Iterator[dict[str, Any]]:
    rng = _rng(plan, _SITE, s)
    city = _CITIES[s % len(_CITIES)][0]
    yield _twin(
        _site(s),
        "Site",
        **_asset(rng, f"{city} {s // len(_CITIES) + 1}"),
        location=_location(rng, s),
        timeZone=_CITIES[s % len(_CITIES)][4],
        bufferHours=0.0,
        recoveryHours=_r(rng, 72, 720),
        failureProbability=_r(rng, 0.001, 0.01, 4),
    )
    yield from _utility_twins(plan, s)
    for p in range(_PLANTS):
        i = s * _PLANTS + p
        rng = _rng(plan, _PLANT, i)
        yield _twin(
            _plant(s, p),
            "Plant",
            **_asset(rng, f"{city} plant {p + 1}"),
            floorArea=_r(rng, 5000, 60000, 0),
            bufferHours=0.0,
            recoveryHours=_r(rng, 24, 168),
            failureProbability=_r(rng, 0.005, 0.03, 4),
        )
        for li in range(_LINES):
            g = i * _LINES + li
            rng = _rng(plan, _LINE, g)
            yield _twin(
                _line(s, p, li),
                "Line",
                **_asset(rng, f"{city} plant {p + 1} line {li + 1}"),
                designRate=_r(rng, 20, 400, 0),
                bufferHours=_r(rng, 2, 24),
                recoveryHours=_r(rng, 8, 72),
                failureProbability=_r(rng, 0.02, 0.1, 4),
                inputGate="all",
            )
            for m in range(_MACHINES):
                yield from _machine_twins(plan, s, p, li, m, g * _MACHINES + m)


def _machine_twins(plan: Plan, s: int, p: int, li: int, m: int, g: int) -> Iterator[dict[str, Any]]:
    rng = _rng(plan, _MACHINE, g)
    machine = _machine(s, p, li, m)
    yield _twin(
        machine,
        "Machine",
        **_asset(rng, f"Station {m + 1}", manufacturer=_company(rng)),
        machineType=rng.choice(_MACHINE_TYPES),
        ratedPower=_r(rng, 5, 400, 1),
        bufferHours=_r(rng, 0, 2),
        recoveryHours=_r(rng, 2, 48),
        failureProbability=_r(rng, 0.05, 0.3, 4),
        inputGate="all",
    )
    for k in range(_sensors(m)):
        srng = _rng(plan, _SENSOR, g * 2 + k)
        quantity, unit = _SENSOR_UNITS[(m + k) % len(_SENSOR_UNITS)]
        yield _twin(
            f"{machine}-sensor-{k}",
            "Sensor",
            **_asset(srng, f"{quantity} sensor {k + 1}", manufacturer=_company(srng)),
            quantity=quantity,
            unit=unit,
            samplingInterval=float(srng.choice((1, 5, 10, 60))),
            recoveryHours=_r(srng, 1, 8),
            failureProbability=_r(srng, 0.01, 0.1, 4),
        )


def _utility_twins(plan: Plan, s: int) -> Iterator[dict[str, Any]]:
    for u, kind in enumerate(_UTILITIES):
        rng = _rng(plan, _UTILITY, s * len(_UTILITIES) + u)
        common = {"failureProbability": _r(rng, 0.01, 0.1, 4), "recoveryHours": _r(rng, 1, 24)}
        if kind in ("grid", "generator", "power"):
            source = {"grid": "grid", "generator": "generator", "power": "distribution"}[kind]
            yield _twin(
                _utility(s, kind),
                "PowerSupply",
                **_asset(rng, f"Power {source}"),
                **common,
                kind="power",
                source=source,
                ratedPower=_r(rng, 2000, 20000, 0),
                bufferHours=0.0,
                # the distribution board runs on the grid or the generator
                inputGate="any" if kind == "power" else "all",
            )
        elif kind == "air":
            yield _twin(
                _utility(s, kind),
                "CompressedAirSupply",
                **_asset(rng, "Compressed air"),
                **common,
                kind="compressedAir",
                ratedFlow=_r(rng, 500, 5000, 0),
                ratedPressure=_r(rng, 6, 10, 1),
                bufferHours=_r(rng, 0.05, 0.5),
                inputGate="all",
            )
        else:
            yield _twin(
                _utility(s, kind),
                "WaterSupply",
                **_asset(rng, "Process water"),
                **common,
                kind="water",
                ratedFlow=_r(rng, 20, 400, 0),
                bufferHours=_r(rng, 2, 12),
            )


def _supplier_twin(plan: Plan, tier: int, i: int) -> dict[str, Any]:
    rng = _rng(plan, _SUPPLIER, _pool_index(plan.suppliers, tier, i))
    name = _company(rng)
    return _twin(
        _supplier(tier + 1, i),
        "Supplier",
        name=name,
        legalName=name,
        location=_location(rng),
        status=_status(rng),
        tier=tier + 1,
        onTimeRate=_r(rng, 0.8, 0.995, 3),
        bufferHours=_r(rng, 24, 168),
        recoveryHours=_r(rng, 48, 720),
        failureProbability=_r(rng, 0.02, 0.15, 4),
        inputGate="all",
    )


def _part_suppliers(plan: Plan, tier: int, i: int) -> list[int]:
    """Indexes of the tier's suppliers that supply part ``i``: a primary, then alternates."""
    rng = _rng(plan, _PART + _EDGES, _pool_index(plan.parts, tier, i))
    n = plan.suppliers[tier]
    count = min(n, 1 if rng.random() < 0.45 else 2 if rng.random() < 0.7 else 3)
    primary = i % n
    others = [j for j in rng.sample(range(n), min(n, count + 1)) if j != primary]
    return [primary, *others[: count - 1]]


def _part_twin(plan: Plan, tier: int, i: int) -> dict[str, Any]:
    rng = _rng(plan, _PART, _pool_index(plan.parts, tier, i))
    sources = len(_part_suppliers(plan, tier, i))
    # one source: needs it; two: either will do; three: split volume, needs two of them
    gate: dict[str, Any] = (
        {"inputGate": "all"}
        if sources == 1
        else {"inputGate": "any"}
        if sources == 2
        else {"inputGate": "kOfN", "requiredInputs": 2}
    )
    material = ("component", "raw", "raw")[tier] if rng.random() < 0.8 else rng.choice(_MATERIALS)
    return _twin(
        _part(tier + 1, i),
        "Part",
        name=f"{material} {tier + 1}-{i}",
        partNumber=f"P{tier + 1}-{i:06d}",
        materialType=material,
        unitCost=_r(rng, 0.5, 800),
        unitOfMeasure="kg" if material == "raw" else "pcs",
        onHand=_r(rng, 0, 20000, 0),
        status="operational",
        bufferHours=_r(rng, 24, 336),
        recoveryHours=_r(rng, 24, 240),
        failureProbability=_r(rng, 0.001, 0.02, 4),
        **gate,
    )


def _unit_price(plan: Plan, i: int) -> float:
    return _r(_rng(plan, _PRODUCT, i), 20, 5000)


def _product_twin(plan: Plan, i: int) -> dict[str, Any]:
    rng = _rng(plan, _PRODUCT, i)
    price = _r(rng, 20, 5000)  # the first draw: the same as _unit_price
    return _twin(
        _product(i),
        "Product",
        name=f"Product {i}",
        sku=f"SKU-{i:06d}",
        unitPrice=price,
        revenuePerHour=round(price * rng.uniform(5, 60), 2),
        status="operational",
        bufferHours=_r(rng, 0, 168),
        recoveryHours=0.0,
        inputGate="any",
    )


def _order_products(plan: Plan, i: int) -> list[tuple[int, int]]:
    """(product index, quantity) of each line of order ``i``."""
    rng = _rng(plan, _ORDER + _EDGES, i)
    count = min(plan.products, rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5, 6)))
    return [(p, rng.randint(10, 2000)) for p in rng.sample(range(plan.products), count)]


def _order_twin(plan: Plan, i: int) -> dict[str, Any]:
    rng = _rng(plan, _ORDER, i)
    value = sum(q * _unit_price(plan, p) for p, q in _order_products(plan, i))
    return _twin(
        _order(i),
        "CustomerOrder",
        name=f"Order {i}",
        orderNumber=f"SO-{i:08d}",
        customer=_company(rng),
        orderValue=round(value, 2),
        currency="EUR",
        dueDate=_day(rng, date(2025, 1, 1), 365),
        priority=rng.randint(1, 5),
        orderStatus=rng.choice(("open", "open", "inProduction")),
        location=_location(rng),
        status="operational",
        bufferHours=_r(rng, 0, 336),
        inputGate="all",
    )


def _pool_index(sizes: tuple[int, int, int], tier: int, i: int) -> int:
    return sum(sizes[:tier]) + i


# ---- relationships ---------------------------------------------------------------------------------------


def _relationships(plan: Plan) -> Iterator[dict[str, Any]]:
    for s in range(plan.sites):
        yield from _site_relationships(plan, s)
    yield from _supply_relationships(plan)


def _dependency(rng: random.Random, source: str, utility: str) -> dict[str, Any]:
    return _rel(source, "dependsOn", utility, failureProbability=_r(rng, 0.001, 0.02, 4))


def _site_relationships(plan: Plan, s: int) -> Iterator[dict[str, Any]]:
    rng = _rng(plan, _SITE + _EDGES, s)
    power, air, water = _utility(s, "power"), _utility(s, "air"), _utility(s, "water")
    yield _rel(_site(s), "partOf", _ENTERPRISE)
    for kind in _UTILITIES:
        yield _rel(_utility(s, kind), "partOf", _site(s))
    yield _dependency(rng, power, _utility(s, "grid"))
    yield _dependency(rng, power, _utility(s, "generator"))
    yield _dependency(rng, air, power)
    for p in range(_PLANTS):
        plant = _plant(s, p)
        yield _rel(plant, "partOf", _site(s))
        yield _dependency(rng, plant, power)
        yield _dependency(rng, plant, water)
        for li in range(_LINES):
            yield from _line_relationships(plan, s, p, li, (s * _PLANTS + p) * _LINES + li)
    # the last line of a plant feeds the first line of the next plant half of the time
    for p in range(_PLANTS - 1):
        if rng.random() < 0.5:
            yield _rel(
                _line(s, p, _LINES - 1),
                "feeds",
                _line(s, p + 1, 0),
                leadTimeHours=_r(rng, 2, 24),
                failureProbability=_r(rng, 0.005, 0.03, 4),
            )


def _line_relationships(plan: Plan, s: int, p: int, li: int, g: int) -> Iterator[dict[str, Any]]:
    rng = _rng(plan, _LINE + _EDGES, g)
    line = _line(s, p, li)
    yield _rel(line, "partOf", _plant(s, p))
    yield _dependency(rng, line, _utility(s, "air"))
    if li + 1 < _LINES:
        yield _rel(
            line,
            "feeds",
            _line(s, p, li + 1),
            leadTimeHours=_r(rng, 0.5, 8),
            failureProbability=_r(rng, 0.001, 0.01, 4),
        )
    for part in rng.sample(range(plan.parts[0]), min(plan.parts[0], rng.randint(3, 5))):
        yield _rel(line, "consumes", _part(1, part), quantityPerUnit=_r(rng, 0.1, 12))
    products = [g % plan.products]
    if rng.random() < 0.3:
        products.append(rng.randrange(plan.products))
    for product in dict.fromkeys(products):
        yield _rel(line, "produces", _product(product), ratePerHour=_r(rng, 5, 300, 1))
    for m in range(_MACHINES):
        yield from _machine_relationships(plan, s, p, li, m, g * _MACHINES + m)


def _machine_relationships(plan: Plan, s: int, p: int, li: int, m: int, g: int) -> Iterator[dict[str, Any]]:
    rng = _rng(plan, _MACHINE + _EDGES, g)
    machine = _machine(s, p, li, m)
    yield _rel(machine, "partOf", _line(s, p, li))
    yield _dependency(rng, machine, _utility(s, "power"))
    if rng.random() < 0.6:
        yield _dependency(rng, machine, _utility(s, "air"))
    if rng.random() < 0.3:
        yield _dependency(rng, machine, _utility(s, "water"))
    if m + 1 < _MACHINES:
        yield _rel(
            machine,
            "feeds",
            _machine(s, p, li, m + 1),
            leadTimeHours=_r(rng, 0.05, 0.5),
            failureProbability=_r(rng, 0.0005, 0.005, 4),
        )
    for part in rng.sample(range(plan.parts[0]), min(plan.parts[0], rng.randint(1, 4))):
        yield _rel(machine, "consumes", _part(1, part), quantityPerUnit=_r(rng, 0.1, 8))
    for k in range(_sensors(m)):
        yield _rel(f"{machine}-sensor-{k}", "partOf", machine)


def _supply_relationships(plan: Plan) -> Iterator[dict[str, Any]]:
    for tier in range(3):
        lead = ((24, 336), (72, 720), (168, 1440))[tier]
        for i in range(plan.parts[tier]):
            rng = _rng(plan, _PART + _EDGES + 1, _pool_index(plan.parts, tier, i))
            for n, supplier in enumerate(_part_suppliers(plan, tier, i)):
                yield _rel(
                    _supplier(tier + 1, supplier),
                    "supplies",
                    _part(tier + 1, i),
                    leadTimeHours=_r(rng, *lead),
                    failureProbability=_r(rng, 0.01, 0.1, 4),
                    sourcing="primary" if n == 0 else "alternate",
                )
    for tier in range(2):  # tier-3 suppliers source raw material nobody models
        inputs = plan.parts[tier + 1]
        for i in range(plan.suppliers[tier]):
            rng = _rng(plan, _SUPPLIER + _EDGES, _pool_index(plan.suppliers, tier, i))
            for part in rng.sample(range(inputs), min(inputs, rng.randint(2, 5))):
                yield _rel(
                    _supplier(tier + 1, i), "consumes", _part(tier + 2, part), quantityPerUnit=_r(rng, 0.1, 5)
                )
    for i in range(plan.orders):
        for product, quantity in _order_products(plan, i):
            yield _rel(_product(product), "fulfils", _order(i), quantity=quantity)
