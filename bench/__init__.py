"""The benchmarks (`make bench`, `make bench-restore`, `make bench-accounts`, `make bench-live`)."""
