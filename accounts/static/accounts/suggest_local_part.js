// Fills "nom d'utilisateur" from the member's name until the administrator types one.
// Mirrors accounts.forms.suggest_local_part; the server still checks everything.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const name = document.getElementById("id_full_name");
  const local = document.getElementById("id_local_part");
  if (!name || !local) return;
  let touched = local.value !== "";
  local.addEventListener("input", () => { touched = local.value !== ""; });
  name.addEventListener("input", () => {
    if (touched) return;
    local.value = name.value
      .normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .split(/\s+/)
      .map((word) => word.replace(/[^a-z0-9-]/g, "").replace(/^-+|-+$/g, ""))
      .filter(Boolean).join(".").slice(0, 64);
  });
});
