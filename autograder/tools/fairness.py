"""The fairness benchmark: a student's curves against the grader's, and readings cross-checked.

``python -m autograder bench --fairness [--seeds ...] [--threads 1 2 4 default]`` runs the
solution notebook per seed and TensorFlow thread setting of the kernel, prints the largest
difference between any setting's curves and the grader's (one thread per worker), and checks
every run's readings against every other run's curves of the same seed.
"""

from __future__ import annotations

from autograder.tools.bench import run_solution

N_READINGS = 8


def check_readings(ans: dict, h: dict) -> list[str]:
    """The failure messages of the eight reading checks of ``ans`` against the curves ``h``."""
    from autograder import readings

    networks = {"smaller": h["hist_smaller"], "baseline": h["hist_baseline"],
                "bigger": h["hist_bigger"]}
    techniques = {"dropout": h["hist_dropout"], "l2": h["hist_l2"], "augmentation": h["hist_augment"]}
    checks = [
        (readings.check_epoch, (ans["good_epoch_bigger"], h["hist_bigger"])),
        (readings.check_val_accuracy, (ans["val_acc_bigger"], h["hist_bigger"],
                                       ans["good_epoch_bigger"])),
        (readings.check_overfitting, (ans["overfitting_bigger"], h["hist_bigger"])),
        (readings.check_overfitting, (ans["overfitting_smaller"], h["hist_smaller"])),
        (readings.check_most_overfit, (ans["most_overfit"], networks)),
        (readings.check_rise_shrinks, (ans["more_units_overfit_more"], h["hist_bigger"],
                                       h["hist_smaller"])),
        (readings.check_gap_shrinks, (ans["dropout_shrinks_gap"], h["hist_bigger"], h["hist_dropout"])),
        (readings.check_best_technique, (ans["best_technique"], techniques)),
    ]
    failed = []
    for check, args in checks:
        try:
            check(*args)
        except AssertionError as exc:
            failed.append(str(exc))
    return failed


def fairness(seeds: list[int], thread_settings: list[str]) -> int:
    """A student's curves against the grader's: the solution per seed and TensorFlow thread
    setting of the kernel (the notebook trains in float64 and leaves the threads to TensorFlow);
    the largest difference between any setting's curves and the grader's (one thread per
    worker); every run's answers checked against every other setting's curves."""
    from autograder import curves

    runs: dict[tuple[int, str], dict] = {}
    for seed in seeds:
        for threads in thread_settings:
            env = {} if threads == "default" else {"TF_NUM_INTRAOP_THREADS": threads,
                                                   "TF_NUM_INTEROP_THREADS": threads}
            r = run_solution(seed, env)
            runs[(seed, threads)] = r
            print(f"seed {seed} threads {threads}: {r['wall']:.0f} s", flush=True)
    failures = 0
    grader = "1" if "1" in thread_settings else thread_settings[0]
    print(f"\n## Student's curves vs the grader's (kernel threads {grader}): largest difference "
          "over all six histories")
    worst = 0.0
    for (seed, threads), r in runs.items():
        g = runs[(seed, grader)]["histories"]
        diff = max(curves.curve_difference(r["histories"][k], g[k]) for k in g)
        worst = max(worst, diff)
        print(f"  seed {seed:5} threads {threads:>7}: {diff:.6f}")
    print(f"  largest difference: {worst:.6f}")
    print("\n## Fairness: answers of run A checked against the curves of run B (same seed)")
    print("  seed | A threads -> B threads | bigger loss rise (margin) | smaller loss rise (margin) | "
          "dropout shrink | checks")
    for (seed, ta), a in runs.items():
        for (seed_b, tb), b in runs.items():
            if seed_b != seed:
                continue
            h = {k: curves.history_frame(v) for k, v in b["histories"].items()}
            failed = check_readings(a["answers"], h)
            for message in failed:
                print(f"    FAIL: {message}")
            passed, total = N_READINGS - len(failed), N_READINGS
            failures += len(failed)
            vb = curves.overfitting_verdict(h["hist_bigger"])
            vs = curves.overfitting_verdict(h["hist_smaller"])
            shrink = curves.gap(h["hist_bigger"]) - curves.gap(h["hist_dropout"])
            print(f"  {seed:4} | {ta:>9} -> {tb:<9} | {vb.rise:.3f} {vb.label} ({vb.margin:.3f}) | "
                  f"{vs.rise:+.3f} {vs.label} ({vs.margin:.3f}) | {shrink:+.3f} | "
                  f"{passed}/{total}")
    blank = dict.fromkeys(next(iter(runs.values()))["answers"], ...)
    blank_passes = [N_READINGS - len(check_readings(blank, {k: curves.history_frame(v) for k, v
                                                            in r["histories"].items()}))
                    for r in runs.values()]
    print(f"  blank template (every answer ...): {max(blank_passes)}/{N_READINGS} checks pass "
          "on any run's curves")
    failures += sum(blank_passes)
    print(f"\n  {'all readings passed' if failures == 0 else f'{failures} checks FAILED'}")
    return 0 if failures == 0 else 1
