"""`zkml-tracker machine`: this machine's description and its calibration (modular multiplications a second).

The calibration is measured the first time (a Go program over gnark-crypto, a few seconds; its first build
about a minute) and kept per machine; `--again` measures it anew. Energy: whether this machine exposes
package energy counters (powercap / RAPL), and if not, why. See tracker/calibration for what the figures
mean and what they do not capture.
"""
from __future__ import annotations

import argparse
import json

from tracker import calibration, energy
from tracker.config import Config
from tracker.layout import Layout
from tracker.records import machine_info


def setup_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("machine", help="this machine's description, calibration and energy counters",
                       description=__doc__)
    p.add_argument("--again", action="store_true", help="measure the calibration anew")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=main)


def main(config: Config, layout: Layout, args: argparse.Namespace) -> int:
    machine = machine_info()
    if args.again:
        calibration.forget(machine)
    cal = calibration.current(machine)
    _, energy_reason = energy.meter_or_reason(energy.powercap_root())
    if args.json:
        print(json.dumps({"machine": machine, "calibration": cal.summary(),
                          "energy": energy_reason or "measured (powercap)"}, indent=2))
        return 0 if cal.measured else 1
    for key, value in machine.items():
        print(f"{key:12} {value}")
    print(calibration.describe(cal))
    print(f"{'energy':12} {energy_reason or 'package counters readable (powercap): joules per stage recorded'}")
    return 0 if cal.measured else 1
