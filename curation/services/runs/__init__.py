"""Training runs, one module per step and kind.

- options: coercion and limits of run options (one copy for both kinds)
- classifier_start / similarity_start: validate options, snapshot inputs, queue (web process)
- control: queue, cancel, promote, resume runs whose worker died
- execute: the task's body: claim the run and hand it to its kind's worker
- worker: what both workers share (claim, heartbeat, progress reporter, finish)
- classifier_worker / similarity_worker: collect → compute (mlcore) → persist
"""
