"""The naive trigger evaluator: every trigger of the symbol on every price update.

The baseline that the tests and ``bench/triggers.py`` compare :class:`~autopilot.domain.
trigger_index.TriggerIndex` against: the same API and the same answers, built directly on
:func:`~autopilot.domain.triggers.evaluate`, at O(triggers of the symbol) per update.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from autopilot.domain.triggers.conditions import TrailingStop, Trigger, TriggerStatus, evaluate


class NaiveEvaluator:
    """The baseline: on each price, :func:`evaluate` every trigger of the symbol.

    Same API as :class:`TriggerIndex`, the same answers, O(triggers of the symbol) per update.
    """

    def __init__(self, triggers: Iterable[Trigger] = ()) -> None:
        self._by_symbol: dict[str, dict[str, Trigger]] = {}
        self._symbol_of: dict[str, str] = {}
        for trigger in triggers:
            self.add(trigger)

    def __len__(self) -> int:
        return len(self._symbol_of)

    def __contains__(self, trigger_id: object) -> bool:
        return trigger_id in self._symbol_of

    def add(self, trigger: Trigger) -> None:
        if trigger.status is not TriggerStatus.ACTIVE:
            raise ValueError(f"only active triggers are indexed, {trigger.id} is {trigger.status}")
        if trigger.id in self._symbol_of:
            raise ValueError(f"trigger {trigger.id} is already indexed")
        self._by_symbol.setdefault(trigger.symbol, {})[trigger.id] = trigger
        self._symbol_of[trigger.id] = trigger.symbol

    def remove(self, trigger_id: str) -> None:
        symbol = self._symbol_of.pop(trigger_id, None)
        if symbol is not None:
            del self._by_symbol[symbol][trigger_id]

    def replace(self, trigger: Trigger) -> None:
        self.remove(trigger.id)
        self.add(trigger)

    def mark_of(self, trigger_id: str) -> Decimal | None:
        trigger = self._by_symbol[self._symbol_of[trigger_id]][trigger_id]
        condition = trigger.condition
        return condition.mark if isinstance(condition, TrailingStop) else None

    def on_price(self, symbol: str, price: Decimal) -> list[str]:
        triggers = self._by_symbol.get(symbol)
        if not triggers:
            return []
        fired: list[str] = []
        for trigger_id, trigger in list(triggers.items()):
            updated, did_fire = evaluate(trigger, price)
            if did_fire:
                fired.append(trigger_id)
                self.remove(trigger_id)
            elif updated is not trigger:
                triggers[trigger_id] = updated
        return fired
