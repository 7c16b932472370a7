"""Where batches run. Each backend adapts one kind of executor; none knows its caller.

- `base`: the small interface the dispatcher sees (`Backend`), and facts about executors
- `threads` (+ `threadpool`): threads of this process, a caller's `ThreadPoolExecutor` too
- `processes` (+ `pool`, `warm`, `context`, `shipping`): worker processes started clean,
  kept warm between calls, a dead or hung worker costing its item only; a caller's
  process executor too
- `eventloop`: coroutine functions on an asyncio loop
- `dask`: tasks on a Dask cluster, through the caller's ``distributed.Client``

A new backend is one module here implementing `base.Backend`, and one branch in
`parmap._run.backend.open_backend`.
"""
