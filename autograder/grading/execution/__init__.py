"""One grading, run: the steps of the pipeline (shared with the zip's otter plugin), the kernel
stage as otter's process in the sandbox under a supervisor, and the check that this machine can
grade at all."""
