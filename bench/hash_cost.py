"""Prints the CPU time of one password hash for each scheme with the configured parameters.

Run: .venv/bin/python bench/hash_cost.py [--runs N]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "octopus_mail.settings")

import django  # noqa: E402

django.setup()

from provisioning import passwords  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    password = passwords.generate()
    print(f"password entropy: {passwords.ENTROPY_BITS:.1f} bits; {runs} runs per scheme")
    for scheme in passwords.SCHEMES:
        passwords.hash_password(password, scheme=scheme)  # load the backend first
        cpu = []
        for _ in range(runs):
            start = time.process_time()
            stored = passwords.hash_password(password, scheme=scheme)
            cpu.append(time.process_time() - start)
        assert passwords.verify(password, stored)
        print(
            f"{scheme:13} median {statistics.median(cpu) * 1000:8.2f} ms CPU  "
            f"max {max(cpu) * 1000:8.2f} ms  ({len(stored)} characters stored)"
        )


if __name__ == "__main__":
    main()
