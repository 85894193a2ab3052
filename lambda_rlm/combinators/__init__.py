"""The standard library: Python combinators (text, core, recursion, …) and derived ones in the language (*.lam)."""

# Python modules whose decorated functions form the primitives, in load order.
MODULES = ("text", "core", "recursion", "records", "choices", "evidence", "code", "search", "votes", "reading",
           "graph")
