"""Monthly cost estimate of a claim from the price table shipped in the package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.claim import Claim
from engine.rds import price_table


@dataclass(frozen=True)
class CostLine:
    item: str
    monthly_usd: float


@dataclass(frozen=True)
class CostEstimate:
    """USD per month; `unpriced` names what the table has no price for; `ceiling` what it may
    grow to by itself (storage autoscaling to its maximum, Aurora at its maximum capacity)."""

    lines: tuple[CostLine, ...]
    unpriced: tuple[str, ...]
    source: str
    ceiling: CostLine | None = None

    @property
    def monthly_usd(self) -> float:
        return round(sum(line.monthly_usd for line in self.lines), 2)


def estimate_monthly_cost(claim: Claim, prices: dict[str, Any] | None = None) -> CostEstimate:
    """Instance hours, storage GB-months, Aurora ACU-hours at minimum capacity, proxy."""
    prices = prices or price_table()
    hours = prices["hours_per_month"]
    lines: list[CostLine] = []
    unpriced: list[str] = []
    growth: tuple[str, float] | None = None  # what the estimate may grow to by itself, and by how much
    if claim.is_aurora:
        assert claim.min_acu is not None
        instances = 1 + claim.readers
        acu_hours = claim.min_acu * instances * hours
        lines.append(
            CostLine(
                f"{instances} x Aurora Serverless v2 at {claim.min_acu:g} ACU (minimum)",
                acu_hours * prices["aurora_acu_hour"],
            )
        )
        if claim.proxy:
            proxy_acu = max(prices["proxy_minimum_acu"], claim.min_acu * instances)
            lines.append(
                CostLine(f"RDS Proxy ({proxy_acu:g} ACU)", proxy_acu * hours * prices["proxy_acu_hour"])
            )
        assert claim.max_acu is not None
        if claim.max_acu > claim.min_acu:
            busiest = (claim.max_acu - claim.min_acu) * instances * hours * prices["aurora_acu_hour"]
            growth = (f"at most, at {claim.max_acu:g} ACU all month", busiest)
        unpriced.append("Aurora storage and I/O (billed by use)")
    else:
        copies = 2 if claim.multi_az else 1
        hourly = prices["instance_hourly"][claim.engine_family].get(claim.instance_class)
        label = f"{claim.instance_class}{' Multi-AZ' if claim.multi_az else ''}"
        if hourly is None:
            unpriced.append(f"instance class {claim.instance_class}")
        else:
            lines.append(CostLine(label, hourly * copies * hours))
        assert claim.storage_gb is not None
        gp3 = prices["storage_gb_month"]["gp3"]
        storage = claim.storage_gb * copies * gp3
        lines.append(CostLine(f"{claim.storage_gb} GB gp3 storage", storage))
        if claim.max_allocated_storage is not None:
            grown = (
                (claim.max_allocated_storage - claim.storage_gb) * copies * prices["storage_gb_month"]["gp3"]
            )
            growth = (f"at most, with storage grown to {claim.max_allocated_storage} GB", grown)
    rounded = tuple(CostLine(line.item, round(line.monthly_usd, 2)) for line in lines)
    ceiling = None
    if growth is not None:
        item, extra = growth
        ceiling = CostLine(item, round(sum(line.monthly_usd for line in lines) + extra, 2))
    return CostEstimate(rounded, tuple(unpriced), prices["source"], ceiling)
