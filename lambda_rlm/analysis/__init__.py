"""Static analysis of a checked program: abstract domain, typed holes, cost bound, partition rule, and `compile`.

`program.compile` ties the front end together: parse, check, prove termination and bound.
"""
