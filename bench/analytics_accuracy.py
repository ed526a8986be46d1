"""Analytics accuracy on scripted scenes with known truth (issue 6).

Nine scenes (``simulation.scripted``), one behaviour each among bystanders: entering a
restricted area, loitering, running, following, a left bag, a car overstaying in a no-parking
bay, walking the wrong way, a crowd building up, and people counted through a doorway. Each is
run through the node's own analytics runner (motion blobs, ByteTrack-style tracker, rules) on
rendered frames; events are matched to the script's expected events (same rule and direction,
from 1 s before to 3 s after the expected moment); tracks to the true boxes.

Prints MOTA and HOTA over all frames, and precision and recall per rule.
Target: precision and recall >= 0.9 for every rule.

    python bench/analytics_accuracy.py [--variants 3]
"""

from __future__ import annotations

import time

import harness

from simulation.scoring import RuleScore, match, run, tracking
from simulation.scripted import scripts


def main() -> None:
    args = harness.parser(__doc__)
    args.add_argument("--variants", type=int, default=3,
                      help="redraw every scene this many times (other backgrounds, clothes)")
    options = args.parse_args()
    started = time.perf_counter()
    runs, totals = [], {}
    frames = 0
    for variant in range(options.variants):
        for script in scripts(variant):
            result = run(script)
            runs.append(result)
            frames += script.frame_count
            for rule, score in match(script.expected, result.events).items():
                total = totals.setdefault((script.name, rule), RuleScore())
                total.expected += score.expected
                total.detected += score.detected
                total.matched += score.matched
    mot, hota = tracking(runs)
    elapsed = time.perf_counter() - started
    print(f"{len(runs)} scenes, {frames} frames (640x360, 10 frames/s) in {elapsed:.0f} s")
    print(f"tracking: MOTA {mot.mota:.3f} (misses {mot.misses}, false positives "
          f"{mot.false_positives}, identity switches {mot.switches} of {mot.objects} "
          f"objects), HOTA {hota:.3f}")
    print(f"{'scene':<16} {'rule':<10} {'expected':>8} {'raised':>7} {'matched':>8} "
          f"{'precision':>9} {'recall':>7}")
    for (scene, rule), score in totals.items():
        print(f"{scene:<16} {rule:<10} {score.expected:>8} {score.detected:>7} "
              f"{score.matched:>8} {score.precision:>9.2f} {score.recall:>7.2f}")
    worst = min(min(s.precision, s.recall) for s in totals.values())
    print(f"worst precision or recall over all rules: {worst:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
