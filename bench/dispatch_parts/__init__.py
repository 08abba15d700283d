"""The parts of bench/dispatch.py, one module per concern.

bench/dispatch.py is the entry point and parses the options; it puts bench/ on
sys.path (a script's own folder is there already), so these modules import
each other as `dispatch_parts.<name>` and the shared helpers as `_common`.
Nothing here runs on import.

- probes: CPU from /proc, PostgreSQL's counters, the pg_stat_activity sampler,
  and the worker's statement counts (written by worker_probe in each pool process)
- data: the bench workspace, its identities and actions, one phase's figures
- processes: the Celery worker, celery beat, the SMTP sink, Redis
- report: the tables every scenario prints
- noop, smtp, lag: the three scenarios
- worker_probe: imported into the Celery worker with `-I`
- smtp_sink: the SMTP server, run as a process of its own
"""
