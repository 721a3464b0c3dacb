"""Run every benchmark and rewrite ``docs/benchmarks.md`` (and ``docs/benchmarks_scaling.png``).

    python -m benchmarks.run                       # everything that needs no results tree
    python -m benchmarks.run --tree .              # + real jobs before/after and the end-to-end estimate
    python -m benchmarks.run --tree . --e2e        # + a timed fresh clone (20-30 min; quiet machine only)

``make bench`` installs the benchmark extras (TRL, with the pipeline's pins as constraints) and runs the
first form with ``--tree .`` when a results tree exists. The TRL cross-check (``make trl-check``,
``benchmarks.trl_crosscheck``) is too long for this run; its last recorded result is kept and rendered here.
Raw numbers go to ``benchmarks/out/results.json``;
the markdown is generated from them only, so every number in it comes from this run (or, for the timed
end-to-end run, from the ``--e2e-json`` file it names).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks import common

DOC = common.ROOT / "docs" / "benchmarks.md"
PNG = common.ROOT / "docs" / "benchmarks_scaling.png"
BEFORE = "86baa5f"  # main before issue 6: the HF-forward sampler, a no-grad old-log-prob forward per mini-batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", type=Path, help="a built results tree (models/, data/, results/benchmarks/)")
    p.add_argument("--before", default=BEFORE, help="the commit whose alignrl is 'before'")
    p.add_argument("--e2e", action="store_true", help="also time a fresh clone end to end (20-30 min)")
    p.add_argument("--e2e-json", type=Path, nargs="+",
                   help="use these earlier benchmarks.e2e clone results instead (oldest first; the last is current)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip", default="",
                   help="comma list of parts to skip: sampling,rl,grading,numerics,peak,jobs,scaling")
    p.add_argument("--vllm", choices=("auto", "on", "off"), default="auto",
                   help="the sampling part's vLLM side (benchmarks.sampling --vllm): auto runs it where .venv-vllm is")
    p.add_argument("--reuse", action="store_true", help="keep parts already in benchmarks/out/results.json")
    p.add_argument("--redo", default="", help="with --reuse: comma list of parts to measure again")
    p.add_argument("--render-only", action="store_true", help="rewrite the docs from benchmarks/out/results.json")
    a = p.parse_args()
    if a.render_only:
        results = json.loads((common.OUT / "results.json").read_text())
        if "jobs" in results:  # derived, not measured: recomputed from the tree and the jobs' speed-ups
            from benchmarks import e2e, scaling

            tree = Path(results["jobs"]["tree"])
            speed = _speedups(results)
            results["e2e_estimate"] = e2e.summarize(tree, 2, speed, e2e._table_claims(common.ROOT))
            if results.get("scaling"):
                results["scaling"]["claims"] = scaling.claims_curve(tree, speed)
            (common.OUT / "results.json").write_text(json.dumps(results, indent=2))
        if results.get("scaling"):
            from benchmarks.scaling import plot

            plot(results["scaling"], PNG)
        DOC.write_text(render(results))
        return
    skip = set(filter(None, a.skip.split(",")))
    raw_path = common.OUT / "results.json"
    common.OUT.mkdir(parents=True, exist_ok=True)
    previous_results: dict = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    results: dict = previous_results if a.reuse else {}
    if "trl_crosscheck" in previous_results:  # measured by its own command (make trl-check), kept
        results["trl_crosscheck"] = previous_results["trl_crosscheck"]
    for name in filter(None, a.redo.split(",")):
        results.pop(name, None)
    previous = results.get("machine", {})
    results["machine"] = common.machine_info()
    if results["machine"].get("trl") is None and "rl" in results:  # reused RL part: the TRL it was measured with
        results["machine"]["trl"] = previous.get("trl")
    started = time.time()

    def part(name: str, fn) -> None:
        if name in skip or (a.reuse and name in results):
            return
        print(f"[bench] {name} ...", flush=True)
        t0 = time.time()
        results[name] = fn()
        results[name]["bench_seconds"] = time.time() - t0
        results[name]["commit"] = results["machine"].get("commit")
        raw_path.write_text(json.dumps(results, indent=2))

    from benchmarks import e2e, grading, jobs, numerics, peak, rl, sampling, scaling

    part("sampling", lambda: sampling.measure(rounds=a.rounds, vllm=a.vllm))
    part("rl", lambda: rl.measure(rounds=max(2, a.rounds - 1), before_rev=a.before))
    part("grading", lambda: grading.measure(rounds=a.rounds))
    part("numerics", lambda: numerics.measure(rounds=a.rounds))
    part("peak", lambda: peak.measure(rounds=a.rounds))
    if a.tree is not None:
        part("jobs", lambda: jobs.measure(a.tree, a.before, rounds=2))
        speed = _speedups(results)
        claims = e2e._table_claims(common.ROOT)
        results["e2e_estimate"] = e2e.summarize(a.tree, 2, speed, claims)
        part("scaling", lambda: scaling.measure(a.tree, speed))
    else:
        part("scaling", lambda: scaling.measure(None, None))
    if a.e2e:
        results["e2e_clone"] = e2e.clone_run()
    elif a.e2e_json:
        clones = [json.loads(path.read_text()) for path in a.e2e_json]
        results["e2e_clone"], results["e2e_clone_earlier"] = clones[-1], clones[:-1]
    results["total_bench_seconds"] = time.time() - started
    raw_path.write_text(json.dumps(results, indent=2))
    if results.get("scaling"):
        from benchmarks.scaling import plot

        plot(results["scaling"], PNG)
    DOC.write_text(render(results))
    print(f"[bench] wrote {DOC.relative_to(common.ROOT)} and {raw_path.relative_to(common.ROOT)}")


def _speedups(results: dict) -> dict | None:
    if "jobs" not in results:
        return None
    j = results["jobs"]
    return {"train": j["speedup_rl"], "eval": j["speedup_eval"], "baseline": j["speedup_eval"]}


def _f(x, nd=2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def render(r: dict) -> str:
    m = r["machine"]
    L = ["# Benchmarks", "",
         "Generated by `python -m benchmarks.run` (see `make bench`); do not edit by hand. Every number below",
         "comes from that run (`benchmarks/out/results.json`). Each measurement runs in its own child process",
         "with one intra-op thread (the pipeline's per-job setting); the sides of a comparison alternate round",
         "by round on the same machine, and the ratios are ratios of medians. Speeds are per CPU-second of the",
         "measured process (`time.process_time()`): on a shared machine a process's wall time depends on what",
         "else runs, its CPU time much less, and for one-thread work on an idle core the two are equal. Wall-clock",
         "figures are listed beside them.", "",
         f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, torch {m['torch']}, transformers "
         f"{m['transformers']}, TRL {m.get('trl')}; commit `{m.get('commit')}`; load average at start "
         f"{m['load_average_at_start']:.1f} (the machine is shared: absolute numbers are noisy, ratios less so).", ""]
    commits = {k: v.get("commit")[:7] for k, v in r.items()
               if isinstance(v, dict) and v.get("commit") and k != "machine"}
    if len(set(commits.values())) > 1:
        L += ["Parts measured at other commits (reused with `--reuse`): "
              + ", ".join(f"{k} `{c}`" for k, c in commits.items()) + ".", ""]
    L += ["## Summary", "", "| comparison | result | target |", "|---|---|---|"]
    s = r.get("sampling")
    if s:
        L.append(f"| sampling: ours vs `model.generate` (sequences per CPU-second) | "
                 f"**{s['ratio_ours_vs_generate']:.2f}x** "
                 f"(before issue 6: {s.get('ratio_ours_hf_vs_generate', float('nan')):.2f}x) | >= 3x (issue 18) |")
        if "ratio_ours_vs_vllm" in s:
            L.append(f"| sampling: ours vs vLLM's CPU build (sequences per CPU-second) | "
                     f"**{s['ratio_ours_vs_vllm']:.2f}x** ({s['wall_ratio_ours_vs_vllm']:.2f}x wall) | "
                     ">= 2x (issue 18) |")
        elif "vllm" in s.get("not_run", {}):
            L.append(f"| sampling: ours vs vLLM's CPU build | not run: {s['not_run']['vllm']} | >= 2x (issue 18) |")
    q = r.get("rl")
    if q:
        before = q.get("ratio_ours_before_vs_trl")
        L.append(f"| RL: ours vs TRL `GRPOTrainer` (optimizer steps per CPU-second) | "
                 f"**{q['ratio_ours_vs_trl']:.2f}x** (before issue 6: {_f(before)}x) | >= 10x (issue 6) |")
    pk = r.get("peak")
    for job, goal in (("pretrain", ">= 0.50 (issue 18)"), ("rl_step", ">= 0.50 (issue 18)"),
                      ("evaluate", "-"), ("large_k", "-")):
        if pk and job in pk.get("jobs", {}):
            L.append(f"| fraction of the machine's peak: {job} (`{pk['mode']}`, below) | "
                     f"**{pk['jobs'][job]['fraction_of_peak']:.2f}** | {goal} |")
    g = r.get("grading")
    if g:
        L.append(f"| grading: 2-process pool vs one process (answers/s) | {g['ratio_pool_vs_single']:.2f}x | - |")
    e = r.get("e2e_clone")
    if e:
        earlier = "".join(f"; commit `{c['commit'][:7]}`: {c['snakemake_s'] / 60:.1f} min"
                          for c in r.get("e2e_clone_earlier", []))
        L.append(f"| `snakemake results/table2.csv --cores all`, fresh clone, measured (commit `{e['commit'][:7]}`) | "
                 f"**{e['snakemake_s'] / 60:.1f} min** (+ {e['setup_s'] / 60:.1f} min setup{earlier}) | "
                 "<= 20 min with setup, 3 seeds (issue 18) |")
    est = r.get("e2e_estimate")
    if est and not e:  # a measured run replaces the estimate in the summary
        w = est.get("simulated_wall_s_with_speedup", est["simulated_wall_s"])
        L.append(f"| table2 jobs on 2 cores, estimated (below) | {w / 60:.1f} min (before: "
                 f"{est['simulated_wall_s'] / 60:.1f} min) | <= 20 min with setup, 3 seeds (issue 18) |")
    L.append("")
    if s:
        from benchmarks import sampling

        L += sampling.markdown(s)
    if q:
        st = q["settings"]
        L += ["## RL", "",
              f"{st['prompts']} prompts x {st['samples']} samples per optimizer step, {st['max_new_tokens']} "
              f"tokens per completion (end-of-sequence disabled), one update on all 128 completions, no KL, "
              f"no reference model, no old-log-prob forward, {st['threads']} thread; {st['warmup_steps']} warm-up "
              f"step then {st['timed_steps_per_round']} timed steps per round, {st['rounds']} rounds "
              "(`python -m benchmarks.rl`; TRL's settings are in that module's docstring).", "",
              "| side | CPU s / optimizer step | wall s / optimizer step | steps / CPU-s | peak RSS (MB) |",
              "|---|---|---|---|---|"]
        names = {"ours": "ours", "trl": "TRL `GRPOTrainer`",
                 "ours_before": f"ours before issue 6 (`{q.get('before_rev')}`)"}
        for k, v in q["sides"].items():
            L.append(f"| {names.get(k, k)} | {v['cpu_seconds_per_step']:.2f} | {v['seconds_per_step']:.2f} | "
                     f"{v['steps_per_cpu_s']:.3f} | {v['peak_rss_mb']:.0f} |")
        L.append("")
    if g:
        st = g["settings"]
        L += ["## Grading", "",
              f"{st['answers']} responses (both tasks; correct, wrong, malformed, garbage): extraction, verifier and "
              f"format check, as evaluation does per sample. Pool: `multiprocessing.Pool({st['workers']})`, chunks of "
              f"{st['chunk']}, start-up included (`python -m benchmarks.grading`). Wall clock (a pool's only gain is "
              "parallel wall time), so this comparison is as noisy as the machine.", "",
              "| side | answers/s | peak RSS (MB, parent) |", "|---|---|---|"]
        for k, v in g["sides"].items():
            L.append(f"| {k} | {v['answers_per_s']:.0f} | {v['peak_rss_mb']:.0f} |")
        L += ["", "Evaluation grades in its own process: an evaluation job grades 3,200 answers, a few hundredths "
              "of a second at these rates, while its sampling takes seconds, and on 2 cores both cores already run "
              "jobs. A pool does not pay here, so evaluation has none.", ""]
    j = r.get("jobs")
    if j:
        L += ["## Real jobs, before and after", "",
              f"The same job with this tree's `alignrl` and with commit `{j['before_rev']}`'s (before issue 6), "
              f"alternating, on the pretrained models of `{j['tree']}` (`python -m benchmarks.jobs`). `eval`: "
              "`evaluate()` of a base model on 200 test problems x 16 samples; `rl`: `train()` with the "
              f"config's `training:` settings, ground-truth reward, seconds per step over {j['rl_steps']} steps.", "",
              "| job | unit | before | after | speed-up | wall before / after (s) | peak RSS before / after (MB) |",
              "|---|---|---|---|---|---|---|"]
        for k, v in j["jobs"].items():
            L.append(f"| {k} | {v['unit']} | {v['before']:.2f} | {v['after']:.2f} | {v['speedup']:.2f}x | "
                     f"{v['wall_before']:.2f} / {v['wall_after']:.2f} | "
                     f"{v['peak_rss_mb_before']:.0f} / {v['peak_rss_mb_after']:.0f} |")
        checks = [(k, v) for k, v in j["jobs"].items() if "result_before" in v]
        if checks:
            L += ["", "Same science: what each job computed, before / after (evaluation: pass@1; RL: training accuracy "
                  "per step):", ""]
            for k, v in checks:
                fmt = (lambda x: f"{x:.6f}") if not isinstance(v["result_before"], list) else (
                    lambda x: ", ".join(f"{a:.4f}" for a in x))
                L.append(f"- {k}: {fmt(v['result_before'])} / {fmt(v['result_after'])}")
        L.append("")
    if est:
        L += ["## End to end", "",
              f"Per-step job times of the results tree `{est['tree']}` (Snakemake `benchmark:` files; table-2 jobs "
              "only), and the wall time of those jobs on 2 one-thread slots, simulated with the workflow's "
              "dependencies (`python -m benchmarks.e2e summarize`); 'after' divides each job type's time by the "
              "speed-up measured above (pretraining unchanged). Setup (`make setup`, ~1 min) comes on top.", "",
              "| step | jobs | sum (s) | longest (s) | peak RSS (MB) | sum after (s) |", "|---|---|---|---|---|---|"]
        sp = est.get("speedup") or {}
        for k, v in est["steps"].items():
            L.append(f"| {k} | {v['jobs']} | {v['sum_s']:.0f} | {v['max_s']:.0f} | {v['peak_rss_mb']:.0f} | "
                     f"{v['sum_s'] / sp.get(k, 1.0):.0f} |")
        L += ["", f"Simulated wall on 2 cores: **{est['simulated_wall_s'] / 60:.1f} min** with the measured job "
              f"times, **{est.get('simulated_wall_s_with_speedup', est['simulated_wall_s']) / 60:.1f} min** after "
              "this issue's speed-ups.", ""]
    if e:
        L += ["### Timed fresh clones", "",
              "`python -m benchmarks.e2e clone`: a fresh clone of the commit, `make setup` (timed on its own), then "
              "`snakemake results/table2.csv --cores all`, timed; per step the jobs' wall seconds from their "
              "`benchmark:` files and their peak RSS (for a job the job server forked, the RSS the job reported "
              "in its log).", ""]
        for clone in [*r.get("e2e_clone_earlier", []), e]:
            ss = clone["summary"]
            L += [f"Commit `{clone['commit'][:7]}`: setup {clone['setup_s']:.0f} s, `snakemake results/table2.csv "
                  f"--cores all` **{clone['snakemake_s']:.0f} s ({clone['snakemake_s'] / 60:.1f} min)**; "
                  f"{ss['jobs']} jobs, {ss['sum_s']:.0f} job-seconds.", "",
                  "| step | jobs | sum (s) | mean (s) | longest (s) | peak RSS (MB) |", "|---|---|---|---|---|---|"]
            for k, v in ss["steps"].items():
                L.append(f"| {k} | {v['jobs']} | {v['sum_s']:.0f} | {v['mean_s']:.1f} | {v['max_s']:.0f} | "
                         f"{v['peak_rss_mb']:.0f} |")
            L.append("")
    if r.get("numerics"):
        from benchmarks import numerics

        L += numerics.markdown(r["numerics"])
    if r.get("peak"):
        from benchmarks import peak

        L += peak.markdown(r["peak"])
    if r.get("trl_crosscheck"):
        from benchmarks import trl_crosscheck

        L += trl_crosscheck.markdown(r["trl_crosscheck"])
    c = r.get("scaling")
    if c:
        L += ["## Scaling", "", "![scaling](benchmarks_scaling.png)", "",
              "CPU seconds. Model size (4 layers, 4 heads, MLP 3x hidden; sampling 16 x 16 rows x 64 tokens; one "
              "RL step of 16 x 8 completions):", "",
              "| hidden | parameters (M) | sampling (s) | RL step (s) | peak RSS (MB) |",
              "|---|---|---|---|---|"]
        for x in c["model_size"]:
            L.append(f"| {x['hidden']} | {x['params_m']} | {x['sample_s']:.2f} | {x['rl_step_s']:.2f} | "
                     f"{x['peak_rss_mb']:.0f} |")
        L += ["", "Samples per problem (16 problems, 64 tokens, default model):", "",
              "| n | rows | sampling (s) | peak RSS (MB) |", "|---|---|---|---|"]
        for x in c["samples_per_problem"]:
            L.append(f"| {x['n']} | {x['rows']} | {x['sample_s']:.2f} | {x['peak_rss_mb']:.0f} |")
        if c.get("claims"):
            L += ["", "Number of claims (x 2 models x 2 tasks, one seed; simulated 2-core wall of the table's jobs):",
                  "", "| claims | RL runs | wall, measured job times (min) | wall, after speed-ups (min) |",
                  "|---|---|---|---|"]
            for x in c["claims"]:
                L.append(f"| {x['claims']} | {x['runs']} | {x['wall_s_measured_jobs'] / 60:.1f} | "
                         f"{_f(x['wall_s_with_speedup'] and x['wall_s_with_speedup'] / 60, 1)} |")
        L.append("")
    notes = common.ROOT / "benchmarks" / "NOTES.md"
    if notes.exists():
        L += [notes.read_text().rstrip(), ""]
    L.append(f"_Benchmark run took {r.get('total_bench_seconds', 0) / 60:.0f} min._")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
