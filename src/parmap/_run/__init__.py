"""A run, from checked options to finished batches: options, plan, batching, dispatch, collect."""
