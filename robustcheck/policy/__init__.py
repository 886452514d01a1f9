"""ε-budget policies.

``schema`` (the pydantic models), ``load`` (files, ``extends``, built-ins, located errors) and
``evaluate`` (pure judging of results into checks and a verdict).
"""
