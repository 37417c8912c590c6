// Follows a confirmed import's page (memberimport/_progress.html) while its SMS and emails
// are on their way: asks the JSON view every 2 s, stops once everything settled, or after
// 10 minutes without any change (receipts some operators never send).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("import-progress");
  if (!section || section.dataset.settled) return;
  const summary = document.getElementById("import-progress-summary");
  const counters = document.getElementById("import-progress-counters");
  const failures = document.getElementById("import-failures");
  const more = document.getElementById("import-more-failures");
  const PERIOD = 2000;
  const PATIENCE = 10 * 60 * 1000;
  let last = "";
  let changedAt = Date.now();

  const item = (text, colour) => {
    const li = document.createElement("li");
    if (colour) {
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour;
      swatch.setAttribute("aria-hidden", "true");
      const strong = document.createElement("strong");
      strong.style.color = colour;
      strong.textContent = text;
      li.append(swatch, strong);
    } else {
      li.textContent = text;
    }
    return li;
  };

  const show = (state) => {
    // Only a new sentence is written: the polite live region then speaks once per change.
    if (summary.textContent !== state.summary) summary.textContent = state.summary;
    for (const part of state.bar) {
      const span = section.querySelector(`[data-part="${part.key}"]`);
      if (span) span.style.width = `${part.percent}%`;
    }
    counters.replaceChildren(
      ...state.counters.map((counter) => {
        const li = item(counter.text, counter.colour);
        li.dataset.counter = counter.key;
        return li;
      }),
    );
    failures.hidden = state.failures.length === 0;
    failures.querySelector("ul").replaceChildren(...state.failures.map((f) => item(f.text)));
    more.hidden = state.more_failures === 0;
    more.textContent = state.more_failures_text;
  };

  const follow = async () => {
    try {
      const response = await fetch(section.dataset.url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const text = await response.text();
        if (text !== last) {
          last = text;
          changedAt = Date.now();
          const state = JSON.parse(text);
          show(state);
          if (state.settled) {
            section.dataset.settled = "yes";
            return;
          }
        }
      }
    } catch (error) {
      // the network hiccupped: try again at the next tick
    }
    if (Date.now() - changedAt < PATIENCE) setTimeout(follow, PERIOD);
  };
  setTimeout(follow, PERIOD);
});
