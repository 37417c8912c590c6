"""A progress line for long commands: a bar redrawn in place on a terminal, plain lines
(at the start, every tenth and at the end) when the output is a file or a pipe."""

WIDTH = 30


class Progress:
    def __init__(self, write, *, terminal: bool):
        self.write = write  # writes its text as it is, without adding a line ending
        self.terminal = terminal
        self._last_tenth: dict[str, int] = {}

    def show(self, label: str, done: int, total: int, detail: str = "") -> None:
        """`label [#####-----] done/total — detail`; the line ends once done reaches total."""
        total = max(total, 1)
        counts = f"{done}/{total}" + (f" — {detail}" if detail else "")
        if self.terminal:
            filled = WIDTH * min(done, total) // total
            bar = "#" * filled + "-" * (WIDTH - filled)
            self.write(f"\r{label} [{bar}] {counts}" + ("\n" if done >= total else ""))
            return
        tenth = 10 * min(done, total) // total
        if self._last_tenth.get(label) != tenth:
            self._last_tenth[label] = tenth
            self.write(f"{label} {counts}\n")
