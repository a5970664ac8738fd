"""A writer process for the concurrency and crash tests (run as a script).

usage: appender.py HOME DATABASE_URL WORKER COUNT THREADS
Prints the index of every append after it returned (durable), one per line.
"""

from __future__ import annotations

import sys
import threading

from tether import Settings, Tether


def main() -> None:
    home, url, worker, count, threads = sys.argv[1:6]
    settings = Settings(home=home, database_url=url, checkpoint_every=2000)
    t = Tether.open(settings)
    per_thread = int(count) // int(threads)
    out_lock = threading.Lock()

    def run(thread: int) -> None:
        for i in range(per_thread):
            payload = {"worker": int(worker), "thread": thread, "i": i, "pad": "x" * 200}
            entry = t.ledger.append("decision", f"svc:w{worker}", payload)
            with out_lock:
                sys.stdout.write(f"{entry.index} {worker} {thread} {i}\n")
                sys.stdout.flush()

    pool = [threading.Thread(target=run, args=(n,)) for n in range(int(threads))]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    t.close()


if __name__ == "__main__":
    main()
