"""`python -m bench`: side-by-side benchmarks of motion_pg against hand-written baselines."""
