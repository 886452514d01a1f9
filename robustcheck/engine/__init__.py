"""The scan engine: ``runner.run(config) -> Report`` and the parts it is made of.

``config`` and ``resolve`` (what a scan runs on: its settings with the policy merged in), ``loop``
(the batch loop) over ``tally`` (what it plans and counts), ``contract`` (raw units,
normalisation, deployed dtype), ``sanity`` (fail-closed checks), ``fidelity`` (twin vs runtime),
``validity`` (could the attack explain the numbers?), ``results``/``sections``/``examples``
(report pieces) and ``state`` (a batch's tally as a checkpoint record). Where a scan runs — in this
process, a supervised child, shards or Ray — is robustcheck.execution's business; the engine never
imports it. Nothing heavy is imported here, so the CLI can read ``robustcheck.engine.config``
without loading torch.
"""
