"""``docbox bench …``: benchmarks that print their figures and a ratio to a same-run baseline."""
