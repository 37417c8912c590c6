// Follows the mailbox page's "dernier SMS" while the SMS is on its way (queued, sent,
// awaiting Twilio's receipt), so the administrator sees "remis" without reloading.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("sms-status");
  if (!status || status.dataset.settled) return;
  const started = Date.now();
  const follow = async () => {
    try {
      const response = await fetch(status.dataset.url, { credentials: "same-origin" });
      if (response.ok) {
        const state = await response.json();
        status.textContent = state.text;
        status.style.color = state.colour;
        if (state.settled) return;
      }
    } catch (error) {
      // the network hiccupped: try again at the next tick
    }
    if (Date.now() - started < 10 * 60 * 1000) setTimeout(follow, 3000);
  };
  setTimeout(follow, 3000);
});
