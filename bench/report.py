"""The Markdown table `vigil bench` writes beside its JSON."""

from __future__ import annotations

from typing import Any

from bench.process_stats import CPU_PARTS


def markdown(result: dict[str, Any]) -> str:
    lat = result["latency"]
    lines = [
        f"Machine: {result['machine']}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| raw ceiling (ONNX alone, no repeats) | {result['raw_ceiling_msgs_per_s']} msgs/s |",
        f"| naive transformers pipeline() | {result['naive_msgs_per_s']} msgs/s |",
        f"| end to end, corpus without repeats | {result['e2e_unique_msgs_per_s']} msgs/s |",
        f"| end to end, realistic corpus | {result['e2e_msgs_per_s']} msgs/s |",
        f"| e2e (no repeats) / raw ceiling | {result['ratios']['e2e_unique_over_ceiling']} |",
        f"| e2e (realistic) / raw ceiling | {result['ratios']['e2e_over_ceiling']} |",
        f"| e2e (realistic) / naive | {result['ratios']['e2e_over_naive']} |",
        *(
            f"| latency at {k} msgs/s (p50 / p95 / p99; p99 with the step's first 5 s) "
            f"| {v['p50_ms']} / {v['p95_ms']} / {v['p99_ms']} ms; "
            f"{v.get('p99_ms_with_step_start', '–')} ms |"
            for k, v in lat.items()
        ),
        f"| p99 at 50 % of e2e | {result['p99_ms_at_50pct']} ms |",
        f"| policy share of per-message time | {result['stages']['policy_share']} |",
        f"| score cache hit rate (realistic) | {result['stages']['score_cache_hit_rate']} |",
        f"| idle worker, cores busy (worker + model process) | {result['idle_cpu_cores']} |",
        *(
            f"| cores busy, {name} backlog (worker loop / model process / machine) | "
            + " / ".join(str(result[key].get(k, "–")) for k in CPU_PARTS)
            + f"; worker CPU {result[f'worker_cpu_ms_per_msg{suffix}']} ms per message |"
            for name, key, suffix in (
                ("realistic", "cpu_cores", ""),
                ("no-repeat", "cpu_cores_unique", "_unique"),
            )
        ),
        "| worker RSS start / peak / end | "
        + " / ".join(str(result["rss"][k]) for k in ("start_mib", "peak_mib", "end_mib"))
        + " MiB |",
        "",
        "| stage | µs per message |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in result["stages"]["us_per_msg"].items()),
    ]
    if "scale_out" in result:
        so = result["scale_out"]
        lines += [
            "",
            f"Scale-out (4 partitions, same cores): 1 worker {so['workers_1_msgs_per_s']} msgs/s, "
            f"2 workers {so['workers_2_msgs_per_s']} msgs/s, ratio {so['scaling_ratio']}",
        ]
    if "soak" in result:
        s = result["soak"]
        lines += [
            "",
            f"Soak: {s['messages']} messages at {s['msgs_per_s']} msgs/s; "
            f"RSS growth after warm-up {s['rss_growth_after_warmup']}",
        ]
    return "\n".join(lines) + "\n"
