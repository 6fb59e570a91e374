"""What a bench will run, from user input (CLI flags or UI fields): the checked prompt set and the variants.

Errors are ValueErrors whose message says what is wrong and what is allowed; the CLI turns them into exit 2,
the UI into gr.Error.

Example:
    prompts = resolve_prompts(preset, prompt_set="held-out", count=50)
    variants, sweep = plan_variants(preset, ["teacache"], ["threshold=0.05,0.1,0.2"])
"""

from __future__ import annotations

from pathlib import Path

from studio.bench.prompts import (
    PromptFileError,
    PromptSet,
    builtin_prompt_set,
    load_hub_prompts,
    load_prompt_file,
    validate_for_preset,
)
from studio.bench.sweep import SweepPlan, expand_sweep, parse_sweep
from studio.presets import Preset
from studio.variant import Variant, one_per_recipe

MAX_VARIANTS = 16
MAX_SWEEP_VARIANTS = 32
DEFAULT_COUNT = 50


def bench_variants(preset: Preset, names: list[str] | list[Variant]) -> list[Variant]:
    """The variants to run, baseline first (added if missing), one per slug."""
    variants = [preset.variant(n) if isinstance(n, str) else n for n in names]
    base = next((v for v in variants if v.kind(preset.steps) == "baseline"), preset.variants["baseline"])
    return one_per_recipe([base, *variants])



class PlanError(ValueError):
    """A bench that cannot be planned; the message says what is allowed."""


def resolve_prompts(preset: Preset, prompts: str | Path | None = None, prompt_set: str | None = None,
                    count: int | None = None, seed: int = 0, column: str = "prompt") -> PromptSet:
    """A prompts file (or 'hf:OWNER/NAME'), else a built-in set (default 'held-out'); first `count`, checked."""
    if prompts and prompt_set:
        raise PlanError("give a prompts file or a built-in prompt set, not both")
    if prompts and str(prompts).startswith("hf:"):
        found = load_hub_prompts(str(prompts)[3:], column, seed)
    elif prompts:
        found = load_prompt_file(Path(prompts), seed, column)
    elif preset.pipeline != "tiny":
        raise PromptFileError(f"preset '{preset.name}' has no built-in prompt sets; give a prompts file "
                              f"(.txt, .csv, .tsv, .jsonl)")
    else:
        found = builtin_prompt_set(preset, prompt_set or "held-out", count or DEFAULT_COUNT, seed)
    found = found.head(count)
    validate_for_preset(found, preset)
    return found


def plan_variants(preset: Preset, names: list[str], sweeps: list[str] | None = None
                  ) -> tuple[list[Variant], SweepPlan | None]:
    """(variants to run with the baseline first, the sweep plan or None). Names are variant names or slugs."""
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise PlanError(f"no variants chosen; preset '{preset.name}' defines: {', '.join(preset.variants)}")
    listed = bench_variants(preset, names)
    if not sweeps:
        if len(listed) > MAX_VARIANTS:
            raise PlanError(f"{len(listed)} variants chosen; at most {MAX_VARIANTS} per bench")
        return listed, None
    if len(sweeps) > 2:
        raise PlanError(f"{len(sweeps)} sweep axes given; at most two (an X and a Y axis)")
    bases = listed[1:] or listed[:1]  # sweep the chosen variants; with none but the baseline, a copy of it
    plan = expand_sweep(bases, [parse_sweep(s) for s in sweeps])
    variants = bench_variants(preset, [listed[0], *plan.variants])
    if len(variants) - 1 > MAX_SWEEP_VARIANTS:
        raise PlanError(f"the sweep makes {len(variants) - 1} variants; at most {MAX_SWEEP_VARIANTS} "
                        f"(use fewer values or variants)")
    return variants, plan
