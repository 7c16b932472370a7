"""``checkpoint=PATH``: the SQLite journal of finished items, and whom it trusts.

- `journal`: `Journal` (open, check, restore, record), `Restored`, `check_journal`
- `identity`: an item's stable identity across runs and processes
- `writer`: the thread that writes and commits a journal's rows
- `trust`: the user's secret key, and files only the user controls
"""
