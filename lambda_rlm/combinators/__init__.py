"""The standard library of lambda-rlm: Python combinators (core.py) and derived ones written in the language (*.lam)."""

# Python modules whose decorated functions form the primitives, in load order.
MODULES = ("core", "evidence", "code", "search", "graph")
