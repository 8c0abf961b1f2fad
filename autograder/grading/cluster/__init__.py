"""Where gradings run: Dask, embedded on this machine by default, or a cluster.

``grade`` submits each submission's grading as one Dask task (``task.grade_task``). The task
carries the notebook's and the autograder's bytes, so a worker needs no shared file system; it
returns the ``Record`` and only the coordinator, the machine that ran ``grade``, writes the ledger.

- ``coordinator``: the coordinator's session: the embedded ``LocalCluster`` (the default), an
  existing scheduler (``--scheduler``) or a job queue (``--cluster``), and the run's stop signal;
- ``jobqueue``: ``--cluster slurm|pbs|sge|htcondor`` through dask-jobqueue: the job script, the
  jobs held at ``--jobs``, the wait for a first worker and what the batch system said;
- ``task``: what a worker runs for one submission;
- ``worker``: ``python -m autograder worker``, its preflight, its grading folder;
- ``fingerprint``: the versions a worker must share with the coordinator to get its tasks.
"""
