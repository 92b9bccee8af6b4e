#!/usr/bin/env python3
"""Write configs/escalation_2025.toml: the 2025 timeline of CALIBRATION.md §3 as [[event]]s.

    /usr/bin/python3 configs/calibration/make_escalation.py [OUT.toml] ['{"lic_jun": [0.65, 0]}']
    /usr/bin/python3 configs/calibration/make_escalation.py --rules [OUT.toml]

--rules writes configs/escalation_2025_rules.toml instead: only the US initiatives (and China's
Nexperia stop, an answer to the Netherlands) are scheduled; China's tariffs and rare-earth
licences come from its `reactive` rule.

The second argument overrides China's rare-earth licence (approval, delay) by month; the
defaults reproduce magnet exports to the US of ≈ 350 t (Jun) and ≈ 620 t (Jul) on average
over 20 seeds (docs/CALIBRATION_NOTES.md).
"""
import os, sys

RULES = len(sys.argv) > 1 and sys.argv[1] == "--rules"
if RULES:
    del sys.argv[1]

GOODS = ["ree_oxide", "sme", "eda", "magnets", "mature_chips", "adv_chips", "autos", "ai_compute"]
P = dict(
    # China's rare-earth licences: approval by month (per firm, per destination, per month)
    lic_apr=(0.05, 2), lic_jun=(0.65, 0), lic_jul=(0.7, 0), lic_aug=(0.9, 0), lic_oct=(0.7, 0), lic_nov=(1.0, 0),
)
if len(sys.argv) > 2 and not RULES:
    import json
    P.update({k: tuple(v) for k, v in json.loads(sys.argv[2]).items()})

L = []
w = L.append


def ev(at, gov, instrument, cause, **kw):
    w("[[event]]")
    w(f'at = "{at}"')
    w(f'government = "{gov}"')
    w(f'instrument = "{instrument}"')
    for k, v in kw.items():
        if isinstance(v, str):
            w(f'{k} = "{v}"')
        elif isinstance(v, bool):
            w(f"{k} = {'true' if v else 'false'}")
        else:
            w(f"{k} = {v}")
    w(f'cause = "{cause}"')
    w("")


def tariffs(at, gov, partner, rate, cause):
    for g in GOODS:
        ev(at, gov, "tariff", cause, good=g, partner=partner, ad_valorem=rate)


def re_licences(at, approval, delay, cause):
    for g in ["magnets", "ree_oxide"]:
        for d in ["US", "PARTNERS"]:
            ev(at, "CN", "export_control", cause, good=g, partner=d, kind="license",
               approval=approval, delay=delay)


def timeline(china_scheduled):
    """The 2025 events in order. Both variants schedule the US initiatives and China's Nexperia
    stop (an answer to the Netherlands); China's tariffs and rare-earth licences are scheduled
    only in the historical replay (in the rules variant they come from its reactive rule)."""
    def licences(at, key, cause):
        if china_scheduled:
            re_licences(at, *P[key], cause)

    tariffs("2025-02", "US", "CN", 0.31, "4 Feb 2025: IEEPA fentanyl tariff +10pp (US average on China 21% -> 31%)")
    tariffs("2025-03", "US", "CN", 0.41, "4 Mar 2025: fentanyl tariff raised by another 10pp (-> 41%)")
    tariffs("2025-04", "US", "CN", 1.24, "2-10 Apr 2025: reciprocal tariffs, 145% headline, ≈ 124% average")
    if china_scheduled:
        tariffs("2025-04", "CN", "US", 1.25, "4-11 Apr 2025: China retaliates to 125%")
    licences("2025-04", "lic_apr", "4 Apr 2025: MOFCOM Announcement 18, licences for 7 medium/heavy rare earths and magnets")
    tariffs("2025-05", "US", "CN", 0.51, "12 May 2025: Geneva truce, US 30% headline (≈ 51% average)")
    if china_scheduled:
        tariffs("2025-05", "CN", "US", 0.33, "12 May 2025: Geneva truce, China 10% headline (≈ 33% average)")
    ev("2025-06", "US", "export_control", "late May 2025: US requires licences for EDA exports to China",
       good="eda", partner="CN", kind="license", approval=0.1, delay=1)
    licences("2025-06", "lic_jun", "Jun 2025: licence approvals resume after Geneva (magnet exports to the US ≈ 350 t)")
    ev("2025-07", "US", "export_control", "2-3 Jul 2025: EDA licence requirement lifted for faster rare-earth licences",
       good="eda", partner="CN", kind="none")
    licences("2025-07", "lic_jul", "Jul 2025: approvals rise further (magnet exports to the US ≈ 620 t)")
    ev("2025-07", "US", "price_floor", "Jul 2025: DoD-MP Materials deal, $110/kg NdPr floor for 10 years on ≈ 1,300 t/yr",
       good="ree_oxide", floor=110.0, volume=108.3, months=120)
    ev("2025-07", "US", "equity_stake", "Jul 2025: DoD $400M preferred equity in MP Materials (≈ 15%)",
       good="ree_oxide", rate=0.15)
    licences("2025-08", "lic_aug", "Aug 2025: licence approvals near normal")
    ev("2025-10", "US", "export_control", "29 Sep 2025: US affiliates (50%) rule tightens controls on fab tools",
       good="sme", partner="CN", kind="license", approval=0.02, delay=0)
    ev("2025-10", "US", "export_control", "29 Sep 2025: US affiliates (50%) rule reaches EDA sales to listed firms' subsidiaries",
       good="eda", partner="CN", kind="license", approval=0.5, delay=0)
    for dst in ["PARTNERS", "US"]:
        ev("2025-10", "CN", "export_control", "4 Oct 2025: China stops Nexperia's chip exports",
           good="mature_chips", partner=dst, kind="ban")
    licences("2025-10", "lic_oct", "9 Oct 2025: China widens rare-earth controls (extraterritorial rule); approvals slow")
    ev("2025-11", "US", "truce", "30 Oct 2025: Busan truce, US average tariff on China ≈ 47%" +
       (" (China stays ≈ 33%)" if china_scheduled else ""), partner="CN", ad_valorem=0.47)
    licences("2025-11", "lic_nov", "30 Oct 2025: Busan truce, October controls suspended, general licences (April licensing stays)")
    for dst in ["PARTNERS", "US"]:
        ev("2025-11", "CN", "export_control", "Nov 2025: Nexperia chip exports resume after the Busan truce",
           good="mature_chips", partner=dst, kind="none")
    ev("2025-11", "US", "export_control", "10 Nov 2025: affiliates rule suspended for a year (back to the 2024 tool licences)",
       good="sme", partner="CN", kind="license", approval=0.1, delay=0)
    ev("2025-11", "US", "export_control", "10 Nov 2025: affiliates rule suspended for a year",
       good="eda", partner="CN", kind="none")



