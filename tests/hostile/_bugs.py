"""Known robustcheck bugs the hostile suite exposes, one place for all of them.

Each is the ``reason`` of a strict xfail: when a bug is fixed its case starts passing, the strict
xfail fails, and the ``bug=`` of the case is removed.
"""

from __future__ import annotations

VALIDATION_IS_INTERNAL = (
    "robustcheck/cli/scan.py scan(): ScanConfig(...) raises pydantic.ValidationError for values "
    "click accepted (click.FloatRange lets nan and inf through; a reversed --input-range; --std 0), "
    "and main() reports it as 'internal error: ValidationError ...' with exit 6; map it to a "
    "one-line usage error naming the flag, exit 2 (and reject non-finite floats in the option types)"
)
SYMLINK_LOOP = (
    "robustcheck/cli/_outputs.py ReportTargets.check_not_inputs(): Path.resolve() raises "
    "RuntimeError('Symlink loop from ...') when an input path is a symlink loop (Python 3.11), "
    "reported as 'internal error' exit 6; catch (OSError, RuntimeError) there (or compare "
    "os.path.realpath) so the loader reports the unreadable model, exit 3"
)
EXTERNAL_OFFSET_NOT_INT = (
    "robustcheck/backends/onnx/model_file.py external_refs(): int() of an external-data offset "
    "or length that is not a decimal integer ('0x10') raises ValueError, which escapes read_onnx() "
    "(even without --allow-external-data) and crashes the scan: exit 6; raise ModelError naming "
    "the model and the entry instead, exit 3"
)
SHAPE_CRASH = (
    "robustcheck/backends/torch_program.py TorchProgramBackend._forward(): a RuntimeError raised "
    "by the module (data of the wrong shape for a TorchScript model, which declares no input "
    "shape) escapes as a crash of the scan: exit 6 with the whole TorchScript traceback folded "
    "into the one line; wrap self._module(x) and raise ModelError('<model>: the model failed on "
    "a batch of shape [...] (<last line of the error>)'), exit 3"
)
HASH_BEFORE_SIZE = (
    "robustcheck/backends/loader.py load_backend(): file_sha256() reads the whole model before "
    "read_onnx() compares its size with MAX_MODEL_BYTES, so a 1 TiB sparse .onnx is hashed until "
    "--timeout stops it (exit 5, after the timeout) instead of being refused at once from its "
    "size (exit 3); check st_size against MAX_MODEL_BYTES for ONNX in check_model_file(), "
    "before hashing"
)
REPORT_OVERWRITES_INPUT = (
    "robustcheck/cli/scan.py run_and_report(): check_not_inputs() is given only the model, the "
    "data and the checkpoint, so a report flag naming the --policy, --baseline or --labels-file "
    "file overwrites it with the stub (the user's file is destroyed) and the scan goes on; add "
    "those paths to the inputs checked, exit 2"
)
STEP_SUMMARY_AFTER_REPORTS = (
    "robustcheck/cli/scan.py run_and_report(): targets.write(report) runs before "
    "append_step_summary(); when $GITHUB_STEP_SUMMARY cannot be appended the run exits 5 but the "
    "JSON report already says complete: true, verdict: pass, exit_code: 0; append the summary "
    "before writing the final reports (or rewrite the stubs with the error when it fails)"
)
CHECKPOINT_NOT_REGULAR = (
    "robustcheck/checkpoint.py Checkpoint.open(): an existing --checkpoint path is read with "
    "Path.read_bytes() without checking that it is a regular file: a FIFO blocks the scan until "
    "--timeout (exit 5) and /dev/zero reads until memory runs out; refuse anything but a regular "
    "file (open with O_NOFOLLOW|O_NONBLOCK and fstat, as data/_files.open_regular does), exit 3"
)
ORPHANED_SCAN = (
    "robustcheck/isolation.py run_isolated(): a SIGTERM/SIGINT that arrives while "
    "process.start() waits for the forkserver (which preloads torch for ~2 s right after the "
    "report stubs are written) ends the CLI with 143/130, but the forkserver still forks the "
    "scan: it runs the model with no --timeout, orphaned, holding the caller's stdout/stderr "
    "open; give the child a watchdog that exits when the parent's end of a pipe closes (or "
    "prctl(PR_SET_PDEATHSIG) in the child) and start the process inside the try/finally"
)
