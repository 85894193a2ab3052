"""What `ask --explain` prints: takes a chosen plan (a Choice), gives its task, plan, τ, k, reading and bound."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambda_rlm.models.profiles import profile

if TYPE_CHECKING:
    from .plan import Choice


def _dollars(choice: Choice) -> str:
    from lambda_rlm.runtime.session import worst_cost_usd

    worst = worst_cost_usd(choice.bound, choice.config)
    return (f"cost ≤ ${worst:,.4f} at litellm's prices for {choice.config.model}" if worst > 0
            else f"cost: no price known for {choice.config.model} (a local or unpriced model)")


def _profile_named(model: str, cap: int) -> str:
    """Which profile set a cap of `cap` records: the model's, with how it was measured, or the run's own setting."""
    found = profile(model)
    if found is None or found.label_records != cap:
        return "the run's max_leaf_records"
    return f"the profile of {model}: {found.measured}" if found.measured else f"the profile of {model}"


def explain(choice: Choice) -> str:
    """The chosen task, the plan's source, τ, k and the bound, as printed by `ask --explain`."""
    b = choice.bound
    part = (f"τ = {b.tau:,}, k = {b.k:,}" if b.tau is not None and b.k is not None
            else "τ, k: not used (the document is read in one call)" if b.batch is None else "τ, k: not used")
    if b.tau is not None and choice.config.leaves.max_tokens is not None:
        part += f"    (leaves capped at {choice.config.leaves.max_tokens:,} tokens)"
    if b.batch is not None:
        cap = choice.config.leaves.max_records
        part += (f"\nrecords per labelling leaf: {b.batch:,}"
                 + (f" (capped at {cap:,} by {_profile_named(choice.config.model, cap)})"
                    if cap is not None and b.batch == cap else ""))
        if choice.program.uses("votes") and (choice.config.leaves.votes or 1) > 1:
            part += (f"\nsamples per labelling leaf: {choice.config.leaves.votes}"
                     " (the model's profile; majority per record)")
    if choice.program.uses("scan") and b.k:
        wave = max(1, min(choice.config.llm.concurrency, b.k))
        part += (f"\nreading: the pieces most relevant to the question first, the best one alone, then {wave} at a "
                 f"time, stopping after the first wave that answers: from 1 piece to all of them (at most {b.k:,}, "
                 "the bound's worst case)")
    return "\n".join([
        f"task: {choice.task} ({choice.note})",
        f"plan: {choice.plan}    main : {choice.program.type}",
        f"document: {b.input_tokens:,} tokens, window {b.window:,}, output ≤ {b.max_output_tokens:,} tokens per call",
        part,
        f"bound: calls ≤ {b.calls:,}    depth ≤ {b.depth}    prompt ≤ {b.max_prompt_tokens:,} tokens per call, "
        f"≤ {b.total_prompt_tokens:,} in total",
        _dollars(choice),
        f"--- <plan>/{choice.plan}.lam",
        choice.source.rstrip("\n"),
    ])
