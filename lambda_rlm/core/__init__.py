"""The core: source spans, the one error hierarchy, types, values, the combinator registry; imports nothing of ours."""

VERSION = "0.1.0"  # lambda_rlm.__version__; kept here so that lower layers need not import the package facade
