"""``python -m bench [--quick] [--only B1,B3]``: run the benchmarks, print the markdown table and
write ``bench-results/bench.json``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.harness import Bench, Sizes, machine, report
from bench.workloads import (
    async_infer,
    capacity,
    concurrent,
    experiments,
    inserts,
    keyed,
    peer,
    queue,
    shared_state,
    state,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 run (CI smoke)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated ids, e.g. B1,B4 (P: the Motion peer rows, P3: its freshness row alone; C: the capacity rows)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument("--full", action="store_true", help="also the largest sizes (B9: 1M keys)")
    args = parser.parse_args(argv)
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    started = time.perf_counter()
    bench = Bench(Sizes.make(args.quick))
    extra: dict[str, Any] = {}
    try:
        bench.start()
        info = machine(bench)
        inserts.setup(bench)
        concurrent.setup(bench)
        b1: dict[str, Any] = {}
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("B1", lambda: b1.update(inserts.b1_b2(bench))),
            ("B3", lambda: concurrent.b3(bench)),
            ("B4", lambda: inserts.b4(bench)),
            ("B5", lambda: queue.b5(bench)),
            ("B6", lambda: queue.b6(bench)),
            ("B7", lambda: (state.b7(bench), shared_state.b7m(bench))),
            ("B8", lambda: (inserts.b8_rows(bench, b1), queue.b8_claim(bench))),
            ("A1", lambda: async_infer.a1(bench)),
            ("P", lambda: peer.peer(bench)),  # Motion side by side (P1-P4)
            ("P3", lambda: peer.p3(bench)),  # P3 alone: only when asked for by name
            ("B9", lambda: keyed.b9(bench, full=args.full)),
            ("E1", lambda: experiments.e1(bench)),
            ("C", lambda: capacity.capacity(bench, only)),  # capacity model (C1-C4)
        ]
        for step, run in steps:
            wanted = step in only or (step == "B1" and "B2" in only)
            if step == "P3" and not wanted:
                continue
            if only and not wanted and not (step == "C" and any(o[:1] == "C" for o in only)):
                continue
            t = time.perf_counter()
            run()
            print(f"[bench] {step} done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        if not args.no_profile and (not only or "B1" in only):
            extra["profile_motion_infer"] = inserts.profile(bench)
        text = report(bench, info, time.perf_counter() - started, extra)
    finally:
        bench.close()
    print(text)
    if "profile_motion_infer" in extra:
        print("cProfile of the motion infer path inside the backend (top by own time):\n")
        print(extra["profile_motion_infer"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
