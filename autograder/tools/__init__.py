"""Developer tools: benchmarks, measurements, the demo and its sample submissions.
Nothing in the package imports them; only the CLI dispatches to them."""
