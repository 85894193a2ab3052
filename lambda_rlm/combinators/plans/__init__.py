"""Task plans: one .lam program per task type of `lambda-rlm ask`, shipped with the package and checked when loaded."""
