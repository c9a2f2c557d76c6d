"""Rebalancing: the drift check and the planner in memory, and the pass on a database
(issue 3, point 5; issue 9, point 4).

In memory: builds N accounts (default 100,000) of H holdings each (default 10) over a few model
portfolios, a fifth of them pushed off their targets. The autopilot path checks all of them with
`drifted_accounts` (column-wise, models shared) and plans trades for those that drifted with one
`TradePlanner.plan_columns` (models shared; the snapshots' columns, no object per holding). The
naive path, in the same run, takes one account at a time: `measure_drift`, `drift_exceeds`, and
`plan_trades` when it drifted; it runs on a sample of M accounts (default 5,000) and both rates
are accounts/s, so the ratio is fair. The two paths must agree on which accounts of the sample
drifted.

On each backend (`--backends`, default postgres,sqlite; PostgreSQL a throwaway server unless
`--postgres-url`): P drifted accounts (default 20,000) with a drift rule each, the scheduler's
rebalancing pass over them timed to its commit (`bench/rebalancing_pass.py`) and, on PostgreSQL,
the naive per-account loop on a raw cursor over a sample of Q more (default 2,000).

Targets (issue 9, point 4): planning >= 20,000 drifted accounts/s; the pass >= 5,000 accounts/s
on PostgreSQL.

    python bench/rebalancing.py [--accounts N] [--holdings H] [--naive-accounts M]
        [--pass-accounts P] [--naive-pass-accounts Q] [--backends postgres,sqlite] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench.databases import database  # noqa: E402
from bench.rebalancing_pass import measure  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from autopilot.domain.rebalancing.batch import AccountSnapshot, DriftThreshold, drifted_accounts  # noqa: E402
from autopilot.domain.rebalancing.drift import Holding, Target, drift_exceeds, measure_drift  # noqa: E402
from autopilot.domain.rebalancing.plan import TradePlanner, plan_trades  # noqa: E402

SEED = 20250616
MODELS = 4
THRESHOLD = DriftThreshold(absolute_pp=Decimal(5))
MIN_TRADE = Decimal("1.00")
RESERVE = Decimal("100.00")
PLAN_TARGET = 20_000  # drifted accounts planned per second
PASS_TARGET = 5_000  # accounts rebalanced per second by the pass on PostgreSQL


def build(
    count: int, width: int, *, drifted_share: float = 0.2, seed: int = SEED
) -> tuple[list[AccountSnapshot], dict[int, tuple[Target, ...]], dict[str, Decimal]]:
    rng = random.Random(seed)
    symbols = tuple(f"S{i:02d}" for i in range(width))
    prices = {s: Decimal(rng.randint(1_000, 60_000)).scaleb(-2) for s in symbols}
    models = [_model(rng, symbols) for _ in range(MODELS)]
    accounts: list[AccountSnapshot] = []
    targets: dict[int, tuple[Target, ...]] = {}
    for account_id in range(count):
        model = models[account_id % MODELS]
        value = Decimal(rng.randint(5_000, 500_000))
        skew = 7 if rng.random() < drifted_share else 0  # a fifth of the accounts drifted
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
    """The naive path's plan: one account's holdings as objects, planned from scratch."""
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
    planner = TradePlanner()
    trades = 0
    priced: dict[tuple[str, ...], tuple[Decimal, ...]] = {}  # the prices of each symbol line-up
    for i in drifted:
        account = accounts[i]
        line_up = priced.get(account.symbols)
        if line_up is None:
            line_up = priced[account.symbols] = tuple(prices[s] for s in account.symbols)
        made = planner.plan_columns(
            account.symbols,
            account.quantities,
            line_up,
            account.cash,
            targets[i],
            min_trade_amount=MIN_TRADE,
            allow_sells=True,
            cash_reserve=RESERVE,
        )
        trades += len(made.trades)
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


def run_backends(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The pass (and on PostgreSQL the naive loop) on each backend asked for."""
    total = args.pass_accounts + args.naive_pass_accounts
    snapshots, targets, prices = build(total, args.holdings, drifted_share=1.0, seed=SEED + 1)
    found = []
    for backend in args.backends:
        with database(backend, args.postgres_url) as url:
            found.append(
                measure(
                    backend,
                    url,
                    snapshots[: args.pass_accounts],
                    snapshots[args.pass_accounts :],
                    targets,
                    prices,
                    min_trade=MIN_TRADE,
                    reserve=RESERVE,
                )
            )
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--holdings", type=int, default=10)
    parser.add_argument("--naive-accounts", type=int, default=5_000)
    parser.add_argument("--pass-accounts", type=int, default=20_000)
    parser.add_argument("--naive-pass-accounts", type=int, default=2_000)
    parser.add_argument(
        "--backends",
        type=lambda v: [b for b in v.split(",") if b],
        default=["postgres", "sqlite"],
        help="comma-separated: postgres, sqlite (empty: the in-memory figures alone)",
    )
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
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
    plan_rate = ours["drifted"] / ours["plan_s"]
    check_rate = args.accounts / ours["check_s"]
    memory = {
        "plan_accounts_per_s": round(plan_rate),
        "check_accounts_per_s": round(check_rate),
    }
    backends = [
        {
            **b,
            **memory,
            "pass_ratio": round(b["pass_accounts_per_s"] / b["naive_accounts_per_s"], 2)
            if "naive_accounts_per_s" in b
            else None,
            "pass_target_met": b["pass_accounts_per_s"] >= PASS_TARGET
            if b["backend"] == "postgres"
            else None,
        }
        for b in run_backends(args)
    ]
    result = {
        "accounts": args.accounts,
        "holdings_per_account": args.holdings,
        "drifted": ours["drifted"],
        "check_s": round(ours["check_s"], 3),
        "plan_s": round(ours["plan_s"], 3),
        "check_target_met": ours["check_s"] < 2.0,
        "plan_target_met": plan_rate >= PLAN_TARGET,
        "naive_sample": len(sample),
        "autopilot_accounts_per_s": round(autopilot_rate),
        "autopilot_check_accounts_per_s": round(check_rate),
        "memory_naive_accounts_per_s": round(naive_rate),
        "ratio": round(autopilot_rate / naive_rate, 2),
        **memory,
        "backends": backends,
    }
    if args.json:
        print(json.dumps(result))
        return
    print_tables(args, ours, naive, len(sample), result)


