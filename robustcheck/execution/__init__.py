"""Where a scan runs, around the engine (robustcheck.engine): in this process (``local``,
resuming from a ``checkpoint``), in a supervised child process (``isolation``: timeout, memory cap,
crashes as exit codes), as shards merged exactly (``shards``), or as Ray tasks (``ray_executor``).
The engine never imports this package. Nothing heavy is imported here."""
