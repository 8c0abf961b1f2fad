"""The grader: the intake of submissions, which release grades each, the batch engine, one
grading run (sandboxed kernel stage, then the clean check) and the durable ledger."""