def print_tables(
    args: argparse.Namespace,
    ours: dict[str, float | int],
    naive: dict[str, float | int],
    sample: int,
    result: dict[str, Any],
) -> None:
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
        f"{result['autopilot_accounts_per_s']:,}",
    )
    table.add_row(
        "naive (per account, sample)",
        f"{sample:,}",
        f"{naive['drifted']:,}",
        "",
        f"{naive['total_s']:.3f} total",
        f"{result['memory_naive_accounts_per_s']:,}",
    )
    console = Console()
    console.print(table)
    console.print(
        f"ratio {result['ratio']}×; drift check of {args.accounts:,} accounts in "
        f"{ours['check_s']:.3f} s (target < 2 s: {_verdict(result['check_target_met'])}); "
        f"planning {result['plan_accounts_per_s']:,} drifted accounts/s "
        f"(target >= {PLAN_TARGET:,}/s: {_verdict(result['plan_target_met'])})"
    )
    if not result["backends"]:
        return
    passes = Table(title=f"Rebalancing pass: drifted accounts × {args.holdings} holdings")
    for name in ("backend", "accounts", "pass s", "pass acc/s", "naive", "naive acc/s", "ratio"):
        passes.add_column(name, justify="left" if name == "backend" else "right")
    for b in result["backends"]:
        passes.add_row(
            b["backend"],
            f"{b['accounts']:,}",
            f"{b['pass_s']:.3f}",
            f"{b['pass_accounts_per_s']:,}",
            f"{b.get('naive_sample', 0):,}" if "naive_sample" in b else "-",
            f"{b['naive_accounts_per_s']:,}" if "naive_accounts_per_s" in b else "-",
            f"{b['pass_ratio']}×" if b["pass_ratio"] is not None else "-",
        )
    console.print(passes)
    for b in result["backends"]:
        if b["backend"] == "postgres":
            console.print(
                f"pass on PostgreSQL {b['pass_accounts_per_s']:,} accounts/s, "
                f"{b['pass_ratio']}× the naive loop "
                f"(target >= {PASS_TARGET:,}/s: {_verdict(b['pass_target_met'])})"
            )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    main()
