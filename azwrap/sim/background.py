"""What changes between two az calls without any of them asking: another terminal's `az account set`
(AZSIM_SWITCH_SUBSCRIPTION_AFTER) and what Azure adds on its own a little later (dependents.py).
cli.run calls tick once per call, before the command runs."""
import os

from .core import SUBSCRIPTIONS
from .dependents import smart_detection_due


def switch_subscription(st):
    """AZSIM_SWITCH_SUBSCRIPTION_AFTER=N: the first N calls made while it is set act in the default
    subscription they find; then (once) another terminal switches az's default to another subscription
    (AZSIM_SWITCH_SUBSCRIPTION_TO, id or name; default the next one), and every later call without
    --subscription acts there. Counted in the state's counters, across processes."""
    after = os.environ.get("AZSIM_SWITCH_SUBSCRIPTION_AFTER")
    if not after or st["counters"].get("subscription_switched"):
        return
    seen = st["counters"].get("subscription_switch_calls", 0) + 1
    st["counters"]["subscription_switch_calls"] = seen
    if seen <= int(after):
        return
    wanted = (os.environ.get("AZSIM_SWITCH_SUBSCRIPTION_TO") or "").lower()
    others = [s for s, name in SUBSCRIPTIONS.items() if s != st["subscription"]]
    target = next((s for s, name in SUBSCRIPTIONS.items() if wanted in (s, name.lower())), others[0])
    st["subscription"] = target
    st["counters"]["subscription_switched"] = 1


def tick(st):
    switch_subscription(st)
    smart_detection_due(st)
