"""What a run reports: per item, per batch, for the whole run, and as it goes.

- `items`: `ItemError` (one failed item) and `Outcome` (one item, as `imap` yields it)
- `batches`: `Completed`, a finished batch as the dispatcher hands it on
- `summary`: `Summary`, the whole run, and its renderings (text, repr, notebook HTML)
- `progress`: the ``progress=True`` bar

Used by every layer above `parmap._worker`; they use nothing above themselves.
"""
