// The creation form: fills "nom d'utilisateur" from the member's name until the
// administrator types one (mirrors accounts.forms.suggest_local_part), and says as it is
// typed whether the address is free. The server still checks everything on save.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const name = document.getElementById("id_full_name");
  const local = document.getElementById("id_local_part");
  const domain = document.getElementById("id_domain");
  if (!name || !local) return;

  const verdict = document.createElement("div");
  verdict.id = "local-part-check";
  verdict.className = "help";
  verdict.setAttribute("aria-live", "polite");
  local.insertAdjacentElement("afterend", verdict);

  let timer = null;
  const check = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!local.value || !domain || !domain.value) { verdict.textContent = ""; return; }
      const query = new URLSearchParams({ local_part: local.value, domain: domain.value });
      try {
        const response = await fetch(`../disponible/?${query}`, { credentials: "same-origin" });
        if (!response.ok) return;
        const answer = await response.json();
        verdict.textContent = answer.message;
        verdict.style.color = answer.ok ? "#1a7f37" : "#cf222e";
      } catch (error) {
        verdict.textContent = "";
      }
    }, 300);
  };

  let touched = local.value !== "";
  local.addEventListener("input", () => { touched = local.value !== ""; check(); });
  if (domain) domain.addEventListener("change", check);
  name.addEventListener("input", () => {
    if (touched) return;
    local.value = name.value
      .normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .split(/\s+/)
      .map((word) => word.replace(/[^a-z0-9-]/g, "").replace(/^-+|-+$/g, ""))
      .filter(Boolean).join(".").slice(0, 64);
    check();
  });
});
