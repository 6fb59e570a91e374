"""Benchmarks on many prompts: prompt sets, durable runs, aggregates, Pareto front, recommendation, reports.

Engine-side (never imports gradio). The pieces, in data-flow order:
    prompts.py   built-in sets and prompt files, checked       -> PromptSet
    sweep.py     one or two parameter axes                     -> variants
    runner.py    one Engine, one durable row per result        -> bench.jsonl
    aggregate.py per-variant figures; pareto.py front + recommendation
    outputs.py   summary.json/.csv, results.csv, report.html, recommended.py, grid.png, pareto.png
    job.py       a bench in a background thread with progress and cancel (for the UI)
"""
