"""Grading throughput: answers checked per second, one process against a process pool.

Grading is what ``alignrl.native.evaluate.evaluate`` does per sample: strict answer extraction, the task's
verifier, the format check. Evaluation grades in its own process (no pool): this benchmark measures
whether a pool of ``workers`` processes (``multiprocessing.Pool``, chunks of ``chunk`` answers) would pay
on this machine. Responses are a seeded mix of well-formatted correct and wrong answers, malformed ones
and long garbage, of both tasks, sized like the pipeline's (<= 64 tokens).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import time

from benchmarks import common

SIDES = ("single", "pool")


def _items(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(task, response text, ground truth) triples."""
    from alignrl.claims.answer import format_response
    from alignrl.claims.tasks import get_task

    rng = random.Random(seed)
    out = []
    for i in range(count):
        name = ("math", "logic")[i % 2]
        p = get_task(name).sample(rng)
        kind = rng.random()
        if kind < 0.4:
            text = format_response(p.solution, p.answer)
        elif kind < 0.7:
            text = format_response(p.solution, p.answer + "1")
        elif kind < 0.85:
            text = "<think>\n" + p.solution + "\n<answer>\\boxed{" + p.answer
        else:
            text = " ".join(rng.choice(["x", "3", "+", "=", "\\boxed{", "}", "<answer>", "the"]) for _ in range(60))
        out.append((name, text, p.answer))
    return out


def grade(item: tuple[str, str, str]) -> tuple[bool, bool]:
    from alignrl.claims.answer import extract_answer, is_well_formatted
    from alignrl.claims.tasks import get_task

    name, text, truth = item
    return bool(get_task(name).verify(extract_answer(text), truth)), bool(is_well_formatted(text))


def _grade_chunk(items: list[tuple[str, str, str]]) -> list[tuple[bool, bool]]:
    return [grade(i) for i in items]


def _child(side: str, count: int, reps: int, workers: int, chunk: int) -> None:
    items = _items(count)
    expected = _grade_chunk(items)
    times = []
    if side == "single":
        for _ in range(reps):
            t0 = time.perf_counter()
            got = _grade_chunk(items)
            times.append(time.perf_counter() - t0)
            assert got == expected
    else:
        chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        for _ in range(reps):
            # the pool's start-up is part of its cost: evaluation would start one per job
            t0 = time.perf_counter()
            with mp.get_context("fork").Pool(workers) as pool:
                got = [g for part in pool.map(_grade_chunk, chunks) for g in part]
            times.append(time.perf_counter() - t0)
            assert got == expected
    common.emit({"side": side, "times": times, "answers_per_s": count / common.median(times)})


def measure(rounds: int = 3, count: int = 20000, reps: int = 3, workers: int = 2, chunk: int = 500, log=print) -> dict:
    args = ["--count", str(count), "--reps", str(reps), "--workers", str(workers), "--chunk", str(chunk)]
    res = common.alternate({s: ("benchmarks.grading", ["--side", s, *args]) for s in SIDES}, rounds, log=log)
    summary = {
        s: {"answers_per_s": common.median([count / t for r in res[s] for t in r["times"]]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in res[s])}
        for s in SIDES
    }
    return {"settings": {"answers": count, "workers": workers, "chunk": chunk, "rounds": rounds, "reps": reps},
            "sides": summary,
            "ratio_pool_vs_single": summary["pool"]["answers_per_s"] / summary["single"]["answers_per_s"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--child", action="store_true")
    p.add_argument("--side", choices=SIDES)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunk", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.child:
        _child(a.side, a.count, a.reps, a.workers, a.chunk)
    else:
        import json

        print(json.dumps(measure(a.rounds, a.count, a.reps, a.workers, a.chunk), indent=2))


if __name__ == "__main__":
    main()
