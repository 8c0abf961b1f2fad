"""The instructor's side: version files, rendering the master, building, gating and publishing
a release, per-student variants. May use ``grading`` (the gate grades); never the reverse."""