def rules_variant():
    w("# The 2025 US-China escalation driven by China's reactive rule (CALIBRATION.md §3), on top of")
    w("# the calibrated 2024 baseline. Scheduled: the US initiatives (tariffs, EDA licences, the")
    w("# MP Materials deal, the affiliates rule, the Busan truce) and China's Nexperia stop (an answer")
    w("# to the Netherlands, not modelled). China's answers — tariffs matched point for point up to")
    w("# 125%, and rare-earth/magnet licences while the US tariff is above 60% or a US export")
    w("# control is in force — come from `rule = \"reactive\"`. Compare with escalation_2025.toml,")
    w("# where China's moves are scheduled as they happened. Generated by")
    w("# configs/calibration/make_escalation.py --rules.")
    w('base = "baseline_2024.toml"')
    w("")
    w("[run]")
    w('scenario = "escalation_2025_rules"')
    w("")
    w("[[government]]")
    w('region = "CN"')
    w('rule = "reactive"')
    w("[government.reactive]")
    w('rivals = ["US"]')
    w("lag = 0                       # China answered within days (4 Apr, 9-11 Apr 2025)")
    w("tariff_ratio = 1.0            # point for point")
    w("max_tariff = 1.25             # 125%, China's ceiling in April 2025")
    w('leverage_goods = ["ree_oxide", "magnets"]')
    w('control = "license"')
    a, d = P["lic_apr"]
    w(f"approval = {a}                # as MOFCOM Announcement 18 in April-May (escalation_2025.toml)")
    w(f"delay = {d}")
    w("control_above_tariff = 0.6    # US tariffs above 60% are answered with licensing too")
    w("pain_threshold = 1.0          # truces are scheduled (Geneva, Busan), not offered by the rule")
    w("truce_months = 12")
    w("")
    timeline(china_scheduled=False)


def historical():
    w("# The 2025 US-China escalation (CALIBRATION.md §3) on top of the calibrated 2024 baseline:")
    w("# scheduled [[event]]s only (every government keeps rule = \"none\"). Events take effect at the")
    w("# start of their month (period 0 = 2024-01, so 2025-04 = period 15); an event dated in the")
    w("# second half of a month is moved to the next month. Average applied tariffs, not headlines,")
    w("# are used, on every modelled good. How the licence approvals were chosen, and what the replay")
    w("# reproduces: docs/CALIBRATION_NOTES.md. Generated by configs/calibration/make_escalation.py.")
    w("#")
    w("# Licences: each (Chinese exporter, destination, month) is approved with probability")
    w("# `approval`; a licence applied for `delay` months earlier is needed, and every new licence")
    w("# event restarts that clock, so the later approval changes use delay = 0 (the backlog of")
    w("# applications filed since April is being decided).")
    w('base = "baseline_2024.toml"')
    w("")
    w("[run]")
    w('scenario = "escalation_2025"')
    w("")
    timeline(china_scheduled=True)


rules_variant() if RULES else historical()
name = "escalation_2025_rules.toml" if RULES else "escalation_2025.toml"
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", name)
open(out, "w").write("\n".join(L) + "\n")
