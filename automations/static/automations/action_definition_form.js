/*
 * The action definition form: show only the field groups that fit the chosen type.
 *
 * Each type-specific fieldset carries the class "type-specific" and one class
 * "for-<Type>" per type it fits (automations/admin/definitions.py, GROUPS). A
 * group that does not fit is hidden, never cleared, and one holding an error
 * is always shown. On a read-only page the type comes from
 * #action-type-data[data-action-type].
 */
"use strict";
(function () {
  function chosenType() {
    const select = document.getElementById("id_action_type");
    if (select) {
      return select.value;
    }
    const holder = document.getElementById("action-type-data");
    return holder ? holder.dataset.actionType || "" : "";
  }

  function update() {
    const type = chosenType();
    document.querySelectorAll("fieldset.type-specific").forEach(function (fieldset) {
      const fits = type !== "" && fieldset.classList.contains("for-" + type);
      const hasErrors = fieldset.querySelector(".errorlist") !== null;
      const shown = fits || hasErrors;
      fieldset.style.display = shown ? "" : "none";
      fieldset.setAttribute("aria-hidden", shown ? "false" : "true");
    });
    const hint = document.getElementById("action-type-hint");
    if (hint) {
      hint.style.display = type === "" ? "" : "none";
    }
  }

  function start() {
    update();
    const select = document.getElementById("id_action_type");
    if (select) {
      select.addEventListener("change", update);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
