"""`ask`: takes a question and a document, gives an answer from the plan strategy or from program search.

This is the one entry that chooses between the strategies, so neither of them imports the other's
caller (`search` builds on `plan`; `ask` sits above both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambda_rlm.models.backend import run_sync

from .plan import AskResult, Listener, achoose, arun_choice, resolve_config
from .search import asearch

if TYPE_CHECKING:
    from lambda_rlm.runtime.session import Config


async def aask(question: str, document: str, config: Config | None = None, task: str | None = None,
               on_event: Listener | None = None, *, model: str | None = None,
               direct: bool | None = None, search: int | None = None) -> AskResult:
    """Answer `question` about `document`: choose the task and plan, bound it, run it.

    `search=K` runs K candidate programs instead and chooses among them (strategies/search.py);
    the result is then a `SearchResult`, which carries every candidate.
    """
    from lambda_rlm.runtime.session import Session

    config = resolve_config(config, model)
    with Session(config) as session:  # the menu call and the runs after it share one budget
        if search:
            return await asearch(question, document, config, search, task, on_event, direct, session)
        choice = await achoose(question, document, config, task, on_event, direct=direct, session=session)
        return await arun_choice(choice, question, document, on_event, session)


def ask(question: str, document: str, config: Config | None = None, task: str | None = None,
        on_event: Listener | None = None, *, model: str | None = None, direct: bool | None = None,
        search: int | None = None) -> AskResult:
    """The sync form of `aask`."""
    return run_sync(aask(question, document, config, task, on_event, model=model, direct=direct, search=search))
