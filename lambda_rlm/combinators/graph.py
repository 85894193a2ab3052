"""The `graph` combinator (AGoT): registration of lambda_rlm/graph.py, which holds its evaluation and bound."""

from __future__ import annotations

from typing import Any

from lambda_rlm.core.registry import combinator
from lambda_rlm.core.values import Record
from lambda_rlm.strategies import graph as agot


@combinator("graph : {depth : Int, layers : Int, nodes : Int} -> Text -> Text -> Text", abstract=agot.abstract)
async def graph(limits: Record, question: str, context: str, *, ctx: Any) -> str:
    """An adaptive graph of sub-problems answering `question` over `context` (README, "Graphs of sub-problems").

    Up to `layers` layers of at most `nodes` sub-problems each, proposed by the model with their
    dependencies; a sub-problem judged complex becomes a nested graph while the nesting is below
    `depth`; a final call answers from the sub-problems' answers.
    """
    return await agot.run(limits, question, context, ctx)
