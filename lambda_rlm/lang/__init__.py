"""The language: grammar, syntax tree, parser (the only module that knows Lark), printer and type checker."""
