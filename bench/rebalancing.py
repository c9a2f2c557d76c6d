"""Rebalancing drift check for many accounts vs the naive per-account loop (issue 3, point 5).

Builds N accounts (default 100,000) of H holdings each (default 10) over a few model portfolios,
a fifth of them pushed off their targets. The autopilot path checks all of them with
`drifted_accounts` (column-wise, models shared) and plans trades for those that drifted. The naive
path, in the same run, takes one account at a time: `measure_drift`, `drift_exceeds`, and
`plan_trades` when it drifted; it runs on a sample of M accounts (default 5,000) and both rates
are accounts/s, so the ratio is fair. The two paths must agree on which accounts of the sample
drifted.

    python bench/rebalancing.py [--accounts N] [--holdings H] [--naive-accounts M] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from autopilot.domain.rebalancing.batch import AccountSnapshot, DriftThreshold, drifted_accounts  # noqa: E402
from autopilot.domain.rebalancing.drift import Holding, Target, drift_exceeds, measure_drift  # noqa: E402
from autopilot.domain.rebalancing.plan import plan_trades  # noqa: E402

SEED = 20250616
MODELS = 4
THRESHOLD = DriftThreshold(absolute_pp=Decimal(5))
MIN_TRADE = Decimal("1.00")
RESERVE = Decimal("100.00")


def build(
    count: int, width: int
) -> tuple[list[AccountSnapshot], dict[int, tuple[Target, ...]], dict[str, Decimal]]:
    rng = random.Random(SEED)
    symbols = tuple(f"S{i:02d}" for i in range(width))
    prices = {s: Decimal(rng.randint(1_000, 60_000)).scaleb(-2) for s in symbols}
    models = [_model(rng, symbols) for _ in range(MODELS)]
    accounts: list[AccountSnapshot] = []
    targets: dict[int, tuple[Target, ...]] = {}
    for account_id in range(count):
        model = models[account_id % MODELS]
        value = Decimal(rng.randint(5_000, 500_000))
        skew = 7 if rng.random() < 0.2 else 0  # a fifth of the accounts drifted
        quantities = tuple(
            _quantity(
                value, t.weight + rng.randint(-1, 1) - skew * (i % 2 * 2 - 1), prices[t.symbol]
            )
            for i, t in enumerate(model)
        )
        accounts.append(
            AccountSnapshot(
                account_id=account_id,
                cash=Decimal(rng.randint(0, 50_000)).scaleb(-2),
                symbols=symbols,
                quantities=quantities,
            )
        )
        targets[account_id] = model
    return accounts, targets, prices


def _model(rng: random.Random, symbols: tuple[str, ...]) -> tuple[Target, ...]:
    cuts = sorted(rng.sample(range(1, 100), len(symbols) - 1))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return tuple(Target(symbol=s, weight=Decimal(w)) for s, w in zip(symbols, weights, strict=True))


def _quantity(value: Decimal, weight: Decimal, price: Decimal) -> Decimal:
    return (value * max(weight, Decimal(0)) / 100 / price).quantize(Decimal("0.000001"))


def holdings_of(account: AccountSnapshot, prices: dict[str, Decimal]) -> list[Holding]:
    return [
        Holding(symbol=s, quantity=q, price=prices[s])
        for s, q in zip(account.symbols, account.quantities, strict=True)
    ]


def plan(account: AccountSnapshot, targets: tuple[Target, ...], prices: dict[str, Decimal]) -> int:
    result = plan_trades(
        holdings_of(account, prices),
        account.cash,
        targets,
        min_trade_amount=MIN_TRADE,
        allow_sells=True,
        cash_reserve=RESERVE,
    )
    return len(result.trades)


def run_autopilot(
    accounts: list[AccountSnapshot],
    targets: dict[int, tuple[Target, ...]],
    prices: dict[str, Decimal],
) -> dict[str, float | int]:
    thresholds = dict.fromkeys(targets, THRESHOLD)
    started = time.perf_counter()
    drifted = drifted_accounts(accounts, targets, thresholds, prices)
    checked = time.perf_counter()
    trades = sum(plan(accounts[i], targets[i], prices) for i in drifted)
    planned = time.perf_counter()
    return {
        "check_s": checked - started,
        "plan_s": planned - checked,
        "drifted": len(drifted),
        "trades": trades,
    }


def run_naive(
    accounts: list[AccountSnapshot],
    targets: dict[int, tuple[Target, ...]],
    prices: dict[str, Decimal],
) -> tuple[dict[str, float | int], list[int]]:
    started = time.perf_counter()
    drifted, trades = [], 0
    for account in accounts:
        model = targets[account.account_id]
        drift = measure_drift(holdings_of(account, prices), account.cash, model)
        if drift_exceeds(drift, THRESHOLD.absolute_pp, THRESHOLD.relative_pct):
            drifted.append(account.account_id)
            trades += plan(account, model, prices)
    return {
        "total_s": time.perf_counter() - started,
        "drifted": len(drifted),
        "trades": trades,
    }, drifted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--holdings", type=int, default=10)
    parser.add_argument("--naive-accounts", type=int, default=5_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    accounts, targets, prices = build(args.accounts, args.holdings)
    ours = run_autopilot(accounts, targets, prices)
    sample = accounts[: args.naive_accounts]
    naive, naive_drifted = run_naive(sample, targets, prices)
    sample_ids = {a.account_id for a in sample}
    batch_drifted = drifted_accounts(sample, targets, dict.fromkeys(sample_ids, THRESHOLD), prices)
    if batch_drifted != naive_drifted:
        raise SystemExit("the batch check and the naive loop disagree on the sample")

    autopilot_rate = args.accounts / (ours["check_s"] + ours["plan_s"])
    naive_rate = len(sample) / naive["total_s"]
    result = {
        "accounts": args.accounts,
        "holdings_per_account": args.holdings,
        "drifted": ours["drifted"],
        "check_s": round(ours["check_s"], 3),
        "plan_s": round(ours["plan_s"], 3),
        "check_target_met": ours["check_s"] < 2.0,
        "naive_sample": len(sample),
        "autopilot_accounts_per_s": round(autopilot_rate),
        "autopilot_check_accounts_per_s": round(args.accounts / ours["check_s"]),
        "naive_accounts_per_s": round(naive_rate),
        "ratio": round(autopilot_rate / naive_rate, 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    table = Table(title=f"Rebalancing: {args.accounts:,} accounts × {args.holdings} holdings")
    table.add_column("path")
    table.add_column("accounts", justify="right")
    table.add_column("drifted", justify="right")
    table.add_column("check s", justify="right")
    table.add_column("plan s", justify="right")
    table.add_column("accounts/s", justify="right")
    table.add_row(
        "autopilot (batch check + plan)",
        f"{args.accounts:,}",
        f"{ours['drifted']:,}",
        f"{ours['check_s']:.3f}",
        f"{ours['plan_s']:.3f}",
        f"{autopilot_rate:,.0f}",
    )
    table.add_row(
        "naive (per account, sample)",
        f"{len(sample):,}",
        f"{naive['drifted']:,}",
        "",
        f"{naive['total_s']:.3f} total",
        f"{naive_rate:,.0f}",
    )
    console = Console()
    console.print(table)
    verdict = "met" if result["check_target_met"] else "NOT met"
    console.print(
        f"ratio {result['ratio']}×; drift check of {args.accounts:,} accounts in "
        f"{ours['check_s']:.3f} s (target < 2 s: {verdict})"
    )


if __name__ == "__main__":
    main()
