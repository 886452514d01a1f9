"""The scan engine: ``runner.run(config) -> Report`` and the parts it is made of.

``config`` (what a scan needs to know), ``loop`` (the batch loop), ``contract`` (raw units,
normalisation, deployed dtype), ``sanity`` (fail-closed checks), ``fidelity`` (twin vs runtime),
``results``/``sections``/``examples`` (report pieces), ``checkpoint`` (resumable scans) and
``isolation`` (the child process). Nothing heavy is imported here, so the CLI can read
``robustcheck.scan.config`` without loading torch.
"""
