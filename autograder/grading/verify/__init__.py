"""Scores the student cannot forge: the export cell the kernel runs, the exported values read
back as plain data, the networks evaluated with NumPy, the recorded curves, and the clean check
that runs every test in a fresh process."""
