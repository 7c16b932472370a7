"""The worker side: running one batch and capturing each item, in a thread or a worker process.

A worker process loads this package (`process` and what it imports) and, to be
started, the clean-start process class of `parmap._backends.context`; never the
parent's run machinery. Nothing here imports upward.

- `records`: what a batch produces (`BatchResult`, `Failure`, `LostItem`), `describe`
- `batch`: `run_batch`, the per-item loop with retries, pacing and progress reports
- `transport`: a batch result as bytes and back; a value that cannot travel fails alone
- `process`: a process worker's setup and entry point (`install`, `run_shipped_batch`)
- `pickling`: how `fn` is pickled, keeping where code sent by value came from
- `rate`: the shared schedule of starts behind ``rate=``
"""
