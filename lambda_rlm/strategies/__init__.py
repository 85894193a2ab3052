"""Ways to answer a question about a document: a task plan, program search over plans, graphs of sub-problems."""
