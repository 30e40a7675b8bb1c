"""The czar's morning before a demo night: the faults no revert task retries are dealt with."""

from __future__ import annotations

from ippsim.demo_events import Site, apply
from ippsim.reverts import REVERT_STAGES, REVERT_TASKS
from ippsim.tools import pxtools

# The czar's morning (czar-procedures: "check for faults, revert them"): every fault the revert tasks never
# retry -- what alerts/processing.rules.yml calls unrevertable: warp/stack codes other than 2, code 26 where the
# tool skips it unless asked with an explicit -fault 26 (PXTOOL_DO_NOT_REVERT_FAULT) and every destreak fault --
# was looked at before the night, so the night starts without them.
MORNING_REVERTS = ({"stage": "warp"}, {"stage": "stack"},
                   *({"stage": stage, "fault": pxtools.DO_NOT_REVERT_FAULT} for stage, task in REVERT_STAGES.items()
                     if pxtools.MODES[(REVERT_TASKS[task].tool, REVERT_TASKS[task].mode)].skip_26_without_fault))


def _fix_destreak_by_hand(site: Site) -> str:
    """The czar's answer to destreak faults, which no revert task retries: the components are rerun by hand.

    Simulated as the state a rerun that worked leaves: their fault codes are cleared."""
    with site.conn.cursor() as cur:
        n = cur.execute("UPDATE magicDSFile SET fault = 0 WHERE fault <> 0")
    return f"{n} destreak components rerun by hand"


def czar_morning(site: Site) -> list[str]:
    """The morning's reverts and fixes (MORNING_REVERTS, then destreak by hand); what each changed, when it did."""
    done = [apply(site, "revert", params) for params in MORNING_REVERTS]
    return [line for line in done if not line.endswith("deleted 0, reset 0")] + [_fix_destreak_by_hand(site)]
